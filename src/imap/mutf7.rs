//! Modified UTF-7, the IMAP4rev1 encoding of mailbox names (RFC 3501 §5.1.3): printable
//! US-ASCII stands for itself except `&`, which is `&-`; anything else is UTF-16 in a
//! modified base64 (`,` for `/`, no padding) between `&` and `-`.
//!
//! [`decode`] is strict: it accepts only the one canonical encoding of each name (no encoded
//! printable ASCII, no empty or adjacent shifts, zero padding bits, paired surrogates), so
//! two different wire names never decode to the same mailbox. Never does IO.

/// Why a name is not valid modified UTF-7.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mutf7Error {
    /// An octet outside printable US-ASCII (0x20-0x7e).
    NotPrintableAscii,
    /// `&` without the closing `-`, or a character outside modified base64 inside it.
    UnterminatedShift,
    /// The base64 does not decode to whole UTF-16 units with zero padding bits.
    BadBase64,
    /// An unpaired surrogate.
    BadUtf16,
    /// A character that must stand for itself was encoded, or two shifts were adjacent.
    NotCanonical,
}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

fn sextet(b: u8) -> Option<u32> {
    let v = match b {
        b'A'..=b'Z' => b - b'A',
        b'a'..=b'z' => b - b'a' + 26,
        b'0'..=b'9' => b - b'0' + 52,
        b'+' => 62,
        b',' => 63,
        _ => return None,
    };
    Some(u32::from(v))
}

/// Decode a modified UTF-7 mailbox name to UTF-8.
pub fn decode(input: &[u8]) -> Result<String, Mutf7Error> {
    let mut out = String::with_capacity(input.len());
    let mut i = 0;
    // Whether the previous thing was a base64 shift (two in a row are not canonical).
    let mut after_shift = false;
    while i < input.len() {
        let b = input[i];
        if !(0x20..=0x7e).contains(&b) {
            return Err(Mutf7Error::NotPrintableAscii);
        }
        if b != b'&' {
            out.push(char::from(b));
            i += 1;
            after_shift = false;
            continue;
        }
        let end = input[i + 1..]
            .iter()
            .position(|&c| c == b'-')
            .map(|p| i + 1 + p)
            .ok_or(Mutf7Error::UnterminatedShift)?;
        let encoded = &input[i + 1..end];
        i = end + 1;
        if encoded.is_empty() {
            out.push('&');
            after_shift = false;
            continue;
        }
        if after_shift {
            return Err(Mutf7Error::NotCanonical);
        }
        decode_shift(encoded, &mut out)?;
        after_shift = true;
    }
    Ok(out)
}

/// Decode the base64 between `&` and `-` into `out`.
fn decode_shift(encoded: &[u8], out: &mut String) -> Result<(), Mutf7Error> {
    let mut units = Vec::with_capacity(encoded.len() * 6 / 16);
    let mut bits: u32 = 0;
    let mut nbits = 0;
    for &c in encoded {
        let v = sextet(c).ok_or(Mutf7Error::UnterminatedShift)?;
        bits = (bits << 6) | v;
        nbits += 6;
        if nbits >= 16 {
            nbits -= 16;
            // Masked to 16 bits, so the cast is lossless.
            units.push(((bits >> nbits) & 0xffff) as u16);
        }
    }
    // The shortest encoding leaves fewer than 6 bits over, all zero.
    if nbits >= 6 || bits & ((1 << nbits) - 1) != 0 {
        return Err(Mutf7Error::BadBase64);
    }
    for ch in char::decode_utf16(units) {
        let ch = ch.map_err(|_| Mutf7Error::BadUtf16)?;
        if (' '..='~').contains(&ch) {
            return Err(Mutf7Error::NotCanonical);
        }
        out.push(ch);
    }
    Ok(())
}

/// Encode a UTF-8 mailbox name as modified UTF-7.
pub fn encode(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut pending: Vec<u16> = Vec::new();
    for ch in name.chars() {
        if (' '..='~').contains(&ch) {
            flush(&mut pending, &mut out);
            if ch == '&' {
                out.push_str("&-");
            } else {
                out.push(ch);
            }
        } else {
            let mut buf = [0u16; 2];
            pending.extend_from_slice(ch.encode_utf16(&mut buf));
        }
    }
    flush(&mut pending, &mut out);
    out
}

