//! SASL mechanisms PLAIN (RFC 4616) and LOGIN (draft-murchison-sasl-login), decoding only.
//! Shared by IMAP AUTHENTICATE, POP3 AUTH and SMTP AUTH. Never does IO.
