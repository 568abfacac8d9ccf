//! Delivery status notifications (RFC 3464, RFC 3462 `multipart/report`): the message that
//! tells a sender that mail to some recipients failed for good, or is late. Sent from the
//! null reverse-path (so it is never bounced itself, RFC 5321 §6.1) and never about a
//! message from the null reverse-path (the runner checks that): no loops.
//!
//! The report has three parts: a short text for people, the `message/delivery-status`
//! fields per recipient, and the original: the whole message (`message/rfc822`) when the
//! sender asked for it with `RET=FULL` or did not say, and it is at most [`FULL_LIMIT`]
//! bytes; otherwise its header (`text/rfc822-headers`), as Postfix does with its
//! `bounce_size_limit`.

/// Largest original returned whole.
pub const FULL_LIMIT: usize = 64 * 1024;

/// What happened to one recipient.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Given up: a permanent refusal, or the message's lifetime ended.
    Failed,
    /// Still being tried.
    Delayed,
    /// Delivered into the recipient's mailbox here (`NOTIFY=SUCCESS`).
    Delivered,
    /// Handed to a host that does not offer DSN: no report will follow from it
    /// (`NOTIFY=SUCCESS`, RFC 3464 §2.3.3).
    Relayed,
}

impl Action {
    fn name(self) -> &'static str {
        match self {
            Action::Failed => "failed",
            Action::Delayed => "delayed",
            Action::Delivered => "delivered",
            Action::Relayed => "relayed",
        }
    }
}

/// One recipient's line of the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecipientReport {
    pub address: String,
    /// The original recipient as the client gave it (`ORCPT`, RFC 3461 §4.2), if it did.
    pub original: Option<String>,
    pub action: Action,
    /// The enhanced status code (`5.1.1`).
    pub status: String,
    /// The host that answered, if one did.
    pub remote_mta: Option<String>,
    /// Its reply (`550 5.1.1 no such user`) or our reason.
    pub diagnostic: String,
}

/// Everything a report says.
#[derive(Debug, Clone)]
pub struct Report<'a> {
    /// Our host name (`Reporting-MTA`, the `From:` domain).
    pub hostname: &'a str,
    pub queue_id: &'a str,
    /// Unix seconds the message was accepted, and now.
    pub arrival: i64,
    pub now: i64,
    /// The reverse-path of the message reported on: the report's recipient.
    pub sender: &'a str,
    pub recipients: Vec<RecipientReport>,
    /// For delays: when the message will be given up.
    pub retry_until: Option<i64>,
    /// `ENVID` the client gave (RFC 3461 §4.4).
    pub envid: Option<&'a str>,
    /// `RET=HDRS` was asked for.
    pub headers_only: bool,
    /// The message as it was accepted.
    pub original: &'a [u8],
}

/// The report as a message ready to deliver (CRLF line ends).
pub fn compose(r: &Report<'_>) -> Vec<u8> {
    let failed = r.recipients.iter().any(|x| x.action == Action::Failed);
    let delayed = !failed && r.recipients.iter().any(|x| x.action == Action::Delayed);
    let boundary = boundary(r);
    let date = crate::date::rfc5322(r.now);
    let subject = if failed {
        "Undelivered Mail Returned to Sender"
    } else if delayed {
        "Delayed Mail (still being retried)"
    } else {
        "Successful Mail Delivery Report"
    };
    let mut m = String::new();
    m.push_str(&format!(
        "From: Mail Delivery System <MAILER-DAEMON@{host}>\r\n\
         To: <{to}>\r\n\
         Subject: {subject}\r\n\
         Date: {date}\r\n\
         Message-ID: <{id}.{now}.dsn@{host}>\r\n\
         Auto-Submitted: auto-replied\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: multipart/report; report-type=delivery-status;\r\n\
         \tboundary=\"{boundary}\"\r\n\
         \r\n\
         This is a MIME-encapsulated message.\r\n\
         \r\n\
         --{boundary}\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         Content-Description: Notification\r\n\
         \r\n",
        host = r.hostname,
        to = r.sender,
        id = r.queue_id,
        now = r.now,
    ));
    m.push_str(&format!(
        "This is the mail system at host {}.\r\n\r\n",
        r.hostname
    ));
    if failed {
        m.push_str(
            "Your message could not be delivered to the recipients below. This is a\r\n\
             permanent error; it has been given up.\r\n",
        );
    } else if delayed {
        m.push_str(
            "Your message could not be delivered yet to the recipients below. It is still\r\n\
             being tried; you do not need to send it again.\r\n",
        );
        if let Some(until) = r.retry_until {
            m.push_str(&format!(
                "It will be tried until {}.\r\n",
                crate::date::rfc5322(until)
            ));
        }
    } else {
        m.push_str(
            "Your message was delivered to the recipients below (or, where it says relayed,\r\n\
             handed to a host that sends no further reports), as you asked.\r\n",
        );
    }
    m.push_str("\r\n");
    for x in &r.recipients {
        m.push_str(&format!("<{}>: {}\r\n", x.address, one_line(&x.diagnostic)));
    }
    m.push_str(&format!(
        "\r\n--{boundary}\r\n\
         Content-Type: message/delivery-status\r\n\
         Content-Description: Delivery report\r\n\
         \r\n\
         Reporting-MTA: dns; {}\r\n",
        r.hostname
    ));
    if let Some(envid) = r.envid {
        m.push_str(&format!("Original-Envelope-Id: {}\r\n", one_line(envid)));
    }
    m.push_str(&format!(
        "X-Ringpost-Queue-ID: {}\r\nArrival-Date: {}\r\n",
        r.queue_id,
        crate::date::rfc5322(r.arrival)
    ));
    for x in &r.recipients {
        m.push_str("\r\n");
        if let Some(original) = &x.original {
            m.push_str(&format!("Original-Recipient: {}\r\n", one_line(original)));
        }
        m.push_str(&format!(
            "Final-Recipient: rfc822; {}\r\nAction: {}\r\nStatus: {}\r\n",
            x.address,
            x.action.name(),
            x.status
        ));
        if let Some(mta) = &x.remote_mta {
            m.push_str(&format!("Remote-MTA: dns; {mta}\r\n"));
        }
        m.push_str(&format!(
            "Diagnostic-Code: smtp; {}\r\nLast-Attempt-Date: {date}\r\n",
            one_line(&x.diagnostic)
        ));
        if let (Action::Delayed, Some(until)) = (x.action, r.retry_until) {
            m.push_str(&format!(
                "Will-Retry-Until: {}\r\n",
                crate::date::rfc5322(until)
            ));
        }
    }
    let whole = !r.headers_only && r.original.len() <= FULL_LIMIT;
    let (kind, description) = if whole {
        ("message/rfc822", "Undelivered Message")
    } else {
        ("text/rfc822-headers", "Undelivered Message Headers")
    };
    m.push_str(&format!(
        "\r\n--{boundary}\r\nContent-Type: {kind}\r\nContent-Description: {description}\r\n\r\n"
    ));
    let mut out = m.into_bytes();
    let original = if whole {
        r.original
    } else {
        header_of(r.original)
    };
    out.extend_from_slice(original);
    if !original.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    out
}

