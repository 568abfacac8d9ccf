//! A queued message's delivery state, kept durably next to it: how many attempts, when the
//! next one is due, whether the sender was told of the delay, which recipients are done
//! (delivered or bounced) and why the others were deferred last. Written as a small record
//! (header fields, no body) into the queue account's `State` mailbox; a change appends a new
//! record, then expunges the old one, so after a crash between the two the newer (higher
//! UID) wins.

use std::collections::{BTreeMap, BTreeSet};

const ID: &str = "X-Ringpost-Queue-Id";
const STATE: &str = "X-Ringpost-Queue-State";
const DONE: &str = "X-Ringpost-Queue-Done";
const DEFERRED: &str = "X-Ringpost-Queue-Deferred";

/// The delivery state of one queued message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeliveryState {
    pub id: String,
    pub attempts: u32,
    /// Unix seconds of the next attempt.
    pub due: i64,
    /// The delay notification was sent.
    pub warned: bool,
    /// Indices (in the envelope's recipient order) of recipients delivered or bounced.
    pub done: BTreeSet<usize>,
    /// Why a pending recipient was deferred the last time (remote host and reply).
    pub deferred: BTreeMap<usize, String>,
}

impl DeliveryState {
    /// A new message's state: nothing tried, due at once.
    pub fn new(id: &str, now: i64) -> DeliveryState {
        DeliveryState {
            id: id.to_string(),
            due: now,
            ..DeliveryState::default()
        }
    }

    /// The record's bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = format!(
            "{ID}: {}\r\n{STATE}: attempts={}; due={}; warned={}\r\n",
            self.id,
            self.attempts,
            self.due,
            u8::from(self.warned)
        );
        if !self.done.is_empty() {
            let done: Vec<String> = self.done.iter().map(usize::to_string).collect();
            out.push_str(&format!("{DONE}: {}\r\n", done.join(" ")));
        }
        for (i, why) in &self.deferred {
            out.push_str(&format!("{DEFERRED}: {i} {}\r\n", one_line(why)));
        }
        out.push_str("\r\n");
        out.into_bytes()
    }

    /// Read a record back; `None` if it is not one.
    pub fn parse(bytes: &[u8]) -> Option<DeliveryState> {
        let text = std::str::from_utf8(bytes).ok()?;
        let mut state = DeliveryState::default();
        let mut seen_id = false;
        for line in text.split("\r\n").take_while(|l| !l.is_empty()) {
            let (name, value) = line.split_once(": ")?;
            match name {
                ID => {
                    state.id = value.to_string();
                    seen_id = true;
                }
                STATE => {
                    for field in value.split("; ") {
                        let (k, v) = field.split_once('=')?;
                        match k {
                            "attempts" => state.attempts = v.parse().ok()?,
                            "due" => state.due = v.parse().ok()?,
                            "warned" => state.warned = v == "1",
                            _ => {}
                        }
                    }
                }
                DONE => {
                    for n in value.split(' ') {
                        state.done.insert(n.parse().ok()?);
                    }
                }
                DEFERRED => {
                    let (i, why) = value.split_once(' ').unwrap_or((value, ""));
                    state.deferred.insert(i.parse().ok()?, why.to_string());
                }
                _ => {}
            }
        }
        seen_id.then_some(state)
    }
}

fn one_line(text: &str) -> String {
    text.replace(['\r', '\n'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip() {
        let mut s = DeliveryState::new("6A1B000001", 1_700_000_000);
        assert_eq!(DeliveryState::parse(&s.encode()), Some(s.clone()));
        s.attempts = 3;
        s.warned = true;
        s.done.extend([0, 2]);
        s.deferred
            .insert(1, "mx.example.org: 451 4.3.0 try\r\nlater".into());
        let back = DeliveryState::parse(&s.encode()).unwrap_or_default();
        assert_eq!(back.done, s.done);
        assert_eq!(
            (back.attempts, back.warned, back.due),
            (3, true, 1_700_000_000)
        );
        assert_eq!(back.deferred[&1], "mx.example.org: 451 4.3.0 try  later");
        assert_eq!(DeliveryState::parse(b"Subject: hi\r\n\r\n"), None);
        assert_eq!(DeliveryState::parse(b"\xff"), None);
    }
}
