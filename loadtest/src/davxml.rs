//! Just enough XML to read a WebDAV multistatus (RFC 4918 §14.16, RFC 6578 §6.4): each
//! response's href and status, each property's value and propstat status, and the
//! sync-token. Elements are matched by local name (the namespace prefix is dropped):
//! servers spell `DAV:` as `D:`, `d:`, a default namespace or anything else, and the names
//! read here are unambiguous within a multistatus. Comments, processing instructions and
//! DOCTYPE are skipped, CDATA is text, the five predefined entities and character references
//! are decoded.
//!
//! Written here for the load generator (ringpost's own DAV XML is a different parser), and
//! bounded by its input, which `http` bounds.

#[derive(Debug, Default, Clone)]
pub struct Prop {
    /// Local name, e.g. `getetag`, `calendar-data`.
    pub name: String,
    /// The status of the propstat it came in (0 when missing).
    pub status: u16,
    /// Its text content (nested elements' text included, markup dropped).
    pub value: String,
}

#[derive(Debug, Default, Clone)]
pub struct Entry {
    pub href: String,
    /// The response's own `<status>` (sync-collection: 404 for a removed member), 0 if none.
    pub status: u16,
    pub props: Vec<Prop>,
}

impl Entry {
    /// The value of `name` when it came with a 2xx propstat.
    pub fn ok_prop(&self, name: &str) -> Option<&str> {
        self.props
            .iter()
            .find(|p| p.name == name && (200..300).contains(&p.status))
            .map(|p| p.value.as_str())
    }
}

#[derive(Debug, Default)]
pub struct Multistatus {
    pub responses: Vec<Entry>,
    /// The top-level sync-token (sync-collection reports).
    pub sync_token: Option<String>,
}

/// Nesting deeper than this is refused (a multistatus needs about 8).
const MAX_DEPTH: usize = 64;

