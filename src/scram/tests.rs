#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;

// ---------------------------------------------------------------------------------------------
// An independent client, written from RFC 5802 §3 and RFC 2104: its own HMAC and Hi over
// plain SHA-256, its own message building. It shares nothing with the server but base64 and
// the SHA-256 function, so a mistake on one side shows up as a failed exchange.
// ---------------------------------------------------------------------------------------------

fn h(data: &[u8]) -> Vec<u8> {
    ring::digest::digest(&ring::digest::SHA256, data)
        .as_ref()
        .to_vec()
}

/// HMAC-SHA-256 by its definition (RFC 2104 §2, block size 64).
fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut block = if key.len() > 64 { h(key) } else { key.to_vec() };
    block.resize(64, 0);
    let inner: Vec<u8> = block
        .iter()
        .map(|b| b ^ 0x36)
        .chain(data.to_vec())
        .collect();
    let outer: Vec<u8> = block.iter().map(|b| b ^ 0x5c).chain(h(&inner)).collect();
    h(&outer)
}

/// Hi(str, salt, i) (RFC 5802 §2.2): U1 = HMAC(str, salt + INT(1)), Ui = HMAC(str, Ui-1),
/// the XOR of all.
fn hi(password: &[u8], salt: &[u8], i: u32) -> Vec<u8> {
    let mut u = hmac(password, &[salt, &[0, 0, 0, 1]].concat());
    let mut out = u.clone();
    for _ in 1..i {
        u = hmac(password, &u);
        for (o, x) in out.iter_mut().zip(&u) {
            *o ^= x;
        }
    }
    out
}

fn b64(data: &[u8]) -> String {
    STANDARD.encode(data)
}

struct Client {
    /// Already escaped (`=2C`, `=3D`).
    user: String,
    /// Already prepared: these tests use ASCII passwords, which SASLprep leaves alone.
    password: String,
    nonce: String,
    gs2_header: String,
    /// The exporter value the client sees (only with `p=`).
    cb_data: Vec<u8>,
    /// Extensions the client puts after `r=` in its final message.
    final_extensions: String,
}

impl Client {
    fn new(user: &str, password: &str, gs2_header: &str) -> Client {
        Client {
            user: user.into(),
            password: password.into(),
            nonce: "fyko+d2lbbFgONRv9qkxdawL".into(),
            gs2_header: gs2_header.into(),
            cb_data: Vec::new(),
            final_extensions: String::new(),
        }
    }

    fn bare(&self) -> String {
        format!("n={},r={}", self.user, self.nonce)
    }

    fn first(&self) -> Vec<u8> {
        format!("{}{}", self.gs2_header, self.bare()).into_bytes()
    }

    /// The client-final-message for `server_first`, and the `v=` the server must answer.
    fn last(&self, server_first: &[u8]) -> (Vec<u8>, Vec<u8>) {
        let server_first = std::str::from_utf8(server_first).unwrap();
        let mut attrs = server_first.split(',');
        let nonce = attrs.next().unwrap().strip_prefix("r=").unwrap();
        let salt = attrs.next().unwrap().strip_prefix("s=").unwrap();
        let i: u32 = attrs
            .next()
            .unwrap()
            .strip_prefix("i=")
            .unwrap()
            .parse()
            .unwrap();
        assert!(nonce.starts_with(&self.nonce), "the server kept our nonce");
        assert!(nonce.len() > self.nonce.len(), "the server added its own");

        let salted = hi(self.password.as_bytes(), &STANDARD.decode(salt).unwrap(), i);
        let client_key = hmac(&salted, b"Client Key");
        let stored_key = h(&client_key);
        let cbind = [self.gs2_header.as_bytes(), &self.cb_data].concat();
        let without_proof = format!("c={},r={nonce}{}", b64(&cbind), self.final_extensions);
        let auth = format!("{},{server_first},{without_proof}", self.bare());
        let signature = hmac(&stored_key, auth.as_bytes());
        let proof: Vec<u8> = client_key
            .iter()
            .zip(&signature)
            .map(|(k, s)| k ^ s)
            .collect();
        let server_key = hmac(&salted, b"Server Key");
        let verifier = format!("v={}", b64(&hmac(&server_key, auth.as_bytes())));
        (
            format!("{without_proof},p={}", b64(&proof)).into_bytes(),
            verifier.into_bytes(),
        )
    }
}

