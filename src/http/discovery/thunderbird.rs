//! Thunderbird's autoconfig document (`clientConfig` version 1.1, the format of
//! <https://wiki.mozilla.org/Thunderbird:Autoconfiguration:ConfigFileFormat>). Writes XML
//! only; it never reads a request.

use super::settings::{EmailAddress, Endpoint, MailSettings, Protocol, Security};
use super::xml::XmlWriter;

/// Thunderbird's placeholder for the address the user typed.
const EMAIL_PLACEHOLDER: &str = "%EMAILADDRESS%";

/// The autoconfig document for `settings`: every IMAP endpoint, then every POP3 endpoint, as
/// `incomingServer`s and every SMTP endpoint as an `outgoingServer`, SSL before STARTTLS
/// within each (Thunderbird tries them in order).
///
/// With `email` (the `emailaddress` query parameter Thunderbird sends) the user name is that
/// address in lower case; without it, `%EMAILADDRESS%`, which Thunderbird replaces with the
/// address as typed, capitals included.
pub fn thunderbird_autoconfig(settings: &MailSettings, email: Option<&EmailAddress>) -> String {
    let username = email.map_or(EMAIL_PLACEHOLDER, EmailAddress::as_str);
    let mut doc = XmlWriter::new();
    doc.open("clientConfig", &[("version", "1.1")]);
    doc.open("emailProvider", &[("id", settings.domain())]);
    doc.leaf("domain", settings.domain());
    doc.leaf("displayName", settings.display_name());
    doc.leaf("displayShortName", settings.display_name());
    for endpoint in settings.endpoints() {
        let (element, kind) = match endpoint.protocol {
            Protocol::Imap => ("incomingServer", "imap"),
            Protocol::Pop3 => ("incomingServer", "pop3"),
            Protocol::Smtp => ("outgoingServer", "smtp"),
        };
        doc.open(element, &[("type", kind)]);
        server(&mut doc, settings.hostname(), endpoint, username);
        doc.close();
    }
    doc.finish()
}

fn server(doc: &mut XmlWriter, hostname: &str, endpoint: &Endpoint, username: &str) {
    doc.leaf("hostname", hostname);
    doc.leaf("port", &endpoint.port.to_string());
    doc.leaf(
        "socketType",
        match endpoint.security {
            Security::Ssl => "SSL",
            Security::StartTls => "STARTTLS",
        },
    );
    // "password-cleartext": the password as it is (SASL PLAIN, LOGIN, USER/PASS), which the
    // server accepts only inside TLS; every endpoint offered here has TLS.
    doc.leaf("authentication", "password-cleartext");
    doc.leaf("username", username);
}
