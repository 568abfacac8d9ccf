//! Framing: splitting a byte stream into CRLF-terminated lines with memchr, without copying
//! lines out of the buffer, and with a hard line-length limit.
//!
//! [`deflate`] is the raw DEFLATE codec a connection's bytes may pass through (IMAP COMPRESS).
//! [`replication`] frames the log shipped from a partition's primary to its replicas.
//!
//! This module knows nothing of any protocol: IMAP literals and SMTP dot-stuffing are built
//! on top of it by the protocol modules. It never does IO.

pub mod deflate;
pub mod keyword;
mod line;
pub mod link;
pub mod replication;

pub use line::{Frame, LineBuffer, TOO_LONG_HEAD};

/// `raw` with every bare LF turned into CRLF; returned as is when it has none.
pub fn crlf(raw: Vec<u8>) -> Vec<u8> {
    let bare = memchr::memchr_iter(b'\n', &raw)
        .filter(|&i| i == 0 || raw[i - 1] != b'\r')
        .count();
    if bare == 0 {
        return raw;
    }
    let mut out = Vec::with_capacity(raw.len() + bare);
    let mut start = 0;
    for i in memchr::memchr_iter(b'\n', &raw) {
        out.extend_from_slice(&raw[start..i]);
        if i == 0 || raw[i - 1] != b'\r' {
            out.push(b'\r');
        }
        out.push(b'\n');
        start = i + 1;
    }
    out.extend_from_slice(&raw[start..]);
    out
}

#[cfg(test)]
mod tests {
    use super::crlf;

    #[test]
    fn bare_lf_becomes_crlf_and_crlf_stays() {
        assert_eq!(crlf(b"a\nb\r\nc\n\nd".to_vec()), b"a\r\nb\r\nc\r\n\r\nd");
        assert_eq!(crlf(b"\nx".to_vec()), b"\r\nx");
        assert_eq!(crlf(b"a\r\nb\r\n".to_vec()), b"a\r\nb\r\n");
        assert_eq!(crlf(Vec::new()), b"");
        // A lone CR is left alone: only line ends are canonicalised.
        assert_eq!(crlf(b"a\rb\n".to_vec()), b"a\rb\r\n");
    }
}
