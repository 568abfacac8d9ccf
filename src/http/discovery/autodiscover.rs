//! Outlook's POX ("plain old XML") autodiscover: the request Outlook posts to
//! `/autodiscover/autodiscover.xml` and the `outlook/responseschema/2006a` answer for an IMAP,
//! POP3 and SMTP account ([MS-OXDSCLI] and Exchange's "POX Autodiscover" reference).
//!
//! The request parser is bounded: at most [`MAX_AUTODISCOVER_REQUEST`] bytes, UTF-8 only, and
//! a document type declaration refuses the request, so no entity is ever defined, let alone
//! expanded. It never reads more than the body it is given, and the response never names
//! anything about the server beyond the settings.

use quick_xml::events::{BytesRef, Event};
use quick_xml::Reader;

use super::settings::{EmailAddress, MailSettings, Protocol, Security};
use super::xml::XmlWriter;
use super::DiscoveryError;
use crate::http::xml_ref::Unresolved;

/// The largest request body read: Outlook's requests are a few hundred bytes.
pub const MAX_AUTODISCOVER_REQUEST: usize = 16 * 1024;

/// The namespace of the `Autodiscover` element of every response.
const RESPONSE_NAMESPACE: &str =
    "http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006";

/// The response schema this module answers with, and the one a request must accept (its
/// `AcceptableResponseSchema`) when it names one.
pub const OUTLOOK_RESPONSE_SCHEMA: &str =
    "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a";

/// The error codes of an autodiscover error response ([MS-OXDSCLI], the `Error` element's
/// `ErrorCode`: 600 to 603).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AutodiscoverErrorCode {
    /// 600: the request is not a well-formed autodiscover request.
    InvalidRequest,
    /// 601: the requested response schema is not offered (an ActiveSync client asking for
    /// `mobilesync/responseschema/2006`).
    ProviderNotAvailable,
    /// 603: the server cannot answer (it has no endpoint to offer).
    InternalError,
}

impl AutodiscoverErrorCode {
    /// The code for `error`: the one place discovery errors become autodiscover errors.
    pub fn of(error: &DiscoveryError) -> AutodiscoverErrorCode {
        match error {
            DiscoveryError::RequestTooLarge { .. }
            | DiscoveryError::RequestNotUtf8
            | DiscoveryError::MalformedRequest(_)
            | DiscoveryError::DocumentType
            | DiscoveryError::UnknownEntity(_)
            | DiscoveryError::MissingEmailAddress
            | DiscoveryError::InvalidEmailAddress => AutodiscoverErrorCode::InvalidRequest,
            DiscoveryError::UnsupportedResponseSchema(_) => {
                AutodiscoverErrorCode::ProviderNotAvailable
            }
            DiscoveryError::NoIncomingServer | DiscoveryError::NoOutgoingServer => {
                AutodiscoverErrorCode::InternalError
            }
        }
    }

    pub fn code(self) -> u16 {
        match self {
            AutodiscoverErrorCode::InvalidRequest => 600,
            AutodiscoverErrorCode::ProviderNotAvailable => 601,
            AutodiscoverErrorCode::InternalError => 603,
        }
    }

    /// The `Message` Exchange sends with the code.
    pub fn message(self) -> &'static str {
        match self {
            AutodiscoverErrorCode::InvalidRequest => "Invalid Request",
            AutodiscoverErrorCode::ProviderNotAvailable => "Provider is not available",
            AutodiscoverErrorCode::InternalError => "Internal Server Error",
        }
    }
}

/// Where the parser is in the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    EmailAddress,
    ResponseSchema,
}

/// The `EMailAddress` of an autodiscover request
/// (`<Autodiscover xmlns="…/outlook/requestschema/2006"><Request><EMailAddress>…`), in lower
/// case.
///
/// Elements are matched by local name, whatever their prefix or namespace; unknown elements
/// (`LegacyDN`) are skipped. An `AcceptableResponseSchema`, when present, must be
/// [`OUTLOOK_RESPONSE_SCHEMA`].
pub fn parse_autodiscover_request(body: &[u8]) -> Result<EmailAddress, DiscoveryError> {
    if body.len() > MAX_AUTODISCOVER_REQUEST {
        return Err(DiscoveryError::RequestTooLarge {
            limit: MAX_AUTODISCOVER_REQUEST,
        });
    }
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    let text = std::str::from_utf8(body).map_err(|_| DiscoveryError::RequestNotUtf8)?;
    let mut reader = Reader::from_str(text);
    reader.config_mut().enable_all_checks(true);

    let mut path: Vec<String> = Vec::new();
    let mut seen_root = false;
    let mut field: Option<Field> = None;
    let mut email: Option<String> = None;
    let mut schema: Option<String> = None;
    loop {
        let event = reader
            .read_event()
            .map_err(|e| DiscoveryError::MalformedRequest(e.to_string()))?;
        match event {
            Event::Start(start) | Event::Empty(start) if seen_root && path.is_empty() => {
                let name = start.local_name().as_ref().to_string();
                return Err(DiscoveryError::MalformedRequest(format!(
                    "a second root element <{name}>"
                )));
            }
            Event::Start(start) => {
                let name = start.local_name().as_ref().to_string();
                seen_root = true;
                path.push(name);
                field = open_field(&path, &mut email, &mut schema)?;
            }
            Event::Empty(start) => {
                let name = start.local_name().as_ref().to_string();
                seen_root = true;
                path.push(name);
                open_field(&path, &mut email, &mut schema)?;
                path.pop();
                field = None;
            }
            Event::End(_) => {
                path.pop();
                field = None;
            }
            Event::Text(text) => append(field, &mut email, &mut schema, &text.xml10_content()),
            Event::CData(data) => append(field, &mut email, &mut schema, &data.xml10_content()),
            Event::GeneralRef(reference) => {
                let c = resolve(&reference)?;
                append(field, &mut email, &mut schema, c.encode_utf8(&mut [0; 4]));
            }
            Event::DocType(_) => return Err(DiscoveryError::DocumentType),
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
            Event::Eof => break,
        }
        if path.first().is_some_and(|root| root != "Autodiscover") {
            return Err(DiscoveryError::MalformedRequest(
                "the root element is not Autodiscover".into(),
            ));
        }
    }
    if !path.is_empty() || !seen_root {
        return Err(DiscoveryError::MalformedRequest(
            "the document ends inside an element".into(),
        ));
    }
    if let Some(schema) = schema {
        let schema = schema.trim();
        if schema != OUTLOOK_RESPONSE_SCHEMA {
            return Err(DiscoveryError::UnsupportedResponseSchema(
                schema.to_string(),
            ));
        }
    }
    match email {
        Some(email) if !email.trim().is_empty() => EmailAddress::parse(&email),
        _ => Err(DiscoveryError::MissingEmailAddress),
    }
}

