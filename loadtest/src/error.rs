//! Why an operation or a session failed, reduced to a short key for the report's
//! "failures by reply code" table (e.g. `SELECT BAD`, `RCPT 550`, `connect refused`).

use std::fmt;
use std::io;

#[derive(Debug, Clone)]
pub enum Failure {
    /// TCP connect failed.
    Connect(io::ErrorKind),
    /// TLS handshake or record layer failure.
    Tls(String),
    /// A read or write failed (including time-outs).
    Io(io::ErrorKind),
    /// The server closed the connection.
    Closed,
    /// The server answered a command with a refusal: command name and reply code
    /// (`NO`/`BAD` for IMAP, `-ERR` for POP3, the three digits for SMTP).
    Reply {
        cmd: &'static str,
        code: String,
        text: String,
    },
    /// The server said something this client cannot make sense of.
    Protocol(String),
    /// The run's preconditions do not hold (e.g. an empty mailbox to FETCH from).
    Setup(&'static str),
}

impl Failure {
    pub fn connect(e: io::Error) -> Failure {
        Failure::Connect(e.kind())
    }

    pub fn io(e: io::Error) -> Failure {
        // rustls reports TLS alerts and decoding errors as InvalidData.
        if e.kind() == io::ErrorKind::InvalidData {
            return Failure::Tls(e.to_string());
        }
        Failure::Io(e.kind())
    }

    pub fn reply(cmd: &'static str, code: &str, text: &[u8]) -> Failure {
        Failure::Reply {
            cmd,
            code: code.to_string(),
            text: String::from_utf8_lossy(text).chars().take(200).collect(),
        }
    }

    /// The report key: stable and short, so counts aggregate.
    pub fn key(&self) -> String {
        match self {
            Failure::Connect(kind) => format!("connect {}", kind_name(*kind)),
            Failure::Tls(_) => "tls error".into(),
            Failure::Io(kind) => format!("io {}", kind_name(*kind)),
            Failure::Closed => "closed by server".into(),
            Failure::Reply { cmd, code, .. } => format!("{cmd} {code}"),
            Failure::Protocol(_) => "protocol error".into(),
            Failure::Setup(what) => (*what).into(),
        }
    }

    /// True when the session cannot be used any more.
    pub fn is_fatal(&self) -> bool {
        !matches!(self, Failure::Reply { .. })
    }
}

fn kind_name(kind: io::ErrorKind) -> String {
    match kind {
        io::ErrorKind::ConnectionRefused => "refused".into(),
        io::ErrorKind::ConnectionReset => "reset".into(),
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => "timeout".into(),
        io::ErrorKind::BrokenPipe => "broken pipe".into(),
        io::ErrorKind::AddrNotAvailable => "addr not available".into(),
        other => format!("{other:?}").to_lowercase(),
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Tls(msg) => write!(f, "tls error: {msg}"),
            Failure::Reply { cmd, code, text } => write!(f, "{cmd} {code}: {text}"),
            Failure::Protocol(msg) => write!(f, "protocol error: {msg}"),
            other => write!(f, "{}", other.key()),
        }
    }
}

impl std::error::Error for Failure {}
