//! FETCH (RFC 9051 §6.4.5): macros, data items, body sections with partial ranges, BINARY
//! (RFC 3516), MODSEQ and the CHANGEDSINCE / VANISHED modifiers (RFC 7162 §3.1.4, §3.2.6).
//! Never does IO.

use std::num::{NonZeroU32, NonZeroU64};

use super::cursor::Cursor;
use super::sequence::{SequenceSet, ZeroModSeq};
use super::Malformed;
use crate::mail::ModSeq;

/// The arguments of FETCH (`Fetch<SeqNum>`) or UID FETCH (`Fetch<Uid>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetch<T> {
    pub set: SequenceSet<T>,
    pub items: FetchItems,
    pub modifiers: FetchModifiers,
}

/// What to fetch: a macro (RFC 9051 §6.4.5) or a list of data items.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchItems {
    /// `ALL`: FLAGS INTERNALDATE RFC822.SIZE ENVELOPE.
    All,
    /// `FAST`: FLAGS INTERNALDATE RFC822.SIZE.
    Fast,
    /// `FULL`: FLAGS INTERNALDATE RFC822.SIZE ENVELOPE BODY.
    Full,
    Attributes(Vec<FetchAttribute>),
}

impl FetchItems {
    /// The data items, macros expanded.
    pub fn attributes(&self) -> Vec<FetchAttribute> {
        use FetchAttribute as A;
        match self {
            FetchItems::All => vec![A::Flags, A::InternalDate, A::Rfc822Size, A::Envelope],
            FetchItems::Fast => vec![A::Flags, A::InternalDate, A::Rfc822Size],
            FetchItems::Full => vec![
                A::Flags,
                A::InternalDate,
                A::Rfc822Size,
                A::Envelope,
                A::Body,
            ],
            FetchItems::Attributes(list) => list.clone(),
        }
    }
}

/// `fetch-att` (RFC 9051 §9, RFC 3501 for the RFC822 forms).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchAttribute {
    Envelope,
    Flags,
    InternalDate,
    /// `RFC822`: like `BODY[]`, and sets `\Seen`.
    Rfc822,
    /// `RFC822.HEADER`: like `BODY.PEEK[HEADER]`.
    Rfc822Header,
    Rfc822Size,
    /// `RFC822.TEXT`: like `BODY[TEXT]`.
    Rfc822Text,
    /// `BODY` without a section: the non-extensible BODYSTRUCTURE.
    Body,
    BodyStructure,
    Uid,
    /// CONDSTORE (RFC 7162 §3.1.4.1).
    ModSeq,
    /// `BODY[section]<partial>`: sets `\Seen`.
    BodySection(BodySection),
    /// `BODY.PEEK[section]<partial>`: leaves `\Seen` alone.
    BodyPeek(BodySection),
    /// `BINARY[part]<partial>` (RFC 3516 §4.2): decoded content; sets `\Seen`.
    Binary(BinarySection),
    /// `BINARY.PEEK[part]<partial>`.
    BinaryPeek(BinarySection),
    /// `BINARY.SIZE[part]`.
    BinarySize(Part),
    /// RFC 8970 `PREVIEW`, `PREVIEW (LAZY)`: a short plain-text preview of the message.
    /// ringpost always has one to give, so LAZY changes nothing.
    Preview {
        lazy: bool,
    },
    /// RFC 8514 `SAVEDATE`: when the message was saved to this mailbox.
    SaveDate,
    /// RFC 8474 §5.1 `EMAILID`.
    EmailId,
    /// RFC 8474 §5.2 `THREADID`.
    ThreadId,
}

/// A MIME part number (`section-part = nz-number *("." nz-number)`); empty for the whole
/// message.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Part(pub Vec<NonZeroU32>);

/// `section` and `partial` of a BODY fetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BodySection {
    pub part: Part,
    pub text: Option<SectionText>,
    pub partial: Option<Partial>,
}

/// `section-binary` and `partial` of a BINARY fetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BinarySection {
    pub part: Part,
    pub partial: Option<Partial>,
}

/// `section-msgtext / "MIME"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SectionText {
    Header,
    /// `HEADER.FIELDS (names)`: the names as sent; matched case-insensitively.
    HeaderFields(Vec<String>),
    HeaderFieldsNot(Vec<String>),
    Text,
    /// Only after a part number (RFC 9051 §6.4.5).
    Mime,
}

/// `<offset.length>` (RFC 9051 §9 `partial`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Partial {
    pub offset: u64,
    pub length: NonZeroU64,
}

