//! The filters of calendar-query (RFC 4791 §9.7) and addressbook-query (RFC 6352 §10.5)
//! applied to stored objects, and the collection sync tokens of RFC 6578 and `getctag`.
//!
//! Pure: an object's bytes (already validated when stored) and a typed filter in, a yes or
//! no out.

use super::objects::{
    self, card_matches, matches_time_range, CalendarObject, Card, CardFilter, ComponentKind,
};
use super::xml::{
    AddressbookFilter, CardPropCondition, Collation, CompCondition, CompFilter, FilterTest,
    MatchType, ParamCondition, ParamFilter, PropCondition, PropFilter, TextMatch, TimeRange,
};

/// A time range as Unix seconds `[start, end)`, open ends at the ends of time.
pub fn range_seconds(range: &TimeRange) -> (i64, i64) {
    (
        range.start.map_or(i64::MIN / 2, |t| t.unix_seconds()),
        range.end.map_or(i64::MAX / 2, |t| t.unix_seconds()),
    )
}

/// Whether a calendar object resource passes a calendar-query filter (RFC 4791 §9.7.1). The
/// top comp-filter must name VCALENDAR. Below it, a comp-filter names the object's component
/// type (its time-range is tested over every instance, recurrences expanded: RFC 4791 §9.9),
/// VTIMEZONE or VALARM (tested by presence and prop-filters); prop-filters look at the
/// content lines of the components they sit in.
pub fn calendar_matches(object: &CalendarObject, bytes: &[u8], filter: &CompFilter) -> bool {
    if !filter.name.eq_ignore_ascii_case("VCALENDAR") {
        return false;
    }
    let Ok(text) = std::str::from_utf8(bytes) else {
        return false;
    };
    let tree = components(text);
    comp_matches(object, &tree, &tree[0], filter)
}

/// [`calendar_matches`] without the object's text, when the filter needs none: a VCALENDAR
/// filter whose comp-filters name component types (VEVENT, VTODO, …) with at most a
/// time-range or `is-not-defined` each (what clients send to fetch a date range). `None`:
/// the filter looks at content lines or nested components; ask [`calendar_matches`].
pub fn calendar_matches_by_times(object: &CalendarObject, filter: &CompFilter) -> Option<bool> {
    if !filter.name.eq_ignore_ascii_case("VCALENDAR") {
        return Some(false);
    }
    let CompCondition::Match {
        prop_filters,
        comp_filters,
        ..
    } = &filter.condition
    else {
        return Some(false);
    };
    if !prop_filters.is_empty() {
        return None;
    }
    let mut all = true;
    for comp in comp_filters {
        let kind = [
            ComponentKind::Event,
            ComponentKind::Todo,
            ComponentKind::Journal,
            ComponentKind::FreeBusy,
        ]
        .into_iter()
        .find(|k| k.name().eq_ignore_ascii_case(&comp.name))?;
        let present = object.component == kind;
        let hit = match &comp.condition {
            CompCondition::IsNotDefined => !present,
            CompCondition::Match {
                time_range,
                prop_filters,
                comp_filters,
            } => {
                if !prop_filters.is_empty() || !comp_filters.is_empty() {
                    return None;
                }
                present
                    && time_range.is_none_or(|range| {
                        let (start, end) = range_seconds(&range);
                        matches_time_range(object, start, end)
                    })
            }
        };
        all &= hit;
    }
    Some(all)
}

/// One component of the object's text, with its content lines and children.
struct Component {
    name: String,
    lines: Vec<objects::Property>,
    children: Vec<usize>,
}

/// The component tree of an iCalendar text: index 0 is a synthetic root holding the
/// VCALENDAR.
fn components(text: &str) -> Vec<Component> {
    let mut all = vec![Component {
        name: String::new(),
        lines: Vec::new(),
        children: Vec::new(),
    }];
    let mut stack = vec![0usize];
    for line in objects::all_content_lines(text) {
        match line.name.as_str() {
            "BEGIN" => {
                let id = all.len();
                all.push(Component {
                    name: line.value.trim().to_ascii_uppercase(),
                    lines: Vec::new(),
                    children: Vec::new(),
                });
                if let Some(&parent) = stack.last() {
                    all[parent].children.push(id);
                }
                stack.push(id);
            }
            "END" => {
                if stack.len() > 1 {
                    stack.pop();
                }
            }
            _ => {
                if let Some(&current) = stack.last() {
                    all[current].lines.push(line);
                }
            }
        }
    }
    all
}

