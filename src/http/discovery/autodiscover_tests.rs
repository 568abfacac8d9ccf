//! Tests of Outlook's POX autodiscover: the request parser (valid requests, and the refusals:
//! no address, oversized, a DOCTYPE, an undefined entity, malformed XML, ActiveSync's
//! schema) and the response and error documents read back with quick-xml.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::tests::{address, pairs, settings, tree, Element, BOTH, SSL_ONLY};
use super::*;

const OUTLOOK_REQUEST: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006">
  <Request>
    <EMailAddress>Anna.Schmidt@Example.com</EMailAddress>
    <AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema>
  </Request>
</Autodiscover>
"#;

#[test]
fn an_outlook_request_gives_its_address_in_lower_case() {
    assert_eq!(
        parse_autodiscover_request(OUTLOOK_REQUEST.as_bytes()),
        Ok(address("anna.schmidt@example.com"))
    );
    // A byte order mark, a prefix, a reference, no schema and an unknown element are fine.
    let variant = "\u{FEFF}<a:Autodiscover xmlns:a=\"http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006\">\
                   <a:Request><a:LegacyDN>/o=x</a:LegacyDN><a:EMailAddress> anna&#64;example.com&amp;</a:EMailAddress>\
                   </a:Request></a:Autodiscover>";
    assert_eq!(
        parse_autodiscover_request(variant.as_bytes()),
        Ok(address("anna@example.com&"))
    );
    let cdata = "<Autodiscover><Request><EMailAddress><![CDATA[bob@example.com]]></EMailAddress></Request></Autodiscover>";
    assert_eq!(
        parse_autodiscover_request(cdata.as_bytes()),
        Ok(address("bob@example.com"))
    );
}

#[test]
fn a_request_without_an_address_is_refused() {
    for body in [
        "<Autodiscover><Request></Request></Autodiscover>",
        "<Autodiscover><Request><EMailAddress/></Request></Autodiscover>",
        "<Autodiscover><Request><EMailAddress>  </EMailAddress></Request></Autodiscover>",
        // Not where the schema puts it.
        "<Autodiscover><EMailAddress>anna@example.com</EMailAddress></Autodiscover>",
    ] {
        assert_eq!(
            parse_autodiscover_request(body.as_bytes()),
            Err(DiscoveryError::MissingEmailAddress),
            "{body}"
        );
    }
    assert_eq!(
        parse_autodiscover_request(
            b"<Autodiscover><Request><EMailAddress>anna</EMailAddress></Request></Autodiscover>"
        ),
        Err(DiscoveryError::InvalidEmailAddress)
    );
}

#[test]
fn an_oversized_request_is_refused_before_it_is_read() {
    let at_limit = format!(
        "{OUTLOOK_REQUEST}{}",
        " ".repeat(MAX_AUTODISCOVER_REQUEST - OUTLOOK_REQUEST.len())
    );
    assert_eq!(at_limit.len(), MAX_AUTODISCOVER_REQUEST);
    assert!(parse_autodiscover_request(at_limit.as_bytes()).is_ok());
    let over = format!("{at_limit} ");
    assert_eq!(
        parse_autodiscover_request(over.as_bytes()),
        Err(DiscoveryError::RequestTooLarge { limit: 16384 })
    );
    // Not even well-formed: the size is checked first.
    assert_eq!(
        parse_autodiscover_request(&[b'<'; 16385]),
        Err(DiscoveryError::RequestTooLarge { limit: 16384 })
    );
}

#[test]
fn a_doctype_or_an_entity_is_refused() {
    let laughs = "<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [<!ENTITY lol \"lol\"><!ENTITY lol2 \"&lol;&lol;&lol;\">]>\n\
                  <Autodiscover><Request><EMailAddress>&lol2;@example.com</EMailAddress></Request></Autodiscover>";
    assert_eq!(
        parse_autodiscover_request(laughs.as_bytes()),
        Err(DiscoveryError::DocumentType)
    );
    let external = "<!DOCTYPE Autodiscover SYSTEM \"file:///etc/passwd\"><Autodiscover/>";
    assert_eq!(
        parse_autodiscover_request(external.as_bytes()),
        Err(DiscoveryError::DocumentType)
    );
    let undefined =
        "<Autodiscover><Request><EMailAddress>&xxe;</EMailAddress></Request></Autodiscover>";
    assert_eq!(
        parse_autodiscover_request(undefined.as_bytes()),
        Err(DiscoveryError::UnknownEntity("xxe".into()))
    );
}

#[test]
fn malformed_requests_are_refused() {
    for body in [
        &b"<Autodiscover><Request><EMailAddress>a@b.c</EMailAddress></Request>"[..],
        b"<Autodiscover><Request><EMailAddress>a@b.c</Request></Autodiscover>",
        b"<Other><Request><EMailAddress>a@b.c</EMailAddress></Request></Other>",
        b"<Autodiscover/><Autodiscover/>",
        b"<Autodiscover><Request><EMailAddress>a@b.c</EMailAddress><EMailAddress>d@b.c</EMailAddress></Request></Autodiscover>",
        b"<Autodiscover><Request><EMailAddress>a&#0;@b.c</EMailAddress></Request></Autodiscover>",
        b"",
        b"just text",
    ] {
        let result = parse_autodiscover_request(body);
        assert!(
            matches!(result, Err(DiscoveryError::MalformedRequest(_))),
            "{}: {result:?}",
            String::from_utf8_lossy(body)
        );
    }
    assert_eq!(
        parse_autodiscover_request(b"<Autodiscover>\xff</Autodiscover>"),
        Err(DiscoveryError::RequestNotUtf8)
    );
}

