//! Framing: splitting a byte stream into CRLF-terminated lines with memchr, without copying
//! lines out of the buffer, and with a hard line-length limit.
//!
//! This module knows nothing of any protocol: IMAP literals and SMTP dot-stuffing are built
//! on top of it by the protocol modules. It never does IO.

mod line;

pub use line::{Frame, LineBuffer, TOO_LONG_HEAD};
