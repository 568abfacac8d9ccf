//! A position in a framed command and the grammar's building blocks (RFC 9051 §9): atoms,
//! strings, literals, numbers. The concept parsers (`select`, `list`, `search`, `fetch`, ...)
//! are written as `impl Cursor` blocks on top of these. Never does IO.

use std::borrow::Cow;
use std::num::NonZeroU32;

use super::super::framing::{trailing_literal, Fragment};
use super::Malformed;

pub(super) use crate::mail::flags::is_atom_char;

/// `ASTRING-CHAR = ATOM-CHAR / resp-specials` (RFC 9051 §9).
pub(super) fn is_astring_char(b: u8) -> bool {
    is_atom_char(b) || b == b']'
}

/// Whether a literal may hold NUL octets: `literal8` (RFC 3516) may, `literal` may not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum LiteralKind {
    Text,
    Binary,
}

/// A position in a framed command. Literal fragments always sit between two line fragments,
/// and the line before one ends with its `{n}` / `{n+}` marker.
pub(super) struct Cursor<'a> {
    parts: &'a [Fragment],
    /// The only line, when reading a bare first line ([`Cursor::new_line`]).
    only_line: &'a [u8],
    idx: usize,
    pos: usize,
}

impl<'a> Cursor<'a> {
    pub(super) fn new(parts: &'a [Fragment]) -> Self {
        Cursor {
            parts,
            only_line: &[],
            idx: 0,
            pos: 0,
        }
    }

    /// A cursor over one line, without copying it into a [`Fragment`].
    pub(super) fn new_line(line: &'a [u8]) -> Self {
        Cursor {
            parts: &[],
            only_line: line,
            idx: 0,
            pos: 0,
        }
    }

