//! `ringpost fsck`: an offline check of the whole store, and `--repair`, which rebuilds index
//! files and checkpoints from the log. Runs with the server stopped (the caller holds the
//! data-dir lock) and reads the files with plain blocking IO: no executor is needed.
//!
//! For every partition it reads every segment and checks each record with the scanner's own
//! test ([`record::check`]: magic, length, CRC-32C, sequence number and chain), across
//! segments too. Bytes after the last record that are not zeros are a torn tail (a crash
//! while writing: a warning) unless records after them still check on their own, which
//! means damage in front of acknowledged records (a problem). It decodes every record and
//! replays the log with recovery's own code (`partition::Replay`) three ways: from empty indexes (the
//! truth, when the log reaches back to each account's creation), from the index files as
//! recovery will (only the records after the checkpoint), and from the index files with every
//! record newer than each file (what a repair can use once compaction has deleted the start
//! of the log). Then it checks the checkpoint (a record boundary of the log), each index file
//! against the truth and against the checkpoint (no record before the checkpoint missing
//! from it), what each account's index says (UIDs strictly ascending, UIDNEXT above them,
//! modseqs, sizes, the expunge log, mailbox ids and UIDVALIDITY counters), and that every
//! message's bytes are inside a record's message bytes in an existing segment.
//!
//! Compaction deletes segments, and with them the records before the relocations: an
//! account created before the oldest surviving segment exists only in its index file from
//! then on. Such an index is checked for consistency and against the records that survive,
//! and can be brought up to date by `--repair` only from those records.
//!
//! A repair never touches the log: a partition whose log is damaged is not repaired (its
//! indexes can hold what the damaged records held). The files it replaces are kept in a
//! `fsck-backup-<time>` folder of the partition.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};

use super::index::{AccountIndex, Mailbox};
use super::op::{self, Op};
use super::partition::{self, Checkpoint, Replay};
use super::record::{self, Chain, Reject, Scanner};
use super::segment::{self, LogPosition, RecordPos};
use super::types::{Result, StoreError};

/// Problems and warnings listed per partition; the rest are counted.
const LISTED: usize = 40;

/// What fsck found in one partition.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PartitionReport {
    /// The partition's folder name (`p0582`).
    pub name: String,
    pub segments: usize,
    pub segment_bytes: u64,
    /// Records that check.
    pub records: u64,
    /// First and last sequence number of those records.
    pub seqs: Option<(u64, u64)>,
    /// Accounts with an index file or named by a record.
    pub accounts: usize,
    /// Messages in every mailbox, as the server will see them.
    pub messages: u64,
    /// The log no longer starts at sequence number 1 (compaction deleted its start).
    pub compacted: bool,
    pub problems: Vec<String>,
    pub warnings: Vec<String>,
}

/// What fsck found in the store.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub partitions: Vec<PartitionReport>,
}

impl Report {
    pub fn problems(&self) -> usize {
        self.partitions.iter().map(|p| p.problems.len()).sum()
    }

    pub fn warnings(&self) -> usize {
        self.partitions.iter().map(|p| p.warnings.len()).sum()
    }

    /// No problems (warnings allowed: a torn tail is what a crash leaves).
    pub fn is_clean(&self) -> bool {
        self.problems() == 0
    }
}

fn plural(n: impl Into<u64>, one: &str, many: &str) -> String {
    let n = n.into();
    format!("{n} {}", if n == 1 { one } else { many })
}

fn size(bytes: u64) -> String {
    if bytes >= 1 << 20 {
        format!("{:.1} MiB", bytes as f64 / f64::from(1 << 20))
    } else {
        format!("{} KiB", bytes.div_ceil(1024))
    }
}

impl fmt::Display for PartitionReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let seqs = match self.seqs {
            Some((a, b)) => format!(" (seq {a}-{b})"),
            None => String::new(),
        };
        write!(
            f,
            "{}: {} ({}), {}{seqs}{}, {}, {}",
            self.name,
            plural(self.segments as u64, "segment", "segments"),
            size(self.segment_bytes),
            plural(self.records, "record", "records"),
            if self.compacted { ", compacted" } else { "" },
            plural(self.accounts as u64, "account", "accounts"),
            plural(self.messages, "message", "messages"),
        )?;
        if self.problems.is_empty() && self.warnings.is_empty() {
            return writeln!(f, ": ok");
        }
        writeln!(
            f,
            ": {}, {}",
            plural(self.problems.len() as u64, "problem", "problems"),
            plural(self.warnings.len() as u64, "warning", "warnings")
        )?;
        for (kind, list) in [("problem", &self.problems), ("warning", &self.warnings)] {
            for line in list.iter().take(LISTED) {
                writeln!(f, "  {kind}: {line}")?;
            }
            if list.len() > LISTED {
                writeln!(f, "  … and {} more {kind}s", list.len() - LISTED)?;
            }
        }
        Ok(())
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for p in &self.partitions {
            write!(f, "{p}")?;
        }
        let records: u64 = self.partitions.iter().map(|p| p.records).sum();
        let messages: u64 = self.partitions.iter().map(|p| p.messages).sum();
        let accounts: usize = self.partitions.iter().map(|p| p.accounts).sum();
        let verdict = if self.is_clean() {
            "clean".to_string()
        } else {
            format!(
                "{} found",
                plural(self.problems() as u64, "problem", "problems")
            )
        };
        writeln!(
            f,
            "fsck: {}, {}, {}, {}, {}: {verdict}",
            plural(self.partitions.len() as u64, "partition", "partitions"),
            plural(records, "record", "records"),
            plural(accounts as u64, "account", "accounts"),
            plural(messages, "message", "messages"),
            plural(self.warnings() as u64, "warning", "warnings"),
        )
    }
}

