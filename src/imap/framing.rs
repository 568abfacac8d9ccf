//! Assembles IMAP commands from lines and literals on top of [`crate::wire::LineBuffer`],
//! before any parsing (RFC 9051 §4.3 literals, RFC 7888 non-synchronizing literals).
//!
//! A command is one or more lines; a line ending in `{n}` or `{n+}` is followed by `n` raw
//! octets and then the rest of the command on a new line. The assembler stops at every
//! literal marker and lets the session decide ([`CommandAssembler::accept_literal`] or
//! [`CommandAssembler::reject_literal`]), because only the session knows the state, the tag
//! and the reply. Rejected non-synchronizing literals are discarded as they stream in, never
//! buffered. Over-long lines and over-large commands are dropped unread. Never does IO.
//!
//! Line endings: a bare LF is accepted as a line end (leniency for hand-typed sessions;
//! RFC 9051 §2.2 only requires CRLF from the client, and accepting LF cannot make the server
//! execute bytes the client did not mean as a command line).

use crate::wire::{Frame, LineBuffer, TOO_LONG_HEAD};

/// One piece of a framed command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fragment {
    /// A line without its line ending; all but the last end with a literal marker.
    Line(Vec<u8>),
    /// The octets of a literal.
    Literal(Vec<u8>),
    /// A literal of this many octets that was streamed out as [`Item::LiteralData`] rather
    /// than buffered (a large APPEND message); `nul` says whether a NUL octet was among them.
    Streamed { len: u64, nul: bool },
}

/// Whether the client waits for a `+` continuation before sending a literal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LiteralMode {
    /// `{n}`: the client waits for `+` (RFC 9051 §7.5).
    Synchronizing,
    /// `{n+}`: the octets follow immediately (RFC 7888 §3).
    NonSynchronizing,
}

/// A literal marker at the end of a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LiteralHeader {
    /// The announced length; `u64::MAX` if the number does not fit (it is too big anyway).
    pub len: u64,
    pub mode: LiteralMode,
}

