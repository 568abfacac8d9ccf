//! The first bytes on a connection between two hosts of a cluster (the internal listener,
//! mutual TLS): what the connecting host wants, and the answer. After an accepted
//! [`Hello::Session`] the connection carries the client's session bytes both ways, unchanged.
//!
//! ```text
//! hello  = "RPLINK1\n" length:u32be body          (length ≤ MAX_BODY)
//! body   = kind:u8 fields…                        (kind 1: a session continued here)
//! field  = u8 | u16be | u32be | u64be | str (u16be length, UTF-8) | bytes (u32be length)
//! answer = "+OK\r\n" | "-NO " text "\r\n"          (a line of at most MAX_ANSWER bytes)
//! ```
//!
//! Every length is checked against what is left of the body and against [`MAX_BODY`] before
//! anything is read or allocated. Pure code: no sockets, no clock.

use std::net::SocketAddr;

use crate::session::Handoff;

/// The first bytes of every hello.
pub const MAGIC: &[u8; 8] = b"RPLINK1\n";

/// The largest hello body. A session's handoff holds what was pipelined behind a login (the
/// session's own limits bound it to tens of KiB); 1 MiB leaves room without letting a peer
/// make the reader hold much.
pub const MAX_BODY: usize = 1 << 20;

/// The longest answer line, CRLF included.
pub const MAX_ANSWER: usize = 512;

const KIND_SESSION: u8 = 1;

/// Which protocol a continued session speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkProtocol {
    Imap,
    Pop3,
}

impl LinkProtocol {
    fn code(self) -> u8 {
        match self {
            LinkProtocol::Imap => 1,
            LinkProtocol::Pop3 => 2,
        }
    }

    fn from_code(code: u8) -> Option<LinkProtocol> {
        match code {
            1 => Some(LinkProtocol::Imap),
            2 => Some(LinkProtocol::Pop3),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            LinkProtocol::Imap => "imap",
            LinkProtocol::Pop3 => "pop3",
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
    }
    let mut out = Vec::with_capacity(MAGIC.len() + 4 + body.len());
    out.extend_from_slice(MAGIC);
    // A body larger than u32 cannot be built from bounded sessions; saturate so the reader
    // refuses it instead of misreading it.
    out.extend_from_slice(&u32::try_from(body.len()).unwrap_or(u32::MAX).to_be_bytes());
    out.extend_from_slice(&body);
    out
}

/// Decode a hello from the start of `buf`.
pub fn decode_hello(buf: &[u8]) -> Decoded<Hello> {
    let head = MAGIC.len() + 4;
    let have = buf.len().min(MAGIC.len());
    if buf[..have] != MAGIC[..have] {
        return Decoded::Invalid("not a cluster hello");
    }
    if buf.len() < head {
        return Decoded::Incomplete(head);
    }
    let mut len = [0u8; 4];
    len.copy_from_slice(&buf[MAGIC.len()..head]);
    let len = u32::from_be_bytes(len) as usize;
    if len > MAX_BODY {
        return Decoded::Invalid("hello too large");
    }
    if buf.len() < head + len {
        return Decoded::Incomplete(head + len);
    }
    match parse_body(&buf[head..head + len]) {
        Some(hello) => Decoded::Done(hello, head + len),
        None => Decoded::Invalid("malformed hello"),
    }
}

fn parse_body(body: &[u8]) -> Option<Hello> {
    let mut r = Reader(body);
    match r.u8()? {
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
        assert_eq!(decode_hello(&bytes), Decoded::Done(hello, len));
    }

    #[test]
    fn every_prefix_is_incomplete_never_wrong() {
        let bytes = encode_hello(&sample());
        for cut in 0..bytes.len() {
            match decode_hello(&bytes[..cut]) {
                Decoded::Incomplete(need) => assert!(need > cut && need <= bytes.len()),
                other => panic!("prefix of {cut} bytes: {other:?}"),
            }
        }
    }

    #[test]
    fn a_foreign_or_oversized_hello_is_refused_before_it_is_read() {
        assert!(matches!(
            decode_hello(b"GET / HTTP/1.1\r\n"),
            Decoded::Invalid(_)
        ));
        let mut huge = MAGIC.to_vec();
        huge.extend_from_slice(&u32::MAX.to_be_bytes());
        assert_eq!(decode_hello(&huge), Decoded::Invalid("hello too large"));
        // A body whose inner length runs past its end.
        let mut bad = MAGIC.to_vec();
        bad.extend_from_slice(&3u32.to_be_bytes());
        bad.extend_from_slice(&[KIND_SESSION, 1, 0xff]);
        assert_eq!(decode_hello(&bad), Decoded::Invalid("malformed hello"));
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

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let mut framed = MAGIC.to_vec();
            framed.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
            framed.extend_from_slice(&bytes);
            let _ = decode_hello(&framed);
            let _ = decode_hello(&bytes);
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
            let Hello::Session(mut s) = sample();
            s.user = user;
            s.handoff.input = input;
            s.handoff.tag = tag.into_bytes();
            s.credential_stamp = stamp;
            s.handoff.compressing = compressing;
            let hello = Hello::Session(s);
            let bytes = encode_hello(&hello);
            prop_assert_eq!(decode_hello(&bytes), Decoded::Done(hello, bytes.len()));
        }
    }
}
