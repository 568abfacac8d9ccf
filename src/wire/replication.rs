//! The frames of a partition's replication stream between two hosts: bytes in, bytes out.
//! Never does IO, never names the store: the store's replication API (its `replica`
//! module) speaks in its own types, and the runtime carries these frames over the internal
//! listener and converts.
//!
//! # Frame
//!
//! ```text
//! offset size
//!  0     4    magic     "RPRF"
//!  4     1    version   1
//!  5     1    kind      1 request, 2 chunk, 3 ack, 4 error
//!  6     2    partition u16
//!  8     8    epoch     the sender's epoch (the fencing token from the cluster map)
//! 16     4    body_len  bytes of the body (bounded per kind, checked before the body is read)
//! 20     4    crc       CRC-32C over bytes 0..20 and the body
//! 24     body
//! ```
//!
//! Bodies (all integers little-endian):
//!
//! - **request** (replica → primary, "send me the log after this position"): a [`Position`]:
//!   segment u32, offset u64, next_seq u64, prev_crc u32 (24 bytes).
//! - **chunk** (primary → replica): first_kept_segment u32, segment u32, segment_size u64,
//!   offset u64, first_seq u64, last_seq u64, then the records, exactly as they are in the
//!   primary's segment `segment` from `offset` on (each record checks itself: magic, length,
//!   sequence number, previous CRC, CRC-32C), to the end of the body (40 + n bytes).
//! - **ack** (replica → primary): the replica's durable [`Position`] (24 bytes).
//! - **error**: code u8 (1 resync needed: the position is no longer in the log or is not on
//!   it; 2 stale epoch: the receiver knows a newer epoch than the frame's; 3 refused: a chunk
//!   that does not check or does not follow), 1 byte.
//!
//! The frame CRC guards the transport; the records' own CRCs and chain are checked again by
//! the replica before anything is written.

/// Frame magic: "RPRF".
pub const MAGIC: [u8; 4] = *b"RPRF";
/// The one version this code speaks.
pub const VERSION: u8 = 1;
/// Size of the frame header.
pub const HEADER: usize = 24;
/// Bytes of a chunk body before its records.
pub const CHUNK_HEAD: usize = 40;
/// Largest records area a chunk may carry: one record of the store's largest payload
/// (256 MiB) with its header and padding, and some room.
pub const MAX_CHUNK_RECORDS: usize = (256 << 20) + 4096;

const KIND_REQUEST: u8 = 1;
const KIND_CHUNK: u8 = 2;
const KIND_ACK: u8 = 3;
const KIND_ERROR: u8 = 4;
const POSITION_LEN: usize = 24;

/// A position in a partition's log: after the record that ends at `offset` of segment
/// `segment`; the next record has sequence number `next_seq` and names `prev_crc` as its
/// predecessor's CRC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub segment: u32,
    pub offset: u64,
    pub next_seq: u64,
    pub prev_crc: u32,
}

/// Records of one segment, as the primary's log holds them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    /// The lowest segment the primary still keeps (compaction deleted those below).
    pub first_kept_segment: u32,
    pub segment: u32,
    /// Size of that segment's file on the primary (the replica makes its file the same).
    pub segment_size: u64,
    /// Offset of the first record in the segment.
    pub offset: u64,
    pub first_seq: u64,
    pub last_seq: u64,
    pub records: Vec<u8>,
}

/// Why a peer refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// The requested position is no longer in the primary's log (compacted away) or is not
    /// on it (the replica's log diverged): the replica must start over from a snapshot.
    ResyncNeeded,
    /// The receiver knows a newer epoch than the frame's sender.
    StaleEpoch,
    /// A chunk that does not check or does not follow the replica's log.
    Refused,
}

/// What a frame says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    Request(Position),
    Chunk(Chunk),
    Ack(Position),
    Error(ErrorCode),
}

/// One frame of the replication stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub partition: u16,
    pub epoch: u64,
    pub body: Body,
}

/// Why bytes are not a frame. The stream cannot go on after any of these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("not a replication frame (bad magic)")]
    Magic,
    #[error("replication frame version {0} is not spoken here")]
    Version(u8),
    #[error("unknown replication frame kind {0}")]
    Kind(u8),
    #[error("replication frame body of {len} bytes where at most {max} fit its kind")]
    Length { len: u32, max: usize },
    #[error("replication frame checksum mismatch")]
    Checksum,
    #[error("malformed replication frame body")]
    Malformed,
}