enum Token<'a> {
    Start(&'a str),
    End(&'a str),
    Empty(&'a str),
    Text(String),
}

fn local(name: &str) -> &str {
    name.rsplit(':').next().unwrap_or(name)
}

/// Decode the predefined entities and character references of XML text.
pub fn unescape(s: &str) -> String {
    if !s.contains('&') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let Some(end) = rest.find(';').filter(|&e| e <= 12) else {
            out.push('&');
            rest = &rest[1..];
            continue;
        };
        let name = &rest[1..end];
        let c = match name {
            "lt" => Some('<'),
            "gt" => Some('>'),
            "amp" => Some('&'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => {
                let num = if let Some(hex) = name.strip_prefix("#x") {
                    u32::from_str_radix(hex, 16).ok()
                } else if let Some(dec) = name.strip_prefix('#') {
                    dec.parse().ok()
                } else {
                    None
                };
                num.and_then(char::from_u32)
            }
        };
        match c {
            Some(c) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Escape text for an XML element (hrefs, tokens and search text sent to the server).
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}

struct Tokens<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Tokens<'a> {
    fn next(&mut self) -> Result<Option<Token<'a>>, String> {
        let s = self.s;
        // Every arm advances pos by at least one byte: bounded by the input's length.
        loop {
            if self.pos >= s.len() {
                return Ok(None);
            }
            let rest = &s[self.pos..];
            if !rest.starts_with('<') {
                let end = rest.find('<').unwrap_or(rest.len());
                self.pos += end;
                return Ok(Some(Token::Text(unescape(&rest[..end]))));
            }
            if let Some(body) = rest.strip_prefix("<![CDATA[") {
                let end = body.find("]]>").ok_or("unterminated CDATA")?;
                self.pos += 9 + end + 3;
                return Ok(Some(Token::Text(body[..end].to_string())));
            }
            if let Some(comment) = rest.strip_prefix("<!--") {
                let end = comment.find("-->").ok_or("unterminated comment")?;
                self.pos += 4 + end + 3;
                continue;
            }
            if rest.starts_with("<?") {
                let end = rest
                    .find("?>")
                    .ok_or("unterminated processing instruction")?;
                self.pos += end + 2;
                continue;
            }
            if rest.starts_with("<!") {
                let end = rest.find('>').ok_or("unterminated declaration")?;
                self.pos += end + 1;
                continue;
            }
            // A tag: find its '>' outside quoted attribute values.
            let bytes = rest.as_bytes();
            let mut quote = 0u8;
            let mut end = None;
            for (i, &b) in bytes.iter().enumerate().skip(1) {
                if quote != 0 {
                    if b == quote {
                        quote = 0;
                    }
                } else if b == b'"' || b == b'\'' {
                    quote = b;
                } else if b == b'>' {
                    end = Some(i);
                    break;
                }
            }
            let end = end.ok_or("unterminated tag")?;
            let inner = &rest[1..end];
            self.pos += end + 1;
            if let Some(name) = inner.strip_prefix('/') {
                return Ok(Some(Token::End(local(name.trim()))));
            }
            let (inner, empty) = match inner.strip_suffix('/') {
                Some(i) => (i, true),
                None => (inner, false),
            };
            let name = inner
                .split(|c: char| c.is_ascii_whitespace())
                .next()
                .unwrap_or("");
            if name.is_empty() {
                return Err("empty tag name".into());
            }
            let name = local(name);
            return Ok(Some(if empty {
                Token::Empty(name)
            } else {
                Token::Start(name)
            }));
        }
    }
}

/// The code in `HTTP/1.1 200 OK`; 0 when unreadable.
pub fn status_code(text: &str) -> u16 {
    text.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

/// Parse a multistatus body.
pub fn multistatus(body: &[u8]) -> Result<Multistatus, String> {
    let text = std::str::from_utf8(body).map_err(|_| "multistatus is not UTF-8".to_string())?;
    let mut tokens = Tokens { s: text, pos: 0 };
    let mut stack: Vec<&str> = Vec::new();
    let mut out = Multistatus::default();
    let mut entry: Option<Entry> = None;
    // Props of the propstat being read, and its status.
    let mut pending: Vec<Prop> = Vec::new();
    let mut propstat_status = 0u16;
    // Text being collected: for which element (its depth) and into what.
    let mut collect: Option<(usize, String)> = None;
    let mut saw_multistatus = false;
    while let Some(tok) = tokens.next()? {
        match tok {
            Token::Start(name) | Token::Empty(name) => {
                let empty = matches!(tok, Token::Empty(_));
                let parent = stack.last().copied().unwrap_or("");
                if name == "multistatus" && stack.is_empty() {
                    saw_multistatus = true;
                }
                if name == "response" && parent == "multistatus" {
                    entry = Some(Entry::default());
                }
                if name == "propstat" {
                    pending.clear();
                    propstat_status = 0;
                }
                if parent == "prop" && collect.is_none() {
                    pending.push(Prop {
                        name: name.to_string(),
                        ..Prop::default()
                    });
                    if !empty {
                        collect = Some((stack.len(), String::new()));
                    }
                } else if collect.is_none()
                    && !empty
                    && matches!(
                        (parent, name),
                        ("response", "href")
                            | ("response", "status")
                            | ("propstat", "status")
                            | ("multistatus", "sync-token")
                    )
                {
                    collect = Some((stack.len(), String::new()));
                }
                if !empty {
                    if stack.len() >= MAX_DEPTH {
                        return Err("XML nested too deeply".into());
                    }
                    stack.push(name);
                }
            }
            Token::End(name) => {
                if stack.pop() != Some(name) {
                    return Err(format!("mismatched end tag </{name}>"));
                }
                let parent = stack.last().copied().unwrap_or("");
                if let Some((depth, text)) = collect.take() {
                    if depth != stack.len() {
                        collect = Some((depth, text));
                    } else {
                        match (parent, name) {
                            ("response", "href") => {
                                if let Some(e) = entry.as_mut() {
                                    e.href = text.trim().to_string();
                                }
                            }
                            ("response", "status") => {
                                if let Some(e) = entry.as_mut() {
                                    e.status = status_code(&text);
                                }
                            }
                            ("propstat", "status") => propstat_status = status_code(&text),
                            ("multistatus", "sync-token") => {
                                out.sync_token = Some(text.trim().to_string());
                            }
                            ("prop", _) => {
                                if let Some(p) = pending.last_mut() {
                                    p.value = text;
                                }
                            }
                            _ => {}
                        }
                    }
                }
                if name == "propstat" {
                    if let Some(e) = entry.as_mut() {
                        for mut p in pending.drain(..) {
                            p.status = propstat_status;
                            e.props.push(p);
                        }
                    }
                }
                if name == "response" && parent == "multistatus" {
                    if let Some(e) = entry.take() {
                        out.responses.push(e);
                    }
                }
            }
            Token::Text(t) => {
                if let Some((_, text)) = collect.as_mut() {
                    text.push_str(&t);
                }
            }
        }
    }
    if !saw_multistatus {
        return Err("no multistatus element".into());
    }
    if !stack.is_empty() {
        return Err("multistatus ends early".into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn radicale_style() {
        let body = br#"<?xml version='1.0' encoding='utf-8'?>
<multistatus xmlns="DAV:" xmlns:CS="http://calendarserver.org/ns/"><response><href>/alice%40example.com/calendar/</href><propstat><prop><CS:getctag>"abc"</CS:getctag><sync-token>http://radicale.org/ns/sync/e3</sync-token></prop><status>HTTP/1.1 200 OK</status></propstat></response></multistatus>"#;
        let ms = multistatus(body).unwrap();
        assert_eq!(ms.responses.len(), 1);
        let e = &ms.responses[0];
        assert_eq!(e.href, "/alice%40example.com/calendar/");
        assert_eq!(e.ok_prop("getctag"), Some("\"abc\""));
        assert_eq!(
            e.ok_prop("sync-token"),
            Some("http://radicale.org/ns/sync/e3")
        );
    }

    #[test]
    fn sogo_style_with_404_propstat_and_cdata() {
        let body = br#"<?xml version="1.0" encoding="utf-8"?>
<D:multistatus xmlns:D="DAV:"><D:response><D:href>/SOGo/dav/a/Calendar/personal/x.ics</D:href><D:propstat><D:status>HTTP/1.1 200 OK</D:status><D:prop><D:getetag>&quot;gcs0001&quot;</D:getetag><D:resourcetype/><C:calendar-data xmlns:C="urn:ietf:params:xml:ns:caldav"><![CDATA[BEGIN:VCALENDAR
END:VCALENDAR]]></C:calendar-data></D:prop></D:propstat><D:propstat><D:status>HTTP/1.1 404 Not Found</D:status><D:prop><D:getcontenttype/></D:prop></D:propstat></D:response>
<D:response><D:href>/gone.ics</D:href><D:status>HTTP/1.1 404 Not Found</D:status></D:response>
<D:sync-token>42</D:sync-token></D:multistatus>"#;
        let ms = multistatus(body).unwrap();
        assert_eq!(ms.responses.len(), 2);
        let e = &ms.responses[0];
        assert_eq!(e.ok_prop("getetag"), Some("\"gcs0001\""));
        assert_eq!(
            e.ok_prop("calendar-data"),
            Some("BEGIN:VCALENDAR\nEND:VCALENDAR")
        );
        assert_eq!(e.ok_prop("getcontenttype"), None);
        assert_eq!(ms.responses[1].status, 404);
        assert_eq!(ms.sync_token.as_deref(), Some("42"));
    }

    #[test]
    fn entities_and_errors() {
        assert_eq!(unescape("a&lt;b&amp;&#65;&#x42;&bogus;"), "a<b&AB&bogus;");
        assert_eq!(escape("<a&\">"), "&lt;a&amp;&quot;&gt;");
        assert!(multistatus(b"<D:multistatus xmlns:D='DAV:'><D:response>").is_err());
        assert!(multistatus(b"<html></html>").is_err());
        assert!(multistatus(b"<a><b></a></b>").is_err());
    }
}
