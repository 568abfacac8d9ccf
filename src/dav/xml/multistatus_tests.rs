//! Multistatus and error bodies as exact bytes.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;

const HEAD: &str = "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<d:multistatus xmlns:d=\"DAV:\" \
     xmlns:c=\"urn:ietf:params:xml:ns:caldav\" xmlns:card=\"urn:ietf:params:xml:ns:carddav\" \
     xmlns:cs=\"http://calendarserver.org/ns/\" xmlns:ical=\"http://apple.com/ns/ical/\">";

fn text(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).expect("UTF-8")
}

/// A PROPFIND Depth 1 on a calendar: the collection with found and missing properties, then
/// one event.
#[test]
fn propfind_depth_1_answer() {
    let unknown = PropName::Other {
        ns: "http://example.com/ns/".into(),
        local: "color".into(),
    };
    let mut body = Multistatus::new();
    body.response(
        "/SOGo/dav/user@example.com/Calendar/personal/",
        &PropStat::group([
            (
                PropName::ResourceType,
                Ok(PropValue::ResourceType(vec![
                    ResourceType::Collection,
                    ResourceType::Calendar,
                ])),
            ),
            (
                PropName::DisplayName,
                Ok(PropValue::Text("Personal <& Co>".into())),
            ),
            (PropName::GetCtag, Ok(PropValue::Text("\"42\"".into()))),
            (unknown.clone(), Err(404)),
            (PropName::CalendarColor, Err(404)),
        ]),
    );
    body.response(
        "/SOGo/dav/user@example.com/Calendar/personal/a b.ics",
        &PropStat::group([
            (PropName::GetEtag, Ok(PropValue::Text("\"1-2\"".into()))),
            (PropName::ResourceType, Ok(PropValue::ResourceType(vec![]))),
        ]),
    );
    let expected = format!(
        "{HEAD}<d:response><d:href>/SOGo/dav/user@example.com/Calendar/personal/</d:href>\
         <d:propstat><d:prop><d:resourcetype><d:collection/><c:calendar/></d:resourcetype>\
         <d:displayname>Personal &lt;&amp; Co&gt;</d:displayname><cs:getctag>\"42\"</cs:getctag>\
         </d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat>\
         <d:propstat><d:prop><color xmlns=\"http://example.com/ns/\"/><ical:calendar-color/>\
         </d:prop><d:status>HTTP/1.1 404 Not Found</d:status></d:propstat></d:response>\
         <d:response><d:href>/SOGo/dav/user@example.com/Calendar/personal/a%20b.ics</d:href>\
         <d:propstat><d:prop><d:getetag>\"1-2\"</d:getetag><d:resourcetype></d:resourcetype>\
         </d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>\
         </d:multistatus>"
    );
    assert_eq!(text(body.finish()), expected);
}

#[test]
fn multiget_and_sync_answers() {
    let mut body = Multistatus::new();
    body.response(
        "/SOGo/dav/u@example.com/Calendar/personal/e.ics",
        &[PropStat {
            status: 200,
            props: vec![
                Prop {
                    name: PropName::GetEtag,
                    value: PropValue::Text("\"7\"".into()),
                },
                Prop {
                    name: PropName::CalendarData,
                    value: PropValue::Data(
                        "BEGIN:VCALENDAR\r\nSUMMARY:a<b\r\nEND:VCALENDAR\r\n".into(),
                    ),
                },
            ],
        }],
    );
    body.status_response("/SOGo/dav/u@example.com/Calendar/personal/gone.ics", 404);
    let expected = format!(
        "{HEAD}<d:response><d:href>/SOGo/dav/u@example.com/Calendar/personal/e.ics</d:href>\
         <d:propstat><d:prop><d:getetag>\"7\"</d:getetag><c:calendar-data>\
         BEGIN:VCALENDAR&#13;\nSUMMARY:a&lt;b&#13;\nEND:VCALENDAR&#13;\n</c:calendar-data>\
         </d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>\
         <d:response><d:href>/SOGo/dav/u@example.com/Calendar/personal/gone.ics</d:href>\
         <d:status>HTTP/1.1 404 Not Found</d:status></d:response>\
         <d:sync-token>http://ringpost/sync/12</d:sync-token></d:multistatus>"
    );
    assert_eq!(
        text(body.finish_with_sync_token("http://ringpost/sync/12")),
        expected
    );
}

