//! Test support: POP3's words in transcripts ([`crate::transcript`]).
//!
//! - Requests: `E: open-maildrop`, `E: read <uid>`, `E: expunge <uid> <uid>…`.
//! - Replies: `D: maildrop <uidvalidity> <uid>:<size>…` (opened, in that order),
//!   `D: maildrop in-use`, `D: maildrop temp`; `D: message bytes <text>` (with the `R:`
//!   escapes), `D: message gone`, `D: message temp`; `D: expunged durable`,
//!   `D: expunged failed`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::service::{
    ExpungeOutcome, MaildropEntry, MaildropOutcome, MaildropReply, MaildropRequest, MessageOutcome,
};
use super::Pop3Session;
use crate::mail::Uid;
use crate::transcript::{unescape, Answer, Scripted};

impl Scripted for Pop3Session {
    type Notes = ();

    fn request(_notes: &mut (), text: &str) -> Option<String> {
        let words: Vec<&str> = text.split(' ').collect();
        let request = match words.as_slice() {
            ["open-maildrop"] => MaildropRequest::Open,
            ["read", uid] => MaildropRequest::Read {
                uid: Uid(uid.parse().unwrap()),
            },
            ["expunge", uids @ ..] => MaildropRequest::Expunge {
                uids: uids.iter().map(|u| Uid(u.parse().unwrap())).collect(),
            },
            _ => return None,
        };
        Some(format!("{request:?}"))
    }

    fn answer(_notes: &mut (), text: &str) -> Option<Answer<Pop3Session>> {
        if let Some(bytes) = text.strip_prefix("message bytes ") {
            return Some(Answer::Reply(MaildropReply::Message(
                MessageOutcome::Message(unescape(bytes).into()),
            )));
        }
        let words: Vec<&str> = text.split(' ').collect();
        let reply = match words.as_slice() {
            ["maildrop", "in-use"] => MaildropReply::Opened(MaildropOutcome::InUse),
            ["maildrop", "temp"] => MaildropReply::Opened(MaildropOutcome::TemporaryFailure),
            ["maildrop", uid_validity, messages @ ..] => {
                MaildropReply::Opened(MaildropOutcome::Opened {
                    uid_validity: uid_validity.parse().unwrap(),
                    messages: messages
                        .iter()
                        .map(|m| {
                            let (uid, size) = m.split_once(':').unwrap();
                            MaildropEntry {
                                uid: Uid(uid.parse().unwrap()),
                                size: size.parse().unwrap(),
                            }
                        })
                        .collect(),
                })
            }
            ["message", "gone"] => MaildropReply::Message(MessageOutcome::Gone),
            ["message", "temp"] => MaildropReply::Message(MessageOutcome::TemporaryFailure),
            ["expunged", "durable"] => MaildropReply::Expunged(ExpungeOutcome::Done),
            ["expunged", "failed"] => MaildropReply::Expunged(ExpungeOutcome::TemporaryFailure),
            _ => return None,
        };
        Some(Answer::Reply(reply))
    }
}

#[test]
fn the_runner_catches_a_wrong_transcript() {
    use crate::session::{SessionConfig, TlsMode};
    let make = || {
        crate::pop3::Pop3Session::new(
            SessionConfig {
                hostname: "mail.example.com".into(),
                tls_mode: TlsMode::Starttls,
                limits: Default::default(),
                local_domains: vec!["example.com".to_string()],
                oauth: false,
                scram: false,
            },
            crate::session::Security::Plaintext,
        )
    };
    let wrong =
        std::panic::catch_unwind(|| crate::transcript::replay(make, "S: +OK something else"));
    assert!(wrong.is_err());
    crate::transcript::replay(make, "S: +OK ringpost ready.");
}
