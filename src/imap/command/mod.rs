//! Typed IMAP commands, parsed from a framed command (lines and literals, see
//! [`super::framing`]) following the grammar of RFC 9051 §9 and RFC 3501 §9, with the
//! extensions ringpost offers (CONDSTORE/QRESYNC, LIST-EXTENDED, LIST-STATUS, SPECIAL-USE,
//! CREATE-SPECIAL-USE, STATUS=SIZE, ESEARCH, SEARCHRES, MULTIAPPEND, BINARY, UTF8=ACCEPT,
//! MOVE, UIDPLUS, UNSELECT, APPENDLIMIT, SORT, SORT=DISPLAY, ESORT, THREAD, COMPRESS).
//!
//! One file per concept: [`cursor`](self) primitives, sequence sets, mailbox names, flags,
//! dates, then one file per command family. Arguments are typed and valid by construction;
//! every failure is a [`Malformed`] reason, mapped to reply text in one place. This module
//! never does IO and never decides what a command does.

mod acl;
mod append;
mod catenate;
mod cursor;
mod datetime;
mod error;
mod fetch;
mod flag;
mod list;
mod mailbox;
mod metadata;
mod notify;
mod quota;
mod search;
mod select;
mod sequence;
mod sort;
mod status;
mod store;
mod verb;

use std::borrow::Cow;
use std::fmt;

use self::cursor::{is_astring_char, is_atom_char, Cursor};
use super::framing::Fragment;
use crate::mail::Uid;
use crate::sasl::Mechanism;
use crate::session::Secret;

pub use self::acl::SetAcl;
pub use self::append::{Append, AppendMessage, MessageData, Replace};
pub use self::catenate::{CatPart, ImapUrl};
pub use self::datetime::{Date, DateTime};
pub use self::error::{Malformed, ParseError};
pub use self::fetch::{
    BinarySection, BodySection, Fetch, FetchAttribute, FetchItems, FetchModifiers, Part, Partial,
    SectionText,
};
pub use self::flag::{Flag, FlagPerm, Keyword, SpecialUse};
pub use self::list::{List, ListReturn, ListSelection, Lsub};
pub use self::mailbox::{Mailbox, MailboxName, NameEncoding};
pub use self::metadata::{GetMetadata, SetMetadata};
pub use self::notify::{EventGroup, Notify, NotifyEvent, NotifyFilter};
pub use self::quota::QuotaResourceLimit;
pub use self::search::{
    Charset, EntryKind, ModSeqEntry, PartialRange, Search, SearchKey, SearchReturn,
    MAX_SEARCH_DEPTH,
};
pub use self::select::{Create, QResync, Select, SeqMatch};
pub use self::sequence::{SeqBound, SeqItem, SeqNum, SequenceSet};
pub use self::sort::{Sort, SortCriterion, SortKey, Thread, ThreadAlgorithm};
pub use self::status::{Status, StatusItem};
pub use self::store::{Store, StoreAction, StoreReply, Transfer};
pub use self::verb::Verb;

use self::fetch::Addressing;

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

