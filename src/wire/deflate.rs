//! Raw DEFLATE (RFC 1951: no zlib or gzip header) over a whole connection, one stream each
//! way, as IMAP COMPRESS=DEFLATE (RFC 4978) needs; nothing in it is IMAP's, so another
//! protocol's compression could reuse it. Never does IO: the transport hands bytes through.
//!
//! **Memory.** flate2's default backend (miniz_oxide, already in the tree) is used. Its
//! compressor costs about 312 KiB whatever the level or window (measured; miniz_oxide has no
//! smaller window, and flate2's zlib backends take a smaller window but keep zlib's default
//! `memLevel`, so they stay near 250 KiB), its decompressor about 42 KiB, most of it the
//! 32 KiB window. So:
//! - the [`Deflater`] creates its compressor when there is something to send and can
//!   [`Deflater::release`] it after a sync flush; a compressor made afresh later goes on with
//!   the same stream (a sync flush ends on a byte boundary with no block open, and the new
//!   compressor never refers to bytes before it). Only the history for back-references across
//!   the gap is lost. The connection driver releases it once the client has been silent for a
//!   while, so an idle session does not hold it.
//! - the [`Inflater`] keeps its window for the connection's life: the client may refer back
//!   32 KiB at any time (RFC 1951 §3.2.5; RFC 4978 leaves the window to the compressor).
//!
//! **Bounds.** [`Inflater::inflate`] never writes more than the buffer it is given, so a
//! small input that inflates to gigabytes (a "bomb") is handed on one buffer at a time, and
//! the protocol's own limits (line length, literal size) apply to the inflated bytes as to
//! any others.

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

/// The compression level, 1 (fastest) to 9. Measured with miniz_oxide on 1 MiB of English
/// prose (release build): level 1 46% of the input at 7 ms, level 2 36% at 9 ms, level 3 32%
/// at 25 ms, level 6 30% at 68 ms, level 9 30% at 99 ms. A shard compresses for every
/// connection it serves, so level 2: nearly level 6's gain at a seventh of the CPU. The
/// memory is the same at every level.
pub const LEVEL: u32 = 2;

/// Output space reserved at a time while compressing.
const OUT_STEP: usize = 8 << 10;

/// The sending half: compresses a connection's outgoing bytes.
pub struct Deflater {
    level: u32,
    /// Made on first use; `None` while released.
    state: Option<Compress>,
    /// Bytes were written since the last flush.
    unflushed: bool,
}

impl std::fmt::Debug for Deflater {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deflater")
            .field("level", &self.level)
            .field("holding", &self.state.is_some())
            .finish()
    }
}

/// The peer's stream is not valid DEFLATE, or went on after its final block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InflateError {
    Corrupt,
    /// Bytes after the final block (RFC 4978: compression lasts for the whole connection).
    AfterEnd,
}

impl std::fmt::Display for InflateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            InflateError::Corrupt => "invalid DEFLATE data",
            InflateError::AfterEnd => "data after the end of the DEFLATE stream",
        })
    }
}

impl std::error::Error for InflateError {}

impl Deflater {
    /// A compressor at `level` (clamped to 1..=9); it allocates nothing until used.
    pub fn new(level: u32) -> Deflater {
        Deflater {
            level: level.clamp(1, 9),
            state: None,
            unflushed: false,
        }
    }

    /// Compress `input` onto the end of `out`. Nothing is flushed: a part of it may stay in
    /// the compressor until [`Deflater::flush`].
    pub fn write(&mut self, input: &[u8], out: &mut Vec<u8>) {
        if input.is_empty() {
            return;
        }
        let level = self.level;
        let state = self
            .state
            .get_or_insert_with(|| Compress::new(Compression::new(level), false));
        run(state, input, out, FlushCompress::None);
        self.unflushed = true;
    }

    /// Finish everything written so far onto `out`, ending on a byte boundary (a sync flush:
    /// an empty stored block), so the peer can inflate all of it now. Writes nothing when
    /// nothing was written since the last flush.
    pub fn flush(&mut self, out: &mut Vec<u8>) {
        if let Some(state) = self.state.as_mut().filter(|_| self.unflushed) {
            run(state, &[], out, FlushCompress::Sync);
        }
        self.unflushed = false;
    }

    /// Whether the compressor's memory is held.
    pub fn is_holding(&self) -> bool {
        self.state.is_some()
    }

