//! SASL mechanisms PLAIN (RFC 4616), LOGIN (draft-murchison-sasl-login-00), and the OAuth
//! bearer-token mechanisms OAUTHBEARER (RFC 7628) and XOAUTH2, server side, as a small state
//! machine shared by IMAP AUTHENTICATE, POP3 AUTH and SMTP AUTH. A bearer token comes out as
//! [`Credentials`] whose mechanism names it; the driver validates it (see [`crate::oauth`]),
//! and on failure the session sends [`oauth_failure`]'s challenge and fails after the
//! client's answer (RFC 7628 §3.2.2).
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
    OAuthBearer,
    XOAuth2,
    /// RFC 5802, RFC 7677: relayed to the driver, which holds the exchange's state (it needs
    /// the account's keys between two messages).
    ScramSha256,
    /// The same with `tls-exporter` channel binding (RFC 9266).
    ScramSha256Plus,
}

impl Mechanism {
    /// Every mechanism, in the order they are advertised.
    pub const ALL: [Mechanism; 6] = [
        Mechanism::Plain,
        Mechanism::Login,
        Mechanism::ScramSha256Plus,
        Mechanism::ScramSha256,
        Mechanism::OAuthBearer,
        Mechanism::XOAuth2,
    ];

    /// Parse a mechanism name, case-insensitively (RFC 4422 §3.1).
    pub fn parse(name: &[u8]) -> Option<Mechanism> {
        if name.eq_ignore_ascii_case(b"PLAIN") {
            Some(Mechanism::Plain)
        } else if name.eq_ignore_ascii_case(b"LOGIN") {
            Some(Mechanism::Login)
        } else if name.eq_ignore_ascii_case(b"OAUTHBEARER") {
            Some(Mechanism::OAuthBearer)
        } else if name.eq_ignore_ascii_case(b"XOAUTH2") {
            Some(Mechanism::XOAuth2)
        } else if name.eq_ignore_ascii_case(b"SCRAM-SHA-256") {
            Some(Mechanism::ScramSha256)
        } else if name.eq_ignore_ascii_case(b"SCRAM-SHA-256-PLUS") {
            Some(Mechanism::ScramSha256Plus)
        } else {
            None
        }
    }

    /// The name as advertised.
    pub fn name(self) -> &'static str {
        match self {
            Mechanism::Plain => "PLAIN",
            Mechanism::Login => "LOGIN",
            Mechanism::OAuthBearer => "OAUTHBEARER",
            Mechanism::XOAuth2 => "XOAUTH2",
            Mechanism::ScramSha256 => "SCRAM-SHA-256",
            Mechanism::ScramSha256Plus => "SCRAM-SHA-256-PLUS",
        }
    }

    /// A bearer-token mechanism (offered only when `[auth.oauth]` is configured).
    pub fn is_oauth(self) -> bool {
        matches!(self, Mechanism::OAuthBearer | Mechanism::XOAuth2)
    }
}