/// `fetch-modifiers` (RFC 7162 §3.1.4.2, §3.2.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FetchModifiers {
    pub changed_since: Option<ModSeq>,
    /// VANISHED: only in UID FETCH, only with `changed_since` (checked by the parser).
    pub vanished: bool,
    /// PARTIAL (RFC 9394 §4): one page of the set's messages, by position.
    pub partial: Option<super::search::PartialRange>,
}

/// Whether VANISHED is allowed: only UID FETCH takes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Addressing {
    Sequence,
    Uid,
}

/// Header field names are `1*<any CHAR except CTL, SP and ":">` (RFC 5322 §3.6.8).
fn is_field_name(name: &[u8]) -> bool {
    !name.is_empty() && name.iter().all(|&b| b.is_ascii_graphic() && b != b':')
}

impl Cursor<'_> {
    /// `fetch = "FETCH" SP sequence-set SP ("ALL" / "FULL" / "FAST" / fetch-att /
    /// "(" fetch-att *(SP fetch-att) ")") [fetch-modifiers]`.
    pub(super) fn fetch<T: From<NonZeroU32>>(
        &mut self,
        addressing: Addressing,
    ) -> Result<Fetch<T>, Malformed> {
        self.sp()?;
        let set = self.sequence_set()?;
        self.sp()?;
        let items = if self.eat_word(b"ALL") {
            FetchItems::All
        } else if self.eat_word(b"FAST") {
            FetchItems::Fast
        } else if self.eat_word(b"FULL") {
            FetchItems::Full
        } else if self.peek() == Some(b'(') {
            FetchItems::Attributes(self.paren_list(false, Cursor::fetch_attribute)?)
        } else {
            FetchItems::Attributes(vec![self.fetch_attribute()?])
        };
        let mut modifiers = FetchModifiers::default();
        if !self.at_end() {
            self.sp()?;
            self.paren_list(false, |c| {
                if c.eat_word(b"CHANGEDSINCE") && modifiers.changed_since.is_none() {
                    c.sp()?;
                    let m = c
                        .mod_seq(ZeroModSeq::Refused)
                        .map_err(|_| Malformed::InvalidFetchModifier)?;
                    modifiers.changed_since = Some(m);
                    Ok(())
                } else if c.eat_word(b"VANISHED") && !modifiers.vanished {
                    modifiers.vanished = true;
                    Ok(())
                } else if c.eat_word(b"PARTIAL") && modifiers.partial.is_none() {
                    c.sp()?;
                    modifiers.partial = Some(c.partial_range()?);
                    Ok(())
                } else {
                    Err(Malformed::InvalidFetchModifier)
                }
            })?;
        }
        if modifiers.vanished
            && (addressing != Addressing::Uid || modifiers.changed_since.is_none())
        {
            return Err(Malformed::InvalidVanished);
        }
        Ok(Fetch {
            set,
            items,
            modifiers,
        })
    }

    pub(super) fn fetch_attribute(&mut self) -> Result<FetchAttribute, Malformed> {
        use FetchAttribute as A;
        let name = self.take_while(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
        if name.is_empty() {
            return Err(match self.peek() {
                None => Malformed::MissingArgument,
                Some(_) => Malformed::InvalidFetchItem,
            });
        }
        let name = name.to_ascii_uppercase();
        let bracket = self.peek() == Some(b'[');
        let attribute = match (name.as_slice(), bracket) {
            (b"ENVELOPE", false) => A::Envelope,
            (b"FLAGS", false) => A::Flags,
            (b"INTERNALDATE", false) => A::InternalDate,
            (b"RFC822", false) => A::Rfc822,
            (b"RFC822.HEADER", false) => A::Rfc822Header,
            (b"RFC822.SIZE", false) => A::Rfc822Size,
            (b"RFC822.TEXT", false) => A::Rfc822Text,
            (b"BODY", false) => A::Body,
            (b"BODYSTRUCTURE", false) => A::BodyStructure,
            (b"UID", false) => A::Uid,
            (b"MODSEQ", false) => A::ModSeq,
            (b"BODY", true) => A::BodySection(self.body_section()?),
            (b"BODY.PEEK", true) => A::BodyPeek(self.body_section()?),
            (b"BINARY", true) => A::Binary(self.binary_section()?),
            (b"BINARY.PEEK", true) => A::BinaryPeek(self.binary_section()?),
            (b"BINARY.SIZE", true) => A::BinarySize(self.section_binary()?),
            (b"PREVIEW", false) => A::Preview {
                lazy: self.preview_modifiers()?,
            },
            (b"SAVEDATE", false) => A::SaveDate,
            (b"EMAILID", false) => A::EmailId,
            (b"THREADID", false) => A::ThreadId,
            _ => return Err(Malformed::InvalidFetchItem),
        };
        Ok(attribute)
    }

    /// RFC 8970 §6: `[SP "(" preview-mod *(SP preview-mod) ")"]`, `preview-mod = "LAZY"`;
    /// whether LAZY was given.
    fn preview_modifiers(&mut self) -> Result<bool, Malformed> {
        if !(self.peek() == Some(b' ') && self.peek_at(1) == Some(b'(')) {
            return Ok(false);
        }
        self.advance(2);
        // LAZY is the only modifier there is; the list holds at least one.
        loop {
            let word = self.take_while(|b| b.is_ascii_alphanumeric() || b == b'-');
            if !word.eq_ignore_ascii_case(b"LAZY") {
                return Err(Malformed::InvalidFetchItem);
            }
            if self.eat(b')') {
                return Ok(true);
            }
            self.expect(b' ', Malformed::InvalidFetchItem)?;
        }
    }

    /// `section = "[" [section-spec] "]"`, then `[partial]`.
    pub(super) fn body_section(&mut self) -> Result<BodySection, Malformed> {
        self.expect(b'[', Malformed::InvalidSection)?;
        let part = self.section_part()?;
        let mut text = None;
        // A part number is followed by `.TEXT` etc.; the whole message directly by `TEXT`.
        let has_text = if part.0.is_empty() {
            self.peek().is_some_and(|b| b.is_ascii_alphabetic())
        } else {
            self.eat(b'.')
        };
        if has_text {
            let name = self.take_while(|b| b.is_ascii_alphabetic() || b == b'.');
            text = Some(match name.to_ascii_uppercase().as_slice() {
                b"HEADER" => SectionText::Header,
                b"TEXT" => SectionText::Text,
                b"MIME" if !part.0.is_empty() => SectionText::Mime,
                b"HEADER.FIELDS" => SectionText::HeaderFields(self.header_list()?),
                b"HEADER.FIELDS.NOT" => SectionText::HeaderFieldsNot(self.header_list()?),
                _ => return Err(Malformed::InvalidSection),
            });
        }
        self.expect(b']', Malformed::InvalidSection)?;
        let partial = self.partial()?;
        Ok(BodySection {
            part,
            text,
            partial,
        })
    }

    fn binary_section(&mut self) -> Result<BinarySection, Malformed> {
        let part = self.section_binary()?;
        let partial = self.partial()?;
        Ok(BinarySection { part, partial })
    }

    /// `section-binary = "[" [section-part] "]"`.
    fn section_binary(&mut self) -> Result<Part, Malformed> {
        self.expect(b'[', Malformed::InvalidSection)?;
        let part = self.section_part()?;
        self.expect(b']', Malformed::InvalidSection)?;
        Ok(part)
    }

    /// `[section-part]`: numbers separated by dots, stopping before `.TEXT` and friends.
    fn section_part(&mut self) -> Result<Part, Malformed> {
        let mut numbers = Vec::new();
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            numbers.push(self.nz_number().map_err(|_| Malformed::InvalidSection)?);
            if self.peek() == Some(b'.') && self.peek_at(1).is_some_and(|b| b.is_ascii_digit()) {
                self.advance(1);
            } else {
                break;
            }
        }
        Ok(Part(numbers))
    }

    /// `header-list = "(" header-fld-name *(SP header-fld-name) ")"`.
    fn header_list(&mut self) -> Result<Vec<String>, Malformed> {
        self.sp()?;
        self.paren_list(false, |c| {
            let name = c.astring()?;
            if !is_field_name(&name) {
                return Err(Malformed::InvalidSection);
            }
            // ASCII by the check above.
            Ok(String::from_utf8_lossy(&name).into_owned())
        })
    }

    /// `partial = "<" number64 "." nz-number64 ">"`.
    fn partial(&mut self) -> Result<Option<Partial>, Malformed> {
        if !self.eat(b'<') {
            return Ok(None);
        }
        let bad = |_| Malformed::InvalidSection;
        let offset = self.number64().map_err(bad)?;
        self.expect(b'.', Malformed::InvalidSection)?;
        let length =
            NonZeroU64::new(self.number64().map_err(bad)?).ok_or(Malformed::InvalidSection)?;
        self.expect(b'>', Malformed::InvalidSection)?;
        Ok(Some(Partial { offset, length }))
    }
}
