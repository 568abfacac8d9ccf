//! The queue runner: on every shard, sends the mail its queue accounts hold (see
//! [`crate::queue`]) to the remote hosts, tries again on temporary failures with exponential
//! backoff, and reports permanent failures, expiry and long delays to the sender (RFC 3464).
//!
//! # State and durability
//!
//! Each queued message has a delivery state ([`DeliveryState`]: attempts, next due time,
//! recipients done, last deferral reasons, whether the delay notice went out) kept as a
//! record in its queue account's `State` mailbox. The runner holds the states of its shard's
//! queues in memory (loaded at start, new messages picked up as they arrive) and writes a new
//! record after every attempt, before expunging the old one. A message leaves the queue
//! (expunged with its records) once every recipient is delivered or bounced.
//!
//! Delivery is **at least once**: the state is written after the attempt, so a crash (or a
//! shutdown that cuts an attempt short) after a remote host accepted the message and before
//! the new state is durable sends it again to those recipients at the next start. Nothing
//! acknowledged is lost: a message leaves the queue only after its outcome is durable.
//!
//! # One attempt
//!
//! The pending recipients are grouped by destination — the smarthost when `[outbound]
//! relay` is set, otherwise each recipient domain — and each group gets one SMTP
//! transaction ([`send`]): through the domain's MX hosts in preference order (or its
//! implicit MX, RFC 5321 §5.1), each host's addresses in turn, until one takes the
//! transaction; a null MX (RFC 7505) or a domain that does not exist fails at once. What a
//! host says decides per recipient: delivered, deferred (tried again later) or failed
//! (bounced now).

pub mod jwks;
mod mta_sts;
pub mod resolver;
mod send;

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::rc::Rc;
use std::time::Duration;

use futures_lite::future;

use crate::config::OutboundConfig;
use crate::mail::Uid;
use crate::outbound::dsn::{self, Action, RecipientReport};
use crate::outbound::route::domain_of;
use crate::outbound::state::DeliveryState;
use crate::queue::{self, QueuedMessage};
use crate::runtime::net::ShardState;
use crate::runtime::shutdown::Notify;
use crate::smtp::dsn::{self as smtp_dsn, MessageDsn, RecipientDsn, Ret};

pub use send::Outcome;

/// How often the runner looks for new mail in its queues without being woken.
const POLL: Duration = Duration::from_secs(1);

/// The shortest wait between two turns of the runner.
const MIN_WAIT: Duration = Duration::from_millis(10);

/// A queued message: its queue account and UID there.
type Key = (String, u32);

/// The most bytes of message bodies the runner keeps from loading a message to its first
/// attempt (per shard), so a new message is read from the store once, not twice.
const BODY_CACHE: usize = 64 << 20;

/// The largest body kept so.
const BODY_CACHE_ONE: usize = 1 << 20;

/// The runner's view of one queued message.
struct Entry {
    queue: String,
    uid: Uid,
    message: QueuedMessage,
    state: DeliveryState,
    /// The UID of its newest state record, once one was written.
    state_uid: Option<Uid>,
    place: Place,
    /// The stored message, kept from loading for its first attempt (see [`BODY_CACHE`]).
    body: Option<Vec<u8>>,
}

/// A message a delivery on this shard just queued: queue, UID, envelope, bytes as stored.
type Fresh = (String, Uid, QueuedMessage, Vec<u8>);

/// Where an entry waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    /// In the schedule, for its due time.
    Scheduled,
    /// Due, held back by its destination's connection limit.
    Held,
    /// An attempt is running.
    Busy,
}

