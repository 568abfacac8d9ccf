//! The `DAV:multistatus` body (RFC 4918 §13, §14.16): responses with propstats or a bare
//! status, and the `DAV:sync-token` of a sync-collection answer (RFC 6578 §3.2), written as
//! exact bytes from typed values.

use std::borrow::Cow;

use crate::http::reason_phrase;

use super::names::{Namespace, PropName, ReportName, ResourceType};
use super::request::RawXml;

/// A media type a collection accepts (`supported-calendar-data`, RFC 4791 §5.2.4;
/// `supported-address-data`, RFC 6352 §6.2.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaType {
    pub content_type: String,
    pub version: String,
}

/// A privilege of `current-user-privilege-set` (RFC 3744 §3, RFC 4791 §6.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Privilege {
    Read,
    Write,
    WriteProperties,
    WriteContent,
    Unlock,
    Bind,
    Unbind,
    ReadAcl,
    WriteAcl,
    ReadCurrentUserPrivilegeSet,
    All,
    /// `CALDAV:read-free-busy`.
    ReadFreeBusy,
}

impl Privilege {
    fn name(self) -> (Namespace, &'static str) {
        match self {
            Privilege::Read => (Namespace::Dav, "read"),
            Privilege::Write => (Namespace::Dav, "write"),
            Privilege::WriteProperties => (Namespace::Dav, "write-properties"),
            Privilege::WriteContent => (Namespace::Dav, "write-content"),
            Privilege::Unlock => (Namespace::Dav, "unlock"),
            Privilege::Bind => (Namespace::Dav, "bind"),
            Privilege::Unbind => (Namespace::Dav, "unbind"),
            Privilege::ReadAcl => (Namespace::Dav, "read-acl"),
            Privilege::WriteAcl => (Namespace::Dav, "write-acl"),
            Privilege::ReadCurrentUserPrivilegeSet => {
                (Namespace::Dav, "read-current-user-privilege-set")
            }
            Privilege::All => (Namespace::Dav, "all"),
            Privilege::ReadFreeBusy => (Namespace::CalDav, "read-free-busy"),
        }
    }
}

/// A property's value, rendered by [`Multistatus`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PropValue {
    /// No content: a property not found, refused, or listed by `propname`.
    Empty,
    /// Character data, escaped.
    Text(String),
    /// One `DAV:href` (a decoded path; written percent-encoded).
    Href(String),
    /// Several `DAV:href`s (`calendar-user-address-set`, home sets).
    Hrefs(Vec<String>),
    ResourceType(Vec<ResourceType>),
    /// `CALDAV:comp name="…"` elements (RFC 4791 §5.2.3).
    CalendarComponents(Vec<String>),
    /// `CALDAV:calendar-data content-type version` elements (RFC 4791 §5.2.4).
    CalendarDataTypes(Vec<MediaType>),
    /// `CARDDAV:address-data-type` elements (RFC 6352 §6.2.2).
    AddressDataTypes(Vec<MediaType>),
    /// `DAV:privilege` elements (RFC 3744 §5.4).
    Privileges(Vec<Privilege>),
    /// `DAV:supported-report` elements (RFC 3253 §3.1.5).
    Reports(Vec<ReportName>),
    /// A value a client set with PROPPATCH or MKCOL, as stored.
    Xml(RawXml),
    /// An object's text (`calendar-data`, `address-data`): escaped so that a parser gets the
    /// stored bytes back exactly, CR included.
    Data(String),
}

/// One property of a propstat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prop {
    pub name: PropName,
    pub value: PropValue,
}

/// The properties of a response that share a status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PropStat {
    pub status: u16,
    pub props: Vec<Prop>,
}

impl PropStat {
    /// Groups `(name, value or status)` pairs into propstats: 200 first, then the other
    /// statuses in the order first seen; properties keep their order within a group.
    pub fn group(
        props: impl IntoIterator<Item = (PropName, Result<PropValue, u16>)>,
    ) -> Vec<PropStat> {
        let mut groups: Vec<PropStat> = vec![PropStat {
            status: 200,
            props: Vec::new(),
        }];
        for (name, outcome) in props {
            let (status, value) = match outcome {
                Ok(value) => (200, value),
                Err(status) => (status, PropValue::Empty),
            };
            let prop = Prop { name, value };
            match groups.iter_mut().find(|g| g.status == status) {
                Some(group) => group.props.push(prop),
                None => groups.push(PropStat {
                    status,
                    props: vec![prop],
                }),
            }
        }
        groups.retain(|g| !g.props.is_empty());
        groups
    }
}

