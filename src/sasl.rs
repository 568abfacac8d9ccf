//! SASL mechanisms PLAIN (RFC 4616) and LOGIN (draft-murchison-sasl-login-00), server side,
//! as a small state machine shared by IMAP AUTHENTICATE, POP3 AUTH and SMTP AUTH.
//!
//! The protocol module frames the exchange (`+ ` / `334 ` challenges, `*` to cancel); this
//! module only decodes base64 client responses and produces raw challenges. Never does IO.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

use crate::session::{Credentials, Secret};

/// The mechanisms ringpost offers (only ever after TLS).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mechanism {
    Plain,
    Login,
}

impl Mechanism {
    /// Parse a mechanism name, case-insensitively (RFC 4422 §3.1).
    pub fn parse(name: &[u8]) -> Option<Mechanism> {
        if name.eq_ignore_ascii_case(b"PLAIN") {
            Some(Mechanism::Plain)
        } else if name.eq_ignore_ascii_case(b"LOGIN") {
            Some(Mechanism::Login)
        } else {
            None
        }
    }
}

/// Why an exchange ended without credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaslError {
    /// The client sent `*` (RFC 4422 §3.5).
    Cancelled,
    /// Not base64, not the mechanism's format, or an authorization identity other than the
    /// authentication identity (proxy authentication is not offered).
    Malformed,
}

/// What the protocol should do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SaslStep {
    /// Send this challenge (raw bytes; the protocol base64-encodes it) and wait for a line.
    Challenge(Vec<u8>),
    /// The exchange is complete.
    Done(Credentials),
    /// The exchange failed.
    Failed(SaslError),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Stage {
    PlainResponse,
    LoginUsername,
    LoginPassword { username: String },
    Finished,
}

/// One server-side SASL exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaslExchange {
    stage: Stage,
}

impl SaslExchange {
    /// Start `mechanism`. `initial_response` is the base64 initial response (SASL-IR,
    /// RFC 4959; `=` stands for an empty one), if the client sent one.
    pub fn start(
        mechanism: Mechanism,
        initial_response: Option<&[u8]>,
    ) -> (SaslExchange, SaslStep) {
        let mut ex = SaslExchange {
            stage: match mechanism {
                Mechanism::Plain => Stage::PlainResponse,
                Mechanism::Login => Stage::LoginUsername,
            },
        };
        let step = match initial_response {
            Some(ir) => ex.step(ir),
            None => match mechanism {
                // RFC 4616 §2: the server sends an empty challenge.
                Mechanism::Plain => SaslStep::Challenge(Vec::new()),
                Mechanism::Login => SaslStep::Challenge(b"Username:".to_vec()),
            },
        };
        (ex, step)
    }

    /// Handle one client response line (base64, `=` for empty, `*` to cancel).
    pub fn step(&mut self, line: &[u8]) -> SaslStep {
        let line = crate::wire::keyword::trim_blanks(line);
        if line == b"*" {
            self.stage = Stage::Finished;
            return SaslStep::Failed(SaslError::Cancelled);
        }
        let Some(data) = decode(line) else {
            self.stage = Stage::Finished;
            return SaslStep::Failed(SaslError::Malformed);
        };
        match std::mem::replace(&mut self.stage, Stage::Finished) {
            Stage::PlainResponse => match decode_plain_message(&data) {
                Some(c) => SaslStep::Done(c),
                None => SaslStep::Failed(SaslError::Malformed),
            },
            Stage::LoginUsername => match String::from_utf8(data) {
                Ok(username) if !username.is_empty() => {
                    self.stage = Stage::LoginPassword { username };
                    SaslStep::Challenge(b"Password:".to_vec())
                }
                _ => SaslStep::Failed(SaslError::Malformed),
            },
            Stage::LoginPassword { username } => match String::from_utf8(data) {
                Ok(password) => SaslStep::Done(Credentials {
                    username,
                    password: Secret::new(password),
                    mechanism: "LOGIN",
                }),
                Err(_) => SaslStep::Failed(SaslError::Malformed),
            },
            Stage::Finished => SaslStep::Failed(SaslError::Malformed),
        }
    }
}

/// Base64-encode a challenge for the wire.
pub fn encode_challenge(raw: &[u8]) -> String {
    STANDARD.encode(raw)
}

fn decode(line: &[u8]) -> Option<Vec<u8>> {
    if line == b"=" || line.is_empty() {
        return Some(Vec::new());
    }
    STANDARD.decode(line).ok()
}

