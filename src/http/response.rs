//! An HTTP/1.1 response and its encoding (RFC 9112 §4, §6): status line, the caller's
//! `Date`, header fields, the `Content-Length` framing the encoder owns, and the body unless
//! the request or the status has none.
//!
//! This module never does IO and never reads the clock: the caller passes the date text.

use std::fmt::Write as _;

use super::codec::HttpError;

/// A response before encoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    /// Fields in the order sent. Values hold no CR or LF (any are dropped when encoding).
    /// `Content-Length`, `Transfer-Encoding`, `Connection` and `Date` are the encoder's and
    /// are skipped here.
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

/// How a response is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ResponseTarget<'a> {
    /// It answers a HEAD request: the fields of a GET, no body (RFC 9110 §9.3.2).
    pub head_only: bool,
    /// The connection closes after it: `Connection: close` is sent (RFC 9112 §9.6).
    pub close: bool,
    /// The `Date` field's value (RFC 9110 §6.6.1), formatted by the caller, who has the clock.
    pub date: Option<&'a str>,
}

/// Fields the encoder writes itself (framing and connection management).
const RESERVED: &[&str] = &["content-length", "transfer-encoding", "connection", "date"];

impl Response {
    /// A response with this status, no fields and no body.
    pub fn new(status: u16) -> Self {
        Response {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// Add a field. `value` must hold no CR or LF.
    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        let value = value.into();
        debug_assert!(
            !value.contains(['\r', '\n']),
            "header {name} value holds CR/LF"
        );
        self.headers.push((name, value));
        self
    }

    /// Set the body and its `Content-Type`.
    pub fn body(self, content_type: &str, bytes: impl Into<Vec<u8>>) -> Self {
        let mut response = self.header("Content-Type", content_type);
        response.body = bytes.into();
        response
    }

    /// A small `text/plain` error response: `text` and a line end.
    pub fn error(status: u16, text: &str) -> Self {
        Response::new(status).body("text/plain; charset=utf-8", format!("{text}\n"))
    }

    /// The response to a reader error (the caller closes the connection if `error.close`).
    pub fn from_error(error: &HttpError) -> Self {
        Response::error(error.status, error.reason)
    }

    /// Whether this status never has a body (RFC 9110 §6.4.1: 1xx, 204, 304).
    fn bodiless(&self) -> bool {
        (100..200).contains(&self.status) || self.status == 204 || self.status == 304
    }

    /// Append the response's bytes to `out`.
    pub fn encode(&self, to: ResponseTarget<'_>, out: &mut Vec<u8>) {
        let mut head = String::with_capacity(128 + self.headers.len() * 32);
        // `write!` to a String cannot fail.
        let _ = write!(
            head,
            "HTTP/1.1 {:03} {}\r\n",
            self.status,
            reason_phrase(self.status)
        );
        if let Some(date) = to.date {
            push_field(&mut head, "Date", date);
        }
        for (name, value) in &self.headers {
            let reserved = RESERVED.iter().any(|r| r.eq_ignore_ascii_case(name));
            debug_assert!(!reserved, "{name} is the encoder's to write");
            if !reserved {
                push_field(&mut head, name, value);
            }
        }
        // RFC 9110 §8.6: no Content-Length in 1xx and 204; in 304 it would describe
        // another representation.
        if !self.bodiless() {
            let _ = write!(head, "Content-Length: {}\r\n", self.body.len());
        }
        if to.close {
            head.push_str("Connection: close\r\n");
        }
        head.push_str("\r\n");
        out.reserve(head.len() + self.body.len());
        out.extend_from_slice(head.as_bytes());
        if !to.head_only && !self.bodiless() {
            out.extend_from_slice(&self.body);
        }
    }
}

/// `name: value\r\n`, with any CR, LF or NUL in the value dropped (RFC 9110 §5.5: a field
/// value never holds them; one would split the response).
fn push_field(head: &mut String, name: &str, value: &str) {
    debug_assert!(
        !value.contains(['\r', '\n', '\0']),
        "header {name} value holds CR/LF/NUL"
    );
    head.push_str(name);
    head.push_str(": ");
    head.extend(value.chars().filter(|c| !matches!(c, '\r' | '\n' | '\0')));
    head.push_str("\r\n");
}

/// The reason phrase sent with `status` (RFC 9110 §15 and the WebDAV statuses of RFC 4918
/// §11); empty for a status we do not name (the status line allows that, RFC 9112 §4).
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        207 => "Multi-Status",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        408 => "Request Timeout",
        409 => "Conflict",
        411 => "Length Required",
        410 => "Gone",
        412 => "Precondition Failed",
        413 => "Content Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        417 => "Expectation Failed",
        422 => "Unprocessable Content",
        423 => "Locked",
        424 => "Failed Dependency",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        507 => "Insufficient Storage",
        _ => "",
    }
}
