//! An HTTP/1.1 request as the codec hands it over: typed method and version, the raw
//! request-target split into path and query, lower-cased header names with raw values, the
//! de-chunked body; and the helpers that read headers, cookies, query strings and form bodies.
//!
//! Pure data and pure functions: this module never does IO, never reads the clock and never
//! decides a response.

use std::str;

/// A request method (RFC 9110 §9; WebDAV RFC 4918 §9, CalDAV RFC 4791 §5.3.1, RFC 3253 §3.6).
/// Methods are case-sensitive (RFC 9110 §9.1): `get` is [`Method::Other`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Method {
    Get,
    Head,
    Post,
    Put,
    Delete,
    Options,
    Propfind,
    Proppatch,
    Mkcol,
    Mkcalendar,
    Report,
    Copy,
    Move,
    Lock,
    Unlock,
    /// A syntactically valid token (RFC 9110 §5.6.2) we do not know.
    Other(String),
}

impl Method {
    /// The method named by `token`, which the codec has already checked is a token.
    pub fn from_token(token: &str) -> Method {
        match token {
            "GET" => Method::Get,
            "HEAD" => Method::Head,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "DELETE" => Method::Delete,
            "OPTIONS" => Method::Options,
            "PROPFIND" => Method::Propfind,
            "PROPPATCH" => Method::Proppatch,
            "MKCOL" => Method::Mkcol,
            "MKCALENDAR" => Method::Mkcalendar,
            "REPORT" => Method::Report,
            "COPY" => Method::Copy,
            "MOVE" => Method::Move,
            "LOCK" => Method::Lock,
            "UNLOCK" => Method::Unlock,
            other => Method::Other(other.to_string()),
        }
    }

    /// The method as sent on the wire.
    pub fn as_str(&self) -> &str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
            Method::Options => "OPTIONS",
            Method::Propfind => "PROPFIND",
            Method::Proppatch => "PROPPATCH",
            Method::Mkcol => "MKCOL",
            Method::Mkcalendar => "MKCALENDAR",
            Method::Report => "REPORT",
            Method::Copy => "COPY",
            Method::Move => "MOVE",
            Method::Lock => "LOCK",
            Method::Unlock => "UNLOCK",
            Method::Other(token) => token,
        }
    }
}

/// The protocol version of a request (RFC 9112 §2.3). Other versions never become a
/// [`Request`]: the codec answers them with 505.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Version {
    Http10,
    Http11,
}

/// One complete request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: Method,
    /// The request-target exactly as received (RFC 9112 §3.2).
    pub target: String,
    /// The raw (still percent-encoded) path: the origin-form's path, the absolute-form's path
    /// (`/` when it has none), or the whole target for the asterisk and authority forms.
    pub path: String,
    /// The raw query after the first `?`, if there is a `?`.
    pub query: Option<String>,
    pub version: Version,
    /// Header fields in the order received; names lower-cased, values as received (without
    /// surrounding whitespace).
    pub headers: Vec<(String, Vec<u8>)>,
    /// The body, de-chunked; empty when the request has none.
    pub body: Vec<u8>,
}

impl Request {
    /// The request as HTTP/1.1 bytes another server parses to the same request: the
    /// de-chunked body with its `Content-Length`, and no `Transfer-Encoding` or `Expect`
    /// (the body is whole; a `100 Continue` was sent already).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256 + self.body.len());
        out.extend_from_slice(self.method.as_str().as_bytes());
        out.push(b' ');
        out.extend_from_slice(self.target.as_bytes());
        out.extend_from_slice(match self.version {
            Version::Http10 => b" HTTP/1.0\r\n",
            Version::Http11 => b" HTTP/1.1\r\n",
        });
        for (name, value) in &self.headers {
            if ["content-length", "transfer-encoding", "expect"].contains(&name.as_str()) {
                continue;
            }
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value);
            out.extend_from_slice(b"\r\n");
        }
        if !self.body.is_empty() || matches!(self.method, Method::Post | Method::Put) {
            out.extend_from_slice(format!("content-length: {}\r\n", self.body.len()).as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&self.body);
        out
    }

    /// The first value of the header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers_named(name).next()
    }

    /// Every value of the header `name` (any case), in order.
    pub fn headers_named<'a, 'n>(
        &'a self,
        name: &'n str,
    ) -> impl Iterator<Item = &'a [u8]> + use<'a, 'n> {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    }

    /// Whether the connection may carry another request after this one's response (RFC 9112
    /// §9.3): HTTP/1.1 unless `Connection` has the `close` option; HTTP/1.0 only with
    /// `keep-alive`. `close` wins over `keep-alive`.
    pub fn keep_alive(&self) -> bool {
        let has = |option: &str| {
            self.headers_named("connection")
                .flat_map(list_elements)
                .any(|token| token.eq_ignore_ascii_case(option.as_bytes()))
        };
        if has("close") {
            return false;
        }
        match self.version {
            Version::Http11 => true,
            Version::Http10 => has("keep-alive"),
        }
    }

    /// The host the request is for: the authority of an absolute-form target (which takes
    /// precedence over `Host`, RFC 9112 §3.2.2), else the `Host` field.
    pub fn host(&self) -> Option<&str> {
        if let Some(authority) = absolute_form_authority(&self.target) {
            return Some(authority);
        }
        self.header("host")
            .and_then(|v| str::from_utf8(v).ok())
            .map(|v| v.trim_matches([' ', '\t']))
    }

    /// The value of the cookie `name` (case-sensitive) from the `Cookie` fields (RFC 6265
    /// §4.2.1, §5.4: pairs separated by `;`, a value optionally in double quotes). Several
    /// `Cookie` fields are read in order; the first match wins.
    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.headers_named("cookie")
            .flat_map(|v| v.split(|&b| b == b';'))
            .find_map(|pair| {
                let pair = trim_ows(pair);
                let eq = pair.iter().position(|&b| b == b'=')?;
                if trim_ows(&pair[..eq]) != name.as_bytes() {
                    return None;
                }
                let value = trim_ows(&pair[eq + 1..]);
                let value = match value {
                    [b'"', inner @ .., b'"'] => inner,
                    other => other,
                };
                str::from_utf8(value).ok()
            })
    }

    /// The decoded value of the query parameter `name` (`application/x-www-form-urlencoded`
    /// rules: `+` is a space). `None` when absent, or when the value is not valid
    /// percent-encoded UTF-8.
    pub fn query_param(&self, name: &str) -> Option<String> {
        form_value(self.query.as_deref()?.as_bytes(), name)
    }

    /// The decoded value of the field `name` of an `application/x-www-form-urlencoded` body
    /// (HTML §4.10.21.7); `None` for another content type, an absent field or a value that is
    /// not valid percent-encoded UTF-8.
    pub fn form_field(&self, name: &str) -> Option<String> {
        self.form_fields(name).into_iter().next()
    }

    /// Every decoded value of the field `name` (checkboxes repeat it), in order; empty
    /// unless the body is `application/x-www-form-urlencoded`. Values that are not valid
    /// percent-encoded UTF-8 are left out.
    pub fn form_fields(&self, name: &str) -> Vec<String> {
        let urlencoded = self.header("content-type").is_some_and(|media| {
            let essence = media.split(|&b| b == b';').next().unwrap_or_default();
            trim_ows(essence).eq_ignore_ascii_case(b"application/x-www-form-urlencoded")
        });
        if !urlencoded {
            return Vec::new();
        }
        form_pairs(&self.body)
            .filter(|(key, _)| decode(key, true).as_deref() == Some(name))
            .filter_map(|(_, value)| decode(value, true))
            .collect()
    }
}