/// The literal marker a line ends with, if any, and where the marker starts. A `{n}` inside
/// an unterminated quoted string is not a marker.
pub fn trailing_literal(line: &[u8]) -> Option<(LiteralHeader, usize)> {
    let body = line.strip_suffix(b"}")?;
    let open = body.iter().rposition(|&b| b == b'{')?;
    let inner = &body[open + 1..];
    let (digits, mode) = match inner.strip_suffix(b"+") {
        Some(d) => (d, LiteralMode::NonSynchronizing),
        None => (inner, LiteralMode::Synchronizing),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    if in_quoted_string(&line[..open]) {
        return None;
    }
    let len = digits.iter().try_fold(0u64, |n, &d| {
        n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    });
    Some((
        LiteralHeader {
            len: len.unwrap_or(u64::MAX),
            mode,
        },
        open,
    ))
}

/// Whether a quoted string is still open at the end of `bytes` (RFC 9051 §4.3 escapes).
fn in_quoted_string(bytes: &[u8]) -> bool {
    let mut quoted = false;
    let mut escaped = false;
    for &b in bytes {
        if escaped {
            escaped = false;
        } else if quoted && b == b'\\' {
            escaped = true;
        } else if b == b'"' {
            quoted = !quoted;
        }
    }
    quoted
}

/// What the assembler produced.
#[derive(Debug, PartialEq, Eq)]
pub enum Item {
    /// A complete command, ready to parse.
    Command(Vec<Fragment>),
    /// The current line ends with a literal marker: the session must call
    /// [`CommandAssembler::accept_literal`] or [`CommandAssembler::reject_literal`] before
    /// anything else is read. [`CommandAssembler::parts`] shows the command so far.
    Literal(LiteralHeader),
    /// A line of the command was longer than the line limit, or the command grew past the
    /// command limit; it was dropped unread. `head` is the start of the command's first line.
    TooLong { head: Vec<u8> },
    /// A command whose literal the session rejected has now been consumed to its end.
    Discarded,
    /// The next octets of a literal the session chose to stream
    /// ([`CommandAssembler::stream_literal`]); after the last, the command goes on.
    LiteralData(Vec<u8>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Reading a line (the first of a command, or the one after a literal).
    Line,
    /// Waiting for the session to decide about this literal.
    Deciding(LiteralHeader),
    /// Reading the octets of an accepted literal.
    Literal(usize),
    /// Handing out the octets of a streamed literal: this many are still to come.
    Stream { left: u64, len: u64, nul: bool },
    /// Dropping the octets of a rejected non-synchronizing literal.
    Discard(u64),
    /// Dropping the lines of a rejected command up to its end.
    SkipRest,
}

/// Turns received bytes into [`Item`]s.
#[derive(Debug)]
pub struct CommandAssembler {
    lines: LineBuffer,
    parts: Vec<Fragment>,
    /// Bytes in `parts`.
    size: usize,
    /// Largest command accepted (all lines and literals).
    max_command: usize,
    mode: Mode,
    /// The head to report as [`Item::TooLong`] once a command dropped for its size has been
    /// consumed (its last literal was non-synchronizing and still had to be read).
    too_long_head: Option<Vec<u8>>,
}

impl CommandAssembler {
    pub fn new(max_line: usize, max_command: usize) -> Self {
        CommandAssembler {
            lines: LineBuffer::new(max_line),
            parts: Vec::new(),
            size: 0,
            max_command,
            mode: Mode::Line,
            too_long_head: None,
        }
    }

    pub fn set_max_command(&mut self, max_command: usize) {
        self.max_command = max_command;
    }

    pub fn extend(&mut self, data: &[u8]) {
        self.lines.extend(data);
    }

    /// Whether [`CommandAssembler::release`] would give back memory.
    pub fn holds_buffers(&self) -> bool {
        self.lines.holds_buffers() || self.parts.capacity() > 0
    }

    /// Give back the buffers between commands (a quiet connection): only when no command is
    /// being assembled, so nothing received is lost.
    pub fn release(&mut self) {
        if self.parts.is_empty() && self.mode == Mode::Line {
            self.parts = Vec::new();
            self.lines.release();
        }
    }

    /// Drop everything buffered and any partial command (STARTTLS, RFC 9051 §6.2.1).
    pub fn clear(&mut self) {
        self.lines.clear();
        self.parts.clear();
        self.size = 0;
        self.mode = Mode::Line;
        self.too_long_head = None;
    }

    /// Take every byte received and not framed yet (after COMPRESS: the client's first
    /// compressed bytes, RFC 4978 §3), leaving the assembler empty.
    pub fn take_rest(&mut self) -> Vec<u8> {
        let rest = self.lines.take_rest();
        self.clear();
        rest
    }

    /// The command assembled so far (while deciding about a literal).
    pub fn parts(&self) -> &[Fragment] {
        &self.parts
    }

    /// Bytes of the command assembled so far.
    pub fn assembled_len(&self) -> usize {
        self.size
    }

    /// Bytes received but not yet framed.
    #[cfg(test)]
    pub fn buffered(&self) -> usize {
        self.lines.buffered()
    }

    /// The first line of the command assembled so far.
    pub fn first_line(&self) -> &[u8] {
        match self.parts.first() {
            Some(Fragment::Line(l)) => l,
            _ => &[],
        }
    }

    /// Read the announced literal into the command. The session sends `+` itself for a
    /// synchronizing literal.
    pub fn accept_literal(&mut self) {
        if let Mode::Deciding(h) = self.mode {
            // The session checked the length against its limits, which fit in memory.
            self.mode = Mode::Literal(usize::try_from(h.len).unwrap_or(usize::MAX));
        }
    }

    /// Hand the announced literal's octets out as [`Item::LiteralData`] as they arrive,
    /// instead of buffering them: the command keeps a [`Fragment::Streamed`] in their place.
    /// The session sends `+` itself for a synchronizing literal.
    pub fn stream_literal(&mut self) {
        if let Mode::Deciding(h) = self.mode {
            self.mode = Mode::Stream {
                left: h.len,
                len: h.len,
                nul: false,
            };
            self.size = self
                .size
                .saturating_add(usize::try_from(h.len).unwrap_or(usize::MAX));
            self.after_stream();
        }
    }

    /// A streamed literal with nothing left to come ends where it is.
    fn after_stream(&mut self) {
        if let Mode::Stream { left: 0, len, nul } = self.mode {
            self.parts.push(Fragment::Streamed { len, nul });
            self.mode = Mode::Line;
        }
    }

    /// Drop the command. A synchronizing literal is never sent by the client (it gets a
    /// tagged reply instead of `+`, RFC 9051 §7.5), so the command ends here; the octets of a
    /// non-synchronizing one are on their way and are discarded, then the rest of the command,
    /// and [`Item::Discarded`] marks the end (RFC 7888 §4).
    pub fn reject_literal(&mut self) {
        if let Mode::Deciding(h) = self.mode {
            self.parts.clear();
            self.size = 0;
            self.mode = match h.mode {
                LiteralMode::Synchronizing => Mode::Line,
                LiteralMode::NonSynchronizing => Mode::Discard(h.len),
            };
        }
    }

    /// A raw line, outside command framing (SASL responses, RFC 9051 §6.2.2).
    pub fn next_raw_line(&mut self) -> Option<Frame<'_>> {
        self.lines.next_line()
    }

    /// The next item, or `None` when more input (or a decision) is needed.
    pub fn next_item(&mut self) -> Option<Item> {
        loop {
            match self.mode {
                Mode::Deciding(_) => return None,
                Mode::Literal(n) => {
                    let data = self.lines.take_exact(n)?;
                    self.parts.push(Fragment::Literal(data.to_vec()));
                    self.size += n;
                    self.mode = Mode::Line;
                }
                Mode::Stream { left, len, nul } => {
                    let chunk = usize::try_from(left).unwrap_or(usize::MAX);
                    let data = self.lines.take_up_to(chunk);
                    if data.is_empty() {
                        return None;
                    }
                    let data = data.to_vec();
                    self.mode = Mode::Stream {
                        left: left - data.len() as u64,
                        len,
                        nul: nul || memchr::memchr(0, &data).is_some(),
                    };
                    self.after_stream();
                    return Some(Item::LiteralData(data));
                }
                Mode::Discard(remaining) => {
                    let chunk = usize::try_from(remaining).unwrap_or(usize::MAX);
                    let got = self.lines.take_up_to(chunk).len() as u64;
                    if got == 0 {
                        return None;
                    }
                    self.mode = match remaining - got {
                        0 => Mode::SkipRest,
                        left => Mode::Discard(left),
                    };
                }
                Mode::Line | Mode::SkipRest => {
                    let skipping = self.mode == Mode::SkipRest;
                    let frame = self.lines.next_line()?;
                    let (line, literal) = match frame {
                        Frame::Line { line, .. } => (line, trailing_literal(line).map(|l| l.0)),
                        Frame::TooLong { head } => {
                            // The rest of this line is dropped by the line buffer. A literal
                            // marker at its end cannot be seen: its octets will be read as
                            // lines (and rejected as commands).
                            self.mode = Mode::Line;
                            if skipping {
                                return Some(self.end_of_discarded());
                            }
                            let head = match self.parts.first() {
                                Some(Fragment::Line(first)) => head_of(first),
                                _ => head.to_vec(),
                            };
                            self.parts.clear();
                            self.size = 0;
                            return Some(Item::TooLong { head });
                        }
                    };
                    if skipping {
                        match literal {
                            Some(h) if h.mode == LiteralMode::NonSynchronizing => {
                                self.mode = Mode::Discard(h.len);
                                continue;
                            }
                            _ => {
                                self.mode = Mode::Line;
                                return Some(self.end_of_discarded());
                            }
                        }
                    }
                    if self.size + line.len() > self.max_command {
                        let head = match self.parts.first() {
                            Some(Fragment::Line(first)) => head_of(first),
                            _ => head_of(line),
                        };
                        self.parts.clear();
                        self.size = 0;
                        match literal {
                            Some(h) if h.mode == LiteralMode::NonSynchronizing => {
                                self.too_long_head = Some(head);
                                self.mode = Mode::Discard(h.len);
                                continue;
                            }
                            _ => return Some(Item::TooLong { head }),
                        }
                    }
                    self.size += line.len();
                    self.parts.push(Fragment::Line(line.to_vec()));
                    return Some(match literal {
                        Some(h) => {
                            self.mode = Mode::Deciding(h);
                            Item::Literal(h)
                        }
                        None => {
                            self.size = 0;
                            Item::Command(std::mem::take(&mut self.parts))
                        }
                    });
                }
            }
        }
    }

    fn end_of_discarded(&mut self) -> Item {
        match self.too_long_head.take() {
            Some(head) => Item::TooLong { head },
            None => Item::Discarded,
        }
    }
}

fn head_of(line: &[u8]) -> Vec<u8> {
    line[..TOO_LONG_HEAD.min(line.len())].to_vec()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn sync(len: u64) -> LiteralHeader {
        LiteralHeader {
            len,
            mode: LiteralMode::Synchronizing,
        }
    }

    fn nonsync(len: u64) -> LiteralHeader {
        LiteralHeader {
            len,
            mode: LiteralMode::NonSynchronizing,
        }
    }

    fn line(s: &[u8]) -> Fragment {
        Fragment::Line(s.to_vec())
    }

    /// A quiet connection's assembler gives back its buffers between commands, and keeps
    /// what it holds of a command still arriving (issue 18: idle sessions hold no buffers).
    #[test]
    fn release_gives_back_buffers_between_commands_only() {
        let mut a = CommandAssembler::new(1000, 10_000);
        a.extend(b"a NOOP\r\nb IDLE");
        assert_eq!(a.next_item(), Some(Item::Command(vec![line(b"a NOOP")])));
        assert_eq!(a.next_item(), None);
        a.release();
        assert!(a.holds_buffers(), "the start of `b IDLE` is kept");
        a.extend(b"\r\n");
        assert_eq!(a.next_item(), Some(Item::Command(vec![line(b"b IDLE")])));
        assert_eq!(a.next_item(), None);
        a.release();
        assert!(!a.holds_buffers());
        // Inside a command (a literal accepted, its octets to come) nothing is released.
        a.extend(b"c LOGIN {3}\r\n");
        assert_eq!(a.next_item(), Some(Item::Literal(sync(3))));
        a.accept_literal();
        a.release();
        a.extend(b"bob x\r\n");
        assert_eq!(
            a.next_item(),
            Some(Item::Command(vec![
                line(b"c LOGIN {3}"),
                Fragment::Literal(b"bob".to_vec()),
                line(b" x"),
            ]))
        );
    }

    #[test]
    fn trailing_literal_markers() {
        assert_eq!(trailing_literal(b"a LOGIN {5}"), Some((sync(5), 8)));
        assert_eq!(
            trailing_literal(b"a LOGIN x {12+}"),
            Some((nonsync(12), 10))
        );
        assert_eq!(trailing_literal(b"{0}"), Some((sync(0), 0)));
        assert_eq!(trailing_literal(b"a LOGIN {}"), None);
        assert_eq!(trailing_literal(b"a LOGIN {x}"), None);
        assert_eq!(trailing_literal(b"a LOGIN {5+1}"), None);
        assert_eq!(trailing_literal(b"a LOGIN \"x {5}"), None);
        assert_eq!(trailing_literal(b"a LOGIN \"x\\\" {5}"), None);
        assert_eq!(
            trailing_literal(b"a LOGIN \"x\\\\\" {5}"),
            Some((sync(5), 14))
        );
        assert_eq!(
            trailing_literal(b"a {99999999999999999999999}"),
            Some((sync(u64::MAX), 2))
        );
    }

    #[test]
    fn plain_lines_are_commands() {
        let mut a = CommandAssembler::new(100, 1000);
        a.extend(b"a NOOP\r\nb NOOP\nc");
        assert_eq!(a.next_item(), Some(Item::Command(vec![line(b"a NOOP")])));
        assert_eq!(a.next_item(), Some(Item::Command(vec![line(b"b NOOP")])));
        assert_eq!(a.next_item(), None);
    }

    #[test]
    fn accepted_literal_joins_the_command() {
        let mut a = CommandAssembler::new(100, 1000);
        a.extend(b"a LOGIN {3}\r\n");
        assert_eq!(a.next_item(), Some(Item::Literal(sync(3))));
        assert_eq!(a.next_item(), None);
        assert_eq!(a.first_line(), b"a LOGIN {3}");
        a.accept_literal();
        a.extend(b"b\r\n {2+}\r\nxy\r\n");
        assert_eq!(a.next_item(), Some(Item::Literal(nonsync(2))));
        a.accept_literal();
        assert_eq!(
            a.next_item(),
            Some(Item::Command(vec![
                line(b"a LOGIN {3}"),
                Fragment::Literal(b"b\r\n".to_vec()),
                line(b" {2+}"),
                Fragment::Literal(b"xy".to_vec()),
                line(b""),
            ]))
        );
    }

    #[test]
    fn a_streamed_literal_is_handed_out_as_it_arrives_and_never_buffered() {
        let mut a = CommandAssembler::new(100, 1 << 20);
        a.extend(b"a APPEND INBOX {9}\r\n");
        assert_eq!(a.next_item(), Some(Item::Literal(sync(9))));
        a.stream_literal();
        assert_eq!(a.next_item(), None);
        a.extend(b"0123");
        assert_eq!(a.next_item(), Some(Item::LiteralData(b"0123".to_vec())));
        assert_eq!(a.buffered(), 0);
        a.extend(b"45\x0089 more");
        assert_eq!(a.next_item(), Some(Item::LiteralData(b"45\x0089".to_vec())));
        a.extend(b"\r\n");
        assert_eq!(
            a.next_item(),
            Some(Item::Command(vec![
                line(b"a APPEND INBOX {9}"),
                Fragment::Streamed { len: 9, nul: true },
                line(b" more"),
            ]))
        );
        // An empty literal has no data to hand out.
        a.extend(b"b APPEND INBOX {0}\r\n\r\n");
        assert_eq!(a.next_item(), Some(Item::Literal(sync(0))));
        a.stream_literal();
        assert_eq!(
            a.next_item(),
            Some(Item::Command(vec![
                line(b"b APPEND INBOX {0}"),
                Fragment::Streamed { len: 0, nul: false },
                line(b""),
            ]))
        );
    }

    #[test]
    fn rejected_sync_literal_ends_the_command() {
        let mut a = CommandAssembler::new(100, 1000);
        a.extend(b"a LOGIN {3}\r\nb NOOP\r\n");
        assert_eq!(a.next_item(), Some(Item::Literal(sync(3))));
        a.reject_literal();
        assert_eq!(a.next_item(), Some(Item::Command(vec![line(b"b NOOP")])));
    }

    #[test]
    fn rejected_nonsync_literal_is_streamed_away_with_the_rest_of_the_command() {
        let mut a = CommandAssembler::new(100, 1000);
        a.extend(b"a LOGIN {10+}\r\n0123");
        assert_eq!(a.next_item(), Some(Item::Literal(nonsync(10))));
        a.reject_literal();
        assert_eq!(a.next_item(), None);
        a.extend(b"456789 {2+}\r\n");
        assert_eq!(a.next_item(), None);
        a.extend(b"xy\r\nb NOOP\r\n");
        assert_eq!(a.next_item(), Some(Item::Discarded));
        assert_eq!(a.next_item(), Some(Item::Command(vec![line(b"b NOOP")])));
    }

    #[test]
    fn over_long_line_reports_the_command_head() {
        let mut a = CommandAssembler::new(10, 1000);
        a.extend(b"t1 LOGIN {3}\r\n");
        assert_eq!(
            a.next_item(),
            Some(Item::TooLong {
                head: b"t1 LOGIN {3}".to_vec()
            })
        );
        a.extend(b"t2 x {1}\r\n");
        assert_eq!(a.next_item(), Some(Item::Literal(sync(1))));
        a.accept_literal();
        a.extend(b"y 01234567890\r\nt3 NOOP\r\n");
        assert_eq!(
            a.next_item(),
            Some(Item::TooLong {
                head: b"t2 x {1}".to_vec()
            })
        );
        assert_eq!(a.next_item(), Some(Item::Command(vec![line(b"t3 NOOP")])));
    }

    #[test]
    fn command_over_the_size_limit_is_dropped() {
        let mut a = CommandAssembler::new(100, 20);
        a.extend(b"t1 ID (\"a\" {4+}\r\nabcd \"b\" \"c\" {30+}\r\n");
        assert_eq!(a.next_item(), Some(Item::Literal(nonsync(4))));
        a.accept_literal();
        assert_eq!(a.next_item(), None);
        a.extend(&[b'z'; 30]);
        a.extend(b")\r\nt2 NOOP\r\n");
        assert_eq!(
            a.next_item(),
            Some(Item::TooLong {
                head: b"t1 ID (\"a\" {4+}".to_vec()
            })
        );
        assert_eq!(a.next_item(), Some(Item::Command(vec![line(b"t2 NOOP")])));
    }

    #[test]
    fn clear_drops_partial_commands() {
        let mut a = CommandAssembler::new(100, 1000);
        a.extend(b"a LOGIN {3}\r\n");
        assert_eq!(a.next_item(), Some(Item::Literal(sync(3))));
        a.clear();
        a.extend(b"b NOOP\r\n");
        assert_eq!(a.next_item(), Some(Item::Command(vec![line(b"b NOOP")])));
    }
}
