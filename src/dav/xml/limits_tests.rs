//! Hostile and malformed bodies: each refused with its error and status, never a panic.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use proptest::prelude::*;

use super::*;

fn propfind(body: &[u8]) -> Result<Propfind, XmlError> {
    parse_propfind(body, &XmlLimits::default())
}

#[test]
fn billion_laughs_is_refused_at_the_doctype() {
    let body = br#"<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<D:propfind xmlns:D="DAV:"><D:prop><D:displayname>&lol3;</D:displayname></D:prop></D:propfind>"#;
    assert_eq!(propfind(body), Err(XmlError::DocumentType));
    assert_eq!(XmlError::DocumentType.status(), 400);
}

#[test]
fn external_entities_are_refused_at_the_doctype() {
    let body = br#"<?xml version="1.0"?>
<!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><D:displayname>&xxe;</D:displayname></D:prop></D:set></D:propertyupdate>"#;
    assert_eq!(
        parse_proppatch(body, &XmlLimits::default()),
        Err(XmlError::DocumentType)
    );
}

#[test]
fn undefined_entities_are_refused() {
    let body = br#"<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><D:displayname>&lol9;</D:displayname></D:prop></D:set></D:propertyupdate>"#;
    assert_eq!(
        parse_proppatch(body, &XmlLimits::default()),
        Err(XmlError::UndefinedEntity("lol9".into()))
    );
    let in_attribute = br#"<C:free-busy-query xmlns:C="urn:ietf:params:xml:ns:caldav"><C:time-range start="&x;"/></C:free-busy-query>"#;
    assert_eq!(
        parse_report(in_attribute, &XmlLimits::default()),
        Err(XmlError::UndefinedEntity("x".into()))
    );
}

#[test]
fn predefined_entities_and_character_references_are_read() {
    let body = br#"<C:calendar-multiget xmlns:C="urn:ietf:params:xml:ns:caldav" xmlns:D="DAV:"><D:href>/a&amp;b&#47;c&#x2e;ics</D:href></C:calendar-multiget>"#;
    let Ok(Report::CalendarMultiget(multiget)) = parse_report(body, &XmlLimits::default()) else {
        panic!("not a multiget");
    };
    assert_eq!(multiget.hrefs, vec!["/a&b/c.ics".to_string()]);
}

#[test]
fn nesting_is_bounded() {
    let limits = XmlLimits::default();
    let nested = |depth: usize| {
        let mut body = String::from(r#"<D:propfind xmlns:D="DAV:"><D:prop>"#);
        for _ in 0..depth.saturating_sub(2) {
            body.push_str("<x>");
        }
        for _ in 0..depth.saturating_sub(2) {
            body.push_str("</x>");
        }
        body.push_str("</D:prop></D:propfind>");
        body
    };
    assert!(matches!(
        propfind(nested(32).as_bytes()),
        Ok(Propfind::Prop(_))
    ));
    assert_eq!(
        propfind(nested(33).as_bytes()),
        Err(XmlError::TooDeep { limit: 32 })
    );
    let small = XmlLimits {
        max_depth: 3,
        ..limits
    };
    assert_eq!(
        parse_propfind(nested(4).as_bytes(), &small),
        Err(XmlError::TooDeep { limit: 3 })
    );
}

#[test]
fn element_count_is_bounded() {
    let many = |n: usize| {
        let mut body = String::from(r#"<D:propfind xmlns:D="DAV:"><D:prop>"#);
        for _ in 0..n {
            body.push_str("<D:getetag/>");
        }
        body.push_str("</D:prop></D:propfind>");
        body
    };
    // Two elements for propfind and prop.
    assert!(propfind(many(9_998).as_bytes()).is_ok());
    assert_eq!(
        propfind(many(9_999).as_bytes()),
        Err(XmlError::TooManyElements { limit: 10_000 })
    );
}

#[test]
fn size_is_bounded() {
    let limits = XmlLimits {
        max_body_bytes: 16,
        ..XmlLimits::default()
    };
    let error = parse_propfind(
        br#"<D:propfind xmlns:D="DAV:"><D:propname/></D:propfind>"#,
        &limits,
    )
    .unwrap_err();
    assert_eq!(error, XmlError::TooLarge { limit: 16 });
    assert_eq!(error.status(), 413);
}

#[test]
fn encodings_other_than_utf8_are_refused() {
    assert_eq!(
        propfind(
            b"<D:propfind xmlns:D=\"DAV:\"><D:prop><D:displayname\xff/></D:prop></D:propfind>"
        ),
        Err(XmlError::NotUtf8)
    );
    let latin1 = br#"<?xml version="1.0" encoding="ISO-8859-1"?><D:propfind xmlns:D="DAV:"><D:propname/></D:propfind>"#;
    let error = propfind(latin1).unwrap_err();
    assert_eq!(error, XmlError::UnsupportedEncoding("ISO-8859-1".into()));
    assert_eq!(error.status(), 415);
    // A byte-order mark and a declared UTF-8 are fine.
    let bom = b"\xEF\xBB\xBF<?xml version=\"1.0\" encoding=\"UTF-8\"?><D:propfind xmlns:D=\"DAV:\"><D:propname/></D:propfind>";
    assert_eq!(propfind(bom), Ok(Propfind::PropName));
}

#[test]
fn malformed_documents_are_400() {
    for body in [
        &b"<D:propfind xmlns:D=\"DAV:\"><D:propname/>"[..],
        b"<D:propfind xmlns:D=\"DAV:\"><D:propname/></D:prop>",
        b"<D:propfind><D:propname/></D:propfind>",
        b"<D:propfind xmlns:D=\"DAV:\"/><D:propfind xmlns:D=\"DAV:\"/>",
        b"text <D:propfind xmlns:D=\"DAV:\"/>",
        b"<D:propfind xmlns:D=\"DAV:\" a=\"1\" a=\"2\"/>",
    ] {
        let error = propfind(body).unwrap_err();
        assert!(matches!(error, XmlError::Malformed(_)), "{error:?}");
        assert_eq!(error.status(), 400);
    }
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(body in proptest::collection::vec(any::<u8>(), 0..512)) {
        let limits = XmlLimits::default();
        let _ = parse_propfind(&body, &limits);
        let _ = parse_proppatch(&body, &limits);
        let _ = parse_mkcol(&body, &limits);
        let _ = parse_mkcalendar(&body, &limits);
        let _ = parse_report(&body, &limits);
    }

    #[test]
    fn xml_like_text_never_panics(body in r#"(<[A-Za-z:]{1,6}( xmlns(:[a-z])?="(DAV:|urn:ietf:params:xml:ns:caldav)")?( name="[A-Z]{0,4}")?/?>|</[A-Za-z:]{1,6}>|&[a-z#0-9]{0,4};|[a-z ]{0,3}){0,24}"#) {
        let limits = XmlLimits::default();
        let _ = parse_propfind(body.as_bytes(), &limits);
        let _ = parse_proppatch(body.as_bytes(), &limits);
        let _ = parse_report(body.as_bytes(), &limits);
    }
}
