//! Mail client self-configuration: the documents a mail program fetches to learn the server
//! name, ports and TLS for an address, written from [`MailSettings`].
//!
//! - [`thunderbird_autoconfig`]: Thunderbird's autoconfig XML (also read by K-9/Thunderbird
//!   for Android, Evolution, KMail), served at
//!   `https://autoconfig.<domain>/mail/config-v1.1.xml?emailaddress=…` and
//!   `/.well-known/autoconfig/mail/config-v1.1.xml`.
//! - [`parse_autodiscover_request`], [`autodiscover_response`], [`autodiscover_error_response`]:
//!   Outlook's POX autodiscover, the answer to a `POST /autodiscover/autodiscover.xml`.
//! - [`apple_mobileconfig`]: an Apple configuration profile (an XML property list) that sets up
//!   the account in Apple Mail on iOS and macOS.
//!
//! Pure functions: bytes or settings in, a `String` out. Nothing here reads the clock, a
//! socket, a file or a random source (profile UUIDs are passed in, see [`ProfileIds`]), checks
//! whether an account exists, or carries a password. Serving the documents (routes, status,
//! `Content-Type`) is the HTTP layer's.
//!
//! Every document offers only endpoints that log in over TLS (implicit TLS before STARTTLS),
//! with the password mechanism in the clear over that TLS and the full lower-case address as
//! the user name.

mod apple;
mod autodiscover;
mod settings;
mod thunderbird;
mod xml;

#[cfg(test)]
mod autodiscover_tests;
#[cfg(test)]
mod tests;

pub use apple::{apple_mobileconfig, ProfileIds, Uuid};
pub use autodiscover::{
    autodiscover_error_response, autodiscover_response, parse_autodiscover_request,
    AutodiscoverErrorCode, MAX_AUTODISCOVER_REQUEST, OUTLOOK_RESPONSE_SCHEMA,
};
pub use settings::{EmailAddress, Endpoint, MailSettings, Protocol, Security};
pub use thunderbird::thunderbird_autoconfig;

/// Why a discovery document cannot be made. Request errors are the client's; the HTTP layer
/// answers them (for autodiscover with [`autodiscover_error_response`]) and goes on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DiscoveryError {
    /// The autodiscover request body is larger than [`MAX_AUTODISCOVER_REQUEST`].
    #[error("request body larger than {limit} bytes")]
    RequestTooLarge { limit: usize },
    /// The request body is not UTF-8 (the only encoding Outlook sends).
    #[error("request body is not UTF-8")]
    RequestNotUtf8,
    /// The request is not well-formed XML, or not an autodiscover request.
    #[error("malformed request: {0}")]
    MalformedRequest(String),
    /// The request has a document type declaration; none is needed and none is read, so no
    /// entity is ever defined or expanded.
    #[error("request has a DOCTYPE")]
    DocumentType,
    /// A reference to an entity other than XML's five and character references.
    #[error("request refers to the undefined entity &{0};")]
    UnknownEntity(String),
    /// The request has no `Request/EMailAddress`.
    #[error("request has no EMailAddress")]
    MissingEmailAddress,
    /// The client asks for a response schema other than Outlook's (ActiveSync's mobilesync).
    #[error("response schema {0} is not offered")]
    UnsupportedResponseSchema(String),
    /// The address is not `local@domain`.
    #[error("invalid email address")]
    InvalidEmailAddress,
    /// The configuration has no IMAP or POP3 listener that clients may use.
    #[error("no IMAP or POP3 listener with TLS")]
    NoIncomingServer,
    /// The configuration has no submission listener that clients may use.
    #[error("no submission listener with TLS")]
    NoOutgoingServer,
}
