//! The request head (RFC 9112 §2.1: request-line, field lines, an empty line): found line by
//! line as bytes arrive, refused as early as its first bad line allows, then parsed with
//! httparse into a [`Request`] without a body, and its body framing decided (RFC 9112 §6.3).
//!
//! Every check here looks only at a prefix of the head no longer than the head limit, in
//! order, so a head gets the same answer however its bytes are split into reads. This module
//! never does IO and never buffers: the reader owns the bytes.

use memchr::memchr;

use super::codec::{HttpError, HttpLimits};
use super::request::{list_elements, split_target, trim_ows, Method, Request, Version};

/// Longest method we read before refusing it (RFC 9112 §3: a server SHOULD answer 501 to a
/// method longer than any it implements).
const MAX_METHOD: usize = 32;

/// How far the scan of one request head has come. Reset for every request.
#[derive(Debug, Default)]
pub(super) struct HeadScan {
    /// Bytes of empty lines skipped before the request-line (RFC 9112 §2.2).
    pub(super) skipped: usize,
    /// Bytes of complete, checked lines from the head's start.
    scanned: usize,
    /// Whether the request-line is complete and checked.
    request_line: bool,
    /// Field lines seen.
    fields: usize,
    /// Bytes from the head's start known to hold no LF after `scanned`.
    searched: usize,
}

/// What the framing of a request's body is (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Framing {
    /// `Content-Length` bytes (0 when the request declared no length: §6.3 item 7).
    Length(usize),
    /// `Transfer-Encoding: chunked` (§7.1).
    Chunked,
}

/// A parsed head: the request (empty body), its framing and whether the client waits for
/// `100 Continue` (RFC 9110 §10.1.1).
#[derive(Debug)]
pub(super) struct Head {
    pub(super) request: Request,
    pub(super) framing: Framing,
    pub(super) expects_continue: bool,
}

impl HeadScan {
    /// Whether the request-line has begun (empty lines before it are no longer skipped).
    pub(super) fn started(&self) -> bool {
        self.request_line || self.scanned > 0
    }

    /// Check the lines of `pending` (the bytes from the head's start) not checked yet; the
    /// head's length once its empty line has arrived, `None` while more is needed.
    pub(super) fn scan(
        &mut self,
        pending: &[u8],
        limits: &HttpLimits,
    ) -> Result<Option<usize>, HttpError> {
        // Only the first max_head_bytes count: a head that has not ended by then is refused
        // whatever follows, so a longer read never changes the answer.
        let view = &pending[..pending.len().min(limits.max_head_bytes)];
        loop {
            let rest = &view[self.scanned..];
            // Bytes already searched hold no LF: a line that arrives in many reads is
            // searched once.
            let from = self.searched.saturating_sub(self.scanned).min(rest.len());
            let Some(lf) = memchr(b'\n', &rest[from..]).map(|i| i + from) else {
                self.searched = view.len();
                if !self.request_line {
                    request_line(rest, false, limits)?;
                }
                if pending.len() > limits.max_head_bytes {
                    return Err(HttpError::fatal(431, "Request header fields too large"));
                }
                return Ok(None);
            };
            if !self.request_line {
                // What was refused before its line end is refused with it the same way.
                request_line(&rest[..lf], false, limits)?;
            }
            // RFC 9112 §2.2 allows a bare LF as a line end; we refuse it, as intermediaries
            // that disagree about line ends are how requests get smuggled.
            let line = rest[..lf]
                .strip_suffix(b"\r")
                .ok_or(HttpError::fatal(400, "Bare LF in the request head"))?;
            let end = self.scanned + lf + 1;
            if !self.request_line {
                request_line(line, true, limits)?;
                self.request_line = true;
            } else if line.is_empty() {
                return Ok(Some(end));
            } else {
                field_line(line)?;
                self.fields += 1;
                if self.fields > limits.max_headers {
                    return Err(HttpError::fatal(431, "Too many header fields"));
                }
            }
            self.scanned = end;
        }
    }
}

