//! The `Received:` trace header (RFC 5321 §4.4) the driver prepends to every accepted
//! message, and the `with` protocol names of RFC 3848. Pure functions: the caller supplies the
//! peer, the TLS parameters, the queue id and the date, so nothing here reads the clock.

use std::net::IpAddr;

use crate::session::Security;

/// Everything the `Received:` header says about one transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedInfo {
    /// The client's EHLO/HELO argument (untrusted; characters that could break the header's
    /// structure are replaced).
    pub helo: String,
    /// The peer's address; an IPv4-mapped IPv6 address is written as IPv4.
    pub peer_ip: IpAddr,
    /// This server's host name (the `by` clause).
    pub hostname: String,
    /// The `with` clause, from [`protocol_name`] (usually via
    /// [`SmtpSession::protocol`](super::SmtpSession::protocol)).
    pub protocol: &'static str,
    /// The TLS protocol version and cipher suite names, when the transport is TLS.
    pub tls: Option<(String, String)>,
    /// The authenticated account (submission), written as a comment.
    pub authenticated: Option<String>,
    /// The queue/message id (an atom), also given in the `250` reply.
    pub id: String,
    /// The `for` clause: given only when the copy has a single recipient, so the header never
    /// discloses the other recipients of the envelope (RFC 5321 §7.2).
    pub recipient: Option<String>,
    /// An RFC 5322 §3.3 date-time, e.g. `Tue, 1 Oct 2024 10:00:00 +0000`.
    pub date: String,
}

/// How the client spoke: what decides the `with` keyword's stem.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// After HELO: `SMTP` (RFC 3848 §1).
    Smtp,
    /// After EHLO: `ESMTP` (RFC 3848 §1).
    Esmtp,
    /// A MAIL with SMTPUTF8: `UTF8SMTP` (RFC 6531 §3.7.3).
    Utf8Smtp,
}

/// Whether the client authenticated in the transaction (the `A` of RFC 3848).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Authentication {
    None,
    Authenticated,
}

/// The `with` keyword for a transaction (RFC 3848 §1, RFC 6531 §3.7.3): the stem, with `S`
/// when the transport was TLS and `A` when the client authenticated. Plain `SMTP` (after
/// HELO) has neither.
pub fn protocol_name(dialect: Dialect, security: Security, auth: Authentication) -> &'static str {
    let tls = security.is_tls();
    let auth = auth == Authentication::Authenticated;
    match (dialect, tls, auth) {
        (Dialect::Smtp, _, _) => "SMTP",
        (Dialect::Esmtp, false, false) => "ESMTP",
        (Dialect::Esmtp, true, false) => "ESMTPS",
        (Dialect::Esmtp, false, true) => "ESMTPA",
        (Dialect::Esmtp, true, true) => "ESMTPSA",
        (Dialect::Utf8Smtp, false, false) => "UTF8SMTP",
        (Dialect::Utf8Smtp, true, false) => "UTF8SMTPS",
        (Dialect::Utf8Smtp, false, true) => "UTF8SMTPA",
        (Dialect::Utf8Smtp, true, true) => "UTF8SMTPSA",
    }
}

/// Longest line the header is folded to (RFC 5322 §2.1.1: SHOULD be at most 78 characters).
const FOLD_AT: usize = 78;

/// The `Received:` header for `info`, folded (one clause per line, each continuation starting
/// with a tab) and ending in CRLF:
///
/// ```text
/// Received: from client.example.org ([192.0.2.1])
///         (using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384)
///         (authenticated sender: alice@example.com)
///         by mail.example.com (ringpost) with ESMTPSA id 7F3A
///         for <bob@example.com>; Tue, 1 Oct 2024 10:00:00 +0000
/// ```
///
/// RFC 5321 §4.4: `From-domain By-domain Opt-info [CFWS] ";" FWS date-time`; the TLS and
/// authentication notes are comments (CFWS), which the grammar allows between clauses.
pub fn received_header(info: &ReceivedInfo) -> String {
    let ip = match info.peer_ip.to_canonical() {
        IpAddr::V4(v4) => format!("[{v4}]"),
        // RFC 5321 §4.1.3: IPv6 address literals are tagged.
        IpAddr::V6(v6) => format!("[IPv6:{v6}]"),
    };
    let mut lines = vec![format!("Received: from {} ({ip})", clean(&info.helo))];
    if let Some((version, cipher)) = &info.tls {
        lines.push(format!(
            "(using {} with cipher {})",
            clean(version),
            clean(cipher)
        ));
    }
    if let Some(account) = &info.authenticated {
        lines.push(format!("(authenticated sender: {})", clean(account)));
    }
    lines.push(format!(
        "by {} (ringpost) with {} id {}",
        clean(&info.hostname),
        info.protocol,
        clean(&info.id)
    ));
    if let Some(recipient) = &info.recipient {
        lines.push(format!("for <{}>", clean(recipient)));
    }
    // The date goes after the last clause when it fits, else on a line of its own (FWS).
    let date = clean_date(&info.date);
    let mut header = String::with_capacity(256);
    let last = lines.len() - 1;
    for (i, text) in lines.iter().enumerate() {
        if i > 0 {
            header.push_str("\r\n\t");
        }
        header.push_str(text);
        if i == last {
            // The tab of a continuation line counts as one character here.
            let width = usize::from(i > 0) + text.len() + 2 + date.len();
            header.push(';');
            header.push_str(if width <= FOLD_AT { " " } else { "\r\n\t" });
            header.push_str(&date);
        }
    }
    header.push_str("\r\n");
    header
}

