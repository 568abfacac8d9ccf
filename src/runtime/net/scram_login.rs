//! The driver's side of a SCRAM-SHA-256 login (RFC 5802, RFC 7677): the session relays
//! each client message as credentials of mechanism `SCRAM-SHA-256` and sends back whatever
//! challenge this gives; the exchange's state (the server nonce, the keys it was checked
//! against) lives with the connection between messages.
//!
//! 1. client-first: the user's SCRAM keys are looked up in the accounts (in memory: those of
//!    the password the mode says, and of the app passwords for the protocol, which share the
//!    account's salt, so one server-first serves them all; an
//!    unknown user, or a password set before keys were kept, gets stand-in keys derived
//!    from a per-process secret, so the exchange goes on and fails at the proof like a
//!    wrong password) and server-first is the challenge;
//! 2. client-final: the proof is checked; if it holds, server-final (`v=…`) is the
//!    challenge;
//! 3. the client's (empty) answer: the login succeeds.
//!
//! Any error ends the exchange as a failed login (the driver's usual throttling, delay and
//! log line).
//!
//! Channel binding (RFC 5802 §6, RFC 9266): SCRAM-SHA-256-PLUS binds the exchange to this
//! TLS connection through its `tls-exporter` value, so credentials relayed through another
//! connection (a man in the middle terminating TLS) fail. Since -PLUS is offered, a client
//! of plain SCRAM-SHA-256 that says the server does not support it (`y`) is refused as a
//! downgrade; the exporter exists for TLS 1.3 only, and without it -PLUS fails.

use std::sync::OnceLock;

use crate::accounts::{AccountStore, CredentialUse, ProtocolPasswords, Scope, ScramLogin};
use crate::scram::{ScramKeys, ScramServer};
use crate::session::AuthOutcome;

/// What the driver keeps of a login: the store key, the accounts file version and the
/// credential.
type Kept = (String, u64, CredentialUse);

/// A SCRAM exchange between two client messages.
pub enum ScramPending {
    /// server-first was sent; `found` is `None` for stand-in keys.
    AwaitFinal {
        server: Box<ScramServer>,
        user: String,
        found: Option<ScramLogin>,
    },
    /// server-final was sent; the login succeeds with the client's answer.
    AwaitAck { user: String, found: ScramLogin },
}

/// What to do with one client message.
pub enum Step {
    /// Send this challenge and wait for the next message.
    Continue(Vec<u8>),
    /// The exchange is over: the user (for logs and throttling) and the outcome, with what
    /// the driver keeps of a successful login.
    Done(String, (AuthOutcome, Option<Kept>)),
}

fn failed(user: String) -> Step {
    Step::Done(user, (AuthOutcome::Failure, None))
}

/// The secret stand-in keys are derived from: random, per process.
fn fake_secret() -> &'static [u8; 32] {
    static SECRET: OnceLock<[u8; 32]> = OnceLock::new();
    SECRET.get_or_init(rand::random)
}

/// Advance the exchange in `pending` with `message`.
#[allow(clippy::too_many_arguments)]
pub fn step(
    pending: &mut Option<Box<ScramPending>>,
    message: &str,
    plus: bool,
    exporter: Option<[u8; 32]>,
    accounts: &AccountStore,
    scope: Scope,
    mode: ProtocolPasswords,
    iterations: u32,
) -> Step {
    let first = message.starts_with("n,") || message.starts_with("y,") || message.starts_with("p=");
    match pending.take().map(|p| *p) {
        Some(ScramPending::AwaitFinal {
            mut server,
            user,
            found,
        }) if !first => {
            let Some(mut found) = found else {
                // Stand-in keys: no proof can hold; fail as a wrong password does.
                let _ = server.client_final(message.as_bytes());
                return failed(user);
            };
            let others: Vec<ScramKeys> = found.others.iter().map(|(k, _)| k.clone()).collect();
            match server.client_final_any(message.as_bytes(), &others) {
                Ok((done, matched)) => {
                    // An app password's proof: the session counts as that credential.
                    if let Some(i) = matched {
                        found.credential = found.others.swap_remove(i).1;
                    }
                    *pending = Some(Box::new(ScramPending::AwaitAck { user, found }));
                    Step::Continue(done.message)
                }
                Err(_) => failed(user),
            }
        }
        Some(ScramPending::AwaitAck { user, found }) if !first => {
            let kept = (found.store_key, found.version, found.credential);
            let outcome = AuthOutcome::Success {
                account: found.account,
            };
            Step::Done(user, (outcome, Some(kept)))
        }
        _ if first => {
            let exporter = exporter.as_ref().map(|e| &e[..]);
            let Ok((mut server, client_first)) =
                ScramServer::start(message.as_bytes(), plus, exporter)
            else {
                return failed(String::new());
            };
            let user = client_first.username;
            let found = accounts.scram_keys(&user, scope, mode);
            let keys = match &found {
                Some(f) => f.keys.clone(),
                None => ScramKeys::fake(&user, fake_secret(), iterations),
            };
            let nonce: [u8; 18] = rand::random();
            match server.server_first(&keys, &nonce) {
                Ok(challenge) => {
                    *pending = Some(Box::new(ScramPending::AwaitFinal {
                        server: Box::new(server),
                        user,
                        found,
                    }));
                    Step::Continue(challenge)
                }
                Err(_) => failed(user),
            }
        }
        _ => failed(String::new()),
    }
}
