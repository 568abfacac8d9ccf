//! The first bytes on a connection between two hosts of a cluster (the internal listener,
//! mutual TLS): what the connecting host wants, and the answer. After an accepted
//! [`Hello::Session`] the connection carries the client's session bytes both ways, unchanged;
//! after a [`Hello::Follow`] it carries one partition's replication stream
//! ([`super::replication`] frames), the replica asking first.
//!
//! ```text
//! hello  = "RPLINK1\n" length:u32be body          (length ≤ the reader's bound)
//! body   = kind:u8 fields…                        (1: a session continued here,
//!                                                  2: a store call, 3: its result,
//!                                                  4: a replica following a partition,
//!                                                  5: a primary inviting a replica to,
//!                                                  6: a replica asking for a snapshot,
//!                                                  7, 8: the snapshot's parts)
//! field  = u8 | u16be | u32be | u64be | str (u16be length, UTF-8) | bytes (u32be length)
//! answer = "+OK\r\n" | "-NO " text "\r\n"          (a line of at most MAX_ANSWER bytes)
//! ```
//!
//! Every length is checked against what is left of the body and against [`MAX_BODY`] before
//! anything is read or allocated. Pure code: no sockets, no clock.

use std::net::SocketAddr;

use crate::mail::{QuotaLimits, QuotaUsage};
use crate::session::Handoff;

/// The first bytes of every hello.
pub const MAGIC: &[u8; 8] = b"RPLINK1\n";

/// The largest hello body besides a message's bytes. A session's handoff holds what was
/// pipelined behind a login (the session's own limits bound it to tens of KiB); 1 MiB leaves
/// room without letting a peer make the reader hold much. A reader of store calls adds the
/// largest message it takes.
pub const MAX_BODY: usize = 1 << 20;

/// The longest answer line, CRLF included.
pub const MAX_ANSWER: usize = 512;

const KIND_SESSION: u8 = 1;
const KIND_STORE: u8 = 2;
const KIND_RESULT: u8 = 3;
const KIND_FOLLOW: u8 = 4;
const KIND_INVITE: u8 = 5;
const KIND_SNAPSHOT: u8 = 6;
const KIND_SNAPSHOT_FILE: u8 = 7;
const KIND_SNAPSHOT_DONE: u8 = 8;

/// The most file bytes one [`SnapshotPart::File`] carries.
pub const SNAPSHOT_PIECE: usize = 1 << 20;

/// Which protocol a continued session speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkProtocol {
    Imap,
    Pop3,
    /// HTTPS: a DAV request and whatever follows it on the connection.
    Http,
}

impl LinkProtocol {
    fn code(self) -> u8 {
        match self {
            LinkProtocol::Imap => 1,
            LinkProtocol::Pop3 => 2,
            LinkProtocol::Http => 3,
        }
    }

    fn from_code(code: u8) -> Option<LinkProtocol> {
        match code {
            1 => Some(LinkProtocol::Imap),
            2 => Some(LinkProtocol::Pop3),
            3 => Some(LinkProtocol::Http),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            LinkProtocol::Imap => "imap",
            LinkProtocol::Pop3 => "pop3",
            LinkProtocol::Http => "http",
        }
    }
}

/// A session that authenticated on the connecting host for an account served here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionHello {
    pub protocol: LinkProtocol,
    /// The listener the client reached (on the connecting host), for logs.
    pub listener: SocketAddr,
    /// The client, as the connecting host saw it (after any PROXY header).
    pub client: SocketAddr,
    /// The user name as the client gave it.
    pub user: String,
    /// The canonical account address the credentials are valid for.
    pub account: String,
    /// Which credential was used, and the fingerprint of its secret (the session ends when
    /// it changes or goes, as on one host).
    pub credential_id: String,
    pub credential_stamp: u64,
    /// The client's TLS (version and cipher suite), for logs.
    pub tls: String,
    pub handoff: Handoff,
}

