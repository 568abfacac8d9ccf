//! A connection's byte transport: plaintext TCP, or TLS driven by hand over it — the server
//! side for accepted connections, the client side for outbound SMTP.
//!
//! rustls' connection is driven directly (no futures-rustls) so that every piece of
//! state — the TLS session, ciphertext received but not yet decrypted, and plaintext not yet
//! read — lives in this one struct. That keeps a later move of a live connection to another
//! shard possible (PLATFORM.md: futures-rustls cannot be rebuilt from its parts).
//!
//! Compression (IMAP COMPRESS=DEFLATE, RFC 4978) sits between the session and TLS: the
//! session's bytes are deflated, then encrypted; received plaintext is inflated before the
//! session sees it. Its state (both DEFLATE streams and compressed bytes not inflated yet)
//! lives here too and moves with the connection: a session can log in again after
//! UNAUTHENTICATE, for an account on another shard, and compression stays on (RFC 4978 §3).

use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd};
use std::sync::Arc;

use futures_lite::{AsyncReadExt, AsyncWriteExt};
use glommio::net::TcpStream;
use rustls::{ClientConfig, ClientConnection, Connection, ServerConfig, ServerConnection};

use crate::wire::deflate::{Deflater, Inflater};

/// A closing connection stops reading what the client still sends after this long without
/// data ([`Transport::close`])...
const LINGER_QUIET: std::time::Duration = std::time::Duration::from_millis(200);
/// ...or this long in all, or after this many bytes.
const LINGER_MAX: std::time::Duration = std::time::Duration::from_secs(2);
const LINGER_BYTES: usize = 1 << 20;

/// Ciphertext read from the socket at once.
const READ_CHUNK: usize = 16 * 1024;

/// What [`Transport::wait_input`] reads to learn that a quiet connection has input: a few
/// bytes in the waiting future itself, so that an idle connection holds no read buffer.
const PROBE: usize = 32;

/// Compressed output is sent whenever this much has gathered, so a large reply is never held
/// whole in compressed form.
const DEFLATE_SEND_AT: usize = 64 * 1024;

/// Input to the compressor at a time.
const DEFLATE_STEP: usize = 64 * 1024;

