//! The log record frame: pure bytes in, bytes out. Never does IO.
//!
//! ```text
//! offset size
//!  0     4    magic   "RPLG" (0x474c5052 little-endian)
//!  4     4    len     payload length in bytes
//!  8     8    seq     record sequence number, +1 per record across the partition's log
//! 16     4    prev    CRC of the previous record (0 for the first): a hash chain
//! 20     4    crc     CRC-32C over bytes 0..20 and the payload
//! 24     len  payload
//!        0-7  zero padding to a multiple of 8
//! ```
//!
//! A scan accepts records while magic, length, CRC, sequence and chain all check, and stops at
//! the first that does not: that is the log's true end even inside a pre-allocated segment or
//! after a torn write. The chain makes a stale record left behind by an earlier, torn batch
//! unacceptable after newer records were written in front of it (its `prev` names a record
//! that is no longer there).

/// Record magic: "RPLG".
pub const MAGIC: u32 = u32::from_le_bytes(*b"RPLG");
/// Size of the record header.
pub const HEADER: usize = 24;
/// Records start at multiples of this.
pub const RECORD_ALIGN: usize = 8;
/// Largest payload a record may carry (a message of up to this size minus its index entry).
pub const MAX_PAYLOAD: usize = 256 << 20;

/// Where the log stands: the next record's sequence number and the previous record's CRC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Chain {
    pub next_seq: u64,
    pub prev_crc: u32,
}

impl Chain {
    /// The state of an empty log.
    pub const START: Chain = Chain {
        next_seq: 1,
        prev_crc: 0,
    };
}

/// Bytes a record with `payload_len` bytes of payload takes in the log, padding included.
pub fn framed_len(payload_len: usize) -> usize {
    (HEADER + payload_len).next_multiple_of(RECORD_ALIGN)
}

/// Append one framed record to `out` and advance `chain`. Returns the record's sequence number.
pub fn encode(out: &mut Vec<u8>, chain: &mut Chain, payload: &[u8]) -> u64 {
    let seq = chain.next_seq;
    let start = out.len();
    out.extend_from_slice(&MAGIC.to_le_bytes());
    // MAX_PAYLOAD is enforced by the callers, far below u32::MAX.
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&seq.to_le_bytes());
    out.extend_from_slice(&chain.prev_crc.to_le_bytes());
    let crc = crc32c::crc32c_append(crc32c::crc32c(&out[start..start + 20]), payload);
    out.extend_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(payload);
    out.resize(start + framed_len(payload.len()), 0);
    chain.next_seq += 1;
    chain.prev_crc = crc;
    seq
}

/// The header of a record whose payload is the concatenation of `payload` (laid out by the
/// caller right after it), and advance `chain`: what [`encode`] writes, for a payload that is
/// not in one buffer. Returns the header and the record's sequence number.
pub fn header(chain: &mut Chain, payload: &[&[u8]]) -> ([u8; HEADER], u64) {
    let seq = chain.next_seq;
    let len: usize = payload.iter().map(|p| p.len()).sum();
    let mut h = [0u8; HEADER];
    h[0..4].copy_from_slice(&MAGIC.to_le_bytes());
    // MAX_PAYLOAD is enforced by the callers, far below u32::MAX.
    h[4..8].copy_from_slice(&(len as u32).to_le_bytes());
    h[8..16].copy_from_slice(&seq.to_le_bytes());
    h[16..20].copy_from_slice(&chain.prev_crc.to_le_bytes());
    let crc = payload.iter().fold(crc32c::crc32c(&h[..20]), |crc, p| {
        crc32c::crc32c_append(crc, p)
    });
    h[20..24].copy_from_slice(&crc.to_le_bytes());
    chain.next_seq += 1;
    chain.prev_crc = crc;
    (h, seq)
}

/// A record found by [`Scanner`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Found<'a> {
    /// Offset of the record's header in the scanned buffer.
    pub offset: usize,
    pub seq: u64,
    /// The record's own CRC (what the next record names as its predecessor).
    pub crc: u32,
    pub payload: &'a [u8],
}

