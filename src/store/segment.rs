//! A partition's append-only log: numbered, pre-allocated segment files written with O_DIRECT
//! through the runtime's DMA file ([`super::io::DmaFile`]; never the runtime's stream writer,
//! which writes stale buffer bytes: PLATFORM.md §5). Records are framed by [`super::record`]. Never interprets payloads.
//!
//! Writing: a batch of records is laid out after the last record, the partially filled last
//! block is re-written with its old bytes in front (O_DIRECT writes whole blocks), the rest of
//! the last block is zero, and one `fdatasync` covers the batch. New segments are zero-filled
//! to their full size once, so later appends are overwrites inside the file: no file-extending
//! direct writes (PLATFORM.md §6) and no unwritten-extent conversions for `fdatasync` to log.
//!
//! The next segment is zero-filled ahead of need, off the shard thread (the runtime's blocking
//! pool), as `seg-spare.tmp`, once the current one is half full; rolling renames it into
//! place. So the batch that rolls waits for a rename and a directory sync, not for 16 MiB of
//! zeros.
//!
//! Recovery: scan records from the checkpoint on, across segments, while they chain; the end
//! is the first record that does not check. If anything but zeros follows the end (a torn
//! batch), the segment is sealed and writing goes on in a fresh one, so torn bytes are never
//! left behind newer records. Segments after the end are deleted only when no record in
//! them checks: a crash can leave a rolled segment before any record in it was written, but
//! written records after the end mean damage earlier in the log, and the partition is then
//! not opened (`ringpost fsck` says where).

use std::cell::Cell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use super::index::BodyRef;
use super::io::{self, DmaBuffer, DmaFile, OpenOptions, ReadResult};
use super::record::{self, Chain, Scanner};
use super::stream::AppendStream;
use super::types::{Result, StoreError};
use crate::mail::MessageBytes;

/// Direct-IO block size used for every write (a multiple of any device's logical block).
pub const BLOCK: u64 = 4096;
/// Zero-fill chunk when creating a segment.
const FILL_CHUNK: usize = 1 << 20;

/// A position in the log: after the record that ends at `offset` of `segment`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogPosition {
    pub segment: u32,
    pub offset: u64,
    pub chain: Chain,
}

/// Where a written record landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordPos {
    pub segment: u32,
    /// Offset of the record header.
    pub offset: u64,
    pub seq: u64,
}

impl RecordPos {
    /// Where `len` payload bytes starting at `at` inside this record's payload are.
    pub fn body(&self, at: usize, len: usize) -> BodyRef {
        BodyRef {
            segment: self.segment,
            offset: self.offset + (record::HEADER + at) as u64,
            // Payloads are capped at MAX_PAYLOAD (256 MiB), so a body length fits.
            len: u32::try_from(len).unwrap_or(u32::MAX),
        }
    }
}

pub(crate) fn segment_path(dir: &Path, n: u32) -> PathBuf {
    dir.join(format!("seg-{n:08}.log"))
}

pub(crate) fn spare_path(dir: &Path) -> PathBuf {
    dir.join("seg-spare.tmp")
}

/// The pre-created next segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Spare {
    None,
    Creating,
    /// `seg-spare.tmp` exists, zero-filled and durable, this many bytes long.
    Ready(u64),
}

/// The write side of a partition's log. Owned by the committer while a batch is in flight.
pub struct LogWriter {
    dir: PathBuf,
    segment_size: u64,
    file: Rc<DmaFile>,
    segment: u32,
    /// Size of the current segment file.
    size: u64,
    /// End of the last record in the current segment.
    end: u64,
    /// Bytes of the current segment from the start of the block holding `end` up to `end`.
    tail: Vec<u8>,
    chain: Chain,
    spare: Rc<Cell<Spare>>,
}

/// The read side: every segment file and its size, shared with readers.
#[derive(Default)]
pub struct Segments {
    files: BTreeMap<u32, (Rc<DmaFile>, u64)>,
}

impl Segments {
    pub fn file(&self, segment: u32) -> Option<Rc<DmaFile>> {
        self.files.get(&segment).map(|(f, _)| f.clone())
    }

    pub fn insert(&mut self, segment: u32, file: Rc<DmaFile>, size: u64) {
        self.files.insert(segment, (file, size));
    }

