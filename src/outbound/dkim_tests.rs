#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use base64::Engine as _;
use ring::signature::{UnparsedPublicKey, ED25519, RSA_PKCS1_2048_8192_SHA256};

use super::*;
use crate::config::dkim::{
    tests::rsa_2048, Canonicalization, DkimAlgorithm, DkimPrivateKey, DEFAULT_HEADERS,
};

const NOW: u64 = 1_767_225_600;

fn entry(domain: &str, selector: &str, key: DkimPrivateKey) -> DkimConfig {
    DkimConfig {
        domain: domain.into(),
        selector: selector.into(),
        key_path: format!("/keys/{selector}.pem").into(),
        key,
        headers: DEFAULT_HEADERS.iter().map(|h| h.to_string()).collect(),
        header_canonicalization: Canonicalization::Relaxed,
        body_canonicalization: Canonicalization::Relaxed,
    }
}

fn ed25519() -> DkimPrivateKey {
    DkimPrivateKey::generate(DkimAlgorithm::Ed25519).unwrap().1
}

/// A message as a client submits it, with what canonicalization has to deal with: folded
/// and oddly spaced fields, a field signed twice over (two `To:`), trailing blanks and empty
/// lines at the end of the body.
const MESSAGE: &str = "From: Alice Example <alice@Example.COM>\r\n\
    To: carol@remote1.test\r\n\
    Subject:   a folded\r\n\tsubject  line \r\n\
    Date: Thu, 1 Jan 2026 00:00:00 +0000\r\n\
    Message-ID: <dkim-1@example.com>\r\n\
    X-Mailer: not signed\r\n\
    To: sink@remote2.test\r\n\
    \r\n\
    Hello  there. \r\n\
    .leading dot\r\n\
    \r\n\
    \r\n";

// ---- An independent verifier (RFC 6376 §3.4, §3.7; RFC 8463 §3), relaxed canonicalization
// only, written from the RFC and sharing nothing with mail-auth.

/// The header fields of `message` (each unfolded-as-is, without its final CRLF) and the body.
fn split(message: &[u8]) -> (Vec<String>, &[u8]) {
    let text = std::str::from_utf8(message).unwrap();
    let end = text.find("\r\n\r\n").unwrap();
    let mut fields: Vec<String> = Vec::new();
    for line in text[..end].split("\r\n") {
        if line.starts_with([' ', '\t']) {
            let last = fields.last_mut().unwrap();
            last.push_str("\r\n");
            last.push_str(line);
        } else {
            fields.push(line.to_string());
        }
    }
    (fields, &message[end + 4..])
}

fn squeeze(text: &str) -> String {
    let mut out = String::new();
    let mut space = false;
    for c in text.chars() {
        if c == ' ' || c == '\t' {
            space = true;
        } else {
            if space {
                out.push(' ');
            }
            space = false;
            out.push(c);
        }
    }
    if space {
        out.push(' ');
    }
    out
}

fn relaxed_header(field: &str) -> String {
    let (name, value) = field.split_once(':').unwrap();
    let value = squeeze(&value.replace("\r\n", ""));
    format!("{}:{}\r\n", name.trim().to_lowercase(), value.trim())
}

fn relaxed_body(body: &[u8]) -> Vec<u8> {
    let text = std::str::from_utf8(body).unwrap();
    let mut lines: Vec<String> = text
        .split("\r\n")
        .map(|l| squeeze(l).trim_end().to_string())
        .collect();
    while lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    lines
        .iter()
        .map(|l| format!("{l}\r\n"))
        .collect::<String>()
        .into_bytes()
}

fn tags(field: &str) -> Vec<(String, String)> {
    let value = field.split_once(':').unwrap().1;
    value
        .split(';')
        .filter_map(|t| t.split_once('='))
        .map(|(k, v)| {
            let v: String = v.chars().filter(|c| !c.is_whitespace()).collect();
            (k.trim().to_string(), v)
        })
        .collect()
}

fn tag<'a>(tags: &'a [(String, String)], name: &str) -> &'a str {
    &tags.iter().find(|(k, _)| k == name).unwrap().1
}