fn flush(units: &mut Vec<u16>, out: &mut String) {
    if units.is_empty() {
        return;
    }
    out.push('&');
    let mut bits: u32 = 0;
    let mut nbits = 0;
    for &u in units.iter() {
        bits = (bits << 16) | u32::from(u);
        nbits += 16;
        while nbits >= 6 {
            nbits -= 6;
            out.push(char::from(ALPHABET[((bits >> nbits) & 0x3f) as usize]));
        }
        bits &= (1 << nbits) - 1;
    }
    if nbits > 0 {
        out.push(char::from(
            ALPHABET[((bits << (6 - nbits)) & 0x3f) as usize],
        ));
    }
    out.push('-');
    units.clear();
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn rfc3501_example() {
        // RFC 3501 §5.1.3: "~peter/mail/台北/日本語".
        let wire = "~peter/mail/&U,BTFw-/&ZeVnLIqe-";
        let name = "~peter/mail/\u{53f0}\u{5317}/\u{65e5}\u{672c}\u{8a9e}";
        assert_eq!(decode(wire.as_bytes()).unwrap(), name);
        assert_eq!(encode(name), wire);
    }

    #[test]
    fn ampersand_and_plain_ascii() {
        assert_eq!(decode(b"Tom &- Jerry").unwrap(), "Tom & Jerry");
        assert_eq!(encode("Tom & Jerry"), "Tom &- Jerry");
        assert_eq!(decode(b"INBOX").unwrap(), "INBOX");
        assert_eq!(decode(b"").unwrap(), "");
        assert_eq!(encode("&&"), "&-&-");
    }

    #[test]
    fn common_names() {
        assert_eq!(decode(b"Entw&APw-rfe").unwrap(), "Entw\u{fc}rfe");
        assert_eq!(encode("Entw\u{fc}rfe"), "Entw&APw-rfe");
        assert_eq!(encode("\u{41f}\u{440}\u{438}"), "&BB8EQAQ4-");
        // Outside the BMP: a surrogate pair.
        assert_eq!(encode("\u{1f600}"), "&2D3eAA-");
        assert_eq!(decode(b"&2D3eAA-").unwrap(), "\u{1f600}");
    }

    #[test]
    fn rejects_non_canonical_and_broken_forms() {
        assert_eq!(decode(b"&U,BTFw"), Err(Mutf7Error::UnterminatedShift));
        assert_eq!(decode(b"&U=BTFw-"), Err(Mutf7Error::UnterminatedShift));
        assert_eq!(
            decode("caf\u{e9}".as_bytes()),
            Err(Mutf7Error::NotPrintableAscii)
        );
        assert_eq!(decode(b"a\tb"), Err(Mutf7Error::NotPrintableAscii));
        // "a" encoded: printable ASCII must stand for itself.
        assert_eq!(decode(b"&AGE-"), Err(Mutf7Error::NotCanonical));
        // Two adjacent shifts must be one.
        assert_eq!(decode(b"&U,A-&U,A-"), Err(Mutf7Error::NotCanonical));
        // Non-zero padding bits, and a sextet too many.
        assert_eq!(decode(b"&U,B-"), Err(Mutf7Error::BadBase64));
        assert_eq!(decode(b"&U,BTFwA-"), Err(Mutf7Error::BadBase64));
        // A lone high surrogate.
        assert_eq!(decode(b"&2D0-"), Err(Mutf7Error::BadUtf16));
    }

    proptest::proptest! {
        #[test]
        fn round_trips(name in "\\PC{0,24}") {
            let wire = encode(&name);
            proptest::prop_assert!(wire.bytes().all(|b| (0x20..=0x7e).contains(&b)));
            proptest::prop_assert_eq!(decode(wire.as_bytes()).unwrap(), name);
        }

        #[test]
        fn decode_never_panics_and_canonical_input_round_trips(
            wire in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..32)
        ) {
            if let Ok(name) = decode(&wire) {
                let again = encode(&name);
                proptest::prop_assert_eq!(again.as_bytes(), &wire[..]);
            }
        }
    }
}
