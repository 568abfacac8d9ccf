//! What the client writes: commands with their ESMTP parameters (RFC 5321 §4.1.1, RFC 1870,
//! RFC 6152, RFC 6531, RFC 3461, RFC 6533, RFC 8689), AUTH responses (RFC 4954, RFC 4616)
//! and message content (line ends made CRLF, dot-stuffing, RFC 5321 §4.5.2).

use std::fmt::Write as _;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use memchr::{memchr2, memchr_iter};

use super::{BodyType, Notify, Recipient, Ret};

/// Append `text` and CRLF.
pub(super) fn line(out: &mut Vec<u8>, text: &str) {
    out.extend_from_slice(text.as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// Whether `address` can be written between `<` and `>` without changing the command: no
/// control character, space, `<` or `>` (anything else is the server's to judge).
pub(super) fn is_writable_address(address: &str) -> bool {
    !address
        .chars()
        .any(|c| c.is_control() || c == ' ' || c == '<' || c == '>')
}

/// The parameters MAIL carries, decided by the transaction from the envelope and the
/// server's extensions.
#[derive(Debug, Default)]
pub(super) struct MailParameters<'a> {
    pub(super) size: Option<usize>,
    pub(super) body: Option<BodyType>,
    pub(super) smtputf8: bool,
    pub(super) ret: Option<Ret>,
    pub(super) envid: Option<&'a str>,
    pub(super) requiretls: bool,
}

/// `MAIL FROM:<reverse-path>` and its parameters.
pub(super) fn mail(out: &mut Vec<u8>, reverse_path: &str, p: &MailParameters<'_>) {
    let mut text = format!("MAIL FROM:<{reverse_path}>");
    // Writing to a String cannot fail.
    if let Some(size) = p.size {
        let _ = write!(text, " SIZE={size}");
    }
    match p.body {
        Some(BodyType::EightBitMime) => text.push_str(" BODY=8BITMIME"),
        Some(BodyType::BinaryMime) => text.push_str(" BODY=BINARYMIME"),
        Some(BodyType::SevenBit) | None => {}
    }
    if p.smtputf8 {
        text.push_str(" SMTPUTF8");
    }
    match p.ret {
        Some(Ret::Full) => text.push_str(" RET=FULL"),
        Some(Ret::Headers) => text.push_str(" RET=HDRS"),
        None => {}
    }
    if let Some(envid) = p.envid {
        let _ = write!(text, " ENVID={}", xtext(envid));
    }
    if p.requiretls {
        text.push_str(" REQUIRETLS");
    }
    line(out, &text);
}

/// `RCPT TO:<forward-path>`, with NOTIFY and ORCPT when `dsn`.
pub(super) fn rcpt(out: &mut Vec<u8>, recipient: &Recipient, dsn: bool) {
    let mut text = format!("RCPT TO:<{}>", recipient.address);
    if dsn {
        match recipient.notify {
            None => {}
            Some(Notify::Never)
            | Some(Notify::On {
                success: false,
                failure: false,
                delay: false,
            }) => text.push_str(" NOTIFY=NEVER"),
            Some(Notify::On {
                success,
                failure,
                delay,
            }) => {
                let on: Vec<&str> = [(success, "SUCCESS"), (failure, "FAILURE"), (delay, "DELAY")]
                    .iter()
                    .filter(|(set, _)| *set)
                    .map(|(_, name)| *name)
                    .collect();
                let _ = write!(text, " NOTIFY={}", on.join(","));
            }
        }
        if let Some(original) = &recipient.orcpt {
            text.push_str(" ORCPT=");
            text.push_str(&orcpt(original));
        }
    }
    line(out, &text);
}

/// RFC 3461 §4.2's `addr-type ";" xtext`: `rfc822` for an ASCII address, RFC 6533 §3's
/// `utf-8` with `utf-8-addr-xtext` otherwise (valid with or without SMTPUTF8).
fn orcpt(address: &str) -> String {
    if address.is_ascii() {
        return format!("rfc822;{}", xtext(address));
    }
    let mut out = String::from("utf-8;");
    for c in address.chars() {
        match c {
            // QCHAR: printable ASCII but `+`, `=` and `\`.
            '!'..='~' if !matches!(c, '+' | '=' | '\\') => out.push(c),
            _ => {
                let _ = write!(out, "\\x{{{:X}}}", u32::from(c));
            }
        }
    }
    out
}

/// RFC 3461 §4: `!` to `~` but `+` and `=` as they are, every other octet `+HH`.
pub(crate) fn xtext(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for &b in text.as_bytes() {
        if (b'!'..=b'~').contains(&b) && b != b'+' && b != b'=' {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "+{b:02X}");
        }
    }
    out
}