#[test]
fn an_activesync_request_is_not_answered_with_outlook_settings() {
    let body = OUTLOOK_REQUEST.replace(
        "outlook/responseschema/2006a",
        "mobilesync/responseschema/2006",
    );
    let error = parse_autodiscover_request(body.as_bytes()).unwrap_err();
    assert_eq!(
        error,
        DiscoveryError::UnsupportedResponseSchema(
            "http://schemas.microsoft.com/exchange/autodiscover/mobilesync/responseschema/2006"
                .into()
        )
    );
    assert_eq!(AutodiscoverErrorCode::of(&error).code(), 601);
}

/// `(Type, Server, Port, LoginName, DomainRequired, SPA, security, AuthRequired)` fields.
fn protocol_fields(protocol: &Element) -> Vec<(String, String)> {
    protocol
        .fields()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn outlook(kind: &str, port: &str, security: (&str, &str)) -> Vec<(String, String)> {
    pairs(&[
        ("Type", kind),
        ("Server", "mail.example.com"),
        ("Port", port),
        ("LoginName", "anna.schmidt@example.com"),
        ("DomainRequired", "off"),
        ("SPA", "off"),
        security,
        ("AuthRequired", "on"),
    ])
}

#[test]
fn the_autodiscover_response_lists_every_endpoint() {
    let s = settings(BOTH, "example.com");
    let email = parse_autodiscover_request(OUTLOOK_REQUEST.as_bytes()).unwrap();
    let (_, root) = tree(&autodiscover_response(&s, &email));
    assert_eq!(root.name, "Autodiscover");
    assert_eq!(
        root.attribute("xmlns"),
        Some("http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006")
    );
    let response = root.child("Response");
    assert_eq!(response.attribute("xmlns"), Some(OUTLOOK_RESPONSE_SCHEMA));
    let account = response.child("Account");
    assert_eq!(
        account.fields()[..2],
        [("AccountType", "email"), ("Action", "settings")]
    );
    let protocols: Vec<_> = account
        .all("Protocol")
        .into_iter()
        .map(protocol_fields)
        .collect();
    let ssl = ("SSL", "on");
    let tls = ("Encryption", "TLS");
    let expected = [
        outlook("IMAP", "993", ssl),
        outlook("IMAP", "143", tls),
        outlook("POP3", "995", ssl),
        outlook("POP3", "110", tls),
        outlook("SMTP", "465", ssl),
        outlook("SMTP", "587", tls),
    ];
    assert_eq!(protocols, expected);
}

#[test]
fn the_autodiscover_response_of_an_implicit_tls_only_server_has_no_encryption_element() {
    let s = settings(SSL_ONLY, "souvera.example");
    let xml = autodiscover_response(&s, &address("anna@souvera.example"));
    assert!(!xml.contains("Encryption"));
    let (_, root) = tree(&xml);
    let account = root.child("Response").child("Account");
    let kinds: Vec<(String, String, String)> = account
        .all("Protocol")
        .into_iter()
        .map(|p| {
            (
                p.child("Type").text.clone(),
                p.child("Port").text.clone(),
                p.child("SSL").text.clone(),
            )
        })
        .collect();
    let row = |t: &str, p: &str| (t.to_string(), p.to_string(), "on".to_string());
    assert_eq!(
        kinds,
        [row("IMAP", "993"), row("POP3", "995"), row("SMTP", "465")]
    );
}

#[test]
fn the_autodiscover_error_response_is_exact() {
    let expected = r#"<?xml version="1.0" encoding="UTF-8"?>
<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006">
  <Response>
    <Error>
      <ErrorCode>600</ErrorCode>
      <Message>Invalid Request</Message>
      <DebugData/>
    </Error>
  </Response>
</Autodiscover>
"#;
    assert_eq!(
        autodiscover_error_response(&DiscoveryError::MissingEmailAddress),
        expected
    );
    let codes: Vec<(u16, &str)> = [
        DiscoveryError::DocumentType,
        DiscoveryError::UnsupportedResponseSchema("x".into()),
        DiscoveryError::NoOutgoingServer,
    ]
    .iter()
    .map(|e| {
        let (_, root) = tree(&autodiscover_error_response(e));
        let error = root.child("Response").child("Error");
        let code = AutodiscoverErrorCode::of(e);
        assert_eq!(error.child("ErrorCode").text, code.code().to_string());
        assert_eq!(error.child("Message").text, code.message());
        (code.code(), code.message())
    })
    .collect();
    assert_eq!(
        codes,
        [
            (600, "Invalid Request"),
            (601, "Provider is not available"),
            (603, "Internal Server Error"),
        ]
    );
}
