//! Tests of the discovery settings, Thunderbird's autoconfig and Apple's profiles, and the
//! helpers every discovery test shares: configurations like the two seed operators'
//! (STARTTLS beside implicit TLS; implicit TLS alone) and an XML tree read back with
//! quick-xml, so documents are compared value by value (exact bytes where the format is the
//! point). Autodiscover's tests are in `autodiscover_tests.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

use quick_xml::events::Event;
use quick_xml::Reader;

use super::*;
use crate::config::Config;

/// The mailcow-style operator: STARTTLS on 143/110/587 beside implicit TLS on 993/995/465,
/// inbound SMTP on 25, a plaintext inbound listener, and 993 bound twice (IPv4 and IPv6).
pub(super) const BOTH: &str = r#"
[server]
hostname = "Mail.Example.COM"
[domains]
local = ["example.com"]
[[listener]]
protocol = "imap"
address = "0.0.0.0:143"
tls = "starttls"
[[listener]]
protocol = "imap"
address = "0.0.0.0:993"
tls = "implicit"
[[listener]]
protocol = "imap"
address = "[::]:993"
tls = "implicit"
[[listener]]
protocol = "pop3"
address = "0.0.0.0:110"
tls = "starttls"
[[listener]]
protocol = "pop3"
address = "0.0.0.0:995"
tls = "implicit"
[[listener]]
protocol = "submission"
address = "0.0.0.0:587"
tls = "starttls"
[[listener]]
protocol = "submission"
address = "0.0.0.0:465"
tls = "implicit"
[[listener]]
protocol = "smtp"
address = "0.0.0.0:25"
tls = "starttls"
[[listener]]
protocol = "smtp"
address = "0.0.0.0:2525"
tls = "none"
"#;

/// The hosted-workspace operator: implicit TLS only.
pub(super) const SSL_ONLY: &str = r#"
[server]
hostname = "mail.souvera.example"
[domains]
local = ["souvera.example"]
[[listener]]
protocol = "smtp"
address = "0.0.0.0:25"
tls = "none"
[[listener]]
protocol = "submission"
address = "0.0.0.0:465"
tls = "implicit"
[[listener]]
protocol = "pop3"
address = "0.0.0.0:995"
tls = "implicit"
[[listener]]
protocol = "imap"
address = "0.0.0.0:993"
tls = "implicit"
"#;

pub(super) fn config(text: &str) -> Config {
    Config::parse(text, Path::new("/etc/ringpost/ringpost.toml")).unwrap()
}

pub(super) fn settings(text: &str, domain: &str) -> MailSettings {
    MailSettings::from_config(&config(text), domain).unwrap()
}

pub(super) fn address(text: &str) -> EmailAddress {
    EmailAddress::parse(text).unwrap()
}

pub(super) fn ep(protocol: Protocol, port: u16, security: Security) -> Endpoint {
    Endpoint {
        protocol,
        port,
        security,
    }
}

use Protocol::{Imap, Pop3, Smtp};
use Security::{Ssl, StartTls};

// ---- an XML tree read back with quick-xml -------------------------------------------------

#[derive(Debug, Default)]
pub(super) struct Element {
    pub(super) name: String,
    attributes: Vec<(String, String)>,
    pub(super) children: Vec<Element>,
    pub(super) text: String,
}

impl Element {
    pub(super) fn child(&self, name: &str) -> &Element {
        self.children
            .iter()
            .find(|c| c.name == name)
            .unwrap_or_else(|| panic!("<{}> has no <{name}>", self.name))
    }

    pub(super) fn all(&self, name: &str) -> Vec<&Element> {
        self.children.iter().filter(|c| c.name == name).collect()
    }

    pub(super) fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// `(name, text)` of every child, in order: the fields of a record element.
    pub(super) fn fields(&self) -> Vec<(&str, &str)> {
        self.children
            .iter()
            .map(|c| (c.name.as_str(), c.text.as_str()))
            .collect()
    }
}

