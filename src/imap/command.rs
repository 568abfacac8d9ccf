//! Typed IMAP commands, parsed from a framed command (lines and literals, see
//! [`super::framing`]) following the grammar of RFC 9051 §9.
//!
//! Only the not-authenticated and any-state commands (RFC 9051 §6.1, §6.2) carry typed
//! arguments so far; the authenticated and selected-state commands are recognised by name
//! ([`Verb`]) so that they get a proper reply, and gain their own [`Command`] variants as they
//! are built. This module never does IO and never decides what a command does.

use std::borrow::Cow;
use std::fmt;

use super::framing::{trailing_literal, Fragment};
use crate::sasl::Mechanism;
use crate::session::Secret;

/// A command tag: `1*<any ASTRING-CHAR except "+">` (RFC 9051 §9). Valid by construction, so
/// it can be echoed back on the wire as is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tag(String);

impl Tag {
    /// Parse a whole tag.
    pub fn parse(bytes: &[u8]) -> Option<Tag> {
        if bytes.is_empty() || !bytes.iter().all(|&b| is_astring_char(b) && b != b'+') {
            return None;
        }
        // All tag characters are ASCII (ASTRING-CHAR ⊂ CHAR), so this cannot fail.
        std::str::from_utf8(bytes).ok().map(|s| Tag(s.to_owned()))
    }

    /// Recover the tag from the first bytes of a line that will not be parsed (an over-long
    /// line, RFC 9051 §7.1 TOOBIG): the tag must be followed by a space to be trusted whole.
    pub fn recover(head: &[u8]) -> Option<Tag> {
        let end = head.iter().position(|&b| b == b' ')?;
        Tag::parse(&head[..end])
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Every command name ringpost recognises (RFC 9051 §6, RFC 2971, RFC 5161, RFC 6851).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    // Any state (RFC 9051 §6.1).
    Capability,
    Noop,
    Logout,
    Id,
    Enable,
    // Not authenticated (RFC 9051 §6.2).
    StartTls,
    Authenticate,
    Login,
    // Authenticated (RFC 9051 §6.3).
    Select,
    Examine,
    Create,
    Delete,
    Rename,
    Subscribe,
    Unsubscribe,
    List,
    Lsub,
    Namespace,
    Status,
    Append,
    Idle,
    // Selected (RFC 9051 §6.4).
    Check,
    Close,
    Unselect,
    Expunge,
    Search,
    Fetch,
    Store,
    Copy,
    Move,
    Uid,
}

impl Verb {
    const NAMES: [(&'static str, Verb); 31] = [
        ("CAPABILITY", Verb::Capability),
        ("NOOP", Verb::Noop),
        ("LOGOUT", Verb::Logout),
        ("ID", Verb::Id),
        ("ENABLE", Verb::Enable),
        ("STARTTLS", Verb::StartTls),
        ("AUTHENTICATE", Verb::Authenticate),
        ("LOGIN", Verb::Login),
        ("SELECT", Verb::Select),
        ("EXAMINE", Verb::Examine),
        ("CREATE", Verb::Create),
        ("DELETE", Verb::Delete),
        ("RENAME", Verb::Rename),
        ("SUBSCRIBE", Verb::Subscribe),
        ("UNSUBSCRIBE", Verb::Unsubscribe),
        ("LIST", Verb::List),
        ("LSUB", Verb::Lsub),
        ("NAMESPACE", Verb::Namespace),
        ("STATUS", Verb::Status),
        ("APPEND", Verb::Append),
        ("IDLE", Verb::Idle),
        ("CHECK", Verb::Check),
        ("CLOSE", Verb::Close),
        ("UNSELECT", Verb::Unselect),
        ("EXPUNGE", Verb::Expunge),
        ("SEARCH", Verb::Search),
        ("FETCH", Verb::Fetch),
        ("STORE", Verb::Store),
        ("COPY", Verb::Copy),
        ("MOVE", Verb::Move),
        ("UID", Verb::Uid),
    ];

    /// Command names are case-insensitive (RFC 9051 §9, "case-insensitive" note).
    pub fn parse(name: &[u8]) -> Option<Verb> {
        Verb::NAMES
            .iter()
            .find(|(n, _)| n.as_bytes().eq_ignore_ascii_case(name))
            .map(|&(_, v)| v)
    }

    /// Whether the command may only be used once logged in.
    pub fn needs_authentication(self) -> bool {
        !matches!(
            self,
            Verb::Capability
                | Verb::Noop
                | Verb::Logout
                | Verb::Id
                | Verb::StartTls
                | Verb::Authenticate
                | Verb::Login
        )
    }

    /// Whether ringpost executes this command yet (the others are answered
    /// `BAD Command not supported`, never with a fake success).
    pub fn is_implemented(self) -> bool {
        !self.needs_authentication() || matches!(self, Verb::Enable)
    }

    /// Whether the grammar of this command, as implemented, contains a `string` (and so may
    /// carry a literal). Literals announced for any other command are refused before the
    /// client sends them.
    pub fn takes_strings(self) -> bool {
        matches!(self, Verb::Login | Verb::Id)
    }
}

/// The mechanism named by AUTHENTICATE: one ringpost offers, or any other `auth-type` atom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthMechanism {
    Known(Mechanism),
    Other(String),
}

/// One field/value pair of an ID command (RFC 2971 §3.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdField {
    pub name: Vec<u8>,
    pub value: Option<Vec<u8>>,
}

