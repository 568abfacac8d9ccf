//! The filters of calendar-query (RFC 4791 §9.7) and addressbook-query (RFC 6352 §10.5), as
//! typed trees. Evaluating them against objects is the caller's.

use super::error::XmlError;
use super::names::Namespace;
use super::request::required_attr;
use super::time::{TimeRange, UtcDateTime};
use super::tree::Element;

/// A `CALDAV:comp-filter` (RFC 4791 §9.7.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompFilter {
    /// The component name (`VCALENDAR`, `VEVENT`, …).
    pub name: String,
    pub condition: CompCondition,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CompCondition {
    /// Matches when the component is absent.
    IsNotDefined,
    /// Matches when the component is present and every test holds.
    Match {
        time_range: Option<TimeRange>,
        prop_filters: Vec<PropFilter>,
        comp_filters: Vec<CompFilter>,
    },
}

/// A `CALDAV:prop-filter` (RFC 4791 §9.7.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PropFilter {
    pub name: String,
    pub condition: PropCondition,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PropCondition {
    IsNotDefined,
    Match {
        time_range: Option<TimeRange>,
        text_match: Option<TextMatch>,
        param_filters: Vec<ParamFilter>,
    },
}

/// A `param-filter` (RFC 4791 §9.7.3, RFC 6352 §10.5.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamFilter {
    pub name: String,
    pub condition: ParamCondition,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParamCondition {
    IsNotDefined,
    /// Present, and matching the text when one is given.
    Match(Option<TextMatch>),
}

/// A `text-match` (RFC 4791 §9.7.5, RFC 6352 §10.5.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextMatch {
    pub text: String,
    pub collation: Collation,
    /// `negate-condition="yes"`.
    pub negate: bool,
    /// CalDAV only has substring matches; CardDAV names its `match-type`.
    pub match_type: MatchType,
}

/// The collations we offer (RFC 4790 §9.2 and §9.3, RFC 5051).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Collation {
    Octet,
    AsciiCasemap,
    UnicodeCasemap,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MatchType {
    Equals,
    Contains,
    StartsWith,
    EndsWith,
}

/// `anyof` / `allof` (RFC 6352 §10.5 and §10.5.1; `anyof` when absent).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FilterTest {
    AnyOf,
    AllOf,
}

/// The `CARDDAV:filter` of an addressbook-query (RFC 6352 §10.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressbookFilter {
    pub test: FilterTest,
    pub prop_filters: Vec<CardPropFilter>,
}

/// A `CARDDAV:prop-filter` (RFC 6352 §10.5.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardPropFilter {
    pub name: String,
    pub test: FilterTest,
    pub condition: CardPropCondition,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CardPropCondition {
    IsNotDefined,
    Match {
        text_matches: Vec<TextMatch>,
        param_filters: Vec<ParamFilter>,
    },
}

/// The `CALDAV:filter` of a calendar-query: exactly one comp-filter (RFC 4791 §9.7).
pub(crate) fn calendar_filter(filter: &Element) -> Result<CompFilter, XmlError> {
    let mut comps = filter.children_named(Namespace::CalDav, "comp-filter");
    match (comps.next(), comps.next()) {
        (Some(comp), None) => comp_filter(comp),
        _ => Err(XmlError::Invalid(
            "a calendar-query filter needs exactly one comp-filter".into(),
        )),
    }
}

fn comp_filter(element: &Element) -> Result<CompFilter, XmlError> {
    let name = required_attr(element, "name")?.to_string();
    if element.child(Namespace::CalDav, "is-not-defined").is_some() {
        return Ok(CompFilter {
            name,
            condition: CompCondition::IsNotDefined,
        });
    }
    let time_range = element
        .child(Namespace::CalDav, "time-range")
        .map(time_range)
        .transpose()?;
    let prop_filters = element
        .children_named(Namespace::CalDav, "prop-filter")
        .map(prop_filter)
        .collect::<Result<_, _>>()?;
    let comp_filters = element
        .children_named(Namespace::CalDav, "comp-filter")
        .map(comp_filter)
        .collect::<Result<_, _>>()?;
    Ok(CompFilter {
        name,
        condition: CompCondition::Match {
            time_range,
            prop_filters,
            comp_filters,
        },
    })
}

fn prop_filter(element: &Element) -> Result<PropFilter, XmlError> {
    let name = required_attr(element, "name")?.to_string();
    if element.child(Namespace::CalDav, "is-not-defined").is_some() {
        return Ok(PropFilter {
            name,
            condition: PropCondition::IsNotDefined,
        });
    }
    let time_range = element
        .child(Namespace::CalDav, "time-range")
        .map(time_range)
        .transpose()?;
    let text_match = element
        .child(Namespace::CalDav, "text-match")
        .map(|t| text_match(t, Namespace::CalDav))
        .transpose()?;
    let param_filters = param_filters(element, Namespace::CalDav)?;
    Ok(PropFilter {
        name,
        condition: PropCondition::Match {
            time_range,
            text_match,
            param_filters,
        },
    })
}

