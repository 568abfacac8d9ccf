//! SMTP commands, parsed from one line into typed values (RFC 5321 §4.1.1, §4.1.2; RFC 3207
//! §4; RFC 4954 §4; RFC 1870 §6; RFC 6152 §2; RFC 6531 §3.4; RFC 3030 §2). Knows nothing of the session's state; never
//! does IO.

use super::dsn::{self, RecipientDsn, Ret};
use crate::sasl::Mechanism;
use crate::wire::keyword;

/// The client's name from EHLO/HELO: a domain or an address literal, as sent
/// (RFC 5321 §4.1.1.1). Only its shape is checked; it is never trusted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Domain(String);

impl Domain {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// `local-part@domain` (RFC 5321 §4.1.2). The local part is kept as sent (quoted or not).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mailbox {
    pub local_part: String,
    pub domain: String,
}

impl Mailbox {
    /// Whether the address is all ASCII; if not, the transaction needs SMTPUTF8 (RFC 6531 §3.4).
    pub fn is_ascii(&self) -> bool {
        self.local_part.is_ascii() && self.domain.is_ascii()
    }
}

impl std::fmt::Display for Mailbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}@{}", self.local_part, self.domain)
    }
}

/// The MAIL FROM path: `<>` for bounces (RFC 5321 §4.5.5) or a mailbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReversePath {
    Null,
    Mailbox(Mailbox),
}

/// The RCPT TO path (RFC 5321 §4.1.1.3): `<Postmaster>` needs no domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ForwardPath {
    Postmaster,
    Mailbox(Mailbox),
}

/// The BODY parameter of MAIL (RFC 6152 §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body {
    SevenBit,
    EightBitMime,
}

/// `MAIL FROM:<path> [SIZE=n] [BODY=7BIT|8BITMIME] [SMTPUTF8] [RET=…] [ENVID=…]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailFrom {
    pub reverse_path: ReversePath,
    /// The size the client declared (RFC 1870 §6), checked against the limit by the session.
    pub size: Option<u64>,
    pub body: Option<Body>,
    /// RFC 6531 §3.4: the transaction may use UTF-8 addresses and headers.
    pub smtputf8: bool,
    /// RFC 3461 §4.3, §4.4.
    pub ret: Option<Ret>,
    pub envid: Option<String>,
    /// RFC 8689 §4.1: the message may travel only over verified TLS (the session refuses it
    /// where REQUIRETLS is not offered: before TLS).
    pub requiretls: bool,
}

impl MailFrom {
    /// Whether any service-extension parameter was given (none is valid after HELO).
    pub fn has_parameters(&self) -> bool {
        self.size.is_some()
            || self.body.is_some()
            || self.smtputf8
            || self.requiretls
            || self.has_dsn_parameters()
    }

    /// Whether RET or ENVID was given.
    pub fn has_dsn_parameters(&self) -> bool {
        self.ret.is_some() || self.envid.is_some()
    }
}

/// `RCPT TO:<path> [NOTIFY=…] [ORCPT=…]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RcptTo {
    pub forward_path: ForwardPath,
    /// RFC 3461 §4.1, §4.2 (the session refuses them where DSN is not offered).
    pub dsn: RecipientDsn,
}

/// The mechanism named in `AUTH <mechanism>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMechanism {
    Known(Mechanism),
    /// Kept apart from a syntax error so the session can first check that AUTH is allowed.
    Unsupported,
}

/// One SMTP command with typed arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Ehlo(Domain),
    Helo(Domain),
    StartTls,
    /// RFC 4954 §4. `initial_response` is the base64 text as sent (`=` for an empty one).
    Auth {
        mechanism: AuthMechanism,
        initial_response: Option<Vec<u8>>,
    },
    Mail(MailFrom),
    Rcpt(RcptTo),
    Data,
    /// RFC 3030 §2: a chunk of exactly `size` octets follows the command line.
    Bdat {
        size: u64,
        last: bool,
    },
    Rset,
    Noop,
    Quit,
    Vrfy,
    Expn,
    Help,
}

/// Why a line is not a valid command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseError {
    /// Not a verb ringpost knows (RFC 5321 §4.2.4: 500).
    Unrecognized,
    /// A known verb with bad arguments (501, or 555 for parameters).
    Syntax(SyntaxError),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyntaxError {
    /// EHLO/HELO without a name.
    MissingDomain,
    /// Arguments to a command that takes none (STARTTLS, RSET, DATA, QUIT).
    UnexpectedArguments,
    /// A required argument is missing or malformed (AUTH, VRFY, BDAT).
    BadArguments,
    BadSender,
    BadRecipient,
    /// A MAIL/RCPT parameter ringpost does not offer (RFC 5321 §4.1.1.11: 555).
    UnknownParameter,
    /// A known parameter with a bad value.
    BadParameter,
}

