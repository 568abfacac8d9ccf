//! SMTP (RFC 5321) as a sans-IO session, for inbound mail (MX, port 25) and for submission
//! (ports 587 and 465): bytes in, replies and [`Event`](crate::session::Event)s out. The
//! greeting, EHLO/HELO with the extensions ringpost honours (PIPELINING RFC 2920, SIZE
//! RFC 1870, 8BITMIME RFC 6152, SMTPUTF8 RFC 6531, ENHANCEDSTATUSCODES RFC 2034, CHUNKING
//! RFC 3030, STARTTLS RFC 3207, AUTH RFC 4954), and the mail transaction: MAIL, RCPT (local
//! recipients resolved by the service), DATA or BDAT, ending in a [`Delivery`] the service
//! makes durable before the `250` ([`DeliveryRequest`]). [`received_header`] builds the trace
//! header the service prepends.
//!
//! Code map: `command` parses a line into a typed command; `session` is the state machine
//! up to MAIL; `transaction` the mail transaction; `message` reads message content
//! (dot-stuffing, the end of data, BDAT chunks, size and hop limits); `reply` maps every
//! refusal to its reply line; `received` writes the `Received:` header; `authres` the
//! `Authentication-Results:` field of the inbound checks, and removes forged ones.
//!
//! Credentials are accepted only on submission and only over TLS; inbound never offers AUTH.
//! Anything pipelined behind an accepted STARTTLS is discarded unread (RFC 3207 §4.2). No SMTP
//! smuggling: a command line ending in a bare LF is refused, never interpreted; message data
//! ends only at `CRLF.CRLF`, and data holding a bare CR or LF is refused whole; a BDAT chunk's
//! octets are always consumed, even when the BDAT is refused.
//!
//! This module never does IO, never reads the clock and never names the executor.

mod authres;
pub mod client;
mod command;
pub mod dsn;
mod message;
mod received;
mod reply;
mod service;
mod session;
mod transaction;

#[cfg(test)]
mod data_tests;
#[cfg(test)]
mod test_driver;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod transaction_tests;

pub use authres::{
    strip_forged, AuthResults, DkimCheck, DmarcCheck, DmarcPolicy, PolicyRefusal, SpfCheck, Verdict,
};
pub use command::{
    AuthMechanism, Body, Command, Domain, ForwardPath, MailFrom, Mailbox, ParseError, RcptTo,
    ReversePath, SyntaxError,
};
pub use received::{protocol_name, received_header, Authentication, Dialect, ReceivedInfo};
pub use service::{Delivery, DeliveryOutcome, DeliveryReply, DeliveryRequest, RecipientStatus};
pub use session::{SmtpKind, SmtpSession};