const EXPORTER: [u8; 32] = [7; 32];
const SALT: &[u8] = b"0123456789abcdef";

/// A whole exchange: the client's `password` against keys derived from `stored_password`.
fn exchange(
    client: &Client,
    stored_password: &str,
    plus: bool,
    exporter: Option<&[u8]>,
) -> Result<ServerFinal, ScramError> {
    let keys = ScramKeys::derive(stored_password, SALT, 4096);
    let (mut server, first) = ScramServer::start(&client.first(), plus, exporter)?;
    assert_eq!(first.username, client.user);
    let server_first = server.server_first(&keys, &[0xA5; 18])?;
    let (last, verifier) = client.last(&server_first);
    let done = server.client_final(&last)?;
    assert_eq!(
        done.message, verifier,
        "the server proves itself to the client"
    );
    Ok(done)
}

// ---------------------------------------------------------------------------------------------
// RFC 7677 §3
// ---------------------------------------------------------------------------------------------

const RFC_CLIENT_FIRST: &[u8] = b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO";
const RFC_SERVER_NONCE: &[u8] = b"%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
const RFC_SERVER_FIRST: &[u8] =
    b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
const RFC_CLIENT_FINAL: &[u8] = b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
const RFC_SERVER_FINAL: &[u8] = b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";

/// The RFC's keys, derived once (the property tests run many exchanges).
fn rfc_keys() -> ScramKeys {
    static KEYS: std::sync::OnceLock<ScramKeys> = std::sync::OnceLock::new();
    KEYS.get_or_init(|| {
        let salt = STANDARD.decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap();
        ScramKeys::derive("pencil", &salt, 4096)
    })
    .clone()
}

/// `start` and `server_first` of the RFC 7677 exchange, with `exporter` as the connection's.
fn rfc_server(exporter: Option<&[u8]>) -> ScramServer {
    let (mut server, first) = ScramServer::start(RFC_CLIENT_FIRST, false, exporter).unwrap();
    assert_eq!(
        first,
        ClientFirst {
            username: "user".into(),
            channel_binding: ChannelBinding::None,
        }
    );
    assert_eq!(
        server.server_first(&rfc_keys(), RFC_SERVER_NONCE).unwrap(),
        RFC_SERVER_FIRST
    );
    server
}

#[test]
fn rfc7677_test_vector() {
    // Without TLS, and with TLS (-PLUS advertised): `n` is fine either way.
    for exporter in [None, Some(&EXPORTER[..])] {
        let mut server = rfc_server(exporter);
        let done = server.client_final(RFC_CLIENT_FINAL).unwrap();
        assert_eq!(done.message, RFC_SERVER_FINAL);
        assert_eq!(done.username, "user");
    }
}

#[test]
fn the_test_client_reproduces_the_rfc_vector() {
    let mut client = Client::new("user", "pencil", "n,,");
    client.nonce = "rOprNGfwEbeRWgbNEkqO".into();
    assert_eq!(client.first(), RFC_CLIENT_FIRST);
    let (last, verifier) = client.last(RFC_SERVER_FIRST);
    assert_eq!(last, RFC_CLIENT_FINAL);
    assert_eq!(verifier, RFC_SERVER_FINAL);
}

#[test]
fn derive_matches_the_rfc_definitions() {
    let keys = rfc_keys();
    let salted = hi(b"pencil", &keys.salt, 4096);
    assert_eq!(keys.stored_key.to_vec(), h(&hmac(&salted, b"Client Key")));
    assert_eq!(keys.server_key.to_vec(), hmac(&salted, b"Server Key"));
    assert_eq!(keys.iterations, 4096);
}

// ---------------------------------------------------------------------------------------------
// Full exchanges with the independent client
// ---------------------------------------------------------------------------------------------

#[test]
fn exchange_without_channel_binding() {
    let client = Client::new("alice@example.com", "correct horse", "n,,");
    // Plain TLS-less, and with -PLUS advertised: the client may still choose `n`.
    for exporter in [None, Some(&EXPORTER[..])] {
        let done = exchange(&client, "correct horse", false, exporter).unwrap();
        assert_eq!(done.username, "alice@example.com");
    }
}

#[test]
fn exchange_with_y_when_plus_is_not_advertised() {
    let client = Client::new("alice", "pw", "y,,");
    assert!(exchange(&client, "pw", false, None).is_ok());
}