    pub(super) fn line(&self) -> &'a [u8] {
        match self.parts.get(self.idx) {
            Some(Fragment::Line(l)) => l,
            Some(Fragment::Literal(_) | Fragment::Streamed { .. }) => &[],
            None if self.idx == 0 => self.only_line,
            None => &[],
        }
    }

    pub(super) fn rest(&self) -> &'a [u8] {
        self.line().get(self.pos..).unwrap_or(&[])
    }

    pub(super) fn peek(&self) -> Option<u8> {
        self.rest().first().copied()
    }

    pub(super) fn peek_at(&self, n: usize) -> Option<u8> {
        self.rest().get(n).copied()
    }

    pub(super) fn advance(&mut self, n: usize) {
        self.pos += n;
    }

    pub(super) fn at_end(&self) -> bool {
        self.rest().is_empty() && self.idx + 1 >= self.parts.len()
    }

    /// Consume `b` if it is next.
    pub(super) fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// Consume `b`, or fail with `err` (or [`Malformed::MissingArgument`] at the end).
    pub(super) fn expect(&mut self, b: u8, err: Malformed) -> Result<(), Malformed> {
        match self.peek() {
            Some(x) if x == b => {
                self.pos += 1;
                Ok(())
            }
            None => Err(Malformed::MissingArgument),
            Some(_) => Err(err),
        }
    }

    pub(super) fn sp(&mut self) -> Result<(), Malformed> {
        self.expect(b' ', Malformed::ExpectedSpace)
    }

    /// Consume `word` (ASCII, case-insensitive) if it is next and not followed by more atom
    /// characters.
    pub(super) fn eat_word(&mut self, word: &[u8]) -> bool {
        let rest = self.rest();
        let matches = rest.len() >= word.len()
            && rest[..word.len()].eq_ignore_ascii_case(word)
            && !rest.get(word.len()).is_some_and(|&b| is_atom_char(b));
        if matches {
            self.pos += word.len();
        }
        matches
    }

    pub(super) fn take_while(&mut self, pred: impl Fn(u8) -> bool) -> &'a [u8] {
        let rest = self.rest();
        let n = rest.iter().position(|&b| !pred(b)).unwrap_or(rest.len());
        self.pos += n;
        &rest[..n]
    }

    pub(super) fn atom(&mut self) -> Result<&'a [u8], Malformed> {
        let atom = self.take_while(is_atom_char);
        if atom.is_empty() {
            return Err(match self.peek() {
                None => Malformed::MissingArgument,
                Some(_) => Malformed::InvalidAtom,
            });
        }
        Ok(atom)
    }

    /// `astring = 1*ASTRING-CHAR / string`
    pub(super) fn astring(&mut self) -> Result<Cow<'a, [u8]>, Malformed> {
        match self.peek() {
            Some(b'"' | b'{') => self.string(),
            _ => {
                let s = self.take_while(is_astring_char);
                if s.is_empty() {
                    return Err(match self.peek() {
                        None => Malformed::MissingArgument,
                        Some(_) => Malformed::InvalidAtom,
                    });
                }
                Ok(Cow::Borrowed(s))
            }
        }
    }

    /// An astring that must be UTF-8 (SEARCH text with CHARSET UTF-8 or US-ASCII).
    pub(super) fn astring_utf8(&mut self) -> Result<String, Malformed> {
        String::from_utf8(self.astring()?.into_owned()).map_err(|_| Malformed::InvalidUtf8)
    }

    /// `nstring = string / nil`
    pub(super) fn nstring(&mut self) -> Result<Option<Cow<'a, [u8]>>, Malformed> {
        if self.peek() != Some(b'"') && self.peek() != Some(b'{') {
            let atom = self.atom()?;
            return if atom.eq_ignore_ascii_case(b"NIL") {
                Ok(None)
            } else {
                Err(Malformed::InvalidAtom)
            };
        }
        self.string().map(Some)
    }

    /// `string = quoted / literal`
    pub(super) fn string(&mut self) -> Result<Cow<'a, [u8]>, Malformed> {
        match self.peek() {
            Some(b'"') => self.quoted(),
            Some(b'{') => self.literal(LiteralKind::Text),
            None => Err(Malformed::MissingArgument),
            Some(_) => Err(Malformed::InvalidQuoted),
        }
    }

    /// `quoted = DQUOTE *QUOTED-CHAR DQUOTE`, where `\"` and `\\` are the only escapes and
    /// UTF-8 is allowed (RFC 9051 §4.3, §9).
    pub(super) fn quoted(&mut self) -> Result<Cow<'a, [u8]>, Malformed> {
        let rest = self.rest();
        let mut out: Option<Vec<u8>> = None;
        let mut i = 1;
        loop {
            match rest.get(i) {
                None => return Err(Malformed::InvalidQuoted),
                Some(b'"') => break,
                Some(b'\\') => match rest.get(i + 1) {
                    Some(&e @ (b'"' | b'\\')) => {
                        out.get_or_insert_with(|| rest[1..i].to_vec()).push(e);
                        i += 2;
                    }
                    _ => return Err(Malformed::InvalidQuoted),
                },
                Some(&b) => {
                    if b == 0 || b == b'\r' || b == b'\n' {
                        return Err(Malformed::InvalidQuoted);
                    }
                    if let Some(o) = out.as_mut() {
                        o.push(b);
                    }
                    i += 1;
                }
            }
        }
        self.pos += i + 1;
        let value = match out {
            Some(v) => Cow::Owned(v),
            None => Cow::Borrowed(&rest[1..i]),
        };
        // 8-bit characters must form UTF-8 (UTF8-2 / UTF8-3 / UTF8-4 in QUOTED-CHAR).
        if std::str::from_utf8(&value).is_err() {
            return Err(Malformed::InvalidUtf8);
        }
        Ok(value)
    }

    /// `literal = "{" number64 ["+"] "}" CRLF *CHAR8` (RFC 9051 §9, RFC 7888 §3) or, with
    /// [`LiteralKind::Binary`], `literal8 = "~{" number64 "}" CRLF *OCTET` (RFC 3516 §4.1,
    /// the `~` already consumed): the marker ends the current line and the framer put the
    /// octets in the next fragment.
    pub(super) fn literal(&mut self, kind: LiteralKind) -> Result<Cow<'a, [u8]>, Malformed> {
        let rest = self.rest();
        // The marker must be all that is left of this line.
        if !matches!(trailing_literal(rest), Some((_, 0))) {
            return Err(Malformed::InvalidLiteral);
        }
        let Some(Fragment::Literal(data)) = self.parts.get(self.idx + 1) else {
            return Err(Malformed::InvalidLiteral);
        };
        // CHAR8 = %x01-ff: NUL is not allowed in a literal, only in a literal8.
        if kind == LiteralKind::Text && data.contains(&0) {
            return Err(Malformed::InvalidLiteral);
        }
        self.idx += 2;
        self.pos = 0;
        Ok(Cow::Borrowed(data))
    }

    /// A literal as [`Cursor::literal`] reads it, or the length of one the framer streamed
    /// out ([`Fragment::Streamed`]; only APPEND's message literals are streamed).
    pub(super) fn literal_or_streamed(
        &mut self,
        kind: LiteralKind,
    ) -> Result<Result<Cow<'a, [u8]>, u64>, Malformed> {
        let Some(&Fragment::Streamed { len, nul }) = self.parts.get(self.idx + 1) else {
            return self.literal(kind).map(Ok);
        };
        if !matches!(trailing_literal(self.rest()), Some((_, 0))) {
            return Err(Malformed::InvalidLiteral);
        }
        if kind == LiteralKind::Text && nul {
            return Err(Malformed::InvalidLiteral);
        }
        self.idx += 2;
        self.pos = 0;
        Ok(Err(len))
    }

    /// `number = 1*DIGIT`, an unsigned 32-bit integer (RFC 9051 §9).
    pub(super) fn number(&mut self) -> Result<u32, Malformed> {
        let n = self.number64()?;
        u32::try_from(n).map_err(|_| Malformed::InvalidNumber)
    }

    /// `nz-number = digit-nz *DIGIT`, a non-zero unsigned 32-bit integer.
    pub(super) fn nz_number(&mut self) -> Result<NonZeroU32, Malformed> {
        NonZeroU32::new(self.number()?).ok_or(Malformed::InvalidNumber)
    }

    /// `number64 = 1*DIGIT`, 0 to 2^63-1 (RFC 9051 §9).
    pub(super) fn number64(&mut self) -> Result<u64, Malformed> {
        let digits = self.take_while(|b| b.is_ascii_digit());
        if digits.is_empty() {
            return Err(match self.peek() {
                None => Malformed::MissingArgument,
                Some(_) => Malformed::InvalidNumber,
            });
        }
        let n = digits
            .iter()
            .try_fold(0u64, |n, &d| {
                n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
            })
            .filter(|&n| n <= i64::MAX as u64)
            .ok_or(Malformed::InvalidNumber)?;
        Ok(n)
    }

    /// `"(" item *(SP item) ")"`, or with `allow_empty` also `"()"`.
    pub(super) fn paren_list<T>(
        &mut self,
        allow_empty: bool,
        mut item: impl FnMut(&mut Self) -> Result<T, Malformed>,
    ) -> Result<Vec<T>, Malformed> {
        self.expect(b'(', Malformed::ExpectedParenthesis)?;
        let mut items = Vec::new();
        if self.eat(b')') {
            return if allow_empty {
                Ok(items)
            } else {
                Err(Malformed::MissingArgument)
            };
        }
        loop {
            items.push(item(self)?);
            match self.peek() {
                Some(b')') => {
                    self.pos += 1;
                    return Ok(items);
                }
                Some(b' ') => self.pos += 1,
                None => return Err(Malformed::ExpectedParenthesis),
                Some(_) => return Err(Malformed::ExpectedSpace),
            }
        }
    }
}