    /// The size of segment `segment`'s file.
    pub fn size(&self, segment: u32) -> Option<u64> {
        self.files.get(&segment).map(|(_, s)| *s)
    }

    /// Segment numbers below `below`, ascending.
    pub fn numbers_below(&self, below: u32) -> Vec<u32> {
        self.files.range(..below).map(|(n, _)| *n).collect()
    }

    /// Total size of every segment file.
    pub fn total_size(&self) -> u64 {
        self.files.values().map(|(_, s)| *s).sum()
    }

    /// Forget segment `segment` and delete its file (durably). Readers that already hold the
    /// file keep reading it: an unlinked file lives until its last descriptor closes.
    pub fn delete(&mut self, dir: &Path, segment: u32) -> Result<()> {
        self.files.remove(&segment);
        match std::fs::remove_file(segment_path(dir, segment)) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e.into()),
        }
        sync_dir(dir)
    }
}

/// A batch laid out in memory, ready to be written.
pub struct PreparedBatch {
    file: Rc<DmaFile>,
    /// Whole blocks to write, in order, at their offsets.
    writes: Vec<(u64, Write)>,
    pub records: Vec<RecordPos>,
    /// A segment this batch rolled to (number, file, size), for the read side to learn about.
    pub new_segment: Option<(u32, Rc<DmaFile>, u64)>,
    /// The log position after this batch: what a checkpoint may record once it is applied.
    pub end: LogPosition,
}

async fn open_rw(path: &Path) -> Result<DmaFile> {
    // Read-write, never write-only: a write-only open disables the runtime's poll ring for
    // the whole device (PLATFORM.md §7).
    Ok(OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .dma_open(path)
        .await?)
}

/// Create segment `n` of `size` bytes, all zero and durable (file and directory entry).
///
/// Written with plain blocking writes before the runtime opens it: the runtime probes a device
/// for io_uring polling support by reading the first file it opens there, and an empty new file
/// passes that probe on devices that then refuse polled reads (EOPNOTSUPP). A segment is
/// created once per `segment_size` bytes of log, so the blocking write is rare.
async fn create_segment(dir: &Path, n: u32, size: u64) -> Result<DmaFile> {
    let path = segment_path(dir, n);
    let (p, d) = (path.clone(), dir.to_path_buf());
    io::blocking(move || {
        zero_file(&p, size)?;
        sync_dir(&d)
    })
    .await?;
    open_rw(&path).await
}

/// Write `size` zero bytes (a multiple of [`BLOCK`]) to a new file at `path` and make them
/// durable (blocking).
///
/// The writes are direct: buffered zeros would sit in the page cache until the final sync,
/// and on ext4 (data=ordered) every `fdatasync` of the live log in the meantime could be
/// made to wait for them.
fn zero_file(path: &Path, size: u64) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .custom_flags(libc::O_DIRECT)
        .open(path)?;
    // An aligned window into a slightly larger buffer: O_DIRECT needs aligned memory.
    let buf = vec![0u8; FILL_CHUNK + BLOCK as usize];
    let skip = buf.as_ptr().align_offset(BLOCK as usize);
    let zeros = &buf[skip..skip + FILL_CHUNK];
    let mut at = 0u64;
    while at < size {
        let len = (size - at).min(FILL_CHUNK as u64) as usize;
        f.write_all(&zeros[..len])?;
        at += len as u64;
    }
    f.sync_all()?;
    Ok(())
}

/// Make a directory's entries durable (a new or renamed file survives power loss).
pub fn sync_dir(dir: &Path) -> Result<()> {
    std::fs::File::open(dir)?.sync_all()?;
    Ok(())
}

pub(crate) fn segment_numbers(dir: &Path) -> Result<Vec<u32>> {
    let mut v = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let name = entry?.file_name();
        let name = name.to_string_lossy();
        if let Some(n) = name
            .strip_prefix("seg-")
            .and_then(|r| r.strip_suffix(".log"))
            .and_then(|n| n.parse::<u32>().ok())
        {
            v.push(n);
        }
    }
    v.sort_unstable();
    Ok(v)
}