/// The header of a message, up to and including the empty line (or all of it).
fn header_of(message: &[u8]) -> &[u8] {
    match memchr::memmem::find(message, b"\r\n\r\n") {
        Some(at) => &message[..at + 4],
        None => message,
    }
}

/// A boundary that does not occur in the original.
fn boundary(r: &Report<'_>) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in r.queue_id.bytes().chain(r.now.to_le_bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    let mut b = format!("=_ringpost_{}_{h:016x}", r.queue_id);
    while memchr::memmem::find(r.original, b.as_bytes()).is_some() {
        b.push('_');
    }
    b
}

fn one_line(text: &str) -> String {
    text.replace(['\r', '\n'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(original: &[u8], action: Action) -> Vec<u8> {
        compose(&Report {
            hostname: "mail.example.com",
            queue_id: "6A1B00001",
            arrival: 1_700_000_000,
            now: 1_700_000_600,
            sender: "alice@example.com",
            recipients: vec![RecipientReport {
                address: "bob@elsewhere.org".into(),
                original: Some("rfc822;Bob@elsewhere.org".into()),
                action,
                status: if action == Action::Failed {
                    "5.1.1"
                } else {
                    "4.4.1"
                }
                .into(),
                remote_mta: Some("mx.elsewhere.org".into()),
                diagnostic: "550 5.1.1 no such user".into(),
            }],
            retry_until: Some(1_700_432_000),
            envid: Some("ENV-1"),
            headers_only: false,
            original,
        })
    }

    #[test]
    fn a_failure_report_is_a_multipart_report_with_the_original() {
        let original = b"Subject: hi\r\nFrom: alice@example.com\r\n\r\nbody\r\n";
        let text = String::from_utf8(report(original, Action::Failed)).unwrap_or_default();
        for part in [
            "Subject: Undelivered Mail Returned to Sender\r\n",
            "Content-Type: multipart/report; report-type=delivery-status;\r\n",
            "Reporting-MTA: dns; mail.example.com\r\n",
            "Original-Envelope-Id: ENV-1\r\n",
            "Original-Recipient: rfc822;Bob@elsewhere.org\r\nFinal-Recipient: rfc822; bob@elsewhere.org\r\nAction: failed\r\nStatus: 5.1.1\r\nRemote-MTA: dns; mx.elsewhere.org\r\nDiagnostic-Code: smtp; 550 5.1.1 no such user\r\n",
            "Content-Type: message/rfc822\r\n",
            "\r\n\r\nSubject: hi\r\nFrom: alice@example.com\r\n\r\nbody\r\n",
            "Auto-Submitted: auto-replied\r\n",
        ] {
            assert!(text.contains(part), "{part:?} in\n{text}");
        }
        assert!(!text.contains("Will-Retry-Until"));
        assert!(text.ends_with("--\r\n"));
    }

    #[test]
    fn delays_say_until_when_and_large_originals_give_only_their_header() {
        let mut big = b"Subject: big\r\n\r\n".to_vec();
        big.extend(std::iter::repeat_n(b'x', FULL_LIMIT));
        let text = String::from_utf8(report(&big, Action::Delayed)).unwrap_or_default();
        assert!(text.contains("Subject: Delayed Mail (still being retried)"));
        assert!(text.contains("Action: delayed\r\nStatus: 4.4.1\r\n"));
        assert!(text.contains("Will-Retry-Until: "));
        assert!(text.contains("Content-Type: text/rfc822-headers\r\n"));
        assert!(!text.contains("xxxx"));
    }

    #[test]
    fn the_boundary_never_occurs_in_the_original() {
        let plain =
            String::from_utf8(report(b"a\r\n\r\nb\r\n", Action::Failed)).unwrap_or_default();
        let b = plain
            .split("boundary=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .unwrap_or_default()
            .to_string();
        let hostile = format!("Subject: x\r\n\r\n--{b}--\r\n");
        let text =
            String::from_utf8(report(hostile.as_bytes(), Action::Failed)).unwrap_or_default();
        assert!(text.contains(&format!("boundary=\"{b}_\"")), "{text}");
    }
}
