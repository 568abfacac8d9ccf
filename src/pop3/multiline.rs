//! A stored message as the body of a POP3 multi-line response (RFC 1939 §3): CRLF line ends,
//! dot-stuffing and the terminating `.` line, written in one memchr pass into the caller's
//! buffer (runs of clean lines are copied whole; nothing is allocated per line); and the part
//! of a message that TOP sends (RFC 1939 §7).
//!
//! This module never does IO and knows nothing of the session.

use memchr::memchr_iter;

use crate::mail::MessageBytes;
use crate::session::Output;

/// One piece of a multi-line response body: a range of the message, or bytes it lacks.
pub(super) enum Piece {
    Message(std::ops::Range<usize>),
    Extra(&'static [u8]),
}

/// `message` as a multi-line response body, terminator included, as pieces in order: every
/// line ends in CRLF (a bare LF gets its CR, defensively: the store keeps CRLF), every line
/// that starts with `.` gets another `.` in front, and a last line without a line end gets
/// one. Runs of clean lines are one piece, so a caller can send them from the message's own
/// buffer.
pub(super) fn dot_stuffed(message: &[u8], mut emit: impl FnMut(Piece)) {
    if message.first() == Some(&b'.') {
        emit(Piece::Extra(b"."));
    }
    // `message[..copied]` has been emitted.
    let mut copied = 0;
    for lf in memchr_iter(b'\n', message) {
        if lf == 0 || message[lf - 1] != b'\r' {
            emit(Piece::Message(copied..lf));
            emit(Piece::Extra(b"\r\n"));
            copied = lf + 1;
        }
        if message.get(lf + 1) == Some(&b'.') {
            emit(Piece::Message(copied..lf + 1));
            emit(Piece::Extra(b"."));
            copied = lf + 1;
        }
    }
    emit(Piece::Message(copied..message.len()));
    match message.last() {
        None | Some(b'\n') => {}
        Some(b'\r') => emit(Piece::Extra(b"\n")),
        Some(_) => emit(Piece::Extra(b"\r\n")),
    }
    emit(Piece::Extra(b".\r\n"));
}

/// [`dot_stuffed`] copied into `out`.
#[cfg(test)]
pub(super) fn write_dot_stuffed(message: &[u8], out: &mut Vec<u8>) {
    out.reserve(message.len() + 16);
    dot_stuffed(message, |piece| match piece {
        Piece::Message(r) => out.extend_from_slice(&message[r]),
        Piece::Extra(b) => out.extend_from_slice(b),
    });
}

/// [`dot_stuffed`] into the driver's output: runs of the message are sent from the store's
/// read buffer (spliced, not copied, when large), only the added bytes are written.
pub(super) fn send_dot_stuffed(message: &MessageBytes, out: &mut Output) {
    dot_stuffed(message, |piece| match piece {
        Piece::Message(r) if r.is_empty() => {}
        Piece::Message(r) => out.push_shared(&message.slice(r.start, r.len())),
        Piece::Extra(b) => out.bytes_mut().extend_from_slice(b),
    });
}

/// RFC 1939 §7 TOP: the header section, the blank line that ends it and the first
/// `body_lines` lines of the body. A message without a blank line is all header and is sent
/// whole, like one with fewer body lines than asked for.
pub(super) fn top(message: &[u8], body_lines: u32) -> &[u8] {
    let mut line_start = 0;
    let mut body_start = None;
    for lf in memchr_iter(b'\n', message) {
        if matches!(&message[line_start..lf], b"" | b"\r") {
            body_start = Some(lf + 1);
            break;
        }
        line_start = lf + 1;
    }
    let Some(body_start) = body_start else {
        return message;
    };
    let Some(last) = body_lines.checked_sub(1) else {
        return &message[..body_start];
    };
    // A u32 always fits a usize on the 64-bit targets ringpost runs on.
    match memchr_iter(b'\n', &message[body_start..]).nth(last as usize) {
        Some(lf) => &message[..body_start + lf + 1],
        None => message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stuffed(message: &[u8]) -> String {
        let mut out = b"+OK\r\n".to_vec();
        write_dot_stuffed(message, &mut out);
        String::from_utf8(out).unwrap_or_default()
    }

    #[test]
    fn crlf_lines_are_copied_and_terminated() {
        assert_eq!(stuffed(b"a\r\nb\r\n"), "+OK\r\na\r\nb\r\n.\r\n");
        assert_eq!(stuffed(b""), "+OK\r\n.\r\n");
        assert_eq!(stuffed(b"\r\n"), "+OK\r\n\r\n.\r\n");
    }

    #[test]
    fn dots_are_stuffed_at_every_line_start() {
        assert_eq!(
            stuffed(b".a\r\n..b\r\nc.\r\n.\r\n"),
            "+OK\r\n..a\r\n...b\r\nc.\r\n..\r\n.\r\n"
        );
        assert_eq!(stuffed(b"."), "+OK\r\n..\r\n.\r\n");
    }

    #[test]
    fn bare_lf_gets_a_cr_and_a_missing_line_end_is_added() {
        assert_eq!(stuffed(b"a\nb\r\nc"), "+OK\r\na\r\nb\r\nc\r\n.\r\n");
        assert_eq!(stuffed(b"\n.x\n"), "+OK\r\n\r\n..x\r\n.\r\n");
        assert_eq!(stuffed(b"a\r"), "+OK\r\na\r\n.\r\n");
        assert_eq!(stuffed(b"a\rb\r\n"), "+OK\r\na\rb\r\n.\r\n");
    }

    #[test]
    fn top_cuts_after_the_header_and_n_body_lines() {
        let m = b"A: 1\r\nB: 2\r\n\r\none\r\ntwo\r\nthree\r\n";
        assert_eq!(top(m, 0), b"A: 1\r\nB: 2\r\n\r\n");
        assert_eq!(top(m, 2), b"A: 1\r\nB: 2\r\n\r\none\r\ntwo\r\n");
        assert_eq!(top(m, 3), m);
        assert_eq!(top(m, 99), m);
        assert_eq!(top(b"A: 1\nB: 2\n\nx\ny\n", 1), b"A: 1\nB: 2\n\nx\n");
        assert_eq!(top(b"A: 1\r\nno blank line", 0), b"A: 1\r\nno blank line");
        assert_eq!(top(b"\r\nbody\r\n", 0), b"\r\n");
        assert_eq!(top(b"A: 1\r\n\r\nlast", 5), b"A: 1\r\n\r\nlast");
    }
}
