//! REPORT bodies from the RFCs' examples parsed into exact typed values.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;

fn report(body: &str) -> Report {
    parse_report(body.as_bytes(), &XmlLimits::default()).expect("report")
}

fn at(text: &str) -> UtcDateTime {
    UtcDateTime::parse(text).expect("date-time")
}

fn range(start: &str, end: &str) -> TimeRange {
    TimeRange {
        start: Some(at(start)),
        end: Some(at(end)),
    }
}

fn comp(name: &str, props: Option<&[&str]>, comps: Option<Vec<CalendarComp>>) -> CalendarComp {
    CalendarComp {
        name: name.into(),
        props: props.map(|p| p.iter().map(|s| s.to_string()).collect()),
        comps,
    }
}

fn comp_filter(
    name: &str,
    time_range: Option<TimeRange>,
    comp_filters: Vec<CompFilter>,
) -> CompFilter {
    CompFilter {
        name: name.into(),
        condition: CompCondition::Match {
            time_range,
            prop_filters: Vec::new(),
            comp_filters,
        },
    }
}

/// RFC 4791 §7.8.1: partial retrieval of events by time range.
const RFC4791_7_8_1: &str = r#"<?xml version="1.0" encoding="utf-8" ?>
   <C:calendar-query xmlns:D="DAV:"
                     xmlns:C="urn:ietf:params:xml:ns:caldav">
     <D:prop>
       <C:calendar-data>
         <C:comp name="VCALENDAR">
           <C:prop name="VERSION"/>
           <C:comp name="VEVENT">
             <C:prop name="SUMMARY"/>
             <C:prop name="UID"/>
             <C:prop name="DTSTART"/>
             <C:prop name="DTEND"/>
             <C:prop name="DURATION"/>
             <C:prop name="RRULE"/>
             <C:prop name="RDATE"/>
             <C:prop name="EXRULE"/>
             <C:prop name="EXDATE"/>
             <C:prop name="RECURRENCE-ID"/>
           </C:comp>
           <C:comp name="VTIMEZONE"/>
         </C:comp>
       </C:calendar-data>
     </D:prop>
     <C:filter>
       <C:comp-filter name="VCALENDAR">
         <C:comp-filter name="VEVENT">
           <C:time-range start="20060104T000000Z"
                         end="20060105T000000Z"/>
         </C:comp-filter>
       </C:comp-filter>
     </C:filter>
   </C:calendar-query>"#;

#[test]
fn rfc4791_7_8_1_partial_retrieval_by_time_range() {
    let event_props = [
        "SUMMARY",
        "UID",
        "DTSTART",
        "DTEND",
        "DURATION",
        "RRULE",
        "RDATE",
        "EXRULE",
        "EXDATE",
        "RECURRENCE-ID",
    ];
    assert_eq!(
        report(RFC4791_7_8_1),
        Report::CalendarQuery(CalendarQuery {
            props: Propfind::Prop(vec![PropName::CalendarData]),
            calendar_data: Some(CalendarDataRequest {
                comp: Some(comp(
                    "VCALENDAR",
                    Some(&["VERSION"]),
                    Some(vec![
                        comp("VEVENT", Some(&event_props), Some(vec![])),
                        comp("VTIMEZONE", Some(&[]), Some(vec![])),
                    ]),
                )),
                ..CalendarDataRequest::default()
            }),
            filter: comp_filter(
                "VCALENDAR",
                None,
                vec![comp_filter(
                    "VEVENT",
                    Some(range("20060104T000000Z", "20060105T000000Z")),
                    vec![]
                )]
            ),
            timezone: None,
        })
    );
}