/// Both DEFLATE streams of a compressed connection.
struct Compression {
    deflater: Deflater,
    inflater: Inflater,
    /// Compressed bytes received and not inflated yet: `rx[rx_start..]`; released once
    /// inflated.
    rx: Vec<u8>,
    rx_start: usize,
    /// Compressed bytes on their way out (empty between bursts).
    tx: Vec<u8>,
}

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
    compression: Option<Box<Compression>>,
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
    /// DEFLATE in both directions, once COMPRESS succeeded.
    compression: Option<Box<Compression>>,
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
            compression: None,
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
            compression: self.compression,
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
            compression: parts.compression,
        }
    }

    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// From now on deflate everything written and inflate everything read (raw DEFLATE,
    /// RFC 4978), `pipelined` (compressed bytes already received) first. Compressed output
    /// is made at `level`.
    pub fn start_compression(&mut self, level: u32, pipelined: Vec<u8>) -> io::Result<()> {
        if self.compression.is_some() {
            return Err(io::Error::other("compression is already active"));
        }
        self.compression = Some(Box::new(Compression {
            deflater: Deflater::new(level),
            inflater: Inflater::new(),
            rx: pipelined,
            rx_start: 0,
            tx: Vec::new(),
        }));
        Ok(())
    }

    /// Whether the compressor's memory is held (see [`Transport::release_compressor`]).
    pub fn holds_compressor(&self) -> bool {
        self.compression
            .as_ref()
            .is_some_and(|c| c.deflater.is_holding())
    }

    /// Give back the compressor's memory (about 312 KiB) while the connection is quiet; the
    /// next write makes a new one, which continues the stream (everything written so far was
    /// flushed). The inflater stays: the client may refer back 32 KiB at any time.
    pub fn release_compressor(&mut self) {
        if let Some(c) = self.compression.as_mut() {
            c.deflater.release();
        }
    }

    /// Whether this transport holds a read or write buffer that
    /// [`Transport::release_buffers`] would give back.
    pub fn holds_buffers(&self) -> bool {
        self.rx.capacity() > 0 || self.tx.capacity() > 0
    }

    /// Give back the read and write buffers while the connection is quiet (received bytes
    /// not consumed yet are kept). The next read or write allocates them again; until then,
    /// wait for input with [`Transport::wait_input`], which needs no buffer.
    pub fn release_buffers(&mut self) {
        if self.rx_start == self.rx.len() {
            self.rx = Vec::new();
            self.rx_start = 0;
        }
        self.tx = Vec::new();
    }

    /// Wait until the connection has input (or was closed), holding no read buffer meanwhile:
    /// the first bytes are read into a few bytes of this future and kept in the transport for
    /// the next [`Transport::read`], which then reads the rest as usual. Returns at once if
    /// input is buffered already. Cancel-safe: nothing is kept unless it was read.
    pub async fn wait_input(&mut self) -> io::Result<()> {
        let tls_buffered = self.tls.as_ref().is_some_and(|c| !c.wants_read());
        let inflating = self
            .compression
            .as_ref()
            .is_some_and(|c| c.rx_start < c.rx.len());
        if self.rx_start < self.rx.len() || tls_buffered || inflating {
            return Ok(());
        }
        let mut probe = [0u8; PROBE];
        let n = self.tcp.read(&mut probe).await?;
        // `Ok(0)` (closed) keeps nothing: the next read sees the end of the stream again.
        self.rx = probe[..n].to_vec();
        self.rx_start = 0;
        Ok(())
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
        if self.compression.is_some() {
            // TLS must sit under compression, never inside it.
            return Err(io::Error::other("compression is active"));
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

    /// Read plaintext into `buf` (inflated when compression is on: at most `buf.len()` bytes
    /// however much a few compressed bytes stand for). `Ok(0)` means the peer closed the
    /// connection; invalid compressed data is an `InvalidData` error.
    ///
    /// Cancel-safe like the plain read: compressed bytes are kept only once read, and
    /// inflating never waits.
    pub async fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.compression.is_none() {
            return self.read_uncompressed(buf).await;
        }
        // A few compressed bytes can stand for a thousand times as many: a client could keep
        // the shard inflating for it alone, every read ready at once. Let the shard's other
        // connections run between reads (before anything is inflated, so a read dropped here
        // loses nothing).
        glommio::yield_if_needed().await;
        loop {
            if let Some(n) = self.inflate_buffered(buf)? {
                return Ok(n);
            }
            let mut compressed = vec![0u8; READ_CHUNK];
            let n = self.read_uncompressed(&mut compressed).await?;
            if n == 0 {
                return Ok(0);
            }
            compressed.truncate(n);
            if let Some(c) = self.compression.as_mut() {
                c.rx = compressed;
                c.rx_start = 0;
            }
        }
    }

    /// Inflate what was received into `buf`: `Some(n)` with `n > 0` bytes, `None` when more
    /// compressed input is needed.
    fn inflate_buffered(&mut self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        let Some(c) = self.compression.as_mut() else {
            return Ok(None);
        };
        if buf.is_empty() {
            return Ok(Some(0));
        }
        loop {
            // Called with no input too: the inflater may hold output a full `buf` cut short.
            let (used, made) = c
                .inflater
                .inflate(&c.rx[c.rx_start..], buf)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
            c.rx_start += used;
            if c.rx_start == c.rx.len() {
                c.rx = Vec::new();
                c.rx_start = 0;
            }
            if made > 0 {
                return Ok(Some(made));
            }
            if used == 0 {
                if c.rx.is_empty() {
                    return Ok(None);
                }
                // Input left, room to write, and no progress: never so for valid DEFLATE.
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "DEFLATE stream stalled",
                ));
            }
        }
    }

    /// Read plaintext (decrypted, not inflated) into `buf`.
    async fn read_uncompressed(&mut self, buf: &mut [u8]) -> io::Result<usize> {
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

    /// Write all of `data` (compressing and encrypting it when those are on).
    pub async fn write_all(&mut self, data: &[u8]) -> io::Result<()> {
        if self.compression.is_some() {
            return self.write_parts(&[data]).await;
        }
        self.write_uncompressed(data).await
    }

    /// Write all of `data`, encrypted when TLS is active, never compressed.
    async fn write_uncompressed(&mut self, mut data: &[u8]) -> io::Result<()> {
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
    ///
    /// With compression on they are deflated, sent as the compressed bytes gather, and the
    /// stream is then sync-flushed (RFC 4978 §4: the client must never wait for output the
    /// compressor holds; the driver writes once per burst, before it waits for the client).
    pub async fn write_parts(&mut self, parts: &[&[u8]]) -> io::Result<()> {
        if self.compression.is_none() {
            return self.write_parts_uncompressed(parts).await;
        }
        for part in parts {
            for piece in part.chunks(DEFLATE_STEP) {
                // Compressing a large reply takes milliseconds: not in one go.
                glommio::yield_if_needed().await;
                if let Some(c) = self.compression.as_mut() {
                    c.deflater.write(piece, &mut c.tx);
                }
                self.send_compressed(DEFLATE_SEND_AT).await?;
            }
        }
        if let Some(c) = self.compression.as_mut() {
            c.deflater.flush(&mut c.tx);
        }
        self.send_compressed(1).await
    }

    /// Send the compressed bytes gathered if there are at least `at` of them.
    async fn send_compressed(&mut self, at: usize) -> io::Result<()> {
        let Some(c) = self.compression.as_mut() else {
            return Ok(());
        };
        if c.tx.len() < at {
            return Ok(());
        }
        // Not kept for the next burst: an idle connection holds no output buffer.
        let tx = std::mem::take(&mut c.tx);
        self.write_uncompressed(&tx).await
    }

    async fn write_parts_uncompressed(&mut self, parts: &[&[u8]]) -> io::Result<()> {
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

    /// Close politely: TLS close_notify when TLS is on, then a staged close (RFC 9112 §9.6):
    /// our side is shut down first, and what the client still sends is read and dropped for
    /// a moment. Closing with unread bytes in the socket makes the kernel answer with a reset,
    /// which can destroy the last response before the client reads it (a 413 sent before
    /// a large body, an SMTP 552, a BYE). Bounded: [`LINGER_QUIET`] without data, at most
    /// [`LINGER_MAX`] and [`LINGER_BYTES`] in all.
    pub async fn close(mut self) {
        if let Some(conn) = self.tls.as_mut() {
            conn.send_close_notify();
            let _ = self.flush_tls().await;
        }
        if self.tcp.shutdown(std::net::Shutdown::Write).await.is_ok() {
            let started = std::time::Instant::now();
            let mut dropped = 0;
            // On the heap: this runs inside every connection's future, which stays small.
            let mut buf = vec![0u8; 4096];
            while dropped < LINGER_BYTES && started.elapsed() < LINGER_MAX {
                let read = async { Some(self.tcp.read(&mut buf).await) };
                let quiet = async {
                    glommio::timer::sleep(LINGER_QUIET).await;
                    None
                };
                match futures_lite::future::or(read, quiet).await {
                    Some(Ok(n)) if n > 0 => dropped += n,
                    _ => break,
                }
            }
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
            self.rx_start = 0;
            if read_into(&mut self.tcp, &mut self.rx).await? == 0 {
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

/// Read from `tcp` into `rx`, replacing its contents (its capacity is reused: one read buffer
/// per connection). Cancel-safe: the driver drops a pending read when a timer, a shutdown or a
/// mailbox change wins the race, and a dropped read leaves `rx` empty rather than holding
/// unread zeroes. (glommio's own read is cancel-safe: it receives synchronously inside
/// `poll_read`.)
async fn read_into(tcp: &mut TcpStream, rx: &mut Vec<u8>) -> io::Result<usize> {
    /// Cuts the buffer to what was read when dropped, however the read ended.
    struct Filled<'a> {
        rx: &'a mut Vec<u8>,
        len: usize,
    }
    impl Drop for Filled<'_> {
        fn drop(&mut self) {
            self.rx.truncate(self.len);
        }
    }
    rx.clear();
    rx.resize(READ_CHUNK, 0);
    let mut filled = Filled { rx, len: 0 };
    let n = tcp.read(&mut filled.rx[..]).await?;
    filled.len = n;
    Ok(n)
}
