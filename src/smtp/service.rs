//! What an SMTP session asks of its service, and the answers: resolving a recipient in a
//! local domain (RCPT TO) and making a received message durable (the `250` after DATA/BDAT
//! LAST waits for it). Plain data: the session never touches the store or the queue.

/// A request from an SMTP session ([`crate::session::Event::Request`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryRequest {
    /// Resolve a recipient (RCPT TO) in a local domain; the address is as the client sent it.
    CheckRecipient(String),
    /// Make a received message durable for its recipients; only after the answer may the
    /// session reply `250`.
    Deliver(Box<Delivery>),
}

/// The answer to one [`DeliveryRequest`], the variant matching the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryReply {
    Recipient(RecipientStatus),
    Delivered(DeliveryOutcome),
}

/// The driver's answer to [`DeliveryRequest::CheckRecipient`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecipientStatus {
    /// An account of ours; `account` names where its mail goes (opaque to the session: the
    /// store key of the account's current incarnation).
    Local { account: String },
    /// A local domain, but no such account (`550 5.1.1`).
    UnknownLocal,
    /// The account is at its quota: nothing more fits (`452 4.2.2`, RFC 3463; temporary,
    /// since its owner may make room).
    MailboxFull,
    /// The account store could not be read (`451 4.3.0`).
    TemporaryFailure,
}

/// One SMTP mail transaction, complete, handed to the service for delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The listener it came in on: inbound mail (MX) gets the SPF/DKIM/DMARC checks,
    /// submitted mail does not.
    pub kind: super::SmtpKind,
    /// The envelope sender; empty for the null reverse-path `<>`.
    pub reverse_path: String,
    /// Canonical local accounts, without duplicates, in RCPT order.
    pub local_recipients: Vec<String>,
    /// Non-local recipients accepted for the outbound queue (submission only).
    pub remote_recipients: Vec<String>,
    /// RET, ENVID and each recipient's NOTIFY/ORCPT (RFC 3461; submission only).
    pub dsn: super::dsn::MessageDsn,
    /// The client's EHLO/HELO argument.
    pub helo: String,
    /// The authenticated account (submission), for the `Received:` header.
    pub authenticated: Option<String>,
    /// The `with` keyword for the `Received:` header: RFC 3848's `ESMTP`/`ESMTPS`/`ESMTPA`/
    /// `ESMTPSA` (`SMTP` after HELO), or RFC 6531's `UTF8SMTP…` when MAIL had SMTPUTF8.
    pub protocol: &'static str,
    /// The message as received: dot-stuffing removed, CRLF line ends, no `Received:` header
    /// of ours yet (the service prepends it: it knows the peer, the TLS parameters and the time).
    pub message: Vec<u8>,
}

/// The driver's answer to [`DeliveryRequest::Deliver`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryOutcome {
    /// Every copy is on stable storage; `id` is the queue/message id for the `250` reply.
    Delivered { id: String },
    /// A local fault; nothing was delivered (`451 4.3.0`).
    TemporaryFailure,
    /// The message fits in no recipient's quota; nothing was delivered (`552 5.2.2`). When
    /// only some recipients have no room, the others get it and the sender gets a bounce for
    /// those: the reply is then `Delivered`.
    OverQuota,
    /// Refused by an inbound policy (DMARC `p=reject`, SPF `fail`); nothing was delivered
    /// (`550 5.7.1`, `550 5.7.23`).
    Refused(super::authres::PolicyRefusal),
}
