//! vCards as CardDAV sees them: the PUT preconditions of RFC 6352 §5.1 and §6.3.2.1, and the
//! text-match filter of addressbook-query (RFC 6352 §10.5).

use calcard::vcard::{VCard, VCardVersion};
use calcard::{Entry, Parser};

use super::{Invalid, Namespace};

/// What an address book accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CardLimits {
    /// `CARDDAV:max-resource-size` in octets (RFC 6352 §6.2.3).
    pub max_size: usize,
}

/// The vCard versions CardDAV serves (RFC 6352 §5.1: 3.0 is required, 4.0 offered too).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CardVersion {
    /// vCard 3.0 (RFC 2426).
    V3,
    /// vCard 4.0 (RFC 6350).
    V4,
}

/// A validated vCard: its UID and version, and its properties unfolded for text matching.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Card {
    /// The UID property's value.
    pub uid: String,
    /// The VERSION.
    pub version: CardVersion,
    properties: Vec<Property>,
}

/// One content line: upper-cased name without its group, parameters, value with the text
/// escapes (`\,` `\;` `\\` `\n`) undone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Property {
    pub name: String,
    pub params: Vec<(String, String)>,
    pub value: String,
    /// `value` lower-cased (Unicode), for `i;unicode-casemap` matches without a fold per test.
    pub folded: String,
}

/// Checks `bytes` as an address object resource (RFC 6352 §5.1): size, UTF-8, exactly one
/// vCard, VERSION 3.0 or 4.0, a UID.
pub fn validate_vcard(bytes: &[u8], limits: &CardLimits) -> Result<Card, Invalid> {
    if bytes.len() > limits.max_size {
        return Err(Invalid::MaxResourceSize(Namespace::CardDav));
    }
    let text = std::str::from_utf8(bytes).map_err(|_| Invalid::AddressData("not UTF-8"))?;
    let mut parser = Parser::new(text);
    let card: VCard = match parser.entry() {
        Entry::VCard(card) => card,
        _ => return Err(Invalid::AddressData("not a vCard")),
    };
    match parser.entry() {
        Entry::Eof => {}
        Entry::VCard(_) | Entry::ICalendar(_) => {
            return Err(Invalid::AddressData("more than one vCard"))
        }
        _ => return Err(Invalid::AddressData("data after END:VCARD")),
    }
    let version = match card.version() {
        Some(VCardVersion::V3_0) => CardVersion::V3,
        Some(VCardVersion::V4_0) => CardVersion::V4,
        Some(_) => return Err(Invalid::SupportedAddressData),
        None => return Err(Invalid::AddressData("no VERSION")),
    };
    let uid = card
        .uid()
        .filter(|uid| !uid.is_empty())
        .ok_or(Invalid::AddressData("no UID"))?
        .to_string();
    Ok(Card {
        uid,
        version,
        properties: content_lines(text),
    })
}

/// An addressbook-query filter (RFC 6352 §10.5), typed; the XML reader maps onto it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardFilter {
    /// How the prop-filters combine (`test` attribute, default anyof).
    pub test: Test,
    /// No prop-filter matches every card.
    pub props: Vec<PropFilter>,
}

/// The `test` attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Test {
    /// `anyof` (the default).
    #[default]
    AnyOf,
    /// `allof`.
    AllOf,
}

/// `CARDDAV:prop-filter` (RFC 6352 §10.5.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PropFilter {
    /// The property name (`EMAIL`, `FN`, …), any case.
    pub name: String,
    /// How the text-matches and param-filters combine.
    pub test: Test,
    /// `is-not-defined`: matches cards without the property (the rest is then ignored).
    pub is_not_defined: bool,
    /// `text-match` elements.
    pub text_matches: Vec<TextMatch>,
    /// `param-filter` elements.
    pub param_filters: Vec<ParamFilter>,
}

/// `CARDDAV:param-filter` (RFC 6352 §10.5.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamFilter {
    /// The parameter name (`TYPE`, …), any case.
    pub name: String,
    /// `is-not-defined`.
    pub is_not_defined: bool,
    /// A `text-match` on the parameter's values; none means "the parameter is present".
    pub text_match: Option<TextMatch>,
}

/// `CARDDAV:text-match` (RFC 6352 §10.5.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextMatch {
    /// The text to look for.
    pub text: String,
    /// The collation (default `i;unicode-casemap`).
    pub collation: Collation,
    /// `match-type` (default `contains`).
    pub match_type: MatchType,
    /// `negate-condition="yes"`.
    pub negate: bool,
}

/// The collations CardDAV servers must support (RFC 6352 §8.3, RFC 4790).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Collation {
    /// `i;unicode-casemap` (RFC 5051), approximated by Unicode lower-casing without the
    /// NFKD step.
    #[default]
    UnicodeCasemap,
    /// `i;ascii-casemap`: ASCII letters fold, every other octet compares as is.
    AsciiCasemap,
}

/// `match-type` (RFC 6352 §10.5.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MatchType {
    /// `equals`
    Equals,
    /// `contains` (the default)
    #[default]
    Contains,
    /// `starts-with`
    StartsWith,
    /// `ends-with`
    EndsWith,
}

/// Whether `card` passes `filter` (RFC 6352 §10.5).
pub fn card_matches(card: &Card, filter: &CardFilter) -> bool {
    if filter.props.is_empty() {
        return true;
    }
    let mut results = filter.props.iter().map(|prop| prop_matches(card, prop));
    match filter.test {
        Test::AnyOf => results.any(|hit| hit),
        Test::AllOf => results.all(|hit| hit),
    }
}

