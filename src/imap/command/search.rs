//! SEARCH (RFC 9051 §6.4.4): every search key, CHARSET (UTF-8 and US-ASCII only), ESEARCH
//! return options (RFC 4731, RFC 9051), SEARCHRES `SAVE` (RFC 5182), and CONDSTORE's
//! MODSEQ key (RFC 7162 §3.1.5). Never does IO.

use super::cursor::Cursor;
use super::datetime::Date;
use super::flag::{Flag, Keyword};
use super::sequence::{SeqNum, SequenceSet, ZeroModSeq};
use super::Malformed;
use crate::mail::{ModSeq, Uid};

/// How deep `NOT`, `OR` and parentheses may nest: deep enough for any real client, shallow
/// enough that a hostile one cannot exhaust the stack.
pub const MAX_SEARCH_DEPTH: usize = 64;

/// The arguments of SEARCH or UID SEARCH.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Search {
    /// `RETURN (...)`: answer with ESEARCH (RFC 9051 §6.4.4.1); `None` for the classic
    /// `* SEARCH` response (IMAP4rev1 clients).
    pub returns: Option<SearchReturn>,
    pub charset: Charset,
    /// The criteria, all of which must match (never empty).
    pub criteria: Vec<SearchKey>,
}

/// The search charset: only those two are supported; any other is `NO [BADCHARSET]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Charset {
    #[default]
    Utf8,
    UsAscii,
}

/// ESEARCH return options. `RETURN ()` means `RETURN (ALL)` (RFC 4731 §3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SearchReturn {
    pub min: bool,
    pub max: bool,
    pub all: bool,
    pub count: bool,
    /// SEARCHRES (RFC 5182 §2): keep the result as `$`.
    pub save: bool,
    /// PARTIAL (RFC 9394 §3.1): one page of the result, by position.
    pub partial: Option<PartialRange>,
    /// CONTEXT (RFC 5267 §4.2): a hint that the search will be used again; changes nothing.
    pub context: bool,
    /// UPDATE (RFC 5267 §4.3): keep the result up to date with ADDTO and REMOVEFROM.
    pub update: bool,
}

impl SearchReturn {
    /// Whether an option asks for result data (MIN, MAX, ALL, COUNT or PARTIAL); SAVE,
    /// CONTEXT and UPDATE do not.
    pub fn returns_data(&self) -> bool {
        self.min || self.max || self.all || self.count || self.partial.is_some()
    }
}

/// `partial-range` (RFC 9394 §6): positions `first:last` (1 is the first) counted from the
/// start, or `-first:-last` (-1 is the last) counted from the end, as the client wrote them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartialRange {
    /// From the end (`-1:-100`).
    pub from_end: bool,
    pub first: u32,
    pub last: u32,
}

impl PartialRange {
    /// The items of `items` (in result order) whose positions are in the range.
    pub fn page<'a, T>(&self, items: &'a [T]) -> &'a [T] {
        let (lo, hi) = (self.first.min(self.last), self.first.max(self.last));
        let len = items.len();
        let (lo, hi) = (lo as usize, hi as usize);
        let (start, end) = if self.from_end {
            // -1 is the last: positions lo..=hi from the end are len-hi .. len-lo.
            (len.saturating_sub(hi), len.saturating_sub(lo - 1))
        } else {
            ((lo - 1).min(len), hi.min(len))
        };
        &items[start..end.max(start)]
    }
}

impl std::fmt::Display for PartialRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.from_end {
            write!(f, "-{}:-{}", self.first, self.last)
        } else {
            write!(f, "{}:{}", self.first, self.last)
        }
    }
}

impl Cursor<'_> {
    /// `partial-range = partial-range-first / partial-range-last` (RFC 9394 §6).
    pub(super) fn partial_range(&mut self) -> Result<PartialRange, Malformed> {
        let from_end = self.eat(b'-');
        let bad = |_| Malformed::InvalidPartialRange;
        let first = self.nz_number().map_err(bad)?.get();
        self.expect(b':', Malformed::InvalidPartialRange)?;
        if from_end && !self.eat(b'-') {
            return Err(Malformed::InvalidPartialRange);
        }
        let last = self.nz_number().map_err(bad)?.get();
        Ok(PartialRange {
            from_end,
            first,
            last,
        })
    }
}