/// The mechanisms `config` offers, space-separated (POP3 `SASL`, SMTP `AUTH`).
pub fn offered(config: &crate::session::SessionConfig) -> String {
    Mechanism::ALL
        .into_iter()
        .filter(|m| config.offers(*m))
        .map(Mechanism::name)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Whether credentials carry one message of a SCRAM exchange (their password is it).
pub fn is_scram(credentials: &Credentials) -> bool {
    credentials.mechanism == Mechanism::ScramSha256.name()
        || credentials.mechanism == Mechanism::ScramSha256Plus.name()
}

/// Whether credentials carry a bearer token (their password is the token).
pub fn is_bearer(credentials: &Credentials) -> bool {
    matches!(credentials.mechanism, "OAUTHBEARER" | "XOAUTH2")
}

/// The exchange that takes the client's next message of `mechanism` after the driver's
/// challenge ([`crate::session::AuthOutcome::Continue`]).
pub fn relay(mechanism: Mechanism) -> SaslExchange {
    SaslExchange {
        stage: Stage::Relay(mechanism),
    }
}

/// After a bearer token was refused: the RFC 7628 §3.2.2 error challenge to send, and the
/// exchange that takes the client's answer (`0x01`, or anything) and fails with
/// [`SaslError::Rejected`].
pub fn oauth_failure() -> (SaslExchange, SaslStep) {
    let challenge = crate::oauth::error_challenge(crate::oauth::STATUS_INVALID_TOKEN, None, None);
    (
        SaslExchange {
            stage: Stage::OAuthRefused,
        },
        SaslStep::Challenge(challenge),
    )
}

/// Why an exchange ended without credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaslError {
    /// The client sent `*` (RFC 4422 §3.5).
    Cancelled,
    /// Not base64, not the mechanism's format, or an authorization identity other than the
    /// authentication identity (proxy authentication is not offered).
    Malformed,
    /// The credentials were refused (after a bearer token's error challenge): answer as for
    /// a failed authentication.
    Rejected,
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
    LoginPassword {
        username: String,
    },
    /// The bearer-token message of this mechanism.
    Bearer(Mechanism),
    /// The token was refused and the error challenge sent: the answer ends the exchange.
    OAuthRefused,
    /// Each response goes to the driver as it is (SCRAM).
    Relay(Mechanism),
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
                Mechanism::OAuthBearer | Mechanism::XOAuth2 => Stage::Bearer(mechanism),
                Mechanism::ScramSha256 | Mechanism::ScramSha256Plus => Stage::Relay(mechanism),
            },
        };
        let step = match initial_response {
            Some(ir) => ex.step(ir),
            None => match mechanism {
                // RFC 4616 §2: the server sends an empty challenge.
                Mechanism::Plain => SaslStep::Challenge(Vec::new()),
                Mechanism::Login => SaslStep::Challenge(b"Username:".to_vec()),
                // RFC 7628 §3.2: client-first; without an initial response an empty challenge.
                Mechanism::OAuthBearer
                | Mechanism::XOAuth2
                | Mechanism::ScramSha256
                | Mechanism::ScramSha256Plus => SaslStep::Challenge(Vec::new()),
            },
        };
        (ex, step)
    }

    /// Handle one client response line (base64, `=` for empty, `*` to cancel).
    pub fn step(&mut self, line: &[u8]) -> SaslStep {
        let line = crate::wire::keyword::trim_blanks(line);
        if self.stage == Stage::OAuthRefused {
            // RFC 7628 §3.2.3: whatever the client answers, the exchange fails now.
            self.stage = Stage::Finished;
            return SaslStep::Failed(SaslError::Rejected);
        }
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
            Stage::Bearer(mechanism) => {
                let parsed = match mechanism {
                    Mechanism::XOAuth2 => crate::oauth::parse_xoauth2(&data),
                    _ => crate::oauth::parse_oauthbearer(&data),
                };
                match parsed {
                    Ok(request) => SaslStep::Done(Credentials {
                        username: request.authzid.unwrap_or_default(),
                        password: Secret::new(request.token),
                        mechanism: mechanism.name(),
                    }),
                    Err(_) => SaslStep::Failed(SaslError::Malformed),
                }
            }
            Stage::Relay(mechanism) => match String::from_utf8(data) {
                Ok(message) => SaslStep::Done(Credentials {
                    username: String::new(),
                    password: Secret::new(message),
                    mechanism: mechanism.name(),
                }),
                Err(_) => SaslStep::Failed(SaslError::Malformed),
            },
            Stage::OAuthRefused | Stage::Finished => SaslStep::Failed(SaslError::Malformed),
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
    fn bearer_mechanisms_give_the_token_and_a_refusal_is_a_challenge_then_a_failure() {
        assert_eq!(
            Mechanism::parse(b"oauthbearer"),
            Some(Mechanism::OAuthBearer)
        );
        assert_eq!(Mechanism::parse(b"XOAUTH2"), Some(Mechanism::XOAuth2));
        assert!(Mechanism::XOAuth2.is_oauth() && !Mechanism::Plain.is_oauth());
        let message = "n,a=alice@example.com,\x01auth=Bearer abc.def.ghi\x01\x01";
        let (mut ex, step) = SaslExchange::start(Mechanism::OAuthBearer, None);
        assert_eq!(step, SaslStep::Challenge(Vec::new()));
        let SaslStep::Done(c) = ex.step(STANDARD.encode(message).as_bytes()) else {
            panic!("no credentials");
        };
        assert_eq!(
            (
                c.username.as_str(),
                c.password.expose().as_str(),
                c.mechanism
            ),
            ("alice@example.com", "abc.def.ghi", "OAUTHBEARER")
        );
        assert!(is_bearer(&c));
        let xoauth2 = STANDARD.encode("user=bob@example.com\x01auth=Bearer t0k\x01\x01");
        let (_, step) = SaslExchange::start(Mechanism::XOAuth2, Some(xoauth2.as_bytes()));
        let SaslStep::Done(c) = step else {
            panic!("no credentials")
        };
        assert_eq!(
            (c.username.as_str(), c.mechanism),
            ("bob@example.com", "XOAUTH2")
        );
        // Not a bearer message.
        let (_, step) = SaslExchange::start(
            Mechanism::OAuthBearer,
            Some(STANDARD.encode("x").as_bytes()),
        );
        assert_eq!(step, SaslStep::Failed(SaslError::Malformed));
        // RFC 7628 §3.2.2: the JSON status, then whatever the client says ends it.
        let (mut ex, step) = oauth_failure();
        let SaslStep::Challenge(json) = step else {
            panic!("no challenge")
        };
        assert_eq!(json, br#"{"status":"invalid_token"}"#.to_vec());
        assert_eq!(ex.step(b"AQ=="), SaslStep::Failed(SaslError::Rejected));
    }

    #[test]
    fn credentials_debug_hides_the_password() {
        let c = creds("alice", "hunter2");
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
