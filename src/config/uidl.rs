//! POP3 unique-id listings (RFC 1939 §7 UIDL): a message's unique-id is derived from its UID
//! and its mailbox's UIDVALIDITY through a format string, so it is stable forever and, for
//! accounts migrated from Dovecot, equal to what Dovecot's `pop3_uidl_format` produced (clients
//! that kept "leave on server" state then download nothing twice).
//!
//! It lives with the configuration (`[pop3] uidl_format`, validated when the file is loaded)
//! and, like [`super::Limits`], is read by the POP3 session; it never does IO and knows
//! nothing of the session.

/// Dovecot's default `pop3_uidl_format`: the UID and then the UIDVALIDITY, each as 8
/// upper-case hex digits.
pub const DOVECOT_DEFAULT_UIDL_FORMAT: &str = "%08Xu%08Xv";

/// RFC 1939 §7: a unique-id is 1 to 70 characters.
const MAX_UIDL_LEN: usize = 70;

/// A parsed UIDL format: valid by construction, so writing a unique-id cannot fail and always
/// yields 1..=70 characters in 0x21..=0x7E.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UidlFormat {
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    /// Text copied as is (`%%` becomes a `%` here).
    Literal(Vec<u8>),
    Number {
        field: Field,
        radix: Radix,
        /// Zero-padded to this many digits (0: no padding).
        width: u8,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    /// `u`: the message's UID.
    Uid,
    /// `v`: the mailbox's UIDVALIDITY.
    UidValidity,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Radix {
    Decimal,
    UpperHex,
    LowerHex,
}

/// Why a UIDL format string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UidlFormatError {
    /// A `%` specifier other than `%u %v %Xu %Xv %08Xu %08Xv %08xu %08xv %%` (Dovecot's
    /// `%m`, `%f`, `%g` need data ringpost does not keep).
    #[error("unknown UIDL format specifier at byte {at}")]
    UnknownSpecifier { at: usize },
    /// RFC 1939 §7: unique-id characters are 0x21 to 0x7E (no spaces, no control bytes).
    #[error("character not allowed in a unique-id at byte {at}")]
    InvalidCharacter { at: usize },
    /// RFC 1939 §7: at least one character.
    #[error("the UIDL format yields an empty unique-id")]
    Empty,
    /// RFC 1939 §7: at most 70 characters.
    #[error("the UIDL format can yield more than 70 characters")]
    TooLong,
}

/// The specifiers understood after `%`, each with the number it writes (`None`: `%%`).
static SPECIFIERS: [(&str, Option<Part>); 9] = [
    ("%", None),
    ("u", Some(number(Field::Uid, Radix::Decimal, 0))),
    ("v", Some(number(Field::UidValidity, Radix::Decimal, 0))),
    ("Xu", Some(number(Field::Uid, Radix::UpperHex, 0))),
    ("Xv", Some(number(Field::UidValidity, Radix::UpperHex, 0))),
    ("08Xu", Some(number(Field::Uid, Radix::UpperHex, 8))),
    ("08Xv", Some(number(Field::UidValidity, Radix::UpperHex, 8))),
    ("08xu", Some(number(Field::Uid, Radix::LowerHex, 8))),
    ("08xv", Some(number(Field::UidValidity, Radix::LowerHex, 8))),
];

const fn number(field: Field, radix: Radix, width: u8) -> Part {
    Part::Number {
        field,
        radix,
        width,
    }
}

impl UidlFormat {
    /// Parse a format string (e.g. a future config key), rejecting anything that could yield
    /// an invalid unique-id.
    pub fn parse(format: &str) -> Result<UidlFormat, UidlFormatError> {
        let bytes = format.as_bytes();
        let mut parts = Vec::new();
        let mut literal = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            let b = bytes[i];
            if b != b'%' {
                if !(0x21..=0x7e).contains(&b) {
                    return Err(UidlFormatError::InvalidCharacter { at: i });
                }
                literal.push(b);
                i += 1;
                continue;
            }
            let rest = &format[i + 1..];
            let (spec, part) = SPECIFIERS
                .iter()
                .find(|(spec, _)| rest.starts_with(spec))
                .ok_or(UidlFormatError::UnknownSpecifier { at: i })?;
            match part {
                None => literal.push(b'%'),
                Some(part) => {
                    if !literal.is_empty() {
                        parts.push(Part::Literal(std::mem::take(&mut literal)));
                    }
                    parts.push(part.clone());
                }
            }
            i += 1 + spec.len();
        }
        if !literal.is_empty() {
            parts.push(Part::Literal(literal));
        }
        let format = UidlFormat { parts };
        if format.parts.is_empty() {
            return Err(UidlFormatError::Empty);
        }
        if format.max_len() > MAX_UIDL_LEN {
            return Err(UidlFormatError::TooLong);
        }
        Ok(format)
    }

    /// The longest unique-id this format can write.
    fn max_len(&self) -> usize {
        self.parts
            .iter()
            .map(|part| match part {
                Part::Literal(text) => text.len(),
                Part::Number { radix, width, .. } => {
                    let digits = match radix {
                        Radix::Decimal => 10, // u32::MAX
                        Radix::UpperHex | Radix::LowerHex => 8,
                    };
                    digits.max(usize::from(*width))
                }
            })
            .sum()
    }

    /// Append the unique-id of message `uid` in a mailbox with `uid_validity` to `out`.
    pub fn write(&self, uid: u32, uid_validity: u32, out: &mut Vec<u8>) {
        for part in &self.parts {
            match part {
                Part::Literal(text) => out.extend_from_slice(text),
                Part::Number {
                    field,
                    radix,
                    width,
                } => {
                    let value = match field {
                        Field::Uid => uid,
                        Field::UidValidity => uid_validity,
                    };
                    write_number(value, *radix, *width, out);
                }
            }
        }
    }
}

