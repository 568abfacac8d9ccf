//! One blocking client connection: TCP, optionally bound to a source address, upgraded to TLS
//! (implicit or after STARTTLS) with rustls, and a small line/literal reader on top.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, StreamOwned};

use crate::error::Failure;

/// How the client reaches the server's TLS.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TlsMode {
    /// TLS from the first byte (IMAPS 993, POP3S 995, SMTPS 465).
    Implicit,
    /// Plaintext greeting, then STARTTLS / STLS before authenticating.
    Starttls,
    /// No TLS at all (only sensible for inbound SMTP or a server that allows it).
    None,
}

/// Where and how to connect; shared by every session of a run.
#[derive(Clone)]
pub struct Endpoint {
    pub addr: SocketAddr,
    pub bind: Option<SocketAddr>,
    pub tls: TlsMode,
    pub server_name: ServerName<'static>,
    pub tls_config: Arc<ClientConfig>,
    pub timeout: Duration,
}

enum Stream {
    Plain(TcpStream),
    Tls(Box<StreamOwned<ClientConnection, TcpStream>>),
    /// Only while switching from one to the other.
    Gone,
}

pub struct Conn {
    stream: Stream,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// Bytes read from the socket (plaintext side), for MB/s figures.
    pub bytes_in: u64,
}

/// Connect a TCP socket (bound to `bind` first when given) with a connect timeout.
pub fn tcp_connect(ep: &Endpoint) -> Result<TcpStream, Failure> {
    let stream = match ep.bind {
        None => TcpStream::connect_timeout(&ep.addr, ep.timeout).map_err(Failure::connect)?,
        Some(bind) => bound_connect(bind, ep.addr, ep.timeout).map_err(Failure::connect)?,
    };
    stream.set_nodelay(true).map_err(Failure::io)?;
    stream
        .set_read_timeout(Some(ep.timeout))
        .map_err(Failure::io)?;
    stream
        .set_write_timeout(Some(ep.timeout))
        .map_err(Failure::io)?;
    Ok(stream)
}

/// std has no bind-before-connect; socket2 does.
fn bound_connect(bind: SocketAddr, addr: SocketAddr, timeout: Duration) -> io::Result<TcpStream> {
    let socket = new_socket(bind, addr)?;
    socket.connect_timeout(&addr.into(), timeout)?;
    Ok(socket.into())
}

/// A TCP socket for `addr`, bound to `bind` (port 0: any).
pub fn new_socket(bind: SocketAddr, addr: SocketAddr) -> io::Result<socket2::Socket> {
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::STREAM,
        Some(socket2::Protocol::TCP),
    )?;
    // Thousands of short sessions from one source address: allow reusing ports whose
    // previous connections are in TIME_WAIT on our side.
    socket.set_reuse_address(true)?;
    socket.bind(&bind.into())?;
    Ok(socket)
}

impl Conn {
    /// Connect and, for implicit TLS, finish the handshake.
    pub fn open(ep: &Endpoint) -> Result<Conn, Failure> {
        let tcp = tcp_connect(ep)?;
        let mut conn = Conn {
            stream: Stream::Plain(tcp),
            buf: vec![0; 64 * 1024],
            start: 0,
            end: 0,
            bytes_in: 0,
        };
        if ep.tls == TlsMode::Implicit {
            conn.start_tls(ep)?;
        }
        Ok(conn)
    }

    /// Switch to TLS now (after the server's go-ahead for STARTTLS/STLS) and complete the
    /// handshake, so handshake failures are reported as such.
    pub fn start_tls(&mut self, ep: &Endpoint) -> Result<(), Failure> {
        if self.start != self.end {
            // Bytes after the go-ahead would be plaintext injected into the TLS session.
            return Err(Failure::Protocol("data pipelined after STARTTLS".into()));
        }
        let tcp = match std::mem::replace(&mut self.stream, Stream::Gone) {
            Stream::Plain(tcp) => tcp,
            other => {
                self.stream = other;
                return Err(Failure::Protocol("TLS already active".into()));
            }
        };
        let client = ClientConnection::new(ep.tls_config.clone(), ep.server_name.clone())
            .map_err(|e| Failure::Tls(e.to_string()))?;
        let mut tls = StreamOwned::new(client, tcp);
        while tls.conn.is_handshaking() {
            tls.conn
                .complete_io(&mut tls.sock)
                .map_err(|e| Failure::Tls(e.to_string()))?;
        }
        self.stream = Stream::Tls(Box::new(tls));
        Ok(())
    }