#[test]
fn exchange_with_tls_exporter_binding() {
    let mut client = Client::new("alice", "pw", "p=tls-exporter,,");
    client.cb_data = EXPORTER.to_vec();
    let done = exchange(&client, "pw", true, Some(&EXPORTER)).unwrap();
    assert_eq!(done.username, "alice");
    let (_, first) = ScramServer::start(&client.first(), true, Some(&EXPORTER)).unwrap();
    assert_eq!(first.channel_binding, ChannelBinding::TlsExporter);
}

#[test]
fn exchange_with_an_authzid_equal_to_the_username() {
    let mut client = Client::new("alice", "pw", "n,a=Alice,");
    assert!(exchange(&client, "pw", false, None).is_ok());
    client.gs2_header = "p=tls-exporter,a=alice,".into();
    client.cb_data = EXPORTER.to_vec();
    assert!(exchange(&client, "pw", true, Some(&EXPORTER)).is_ok());
}

#[test]
fn exchange_with_escaped_username_and_extensions() {
    let mut client = Client::new("a=2Cb=3Dc", "pw", "n,,");
    client.final_extensions = ",x=ignored".into();
    let keys = ScramKeys::derive("pw", SALT, 4096);
    let (mut server, first) = ScramServer::start(&client.first(), false, None).unwrap();
    assert_eq!(first.username, "a,b=c");
    let (last, verifier) = client.last(&server.server_first(&keys, b"snonce").unwrap());
    let done = server.client_final(&last).unwrap();
    assert_eq!(done.message, verifier);
    assert_eq!(done.username, "a,b=c");
}

#[test]
fn random_server_nonce_bytes_are_base64_encoded() {
    let (mut server, _) = ScramServer::start(b"n,,n=u,r=abc", false, None).unwrap();
    let first = server
        .server_first(&rfc_keys(), &[0, 1, 2, 0xff, b','])
        .unwrap();
    assert!(first.starts_with(b"r=abcAAEC/yw=,s="), "{first:?}");
}

#[test]
fn wrong_password_is_an_invalid_proof() {
    let client = Client::new("alice", "guess", "n,,");
    let err = exchange(&client, "pw", false, None).unwrap_err();
    assert_eq!(err, ScramError::InvalidProof);
    assert_eq!(err.server_final(), b"e=invalid-proof");
}

#[test]
fn a_flipped_proof_bit_is_refused() {
    let mut server = rfc_server(None);
    let mut last = RFC_CLIENT_FINAL.to_vec();
    let at = last.len() - 5;
    last[at] = if last[at] == b'A' { b'B' } else { b'A' };
    assert_eq!(server.client_final(&last), Err(ScramError::InvalidProof));
}

// ---------------------------------------------------------------------------------------------
// Channel binding
// ---------------------------------------------------------------------------------------------

#[test]
fn a_different_exporter_value_does_not_match() {
    // The client sits behind a TLS-terminating relay: it sees another connection's value.
    let mut client = Client::new("alice", "pw", "p=tls-exporter,,");
    client.cb_data = [9u8; 32].to_vec();
    assert_eq!(
        exchange(&client, "pw", true, Some(&EXPORTER)),
        Err(ScramError::ChannelBindingsDontMatch)
    );
}

#[test]
fn c_must_repeat_the_gs2_header_and_exporter_exactly() {
    // (gs2 header of the client-first-message, what `c=` carries, -PLUS)
    let cases: [(&str, Vec<u8>, bool); 6] = [
        // The exporter value left out, or cut short.
        ("p=tls-exporter,,", b"p=tls-exporter,,".to_vec(), true),
        (
            "p=tls-exporter,,",
            [b"p=tls-exporter,,".as_slice(), &EXPORTER[..31]].concat(),
            true,
        ),
        // Another flag in `c=` than in the first message.
        (
            "p=tls-exporter,,",
            [b"n,,".as_slice(), &EXPORTER].concat(),
            true,
        ),
        ("n,,", b"y,,".to_vec(), false),
        // An authzid added or dropped.
        ("n,,", b"n,a=alice,".to_vec(), false),
        ("n,a=alice,", b"n,,".to_vec(), false),
    ];
    for (header, cbind, plus) in cases {
        let client = Client::new("alice", "pw", header);
        let (mut server, _) = ScramServer::start(&client.first(), plus, Some(&EXPORTER)).unwrap();
        let server_first = server.server_first(&rfc_keys(), b"s").unwrap();
        let server_first = String::from_utf8(server_first).unwrap();
        let nonce = server_first.split(',').next().unwrap();
        // The binding is checked before the proof, so any proof does here.
        let last = format!("c={},{nonce},p={}", b64(&cbind), b64(&[0; 32]));
        assert_eq!(
            server.client_final(last.as_bytes()),
            Err(ScramError::ChannelBindingsDontMatch),
            "{header} / {cbind:?}"
        );
    }
}