/// Whether some child of `parent` named as `filter` says meets it (or, for
/// `is-not-defined`, none is there).
fn comp_matches(
    object: &CalendarObject,
    tree: &[Component],
    parent: &Component,
    filter: &CompFilter,
) -> bool {
    let mut named = parent
        .children
        .iter()
        .map(|&i| &tree[i])
        .filter(|c| c.name.eq_ignore_ascii_case(&filter.name));
    match &filter.condition {
        CompCondition::IsNotDefined => named.next().is_none(),
        CompCondition::Match {
            time_range,
            prop_filters,
            comp_filters,
        } => {
            let is_object_kind = [
                ComponentKind::Event,
                ComponentKind::Todo,
                ComponentKind::Journal,
                ComponentKind::FreeBusy,
            ]
            .iter()
            .any(|k| k.name().eq_ignore_ascii_case(&filter.name));
            let mut candidates = named.peekable();
            if candidates.peek().is_none() {
                return false;
            }
            // The time range is a property of the whole recurrence set, not of one component.
            if let Some(range) = time_range {
                if is_object_kind {
                    let (start, end) = range_seconds(range);
                    if !matches_time_range(object, start, end) {
                        return false;
                    }
                }
            }
            candidates.any(|component| {
                prop_filters.iter().all(|p| prop_matches(component, p))
                    && comp_filters
                        .iter()
                        .all(|c| comp_matches(object, tree, component, c))
            })
        }
    }
}

fn prop_matches(component: &Component, filter: &PropFilter) -> bool {
    let mut lines = component
        .lines
        .iter()
        .filter(|l| l.name.eq_ignore_ascii_case(&filter.name));
    match &filter.condition {
        PropCondition::IsNotDefined => lines.next().is_none(),
        PropCondition::Match {
            time_range,
            text_match,
            param_filters,
        } => lines.any(|line| {
            let in_range = time_range.is_none_or(|range| {
                let (start, end) = range_seconds(&range);
                super::xml::UtcDateTime::parse(line.value.trim())
                    .map(|t| t.unix_seconds())
                    .is_none_or(|t| t >= start && t < end)
            });
            in_range
                && text_match
                    .as_ref()
                    .is_none_or(|t| text_matches(t, &line.value))
                && param_filters.iter().all(|p| param_matches(line, p))
        }),
    }
}

fn param_matches(line: &objects::Property, filter: &ParamFilter) -> bool {
    let mut values = line
        .params
        .iter()
        .filter(|(name, _)| name.eq_ignore_ascii_case(&filter.name))
        .map(|(_, value)| value.as_str());
    match &filter.condition {
        ParamCondition::IsNotDefined => values.next().is_none(),
        ParamCondition::Match(None) => values.next().is_some(),
        ParamCondition::Match(Some(text)) => values.any(|v| text_matches(text, v)),
    }
}

/// A CalDAV text-match (RFC 4791 §9.7.5): a substring test under the collation.
fn text_matches(filter: &TextMatch, value: &str) -> bool {
    let (needle, haystack) = match filter.collation {
        Collation::Octet => (filter.text.clone(), value.to_string()),
        Collation::AsciiCasemap => (filter.text.to_ascii_lowercase(), value.to_ascii_lowercase()),
        Collation::UnicodeCasemap => (filter.text.to_lowercase(), value.to_lowercase()),
    };
    let hit = match filter.match_type {
        MatchType::Equals => haystack == needle,
        MatchType::Contains => haystack.contains(&needle),
        MatchType::StartsWith => haystack.starts_with(&needle),
        MatchType::EndsWith => haystack.ends_with(&needle),
    };
    hit != filter.negate
}

