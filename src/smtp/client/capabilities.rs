//! The service extensions a server announces in its EHLO reply (RFC 5321 §4.1.1.1): one
//! keyword per line after the first, with parameters after spaces, in any case.

use crate::wire::keyword::{first_word, trim_blanks};

/// What the server offers. After HELO, or before EHLO, nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Capabilities {
    /// RFC 2920.
    pub pipelining: bool,
    /// RFC 1870: the largest message in octets; `Some(0)` when SIZE is offered without a
    /// fixed limit (no number, 0, or one we cannot read).
    pub size: Option<u64>,
    /// RFC 6152.
    pub eight_bit_mime: bool,
    /// RFC 6531.
    pub smtputf8: bool,
    /// RFC 3030.
    pub chunking: bool,
    /// RFC 3030 §3.
    pub binary_mime: bool,
    /// RFC 3207.
    pub starttls: bool,
    /// RFC 4954: the SASL mechanisms, upper case.
    pub auth: Vec<String>,
    /// RFC 3461.
    pub dsn: bool,
    /// RFC 2034.
    pub enhanced_status_codes: bool,
    /// RFC 8689.
    pub requiretls: bool,
}

impl Capabilities {
    /// The keywords of an EHLO reply's lines (the first line is the server's name). Unknown
    /// keywords are ignored.
    pub(super) fn parse(lines: &[String]) -> Capabilities {
        let mut caps = Capabilities::default();
        for line in lines.iter().skip(1) {
            let line = trim_blanks(line.as_bytes());
            let (keyword, params) = first_word(line);
            let params = params.unwrap_or_default();
            // Some servers still write `AUTH=LOGIN PLAIN` (pre-RFC 4954 drafts).
            let (keyword, params) = match line.get(..5) {
                Some(head) if head.eq_ignore_ascii_case(b"AUTH=") => (&b"AUTH"[..], &line[5..]),
                _ => (keyword, params),
            };
            let is = |name: &str| keyword.eq_ignore_ascii_case(name.as_bytes());
            if is("PIPELINING") {
                caps.pipelining = true;
            } else if is("SIZE") {
                let limit = std::str::from_utf8(trim_blanks(params))
                    .ok()
                    .and_then(|n| n.parse().ok());
                caps.size = Some(limit.unwrap_or(0));
            } else if is("8BITMIME") {
                caps.eight_bit_mime = true;
            } else if is("SMTPUTF8") {
                caps.smtputf8 = true;
            } else if is("CHUNKING") {
                caps.chunking = true;
            } else if is("BINARYMIME") {
                caps.binary_mime = true;
            } else if is("STARTTLS") {
                caps.starttls = true;
            } else if is("AUTH") {
                for mechanism in params.split(|&b| b == b' ').filter(|m| !m.is_empty()) {
                    let name = String::from_utf8_lossy(mechanism).to_ascii_uppercase();
                    if !caps.auth.contains(&name) {
                        caps.auth.push(name);
                    }
                }
            } else if is("DSN") {
                caps.dsn = true;
            } else if is("ENHANCEDSTATUSCODES") {
                caps.enhanced_status_codes = true;
            } else if is("REQUIRETLS") {
                caps.requiretls = true;
            }
        }
        caps
    }

    /// Whether the server offers SASL `mechanism` (upper case).
    pub(super) fn offers_auth(&self, mechanism: &str) -> bool {
        self.auth.iter().any(|m| m == mechanism)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(lines: &[&str]) -> Capabilities {
        let lines: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
        Capabilities::parse(&lines)
    }

    #[test]
    fn every_keyword_in_any_case() {
        let caps = parse(&[
            "mx.example.net greets you",
            "pipelining",
            "SIZE 1000",
            "8bitmime",
            "SmtpUtf8",
            "CHUNKING",
            "BINARYMIME",
            "STARTTLS",
            "AUTH login PLAIN",
            "DSN",
            "ENHANCEDSTATUSCODES",
            "REQUIRETLS",
            "X-UNKNOWN whatever",
        ]);
        assert_eq!(
            caps,
            Capabilities {
                pipelining: true,
                size: Some(1000),
                eight_bit_mime: true,
                smtputf8: true,
                chunking: true,
                binary_mime: true,
                starttls: true,
                auth: vec!["LOGIN".into(), "PLAIN".into()],
                dsn: true,
                enhanced_status_codes: true,
                requiretls: true,
            }
        );
    }

    #[test]
    fn the_first_line_is_the_name_not_a_keyword() {
        assert_eq!(parse(&["PIPELINING"]), Capabilities::default());
    }

    #[test]
    fn size_without_a_readable_limit_means_no_fixed_limit() {
        assert_eq!(parse(&["x", "SIZE"]).size, Some(0));
        assert_eq!(parse(&["x", "SIZE 0"]).size, Some(0));
        assert_eq!(parse(&["x", "SIZE lots"]).size, Some(0));
        assert_eq!(parse(&["x", "SIZE 99999999999999999999999"]).size, Some(0));
        assert_eq!(parse(&["x"]).size, None);
    }

    #[test]
    fn old_style_auth_equals_is_merged() {
        let caps = parse(&["x", "AUTH PLAIN", "AUTH=LOGIN PLAIN"]);
        assert_eq!(caps.auth, ["PLAIN", "LOGIN"]);
        assert!(caps.offers_auth("LOGIN"));
        assert!(!caps.offers_auth("CRAM-MD5"));
    }
}
