//! The incremental HTTP/1.1 request reader (RFC 9112): bytes in with
//! [`RequestReader::handle_input`], complete requests (or the one error that ends the
//! connection) out with [`RequestReader::poll_request`], pipelined requests one by one in
//! order, and the `100 Continue` cue out with [`RequestReader::poll_continue`].
//!
//! Memory stays bounded by [`HttpLimits`] whatever the peer sends: a head is refused once it
//! outgrows `max_head_bytes`, a body once it would outgrow `max_body_bytes`, and consumed
//! bytes are dropped. This module never does IO, never reads the clock and never decides a
//! response beyond the error statuses of framing.

use std::fmt;

use super::chunked::ChunkedBody;
use super::head::{self, Framing, HeadScan};
use super::request::Request;

/// The interim response sent when [`RequestReader::poll_continue`] says so (RFC 9110 §15.2.1).
pub const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// How much of a request the reader accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpLimits {
    /// Request-line plus header fields plus the empty line; also the trailer section's
    /// budget. Larger: 431 (RFC 6585 §5).
    pub max_head_bytes: usize,
    /// Header fields (and, separately, trailer fields). More: 431.
    pub max_headers: usize,
    /// The request-target. Longer: 414 (RFC 9110 §15.5.15).
    pub max_target_bytes: usize,
    /// The body after de-chunking. Larger: 413 (RFC 9110 §15.5.14).
    pub max_body_bytes: usize,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            max_head_bytes: 16 * 1024,
            max_headers: 64,
            max_target_bytes: 8 * 1024,
            max_body_bytes: 1024 * 1024,
        }
    }
}

/// A request the reader refuses, with the status to answer it with.
///
/// Every error the reader produces is fatal (`close` is true): once framing has failed the
/// reader cannot know where the next request would start, and guessing is how requests get
/// smuggled. The statuses:
///
/// - 400: a malformed request-line, head, `Host`, `Content-Length`, `Transfer-Encoding` or
///   chunked framing; a bare LF; obs-fold; both `Content-Length` and `Transfer-Encoding`;
///   more than a head's worth of empty lines before a request;
/// - 413: a body over the limit; 414: a target over the limit;
/// - 417: an `Expect` other than `100-continue`;
/// - 431: a head, header count or trailer section over the limits;
/// - 501: an unknown transfer coding or an over-long method;
/// - 505: an HTTP version other than 1.0 and 1.1.
///
/// The statuses decided later (404, 405, …) leave the connection usable and are the
/// router's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpError {
    pub status: u16,
    /// A short text for the response body.
    pub reason: &'static str,
    /// The connection must close after the error response.
    pub close: bool,
}

impl HttpError {
    /// An error after which the connection closes.
    pub(super) const fn fatal(status: u16, reason: &'static str) -> Self {
        HttpError {
            status,
            reason,
            close: true,
        }
    }
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.status, self.reason)
    }
}

impl std::error::Error for HttpError {}

/// Where the reader is in the current request.
#[derive(Debug)]
enum State {
    /// Reading a head.
    Head(HeadScan),
    /// Reading the body of this request.
    Body(Box<PartialRequest>),
    /// A fatal error was reported: nothing more is read.
    Failed,
}

#[derive(Debug)]
struct PartialRequest {
    request: Request,
    body: BodyReader,
    /// The client waits for `100 Continue` and has not been cued yet.
    expects_continue: bool,
}

#[derive(Debug)]
enum BodyReader {
    Length(usize),
    Chunked(ChunkedBody),
}

/// Reads HTTP/1.x requests from a byte stream, one connection's worth.
///
/// The driver feeds every read to [`handle_input`](Self::handle_input), then calls
/// [`poll_request`](Self::poll_request) until it returns `None`, then
/// [`poll_continue`](Self::poll_continue). Between those calls the reader holds at most
/// `max_head_bytes` of unconsumed input plus one partial body (at most `max_body_bytes`).
///
/// The reader does not act on `Connection: close`: the driver stops asking for requests
/// after one whose [`Request::keep_alive`] is false, and after any error.
#[derive(Debug)]
pub struct RequestReader {
    limits: HttpLimits,
    buf: Vec<u8>,
    /// Start of the unconsumed bytes in `buf`.
    start: usize,
    state: State,
    /// A `100 Continue` is due (RFC 9110 §10.1.1).
    continue_due: bool,
}

/// Buffer capacity kept once empty; a larger one (after a large read) is released.
const KEEP: usize = 64 << 10;

impl RequestReader {
    pub fn new(limits: HttpLimits) -> Self {
        RequestReader {
            limits,
            buf: Vec::new(),
            start: 0,
            state: State::Head(HeadScan::default()),
            continue_due: false,
        }
    }

    pub fn limits(&self) -> &HttpLimits {
        &self.limits
    }

