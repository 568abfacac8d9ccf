//! What a mail program needs to know to reach its mailbox: the host name, the endpoints
//! (protocol, port, TLS) and the user name, taken from the configuration's listeners. Plain
//! data: it never looks up DNS, never checks an account and never reads a file.

use crate::config::{self, Config, TlsMode};

use super::DiscoveryError;

/// The protocol a client speaks to an endpoint. SMTP here is always submission: inbound SMTP
/// (port 25) is for other servers and is never offered to clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Protocol {
    Imap,
    Pop3,
    Smtp,
}

impl Protocol {
    /// Whether this is a protocol to read mail with (IMAP, POP3), not to send it.
    pub fn is_incoming(self) -> bool {
        !matches!(self, Protocol::Smtp)
    }
}

/// How a client protects its connection to an endpoint. There is no plaintext variant: no
/// listener that accepts credentials runs without TLS (the config refuses it), and a
/// `tls = "none"` listener is never offered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Security {
    /// TLS from the first byte (993, 995, 465); the clients' "SSL".
    Ssl,
    /// Plaintext first, upgraded with STARTTLS/STLS before any login (143, 110, 587).
    StartTls,
}

/// One place a client can connect to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Endpoint {
    pub protocol: Protocol,
    pub port: u16,
    pub security: Security,
}

impl Endpoint {
    /// The endpoint a listener offers to clients, if it offers one: inbound SMTP, HTTP,
    /// metrics and plaintext listeners offer none.
    pub fn of_listener(listener: &config::Listener) -> Option<Endpoint> {
        let protocol = match listener.protocol {
            config::Protocol::Imap => Protocol::Imap,
            config::Protocol::Pop3 => Protocol::Pop3,
            config::Protocol::Submission => Protocol::Smtp,
            config::Protocol::Smtp | config::Protocol::Http | config::Protocol::Metrics => {
                return None
            }
        };
        let security = match listener.tls {
            TlsMode::Implicit => Security::Ssl,
            TlsMode::Starttls => Security::StartTls,
            TlsMode::None => return None,
        };
        Some(Endpoint {
            protocol,
            port: listener.address.port(),
            security,
        })
    }
}

/// A mail address as the user name clients log in with: trimmed and in lower case, the way
/// accounts are named (the user name is always the full lower-case address).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EmailAddress(String);

/// RFC 5321 §4.5.3.1.3: a path is at most 256 octets, so an address at most 254.
const MAX_ADDRESS_LEN: usize = 254;

impl EmailAddress {
    /// `local@domain`, checked only as far as a configuration document needs: one `@` with
    /// something on both sides, no white space or control characters, at most 254 bytes.
    pub fn parse(text: &str) -> Result<EmailAddress, DiscoveryError> {
        let address = text.trim().to_lowercase();
        let valid = address.len() <= MAX_ADDRESS_LEN
            && !address.contains(|c: char| c.is_whitespace() || c.is_control())
            && match address.rsplit_once('@') {
                Some((local, domain)) => {
                    !local.is_empty()
                        && !domain.is_empty()
                        && !domain.contains('@')
                        && !domain.starts_with('.')
                        && !domain.ends_with('.')
                        && !domain.contains("..")
                }
                None => false,
            };
        if valid {
            Ok(EmailAddress(address))
        } else {
            Err(DiscoveryError::InvalidEmailAddress)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The part after the `@`.
    pub fn domain(&self) -> &str {
        self.0.rsplit_once('@').map_or("", |(_, domain)| domain)
    }
}

impl std::fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Everything the generators write: valid by construction (a host name, a domain, at least
/// one IMAP or POP3 endpoint and at least one SMTP endpoint, in the order clients should try
/// them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailSettings {
    hostname: String,
    domain: String,
    display_name: String,
    endpoints: Vec<Endpoint>,
}

impl MailSettings {
    /// The settings for addresses at `email_domain`, from the configuration: `[http]
    /// public_host` (the server's `hostname` unless set) and one endpoint per listener that
    /// clients may use (see [`Endpoint::of_listener`]).
    ///
    /// The port advertised is the listener's own port: a server behind port forwarding or a
    /// load balancer that changes ports advertises the wrong one. Whether `email_domain` is one of ours is
    /// the caller's question (`Config::is_local_domain`); this does not ask it.
    pub fn from_config(
        config: &Config,
        email_domain: &str,
    ) -> Result<MailSettings, DiscoveryError> {
        MailSettings::new(
            &config.http.public_host,
            email_domain,
            config.listeners.iter().filter_map(Endpoint::of_listener),
        )
    }

    /// Settings from explicit parts. The endpoints are put in the order clients should try
    /// them — IMAP before POP3 before SMTP, SSL before STARTTLS, then by port — and
    /// duplicates (one port on two addresses) are dropped. The display name is the domain
    /// until [`MailSettings::with_display_name`] sets one.
    pub fn new(
        hostname: &str,
        email_domain: &str,
        endpoints: impl IntoIterator<Item = Endpoint>,
    ) -> Result<MailSettings, DiscoveryError> {
        let mut endpoints: Vec<Endpoint> = endpoints.into_iter().collect();
        endpoints.sort_by_key(|e| (e.protocol, e.security, e.port));
        endpoints.dedup();
        if !endpoints.iter().any(|e| e.protocol.is_incoming()) {
            return Err(DiscoveryError::NoIncomingServer);
        }
        if !endpoints.iter().any(|e| e.protocol == Protocol::Smtp) {
            return Err(DiscoveryError::NoOutgoingServer);
        }
        let domain = email_domain.trim().trim_end_matches('.').to_lowercase();
        Ok(MailSettings {
            hostname: hostname.trim().trim_end_matches('.').to_ascii_lowercase(),
            display_name: domain.clone(),
            domain,
            endpoints,
        })
    }

    /// The name clients show for the provider (Thunderbird's displayName, the profile's name).
    pub fn with_display_name(mut self, name: &str) -> MailSettings {
        self.display_name = name.to_string();
        self
    }

    /// The host name clients connect to.
    pub fn hostname(&self) -> &str {
        &self.hostname
    }

    /// The mail domain these settings are for, in lower case.
    pub fn domain(&self) -> &str {
        &self.domain
    }

    pub fn display_name(&self) -> &str {
        &self.display_name
    }

    /// Every endpoint, in the order clients should try them.
    pub fn endpoints(&self) -> &[Endpoint] {
        &self.endpoints
    }

    /// The endpoints of one protocol, SSL first.
    pub fn endpoints_for(&self, protocol: Protocol) -> impl Iterator<Item = &Endpoint> {
        self.endpoints
            .iter()
            .filter(move |e| e.protocol == protocol)
    }

    /// The one incoming endpoint a single-account document names: IMAP if there is any, else
    /// POP3; SSL before STARTTLS.
    pub fn preferred_incoming(&self) -> Endpoint {
        // Construction guarantees an incoming endpoint, and the sort puts it first.
        self.endpoints[0]
    }

    /// The one SMTP endpoint a single-account document names: SSL before STARTTLS.
    pub fn preferred_outgoing(&self) -> Endpoint {
        self.endpoints_for(Protocol::Smtp)
            .next()
            .copied()
            // Construction guarantees an SMTP endpoint; this fallback is never taken.
            .unwrap_or(self.endpoints[0])
    }
}
