//! Server replies (RFC 5321 §4.2): lines framed by [`LineBuffer`](crate::wire::LineBuffer),
//! gathered here into one reply, and the enhanced status code split off (RFC 2034, RFC 3463).

use std::fmt;

/// One reply: the server's, or one the session made up for an outcome of its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// Three digits, the first 2 to 5.
    pub code: u16,
    pub enhanced: Option<EnhancedStatus>,
    /// The text of every line, without code and enhanced code, joined with single spaces.
    pub text: String,
}

/// `class.subject.detail` (RFC 3463 §2), e.g. `5.1.1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EnhancedStatus {
    pub class: u8,
    pub subject: u16,
    pub detail: u16,
}

impl fmt::Display for EnhancedStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.class, self.subject, self.detail)
    }
}

impl fmt::Display for Reply {
    /// As the server would have written a one-line reply: `550 5.1.1 No such user`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.code)?;
        if let Some(enhanced) = self.enhanced {
            write!(f, " {enhanced}")?;
        }
        if !self.text.is_empty() {
            write!(f, " {}", self.text)?;
        }
        Ok(())
    }
}

/// The class of a reply, from its first digit (RFC 5321 §4.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Class {
    Positive,
    Intermediate,
    Transient,
    Permanent,
}

impl Reply {
    /// A reply the session makes up (`class.subject.detail` must match `code`'s class).
    pub(super) fn synthetic(code: u16, enhanced: (u8, u16, u16), text: impl Into<String>) -> Reply {
        let (class, subject, detail) = enhanced;
        Reply {
            code,
            enhanced: Some(EnhancedStatus {
                class,
                subject,
                detail,
            }),
            text: text.into(),
        }
    }

    pub(super) fn class(&self) -> Class {
        match self.code / 100 {
            2 => Class::Positive,
            3 => Class::Intermediate,
            4 => Class::Transient,
            // The reader accepts nothing but 2 to 5; a synthetic reply is 4xx or 5xx.
            _ => Class::Permanent,
        }
    }
}

/// A complete reply before its text is interpreted: EHLO keywords are read from the lines,
/// other replies become a [`Reply`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct RawReply {
    pub(super) code: u16,
    /// Each line's text after the code and its separator, sanitised.
    pub(super) lines: Vec<String>,
}

impl RawReply {
    /// The reply, with its enhanced status code split off when the server announced
    /// ENHANCEDSTATUSCODES (`enhanced`). Every line carries the code (RFC 2034 §3); it is
    /// taken from the first and removed from each line that has it.
    pub(super) fn into_reply(self, enhanced: bool) -> Reply {
        let class = (self.code / 100) as u8;
        let mut status = None;
        let mut parts: Vec<&str> = Vec::with_capacity(self.lines.len());
        for (i, line) in self.lines.iter().enumerate() {
            let mut text = line.as_str();
            if enhanced {
                if let Some((found, rest)) = split_enhanced(text, class) {
                    if i == 0 {
                        status = Some(found);
                    }
                    text = rest;
                }
            }
            if !text.is_empty() {
                parts.push(text);
            }
        }
        Reply {
            code: self.code,
            enhanced: status,
            text: parts.join(" "),
        }
    }
}

/// `text`'s leading `class.subject.detail` and the text after it and its space, if it starts
/// with one of `class` (RFC 3463 §2: subject and detail of one to three digits).
fn split_enhanced(text: &str, class: u8) -> Option<(EnhancedStatus, &str)> {
    let (word, rest) = match text.find(' ') {
        Some(at) => (&text[..at], &text[at + 1..]),
        None => (text, ""),
    };
    let mut fields = word.split('.');
    let c = fields.next()?;
    let s = fields.next()?;
    let d = fields.next()?;
    if fields.next().is_some() || c.len() != 1 {
        return None;
    }
    let digits = |f: &str| (1..=3).contains(&f.len()) && f.bytes().all(|b| b.is_ascii_digit());
    if !digits(s) || !digits(d) {
        return None;
    }
    let found = EnhancedStatus {
        class: c.parse().ok()?,
        subject: s.parse().ok()?,
        detail: d.parse().ok()?,
    };
    (found.class == class).then_some((found, rest))
}

/// Why a reply could not be read; each ends the session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum ReplyError {
    /// Not `ddd`, `ddd text` or `ddd-text` with a valid code; `head` is the line's start.
    Malformed {
        head: String,
    },
    /// A continuation line with another code than the first line.
    CodeChanged {
        first: u16,
        then: u16,
    },
    TooManyLines,
    LineTooLong,
}

impl ReplyError {
    /// The reply reported for this failure.
    pub(super) fn reply(&self, max_lines: usize, max_line: usize) -> Reply {
        let text = match self {
            ReplyError::Malformed { head } => format!("Malformed reply from the server: {head}"),
            ReplyError::CodeChanged { first, then } => {
                format!("Reply code changed from {first} to {then} within one reply")
            }
            ReplyError::TooManyLines => format!("Reply from the server over {max_lines} lines"),
            ReplyError::LineTooLong => {
                format!("Reply line from the server over {max_line} octets")
            }
        };
        Reply::synthetic(451, (4, 5, 0), text)
    }
}

/// Gathers reply lines until the last one (`ddd ` or a bare `ddd`).
#[derive(Debug)]
pub(super) struct ReplyReader {
    code: u16,
    lines: Vec<String>,
    max_lines: usize,
}