/// RFC 4791 §7.8.3: expanded recurrences.
#[test]
fn rfc4791_7_8_3_expand() {
    let body = r#"<?xml version="1.0" encoding="utf-8" ?>
   <C:calendar-query xmlns:D="DAV:"
                 xmlns:C="urn:ietf:params:xml:ns:caldav">
     <D:prop>
       <C:calendar-data>
         <C:expand start="20060103T000000Z"
                   end="20060105T000000Z"/>
       </C:calendar-data>
     </D:prop>
     <C:filter>
       <C:comp-filter name="VCALENDAR">
         <C:comp-filter name="VEVENT">
           <C:time-range start="20060103T000000Z"
                         end="20060105T000000Z"/>
         </C:comp-filter>
       </C:comp-filter>
     </C:filter>
   </C:calendar-query>"#;
    let Report::CalendarQuery(query) = report(body) else {
        panic!("not a calendar-query");
    };
    assert_eq!(
        query.calendar_data,
        Some(CalendarDataRequest {
            expand: Some(range("20060103T000000Z", "20060105T000000Z")),
            ..CalendarDataRequest::default()
        })
    );
    assert_eq!(
        query.filter,
        comp_filter(
            "VCALENDAR",
            None,
            vec![comp_filter(
                "VEVENT",
                Some(range("20060103T000000Z", "20060105T000000Z")),
                vec![]
            )]
        )
    );
}

/// RFC 4791 §7.8.6: retrieval of an event by UID (text-match with a collation).
#[test]
fn rfc4791_7_8_6_event_by_uid() {
    let body = r#"<?xml version="1.0" encoding="utf-8" ?>
   <C:calendar-query xmlns:C="urn:ietf:params:xml:ns:caldav">
     <D:prop xmlns:D="DAV:">
       <D:getetag/>
       <C:calendar-data/>
     </D:prop>
     <C:filter>
       <C:comp-filter name="VCALENDAR">
         <C:comp-filter name="VEVENT">
           <C:prop-filter name="UID">
             <C:text-match collation="i;octet"
             >DC6C50A017428C5216A2F1CD@example.com</C:text-match>
           </C:prop-filter>
         </C:comp-filter>
       </C:comp-filter>
     </C:filter>
   </C:calendar-query>"#;
    let uid = PropFilter {
        name: "UID".into(),
        condition: PropCondition::Match {
            time_range: None,
            text_match: Some(TextMatch {
                text: "DC6C50A017428C5216A2F1CD@example.com".into(),
                collation: Collation::Octet,
                negate: false,
                match_type: MatchType::Contains,
            }),
            param_filters: vec![],
        },
    };
    assert_eq!(
        report(body),
        Report::CalendarQuery(CalendarQuery {
            props: Propfind::Prop(vec![PropName::GetEtag, PropName::CalendarData]),
            calendar_data: Some(CalendarDataRequest::default()),
            filter: comp_filter(
                "VCALENDAR",
                None,
                vec![CompFilter {
                    name: "VEVENT".into(),
                    condition: CompCondition::Match {
                        time_range: None,
                        prop_filters: vec![uid],
                        comp_filters: vec![],
                    },
                }]
            ),
            timezone: None,
        })
    );
}

/// RFC 4791 §7.8.7: events by PARTSTAT (a param-filter) with a negated text-match.
#[test]
fn rfc4791_7_8_7_param_filter_and_negate() {
    let body = r#"<?xml version="1.0" encoding="utf-8" ?>
   <C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">
     <D:prop><D:getetag/></D:prop>
     <C:filter>
       <C:comp-filter name="VCALENDAR">
         <C:comp-filter name="VEVENT">
           <C:prop-filter name="ATTENDEE">
             <C:text-match collation="i;ascii-casemap"
              >mailto:lisa@example.com</C:text-match>
             <C:param-filter name="PARTSTAT">
               <C:text-match collation="i;ascii-casemap" negate-condition="yes"
                >NEEDS-ACTION</C:text-match>
             </C:param-filter>
           </C:prop-filter>
         </C:comp-filter>
       </C:comp-filter>
     </C:filter>
   </C:calendar-query>"#;
    let Report::CalendarQuery(query) = report(body) else {
        panic!("not a calendar-query");
    };
    let CompCondition::Match { comp_filters, .. } = query.filter.condition else {
        panic!("no match");
    };
    let CompCondition::Match { prop_filters, .. } = &comp_filters[0].condition else {
        panic!("no match");
    };
    assert_eq!(
        prop_filters[0],
        PropFilter {
            name: "ATTENDEE".into(),
            condition: PropCondition::Match {
                time_range: None,
                text_match: Some(TextMatch {
                    text: "mailto:lisa@example.com".into(),
                    collation: Collation::AsciiCasemap,
                    negate: false,
                    match_type: MatchType::Contains,
                }),
                param_filters: vec![ParamFilter {
                    name: "PARTSTAT".into(),
                    condition: ParamCondition::Match(Some(TextMatch {
                        text: "NEEDS-ACTION".into(),
                        collation: Collation::AsciiCasemap,
                        negate: true,
                        match_type: MatchType::Contains,
                    })),
                }],
            },
        }
    );
}

