//! Apple configuration profiles (`.mobileconfig`): an XML property list with one
//! `com.apple.mail.managed` payload that sets up an IMAP or POP account in Apple Mail (iOS,
//! iPadOS, macOS), as Apple's "Mail" payload reference describes it.
//!
//! The profile is unsigned and carries no password: the device asks for it on install. Its
//! UUIDs are passed in ([`ProfileIds`]); nothing here draws random numbers or reads the clock.

use ring::digest::{digest, SHA1_FOR_LEGACY_USE_ONLY};

use super::settings::{EmailAddress, Endpoint, MailSettings, Protocol};
use super::xml::XmlWriter;

const PLIST_DOCTYPE: &str = "<!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" \
                             \"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">";

/// A UUID (RFC 9562) as 16 bytes, written in the lower-case hyphenated form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Uuid([u8; 16]);

impl Uuid {
    /// RFC 9562 §6.6: the name space for URLs.
    pub const NAMESPACE_URL: Uuid = Uuid([
        0x6b, 0xa7, 0xb8, 0x11, 0x9d, 0xad, 0x11, 0xd1, 0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30,
        0xc8,
    ]);

    /// The bytes as they are, whatever their version bits.
    pub fn from_bytes(bytes: [u8; 16]) -> Uuid {
        Uuid(bytes)
    }

    /// A version 4 (random) UUID from 16 random bytes of the caller's (RFC 9562 §5.4: the
    /// version and variant bits are set, the other 122 bits kept).
    pub fn from_random_bytes(mut bytes: [u8; 16]) -> Uuid {
        bytes[6] = (bytes[6] & 0x0f) | 0x40;
        bytes[8] = (bytes[8] & 0x3f) | 0x80;
        Uuid(bytes)
    }

    /// A version 5 (name-based, SHA-1) UUID of `name` in `namespace` (RFC 9562 §5.5): the
    /// same name always gives the same UUID.
    pub fn from_name(namespace: Uuid, name: &str) -> Uuid {
        let mut input = Vec::with_capacity(16 + name.len());
        input.extend_from_slice(&namespace.0);
        input.extend_from_slice(name.as_bytes());
        let hash = digest(&SHA1_FOR_LEGACY_USE_ONLY, &input);
        let mut bytes = [0u8; 16];
        for (out, byte) in bytes.iter_mut().zip(hash.as_ref()) {
            *out = *byte;
        }
        bytes[6] = (bytes[6] & 0x0f) | 0x50;
        bytes[8] = (bytes[8] & 0x3f) | 0x80;
        Uuid(bytes)
    }

    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }
}

impl std::fmt::Display for Uuid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, byte) in self.0.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                f.write_str("-")?;
            }
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

/// The two UUIDs of a profile: the profile's own and its mail payload's. A device that
/// installs a profile whose identifier it already has replaces the old one, and the
/// identifiers are made from these UUIDs, so stable UUIDs per account make a second download
/// replace the first rather than add a second account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProfileIds {
    pub profile: Uuid,
    pub account: Uuid,
}

impl ProfileIds {
    /// Stable UUIDs for `email`'s profile from `hostname` (version 5, in the URL name space).
    pub fn for_account(hostname: &str, email: &EmailAddress) -> ProfileIds {
        let name = |part: &str| format!("ringpost:mobileconfig:{hostname}:{email}:{part}");
        ProfileIds {
            profile: Uuid::from_name(Uuid::NAMESPACE_URL, &name("profile")),
            account: Uuid::from_name(Uuid::NAMESPACE_URL, &name("account")),
        }
    }
}

