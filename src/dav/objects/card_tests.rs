//! vCard validation and addressbook-query text-match over the RFC 6350, RFC 2426 and RFC 6352
//! examples.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;

const LIMITS: CardLimits = CardLimits { max_size: 8192 };

/// RFC 6350 §8, with the UID CardDAV requires.
const RFC6350: &str = "BEGIN:VCARD\r\nVERSION:4.0\r\nUID:urn:uuid:4fbe8971-0bc3-424c-9c26-36c3e1eff6b1\r\n\
FN:Simon Perreault\r\nN:Perreault;Simon;;;ing. jr,M.Sc.\r\nBDAY:--0203\r\n\
ANNIVERSARY:20090808T1430-0500\r\nGENDER:M\r\nLANG;PREF=1:fr\r\nLANG;PREF=2:en\r\n\
ORG;TYPE=work:Viagenie\r\nADR;TYPE=work:;Suite D2-630;2875 Laurier;\r\n Quebec;QC;G1V 2M2;Canada\r\n\
TEL;VALUE=uri;TYPE=\"work,voice\";PREF=1:tel:+1-418-656-9254;ext=102\r\n\
TEL;VALUE=uri;TYPE=\"work,cell,voice,video,text\":tel:+1-418-262-6501\r\n\
EMAIL;TYPE=work:simon.perreault@viagenie.ca\r\nGEO;TYPE=work:geo:46.772673,-71.282945\r\n\
KEY;TYPE=work;VALUE=uri:\r\n http://www.viagenie.ca/simon.perreault/simon.asc\r\nTZ:-0500\r\n\
URL;TYPE=home:http://nomis80.org\r\nEND:VCARD\r\n";

/// RFC 2426 §7, with a UID.
const RFC2426: &str = "BEGIN:vCard\r\nVERSION:3.0\r\nUID:frank-dawson@example.com\r\nFN:Frank Dawson\r\n\
ORG:Lotus Development Corporation\r\nADR;TYPE=WORK,POSTAL,PARCEL:;;6544 Battleford Drive\r\n \
;Raleigh;NC;27613-3502;U.S.A.\r\nTEL;TYPE=VOICE,MSG,WORK:+1-919-676-9515\r\n\
TEL;TYPE=FAX,WORK:+1-919-676-9564\r\nEMAIL;TYPE=INTERNET,PREF:Frank_Dawson@Lotus.com\r\n\
EMAIL;TYPE=INTERNET:fdawson@earthlink.net\r\nURL:http://home.earthlink.net/~fdawson\r\nEND:vCard\r\n";

/// RFC 6352 §8.6.3's matching card.
const DABOO: &str = "BEGIN:VCARD\r\nVERSION:3.0\r\nNICKNAME:me\r\nUID:34222-232@example.com\r\n\
FN:Cyrus Daboo\r\nEMAIL:daboo@example.com\r\nEND:VCARD\r\n";

fn card(body: &str) -> Card {
    validate_vcard(body.as_bytes(), &LIMITS).unwrap()
}

fn text(text: &str, match_type: MatchType) -> TextMatch {
    TextMatch {
        text: text.to_string(),
        collation: Collation::UnicodeCasemap,
        match_type,
        negate: false,
    }
}

fn prop(name: &str, texts: Vec<TextMatch>) -> PropFilter {
    PropFilter {
        name: name.to_string(),
        test: Test::AnyOf,
        is_not_defined: false,
        text_matches: texts,
        param_filters: Vec::new(),
    }
}

fn filter(test: Test, props: Vec<PropFilter>) -> CardFilter {
    CardFilter { test, props }
}

#[test]
fn rfc_examples_validate() {
    let four = card(RFC6350);
    assert_eq!(
        (four.uid.as_str(), four.version),
        (
            "urn:uuid:4fbe8971-0bc3-424c-9c26-36c3e1eff6b1",
            CardVersion::V4
        )
    );
    let three = card(RFC2426);
    assert_eq!(
        (three.uid.as_str(), three.version),
        ("frank-dawson@example.com", CardVersion::V3)
    );
}

#[test]
fn refusals_name_their_precondition() {
    let no_uid = RFC2426.replace("UID:frank-dawson@example.com\r\n", "");
    assert_eq!(
        validate_vcard(no_uid.as_bytes(), &LIMITS).unwrap_err(),
        Invalid::AddressData("no UID")
    );
    let two = format!("{DABOO}{DABOO}");
    assert_eq!(
        validate_vcard(two.as_bytes(), &LIMITS).unwrap_err(),
        Invalid::AddressData("more than one vCard")
    );
    let old = DABOO.replace("VERSION:3.0", "VERSION:2.1");
    assert_eq!(
        validate_vcard(old.as_bytes(), &LIMITS).unwrap_err(),
        Invalid::SupportedAddressData
    );
    assert_eq!(
        validate_vcard(b"BEGIN:VCARD\r\nFN:\xff\r\nEND:VCARD\r\n", &LIMITS).unwrap_err(),
        Invalid::AddressData("not UTF-8")
    );
    assert_eq!(
        validate_vcard(b"garbage", &LIMITS).unwrap_err().element(),
        "valid-address-data"
    );
    let tiny = CardLimits { max_size: 10 };
    let refused = validate_vcard(DABOO.as_bytes(), &tiny).unwrap_err();
    assert_eq!(refused, Invalid::MaxResourceSize(Namespace::CardDav));
    assert_eq!(refused.namespace().uri(), "urn:ietf:params:xml:ns:carddav");
}