/// RFC 4791 §7.8.9: to-dos that are not completed (is-not-defined).
#[test]
fn rfc4791_7_8_9_is_not_defined() {
    let body = r#"<?xml version="1.0" encoding="utf-8" ?>
   <C:calendar-query xmlns:C="urn:ietf:params:xml:ns:caldav">
     <D:prop xmlns:D="DAV:">
       <D:getetag/>
       <C:calendar-data/>
     </D:prop>
     <C:filter>
       <C:comp-filter name="VCALENDAR">
         <C:comp-filter name="VTODO">
           <C:prop-filter name="COMPLETED">
             <C:is-not-defined/>
           </C:prop-filter>
           <C:prop-filter name="STATUS">
             <C:text-match
                negate-condition="yes">CANCELLED</C:text-match>
           </C:prop-filter>
         </C:comp-filter>
       </C:comp-filter>
     </C:filter>
   </C:calendar-query>"#;
    let Report::CalendarQuery(query) = report(body) else {
        panic!("not a calendar-query");
    };
    assert_eq!(
        query.filter,
        comp_filter(
            "VCALENDAR",
            None,
            vec![CompFilter {
                name: "VTODO".into(),
                condition: CompCondition::Match {
                    time_range: None,
                    prop_filters: vec![
                        PropFilter {
                            name: "COMPLETED".into(),
                            condition: PropCondition::IsNotDefined,
                        },
                        PropFilter {
                            name: "STATUS".into(),
                            condition: PropCondition::Match {
                                time_range: None,
                                text_match: Some(TextMatch {
                                    text: "CANCELLED".into(),
                                    collation: Collation::AsciiCasemap,
                                    negate: true,
                                    match_type: MatchType::Contains,
                                }),
                                param_filters: vec![],
                            },
                        },
                    ],
                    comp_filters: vec![],
                },
            }]
        )
    );
}

/// RFC 4791 §7.9.1: calendar-multiget.
#[test]
fn rfc4791_7_9_1_multiget() {
    let body = r#"<?xml version="1.0" encoding="utf-8" ?>
   <C:calendar-multiget xmlns:D="DAV:"
                    xmlns:C="urn:ietf:params:xml:ns:caldav">
     <D:prop>
       <D:getetag/>
       <C:calendar-data/>
     </D:prop>
     <D:href>/bernard/work/abcd1.ics</D:href>
     <D:href>/bernard/work/mtg1.ics</D:href>
   </C:calendar-multiget>"#;
    assert_eq!(
        report(body),
        Report::CalendarMultiget(CalendarMultiget {
            props: Propfind::Prop(vec![PropName::GetEtag, PropName::CalendarData]),
            calendar_data: Some(CalendarDataRequest::default()),
            hrefs: vec![
                "/bernard/work/abcd1.ics".into(),
                "/bernard/work/mtg1.ics".into()
            ],
        })
    );
}

/// RFC 4791 §7.10.1: free-busy-query.
#[test]
fn rfc4791_7_10_1_free_busy() {
    let body = r#"<?xml version="1.0" encoding="utf-8" ?>
   <C:free-busy-query xmlns:C="urn:ietf:params:xml:ns:caldav">
     <C:time-range start="20060104T140000Z"
                     end="20060105T220000Z"/>
   </C:free-busy-query>"#;
    assert_eq!(
        report(body),
        Report::FreeBusyQuery(FreeBusyQuery {
            time_range: range("20060104T140000Z", "20060105T220000Z"),
        })
    );
}

