//! A connection's byte transport: plaintext TCP, or TLS driven by hand over it — the server
//! side for accepted connections, the client side for outbound SMTP.
//!
//! rustls' connection is driven directly (no futures-rustls) so that every piece of
//! state — the TLS session, ciphertext received but not yet decrypted, and plaintext not yet
//! read — lives in this one struct. That keeps a later move of a live connection to another
//! shard possible (PLATFORM.md: futures-rustls cannot be rebuilt from its parts).

use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd};
use std::sync::Arc;

use futures_lite::{AsyncReadExt, AsyncWriteExt};
use glommio::net::TcpStream;
use rustls::{ClientConfig, ClientConnection, Connection, ServerConfig, ServerConnection};

/// Ciphertext read from the socket at once.
const READ_CHUNK: usize = 16 * 1024;

/// The negotiated TLS parameters, for logs and `Received:` headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsInfo {
    pub version: String,
    pub cipher: String,
}

/// A transport taken apart to move to another shard: the socket (a duplicated descriptor),
/// the TLS session and any ciphertext received but not yet decrypted. Decrypted plaintext
/// not yet read stays inside the rustls connection, so nothing is lost on the way.
pub struct TransportParts {
    fd: OwnedFd,
    tls: Option<Box<Connection>>,
    rx: Vec<u8>,
    rx_start: usize,
}

pub struct Transport {
    tcp: TcpStream,
    tls: Option<Box<Connection>>,
    /// Bytes received and not yet consumed: `rx[rx_start..]`. With TLS, ciphertext not yet
    /// handed to rustls; before TLS, only what was read along with a PROXY protocol header.
    rx: Vec<u8>,
    rx_start: usize,
    /// Scratch space for ciphertext on its way out.
    tx: Vec<u8>,
    /// Where the next ciphertext is read before it becomes `rx`.
    spare: Vec<u8>,
}

impl Transport {
    /// A plaintext transport over an accepted socket.
    pub fn plain(tcp: TcpStream) -> Transport {
        Transport::plain_after(tcp, Vec::new())
    }

    /// A plaintext transport over a socket from which `early` was read already (after a
    /// PROXY protocol header): those bytes come first, to the session or, on an implicit-TLS
    /// listener, to the TLS handshake.
    pub fn plain_after(tcp: TcpStream, early: Vec<u8>) -> Transport {
        Transport {
            tcp,
            tls: None,
            rx: early,
            rx_start: 0,
            tx: Vec::new(),
            spare: Vec::new(),
        }
    }

    /// Take this transport apart to move it to another shard. The socket is duplicated and
    /// this shard's handle dropped (closed): glommio 0.9 has no `IntoRawFd`, and forgetting
    /// the stream would leak its registration (PLATFORM.md). Call only when no read or write
    /// is in flight.
    pub fn into_parts(self) -> io::Result<TransportParts> {
        let raw = self.tcp.as_raw_fd();
        // SAFETY: `raw` is the open descriptor owned by `self.tcp`, which lives until the end
        // of this function; we only borrow it long enough to duplicate it (F_DUPFD_CLOEXEC).
        #[allow(unsafe_code)]
        let fd = unsafe { BorrowedFd::borrow_raw(raw) }.try_clone_to_owned()?;
        drop(self.tcp);
        Ok(TransportParts {
            fd,
            tls: self.tls,
            rx: self.rx,
            rx_start: self.rx_start,
        })
    }

    /// Rebuild a moved transport on the shard that received it.
    pub fn from_parts(parts: TransportParts) -> Transport {
        // SAFETY: `into_raw_fd` hands over sole ownership of an open, connected TCP socket
        // (duplicated in `into_parts`); the new TcpStream becomes its only owner.
        #[allow(unsafe_code)]
        let tcp = unsafe { TcpStream::from_raw_fd(parts.fd.into_raw_fd()) };
        Transport {
            tcp,
            tls: parts.tls,
            rx: parts.rx,
            rx_start: parts.rx_start,
            tx: Vec::new(),
            spare: Vec::new(),
        }
    }

    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    pub fn tls_info(&self) -> Option<TlsInfo> {
        let c = self.tls.as_ref()?;
        Some(TlsInfo {
            version: c
                .protocol_version()
                .map(|v| format!("{v:?}"))
                .unwrap_or_default(),
            cipher: c
                .negotiated_cipher_suite()
                .map(|s| format!("{:?}", s.suite()))
                .unwrap_or_default(),
        })
    }

    /// The `tls-exporter` channel binding of this connection (RFC 9266): 32 bytes exported
    /// with the label `EXPORTER-Channel-Binding` and an empty context. Only for TLS 1.3,
    /// the version RFC 9266 defines it for.
    pub fn tls_exporter(&self) -> Option<[u8; 32]> {
        let c = self.tls.as_ref()?;
        if c.protocol_version() != Some(rustls::ProtocolVersion::TLSv1_3) {
            return None;
        }
        c.export_keying_material([0u8; 32], crate::scram::EXPORTER_LABEL, Some(&[]))
            .ok()
    }

    /// Run the server side of a TLS handshake on this stream (implicit TLS, or after
    /// STARTTLS/STLS). The caller bounds it with a timeout.
    pub async fn handshake(&mut self, config: Arc<ServerConfig>) -> io::Result<()> {
        if self.tls.is_some() {
            return Err(io::Error::other("TLS is already active"));
        }
        // Bytes received in plaintext before the handshake were consumed by the session (and
        // discarded by it after STARTTLS); the ClientHello starts with the next byte, which
        // is already in `rx` when it came with a PROXY header (the session reads everything
        // buffered there at once, so after STARTTLS nothing is left of it).
        let conn = ServerConnection::new(config).map_err(io::Error::other)?;
        self.tls = Some(Box::new(Connection::Server(conn)));
        self.finish_handshake().await
    }