/// One parsed command. The UID forms carry `Uid` sets, the others `SeqNum` sets.
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
    /// RFC 9051 §6.3.2.
    Select(Select),
    /// RFC 9051 §6.3.3: SELECT, read-only.
    Examine(Select),
    /// RFC 9051 §6.3.4.
    Create(Create),
    /// RFC 9051 §6.3.5.
    Delete(Mailbox),
    /// RFC 9051 §6.3.6.
    Rename {
        from: Mailbox,
        to: Mailbox,
    },
    /// RFC 9051 §6.3.7.
    Subscribe(Mailbox),
    /// RFC 9051 §6.3.8.
    Unsubscribe(Mailbox),
    /// RFC 9051 §6.3.9.
    List(List),
    /// RFC 3501 §6.3.9.
    Lsub(Lsub),
    /// RFC 9051 §6.3.10.
    Namespace,
    /// RFC 9051 §6.3.11.
    Status(Status),
    /// RFC 9051 §6.3.12.
    Append(Append),
    /// RFC 9051 §6.3.13: ended by a `DONE` line, see [`is_idle_done`].
    Idle,
    /// RFC 3501 §6.4.1.
    Check,
    /// RFC 9051 §6.4.1.
    Close,
    /// RFC 9051 §6.4.2.
    Unselect,
    /// RFC 8437.
    Unauthenticate,
    /// RFC 9051 §6.4.3.
    Expunge,
    /// RFC 9051 §6.4.9 (UIDPLUS).
    UidExpunge(SequenceSet<Uid>),
    /// RFC 9051 §6.4.4.
    Search(Search),
    UidSearch(Search),
    /// RFC 5256 §3, RFC 5957, RFC 5267 §3 (ESORT).
    Sort(Sort),
    UidSort(Sort),
    /// RFC 5256 §3.
    Thread(Thread),
    UidThread(Thread),
    /// RFC 9051 §6.4.5.
    Fetch(Fetch<SeqNum>),
    UidFetch(Fetch<Uid>),
    /// RFC 9051 §6.4.6.
    Store(Store<SeqNum>),
    UidStore(Store<Uid>),
    /// RFC 9051 §6.4.7.
    Copy(Transfer<SeqNum>),
    UidCopy(Transfer<Uid>),
    /// RFC 9051 §6.4.8.
    Move(Transfer<SeqNum>),
    UidMove(Transfer<Uid>),
    /// RFC 8508.
    Replace(Replace<SeqNum>),
    UidReplace(Replace<Uid>),
    /// RFC 9208 §4.1.1: the quota root's name.
    GetQuota(String),
    /// RFC 9208 §4.1.2.
    GetQuotaRoot(Mailbox),
    /// RFC 9208 §4.1.3.
    SetQuota {
        root: String,
        limits: Vec<QuotaResourceLimit>,
    },
    /// RFC 4978: `COMPRESS algorithm`, the algorithm's name as sent.
    Compress(String),
    /// RFC 5464 §4.2.
    GetMetadata(GetMetadata),
    /// RFC 5464 §4.3.
    SetMetadata(SetMetadata),
    /// RFC 5267 §4.3.5: the tags of the searching commands whose updates are to stop.
    CancelUpdate(Vec<String>),
    /// RFC 5465 §3.
    Notify(Notify),
    /// RFC 4314 §3.1.
    SetAcl(SetAcl),
    /// RFC 4314 §3.2.
    DeleteAcl {
        mailbox: Mailbox,
        identifier: String,
    },
    /// RFC 4314 §3.3.
    GetAcl(Mailbox),
    /// RFC 4314 §3.4.
    ListRights {
        mailbox: Mailbox,
        identifier: String,
    },
    /// RFC 4314 §3.5.
    MyRights(Mailbox),
}

