//! The sessions a shard serves right now, as `ringpost who` lists them and `ringpost kick`
//! (or `user del`) ends them, and the shard's counters that `ringpost stats` sums.
//!
//! A connection registers when the driver starts running it on a shard and unregisters when
//! it ends or moves to its account's home shard (where it registers again). The driver
//! refreshes its entry once per turn of its loop: a handful of `Cell` writes, no allocation
//! after the login. Everything here is shard-local; the control thread gets plain copies
//! ([`SessionInfo`], [`ShardStats`]) through a [`ShardJob`](crate::runtime::control::ShardJob).

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Instant;

use crate::config::Protocol;
use crate::latency::{Buckets, Latency};
use crate::runtime::shutdown::Notify;
use crate::runtime::ShardId;

/// Every protocol, in the order counters are kept and shown.
pub const PROTOCOLS: [Protocol; N_PROTOCOLS] = [
    Protocol::Imap,
    Protocol::Pop3,
    Protocol::Submission,
    Protocol::Smtp,
    Protocol::Http,
    Protocol::Metrics,
];

/// How many protocols there are.
pub const N_PROTOCOLS: usize = 6;

fn slot(protocol: Protocol) -> usize {
    match protocol {
        Protocol::Imap => 0,
        Protocol::Pop3 => 1,
        Protocol::Submission => 2,
        Protocol::Smtp => 3,
        Protocol::Http => 4,
        Protocol::Metrics => 5,
    }
}

/// One live connection, as its driver last described it.
pub struct LiveSession {
    protocol: Protocol,
    listener: SocketAddr,
    peer: SocketAddr,
    /// Unix seconds at accept.
    connected: i64,
    last_input: Cell<Instant>,
    tls: Cell<bool>,
    /// The user name as given at login, and the account's store key.
    user: RefCell<Option<String>>,
    account: RefCell<Option<String>>,
    bytes_in: Cell<u64>,
    bytes_out: Cell<u64>,
    commands: Cell<u64>,
    kicked: Cell<bool>,
    kick: Notify,
}

impl LiveSession {
    /// What the driver knows now; `user`/`account` are copied once, when they first appear.
    #[allow(clippy::too_many_arguments)]
    pub fn refresh(
        &self,
        tls: bool,
        user: Option<&str>,
        account: Option<&str>,
        bytes_in: u64,
        bytes_out: u64,
        commands: u64,
    ) {
        self.tls.set(tls);
        if self.bytes_in.get() != bytes_in {
            self.last_input.set(Instant::now());
        }
        self.bytes_in.set(bytes_in);
        self.bytes_out.set(bytes_out);
        self.commands.set(commands);
        let unknown_user = self.user.borrow().is_none();
        if let (true, Some(u)) = (unknown_user, user) {
            *self.user.borrow_mut() = Some(u.to_string());
        }
        let changed = self.account.borrow().as_deref() != account;
        if changed {
            *self.account.borrow_mut() = account.map(str::to_string);
        }
    }

    /// Whether an administrator ended this session.
    pub fn is_kicked(&self) -> bool {
        self.kicked.get()
    }

    /// Resolves once an administrator ends this session.
    pub async fn kicked(&self) {
        while !self.kicked.get() {
            self.kick.changed().await;
        }
    }
}

/// A session as `ringpost who` shows it: a plain copy for the control thread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    pub shard: usize,
    pub protocol: &'static str,
    pub listener: SocketAddr,
    pub client: SocketAddr,
    pub tls: bool,
    /// Unix seconds.
    pub connected: i64,
    pub idle_secs: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub commands: u64,
    /// The account's address (not its store key), if logged in.
    pub account: Option<String>,
    /// The user name as the client gave it.
    pub user: Option<String>,
}

/// The shard's live sessions.
#[derive(Clone, Default)]
pub struct Sessions {
    next: Rc<Cell<u64>>,
    live: Rc<RefCell<BTreeMap<u64, Rc<LiveSession>>>>,
}

/// A connection's place in [`Sessions`]; dropping it removes the entry.
pub struct Registration {
    id: u64,
    sessions: Sessions,
    pub entry: Rc<LiveSession>,
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.sessions.live.borrow_mut().remove(&self.id);
    }
}