/// The addressbook-query filter as the vCard matcher takes it. `i;octet` has no
/// counterpart there (CardDAV requires the two casemaps only) and is refused above.
pub fn card_filter(filter: &AddressbookFilter) -> CardFilter {
    let test = |t: FilterTest| match t {
        FilterTest::AnyOf => objects::Test::AnyOf,
        FilterTest::AllOf => objects::Test::AllOf,
    };
    let text = |t: &TextMatch| objects::TextMatch {
        text: t.text.clone(),
        collation: match t.collation {
            Collation::AsciiCasemap | Collation::Octet => objects::Collation::AsciiCasemap,
            Collation::UnicodeCasemap => objects::Collation::UnicodeCasemap,
        },
        match_type: match t.match_type {
            MatchType::Equals => objects::MatchType::Equals,
            MatchType::Contains => objects::MatchType::Contains,
            MatchType::StartsWith => objects::MatchType::StartsWith,
            MatchType::EndsWith => objects::MatchType::EndsWith,
        },
        negate: t.negate,
    };
    CardFilter {
        test: test(filter.test),
        props: filter
            .prop_filters
            .iter()
            .map(|p| match &p.condition {
                CardPropCondition::IsNotDefined => objects::PropFilter {
                    name: p.name.clone(),
                    test: test(p.test),
                    is_not_defined: true,
                    text_matches: Vec::new(),
                    param_filters: Vec::new(),
                },
                CardPropCondition::Match {
                    text_matches,
                    param_filters,
                } => objects::PropFilter {
                    name: p.name.clone(),
                    test: test(p.test),
                    is_not_defined: false,
                    text_matches: text_matches.iter().map(text).collect(),
                    param_filters: param_filters
                        .iter()
                        .map(|f| match &f.condition {
                            ParamCondition::IsNotDefined => objects::ParamFilter {
                                name: f.name.clone(),
                                is_not_defined: true,
                                text_match: None,
                            },
                            ParamCondition::Match(t) => objects::ParamFilter {
                                name: f.name.clone(),
                                is_not_defined: false,
                                text_match: t.as_ref().map(text),
                            },
                        })
                        .collect(),
                },
            })
            .collect(),
    }
}

/// Whether a vCard passes an addressbook-query filter.
pub fn card_passes(card: &Card, filter: &CardFilter) -> bool {
    card_matches(card, filter)
}

/// A collection's state as a sync token (RFC 6578 §3.2) and `getctag`: its UIDVALIDITY
/// (which changes when a collection of the same name is made anew) and its highest modseq
/// (which every change to it raises).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CollectionState {
    pub validity: u32,
    pub modseq: u64,
}

const TOKEN_PREFIX: &str = "urn:ringpost:sync:";

impl CollectionState {
    /// The `DAV:sync-token` value: a URI (RFC 6578 §6.2).
    pub fn sync_token(self) -> String {
        format!("{TOKEN_PREFIX}{}-{}", self.validity, self.modseq)
    }

    /// The calendarserver `getctag` value.
    pub fn ctag(self) -> String {
        format!("{}-{}", self.validity, self.modseq)
    }

    /// The state a token names, if it is one of ours.
    pub fn parse_token(token: &str) -> Option<CollectionState> {
        let rest = token.trim().strip_prefix(TOKEN_PREFIX)?;
        let (validity, modseq) = rest.split_once('-')?;
        Some(CollectionState {
            validity: validity.parse().ok()?,
            modseq: modseq.parse().ok()?,
        })
    }
}

/// A stored object's entity tag (RFC 9110 §8.8.3): a new version is a new message with a new
/// UID, so the collection's UIDVALIDITY and the UID name one version exactly.
pub fn etag(validity: u32, uid: u32) -> String {
    format!("\"{validity}-{uid}\"")
}