/// Check a request-line (RFC 9112 §3: `method SP request-target SP HTTP-version`), or the
/// part of one received so far when `complete` is false.
fn request_line(line: &[u8], complete: bool, limits: &HttpLimits) -> Result<(), HttpError> {
    let bad = HttpError::fatal(400, "Malformed request line");
    let mut parts = line.splitn(3, |&b| b == b' ');
    let method = parts.next().unwrap_or_default();
    // Each check looks at the bytes up to its limit first, so the first offending byte
    // decides, as it does when the line arrives byte by byte.
    if !method.iter().take(MAX_METHOD).all(|&b| is_tchar(b)) {
        return Err(bad);
    }
    if method.len() > MAX_METHOD {
        return Err(HttpError::fatal(501, "Method not implemented"));
    }
    let Some(target) = parts.next() else {
        return if complete { Err(bad) } else { Ok(()) };
    };
    if method.is_empty() {
        return Err(bad);
    }
    // The target is visible ASCII (RFC 3986 §2; httparse would pass raw UTF-8 through).
    if !target
        .iter()
        .take(limits.max_target_bytes)
        .all(|&b| b.is_ascii_graphic())
    {
        return Err(bad);
    }
    // RFC 9112 §3.3: 414 when the target is longer than we read; decided as soon as that
    // many bytes have come, never after buffering all of it.
    if target.len() > limits.max_target_bytes {
        return Err(HttpError::fatal(414, "URI too long"));
    }
    let Some(version) = parts.next() else {
        return if complete { Err(bad) } else { Ok(()) };
    };
    if target.is_empty() {
        return Err(bad);
    }
    if !complete {
        return Ok(());
    }
    match version {
        b"HTTP/1.1" | b"HTTP/1.0" => Ok(()),
        // RFC 9112 §2.3: another major version (the HTTP/2 preface `PRI * HTTP/2.0` too)
        // is answered 505.
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
            if major.is_ascii_digit() && minor.is_ascii_digit() =>
        {
            Err(HttpError::fatal(505, "HTTP version not supported"))
        }
        [b'H', b'T', b'T', b'P', b'/', major] if major.is_ascii_digit() => {
            Err(HttpError::fatal(505, "HTTP version not supported"))
        }
        _ => Err(bad),
    }
}

/// Check what httparse would let through in a field line: obs-fold (RFC 9112 §5.2) is
/// refused here; the name and value syntax are httparse's.
fn field_line(line: &[u8]) -> Result<(), HttpError> {
    match line.first() {
        Some(b' ' | b'\t') => Err(HttpError::fatal(400, "Obsolete line folding")),
        _ => Ok(()),
    }
}

/// tchar (RFC 9110 §5.6.2).
pub(super) fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Parse a complete, scanned head (ending with its empty line) and decide its framing.
pub(super) fn parse(head: &[u8], limits: &HttpLimits) -> Result<Head, HttpError> {
    let bad = HttpError::fatal(400, "Malformed request head");
    let mut stack = [httparse::EMPTY_HEADER; 64];
    let mut heap;
    let fields: &mut [httparse::Header<'_>] = if limits.max_headers <= stack.len() {
        &mut stack[..limits.max_headers]
    } else {
        heap = vec![httparse::EMPTY_HEADER; limits.max_headers];
        &mut heap
    };
    let mut parsed = httparse::Request::new(fields);
    match parsed.parse(head) {
        Ok(httparse::Status::Complete(n)) if n == head.len() => {}
        Err(httparse::Error::TooManyHeaders) => {
            return Err(HttpError::fatal(431, "Too many header fields"))
        }
        _ => return Err(bad),
    }
    let (Some(method), Some(target), Some(minor)) = (parsed.method, parsed.path, parsed.version)
    else {
        return Err(bad);
    };
    let version = if minor == 1 {
        Version::Http11
    } else {
        Version::Http10
    };
    let (path, query) = split_target(target);
    let request = Request {
        method: Method::from_token(method),
        target: target.to_string(),
        path,
        query,
        version,
        headers: parsed
            .headers
            .iter()
            .map(|f| (f.name.to_ascii_lowercase(), trim_ows(f.value).to_vec()))
            .collect(),
        body: Vec::new(),
    };
    let framing = framing(&request, limits)?;
    let expects_continue = expectation(&request)?;
    Ok(Head {
        request,
        framing,
        expects_continue,
    })
}