    /// Run the client side of a TLS handshake (outbound SMTP: implicit TLS to a relay, or
    /// after STARTTLS), presenting `server_name`. The caller bounds it with a timeout.
    pub async fn client_handshake(
        &mut self,
        config: Arc<ClientConfig>,
        server_name: rustls_pki_types::ServerName<'static>,
    ) -> io::Result<()> {
        if self.tls.is_some() {
            return Err(io::Error::other("TLS is already active"));
        }
        let conn = ClientConnection::new(config, server_name).map_err(io::Error::other)?;
        self.tls = Some(Box::new(Connection::Client(conn)));
        self.finish_handshake().await
    }

    async fn finish_handshake(&mut self) -> io::Result<()> {
        loop {
            self.flush_tls().await?;
            let handshaking = self.tls.as_ref().is_some_and(|c| c.is_handshaking());
            if !handshaking {
                return Ok(());
            }
            if !self.feed_tls().await? {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "peer closed during TLS handshake",
                ));
            }
        }
    }

    /// Read plaintext into `buf`. `Ok(0)` means the peer closed the connection.
    pub async fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.tls.is_none() {
            let early = &self.rx[self.rx_start..];
            if !early.is_empty() {
                let n = early.len().min(buf.len());
                buf[..n].copy_from_slice(&early[..n]);
                self.rx_start += n;
                if self.rx_start == self.rx.len() {
                    self.rx = Vec::new();
                    self.rx_start = 0;
                }
                return Ok(n);
            }
            return self.tcp.read(buf).await;
        }
        loop {
            if let Some(conn) = self.tls.as_mut() {
                match conn.reader().read(buf) {
                    Ok(n) => return Ok(n),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    // The peer closed without close_notify: treat it as a close.
                    Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(0),
                    Err(e) => return Err(e),
                }
            }
            self.flush_tls().await?;
            if !self.feed_tls().await? {
                return Ok(0);
            }
        }
    }

    /// Write all of `data` (encrypting it when TLS is active).
    pub async fn write_all(&mut self, mut data: &[u8]) -> io::Result<()> {
        if self.tls.is_none() {
            return self.tcp.write_all(data).await;
        }
        while !data.is_empty() {
            let n = match self.tls.as_mut() {
                Some(conn) => conn.writer().write(data)?,
                None => return Err(io::Error::other("TLS state lost")),
            };
            data = &data[n..];
            self.flush_tls().await?;
        }
        Ok(())
    }

    /// Write `parts` one after the other, as if concatenated. Over TLS they are encrypted
    /// straight from where they lie (rustls takes them as one vectored write, so records are
    /// filled across parts), without first being copied into one buffer.
    pub async fn write_parts(&mut self, parts: &[&[u8]]) -> io::Result<()> {
        if self.tls.is_none() {
            for part in parts {
                self.tcp.write_all(part).await?;
            }
            return Ok(());
        }
        // (index of the first part not fully taken, bytes of it already taken)
        let (mut i, mut taken) = (0, 0);
        while i < parts.len() {
            let slices: Vec<io::IoSlice<'_>> = std::iter::once(&parts[i][taken..])
                .chain(parts[i + 1..].iter().copied())
                .map(io::IoSlice::new)
                .collect();
            let mut n = match self.tls.as_mut() {
                Some(conn) => conn.writer().write_vectored(&slices)?,
                None => return Err(io::Error::other("TLS state lost")),
            };
            while i < parts.len() && n >= parts[i].len() - taken {
                n -= parts[i].len() - taken;
                taken = 0;
                i += 1;
            }
            taken += n;
            self.flush_tls().await?;
        }
        Ok(())
    }

    /// Close politely: TLS close_notify when TLS is on, then shut the socket down.
    pub async fn close(mut self) {
        if let Some(conn) = self.tls.as_mut() {
            conn.send_close_notify();
            let _ = self.flush_tls().await;
        }
        let _ = self.tcp.shutdown(std::net::Shutdown::Both).await;
    }

    /// Send every TLS record rustls has ready.
    async fn flush_tls(&mut self) -> io::Result<()> {
        let Some(conn) = self.tls.as_mut() else {
            return Ok(());
        };
        while conn.wants_write() {
            self.tx.clear();
            conn.write_tls(&mut self.tx)?;
            self.tcp.write_all(&self.tx).await?;
        }
        Ok(())
    }

    /// Hand received ciphertext to rustls, reading from the socket when none is buffered.
    /// `Ok(false)`: the peer closed the connection.
    async fn feed_tls(&mut self) -> io::Result<bool> {
        if self.rx_start == self.rx.len() {
            // Cancel-safe: the driver drops a pending read when a timer, a shutdown or a
            // mailbox change wins the race. Read into the spare buffer and only then swap it
            // in, so a dropped read never leaves unread garbage in `rx`. (glommio's own read
            // is cancel-safe: it receives synchronously inside `poll_read`.)
            self.spare.resize(READ_CHUNK, 0);
            let n = self.tcp.read(&mut self.spare).await?;
            self.spare.truncate(n);
            std::mem::swap(&mut self.rx, &mut self.spare);
            self.rx_start = 0;
            if n == 0 {
                return Ok(false);
            }
        }
        let Some(conn) = self.tls.as_mut() else {
            return Ok(true);
        };
        let mut pending = &self.rx[self.rx_start..];
        let before = pending.len();
        conn.read_tls(&mut pending)?;
        self.rx_start += before - pending.len();
        if let Err(e) = conn.process_new_packets() {
            // Tell the peer why (the alert rustls queued), then fail.
            let _ = self.flush_tls().await;
            return Err(io::Error::new(io::ErrorKind::InvalidData, e));
        }
        Ok(true)
    }
}
