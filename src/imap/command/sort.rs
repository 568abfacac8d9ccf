//! SORT and THREAD (RFC 5256), SORT=DISPLAY's keys (RFC 5957) and ESORT's return options
//! (RFC 5267 §3). Never does IO.
//!
//! `sort = ["UID" SP] "SORT" [sort-return-opts] SP sort-criteria SP search-criteria`,
//! `thread = ["UID" SP] "THREAD" SP thread-alg SP search-criteria`, where
//! `search-criteria = charset 1*(SP search-key)`: unlike SEARCH, the charset is not optional
//! and has no `CHARSET` keyword before it.

use super::cursor::Cursor;
use super::search::{Charset, Search, SearchKey};
use super::Malformed;

/// The arguments of SORT or UID SORT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sort {
    /// The sort criteria, most significant first (never empty).
    pub order: Vec<SortCriterion>,
    /// The charset, the search keys and ESORT's `RETURN (...)`.
    pub search: Search,
}

/// One sort criterion: `["REVERSE" SP] sort-key`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SortCriterion {
    pub reverse: bool,
    pub key: SortKey,
}

/// `sort-key` (RFC 5256 §3), with DISPLAYFROM and DISPLAYTO (RFC 5957 §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    Arrival,
    Cc,
    Date,
    From,
    Size,
    Subject,
    To,
    DisplayFrom,
    DisplayTo,
}

/// A threading algorithm (RFC 5256 §3, draft-ietf-morg-inthread for REFS).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThreadAlgorithm {
    OrderedSubject,
    References,
    Refs,
}

/// The arguments of THREAD or UID THREAD.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Thread {
    pub algorithm: ThreadAlgorithm,
    /// The charset and the search keys (`returns` is always `None`).
    pub search: Search,
}

impl Cursor<'_> {
    pub(super) fn sort(&mut self) -> Result<Sort, Malformed> {
        self.sp()?;
        let mut returns = None;
        if self.eat_word(b"RETURN") {
            returns = Some(self.search_returns()?);
            self.sp()?;
        }
        let order = self.paren_list(false, |c| {
            let mut name = c.atom().map_err(|_| Malformed::InvalidSortCriterion)?;
            let reverse = name.eq_ignore_ascii_case(b"REVERSE");
            if reverse {
                c.sp()?;
                name = c.atom().map_err(|_| Malformed::InvalidSortCriterion)?;
            }
            let key = match name.to_ascii_uppercase().as_slice() {
                b"ARRIVAL" => SortKey::Arrival,
                b"CC" => SortKey::Cc,
                b"DATE" => SortKey::Date,
                b"FROM" => SortKey::From,
                b"SIZE" => SortKey::Size,
                b"SUBJECT" => SortKey::Subject,
                b"TO" => SortKey::To,
                b"DISPLAYFROM" => SortKey::DisplayFrom,
                b"DISPLAYTO" => SortKey::DisplayTo,
                _ => return Err(Malformed::InvalidSortCriterion),
            };
            Ok(SortCriterion { reverse, key })
        })?;
        let (charset, criteria) = self.search_criteria()?;
        Ok(Sort {
            order,
            search: Search {
                returns,
                charset,
                criteria,
            },
        })
    }

    pub(super) fn thread(&mut self) -> Result<Thread, Malformed> {
        self.sp()?;
        let name = self.atom().map_err(|_| Malformed::InvalidThreadAlgorithm)?;
        let algorithm = match name.to_ascii_uppercase().as_slice() {
            b"ORDEREDSUBJECT" => ThreadAlgorithm::OrderedSubject,
            b"REFERENCES" => ThreadAlgorithm::References,
            b"REFS" => ThreadAlgorithm::Refs,
            _ => return Err(Malformed::InvalidThreadAlgorithm),
        };
        let (charset, criteria) = self.search_criteria()?;
        Ok(Thread {
            algorithm,
            search: Search {
                returns: None,
                charset,
                criteria,
            },
        })
    }

    /// `SP charset 1*(SP search-key)`. The keys are read before the charset is judged, so a
    /// command that forgot its charset (`SORT (DATE) ALL`) is BAD for its missing key rather
    /// than `NO [BADCHARSET]` for a charset named `ALL`.
    fn search_criteria(&mut self) -> Result<(Charset, Vec<SearchKey>), Malformed> {
        self.sp()?;
        let name = self.astring()?.into_owned();
        self.sp()?;
        let criteria = self.search_keys()?;
        let charset = if name.eq_ignore_ascii_case(b"UTF-8") {
            Charset::Utf8
        } else if name.eq_ignore_ascii_case(b"US-ASCII") {
            Charset::UsAscii
        } else {
            return Err(Malformed::UnsupportedCharset);
        };
        Ok((charset, criteria))
    }
}