/// A shard's runner state, shared with the control socket (`queue retry`).
#[derive(Default)]
pub struct Runner {
    wake: Notify,
    /// New mail was queued since the runner last looked.
    arrived: Cell<bool>,
    /// Queued messages by (queue, UID).
    entries: RefCell<BTreeMap<Key, Entry>>,
    /// The entries not being tried, by due time, so a turn of the runner costs what it
    /// starts, not the length of the queue. Pairs whose entry moved on (a new due time,
    /// deleted) are left behind and skipped when met.
    schedule: RefCell<BTreeSet<(i64, Key)>>,
    /// Due entries that wait for a connection slot at their destination, by destination.
    held: RefCell<HashMap<String, VecDeque<Key>>>,
    /// Bytes of bodies kept in entries.
    cached: Cell<usize>,
    /// Messages this shard's deliveries queued just now, handed over with their bytes so the
    /// runner need not find and read them in the store.
    fresh: RefCell<Vec<Fresh>>,
    /// Per queue: the next INBOX UID not yet loaded.
    next_uid: RefCell<HashMap<String, u32>>,
    /// Attempts running, and per destination.
    running: Cell<usize>,
    per_destination: RefCell<HashMap<String, usize>>,
    /// Client TLS configurations, made once.
    tls: send::TlsCache,
    /// Connections waiting for the next message to their host.
    pool: send::Pool,
    /// MTA-STS policies by domain.
    sts: mta_sts::Cache,
    /// The resolver (see `send::resolver_for`).
    resolver: RefCell<Option<Rc<resolver::Resolver>>>,
}

/// The queue runner's messages by state, for the metrics listener.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueDepth {
    /// Being sent now.
    pub sending: u64,
    /// Due, but waiting for a connection slot at their destination.
    pub held: u64,
    /// Waiting for their next attempt (new ones first, deferred ones after a failure).
    pub waiting: u64,
}

impl Runner {
    /// How many messages the runner knows, by state.
    pub fn depth(&self) -> QueueDepth {
        let known = self.entries.borrow().len() as u64;
        let sending = self.running.get() as u64;
        let held: u64 = self.held.borrow().values().map(|q| q.len() as u64).sum();
        QueueDepth {
            sending,
            held,
            waiting: known.saturating_sub(sending + held),
        }
    }

    /// New mail was queued on this shard: look now rather than at the next poll.
    pub fn wake(&self) {
        self.arrived.set(true);
        self.wake.notify_all();
    }

    /// A delivery on this shard queued `message` (`bytes` as stored) as `uid` in `queue`,
    /// one of this shard's queues, durably.
    pub fn queued_here(&self, queue: String, uid: Uid, message: QueuedMessage, bytes: Vec<u8>) {
        self.fresh.borrow_mut().push((queue, uid, message, bytes));
        self.nudge();
    }

    /// Something the runner waits for changed (an attempt ended, a message fell due).
    fn nudge(&self) {
        self.wake.notify_all();
    }

    /// Put the entry `key` (not being tried) in the schedule for its due time.
    fn enqueue(&self, key: &Key) {
        let mut entries = self.entries.borrow_mut();
        if let Some(e) = entries.get_mut(key) {
            e.place = Place::Scheduled;
            self.schedule
                .borrow_mut()
                .insert((e.state.due, key.clone()));
        }
    }

    /// A new entry, scheduled.
    fn add(&self, key: Key, mut entry: Entry) {
        if let Some(body) = &entry.body {
            if body.len() > BODY_CACHE_ONE || self.cached.get() + body.len() > BODY_CACHE {
                entry.body = None;
            } else {
                self.cached.set(self.cached.get() + body.len());
            }
        }
        self.entries.borrow_mut().insert(key.clone(), entry);
        self.enqueue(&key);
    }

    /// A message new to the runner (nothing tried yet), with its stored bytes, scheduled
    /// now; nothing if it is known already.
    fn add_new(&self, queue: String, uid: Uid, message: QueuedMessage, body: Vec<u8>) {
        let key = (queue.clone(), uid.0);
        if self.entries.borrow().contains_key(&key) {
            return;
        }
        let state = DeliveryState::new(&message.id, 0);
        self.add(
            key,
            Entry {
                queue,
                uid,
                message,
                state,
                state_uid: None,
                place: Place::Scheduled,
                body: Some(body),
            },
        );
    }

    /// The entry's kept body, if any (it is kept no longer).
    fn take_body(&self, key: &Key) -> Option<Vec<u8>> {
        let body = self.entries.borrow_mut().get_mut(key)?.body.take()?;
        self.cached
            .set(self.cached.get().saturating_sub(body.len()));
        Some(body)
    }

    /// Forget the entry `key`.
    fn remove(&self, key: &Key) {
        if let Some(e) = self.entries.borrow_mut().remove(key) {
            if let Some(b) = e.body {
                self.cached.set(self.cached.get().saturating_sub(b.len()));
            }
        }
    }
}

