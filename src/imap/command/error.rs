//! Why a command could not be parsed. Every reason maps to its reply text in one place,
//! [`Malformed::text`]; the session turns a [`ParseError`] into a tagged `BAD` (or, for an
//! unsupported SEARCH charset, the `NO [BADCHARSET]` RFC 9051 §6.4.4 requires). Never does IO.

use super::Tag;

/// Why a command could not be parsed.
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
    /// Not a `number` / `nz-number` / `number64`, or out of its range.
    InvalidNumber,
    InvalidSequenceSet,
    /// Not valid modified UTF-7 (RFC 3501 §5.1.3), or not UTF-8 once UTF-8 names are on.
    InvalidMailboxName,
    InvalidFlag,
    InvalidDate,
    InvalidDateTime,
    /// An opening parenthesis without its closing one, or the other way round.
    ExpectedParenthesis,
    InvalidSelectParameter,
    InvalidQresyncParameters,
    InvalidSpecialUse,
    InvalidListOption,
    /// RFC 5258 §3.1: RECURSIVEMATCH alone is an error.
    RecursiveMatchAlone,
    InvalidStatusItem,
    ExpectedMessageLiteral,
    InvalidSearchKey,
    /// SEARCH criteria nested deeper than [`super::search::MAX_SEARCH_DEPTH`].
    SearchTooDeep,
    /// RFC 9051 §6.4.4: answered `NO [BADCHARSET]`, not BAD.
    UnsupportedCharset,
    InvalidSearchReturn,
    /// RFC 5256 §3 `sort-criterion`, RFC 5957 DISPLAYFROM/DISPLAYTO.
    InvalidSortCriterion,
    /// Not ORDEREDSUBJECT, REFERENCES or REFS.
    InvalidThreadAlgorithm,
    InvalidFetchItem,
    InvalidSection,
    InvalidFetchModifier,
    /// Not a `partial-range` (RFC 9394 §6).
    InvalidPartialRange,
    /// A CATENATE part that is neither `TEXT literal` nor `URL astring` (RFC 4469 §5).
    InvalidCatenatePart,
    /// RFC 5464: an entry name, GETMETADATA option or SETMETADATA value that is not one.
    InvalidMetadata,
    /// RFC 4314 §3: an identifier that is empty or holds controls or spaces.
    InvalidIdentifier,
    /// RFC 4314 §3.1: a right that is not one of `lrswipkxteacd`.
    InvalidRights,
    /// RFC 7162 §3.2.6: VANISHED only in UID FETCH, and only with CHANGEDSINCE.
    InvalidVanished,
    InvalidStoreItem,
    InvalidStoreModifier,
    InvalidUidCommand,
    /// RFC 5267 §5: CANCELUPDATE takes the tags as quoted strings.
    InvalidContextTag,
    /// A FETCH item, SEARCH key or STATUS item of an extension ringpost does not offer yet
    /// (FUZZY, ...): named apart from plain garbage.
    UnsupportedItem,
    /// NOTIFY (RFC 5465 §8): not `NONE` or `SET`, or an unknown mailbox filter.
    InvalidNotify,
    /// RFC 5465 §3: one SELECTED or SELECTED-DELAYED event group at most.
    NotifySelectedTwice,
    /// RFC 5465 §5.2-§5.5: MessageNew and MessageExpunge only together; FlagChange and
    /// AnnotationChange only with both.
    NotifyEventPairs,
    /// RFC 5465 §5.2: MessageNew's fetch attributes only for the selected mailbox.
    NotifyFetchOutsideSelected,
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
            Malformed::InvalidNumber => "Invalid number",
            Malformed::InvalidSequenceSet => "Invalid sequence set",
            Malformed::InvalidMailboxName => "Invalid mailbox name",
            Malformed::InvalidFlag => "Invalid flag",
            Malformed::InvalidDate => "Invalid date",
            Malformed::InvalidDateTime => "Invalid date-time",
            Malformed::ExpectedParenthesis => "Unbalanced parentheses",
            Malformed::InvalidSelectParameter => "Invalid SELECT parameter",
            Malformed::InvalidQresyncParameters => "Invalid QRESYNC parameters",
            Malformed::InvalidSpecialUse => "Invalid special-use attribute",
            Malformed::InvalidListOption => "Invalid LIST option",
            Malformed::RecursiveMatchAlone => "RECURSIVEMATCH needs another selection option",
            Malformed::InvalidStatusItem => "Invalid STATUS item",
            Malformed::ExpectedMessageLiteral => "Expected the message as a literal",
            Malformed::InvalidSearchKey => "Invalid search key",
            Malformed::SearchTooDeep => "Search criteria nested too deeply",
            Malformed::UnsupportedCharset => "Unsupported charset",
            Malformed::InvalidSearchReturn => "Invalid SEARCH RETURN option",
            Malformed::InvalidSortCriterion => "Invalid sort criterion",
            Malformed::InvalidThreadAlgorithm => "Unsupported threading algorithm",
            Malformed::InvalidFetchItem => "Invalid FETCH item",
            Malformed::InvalidSection => "Invalid body section",
            Malformed::InvalidFetchModifier => "Invalid FETCH modifier",
            Malformed::InvalidPartialRange => "Invalid PARTIAL range",
            Malformed::InvalidCatenatePart => "Invalid CATENATE part",
            Malformed::InvalidMetadata => "Invalid METADATA entry or option",
            Malformed::InvalidIdentifier => "Invalid identifier",
            Malformed::InvalidRights => "Invalid rights: only lrswipkxteacd are known",
            Malformed::InvalidVanished => "VANISHED needs UID FETCH and CHANGEDSINCE",
            Malformed::InvalidStoreItem => "Expected FLAGS, +FLAGS or -FLAGS",
            Malformed::InvalidStoreModifier => "Invalid STORE modifier",
            Malformed::InvalidUidCommand => {
                "Expected FETCH, STORE, COPY, MOVE, SEARCH, SORT, THREAD or EXPUNGE after UID"
            }
            Malformed::InvalidContextTag => "CANCELUPDATE takes quoted tags",
            Malformed::UnsupportedItem => "Extension item not supported",
            Malformed::InvalidNotify => "Expected NOTIFY NONE or NOTIFY SET with event groups",
            Malformed::NotifySelectedTwice => {
                "One SELECTED or SELECTED-DELAYED event group at most"
            }
            Malformed::NotifyEventPairs => {
                "MessageNew and MessageExpunge go together; FlagChange and AnnotationChange need both"
            }
            Malformed::NotifyFetchOutsideSelected => {
                "MessageNew fetch attributes are for the selected mailbox only"
            }
        }
    }
}

/// A command that could not be parsed, with its tag when one could be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub tag: Option<Tag>,
    pub reason: Malformed,
}