/// Which flag's mod-sequence `MODSEQ "/flags/\Seen" priv` looks at (RFC 7162 §3.1.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModSeqEntry {
    pub flag: Flag,
    pub kind: EntryKind,
}

/// `entry-type-req = entry-type-resp / "all"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    Private,
    Shared,
    All,
}

/// One search key (RFC 9051 §6.4.4, RFC 3501 §6.4.4 for NEW, OLD, RECENT).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SearchKey {
    All,
    Answered,
    Deleted,
    Draft,
    Flagged,
    Seen,
    Unanswered,
    Undeleted,
    Undraft,
    Unflagged,
    Unseen,
    /// IMAP4rev1: `\Recent` and not `\Seen`.
    New,
    Old,
    Recent,
    Keyword(Keyword),
    Unkeyword(Keyword),
    Bcc(String),
    Body(String),
    Cc(String),
    From(String),
    Subject(String),
    Text(String),
    To(String),
    /// `HEADER field-name string`.
    Header(String, String),
    Before(Date),
    On(Date),
    Since(Date),
    SentBefore(Date),
    SentOn(Date),
    SentSince(Date),
    /// RFC 8514: by save date (the internal date where the save date is unknown).
    SavedBefore(Date),
    SavedOn(Date),
    SavedSince(Date),
    /// RFC 8514: every message, in a mailbox that keeps save dates (all of them do).
    SaveDateSupported,
    /// RFC 8474 §6: the message whose EMAILID this is.
    EmailId(String),
    /// RFC 8474 §6: the messages of this THREADID.
    ThreadId(String),
    /// RFC 5032 WITHIN: internal date at most this many seconds before now.
    Younger(u64),
    /// RFC 5032 WITHIN: internal date more than this many seconds before now.
    Older(u64),
    /// RFC 822 size in octets.
    Larger(u64),
    Smaller(u64),
    Sequence(SequenceSet<SeqNum>),
    Uid(SequenceSet<Uid>),
    ModSeq {
        entry: Option<ModSeqEntry>,
        mod_seq: ModSeq,
    },
    Not(Box<SearchKey>),
    Or(Box<SearchKey>, Box<SearchKey>),
    /// `( search-key *(SP search-key) )`: all must match.
    And(Vec<SearchKey>),
}