impl Frame {
    /// Append the encoded frame to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let start = out.len();
        out.extend_from_slice(&MAGIC);
        out.push(VERSION);
        out.push(self.kind());
        out.extend_from_slice(&self.partition.to_le_bytes());
        out.extend_from_slice(&self.epoch.to_le_bytes());
        out.extend_from_slice(&[0; 8]); // body length and CRC, filled in below
        match &self.body {
            Body::Request(p) | Body::Ack(p) => put_position(out, p),
            Body::Chunk(c) => {
                out.extend_from_slice(&c.first_kept_segment.to_le_bytes());
                out.extend_from_slice(&c.segment.to_le_bytes());
                out.extend_from_slice(&c.segment_size.to_le_bytes());
                out.extend_from_slice(&c.offset.to_le_bytes());
                out.extend_from_slice(&c.first_seq.to_le_bytes());
                out.extend_from_slice(&c.last_seq.to_le_bytes());
                out.extend_from_slice(&c.records);
            }
            Body::Error(code) => out.push(match code {
                ErrorCode::ResyncNeeded => 1,
                ErrorCode::StaleEpoch => 2,
                ErrorCode::Refused => 3,
            }),
        }
        // Chunks are bounded by MAX_CHUNK_RECORDS, far below u32::MAX.
        let body_len = (out.len() - start - HEADER) as u32;
        out[start + 16..start + 20].copy_from_slice(&body_len.to_le_bytes());
        let crc = crc32c::crc32c_append(
            crc32c::crc32c(&out[start..start + 20]),
            &out[start + HEADER..],
        );
        out[start + 20..start + 24].copy_from_slice(&crc.to_le_bytes());
    }

    fn kind(&self) -> u8 {
        match self.body {
            Body::Request(_) => KIND_REQUEST,
            Body::Chunk(_) => KIND_CHUNK,
            Body::Ack(_) => KIND_ACK,
            Body::Error(_) => KIND_ERROR,
        }
    }

    /// Decode the frame at the start of `buf`: `Ok(None)` if more bytes are needed (never
    /// more than the header says, and the header's length is checked against its kind's
    /// bound before that), else the frame and the bytes it took.
    pub fn decode(buf: &[u8]) -> Result<Option<(Frame, usize)>, WireError> {
        let Some(head) = buf.get(..HEADER) else {
            // Refuse a wrong magic as soon as it shows.
            let n = buf.len().min(4);
            if buf[..n] != MAGIC[..n] {
                return Err(WireError::Magic);
            }
            return Ok(None);
        };
        if head[..4] != MAGIC {
            return Err(WireError::Magic);
        }
        if head[4] != VERSION {
            return Err(WireError::Version(head[4]));
        }
        let kind = head[5];
        let max = match kind {
            KIND_REQUEST | KIND_ACK => POSITION_LEN,
            KIND_CHUNK => CHUNK_HEAD + MAX_CHUNK_RECORDS,
            KIND_ERROR => 1,
            k => return Err(WireError::Kind(k)),
        };
        let mut r = Reader(&head[6..]);
        let partition = r.u16()?;
        let epoch = r.u64()?;
        let len = r.u32()?;
        let crc = r.u32()?;
        if len as usize > max {
            return Err(WireError::Length { len, max });
        }
        let end = HEADER + len as usize;
        let Some(body) = buf.get(HEADER..end) else {
            return Ok(None);
        };
        if crc32c::crc32c_append(crc32c::crc32c(&head[..20]), body) != crc {
            return Err(WireError::Checksum);
        }
        let mut r = Reader(body);
        let body = match kind {
            KIND_REQUEST => Body::Request(r.position()?),
            KIND_ACK => Body::Ack(r.position()?),
            KIND_CHUNK => Body::Chunk(Chunk {
                first_kept_segment: r.u32()?,
                segment: r.u32()?,
                segment_size: r.u64()?,
                offset: r.u64()?,
                first_seq: r.u64()?,
                last_seq: r.u64()?,
                records: std::mem::take(&mut r.0).to_vec(),
            }),
            _ => Body::Error(match r.u8()? {
                1 => ErrorCode::ResyncNeeded,
                2 => ErrorCode::StaleEpoch,
                3 => ErrorCode::Refused,
                _ => return Err(WireError::Malformed),
            }),
        };
        if !r.0.is_empty() {
            return Err(WireError::Malformed);
        }
        Ok(Some((
            Frame {
                partition,
                epoch,
                body,
            },
            end,
        )))
    }
}

fn put_position(out: &mut Vec<u8>, p: &Position) {
    out.extend_from_slice(&p.segment.to_le_bytes());
    out.extend_from_slice(&p.offset.to_le_bytes());
    out.extend_from_slice(&p.next_seq.to_le_bytes());
    out.extend_from_slice(&p.prev_crc.to_le_bytes());
}