/// The authority of an absolute-form target (`http://host:port/path` → `host:port`).
fn absolute_form_authority(target: &str) -> Option<&str> {
    let rest = strip_scheme(target)?;
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    Some(&rest[..end])
}

/// `target` after `http://` or `https://` (schemes are case-insensitive, RFC 3986 §3.1).
fn strip_scheme(target: &str) -> Option<&str> {
    ["http://", "https://"].iter().find_map(|scheme| {
        let head = target.get(..scheme.len())?;
        head.eq_ignore_ascii_case(scheme)
            .then(|| &target[scheme.len()..])
    })
}

/// Split a request-target into its raw path and query (RFC 9112 §3.2).
pub(crate) fn split_target(target: &str) -> (String, Option<String>) {
    if let Some(rest) = strip_scheme(target) {
        // absolute-form (RFC 9112 §3.2.2): the path starts after the authority.
        let start = rest.find(['/', '?']).unwrap_or(rest.len());
        let (path, query) = split_query(&rest[start..]);
        let path = if path.is_empty() { "/" } else { path };
        return (path.to_string(), query.map(str::to_string));
    }
    if target.starts_with('/') {
        let (path, query) = split_query(target);
        return (path.to_string(), query.map(str::to_string));
    }
    // asterisk-form (`*`, RFC 9112 §3.2.4) and authority-form (§3.2.3) have no query.
    (target.to_string(), None)
}

fn split_query(s: &str) -> (&str, Option<&str>) {
    match s.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (s, None),
    }
}

/// The elements of a comma-separated list field (RFC 9110 §5.6.1), trimmed, empty ones
/// skipped.
pub(crate) fn list_elements(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|&b| b == b',')
        .map(trim_ows)
        .filter(|e| !e.is_empty())
}

/// `bytes` without leading and trailing optional whitespace (SP, HTAB: RFC 9110 §5.6.3).
pub(crate) fn trim_ows(bytes: &[u8]) -> &[u8] {
    let is_ows = |b: &u8| *b == b' ' || *b == b'\t';
    let start = bytes.iter().position(|b| !is_ows(b)).unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|b| !is_ows(b))
        .map_or(start, |e| e + 1);
    &bytes[start..end]
}

/// The raw `(key, value)` pairs of a urlencoded byte string (`a=1&b=2`).
fn form_pairs(encoded: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
    encoded
        .split(|&b| b == b'&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| match pair.iter().position(|&b| b == b'=') {
            Some(eq) => (&pair[..eq], &pair[eq + 1..]),
            None => (pair, &b""[..]),
        })
}

/// The first value named `name` in a urlencoded byte string.
fn form_value(encoded: &[u8], name: &str) -> Option<String> {
    form_pairs(encoded)
        .find_map(|(key, value)| {
            (decode(key, true).as_deref() == Some(name)).then(|| decode(value, true))
        })
        .flatten()
}

/// Percent-decode a raw path segment or path (RFC 3986 §2.1). `+` stays a `+`. `None` for a
/// `%` not followed by two hex digits or for bytes that are not UTF-8.
pub fn percent_decode_path(raw: &str) -> Option<String> {
    decode(raw.as_bytes(), false)
}

/// Percent-decoding, with `+` as a space when `plus_is_space` (form encoding).
fn decode(raw: &[u8], plus_is_space: bool) -> Option<String> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'%' => {
                let hi = hex_value(*raw.get(i + 1)?)?;
                let lo = hex_value(*raw.get(i + 2)?)?;
                out.push(hi << 4 | lo);
                i += 3;
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}