impl Sessions {
    /// Register a connection from `peer` on `listener`, accepted at Unix time `connected`.
    pub fn register(
        &self,
        protocol: Protocol,
        listener: SocketAddr,
        peer: SocketAddr,
        connected: i64,
    ) -> Registration {
        let id = self.next.get();
        self.next.set(id + 1);
        let entry = Rc::new(LiveSession {
            protocol,
            listener,
            peer,
            connected,
            last_input: Cell::new(Instant::now()),
            tls: Cell::new(false),
            user: RefCell::new(None),
            account: RefCell::new(None),
            bytes_in: Cell::new(0),
            bytes_out: Cell::new(0),
            commands: Cell::new(0),
            kicked: Cell::new(false),
            kick: Notify::default(),
        });
        self.live.borrow_mut().insert(id, entry.clone());
        Registration {
            id,
            sessions: self.clone(),
            entry,
        }
    }

    pub fn len(&self) -> usize {
        self.live.borrow().len()
    }

    pub fn is_empty(&self) -> bool {
        self.live.borrow().is_empty()
    }

    /// Open sessions per protocol, in [`PROTOCOLS`] order.
    pub fn open_by_protocol(&self) -> [u64; N_PROTOCOLS] {
        let mut open = [0; N_PROTOCOLS];
        for s in self.live.borrow().values() {
            open[slot(s.protocol)] += 1;
        }
        open
    }

    /// Every session, copied.
    pub fn list(&self, shard: ShardId) -> Vec<SessionInfo> {
        self.live
            .borrow()
            .values()
            .map(|s| SessionInfo {
                shard: shard.0,
                protocol: s.protocol.name(),
                listener: s.listener,
                client: s.peer,
                tls: s.tls.get(),
                connected: s.connected,
                idle_secs: s.last_input.get().elapsed().as_secs(),
                bytes_in: s.bytes_in.get(),
                bytes_out: s.bytes_out.get(),
                commands: s.commands.get(),
                account: s
                    .account
                    .borrow()
                    .as_deref()
                    .map(|k| crate::accounts::address_of_key(k).to_string()),
                user: s.user.borrow().clone(),
            })
            .collect()
    }

    /// End every session logged in to `address` (a canonical address); how many there were.
    /// Each session says goodbye as for a deleted account and closes once its current
    /// command is done.
    pub fn kick(&self, address: &str) -> usize {
        let mut ended = 0;
        for s in self.live.borrow().values() {
            let matches = s
                .account
                .borrow()
                .as_deref()
                .is_some_and(|k| crate::accounts::address_of_key(k) == address);
            if matches && !s.kicked.get() {
                s.kicked.set(true);
                s.kick.notify_all();
                ended += 1;
            }
        }
        ended
    }
}

/// Totals since the shard started. Counted where the matching log line is written.
#[derive(Default)]
pub struct Counters {
    connections: [Cell<u64>; N_PROTOCOLS],
    connections_refused: [Cell<u64>; N_PROTOCOLS],
    logins_succeeded: [Cell<u64>; N_PROTOCOLS],
    logins_failed: [Cell<u64>; N_PROTOCOLS],
    logins_refused: [Cell<u64>; N_PROTOCOLS],
    requests_refused: [Cell<u64>; N_PROTOCOLS],
    bytes_in: Cell<u64>,
    bytes_out: Cell<u64>,
    messages_accepted: Cell<u64>,
    messages_deferred: Cell<u64>,
    message_bytes: Cell<u64>,
    recipients_local: Cell<u64>,
    recipients_queued: Cell<u64>,
    /// Commands of sessions that ended here (or moved on: what they ran here).
    commands: [Cell<u64>; N_PROTOCOLS],
    /// How long each request a session handed its service took, per protocol.
    request_latency: [RefCell<Latency>; N_PROTOCOLS],
    /// Logins by SASL mechanism (or the protocol's own command): succeeded, failed, refused.
    mechanisms: RefCell<Vec<(&'static str, [u64; 3])>>,
    /// Connections accepted per listener.
    listeners: RefCell<Vec<(SocketAddr, Protocol, u64)>>,
}

fn bump(cell: &Cell<u64>, by: u64) {
    cell.set(cell.get().wrapping_add(by));
}

/// How a login attempt ended, for [`Counters::login`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginResult {
    Succeeded,
    /// Wrong credentials.
    Failed,
    /// Refused without a check (throttled) or the account database was unavailable.
    Refused,
}