/// Reads little-endian integers off the front of a slice; running out is malformed.
struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Result<[u8; N], WireError> {
        let (head, rest) = self
            .0
            .split_first_chunk::<N>()
            .ok_or(WireError::Malformed)?;
        self.0 = rest;
        Ok(*head)
    }

    fn u8(&mut self) -> Result<u8, WireError> {
        Ok(self.take::<1>()?[0])
    }

    fn u16(&mut self) -> Result<u16, WireError> {
        self.take().map(u16::from_le_bytes)
    }

    fn u32(&mut self) -> Result<u32, WireError> {
        self.take().map(u32::from_le_bytes)
    }

    fn u64(&mut self) -> Result<u64, WireError> {
        self.take().map(u64::from_le_bytes)
    }

    fn position(&mut self) -> Result<Position, WireError> {
        Ok(Position {
            segment: self.u32()?,
            offset: self.u64()?,
            next_seq: self.u64()?,
            prev_crc: self.u32()?,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    fn position() -> impl Strategy<Value = Position> {
        (any::<u32>(), any::<u64>(), any::<u64>(), any::<u32>()).prop_map(
            |(segment, offset, next_seq, prev_crc)| Position {
                segment,
                offset,
                next_seq,
                prev_crc,
            },
        )
    }

    fn body() -> impl Strategy<Value = Body> {
        prop_oneof![
            position().prop_map(Body::Request),
            position().prop_map(Body::Ack),
            (
                any::<(u32, u32, u64, u64, u64, u64)>(),
                proptest::collection::vec(any::<u8>(), 0..200)
            )
                .prop_map(|((k, s, size, o, f, l), records)| Body::Chunk(Chunk {
                    first_kept_segment: k,
                    segment: s,
                    segment_size: size,
                    offset: o,
                    first_seq: f,
                    last_seq: l,
                    records,
                })),
            prop_oneof![
                Just(ErrorCode::ResyncNeeded),
                Just(ErrorCode::StaleEpoch),
                Just(ErrorCode::Refused)
            ]
            .prop_map(Body::Error),
        ]
    }

    fn frame() -> impl Strategy<Value = Frame> {
        (any::<u16>(), any::<u64>(), body()).prop_map(|(partition, epoch, body)| Frame {
            partition,
            epoch,
            body,
        })
    }

    #[test]
    fn a_request_is_laid_out_exactly() {
        let mut out = Vec::new();
        Frame {
            partition: 582,
            epoch: 7,
            body: Body::Request(Position {
                segment: 3,
                offset: 4096,
                next_seq: 40,
                prev_crc: 0xdead_beef,
            }),
        }
        .encode(&mut out);
        assert_eq!(out.len(), HEADER + 24);
        assert_eq!(&out[..6], b"RPRF\x01\x01");
        assert_eq!(&out[6..8], &582u16.to_le_bytes());
        assert_eq!(&out[8..16], &7u64.to_le_bytes());
        assert_eq!(&out[16..20], &24u32.to_le_bytes());
        let crc = crc32c::crc32c_append(crc32c::crc32c(&out[..20]), &out[24..]);
        assert_eq!(&out[20..24], &crc.to_le_bytes());
        assert_eq!(&out[24..28], &3u32.to_le_bytes());
        assert_eq!(&out[44..48], &0xdead_beefu32.to_le_bytes());
    }

    #[test]
    fn an_oversized_length_is_refused_before_the_body_arrives() {
        let mut out = Vec::new();
        Frame {
            partition: 1,
            epoch: 1,
            body: Body::Ack(Position {
                segment: 1,
                offset: 0,
                next_seq: 1,
                prev_crc: 0,
            }),
        }
        .encode(&mut out);
        out[16..20].copy_from_slice(&25u32.to_le_bytes());
        assert_eq!(
            Frame::decode(&out[..HEADER]),
            Err(WireError::Length { len: 25, max: 24 })
        );
        out[5] = 2; // a chunk may be large, but not this large
        out[16..20].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(
            Frame::decode(&out[..HEADER]),
            Err(WireError::Length { .. })
        ));
        assert_eq!(Frame::decode(b"RPX"), Err(WireError::Magic));
        assert_eq!(Frame::decode(b"RPR"), Ok(None));
        out[5] = 9;
        assert_eq!(Frame::decode(&out), Err(WireError::Kind(9)));
        out[4] = 2;
        assert_eq!(Frame::decode(&out), Err(WireError::Version(2)));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn frames_round_trip_whole_and_in_pieces(frames in proptest::collection::vec(frame(), 1..5)) {
            let mut buf = Vec::new();
            for f in &frames {
                f.encode(&mut buf);
            }
            let mut at = 0;
            for f in &frames {
                // Every proper prefix of a frame asks for more.
                let (back, used) = Frame::decode(&buf[at..]).unwrap().unwrap();
                prop_assert_eq!(&back, f);
                for cut in [0, 1, HEADER - 1, HEADER, used - 1] {
                    if cut < used {
                        prop_assert_eq!(Frame::decode(&buf[at..at + cut]), Ok(None));
                    }
                }
                at += used;
            }
            prop_assert_eq!(at, buf.len());
        }

        #[test]
        fn a_flipped_bit_never_decodes(f in frame(), which in any::<prop::sample::Index>(), bit in 0u8..8) {
            let mut buf = Vec::new();
            f.encode(&mut buf);
            let i = which.index(buf.len());
            buf[i] ^= 1 << bit;
            prop_assert!(!matches!(Frame::decode(&buf), Ok(Some(_))));
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..128)) {
            let _ = Frame::decode(&bytes);
        }
    }
}
