//! A partition's append-only log: numbered, pre-allocated segment files written with O_DIRECT
//! through glommio's `DmaFile` (never `DmaStreamWriter`, which writes stale buffer bytes:
//! PLATFORM.md §5). Records are framed by [`super::record`]. Never interprets payloads.
//!
//! Writing: a batch of records is laid out after the last record, the partially filled last
//! block is re-written with its old bytes in front (O_DIRECT writes whole blocks), the rest of
//! the last block is zero, and one `fdatasync` covers the batch. New segments are zero-filled
//! to their full size once, so later appends are overwrites inside the file: no file-extending
//! direct writes (PLATFORM.md §6) and no unwritten-extent conversions for `fdatasync` to log.
//!
//! Recovery: scan records from the checkpoint on, across segments, while they chain; the end
//! is the first record that does not check. If anything but zeros follows the end (a torn
//! batch), the segment is sealed and writing goes on in a fresh one, so torn bytes are never
//! left behind newer records.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use glommio::io::{DmaFile, OpenOptions, ReadResult};

use super::index::BodyRef;
use super::record::{self, Chain, Scanner};
use super::types::{Result, StoreError};

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

fn segment_path(dir: &Path, n: u32) -> PathBuf {
    dir.join(format!("seg-{n:08}.log"))
}

/// The write side of a partition's log. Owned by the committer while a batch is in flight.
pub struct LogWriter {
    dir: PathBuf,
    segment_size: u64,
    file: Rc<DmaFile>,
    segment: u32,
    /// End of the last record in the current segment.
    end: u64,
    /// Bytes of the current segment from the start of the block holding `end` up to `end`.
    tail: Vec<u8>,
    chain: Chain,
}

/// The read side: every segment file, shared with readers.
#[derive(Default)]
pub struct Segments {
    files: BTreeMap<u32, Rc<DmaFile>>,
}

impl Segments {
    pub fn file(&self, segment: u32) -> Option<Rc<DmaFile>> {
        self.files.get(&segment).cloned()
    }

    pub fn insert(&mut self, segment: u32, file: Rc<DmaFile>) {
        self.files.insert(segment, file);
    }
}

/// A batch laid out in memory, ready to be written.
pub struct PreparedBatch {
    file: Rc<DmaFile>,
    at: u64,
    bytes: Vec<u8>,
    pub records: Vec<RecordPos>,
    /// A segment this batch rolled to, for the read side to learn about.
    pub new_segment: Option<(u32, Rc<DmaFile>)>,
}

async fn open_rw(path: &Path) -> Result<DmaFile> {
    // Read-write, never write-only: a write-only open disables glommio's poll ring for the
    // whole device (PLATFORM.md §7).
    Ok(OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .dma_open(path)
        .await?)
}

/// Create segment `n` of `size` bytes, all zero and durable (file and directory entry).
///
/// Written with plain blocking writes before glommio opens it: glommio probes a device for
/// io_uring polling support by reading the first file it opens there, and an empty new file
/// passes that probe on devices that then refuse polled reads (EOPNOTSUPP). A segment is
/// created once per `segment_size` bytes of log, so the blocking write is rare.
async fn create_segment(dir: &Path, n: u32, size: u64) -> Result<DmaFile> {
    use std::io::Write;
    let path = segment_path(dir, n);
    {
        let mut f = std::fs::File::create(&path)?;
        let zeros = vec![0u8; FILL_CHUNK];
        let mut at = 0u64;
        while at < size {
            let len = (size - at).min(FILL_CHUNK as u64) as usize;
            f.write_all(&zeros[..len])?;
            at += len as u64;
        }
        f.sync_all()?;
    }
    sync_dir(dir)?;
    open_rw(&path).await
}

/// Make a directory's entries durable (a new or renamed file survives power loss).
pub fn sync_dir(dir: &Path) -> Result<()> {
    std::fs::File::open(dir)?.sync_all()?;
    Ok(())
}