impl ReplyReader {
    pub(super) fn new(max_lines: usize) -> ReplyReader {
        ReplyReader {
            code: 0,
            lines: Vec::new(),
            max_lines,
        }
    }

    /// One line, without its line end: the complete reply after its last line.
    pub(super) fn push(&mut self, line: &[u8]) -> Result<Option<RawReply>, ReplyError> {
        let (code, last, text) = parse_line(line)?;
        if self.lines.is_empty() {
            self.code = code;
        } else if code != self.code {
            return Err(ReplyError::CodeChanged {
                first: self.code,
                then: code,
            });
        }
        if self.lines.len() == self.max_lines {
            return Err(ReplyError::TooManyLines);
        }
        self.lines.push(text);
        if !last {
            return Ok(None);
        }
        Ok(Some(RawReply {
            code: self.code,
            lines: std::mem::take(&mut self.lines),
        }))
    }
}

/// `Reply-line = *( Reply-code "-" [ textstring ] CRLF ) Reply-code [ SP textstring ] CRLF`
/// (RFC 5321 §4.2); the code's digits are `%x32-35 %x30-35 %x30-39`.
fn parse_line(line: &[u8]) -> Result<(u16, bool, String), ReplyError> {
    let malformed = || ReplyError::Malformed {
        head: sanitise(&line[..line.len().min(64)]),
    };
    let (digits, rest) = line.split_at_checked(3).ok_or_else(malformed)?;
    let &[a @ b'2'..=b'5', b @ b'0'..=b'5', c @ b'0'..=b'9'] = digits else {
        return Err(malformed());
    };
    let code = u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0');
    match rest {
        [] => Ok((code, true, String::new())),
        [b' ', text @ ..] => Ok((code, true, sanitise(text))),
        [b'-', text @ ..] => Ok((code, false, sanitise(text))),
        _ => Err(malformed()),
    }
}

/// Reply text as a string fit for logs and DSNs: invalid UTF-8 and control characters (a CR
/// left over before a bare LF included) become U+FFFD.
fn sanitise(text: &[u8]) -> String {
    String::from_utf8_lossy(text)
        .chars()
        .map(|c| {
            if c.is_control() && c != '\t' {
                char::REPLACEMENT_CHARACTER
            } else {
                c
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn read(reader: &mut ReplyReader, lines: &[&str]) -> Result<Option<RawReply>, ReplyError> {
        let mut last = Ok(None);
        for l in lines {
            last = reader.push(l.as_bytes());
            if last.is_err() {
                break;
            }
        }
        last
    }

    #[test]
    fn multiline_reply_is_gathered_and_joined() {
        let mut r = ReplyReader::new(10);
        let raw = read(&mut r, &["250-first", "250-", "250 last"])
            .unwrap()
            .unwrap();
        assert_eq!(raw.lines, ["first", "", "last"]);
        assert_eq!(
            raw.into_reply(false),
            Reply {
                code: 250,
                enhanced: None,
                text: "first last".into()
            }
        );
        assert_eq!(r.push(b"354").unwrap().unwrap().lines, [""]);
    }

    #[test]
    fn enhanced_codes_only_when_announced_and_of_the_same_class() {
        let raw = RawReply {
            code: 550,
            lines: vec!["5.1.1 No such".into(), "5.1.1 user".into()],
        };
        let reply = raw.clone().into_reply(true);
        assert_eq!(reply.to_string(), "550 5.1.1 No such user");
        assert_eq!(
            reply.enhanced,
            Some(EnhancedStatus {
                class: 5,
                subject: 1,
                detail: 1
            })
        );
        assert_eq!(raw.into_reply(false).text, "5.1.1 No such 5.1.1 user");
        for (line, found) in [
            ("4.1.1 wrong class", false),
            ("5.1000.1 too long", false),
            ("5.1 short", false),
            ("5.1.1.1 long", false),
            ("5.a.1 letters", false),
            ("5.7.30", true),
        ] {
            let raw = RawReply {
                code: 554,
                lines: vec![line.into()],
            };
            assert_eq!(raw.into_reply(true).enhanced.is_some(), found, "{line}");
        }
    }

    #[test]
    fn malformed_lines_are_refused() {
        for line in ["", "25", "2500 x", "250x", "150 x", "260 x", "abc", "25 0"] {
            let mut r = ReplyReader::new(10);
            assert!(
                matches!(r.push(line.as_bytes()), Err(ReplyError::Malformed { .. })),
                "{line:?}"
            );
        }
        let mut r = ReplyReader::new(10);
        assert_eq!(
            read(&mut r, &["250-a", "251 b"]),
            Err(ReplyError::CodeChanged {
                first: 250,
                then: 251
            })
        );
        let mut r = ReplyReader::new(2);
        assert_eq!(
            read(&mut r, &["250-a", "250-b", "250 c"]),
            Err(ReplyError::TooManyLines)
        );
    }

    #[test]
    fn control_characters_and_bad_utf8_are_replaced() {
        let mut r = ReplyReader::new(10);
        let raw = r.push(b"250 a\rb\x00c\xffd\te").unwrap().unwrap();
        assert_eq!(raw.lines, ["a\u{fffd}b\u{fffd}c\u{fffd}d\te"]);
    }
}