/// Make the message `id` (or every message) due now; how many there were.
pub fn retry(state: &ShardState, id: Option<&str>) -> usize {
    let runner = &state.outbound;
    let mut n = 0;
    for (key, e) in runner.entries.borrow_mut().iter_mut() {
        if id.is_none_or(|id| e.message.id == id) {
            e.state.due = 0;
            if e.place == Place::Scheduled {
                runner.schedule.borrow_mut().insert((0, key.clone()));
            }
            n += 1;
        }
    }
    runner.nudge();
    n
}

/// Forget the message `id` (`queue delete` removed it from the store): an attempt still
/// running for it records nothing.
pub fn forget(state: &ShardState, id: &str) {
    let keys: Vec<Key> = state
        .outbound
        .entries
        .borrow()
        .iter()
        .filter(|(_, e)| e.message.id == id)
        .map(|(k, _)| k.clone())
        .collect();
    for key in keys {
        state.outbound.remove(&key);
    }
}

/// The shard's runner: until shutdown, load new queued mail and start the attempts that are
/// due. Does nothing while `[outbound] enabled` is off (mail stays queued).
pub async fn run(state: Rc<ShardState>) {
    let mut loaded_states = false;
    let mut looked = std::time::Instant::now();
    loop {
        let config = state.server().config.outbound.clone();
        if config.enabled {
            if !loaded_states {
                loaded_states = load_states(&state).await;
                tracing::debug!(shard = %state.id, queued = state.outbound.entries.borrow().len(), "queue runner loaded its queues");
            }
            if loaded_states {
                // Into the queues at every poll; when told of new mail, into those known to
                // hold mail and the one this shard queues to.
                if looked.elapsed() >= POLL {
                    looked = std::time::Instant::now();
                    state.outbound.arrived.set(false);
                    load_new_messages(&state, true).await;
                } else if state.outbound.arrived.replace(false) {
                    load_new_messages(&state, false).await;
                }
                take_fresh(&state);
                start_due(&state, &config);
            }
        }
        // Idle connections past their time are closed; all of them once sending is off.
        let keep = config.enabled.then_some(config.connection_cache);
        let reap = state
            .outbound
            .pool
            .reap(keep, per_destination_limit(&state, &config));
        let next = next_due_in(&state)
            .unwrap_or(POLL)
            .min(POLL)
            .min(reap.map_or(POLL, |r| r.max(MIN_WAIT)));
        let woken = state.outbound.wake.changed();
        let stop = async {
            state.shutdown.wait().await;
            true
        };
        let tick = async {
            future::or(woken, glommio::timer::sleep(next)).await;
            false
        };
        if future::or(stop, tick).await {
            state.outbound.pool.reap(None, 0);
            return;
        }
    }
}

/// Load every state record of the shard's queues; `false` if the store failed (tried again at
/// the next poll). Older records of a message (a crash between writing a new one and
/// expunging the old) and records of messages no longer queued are expunged.
async fn load_states(state: &ShardState) -> bool {
    let store = &state.store;
    // Only queues that may hold mail: looking into the others would create their partitions.
    for q in queue::owned_queues(state.map, state.id)
        .into_iter()
        .filter(|q| state.store.may_hold(q))
    {
        let records = match queue::states(store, &q).await {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(target: "ringpost::delivery", queue = %q, error = %e, "cannot read the queue's delivery states");
                return false;
            }
        };
        let messages = match queue::entries_of(store, &q, Uid(1)).await {
            Ok(m) => m,
            Err(e) => {
                tracing::error!(target: "ringpost::delivery", queue = %q, error = %e, "cannot read the queue");
                return false;
            }
        };
        let mut newest: HashMap<String, (Uid, DeliveryState)> = HashMap::new();
        let mut stale = Vec::new();
        for (uid, s) in records {
            if let Some((old, _)) = newest.insert(s.id.clone(), (uid, s)) {
                stale.push(old);
            }
        }
        let mut next = 1;
        for (uid, message) in messages {
            next = next.max(uid.0 + 1);
            let (state_uid, s) = match newest.remove(&message.id) {
                Some((u, s)) => (Some(u), s),
                None => (None, DeliveryState::new(&message.id, 0)),
            };
            state.outbound.add(
                (q.clone(), uid.0),
                Entry {
                    queue: q.clone(),
                    uid,
                    message,
                    state: s,
                    state_uid,
                    place: Place::Scheduled,
                    body: None,
                },
            );
        }
        stale.extend(newest.into_values().map(|(u, _)| u));
        if !stale.is_empty() {
            if let Err(e) = store.expunge(&q, queue::STATE_MAILBOX, Some(&stale)).await {
                tracing::warn!(queue = %q, error = %e, "cannot expunge stale delivery states");
            }
        }
        state.outbound.next_uid.borrow_mut().insert(q, next);
    }
    true
}