fn segment_numbers(dir: &Path) -> Result<Vec<u32>> {
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

/// Open a partition's log: replay every record after `from` through `visit`, find the true
/// end, and return the reader and writer halves.
pub async fn open(
    dir: &Path,
    segment_size: u64,
    from: Option<LogPosition>,
    mut visit: impl FnMut(RecordPos, &[u8]) -> Result<()>,
) -> Result<(Segments, LogWriter)> {
    let segment_size = segment_size.next_multiple_of(BLOCK).max(BLOCK * 4);
    let numbers = segment_numbers(dir)?;
    let mut segments = Segments::default();
    if numbers.is_empty() {
        let file = Rc::new(create_segment(dir, 1, segment_size).await?);
        segments.files.insert(1, file.clone());
        let writer = LogWriter {
            dir: dir.to_path_buf(),
            segment_size,
            file,
            segment: 1,
            end: 0,
            tail: Vec::new(),
            chain: Chain::START,
        };
        return Ok((segments, writer));
    }
    for &n in &numbers {
        segments
            .files
            .insert(n, Rc::new(open_rw(&segment_path(dir, n)).await?));
    }
    let start = from.unwrap_or(LogPosition {
        segment: numbers[0],
        offset: 0,
        chain: Chain::START,
    });
    let mut chain = start.chain;
    // (segment, end offset, whether only zeros follow the end)
    let mut tail: Option<(u32, u64, bool, Vec<u8>)> = None;
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
    // Segments after the tail hold nothing that chains: leftovers of a torn roll.
    for &n in numbers.iter().filter(|&&n| n > segment) {
        segments.files.remove(&n);
        std::fs::remove_file(segment_path(dir, n))?;
    }
    let file = segments
        .file(segment)
        .ok_or_else(|| StoreError::corrupt("log", "tail segment vanished"))?;
    let mut writer = LogWriter {
        dir: dir.to_path_buf(),
        segment_size,
        file,
        segment,
        end,
        tail: tail_bytes,
        chain,
    };
    if !clean {
        // Torn bytes follow the end: never write in front of them (see the module docs).
        let (n, file) = writer.roll(0).await?;
        segments.files.insert(n, file);
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

    async fn roll(&mut self, at_least: u64) -> Result<(u32, Rc<DmaFile>)> {
        let n = self.segment + 1;
        let size = self.segment_size.max(at_least.next_multiple_of(BLOCK));
        let file = Rc::new(create_segment(&self.dir, n, size).await?);
        self.file = file.clone();
        self.segment = n;
        self.end = 0;
        self.tail.clear();
        Ok((n, file))
    }

    /// Frame `payloads` after the last record, rolling to a new segment if they do not fit.
    pub async fn prepare(&mut self, payloads: &[&[u8]]) -> Result<PreparedBatch> {
        let total: u64 = payloads
            .iter()
            .map(|p| record::framed_len(p.len()) as u64)
            .sum();
        let size = self.file.file_size().await?;
        let mut new_segment = None;
        if self.end + total > size {
            new_segment = Some(self.roll(total).await?);
        }
        let block_start = self.end - self.end % BLOCK;
        let mut bytes = Vec::with_capacity((self.tail.len() as u64 + total + BLOCK) as usize);
        bytes.extend_from_slice(&self.tail);
        let mut records = Vec::with_capacity(payloads.len());
        for p in payloads {
            let offset = block_start + bytes.len() as u64;
            let seq = record::encode(&mut bytes, &mut self.chain, p);
            records.push(RecordPos {
                segment: self.segment,
                offset,
                seq,
            });
        }
        self.end = block_start + bytes.len() as u64;
        let keep = (self.end % BLOCK) as usize;
        self.tail.clear();
        self.tail.extend_from_slice(&bytes[bytes.len() - keep..]);
        bytes.resize(bytes.len().next_multiple_of(BLOCK as usize), 0);
        Ok(PreparedBatch {
            file: self.file.clone(),
            at: block_start,
            bytes,
            records,
            new_segment,
        })
    }
}

impl PreparedBatch {
    /// Write the batch and make it durable.
    pub async fn write(self) -> Result<()> {
        let mut buf = self.file.alloc_dma_buffer(self.bytes.len());
        buf.as_bytes_mut().copy_from_slice(&self.bytes);
        let n = self.file.write_at(buf, self.at).await?;
        if n != self.bytes.len() {
            return Err(StoreError::Io(std::io::Error::other("short write")));
        }
        self.file.fdatasync().await?;
        Ok(())
    }
}

/// Message bytes read from a segment, served from the read buffer without a copy.
pub struct Body(Option<ReadResult>);

impl std::ops::Deref for Body {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.0.as_deref().unwrap_or_default()
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
