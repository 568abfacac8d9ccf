//! The DSN service extension's parameters (RFC 3461 §4) as the server reads them: `RET` and
//! `ENVID` on MAIL, `NOTIFY` and `ORCPT` on RCPT, with xtext (§4) and RFC 6533's
//! `utf-8-addr-xtext` decoded. Offered on every SMTP listener: for local recipients ringpost
//! is the final hop (a `delivered` report on `NOTIFY=SUCCESS`); for the recipients it relays
//! (submission) it reports failures and delays as asked and passes the parameters on. The
//! types are the SMTP client's, which writes them again towards the next hop.

pub use super::client::{Notify, Ret};

/// ENVID's longest value (RFC 3461 §4.4).
pub const MAX_ENVID: usize = 100;
/// ORCPT's longest value (RFC 3461 §4.2: 500 characters).
pub const MAX_ORCPT: usize = 500;

/// The DSN parameters of one recipient.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecipientDsn {
    pub notify: Option<Notify>,
    /// The original recipient address, decoded (the addr-type dropped).
    pub orcpt: Option<String>,
}

/// The DSN parameters of one message: RET and ENVID, and each recipient's, in the order of
/// the delivery's local and remote recipient lists; and REQUIRETLS (RFC 8689), the other
/// MAIL parameter that travels with the message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MessageDsn {
    pub ret: Option<Ret>,
    pub envid: Option<String>,
    pub requiretls: bool,
    pub local: Vec<RecipientDsn>,
    pub remote: Vec<RecipientDsn>,
}

/// `NOTIFY=NEVER` or a comma-separated set of `SUCCESS`, `FAILURE`, `DELAY` (§4.1).
pub fn parse_notify(value: &[u8]) -> Option<Notify> {
    let text = std::str::from_utf8(value).ok()?;
    if text.eq_ignore_ascii_case("NEVER") {
        return Some(Notify::Never);
    }
    let (mut success, mut failure, mut delay) = (false, false, false);
    for word in text.split(',') {
        let flag = if word.eq_ignore_ascii_case("SUCCESS") {
            &mut success
        } else if word.eq_ignore_ascii_case("FAILURE") {
            &mut failure
        } else if word.eq_ignore_ascii_case("DELAY") {
            &mut delay
        } else {
            return None;
        };
        if *flag {
            return None;
        }
        *flag = true;
    }
    Some(Notify::On {
        success,
        failure,
        delay,
    })
}

/// `RET=FULL` or `RET=HDRS` (§4.3).
pub fn parse_ret(value: &[u8]) -> Option<Ret> {
    if value.eq_ignore_ascii_case(b"FULL") {
        Some(Ret::Full)
    } else if value.eq_ignore_ascii_case(b"HDRS") {
        Some(Ret::Headers)
    } else {
        None
    }
}

/// `ENVID=xtext`, decoded; at most [`MAX_ENVID`] characters and printable ASCII (§4.4).
pub fn parse_envid(value: &[u8]) -> Option<String> {
    let text = xtext_decode(value)?;
    (!text.is_empty()
        && text.len() <= MAX_ENVID
        && text.bytes().all(|b| (b' '..=b'~').contains(&b)))
    .then_some(text)
}

/// `ORCPT=addr-type;xtext` (§4.2): `rfc822` with xtext, or `utf-8` with RFC 6533 §3's
/// escapes; the address, decoded.
pub fn parse_orcpt(value: &[u8]) -> Option<String> {
    if value.len() > MAX_ORCPT {
        return None;
    }
    let semicolon = value.iter().position(|&b| b == b';')?;
    let (kind, encoded) = (&value[..semicolon], &value[semicolon + 1..]);
    let address = if kind.eq_ignore_ascii_case(b"rfc822") {
        xtext_decode(encoded)?
    } else if kind.eq_ignore_ascii_case(b"utf-8") {
        utf8_addr_decode(encoded)?
    } else {
        return None;
    };
    (!address.is_empty() && !address.chars().any(char::is_control)).then_some(address)
}

/// xtext (§4): `+HH` for an octet, `!`..`~` but `+` and `=` as themselves.
pub fn xtext_decode(value: &[u8]) -> Option<String> {
    let mut out = Vec::with_capacity(value.len());
    let mut i = 0;
    while i < value.len() {
        match value[i] {
            b'+' => {
                let hex = value.get(i + 1..i + 3)?;
                if !hex
                    .iter()
                    .all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(b))
                {
                    return None;
                }
                out.push(u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?);
                i += 3;
            }
            b'=' => return None,
            b @ b'!'..=b'~' => {
                out.push(b);
                i += 1;
            }
            _ => return None,
        }
    }
    String::from_utf8(out).ok()
}

/// RFC 6533 §3: printable ASCII but `+`, `=` and `\` as themselves, `\x{HEX}` for any
/// other character; raw UTF-8 is also allowed (with SMTPUTF8).
fn utf8_addr_decode(value: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(value).ok()?;
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if let Some(after) = rest.strip_prefix("\\x{") {
            let end = after.find('}')?;
            let code = u32::from_str_radix(&after[..end], 16).ok()?;
            out.push(char::from_u32(code)?);
            rest = &after[end + 1..];
        } else if matches!(c, '+' | '=' | '\\') || c.is_control() || c == ' ' {
            return None;
        } else {
            out.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notify_sets() {
        assert_eq!(parse_notify(b"never"), Some(Notify::Never));
        assert_eq!(
            parse_notify(b"SUCCESS,delay"),
            Some(Notify::On {
                success: true,
                failure: false,
                delay: true
            })
        );
        for bad in [
            &b""[..],
            b"NEVER,FAILURE",
            b"FAILURE,FAILURE",
            b"SOMETIMES",
            b"FAILURE,",
        ] {
            assert_eq!(parse_notify(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn ret_envid_orcpt() {
        assert_eq!(parse_ret(b"hdrs"), Some(Ret::Headers));
        assert_eq!(parse_ret(b"BODY"), None);
        assert_eq!(parse_envid(b"QQ+2B314"), Some("QQ+314".into()));
        assert_eq!(parse_envid(b"a+0Ab"), None, "control characters");
        assert_eq!(parse_envid(&[b'x'; 101]), None);
        assert_eq!(
            parse_orcpt(b"rfc822;Bob+2Bx@Example.org"),
            Some("Bob+x@Example.org".into())
        );
        assert_eq!(
            parse_orcpt(b"utf-8;j\\x{F6}rg@example.org"),
            Some("j\u{f6}rg@example.org".into())
        );
        for bad in [
            &b"x400;abc"[..],
            b"rfc822;",
            b"rfc822;a+2",
            b"rfc822;a+0Db",
            b"noseparator",
        ] {
            assert_eq!(parse_orcpt(bad), None, "{bad:?}");
        }
        // What the client writes, the server reads back.
        let written = crate::smtp::client::xtext("a+b=c@x.org");
        assert_eq!(xtext_decode(written.as_bytes()), Some("a+b=c@x.org".into()));
    }
}