/// `AUTH PLAIN` with its initial response (RFC 4616 §2: empty authorization identity).
pub(super) fn auth_plain(out: &mut Vec<u8>, user: &str, password: &str) {
    let mut message = Vec::with_capacity(user.len() + password.len() + 2);
    message.push(0);
    message.extend_from_slice(user.as_bytes());
    message.push(0);
    message.extend_from_slice(password.as_bytes());
    line(out, &format!("AUTH PLAIN {}", STANDARD.encode(&message)));
}

/// One base64 line answering a 334 challenge (AUTH LOGIN's user name or password).
pub(super) fn auth_response(out: &mut Vec<u8>, response: &str) {
    line(out, &STANDARD.encode(response.as_bytes()));
}

/// `message` with CRLF line ends: every bare CR or LF becomes CRLF, and a CRLF is added at
/// the end of a non-empty message that lacks one. These are the octets SIZE= counts.
pub(super) fn canonical(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + 2);
    let mut start = 0;
    while let Some(k) = memchr2(b'\r', b'\n', &message[start..]) {
        let at = start + k;
        out.extend_from_slice(&message[start..at]);
        out.extend_from_slice(b"\r\n");
        start = if message[at] == b'\r' && message.get(at + 1) == Some(&b'\n') {
            at + 2
        } else {
            at + 1
        };
    }
    out.extend_from_slice(&message[start..]);
    if !out.is_empty() && !out.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Append canonical `content` dot-stuffed (a line starting with `.` gets another one), then
/// the end of data `.` CRLF (RFC 5321 §4.5.2).
pub(super) fn dot_stuffed(out: &mut Vec<u8>, content: &[u8]) {
    out.reserve(content.len() + content.len() / 64 + 3);
    let mut start = 0;
    for end in memchr_iter(b'\n', content)
        .map(|nl| nl + 1)
        .chain([content.len()])
    {
        if start == end {
            continue;
        }
        if content[start] == b'.' {
            out.push(b'.');
        }
        out.extend_from_slice(&content[start..end]);
        start = end;
    }
    out.extend_from_slice(b".\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_makes_every_line_end_crlf() {
        assert_eq!(canonical(b"a\r\nb\r\n"), b"a\r\nb\r\n");
        assert_eq!(canonical(b"a\nb"), b"a\r\nb\r\n");
        assert_eq!(canonical(b"a\rb\r"), b"a\r\nb\r\n");
        assert_eq!(canonical(b"\n.\n"), b"\r\n.\r\n");
        assert_eq!(canonical(b"a\r\r\n"), b"a\r\n\r\n");
        assert_eq!(canonical(b""), b"");
    }

    #[test]
    fn dot_stuffing_doubles_leading_dots_only() {
        let mut out = Vec::new();
        dot_stuffed(&mut out, b".a\r\nb.\r\n..\r\n.\r\n");
        assert_eq!(out, b"..a\r\nb.\r\n...\r\n..\r\n.\r\n");
        let mut out = Vec::new();
        dot_stuffed(&mut out, b"");
        assert_eq!(out, b".\r\n");
    }

    #[test]
    fn xtext_and_orcpt() {
        assert_eq!(xtext("a+b=c d\u{e9}"), "a+2Bb+3Dc+20d+C3+A9");
        assert_eq!(orcpt("bob@example.com"), "rfc822;bob@example.com");
        assert_eq!(orcpt("b+o=b@example.com"), "rfc822;b+2Bo+3Db@example.com");
        assert_eq!(
            orcpt("j\u{f6}rg+x@b\u{fc}cher.example"),
            "utf-8;j\\x{F6}rg\\x{2B}x@b\\x{FC}cher.example"
        );
    }

    #[test]
    fn addresses_that_would_change_the_command_are_not_writable() {
        assert!(is_writable_address("bob@example.com"));
        assert!(is_writable_address("j\u{f6}rg@example.com"));
        assert!(is_writable_address(""));
        for bad in ["a b@x", "a>@x", "<a@x", "a@x\r\nRSET", "a\u{85}@x"] {
            assert!(!is_writable_address(bad), "{bad:?}");
        }
    }

    #[test]
    fn auth_plain_has_an_empty_authorization_identity() {
        let mut out = Vec::new();
        auth_plain(&mut out, "relay", "secret");
        assert_eq!(out, b"AUTH PLAIN AHJlbGF5AHNlY3JldA==\r\n");
    }
}