/// What a connecting host asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hello {
    Session(Box<SessionHello>),
    Store(StoreCall),
    /// The replica `node` follows `partition`'s log (the stream that follows is replication
    /// frames; no answer line).
    Follow {
        node: String,
        partition: u16,
    },
    /// The primary `node` asks this host to follow `partition` (it holds a replica at
    /// `epoch` by the map): answered `+OK` once noted; the replica then connects back with
    /// [`Hello::Follow`].
    Invite {
        node: String,
        partition: u16,
        epoch: u64,
    },
    /// The replica `node` (at `epoch`) cannot be caught up from `partition`'s log and asks
    /// for a copy of the partition's files: answered `+OK` and [`SnapshotPart`]s, or `-NO`.
    Snapshot {
        node: String,
        partition: u16,
        epoch: u64,
    },
}

/// A piece of a partition snapshot sent after an accepted [`Hello::Snapshot`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SnapshotPart {
    /// Bytes of the file `path` (relative to the store's root, `pNNNN/…`) at `offset`; a
    /// file's pieces come in order, at most [`SNAPSHOT_PIECE`] bytes each (an empty file is
    /// one empty piece).
    File {
        path: String,
        offset: u64,
        data: Vec<u8>,
    },
    /// Every file was sent; the log ended (was durable) there when they were linked:
    /// segment, offset, next sequence number (`None`: the partition was not open).
    Done { end: Option<(u32, u64, u64)> },
}

/// The bytes of `part`.
pub fn encode_snapshot_part(part: &SnapshotPart) -> Vec<u8> {
    let mut body = Vec::new();
    match part {
        SnapshotPart::File { path, offset, data } => {
            body.reserve(data.len() + path.len() + 32);
            body.push(KIND_SNAPSHOT_FILE);
            put_str(&mut body, path);
            body.extend_from_slice(&offset.to_be_bytes());
            put_bytes(&mut body, data);
        }
        SnapshotPart::Done { end } => {
            body.push(KIND_SNAPSHOT_DONE);
            match end {
                None => body.push(0),
                Some((segment, offset, next_seq)) => {
                    body.push(1);
                    body.extend_from_slice(&segment.to_be_bytes());
                    body.extend_from_slice(&offset.to_be_bytes());
                    body.extend_from_slice(&next_seq.to_be_bytes());
                }
            }
        }
    }
    frame(body)
}

/// Decode a snapshot part from the start of `buf` (bounded by [`SNAPSHOT_PIECE`] and a
/// path's length before it is read).
pub fn decode_snapshot_part(buf: &[u8]) -> Decoded<SnapshotPart> {
    let (body, used) = match unframe(buf, SNAPSHOT_PIECE + 1024) {
        Ok(x) => x,
        Err(e) => return e,
    };
    let mut r = Reader(body);
    let part = match r.u8() {
        Some(KIND_SNAPSHOT_FILE) => (|| {
            let path = r.str()?;
            let offset = r.u64()?;
            let data = r.bytes()?;
            (data.len() <= SNAPSHOT_PIECE).then(|| SnapshotPart::File {
                path,
                offset,
                data: data.to_vec(),
            })
        })(),
        Some(KIND_SNAPSHOT_DONE) => (|| {
            let end = match r.u8()? {
                0 => None,
                1 => Some((r.u32()?, r.u64()?, r.u64()?)),
                _ => return None,
            };
            Some(SnapshotPart::Done { end })
        })(),
        _ => None,
    };
    match part {
        Some(part) if r.0.is_empty() => Decoded::Done(part, used),
        _ => Decoded::Invalid("malformed snapshot part"),
    }
}

/// Work for the store of the host that serves the accounts named (a delivery's copies on
/// partitions another host serves).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreCall {
    /// Deliver `body` to the INBOX of each account (store keys), within `limits[i]`.
    Deliver {
        accounts: Vec<String>,
        limits: Vec<QuotaLimits>,
        body: Vec<u8>,
        internal_date: i64,
    },
    /// Expunge these copies (of a delivery that failed elsewhere).
    Retract { copies: Vec<(String, u32)> },
    /// What the account holds.
    Usage { account: String },
}