#[test]
fn structured_values() {
    let mut body = Multistatus::new();
    body.response(
        "/SOGo/dav/u@example.com/",
        &[PropStat {
            status: 200,
            props: vec![
                Prop {
                    name: PropName::CalendarHomeSet,
                    value: PropValue::Href("/SOGo/dav/u@example.com/Calendar/".into()),
                },
                Prop {
                    name: PropName::SupportedCalendarComponentSet,
                    value: PropValue::CalendarComponents(vec!["VEVENT".into(), "VTODO".into()]),
                },
                Prop {
                    name: PropName::SupportedAddressData,
                    value: PropValue::AddressDataTypes(vec![MediaType {
                        content_type: "text/vcard".into(),
                        version: "3.0".into(),
                    }]),
                },
                Prop {
                    name: PropName::CurrentUserPrivilegeSet,
                    value: PropValue::Privileges(vec![Privilege::Read, Privilege::ReadFreeBusy]),
                },
                Prop {
                    name: PropName::SupportedReportSet,
                    value: PropValue::Reports(vec![ReportName::SyncCollection]),
                },
                Prop {
                    name: PropName::CalendarUserAddressSet,
                    value: PropValue::Hrefs(vec!["mailto:u@example.com".into()]),
                },
                Prop {
                    name: PropName::CalendarColor,
                    value: PropValue::Xml(RawXml::from_stored(b"#FF0000FF".to_vec())),
                },
            ],
        }],
    );
    let expected = format!(
        "{HEAD}<d:response><d:href>/SOGo/dav/u@example.com/</d:href><d:propstat><d:prop>\
         <c:calendar-home-set><d:href>/SOGo/dav/u@example.com/Calendar/</d:href></c:calendar-home-set>\
         <c:supported-calendar-component-set><c:comp name=\"VEVENT\"/><c:comp name=\"VTODO\"/>\
         </c:supported-calendar-component-set>\
         <card:supported-address-data><card:address-data-type content-type=\"text/vcard\" \
         version=\"3.0\"/></card:supported-address-data>\
         <d:current-user-privilege-set><d:privilege><d:read/></d:privilege><d:privilege>\
         <c:read-free-busy/></d:privilege></d:current-user-privilege-set>\
         <d:supported-report-set><d:supported-report><d:report><d:sync-collection/></d:report>\
         </d:supported-report></d:supported-report-set>\
         <c:calendar-user-address-set><d:href>mailto:u@example.com</d:href></c:calendar-user-address-set>\
         <ical:calendar-color>#FF0000FF</ical:calendar-color>\
         </d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response></d:multistatus>"
    );
    assert_eq!(text(body.finish()), expected);
}

#[test]
fn hrefs_are_percent_encoded_but_keep_at_signs() {
    assert_eq!(
        encode_href("/SOGo/dav/user@example.com/Contacts/personal/"),
        "/SOGo/dav/user@example.com/Contacts/personal/"
    );
    assert_eq!(encode_href("/a b/é%?#\"<"), "/a%20b/%C3%A9%25%3F%23%22%3C");
}

/// A PROPPATCH value with elements comes back meaning the same thing in our document.
#[test]
fn stored_values_round_trip_through_a_multistatus() {
    let body = br#"<P:propertyupdate xmlns:P="DAV:" xmlns:Q="http://example.com/q"><P:set><P:prop>
      <Q:list><Q:item a="1&amp;2">x &lt; y</Q:item></Q:list></P:prop></P:set></P:propertyupdate>"#;
    let patch = parse_proppatch(body, &XmlLimits::default()).expect("proppatch");
    let PropertyUpdate::Set(set) = &patch.updates[0] else {
        panic!("not a set");
    };
    let mut ms = Multistatus::new();
    ms.response(
        "/x/",
        &[PropStat {
            status: 200,
            props: vec![Prop {
                name: set.name.clone(),
                value: PropValue::Xml(set.value.clone()),
            }],
        }],
    );
    let out = text(ms.finish());
    assert!(out.contains(
        "<list xmlns=\"http://example.com/q\"><item xmlns=\"http://example.com/q\" \
         a=\"1&amp;2\">x &lt; y</item></list>"
    ));
}

#[test]
fn error_bodies() {
    let head = "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<d:error xmlns:d=\"DAV:\" \
         xmlns:c=\"urn:ietf:params:xml:ns:caldav\" xmlns:card=\"urn:ietf:params:xml:ns:carddav\" \
         xmlns:cs=\"http://calendarserver.org/ns/\" xmlns:ical=\"http://apple.com/ns/ical/\">";
    assert_eq!(
        text(error_body(&Precondition::ValidCalendarData)),
        format!("{head}<c:valid-calendar-data/></d:error>")
    );
    assert_eq!(
        text(error_body(&Precondition::CalendarNoUidConflict {
            href: "/SOGo/dav/u@example.com/Calendar/personal/x y.ics".into()
        })),
        format!(
            "{head}<c:no-uid-conflict><d:href>/SOGo/dav/u@example.com/Calendar/personal/x%20y.ics\
             </d:href></c:no-uid-conflict></d:error>"
        )
    );
    assert_eq!(
        text(error_body(&Precondition::ValidSyncToken)),
        format!("{head}<d:valid-sync-token/></d:error>")
    );
    assert_eq!(
        text(error_body(&Precondition::AddressbookNoUidConflict {
            href: "/c.vcf".into()
        })),
        format!(
            "{head}<card:no-uid-conflict><d:href>/c.vcf</d:href></card:no-uid-conflict></d:error>"
        )
    );
}
