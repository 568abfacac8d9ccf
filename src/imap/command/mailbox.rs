//! Mailbox names as commands carry them (RFC 9051 §5.1): an astring in modified UTF-7
//! (RFC 3501 §5.1.3), or in UTF-8 once the client enabled IMAP4rev2 or UTF8=ACCEPT
//! (RFC 9051 §5.1, RFC 6855 §3), decoded here to one UTF-8 form. INBOX is case-insensitive
//! and has its own variant. Never does IO.

use super::super::mutf7;
use super::cursor::{is_atom_char, Cursor};
use super::Malformed;

/// How the client encodes mailbox names on the wire: the flag the parser takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NameEncoding {
    /// IMAP4rev1: modified UTF-7 (RFC 3501 §5.1.3).
    #[default]
    ModifiedUtf7,
    /// After `ENABLE IMAP4rev2` or `ENABLE UTF8=ACCEPT`: UTF-8 as is, `&` is just `&`.
    Utf8,
}

/// A mailbox named by a command.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Mailbox {
    /// `INBOX` in any case (RFC 9051 §5.1).
    Inbox,
    /// Any other name, decoded to UTF-8.
    Other(MailboxName),
}

/// A decoded mailbox name other than INBOX, in UTF-8. It may be empty (`""` is a valid
/// astring): the store refuses that with NO; the parser does not.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MailboxName(String);

impl MailboxName {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Mailbox {
    /// Classify a decoded name.
    pub fn from_decoded(name: String) -> Mailbox {
        if name.eq_ignore_ascii_case("INBOX") {
            Mailbox::Inbox
        } else {
            Mailbox::Other(MailboxName(name))
        }
    }
}

/// Decode wire bytes of a name (mailbox, LIST reference or pattern) to UTF-8.
pub(super) fn decode_name(raw: &[u8], encoding: NameEncoding) -> Result<String, Malformed> {
    match encoding {
        NameEncoding::ModifiedUtf7 => mutf7::decode(raw).map_err(|_| Malformed::InvalidMailboxName),
        NameEncoding::Utf8 => {
            let name = std::str::from_utf8(raw).map_err(|_| Malformed::InvalidMailboxName)?;
            if name.chars().any(char::is_control) {
                return Err(Malformed::InvalidMailboxName);
            }
            Ok(name.to_owned())
        }
    }
}

/// `list-char = ATOM-CHAR / list-wildcards / resp-specials` (RFC 9051 §9).
fn is_list_char(b: u8) -> bool {
    is_atom_char(b) || matches!(b, b'%' | b'*' | b']')
}

impl Cursor<'_> {
    /// `mailbox = "INBOX" / astring`.
    pub(super) fn mailbox(&mut self, encoding: NameEncoding) -> Result<Mailbox, Malformed> {
        let raw = self.astring()?;
        Ok(Mailbox::from_decoded(decode_name(&raw, encoding)?))
    }

    /// `list-mailbox = 1*list-char / string`, decoded; `%` and `*` stay wildcards.
    pub(super) fn list_mailbox(&mut self, encoding: NameEncoding) -> Result<String, Malformed> {
        let raw = match self.peek() {
            Some(b'"' | b'{') => self.string()?,
            _ => {
                let s = self.take_while(is_list_char);
                if s.is_empty() {
                    return Err(match self.peek() {
                        None => Malformed::MissingArgument,
                        Some(_) => Malformed::InvalidMailboxName,
                    });
                }
                s.into()
            }
        };
        decode_name(&raw, encoding)
    }
}