/// Schedule the messages deliveries handed over (see [`Runner::queued_here`]). The queue's
/// next poll lists them again and skips them, as it skips every message already known.
fn take_fresh(state: &ShardState) {
    let fresh = std::mem::take(&mut *state.outbound.fresh.borrow_mut());
    for (queue, uid, message, body) in fresh {
        state.outbound.add_new(queue, uid, message, body);
    }
}

/// Add the messages queued since the last look.
async fn load_new_messages(state: &ShardState, every_queue: bool) {
    let ours = queue::queue_for(state.map, state.id, "");
    // Only queues that may hold mail: looking into the others would create their partitions
    // (and asking costs a look at the disk for each, so only at the poll).
    for q in queue::owned_queues(state.map, state.id)
        .into_iter()
        .filter(|q| {
            (every_queue || *q == ours || state.outbound.next_uid.borrow().contains_key(q))
                && state.store.may_hold(q)
        })
    {
        let from = state
            .outbound
            .next_uid
            .borrow()
            .get(&q)
            .copied()
            .unwrap_or(1);
        let status = match state.store.status(&q, "INBOX").await {
            Ok(s) => s,
            Err(_) => continue,
        };
        if status.uid_next.0 <= from {
            continue;
        }
        let known = |uid: Uid| {
            state
                .outbound
                .entries
                .borrow()
                .contains_key(&(q.clone(), uid.0))
        };
        let messages = match queue::entries_with_bodies(&state.store, &q, Uid(from), known).await {
            Ok(m) => m,
            Err(e) => {
                tracing::error!(target: "ringpost::delivery", queue = %q, error = %e, "cannot read the queue");
                continue;
            }
        };
        let mut next = from;
        for (uid, message, body) in messages {
            next = next.max(uid.0 + 1);
            state.outbound.add_new(q.clone(), uid, message, body);
        }
        state.outbound.next_uid.borrow_mut().insert(q, next);
    }
}

/// How long until a message not being tried falls due. Messages already due but not
/// started (a connection limit was reached) are not counted: the attempt that frees the
/// slot wakes the runner. Never less than [`MIN_WAIT`], so the runner never spins.
fn next_due_in(state: &ShardState) -> Option<Duration> {
    let now = crate::store::now();
    let runner = &state.outbound;
    let mut schedule = runner.schedule.borrow_mut();
    let entries = runner.entries.borrow();
    loop {
        let (due, key) = schedule
            .range((now + 1, (String::new(), 0))..)
            .next()
            .cloned()?;
        let current = entries
            .get(&key)
            .is_some_and(|e| e.place == Place::Scheduled && e.state.due == due);
        if current {
            let wait = Duration::from_secs(u64::try_from(due - now).unwrap_or(0));
            return Some(wait.max(MIN_WAIT));
        }
        schedule.remove(&(due, key));
    }
}