/// A multistatus body being written.
#[derive(Debug, Clone)]
pub struct Multistatus {
    out: String,
}

impl Default for Multistatus {
    fn default() -> Multistatus {
        Multistatus::new()
    }
}

impl Multistatus {
    pub fn new() -> Multistatus {
        let mut out = String::new();
        open_document(&mut out, "multistatus");
        Multistatus { out }
    }

    /// A `DAV:response` with propstats (RFC 4918 §14.24).
    pub fn response(&mut self, href: &str, propstats: &[PropStat]) -> &mut Multistatus {
        self.out.push_str("<d:response><d:href>");
        self.out.push_str(&escape_text(&encode_href(href)));
        self.out.push_str("</d:href>");
        for propstat in propstats {
            self.out.push_str("<d:propstat><d:prop>");
            for prop in &propstat.props {
                write_prop(&mut self.out, prop);
            }
            self.out.push_str("</d:prop>");
            write_status(&mut self.out, propstat.status);
            self.out.push_str("</d:propstat>");
        }
        self.out.push_str("</d:response>");
        self
    }

    /// A `DAV:response` with only a status: an href a multiget names that does not exist
    /// (404), a member a sync-collection reports removed (404, RFC 6578 §3.5.2).
    pub fn status_response(&mut self, href: &str, status: u16) -> &mut Multistatus {
        self.out.push_str("<d:response><d:href>");
        self.out.push_str(&escape_text(&encode_href(href)));
        self.out.push_str("</d:href>");
        write_status(&mut self.out, status);
        self.out.push_str("</d:response>");
        self
    }

    pub fn finish(mut self) -> Vec<u8> {
        self.out.push_str("</d:multistatus>");
        self.out.into_bytes()
    }

    /// Ends a sync-collection answer with its new token (RFC 6578 §6.4).
    pub fn finish_with_sync_token(mut self, token: &str) -> Vec<u8> {
        self.out.push_str("<d:sync-token>");
        self.out.push_str(&escape_text(token));
        self.out.push_str("</d:sync-token></d:multistatus>");
        self.out.into_bytes()
    }
}

/// The XML declaration and the root element `d:<root>` with every namespace we write.
pub(crate) fn open_document(out: &mut String, root: &str) {
    out.push_str("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<d:");
    out.push_str(root);
    for ns in Namespace::ALL {
        out.push_str(" xmlns:");
        out.push_str(ns.prefix());
        out.push_str("=\"");
        out.push_str(ns.uri());
        out.push('"');
    }
    out.push('>');
}

fn write_status(out: &mut String, status: u16) {
    out.push_str("<d:status>HTTP/1.1 ");
    out.push_str(&status.to_string());
    out.push(' ');
    out.push_str(reason_phrase(status));
    out.push_str("</d:status>");
}

/// `<prefix:local` for one of our namespaces; otherwise the element declares its own
/// namespace as default (`<local xmlns="…"`), which needs no prefix of ours. Returns the
/// prefix to close the element with ([`close_tag`]).
pub(crate) fn open_tag(out: &mut String, ns: &str, local: &str) -> Option<&'static str> {
    out.push('<');
    match Namespace::from_uri(ns) {
        Some(known) => {
            out.push_str(known.prefix());
            out.push(':');
            out.push_str(local);
            Some(known.prefix())
        }
        None => {
            out.push_str(local);
            out.push_str(" xmlns=\"");
            out.push_str(&escape_attr(ns));
            out.push('"');
            None
        }
    }
}

/// `</prefix:local>` (or `</local>`) for what [`open_tag`] opened.
fn close_tag(out: &mut String, prefix: Option<&str>, local: &str) {
    out.push_str("</");
    if let Some(prefix) = prefix {
        out.push_str(prefix);
        out.push(':');
    }
    out.push_str(local);
    out.push('>');
}

fn empty_element(out: &mut String, ns: &str, local: &str) {
    open_tag(out, ns, local);
    out.push_str("/>");
}

