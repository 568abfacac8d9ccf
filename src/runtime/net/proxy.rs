//! The PROXY protocol (HAProxy's `proxy-protocol.txt`, version 1 text and version 2 binary):
//! a load balancer that passes TCP through starts each connection with a header naming the
//! client it accepted, before any byte of the client's own.
//!
//! [`parse`] is sans-IO and total: it looks at the bytes received so far and says "not yet",
//! "here is the header and its length" or "this is no (acceptable) header", and it never asks
//! for more than [`MAX_HEADER`] bytes. It frames the header itself (the `CRLF` of v1, the
//! length of v2, both bounded before anything else is waited for) and leaves the decoding of
//! the fields to the `ppp` crate. Framing first also avoids `ppp`'s v1 parser refusing a valid
//! header cut just after the space before the destination port.
//!
//! [`read_header`] reads a header from a socket and hands back whatever the same reads brought
//! after it (a client's first command, a TLS ClientHello), for the transport to read again.

use std::io;
use std::net::SocketAddr;

use futures_lite::AsyncReadExt;
use glommio::net::TcpStream;

/// The longest v1 header, `CRLF` included (the specification's own bound).
pub const V1_MAX: usize = 107;
/// The longest v2 header accepted: the 16 fixed bytes and up to 4080 bytes of addresses and
/// TLVs (a load balancer's TLVs take a few hundred at most; the format allows 64 KiB).
pub const V2_MAX: usize = 4096;
/// No header is longer, so [`parse`] never waits for more than this many bytes.
pub const MAX_HEADER: usize = if V1_MAX > V2_MAX { V1_MAX } else { V2_MAX };

/// The v2 signature: bytes no v1 header and no client protocol begins with.
const V2_SIGNATURE: &[u8; 12] = b"\r\n\r\n\0\r\nQUIT\n";
/// Signature, version and command, family and protocol, length.
const V2_FIXED: usize = 16;
const V1_PREFIX: &[u8] = b"PROXY ";

/// A complete header at the start of the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// The bytes the header takes; everything after them is the client's.
    pub len: usize,
    pub source: Source,
}

/// Whom the header says the connection is from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// A TCP client over IPv4 or IPv6, as the proxy saw it.
    Client(SocketAddr),
    /// The proxy speaks for itself (v2 `LOCAL`: its health checks).
    Local,
    /// The proxy cannot say or the family is one we do not use (v1 `UNKNOWN`; v2 `UNSPEC`,
    /// `AF_UNIX`, datagrams): the connection stays the proxy's.
    Unknown,
}

impl Source {
    /// The client address, if the header names one.
    pub fn client(self) -> Option<SocketAddr> {
        match self {
            Source::Client(addr) => Some(addr),
            Source::Local | Source::Unknown => None,
        }
    }
}

/// Why the bytes are not an acceptable header. Final: more bytes never make it one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProxyError {
    #[error("not a PROXY protocol header")]
    NotProxy,
    #[error("PROXY v1 header without CRLF in its first {V1_MAX} bytes")]
    V1TooLong,
    #[error("PROXY v2 header of {0} bytes (at most {V2_MAX} accepted)")]
    V2TooLong(usize),
    #[error("malformed PROXY v1 header: {0}")]
    V1(String),
    #[error("malformed PROXY v2 header: {0}")]
    V2(String),
}

/// Parse the header at the start of `input`, the bytes received so far.
///
/// `Ok(None)`: not complete yet, and possibly a header (only ever while `input` is shorter
/// than [`MAX_HEADER`]). `Ok(Some(h))`: the header is `input[..h.len]`, whatever follows.
/// `Err`: no acceptable header, whatever follows. Feeding a stream one byte at a time gives
/// `Ok(None)` until the first of these, and then that same answer.
pub fn parse(input: &[u8]) -> Result<Option<Header>, ProxyError> {
    let is_prefix = |signature: &[u8]| {
        let n = input.len().min(signature.len());
        input[..n] == signature[..n]
    };
    if is_prefix(V2_SIGNATURE) {
        parse_v2(input)
    } else if is_prefix(V1_PREFIX) {
        parse_v1(input)
    } else {
        Err(ProxyError::NotProxy)
    }
}