/// Check every partition under `root` (the store's folder), changing nothing.
pub fn check(root: &Path) -> Result<Report> {
    let mut report = Report::default();
    for dir in partition_dirs(root)? {
        report.partitions.push(analyze(&dir)?.report);
    }
    Ok(report)
}

/// What [`repair`] did.
#[derive(Debug, Clone, Default)]
pub struct Repair {
    /// The check before the repair.
    pub before: Report,
    /// One line per file written or kept aside, and per partition left alone.
    pub actions: Vec<String>,
    /// The check after it.
    pub after: Report,
}

/// Check every partition, rebuild the index files and checkpoint of those with problems
/// from their log (unless the log itself is damaged), and check again.
pub fn repair(root: &Path) -> Result<Repair> {
    let mut out = Repair::default();
    for dir in partition_dirs(root)? {
        let analysis = analyze(&dir)?;
        if !analysis.report.problems.is_empty() {
            rebuild(&dir, &analysis, &mut out.actions)?;
        }
        out.before.partitions.push(analysis.report);
    }
    out.after = check(root)?;
    Ok(out)
}

/// The partition folders (`pNNNN`) under `root`, in order; none if there is no store yet.
fn partition_dirs(root: &Path) -> Result<Vec<PathBuf>> {
    let entries = match std::fs::read_dir(root) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e.into()),
    };
    let mut dirs = Vec::new();
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let numbered = name.len() == 5
            && name.starts_with('p')
            && name[1..].bytes().all(|b| b.is_ascii_digit());
        if numbered && entry.file_type()?.is_dir() {
            dirs.push(entry.path());
        }
    }
    dirs.sort();
    Ok(dirs)
}

/// An index file as read.
enum IndexState {
    Ok(AccountIndex),
    Unreadable(String),
}

/// One segment after its scan.
struct Segment {
    number: u32,
    /// The chain its first record's header names (its sequence number and predecessor).
    first: Option<Chain>,
    /// Sequence number and CRC of its last accepted record.
    last: Option<(u64, u32)>,
    records: u64,
    /// Where the accepted records end, and why the next bytes are not a record.
    end: usize,
    stop: Reject,
    /// Only zeros after `end`.
    clean: bool,
    /// Records after `end` that check on their own, with sequence numbers past `last`.
    orphans: Vec<u64>,
    /// Every record's message bytes: start, end, and whether a message uses them whole (an
    /// append) rather than a part (a relocation's area).
    bodies: Vec<(u64, u64, bool)>,
}

impl Segment {
    fn label(&self) -> String {
        format!("seg-{:08}.log", self.number)
    }
}

/// Everything fsck learns about one partition.
struct Analysis {
    report: PartitionReport,
    /// A problem in the log itself: a repair would rebuild from a log that lost records.
    damaged: bool,
    /// After the last accepted record: where a rebuilt checkpoint stands.
    end: LogPosition,
    /// Index files by account.
    files: BTreeMap<String, IndexState>,
    /// Replayed from empty indexes.
    truth: HashMap<String, AccountIndex>,
    truth_released: BTreeMap<u32, u64>,
    /// The index files brought up to date with every surviving record newer than them.
    catchup: HashMap<String, AccountIndex>,
    catchup_released: BTreeMap<u32, u64>,
    /// Accounts whose whole history is in the surviving log.
    complete: BTreeSet<String>,
    /// The log is contiguous from this sequence number on (1 when nothing was compacted).
    contiguous_from: u64,
}

/// Read the account index files of a partition, by the account their name gives.
fn read_index_files(
    dir: &Path,
    warnings: &mut Vec<String>,
) -> Result<BTreeMap<String, IndexState>> {
    let mut files = BTreeMap::new();
    let entries = match std::fs::read_dir(dir.join("accounts")) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(files),
        Err(e) => return Err(e.into()),
    };
    for entry in entries {
        let entry = entry?;
        let file = entry.file_name().to_string_lossy().into_owned();
        let Some(stem) = file.strip_suffix(".idx") else {
            // Temporary files of an interrupted write are replaced by the next one.
            if !file.ends_with(".tmp") {
                warnings.push(format!("accounts/{file}: not an index file"));
            }
            continue;
        };
        let Some(account) = unescape(stem) else {
            warnings.push(format!("accounts/{file}: not an account's file name"));
            continue;
        };
        let state = match std::fs::read(entry.path()) {
            Ok(bytes) => match AccountIndex::from_file_bytes(&bytes) {
                Ok(index) if index.account == account => IndexState::Ok(index),
                Ok(index) => {
                    IndexState::Unreadable(format!("it holds the index of {:?}", index.account))
                }
                Err(e) => IndexState::Unreadable(e.to_string()),
            },
            Err(e) => IndexState::Unreadable(e.to_string()),
        };
        files.insert(account, state);
    }
    Ok(files)
}

