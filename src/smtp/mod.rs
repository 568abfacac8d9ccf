//! SMTP (RFC 5321) as a sans-IO session, for inbound mail (MX, port 25) and for submission
//! (ports 587 and 465): bytes in, replies and [`Event`](crate::session::Event)s out. Built so
//! far: the session up to MAIL — greeting, EHLO/HELO with the extensions ringpost honours
//! (PIPELINING RFC 2920, SIZE RFC 1870, 8BITMIME RFC 6152, ENHANCEDSTATUSCODES RFC 2034,
//! STARTTLS RFC 3207, AUTH RFC 4954), RSET, NOOP, VRFY, HELP, QUIT. MAIL and RCPT are parsed
//! into typed paths and parameters; the mail transaction itself is refused until delivery
//! exists.
//!
//! Credentials are accepted only on submission and only over TLS; inbound never offers AUTH.
//! Anything pipelined behind an accepted STARTTLS is discarded unread (RFC 3207 §4.2), and a
//! command line ending in a bare LF is refused, never interpreted (no SMTP smuggling).
//!
//! This module never does IO, never reads the clock and never names the executor.

mod command;
mod session;
#[cfg(test)]
mod tests;

pub use command::{
    AuthMechanism, Body, Command, Domain, ForwardPath, MailFrom, Mailbox, ParseError, RcptTo,
    ReversePath, SyntaxError,
};
pub use session::{SmtpKind, SmtpSession};