/// The body's framing (RFC 9112 §6.3), refusing every ambiguity that could let two parsers
/// see different messages.
fn framing(request: &Request, limits: &HttpLimits) -> Result<Framing, HttpError> {
    // RFC 9112 §3.2: a client MUST send Host in HTTP/1.1; a server MUST answer 400 to a
    // request without one or with more than one.
    let hosts = request.headers_named("host").count();
    if hosts > 1 || (hosts == 0 && request.version == Version::Http11) {
        return Err(HttpError::fatal(400, "Exactly one Host field is required"));
    }
    let has_te = request.header("transfer-encoding").is_some();
    let has_cl = request.header("content-length").is_some();
    if has_te && has_cl {
        // RFC 9112 §6.3 item 3: both present is a smuggling attempt until proven otherwise.
        return Err(HttpError::fatal(
            400,
            "Both Transfer-Encoding and Content-Length",
        ));
    }
    if has_te {
        // RFC 9112 §6.1: HTTP/1.0 has no transfer codings; the framing is faulty.
        if request.version == Version::Http10 {
            return Err(HttpError::fatal(400, "Transfer-Encoding in HTTP/1.0"));
        }
        let codings: Vec<&[u8]> = request
            .headers_named("transfer-encoding")
            .flat_map(list_elements)
            .collect();
        let chunked = |c: &&[u8]| c.eq_ignore_ascii_case(b"chunked");
        // RFC 9112 §6.3 item 4: chunked not last means the length cannot be known: 400.
        match codings.split_last() {
            Some((last, rest)) if chunked(last) => {
                if rest.iter().any(chunked) {
                    // §7.1: chunked is applied once only.
                    return Err(HttpError::fatal(400, "Chunked applied twice"));
                }
                if !rest.is_empty() {
                    // RFC 9112 §6.1: a coding we do not understand is 501.
                    return Err(HttpError::fatal(501, "Transfer coding not implemented"));
                }
                return Ok(Framing::Chunked);
            }
            _ => return Err(HttpError::fatal(400, "Chunked is not the final coding")),
        }
    }
    let mut length: Option<u64> = None;
    for value in request.headers_named("content-length") {
        // RFC 9110 §8.6: 1*DIGIT; a list of identical values may be taken as one.
        for element in value.split(|&b| b == b',') {
            let element = trim_ows(element);
            if element.is_empty() || !element.iter().all(u8::is_ascii_digit) {
                return Err(HttpError::fatal(400, "Malformed Content-Length"));
            }
            // All digits but too many to hold: too large all the same.
            let n = element.iter().try_fold(0u64, |n, d| {
                n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
            });
            let n = n.unwrap_or(u64::MAX);
            if length.is_some_and(|l| l != n) {
                return Err(HttpError::fatal(400, "Conflicting Content-Length"));
            }
            length = Some(n);
        }
    }
    let length = length.unwrap_or(0);
    match usize::try_from(length) {
        Ok(n) if n <= limits.max_body_bytes => Ok(Framing::Length(n)),
        // RFC 9110 §15.5.14: decided from the declared length, before any body is read.
        _ => Err(HttpError::fatal(413, "Content too large")),
    }
}

/// Whether the client waits for `100 Continue` (RFC 9110 §10.1.1); 417 for an expectation
/// we do not know.
fn expectation(request: &Request) -> Result<bool, HttpError> {
    let mut expects = false;
    for element in request.headers_named("expect").flat_map(list_elements) {
        if !element.eq_ignore_ascii_case(b"100-continue") {
            return Err(HttpError::fatal(417, "Expectation failed"));
        }
        expects = true;
    }
    // An HTTP/1.0 client cannot understand 100: the expectation is ignored.
    Ok(expects && request.version == Version::Http11)
}