/// The account an index file's name stands for (the reverse of the partition's escaping).
fn unescape(stem: &str) -> Option<String> {
    let bytes = stem.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    let account = String::from_utf8(out).ok()?;
    (partition::escape(&account) == stem).then_some(account)
}

fn file_label(account: &str) -> String {
    format!("accounts/{}.idx", partition::escape(account))
}

/// Bytes after `end` that hold records checking on their own, numbered past `after`.
fn orphans(data: &[u8], end: usize, after: u64) -> Vec<u64> {
    let mut found = Vec::new();
    let mut at = end.next_multiple_of(record::RECORD_ALIGN);
    if at == end {
        at += record::RECORD_ALIGN;
    }
    while at + record::HEADER <= data.len() {
        match record::self_checking(data, at) {
            Ok(r) if r.seq > after => {
                found.push(r.seq);
                at += record::framed_len(r.payload.len());
            }
            _ => at += record::RECORD_ALIGN,
        }
    }
    found
}

/// Whether the record at `pos` comes at or after the checkpoint (recovery replays it).
fn after_checkpoint(pos: RecordPos, checkpoint: Option<&Checkpoint>) -> bool {
    checkpoint.is_none_or(|c| (pos.segment, pos.offset) >= (c.position.segment, c.position.offset))
}

