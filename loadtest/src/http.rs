//! A minimal HTTP/1.1 client (RFC 9110, RFC 9112) on `conn`'s TCP/TLS: one request at a time
//! on a persistent connection, Basic credentials (RFC 7617) sent with every request, bodies
//! delimited by Content-Length, chunked transfer coding or the connection's close, and a new
//! connection whenever the server ends the old one (`Connection: close`, or HTTP/1.0 without
//! keep-alive — sogod and Radicale's wsgiref server answer so).
//!
//! Written here from the RFCs, like the mail clients, and sharing no code with ringpost.
//! Everything read is bounded: the response head (`MAX_HEAD`, `MAX_FIELDS`), each body
//! (`max_body`), interim 1xx responses, chunk-size lines and trailers.

use base64::Engine as _;

use crate::conn::{Conn, Endpoint};
use crate::error::Failure;

/// Status line and header fields of one response, at most.
const MAX_HEAD: usize = 64 * 1024;
/// Header fields (or trailer fields) of one response, at most.
const MAX_FIELDS: usize = 128;
/// Interim (1xx) responses before the final one, at most.
const MAX_INTERIM: usize = 8;

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    /// Field names in lower case, values trimmed; in order of arrival.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// The first field named `name` (lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// A refusal for the report: the request's kind, the status and the body's start.
    pub fn failure(&self, kind: &'static str) -> Failure {
        Failure::reply(kind, &self.status.to_string(), &self.body)
    }

    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// How the body of a response ends.
enum Framing {
    None,
    Length(usize),
    Chunked,
    Close,
}

pub struct Client {
    ep: Endpoint,
    conn: Option<Conn>,
    host: String,
    authorization: String,
    max_body: usize,
    /// Requests answered (final responses read), whatever their status.
    pub requests: u64,
    /// Connections opened (TCP connect + TLS handshake).
    pub connections: u64,
    /// Bytes received on connections already closed.
    closed_bytes: u64,
}

/// True for a read/write failure that means the server had closed a reused connection before
/// our request reached it (RFC 9112 §9.3.1: such a request may be sent again on a new one).
fn stale_connection(f: &Failure) -> bool {
    use std::io::ErrorKind::*;
    match f {
        Failure::Closed => true,
        Failure::Io(kind) => matches!(
            kind,
            ConnectionReset | ConnectionAborted | BrokenPipe | UnexpectedEof
        ),
        // A TLS close without close_notify, seen on a connection the server dropped.
        Failure::Tls(msg) => msg.contains("close_notify") || msg.contains("unexpected eof"),
        _ => false,
    }
}