/// RFC 6352 §8.6.4: addressbook-query with anyof, match types and address-data props.
#[test]
fn rfc6352_8_6_4_addressbook_query() {
    let body = r#"<?xml version="1.0" encoding="utf-8" ?>
   <C:addressbook-query xmlns:D="DAV:"
                     xmlns:C="urn:ietf:params:xml:ns:carddav">
     <D:prop>
       <D:getetag/>
       <C:address-data>
         <C:prop name="VERSION"/>
         <C:prop name="UID"/>
         <C:prop name="NICKNAME"/>
         <C:prop name="EMAIL"/>
         <C:prop name="FN"/>
       </C:address-data>
     </D:prop>
     <C:filter test="anyof">
       <C:prop-filter name="FN">
         <C:text-match collation="i;unicode-casemap"
                       match-type="contains"
         >daboo</C:text-match>
       </C:prop-filter>
       <C:prop-filter name="EMAIL">
         <C:text-match collation="i;unicode-casemap"
                       match-type="starts-with"
         >daboo</C:text-match>
       </C:prop-filter>
     </C:filter>
   </C:addressbook-query>"#;
    let text = |match_type| TextMatch {
        text: "daboo".into(),
        collation: Collation::UnicodeCasemap,
        negate: false,
        match_type,
    };
    let prop = |name: &str, match_type| CardPropFilter {
        name: name.into(),
        test: FilterTest::AnyOf,
        condition: CardPropCondition::Match {
            text_matches: vec![text(match_type)],
            param_filters: vec![],
        },
    };
    assert_eq!(
        report(body),
        Report::AddressbookQuery(AddressbookQuery {
            props: Propfind::Prop(vec![PropName::GetEtag, PropName::AddressData]),
            address_data: Some(AddressDataRequest {
                content_type: None,
                version: None,
                props: Some(
                    ["VERSION", "UID", "NICKNAME", "EMAIL", "FN"]
                        .map(String::from)
                        .to_vec()
                ),
            }),
            filter: AddressbookFilter {
                test: FilterTest::AnyOf,
                prop_filters: vec![
                    prop("FN", MatchType::Contains),
                    prop("EMAIL", MatchType::StartsWith)
                ],
            },
            limit: None,
        })
    );
}

/// RFC 6352 §8.6.5: a limit, allof, equals, a param-filter and the default collation.
#[test]
fn rfc6352_8_6_5_limit_and_allof() {
    let body = r#"<?xml version="1.0" encoding="utf-8" ?>
   <C:addressbook-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav">
     <D:prop><D:getetag/></D:prop>
     <C:filter test="allof">
       <C:prop-filter name="NICKNAME" test="allof">
         <C:text-match match-type="equals">me</C:text-match>
         <C:param-filter name="TYPE"><C:is-not-defined/></C:param-filter>
       </C:prop-filter>
       <C:prop-filter name="X-ABC"><C:is-not-defined/></C:prop-filter>
     </C:filter>
     <C:limit><C:nresults>1</C:nresults></C:limit>
   </C:addressbook-query>"#;
    assert_eq!(
        report(body),
        Report::AddressbookQuery(AddressbookQuery {
            props: Propfind::Prop(vec![PropName::GetEtag]),
            address_data: None,
            filter: AddressbookFilter {
                test: FilterTest::AllOf,
                prop_filters: vec![
                    CardPropFilter {
                        name: "NICKNAME".into(),
                        test: FilterTest::AllOf,
                        condition: CardPropCondition::Match {
                            text_matches: vec![TextMatch {
                                text: "me".into(),
                                collation: Collation::UnicodeCasemap,
                                negate: false,
                                match_type: MatchType::Equals,
                            }],
                            param_filters: vec![ParamFilter {
                                name: "TYPE".into(),
                                condition: ParamCondition::IsNotDefined,
                            }],
                        },
                    },
                    CardPropFilter {
                        name: "X-ABC".into(),
                        test: FilterTest::AnyOf,
                        condition: CardPropCondition::IsNotDefined,
                    },
                ],
            },
            limit: Some(1),
        })
    );
}