fn analyze(dir: &Path) -> Result<Analysis> {
    let mut problems = Vec::new();
    let mut warnings = Vec::new();
    let mut checkpoint_unreadable = false;
    let checkpoint = match std::fs::read(dir.join("checkpoint")) {
        Ok(bytes) => match partition::decode_checkpoint(&bytes) {
            Ok(c) => Some(c),
            Err(e) => {
                checkpoint_unreadable = true;
                problems.push(format!(
                    "checkpoint: {e}; the server cannot open this partition"
                ));
                None
            }
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e.into()),
    };
    let files = read_index_files(dir, &mut warnings)?;
    let from_file = |name: &str| match files.get(name) {
        Some(IndexState::Ok(index)) => Ok(index.clone()),
        _ => Ok(AccountIndex::empty(name)),
    };
    let mut truth = Replay::new(|name: &str| Ok(AccountIndex::empty(name)), BTreeMap::new());
    let mut server = Replay::new(
        from_file,
        checkpoint
            .as_ref()
            .map(|c| c.released.clone())
            .unwrap_or_default(),
    );
    let mut catchup = Replay::new(from_file, BTreeMap::new());
    // Per account: its first surviving record (seq, segment, whether it creates the
    // account), and the last record naming it before the checkpoint.
    let mut first: HashMap<String, (u64, u32, bool)> = HashMap::new();
    let mut before_checkpoint: HashMap<String, u64> = HashMap::new();
    let mut checkpoint_at_record = false;
    // A record that checks but does not decode: damage recovery cannot pass.
    let mut undecodable = false;
    let mut segments = Vec::new();
    let mut bytes = 0u64;
    for number in segment::segment_numbers(dir)? {
        let data = std::fs::read(segment::segment_path(dir, number))?;
        bytes += data.len() as u64;
        if !(data.len() as u64).is_multiple_of(segment::BLOCK) {
            warnings.push(format!(
                "seg-{number:08}.log: {} bytes, not whole blocks",
                data.len()
            ));
        }
        let mut seg = Segment {
            number,
            first: None,
            last: None,
            records: 0,
            end: 0,
            stop: Reject::NoRecord,
            clean: true,
            orphans: Vec::new(),
            bodies: Vec::new(),
        };
        let start = record::first_chain(&data);
        let mut scanner = Scanner::new(&data, 0, start);
        for rec in scanner.by_ref() {
            let pos = RecordPos {
                segment: number,
                offset: rec.offset as u64,
                seq: rec.seq,
            };
            let len = rec.payload.len();
            seg.first.get_or_insert(start);
            seg.last = Some((rec.seq, rec.crc));
            seg.records += 1;
            if let Some(c) = &checkpoint {
                let end = rec.offset + record::framed_len(len);
                if c.position.segment == number
                    && end as u64 == c.position.offset
                    && c.position.chain
                        == (Chain {
                            next_seq: rec.seq + 1,
                            prev_crc: rec.crc,
                        })
                {
                    checkpoint_at_record = true;
                }
            }
            let (op, body_at) = match op::decode(rec.payload) {
                Ok(x) => x,
                Err(e) => {
                    problems.push(format!(
                        "{} offset {}: record {} checks but does not decode ({e}); recovery stops there",
                        seg.label(),
                        rec.offset,
                        rec.seq
                    ));
                    undecodable = true;
                    continue;
                }
            };
            truth.apply(pos, &op, body_at, len)?;
            catchup.apply(pos, &op, body_at, len)?;
            if after_checkpoint(pos, checkpoint.as_ref()) {
                server.apply(pos, &op, body_at, len)?;
            }
            for name in op.accounts() {
                first.entry(name.to_string()).or_insert((
                    rec.seq,
                    number,
                    matches!(op, Op::CreateAccount { .. }),
                ));
                if !after_checkpoint(pos, checkpoint.as_ref()) {
                    before_checkpoint.insert(name.to_string(), rec.seq);
                }
            }
            if op.has_body() {
                let body = pos.body(body_at, len - body_at);
                seg.bodies.push((
                    body.offset,
                    body.offset + u64::from(body.len),
                    op.is_append(),
                ));
            }
        }
        seg.end = scanner.end();
        seg.stop = record::check(&data, seg.end, scanner.state())
            .err()
            .unwrap_or(Reject::NoRecord);
        seg.clean = data[seg.end..].iter().all(|&b| b == 0);
        if !seg.clean {
            seg.orphans = orphans(&data, seg.end, seg.last.map_or(0, |l| l.0));
        }
        segments.push(seg);
    }
    let mut damaged = undecodable;

    // The log: each segment, the chain between them, where it ends.
    let tail = segments.iter().rposition(|s| s.records > 0);
    let numbers: Vec<u32> = segments.iter().map(|s| s.number).collect();
    let mut compacted = false;
    let mut contiguous_from = 1;
    let mut previous: Option<&Segment> = None;
    for (i, seg) in segments.iter().enumerate() {
        if let Some(first) = seg.first {
            match previous {
                None if seg.number == 1 && i == 0 => {
                    if first != Chain::START {
                        problems.push(format!(
                            "{} starts at seq {}: the log's first record must be seq 1",
                            seg.label(),
                            first.next_seq
                        ));
                        damaged = true;
                    }
                }
                None => {
                    compacted = true;
                    contiguous_from = first.next_seq;
                }
                Some(prev) => {
                    let (last_seq, last_crc) = prev.last.unwrap_or((0, 0));
                    if seg.number == prev.number + 1 {
                        let want = Chain {
                            next_seq: last_seq + 1,
                            prev_crc: last_crc,
                        };
                        // Damage reported in `prev` whose records after it reach this
                        // segment's first one explains the break.
                        let explained =
                            prev.orphans.last().is_some_and(|o| o + 1 == first.next_seq);
                        if first != want && !explained {
                            problems.push(format!(
                                "{} does not continue {}: its first record is seq {} after seq {}{}; the records between are lost",
                                seg.label(),
                                prev.label(),
                                first.next_seq,
                                last_seq,
                                if first.next_seq == want.next_seq { " with another predecessor" } else { "" }
                            ));
                            damaged = true;
                        }
                    } else {
                        // Compaction deleted the segments between.
                        compacted = true;
                        contiguous_from = first.next_seq;
                        if first.next_seq <= last_seq {
                            problems.push(format!(
                                "{} starts at seq {}, not after {} (seq {})",
                                seg.label(),
                                first.next_seq,
                                prev.label(),
                                last_seq
                            ));
                            damaged = true;
                        }
                    }
                }
            }
            previous = Some(seg);
        }
        let later_records = tail.is_some_and(|t| i < t);
        if !seg.clean && !seg.orphans.is_empty() {
            let (lo, hi) = (seg.orphans[0], seg.orphans[seg.orphans.len() - 1]);
            let mut line = format!(
                "{} offset {}: {}; {} after it {} on {} own (seq {lo}-{hi}): damage in front of written records, which the server cannot reach",
                seg.label(),
                seg.end,
                seg.stop,
                plural(seg.orphans.len() as u64, "record", "records"),
                if seg.orphans.len() == 1 { "checks" } else { "check" },
                if seg.orphans.len() == 1 { "its" } else { "their" },
            );
            let after_cp = checkpoint.as_ref().is_none_or(|c| {
                (seg.number, seg.end as u64) >= (c.position.segment, c.position.offset)
            });
            let later_held = segments[i + 1..]
                .iter()
                .any(|l| l.records > 0 || !l.orphans.is_empty());
            line.push_str(match (after_cp, later_held) {
                (true, true) => "; the server does not open this partition",
                (true, false) => "; recovery ends the log there",
                (false, _) => "; it is before the checkpoint, so the server does not notice",
            });
            problems.push(line);
            damaged = true;
        } else if seg.records == 0 && later_records {
            problems.push(format!(
                "{}: no record checks ({} at offset 0), but later segments hold records",
                seg.label(),
                seg.stop
            ));
            damaged = true;
        } else if !seg.clean {
            let what = match tail {
                Some(t) if i == t => "torn tail: the last write was cut short (a crash while writing); recovery ends the log there and writes on in a new segment",
                Some(t) if i < t => "torn tail of an earlier crash; recovery sealed the segment and the log goes on in the next one",
                _ => "bytes but no records: a segment the log never reached; recovery deletes it",
            };
            warnings.push(format!(
                "{} offset {}: {} ({what})",
                seg.label(),
                seg.end,
                seg.stop
            ));
        } else if seg.records == 0 && tail.is_some_and(|t| i > t) && i + 1 < segments.len() {
            warnings.push(format!(
                "{}: empty, and not the newest segment: recovery deletes it",
                seg.label()
            ));
        }
    }
    let end = match tail.map(|t| &segments[t]) {
        Some(t) => {
            let (seq, crc) = t.last.unwrap_or((0, 0));
            LogPosition {
                segment: t.number,
                offset: t.end as u64,
                chain: Chain {
                    next_seq: seq + 1,
                    prev_crc: crc,
                },
            }
        }
        None => LogPosition {
            segment: numbers.first().copied().unwrap_or(1),
            offset: 0,
            chain: Chain::START,
        },
    };
    let first_seq = segments.iter().find_map(|s| s.first).map(|c| c.next_seq);
    let last_seq = end.chain.next_seq - 1;

    // The checkpoint: a record boundary of the log.
    match &checkpoint {
        None if checkpoint_unreadable => {}
        None if tail.is_some() && compacted => problems.push(
            "no checkpoint, and the log no longer starts at seq 1: recovery would find no log"
                .into(),
        ),
        None if tail.is_some() => {
            warnings.push("no checkpoint: recovery replays the whole log".into());
        }
        None => {}
        Some(c) => {
            let p = c.position;
            let at_segment_start = p.offset == 0 && {
                let seg = segments.iter().find(|s| s.number == p.segment);
                match seg.and_then(|s| s.first) {
                    Some(first) => first == p.chain,
                    None => {
                        // An empty segment: the chain is where the log before it ends.
                        let before = segments
                            .iter()
                            .filter(|s| s.number < p.segment)
                            .rev()
                            .find_map(|s| s.last);
                        seg.is_some()
                            && p.chain
                                == before.map_or(Chain::START, |(seq, crc)| Chain {
                                    next_seq: seq + 1,
                                    prev_crc: crc,
                                })
                    }
                }
            };
            // Each of these says the log lost what the checkpoint saw: not repairable here.
            if !numbers.contains(&p.segment) {
                damaged = true;
                problems.push(format!(
                    "checkpoint: names seg-{:08}.log, which does not exist",
                    p.segment
                ));
            } else if p.chain.next_seq > last_seq + 1 {
                damaged = true;
                problems.push(format!(
                    "checkpoint: stands after seq {} but the log ends at seq {last_seq}: records the indexes hold are missing from the log",
                    p.chain.next_seq - 1
                ));
            } else if !(checkpoint_at_record || at_segment_start) {
                damaged = true;
                problems.push(format!(
                    "checkpoint: seg-{:08}.log offset {} (next seq {}) is not the end of a record of the log; recovery would stop there",
                    p.segment, p.offset, p.chain.next_seq
                ));
            }
        }
    }

    // The accounts.
    let Replay {
        accounts: truth,
        released: truth_released,
        ..
    } = truth;
    let Replay {
        accounts: server, ..
    } = server;
    let Replay {
        accounts: catchup,
        released: catchup_released,
        ..
    } = catchup;
    let truth: HashMap<String, AccountIndex> =
        truth.into_iter().map(|(n, (i, _))| (n, i)).collect();
    let mut server: HashMap<String, AccountIndex> =
        server.into_iter().map(|(n, (i, _))| (n, i)).collect();
    let catchup: HashMap<String, AccountIndex> =
        catchup.into_iter().map(|(n, (i, _))| (n, i)).collect();
    let complete: BTreeSet<String> = truth
        .keys()
        .filter(|name| {
            !compacted
                || first
                    .get(*name)
                    .is_some_and(|&(seq, _, create)| create && seq >= contiguous_from)
        })
        .cloned()
        .collect();
    let names: BTreeSet<&String> = truth.keys().chain(files.keys()).collect();
    let bodies: HashMap<u32, &[(u64, u64, bool)]> = segments
        .iter()
        .map(|s| (s.number, s.bodies.as_slice()))
        .collect();
    let mut messages = 0u64;
    for name in &names {
        let label = file_label(name);
        let file = files.get(*name);
        if let Some(IndexState::Unreadable(e)) = file {
            problems.push(format!(
                "{label}: unreadable ({e}); the server cannot open {name}"
            ));
            continue;
        }
        let file_index = match file {
            Some(IndexState::Ok(index)) => Some(index),
            _ => None,
        };
        // What the server will hold once it has recovered.
        let seen = match server.remove(*name) {
            Some(index) => index,
            None => file_index
                .cloned()
                .unwrap_or_else(|| AccountIndex::empty(name)),
        };
        messages += seen
            .mailboxes
            .iter()
            .map(|m| m.messages.len() as u64)
            .sum::<u64>();
        let want = truth
            .get(*name)
            .filter(|_| complete.contains(*name) && !damaged);
        if let (None, Some(want)) = (file_index, want) {
            if &seen != want {
                let messages: usize = want.mailboxes.iter().map(|m| m.messages.len()).sum();
                problems.push(format!(
                    "{label} is missing: the log holds {} and {} of {name}, which the server will not see",
                    plural(want.mailboxes.len() as u64, "mailbox", "mailboxes"),
                    plural(messages as u64, "message", "messages"),
                ));
                continue;
            }
        }
        if let Some(&seq) = before_checkpoint.get(*name) {
            let applied = file_index.map_or(0, |f| f.applied_seq);
            if seq > applied {
                problems.push(match file_index {
                    Some(_) => format!(
                        "{label}: stands at seq {applied}, but record {seq} names {name} before the checkpoint; recovery will not replay it"
                    ),
                    None => format!(
                        "{label} is missing, but records before the checkpoint (up to seq {seq}) name {name}; recovery will not replay them"
                    ),
                });
            }
        }
        if file_index.is_none()
            && compacted
            && !complete.contains(*name)
            && truth.contains_key(*name)
            && !before_checkpoint.contains_key(*name)
        {
            problems.push(format!(
                "{label} is missing, and the log no longer holds {name}'s beginning (compacted): the server will not see its mail"
            ));
        }
        if let Some(f) = file_index {
            if f.applied_seq > last_seq {
                problems.push(format!(
                    "{label}: stands at seq {}, after the log's end (seq {last_seq}): records it holds are missing from the log",
                    f.applied_seq
                ));
            }
        }
        match want {
            Some(want) if &seen != want => problems.push(format!(
                "{label}: {name} differs from what the log yields: {}",
                differences(&seen, want).join("; ")
            )),
            None if !compacted
                && !damaged
                && file_index.is_some()
                && !truth.contains_key(*name) =>
            {
                problems.push(format!(
                    "{label}: an index of {name}, whom no record of the log names"
                ));
            }
            _ => {}
        }
        for p in invariants(&seen) {
            problems.push(format!("{label}: {p}"));
        }
        if !damaged {
            for p in dangling(&seen, &bodies) {
                problems.push(format!("{label}: {p}"));
            }
        }
    }
    if damaged && !names.is_empty() {
        warnings
            .push("the index files were checked on their own, not against the damaged log".into());
    }
    let report = PartitionReport {
        name: dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        segments: segments.len(),
        segment_bytes: bytes,
        records: segments.iter().map(|s| s.records).sum(),
        seqs: first_seq.map(|f| (f, last_seq)),
        accounts: names.len(),
        messages,
        compacted,
        problems,
        warnings,
    };
    Ok(Analysis {
        report,
        damaged,
        end,
        files,
        truth,
        truth_released,
        catchup,
        catchup_released,
        complete,
        contiguous_from,
    })
}

