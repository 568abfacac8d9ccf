//! A minimal IMAP4rev1 client: greeting, STARTTLS, LOGIN, tagged commands with untagged
//! responses and literals read through, APPEND with a synchronizing literal, LOGOUT.

use crate::conn::{Conn, Endpoint, TlsMode};
use crate::error::Failure;

pub struct Imap {
    pub conn: Conn,
    tag: u32,
    /// The selected mailbox's message count, kept up to date from EXISTS/EXPUNGE.
    pub exists: u32,
}

/// A completed command: the tagged status was OK.
pub struct Done {
    /// `* SEARCH` results, when the command was a SEARCH.
    pub search_hits: usize,
}

/// Quote a string for IMAP (RFC 9051 quoted: backslash-escape `"` and `\`).
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// The `{n}` at the end of a line, if any.
fn literal_len(line: &[u8]) -> Option<usize> {
    if line.last() != Some(&b'}') {
        return None;
    }
    let open = line.iter().rposition(|&b| b == b'{')?;
    let digits = &line[open + 1..line.len() - 1];
    let digits = digits.strip_suffix(b"+").unwrap_or(digits);
    std::str::from_utf8(digits).ok()?.parse().ok()
}

impl Imap {
    /// Connect, read the greeting, and upgrade with STARTTLS when asked to.
    pub fn connect(ep: &Endpoint) -> Result<Imap, Failure> {
        let conn = Conn::open(ep)?;
        let mut imap = Imap {
            conn,
            tag: 0,
            exists: 0,
        };
        let greeting = imap.conn.read_line()?;
        if greeting.starts_with(b"* BYE") {
            return Err(Failure::reply("greeting", "BYE", &greeting));
        }
        if !greeting.starts_with(b"* OK") && !greeting.starts_with(b"* PREAUTH") {
            return Err(Failure::Protocol("bad IMAP greeting".into()));
        }
        if ep.tls == TlsMode::Starttls {
            imap.command("STARTTLS", "STARTTLS")?;
            imap.conn.start_tls(ep)?;
        }
        Ok(imap)
    }

    pub fn login(&mut self, user: &str, pass: &str) -> Result<(), Failure> {
        self.command("LOGIN", &format!("LOGIN {} {}", quote(user), quote(pass)))
            .map(|_| ())
    }

    pub fn select(&mut self, mailbox: &str) -> Result<u32, Failure> {
        self.exists = 0;
        self.command("SELECT", &format!("SELECT {}", quote(mailbox)))?;
        Ok(self.exists)
    }

    pub fn logout(mut self) -> Result<(), Failure> {
        let r = self.command("LOGOUT", "LOGOUT").map(|_| ());
        self.conn.close();
        r
    }

    fn next_tag(&mut self) -> String {
        self.tag += 1;
        format!("a{}", self.tag)
    }

    /// Send `line` as one tagged command and read up to its tagged reply.
    pub fn command(&mut self, name: &'static str, line: &str) -> Result<Done, Failure> {
        let tag = self.next_tag();
        self.conn
            .write_all(format!("{tag} {line}\r\n").as_bytes())?;
        self.read_until_tagged(name, &tag, false)
    }

    /// APPEND with a synchronizing literal (every server supports it; LITERAL+ is not
    /// assumed).
    pub fn append(&mut self, mailbox: &str, message: &[u8]) -> Result<(), Failure> {
        let tag = self.next_tag();
        self.conn.write_all(
            format!("{tag} APPEND {} {{{}}}\r\n", quote(mailbox), message.len()).as_bytes(),
        )?;
        self.read_until_tagged("APPEND", &tag, true)?;
        let mut data = Vec::with_capacity(message.len() + 2);
        data.extend_from_slice(message);
        data.extend_from_slice(b"\r\n");
        self.conn.write_all(&data)?;
        self.read_until_tagged("APPEND", &tag, false).map(|_| ())
    }

    /// Read responses until the tagged one for `tag` (or, with `want_continuation`, until a
    /// `+` continuation request, which then returns Ok).
    fn read_until_tagged(
        &mut self,
        name: &'static str,
        tag: &str,
        want_continuation: bool,
    ) -> Result<Done, Failure> {
        let mut search_hits = 0;
        // Bounded: a server streaming untagged data forever is cut off by the read
        // time-out of the socket, and this loop by the count below.
        for _ in 0..10_000_000u32 {
            let line = self.conn.read_line()?;
            // Read through literals: the response continues after the literal's bytes, and
            // is classified by its first line.
            let mut tail_literal = literal_len(&line);
            let mut guard = 0u32;
            while let Some(n) = tail_literal {
                self.conn.skip_exact(n)?;
                tail_literal = literal_len(&self.conn.read_line()?);
                guard += 1;
                if guard > 1_000_000 {
                    return Err(Failure::Protocol("too many literals".into()));
                }
            }
            if let Some(rest) = line.strip_prefix(b"* ") {
                self.untagged(rest, &mut search_hits);
                continue;
            }
            if line.starts_with(b"+") {
                if want_continuation {
                    return Ok(Done { search_hits });
                }
                return Err(Failure::Protocol(format!(
                    "unexpected continuation request during {name}"
                )));
            }
            let Some(rest) = line
                .strip_prefix(tag.as_bytes())
                .and_then(|r| r.strip_prefix(b" "))
            else {
                return Err(Failure::Protocol(format!(
                    "unexpected line during {name}: {}",
                    String::from_utf8_lossy(&line[..line.len().min(80)])
                )));
            };
            if rest.len() >= 2 && rest[..2].eq_ignore_ascii_case(b"OK") {
                return Ok(Done { search_hits });
            }
            let code = if rest.len() >= 2 && rest[..2].eq_ignore_ascii_case(b"NO") {
                "NO"
            } else if rest.len() >= 3 && rest[..3].eq_ignore_ascii_case(b"BAD") {
                "BAD"
            } else {
                return Err(Failure::Protocol("bad tagged status".into()));
            };
            return Err(Failure::reply(name, code, rest));
        }
        Err(Failure::Protocol("too many untagged responses".into()))
    }

    fn untagged(&mut self, rest: &[u8], search_hits: &mut usize) {
        let mut words = rest.split(|&b| b == b' ');
        let first = words.next().unwrap_or_default();
        let second = words.next().unwrap_or_default();
        if first.eq_ignore_ascii_case(b"SEARCH") {
            *search_hits += rest.split(|&b| b == b' ').count() - 1;
            return;
        }
        let Some(n) = std::str::from_utf8(first)
            .ok()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            return;
        };
        if second.eq_ignore_ascii_case(b"EXISTS") {
            self.exists = n;
        } else if second.eq_ignore_ascii_case(b"EXPUNGE") {
            self.exists = self.exists.saturating_sub(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_lengths() {
        assert_eq!(literal_len(b"* 1 FETCH (BODY[] {123}"), Some(123));
        assert_eq!(literal_len(b"* 1 FETCH (FLAGS ())"), None);
        assert_eq!(literal_len(b"{5+}"), Some(5));
    }

    #[test]
    fn quoting() {
        assert_eq!(quote(r#"a"b\c"#), r#""a\"b\\c""#);
    }
}