/// RFC 6352 §8.7.1: addressbook-multiget with a content type.
#[test]
fn rfc6352_8_7_1_multiget() {
    let body = r#"<?xml version="1.0" encoding="utf-8" ?>
   <C:addressbook-multiget xmlns:D="DAV:"
                        xmlns:C="urn:ietf:params:xml:ns:carddav">
     <D:prop>
       <D:getetag/>
       <C:address-data content-type="text/vcard" version="3.0"/>
     </D:prop>
     <D:href>/home/bernard/addressbook/vcf102.vcf</D:href>
     <D:href>/home/bernard/addressbook/vcf1.vcf</D:href>
   </C:addressbook-multiget>"#;
    assert_eq!(
        report(body),
        Report::AddressbookMultiget(AddressbookMultiget {
            props: Propfind::Prop(vec![PropName::GetEtag, PropName::AddressData]),
            address_data: Some(AddressDataRequest {
                content_type: Some("text/vcard".into()),
                version: Some("3.0".into()),
                props: None,
            }),
            hrefs: vec![
                "/home/bernard/addressbook/vcf102.vcf".into(),
                "/home/bernard/addressbook/vcf1.vcf".into()
            ],
        })
    );
}

/// RFC 6578 §3.8: the initial sync (an empty token).
#[test]
fn rfc6578_3_8_initial_sync() {
    let body = r#"<?xml version="1.0" encoding="utf-8" ?>
   <D:sync-collection xmlns:D="DAV:">
     <D:sync-token/>
     <D:sync-level>1</D:sync-level>
     <D:prop xmlns:R="urn:ns.example.com:boxschema">
       <D:getetag/>
       <R:bigbox/>
     </D:prop>
   </D:sync-collection>"#;
    assert_eq!(
        report(body),
        Report::SyncCollection(SyncCollection {
            sync_token: String::new(),
            sync_level: SyncLevel::One,
            limit: None,
            props: vec![
                PropName::GetEtag,
                PropName::Other {
                    ns: "urn:ns.example.com:boxschema".into(),
                    local: "bigbox".into()
                }
            ],
        })
    );
}

/// RFC 6578 §3.9 and §3.10: a later sync with a token, infinite depth and a limit.
#[test]
fn rfc6578_3_9_sync_with_token_and_limit() {
    let body = r#"<?xml version="1.0" encoding="utf-8" ?>
   <D:sync-collection xmlns:D="DAV:">
     <D:sync-token>http://example.com/ns/sync/1234</D:sync-token>
     <D:sync-level>infinite</D:sync-level>
     <D:limit><D:nresults>100</D:nresults></D:limit>
     <D:prop><D:getetag/></D:prop>
   </D:sync-collection>"#;
    assert_eq!(
        report(body),
        Report::SyncCollection(SyncCollection {
            sync_token: "http://example.com/ns/sync/1234".into(),
            sync_level: SyncLevel::Infinite,
            limit: Some(100),
            props: vec![PropName::GetEtag],
        })
    );
}

#[test]
fn prefixes_do_not_matter_only_namespaces() {
    let default_ns = r#"<calendar-query xmlns="urn:ietf:params:xml:ns:caldav">
     <prop xmlns="DAV:"><getetag/><calendar-data xmlns="urn:ietf:params:xml:ns:caldav"/></prop>
     <filter><comp-filter name="VCALENDAR"><comp-filter name="VEVENT">
       <time-range start="20060104T000000Z" end="20060105T000000Z"/>
     </comp-filter></comp-filter></filter></calendar-query>"#;
    let other_prefixes = r#"<x:calendar-query xmlns:x="urn:ietf:params:xml:ns:caldav" xmlns:y="DAV:">
     <y:prop><y:getetag/><x:calendar-data/></y:prop>
     <x:filter><x:comp-filter name="VCALENDAR"><x:comp-filter name="VEVENT">
       <x:time-range start="20060104T000000Z" end="20060105T000000Z"/>
     </x:comp-filter></x:comp-filter></x:filter></x:calendar-query>"#;
    // The prefix D is rebound to CalDAV inside the filter.
    let redeclared = r#"<D:calendar-query xmlns:D="urn:ietf:params:xml:ns:caldav">
     <A:prop xmlns:A="DAV:"><A:getetag/><D:calendar-data/></A:prop>
     <D:filter><D:comp-filter name="VCALENDAR"><C:comp-filter xmlns:C="urn:ietf:params:xml:ns:caldav" name="VEVENT">
       <D:time-range start="20060104T000000Z" end="20060105T000000Z"/>
     </C:comp-filter></D:comp-filter></D:filter></D:calendar-query>"#;
    let expected = Report::CalendarQuery(CalendarQuery {
        props: Propfind::Prop(vec![PropName::GetEtag, PropName::CalendarData]),
        calendar_data: Some(CalendarDataRequest::default()),
        filter: comp_filter(
            "VCALENDAR",
            None,
            vec![comp_filter(
                "VEVENT",
                Some(range("20060104T000000Z", "20060105T000000Z")),
                vec![],
            )],
        ),
        timezone: None,
    });
    assert_eq!(report(default_ns), expected);
    assert_eq!(report(other_prefixes), expected);
    assert_eq!(report(redeclared), expected);
}