fn uid_list(uids: &[u32]) -> String {
    let mut s: Vec<String> = uids.iter().take(8).map(u32::to_string).collect();
    if uids.len() > 8 {
        s.push(format!("… {} in all", uids.len()));
    }
    s.join(", ")
}

/// How `found` differs from `want`, in a few phrases.
fn differences(found: &AccountIndex, want: &AccountIndex) -> Vec<String> {
    let mut out = Vec::new();
    if found.created != want.created {
        out.push(format!(
            "created {} where the log says {}",
            found.created, want.created
        ));
    }
    for m in &want.mailboxes {
        let Some(f) = found.mailbox_by_id(m.id) else {
            out.push(format!(
                "mailbox {:?} ({} messages) is missing",
                m.name,
                m.messages.len()
            ));
            continue;
        };
        out.extend(mailbox_differences(f, m));
    }
    for f in &found.mailboxes {
        if want.mailbox_by_id(f.id).is_none() {
            out.push(format!("mailbox {:?} is not in the log", f.name));
        }
    }
    if found.subscriptions != want.subscriptions {
        out.push("subscriptions differ".into());
    }
    if found.metadata != want.metadata {
        out.push("server annotations differ".into());
    }
    if found.sharers != want.sharers {
        out.push("the accounts sharing mailboxes with it differ".into());
    }
    if found.next_mailbox_id != want.next_mailbox_id
        || found.last_uid_validity != want.last_uid_validity
    {
        out.push("mailbox id or UIDVALIDITY counters differ".into());
    }
    if out.is_empty() && found.applied_seq != want.applied_seq {
        out.push(format!(
            "stands at seq {} where the log's last record for it is {}",
            found.applied_seq, want.applied_seq
        ));
    }
    if out.is_empty() {
        out.push("the indexes differ".into());
    }
    out.truncate(6);
    out
}