/// Start an attempt for every due message, within the connection limits. Messages a
/// destination's limit holds back wait in `held` and go back to the schedule as its
/// attempts end.
fn start_due(state: &Rc<ShardState>, config: &OutboundConfig) {
    let runner = &state.outbound;
    let now = crate::store::now();
    let limit = per_destination_limit(state, config);
    let max_connections = OutboundConfig::share(config.max_connections, senders(state));
    // Held messages whose destination has a free slot again are due again.
    {
        let per_destination = runner.per_destination.borrow();
        let mut held = runner.held.borrow_mut();
        let mut released = Vec::new();
        held.retain(|destination, keys| {
            let busy = per_destination.get(destination).copied().unwrap_or(0);
            for _ in busy..limit {
                match keys.pop_front() {
                    Some(k) => released.push(k),
                    None => break,
                }
            }
            !keys.is_empty()
        });
        drop((per_destination, held));
        for key in released {
            let held_still = runner
                .entries
                .borrow()
                .get(&key)
                .is_some_and(|e| e.place == Place::Held);
            if held_still {
                runner.enqueue(&key);
            }
        }
    }
    while runner.running.get() < max_connections {
        let Some((due, key)) = runner.schedule.borrow().first().cloned() else {
            break;
        };
        if due > now {
            break;
        }
        runner.schedule.borrow_mut().remove(&(due, key.clone()));
        let destination = {
            let entries = runner.entries.borrow();
            match entries.get(&key) {
                Some(e) if e.place == Place::Scheduled && e.state.due == due => {
                    destination_of(config, e)
                }
                // Left behind: the entry has a newer place in the schedule, or is gone.
                _ => continue,
            }
        };
        let busy_there = runner
            .per_destination
            .borrow()
            .get(&destination)
            .copied()
            .unwrap_or(0);
        if busy_there >= limit {
            if let Some(e) = runner.entries.borrow_mut().get_mut(&key) {
                e.place = Place::Held;
            }
            runner
                .held
                .borrow_mut()
                .entry(destination)
                .or_default()
                .push_back(key);
            continue;
        }
        if let Some(e) = runner.entries.borrow_mut().get_mut(&key) {
            e.place = Place::Busy;
        }
        runner.running.set(runner.running.get() + 1);
        *runner
            .per_destination
            .borrow_mut()
            .entry(destination.clone())
            .or_default() += 1;
        let state = state.clone();
        let guard = state.active.enter();
        glommio::spawn_local(async move {
            let stopped = async {
                state.shutdown.wait().await;
            };
            // Cut short at shutdown: the message stays queued as it was (see the module docs).
            future::or(attempt(&state, &key), stopped).await;
            let runner = &state.outbound;
            runner.enqueue(&key);
            runner.running.set(runner.running.get() - 1);
            let mut per_destination = runner.per_destination.borrow_mut();
            if let Some(n) = per_destination.get_mut(&destination) {
                *n -= 1;
                if *n == 0 {
                    per_destination.remove(&destination);
                }
            }
            drop(per_destination);
            drop(guard);
            runner.nudge();
        })
        .detach();
    }
}

/// How many shards send mail: those that own queues.
fn senders(state: &ShardState) -> usize {
    state.map.shards().min(queue::QUEUES)
}

/// This shard's share of `max_connections_per_destination`.
fn per_destination_limit(state: &ShardState, config: &OutboundConfig) -> usize {
    OutboundConfig::share(config.max_connections_per_destination, senders(state))
}

/// The destination a message's next attempt counts against (for the per-destination limit):
/// the relay, or its first pending recipient's domain.
fn destination_of(config: &OutboundConfig, e: &Entry) -> String {
    if let Some(relay) = &config.relay {
        return format!("{}:{}", relay.host, relay.port);
    }
    e.message
        .recipients
        .iter()
        .enumerate()
        .find(|(i, _)| !e.state.done.contains(i))
        .and_then(|(_, r)| domain_of(r))
        .unwrap_or_default()
}