/// The answer to a [`StoreCall`]; errors travel as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreResult {
    /// Each account's UID, or `None` when its quota had no room.
    Delivered(Result<Vec<Option<u32>>, String>),
    Retracted(Result<(), String>),
    Usage(Result<QuotaUsage, String>),
}

/// What [`decode_hello`] made of the bytes so far.
#[derive(Debug, PartialEq, Eq)]
pub enum Decoded<T> {
    /// At least this many bytes in all are needed.
    Incomplete(usize),
    /// The value, and how many bytes it took.
    Done(T, usize),
    Invalid(&'static str),
}

impl<T> Decoded<T> {
    /// The same answer in the shape every link reader takes: nothing yet, the value and its
    /// length, or why the bytes are wrong.
    pub fn into_result(self) -> Result<Option<(T, usize)>, &'static str> {
        match self {
            Decoded::Incomplete(_) => Ok(None),
            Decoded::Done(value, used) => Ok(Some((value, used))),
            Decoded::Invalid(why) => Err(why),
        }
    }
}

/// The bytes of `hello`.
pub fn encode_hello(hello: &Hello) -> Vec<u8> {
    let mut body = Vec::with_capacity(256);
    match hello {
        Hello::Session(s) => {
            body.push(KIND_SESSION);
            body.push(s.protocol.code());
            put_str(&mut body, &s.listener.to_string());
            put_str(&mut body, &s.client.to_string());
            put_str(&mut body, &s.user);
            put_str(&mut body, &s.account);
            put_str(&mut body, &s.credential_id);
            body.extend_from_slice(&s.credential_stamp.to_be_bytes());
            put_str(&mut body, &s.tls);
            let h = &s.handoff;
            put_bytes(&mut body, &h.tag);
            put_str(&mut body, &h.mechanism);
            body.extend_from_slice(&h.auth_failures.to_be_bytes());
            body.extend_from_slice(&h.commands.to_be_bytes());
            body.push(u8::from(h.compressing));
            put_bytes(&mut body, &h.input);
        }
        Hello::Store(call) => {
            body.push(KIND_STORE);
            match call {
                StoreCall::Deliver {
                    accounts,
                    limits,
                    body: message,
                    internal_date,
                } => {
                    body.push(1);
                    put_count(&mut body, accounts.len());
                    for (i, account) in accounts.iter().enumerate() {
                        put_str(&mut body, account);
                        let l = limits.get(i).copied().unwrap_or(QuotaLimits::NONE);
                        put_opt(&mut body, l.storage);
                        put_opt(&mut body, l.messages);
                    }
                    body.extend_from_slice(&internal_date.to_be_bytes());
                    put_bytes(&mut body, message);
                }
                StoreCall::Retract { copies } => {
                    body.push(2);
                    put_count(&mut body, copies.len());
                    for (account, uid) in copies {
                        put_str(&mut body, account);
                        body.extend_from_slice(&uid.to_be_bytes());
                    }
                }
                StoreCall::Usage { account } => {
                    body.push(3);
                    put_str(&mut body, account);
                }
            }
        }
        Hello::Follow { node, partition } => {
            body.push(KIND_FOLLOW);
            put_str(&mut body, node);
            body.extend_from_slice(&partition.to_be_bytes());
        }
        Hello::Snapshot {
            node,
            partition,
            epoch,
        } => {
            body.push(KIND_SNAPSHOT);
            put_str(&mut body, node);
            body.extend_from_slice(&partition.to_be_bytes());
            body.extend_from_slice(&epoch.to_be_bytes());
        }
        Hello::Invite {
            node,
            partition,
            epoch,
        } => {
            body.push(KIND_INVITE);
            put_str(&mut body, node);
            body.extend_from_slice(&partition.to_be_bytes());
            body.extend_from_slice(&epoch.to_be_bytes());
        }
    }
    frame(body)
}