fn mailbox_differences(f: &Mailbox, m: &Mailbox) -> Vec<String> {
    let mut out = Vec::new();
    let name = &m.name;
    if f.name != m.name {
        out.push(format!("mailbox {name:?} is named {:?}", f.name));
    }
    let have: BTreeSet<u32> = f.messages.iter().map(|e| e.uid.0).collect();
    let want: BTreeSet<u32> = m.messages.iter().map(|e| e.uid.0).collect();
    let missing: Vec<u32> = want.difference(&have).copied().collect();
    let extra: Vec<u32> = have.difference(&want).copied().collect();
    if !missing.is_empty() {
        out.push(format!(
            "{name}: UIDs missing: {} ({} messages where the log has {})",
            uid_list(&missing),
            f.messages.len(),
            m.messages.len()
        ));
    }
    if !extra.is_empty() {
        out.push(format!("{name}: UIDs not in the log: {}", uid_list(&extra)));
    }
    let changed: Vec<u32> = m
        .messages
        .iter()
        .filter_map(|e| {
            let g = f.get(e.uid)?;
            (g != e).then_some(e.uid.0)
        })
        .collect();
    if !changed.is_empty() {
        out.push(format!(
            "{name}: flags, modseq, place, save date or EMAILID differ for UIDs {}",
            uid_list(&changed)
        ));
    }
    if f.uid_next != m.uid_next {
        out.push(format!(
            "{name}: UIDNEXT {} where the log says {}",
            f.uid_next.0, m.uid_next.0
        ));
    }
    if f.highest_modseq != m.highest_modseq {
        out.push(format!(
            "{name}: HIGHESTMODSEQ {} where the log says {}",
            f.highest_modseq.0, m.highest_modseq.0
        ));
    }
    if f.uid_validity != m.uid_validity {
        out.push(format!("{name}: UIDVALIDITY differs"));
    }
    if f.expunged != m.expunged {
        out.push(format!("{name}: expunge log differs"));
    }
    if f.metadata != m.metadata {
        out.push(format!("{name}: annotations differ"));
    }
    if f.acl != m.acl {
        out.push(format!("{name}: access control lists differ"));
    }
    out
}