/// The root element of `xml`, with the DOCTYPE (if any) returned beside it.
pub(super) fn tree(xml: &str) -> (Option<String>, Element) {
    let mut reader = Reader::from_str(xml);
    reader.config_mut().enable_all_checks(true);
    let mut stack = vec![Element::default()];
    let mut doctype = None;
    loop {
        match reader.read_event().unwrap() {
            Event::Start(e) => stack.push(element(&e)),
            Event::Empty(e) => {
                let done = element(&e);
                stack.last_mut().unwrap().children.push(done);
            }
            Event::End(_) => {
                let mut done = stack.pop().unwrap();
                if !done.children.is_empty() {
                    // The indentation between child elements.
                    assert!(done.text.trim().is_empty(), "mixed content in {done:?}");
                    done.text.clear();
                }
                stack.last_mut().unwrap().children.push(done);
            }
            Event::Text(t) => stack.last_mut().unwrap().text.push_str(&t.xml10_content()),
            Event::GeneralRef(r) => {
                let c = match &*r {
                    "lt" => '<',
                    "gt" => '>',
                    "amp" => '&',
                    "apos" => '\'',
                    "quot" => '"',
                    _ => r.resolve_char_ref().unwrap().unwrap(),
                };
                stack.last_mut().unwrap().text.push(c);
            }
            Event::DocType(d) => doctype = Some(d.xml10_content().trim().to_string()),
            Event::Decl(_) => {}
            Event::Eof => break,
            other => panic!("unexpected {other:?}"),
        }
    }
    let mut document = stack.pop().unwrap();
    assert!(stack.is_empty());
    assert_eq!(document.children.len(), 1, "one root element");
    (doctype, document.children.remove(0))
}

fn element(start: &quick_xml::events::BytesStart<'_>) -> Element {
    Element {
        name: start.name().as_ref().to_string(),
        attributes: start
            .attributes()
            .map(|a| {
                let a = a.unwrap();
                let key = a.key.as_ref().to_string();
                (
                    key,
                    a.normalized_value(quick_xml::XmlVersion::Implicit1_0)
                        .unwrap()
                        .into_owned(),
                )
            })
            .collect(),
        ..Element::default()
    }
}

/// A plist `<dict>` as `(key, value)`: strings and integers by their text, booleans as
/// `true`/`false`, anything else by its element name.
pub(super) fn dict(element: &Element) -> Vec<(String, String)> {
    assert_eq!(element.name, "dict");
    element
        .children
        .chunks(2)
        .map(|pair| {
            assert_eq!(pair[0].name, "key");
            let value = match pair[1].name.as_str() {
                "string" | "integer" => pair[1].text.clone(),
                other => other.to_string(),
            };
            (pair[0].text.clone(), value)
        })
        .collect()
}

pub(super) fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

// ---- settings -----------------------------------------------------------------------------

#[test]
fn settings_offer_ssl_before_starttls_and_never_inbound_smtp() {
    let s = settings(BOTH, "Example.COM.");
    assert_eq!(s.hostname(), "mail.example.com");
    assert_eq!(s.domain(), "example.com");
    assert_eq!(s.display_name(), "example.com");
    assert_eq!(
        s.endpoints(),
        [
            ep(Imap, 993, Ssl),
            ep(Imap, 143, StartTls),
            ep(Pop3, 995, Ssl),
            ep(Pop3, 110, StartTls),
            ep(Smtp, 465, Ssl),
            ep(Smtp, 587, StartTls),
        ]
    );
    assert_eq!(s.preferred_incoming(), ep(Imap, 993, Ssl));
    assert_eq!(s.preferred_outgoing(), ep(Smtp, 465, Ssl));
}