/// `PROXY TCP4|TCP6|UNKNOWN … CRLF`, at most [`V1_MAX`] bytes.
fn parse_v1(input: &[u8]) -> Result<Option<Header>, ProxyError> {
    let window = &input[..input.len().min(V1_MAX)];
    let Some(lf) = memchr::memchr(b'\n', window) else {
        return if input.len() >= V1_MAX {
            Err(ProxyError::V1TooLong)
        } else {
            Ok(None)
        };
    };
    let line = &input[..=lf];
    if !line.ends_with(b"\r\n") {
        return Err(ProxyError::V1("a bare LF ends the line".into()));
    }
    let header = ppp::v1::Header::try_from(line).map_err(|e| ProxyError::V1(e.to_string()))?;
    // A CR inside the line makes `ppp` stop there; the line must be the header, all of it.
    if header.header.len() != line.len() {
        return Err(ProxyError::V1("a CR inside the line".into()));
    }
    let source = match header.addresses {
        ppp::v1::Addresses::Tcp4(a) => {
            Source::Client(SocketAddr::from((a.source_address, a.source_port)))
        }
        ppp::v1::Addresses::Tcp6(a) => {
            Source::Client(SocketAddr::from((a.source_address, a.source_port)))
        }
        ppp::v1::Addresses::Unknown => Source::Unknown,
    };
    Ok(Some(Header {
        len: line.len(),
        source,
    }))
}

/// The 12-byte signature, version 2 and a command, family and protocol, a 16-bit length, then
/// the addresses and TLVs: at most [`V2_MAX`] bytes in all.
fn parse_v2(input: &[u8]) -> Result<Option<Header>, ProxyError> {
    if input.len() < V2_FIXED {
        return Ok(None);
    }
    let len = V2_FIXED + usize::from(u16::from_be_bytes([input[14], input[15]]));
    if len > V2_MAX {
        return Err(ProxyError::V2TooLong(len));
    }
    // Version and command are checked before the rest is waited for.
    match input[12] {
        0x20 | 0x21 => {}
        other => {
            return Err(ProxyError::V2(format!(
                "version and command byte {other:#04x} (0x20 LOCAL or 0x21 PROXY)"
            )))
        }
    }
    if input.len() < len {
        return Ok(None);
    }
    let header =
        ppp::v2::Header::try_from(&input[..len]).map_err(|e| ProxyError::V2(e.to_string()))?;
    let source = match (header.command, header.protocol, header.addresses) {
        (ppp::v2::Command::Local, _, _) => Source::Local,
        (ppp::v2::Command::Proxy, ppp::v2::Protocol::Stream, ppp::v2::Addresses::IPv4(a)) => {
            Source::Client(SocketAddr::from((a.source_address, a.source_port)))
        }
        (ppp::v2::Command::Proxy, ppp::v2::Protocol::Stream, ppp::v2::Addresses::IPv6(a)) => {
            Source::Client(SocketAddr::from((a.source_address, a.source_port)))
        }
        (ppp::v2::Command::Proxy, _, _) => Source::Unknown,
    };
    Ok(Some(Header { len, source }))
}