use SyntaxError as S;

impl Command {
    /// Parse one command line (without its line ending). Verbs are case-insensitive
    /// (RFC 5321 §2.4).
    pub fn parse(line: &[u8]) -> Result<Command, ParseError> {
        let (verb, rest) = keyword::first_word(line);
        let rest = rest.map_or(&b""[..], keyword::trim_blanks);
        let verb = Verb::parse(verb).ok_or(ParseError::Unrecognized)?;
        let syntax = ParseError::Syntax;
        let no_args = |c: Command| {
            if rest.is_empty() {
                Ok(c)
            } else {
                Err(syntax(S::UnexpectedArguments))
            }
        };
        match verb {
            Verb::Ehlo => domain(rest).map(Command::Ehlo),
            Verb::Helo => domain(rest).map(Command::Helo),
            Verb::StartTls => no_args(Command::StartTls),
            Verb::Rset => no_args(Command::Rset),
            Verb::Data => no_args(Command::Data),
            Verb::Quit => no_args(Command::Quit),
            // RFC 5321 §4.1.1.9, §4.1.1.8: an argument is allowed and ignored.
            Verb::Noop => Ok(Command::Noop),
            Verb::Help => Ok(Command::Help),
            Verb::Vrfy | Verb::Expn if rest.is_empty() => Err(syntax(S::BadArguments)),
            Verb::Vrfy => Ok(Command::Vrfy),
            Verb::Expn => Ok(Command::Expn),
            Verb::Auth => {
                let words: Vec<&[u8]> = rest
                    .split(|&b| b == b' ')
                    .filter(|w| !w.is_empty())
                    .collect();
                match words.as_slice() {
                    [mech, ir @ ..] if ir.len() <= 1 => Ok(Command::Auth {
                        mechanism: Mechanism::parse(mech)
                            .map_or(AuthMechanism::Unsupported, AuthMechanism::Known),
                        initial_response: ir.first().map(|ir| ir.to_vec()),
                    }),
                    _ => Err(syntax(S::BadArguments)),
                }
            }
            Verb::Mail => mail_from(rest).map(Command::Mail).map_err(syntax),
            Verb::Rcpt => rcpt_to(rest).map(Command::Rcpt).map_err(syntax),
            Verb::Bdat => {
                let mut words = rest.split(|&b| b == b' ').filter(|w| !w.is_empty());
                let size = words.next().and_then(decimal);
                let last = match words.next() {
                    None => Some(false),
                    Some(w) if w.eq_ignore_ascii_case(b"LAST") => Some(true),
                    Some(_) => None,
                };
                match (size, last, words.next()) {
                    (Some(size), Some(last), None) => Ok(Command::Bdat { size, last }),
                    _ => Err(syntax(S::BadArguments)),
                }
            }
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Verb {
    Ehlo,
    Helo,
    StartTls,
    Auth,
    Mail,
    Rcpt,
    Data,
    Bdat,
    Rset,
    Noop,
    Quit,
    Vrfy,
    Expn,
    Help,
}

impl Verb {
    fn parse(word: &[u8]) -> Option<Verb> {
        const ALL: [(&[u8], Verb); 14] = [
            (b"EHLO", Verb::Ehlo),
            (b"HELO", Verb::Helo),
            (b"STARTTLS", Verb::StartTls),
            (b"AUTH", Verb::Auth),
            (b"MAIL", Verb::Mail),
            (b"RCPT", Verb::Rcpt),
            (b"DATA", Verb::Data),
            (b"BDAT", Verb::Bdat),
            (b"RSET", Verb::Rset),
            (b"NOOP", Verb::Noop),
            (b"QUIT", Verb::Quit),
            (b"VRFY", Verb::Vrfy),
            (b"EXPN", Verb::Expn),
            (b"HELP", Verb::Help),
        ];
        keyword::lookup(&ALL, word)
    }
}

/// EHLO/HELO argument: one word of printable ASCII (a domain or `[address literal]`).
fn domain(rest: &[u8]) -> Result<Domain, ParseError> {
    let word = rest.split(|&b| b == b' ').next().unwrap_or_default();
    if word.is_empty() {
        return Err(ParseError::Syntax(S::MissingDomain));
    }
    if !word.iter().all(|b| b.is_ascii_graphic()) {
        return Err(ParseError::Syntax(S::BadArguments));
    }
    // Checked as ASCII just above.
    Ok(Domain(String::from_utf8_lossy(word).into_owned()))
}

/// `FROM:<reverse-path> [SP mail-parameters]` (RFC 5321 §4.1.1.2).
fn mail_from(rest: &[u8]) -> Result<MailFrom, SyntaxError> {
    let (path, params) = path_and_params(rest, b"FROM:").ok_or(S::BadSender)?;
    let reverse_path = if path.is_empty() {
        ReversePath::Null
    } else {
        ReversePath::Mailbox(mailbox(path).ok_or(S::BadSender)?)
    };
    let mut mail = MailFrom {
        reverse_path,
        size: None,
        body: None,
        smtputf8: false,
        ret: None,
        envid: None,
        requiretls: false,
    };
    for param in params.split(|&b| b == b' ').filter(|w| !w.is_empty()) {
        let (key, value) = match param.iter().position(|&b| b == b'=') {
            Some(i) => (&param[..i], Some(&param[i + 1..])),
            None => (param, None),
        };
        if key.eq_ignore_ascii_case(b"SIZE") && mail.size.is_none() {
            mail.size = Some(value.and_then(decimal).ok_or(S::BadParameter)?);
        } else if key.eq_ignore_ascii_case(b"BODY") && mail.body.is_none() {
            mail.body = Some(match value {
                Some(v) if v.eq_ignore_ascii_case(b"7BIT") => Body::SevenBit,
                Some(v) if v.eq_ignore_ascii_case(b"8BITMIME") => Body::EightBitMime,
                _ => return Err(S::BadParameter),
            });
        } else if key.eq_ignore_ascii_case(b"SMTPUTF8") && !mail.smtputf8 {
            // RFC 6531 §3.4: the parameter takes no value.
            if value.is_some() {
                return Err(S::BadParameter);
            }
            mail.smtputf8 = true;
        } else if key.eq_ignore_ascii_case(b"REQUIRETLS") && !mail.requiretls {
            // RFC 8689 §4.1: no value.
            if value.is_some() {
                return Err(S::BadParameter);
            }
            mail.requiretls = true;
        } else if key.eq_ignore_ascii_case(b"RET") && mail.ret.is_none() {
            mail.ret = Some(value.and_then(dsn::parse_ret).ok_or(S::BadParameter)?);
        } else if key.eq_ignore_ascii_case(b"ENVID") && mail.envid.is_none() {
            mail.envid = Some(value.and_then(dsn::parse_envid).ok_or(S::BadParameter)?);
        } else {
            return Err(S::UnknownParameter);
        }
    }
    Ok(mail)
}

/// `TO:<forward-path> [NOTIFY=…] [ORCPT=…]` (RFC 5321 §4.1.1.3, RFC 3461 §4.1, §4.2).
fn rcpt_to(rest: &[u8]) -> Result<RcptTo, SyntaxError> {
    let (path, params) = path_and_params(rest, b"TO:").ok_or(S::BadRecipient)?;
    let mut dsn = RecipientDsn::default();
    for param in params.split(|&b| b == b' ').filter(|w| !w.is_empty()) {
        let (key, value) = match param.iter().position(|&b| b == b'=') {
            Some(i) => (&param[..i], Some(&param[i + 1..])),
            None => (param, None),
        };
        if key.eq_ignore_ascii_case(b"NOTIFY") && dsn.notify.is_none() {
            dsn.notify = Some(value.and_then(dsn::parse_notify).ok_or(S::BadParameter)?);
        } else if key.eq_ignore_ascii_case(b"ORCPT") && dsn.orcpt.is_none() {
            dsn.orcpt = Some(value.and_then(dsn::parse_orcpt).ok_or(S::BadParameter)?);
        } else {
            return Err(S::UnknownParameter);
        }
    }
    let forward_path = if path.eq_ignore_ascii_case(b"postmaster") {
        ForwardPath::Postmaster
    } else {
        ForwardPath::Mailbox(mailbox(path).ok_or(S::BadRecipient)?)
    };
    Ok(RcptTo { forward_path, dsn })
}

/// Split `FROM:<path> params` into the text between the brackets (source route removed,
/// RFC 5321 §4.1.2 and appendix C) and the parameters. A space after the colon is tolerated
/// (common clients send one).
fn path_and_params<'a>(rest: &'a [u8], prefix: &[u8]) -> Option<(&'a [u8], &'a [u8])> {
    if rest.len() < prefix.len() || !rest[..prefix.len()].eq_ignore_ascii_case(prefix) {
        return None;
    }
    let rest = keyword::trim_blanks(&rest[prefix.len()..]);
    let inner = rest.strip_prefix(b"<")?;
    let close = closing_bracket(inner)?;
    let (path, after) = (&inner[..close], &inner[close + 1..]);
    if !(after.is_empty() || after.starts_with(b" ")) {
        return None;
    }
    let path = match path.first() {
        // `@relay1,@relay2:user@domain`: the route is obsolete and ignored.
        Some(b'@') => &path[path.iter().position(|&b| b == b':')? + 1..],
        _ => path,
    };
    Some((path, keyword::trim_blanks(after)))
}

/// The index of the `>` that ends the path, skipping a quoted local part.
fn closing_bracket(inner: &[u8]) -> Option<usize> {
    let mut quoted = false;
    let mut escaped = false;
    for (i, &b) in inner.iter().enumerate() {
        match (quoted, escaped, b) {
            (true, true, _) => escaped = false,
            (true, false, b'\\') => escaped = true,
            (_, false, b'"') => quoted = !quoted,
            (false, _, b'>') => return Some(i),
            _ => {}
        }
    }
    None
}

/// `local-part@domain`: the last `@` splits (a quoted local part may contain one).
fn mailbox(path: &[u8]) -> Option<Mailbox> {
    let at = path.iter().rposition(|&b| b == b'@')?;
    let (local, domain) = (&path[..at], &path[at + 1..]);
    let quoted = local.len() >= 2 && local.starts_with(b"\"") && local.ends_with(b"\"");
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && local.iter().all(|&b| {
            if quoted {
                b >= b' ' && b != 0x7f
            } else {
                b > b' ' && b != 0x7f && !b"<>()[],;:\\\"@".contains(&b)
            }
        });
    let domain_ok = !domain.is_empty()
        && domain.len() <= 255
        && domain
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b".-[]:".contains(&b) || b >= 0x80);
    if !(local_ok && domain_ok) {
        return None;
    }
    Some(Mailbox {
        local_part: String::from_utf8(local.to_vec()).ok()?,
        domain: String::from_utf8(domain.to_vec()).ok()?,
    })
}

fn decimal(word: &[u8]) -> Option<u64> {
    if word.is_empty() || word.len() > 20 || !word.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(word).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mailbox(local: &str, domain: &str) -> Mailbox {
        Mailbox {
            local_part: local.into(),
            domain: domain.into(),
        }
    }

    #[test]
    fn mail_from_is_typed() {
        assert_eq!(
            Command::parse(b"mail from:<alice@example.com> size=1000 BODY=7bit"),
            Ok(Command::Mail(MailFrom {
                reverse_path: ReversePath::Mailbox(mailbox("alice", "example.com")),
                size: Some(1000),
                body: Some(Body::SevenBit),
                smtputf8: false,
                ret: None,
                envid: None,
                requiretls: false,
            }))
        );
        assert_eq!(
            Command::parse(b"MAIL FROM: <>"),
            Ok(Command::Mail(MailFrom {
                reverse_path: ReversePath::Null,
                size: None,
                body: None,
                smtputf8: false,
                ret: None,
                envid: None,
                requiretls: false,
            }))
        );
        assert_eq!(
            Command::parse(b"MAIL FROM:<@relay.example,@b.example:\"a b@c\"@example.com>"),
            Ok(Command::Mail(MailFrom {
                reverse_path: ReversePath::Mailbox(mailbox("\"a b@c\"", "example.com")),
                size: None,
                body: None,
                smtputf8: false,
                ret: None,
                envid: None,
                requiretls: false,
            }))
        );
    }

    #[test]
    fn mail_from_smtputf8_with_a_utf8_path() {
        let Ok(Command::Mail(mail)) =
            Command::parse("MAIL FROM:<jösé@exämple.com> smtputf8 BODY=8BITMIME".as_bytes())
        else {
            panic!("not parsed");
        };
        assert_eq!(
            mail,
            MailFrom {
                reverse_path: ReversePath::Mailbox(mailbox("jösé", "exämple.com")),
                size: None,
                body: Some(Body::EightBitMime),
                smtputf8: true,
                ret: None,
                envid: None,
                requiretls: false,
            }
        );
        let ReversePath::Mailbox(m) = &mail.reverse_path else {
            panic!("null path");
        };
        assert!(!m.is_ascii());
        assert_eq!(m.to_string(), "jösé@exämple.com");
    }

    #[test]
    fn bad_mail_from() {
        let bad = |line: &[u8], e| assert_eq!(Command::parse(line), Err(ParseError::Syntax(e)));
        bad(b"MAIL alice@example.com", S::BadSender);
        bad(b"MAIL FROM:alice@example.com", S::BadSender);
        bad(b"MAIL FROM:<alice>", S::BadSender);
        bad(b"MAIL FROM:<a b@example.com>", S::BadSender);
        bad(b"MAIL FROM:<a@example.com>x", S::BadSender);
        bad(
            b"MAIL FROM:<a@example.com> SIZE=1 SIZE=2",
            S::UnknownParameter,
        );
        bad(
            b"MAIL FROM:<a@example.com> BODY=BINARYMIME",
            S::BadParameter,
        );
        bad(b"MAIL FROM:<a@example.com> SIZE", S::BadParameter);
        bad(b"MAIL FROM:<a@example.com> SMTPUTF8=yes", S::BadParameter);
        bad(
            b"MAIL FROM:<a@example.com> SMTPUTF8 SMTPUTF8",
            S::UnknownParameter,
        );
    }

    #[test]
    fn rcpt_to_is_typed() {
        assert_eq!(
            Command::parse(b"RCPT TO:<Postmaster>"),
            Ok(Command::Rcpt(RcptTo {
                forward_path: ForwardPath::Postmaster,
                dsn: RecipientDsn::default(),
            }))
        );
        assert_eq!(
            Command::parse(b"rcpt to:<bob@example.com>"),
            Ok(Command::Rcpt(RcptTo {
                forward_path: ForwardPath::Mailbox(mailbox("bob", "example.com")),
                dsn: RecipientDsn::default(),
            }))
        );
        assert_eq!(
            Command::parse(b"RCPT TO:<bob@example.com> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;Bob+2Bx@example.com"),
            Ok(Command::Rcpt(RcptTo {
                forward_path: ForwardPath::Mailbox(mailbox("bob", "example.com")),
                dsn: RecipientDsn {
                    notify: Some(dsn::Notify::On {
                        success: true,
                        failure: true,
                        delay: false
                    }),
                    orcpt: Some("Bob+x@example.com".into()),
                },
            }))
        );
        for bad in [
            &b"RCPT TO:<bob@example.com> NOTIFY=SOMETIMES"[..],
            b"RCPT TO:<bob@example.com> NOTIFY=NEVER NOTIFY=NEVER",
            b"RCPT TO:<bob@example.com> ORCPT=x400;abc",
        ] {
            assert!(Command::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            Command::parse(b"RCPT TO:<bob@example.com> XFOO=1"),
            Err(ParseError::Syntax(S::UnknownParameter))
        );
    }

    #[test]
    fn mail_from_dsn_parameters() {
        let Ok(Command::Mail(mail)) =
            Command::parse(b"MAIL FROM:<a@example.com> RET=HDRS ENVID=QQ+2B314")
        else {
            panic!("not parsed");
        };
        assert_eq!(
            (mail.ret, mail.envid.as_deref()),
            (Some(Ret::Headers), Some("QQ+314"))
        );
        assert!(mail.has_dsn_parameters() && mail.has_parameters());
        assert!(Command::parse(b"MAIL FROM:<a@example.com> RET=ALL").is_err());
        let Ok(Command::Mail(mail)) = Command::parse(b"MAIL FROM:<a@example.com> requiretls")
        else {
            panic!("not parsed");
        };
        assert!(mail.requiretls && mail.has_parameters());
        assert!(Command::parse(b"MAIL FROM:<a@example.com> REQUIRETLS=yes").is_err());
        assert!(Command::parse(b"MAIL FROM:<a@example.com> ENVID=a+0Ab").is_err());
    }

    #[test]
    fn other_commands() {
        assert_eq!(
            Command::parse(b"ehlo client.example.org trailing"),
            Ok(Command::Ehlo(Domain("client.example.org".into())))
        );
        assert_eq!(
            Command::parse(b"AUTH LOGIN YWxpY2U="),
            Ok(Command::Auth {
                mechanism: AuthMechanism::Known(Mechanism::Login),
                initial_response: Some(b"YWxpY2U=".to_vec()),
            })
        );
        assert_eq!(
            Command::parse(b"BDAT 10 last"),
            Ok(Command::Bdat {
                size: 10,
                last: true
            })
        );
        assert_eq!(
            Command::parse(b"BDAT ten"),
            Err(ParseError::Syntax(S::BadArguments))
        );
        assert_eq!(Command::parse(b"MAILX"), Err(ParseError::Unrecognized));
    }
}