fn write_prop(out: &mut String, prop: &Prop) {
    let local = prop.name.local_name();
    let prefix = open_tag(out, prop.name.namespace_uri(), local);
    if prop.value == PropValue::Empty {
        out.push_str("/>");
        return;
    }
    out.push('>');
    match &prop.value {
        PropValue::Empty => {}
        PropValue::Text(text) => out.push_str(&escape_text(text)),
        PropValue::Data(text) => out.push_str(&escape_data(text)),
        PropValue::Href(href) => write_href(out, href),
        PropValue::Hrefs(hrefs) => hrefs.iter().for_each(|href| write_href(out, href)),
        PropValue::ResourceType(types) => {
            for kind in types {
                let (ns, local) = kind.name();
                empty_element(out, ns, local);
            }
        }
        PropValue::CalendarComponents(names) => {
            for name in names {
                out.push_str("<c:comp name=\"");
                out.push_str(&escape_attr(name));
                out.push_str("\"/>");
            }
        }
        PropValue::CalendarDataTypes(types) => write_media_types(out, "c:calendar-data", types),
        PropValue::AddressDataTypes(types) => {
            write_media_types(out, "card:address-data-type", types)
        }
        PropValue::Privileges(privileges) => {
            for privilege in privileges {
                let (ns, local) = privilege.name();
                out.push_str("<d:privilege>");
                empty_element(out, ns.uri(), local);
                out.push_str("</d:privilege>");
            }
        }
        PropValue::Reports(reports) => {
            for report in reports {
                out.push_str("<d:supported-report><d:report>");
                empty_element(out, report.namespace().uri(), report.local_name());
                out.push_str("</d:report></d:supported-report>");
            }
        }
        // Stored by the parser as a self-contained fragment of UTF-8 text.
        PropValue::Xml(raw) => out.push_str(&String::from_utf8_lossy(raw.as_bytes())),
    }
    close_tag(out, prefix, local);
}

fn write_href(out: &mut String, href: &str) {
    out.push_str("<d:href>");
    out.push_str(&escape_text(&encode_href(href)));
    out.push_str("</d:href>");
}

fn write_media_types(out: &mut String, element: &str, types: &[MediaType]) {
    for media in types {
        out.push('<');
        out.push_str(element);
        out.push_str(" content-type=\"");
        out.push_str(&escape_attr(&media.content_type));
        out.push_str("\" version=\"");
        out.push_str(&escape_attr(&media.version));
        out.push_str("\"/>");
    }
}

/// A decoded path as an href (RFC 4918 §8.3.1, RFC 3986 §3.3): bytes other than unreserved
/// characters, sub-delimiters, `:`, `@` and `/` are percent-encoded. `@` stays as is, since
/// SOGo's URLs carry the account's address.
///
/// (A table, as hrefs are written for every member of a listing.)
pub fn encode_href(path: &str) -> Cow<'_, str> {
    let keep = |b: u8| HREF_KEEP[usize::from(b)];
    if path.bytes().all(keep) {
        return Cow::Borrowed(path);
    }
    let mut out = String::with_capacity(path.len() + 8);
    for b in path.bytes() {
        if keep(b) {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 15)]));
        }
    }
    Cow::Owned(out)
}

/// Character data: `&`, `<` and `>` escaped.
pub(crate) fn escape_text(text: &str) -> Cow<'_, str> {
    escape(text, false, false)
}

/// An attribute value in double quotes.
pub(crate) fn escape_attr(text: &str) -> Cow<'_, str> {
    escape(text, true, true)
}

/// Object data: also CR as `&#13;`, which a parser would otherwise fold into LF (XML 1.0
/// §2.11), so the client gets its CRLFs back.
fn escape_data(text: &str) -> Cow<'_, str> {
    escape(text, false, true)
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

/// The bytes an href keeps as they are: RFC 3986's unreserved and sub-delims, `:`, `@`, `/`.
static HREF_KEEP: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = c.is_ascii_alphanumeric()
            || matches!(
                c,
                b'-' | b'.'
                    | b'_'
                    | b'~'
                    | b'!'
                    | b'$'
                    | b'&'
                    | b'\''
                    | b'('
                    | b')'
                    | b'*'
                    | b'+'
                    | b','
                    | b';'
                    | b'='
                    | b':'
                    | b'@'
                    | b'/'
            );
        b += 1;
    }
    t
};