/// The chain that accepts the record at the start of `buf` (whatever its sequence number and
/// predecessor), for scanning a segment on its own. A buffer that does not start with a
/// record gets [`Chain::START`], which accepts nothing there but a first record.
pub fn first_chain(buf: &[u8]) -> Chain {
    let word = |at: usize| buf.get(at..at + 4).map(|b| [b[0], b[1], b[2], b[3]]);
    match (word(0), buf.get(8..16), word(16)) {
        (Some(magic), Some(seq), Some(prev)) if u32::from_le_bytes(magic) == MAGIC => {
            let mut s = [0u8; 8];
            s.copy_from_slice(seq);
            Chain {
                next_seq: u64::from_le_bytes(s),
                prev_crc: u32::from_le_bytes(prev),
            }
        }
        _ => Chain::START,
    }
}

/// Walks the records of one segment buffer from `offset`, continuing `chain`.
pub struct Scanner<'a> {
    buf: &'a [u8],
    pos: usize,
    chain: Chain,
}

impl<'a> Scanner<'a> {
    pub fn new(buf: &'a [u8], offset: usize, chain: Chain) -> Scanner<'a> {
        Scanner {
            buf,
            pos: offset,
            chain,
        }
    }

    /// The offset just after the last accepted record: where the next record goes.
    pub fn end(&self) -> usize {
        self.pos
    }

    /// The chain after the last accepted record.
    pub fn state(&self) -> Chain {
        self.chain
    }
}

impl<'a> Iterator for Scanner<'a> {
    type Item = Found<'a>;

    fn next(&mut self) -> Option<Found<'a>> {
        let found = check(self.buf, self.pos, self.chain).ok()?;
        self.chain = Chain {
            next_seq: found.seq + 1,
            prev_crc: found.crc,
        };
        self.pos = found.offset + framed_len(found.payload.len());
        Some(found)
    }
}

/// Why the bytes at an offset are not the record a scan expects there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reject {
    /// Fewer bytes than a header, or no magic: the end of the log (zeros), or bytes that are
    /// not a record's start.
    NoRecord,
    /// The length runs past the buffer or over [`MAX_PAYLOAD`].
    Length(u32),
    /// A record, but not the one that comes next: another sequence number or predecessor.
    Chain { seq: u64, expected: u64 },
    /// Header or payload do not match the record's CRC.
    Checksum,
}

impl std::fmt::Display for Reject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reject::NoRecord => write!(f, "no record header (bad magic)"),
            Reject::Length(len) => write!(f, "record length {len} runs past the segment"),
            Reject::Chain { seq, expected } if seq == expected => {
                write!(f, "record {seq} does not chain to its predecessor's CRC")
            }
            Reject::Chain { seq, expected } => {
                write!(f, "sequence number {seq} where {expected} was expected")
            }
            Reject::Checksum => write!(f, "CRC-32C mismatch"),
        }
    }
}

fn word_at(buf: &[u8], at: usize) -> Option<u32> {
    let b = buf.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// Check the record at `at` against what `chain` expects next: the one test every scan
/// (recovery, compaction's survey, `fsck`) applies: magic, length and CRC
/// ([`self_checking`]), then sequence number and chain.
pub fn check(buf: &[u8], at: usize, chain: Chain) -> Result<Found<'_>, Reject> {
    let found = self_checking(buf, at)?;
    let prev = word_at(buf, at + 16).ok_or(Reject::NoRecord)?;
    if found.seq != chain.next_seq || prev != chain.prev_crc {
        return Err(Reject::Chain {
            seq: found.seq,
            expected: chain.next_seq,
        });
    }
    Ok(found)
}