/// What recovery does with bytes that follow the log's end in its last segment (a torn
/// batch).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TornTail {
    /// Seal the segment and go on in a new one (a primary decides where its records go).
    Roll,
    /// Overwrite them with zeros and go on in the same segment: a replica must write its
    /// primary's next record exactly where the primary did ([`super::replica`]). The torn
    /// records were never acknowledged, and the primary ships them again.
    Zero,
}

/// Open a partition's log: replay every record after `from` through `visit`, find the true
/// end, and return the reader and writer halves.
pub async fn open(
    dir: &Path,
    segment_size: u64,
    from: Option<LogPosition>,
    torn: TornTail,
    mut visit: impl FnMut(RecordPos, &[u8]) -> Result<()>,
) -> Result<(Segments, LogWriter)> {
    let segment_size = segment_size.next_multiple_of(BLOCK).max(BLOCK * 4);
    // A spare left by an earlier run may be incomplete: make a new one when needed.
    match std::fs::remove_file(spare_path(dir)) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e.into()),
    }
    let numbers = segment_numbers(dir)?;
    let mut segments = Segments::default();
    if numbers.is_empty() {
        let file = Rc::new(create_segment(dir, 1, segment_size).await?);
        segments.insert(1, file.clone(), segment_size);
        let writer = LogWriter {
            dir: dir.to_path_buf(),
            segment_size,
            file,
            segment: 1,
            size: segment_size,
            end: 0,
            tail: Vec::new(),
            chain: Chain::START,
            spare: Rc::new(Cell::new(Spare::None)),
        };
        return Ok((segments, writer));
    }
    for &n in &numbers {
        let path = segment_path(dir, n);
        let size = std::fs::metadata(&path)?.len();
        segments.insert(n, Rc::new(open_rw(&path).await?), size);
    }
    let start = from.unwrap_or(LogPosition {
        segment: numbers[0],
        offset: 0,
        chain: Chain::START,
    });
    let mut chain = start.chain;
    // (segment, end offset, whether only zeros follow the end)
    let mut tail: Option<(u32, u64, bool, Vec<u8>)> = None;
    // Segments in which no record follows the log, but some record checks on its own.
    let mut unchained = Vec::new();
    for &n in numbers.iter().filter(|&&n| n >= start.segment) {
        let Some(file) = segments.file(n) else {
            continue;
        };
        let size = file.file_size().await?;
        let data = file.read_at_aligned(0, size as usize).await?;
        let offset = if n == start.segment { start.offset } else { 0 };
        let mut scanner = Scanner::new(&data, offset as usize, chain);
        let mut found = false;
        for rec in scanner.by_ref() {
            found = true;
            visit(
                RecordPos {
                    segment: n,
                    offset: rec.offset as u64,
                    seq: rec.seq,
                },
                rec.payload,
            )?;
        }
        chain = scanner.state();
        if !found && record::holds_records(&data) {
            unchained.push(n);
        }
        if found || tail.is_none() {
            let end = scanner.end();
            let clean = data[end..].iter().all(|&b| b == 0);
            let block = end - end % BLOCK as usize;
            tail = Some((n, end as u64, clean, data[block..end].to_vec()));
        }
    }
    let (segment, end, clean, tail_bytes) = tail.ok_or_else(|| {
        StoreError::corrupt("log", "checkpoint names a segment that does not exist")
    })?;
    // Segments after the tail hold nothing that chains: leftovers of a torn roll, made
    // before any of their records was written. One that holds records is not: damage
    // earlier in the log (a flipped bit, a lost write) broke the chain, and deleting it
    // would delete acknowledged mail. Such a partition is not opened.
    if let Some(n) = unchained.iter().find(|&&n| n > segment) {
        return Err(StoreError::corrupt(
            "log",
            format!(
                "seg-{n:08}.log holds records that do not follow the log's end at seg-{segment:08}.log offset {end}; the partition is not opened (run `ringpost fsck`)"
            ),
        ));
    }
    for &n in numbers.iter().filter(|&&n| n > segment) {
        segments.delete(dir, n)?;
    }
    let file = segments
        .file(segment)
        .ok_or_else(|| StoreError::corrupt("log", "tail segment vanished"))?;
    let size = segments.size(segment).unwrap_or(0);
    let mut writer = LogWriter {
        dir: dir.to_path_buf(),
        segment_size,
        file,
        segment,
        size,
        end,
        tail: tail_bytes,
        chain,
        spare: Rc::new(Cell::new(Spare::None)),
    };
    if !clean {
        match torn {
            TornTail::Roll => {
                // Torn bytes follow the end: never write in front of them (see the module
                // docs).
                let (n, file, size) = writer.roll(0).await?;
                segments.insert(n, file, size);
            }
            TornTail::Zero => writer.zero_after_end().await?,
        }
    }
    Ok((segments, writer))
}