/// The field the element just opened at `path` starts, if any; a second one of the same kind
/// is malformed.
fn open_field(
    path: &[String],
    email: &mut Option<String>,
    schema: &mut Option<String>,
) -> Result<Option<Field>, DiscoveryError> {
    let (field, slot, name) = match path {
        [root, request, leaf] if root == "Autodiscover" && request == "Request" => {
            match leaf.as_str() {
                "EMailAddress" => (Field::EmailAddress, email, "EMailAddress"),
                "AcceptableResponseSchema" => {
                    (Field::ResponseSchema, schema, "AcceptableResponseSchema")
                }
                _ => return Ok(None),
            }
        }
        _ => return Ok(None),
    };
    if slot.is_some() {
        return Err(DiscoveryError::MalformedRequest(format!("a second {name}")));
    }
    *slot = Some(String::new());
    Ok(Some(field))
}

fn append(field: Option<Field>, email: &mut Option<String>, schema: &mut Option<String>, s: &str) {
    let slot = match field {
        Some(Field::EmailAddress) => email,
        Some(Field::ResponseSchema) => schema,
        None => return,
    };
    if let Some(value) = slot {
        value.push_str(s);
    }
}

/// An entity reference in a request (see [`crate::http::xml_ref`]).
fn resolve(reference: &BytesRef<'_>) -> Result<char, DiscoveryError> {
    crate::http::xml_ref::resolve(reference).map_err(|e| match e {
        Unresolved::BadCharRef(text) => DiscoveryError::MalformedRequest(text),
        Unresolved::Undefined(name) => DiscoveryError::UnknownEntity(name),
    })
}

/// The autodiscover answer for `email`: one `Protocol` per endpoint, in the order of
/// [`MailSettings::endpoints`] (Outlook takes the first of each type).
///
/// Implicit TLS is `<SSL>on</SSL>`; STARTTLS is `<Encryption>TLS</Encryption>`, which
/// overrides `SSL` ([MS-OXDSCLI], the `Protocol` element). `SSL` is left out there because its
/// default is `on`, which a client ignorant of `Encryption` would take for implicit TLS on a
/// STARTTLS port either way. `SPA` (NTLM) is off: the password goes in the clear over TLS.
pub fn autodiscover_response(settings: &MailSettings, email: &EmailAddress) -> String {
    let mut doc = XmlWriter::new();
    doc.open("Autodiscover", &[("xmlns", RESPONSE_NAMESPACE)]);
    doc.open("Response", &[("xmlns", OUTLOOK_RESPONSE_SCHEMA)]);
    doc.open("Account", &[]);
    doc.leaf("AccountType", "email");
    doc.leaf("Action", "settings");
    for endpoint in settings.endpoints() {
        doc.open("Protocol", &[]);
        doc.leaf(
            "Type",
            match endpoint.protocol {
                Protocol::Imap => "IMAP",
                Protocol::Pop3 => "POP3",
                Protocol::Smtp => "SMTP",
            },
        );
        doc.leaf("Server", settings.hostname());
        doc.leaf("Port", &endpoint.port.to_string());
        doc.leaf("LoginName", email.as_str());
        doc.leaf("DomainRequired", "off");
        doc.leaf("SPA", "off");
        match endpoint.security {
            Security::Ssl => doc.leaf("SSL", "on"),
            Security::StartTls => doc.leaf("Encryption", "TLS"),
        }
        doc.leaf("AuthRequired", "on");
        doc.close();
    }
    doc.finish()
}

/// The autodiscover error response for `error` (served with HTTP 200, as Exchange does). The
/// `Error` element's `Time` and `Id` attributes are left out (they would need the clock and
/// name the server), and `DebugData` is empty: the reply never says more than the code.
pub fn autodiscover_error_response(error: &DiscoveryError) -> String {
    let code = AutodiscoverErrorCode::of(error);
    let mut doc = XmlWriter::new();
    doc.open("Autodiscover", &[("xmlns", RESPONSE_NAMESPACE)]);
    doc.open("Response", &[]);
    doc.open("Error", &[]);
    doc.leaf("ErrorCode", &code.code().to_string());
    doc.leaf("Message", code.message());
    doc.empty("DebugData");
    doc.finish()
}
