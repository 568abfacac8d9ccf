//! A CRLF line framer over a growable buffer.

use memchr::memchr;

/// How many leading bytes of an over-long line [`Frame::TooLong`] keeps.
pub const TOO_LONG_HEAD: usize = 64;

/// One item taken from a [`LineBuffer`].
#[derive(Debug, PartialEq, Eq)]
pub enum Frame<'a> {
    /// A complete line, without its line ending. A bare `\n` ending is accepted here and
    /// reported through `bare_lf`; protocols decide whether to refuse it.
    Line { line: &'a [u8], bare_lf: bool },
    /// A line longer than the limit was received and is being discarded up to and including
    /// its end. Nothing of it may be executed. `head` holds its first bytes (at most
    /// [`TOO_LONG_HEAD`]) so that a protocol can still name the command's tag in its reply.
    TooLong { head: &'a [u8] },
}

/// Accumulates received bytes and hands out complete lines.
///
/// Lines longer than `max_line` bytes (excluding the line ending) are discarded as they arrive,
/// so an endless line never grows the buffer beyond `max_line` plus one read.
#[derive(Debug)]
pub struct LineBuffer {
    buf: Vec<u8>,
    /// Start of the unconsumed bytes in `buf`.
    start: usize,
    /// How far past `start` we already scanned for `\n` without finding one.
    scanned: usize,
    max_line: usize,
    /// Set while we are dropping the rest of an over-long line.
    discarding: bool,
    /// The first bytes of the over-long line last reported.
    head: Vec<u8>,
}

impl LineBuffer {
    /// A buffer that accepts lines of at most `max_line` bytes (excluding CRLF).
    pub fn new(max_line: usize) -> Self {
        LineBuffer {
            buf: Vec::new(),
            start: 0,
            scanned: 0,
            max_line,
            discarding: false,
            head: Vec::new(),
        }
    }

    /// Whether [`LineBuffer::release`] would give back memory.
    pub fn holds_buffers(&self) -> bool {
        self.buf.capacity() > 0 || self.head.capacity() > 0
    }

    /// Give back the buffer if it holds nothing unconsumed (a quiet connection); the next
    /// bytes allocate it again.
    pub fn release(&mut self) {
        if self.start == self.buf.len() && !self.discarding {
            self.buf = Vec::new();
            self.start = 0;
            self.scanned = 0;
            self.head = Vec::new();
        }
    }

    /// Append received bytes.
    pub fn extend(&mut self, data: &[u8]) {
        if self.start > 0 && self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        } else if self.start > 4096 && self.start * 2 > self.buf.len() {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(data);
    }

    /// The next complete line, [`Frame::TooLong`] once for each over-long line, or `None` when
    /// more input is needed. The returned slice is valid until the next call on this buffer.
    pub fn next_line(&mut self) -> Option<Frame<'_>> {
        loop {
            let pending = &self.buf[self.start..];
            let found = memchr(b'\n', &pending[self.scanned..]).map(|i| i + self.scanned);
            match found {
                None => {
                    self.scanned = pending.len();
                    if self.discarding {
                        // Still inside an over-long line already reported: drop as it arrives.
                        self.buf.clear();
                        self.start = 0;
                        self.scanned = 0;
                        return None;
                    }
                    // A line (plus a possible trailing CR) longer than the limit: drop what we
                    // have, remember to drop the rest, and report it once.
                    if pending.len() > self.max_line + 1 {
                        self.head.clear();
                        self.head
                            .extend_from_slice(&pending[..TOO_LONG_HEAD.min(pending.len())]);
                        self.buf.clear();
                        self.start = 0;
                        self.scanned = 0;
                        self.discarding = true;
                        return Some(Frame::TooLong { head: &self.head });
                    }
                    return None;
                }
                Some(nl) => {
                    let line_start = self.start;
                    self.start += nl + 1;
                    self.scanned = 0;
                    if self.discarding {
                        // The tail of an over-long line already reported.
                        self.discarding = false;
                        continue;
                    }
                    let (end, bare_lf) = if nl > 0 && self.buf[line_start + nl - 1] == b'\r' {
                        (line_start + nl - 1, false)
                    } else {
                        (line_start + nl, true)
                    };
                    if end - line_start > self.max_line {
                        let head_end = line_start + TOO_LONG_HEAD.min(end - line_start);
                        return Some(Frame::TooLong {
                            head: &self.buf[line_start..head_end],
                        });
                    }
                    return Some(Frame::Line {
                        line: &self.buf[line_start..end],
                        bare_lf,
                    });
                }
            }
        }
    }

    /// Take exactly `n` raw bytes (an IMAP literal, a BDAT chunk) if they have all arrived.
    pub fn take_exact(&mut self, n: usize) -> Option<&[u8]> {
        if self.buf.len() - self.start < n {
            return None;
        }
        let s = self.start;
        self.start += n;
        self.scanned = 0;
        Some(&self.buf[s..s + n])
    }

    /// Take up to `n` raw bytes that have arrived (for streaming large payloads).
    pub fn take_up_to(&mut self, n: usize) -> &[u8] {
        let s = self.start;
        let k = n.min(self.buf.len() - s);
        self.start += k;
        self.scanned = 0;
        &self.buf[s..s + k]
    }

    /// Bytes received but not yet consumed.
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.start
    }

    /// Drop everything buffered (after STARTTLS: pipelined plaintext is never executed).
    pub fn clear(&mut self) {
        self.buf.clear();
        self.start = 0;
        self.scanned = 0;
        self.discarding = false;
    }

    /// Take every byte buffered and not consumed yet, leaving the buffer empty (what a peer
    /// sent after a command that changes the transport: IMAP COMPRESS).
    pub fn take_rest(&mut self) -> Vec<u8> {
        let rest = self.buf[self.start..].to_vec();
        self.clear();
        rest
    }

    /// The configured maximum line length.
    pub fn max_line(&self) -> usize {
        self.max_line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(buf: &mut LineBuffer) -> Vec<Result<(Vec<u8>, bool), ()>> {
        let mut v = Vec::new();
        while let Some(f) = buf.next_line() {
            v.push(match f {
                Frame::Line { line, bare_lf } => Ok((line.to_vec(), bare_lf)),
                Frame::TooLong { head } => {
                    assert!(head.len() <= TOO_LONG_HEAD);
                    Err(())
                }
            });
        }
        v
    }

    #[test]
    fn release_keeps_unconsumed_bytes() {
        let mut b = LineBuffer::new(100);
        assert!(!b.holds_buffers(), "nothing allocated before input");
        b.extend(b"a1 NOOP\r\na2");
        assert_eq!(lines(&mut b), vec![Ok((b"a1 NOOP".to_vec(), false))]);
        b.release();
        assert!(b.holds_buffers());
        b.extend(b" NOOP\r\n");
        assert_eq!(lines(&mut b), vec![Ok((b"a2 NOOP".to_vec(), false))]);
        b.release();
        assert!(!b.holds_buffers());
        b.extend(b"a3 NOOP\r\n");
        assert_eq!(lines(&mut b), vec![Ok((b"a3 NOOP".to_vec(), false))]);
    }

    #[test]
    fn splits_crlf_lines() {
        let mut b = LineBuffer::new(100);
        b.extend(b"a1 NOOP\r\na2 LOGOUT\r\npartial");
        assert_eq!(
            lines(&mut b),
            vec![
                Ok((b"a1 NOOP".to_vec(), false)),
                Ok((b"a2 LOGOUT".to_vec(), false))
            ]
        );
        assert_eq!(b.buffered(), 7);
        b.extend(b"\r\n");
        assert_eq!(lines(&mut b), vec![Ok((b"partial".to_vec(), false))]);
    }

    #[test]
    fn crlf_split_across_reads_one_byte_at_a_time() {
        let input = b"EHLO x\r\nNOOP\r\n\r\nQUIT\r\n";
        let mut b = LineBuffer::new(100);
        let mut got = Vec::new();
        for byte in input {
            b.extend(std::slice::from_ref(byte));
            got.extend(lines(&mut b));
        }
        assert_eq!(
            got,
            vec![
                Ok((b"EHLO x".to_vec(), false)),
                Ok((b"NOOP".to_vec(), false)),
                Ok((b"".to_vec(), false)),
                Ok((b"QUIT".to_vec(), false))
            ]
        );
    }

    #[test]
    fn bare_lf_is_reported() {
        let mut b = LineBuffer::new(100);
        b.extend(b"one\ntwo\r\n");
        assert_eq!(
            lines(&mut b),
            vec![Ok((b"one".to_vec(), true)), Ok((b"two".to_vec(), false))]
        );
    }

    #[test]
    fn line_of_exactly_the_limit_is_accepted() {
        let mut b = LineBuffer::new(5);
        b.extend(b"12345\r\n");
        assert_eq!(lines(&mut b), vec![Ok((b"12345".to_vec(), false))]);
    }

    #[test]
    fn over_long_line_is_reported_once_and_discarded() {
        let mut b = LineBuffer::new(5);
        b.extend(b"123456\r\nok\r\n");
        assert_eq!(lines(&mut b), vec![Err(()), Ok((b"ok".to_vec(), false))]);
    }

    #[test]
    fn too_long_keeps_the_head_for_the_tag() {
        let mut b = LineBuffer::new(8);
        b.extend(b"a17 LOGIN xxxxxxxxxxxxxxx");
        assert_eq!(
            b.next_line(),
            Some(Frame::TooLong {
                head: &b"a17 LOGIN xxxxxxxxxxxxxxx"[..]
            })
        );
        b.extend(b"yyy\r\nb1 NOOP\r\n");
        assert_eq!(
            b.next_line(),
            Some(Frame::Line {
                line: &b"b1 NOOP"[..],
                bare_lf: false
            })
        );
    }

    #[test]
    fn endless_line_does_not_grow_the_buffer() {
        let mut b = LineBuffer::new(10);
        let mut reports = 0;
        for _ in 0..1000 {
            b.extend(b"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
            reports += lines(&mut b).len();
            assert!(b.buffered() <= 64, "buffer grew to {}", b.buffered());
        }
        assert_eq!(reports, 1);
        b.extend(b"tail\r\nNOOP\r\n");
        assert_eq!(lines(&mut b), vec![Ok((b"NOOP".to_vec(), false))]);
    }

    #[test]
    fn take_exact_waits_for_all_bytes() {
        let mut b = LineBuffer::new(100);
        b.extend(b"abc");
        assert_eq!(b.take_exact(5), None);
        b.extend(b"de\r\nnext\r\n");
        assert_eq!(b.take_exact(5), Some(&b"abcde"[..]));
        assert_eq!(
            lines(&mut b),
            vec![Ok((b"".to_vec(), false)), Ok((b"next".to_vec(), false))]
        );
    }

    #[test]
    fn clear_drops_pipelined_bytes() {
        let mut b = LineBuffer::new(100);
        b.extend(b"STARTTLS\r\nLOGIN a b\r\n");
        assert_eq!(lines(&mut b).len(), 2);
        b.extend(b"x LOGIN a b\r\n");
        b.clear();
        assert_eq!(b.buffered(), 0);
        assert_eq!(lines(&mut b), vec![]);
    }
}