impl Counters {
    pub fn connection(&self, protocol: Protocol, listener: SocketAddr) {
        bump(&self.connections[slot(protocol)], 1);
        let mut listeners = self.listeners.borrow_mut();
        match listeners
            .iter_mut()
            .find(|(a, p, _)| *a == listener && *p == protocol)
        {
            Some((_, _, n)) => *n += 1,
            None => listeners.push((listener, protocol, 1)),
        }
    }
    /// A request a session handed its service, and how long the service took.
    pub fn request(&self, protocol: Protocol, took: std::time::Duration) {
        self.request_latency[slot(protocol)]
            .borrow_mut()
            .record(took);
    }
    /// A session ended (or moved away) having run `commands`.
    pub fn commands(&self, protocol: Protocol, commands: u64) {
        bump(&self.commands[slot(protocol)], commands);
    }
    pub fn connection_refused(&self, protocol: Protocol) {
        bump(&self.connections_refused[slot(protocol)], 1);
    }
    pub fn login(&self, protocol: Protocol, mechanism: &'static str, result: LoginResult) {
        let (cells, i) = match result {
            LoginResult::Succeeded => (&self.logins_succeeded, 0),
            LoginResult::Failed => (&self.logins_failed, 1),
            LoginResult::Refused => (&self.logins_refused, 2),
        };
        bump(&cells[slot(protocol)], 1);
        let mut mechanisms = self.mechanisms.borrow_mut();
        match mechanisms.iter_mut().find(|(m, _)| *m == mechanism) {
            Some((_, counts)) => counts[i] += 1,
            None => {
                let mut counts = [0; 3];
                counts[i] = 1;
                mechanisms.push((mechanism, counts));
            }
        }
    }
    pub fn request_refused(&self, protocol: Protocol) {
        bump(&self.requests_refused[slot(protocol)], 1);
    }
    /// A session ended (on this shard) having moved these bytes since it came here.
    pub fn session_bytes(&self, bytes_in: u64, bytes_out: u64) {
        bump(&self.bytes_in, bytes_in);
        bump(&self.bytes_out, bytes_out);
    }
    /// A message was made durable (`accepted`) or refused for now, with its recipients.
    pub fn message(&self, accepted: bool, size: u64, local: u64, queued: u64) {
        if accepted {
            bump(&self.messages_accepted, 1);
            bump(&self.message_bytes, size);
            bump(&self.recipients_local, local);
            bump(&self.recipients_queued, queued);
        } else {
            bump(&self.messages_deferred, 1);
        }
    }

    /// A copy for the control thread, with what is open now.
    pub fn snapshot(&self, sessions: &Sessions) -> ShardStats {
        let get = |cells: &[Cell<u64>; N_PROTOCOLS]| cells.each_ref().map(Cell::get);
        let live = sessions.live.borrow();
        ShardStats {
            open: sessions.open_by_protocol(),
            connections: get(&self.connections),
            connections_refused: get(&self.connections_refused),
            logins_succeeded: get(&self.logins_succeeded),
            logins_failed: get(&self.logins_failed),
            logins_refused: get(&self.logins_refused),
            requests_refused: get(&self.requests_refused),
            // Ended sessions, and what the live ones moved so far.
            bytes_in: self.bytes_in.get() + live.values().map(|s| s.bytes_in.get()).sum::<u64>(),
            bytes_out: self.bytes_out.get() + live.values().map(|s| s.bytes_out.get()).sum::<u64>(),
            messages_accepted: self.messages_accepted.get(),
            messages_deferred: self.messages_deferred.get(),
            message_bytes: self.message_bytes.get(),
            recipients_local: self.recipients_local.get(),
            recipients_queued: self.recipients_queued.get(),
            accounts_loaded: 0,
            commands: get(&self.commands),
            request_latency: self
                .request_latency
                .each_ref()
                .map(|l| l.borrow().buckets()),
            logins_by_mechanism: self
                .mechanisms
                .borrow()
                .iter()
                .map(|(m, c)| (m.to_string(), *c))
                .collect(),
            listener_connections: self
                .listeners
                .borrow()
                .iter()
                .map(|(a, p, n)| (a.to_string(), p.name(), *n))
                .collect(),
            store: Default::default(),
            queue: Default::default(),
        }
    }
}