/// Check every `DKIM-Signature:` field of `message` against `keys` (by selector), as a
/// receiver would; the selectors that verified, in field order.
fn verify(message: &[u8], keys: &[(&str, &DkimPrivateKey)]) -> Vec<String> {
    let (fields, body) = split(message);
    let mut verified = Vec::new();
    for (at, field) in fields.iter().enumerate() {
        if !field.to_ascii_lowercase().starts_with("dkim-signature:") {
            continue;
        }
        let t = tags(field);
        assert_eq!(tag(&t, "c"), "relaxed/relaxed");
        let selector = tag(&t, "s");
        let key = keys.iter().find(|(s, _)| *s == selector).unwrap().1;
        let bh = ring::digest::digest(&ring::digest::SHA256, &relaxed_body(body));
        assert_eq!(
            tag(&t, "bh"),
            base64::engine::general_purpose::STANDARD.encode(bh),
            "body hash"
        );
        // h=: each name takes the next instance from the bottom (§5.4.2); the signature
        // fields themselves are never signed here.
        let mut used = vec![false; fields.len()];
        let mut data = String::new();
        for name in tag(&t, "h").split(':') {
            let found = (0..fields.len()).rev().find(|&i| {
                !used[i]
                    && i != at
                    && fields[i]
                        .split_once(':')
                        .is_some_and(|(n, _)| n.trim().eq_ignore_ascii_case(name))
            });
            if let Some(i) = found {
                used[i] = true;
                data.push_str(&relaxed_header(&fields[i]));
            }
        }
        let b = tag(&t, "b").to_string();
        let unsigned = {
            let mut s = field.clone();
            let mut from = 0;
            // Empty the value of the tag `b` (the last `b=` that is not `bh=`).
            while let Some(i) = s[from..].find("b=").map(|i| i + from) {
                if !s[..i].ends_with('h') {
                    let end = s[i..].find(';').map_or(s.len(), |e| e + i);
                    s.replace_range(i + 2..end, "");
                    break;
                }
                from = i + 2;
            }
            s
        };
        let canon = relaxed_header(&unsigned);
        data.push_str(canon.strip_suffix("\r\n").unwrap());
        let signature = base64::engine::general_purpose::STANDARD
            .decode(&b)
            .unwrap();
        let ok = match key.algorithm() {
            DkimAlgorithm::Ed25519 => {
                assert_eq!(tag(&t, "a"), "ed25519-sha256");
                // RFC 8463 §3: Ed25519 signs the SHA-256 hash of the data.
                let hash = ring::digest::digest(&ring::digest::SHA256, data.as_bytes());
                UnparsedPublicKey::new(&ED25519, key.public_key())
                    .verify(hash.as_ref(), &signature)
                    .is_ok()
            }
            DkimAlgorithm::Rsa { .. } => {
                assert_eq!(tag(&t, "a"), "rsa-sha256");
                UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, pkcs1_of(key.public_key()))
                    .verify(data.as_bytes(), &signature)
                    .is_ok()
            }
        };
        assert!(ok, "{selector}: the signature does not verify over\n{data}");
        verified.push(selector.to_string());
    }
    verified
}

/// The RSAPublicKey inside a SubjectPublicKeyInfo.
fn pkcs1_of(spki: &[u8]) -> &[u8] {
    // Skip a DER element's tag and length, returning its content.
    fn inner(der: &[u8]) -> &[u8] {
        let (len, at) = match der[1] {
            n if n < 0x80 => (usize::from(n), 2),
            0x81 => (usize::from(der[2]), 3),
            0x82 => (usize::from(der[2]) << 8 | usize::from(der[3]), 4),
            n => panic!("length form {n:#x}"),
        };
        &der[at..at + len]
    }
    let body = inner(spki);
    let algorithm_len = inner(body).len() + 2;
    let bit_string = inner(&body[algorithm_len..]);
    &bit_string[1..]
}

// ---- The tests.

