//! PROPFIND, PROPPATCH, MKCOL and MKCALENDAR bodies as typed values.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;

fn limits() -> XmlLimits {
    XmlLimits::default()
}

#[test]
fn an_empty_propfind_is_allprop() {
    assert_eq!(
        parse_propfind(b"", &limits()),
        Ok(Propfind::AllProp { include: vec![] })
    );
    assert_eq!(
        parse_propfind(b" \r\n", &limits()),
        Ok(Propfind::AllProp { include: vec![] })
    );
}

/// RFC 4918 §9.1.3 and §9.1.6: prop lists with a foreign namespace, allprop with include,
/// propname.
#[test]
fn propfind_forms() {
    let prop = br#"<?xml version="1.0" encoding="utf-8" ?>
     <D:propfind xmlns:D="DAV:" xmlns:A="http://apple.com/ns/ical/"
                 xmlns:CS="http://calendarserver.org/ns/">
       <D:prop><D:resourcetype/><D:displayname/><CS:getctag/><A:calendar-color/>
       <R:bigbox xmlns:R="http://ns.example.com/boxschema/"/></D:prop>
     </D:propfind>"#;
    assert_eq!(
        parse_propfind(prop, &limits()),
        Ok(Propfind::Prop(vec![
            PropName::ResourceType,
            PropName::DisplayName,
            PropName::GetCtag,
            PropName::CalendarColor,
            PropName::Other {
                ns: "http://ns.example.com/boxschema/".into(),
                local: "bigbox".into()
            },
        ]))
    );
    let include = br#"<D:propfind xmlns:D="DAV:"><D:allprop/><D:include>
       <C:supported-calendar-component-set xmlns:C="urn:ietf:params:xml:ns:caldav"/>
       </D:include></D:propfind>"#;
    assert_eq!(
        parse_propfind(include, &limits()),
        Ok(Propfind::AllProp {
            include: vec![PropName::SupportedCalendarComponentSet]
        })
    );
    let names = br#"<propfind xmlns="DAV:"><propname/></propfind>"#;
    assert_eq!(parse_propfind(names, &limits()), Ok(Propfind::PropName));
}

#[test]
fn propfind_without_a_request_or_with_a_wrong_root_is_400() {
    for body in [
        &br#"<D:propfind xmlns:D="DAV:"/>"#[..],
        br#"<D:propertyupdate xmlns:D="DAV:"/>"#,
        br#"<propfind><prop/></propfind>"#,
    ] {
        let error = parse_propfind(body, &limits()).unwrap_err();
        assert!(matches!(error, XmlError::Invalid(_)), "{error:?}");
        assert_eq!(error.status(), 400);
    }
}

/// RFC 4918 §9.2.2, with Apple's colour and an escaped display name: values are kept as
/// sent, instructions in order.
#[test]
fn proppatch_keeps_order_and_bytes() {
    let body = br#"<?xml version="1.0" encoding="utf-8" ?>
     <D:propertyupdate xmlns:D="DAV:" xmlns:Z="http://ns.example.com/standards/z39.50/">
       <D:set><D:prop><D:displayname>Work &amp; more</D:displayname>
         <x:calendar-color xmlns:x="http://apple.com/ns/ical/">#FF0000FF</x:calendar-color>
         <Z:Authors><Z:Author>Jim Whitehead</Z:Author><Z:Author>Roy Fielding</Z:Author></Z:Authors>
       </D:prop></D:set>
       <D:remove><D:prop><Z:Copyright-Owner/></D:prop></D:remove>
     </D:propertyupdate>"#;
    let z = "http://ns.example.com/standards/z39.50/";
    assert_eq!(
        parse_proppatch(body, &limits()),
        Ok(Proppatch {
            updates: vec![
                PropertyUpdate::Set(PropertyValue {
                    name: PropName::DisplayName,
                    value: RawXml::from_stored(b"Work &amp; more".to_vec()),
                }),
                PropertyUpdate::Set(PropertyValue {
                    name: PropName::CalendarColor,
                    value: RawXml::from_stored(b"#FF0000FF".to_vec()),
                }),
                PropertyUpdate::Set(PropertyValue {
                    name: PropName::Other {
                        ns: z.into(),
                        local: "Authors".into()
                    },
                    // Elements carry their own namespace, whatever the request's prefixes.
                    value: RawXml::from_stored(
                        format!(
                            "<Author xmlns=\"{z}\">Jim Whitehead</Author>\
                             <Author xmlns=\"{z}\">Roy Fielding</Author>"
                        )
                        .into_bytes()
                    ),
                }),
                PropertyUpdate::Remove(PropName::Other {
                    ns: z.into(),
                    local: "Copyright-Owner".into()
                }),
            ]
        })
    );
}

/// RFC 4791 §5.3.1.2: MKCALENDAR with a display name, components and a time zone.
#[test]
fn mkcalendar_sets_its_properties() {
    let body = br#"<?xml version="1.0" encoding="utf-8" ?>
   <C:mkcalendar xmlns:D="DAV:"
                 xmlns:C="urn:ietf:params:xml:ns:caldav">
     <D:set>
       <D:prop>
         <D:displayname>Lisa's Events</D:displayname>
         <C:calendar-description xml:lang="en"
   >Calendar restricted to events.</C:calendar-description>
         <C:supported-calendar-component-set>
           <C:comp name="VEVENT"/>
         </C:supported-calendar-component-set>
       </D:prop>
     </D:set>
   </C:mkcalendar>"#;
    let mkcol = parse_mkcalendar(body, &limits()).expect("mkcalendar");
    assert_eq!(mkcol.resource_type, vec![]);
    assert_eq!(mkcol.components, Some(vec!["VEVENT".to_string()]));
    assert_eq!(
        mkcol.properties,
        vec![
            PropertyValue {
                name: PropName::DisplayName,
                value: RawXml::from_stored(b"Lisa's Events".to_vec()),
            },
            PropertyValue {
                name: PropName::CalendarDescription,
                value: RawXml::from_stored(b"Calendar restricted to events.".to_vec()),
            },
            PropertyValue {
                name: PropName::SupportedCalendarComponentSet,
                value: RawXml::from_stored(
                    b"<comp xmlns=\"urn:ietf:params:xml:ns:caldav\" name=\"VEVENT\"/>".to_vec()
                ),
            },
        ]
    );
    assert_eq!(parse_mkcalendar(b"", &limits()), Ok(Mkcol::default()));
}

/// RFC 5689 §5.1: an extended MKCOL names the kind of collection in its resourcetype.
#[test]
fn extended_mkcol_names_its_resource_type() {
    let body = br#"<?xml version="1.0" encoding="utf-8" ?>
   <D:mkcol xmlns:D="DAV:" xmlns:E="urn:ietf:params:xml:ns:carddav">
     <D:set><D:prop>
       <D:resourcetype><D:collection/><E:addressbook/></D:resourcetype>
       <D:displayname>Lisa's Contacts</D:displayname>
     </D:prop></D:set>
   </D:mkcol>"#;
    let mkcol = parse_mkcol(body, &limits()).expect("mkcol");
    assert_eq!(
        mkcol.resource_type,
        vec![ResourceType::Collection, ResourceType::Addressbook]
    );
    assert_eq!(mkcol.components, None);
    assert_eq!(mkcol.properties.len(), 2);
    assert_eq!(parse_mkcol(b"", &limits()), Ok(Mkcol::default()));
}
