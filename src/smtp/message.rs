//! The message content of a mail transaction, read as a stream: DATA with its dot-stuffing and
//! `CRLF.CRLF` end (RFC 5321 §4.1.1.4, §4.5.2), BDAT chunks (RFC 3030 §2), the size limit
//! (RFC 1870) and the `Received:` loop count (RFC 5321 §6.3). Never buffers a line: bytes are
//! scanned with memchr as they arrive, so a data line may be as long as the message limit.
//!
//! **Message size**, as compared with `Limits::max_message_size` and SIZE=: the octets of the
//! message as it will be stored — after dot-unstuffing, with its CRLF line ends, without the
//! terminating `.` line (for BDAT: the sum of the chunk sizes). A message of exactly the limit
//! is accepted.
//!
//! **SMTP smuggling** (2023): the only end of DATA is `CRLF . CRLF`. A bare LF or bare CR
//! anywhere in the content never ends it and never starts a line (so `LF . LF`, `LF . CRLF` and
//! `CR . CR` are content). A bare CR refuses the message whole at its real end; so does a bare
//! LF under [`BareLf::Reject`], while [`BareLf::Normalize`] (the default) stores it as CRLF —
//! still not a line start, so a `.` after it is content, neither stuffing nor an end. BDAT
//! content needs CRLF line ends: BINARYMIME, the only way to send anything else, is not offered.

use memchr::memchr2;

use crate::config::BareLf;

/// Why a complete message is refused, in the order the checks apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Flaw {
    /// A bare CR or LF somewhere in the content (`550 5.6.11`).
    BareLineEnding,
    /// Larger than the limit (`552 5.3.4`).
    TooBig,
    /// More `Received:` headers than the hop limit (`554 5.4.6`).
    TooManyHops,
}

/// Collects a message's content up to the size limit and notes what is wrong with it. Once
/// the message is known to be refused its bytes are no longer kept, only counted.
#[derive(Debug)]
pub(super) struct MessageSink {
    content: Vec<u8>,
    size: u64,
    limit: u64,
    bare_line_ending: bool,
}

impl MessageSink {
    pub(super) fn new(limit: usize) -> MessageSink {
        MessageSink {
            content: Vec::new(),
            size: 0,
            limit: u64::try_from(limit).unwrap_or(u64::MAX),
            bare_line_ending: false,
        }
    }

    /// Octets received so far (see the module docs for what counts).
    #[cfg(test)]
    pub(super) fn size(&self) -> u64 {
        self.size
    }

    /// Whether `more` further octets would take the message over the limit.
    pub(super) fn would_exceed(&self, more: u64) -> bool {
        self.size.saturating_add(more) > self.limit
    }

    fn push(&mut self, bytes: &[u8]) {
        self.size = self.size.saturating_add(bytes.len() as u64);
        if self.size > self.limit || self.bare_line_ending {
            // Refused at the end whatever follows: stop holding memory for it.
            self.content = Vec::new();
        } else {
            self.content.extend_from_slice(bytes);
        }
    }

    fn bare(&mut self) {
        self.bare_line_ending = true;
        self.content = Vec::new();
    }

    /// The complete message, or why it is refused.
    pub(super) fn finish(self, max_hops: usize) -> Result<Vec<u8>, Flaw> {
        if self.bare_line_ending {
            Err(Flaw::BareLineEnding)
        } else if self.size > self.limit {
            Err(Flaw::TooBig)
        } else if received_headers(&self.content) > max_hops {
            Err(Flaw::TooManyHops)
        } else {
            Ok(self.content)
        }
    }
}

/// Where the DATA decoder is between two input bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DotState {
    /// After a CRLF (or at the start): a `.` here is stuffing or the end.
    LineStart,
    /// Inside a line.
    Mid,
    /// A CR was seen and not yet written: CRLF or a bare CR, depending on the next byte.
    Cr,
    /// A `.` at the start of a line, dropped (RFC 5321 §4.5.2).
    Dot,
    /// `.` CR at the start of a line: the end of data if LF follows.
    DotCr,
}

/// Decodes DATA content (RFC 5321 §4.5.2) from however the bytes are cut into reads.
#[derive(Debug)]
pub(super) struct DotDecoder {
    state: DotState,
    bare_lf: BareLf,
}

impl DotDecoder {
    /// A decoder placed just after the CRLF of the DATA command line.
    pub(super) fn new(bare_lf: BareLf) -> DotDecoder {
        DotDecoder {
            state: DotState::LineStart,
            bare_lf,
        }
    }