#[test]
fn y_is_a_downgrade_when_plus_is_advertised() {
    let client = Client::new("alice", "pw", "y,,");
    let err = ScramServer::start(&client.first(), false, Some(&EXPORTER)).unwrap_err();
    assert_eq!(err, ScramError::ServerDoesSupportChannelBinding);
    assert_eq!(err.server_error(), "server-does-support-channel-binding");
}

#[test]
fn channel_binding_policy() {
    let start = |first: &[u8], plus, exporter| ScramServer::start(first, plus, exporter).err();
    let exp = Some(&EXPORTER[..]);
    // p= with the mechanism without -PLUS.
    assert_eq!(
        start(b"p=tls-exporter,,n=u,r=x", false, exp),
        Some(ScramError::ChannelBindingNotSupported)
    );
    // -PLUS on a connection without an exporter value.
    assert_eq!(
        start(b"p=tls-exporter,,n=u,r=x", true, None),
        Some(ScramError::ChannelBindingNotSupported)
    );
    assert_eq!(
        start(b"n,,n=u,r=x", true, None),
        Some(ScramError::ChannelBindingNotSupported)
    );
    // -PLUS without binding.
    for first in [&b"n,,n=u,r=x"[..], b"y,,n=u,r=x"] {
        assert_eq!(
            start(first, true, exp),
            Some(ScramError::ChannelBindingRequired)
        );
    }
    // Other binding types, even well known ones.
    for first in [
        &b"p=tls-unique,,n=u,r=x"[..],
        b"p=tls-server-end-point,,n=u,r=x",
    ] {
        assert_eq!(
            start(first, true, exp),
            Some(ScramError::UnsupportedChannelBindingType)
        );
    }
    // Not a cb-name at all.
    for first in [
        &b"p=,,n=u,r=x"[..],
        b"p=tls_exporter,,n=u,r=x",
        b"P=tls-exporter,,n=u,r=x",
    ] {
        assert_eq!(start(first, true, exp), Some(ScramError::InvalidEncoding));
    }
}

// ---------------------------------------------------------------------------------------------
// Malformed messages
// ---------------------------------------------------------------------------------------------

#[test]
fn malformed_client_first_messages() {
    use ScramError::*;
    let cases: &[(&[u8], ScramError)] = &[
        (b"", InvalidEncoding),
        (b"n", InvalidEncoding),
        (b"n,", InvalidEncoding),
        (b"n,,", InvalidEncoding),
        (b"x,,n=u,r=x", InvalidEncoding),
        (b"N,,n=u,r=x", InvalidEncoding),
        (b",,n=u,r=x", InvalidEncoding),
        (b"n,,n=u", InvalidEncoding),
        (b"n,,n=u,", InvalidEncoding),
        (b"n,,n=u,r=", InvalidEncoding),
        (b"n,,r=x,n=u", InvalidEncoding),
        (b"n,,n=u,x=y,r=x", InvalidEncoding),
        (b"n,,u,r=x", InvalidEncoding),
        (b"n,,n=u,r=x,", InvalidEncoding),
        (b"n,,n=u,r=x,foo", InvalidEncoding),
        (b"n,,n=u,r=x,1=y", InvalidEncoding),
        (b"n,,n=u,r=x,y=", InvalidEncoding),
        (b"n,,n=u,r=a b", InvalidEncoding),
        (b"n,,n=u,r=a\x7f", InvalidEncoding),
        (b"n,,n=u,r=\xc3\xa9", InvalidEncoding),
        (b"n,,n=\xff,r=x", InvalidEncoding),
        (b"n,,n=u\0,r=x", InvalidEncoding),
        (b"n,u,n=u,r=x", InvalidEncoding),
        (b"n,a=,n=u,r=x", InvalidUsernameEncoding),
        (b"n,,m=foo,n=u,r=x", ExtensionsNotSupported),
        (b"n,,n=,r=x", InvalidUsernameEncoding),
        (b"n,,n=a=2c,r=x", InvalidUsernameEncoding),
        (b"n,,n=a=41,r=x", InvalidUsernameEncoding),
        (b"n,,n=a=,r=x", InvalidUsernameEncoding),
        (b"n,,n=a=3,r=x", InvalidUsernameEncoding),
        (b"n,,n=a=\xc3\xa9x,r=x", InvalidUsernameEncoding),
        (b"n,a=bob,n=alice,r=x", AuthzidNotPermitted),
    ];
    for (message, want) in cases {
        assert_eq!(
            ScramServer::start(message, false, None).err(),
            Some(*want),
            "{}",
            String::from_utf8_lossy(message)
        );
    }
}