    /// Give the compressor's memory back; does nothing while written bytes wait for a
    /// [`Deflater::flush`]. The next write starts a new compressor, which continues the same
    /// stream without the history.
    pub fn release(&mut self) {
        if !self.unflushed {
            self.state = None;
        }
    }
}

/// Run the compressor over all of `input` (and, for a flush, until the flush is complete).
fn run(state: &mut Compress, mut input: &[u8], out: &mut Vec<u8>, flush: FlushCompress) {
    loop {
        if out.capacity() - out.len() < OUT_STEP / 2 {
            out.reserve(OUT_STEP.max(input.len() / 4));
        }
        let (before_in, before_out) = (state.total_in(), state.total_out());
        // Only invalid parameters fail, and ours are fixed; a failure leaves `out` as it was
        // and the peer then sees a broken stream, never the session's plaintext.
        if state.compress_vec(input, out, flush).is_err() {
            return;
        }
        let consumed = (state.total_in() - before_in) as usize;
        let produced = state.total_out() - before_out;
        input = &input[consumed..];
        // Done once all input is taken and (when flushing) the compressor stopped short of
        // the space it had: zlib's rule for a complete flush.
        if input.is_empty() && (flush == FlushCompress::None || out.len() < out.capacity()) {
            return;
        }
        if consumed == 0 && produced == 0 && out.len() < out.capacity() {
            return;
        }
    }
}

/// The receiving half: inflates the peer's stream.
pub struct Inflater {
    state: Decompress,
    ended: bool,
}

impl std::fmt::Debug for Inflater {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inflater")
            .field("total_in", &self.state.total_in())
            .field("ended", &self.ended)
            .finish()
    }
}

impl Default for Inflater {
    fn default() -> Self {
        Inflater::new()
    }
}

impl Inflater {
    pub fn new() -> Inflater {
        Inflater {
            state: Decompress::new(false),
            ended: false,
        }
    }