    /// Decode `input` into `sink`. Returns `Some(n)` when the end of data was found, `n` being
    /// how many bytes of `input` it used (the rest is the next command); `None` when all of
    /// `input` was content and more is needed.
    pub(super) fn decode(&mut self, input: &[u8], sink: &mut MessageSink) -> Option<usize> {
        let mut i = 0;
        while i < input.len() {
            match self.state {
                DotState::Mid => match memchr2(b'\r', b'\n', &input[i..]) {
                    None => {
                        sink.push(&input[i..]);
                        return None;
                    }
                    Some(k) => {
                        sink.push(&input[i..i + k]);
                        if input[i + k] == b'\r' {
                            self.state = DotState::Cr;
                        } else if self.bare_lf == BareLf::Normalize {
                            // A bare LF: stored as CRLF, and not the start of a line.
                            sink.push(b"\r\n");
                        } else {
                            // A bare LF: content, and not the start of a line.
                            sink.bare();
                            sink.push(b"\n");
                        }
                        i += k + 1;
                    }
                },
                DotState::LineStart => match input[i] {
                    b'.' => {
                        self.state = DotState::Dot;
                        i += 1;
                    }
                    // Not consumed: the line's bytes are taken by the Mid scan.
                    _ => self.state = DotState::Mid,
                },
                DotState::Cr => {
                    if input[i] == b'\n' {
                        sink.push(b"\r\n");
                        self.state = DotState::LineStart;
                        i += 1;
                    } else {
                        // A bare CR; the byte after it is looked at afresh.
                        sink.bare();
                        sink.push(b"\r");
                        self.state = DotState::Mid;
                    }
                }
                DotState::Dot => {
                    if input[i] == b'\r' {
                        self.state = DotState::DotCr;
                        i += 1;
                    } else {
                        // `.x`: the dot was stuffing; the rest of the line is content.
                        self.state = DotState::Mid;
                    }
                }
                DotState::DotCr => {
                    if input[i] == b'\n' {
                        return Some(i + 1);
                    }
                    // `.` CR x: the dot was stuffing, and the CR is pending like any other.
                    self.state = DotState::Cr;
                }
            }
        }
        None
    }
}

/// Checks BDAT content for CRLF line ends across chunk boundaries, and collects it.
#[derive(Debug)]
pub(super) struct ChunkReader {
    /// The previous chunk ended in a CR whose LF must open the next one.
    pending_cr: bool,
}

impl ChunkReader {
    pub(super) fn new() -> ChunkReader {
        ChunkReader { pending_cr: false }
    }

    /// Take the next piece of content (any part of any chunk).
    pub(super) fn read(&mut self, data: &[u8], sink: &mut MessageSink) {
        sink.push(data);
        if sink.bare_line_ending || data.is_empty() {
            return;
        }
        let mut i = 0;
        if std::mem::take(&mut self.pending_cr) {
            if data[0] == b'\n' {
                i = 1;
            } else {
                return sink.bare();
            }
        }
        while let Some(k) = memchr2(b'\r', b'\n', &data[i..]) {
            let at = i + k;
            if data[at] == b'\n' {
                // An LF not consumed as the end of a CRLF.
                return sink.bare();
            }
            match data.get(at + 1) {
                None => {
                    self.pending_cr = true;
                    return;
                }
                Some(b'\n') => i = at + 2,
                Some(_) => return sink.bare(),
            }
        }
    }

    /// The last chunk has been read: a CR left pending is bare.
    pub(super) fn finish(&mut self, sink: &mut MessageSink) {
        if std::mem::take(&mut self.pending_cr) {
            sink.bare();
        }
    }
}