impl LogWriter {
    /// The position after the last record (what a checkpoint records).
    pub fn position(&self) -> LogPosition {
        LogPosition {
            segment: self.segment,
            offset: self.end,
            chain: self.chain,
        }
    }

    /// Size of the current segment's file.
    pub fn segment_file_size(&self) -> u64 {
        self.size
    }

    /// Make every byte of the current segment after the last record zero, durably (see
    /// [`TornTail::Zero`]).
    async fn zero_after_end(&self) -> Result<()> {
        let mut at = self.end - self.end % BLOCK;
        while at < self.size {
            let len = (self.size - at).min(FILL_CHUNK as u64) as usize;
            let mut buf = self.file.alloc_dma_buffer(len);
            let bytes = buf.as_bytes_mut();
            bytes.fill(0);
            if at + BLOCK > self.end {
                // The block holding the end keeps its records' bytes.
                bytes[..self.tail.len()].copy_from_slice(&self.tail);
            }
            let n = self.file.write_at(buf, at).await?;
            if n != len {
                return Err(StoreError::Io(std::io::Error::other("short write")));
            }
            at += len as u64;
        }
        self.file.fdatasync().await?;
        Ok(())
    }

    async fn roll(&mut self, at_least: u64) -> Result<(u32, Rc<DmaFile>, u64)> {
        let size = self.segment_size.max(at_least.next_multiple_of(BLOCK));
        self.roll_sized(size).await
    }

    /// Move to the next segment, a file of `size` bytes.
    async fn roll_sized(&mut self, size: u64) -> Result<(u32, Rc<DmaFile>, u64)> {
        let n = self.segment + 1;
        let file = match self.spare.get() {
            Spare::Ready(spare) if spare == size => {
                self.spare.set(Spare::None);
                let (from, to, dir) = (
                    spare_path(&self.dir),
                    segment_path(&self.dir, n),
                    self.dir.clone(),
                );
                // The rename must be durable before any record in the file is acknowledged.
                io::blocking(move || {
                    std::fs::rename(&from, &to)?;
                    sync_dir(&dir)
                })
                .await?;
                Rc::new(open_rw(&segment_path(&self.dir, n)).await?)
            }
            _ => Rc::new(create_segment(&self.dir, n, size).await?),
        };
        self.file = file.clone();
        self.segment = n;
        self.size = size;
        self.end = 0;
        self.tail.clear();
        Ok((n, file, size))
    }