/// The bytes of a store call's result.
pub fn encode_result(result: &StoreResult) -> Vec<u8> {
    let mut body = vec![KIND_RESULT];
    let put_err = |body: &mut Vec<u8>, e: &String| {
        body.push(0);
        put_str(body, e);
    };
    match result {
        StoreResult::Delivered(r) => {
            body.push(1);
            match r {
                Ok(uids) => {
                    body.push(1);
                    put_count(&mut body, uids.len());
                    for uid in uids {
                        body.extend_from_slice(&uid.unwrap_or(0).to_be_bytes());
                    }
                }
                Err(e) => put_err(&mut body, e),
            }
        }
        StoreResult::Retracted(r) => {
            body.push(2);
            match r {
                Ok(()) => body.push(1),
                Err(e) => put_err(&mut body, e),
            }
        }
        StoreResult::Usage(r) => {
            body.push(3);
            match r {
                Ok(u) => {
                    body.push(1);
                    body.extend_from_slice(&u.storage.to_be_bytes());
                    body.extend_from_slice(&u.messages.to_be_bytes());
                }
                Err(e) => put_err(&mut body, e),
            }
        }
    }
    frame(body)
}

/// Decode a store call's result from the start of `buf`.
pub fn decode_result(buf: &[u8]) -> Decoded<StoreResult> {
    match unframe(buf, MAX_BODY) {
        Ok((body, used)) => match parse_result(body) {
            Some(result) => Decoded::Done(result, used),
            None => Decoded::Invalid("malformed result"),
        },
        Err(e) => e,
    }
}

fn parse_result(body: &[u8]) -> Option<StoreResult> {
    let mut r = Reader(body);
    if r.u8()? != KIND_RESULT {
        return None;
    }
    let what = r.u8()?;
    let ok = match r.u8()? {
        0 => Err(r.str()?),
        1 => Ok(()),
        _ => return None,
    };
    let result = match (what, ok) {
        (1, Ok(())) => {
            let n = r.count(4)?;
            let uids = (0..n)
                .map(|_| r.u32().map(|u| (u != 0).then_some(u)))
                .collect::<Option<Vec<_>>>()?;
            StoreResult::Delivered(Ok(uids))
        }
        (1, Err(e)) => StoreResult::Delivered(Err(e)),
        (2, ok) => StoreResult::Retracted(ok),
        (3, Ok(())) => StoreResult::Usage(Ok(QuotaUsage {
            storage: r.u64()?,
            messages: r.u64()?,
        })),
        (3, Err(e)) => StoreResult::Usage(Err(e)),
        _ => return None,
    };
    r.0.is_empty().then_some(result)
}

/// `body` framed: the magic, its length, itself.
fn frame(body: Vec<u8>) -> Vec<u8> {
    let mut out = Vec::with_capacity(MAGIC.len() + 4 + body.len());
    out.extend_from_slice(MAGIC);
    // A body larger than u32 cannot be built from bounded sessions; saturate so the reader
    // refuses it instead of misreading it.
    out.extend_from_slice(&u32::try_from(body.len()).unwrap_or(u32::MAX).to_be_bytes());
    out.extend_from_slice(&body);
    out
}

/// Decode a hello from the start of `buf`; `max_message` is the largest message a store call
/// may carry (its body may be that much larger than [`MAX_BODY`]).
pub fn decode_hello(buf: &[u8], max_message: usize) -> Decoded<Hello> {
    match unframe(buf, MAX_BODY.saturating_add(max_message)) {
        Ok((body, used)) => match parse_body(body) {
            Some(hello) => Decoded::Done(hello, used),
            None => Decoded::Invalid("malformed hello"),
        },
        Err(e) => e,
    }
}