/// One shard's figures for `ringpost stats`; per-protocol arrays are in [`PROTOCOLS`] order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShardStats {
    pub open: [u64; N_PROTOCOLS],
    pub connections: [u64; N_PROTOCOLS],
    pub connections_refused: [u64; N_PROTOCOLS],
    pub logins_succeeded: [u64; N_PROTOCOLS],
    pub logins_failed: [u64; N_PROTOCOLS],
    pub logins_refused: [u64; N_PROTOCOLS],
    pub requests_refused: [u64; N_PROTOCOLS],
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub messages_accepted: u64,
    pub messages_deferred: u64,
    pub message_bytes: u64,
    pub recipients_local: u64,
    pub recipients_queued: u64,
    /// Accounts whose index this shard's store has loaded.
    pub accounts_loaded: u64,
    /// Commands of the sessions that ended (a live session's count once it ends).
    pub commands: [u64; N_PROTOCOLS],
    /// Service request durations per protocol.
    pub request_latency: [Buckets; N_PROTOCOLS],
    /// Logins by mechanism: succeeded, failed, refused.
    pub logins_by_mechanism: Vec<(String, [u64; 3])>,
    /// Connections accepted per listener: address, protocol, count.
    pub listener_connections: Vec<(String, &'static str, u64)>,
    /// The store's commits.
    pub store: crate::store::StoreStats,
    /// The queue runner's messages by state (only the shards that run a queue have any).
    pub queue: crate::runtime::outbound::QueueDepth,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::future::Future;
    use std::task::{Context, Poll, Waker};

    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn sessions_are_listed_while_registered_and_kicked_by_account() {
        let sessions = Sessions::default();
        let a = sessions.register(
            Protocol::Imap,
            addr("0.0.0.0:993"),
            addr("10.0.0.1:4000"),
            7,
        );
        let b = sessions.register(
            Protocol::Pop3,
            addr("0.0.0.0:995"),
            addr("10.0.0.2:4001"),
            8,
        );
        let c = sessions.register(Protocol::Smtp, addr("0.0.0.0:25"), addr("10.0.0.3:4002"), 9);
        a.entry.refresh(
            true,
            Some("Alice@Example.com"),
            Some("alice@example.com#00000000000000a1"),
            10,
            20,
            3,
        );
        b.entry
            .refresh(true, Some("bob"), Some("bob@example.com"), 1, 2, 1);
        assert_eq!(sessions.open_by_protocol(), [1, 1, 0, 1, 0, 0]);
        let list = sessions.list(ShardId(1));
        assert_eq!(list.len(), 3);
        assert_eq!(list[0].account.as_deref(), Some("alice@example.com"));
        assert_eq!(list[0].user.as_deref(), Some("Alice@Example.com"));
        assert_eq!(
            (list[0].bytes_in, list[0].commands, list[0].shard),
            (10, 3, 1)
        );
        assert_eq!(list[2].account, None);

        let mut cx = Context::from_waker(Waker::noop());
        let mut wait = Box::pin(a.entry.kicked());
        assert_eq!(wait.as_mut().poll(&mut cx), Poll::Pending);
        assert_eq!(sessions.kick("carol@example.com"), 0);
        assert_eq!(wait.as_mut().poll(&mut cx), Poll::Pending);
        assert_eq!(sessions.kick("alice@example.com"), 1);
        assert_eq!(wait.as_mut().poll(&mut cx), Poll::Ready(()));
        drop(wait);
        assert!(a.entry.is_kicked() && !b.entry.is_kicked() && !c.entry.is_kicked());
        // Kicked once: a second kick finds nothing more to end.
        assert_eq!(sessions.kick("alice@example.com"), 0);
        drop(a);
        assert_eq!(sessions.len(), 2);
    }

    #[test]
    fn counters_sum_ended_and_live_sessions() {
        let sessions = Sessions::default();
        let counters = Counters::default();
        counters.connection(Protocol::Submission, addr("127.0.0.1:587"));
        counters.login(Protocol::Submission, "PLAIN", LoginResult::Failed);
        counters.login(Protocol::Submission, "PLAIN", LoginResult::Succeeded);
        counters.message(true, 100, 1, 2);
        counters.message(false, 50, 1, 0);
        counters.session_bytes(5, 6);
        let live = sessions.register(Protocol::Imap, addr("0.0.0.0:993"), addr("10.0.0.1:1"), 0);
        live.entry.refresh(true, None, None, 10, 20, 0);
        let s = counters.snapshot(&sessions);
        assert_eq!(s.connections, [0, 0, 1, 0, 0, 0]);
        assert_eq!((s.logins_failed[2], s.logins_succeeded[2]), (1, 1));
        assert_eq!((s.messages_accepted, s.messages_deferred), (1, 1));
        assert_eq!(
            (s.message_bytes, s.recipients_local, s.recipients_queued),
            (100, 1, 2)
        );
        assert_eq!((s.bytes_in, s.bytes_out), (15, 26));
        assert_eq!(s.open, [1, 0, 0, 0, 0, 0]);
    }
}
