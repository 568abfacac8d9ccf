//! APPEND (RFC 9051 §6.3.12) with MULTIAPPEND (RFC 3502), BINARY's `literal8` (RFC 3516
//! §4.1) and UTF8=ACCEPT's `UTF8 (literal8)` (RFC 6855 §4). Never does IO.

use super::cursor::{Cursor, LiteralKind};
use super::datetime::DateTime;
use super::flag::Flag;
use super::mailbox::{Mailbox, NameEncoding};
use super::sequence::{SeqItem, SequenceSet};
use super::Malformed;

/// The arguments of APPEND: one mailbox, one or more messages (MULTIAPPEND), all appended
/// or none (RFC 3502 §3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Append {
    pub mailbox: Mailbox,
    pub messages: Vec<AppendMessage>,
}

/// One message of an APPEND.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendMessage {
    pub flags: Vec<Flag>,
    /// The INTERNALDATE to set; now when absent.
    pub date: Option<DateTime>,
    pub data: MessageData,
}

/// The message octets and how they were sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageData {
    /// `literal`: no NUL octets.
    Text(Vec<u8>),
    /// `~{n}` literal8 (BINARY): may hold NUL and unencoded binary parts.
    Binary(Vec<u8>),
    /// `UTF8 (~{n})` (UTF8=ACCEPT): a message with UTF-8 headers.
    Utf8(Vec<u8>),
    /// CATENATE (RFC 4469): text and URL parts, put together by the session.
    Catenate(Vec<super::catenate::CatPart>),
    /// A message literal of this many octets that was too large to buffer: its octets went
    /// to the store as they arrived ([`crate::mailbox::MailboxRequest::AppendData`]), in
    /// the order of the command's messages.
    Streamed(u64),
}

impl MessageData {
    /// The message's size in octets.
    pub fn len(&self) -> u64 {
        match self {
            MessageData::Text(d) | MessageData::Binary(d) | MessageData::Utf8(d) => d.len() as u64,
            MessageData::Streamed(len) => *len,
            // The URL parts' sizes are known once fetched; the text parts count now.
            MessageData::Catenate(parts) => parts
                .iter()
                .map(|p| match p {
                    super::catenate::CatPart::Text(t) => t.len() as u64,
                    super::catenate::CatPart::Url(_) => 0,
                })
                .sum(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The arguments of REPLACE (RFC 8508 §6): the message to replace (a sequence number, or a
/// UID for UID REPLACE), the mailbox the new one goes to, and the new one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replace<T> {
    /// One number (`seq-number`, `*` allowed).
    pub target: SequenceSet<T>,
    pub mailbox: Mailbox,
    pub message: AppendMessage,
}

impl Cursor<'_> {
    /// `replace = "REPLACE" SP seq-number SP mailbox append-message` (RFC 8508 §6; `UID
    /// REPLACE` takes a UID). One message: MULTIAPPEND's list is not allowed here.
    pub(super) fn replace<T: From<std::num::NonZeroU32>>(
        &mut self,
        names: NameEncoding,
    ) -> Result<Replace<T>, Malformed> {
        self.sp()?;
        let target = self.sequence_set::<T>()?;
        if !matches!(target.items(), [SeqItem::One(_)]) {
            return Err(Malformed::InvalidSequenceSet);
        }
        let append = self.append(names)?;
        let Append {
            mailbox,
            mut messages,
        } = append;
        if messages.len() != 1 {
            return Err(Malformed::TrailingCharacters);
        }
        Ok(Replace {
            target,
            mailbox,
            message: messages.remove(0),
        })
    }

    /// `append = "APPEND" SP mailbox 1*append-message`, `append-message = append-opts SP
    /// append-data`, `append-opts = [SP flag-list] [SP date-time]`.
    pub(super) fn append(&mut self, names: NameEncoding) -> Result<Append, Malformed> {
        self.sp()?;
        let mailbox = self.mailbox(names)?;
        let mut messages = Vec::new();
        loop {
            self.sp()?;
            let mut flags = Vec::new();
            if self.peek() == Some(b'(') {
                flags = self.flag_list()?;
                self.sp()?;
            }
            let mut date = None;
            if self.peek() == Some(b'"') {
                date = Some(self.date_time()?);
                self.sp()?;
            }
            let data = self.append_data()?;
            messages.push(AppendMessage { flags, date, data });
            if self.at_end() {
                return Ok(Append { mailbox, messages });
            }
        }
    }

    /// `append-data = literal / literal8 / "UTF8" SP "(" literal8 ")"`.
    fn append_data(&mut self) -> Result<MessageData, Malformed> {
        match self.peek() {
            Some(b'{') => Ok(match self.literal_or_streamed(LiteralKind::Text)? {
                Ok(data) => MessageData::Text(data.into_owned()),
                Err(len) => MessageData::Streamed(len),
            }),
            Some(b'~') => {
                self.advance(1);
                Ok(match self.literal8()? {
                    Ok(data) => MessageData::Binary(data),
                    Err(len) => MessageData::Streamed(len),
                })
            }
            None => Err(Malformed::MissingArgument),
            Some(_) => {
                if self.eat_word(b"CATENATE") {
                    return Ok(MessageData::Catenate(self.catenate()?));
                }
                if !self.eat_word(b"UTF8") {
                    return Err(Malformed::ExpectedMessageLiteral);
                }
                self.sp()?;
                self.expect(b'(', Malformed::ExpectedMessageLiteral)?;
                if !self.eat(b'~') {
                    return Err(Malformed::ExpectedMessageLiteral);
                }
                let data = self.literal8()?;
                self.expect(b')', Malformed::ExpectedParenthesis)?;
                Ok(match data {
                    Ok(data) => MessageData::Utf8(data),
                    Err(len) => MessageData::Streamed(len),
                })
            }
        }
    }

    /// The `{n}` of a `~{n}` whose `~` was read. RFC 3516 §4.1 has no non-synchronizing
    /// form of literal8, but RFC 7888 `~{n+}` is accepted as well.
    /// A streamed literal8 is `Err(its length)`.
    fn literal8(&mut self) -> Result<Result<Vec<u8>, u64>, Malformed> {
        if self.peek() != Some(b'{') {
            return Err(Malformed::ExpectedMessageLiteral);
        }
        Ok(self
            .literal_or_streamed(LiteralKind::Binary)?
            .map(std::borrow::Cow::into_owned))
    }
}