/// `[authzid] NUL authcid NUL passwd` (RFC 4616 §2).
fn decode_plain_message(data: &[u8]) -> Option<Credentials> {
    let mut parts = data.split(|&b| b == 0);
    let authzid = parts.next()?;
    let authcid = parts.next()?;
    let passwd = parts.next()?;
    if parts.next().is_some() || authcid.is_empty() {
        return None;
    }
    let authcid = std::str::from_utf8(authcid).ok()?;
    let passwd = std::str::from_utf8(passwd).ok()?;
    // Acting as another user is not offered: an authzid must name the same identity.
    if !authzid.is_empty() && !authzid.eq_ignore_ascii_case(authcid.as_bytes()) {
        return None;
    }
    Some(Credentials {
        username: authcid.to_string(),
        password: Secret::new(passwd.to_string()),
        mechanism: "PLAIN",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds(u: &str, p: &str) -> Credentials {
        Credentials {
            username: u.into(),
            password: Secret::new(p.into()),
            mechanism: "PLAIN",
        }
    }

    #[test]
    fn plain_with_initial_response() {
        let ir = STANDARD.encode(b"\0alice@example.com\0secret");
        let (_, step) = SaslExchange::start(Mechanism::Plain, Some(ir.as_bytes()));
        assert_eq!(step, SaslStep::Done(creds("alice@example.com", "secret")));
    }

    #[test]
    fn plain_without_initial_response_sends_empty_challenge() {
        let (mut ex, step) = SaslExchange::start(Mechanism::Plain, None);
        assert_eq!(step, SaslStep::Challenge(vec![]));
        let resp = STANDARD.encode(b"alice\0alice\0pw");
        assert_eq!(
            ex.step(resp.as_bytes()),
            SaslStep::Done(creds("alice", "pw"))
        );
    }

    #[test]
    fn plain_refuses_other_authzid_and_bad_base64() {
        let ir = STANDARD.encode(b"bob\0alice\0pw");
        assert_eq!(
            SaslExchange::start(Mechanism::Plain, Some(ir.as_bytes())).1,
            SaslStep::Failed(SaslError::Malformed)
        );
        assert_eq!(
            SaslExchange::start(Mechanism::Plain, Some(b"!!!")).1,
            SaslStep::Failed(SaslError::Malformed)
        );
        let ir = STANDARD.encode(b"\0\0pw");
        assert_eq!(
            SaslExchange::start(Mechanism::Plain, Some(ir.as_bytes())).1,
            SaslStep::Failed(SaslError::Malformed)
        );
    }

    #[test]
    fn login_two_challenges() {
        let (mut ex, step) = SaslExchange::start(Mechanism::Login, None);
        assert_eq!(step, SaslStep::Challenge(b"Username:".to_vec()));
        assert_eq!(
            ex.step(STANDARD.encode("alice").as_bytes()),
            SaslStep::Challenge(b"Password:".to_vec())
        );
        assert_eq!(
            ex.step(STANDARD.encode("pw").as_bytes()),
            SaslStep::Done(Credentials {
                mechanism: "LOGIN",
                ..creds("alice", "pw")
            })
        );
    }

    #[test]
    fn login_with_initial_response_skips_username_challenge() {
        let ir = STANDARD.encode("alice");
        let (mut ex, step) = SaslExchange::start(Mechanism::Login, Some(ir.as_bytes()));
        assert_eq!(step, SaslStep::Challenge(b"Password:".to_vec()));
        assert_eq!(
            ex.step(STANDARD.encode("pw").as_bytes()),
            SaslStep::Done(Credentials {
                mechanism: "LOGIN",
                ..creds("alice", "pw")
            })
        );
    }

    #[test]
    fn star_cancels() {
        let (mut ex, _) = SaslExchange::start(Mechanism::Login, None);
        assert_eq!(ex.step(b"*"), SaslStep::Failed(SaslError::Cancelled));
    }

    #[test]
    fn mechanism_names_are_case_insensitive() {
        assert_eq!(Mechanism::parse(b"plain"), Some(Mechanism::Plain));
        assert_eq!(Mechanism::parse(b"Login"), Some(Mechanism::Login));
        assert_eq!(Mechanism::parse(b"CRAM-MD5"), None);
    }

    #[test]
    fn credentials_debug_hides_the_password() {
        let c = creds("alice", "hunter2");
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