/// The configuration profile that adds `email`'s account to Apple Mail.
///
/// It names one incoming server ([`MailSettings::preferred_incoming`]: IMAP if offered, else
/// POP; implicit TLS if offered) and one outgoing server
/// ([`MailSettings::preferred_outgoing`]), since the payload has room for one of each.
///
/// `…UseSSL` is `true` for STARTTLS endpoints too: Apple Mail then requires TLS and upgrades
/// with STARTTLS on a port that does not start in TLS, while `false` would let it try a
/// plaintext login, which the server refuses (no credential is accepted without TLS). Since
/// implicit TLS sorts first, a STARTTLS port is named only when the server has no
/// implicit-TLS listener for that protocol.
pub fn apple_mobileconfig(
    settings: &MailSettings,
    email: &EmailAddress,
    ids: ProfileIds,
) -> String {
    let identifier = format!(
        "{}.mailconfig.{}",
        reverse_dns(settings.hostname()),
        ids.profile
    );
    let incoming = settings.preferred_incoming();
    let outgoing = settings.preferred_outgoing();

    let mut doc = XmlWriter::new();
    doc.raw_line(PLIST_DOCTYPE);
    doc.open("plist", &[("version", "1.0")]);
    doc.open("dict", &[]);
    doc.leaf("key", "PayloadContent");
    doc.open("array", &[]);
    doc.open("dict", &[]);
    // Keys in the order Apple's tools write them (sorted), which keeps the output stable.
    string(&mut doc, "EmailAccountDescription", settings.display_name());
    string(
        &mut doc,
        "EmailAccountType",
        match incoming.protocol {
            Protocol::Pop3 => "EmailTypePOP",
            Protocol::Imap | Protocol::Smtp => "EmailTypeIMAP",
        },
    );
    string(&mut doc, "EmailAddress", email.as_str());
    server(&mut doc, "Incoming", settings.hostname(), incoming, email);
    server(&mut doc, "Outgoing", settings.hostname(), outgoing, email);
    boolean(&mut doc, "OutgoingPasswordSameAsIncomingPassword", true);
    string(&mut doc, "PayloadDisplayName", email.as_str());
    string(
        &mut doc,
        "PayloadIdentifier",
        &format!("{identifier}.account"),
    );
    string(&mut doc, "PayloadType", "com.apple.mail.managed");
    string(&mut doc, "PayloadUUID", &ids.account.to_string());
    integer(&mut doc, "PayloadVersion", 1);
    doc.close();
    doc.close();
    string(&mut doc, "PayloadDisplayName", settings.display_name());
    string(&mut doc, "PayloadIdentifier", &identifier);
    boolean(&mut doc, "PayloadRemovalDisallowed", false);
    string(&mut doc, "PayloadType", "Configuration");
    string(&mut doc, "PayloadUUID", &ids.profile.to_string());
    integer(&mut doc, "PayloadVersion", 1);
    doc.finish()
}

/// The `{Incoming,Outgoing}MailServer…` keys of one server (sorted, as the rest).
fn server(
    doc: &mut XmlWriter,
    direction: &str,
    hostname: &str,
    endpoint: Endpoint,
    email: &EmailAddress,
) {
    let key = |name: &str| format!("{direction}MailServer{name}");
    string(doc, &key("Authentication"), "EmailAuthPassword");
    string(doc, &key("HostName"), hostname);
    integer(doc, &key("PortNumber"), endpoint.port);
    boolean(doc, &key("UseSSL"), true);
    string(doc, &key("Username"), email.as_str());
}

fn string(doc: &mut XmlWriter, key: &str, value: &str) {
    doc.leaf("key", key);
    doc.leaf("string", value);
}

fn integer(doc: &mut XmlWriter, key: &str, value: u16) {
    doc.leaf("key", key);
    doc.leaf("integer", &value.to_string());
}

fn boolean(doc: &mut XmlWriter, key: &str, value: bool) {
    doc.leaf("key", key);
    doc.empty(if value { "true" } else { "false" });
}

/// `mail.example.com` → `com.example.mail`, the reverse-DNS style of payload identifiers.
fn reverse_dns(hostname: &str) -> String {
    hostname.rsplit('.').collect::<Vec<_>>().join(".")
}