/// Whether an `If-Match` / `If-None-Match` field value (a list of entity tags, or `*`) names
/// `current` (`None`: the resource does not exist). Weak tags compare weakly (RFC 9110
/// §13.1.1 uses the strong comparison for If-Match, where ours are never weak anyway).
pub fn etag_list_matches(field: &str, current: Option<&str>) -> bool {
    let Some(current) = current else {
        return false;
    };
    field.split(',').map(str::trim).any(|tag| {
        tag == "*" || tag == current || tag.strip_prefix("W/").is_some_and(|t| t == current)
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::dav::objects::{validate_calendar_object, CalendarLimits, ComponentSet};
    use crate::dav::xml::{parse_report, Report, XmlLimits};

    const WEEKLY: &str = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\n\
BEGIN:VEVENT\r\nUID:weekly@example.com\r\nDTSTAMP:20260101T000000Z\r\n\
DTSTART:20260105T090000Z\r\nDTEND:20260105T100000Z\r\nRRULE:FREQ=WEEKLY;COUNT=3\r\n\
SUMMARY:Standup\r\nLOCATION;ALTREP=\"http://x\":Room 1\r\n\
BEGIN:VALARM\r\nACTION:DISPLAY\r\nTRIGGER:-PT5M\r\nEND:VALARM\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";

    fn object() -> CalendarObject {
        validate_calendar_object(
            WEEKLY.as_bytes(),
            &CalendarLimits {
                max_size: 1 << 20,
                components: ComponentSet::of(&[ComponentKind::Event, ComponentKind::Todo]),
            },
        )
        .unwrap()
    }

    fn filter(inner: &str) -> CompFilter {
        let body = format!(
            "<c:calendar-query xmlns:d=\"DAV:\" xmlns:c=\"urn:ietf:params:xml:ns:caldav\">\
             <d:prop><d:getetag/></d:prop><c:filter><c:comp-filter name=\"VCALENDAR\">{inner}\
             </c:comp-filter></c:filter></c:calendar-query>"
        );
        match parse_report(body.as_bytes(), &XmlLimits::default()).unwrap() {
            Report::CalendarQuery(q) => q.filter,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn time_ranges_hit_only_the_weeks_with_an_instance() {
        let o = object();
        let third_week = filter(
            "<c:comp-filter name=\"VEVENT\"><c:time-range start=\"20260119T000000Z\" end=\"20260120T000000Z\"/></c:comp-filter>",
        );
        assert!(calendar_matches(&o, WEEKLY.as_bytes(), &third_week));
        let fourth_week = filter(
            "<c:comp-filter name=\"VEVENT\"><c:time-range start=\"20260126T000000Z\" end=\"20260127T000000Z\"/></c:comp-filter>",
        );
        assert!(!calendar_matches(&o, WEEKLY.as_bytes(), &fourth_week));
        let todos = filter("<c:comp-filter name=\"VTODO\"/>");
        assert_eq!(calendar_matches_by_times(&o, &third_week), Some(true));
        assert_eq!(calendar_matches_by_times(&o, &fourth_week), Some(false));
        assert_eq!(calendar_matches_by_times(&o, &todos), Some(false));
        assert!(!calendar_matches(&o, WEEKLY.as_bytes(), &todos));
        let no_todos = filter("<c:comp-filter name=\"VTODO\"><c:is-not-defined/></c:comp-filter>");
        assert!(calendar_matches(&o, WEEKLY.as_bytes(), &no_todos));
    }

    #[test]
    fn prop_filters_read_the_components_lines() {
        let o = object();
        let summary = |text: &str| {
            filter(&format!(
                "<c:comp-filter name=\"VEVENT\"><c:prop-filter name=\"SUMMARY\"><c:text-match>{text}</c:text-match></c:prop-filter></c:comp-filter>"
            ))
        };
        assert!(calendar_matches(&o, WEEKLY.as_bytes(), &summary("STAND")));
        assert!(!calendar_matches(&o, WEEKLY.as_bytes(), &summary("retro")));
        let alarm = filter(
            "<c:comp-filter name=\"VEVENT\"><c:comp-filter name=\"VALARM\"><c:prop-filter name=\"ACTION\"><c:text-match collation=\"i;octet\">DISPLAY</c:text-match></c:prop-filter></c:comp-filter></c:comp-filter>",
        );
        assert!(calendar_matches(&o, WEEKLY.as_bytes(), &alarm));
        let param = filter(
            "<c:comp-filter name=\"VEVENT\"><c:prop-filter name=\"LOCATION\"><c:param-filter name=\"ALTREP\"/></c:prop-filter></c:comp-filter>",
        );
        assert!(calendar_matches(&o, WEEKLY.as_bytes(), &param));
        let undefined = filter(
            "<c:comp-filter name=\"VEVENT\"><c:prop-filter name=\"CATEGORIES\"><c:is-not-defined/></c:prop-filter></c:comp-filter>",
        );
        assert!(calendar_matches(&o, WEEKLY.as_bytes(), &undefined));
    }

    #[test]
    fn tokens_round_trip_and_foreign_ones_are_not_ours() {
        let state = CollectionState {
            validity: 17,
            modseq: 4_000_000_001,
        };
        assert_eq!(
            CollectionState::parse_token(&state.sync_token()),
            Some(state)
        );
        assert_eq!(
            CollectionState::parse_token("http://radicale.org/ns/sync/x"),
            None
        );
        assert_eq!(CollectionState::parse_token("urn:ringpost:sync:1-x"), None);
        assert!(etag_list_matches("\"1-2\", \"1-3\"", Some("\"1-3\"")));
        assert!(etag_list_matches("*", Some("\"1-3\"")));
        assert!(!etag_list_matches("*", None));
        assert!(!etag_list_matches("\"1-2\"", Some("\"1-3\"")));
    }
}