/// §10.5.1: some instance of the property meets the text-matches and param-filters under
/// `test`; an empty prop-filter asks only that the property exist.
fn prop_matches(card: &Card, filter: &PropFilter) -> bool {
    let name = filter.name.to_ascii_uppercase();
    let mut instances = card.properties.iter().filter(|p| p.name == name);
    if filter.is_not_defined {
        return instances.next().is_none();
    }
    instances.any(|property| {
        let texts = filter
            .text_matches
            .iter()
            .map(|text| text_matches(text, &property.value, Some(&property.folded)));
        let params = filter
            .param_filters
            .iter()
            .map(|param| param_matches(property, param));
        let mut all = texts.chain(params);
        match filter.test {
            Test::AnyOf if filter.text_matches.is_empty() && filter.param_filters.is_empty() => {
                true
            }
            Test::AnyOf => all.any(|hit| hit),
            Test::AllOf => all.all(|hit| hit),
        }
    })
}

/// §10.5.2.
fn param_matches(property: &Property, filter: &ParamFilter) -> bool {
    let name = filter.name.to_ascii_uppercase();
    let mut values = property
        .params
        .iter()
        .filter(|(param, _)| *param == name)
        .map(|(_, value)| value.as_str());
    if filter.is_not_defined {
        return values.next().is_none();
    }
    match &filter.text_match {
        None => values.next().is_some(),
        Some(text) => {
            let mut values = values.peekable();
            values.peek().is_some() && {
                let found = values.any(|value| text_matches_plain(text, value, None));
                found != text.negate
            }
        }
    }
}

/// §10.5.4 with negate-condition. `folded` is `value` lower-cased, when the caller has it.
fn text_matches(filter: &TextMatch, value: &str, folded: Option<&str>) -> bool {
    text_matches_plain(filter, value, folded) != filter.negate
}

fn text_matches_plain(filter: &TextMatch, value: &str, folded: Option<&str>) -> bool {
    let test = |needle: &str, haystack: &str| match filter.match_type {
        MatchType::Equals => haystack == needle,
        MatchType::Contains => haystack.contains(needle),
        MatchType::StartsWith => haystack.starts_with(needle),
        MatchType::EndsWith => haystack.ends_with(needle),
    };
    match filter.collation {
        Collation::UnicodeCasemap => {
            let needle = filter.text.to_lowercase();
            match folded {
                Some(haystack) => test(&needle, haystack),
                None => test(&needle, &value.to_lowercase()),
            }
        }
        Collation::AsciiCasemap => test(
            &filter.text.to_ascii_lowercase(),
            &value.to_ascii_lowercase(),
        ),
    }
}

/// The content lines of a vCard (RFC 6350 §3.2 unfolding), without BEGIN/END/VERSION.
fn content_lines(text: &str) -> Vec<Property> {
    all_content_lines(text)
        .into_iter()
        .filter(|p| !matches!(p.name.as_str(), "BEGIN" | "END" | "VERSION"))
        .collect()
}

/// Every content line of a vCard or iCalendar text, unfolded (RFC 6350 §3.2, RFC 5545
/// §3.1), BEGIN and END included.
pub(crate) fn all_content_lines(text: &str) -> Vec<Property> {
    let mut unfolded: Vec<String> = Vec::new();
    for line in text.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        match (line.strip_prefix([' ', '\t']), unfolded.last_mut()) {
            (Some(rest), Some(last)) => last.push_str(rest),
            _ if line.is_empty() => {}
            _ => unfolded.push(line.to_string()),
        }
    }
    unfolded
        .iter()
        .filter_map(|line| property_of(line))
        .collect()
}

/// `group.NAME;PARAM=a,"b";TYPE=c:value` → a [`Property`]; `None` for a line without `:`.
fn property_of(line: &str) -> Option<Property> {
    let mut quoted = false;
    let colon = line.char_indices().find_map(|(at, c)| match c {
        '"' => {
            quoted = !quoted;
            None
        }
        ':' if !quoted => Some(at),
        _ => None,
    })?;
    let (head, value) = (&line[..colon], &line[colon + 1..]);
    let mut parts = split_unquoted(head, ';').into_iter();
    let name = parts.next()?;
    let name = name.rsplit('.').next().unwrap_or(name).to_ascii_uppercase();
    let mut params = Vec::new();
    for part in parts {
        match part.split_once('=') {
            Some((param, values)) => {
                let param = param.trim().to_ascii_uppercase();
                // `TYPE="work,voice"` (RFC 6350 §8's own example) lists two values too.
                for value in split_unquoted(values, ',') {
                    for value in value.trim_matches('"').split(',') {
                        params.push((param.clone(), value.to_string()));
                    }
                }
            }
            // vCard 2.1/3.0 bare types (`TEL;WORK:`) are TYPE values.
            None => params.push(("TYPE".to_string(), part.to_string())),
        }
    }
    let value = unescape(value);
    Some(Property {
        name,
        params,
        folded: value.to_lowercase(),
        value,
    })
}

fn split_unquoted(text: &str, separator: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut quoted = false;
    let mut from = 0;
    for (at, c) in text.char_indices() {
        if c == '"' {
            quoted = !quoted;
        } else if c == separator && !quoted {
            parts.push(&text[from..at]);
            from = at + c.len_utf8();
        }
    }
    parts.push(&text[from..]);
    parts
}

fn unescape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n' | 'N') => out.push('\n'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}
