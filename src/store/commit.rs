//! Group commit: every op queued on a shard while a batch is being written joins the next
//! batch; each batch writes once per dirty partition and `fdatasync`s those files
//! concurrently (io_uring), then applies the records in log order, answers every waiter and
//! tells watchers. Nothing is visible to readers before its record is durable. Never decides
//! what an op means; that is [`super::index`].

use std::rc::Rc;

use futures_channel::oneshot;

use super::compact;
use super::index::Outcome;
use super::io;
use super::op::Op;
use super::partition::PartitionStore;
use super::segment::Payload;
use super::stream::AppendStream;
use super::types::{Result, StoreError};
use super::Inner;
use crate::mail::{Change, MailboxId};

/// An op waiting for its batch.
pub struct Queued {
    pub partition: Rc<PartitionStore>,
    pub op: Op,
    /// The record's payload, or for a streamed append its front (the op) alone.
    pub payload: Vec<u8>,
    /// A streamed append's body, which follows `payload` in the record.
    pub stream: Option<AppendStream>,
    /// Offset of an append's message bytes inside the record's payload.
    pub body_at: usize,
    pub done: oneshot::Sender<Result<Outcome>>,
}

/// Log checkpoints are written after this many bytes of log (bounds recovery time; the
/// default of [`super::StoreConfig::checkpoint_every`])...
pub const CHECKPOINT_EVERY: u64 = 64 << 20;
/// ...or after this many times the index bytes the last checkpoint wrote, if more: rewriting
/// indexes then costs at most a quarter of the log's own writes, and replay stays
/// proportional to the indexes that recovery reads anyway.
pub const CHECKPOINT_COST_FACTOR: u64 = 4;

fn io_error(e: &StoreError) -> StoreError {
    StoreError::Io(std::io::Error::other(e.to_string()))
}

/// Runs while there is work; started by the first op queued while it is not running.
pub async fn run(inner: Rc<Inner>) {
    loop {
        // Let every task that is ready to queue an op do so before the batch is cut.
        futures_lite::future::yield_now().await;
        let batch = std::mem::take(&mut *inner.queue.borrow_mut());
        if batch.is_empty() {
            inner.committing.set(false);
            return;
        }
        // Group by partition, keeping queue order inside each group.
        let mut groups: Vec<(Rc<PartitionStore>, Vec<Queued>)> = Vec::new();
        for q in batch {
            match groups.iter_mut().find(|(p, _)| Rc::ptr_eq(p, &q.partition)) {
                Some((_, items)) => items.push(q),
                None => groups.push((q.partition.clone(), vec![q])),
            }
        }
        let mut writes = Vec::new();
        for (p, mut items) in groups {
            if let Err(e) = inner.writable(&p) {
                // Fenced (or made a replica) after these ops were queued: none is written.
                for q in items {
                    p.release(&q.op);
                    let _ = q.done.send(Err(StoreError::NotPrimary {
                        epoch: p.role.get().epoch(),
                    }));
                }
                tracing::warn!(partition = p.id.index(), error = %e, "queued ops refused");
                continue;
            }
            let taken = p.writer.borrow_mut().take();
            let Some(mut writer) = taken.filter(|_| !p.poisoned.get()) else {
                fail(&p, items, &StoreError::Closed);
                continue;
            };
            let lens: Vec<usize> = items.iter().map(Queued::len).collect();
            let payloads: Vec<Payload<'_>> = items
                .iter_mut()
                .map(|q| match q.stream.take() {
                    Some(stream) => Payload::Stream {
                        front: &q.payload,
                        stream,
                    },
                    None => Payload::Bytes(&q.payload),
                })
                .collect();
            let prepared = writer.prepare(payloads).await;
            *p.writer.borrow_mut() = Some(writer);
            match prepared {
                Ok(mut prep) => {
                    if let Some((n, file, size)) = prep.new_segment.take() {
                        p.segments.borrow_mut().insert(n, file, size);
                    }
                    let records = (prep.records.clone(), prep.end);
                    let bytes: u64 = lens.iter().map(|&n| n as u64).sum();
                    p.bytes_since_checkpoint
                        .set(p.bytes_since_checkpoint.get() + bytes);
                    let started = std::time::Instant::now();
                    writes.push((p, items, lens, records, started, io::spawn(prep.write())));
                }
                Err(e) => {
                    p.poisoned.set(true);
                    fail(&p, items, &e);
                }
            }
        }
        for (p, items, lens, (records, end), started, write) in writes {
            if let Err(e) = write.await {
                tracing::error!(partition = p.id.index(), error = %e, "log write failed");
                p.poisoned.set(true);
                fail(&p, items, &e);
                continue;
            }
            {
                let mut stats = inner.stats.borrow_mut();
                stats.syncs += 1;
                stats.records += items.len() as u64;
                stats.bytes += lens.iter().map(|&n| n as u64).sum::<u64>();
                stats.sync_latency.record(started.elapsed());
            }
            let mut events: Vec<(String, MailboxId, Change)> = Vec::new();
            for ((q, pos), len) in items.into_iter().zip(records).zip(lens) {
                let body =
                    q.op.has_body()
                        .then(|| pos.body(q.body_at, len - q.body_at));
                let (outcome, ev) = p.apply(pos, &q.op, body);
                events.extend(ev);
                // The waiter may have given up (its task was dropped); the op stands.
                let _ = q.done.send(Ok(outcome));
            }
            p.set_durable(end);
            super::text::note_new_mail(&inner, &p, &events);
            inner.notify(events);
            compact::maybe_start(&inner, &p);
            let due = inner
                .config
                .checkpoint_every
                .max(CHECKPOINT_COST_FACTOR * p.checkpoint_cost.get());
            if p.bytes_since_checkpoint.get() >= due {
                p.start_checkpoint();
            }
            if let Err(e) = p.evict(inner.config.max_loaded_accounts) {
                tracing::warn!(partition = p.id.index(), error = %e, "eviction failed");
            }
        }
    }
}

impl Queued {
    /// The record's payload length.
    fn len(&self) -> usize {
        self.payload.len() + self.stream.as_ref().map_or(0, AppendStream::len)
    }
}

fn fail(p: &PartitionStore, items: Vec<Queued>, e: &StoreError) {
    for q in items {
        p.release(&q.op);
        let _ = q.done.send(Err(io_error(e)));
    }
}