/// The bytes [`escape`] looks at: the markup characters, `"` and CR (escaped or not as
/// asked), control characters, and 0xEF, the first byte of U+FFFE and U+FFFF.
static ESCAPE_CANDIDATE: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 0x20 {
        t[b] = b != 0x09 && b != 0x0A;
        b += 1;
    }
    t[b'&' as usize] = true;
    t[b'<' as usize] = true;
    t[b'>' as usize] = true;
    t[b'"' as usize] = true;
    t[0xEF] = true;
    t
};

/// Characters XML 1.0 cannot carry at all (§2.2) become U+FFFD.
fn escape(text: &str, quotes: bool, cr: bool) -> Cow<'_, str> {
    // Byte by byte: what needs attention is ASCII (the markup characters, CR, control
    // characters) or one of the two non-characters U+FFFE and U+FFFF (EF BF BE, EF BF BF in
    // UTF-8); every other byte of valid UTF-8 is copied as it is.
    let bytes = text.as_bytes();
    let special = |i: usize| -> bool {
        match bytes[i] {
            b'&' | b'<' | b'>' => true,
            b'"' => quotes,
            b'\r' => cr,
            b'\t' | b'\n' => false,
            b if b < 0x20 => true,
            0xEF => {
                bytes.get(i + 1) == Some(&0xBF) && matches!(bytes.get(i + 2), Some(0xBE | 0xBF))
            }
            _ => false,
        }
    };
    // The next byte that needs a look, from `from` on.
    let next = |from: usize| {
        bytes[from..]
            .iter()
            .position(|&b| ESCAPE_CANDIDATE[usize::from(b)])
            .map(|at| from + at)
    };
    let mut at = next(0);
    while let Some(i) = at {
        if special(i) {
            break;
        }
        at = next(i + 1);
    }
    let Some(first) = at else {
        return Cow::Borrowed(text);
    };
    let mut out = String::with_capacity(text.len() + text.len() / 16 + 16);
    out.push_str(&text[..first]);
    let mut from = first;
    let mut i = first;
    while i < bytes.len() {
        if !special(i) {
            match next(i + 1) {
                Some(j) => {
                    i = j;
                    continue;
                }
                None => break,
            }
        }
        out.push_str(&text[from..i]);
        let (replacement, width) = match bytes[i] {
            b'&' => ("&amp;", 1),
            b'<' => ("&lt;", 1),
            b'>' => ("&gt;", 1),
            b'"' => ("&quot;", 1),
            b'\r' => ("&#13;", 1),
            0xEF => ("\u{FFFD}", 3),
            _ => ("\u{FFFD}", 1),
        };
        out.push_str(replacement);
        i += width;
        from = i;
    }
    out.push_str(&text[from..]);
    Cow::Owned(out)
}

#[cfg(test)]
mod escape_tests {
    use super::escape;
    use proptest::prelude::*;

    /// The definition the byte scan must agree with: XML 1.0's Char production, markup
    /// characters escaped, CR as a reference when asked.
    fn reference(text: &str, quotes: bool, cr: bool) -> String {
        let allowed = |c: char| matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..);
        let mut out = String::new();
        for c in text.chars() {
            match c {
                '&' => out.push_str("&amp;"),
                '<' => out.push_str("&lt;"),
                '>' => out.push_str("&gt;"),
                '"' if quotes => out.push_str("&quot;"),
                '\r' if cr => out.push_str("&#13;"),
                c if !allowed(c) => out.push('\u{FFFD}'),
                c => out.push(c),
            }
        }
        out
    }

    #[test]
    fn known_cases() {
        for text in [
            "plain",
            "a&b<c>d\"e\r\nf",
            "\u{1}x\u{FFFE}\u{FFFF}\u{FFFD}é€😀",
            "",
        ] {
            for (quotes, cr) in [(false, false), (true, true), (false, true)] {
                assert_eq!(
                    escape(text, quotes, cr),
                    reference(text, quotes, cr),
                    "{text:?}"
                );
            }
        }
    }

    proptest! {
        #[test]
        fn agrees_with_the_definition(text in "\\PC*|[\u{0}-\u{7f}\u{fffe}\u{ffff}é]*", quotes: bool, cr: bool) {
            prop_assert_eq!(escape(&text, quotes, cr).into_owned(), reference(&text, quotes, cr));
        }
    }
}