/// One parsed command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// RFC 9051 §6.1.1.
    Capability,
    /// RFC 9051 §6.1.2.
    Noop,
    /// RFC 9051 §6.1.3.
    Logout,
    /// RFC 2971 §3.1: `None` for `ID NIL`, else the client's field/value pairs.
    Id(Option<Vec<IdField>>),
    /// RFC 5161 §3.1: the capability names, as sent.
    Enable(Vec<String>),
    /// RFC 9051 §6.2.1.
    StartTls,
    /// RFC 9051 §6.2.2, RFC 4959 (SASL-IR). `initial_response` is the raw base64 (or `=`).
    Authenticate {
        mechanism: AuthMechanism,
        initial_response: Option<Vec<u8>>,
    },
    /// RFC 9051 §6.2.3.
    Login {
        username: String,
        password: Secret<String>,
    },
    /// A command ringpost recognises but does not implement yet; its arguments are not read.
    NotYetSupported(Verb),
}

impl Command {
    /// The command's name.
    pub fn verb(&self) -> Verb {
        match self {
            Command::Capability => Verb::Capability,
            Command::Noop => Verb::Noop,
            Command::Logout => Verb::Logout,
            Command::Id(_) => Verb::Id,
            Command::Enable(_) => Verb::Enable,
            Command::StartTls => Verb::StartTls,
            Command::Authenticate { .. } => Verb::Authenticate,
            Command::Login { .. } => Verb::Login,
            Command::NotYetSupported(verb) => *verb,
        }
    }
}

/// A command with its tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaggedCommand {
    pub tag: Tag,
    pub command: Command,
}

/// Why a command could not be parsed; mapped to `BAD` text in one place, [`Malformed::text`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Malformed {
    EmptyLine,
    InvalidTag,
    MissingCommand,
    UnknownCommand,
    ExpectedSpace,
    MissingArgument,
    TrailingCharacters,
    InvalidAtom,
    InvalidQuoted,
    InvalidLiteral,
    InvalidUtf8,
    InvalidBase64,
    InvalidIdList,
}

impl Malformed {
    pub fn text(self) -> &'static str {
        match self {
            Malformed::EmptyLine => "Empty command line",
            Malformed::InvalidTag => "Invalid tag",
            Malformed::MissingCommand => "Missing command",
            Malformed::UnknownCommand => "Unknown command",
            Malformed::ExpectedSpace => "Expected a single space between arguments",
            Malformed::MissingArgument => "Missing argument",
            Malformed::TrailingCharacters => "Unexpected characters after the command",
            Malformed::InvalidAtom => "Invalid atom",
            Malformed::InvalidQuoted => "Invalid quoted string",
            Malformed::InvalidLiteral => "Invalid literal",
            Malformed::InvalidUtf8 => "Invalid UTF-8",
            Malformed::InvalidBase64 => "Invalid base64",
            Malformed::InvalidIdList => "Invalid ID parameter list",
        }
    }
}

/// A command that could not be parsed, with its tag when one could be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub tag: Option<Tag>,
    pub reason: Malformed,
}

/// Read only the tag and the command name from the first line of a command (to decide about
/// a literal before reading it). `Ok((tag, None))` is an unknown command name.
pub fn peek(first_line: &[u8]) -> Result<(Tag, Option<Verb>), ParseError> {
    let parts = [Fragment::Line(first_line.to_vec())];
    let mut c = Cursor::new(&parts);
    let tag = c.tag()?;
    let verb = c.verb().map_err(|reason| ParseError {
        tag: Some(tag.clone()),
        reason,
    })?;
    Ok((tag, verb))
}