#[test]
fn client_first_limits_and_leniencies() {
    // Non-ASCII usernames pass (UTF-8), optional extensions are ignored.
    let (_, first) = ScramServer::start("n,,n=jürgen,r=x,x=y,z=w".as_bytes(), false, None).unwrap();
    assert_eq!(first.username, "jürgen");
    // Up to the limit, and not one byte more.
    let fill = |n: usize| {
        let mut m = b"n,,n=u,r=".to_vec();
        m.resize(n, b'a');
        m
    };
    assert!(ScramServer::start(&fill(MAX_MESSAGE_LEN), false, None).is_ok());
    assert_eq!(
        ScramServer::start(&fill(MAX_MESSAGE_LEN + 1), false, None).err(),
        Some(ScramError::TooLong)
    );
}

#[test]
fn malformed_client_final_messages() {
    use ScramError::*;
    let nonce = "rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
    let proof = "dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
    let cases: Vec<(String, ScramError)> = vec![
        (String::new(), InvalidEncoding),
        (format!("c=biws,r={nonce}"), InvalidEncoding),
        (format!("c=biws,r={nonce},p="), InvalidProof),
        (format!("r={nonce},c=biws,p={proof}"), InvalidEncoding),
        (format!("c=biws,p={proof},r={nonce}"), InvalidEncoding),
        (format!("r={nonce},p={proof}"), InvalidEncoding),
        (format!("c=biws,p={proof}"), InvalidEncoding),
        (format!("c=biws,r={nonce},p=!!!"), InvalidEncoding),
        (format!("c=biws,r={nonce},p=dHzb"), InvalidProof),
        (format!("c=bi!s,r={nonce},p={proof}"), InvalidEncoding),
        (format!("c=biw,r={nonce},p={proof}"), InvalidEncoding),
        (format!("c=biws,r={nonce},,p={proof}"), InvalidEncoding),
        (format!("c=biws,r={nonce},foo,p={proof}"), InvalidEncoding),
        (format!("c=biws,r={nonce}\0,p={proof}"), InvalidEncoding),
        (
            format!("c=biws,r=rOprNGfwEbeRWgbNEkqO,p={proof}"),
            NonceMismatch,
        ),
        (format!("c=biws,r={nonce}x,p={proof}"), NonceMismatch),
        (format!("c=biws,r=,p={proof}"), NonceMismatch),
        (
            format!("c=eSws,r={nonce},p={proof}"),
            ChannelBindingsDontMatch,
        ),
        // An extension the proof does not cover.
        (format!("c=biws,r={nonce},x=1,p={proof}"), InvalidProof),
        (
            format!("c=biws,r={nonce},p={proof}{}", "A".repeat(MAX_MESSAGE_LEN)),
            TooLong,
        ),
    ];
    for (message, want) in cases {
        let mut server = rfc_server(None);
        assert_eq!(
            server.client_final(message.as_bytes()).err(),
            Some(want),
            "{message}"
        );
    }
    let mut server = rfc_server(None);
    assert_eq!(
        server.client_final(b"c=biws,\xff").err(),
        Some(InvalidEncoding)
    );
}

// ---------------------------------------------------------------------------------------------
// The state machine
// ---------------------------------------------------------------------------------------------