#[test]
fn settings_of_an_implicit_tls_only_server_have_no_starttls() {
    let s = settings(SSL_ONLY, "souvera.example");
    assert_eq!(
        s.endpoints(),
        [ep(Imap, 993, Ssl), ep(Pop3, 995, Ssl), ep(Smtp, 465, Ssl)]
    );
}

#[test]
fn the_dev_config_advertises_its_listener_ports() {
    let text = include_str!("../../../config/ringpost.toml");
    let s = settings(text, "example.com");
    assert_eq!(s.hostname(), "localhost");
    assert_eq!(
        s.endpoints(),
        [
            ep(Imap, 1993, Ssl),
            ep(Imap, 1143, StartTls),
            ep(Pop3, 1995, Ssl),
            ep(Pop3, 1110, StartTls),
            ep(Smtp, 1465, Ssl),
            ep(Smtp, 1587, StartTls),
        ]
    );
}

#[test]
fn settings_need_an_incoming_and_an_outgoing_endpoint() {
    let only_smtp = [ep(Smtp, 465, Ssl)];
    assert_eq!(
        MailSettings::new("mx.example.com", "example.com", only_smtp),
        Err(DiscoveryError::NoIncomingServer)
    );
    let only_imap = [ep(Imap, 993, Ssl)];
    assert_eq!(
        MailSettings::new("mx.example.com", "example.com", only_imap),
        Err(DiscoveryError::NoOutgoingServer)
    );
    let inbound_only = "[server]\nhostname = \"mx.example.com\"\n[domains]\nlocal = [\"example.com\"]\n\
                        [[listener]]\nprotocol = \"smtp\"\naddress = \"0.0.0.0:25\"\ntls = \"starttls\"\n";
    assert_eq!(
        MailSettings::from_config(&config(inbound_only), "example.com"),
        Err(DiscoveryError::NoIncomingServer)
    );
}

#[test]
fn pop3_alone_is_the_preferred_incoming_endpoint() {
    let s = MailSettings::new(
        "mail.example.com",
        "example.com",
        [ep(Smtp, 587, StartTls), ep(Pop3, 110, StartTls)],
    )
    .unwrap();
    assert_eq!(s.preferred_incoming(), ep(Pop3, 110, StartTls));
    assert_eq!(s.preferred_outgoing(), ep(Smtp, 587, StartTls));
}

#[test]
fn addresses_are_trimmed_and_lower_case() {
    let a = address("  Anna.Schmidt@Example.COM ");
    assert_eq!(a.as_str(), "anna.schmidt@example.com");
    assert_eq!(a.domain(), "example.com");
    assert_eq!(address("\"a@b\"@example.com").domain(), "example.com");
    for bad in [
        "",
        "anna",
        "@example.com",
        "anna@",
        "anna@.example.com",
        "anna@example.com.",
        "anna@example..com",
        "an na@example.com",
        "anna@exa\u{0}mple.com",
    ] {
        assert_eq!(
            EmailAddress::parse(bad),
            Err(DiscoveryError::InvalidEmailAddress),
            "{bad:?}"
        );
    }
    let long = format!("{}@example.com", "a".repeat(243));
    assert_eq!(long.len(), 255);
    assert_eq!(
        EmailAddress::parse(&long),
        Err(DiscoveryError::InvalidEmailAddress)
    );
    assert!(EmailAddress::parse(&long[1..]).is_ok_and(|a| a.as_str().len() == 254));
}

// ---- Thunderbird --------------------------------------------------------------------------

/// `(type, hostname, port, socketType, authentication, username)` of each server element.
fn thunderbird_servers(root: &Element, element: &str) -> Vec<[String; 6]> {
    root.child("emailProvider")
        .all(element)
        .into_iter()
        .map(|server| {
            assert_eq!(
                server.fields().iter().map(|(k, _)| *k).collect::<Vec<_>>(),
                [
                    "hostname",
                    "port",
                    "socketType",
                    "authentication",
                    "username"
                ]
            );
            [
                server.attribute("type").unwrap().to_string(),
                server.child("hostname").text.clone(),
                server.child("port").text.clone(),
                server.child("socketType").text.clone(),
                server.child("authentication").text.clone(),
                server.child("username").text.clone(),
            ]
        })
        .collect()
}

