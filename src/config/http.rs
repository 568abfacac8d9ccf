//! `[http]`: the HTTPS listeners' limits and timeouts, the web workspace's sessions, and the
//! name mail programs are told to connect to.

use std::time::Duration;

use serde::Deserialize;

use super::{ConfigError, Invalid};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawHttp {
    public_host: Option<String>,
    max_header_bytes: usize,
    max_headers: usize,
    max_target_bytes: usize,
    max_body_bytes: usize,
    idle_secs: u64,
    request_secs: u64,
    workspace: bool,
    dav: bool,
    dav_max_resource_bytes: usize,
    dav_max_objects: usize,
    dav_max_collections: usize,
    session_idle_secs: u64,
    session_max_secs: u64,
    max_sessions: usize,
}

impl Default for RawHttp {
    fn default() -> Self {
        RawHttp {
            public_host: None,
            max_header_bytes: 16 << 10,
            max_headers: 64,
            max_target_bytes: 8 << 10,
            max_body_bytes: 10 << 20,
            idle_secs: 60,
            request_secs: 30,
            workspace: true,
            dav: true,
            dav_max_resource_bytes: 1 << 20,
            dav_max_objects: 50_000,
            dav_max_collections: 100,
            session_idle_secs: 30 * 60,
            session_max_secs: 12 * 3600,
            max_sessions: 100_000,
        }
    }
}

/// `[http]`, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpConfig {
    /// The host name mail programs and browsers are sent to (discovery documents, the
    /// E-Mail-Server page, redirects from plain HTTP); `[server] hostname` when not set.
    pub public_host: String,
    /// The request line and header fields together, at most (431 past it).
    pub max_header_bytes: usize,
    pub max_headers: usize,
    /// The request target, at most (414 past it).
    pub max_target_bytes: usize,
    /// A request body, at most (413 past it).
    pub max_body_bytes: usize,
    /// A keep-alive connection with no request in progress closes after this.
    pub idle: Duration,
    /// From a request's first byte to its last; a slower client gets 408 and is closed.
    pub request: Duration,
    /// Serve the web workspace (sign-in, Settings → Security, Mail → E-Mail-Server).
    pub workspace: bool,
    /// Serve CalDAV/CardDAV at SOGo's URLs.
    pub dav: bool,
    /// The largest calendar object or vCard taken (`max-resource-size`; larger: 403 with
    /// the precondition, RFC 4791 §5.3.2.1, RFC 6352 §6.3.2.1).
    pub dav_max_resource_bytes: usize,
    /// Objects one calendar or address book holds at most (a new one past it: 507).
    pub dav_max_objects: usize,
    /// Calendars plus address books one account has at most (MKCALENDAR/MKCOL past it: 507).
    pub dav_max_collections: usize,
    /// A workspace session ends after this long without a request…
    pub session_idle: Duration,
    /// …and this long after sign-in, whatever happens.
    pub session_max: Duration,
    /// Workspace sessions kept at most in memory (the oldest end first); with the
    /// PostgreSQL account backend they are kept in the database, per account.
    pub max_sessions: usize,
}

pub(super) fn check_http(
    raw: &RawHttp,
    hostname: &str,
    invalid: &Invalid,
) -> Result<HttpConfig, ConfigError> {
    let range = |key: &str, value: u64, min: u64, max: u64| {
        if (min..=max).contains(&value) {
            Ok(())
        } else {
            Err(invalid(
                &format!("http.{key}"),
                format!("{value} is not between {min} and {max}"),
            ))
        }
    };
    range(
        "max_header_bytes",
        raw.max_header_bytes as u64,
        1024,
        1 << 20,
    )?;
    range("max_headers", raw.max_headers as u64, 8, 1000)?;
    range(
        "max_target_bytes",
        raw.max_target_bytes as u64,
        256,
        raw.max_header_bytes as u64,
    )?;
    range("max_body_bytes", raw.max_body_bytes as u64, 1024, 1 << 30)?;
    range("idle_secs", raw.idle_secs, 1, 3600)?;
    range("request_secs", raw.request_secs, 1, 3600)?;
    range("session_idle_secs", raw.session_idle_secs, 60, 7 * 86400)?;
    range(
        "session_max_secs",
        raw.session_max_secs,
        raw.session_idle_secs,
        30 * 86400,
    )?;
    range("max_sessions", raw.max_sessions as u64, 1, 10_000_000)?;
    range(
        "dav_max_resource_bytes",
        raw.dav_max_resource_bytes as u64,
        1024,
        1 << 30,
    )?;
    range("dav_max_objects", raw.dav_max_objects as u64, 1, 10_000_000)?;
    range(
        "dav_max_collections",
        raw.dav_max_collections as u64,
        2,
        10_000,
    )?;
    let public_host = match &raw.public_host {
        None => hostname.to_string(),
        Some(host) => {
            let ok = !host.is_empty()
                && host.len() <= 253
                && host
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
            if !ok {
                return Err(invalid(
                    "http.public_host",
                    format!("{host:?} is not a host name"),
                ));
            }
            host.to_ascii_lowercase()
        }
    };
    Ok(HttpConfig {
        public_host,
        max_header_bytes: raw.max_header_bytes,
        max_headers: raw.max_headers,
        max_target_bytes: raw.max_target_bytes,
        max_body_bytes: raw.max_body_bytes,
        idle: Duration::from_secs(raw.idle_secs),
        request: Duration::from_secs(raw.request_secs),
        workspace: raw.workspace,
        dav: raw.dav,
        // A body past max_body_bytes never arrives (413), so that bounds it too.
        dav_max_resource_bytes: raw.dav_max_resource_bytes.min(raw.max_body_bytes),
        dav_max_objects: raw.dav_max_objects,
        dav_max_collections: raw.dav_max_collections,
        session_idle: Duration::from_secs(raw.session_idle_secs),
        session_max: Duration::from_secs(raw.session_max_secs),
        max_sessions: raw.max_sessions,
    })
}
