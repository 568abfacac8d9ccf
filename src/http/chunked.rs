//! The chunked transfer coding of a request body (RFC 9112 §7.1), decoded incrementally:
//! size lines with their extensions ignored, data copied once into the body, trailer fields
//! read and discarded (§7.1.2), each refused at its first byte that cannot be right.
//!
//! Strict where parsers disagree (bare LF, sizes with signs or `0x`, a missing CRLF after
//! data), so a chunked body means one thing only. This module never does IO and keeps no
//! bytes: the reader owns the buffer and drops what is consumed.

use memchr::memchr;

use super::codec::{HttpError, HttpLimits};
use super::head::is_tchar;

/// Longest chunk-size line, extensions and CRLF included (capped by the head limit).
pub(super) const MAX_SIZE_LINE: usize = 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Before a chunk-size line.
    Size,
    /// Inside a chunk's data, this many bytes to go.
    Data(u64),
    /// After a chunk's data: its CRLF.
    DataEnd,
    /// After the last chunk: trailer fields up to an empty line.
    Trailers,
}

/// Decoding state of one chunked body.
#[derive(Debug)]
pub(super) struct ChunkedBody {
    state: State,
    /// Bytes of trailer section read so far (counted against the head limit).
    trailer_bytes: usize,
    /// Trailer fields read so far (counted against the header count limit).
    trailer_fields: usize,
}

impl ChunkedBody {
    pub(super) fn new() -> Self {
        ChunkedBody {
            state: State::Size,
            trailer_bytes: 0,
            trailer_fields: 0,
        }
    }

    /// Decode from `input` into `body`: the bytes consumed, and whether the body is complete
    /// (the bytes after it belong to the next request).
    pub(super) fn advance(
        &mut self,
        input: &[u8],
        body: &mut Vec<u8>,
        limits: &HttpLimits,
    ) -> Result<(usize, bool), HttpError> {
        let mut at = 0;
        loop {
            let rest = &input[at..];
            match self.state {
                State::Size => {
                    let max = MAX_SIZE_LINE.min(limits.max_head_bytes);
                    let too_long = HttpError::fatal(400, "Chunk size line too long");
                    let Some(line) = line(rest, max, too_long)? else {
                        return Ok((at, false));
                    };
                    at += line.len() + 2;
                    let size = chunk_size(line)?;
                    if size == 0 {
                        self.state = State::Trailers;
                        continue;
                    }
                    // RFC 9110 §15.5.14: refused before the chunk's data is read.
                    let total = u64::try_from(body.len())
                        .unwrap_or(u64::MAX)
                        .saturating_add(size);
                    if total > u64::try_from(limits.max_body_bytes).unwrap_or(u64::MAX) {
                        return Err(HttpError::fatal(413, "Content too large"));
                    }
                    self.state = State::Data(size);
                }
                State::Data(remaining) => {
                    let take = usize::try_from(remaining)
                        .unwrap_or(usize::MAX)
                        .min(rest.len());
                    body.extend_from_slice(&rest[..take]);
                    at += take;
                    // `take` is at most `remaining`, so this cannot wrap.
                    let left = remaining - take as u64;
                    if left > 0 {
                        self.state = State::Data(left);
                        return Ok((at, false));
                    }
                    self.state = State::DataEnd;
                }
                State::DataEnd => match rest {
                    [b'\r', b'\n', ..] => {
                        at += 2;
                        self.state = State::Size;
                    }
                    [] | [b'\r'] => return Ok((at, false)),
                    _ => return Err(HttpError::fatal(400, "Chunk data without CRLF")),
                },
                State::Trailers => {
                    let budget = limits.max_head_bytes.saturating_sub(self.trailer_bytes);
                    let too_long = HttpError::fatal(431, "Request header fields too large");
                    let Some(line) = line(rest, budget, too_long)? else {
                        return Ok((at, false));
                    };
                    at += line.len() + 2;
                    self.trailer_bytes += line.len() + 2;
                    if line.is_empty() {
                        return Ok((at, true));
                    }
                    trailer_field(line)?;
                    self.trailer_fields += 1;
                    if self.trailer_fields > limits.max_headers {
                        return Err(HttpError::fatal(431, "Too many trailer fields"));
                    }
                }
            }
        }
    }
}

/// The next CRLF-ended line of `rest` (without CRLF), `None` while incomplete. A line that
/// cannot end within `max` bytes (CRLF included) is refused with `too_long` once more than
/// `max` bytes are here, whatever they are, so the answer never depends on how the bytes
/// were split.
fn line(rest: &[u8], max: usize, too_long: HttpError) -> Result<Option<&[u8]>, HttpError> {
    let view = &rest[..rest.len().min(max)];
    match memchr(b'\n', view) {
        Some(lf) => view[..lf]
            .strip_suffix(b"\r")
            .map(Some)
            .ok_or(HttpError::fatal(400, "Bare LF in chunked framing")),
        None if rest.len() > max => Err(too_long),
        None => Ok(None),
    }
}

/// `chunk-size [ chunk-ext ]` (RFC 9112 §7.1, §7.1.1): hex digits, then nothing or
/// `BWS ";" …`. A size too large for 64 bits is too large for any limit.
fn chunk_size(line: &[u8]) -> Result<u64, HttpError> {
    let bad = HttpError::fatal(400, "Malformed chunk size");
    let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    if digits == 0 {
        return Err(bad);
    }
    let size = line[..digits]
        .iter()
        .try_fold(0u64, |n, &d| {
            let d = char::from(d).to_digit(16).map(u64::from)?;
            n.checked_mul(16)?.checked_add(d)
        })
        .unwrap_or(u64::MAX);
    let ext = &line[digits..];
    let after_bws = ext
        .iter()
        .position(|&b| b != b' ' && b != b'\t')
        .map_or(&b""[..], |i| &ext[i..]);
    if !ext.is_empty() && after_bws.first() != Some(&b';') {
        return Err(bad);
    }
    // Extensions are ignored (§7.1.1) but may hold no control bytes.
    if ext.iter().any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f) {
        return Err(bad);
    }
    Ok(size)
}

/// A trailer field line: `name ":" value` (RFC 9112 §5), no obs-fold, no control bytes.
fn trailer_field(line: &[u8]) -> Result<(), HttpError> {
    let bad = HttpError::fatal(400, "Malformed trailer field");
    let colon = memchr(b':', line).ok_or(bad)?;
    let (name, value) = (&line[..colon], &line[colon + 1..]);
    if name.is_empty() || !name.iter().all(|&b| is_tchar(b)) {
        return Err(bad);
    }
    if value.iter().any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f) {
        return Err(bad);
    }
    Ok(())
}
