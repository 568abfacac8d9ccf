//! Account addresses: validated, canonical (lower-case) `local@domain` strings.

use std::fmt;

use super::AccountError;

/// Longest local part (RFC 5321 §4.5.3.1.1).
const MAX_LOCAL_PART: usize = 64;
/// Longest address usable in a path (RFC 5321 §4.5.3.1.3: 256 octets including `<>`).
const MAX_ADDRESS: usize = 254;

/// An account address: canonical lower-case `local@domain`, where the domain is local.
///
/// User names are case-insensitive, so `Alice@Example.COM` and `alice@example.com` are the same
/// account; the canonical form is the one stored and reported.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Address(String);

impl Address {
    /// Validate `input` and check that its domain is one of `local_domains` (lower case).
    pub fn parse(input: &str, local_domains: &[String]) -> Result<Address, AccountError> {
        let address = Address::parse_syntax(input)?;
        if !local_domains.iter().any(|d| d == address.domain()) {
            return Err(AccountError::NotLocal {
                domain: address.domain().to_string(),
            });
        }
        Ok(address)
    }

    /// Validate the syntax only; the domain may be any.
    ///
    /// Accepted: exactly one `@`; a local part of RFC 5322 `atext` characters and dots (no
    /// leading, trailing or doubled dot); a domain of letters, digits, `-` and dots. Everything
    /// else (whitespace, control characters, `:` which separates fields in the accounts file,
    /// quoting, non-ASCII) is refused.
    pub(crate) fn parse_syntax(input: &str) -> Result<Address, AccountError> {
        let bad = |reason: &'static str| AccountError::BadAddress {
            input: input.to_string(),
            reason,
        };
        if input.len() > MAX_ADDRESS {
            return Err(bad("longer than 254 bytes"));
        }
        let Some((local, domain)) = input.split_once('@') else {
            return Err(bad("missing `@domain`"));
        };
        if domain.contains('@') {
            return Err(bad("more than one `@`"));
        }
        if local.is_empty() {
            return Err(bad("empty local part"));
        }
        if local.len() > MAX_LOCAL_PART {
            return Err(bad("local part longer than 64 bytes"));
        }
        if !local.bytes().all(is_local_part_byte) {
            return Err(bad("the local part holds a character that is not allowed"));
        }
        if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
            return Err(bad("misplaced `.` in the local part"));
        }
        if domain.is_empty() {
            return Err(bad("empty domain"));
        }
        let labels_ok = domain.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
        if !labels_ok {
            return Err(bad("not a valid domain name"));
        }
        Ok(Address(input.to_ascii_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The part before the `@`.
    pub fn local_part(&self) -> &str {
        self.0.split_once('@').map_or("", |(l, _)| l)
    }

    /// The part after the `@`.
    pub fn domain(&self) -> &str {
        self.0.split_once('@').map_or("", |(_, d)| d)
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// RFC 5322 §3.2.3 `atext`, plus `.` (checked for placement separately).
fn is_local_part_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-/=?^_`{|}~.".contains(&b)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn domains() -> Vec<String> {
        vec!["example.com".to_string(), "example.org".to_string()]
    }

    #[test]
    fn canonical_form_is_lower_case() {
        let a = Address::parse("Alice.B+tag@Example.COM", &domains()).unwrap();
        assert_eq!(a.as_str(), "alice.b+tag@example.com");
        assert_eq!(a.local_part(), "alice.b+tag");
        assert_eq!(a.domain(), "example.com");
        assert_eq!(a.to_string(), "alice.b+tag@example.com");
    }

    #[test]
    fn non_local_domain_is_refused() {
        match Address::parse("bob@elsewhere.net", &domains()) {
            Err(AccountError::NotLocal { domain }) => assert_eq!(domain, "elsewhere.net"),
            other => panic!("{other:?}"),
        }
        // A subdomain of a local domain is not local.
        assert!(matches!(
            Address::parse("bob@mail.example.com", &domains()),
            Err(AccountError::NotLocal { .. })
        ));
    }

    #[test]
    fn bad_addresses_are_refused_with_a_reason() {
        for (input, reason) in [
            ("alice", "missing `@domain`"),
            ("@example.com", "empty local part"),
            ("a@b@example.com", "more than one `@`"),
            (
                "al ice@example.com",
                "the local part holds a character that is not allowed",
            ),
            (
                "al\tice@example.com",
                "the local part holds a character that is not allowed",
            ),
            (
                "ali:ce@example.com",
                "the local part holds a character that is not allowed",
            ),
            (
                "\"al\"@example.com",
                "the local part holds a character that is not allowed",
            ),
            (
                "élise@example.com",
                "the local part holds a character that is not allowed",
            ),
            (".alice@example.com", "misplaced `.` in the local part"),
            ("al..ice@example.com", "misplaced `.` in the local part"),
            ("alice@", "empty domain"),
            ("alice@example..com", "not a valid domain name"),
            ("alice@exa mple.com", "not a valid domain name"),
            ("alice@example.com:x", "not a valid domain name"),
            ("alice@example.com\n", "not a valid domain name"),
        ] {
            match Address::parse(input, &domains()) {
                Err(AccountError::BadAddress {
                    input: i,
                    reason: r,
                }) => {
                    assert_eq!((i.as_str(), r), (input, reason));
                }
                other => panic!("{input:?}: {other:?}"),
            }
        }
        let long_local = format!("{}@example.com", "a".repeat(65));
        assert!(matches!(
            Address::parse(&long_local, &domains()),
            Err(AccountError::BadAddress {
                reason: "local part longer than 64 bytes",
                ..
            })
        ));
    }
}