/// RFC 6352 §8.6.3: NICKNAME equals "me" (i;unicode-casemap).
#[test]
fn section_8_6_3_nickname_equals_me() {
    let query = filter(
        Test::AnyOf,
        vec![prop("NICKNAME", vec![text("me", MatchType::Equals)])],
    );
    assert!(card_matches(&card(DABOO), &query));
    assert!(!card_matches(&card(RFC2426), &query));
    let upper = filter(
        Test::AnyOf,
        vec![prop("nickname", vec![text("ME", MatchType::Equals)])],
    );
    assert!(card_matches(&card(DABOO), &upper));
}

/// RFC 6352 §8.6.4: FN or EMAIL contains "daboo".
#[test]
fn section_8_6_4_anyof_fn_or_email() {
    let query = filter(
        Test::AnyOf,
        vec![
            prop("FN", vec![text("daboo", MatchType::Contains)]),
            prop("EMAIL", vec![text("daboo", MatchType::Contains)]),
        ],
    );
    assert!(card_matches(&card(DABOO), &query));
    assert!(!card_matches(&card(RFC6350), &query));
    let all = filter(
        Test::AllOf,
        vec![
            prop("FN", vec![text("cyrus", MatchType::StartsWith)]),
            prop("EMAIL", vec![text("example.com", MatchType::EndsWith)]),
        ],
    );
    assert!(card_matches(&card(DABOO), &all));
    let all_but_one = filter(
        Test::AllOf,
        vec![
            prop("FN", vec![text("cyrus", MatchType::StartsWith)]),
            prop("EMAIL", vec![text("example.org", MatchType::EndsWith)]),
        ],
    );
    assert!(!card_matches(&card(DABOO), &all_but_one));
}

#[test]
fn negate_and_is_not_defined() {
    let mut not_me = text("me", MatchType::Equals);
    not_me.negate = true;
    let query = filter(Test::AnyOf, vec![prop("NICKNAME", vec![not_me])]);
    assert!(!card_matches(&card(DABOO), &query));
    let absent = PropFilter {
        is_not_defined: true,
        ..prop("NICKNAME", Vec::new())
    };
    let query = filter(Test::AnyOf, vec![absent]);
    assert!(card_matches(&card(RFC2426), &query));
    assert!(!card_matches(&card(DABOO), &query));
    // An empty prop-filter asks that the property exist.
    let present = filter(Test::AnyOf, vec![prop("GEO", Vec::new())]);
    assert!(card_matches(&card(RFC6350), &present));
    assert!(!card_matches(&card(DABOO), &present));
    // No prop-filter at all matches every card.
    assert!(card_matches(&card(DABOO), &filter(Test::AllOf, Vec::new())));
}

#[test]
fn param_filters_and_folded_values() {
    let cell = PropFilter {
        param_filters: vec![ParamFilter {
            name: "type".to_string(),
            is_not_defined: false,
            text_match: Some(text("cell", MatchType::Equals)),
        }],
        ..prop("TEL", Vec::new())
    };
    assert!(card_matches(
        &card(RFC6350),
        &filter(Test::AnyOf, vec![cell.clone()])
    ));
    assert!(!card_matches(
        &card(RFC2426),
        &filter(Test::AnyOf, vec![cell])
    ));
    // TEL;TYPE=FAX,WORK (3.0 list) and a folded ADR line.
    let fax = PropFilter {
        test: Test::AllOf,
        param_filters: vec![ParamFilter {
            name: "TYPE".to_string(),
            is_not_defined: false,
            text_match: Some(text("fax", MatchType::Equals)),
        }],
        ..prop("TEL", vec![text("9564", MatchType::EndsWith)])
    };
    assert!(card_matches(
        &card(RFC2426),
        &filter(Test::AnyOf, vec![fax])
    ));
    let raleigh = prop(
        "ADR",
        vec![text("Battleford Drive;Raleigh", MatchType::Contains)],
    );
    assert!(card_matches(
        &card(RFC2426),
        &filter(Test::AnyOf, vec![raleigh])
    ));
    let no_pref = PropFilter {
        param_filters: vec![ParamFilter {
            name: "PREF".to_string(),
            is_not_defined: true,
            text_match: None,
        }],
        ..prop("LANG", Vec::new())
    };
    assert!(!card_matches(
        &card(RFC6350),
        &filter(Test::AnyOf, vec![no_pref])
    ));
}

#[test]
fn collations_differ_outside_ascii() {
    let body = DABOO.replace("FN:Cyrus Daboo", "FN:\u{c9}MILE Zola");
    let mut unicode = text("\u{e9}mile", MatchType::StartsWith);
    assert!(card_matches(
        &card(&body),
        &filter(Test::AnyOf, vec![prop("FN", vec![unicode.clone()])])
    ));
    unicode.collation = Collation::AsciiCasemap;
    assert!(!card_matches(
        &card(&body),
        &filter(Test::AnyOf, vec![prop("FN", vec![unicode])])
    ));
    let mut ascii = text("zola", MatchType::EndsWith);
    ascii.collation = Collation::AsciiCasemap;
    assert!(card_matches(
        &card(&body),
        &filter(Test::AnyOf, vec![prop("FN", vec![ascii])])
    ));
}