fn row(kind: &str, host: &str, port: u16, socket: &str, user: &str) -> [String; 6] {
    [
        kind.into(),
        host.into(),
        port.to_string(),
        socket.into(),
        "password-cleartext".into(),
        user.into(),
    ]
}

#[test]
fn thunderbird_lists_every_endpoint_in_order() {
    let s = settings(BOTH, "example.com");
    let xml = thunderbird_autoconfig(&s, Some(&address("Anna@Example.com")));
    let (doctype, root) = tree(&xml);
    assert_eq!(doctype, None);
    assert_eq!(root.name, "clientConfig");
    assert_eq!(root.attribute("version"), Some("1.1"));
    let provider = root.child("emailProvider");
    assert_eq!(provider.attribute("id"), Some("example.com"));
    assert_eq!(
        provider.fields()[..3],
        [
            ("domain", "example.com"),
            ("displayName", "example.com"),
            ("displayShortName", "example.com"),
        ]
    );
    let (host, user) = ("mail.example.com", "anna@example.com");
    assert_eq!(
        thunderbird_servers(&root, "incomingServer"),
        [
            row("imap", host, 993, "SSL", user),
            row("imap", host, 143, "STARTTLS", user),
            row("pop3", host, 995, "SSL", user),
            row("pop3", host, 110, "STARTTLS", user),
        ]
    );
    assert_eq!(
        thunderbird_servers(&root, "outgoingServer"),
        [
            row("smtp", host, 465, "SSL", user),
            row("smtp", host, 587, "STARTTLS", user),
        ]
    );
}

#[test]
fn thunderbird_document_of_an_implicit_tls_only_server_is_exact() {
    let s = settings(SSL_ONLY, "souvera.example").with_display_name("Souvera");
    let expected = r#"<?xml version="1.0" encoding="UTF-8"?>
<clientConfig version="1.1">
  <emailProvider id="souvera.example">
    <domain>souvera.example</domain>
    <displayName>Souvera</displayName>
    <displayShortName>Souvera</displayShortName>
    <incomingServer type="imap">
      <hostname>mail.souvera.example</hostname>
      <port>993</port>
      <socketType>SSL</socketType>
      <authentication>password-cleartext</authentication>
      <username>%EMAILADDRESS%</username>
    </incomingServer>
    <incomingServer type="pop3">
      <hostname>mail.souvera.example</hostname>
      <port>995</port>
      <socketType>SSL</socketType>
      <authentication>password-cleartext</authentication>
      <username>%EMAILADDRESS%</username>
    </incomingServer>
    <outgoingServer type="smtp">
      <hostname>mail.souvera.example</hostname>
      <port>465</port>
      <socketType>SSL</socketType>
      <authentication>password-cleartext</authentication>
      <username>%EMAILADDRESS%</username>
    </outgoingServer>
  </emailProvider>
</clientConfig>
"#;
    assert_eq!(thunderbird_autoconfig(&s, None), expected);
}

// ---- escaping -----------------------------------------------------------------------------

const WEIRD: &str = "Müller & Söhne <Mail> \"GmbH\" 'KG' ]]> \u{7}\n";
const WEIRD_READ_BACK: &str = "Müller & Söhne <Mail> \"GmbH\" 'KG' ]]> \u{FFFD}\u{FFFD}";