/// One attempt at one queued message: every pending recipient, grouped by destination; then
/// the new state written, bounces and delay notices sent, and the message removed once done.
async fn attempt(state: &Rc<ShardState>, key: &Key) {
    let (queue_name, uid, message, mut delivery) = {
        let entries = state.outbound.entries.borrow();
        let Some(e) = entries.get(key) else { return };
        (e.queue.clone(), e.uid, e.message.clone(), e.state.clone())
    };
    let server = state.server();
    let config = &server.config.outbound;
    let now = crate::store::now();
    let kept = state.outbound.take_body(key);
    let read = match kept {
        Some(body) => Ok(Stored::Kept(body)),
        None => state
            .store
            .read(&queue_name, "INBOX", uid)
            .await
            .map(Stored::Read),
    };
    let stored = match read {
        Ok(body) => body,
        Err(crate::store::StoreError::NoSuchMessage) => {
            // Deleted meanwhile (`queue delete` on a stopped server, say): nothing to send.
            state.outbound.remove(key);
            return;
        }
        Err(e) => {
            tracing::error!(target: "ringpost::delivery", id = %message.id, error = %e, "cannot read a queued message");
            if let Some(e) = state.outbound.entries.borrow_mut().get_mut(key) {
                e.state.due = now + 60;
            }
            return;
        }
    };
    let body = queue::outgoing(stored.as_ref());
    tracing::debug!(id = %message.id, attempt = delivery.attempts + 1, "attempt starts");
    // Pending recipients by destination, in envelope order.
    let mut groups: Vec<(String, Vec<usize>)> = Vec::new();
    for (i, rcpt) in message.recipients.iter().enumerate() {
        if delivery.done.contains(&i) {
            continue;
        }
        let group = match &config.relay {
            Some(_) => String::new(),
            None => domain_of(rcpt).unwrap_or_default(),
        };
        match groups.iter_mut().find(|(g, _)| *g == group) {
            Some((_, v)) => v.push(i),
            None => groups.push((group, vec![i])),
        }
    }
    let mut failed: Vec<RecipientReport> = Vec::new();
    let mut deferred: Vec<RecipientReport> = Vec::new();
    let mut relayed: Vec<RecipientReport> = Vec::new();
    let dsn_of = |i: usize| message.dsn.remote.get(i).cloned().unwrap_or_default();
    for (domain, indices) in &groups {
        let transaction = send::Message {
            reverse_path: &message.reverse_path,
            recipients: indices
                .iter()
                .map(|i| (message.recipients[*i].clone(), dsn_of(*i)))
                .collect(),
            ret: message.dsn.ret,
            envid: message.dsn.envid.clone(),
            requiretls: message.dsn.requiretls,
            body,
        };
        let outcomes = send::deliver(state, config, domain, &transaction).await;
        for (i, outcome) in indices.iter().zip(outcomes) {
            let address = &message.recipients[*i];
            let dsn = dsn_of(*i);
            let report = |action, o: &Outcome| RecipientReport {
                address: address.clone(),
                original: dsn.orcpt.as_ref().map(|a| format!("rfc822;{a}")),
                action,
                status: o.status.clone(),
                remote_mta: o.remote.clone(),
                diagnostic: o.diagnostic.clone(),
            };
            tracing::info!(
                target: "ringpost::delivery",
                id = %message.id,
                to = %address,
                relay = outcome.remote.as_deref().unwrap_or(""),
                tls = outcome.tls.as_deref().unwrap_or("none"),
                result = outcome.kind.name(),
                reply = %outcome.diagnostic,
                "delivery attempt"
            );
            match outcome.kind {
                send::Kind::Delivered => {
                    delivery.done.insert(*i);
                    delivery.deferred.remove(i);
                    // NOTIFY=SUCCESS: a host that took DSN reports itself; one that did not
                    // gets a `relayed` report from us (RFC 3461 §6.2.2).
                    if wants(&dsn, Wanted::Success) && !outcome.dsn_passed {
                        relayed.push(report(Action::Relayed, &outcome));
                    }
                }
                send::Kind::Failed => {
                    delivery.done.insert(*i);
                    delivery.deferred.remove(i);
                    if wants(&dsn, Wanted::Failure) {
                        failed.push(report(Action::Failed, &outcome));
                    }
                }
                send::Kind::Deferred => {
                    delivery.deferred.insert(*i, outcome.describe());
                    deferred.push(report(Action::Delayed, &outcome));
                }
            }
        }
    }
    let now = crate::store::now();
    delivery.attempts += 1;
    // Out of time: what is still deferred fails now.
    if !deferred.is_empty() && config.schedule.expired(message.accepted, now) {
        for mut r in deferred.drain(..) {
            let i = message.recipients.iter().position(|a| *a == r.address);
            if !i.is_some_and(|i| wants(&dsn_of(i), Wanted::Failure)) {
                continue;
            }
            r.action = Action::Failed;
            r.status = "4.4.7".into();
            r.diagnostic = format!(
                "message expired after {} days in the queue; last: {}",
                config.schedule.lifetime / 86_400,
                r.diagnostic
            );
            failed.push(r);
        }
        for i in 0..message.recipients.len() {
            delivery.done.insert(i);
        }
        delivery.deferred.clear();
    }
    let about = About::queued(&message);
    // One report for what failed (and, in it, what was relayed), one for success alone.
    if !failed.is_empty() {
        failed.append(&mut relayed);
        report(state, &about, body, failed, None).await;
    } else if !relayed.is_empty() {
        report(state, &about, body, relayed, None).await;
    }
    deferred.retain(|r| {
        message
            .recipients
            .iter()
            .position(|a| *a == r.address)
            .is_some_and(|i| wants(&dsn_of(i), Wanted::Delay))
    });
    if !deferred.is_empty()
        && config
            .schedule
            .warn_now(message.accepted, now, delivery.warned)
    {
        let until = config.schedule.expires(message.accepted);
        report(state, &about, body, deferred, Some(until)).await;
        delivery.warned = true;
    }
    delivery.due = config
        .schedule
        .next_attempt(delivery.attempts, message.accepted, now);
    persist(state, key, &queue_name, uid, &message, delivery, now).await;
}