/// Why [`read_header`] found no header.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The peer closed after sending this many bytes.
    #[error("closed after {0} bytes, before a complete PROXY header")]
    Closed(usize),
    #[error("{0}")]
    Io(#[from] io::Error),
    #[error("{0}")]
    Invalid(#[from] ProxyError),
}

/// Read a PROXY header from the start of `tcp`. Returns it and the bytes the same reads
/// brought after it (at most [`MAX_HEADER`] in all are read): they are the client's and must be
/// read again before anything else. The caller bounds the wait.
pub async fn read_header(tcp: &mut TcpStream) -> Result<(Header, Vec<u8>), ReadError> {
    let mut buf = vec![0u8; MAX_HEADER];
    let mut filled = 0;
    loop {
        let n = tcp.read(&mut buf[filled..]).await?;
        if n == 0 {
            return Err(ReadError::Closed(filled));
        }
        filled += n;
        match parse(&buf[..filled])? {
            Some(header) => {
                buf.truncate(filled);
                buf.drain(..header.len);
                return Ok((header, buf));
            }
            // `parse` waits for more only below MAX_HEADER bytes; never read past the buffer.
            None if filled == buf.len() => return Err(ProxyError::V1TooLong.into()),
            None => {}
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn v2(command: u8, family_protocol: u8, body: &[u8]) -> Vec<u8> {
        let mut h = V2_SIGNATURE.to_vec();
        h.push(command);
        h.push(family_protocol);
        h.extend_from_slice(&u16::try_from(body.len()).unwrap().to_be_bytes());
        h.extend_from_slice(body);
        h
    }

    fn v2_ipv4(src: [u8; 4], sport: u16, tlvs: &[u8]) -> Vec<u8> {
        let mut body = src.to_vec();
        body.extend_from_slice(&[127, 0, 0, 1]);
        body.extend_from_slice(&sport.to_be_bytes());
        body.extend_from_slice(&993u16.to_be_bytes());
        body.extend_from_slice(tlvs);
        v2(0x21, 0x11, &body)
    }

    fn client(s: &str) -> Source {
        Source::Client(s.parse().unwrap())
    }

    /// Every header below, complete, with what it says.
    fn valid() -> Vec<(Vec<u8>, Source)> {
        let mut v6 = Vec::new();
        v6.extend_from_slice(
            &"2001:db8::7"
                .parse::<std::net::Ipv6Addr>()
                .unwrap()
                .octets(),
        );
        v6.extend_from_slice(&std::net::Ipv6Addr::LOCALHOST.octets());
        v6.extend_from_slice(&[0xc3, 0x50, 0x03, 0xe1]);
        let longest_v1 = format!(
            "PROXY TCP6 {0} {0} 65535 65535\r\n",
            "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"
        );
        assert_eq!(longest_v1.len(), 104);
        vec![
            (
                b"PROXY TCP4 192.0.2.7 127.0.0.1 50000 143\r\n".to_vec(),
                client("192.0.2.7:50000"),
            ),
            (
                b"PROXY TCP6 2001:db8::7 ::1 50000 993\r\n".to_vec(),
                client("[2001:db8::7]:50000"),
            ),
            (
                longest_v1.into_bytes(),
                client("[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535"),
            ),
            (b"PROXY UNKNOWN\r\n".to_vec(), Source::Unknown),
            (b"PROXY UNKNOWN ::1 ::1 1 2\r\n".to_vec(), Source::Unknown),
            (
                v2_ipv4([192, 0, 2, 7], 50000, &[]),
                client("192.0.2.7:50000"),
            ),
            // With TLVs (ALPN "imap", a NOOP padding of 3), which are skipped.
            (
                v2_ipv4(
                    [198, 51, 100, 1],
                    1,
                    &[0x01, 0, 4, b'i', b'm', b'a', b'p', 0x04, 0, 3, 0, 0, 0],
                ),
                client("198.51.100.1:1"),
            ),
            (v2(0x21, 0x21, &v6), client("[2001:db8::7]:50000")),
            // LOCAL: a health check; the addresses, if any, are ignored.
            (v2(0x20, 0x00, &[]), Source::Local),
            (v2(0x20, 0x11, &[0; 12]), Source::Local),
            // UNSPEC, AF_UNIX and UDP say nothing we use.
            (v2(0x21, 0x00, &[]), Source::Unknown),
            (v2(0x21, 0x31, &[0; 216]), Source::Unknown),
            (v2(0x21, 0x12, &[0; 12]), Source::Unknown),
            (
                v2(
                    0x21,
                    0x11,
                    &[[10, 0, 0, 1].as_slice(), &[0; 8], &[7; 4000]].concat(),
                ),
                client("10.0.0.1:0"),
            ),
        ]
    }

    #[test]
    fn valid_headers_give_the_client_and_their_exact_length() {
        for (header, source) in valid() {
            let name = String::from_utf8_lossy(&header).to_string();
            let expect = Some(Header {
                len: header.len(),
                source,
            });
            assert_eq!(parse(&header), Ok(expect), "{name:?}");
            // Bytes after the header are the client's: never part of it, whatever they are.
            for after in [
                &b"a NOOP\r\n"[..],
                b"\x16\x03\x01\x02\x00\x01",
                b"\r\n",
                b"PROXY ",
            ] {
                let stream = [&header[..], after].concat();
                assert_eq!(parse(&stream), Ok(expect), "{name:?} + {after:?}");
            }
            // Cut anywhere short of its end, it is not complete yet.
            for end in 0..header.len() {
                assert_eq!(parse(&header[..end]), Ok(None), "{name:?} cut at {end}");
            }
            crate::fuzzing::proxy_header(&[&header[..], b"EHLO x\r\n"].concat());
        }
    }

    #[test]
    fn other_protocols_are_refused_at_their_first_byte() {
        for stream in [
            &b"GET / HTTP/1.1\r\n"[..],
            b"a LOGIN x y\r\n",
            b"EHLO client.example\r\n",
            b"\x16\x03\x01\x00\xf4\x01\x00\x00\xf0\x03\x03",
            b"proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n",
            b"PROXYTCP4",
            b"\r\n\r\n\0\r\nQUIX\n",
        ] {
            let first_wrong = (1..=stream.len())
                .find(|&end| parse(&stream[..end]).is_err())
                .unwrap_or_else(|| panic!("{stream:?} accepted or awaited"));
            assert_eq!(parse(stream), Err(ProxyError::NotProxy), "{stream:?}");
            let expected = if stream.starts_with(b"PROXYT") {
                6
            } else if stream.starts_with(b"\r\n\r\n\0\r\nQUI") {
                11
            } else {
                1
            };
            assert_eq!(first_wrong, expected, "{stream:?}");
        }
        // Nothing at all is not a header yet.
        assert_eq!(parse(b""), Ok(None));
    }

    #[test]
    fn the_v2_signature_alone_is_only_a_start() {
        assert_eq!(parse(b"\r\n\r\n\0\r\nQUIT\n"), Ok(None));
        assert_eq!(parse(b"\r\n"), Ok(None));
        assert_eq!(parse(b"\r\n\r"), Ok(None));
        // An empty line (a client that starts with CRLF) is no header.
        assert_eq!(parse(b"\r\nEHLO"), Err(ProxyError::NotProxy));
    }

    #[test]
    fn malformed_v1_headers_are_refused() {
        for bad in [
            &b"PROXY TCP4 192.0.2.7 127.0.0.1 50000\r\n"[..],
            b"PROXY TCP4 192.0.2.7 127.0.0.1 50000 143 9\r\n",
            b"PROXY TCP4 2001:db8::7 127.0.0.1 50000 143\r\n",
            b"PROXY TCP6 192.0.2.7 ::1 50000 143\r\n",
            b"PROXY TCP4 192.0.2.7 127.0.0.1 70000 143\r\n",
            b"PROXY TCP4 192.0.2.7 127.0.0.1 050 143\r\n",
            b"PROXY TCP4 192.0.2.7 127.0.0.1 50000 143 \r\n",
            b"PROXY TCP4 192.0.2.7  127.0.0.1 50000 143\r\n",
            b"PROXY TCP5 192.0.2.7 127.0.0.1 50000 143\r\n",
            b"PROXY TCP4 192.0.2.7 127.0.0.1 50000 143\n",
            b"PROXY TCP4 192.0.2.7\r127.0.0.1 50000 143\r\n",
            b"PROXY \r\n",
            b"PROXY TCP4 \xff.0.2.7 127.0.0.1 50000 143\r\n",
        ] {
            assert!(
                matches!(parse(bad), Err(ProxyError::V1(_))),
                "{:?}: {:?}",
                String::from_utf8_lossy(bad),
                parse(bad)
            );
            crate::fuzzing::proxy_header(bad);
        }
    }

    #[test]
    fn a_v1_header_without_crlf_is_refused_at_107_bytes() {
        let mut long = b"PROXY UNKNOWN ".to_vec();
        long.resize(V1_MAX - 1, b'x');
        assert_eq!(parse(&long), Ok(None));
        long.push(b'x');
        assert_eq!(parse(&long), Err(ProxyError::V1TooLong));
        long.extend_from_slice(b"\r\n");
        assert_eq!(parse(&long), Err(ProxyError::V1TooLong));
        // 106 bytes and CRLF just past the limit: the CR counts, the LF is the 108th.
        let mut just_over = b"PROXY UNKNOWN ".to_vec();
        just_over.resize(V1_MAX - 1, b'x');
        just_over.extend_from_slice(b"\r\n");
        assert_eq!(parse(&just_over), Err(ProxyError::V1TooLong));
        // 107 bytes with its CRLF is the longest there is.
        let mut longest = b"PROXY UNKNOWN ".to_vec();
        longest.resize(V1_MAX - 2, b'x');
        longest.extend_from_slice(b"\r\n");
        assert_eq!(
            parse(&longest),
            Ok(Some(Header {
                len: V1_MAX,
                source: Source::Unknown
            }))
        );
    }

    #[test]
    fn malformed_v2_headers_are_refused() {
        let cases: Vec<Vec<u8>> = vec![
            // Version 1 in a v2 header, then an unknown command.
            v2(0x11, 0x11, &[0; 12]),
            v2(0x22, 0x11, &[0; 12]),
            // Unknown family, unknown protocol.
            v2(0x21, 0x41, &[0; 12]),
            v2(0x21, 0x13, &[0; 12]),
            // Too short for its family's addresses.
            v2(0x21, 0x11, &[0; 11]),
            v2(0x21, 0x21, &[0; 35]),
            v2(0x21, 0x31, &[0; 215]),
        ];
        for bad in cases {
            assert!(
                matches!(parse(&bad), Err(ProxyError::V2(_))),
                "{bad:?}: {:?}",
                parse(&bad)
            );
            crate::fuzzing::proxy_header(&bad);
        }
        // The version is judged before the rest is waited for.
        let early = v2(0x31, 0x11, &[0; 12]);
        assert!(matches!(parse(&early[..16]), Err(ProxyError::V2(_))));
    }

    #[test]
    fn an_oversized_v2_header_is_refused_before_its_body_arrives() {
        let mut header = V2_SIGNATURE.to_vec();
        header.extend_from_slice(&[0x21, 0x11]);
        header.extend_from_slice(&u16::try_from(V2_MAX - V2_FIXED + 1).unwrap().to_be_bytes());
        assert_eq!(parse(&header), Err(ProxyError::V2TooLong(V2_MAX + 1)));
        let mut max = V2_SIGNATURE.to_vec();
        max.extend_from_slice(&[0x21, 0x11]);
        max.extend_from_slice(&u16::MAX.to_be_bytes());
        assert_eq!(parse(&max), Err(ProxyError::V2TooLong(V2_FIXED + 65535)));
        // The largest accepted is awaited to its end.
        let largest = v2(0x21, 0x11, &vec![0; V2_MAX - V2_FIXED]);
        assert_eq!(parse(&largest[..V2_MAX - 1]), Ok(None));
        assert_eq!(parse(&largest).unwrap().unwrap().len, V2_MAX);
    }

    #[test]
    fn a_v1_header_cut_before_its_last_port_is_awaited() {
        // `ppp` alone refuses this valid header when a read ends right after the space.
        let header = b"PROXY TCP4 192.0.2.7 127.0.0.1 50000 143\r\n";
        let cut = header.iter().rposition(|&b| b == b' ').unwrap() + 1;
        assert!(ppp::v1::Header::try_from(&header[..cut]).is_err());
        assert_eq!(parse(&header[..cut]), Ok(None));
    }

    proptest::proptest! {
        #[test]
        fn any_bytes_keep_the_invariant(data in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            crate::fuzzing::proxy_header(&data);
        }

        #[test]
        fn headers_with_any_bytes_after_them_keep_the_invariant(
            which in 0usize..14,
            after in proptest::collection::vec(proptest::num::u8::ANY, 0..64),
            flip in proptest::option::of((0usize..128, 0u8..8)),
        ) {
            let all = valid();
            let (header, _) = &all[which % all.len()];
            let mut stream = [&header[..], &after].concat();
            // Sometimes with one bit of the header flipped.
            if let Some((at, bit)) = flip {
                let at = at % header.len();
                stream[at] ^= 1 << bit;
            }
            crate::fuzzing::proxy_header(&stream);
        }
    }
}