/// The body of the frame at the start of `buf` and the frame's length, once it is whole.
fn unframe<T>(buf: &[u8], max: usize) -> Result<(&[u8], usize), Decoded<T>> {
    let head = MAGIC.len() + 4;
    let have = buf.len().min(MAGIC.len());
    if buf[..have] != MAGIC[..have] {
        return Err(Decoded::Invalid("not a cluster frame"));
    }
    if buf.len() < head {
        return Err(Decoded::Incomplete(head));
    }
    let mut len = [0u8; 4];
    len.copy_from_slice(&buf[MAGIC.len()..head]);
    let len = u32::from_be_bytes(len) as usize;
    if len > max {
        return Err(Decoded::Invalid("frame too large"));
    }
    if buf.len() < head + len {
        return Err(Decoded::Incomplete(head + len));
    }
    Ok((&buf[head..head + len], head + len))
}

fn parse_body(body: &[u8]) -> Option<Hello> {
    let mut r = Reader(body);
    let kind = r.u8()?;
    match kind {
        KIND_SESSION => {
            let protocol = LinkProtocol::from_code(r.u8()?)?;
            let listener = r.str()?.parse().ok()?;
            let client = r.str()?.parse().ok()?;
            let user = r.str()?;
            let account = r.str()?;
            let credential_id = r.str()?;
            let credential_stamp = r.u64()?;
            let tls = r.str()?;
            let tag = r.bytes()?.to_vec();
            let mechanism = r.str()?;
            let auth_failures = r.u32()?;
            let commands = r.u64()?;
            let compressing = match r.u8()? {
                0 => false,
                1 => true,
                _ => return None,
            };
            let input = r.bytes()?.to_vec();
            if !r.0.is_empty() {
                return None;
            }
            Some(Hello::Session(Box::new(SessionHello {
                protocol,
                listener,
                client,
                user,
                account,
                credential_id,
                credential_stamp,
                tls,
                handoff: Handoff {
                    tag,
                    mechanism,
                    auth_failures,
                    commands,
                    compressing,
                    input,
                },
            })))
        }
        KIND_STORE => {
            let call = match r.u8()? {
                1 => {
                    let n = r.count(2 + 2 * 9)?;
                    let mut accounts = Vec::with_capacity(n);
                    let mut limits = Vec::with_capacity(n);
                    for _ in 0..n {
                        accounts.push(r.str()?);
                        limits.push(QuotaLimits {
                            storage: r.opt()?,
                            messages: r.opt()?,
                        });
                    }
                    let internal_date = r.u64()? as i64;
                    let body = r.bytes()?.to_vec();
                    StoreCall::Deliver {
                        accounts,
                        limits,
                        body,
                        internal_date,
                    }
                }
                2 => {
                    let n = r.count(2 + 4)?;
                    let copies = (0..n)
                        .map(|_| Some((r.str()?, r.u32()?)))
                        .collect::<Option<Vec<_>>>()?;
                    StoreCall::Retract { copies }
                }
                3 => StoreCall::Usage { account: r.str()? },
                _ => return None,
            };
            r.0.is_empty().then_some(Hello::Store(call))
        }
        KIND_FOLLOW => {
            let node = r.str()?;
            let partition = r.u16()?;
            r.0.is_empty().then_some(Hello::Follow { node, partition })
        }
        KIND_INVITE | KIND_SNAPSHOT => {
            let node = r.str()?;
            let partition = r.u16()?;
            let epoch = r.u64()?;
            if !r.0.is_empty() {
                return None;
            }
            Some(if kind == KIND_INVITE {
                Hello::Invite {
                    node,
                    partition,
                    epoch,
                }
            } else {
                Hello::Snapshot {
                    node,
                    partition,
                    epoch,
                }
            })
        }
        _ => None,
    }
}

/// The answer to a hello.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    Accepted,
    /// Refused, with a reason for the log (the account is not served here, the map moved).
    Refused(String),
}