impl Default for UidlFormat {
    /// Dovecot's default, [`DOVECOT_DEFAULT_UIDL_FORMAT`].
    fn default() -> UidlFormat {
        UidlFormat {
            parts: vec![
                number(Field::Uid, Radix::UpperHex, 8),
                number(Field::UidValidity, Radix::UpperHex, 8),
            ],
        }
    }
}

/// The unique-id of message `uid` in a mailbox with `uid_validity`, under `format`.
pub fn format_uidl(format: &str, uid: u32, uid_validity: u32) -> Result<String, UidlFormatError> {
    let mut out = Vec::with_capacity(16);
    UidlFormat::parse(format)?.write(uid, uid_validity, &mut out);
    // Only bytes 0x21..=0x7E are ever written (checked in `parse`), so this is ASCII.
    Ok(out.into_iter().map(char::from).collect())
}

fn write_number(mut value: u32, radix: Radix, width: u8, out: &mut Vec<u8>) {
    let (base, digits): (u32, &[u8; 16]) = match radix {
        Radix::Decimal => (10, b"0123456789ABCDEF"),
        Radix::UpperHex => (16, b"0123456789ABCDEF"),
        Radix::LowerHex => (16, b"0123456789abcdef"),
    };
    let mut buf = [b'0'; 10];
    let mut start = buf.len();
    loop {
        start -= 1;
        buf[start] = digits[(value % base) as usize];
        value /= base;
        if value == 0 {
            break;
        }
    }
    let len = buf.len() - start;
    out.extend(std::iter::repeat_n(
        b'0',
        usize::from(width).saturating_sub(len),
    ));
    out.extend_from_slice(&buf[start..]);
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn dovecot_default_is_uid_then_uidvalidity_in_upper_hex() {
        assert_eq!(
            format_uidl(DOVECOT_DEFAULT_UIDL_FORMAT, 0x1f, 1_700_000_000).unwrap(),
            "0000001F6553F100"
        );
        assert_eq!(
            UidlFormat::parse(DOVECOT_DEFAULT_UIDL_FORMAT).unwrap(),
            UidlFormat::default()
        );
    }

    #[test]
    fn every_specifier() {
        let (u, v) = (0xab, 4_294_967_295);
        for (format, expected) in [
            ("%u", "171"),
            ("%v", "4294967295"),
            ("%Xu", "AB"),
            ("%Xv", "FFFFFFFF"),
            ("%08Xu", "000000AB"),
            ("%08Xv", "FFFFFFFF"),
            ("%08xu", "000000ab"),
            ("%08xv", "ffffffff"),
            ("%%", "%"),
            // Dovecot's other built-in choices that ringpost can compute.
            ("%v.%u", "4294967295.171"),
            ("%v-%u", "4294967295-171"),
            ("UID%u-%%", "UID171-%"),
        ] {
            assert_eq!(format_uidl(format, u, v).unwrap(), expected, "{format}");
        }
        assert_eq!(format_uidl("%u", 0, 0).unwrap(), "0");
        assert_eq!(format_uidl("%Xu", 0, 0).unwrap(), "0");
    }

    #[test]
    fn rejects_what_could_make_an_invalid_unique_id() {
        use UidlFormatError::*;
        assert_eq!(UidlFormat::parse("%m"), Err(UnknownSpecifier { at: 0 }));
        assert_eq!(UidlFormat::parse("a%g"), Err(UnknownSpecifier { at: 1 }));
        assert_eq!(UidlFormat::parse("%08u"), Err(UnknownSpecifier { at: 0 }));
        assert_eq!(UidlFormat::parse("%xu"), Err(UnknownSpecifier { at: 0 }));
        assert_eq!(UidlFormat::parse("%u%"), Err(UnknownSpecifier { at: 2 }));
        assert_eq!(UidlFormat::parse("%u %v"), Err(InvalidCharacter { at: 2 }));
        assert_eq!(UidlFormat::parse("%u\t"), Err(InvalidCharacter { at: 2 }));
        assert_eq!(UidlFormat::parse("é%u"), Err(InvalidCharacter { at: 0 }));
        assert_eq!(UidlFormat::parse(""), Err(Empty));
        assert_eq!(UidlFormat::parse(&"%v".repeat(8)), Err(TooLong));
        assert!(UidlFormat::parse(&"%v".repeat(7)).is_ok());
    }
}