impl Command {
    /// The command's name (`Verb::Uid` for every UID form).
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
            Command::Select(_) => Verb::Select,
            Command::Examine(_) => Verb::Examine,
            Command::Create(_) => Verb::Create,
            Command::Delete(_) => Verb::Delete,
            Command::Rename { .. } => Verb::Rename,
            Command::Subscribe(_) => Verb::Subscribe,
            Command::Unsubscribe(_) => Verb::Unsubscribe,
            Command::List(_) => Verb::List,
            Command::Lsub(_) => Verb::Lsub,
            Command::Namespace => Verb::Namespace,
            Command::Status(_) => Verb::Status,
            Command::Append(_) => Verb::Append,
            Command::Idle => Verb::Idle,
            Command::Check => Verb::Check,
            Command::Close => Verb::Close,
            Command::Unselect => Verb::Unselect,
            Command::Unauthenticate => Verb::Unauthenticate,
            Command::Expunge => Verb::Expunge,
            Command::Search(_) => Verb::Search,
            Command::Sort(_) => Verb::Sort,
            Command::Thread(_) => Verb::Thread,
            Command::Fetch(_) => Verb::Fetch,
            Command::Store(_) => Verb::Store,
            Command::Copy(_) => Verb::Copy,
            Command::Move(_) => Verb::Move,
            Command::UidExpunge(_)
            | Command::UidSearch(_)
            | Command::UidSort(_)
            | Command::UidThread(_)
            | Command::UidFetch(_)
            | Command::UidStore(_)
            | Command::UidCopy(_)
            | Command::UidMove(_)
            | Command::UidReplace(_) => Verb::Uid,
            Command::Replace(_) => Verb::Replace,
            Command::GetQuota(_) => Verb::GetQuota,
            Command::GetQuotaRoot(_) => Verb::GetQuotaRoot,
            Command::SetQuota { .. } => Verb::SetQuota,
            Command::Compress(_) => Verb::Compress,
            Command::GetMetadata(_) => Verb::GetMetadata,
            Command::SetMetadata(_) => Verb::SetMetadata,
            Command::CancelUpdate(_) => Verb::CancelUpdate,
            Command::Notify(_) => Verb::Notify,
            Command::SetAcl(_) => Verb::SetAcl,
            Command::DeleteAcl { .. } => Verb::DeleteAcl,
            Command::GetAcl(_) => Verb::GetAcl,
            Command::ListRights { .. } => Verb::ListRights,
            Command::MyRights(_) => Verb::MyRights,
        }
    }
}

impl Command {
    /// Whether a message sequence number appears anywhere in the command: in its own
    /// message set, in its search keys (a UID SEARCH may still hold a sequence set), or in
    /// QRESYNC's sequence-match data (RFC 9586 §3).
    pub fn names_sequence_numbers(&self) -> bool {
        match self {
            Command::Fetch(_)
            | Command::Store(_)
            | Command::Copy(_)
            | Command::Move(_)
            | Command::Search(_)
            | Command::Sort(_)
            | Command::Thread(_)
            | Command::Replace(_) => true,
            Command::UidSearch(s) => search::names_sequence_numbers(&s.criteria),
            Command::UidSort(s) => search::names_sequence_numbers(&s.search.criteria),
            Command::UidThread(t) => search::names_sequence_numbers(&t.search.criteria),
            Command::Select(s) | Command::Examine(s) => {
                s.qresync.as_ref().is_some_and(|q| q.seq_match.is_some())
            }
            _ => false,
        }
    }
}

/// A command with its tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaggedCommand {
    pub tag: Tag,
    pub command: Command,
}

/// Whether a line received during IDLE ends it (`idle-done = "DONE" CRLF`, RFC 9051
/// §6.3.13). DONE is not a command: it has no tag, and anything else there is a protocol
/// error the session answers itself.
pub fn is_idle_done(line: &[u8]) -> bool {
    line.eq_ignore_ascii_case(b"DONE")
}

/// Read only the tag and the command name from the first line of a command (to decide about
/// a literal, or about the state, before parsing the arguments). `Ok((tag, None))` is an
/// unknown command name.
pub fn peek(first_line: &[u8]) -> Result<(Tag, Option<Verb>), ParseError> {
    let mut c = Cursor::new_line(first_line);
    let tag = tag(&mut c)?;
    let verb = verb(&mut c).map_err(|reason| ParseError {
        tag: Some(tag.clone()),
        reason,
    })?;
    Ok((tag, verb))
}

/// Whether the command on `first_line` stores a message from its literal: APPEND, REPLACE or
/// UID REPLACE (the literals that may be streamed, and that APPENDLIMIT bounds).
pub fn stores_message(first_line: &[u8]) -> bool {
    let mut c = Cursor::new_line(first_line);
    if tag(&mut c).is_err() {
        return false;
    }
    match verb(&mut c) {
        Ok(Some(Verb::Append | Verb::Replace)) => true,
        Ok(Some(Verb::Uid)) => {
            c.sp().is_ok() && c.atom().is_ok_and(|w| w.eq_ignore_ascii_case(b"REPLACE"))
        }
        _ => false,
    }
}