#[test]
fn steps_are_single_shot_and_in_order() {
    // client_final before server_first.
    let (mut server, _) = ScramServer::start(RFC_CLIENT_FIRST, false, None).unwrap();
    assert_eq!(
        server.client_final(RFC_CLIENT_FINAL),
        Err(ScramError::Misuse)
    );
    // server_first twice.
    let mut server = rfc_server(None);
    assert_eq!(
        server.server_first(&rfc_keys(), RFC_SERVER_NONCE),
        Err(ScramError::Misuse)
    );
    assert_eq!(
        server.client_final(RFC_CLIENT_FINAL),
        Err(ScramError::Misuse)
    );
    // An empty server nonce.
    let (mut server, _) = ScramServer::start(RFC_CLIENT_FIRST, false, None).unwrap();
    assert_eq!(
        server.server_first(&rfc_keys(), b""),
        Err(ScramError::Misuse)
    );
    // No second try after a failure, nor a replay after a success.
    let mut server = rfc_server(None);
    assert!(server.client_final(b"c=biws").is_err());
    assert_eq!(
        server.client_final(RFC_CLIENT_FINAL),
        Err(ScramError::Misuse)
    );
    let mut server = rfc_server(None);
    assert!(server.client_final(RFC_CLIENT_FINAL).is_ok());
    assert_eq!(
        server.client_final(RFC_CLIENT_FINAL),
        Err(ScramError::Misuse)
    );
}