/// What must hold in any account index, whatever the log says.
fn invariants(a: &AccountIndex) -> Vec<String> {
    let mut out = Vec::new();
    if !a.created && !a.mailboxes.is_empty() {
        out.push("has mailboxes but was never created".into());
    }
    let mut ids = BTreeSet::new();
    let mut names = BTreeSet::new();
    for m in &a.mailboxes {
        let name = &m.name;
        if !ids.insert(m.id.0) {
            out.push(format!("mailbox id {} is used twice", m.id.0));
        }
        if !names.insert(name.as_str()) {
            out.push(format!("mailbox {name:?} exists twice"));
        }
        if m.id.0 >= a.next_mailbox_id {
            out.push(format!(
                "{name}: mailbox id {} is not below the next one ({})",
                m.id.0, a.next_mailbox_id
            ));
        }
        if m.uid_validity.0 > a.last_uid_validity {
            out.push(format!(
                "{name}: UIDVALIDITY {} is above the account's last ({})",
                m.uid_validity.0, a.last_uid_validity
            ));
        }
        let mut previous = 0u32;
        for e in &m.messages {
            if e.uid.0 <= previous {
                out.push(format!(
                    "{name}: UID {} follows UID {previous}: UIDs must ascend strictly",
                    e.uid.0
                ));
            }
            previous = previous.max(e.uid.0);
            if e.modseq > m.highest_modseq {
                out.push(format!(
                    "{name}: UID {} has modseq {}, above HIGHESTMODSEQ {}",
                    e.uid.0, e.modseq.0, m.highest_modseq.0
                ));
            }
            if e.size != e.body.len {
                out.push(format!(
                    "{name}: UID {} has size {} but {} bytes stored",
                    e.uid.0, e.size, e.body.len
                ));
            }
        }
        if previous >= m.uid_next.0 {
            out.push(format!(
                "{name}: UIDNEXT {} is not above UID {previous}",
                m.uid_next.0
            ));
        }
        let mut last_modseq = m.expunged.complete_after;
        for run in &m.expunged.runs {
            if run.first > run.last || run.last >= m.uid_next {
                out.push(format!(
                    "{name}: expunge log run {}-{} is not below UIDNEXT {}",
                    run.first.0, run.last.0, m.uid_next.0
                ));
            }
            if run.modseq < last_modseq || run.modseq > m.highest_modseq {
                out.push(format!(
                    "{name}: expunge log modseq {} is out of order",
                    run.modseq.0
                ));
            }
            last_modseq = last_modseq.max(run.modseq);
            let back: Vec<u32> = m
                .messages
                .iter()
                .map(|e| e.uid.0)
                .filter(|u| (run.first.0..=run.last.0).contains(u))
                .collect();
            if !back.is_empty() {
                out.push(format!(
                    "{name}: expunged UIDs are back: {}",
                    uid_list(&back)
                ));
            }
        }
    }
    if a.subscriptions.windows(2).any(|w| w[0] >= w[1]) {
        out.push("subscriptions are not sorted and unique".into());
    }
    out.truncate(LISTED);
    out
}

/// Messages whose bytes are not inside a record's message bytes.
fn dangling(a: &AccountIndex, bodies: &HashMap<u32, &[(u64, u64, bool)]>) -> Vec<String> {
    let mut out = Vec::new();
    let mut count = 0usize;
    for m in &a.mailboxes {
        for e in &m.messages {
            let b = e.body;
            let (start, end) = (b.offset, b.offset + u64::from(b.len));
            let ok = bodies.get(&b.segment).is_some_and(|records| {
                let i = records.partition_point(|r| r.0 <= start);
                i > 0 && {
                    let (s, e, whole) = records[i - 1];
                    end <= e && (!whole || (start == s && end == e))
                }
            });
            if !ok {
                count += 1;
                if out.len() < 8 {
                    let why = if bodies.contains_key(&b.segment) {
                        "not a record's message bytes"
                    } else {
                        "a segment that does not exist"
                    };
                    out.push(format!(
                        "{}: UID {} points at seg-{:08}.log offset {} ({} bytes): {why}",
                        m.name, e.uid.0, b.segment, b.offset, b.len
                    ));
                }
            }
        }
    }
    if count > out.len() {
        out.push(format!(
            "… {} messages in all point at missing bytes",
            count
        ));
    }
    out
}