/// How many `Received:` fields the header section holds (up to the first empty line). A field
/// name may be followed by blanks before its colon (RFC 5322 §4.5 obsolete syntax).
fn received_headers(message: &[u8]) -> usize {
    let mut count = 0;
    for line in message.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            break;
        }
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let name = line[..colon].trim_ascii_end();
        if name.eq_ignore_ascii_case(b"Received") {
            count += 1;
        }
    }
    count
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// Decode `input` fed in pieces of `step` bytes; the content, whether it was refused, and
    /// the bytes left after the end.
    fn decode(input: &[u8], step: usize) -> (Result<Vec<u8>, Flaw>, Option<Vec<u8>>) {
        let mut decoder = DotDecoder::new(BareLf::Reject);
        let mut sink = MessageSink::new(1000);
        let mut rest = None;
        let mut pieces = input.chunks(step);
        for piece in pieces.by_ref() {
            if let Some(used) = decoder.decode(piece, &mut sink) {
                let mut tail = piece[used..].to_vec();
                tail.extend(pieces.flatten());
                rest = Some(tail);
                break;
            }
        }
        (sink.finish(10), rest)
    }

    fn check(input: &[u8], content: Result<&[u8], Flaw>, rest: Option<&[u8]>) {
        for step in 1..=input.len().max(1) {
            let (got, got_rest) = decode(input, step);
            assert_eq!(
                got.as_deref().map_err(|e| *e),
                content,
                "content of {input:?} in steps of {step}"
            );
            assert_eq!(
                got_rest.as_deref(),
                rest,
                "rest of {input:?} in steps of {step}"
            );
        }
    }

    #[test]
    fn end_of_data_and_dot_unstuffing() {
        check(b".\r\n", Ok(b""), Some(b""));
        check(b"a\r\n.\r\nQUIT\r\n", Ok(b"a\r\n"), Some(b"QUIT\r\n"));
        check(b"..x\r\n..\r\n.\r\n", Ok(b".x\r\n.\r\n"), Some(b""));
        check(b".x\r\n.\r\n", Ok(b"x\r\n"), Some(b""));
        check(b"a\r\nb\r\n", Ok(b"a\r\nb\r\n"), None);
        check(b"x.\r\n.y\r\n.\r\n", Ok(b"x.\r\ny\r\n"), Some(b""));
    }

    #[test]
    fn only_crlf_dot_crlf_ends_data() {
        let bare = Err(Flaw::BareLineEnding);
        check(b"a\n.\nb\r\n.\r\n", bare, Some(b""));
        check(b"a\n.\r\nb\r\n.\r\n", bare, Some(b""));
        check(b"a\r.\r\nb\r\n.\r\n", bare, Some(b""));
        check(b"a\r\n.\r.\r\n.\r\n", bare, Some(b""));
        check(b"a\r\n.\nMAIL\r\n.\r\n", bare, Some(b""));
        check(b"a\r\r\n.\r\n", bare, Some(b""));
        check(b"\n.\n", bare, None);
        check(b"a\r\n.\r", Ok(b"a\r\n"), None);
    }

    #[test]
    fn size_is_counted_after_unstuffing() {
        let mut sink = MessageSink::new(4);
        assert_eq!(
            DotDecoder::new(BareLf::Reject).decode(b"..ab\r\n.\r\n", &mut sink),
            Some(9)
        );
        assert_eq!(sink.size(), 5);
        assert_eq!(sink.finish(10), Err(Flaw::TooBig));
        let mut sink = MessageSink::new(5);
        DotDecoder::new(BareLf::Reject).decode(b"..ab\r\n.\r\n", &mut sink);
        assert_eq!(sink.finish(10).unwrap(), b".ab\r\n");
    }

    #[test]
    fn chunks_need_crlf_across_boundaries() {
        let read = |chunks: &[&[u8]]| {
            let mut reader = ChunkReader::new();
            let mut sink = MessageSink::new(100);
            for c in chunks {
                reader.read(c, &mut sink);
            }
            reader.finish(&mut sink);
            sink.finish(10)
        };
        assert_eq!(read(&[b"a\r", b"\nb\r\n"]).unwrap(), b"a\r\nb\r\n");
        assert_eq!(read(&[b"a\r", b"", b"\n"]).unwrap(), b"a\r\n");
        assert_eq!(read(&[b"no line end"]).unwrap(), b"no line end");
        assert_eq!(read(&[b"a\nb"]), Err(Flaw::BareLineEnding));
        assert_eq!(read(&[b"a\r", b"b"]), Err(Flaw::BareLineEnding));
        assert_eq!(read(&[b"a\r"]), Err(Flaw::BareLineEnding));
        assert_eq!(read(&[b"a\r\r\n"]), Err(Flaw::BareLineEnding));
        assert_eq!(read(&[b"a\r\n", b"\n"]), Err(Flaw::BareLineEnding));
    }

    #[test]
    fn received_fields_are_counted_in_the_header_section_only() {
        let message = b"Received: a\r\nreceived : b\r\n\tfolded Received: c\r\n\
                        X-Received: d\r\nSubject: x\r\n\r\nReceived: body\r\n";
        assert_eq!(received_headers(message), 2);
        assert_eq!(received_headers(b""), 0);
        assert_eq!(received_headers(b"Received: a\r\nReceived: b"), 2);
    }
}