/// Parse one complete command.
pub fn parse(parts: &[Fragment]) -> Result<TaggedCommand, ParseError> {
    let mut c = Cursor::new(parts);
    let tag = c.tag()?;
    let command = parse_after_tag(&mut c).map_err(|reason| ParseError {
        tag: Some(tag.clone()),
        reason,
    })?;
    Ok(TaggedCommand { tag, command })
}

fn parse_after_tag(c: &mut Cursor<'_>) -> Result<Command, Malformed> {
    let verb = c.verb()?.ok_or(Malformed::UnknownCommand)?;
    let command = match verb {
        Verb::Capability => Command::Capability,
        Verb::Noop => Command::Noop,
        Verb::Logout => Command::Logout,
        Verb::StartTls => Command::StartTls,
        Verb::Login => {
            // login = "LOGIN" SP userid SP password (RFC 9051 §9)
            c.sp()?;
            let username = utf8(c.astring()?)?;
            c.sp()?;
            let password = utf8(c.astring()?)?;
            Command::Login {
                username,
                password: Secret::new(password),
            }
        }
        Verb::Authenticate => {
            // authenticate = "AUTHENTICATE" SP auth-type [SP initial-resp] (RFC 9051 §9)
            c.sp()?;
            let name = c.atom()?;
            let mechanism = match Mechanism::parse(name) {
                Some(m) => AuthMechanism::Known(m),
                // Atoms are ASCII, so this is lossless.
                None => AuthMechanism::Other(String::from_utf8_lossy(name).into_owned()),
            };
            let initial_response = if c.at_end() {
                None
            } else {
                c.sp()?;
                let ir = c.atom()?;
                if !is_base64_or_empty(ir) {
                    return Err(Malformed::InvalidBase64);
                }
                Some(ir.to_vec())
            };
            Command::Authenticate {
                mechanism,
                initial_response,
            }
        }
        Verb::Enable => {
            // enable = "ENABLE" 1*(SP capability) (RFC 5161 §4)
            let mut caps = Vec::new();
            loop {
                c.sp()?;
                caps.push(String::from_utf8_lossy(c.atom()?).into_owned());
                if c.at_end() {
                    break;
                }
            }
            Command::Enable(caps)
        }
        Verb::Id => {
            c.sp()?;
            Command::Id(c.id_params()?)
        }
        other => {
            // Not implemented yet: its arguments are not read (the reply is the same
            // whatever they are).
            return Ok(Command::NotYetSupported(other));
        }
    };
    if !c.at_end() {
        return Err(Malformed::TrailingCharacters);
    }
    Ok(command)
}

fn utf8(bytes: Cow<'_, [u8]>) -> Result<String, Malformed> {
    String::from_utf8(bytes.into_owned()).map_err(|_| Malformed::InvalidUtf8)
}

/// `base64 / "="` (RFC 9051 §9 `initial-resp`, RFC 4648 alphabet with padding at the end).
fn is_base64_or_empty(s: &[u8]) -> bool {
    if s == b"=" {
        return true;
    }
    let body = s.iter().rposition(|&b| b != b'=').map_or(0, |i| i + 1);
    let padding = s.len() - body;
    s.len().is_multiple_of(4)
        && padding <= 2
        && s[..body]
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
}

/// `ATOM-CHAR`: any CHAR except atom-specials (RFC 9051 §9).
fn is_atom_char(b: u8) -> bool {
    b.is_ascii()
        && !b.is_ascii_control()
        && !matches!(
            b,
            b'(' | b')' | b'{' | b' ' | b'%' | b'*' | b'"' | b'\\' | b']'
        )
}

/// `ASTRING-CHAR = ATOM-CHAR / resp-specials` (RFC 9051 §9).
fn is_astring_char(b: u8) -> bool {
    is_atom_char(b) || b == b']'
}