#[test]
fn a_weird_display_name_is_escaped_in_every_document() {
    let s = settings(BOTH, "example.com").with_display_name(WEIRD);
    let anna = address("anna@example.com");

    let xml = thunderbird_autoconfig(&s, None);
    assert!(xml.contains(
        "<displayName>Müller &amp; Söhne &lt;Mail&gt; &quot;GmbH&quot; &apos;KG&apos; ]]&gt; \u{FFFD}\u{FFFD}</displayName>"
    ));
    let (_, root) = tree(&xml);
    let provider = root.child("emailProvider");
    assert_eq!(provider.child("displayName").text, WEIRD_READ_BACK);
    assert_eq!(provider.child("displayShortName").text, WEIRD_READ_BACK);

    let ids = ProfileIds::for_account(s.hostname(), &anna);
    let (_, plist) = tree(&apple_mobileconfig(&s, &anna, ids));
    let top = dict(plist.child("dict"));
    assert!(top.contains(&("PayloadDisplayName".into(), WEIRD_READ_BACK.into())));
    let account = dict(plist.child("dict").child("array").child("dict"));
    assert!(account.contains(&("EmailAccountDescription".into(), WEIRD_READ_BACK.into())));
}

#[test]
fn an_odd_domain_is_escaped_in_attributes() {
    let s = MailSettings::new(
        "mail.example.com",
        "a\"b<c>&d",
        [ep(Imap, 993, Ssl), ep(Smtp, 465, Ssl)],
    )
    .unwrap();
    let xml = thunderbird_autoconfig(&s, None);
    assert!(xml.contains(r#"<emailProvider id="a&quot;b&lt;c&gt;&amp;d">"#));
    let (_, root) = tree(&xml);
    assert_eq!(
        root.child("emailProvider").attribute("id"),
        Some("a\"b<c>&d")
    );
}

// ---- Apple configuration profile ----------------------------------------------------------

const PROFILE_UUID: [u8; 16] = [
    0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x47, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff,
];

fn fixed_ids() -> ProfileIds {
    ProfileIds {
        profile: Uuid::from_bytes(PROFILE_UUID),
        account: Uuid::from_bytes([0xab; 16]),
    }
}

#[test]
fn the_apple_profile_has_exactly_the_mail_payload() {
    let s = settings(BOTH, "example.com").with_display_name("Example Mail");
    let xml = apple_mobileconfig(&s, &address("Anna@Example.com"), fixed_ids());
    let (doctype, plist) = tree(&xml);
    assert_eq!(
        doctype.as_deref(),
        Some(
            "plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" \"http://www.apple.com/DTDs/PropertyList-1.0.dtd\""
        )
    );
    assert_eq!(plist.name, "plist");
    assert_eq!(plist.attribute("version"), Some("1.0"));
    let top = plist.child("dict");
    let identifier = "com.example.mail.mailconfig.11223344-5566-4777-8899-aabbccddeeff";
    assert_eq!(
        dict(top),
        pairs(&[
            ("PayloadContent", "array"),
            ("PayloadDisplayName", "Example Mail"),
            ("PayloadIdentifier", identifier),
            ("PayloadRemovalDisallowed", "false"),
            ("PayloadType", "Configuration"),
            ("PayloadUUID", "11223344-5566-4777-8899-aabbccddeeff"),
            ("PayloadVersion", "1"),
        ])
    );
    let content = top.child("array");
    assert_eq!(content.children.len(), 1);
    let account_identifier = format!("{identifier}.account");
    assert_eq!(
        dict(&content.children[0]),
        pairs(&[
            ("EmailAccountDescription", "Example Mail"),
            ("EmailAccountType", "EmailTypeIMAP"),
            ("EmailAddress", "anna@example.com"),
            ("IncomingMailServerAuthentication", "EmailAuthPassword"),
            ("IncomingMailServerHostName", "mail.example.com"),
            ("IncomingMailServerPortNumber", "993"),
            ("IncomingMailServerUseSSL", "true"),
            ("IncomingMailServerUsername", "anna@example.com"),
            ("OutgoingMailServerAuthentication", "EmailAuthPassword"),
            ("OutgoingMailServerHostName", "mail.example.com"),
            ("OutgoingMailServerPortNumber", "465"),
            ("OutgoingMailServerUseSSL", "true"),
            ("OutgoingMailServerUsername", "anna@example.com"),
            ("OutgoingPasswordSameAsIncomingPassword", "true"),
            ("PayloadDisplayName", "anna@example.com"),
            ("PayloadIdentifier", &account_identifier),
            ("PayloadType", "com.apple.mail.managed"),
            ("PayloadUUID", "abababab-abab-abab-abab-abababababab"),
            ("PayloadVersion", "1"),
        ])
    );
}

fn account_payload(s: &MailSettings) -> Vec<(String, String)> {
    let xml = apple_mobileconfig(s, &address("anna@example.com"), fixed_ids());
    let (_, plist) = tree(&xml);
    dict(&plist.child("dict").child("array").children[0])
}

#[test]
fn an_apple_profile_without_imap_sets_up_pop_and_starttls_keeps_use_ssl() {
    let s = MailSettings::new(
        "mail.example.com",
        "example.com",
        [ep(Pop3, 110, StartTls), ep(Smtp, 587, StartTls)],
    )
    .unwrap();
    let payload = account_payload(&s);
    for expected in [
        ("EmailAccountType", "EmailTypePOP"),
        ("IncomingMailServerPortNumber", "110"),
        ("IncomingMailServerUseSSL", "true"),
        ("OutgoingMailServerPortNumber", "587"),
        ("OutgoingMailServerUseSSL", "true"),
    ] {
        let expected = (expected.0.to_string(), expected.1.to_string());
        assert!(payload.contains(&expected), "{expected:?} in {payload:?}");
    }
}

#[test]
fn the_implicit_tls_only_profile_uses_993_and_465() {
    let payload = account_payload(&settings(SSL_ONLY, "souvera.example"));
    let ports: Vec<_> = payload
        .iter()
        .filter(|(k, _)| k.ends_with("PortNumber"))
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(ports, ["993", "465"]);
}

#[test]
fn uuids_are_formatted_and_derived_as_rfc_9562_says() {
    assert_eq!(
        Uuid::from_bytes(PROFILE_UUID).to_string(),
        "11223344-5566-4777-8899-aabbccddeeff"
    );
    assert_eq!(
        Uuid::from_random_bytes([0xff; 16]).to_string(),
        "ffffffff-ffff-4fff-bfff-ffffffffffff"
    );
    assert_eq!(
        Uuid::from_random_bytes([0; 16]).to_string(),
        "00000000-0000-4000-8000-000000000000"
    );
    // The version 5 example of Python's uuid module: uuid5(NAMESPACE_DNS, "python.org").
    let namespace_dns = Uuid::from_bytes([
        0x6b, 0xa7, 0xb8, 0x10, 0x9d, 0xad, 0x11, 0xd1, 0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30,
        0xc8,
    ]);
    assert_eq!(
        Uuid::from_name(namespace_dns, "python.org").to_string(),
        "886313e1-3b8a-5372-9b90-0c9aee199e5d"
    );
    assert_eq!(
        Uuid::NAMESPACE_URL.to_string(),
        "6ba7b811-9dad-11d1-80b4-00c04fd430c8"
    );
}

#[test]
fn profile_ids_are_stable_per_account() {
    let anna = address("anna@example.com");
    let ids = ProfileIds::for_account("mail.example.com", &anna);
    assert_eq!(
        ids,
        ProfileIds::for_account("mail.example.com", &address("ANNA@example.com"))
    );
    assert_ne!(ids.profile, ids.account);
    assert_ne!(
        ids,
        ProfileIds::for_account("mail.example.com", &address("bob@example.com"))
    );
    assert_ne!(ids, ProfileIds::for_account("mx.example.com", &anna));
    assert_eq!(ids.profile.as_bytes()[6] >> 4, 5);
}
