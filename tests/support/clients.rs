//! Rust clients for tests that need many sessions, exact answers and message bytes: IMAP and
//! SMTP on the load generator's connection (TCP, implicit TLS or STARTTLS with rustls).

use std::sync::Arc;
use std::time::Duration;

use loadtest::conn::{Conn, Endpoint, TlsMode};
use loadtest::error::Failure;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};

use super::Server;

/// Where `listener` of `server` is, trusting its generated certificate. Reads and writes
/// time out after `timeout`.
pub fn endpoint(server: &Server, listener: &str, tls: TlsMode, timeout: Duration) -> Endpoint {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(server.cafile()).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    Endpoint {
        addr: std::net::SocketAddr::from(([127, 0, 0, 1], server.port(listener))),
        bind: None,
        tls,
        server_name: ServerName::try_from("localhost").unwrap(),
        tls_config: Arc::new(config),
        timeout,
    }
}

/// An untagged response: its text (literals left out) and its literals, in order.
#[derive(Debug, Clone)]
pub struct Untagged {
    pub text: String,
    pub literals: Vec<Vec<u8>>,
}

/// A command's answer: the tagged status line (after the tag) and what came before it.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: String,
    pub untagged: Vec<Untagged>,
}

impl Reply {
    pub fn ok(&self) -> bool {
        self.status.starts_with("OK")
    }

    /// The UID of an `[APPENDUID v uid]` response code.
    pub fn append_uid(&self) -> Option<u32> {
        let rest = self.status.split("[APPENDUID ").nth(1)?;
        rest.split([' ', ']']).nth(1)?.parse().ok()
    }
}

/// An IMAP session, logged in.
pub struct Imap {
    conn: Conn,
    tag: u32,
}

/// The `{n}` at the end of a line.
fn literal_len(line: &[u8]) -> Option<usize> {
    let open = line.iter().rposition(|&b| b == b'{')?;
    let inner = line.get(open + 1..line.len().checked_sub(1)?)?;
    if line.last() != Some(&b'}') {
        return None;
    }
    std::str::from_utf8(inner.strip_suffix(b"+").unwrap_or(inner))
        .ok()?
        .parse()
        .ok()
}

impl Imap {
    /// Connect (a listener with implicit TLS, or STARTTLS before login) and log in.
    pub fn login(ep: &Endpoint, user: &str, password: &str) -> Result<Imap, Failure> {
        let conn = Conn::open(ep)?;
        let mut imap = Imap { conn, tag: 0 };
        let greeting = imap.conn.read_line()?;
        if !greeting.starts_with(b"* OK") {
            return Err(Failure::reply("greeting", "BYE", &greeting));
        }
        if ep.tls == TlsMode::Starttls {
            imap.checked("STARTTLS")?;
            imap.conn.start_tls(ep)?;
        }
        imap.checked(&format!("LOGIN \"{user}\" \"{password}\""))?;
        Ok(imap)
    }

    fn next_tag(&mut self) -> String {
        self.tag += 1;
        format!("t{}", self.tag)
    }

    /// Send one command line and read its answer, whatever the status.
    pub fn command(&mut self, line: &str) -> Result<Reply, Failure> {
        let tag = self.next_tag();
        self.conn
            .write_all(format!("{tag} {line}\r\n").as_bytes())?;
        self.reply(&tag, false)
    }

    /// [`Imap::command`], an error unless the status is OK.
    pub fn checked(&mut self, line: &str) -> Result<Reply, Failure> {
        let reply = self.command(line)?;
        if !reply.ok() {
            return Err(Failure::reply("command", "NO", reply.status.as_bytes()));
        }
        Ok(reply)
    }

    /// APPEND `message` to `mailbox` with a synchronizing literal; the answer (OK with
    /// APPENDUID, or a refusal).
    pub fn append(&mut self, mailbox: &str, message: &[u8]) -> Result<Reply, Failure> {
        let tag = self.next_tag();
        self.conn.write_all(
            format!("{tag} APPEND \"{mailbox}\" {{{}}}\r\n", message.len()).as_bytes(),
        )?;
        let go = self.reply(&tag, true)?;
        if !go.status.is_empty() {
            return Ok(go); // refused before the literal
        }
        let mut data = message.to_vec();
        data.extend_from_slice(b"\r\n");
        self.conn.write_all(&data)?;
        self.reply(&tag, false)
    }

    /// Every message of `mailbox`: UID, its FETCH text (sequence number, UID, flags) and bytes.
    pub fn messages(&mut self, mailbox: &str) -> Result<Vec<(u32, String, Vec<u8>)>, Failure> {
        self.checked(&format!("SELECT \"{mailbox}\""))?;
        let reply = self.checked("UID FETCH 1:* (UID FLAGS BODY.PEEK[])")?;
        let mut out = Vec::new();
        for u in reply.untagged {
            if !u.text.contains(" FETCH ") {
                continue;
            }
            let uid = u
                .text
                .split("UID ")
                .nth(1)
                .and_then(|r| r.split([' ', ')']).next())
                .and_then(|n| n.parse().ok())
                .ok_or_else(|| Failure::Protocol(format!("no UID in {}", u.text)))?;
            let body = u.literals.into_iter().next().unwrap_or_default();
            out.push((uid, u.text, body));
        }
        out.sort_by_key(|m| m.0);
        Ok(out)
    }

    /// Read up to the tagged status of `tag` (or, with `continuation`, up to a `+`, which is
    /// answered with an empty status).
    fn reply(&mut self, tag: &str, continuation: bool) -> Result<Reply, Failure> {
        let mut untagged = Vec::new();
        for _ in 0..10_000_000u32 {
            let mut line = self.conn.read_line()?;
            let mut literals = Vec::new();
            let mut text = String::new();
            while let Some(n) = literal_len(&line) {
                text.push_str(&String::from_utf8_lossy(&line));
                literals.push(self.conn.read_exact(n)?);
                line = self.conn.read_line()?;
            }
            text.push_str(&String::from_utf8_lossy(&line));
            if let Some(rest) = text.strip_prefix("* ") {
                untagged.push(Untagged {
                    text: rest.to_string(),
                    literals,
                });
            } else if text.starts_with('+') {
                if continuation {
                    return Ok(Reply {
                        status: String::new(),
                        untagged,
                    });
                }
                return Err(Failure::Protocol("unexpected continuation".into()));
            } else if let Some(status) = text.strip_prefix(&format!("{tag} ")) {
                return Ok(Reply {
                    status: status.to_string(),
                    untagged,
                });
            } else {
                return Err(Failure::Protocol(format!("unexpected line: {text}")));
            }
        }
        Err(Failure::Protocol("endless reply".into()))
    }

    pub fn logout(mut self) {
        let _ = self.command("LOGOUT");
        self.conn.close();
    }
}