    /// Start zero-filling the next segment in the background once this one is half full.
    fn prepare_spare(&self) {
        if self.spare.get() != Spare::None || self.end < self.size / 2 {
            return;
        }
        self.spare.set(Spare::Creating);
        let (spare, path, size) = (self.spare.clone(), spare_path(&self.dir), self.segment_size);
        io::spawn_detached(async move {
            let p = path.clone();
            match io::blocking(move || zero_file(&p, size)).await {
                Ok(()) => spare.set(Spare::Ready(size)),
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "could not pre-create a segment");
                    spare.set(Spare::None);
                }
            }
        });
    }

    /// Frame `payloads` after the last record, rolling to a new segment if they do not fit.
    pub async fn prepare(&mut self, payloads: Vec<Payload<'_>>) -> Result<PreparedBatch> {
        let total: u64 = payloads
            .iter()
            .map(|p| record::framed_len(p.len()) as u64)
            .sum();
        let mut new_segment = None;
        if self.end + total > self.size {
            if self.spare.get() == Spare::Creating {
                // Almost always done by now; waiting beats zero-filling a second file.
                while self.spare.get() == Spare::Creating {
                    io::sleep(std::time::Duration::from_millis(1)).await;
                }
            }
            new_segment = Some(self.roll(total).await?);
        }
        Ok(self.lay_out(payloads, new_segment))
    }

    /// Frame `payloads` in segment `segment` after the last record: the current segment, or
    /// the next one, rolled to as a file of `size` bytes. How a replica writes its primary's
    /// records where the primary wrote them ([`super::replica`]): the same chain gives the
    /// same bytes, the same segment and offset the same body positions.
    pub async fn prepare_at(
        &mut self,
        segment: u32,
        size: u64,
        payloads: Vec<Payload<'_>>,
    ) -> Result<PreparedBatch> {
        let total: u64 = payloads
            .iter()
            .map(|p| record::framed_len(p.len()) as u64)
            .sum();
        let mut new_segment = None;
        if segment == self.segment.wrapping_add(1) {
            if !size.is_multiple_of(BLOCK) || size < total {
                return Err(StoreError::corrupt(
                    "replicated log",
                    "segment size unusable",
                ));
            }
            while self.spare.get() == Spare::Creating {
                io::sleep(std::time::Duration::from_millis(1)).await;
            }
            new_segment = Some(self.roll_sized(size).await?);
        } else if segment != self.segment || self.end + total > self.size {
            return Err(StoreError::corrupt(
                "replicated log",
                "records do not fit where the primary wrote them",
            ));
        }
        Ok(self.lay_out(payloads, new_segment))
    }

    /// Frame `payloads` after the last record of the current segment (they fit).
    fn lay_out(
        &mut self,
        payloads: Vec<Payload<'_>>,
        new_segment: Option<(u32, Rc<DmaFile>, u64)>,
    ) -> PreparedBatch {
        let copied: u64 = payloads
            .iter()
            .filter(|p| matches!(p, Payload::Bytes(_)))
            .map(|p| record::framed_len(p.len()) as u64)
            .sum();
        // `bytes` holds the batch from offset `at` on that is not in `writes` yet: it starts
        // with the log's last partial block (O_DIRECT writes whole blocks).
        let mut at = self.end - self.end % BLOCK;
        let mut bytes = Vec::with_capacity((self.tail.len() as u64 + copied + BLOCK) as usize);
        bytes.extend_from_slice(&self.tail);
        let mut unwritten = false;
        let mut writes = Vec::new();
        let mut records = Vec::with_capacity(payloads.len());
        for p in payloads {
            match p {
                Payload::Bytes(payload) => {
                    let offset = at + bytes.len() as u64;
                    let seq = record::encode(&mut bytes, &mut self.chain, payload);
                    records.push(RecordPos {
                        segment: self.segment,
                        offset,
                        seq,
                    });
                    unwritten = true;
                }
                Payload::Stream { front, stream } => {
                    // Whole blocks before the record are written as they are; the partial
                    // one is laid out again in front of the record, in the stream's buffer.
                    let whole = bytes.len() - bytes.len() % BLOCK as usize;
                    if whole > 0 {
                        writes.push((at, Write::Copied(bytes[..whole].to_vec())));
                        at += whole as u64;
                    }
                    let before = &bytes[whole..];
                    let offset = at + before.len() as u64;
                    let (header, seq) = record::header(&mut self.chain, &[front, stream.body()]);
                    let (buf, end) = stream.into_record(before, &header, front);
                    records.push(RecordPos {
                        segment: self.segment,
                        offset,
                        seq,
                    });
                    // The record's last partial block starts what comes after it.
                    let last = end - end % BLOCK as usize;
                    bytes = buf.as_bytes()[last..end].to_vec();
                    writes.push((at, Write::Direct(buf)));
                    at += last as u64;
                    unwritten = false;
                }
            }
        }
        self.end = at + bytes.len() as u64;
        let keep = (self.end % BLOCK) as usize;
        self.tail.clear();
        self.tail.extend_from_slice(&bytes[bytes.len() - keep..]);
        if unwritten {
            bytes.resize(bytes.len().next_multiple_of(BLOCK as usize), 0);
            writes.push((at, Write::Copied(bytes)));
        }
        self.prepare_spare();
        PreparedBatch {
            file: self.file.clone(),
            writes,
            records,
            new_segment,
            end: self.position(),
        }
    }
}

/// One record's payload, as the committer hands it to [`LogWriter::prepare`].
pub enum Payload<'a> {
    /// In one buffer: copied into the batch.
    Bytes(&'a [u8]),
    /// `front` (the encoded op), then the body received in `stream`, which is framed in the
    /// stream's own direct-IO buffer and written from there: never copied into the batch.
    Stream {
        front: &'a [u8],
        stream: AppendStream,
    },
}