impl Cursor<'_> {
    /// `search = "SEARCH" [search-return-opts] SP search-program`, `search-program =
    /// ["CHARSET" SP charset SP] search-key *(SP search-key)`.
    pub(super) fn search(&mut self) -> Result<Search, Malformed> {
        self.sp()?;
        let mut returns = None;
        if self.eat_word(b"RETURN") {
            returns = Some(self.search_returns()?);
            self.sp()?;
        }
        let mut charset = Charset::Utf8;
        if self.eat_word(b"CHARSET") {
            self.sp()?;
            let name = self.astring()?;
            charset = if name.eq_ignore_ascii_case(b"UTF-8") {
                Charset::Utf8
            } else if name.eq_ignore_ascii_case(b"US-ASCII") {
                Charset::UsAscii
            } else {
                return Err(Malformed::UnsupportedCharset);
            };
            self.sp()?;
        }
        let criteria = self.search_keys()?;
        Ok(Search {
            returns,
            charset,
            criteria,
        })
    }

    /// `SP "(" [return-opt *(SP return-opt)] ")"` after `RETURN`: the ESEARCH options of
    /// SEARCH (RFC 4731) and of SORT (RFC 5267 §3), with CONTEXT and UPDATE (RFC 5267 §4).
    /// `RETURN ()` means `RETURN (ALL)`, and so does a list that asks for no result data
    /// but UPDATE (the client needs the result it is to keep up to date) or CONTEXT alone.
    pub(super) fn search_returns(&mut self) -> Result<SearchReturn, Malformed> {
        self.sp()?;
        let mut r = SearchReturn::default();
        let options = self.paren_list(true, |c| {
            let option = c.atom().map_err(|_| Malformed::InvalidSearchReturn)?;
            let slot = match option.to_ascii_uppercase().as_slice() {
                b"MIN" => &mut r.min,
                b"MAX" => &mut r.max,
                b"ALL" => &mut r.all,
                b"COUNT" => &mut r.count,
                b"SAVE" => &mut r.save,
                b"CONTEXT" => &mut r.context,
                b"UPDATE" => &mut r.update,
                b"PARTIAL" if r.partial.is_none() => {
                    c.sp()?;
                    r.partial = Some(c.partial_range()?);
                    return Ok(());
                }
                _ => return Err(Malformed::InvalidSearchReturn),
            };
            *slot = true;
            Ok(())
        })?;
        if !r.returns_data() && (options.is_empty() || r.update || (r.context && !r.save)) {
            r.all = true;
        }
        // RFC 9394 §3.1: a page and the whole result are not asked for together.
        if r.all && r.partial.is_some() {
            return Err(Malformed::InvalidSearchReturn);
        }
        Ok(r)
    }

    /// `search-key *(SP search-key)` up to the end of the command.
    pub(super) fn search_keys(&mut self) -> Result<Vec<SearchKey>, Malformed> {
        let mut criteria = vec![self.search_key(0)?];
        while !self.at_end() {
            self.sp()?;
            criteria.push(self.search_key(0)?);
        }
        Ok(criteria)
    }

    fn search_key(&mut self, depth: usize) -> Result<SearchKey, Malformed> {
        if depth >= MAX_SEARCH_DEPTH {
            return Err(Malformed::SearchTooDeep);
        }
        match self.peek() {
            None => return Err(Malformed::MissingArgument),
            Some(b'(') => {
                let keys = self.paren_list(false, |c| c.search_key(depth + 1))?;
                return Ok(SearchKey::And(keys));
            }
            Some(b'0'..=b'9' | b'*' | b'$') => {
                return Ok(SearchKey::Sequence(self.sequence_set()?))
            }
            Some(_) => {}
        }
        let name = self.atom().map_err(|_| Malformed::InvalidSearchKey)?;
        let name = name.to_ascii_uppercase();
        let key = match name.as_slice() {
            b"ALL" => SearchKey::All,
            b"ANSWERED" => SearchKey::Answered,
            b"DELETED" => SearchKey::Deleted,
            b"DRAFT" => SearchKey::Draft,
            b"FLAGGED" => SearchKey::Flagged,
            b"SEEN" => SearchKey::Seen,
            b"UNANSWERED" => SearchKey::Unanswered,
            b"UNDELETED" => SearchKey::Undeleted,
            b"UNDRAFT" => SearchKey::Undraft,
            b"UNFLAGGED" => SearchKey::Unflagged,
            b"UNSEEN" => SearchKey::Unseen,
            b"NEW" => SearchKey::New,
            b"OLD" => SearchKey::Old,
            b"RECENT" => SearchKey::Recent,
            b"KEYWORD" | b"UNKEYWORD" => {
                self.sp()?;
                let Flag::Keyword(k) = self.flag()? else {
                    // `flag-keyword` only: `KEYWORD \Seen` is not a keyword.
                    return Err(Malformed::InvalidFlag);
                };
                if name == b"KEYWORD" {
                    SearchKey::Keyword(k)
                } else {
                    SearchKey::Unkeyword(k)
                }
            }
            b"BCC" => SearchKey::Bcc(self.search_text()?),
            b"BODY" => SearchKey::Body(self.search_text()?),
            b"CC" => SearchKey::Cc(self.search_text()?),
            b"FROM" => SearchKey::From(self.search_text()?),
            b"SUBJECT" => SearchKey::Subject(self.search_text()?),
            b"TEXT" => SearchKey::Text(self.search_text()?),
            b"TO" => SearchKey::To(self.search_text()?),
            b"HEADER" => {
                let field = self.search_text()?;
                SearchKey::Header(field, self.search_text()?)
            }
            b"BEFORE" => SearchKey::Before(self.search_date()?),
            b"ON" => SearchKey::On(self.search_date()?),
            b"SINCE" => SearchKey::Since(self.search_date()?),
            b"SENTBEFORE" => SearchKey::SentBefore(self.search_date()?),
            b"SENTON" => SearchKey::SentOn(self.search_date()?),
            b"SENTSINCE" => SearchKey::SentSince(self.search_date()?),
            // RFC 5032: `"OLDER" SP nz-number`, `"YOUNGER" SP nz-number`.
            b"YOUNGER" => {
                self.sp()?;
                SearchKey::Younger(u64::from(self.nz_number()?.get()))
            }
            b"OLDER" => {
                self.sp()?;
                SearchKey::Older(u64::from(self.nz_number()?.get()))
            }
            b"LARGER" => {
                self.sp()?;
                SearchKey::Larger(self.number64()?)
            }
            b"SMALLER" => {
                self.sp()?;
                SearchKey::Smaller(self.number64()?)
            }
            b"UID" => {
                self.sp()?;
                SearchKey::Uid(self.sequence_set()?)
            }
            b"MODSEQ" => self.search_modseq()?,
            b"NOT" => {
                self.sp()?;
                SearchKey::Not(Box::new(self.search_key(depth + 1)?))
            }
            b"OR" => {
                self.sp()?;
                let a = self.search_key(depth + 1)?;
                self.sp()?;
                let b = self.search_key(depth + 1)?;
                SearchKey::Or(Box::new(a), Box::new(b))
            }
            b"SAVEDBEFORE" => SearchKey::SavedBefore(self.search_date()?),
            b"SAVEDON" => SearchKey::SavedOn(self.search_date()?),
            b"SAVEDSINCE" => SearchKey::SavedSince(self.search_date()?),
            b"SAVEDATESUPPORTED" => SearchKey::SaveDateSupported,
            // RFC 8474 §6: `"EMAILID" SP objectid`, `"THREADID" SP objectid`.
            b"EMAILID" => SearchKey::EmailId(self.object_id()?),
            b"THREADID" => SearchKey::ThreadId(self.object_id()?),
            // FUZZY (RFC 6203): a later issue.
            b"FUZZY" => return Err(Malformed::UnsupportedItem),
            _ => return Err(Malformed::InvalidSearchKey),
        };
        Ok(key)
    }

    /// `SP astring` in the search charset (both supported charsets are UTF-8 subsets).
    fn search_text(&mut self) -> Result<String, Malformed> {
        self.sp()?;
        self.astring_utf8()
    }

    /// `SP objectid`, `objectid = 1*255(ALPHA / DIGIT / "_" / "-")` (RFC 8474 §7).
    fn object_id(&mut self) -> Result<String, Malformed> {
        self.sp()?;
        let id = self.take_while(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        let ends = matches!(self.peek(), None | Some(b' ' | b')' | b'\r' | b'\n'));
        if id.is_empty() || id.len() > 255 || !ends {
            return Err(Malformed::InvalidSearchKey);
        }
        Ok(String::from_utf8_lossy(id).into_owned())
    }

    fn search_date(&mut self) -> Result<Date, Malformed> {
        self.sp()?;
        self.date()
    }

    /// `search-modsequence = "MODSEQ" [search-modseq-ext] SP mod-sequence-valzer`,
    /// `search-modseq-ext = SP entry-name SP entry-type-req` (RFC 7162 §7).
    fn search_modseq(&mut self) -> Result<SearchKey, Malformed> {
        self.sp()?;
        let mut entry = None;
        if self.peek() == Some(b'"') {
            let name = self.quoted()?;
            let flag = name
                .get(..7)
                .filter(|p| p.eq_ignore_ascii_case(b"/flags/"))
                .and_then(|_| Flag::parse(&name[7..]))
                .ok_or(Malformed::InvalidSearchKey)?;
            self.sp()?;
            let kind = match self.atom()?.to_ascii_lowercase().as_slice() {
                b"priv" => EntryKind::Private,
                b"shared" => EntryKind::Shared,
                b"all" => EntryKind::All,
                _ => return Err(Malformed::InvalidSearchKey),
            };
            entry = Some(ModSeqEntry { flag, kind });
            self.sp()?;
        }
        let mod_seq = self.mod_seq(ZeroModSeq::Allowed)?;
        Ok(SearchKey::ModSeq { entry, mod_seq })
    }
}

/// Whether a message sequence set appears among `keys`, at any depth (UIDONLY refuses it,
/// RFC 9586 §3).
pub fn names_sequence_numbers(keys: &[SearchKey]) -> bool {
    keys.iter().any(|k| match k {
        SearchKey::Sequence(_) => true,
        SearchKey::Not(k) => names_sequence_numbers(std::slice::from_ref(k)),
        SearchKey::Or(a, b) => {
            names_sequence_numbers(std::slice::from_ref(a))
                || names_sequence_numbers(std::slice::from_ref(b))
        }
        SearchKey::And(keys) => names_sequence_numbers(keys),
        _ => false,
    })
}