#[test]
fn error_values_are_rfc_5802_server_errors() {
    use ScramError::*;
    let all = [
        TooLong,
        InvalidEncoding,
        ExtensionsNotSupported,
        InvalidUsernameEncoding,
        AuthzidNotPermitted,
        UnsupportedChannelBindingType,
        ChannelBindingNotSupported,
        ChannelBindingRequired,
        ServerDoesSupportChannelBinding,
        ChannelBindingsDontMatch,
        NonceMismatch,
        InvalidProof,
        Misuse,
    ];
    let known = [
        "invalid-encoding",
        "extensions-not-supported",
        "invalid-proof",
        "channel-bindings-dont-match",
        "server-does-support-channel-binding",
        "channel-binding-not-supported",
        "unsupported-channel-binding-type",
        "invalid-username-encoding",
        "other-error",
    ];
    for e in all {
        assert!(known.contains(&e.server_error()), "{e:?}");
        assert_eq!(
            e.server_final(),
            format!("e={}", e.server_error()).as_bytes()
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Keys: SASLprep, fake keys, the text form
// ---------------------------------------------------------------------------------------------

#[test]
fn passwords_are_saslprepped() {
    // RFC 4013 §3 examples: a soft hyphen maps to nothing, U+2168 (ROMAN NUMERAL NINE) and
    // U+00AA (FEMININE ORDINAL) normalize under NFKC, a non-ASCII space becomes a space.
    let ix = ScramKeys::derive("IX", SALT, 2);
    assert_eq!(ScramKeys::derive("I\u{00AD}X", SALT, 2), ix);
    assert_eq!(ScramKeys::derive("\u{2168}", SALT, 2), ix);
    assert_eq!(
        ScramKeys::derive("\u{00AA}", SALT, 2),
        ScramKeys::derive("a", SALT, 2)
    );
    assert_eq!(
        ScramKeys::derive("a\u{00A0}b", SALT, 2),
        ScramKeys::derive("a b", SALT, 2)
    );
    // A password SASLprep refuses (U+0007 is prohibited) is used as its raw bytes.
    let bell = ScramKeys::derive("\u{0007}", SALT, 2);
    let salted = hi(b"\x07", SALT, 2);
    assert_eq!(bell.stored_key.to_vec(), h(&hmac(&salted, b"Client Key")));
}

#[test]
fn zero_iterations_count_as_one() {
    let keys = ScramKeys::derive("pw", SALT, 0);
    assert_eq!(keys, ScramKeys::derive("pw", SALT, 1));
    assert_eq!(ScramKeys::fake("u", b"secret", 0).iterations, 1);
}

#[test]
fn fake_keys_look_real_and_are_stable() {
    let a = ScramKeys::fake("nobody@example.com", b"server secret", 4096);
    assert_eq!(
        a,
        ScramKeys::fake("nobody@example.com", b"server secret", 4096)
    );
    assert_eq!(a.salt.len(), SALT_LEN);
    assert_eq!(a.iterations, 4096);
    assert_ne!(a.stored_key, a.server_key);
    let b = ScramKeys::fake("nobody2@example.com", b"server secret", 4096);
    let c = ScramKeys::fake("nobody@example.com", b"another secret", 4096);
    assert_ne!(a.salt, b.salt);
    assert_ne!(a.salt, c.salt);
    assert_ne!(a.stored_key, b.stored_key);
    // A record like any other.
    assert_eq!(ScramKeys::parse(&a.to_string()), Ok(a.clone()));

    // An unknown user fails exactly as a wrong password does.
    let client = Client::new("nobody@example.com", "anything", "n,,");
    let (mut server, first) = ScramServer::start(&client.first(), false, None).unwrap();
    let keys = ScramKeys::fake(&first.username, b"server secret", 4096);
    let server_first = server.server_first(&keys, b"snonce").unwrap();
    let (last, _) = client.last(&server_first);
    assert_eq!(server.client_final(&last), Err(ScramError::InvalidProof));
}

#[test]
fn text_form_round_trips_without_colons() {
    let keys = rfc_keys();
    let text = keys.to_string();
    assert!(!text.contains(':'), "{text}");
    assert!(text.starts_with("scram-sha-256$4096$W22ZaJ0SNY7soEsUEjb6gQ==$"));
    assert_eq!(ScramKeys::parse(&text), Ok(keys.clone()));
    assert_eq!(text.parse::<ScramKeys>(), Ok(keys.clone()));
    // Debug hides the keys.
    let debug = format!("{keys:?}");
    assert!(!debug.contains(&STANDARD.encode(keys.stored_key)));
    assert!(!debug.contains(&STANDARD.encode(keys.server_key)));
}

#[test]
fn text_form_parse_is_strict() {
    let good = rfc_keys().to_string();
    let fields: Vec<&str> = good.split('$').collect();
    let with = |i: usize, value: &str| {
        let mut f = fields.clone();
        f[i] = value;
        f.join("$")
    };
    let key31 = STANDARD.encode([1u8; 31]);
    let bad = [
        String::new(),
        "scram-sha-256".to_string(),
        with(0, "SCRAM-SHA-256"),
        with(0, "scram-sha-1"),
        with(1, ""),
        with(1, "0"),
        with(1, "+4096"),
        with(1, "-1"),
        with(1, "4096 "),
        with(1, "4294967296"),
        with(2, ""),
        with(2, "W22ZaJ0SNY7soEsUEjb6gQ"),
        with(2, "!!!!"),
        with(3, &key31),
        with(4, &key31),
        with(4, "not base64"),
        format!("{good}$"),
        fields[..4].join("$"),
        good.replace('$', ":"),
    ];
    for text in bad {
        assert!(ScramKeys::parse(&text).is_err(), "{text}");
    }
}

// ---------------------------------------------------------------------------------------------
// Never a panic
// ---------------------------------------------------------------------------------------------

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(1000))]

    /// Any bytes as a client-first-message: a result, never a panic.
    #[test]
    fn start_never_panics(
        bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..600),
        plus in proptest::prelude::any::<bool>(),
        tls in proptest::prelude::any::<bool>(),
    ) {
        let exporter = tls.then_some(&EXPORTER[..]);
        let _ = ScramServer::start(&bytes, plus, exporter);
    }

    /// Near-valid client-first-messages, to get past the first checks.
    #[test]
    fn start_never_panics_on_near_misses(
        header in "(n|y|p=[a-z.-]{0,14}|[ -~]{0,3}),(a=[ -~]{0,8})?,",
        rest in "(m=[a-z]{1,3},)?(n=[ -~]{0,12})?(,r=[ -~]{0,12})?(,[ -~]{0,8}){0,3}",
        plus in proptest::prelude::any::<bool>(),
    ) {
        let _ = ScramServer::start(format!("{header}{rest}").as_bytes(), plus, Some(&EXPORTER));
    }

    /// Any bytes, or near-valid text, as a client-final-message: never a panic, and never a
    /// success.
    #[test]
    fn client_final_never_panics(
        bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..600),
        text in "(c=[A-Za-z0-9+/=]{0,12},)?(r=[ -~]{0,60},)?([a-z]=[ -~]{0,6},){0,2}(p=[A-Za-z0-9+/=]{0,48})?",
    ) {
        let mut server = rfc_server(None);
        proptest::prop_assert!(server.client_final(&bytes).is_err());
        let mut server = rfc_server(None);
        proptest::prop_assert!(server.client_final(text.as_bytes()).is_err());
    }

    /// Any text as a stored record: a result, never a panic.
    #[test]
    fn parse_never_panics(text in "[ -~]{0,120}") {
        let _ = ScramKeys::parse(&text);
    }
}