    /// Inflate from `input` into `out`, writing at most `out.len()` bytes. Returns the bytes
    /// of `input` consumed and of `out` written; `(0, 0)` with input left only when `out` is
    /// empty. Call again with the rest of the input while it produces.
    pub fn inflate(
        &mut self,
        input: &[u8],
        out: &mut [u8],
    ) -> Result<(usize, usize), InflateError> {
        if self.ended {
            return match input.is_empty() {
                true => Ok((0, 0)),
                false => Err(InflateError::AfterEnd),
            };
        }
        let (before_in, before_out) = (self.state.total_in(), self.state.total_out());
        let status = self
            .state
            .decompress(input, out, FlushDecompress::None)
            .map_err(|_| InflateError::Corrupt)?;
        if status == Status::StreamEnd {
            self.ended = true;
        }
        let consumed = (self.state.total_in() - before_in) as usize;
        let produced = (self.state.total_out() - before_out) as usize;
        Ok((consumed, produced))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    /// Inflate all of `input` in `chunk`-byte pieces into `buf`-sized outputs.
    fn inflate_all(inflater: &mut Inflater, input: &[u8], chunk: usize, buf: usize) -> Vec<u8> {
        let mut out = Vec::new();
        let mut scratch = vec![0u8; buf];
        for piece in input.chunks(chunk) {
            let mut rest = piece;
            loop {
                let (used, made) = inflater.inflate(rest, &mut scratch).unwrap();
                assert!(made <= buf);
                out.extend_from_slice(&scratch[..made]);
                rest = &rest[used..];
                if used == 0 && made == 0 {
                    break;
                }
            }
        }
        out
    }

    fn text(n: usize) -> Vec<u8> {
        let mut v = Vec::with_capacity(n);
        let mut i = 0u64;
        while v.len() < n {
            v.extend_from_slice(
                format!(
                    "Line {i} of a message, with some words: {}\r\n",
                    i * 7919 % 1013
                )
                .as_bytes(),
            );
            i += 1;
        }
        v.truncate(n);
        v
    }

    #[test]
    fn round_trip_in_any_pieces() {
        let data = text(300_000);
        let mut d = Deflater::new(LEVEL);
        let mut wire = Vec::new();
        for part in data.chunks(7777) {
            d.write(part, &mut wire);
        }
        d.flush(&mut wire);
        assert!(wire.len() < data.len() / 3, "{} bytes", wire.len());
        for (chunk, buf) in [(1, 1), (13, 100), (4096, 16384), (wire.len(), 1 << 20)] {
            let mut i = Inflater::new();
            assert_eq!(
                inflate_all(&mut i, &wire, chunk, buf),
                data,
                "{chunk} {buf}"
            );
        }
    }

    #[test]
    fn a_sync_flush_makes_everything_written_readable() {
        let mut d = Deflater::new(LEVEL);
        let mut i = Inflater::new();
        let mut wire = Vec::new();
        for burst in [&b"* OK ready\r\n"[..], b"a1 OK done\r\n", b"* 3 EXISTS\r\n"] {
            wire.clear();
            d.write(burst, &mut wire);
            d.flush(&mut wire);
            // Every flush ends with the empty stored block's LEN/NLEN.
            assert!(wire.ends_with(&[0, 0, 0xff, 0xff]), "{wire:?}");
            // The receiver gets the whole burst from what was sent, without waiting for more.
            assert_eq!(inflate_all(&mut i, &wire, wire.len(), 64), burst);
        }
        // Nothing written since: a flush sends nothing.
        wire.clear();
        d.flush(&mut wire);
        assert!(wire.is_empty());
    }

    #[test]
    fn a_released_compressor_continues_the_same_stream() {
        let mut d = Deflater::new(LEVEL);
        let mut wire = Vec::new();
        let mut expected = Vec::new();
        for n in 0..5 {
            let burst = text(1000 + n * 5000);
            expected.extend_from_slice(&burst);
            d.write(&burst, &mut wire);
            d.flush(&mut wire);
            assert!(d.is_holding());
            d.release();
            assert!(!d.is_holding());
        }
        let mut i = Inflater::new();
        assert_eq!(inflate_all(&mut i, &wire, 1000, 4096), expected);
    }

    #[test]
    fn a_bomb_comes_out_one_buffer_at_a_time() {
        // 64 MiB of one byte deflates to about 64 KiB; the reader gets it 16 KiB a call.
        let mut d = Deflater::new(9);
        let mut wire = Vec::new();
        let zeros = vec![b'a'; 1 << 20];
        for _ in 0..64 {
            d.write(&zeros, &mut wire);
        }
        d.flush(&mut wire);
        assert!(wire.len() < 128 << 10, "{}", wire.len());
        let mut i = Inflater::new();
        let mut buf = vec![0u8; 16 << 10];
        let (mut rest, mut total, mut calls) = (&wire[..], 0usize, 0usize);
        loop {
            let (used, made) = i.inflate(rest, &mut buf).unwrap();
            assert!(made <= buf.len());
            total += made;
            calls += 1;
            rest = &rest[used..];
            if used == 0 && made == 0 {
                break;
            }
        }
        assert_eq!(total, 64 << 20);
        assert!(calls >= (64 << 20) / buf.len());
    }

    #[test]
    fn garbage_is_refused() {
        let mut i = Inflater::new();
        let mut buf = [0u8; 256];
        // BTYPE 11 is reserved (RFC 1951 §3.2.3).
        assert_eq!(
            i.inflate(&[0xff, 0xff, 0xff], &mut buf),
            Err(InflateError::Corrupt)
        );
        let mut i = Inflater::new();
        let plain = b"a1 LOGOUT\r\n";
        let mut failed = false;
        let mut rest = &plain[..];
        while !rest.is_empty() {
            match i.inflate(rest, &mut buf) {
                Ok((0, 0)) => break,
                Ok((used, _)) => rest = &rest[used..],
                Err(_) => {
                    failed = true;
                    break;
                }
            }
        }
        assert!(failed, "plaintext inflated");
    }

    #[test]
    fn bytes_after_the_final_block_are_refused() {
        let mut c = Compress::new(Compression::new(1), false);
        let mut wire = Vec::with_capacity(1024);
        c.compress_vec(b"a1 NOOP\r\n", &mut wire, FlushCompress::Finish)
            .unwrap();
        let mut i = Inflater::new();
        let mut buf = [0u8; 64];
        let (used, made) = i.inflate(&wire, &mut buf).unwrap();
        assert_eq!((used, &buf[..made]), (wire.len(), &b"a1 NOOP\r\n"[..]));
        assert_eq!(i.inflate(b"x", &mut buf), Err(InflateError::AfterEnd));
    }
}