/// Parse one complete command; `names` says how mailbox names are encoded.
pub fn parse(parts: &[Fragment], names: NameEncoding) -> Result<TaggedCommand, ParseError> {
    let mut c = Cursor::new(parts);
    let tag = tag(&mut c)?;
    let command = parse_after_tag(&mut c, names).map_err(|reason| ParseError {
        tag: Some(tag.clone()),
        reason,
    })?;
    Ok(TaggedCommand { tag, command })
}

fn tag(c: &mut Cursor<'_>) -> Result<Tag, ParseError> {
    if c.at_end() {
        return Err(ParseError {
            tag: None,
            reason: Malformed::EmptyLine,
        });
    }
    let raw = c.take_while(|b| is_astring_char(b) && b != b'+');
    let bad = |reason| ParseError { tag: None, reason };
    let tag = Tag::parse(raw).ok_or(bad(Malformed::InvalidTag))?;
    match c.peek() {
        Some(b' ') => {
            c.advance(1);
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

fn verb(c: &mut Cursor<'_>) -> Result<Option<Verb>, Malformed> {
    let name = c.take_while(is_atom_char);
    if name.is_empty() {
        return Err(Malformed::MissingCommand);
    }
    Ok(Verb::parse(name))
}

fn parse_after_tag(c: &mut Cursor<'_>, names: NameEncoding) -> Result<Command, Malformed> {
    let verb = verb(c)?.ok_or(Malformed::UnknownCommand)?;
    let command = match verb {
        Verb::Capability => Command::Capability,
        Verb::Noop => Command::Noop,
        Verb::Logout => Command::Logout,
        Verb::StartTls => Command::StartTls,
        Verb::Login => login(c)?,
        Verb::Authenticate => authenticate(c)?,
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
        Verb::Select => Command::Select(c.select(names)?),
        Verb::Examine => Command::Examine(c.select(names)?),
        Verb::Create => Command::Create(c.create(names)?),
        Verb::Delete => Command::Delete(mailbox_arg(c, names)?),
        Verb::Rename => {
            let from = mailbox_arg(c, names)?;
            Command::Rename {
                from,
                to: mailbox_arg(c, names)?,
            }
        }
        Verb::Subscribe => Command::Subscribe(mailbox_arg(c, names)?),
        Verb::Unsubscribe => Command::Unsubscribe(mailbox_arg(c, names)?),
        Verb::List => Command::List(c.list(names)?),
        Verb::Lsub => Command::Lsub(c.lsub(names)?),
        Verb::Namespace => Command::Namespace,
        Verb::Status => Command::Status(c.status(names)?),
        Verb::Append => Command::Append(c.append(names)?),
        Verb::Idle => Command::Idle,
        Verb::Check => Command::Check,
        Verb::Close => Command::Close,
        Verb::Unselect => Command::Unselect,
        Verb::Unauthenticate => Command::Unauthenticate,
        Verb::Expunge => Command::Expunge,
        Verb::Search => Command::Search(c.search()?),
        Verb::Sort => Command::Sort(c.sort()?),
        Verb::Thread => Command::Thread(c.thread()?),
        Verb::Fetch => Command::Fetch(c.fetch(Addressing::Sequence)?),
        Verb::Store => Command::Store(c.store()?),
        Verb::Copy => Command::Copy(c.transfer(names)?),
        Verb::Move => Command::Move(c.transfer(names)?),
        Verb::Uid => uid_command(c, names)?,
        Verb::Replace => Command::Replace(c.replace(names)?),
        Verb::GetQuota => c.getquota()?,
        Verb::GetQuotaRoot => c.getquotaroot(names)?,
        Verb::SetQuota => c.setquota()?,
        Verb::Compress => {
            // compress = "COMPRESS" SP algorithm; algorithm = "DEFLATE" (RFC 4978 §4), an
            // atom: other names are the session's to refuse.
            c.sp()?;
            Command::Compress(String::from_utf8_lossy(c.atom()?).into_owned())
        }
        Verb::GetMetadata => c.getmetadata(names)?,
        Verb::SetMetadata => c.setmetadata(names)?,
        Verb::SetAcl => c.setacl(names)?,
        Verb::DeleteAcl => c.deleteacl(names)?,
        Verb::GetAcl => Command::GetAcl(mailbox_arg(c, names)?),
        Verb::ListRights => c.listrights(names)?,
        Verb::MyRights => Command::MyRights(mailbox_arg(c, names)?),
        Verb::CancelUpdate => {
            // `"CANCELUPDATE" 1*(SP quoted)` (RFC 5267 §5): the tags, quoted.
            let mut tags = Vec::new();
            loop {
                c.sp()?;
                if c.peek() != Some(b'"') {
                    return Err(Malformed::InvalidContextTag);
                }
                let tag = c.quoted()?;
                tags.push(String::from_utf8(tag.into_owned()).map_err(|_| Malformed::InvalidUtf8)?);
                if c.at_end() {
                    break;
                }
            }
            Command::CancelUpdate(tags)
        }
        Verb::Notify => Command::Notify(c.notify(names)?),
    };
    if !c.at_end() {
        return Err(Malformed::TrailingCharacters);
    }
    Ok(command)
}

/// `SP mailbox`.
fn mailbox_arg(c: &mut Cursor<'_>, names: NameEncoding) -> Result<Mailbox, Malformed> {
    c.sp()?;
    c.mailbox(names)
}

/// `uid = "UID" SP ("COPY" / "MOVE" / "FETCH" / "SEARCH" / "STORE" / "EXPUNGE") ...`
/// (RFC 9051 §6.4.9), and `"SORT"` / `"THREAD"` (RFC 5256 §5).
fn uid_command(c: &mut Cursor<'_>, names: NameEncoding) -> Result<Command, Malformed> {
    c.sp()?;
    let name = c.atom().map_err(|e| match e {
        Malformed::MissingArgument => e,
        _ => Malformed::InvalidUidCommand,
    })?;
    Ok(match Verb::parse(name) {
        Some(Verb::Fetch) => Command::UidFetch(c.fetch(Addressing::Uid)?),
        Some(Verb::Search) => Command::UidSearch(c.search()?),
        Some(Verb::Sort) => Command::UidSort(c.sort()?),
        Some(Verb::Thread) => Command::UidThread(c.thread()?),
        Some(Verb::Store) => Command::UidStore(c.store()?),
        Some(Verb::Copy) => Command::UidCopy(c.transfer(names)?),
        Some(Verb::Move) => Command::UidMove(c.transfer(names)?),
        Some(Verb::Expunge) => {
            c.sp()?;
            Command::UidExpunge(c.sequence_set()?)
        }
        Some(Verb::Replace) => Command::UidReplace(c.replace(names)?),
        _ => return Err(Malformed::InvalidUidCommand),
    })
}

/// `login = "LOGIN" SP userid SP password` (RFC 9051 §9).
fn login(c: &mut Cursor<'_>) -> Result<Command, Malformed> {
    c.sp()?;
    let username = utf8(c.astring()?)?;
    c.sp()?;
    let password = utf8(c.astring()?)?;
    Ok(Command::Login {
        username,
        password: Secret::new(password),
    })
}

/// `authenticate = "AUTHENTICATE" SP auth-type [SP initial-resp]` (RFC 9051 §9).
fn authenticate(c: &mut Cursor<'_>) -> Result<Command, Malformed> {
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
    Ok(Command::Authenticate {
        mechanism,
        initial_response,
    })
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

impl Cursor<'_> {
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
        self.advance(1);
        let mut pairs = Vec::new();
        if self.eat(b')') {
            return Ok(Some(pairs));
        }
        loop {
            let name = self.string()?.into_owned();
            self.sp()?;
            let value = self.nstring()?.map(Cow::into_owned);
            pairs.push(IdField { name, value });
            match self.peek() {
                Some(b')') => {
                    self.advance(1);
                    return Ok(Some(pairs));
                }
                Some(b' ') => self.advance(1),
                _ => return Err(Malformed::InvalidIdList),
            }
        }
    }
}

#[cfg(test)]
mod tests;