/// A queued message's bytes: kept from loading, or read now.
enum Stored {
    Kept(Vec<u8>),
    Read(crate::store::Body),
}

impl AsRef<[u8]> for Stored {
    fn as_ref(&self) -> &[u8] {
        match self {
            Stored::Kept(v) => v,
            Stored::Read(b) => b,
        }
    }
}

/// Make the attempt's outcome durable: the message and its records go when every recipient
/// is done; otherwise a new state record replaces the old.
async fn persist(
    state: &ShardState,
    key: &Key,
    queue_name: &str,
    uid: Uid,
    message: &QueuedMessage,
    delivery: DeliveryState,
    now: i64,
) {
    let store = &state.store;
    let Some(old) = state
        .outbound
        .entries
        .borrow()
        .get(key)
        .map(|e| e.state_uid)
    else {
        // `queue delete` removed it while it was being tried: nothing to record.
        return;
    };
    if delivery.done.len() >= message.recipients.len() {
        // The message and its state record (the runner knows its UID; older ones a crash
        // left behind were expunged when the queue was loaded), in one commit group.
        let removed = async {
            let (inbox, states) =
                future::zip(store.expunge(queue_name, "INBOX", Some(&[uid])), async {
                    match old {
                        Some(old) => store
                            .expunge(queue_name, queue::STATE_MAILBOX, Some(&[old]))
                            .await
                            .map(drop),
                        None => Ok(()),
                    }
                })
                .await;
            inbox.map(drop).and(states)
        };
        match removed.await {
            Ok(()) => {
                state.outbound.remove(key);
                tracing::info!(target: "ringpost::delivery", id = %message.id, "removed from the queue: every recipient done");
            }
            Err(e) => {
                tracing::error!(target: "ringpost::delivery", id = %message.id, error = %e, "cannot remove a finished message from the queue");
                if let Some(entry) = state.outbound.entries.borrow_mut().get_mut(key) {
                    entry.state = delivery;
                }
            }
        }
        return;
    }
    match queue::write_state(store, queue_name, &delivery, now).await {
        Ok(new_uid) => {
            if let Some(old) = old {
                if let Err(e) = store
                    .expunge(queue_name, queue::STATE_MAILBOX, Some(&[old]))
                    .await
                {
                    tracing::warn!(id = %message.id, error = %e, "cannot expunge an old delivery state");
                }
            }
            if let Some(entry) = state.outbound.entries.borrow_mut().get_mut(key) {
                entry.state = delivery;
                entry.state_uid = Some(new_uid);
            }
        }
        Err(e) => {
            tracing::error!(target: "ringpost::delivery", id = %message.id, error = %e, "cannot write a delivery state; it is tried again as before");
            if let Some(entry) = state.outbound.entries.borrow_mut().get_mut(key) {
                // Keep the done set in memory so this run does not send twice.
                entry.state = delivery;
            }
        }
    }
}

/// Which report a recipient's NOTIFY asks for (RFC 3461 §4.1): without NOTIFY, failures
/// and delays (not successes); `NEVER`, none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wanted {
    Success,
    Failure,
    Delay,
}

pub fn wants(dsn: &RecipientDsn, what: Wanted) -> bool {
    match dsn.notify {
        None => what != Wanted::Success,
        Some(smtp_dsn::Notify::Never) => false,
        Some(smtp_dsn::Notify::On {
            success,
            failure,
            delay,
        }) => match what {
            Wanted::Success => success,
            Wanted::Failure => failure,
            Wanted::Delay => delay,
        },
    }
}