/// A comma-separated field value holds `token` (case-insensitive), e.g. `Connection: close`.
fn has_token(value: &str, token: &str) -> bool {
    value
        .split(',')
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

impl Client {
    /// A client for `ep` that sends `user`/`pass` as Basic credentials. Nothing is connected
    /// until the first request.
    pub fn new(ep: &Endpoint, user: &str, pass: &str, max_body: usize) -> Client {
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
        let name = match &ep.server_name {
            rustls::pki_types::ServerName::DnsName(n) => n.as_ref().to_string(),
            _ => ep.addr.ip().to_string(),
        };
        let host = if ep.addr.is_ipv6() && name.contains(':') {
            format!("[{name}]:{}", ep.addr.port())
        } else {
            format!("{name}:{}", ep.addr.port())
        };
        Client {
            ep: ep.clone(),
            conn: None,
            host,
            authorization: format!("Basic {token}"),
            max_body,
            requests: 0,
            connections: 0,
            closed_bytes: 0,
        }
    }

    /// Bytes received so far, over every connection.
    pub fn bytes_in(&self) -> u64 {
        self.closed_bytes + self.conn.as_ref().map_or(0, |c| c.bytes_in)
    }

    fn drop_conn(&mut self) {
        if let Some(c) = self.conn.take() {
            self.closed_bytes += c.bytes_in;
            c.close();
        }
    }

    /// Close the connection (TLS close_notify first), if one is open.
    pub fn close(mut self) {
        self.drop_conn();
    }

    /// Send one request and read its final response. `headers` come after Host,
    /// Authorization and User-Agent; Content-Length is added when there is a body. A request
    /// that finds its reused connection closed is sent once more on a new connection.
    pub fn request(
        &mut self,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<Response, Failure> {
        let mut head = format!(
            "{method} {target} HTTP/1.1\r\nHost: {}\r\nAuthorization: {}\r\nUser-Agent: ringpost-loadtest/{}\r\n",
            self.host,
            self.authorization,
            env!("CARGO_PKG_VERSION")
        );
        for (name, value) in headers {
            head.push_str(name);
            head.push_str(": ");
            head.push_str(value);
            head.push_str("\r\n");
        }
        if !body.is_empty() || matches!(method, "PUT" | "POST" | "PROPFIND" | "REPORT") {
            head.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        head.push_str("\r\n");
        let mut wire = head.into_bytes();
        wire.extend_from_slice(body);
        // At most two attempts: the second only on a fresh connection.
        for attempt in 0..2 {
            let reused = self.conn.is_some();
            if self.conn.is_none() {
                self.conn = Some(Conn::open(&self.ep)?);
                self.connections += 1;
            }
            let Some(conn) = self.conn.as_mut() else {
                return Err(Failure::Protocol("no connection".into()));
            };
            let mut answered = false;
            let result = conn
                .write_all(&wire)
                .and_then(|()| read_response(conn, method, self.max_body, &mut answered));
            match result {
                Ok((resp, keep)) => {
                    self.requests += 1;
                    if !keep {
                        self.drop_conn();
                    }
                    return Ok(resp);
                }
                Err(f) => {
                    self.drop_conn();
                    if attempt == 0 && reused && !answered && stale_connection(&f) {
                        continue;
                    }
                    return Err(f);
                }
            }
        }
        Err(Failure::Closed)
    }
}

/// Read one final response to `method` (skipping interim 1xx ones). `answered` turns true
/// with the first byte of a status line. Returns the response and whether the connection
/// may carry another request.
fn read_response(
    conn: &mut Conn,
    method: &str,
    max_body: usize,
    answered: &mut bool,
) -> Result<(Response, bool), Failure> {
    for _ in 0..=MAX_INTERIM {
        let line = conn.read_line()?;
        *answered = true;
        let (minor, status) = status_line(&line)?;
        let (headers, head_bytes) = read_fields(conn, line.len())?;
        if head_bytes > MAX_HEAD {
            return Err(Failure::Protocol("response head over 64 KiB".into()));
        }
        if (100..200).contains(&status) {
            if status == 101 {
                return Err(Failure::Protocol("101 Switching Protocols".into()));
            }
            continue;
        }
        let connection = headers
            .iter()
            .filter(|(n, _)| n == "connection")
            .map(|(_, v)| v.as_str())
            .collect::<Vec<_>>()
            .join(",");
        let mut keep = if minor >= 1 {
            !has_token(&connection, "close")
        } else {
            has_token(&connection, "keep-alive")
        };
        let framing = framing(method, status, &headers)?;
        let body = match framing {
            Framing::None => Vec::new(),
            Framing::Length(n) => {
                if n > max_body {
                    return Err(Failure::Protocol(format!(
                        "Content-Length {n} over the limit of {max_body} bytes (--max-body)"
                    )));
                }
                conn.read_exact(n)?
            }
            Framing::Chunked => read_chunked(conn, max_body)?,
            Framing::Close => {
                keep = false;
                read_to_close(conn, max_body)?
            }
        };
        return Ok((
            Response {
                status,
                headers,
                body,
            },
            keep,
        ));
    }
    Err(Failure::Protocol("too many interim (1xx) responses".into()))
}

/// `HTTP/1.x NNN reason`: the minor version and the status code.
fn status_line(line: &[u8]) -> Result<(u8, u16), Failure> {
    let bad = || {
        Failure::Protocol(format!(
            "bad status line {:?}",
            String::from_utf8_lossy(&line[..line.len().min(80)])
        ))
    };
    let rest = line.strip_prefix(b"HTTP/1.").ok_or_else(bad)?;
    let (&minor, rest) = rest.split_first().ok_or_else(bad)?;
    if !minor.is_ascii_digit() || rest.first() != Some(&b' ') || rest.len() < 4 {
        return Err(bad());
    }
    let code = &rest[1..4];
    if !code.iter().all(u8::is_ascii_digit) || rest.get(4).is_some_and(|&b| b != b' ') {
        return Err(bad());
    }
    let status = code.iter().fold(0u16, |n, &d| n * 10 + u16::from(d - b'0'));
    if !(100..=599).contains(&status) {
        return Err(bad());
    }
    Ok((minor - b'0', status))
}

/// Header (or trailer) fields up to the empty line; names lower-cased. An obsolete folded
/// line continues the previous value (RFC 9112 §5.2). Also returns the bytes read, with
/// `already` added.
fn read_fields(conn: &mut Conn, already: usize) -> Result<(Vec<(String, String)>, usize), Failure> {
    let mut fields: Vec<(String, String)> = Vec::new();
    let mut bytes = already;
    loop {
        let line = conn.read_line()?;
        bytes += line.len() + 2;
        if bytes > MAX_HEAD {
            return Err(Failure::Protocol("response head over 64 KiB".into()));
        }
        if line.is_empty() {
            return Ok((fields, bytes));
        }
        let text = String::from_utf8_lossy(&line);
        if line[0] == b' ' || line[0] == b'\t' {
            let Some(last) = fields.last_mut() else {
                return Err(Failure::Protocol("folded line before any field".into()));
            };
            last.1.push(' ');
            last.1.push_str(text.trim());
            continue;
        }
        let Some((name, value)) = text.split_once(':') else {
            return Err(Failure::Protocol(format!(
                "header line without a colon: {:?}",
                text.chars().take(80).collect::<String>()
            )));
        };
        if name.is_empty() || name.bytes().any(|b| b <= b' ' || b >= 0x7f) {
            return Err(Failure::Protocol("bad header field name".into()));
        }
        if fields.len() >= MAX_FIELDS {
            return Err(Failure::Protocol("too many header fields".into()));
        }
        fields.push((name.to_ascii_lowercase(), value.trim().to_string()));
    }
}

/// How the body of a response with `status` to `method` is delimited (RFC 9112 §6.3).
fn framing(method: &str, status: u16, headers: &[(String, String)]) -> Result<Framing, Failure> {
    if method == "HEAD" || status == 204 || status == 304 || (100..200).contains(&status) {
        return Ok(Framing::None);
    }
    let te: Vec<&str> = headers
        .iter()
        .filter(|(n, _)| n == "transfer-encoding")
        .flat_map(|(_, v)| v.split(','))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .collect();
    if let Some(last) = te.last() {
        // Transfer-Encoding overrides Content-Length; without chunked last, the body runs to
        // the close.
        return Ok(if last.eq_ignore_ascii_case("chunked") {
            Framing::Chunked
        } else {
            Framing::Close
        });
    }
    let mut length: Option<usize> = None;
    for (_, v) in headers.iter().filter(|(n, _)| n == "content-length") {
        for part in v.split(',') {
            let part = part.trim();
            if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) || part.len() > 15 {
                return Err(Failure::Protocol(format!("bad Content-Length {v:?}")));
            }
            let n: usize = part
                .parse()
                .map_err(|_| Failure::Protocol(format!("bad Content-Length {v:?}")))?;
            if length.is_some_and(|m| m != n) {
                return Err(Failure::Protocol(
                    "conflicting Content-Length fields".into(),
                ));
            }
            length = Some(n);
        }
    }
    Ok(match length {
        Some(0) => Framing::None,
        Some(n) => Framing::Length(n),
        None => Framing::Close,
    })
}

/// A chunked body (RFC 9112 §7.1): chunk-size [; extensions] CRLF data CRLF …, 0, trailers.
fn read_chunked(conn: &mut Conn, max_body: usize) -> Result<Vec<u8>, Failure> {
    let mut body = Vec::new();
    // Each chunk adds at least one byte (the last one ends the loop): bounded by max_body.
    loop {
        let line = conn.read_line()?;
        if line.len() > 1024 {
            return Err(Failure::Protocol("chunk-size line over 1 KiB".into()));
        }
        let text = String::from_utf8_lossy(&line);
        let size_text = text.split(';').next().unwrap_or("").trim();
        if size_text.is_empty()
            || size_text.len() > 15
            || !size_text.bytes().all(|b| b.is_ascii_hexdigit())
        {
            return Err(Failure::Protocol(format!(
                "bad chunk size {:?}",
                text.chars().take(40).collect::<String>()
            )));
        }
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| Failure::Protocol("bad chunk size".into()))?;
        if size == 0 {
            // Trailer fields, then the empty line; their content is not needed.
            read_fields(conn, 0)?;
            return Ok(body);
        }
        if body.len() + size > max_body {
            return Err(Failure::Protocol(format!(
                "chunked body over the limit of {max_body} bytes (--max-body)"
            )));
        }
        body.extend_from_slice(&conn.read_exact(size)?);
        if !conn.read_line()?.is_empty() {
            return Err(Failure::Protocol("chunk data not followed by CRLF".into()));
        }
    }
}

/// A body that ends when the server closes the connection.
fn read_to_close(conn: &mut Conn, max_body: usize) -> Result<Vec<u8>, Failure> {
    let mut body = Vec::new();
    // Each read adds at least one byte: bounded by max_body.
    loop {
        match conn.read_some(64 * 1024) {
            Ok(part) => {
                if body.len() + part.len() > max_body {
                    return Err(Failure::Protocol(format!(
                        "body over the limit of {max_body} bytes (--max-body)"
                    )));
                }
                body.extend_from_slice(&part);
            }
            Err(Failure::Closed) => return Ok(body),
            Err(f) => return Err(f),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::TcpListener;
    use std::sync::Arc;
    use std::time::Duration;

    fn endpoint(addr: std::net::SocketAddr) -> Endpoint {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth();
        Endpoint {
            addr,
            bind: None,
            tls: crate::conn::TlsMode::None,
            server_name: rustls::pki_types::ServerName::try_from("localhost").unwrap(),
            tls_config: Arc::new(config),
            timeout: Duration::from_secs(5),
        }
    }

    /// Read one request (head and Content-Length body); its head.
    fn read_request(r: &mut BufReader<std::net::TcpStream>) -> Option<String> {
        let mut head = String::new();
        loop {
            let mut line = String::new();
            if r.read_line(&mut line).ok()? == 0 {
                return None;
            }
            head.push_str(&line);
            if line == "\r\n" {
                break;
            }
        }
        let len = head
            .lines()
            .find_map(|l| l.strip_prefix("Content-Length: "))
            .map_or(0, |v| v.trim().parse::<usize>().unwrap());
        let mut body = vec![0; len];
        r.read_exact(&mut body).ok()?;
        Some(head)
    }

    /// A server that answers each connection's requests with `answers` in turn: keep-alive
    /// with Content-Length, then chunked, then `Connection: close` (the client must
    /// reconnect), then HTTP/1.0, then a body delimited by the close.
    #[test]
    fn keep_alive_chunked_and_close() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let mut heads = Vec::new();
            let answers: [&[&[u8]]; 3] = [
                &[
                    b"HTTP/1.1 207 Multi-Status\r\nContent-Length: 5\r\n\r\nhello",
                    b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n2\r\nde\r\n0\r\nX-T: 1\r\n\r\n",
                    b"HTTP/1.1 201 Created\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
                ],
                &[b"HTTP/1.0 404 Not Found\r\nContent-Length: 3\r\n\r\nnope"],
                &[b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end"],
            ];
            for conn_answers in answers {
                let (stream, _) = listener.accept().unwrap();
                let mut w = stream.try_clone().unwrap();
                let mut r = BufReader::new(stream);
                for a in conn_answers {
                    heads.push(read_request(&mut r).unwrap());
                    w.write_all(a).unwrap();
                }
            }
            heads
        });
        let mut c = Client::new(&endpoint(addr), "alice@example.com", "pw", 1 << 20);
        let r = c
            .request("PROPFIND", "/cal/", &[("Depth", "1")], b"<x/>")
            .unwrap();
        assert_eq!((r.status, r.body.as_slice()), (207, &b"hello"[..]));
        let r = c.request("REPORT", "/cal/", &[], b"<y/>").unwrap();
        assert_eq!((r.status, r.body.as_slice()), (200, &b"abcde"[..]));
        let r = c.request("PUT", "/cal/a.ics", &[], b"BEGIN").unwrap();
        assert_eq!(r.status, 201);
        assert_eq!(c.connections, 1);
        let r = c.request("DELETE", "/cal/a.ics", &[], b"").unwrap();
        // HTTP/1.0 without keep-alive: the 4th byte ("nope" is 4, Content-Length says 3)
        // is never read, and the next request takes a new connection.
        assert_eq!((r.status, r.body.as_slice()), (404, &b"nop"[..]));
        let r = c.request("GET", "/", &[], b"").unwrap();
        assert_eq!((r.status, r.body.as_slice()), (200, &b"until the end"[..]));
        assert_eq!((c.requests, c.connections), (5, 3));
        let heads = server.join().unwrap();
        // Basic credentials on every request (base64 of alice@example.com:pw).
        assert!(heads
            .iter()
            .all(|h| h.contains("Authorization: Basic YWxpY2VAZXhhbXBsZS5jb206cHc=\r\n")));
        assert!(heads[0].starts_with("PROPFIND /cal/ HTTP/1.1\r\nHost: localhost:"));
        assert!(heads[0].contains("Depth: 1\r\n") && heads[0].contains("Content-Length: 4\r\n"));
        assert!(!heads[3].contains("Content-Length"));
    }

    /// A keep-alive connection the server closed while idle: the request goes again on a new
    /// connection. A body over the limit is refused.
    #[test]
    fn stale_connection_is_replaced_and_bodies_are_bounded() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let mut w = stream.try_clone().unwrap();
            let mut r = BufReader::new(stream);
            read_request(&mut r).unwrap();
            w.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                .unwrap();
            drop((w, r));
            let (stream, _) = listener.accept().unwrap();
            let mut w = stream.try_clone().unwrap();
            let mut r = BufReader::new(stream);
            read_request(&mut r).unwrap();
            w.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                .unwrap();
            read_request(&mut r).unwrap();
            w.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n")
                .unwrap();
        });
        let mut c = Client::new(&endpoint(addr), "u", "p", 10);
        assert_eq!(c.request("GET", "/", &[], b"").unwrap().status, 200);
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(c.request("GET", "/", &[], b"").unwrap().status, 200);
        assert_eq!(c.connections, 2);
        assert!(matches!(
            c.request("GET", "/", &[], b""),
            Err(Failure::Protocol(_))
        ));
        server.join().unwrap();
    }

    #[test]
    fn status_lines() {
        assert_eq!(
            status_line(b"HTTP/1.1 207 Multi-Status").ok(),
            Some((1, 207))
        );
        assert_eq!(status_line(b"HTTP/1.0 200 OK").ok(), Some((0, 200)));
        assert_eq!(status_line(b"HTTP/1.1 204").ok(), Some((1, 204)));
        assert!(status_line(b"HTTP/1.1 20 OK").is_err());
        assert!(status_line(b"HTTP/2 200").is_err());
        assert!(status_line(b"HTTP/1.1 2000 OK").is_err());
        assert!(status_line(b"HTTP/1.1 099 x").is_err());
    }

    #[test]
    fn tokens() {
        assert!(has_token("keep-alive, Close", "close"));
        assert!(!has_token("closed", "close"));
    }

    fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn framings() {
        let f = |m, s, hs: &[(&str, &str)]| framing(m, s, &h(hs));
        assert!(matches!(f("GET", 200, &[]), Ok(Framing::Close)));
        assert!(matches!(
            f("GET", 200, &[("content-length", "12")]),
            Ok(Framing::Length(12))
        ));
        assert!(matches!(
            f("GET", 200, &[("content-length", "12, 12")]),
            Ok(Framing::Length(12))
        ));
        assert!(f("GET", 200, &[("content-length", "12, 13")]).is_err());
        assert!(f("GET", 200, &[("content-length", "-1")]).is_err());
        assert!(matches!(
            f(
                "GET",
                200,
                &[
                    ("content-length", "5"),
                    ("transfer-encoding", "gzip, chunked")
                ]
            ),
            Ok(Framing::Chunked)
        ));
        assert!(matches!(
            f("HEAD", 200, &[("content-length", "5")]),
            Ok(Framing::None)
        ));
        assert!(matches!(f("PUT", 204, &[]), Ok(Framing::None)));
    }
}