impl Payload<'_> {
    /// The payload's length.
    pub fn len(&self) -> usize {
        match self {
            Payload::Bytes(b) => b.len(),
            Payload::Stream { front, stream } => front.len() + stream.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One write of a batch: whole blocks at an offset.
enum Write {
    /// Laid out in memory; copied into a direct-IO buffer to be written.
    Copied(Vec<u8>),
    /// Already in a direct-IO buffer (a streamed append).
    Direct(DmaBuffer),
}

impl PreparedBatch {
    /// Bytes this batch copies into direct-IO buffers when written (a streamed append's body
    /// is not among them).
    pub fn copied_len(&self) -> usize {
        self.writes
            .iter()
            .map(|(_, w)| match w {
                Write::Copied(v) => v.len(),
                Write::Direct(_) => 0,
            })
            .sum()
    }

    /// Write the batch and make it durable. The writes go one after the other: neighbours
    /// rewrite the block they share.
    pub async fn write(self) -> Result<()> {
        for (at, w) in self.writes {
            let buf = match w {
                Write::Copied(bytes) => {
                    let mut buf = self.file.alloc_dma_buffer(bytes.len());
                    buf.as_bytes_mut().copy_from_slice(&bytes);
                    buf
                }
                Write::Direct(buf) => buf,
            };
            let len = buf.len();
            let n = self.file.write_at(buf, at).await?;
            if n != len {
                return Err(StoreError::Io(std::io::Error::other("short write")));
            }
        }
        self.file.fdatasync().await?;
        Ok(())
    }
}

/// The records of a sealed segment (one the writer has left), read whole.
pub struct SealedScan {
    data: ReadResult,
    /// Each record's position and where its payload is in the read buffer.
    pub records: Vec<(RecordPos, std::ops::Range<usize>)>,
}

impl SealedScan {
    pub fn payload(&self, i: usize) -> &[u8] {
        self.records
            .get(i)
            .map_or(&[], |(_, r)| &self.data[r.clone()])
    }
}

/// Read and check every record of a sealed segment. The chain is taken from its first
/// record: the records before it are in earlier segments, which may be gone.
pub async fn scan_sealed(file: &DmaFile, segment: u32) -> Result<SealedScan> {
    let size = file.file_size().await?;
    let data = file.read_at_aligned(0, size as usize).await?;
    let records = Scanner::new(&data, 0, record::first_chain(&data))
        .map(|rec| {
            let pos = RecordPos {
                segment,
                offset: rec.offset as u64,
                seq: rec.seq,
            };
            let start = rec.offset + record::HEADER;
            (pos, start..start + rec.payload.len())
        })
        .collect();
    Ok(SealedScan { data, records })
}

/// Message bytes read from a segment, served from the read buffer without a copy. Cheap to
/// clone and to slice (a reference count on the read buffer).
#[derive(Clone, Default)]
pub struct Body(Option<ReadResult>);

impl Body {
    /// `len` bytes from `start`, clamped to this body; shares the read buffer.
    pub fn slice(&self, start: usize, len: usize) -> Body {
        let start = start.min(self.len());
        let len = len.min(self.len() - start);
        Body(
            self.0
                .as_ref()
                .and_then(|r| ReadResult::slice(r, start, len)),
        )
    }
}

impl std::ops::Deref for Body {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.0.as_deref().unwrap_or_default()
    }
}

impl AsRef<[u8]> for Body {
    fn as_ref(&self) -> &[u8] {
        self
    }
}

/// The body's read buffer itself, shared with the protocols: no copy of the bytes.
impl From<Body> for MessageBytes {
    fn from(body: Body) -> MessageBytes {
        MessageBytes::new(body)
    }
}

impl std::fmt::Debug for Body {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Body({} bytes)", self.len())
    }
}

/// Read `len` bytes at `offset` of `file`.
pub async fn read(file: &DmaFile, offset: u64, len: usize) -> Result<Body> {
    if len == 0 {
        return Ok(Body(None));
    }
    let r = file.read_at(offset, len).await?;
    if r.len() != len {
        return Err(StoreError::corrupt(
            "segment",
            "message beyond the end of its segment",
        ));
    }
    Ok(Body(Some(r)))
}