/// Rebuild the indexes and the checkpoint of an analysed partition (see [`repair`]).
fn rebuild(dir: &Path, analysis: &Analysis, actions: &mut Vec<String>) -> Result<()> {
    let part = &analysis.report.name;
    if analysis.damaged {
        actions.push(format!(
            "{part}: not repaired: the log itself is damaged, and its index files may hold what the damaged records held; restore this partition from a backup"
        ));
        return Ok(());
    }
    let backup = dir.join(format!("fsck-backup-{}", super::now()));
    let mut unrepaired = 0;
    let mut writes: Vec<(String, &AccountIndex, &'static str)> = Vec::new();
    let names: BTreeSet<&String> = analysis.truth.keys().chain(analysis.files.keys()).collect();
    for name in names {
        let file = analysis.files.get(name);
        if analysis.complete.contains(name) {
            if let Some(index) = analysis.truth.get(name) {
                writes.push((name.clone(), index, "rebuilt from the log"));
            }
            continue;
        }
        match file {
            Some(IndexState::Ok(_))
                if !analysis.truth.contains_key(name) && !analysis.report.compacted =>
            {
                // Never named by the log (checked above): set aside.
                keep_aside(dir, &backup, &file_label(name))?;
                std::fs::remove_file(dir.join(file_label(name)))?;
                actions.push(format!(
                    "{part}: moved {} to {} (no record names its account)",
                    file_label(name),
                    backup.display()
                ));
            }
            // Compaction deletes segments only behind a checkpoint, which every index
            // file was written for: the records an intact file lacks are all still here.
            Some(IndexState::Ok(_)) => {
                if let Some(index) = analysis.catchup.get(name) {
                    writes.push((name.clone(), index, "brought up to date from the log"));
                }
            }
            _ => {
                unrepaired += 1;
                actions.push(format!(
                    "{part}: cannot rebuild {}: the log before seq {} was compacted away, and with it records of {name}; restore the file from a backup",
                    file_label(name),
                    analysis.contiguous_from
                ));
            }
        }
    }
    for (name, index, how) in &writes {
        let label = file_label(name);
        let bytes = index.to_file_bytes()?;
        let path = dir.join(&label);
        match std::fs::read(&path) {
            Ok(old) if old == bytes => continue,
            Ok(_) => {
                keep_aside(dir, &backup, &label)?;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e.into()),
        }
        std::fs::create_dir_all(dir.join("accounts"))?;
        partition::write_atomic(&path, &bytes)?;
        let messages: usize = index.mailboxes.iter().map(|m| m.messages.len()).sum();
        actions.push(format!(
            "{part}: {label} {how} ({}, {})",
            plural(index.mailboxes.len() as u64, "mailbox", "mailboxes"),
            plural(messages as u64, "message", "messages")
        ));
    }
    segment::sync_dir(&dir.join("accounts"))?;
    if unrepaired > 0 {
        actions.push(format!(
            "{part}: checkpoint left as it was (not every index could be rebuilt)"
        ));
        return Ok(());
    }
    let released = if analysis.report.compacted {
        &analysis.catchup_released
    } else {
        &analysis.truth_released
    };
    let existing: BTreeSet<u32> = segment::segment_numbers(dir)?.into_iter().collect();
    let checkpoint = Checkpoint {
        position: analysis.end,
        released: released
            .iter()
            .filter(|(n, _)| existing.contains(n))
            .map(|(n, b)| (*n, *b))
            .collect(),
    };
    let path = dir.join("checkpoint");
    if path.exists() {
        keep_aside(dir, &backup, "checkpoint")?;
    }
    partition::write_atomic(&path, &partition::encode_checkpoint(&checkpoint))?;
    segment::sync_dir(dir)?;
    actions.push(format!(
        "{part}: checkpoint written at seg-{:08}.log offset {} (after seq {})",
        analysis.end.segment,
        analysis.end.offset,
        analysis.end.chain.next_seq - 1
    ));
    Ok(())
}

/// Copy `dir/name` into the backup folder (made on first use).
fn keep_aside(dir: &Path, backup: &Path, name: &str) -> Result<()> {
    let to = backup.join(name);
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::copy(dir.join(name), &to).map_err(StoreError::from)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn file_names_map_back_to_their_accounts() {
        for account in ["alice@example.com", "a/b@x", "../x", "ü@x.y"] {
            assert_eq!(
                unescape(&partition::escape(account)).as_deref(),
                Some(account)
            );
        }
        assert_eq!(unescape("%zz"), None);
        // Not what escaping makes: an upper-case name is not an account's file.
        assert_eq!(unescape("Alice@example.com"), None);
    }

    #[test]
    fn bytes_after_the_end_are_orphans_only_when_they_check() {
        let mut log = Vec::new();
        let mut chain = Chain::START;
        let mut ends = Vec::new();
        for p in [&b"one"[..], b"two", b"three"] {
            record::encode(&mut log, &mut chain, p);
            ends.push(log.len());
        }
        log.resize(8192, 0);
        // Damage the second record: the third still checks on its own.
        log[ends[0] + record::HEADER] ^= 1;
        assert_eq!(orphans(&log, ends[0], 1), vec![3]);
        // A torn tail: garbage that is no record.
        let mut torn = log.clone();
        torn[ends[0]..ends[2]].fill(0xa5);
        assert_eq!(orphans(&torn, ends[0], 1), Vec::<u64>::new());
    }
}