#[test]
fn a_message_is_signed_with_every_key_of_its_from_domain() {
    let ed = ed25519();
    let rsa = rsa_2048().1.clone();
    let other = ed25519();
    let keys = [
        entry("example.com", "ed", ed.clone()),
        entry("example.com", "rsa", rsa.clone()),
        entry("example.net", "net", other),
    ];
    let signed = sign(MESSAGE.as_bytes(), &keys, "example.com", NOW);
    assert_eq!(signed.len(), 2);
    let fields: Vec<String> = signed.into_iter().map(|s| s.field.unwrap()).collect();
    for (field, a) in fields.iter().zip(["ed25519-sha256", "rsa-sha256"]) {
        assert!(
            field.starts_with(&format!("DKIM-Signature: v=1; a={a}; s=")),
            "{field}"
        );
        assert!(field.ends_with(";\r\n"), "{field}");
        // Folded (mail-auth keeps lines near 76 characters, the first a little over):
        // every line after the first starts with a tab.
        for line in field.trim_end().split("\r\n").skip(1) {
            assert!(line.starts_with('\t'), "{field}");
        }
        assert!(field.split("\r\n").all(|l| l.len() <= 90), "{field}");
        let t = tags(field);
        assert_eq!(tag(&t, "d"), "example.com");
        assert_eq!(tag(&t, "t"), NOW.to_string());
        // Present fields bottom-up (both To:), then the absent ones of the default list.
        assert_eq!(
            tag(&t, "h"),
            "To:Message-ID:Date:Subject:To:From:Cc:MIME-Version:Content-Type:\
             Content-Transfer-Encoding:In-Reply-To:References:Reply-To"
        );
    }
    let message = format!("{}{}{MESSAGE}", fields[0], fields[1]);
    assert_eq!(
        verify(message.as_bytes(), &[("ed", &ed), ("rsa", &rsa)]),
        ["ed", "rsa"]
    );
    // A change to a signed field or the body breaks both; an unsigned one does not.
    let tampered = message.replace("Hello  there.", "Hello there!");
    assert!(std::panic::catch_unwind(|| verify(tampered.as_bytes(), &[("ed", &ed)])).is_err());
    let unsigned = message.replace("X-Mailer: not signed", "X-Mailer: changed");
    assert_eq!(
        verify(unsigned.as_bytes(), &[("ed", &ed), ("rsa", &rsa)]).len(),
        2
    );
}

#[test]
fn only_the_from_domain_counts() {
    let keys = [entry("example.com", "ed", ed25519())];
    // The envelope sender, To: and Sender: say nothing; the From: domain has no key.
    let other =
        "From: bob@example.net\r\nSender: alice@example.com\r\nTo: x@example.com\r\n\r\nhi\r\n";
    assert!(sign(other.as_bytes(), &keys, "example.com", NOW).is_empty());
    // A From: with several addresses is signed for each domain that has a key.
    let several = "From: a@example.net, \"B, at example.com\" <b@EXAMPLE.com.>\r\n\r\nhi\r\n";
    let signed = sign(several.as_bytes(), &keys, "example.com", NOW);
    assert_eq!(signed.len(), 1);
    assert!(signed[0].field.is_ok());
    // A From: in a keyed domain that is not the submitting account's: nothing.
    assert!(sign(MESSAGE.as_bytes(), &keys, "customer.example", NOW).is_empty());
    // No From: at all, or no keys: nothing.
    assert!(sign(b"Subject: none\r\n\r\nhi\r\n", &keys, "example.com", NOW).is_empty());
    assert!(sign(MESSAGE.as_bytes(), &[], "example.com", NOW).is_empty());
}

#[test]
fn the_signature_is_the_first_field_sent_and_covers_the_message_not_our_trace() {
    let ed = ed25519();
    let keys = [entry("example.com", "ed", ed.clone())];
    let signatures: String = sign(MESSAGE.as_bytes(), &keys, "example.com", NOW)
        .into_iter()
        .map(|s| s.field.unwrap())
        .collect();
    let envelope = crate::queue::envelope_header(
        "Q1",
        "alice@example.com",
        &["carol@remote1.test".into()],
        &Default::default(),
    );
    let received = "Received: from client (127.0.0.1)\r\n\tby mail.example.com; Thu, 1 Jan 2026 00:00:00 +0000\r\n";
    let head = crate::queue::queued_head(
        &envelope,
        "Return-Path: <alice@example.com>\r\n",
        &signatures,
        received,
    );
    let stored = format!("{head}{MESSAGE}");
    // The queue still reads its envelope.
    let q = crate::queue::QueuedMessage::parse(stored.as_bytes(), 0).unwrap();
    assert_eq!(q.recipients, ["carol@remote1.test"]);
    // What goes out: the signature, our Received:, the message as submitted.
    let sent = crate::queue::outgoing(stored.as_bytes());
    assert_eq!(sent, format!("{signatures}{received}{MESSAGE}").as_bytes());
    assert!(sent.starts_with(b"DKIM-Signature: v=1; a=ed25519-sha256;"));
    assert_eq!(verify(sent, &[("ed", &ed)]), ["ed"]);
    // The receiver's own trace fields on top change nothing either.
    let delivered = [
        b"Return-Path: <alice@example.com>\r\nReceived: from mail.example.com\r\n\tby mx; now\r\n"
            .as_slice(),
        sent,
    ]
    .concat();
    assert_eq!(verify(&delivered, &[("ed", &ed)]), ["ed"]);
}