/// The record at `at` judged on its own bytes only (magic, length, CRC), whatever comes
/// before it: how `fsck` tells damage followed by intact records from a torn tail. The chain
/// fields are checked last by [`check`], so a record refused for its chain still has a
/// matching CRC.
pub fn self_checking(buf: &[u8], at: usize) -> Result<Found<'_>, Reject> {
    if word_at(buf, at) != Some(MAGIC) {
        return Err(Reject::NoRecord);
    }
    let len = word_at(buf, at + 4).ok_or(Reject::NoRecord)?;
    let end = at.saturating_add(framed_len(len as usize));
    if len as usize > MAX_PAYLOAD || end > buf.len() {
        return Err(Reject::Length(len));
    }
    let mut seq = [0u8; 8];
    seq.copy_from_slice(&buf[at + 8..at + 16]);
    let seq = u64::from_le_bytes(seq);
    let crc = word_at(buf, at + 20).ok_or(Reject::NoRecord)?;
    let payload = &buf[at + HEADER..at + HEADER + len as usize];
    let want = crc32c::crc32c_append(crc32c::crc32c(&buf[at..at + 20]), payload);
    if want != crc {
        return Err(Reject::Checksum);
    }
    Ok(Found {
        offset: at,
        seq,
        crc,
        payload,
    })
}