fn param_filters(parent: &Element, ns: Namespace) -> Result<Vec<ParamFilter>, XmlError> {
    parent
        .children_named(ns, "param-filter")
        .map(|element| {
            let name = required_attr(element, "name")?.to_string();
            let condition = if element.child(ns, "is-not-defined").is_some() {
                ParamCondition::IsNotDefined
            } else {
                ParamCondition::Match(
                    element
                        .child(ns, "text-match")
                        .map(|t| text_match(t, ns))
                        .transpose()?,
                )
            };
            Ok(ParamFilter { name, condition })
        })
        .collect()
}

/// A text-match; the default collation is the protocol's (RFC 4791 §7.5.1: `i;ascii-casemap`;
/// RFC 6352 §8.3: `i;unicode-casemap`).
fn text_match(element: &Element, ns: Namespace) -> Result<TextMatch, XmlError> {
    let collation = match element.attr("collation") {
        None if ns == Namespace::CardDav => Collation::UnicodeCasemap,
        None | Some("i;ascii-casemap") => Collation::AsciiCasemap,
        Some("i;unicode-casemap") => Collation::UnicodeCasemap,
        Some("i;octet") => Collation::Octet,
        Some(other) => {
            return Err(XmlError::UnsupportedCollation {
                namespace: ns,
                collation: other.to_string(),
            })
        }
    };
    let negate = match element.attr("negate-condition") {
        None | Some("no") => false,
        Some("yes") => true,
        Some(other) => {
            return Err(XmlError::Invalid(format!("negate-condition=\"{other}\"")));
        }
    };
    let match_type = match element.attr("match-type") {
        None | Some("contains") => MatchType::Contains,
        Some("equals") if ns == Namespace::CardDav => MatchType::Equals,
        Some("starts-with") if ns == Namespace::CardDav => MatchType::StartsWith,
        Some("ends-with") if ns == Namespace::CardDav => MatchType::EndsWith,
        Some(other) => return Err(XmlError::Invalid(format!("match-type=\"{other}\""))),
    };
    Ok(TextMatch {
        text: element.text.clone(),
        collation,
        negate,
        match_type,
    })
}

/// A `CALDAV:time-range` with at least one bound (RFC 4791 §9.9).
pub(crate) fn time_range(element: &Element) -> Result<TimeRange, XmlError> {
    let bound = |name: &str| -> Result<Option<UtcDateTime>, XmlError> {
        element
            .attr(name)
            .map(|value| {
                UtcDateTime::parse(value.trim()).ok_or_else(|| {
                    XmlError::Invalid(format!("{name}=\"{value}\" is not a UTC date-time"))
                })
            })
            .transpose()
    };
    let range = TimeRange {
        start: bound("start")?,
        end: bound("end")?,
    };
    match (range.start, range.end) {
        (None, None) => Err(XmlError::Invalid(
            "a time-range without start or end".into(),
        )),
        (Some(start), Some(end)) if end <= start => Err(XmlError::Invalid(
            "a time-range that ends before it starts".into(),
        )),
        _ => Ok(range),
    }
}

/// A time-range that must have both bounds (RFC 4791 §9.6.5 to §9.6.7: expand,
/// limit-recurrence-set, limit-freebusy-set).
pub(crate) fn closed_time_range(element: &Element) -> Result<TimeRange, XmlError> {
    let range = time_range(element)?;
    if range.start.is_none() || range.end.is_none() {
        return Err(XmlError::Invalid(format!(
            "{} needs both start and end",
            element.describe()
        )));
    }
    Ok(range)
}

/// The `CARDDAV:filter` of an addressbook-query (RFC 6352 §10.5).
pub(crate) fn addressbook_filter(filter: &Element) -> Result<AddressbookFilter, XmlError> {
    let prop_filters = filter
        .children_named(Namespace::CardDav, "prop-filter")
        .map(|element| {
            let name = required_attr(element, "name")?.to_string();
            let test = filter_test(element)?;
            let condition = if element
                .child(Namespace::CardDav, "is-not-defined")
                .is_some()
            {
                CardPropCondition::IsNotDefined
            } else {
                CardPropCondition::Match {
                    text_matches: element
                        .children_named(Namespace::CardDav, "text-match")
                        .map(|t| text_match(t, Namespace::CardDav))
                        .collect::<Result<_, _>>()?,
                    param_filters: param_filters(element, Namespace::CardDav)?,
                }
            };
            Ok(CardPropFilter {
                name,
                test,
                condition,
            })
        })
        .collect::<Result<_, XmlError>>()?;
    Ok(AddressbookFilter {
        test: filter_test(filter)?,
        prop_filters,
    })
}

fn filter_test(element: &Element) -> Result<FilterTest, XmlError> {
    match element.attr("test") {
        None | Some("anyof") => Ok(FilterTest::AnyOf),
        Some("allof") => Ok(FilterTest::AllOf),
        Some(other) => Err(XmlError::Invalid(format!("test=\"{other}\""))),
    }
}