pub fn encode_answer(answer: &Answer) -> Vec<u8> {
    match answer {
        Answer::Accepted => b"+OK\r\n".to_vec(),
        Answer::Refused(why) => {
            let mut line = b"-NO ".to_vec();
            // One line, bounded: control characters become spaces.
            line.extend(why.bytes().take(MAX_ANSWER - 6).map(|b| {
                if b < 0x20 || b == 0x7f {
                    b' '
                } else {
                    b
                }
            }));
            line.extend_from_slice(b"\r\n");
            line
        }
    }
}

/// Decode an answer line from the start of `buf`.
pub fn decode_answer(buf: &[u8]) -> Decoded<Answer> {
    let Some(end) = memchr::memchr(b'\n', buf) else {
        return if buf.len() >= MAX_ANSWER {
            Decoded::Invalid("answer too long")
        } else {
            Decoded::Incomplete(buf.len() + 1)
        };
    };
    if end >= MAX_ANSWER || end == 0 || buf[end - 1] != b'\r' {
        return Decoded::Invalid("malformed answer");
    }
    let line = &buf[..end - 1];
    if line == b"+OK" {
        return Decoded::Done(Answer::Accepted, end + 1);
    }
    match line.strip_prefix(b"-NO ") {
        Some(why) => Decoded::Done(
            Answer::Refused(String::from_utf8_lossy(why).into_owned()),
            end + 1,
        ),
        None => Decoded::Invalid("malformed answer"),
    }
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    // Strings here are addresses, names and short texts; a longer one is cut at a character
    // boundary rather than written with a wrong length.
    let mut end = s.len().min(usize::from(u16::MAX));
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    out.extend_from_slice(&(end as u16).to_be_bytes());
    out.extend_from_slice(&s.as_bytes()[..end]);
}

fn put_count(out: &mut Vec<u8>, n: usize) {
    out.extend_from_slice(&u32::try_from(n).unwrap_or(u32::MAX).to_be_bytes());
}