/// Whether any record in `buf` (at a record-aligned offset) checks on its own bytes: a
/// segment that holds written records, whatever chain they belong to.
pub fn holds_records(buf: &[u8]) -> bool {
    (0..buf.len().saturating_sub(HEADER - 1))
        .step_by(RECORD_ALIGN)
        .any(|at| self_checking(buf, at).is_ok())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    fn log_of(payloads: &[Vec<u8>]) -> (Vec<u8>, Vec<usize>) {
        let mut out = Vec::new();
        let mut chain = Chain::START;
        let mut offsets = Vec::new();
        for p in payloads {
            offsets.push(out.len());
            encode(&mut out, &mut chain, p);
        }
        (out, offsets)
    }

    #[test]
    fn frame_layout_is_exact() {
        let mut out = Vec::new();
        let mut chain = Chain::START;
        assert_eq!(encode(&mut out, &mut chain, b"abc"), 1);
        assert_eq!(out.len(), 32);
        assert_eq!(&out[0..4], b"RPLG");
        assert_eq!(&out[4..8], &3u32.to_le_bytes());
        assert_eq!(&out[8..16], &1u64.to_le_bytes());
        assert_eq!(&out[16..20], &0u32.to_le_bytes());
        let crc = crc32c::crc32c_append(crc32c::crc32c(&out[0..20]), b"abc");
        assert_eq!(&out[20..24], &crc.to_le_bytes());
        assert_eq!(&out[24..32], b"abc\0\0\0\0\0");
        assert_eq!(
            chain,
            Chain {
                next_seq: 2,
                prev_crc: crc
            }
        );
    }

    #[test]
    fn a_header_for_a_payload_in_pieces_is_the_encoded_one() {
        let (mut one, mut pieces) = (Chain::START, Chain::START);
        let mut out = Vec::new();
        encode(&mut out, &mut one, b"op bytes and the body");
        let (h, seq) = header(&mut pieces, &[b"op bytes", b" and the body"]);
        assert_eq!((&out[..HEADER], seq), (&h[..], 1));
        assert_eq!(one, pieces);
    }

    #[test]
    fn stale_record_after_a_rewrite_is_not_accepted() {
        // An old batch wrote A1 B1; after recovery at A, a new A2 (same length) was written.
        let (old, _) = log_of(&[b"old-a".to_vec(), b"old-b".to_vec()]);
        let (new, _) = log_of(&[b"new-a".to_vec()]);
        let mut disk = old.clone();
        disk[..new.len()].copy_from_slice(&new);
        let found: Vec<_> = Scanner::new(&disk, 0, Chain::START).collect();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].payload, b"new-a");
    }

    #[test]
    fn a_refused_record_says_why() {
        let (mut buf, offsets) =
            log_of(&[b"first".to_vec(), b"second".to_vec(), b"third".to_vec()]);
        let first = check(&buf, 0, Chain::START).unwrap();
        let after_first = Chain {
            next_seq: 2,
            prev_crc: first.crc,
        };
        assert_eq!(check(&buf, offsets[1], after_first).unwrap().seq, 2);
        // Expected elsewhere in the chain: a record, but not the next one.
        assert_eq!(
            check(&buf, offsets[2], after_first).unwrap_err(),
            Reject::Chain {
                seq: 3,
                expected: 2
            }
        );
        let other_prev = Chain {
            next_seq: 2,
            prev_crc: first.crc ^ 1,
        };
        assert_eq!(
            check(&buf, offsets[1], other_prev).unwrap_err(),
            Reject::Chain {
                seq: 2,
                expected: 2
            }
        );
        buf[offsets[1] + HEADER + 2] ^= 0x10;
        assert_eq!(
            check(&buf, offsets[1], after_first).unwrap_err(),
            Reject::Checksum
        );
        assert_eq!(
            self_checking(&buf, offsets[1]).unwrap_err(),
            Reject::Checksum
        );
        // The record after the damaged one still checks on its own.
        assert_eq!(self_checking(&buf, offsets[2]).unwrap().seq, 3);
        assert_eq!(
            check(&buf, buf.len(), after_first).unwrap_err(),
            Reject::NoRecord
        );
        buf[offsets[2] + 4] = 0xff;
        assert!(matches!(
            self_checking(&buf, offsets[2]).unwrap_err(),
            Reject::Length(_)
        ));
        let zeros = [0u8; 64];
        assert_eq!(
            check(&zeros, 0, Chain::START).unwrap_err(),
            Reject::NoRecord
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn round_trip(payloads in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 0..20)) {
            let (mut buf, offsets) = log_of(&payloads);
            buf.resize(buf.len() + 4096, 0); // pre-allocated zeros after the end
            let mut s = Scanner::new(&buf, 0, Chain::START);
            let found: Vec<_> = s.by_ref().collect();
            prop_assert_eq!(found.len(), payloads.len());
            for (i, f) in found.iter().enumerate() {
                prop_assert_eq!(f.payload, &payloads[i][..]);
                prop_assert_eq!(f.offset, offsets[i]);
                prop_assert_eq!(f.seq, i as u64 + 1);
            }
            prop_assert_eq!(s.end(), buf.len() - 4096);
        }

        #[test]
        fn a_flipped_bit_ends_the_log_at_that_record(
            payloads in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 1..200), 1..10),
            which in any::<prop::sample::Index>(),
            bit in 0u8..8,
        ) {
            let (mut buf, offsets) = log_of(&payloads);
            let byte = which.index(buf.len());
            // Flipping padding bytes changes nothing the CRC covers; skip those.
            let rec = offsets.iter().rposition(|&o| o <= byte).unwrap();
            let payload_end = offsets[rec] + HEADER + payloads[rec].len();
            prop_assume!(byte < payload_end);
            buf[byte] ^= 1 << bit;
            let found: Vec<_> = Scanner::new(&buf, 0, Chain::START).collect();
            prop_assert_eq!(found.len(), rec);
        }
    }

    /// A torn write of the last record at every possible length: the scan always ends exactly
    /// after the previous record, whatever the torn bytes are (zeros or stale garbage).
    #[test]
    fn torn_last_record_at_every_offset() {
        let payloads: Vec<Vec<u8>> = (0..4u8)
            .map(|i| vec![i + 1; 100 + i as usize * 37])
            .collect();
        let (full, offsets) = log_of(&payloads);
        let last = *offsets.last().unwrap();
        for filler in [0u8, 0xA5] {
            for cut in last..full.len() {
                let mut disk = full[..cut].to_vec();
                disk.resize(full.len() + 64, filler);
                let mut s = Scanner::new(&disk, 0, Chain::START);
                let n = s.by_ref().count();
                // Padding is not covered by the CRC: only header and payload must be whole.
                let complete = cut >= last + HEADER + payloads[3].len();
                let expect = if complete { 4 } else { 3 };
                assert_eq!(n, expect, "cut at {cut}, filler {filler:#x}");
                assert_eq!(s.end(), if complete { full.len() } else { last });
            }
        }
    }
}