/// The message a report is about.
pub struct About<'a> {
    pub id: &'a str,
    pub reverse_path: &'a str,
    pub accepted: i64,
    pub envid: Option<&'a str>,
    pub headers_only: bool,
}

impl<'a> About<'a> {
    fn queued(m: &'a QueuedMessage) -> About<'a> {
        About {
            id: &m.id,
            reverse_path: &m.reverse_path,
            accepted: m.accepted,
            envid: m.dsn.envid.as_deref(),
            // RFC 8689 §5: a report about a REQUIRETLS message returns no body (the report
            // itself travels without REQUIRETLS).
            headers_only: m.dsn.ret == Some(Ret::Headers) || m.dsn.requiretls,
        }
    }
}

/// Send a delivery status notification about a message to its sender: failures (and
/// relays), successes, or (with `retry_until`) a delay. Never for a message from the null
/// reverse-path (a report itself).
pub async fn report(
    state: &ShardState,
    about: &About<'_>,
    body: &[u8],
    recipients: Vec<RecipientReport>,
    retry_until: Option<i64>,
) {
    if about.reverse_path.is_empty() {
        tracing::info!(target: "ringpost::delivery", id = %about.id, "no report for a message from the null sender");
        return;
    }
    let server = state.server();
    let now = crate::store::now();
    let kind = if retry_until.is_some() {
        "delay notice"
    } else if recipients.iter().any(|r| r.action == Action::Failed) {
        "bounce"
    } else {
        "success report"
    };
    let text = dsn::compose(&dsn::Report {
        hostname: &server.config.hostname,
        queue_id: about.id,
        arrival: about.accepted,
        now,
        sender: about.reverse_path,
        recipients,
        retry_until,
        envid: about.envid,
        headers_only: about.headers_only,
        original: body,
    });
    let id = state.queue_id(now);
    match submit_report(state, &id, about.reverse_path, &text, now).await {
        Ok(()) => {
            tracing::info!(target: "ringpost::delivery", id = %about.id, report = %id, to = %about.reverse_path, "{kind} sent")
        }
        Err(e) => {
            tracing::error!(target: "ringpost::delivery", id = %about.id, error = %e, "cannot send a {kind}")
        }
    }
}

/// Deliver a report from the null sender to `to`: into the account's INBOX when it is ours,
/// otherwise into this shard's queue.
async fn submit_report(
    state: &ShardState,
    id: &str,
    to: &str,
    text: &[u8],
    now: i64,
) -> Result<(), String> {
    let Some(deliverer) = state.deliverer.borrow().clone() else {
        return Err("shutting down".into());
    };
    let server = state.server();
    let received = format!(
        "Received: from localhost by {} (ringpost) id {id};\r\n\t{}\r\n",
        server.config.hostname,
        crate::date::rfc5322(now)
    );
    let local = match server.accounts.lookup(to) {
        Ok(found) => found.map(|a| a.store_key()),
        Err(e) => return Err(e.to_string()),
    };
    let local_domain = domain_of(to).is_some_and(|d| server.config.local_domains.contains(&d));
    if local.is_none() && local_domain {
        // Ours, and nobody (any more): sending it out would only come back refused.
        return Err(format!("{to} is not an account here"));
    }
    let mut tx = deliverer.begin();
    let envelope;
    let return_path = "Return-Path: <>\r\n";
    let parts: Vec<&[u8]> = match &local {
        Some(account) => {
            tx.add_recipient(account).map_err(|e| e.to_string())?;
            vec![return_path.as_bytes(), received.as_bytes(), text]
        }
        None => {
            let q = queue::queue_for(state.map, state.id, id);
            tx.add_recipient(&q).map_err(|e| e.to_string())?;
            envelope = queue::envelope_header(id, "", &[to.to_string()], &MessageDsn::default());
            vec![
                envelope.as_bytes(),
                return_path.as_bytes(),
                received.as_bytes(),
                text,
            ]
        }
    };
    for p in parts {
        tx.write(p).map_err(|e| e.to_string())?;
    }
    tx.set_internal_date(now);
    tx.commit().await.map_err(|e| e.to_string())?;
    state.outbound.wake();
    Ok(())
}