/// A position in a framed command. Literal fragments always sit between two line fragments,
/// and the line before one ends with its `{n}` / `{n+}` marker.
struct Cursor<'a> {
    parts: &'a [Fragment],
    idx: usize,
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn new(parts: &'a [Fragment]) -> Self {
        Cursor {
            parts,
            idx: 0,
            pos: 0,
        }
    }

    fn line(&self) -> &'a [u8] {
        match self.parts.get(self.idx) {
            Some(Fragment::Line(l)) => l,
            _ => &[],
        }
    }

    fn rest(&self) -> &'a [u8] {
        self.line().get(self.pos..).unwrap_or(&[])
    }

    fn peek(&self) -> Option<u8> {
        self.rest().first().copied()
    }

    fn at_end(&self) -> bool {
        self.rest().is_empty() && self.idx + 1 >= self.parts.len()
    }

    fn sp(&mut self) -> Result<(), Malformed> {
        match self.peek() {
            Some(b' ') => {
                self.pos += 1;
                Ok(())
            }
            None => Err(Malformed::MissingArgument),
            Some(_) => Err(Malformed::ExpectedSpace),
        }
    }

    fn take_while(&mut self, pred: impl Fn(u8) -> bool) -> &'a [u8] {
        let rest = self.rest();
        let n = rest.iter().position(|&b| !pred(b)).unwrap_or(rest.len());
        self.pos += n;
        &rest[..n]
    }

    fn tag(&mut self) -> Result<Tag, ParseError> {
        if self.line().is_empty() && self.parts.len() <= 1 {
            return Err(ParseError {
                tag: None,
                reason: Malformed::EmptyLine,
            });
        }
        let raw = self.take_while(|b| is_astring_char(b) && b != b'+');
        let bad = |reason| ParseError { tag: None, reason };
        let tag = Tag::parse(raw).ok_or(bad(Malformed::InvalidTag))?;
        match self.peek() {
            Some(b' ') => {
                self.pos += 1;
                Ok(tag)
            }
            None => Err(ParseError {
                tag: Some(tag),
                reason: Malformed::MissingCommand,
            }),
            // `a+b NOOP`, `a{ NOOP`: the tag is not what it seems; do not echo a part of it.
            Some(_) => Err(bad(Malformed::InvalidTag)),
        }
    }

    fn verb(&mut self) -> Result<Option<Verb>, Malformed> {
        let name = self.take_while(is_atom_char);
        if name.is_empty() {
            return Err(Malformed::MissingCommand);
        }
        Ok(Verb::parse(name))
    }

    fn atom(&mut self) -> Result<&'a [u8], Malformed> {
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
    fn astring(&mut self) -> Result<Cow<'a, [u8]>, Malformed> {
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

    /// `nstring = string / nil`
    fn nstring(&mut self) -> Result<Option<Cow<'a, [u8]>>, Malformed> {
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
    fn string(&mut self) -> Result<Cow<'a, [u8]>, Malformed> {
        match self.peek() {
            Some(b'"') => self.quoted(),
            Some(b'{') => self.literal(),
            None => Err(Malformed::MissingArgument),
            Some(_) => Err(Malformed::InvalidQuoted),
        }
    }

    /// `quoted = DQUOTE *QUOTED-CHAR DQUOTE`, where `\"` and `\\` are the only escapes and
    /// UTF-8 is allowed (RFC 9051 §4.3, §9).
    fn quoted(&mut self) -> Result<Cow<'a, [u8]>, Malformed> {
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

    /// `literal = "{" number64 ["+"] "}" CRLF *CHAR8` (RFC 9051 §9, RFC 7888 §3): the marker
    /// ends the current line and the framer put the octets in the next fragment.
    fn literal(&mut self) -> Result<Cow<'a, [u8]>, Malformed> {
        let rest = self.rest();
        // The marker must be all that is left of this line.
        if !matches!(trailing_literal(rest), Some((_, 0))) {
            return Err(Malformed::InvalidLiteral);
        }
        let Some(Fragment::Literal(data)) = self.parts.get(self.idx + 1) else {
            return Err(Malformed::InvalidLiteral);
        };
        // CHAR8 = %x01-ff: NUL is not allowed in a literal.
        if data.contains(&0) {
            return Err(Malformed::InvalidLiteral);
        }
        self.idx += 2;
        self.pos = 0;
        Ok(Cow::Borrowed(data))
    }

    /// `id-params-list = "(" [string SP nstring *(SP string SP nstring)] ")" / nil`
    /// (RFC 2971 §4).
    fn id_params(&mut self) -> Result<Option<Vec<IdField>>, Malformed> {
        if self.peek() != Some(b'(') {
            let atom = self.atom()?;
            return if atom.eq_ignore_ascii_case(b"NIL") {
                Ok(None)
            } else {
                Err(Malformed::InvalidIdList)
            };
        }
        self.pos += 1;
        let mut pairs = Vec::new();
        if self.peek() == Some(b')') {
            self.pos += 1;
            return Ok(Some(pairs));
        }
        loop {
            let name = self.string()?.into_owned();
            self.sp()?;
            let value = self.nstring()?.map(Cow::into_owned);
            pairs.push(IdField { name, value });
            match self.peek() {
                Some(b')') => {
                    self.pos += 1;
                    return Ok(Some(pairs));
                }
                Some(b' ') => self.pos += 1,
                _ => return Err(Malformed::InvalidIdList),
            }
        }
    }
}

#[cfg(test)]
#[path = "command_tests.rs"]
mod tests;