#[test]
fn a_name_in_the_wrong_namespace_is_not_ours() {
    // calendar-query in DAV: is not CalDAV's report.
    let body = r#"<D:calendar-query xmlns:D="DAV:"/>"#;
    assert_eq!(
        parse_report(body.as_bytes(), &XmlLimits::default()),
        Err(XmlError::UnsupportedReport {
            ns: "DAV:".into(),
            local: "calendar-query".into()
        })
    );
}

#[test]
fn unsupported_reports_are_403_with_supported_report() {
    let body = r#"<D:expand-property xmlns:D="DAV:"><D:property name="x"/></D:expand-property>"#;
    let error = parse_report(body.as_bytes(), &XmlLimits::default()).unwrap_err();
    assert_eq!(error.status(), 403);
    assert_eq!(error.precondition(), Some(Precondition::SupportedReport));
}

#[test]
fn unknown_collation_is_403_supported_collation() {
    let body = r#"<C:calendar-query xmlns:C="urn:ietf:params:xml:ns:caldav"><C:filter>
      <C:comp-filter name="VCALENDAR"><C:prop-filter name="X">
      <C:text-match collation="i;klingon">x</C:text-match></C:prop-filter></C:comp-filter>
      </C:filter></C:calendar-query>"#;
    let error = parse_report(body.as_bytes(), &XmlLimits::default()).unwrap_err();
    assert_eq!(
        error,
        XmlError::UnsupportedCollation {
            namespace: Namespace::CalDav,
            collation: "i;klingon".into()
        }
    );
    assert_eq!(error.status(), 403);
    assert_eq!(
        error.precondition(),
        Some(Precondition::CalendarSupportedCollation)
    );
}

#[test]
fn bad_time_ranges_and_levels_are_400() {
    let cases = [
        // Not UTC.
        r#"<C:free-busy-query xmlns:C="urn:ietf:params:xml:ns:caldav"><C:time-range start="20060104T140000"/></C:free-busy-query>"#,
        // No bound.
        r#"<C:free-busy-query xmlns:C="urn:ietf:params:xml:ns:caldav"><C:time-range/></C:free-busy-query>"#,
        // February 30th.
        r#"<C:free-busy-query xmlns:C="urn:ietf:params:xml:ns:caldav"><C:time-range start="20060230T000000Z"/></C:free-busy-query>"#,
        // Ends before it starts.
        r#"<C:free-busy-query xmlns:C="urn:ietf:params:xml:ns:caldav"><C:time-range start="20060105T000000Z" end="20060104T000000Z"/></C:free-busy-query>"#,
        r#"<D:sync-collection xmlns:D="DAV:"><D:sync-token/><D:sync-level>2</D:sync-level><D:prop/></D:sync-collection>"#,
        r#"<C:calendar-multiget xmlns:C="urn:ietf:params:xml:ns:caldav"/>"#,
    ];
    for body in cases {
        let error = parse_report(body.as_bytes(), &XmlLimits::default()).unwrap_err();
        assert!(matches!(error, XmlError::Invalid(_)), "{body}: {error:?}");
        assert_eq!(error.status(), 400);
    }
}

#[test]
fn utc_date_times_round_trip_and_count_seconds() {
    let t = at("20060104T140000Z");
    assert_eq!(t.to_string(), "20060104T140000Z");
    assert_eq!(at("19700101T000000Z").unix_seconds(), 0);
    assert_eq!(t.unix_seconds(), 1_136_383_200);
    assert_eq!(at("20240229T235960Z").to_string(), "20240229T235960Z");
    assert_eq!(UtcDateTime::parse("20230229T000000Z"), None);
    assert_eq!(UtcDateTime::parse("2006-01-04T14:00Z"), None);
}