    /// How the TLS handshake went (full or resumed), once TLS is up.
    pub fn handshake_kind(&self) -> Option<rustls::HandshakeKind> {
        match &self.stream {
            Stream::Tls(tls) => tls.conn.handshake_kind(),
            _ => None,
        }
    }

    pub fn is_tls(&self) -> bool {
        matches!(self.stream, Stream::Tls(_))
    }

    pub fn write_all(&mut self, data: &[u8]) -> Result<(), Failure> {
        let r = match &mut self.stream {
            Stream::Plain(s) => s.write_all(data).and_then(|_| s.flush()),
            Stream::Tls(s) => s.write_all(data).and_then(|_| s.flush()),
            Stream::Gone => return Err(Failure::Protocol("connection closed".into())),
        };
        r.map_err(Failure::io)
    }

    fn fill(&mut self) -> Result<(), Failure> {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if self.end == self.buf.len() {
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            } else {
                let len = self.buf.len();
                self.buf.resize(len * 2, 0);
            }
        }
        let dst = &mut self.buf[self.end..];
        let n = match &mut self.stream {
            Stream::Plain(s) => s.read(dst),
            Stream::Tls(s) => s.read(dst),
            Stream::Gone => return Err(Failure::Protocol("connection closed".into())),
        }
        .map_err(Failure::io)?;
        if n == 0 {
            return Err(Failure::Closed);
        }
        self.end += n;
        self.bytes_in += n as u64;
        Ok(())
    }

    /// One line without its CRLF (or bare LF). Lines are capped at 1 MiB.
    pub fn read_line(&mut self) -> Result<Vec<u8>, Failure> {
        let mut scanned = self.start;
        loop {
            if let Some(pos) = self.buf[scanned..self.end].iter().position(|&b| b == b'\n') {
                let nl = scanned + pos;
                let mut line_end = nl;
                if line_end > self.start && self.buf[line_end - 1] == b'\r' {
                    line_end -= 1;
                }
                let line = self.buf[self.start..line_end].to_vec();
                self.start = nl + 1;
                return Ok(line);
            }
            scanned = self.end;
            if self.end - self.start > 1 << 20 {
                return Err(Failure::Protocol("line longer than 1 MiB".into()));
            }
            let before = self.start;
            self.fill()?;
            // fill() may have moved the data to the front of the buffer.
            scanned = scanned - before + self.start;
        }
    }

    /// Exactly `n` bytes (an IMAP literal).
    pub fn read_exact(&mut self, n: usize) -> Result<Vec<u8>, Failure> {
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            if self.start == self.end {
                self.fill()?;
            }
            let take = (n - out.len()).min(self.end - self.start);
            out.extend_from_slice(&self.buf[self.start..self.start + take]);
            self.start += take;
        }
        Ok(out)
    }

    /// Whatever is buffered, or else what one read from the socket brings: at most `max`
    /// bytes, never none (the end of the stream is `Failure::Closed`). For an HTTP body
    /// delimited by the connection's close.
    pub fn read_some(&mut self, max: usize) -> Result<Vec<u8>, Failure> {
        if self.start == self.end {
            self.fill()?;
        }
        let take = max.max(1).min(self.end - self.start);
        let out = self.buf[self.start..self.start + take].to_vec();
        self.start += take;
        Ok(out)
    }

    /// Exactly `n` bytes (an IMAP literal), discarded: only their count matters here.
    pub fn skip_exact(&mut self, mut n: usize) -> Result<(), Failure> {
        while n > 0 {
            if self.start == self.end {
                self.fill()?;
            }
            let take = n.min(self.end - self.start);
            self.start += take;
            n -= take;
        }
        Ok(())
    }

    /// Best-effort close: TLS close_notify, then drop.
    pub fn close(mut self) {
        if let Stream::Tls(s) = &mut self.stream {
            s.conn.send_close_notify();
            let _ = s.conn.complete_io(&mut s.sock);
        }
    }
}