fn put_opt(out: &mut Vec<u8>, v: Option<u64>) {
    match v {
        None => out.push(0),
        Some(v) => {
            out.push(1);
            out.extend_from_slice(&v.to_be_bytes());
        }
    }
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&u32::try_from(b.len()).unwrap_or(u32::MAX).to_be_bytes());
    out.extend_from_slice(b);
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if n > self.0.len() {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }

    fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }

    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_be_bytes(self.take(2)?.try_into().ok()?))
    }

    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_be_bytes(self.take(4)?.try_into().ok()?))
    }

    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_be_bytes(self.take(8)?.try_into().ok()?))
    }

    fn str(&mut self) -> Option<String> {
        let n = usize::from(self.u16()?);
        String::from_utf8(self.take(n)?.to_vec()).ok()
    }

    /// A count of items each at least `min` bytes long: refused when the rest cannot hold
    /// that many, so no allocation is sized by a peer's number alone.
    fn count(&mut self, min: usize) -> Option<usize> {
        let n = self.u32()? as usize;
        (n.checked_mul(min)? <= self.0.len()).then_some(n)
    }

    fn opt(&mut self) -> Option<Option<u64>> {
        match self.u8()? {
            0 => Some(None),
            1 => Some(Some(self.u64()?)),
            _ => None,
        }
    }

    fn bytes(&mut self) -> Option<&'a [u8]> {
        let n = self.u32()? as usize;
        self.take(n)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use proptest::prelude::*;

    fn sample() -> Hello {
        Hello::Session(Box::new(SessionHello {
            protocol: LinkProtocol::Imap,
            listener: "192.0.2.1:993".parse().unwrap(),
            client: "[2001:db8::7]:50123".parse().unwrap(),
            user: "Alice@Example.COM".into(),
            account: "alice@example.com".into(),
            credential_id: "web".into(),
            credential_stamp: 0x0123_4567_89ab_cdef,
            tls: "TLSv1_3 TLS13_AES_256_GCM_SHA384".into(),
            handoff: Handoff {
                tag: b"a1".to_vec(),
                mechanism: "PLAIN".into(),
                auth_failures: 1,
                commands: 3,
                compressing: false,
                input: b"a2 SELECT INBOX\r\na3 NOOP\r\n".to_vec(),
            },
        }))
    }

    #[test]
    fn a_hello_round_trips_and_says_how_long_it_was() {
        let hello = sample();
        let mut bytes = encode_hello(&hello);
        let len = bytes.len();
        bytes.extend_from_slice(b"trailing session bytes");
        assert_eq!(decode_hello(&bytes, 0), Decoded::Done(hello, len));
    }

    #[test]
    fn follow_and_invite_hellos_round_trip() {
        for hello in [
            Hello::Follow {
                node: "mx2".into(),
                partition: 1023,
            },
            Hello::Invite {
                node: "mx1".into(),
                partition: 7,
                epoch: u64::MAX,
            },
            Hello::Snapshot {
                node: "mx3".into(),
                partition: 0,
                epoch: 9,
            },
        ] {
            let bytes = encode_hello(&hello);
            assert_eq!(decode_hello(&bytes, 0), Decoded::Done(hello, bytes.len()));
        }
    }

    #[test]
    fn snapshot_parts_round_trip_and_are_bounded() {
        for part in [
            SnapshotPart::File {
                path: "p0007/seg-00000001.log".into(),
                offset: 1 << 20,
                data: vec![7; 1000],
            },
            SnapshotPart::File {
                path: "p0007/checkpoint".into(),
                offset: 0,
                data: Vec::new(),
            },
            SnapshotPart::Done {
                end: Some((3, 8192, 40)),
            },
            SnapshotPart::Done { end: None },
        ] {
            let bytes = encode_snapshot_part(&part);
            assert_eq!(
                decode_snapshot_part(&bytes),
                Decoded::Done(part, bytes.len())
            );
            for cut in 0..bytes.len() {
                assert!(matches!(
                    decode_snapshot_part(&bytes[..cut]),
                    Decoded::Incomplete(_)
                ));
            }
        }
        let big = encode_snapshot_part(&SnapshotPart::File {
            path: "p0007/x".into(),
            offset: 0,
            data: vec![0; SNAPSHOT_PIECE + 2048],
        });
        assert_eq!(
            decode_snapshot_part(&big[..12]),
            Decoded::Invalid("frame too large")
        );
    }

    #[test]
    fn every_prefix_is_incomplete_never_wrong() {
        let bytes = encode_hello(&sample());
        for cut in 0..bytes.len() {
            match decode_hello(&bytes[..cut], 0) {
                Decoded::Incomplete(need) => assert!(need > cut && need <= bytes.len()),
                other => panic!("prefix of {cut} bytes: {other:?}"),
            }
        }
    }

    #[test]
    fn a_foreign_or_oversized_hello_is_refused_before_it_is_read() {
        assert!(matches!(
            decode_hello(b"GET / HTTP/1.1\r\n", 0),
            Decoded::Invalid(_)
        ));
        let mut huge = MAGIC.to_vec();
        huge.extend_from_slice(&u32::MAX.to_be_bytes());
        assert_eq!(decode_hello(&huge, 0), Decoded::Invalid("frame too large"));
        // A body whose inner length runs past its end.
        let mut bad = MAGIC.to_vec();
        bad.extend_from_slice(&3u32.to_be_bytes());
        bad.extend_from_slice(&[KIND_SESSION, 1, 0xff]);
        assert_eq!(decode_hello(&bad, 0), Decoded::Invalid("malformed hello"));
    }

    #[test]
    fn answers_round_trip_and_stay_one_line() {
        for answer in [
            Answer::Accepted,
            Answer::Refused("partition 17 moved\r\nto mx3".into()),
        ] {
            let bytes = encode_answer(&answer);
            assert_eq!(bytes.iter().filter(|&&b| b == b'\n').count(), 1);
            let Decoded::Done(back, n) = decode_answer(&bytes) else {
                panic!("{bytes:?}");
            };
            assert_eq!(n, bytes.len());
            match (answer, back) {
                (Answer::Refused(_), Answer::Refused(why)) => {
                    assert_eq!(why, "partition 17 moved  to mx3")
                }
                (a, b) => assert_eq!(a, b),
            }
        }
        assert_eq!(decode_answer(b"+O"), Decoded::Incomplete(3));
        assert!(matches!(decode_answer(&[b'x'; 600]), Decoded::Invalid(_)));
    }

    #[test]
    fn store_calls_and_results_round_trip() {
        let calls = [
            StoreCall::Deliver {
                accounts: vec!["bob@example.com#2".into(), "carol@example.com#1".into()],
                limits: vec![
                    QuotaLimits::NONE,
                    QuotaLimits {
                        storage: Some(1 << 30),
                        messages: None,
                    },
                ],
                body: b"Subject: hi\r\n\r\nhello\r\n".to_vec(),
                internal_date: 1_765_000_000,
            },
            StoreCall::Retract {
                copies: vec![("bob@example.com#2".into(), 41)],
            },
            StoreCall::Usage {
                account: "bob@example.com#2".into(),
            },
        ];
        for call in calls {
            let hello = Hello::Store(call);
            let bytes = encode_hello(&hello);
            assert_eq!(decode_hello(&bytes, 64), Decoded::Done(hello, bytes.len()));
        }
        let results = [
            StoreResult::Delivered(Ok(vec![Some(7), None])),
            StoreResult::Delivered(Err("disk full".into())),
            StoreResult::Retracted(Ok(())),
            StoreResult::Retracted(Err("gone".into())),
            StoreResult::Usage(Ok(QuotaUsage {
                storage: 12_345,
                messages: 3,
            })),
            StoreResult::Usage(Err("no such account".into())),
        ];
        for result in results {
            let bytes = encode_result(&result);
            assert_eq!(decode_result(&bytes), Decoded::Done(result, bytes.len()));
        }
    }

    #[test]
    fn a_message_larger_than_the_reader_takes_is_refused_unread() {
        let hello = Hello::Store(StoreCall::Deliver {
            accounts: vec!["bob@example.com#2".into()],
            limits: vec![QuotaLimits::NONE],
            body: vec![b'x'; MAX_BODY + 10],
            internal_date: 0,
        });
        let bytes = encode_hello(&hello);
        assert_eq!(
            decode_hello(&bytes[..12], 0),
            Decoded::Invalid("frame too large")
        );
        assert!(matches!(decode_hello(&bytes, 100), Decoded::Done(..)));
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let mut framed = MAGIC.to_vec();
            framed.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
            framed.extend_from_slice(&bytes);
            let _ = decode_hello(&framed, 1 << 20);
            let _ = decode_hello(&bytes, 1 << 20);
            let _ = decode_result(&framed);
            let _ = decode_answer(&bytes);
        }

        #[test]
        fn sessions_round_trip(
            user in "\\PC{0,40}",
            input in proptest::collection::vec(any::<u8>(), 0..300),
            tag in "[a-zA-Z0-9]{1,12}",
            stamp in any::<u64>(),
            compressing in any::<bool>(),
        ) {
            let Hello::Session(mut s) = sample() else { unreachable!() };
            s.user = user;
            s.handoff.input = input;
            s.handoff.tag = tag.into_bytes();
            s.credential_stamp = stamp;
            s.handoff.compressing = compressing;
            let hello = Hello::Session(s);
            let bytes = encode_hello(&hello);
            prop_assert_eq!(decode_hello(&bytes, 0), Decoded::Done(hello, bytes.len()));
        }
    }
}