    /// Buffer received bytes. After a fatal error they are dropped unread.
    pub fn handle_input(&mut self, bytes: &[u8]) {
        if matches!(self.state, State::Failed) {
            return;
        }
        // Compact: what is left unconsumed is at most a head's worth between polls.
        if self.start == self.buf.len() {
            self.buf.clear();
            if self.buf.capacity() > KEEP {
                self.buf = Vec::new();
            }
        } else if self.start > 0 {
            self.buf.drain(..self.start);
        }
        self.start = 0;
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete request or the error that ends the connection; `None` when more
    /// bytes are needed (or after an error).
    pub fn poll_request(&mut self) -> Option<Result<Request, HttpError>> {
        match self.advance() {
            Ok(request) => request.map(Ok),
            Err(e) => {
                self.state = State::Failed;
                self.buf = Vec::new();
                self.start = 0;
                self.continue_due = false;
                Some(Err(e))
            }
        }
    }

    /// Whether to send `HTTP/1.1 100 Continue` now: true once for an HTTP/1.1 request with
    /// `Expect: 100-continue` whose head was accepted and whose body has not all arrived
    /// (RFC 9110 §10.1.1). Current after [`poll_request`](Self::poll_request) returned
    /// `None`.
    pub fn poll_continue(&mut self) -> bool {
        std::mem::take(&mut self.continue_due)
    }

    /// Bytes held: unconsumed input plus the body read so far of an incomplete request.
    pub fn buffered(&self) -> usize {
        let body = match &self.state {
            State::Body(partial) => partial.request.body.len(),
            _ => 0,
        };
        self.buf.len() - self.start + body
    }

    /// The bytes received and not consumed yet, between requests (no body being read):
    /// what another host continuing the connection must be given. `None` while a body is
    /// read or after a fatal error.
    pub fn unconsumed(&self) -> Option<&[u8]> {
        match self.state {
            State::Head(_) => Some(&self.buf[self.start..]),
            _ => None,
        }
    }

    /// Whether a fatal error was reported (the connection must close).
    pub fn is_failed(&self) -> bool {
        matches!(self.state, State::Failed)
    }

    /// Read as far as the buffered bytes allow, up to the end of one request.
    fn advance(&mut self) -> Result<Option<Request>, HttpError> {
        loop {
            match &mut self.state {
                State::Failed => return Ok(None),
                State::Head(_) => {
                    let Some(len) = self.skip_empty_lines_then_scan()? else {
                        return Ok(None);
                    };
                    let head = head::parse(&self.buf[self.start..self.start + len], &self.limits)?;
                    self.start += len;
                    let body = match head.framing {
                        Framing::Length(0) => {
                            self.state = State::Head(HeadScan::default());
                            return Ok(Some(head.request));
                        }
                        Framing::Length(n) => BodyReader::Length(n),
                        Framing::Chunked => BodyReader::Chunked(ChunkedBody::new()),
                    };
                    self.state = State::Body(Box::new(PartialRequest {
                        request: head.request,
                        body,
                        expects_continue: head.expects_continue,
                    }));
                }
                State::Body(partial) => {
                    let input = &self.buf[self.start..];
                    let body = &mut partial.request.body;
                    let done = match &mut partial.body {
                        BodyReader::Length(remaining) => {
                            let take = (*remaining).min(input.len());
                            if body.is_empty() && take == *remaining {
                                // All here: one copy, of the right size.
                                *body = input[..take].to_vec();
                            } else {
                                if body.is_empty() {
                                    // Grow with what arrives, not with what is declared.
                                    body.reserve((*remaining).min(KEEP));
                                }
                                body.extend_from_slice(&input[..take]);
                            }
                            self.start += take;
                            *remaining -= take;
                            *remaining == 0
                        }
                        BodyReader::Chunked(chunked) => {
                            let (used, done) = chunked.advance(input, body, &self.limits)?;
                            self.start += used;
                            done
                        }
                    };
                    if !done {
                        if partial.expects_continue {
                            partial.expects_continue = false;
                            self.continue_due = true;
                        }
                        return Ok(None);
                    }
                    let finished =
                        std::mem::replace(&mut self.state, State::Head(HeadScan::default()));
                    // The body came without the cue: it is not needed any more.
                    self.continue_due = false;
                    if let State::Body(partial) = finished {
                        return Ok(Some(partial.request));
                    }
                }
            }
        }
    }

    /// In the head state: drop empty lines before a request-line (RFC 9112 §2.2), then scan
    /// the head; its length once complete.
    fn skip_empty_lines_then_scan(&mut self) -> Result<Option<usize>, HttpError> {
        let State::Head(scan) = &mut self.state else {
            return Ok(None);
        };
        if !scan.started() {
            loop {
                let rest = &self.buf[self.start..];
                if rest.starts_with(b"\r\n") {
                    self.start += 2;
                    scan.skipped += 2;
                    if scan.skipped > self.limits.max_head_bytes {
                        return Err(HttpError::fatal(400, "Too many empty lines"));
                    }
                } else if rest == b"\r" || rest.is_empty() {
                    return Ok(None);
                } else {
                    break;
                }
            }
        }
        scan.scan(&self.buf[self.start..], &self.limits)
    }
}