/// Replace what could end the header or a clause early: controls (CR, LF), whitespace,
/// parentheses, angle brackets and `;`. Everything ringpost writes itself passes unchanged;
/// this only guards against a hostile EHLO argument or an odd configured name.
fn clean(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() || c.is_whitespace() || "()<>;\\\"".contains(c) {
                '_'
            } else {
                c
            }
        })
        .collect()
}

/// The date keeps its spaces but loses anything that could end the header.
fn clean_date(date: &str) -> String {
    date.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info() -> ReceivedInfo {
        ReceivedInfo {
            helo: "client.example.org".into(),
            peer_ip: IpAddr::from([192, 0, 2, 1]),
            hostname: "mail.example.com".into(),
            protocol: protocol_name(Dialect::Esmtp, Security::Plaintext, Authentication::None),
            tls: None,
            authenticated: None,
            id: "7F3A".into(),
            recipient: None,
            date: "Tue, 1 Oct 2024 10:00:00 +0000".into(),
        }
    }

    #[test]
    fn protocol_names_follow_rfc_3848() {
        use Authentication::{Authenticated, None as Anonymous};
        use Dialect::{Esmtp, Smtp, Utf8Smtp};
        use Security::{Plaintext, Tls};
        assert_eq!(protocol_name(Smtp, Plaintext, Anonymous), "SMTP");
        assert_eq!(protocol_name(Smtp, Tls, Anonymous), "SMTP");
        assert_eq!(protocol_name(Esmtp, Plaintext, Anonymous), "ESMTP");
        assert_eq!(protocol_name(Esmtp, Tls, Anonymous), "ESMTPS");
        assert_eq!(protocol_name(Esmtp, Plaintext, Authenticated), "ESMTPA");
        assert_eq!(protocol_name(Esmtp, Tls, Authenticated), "ESMTPSA");
        assert_eq!(protocol_name(Utf8Smtp, Plaintext, Anonymous), "UTF8SMTP");
        assert_eq!(protocol_name(Utf8Smtp, Tls, Anonymous), "UTF8SMTPS");
        assert_eq!(
            protocol_name(Utf8Smtp, Plaintext, Authenticated),
            "UTF8SMTPA"
        );
        assert_eq!(protocol_name(Utf8Smtp, Tls, Authenticated), "UTF8SMTPSA");
    }

    #[test]
    fn plain_inbound_header() {
        assert_eq!(
            received_header(&info()),
            "Received: from client.example.org ([192.0.2.1])\r\n\
             \tby mail.example.com (ringpost) with ESMTP id 7F3A;\r\n\
             \tTue, 1 Oct 2024 10:00:00 +0000\r\n"
        );
    }

    #[test]
    fn submission_header_with_tls_auth_and_one_recipient() {
        let header = received_header(&ReceivedInfo {
            protocol: protocol_name(Dialect::Esmtp, Security::Tls, Authentication::Authenticated),
            tls: Some(("TLSv1.3".into(), "TLS_AES_256_GCM_SHA384".into())),
            authenticated: Some("alice@example.com".into()),
            recipient: Some("bob@example.com".into()),
            peer_ip: "2001:db8::1".parse().unwrap_or(IpAddr::from([0, 0, 0, 0])),
            ..info()
        });
        assert_eq!(
            header,
            "Received: from client.example.org ([IPv6:2001:db8::1])\r\n\
             \t(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384)\r\n\
             \t(authenticated sender: alice@example.com)\r\n\
             \tby mail.example.com (ringpost) with ESMTPSA id 7F3A\r\n\
             \tfor <bob@example.com>; Tue, 1 Oct 2024 10:00:00 +0000\r\n"
        );
        for line in header.split("\r\n") {
            assert!(line.len() <= FOLD_AT, "{line:?}");
        }
    }

    #[test]
    fn mapped_ipv4_is_written_as_ipv4() {
        let header = received_header(&ReceivedInfo {
            peer_ip: "::ffff:192.0.2.7"
                .parse()
                .unwrap_or(IpAddr::from([0, 0, 0, 0])),
            ..info()
        });
        assert!(header.starts_with("Received: from client.example.org ([192.0.2.7])\r\n"));
    }

    #[test]
    fn hostile_helo_cannot_break_the_header() {
        let header = received_header(&ReceivedInfo {
            helo: "evil)\r\nX-Injected: yes; (x".into(),
            ..info()
        });
        assert_eq!(header.matches("\r\n").count(), 3);
        assert!(header.starts_with("Received: from evil___X-Injected:_yes___x ([192.0.2.1])"));
        assert!(!header.contains("\r\nX-Injected"));
    }
}
