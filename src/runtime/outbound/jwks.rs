//! An OAuth issuer's signing keys fetched from `[auth.oauth] jwks_url` (its `jwks_uri`) over
//! HTTPS — the same client as MTA-STS policies: the certificate verified against the
//! system's roots and `[outbound] ca_file`, the response bounded (64 KiB), no redirects.
//!
//! The keys are fetched when a token first needs them, again once they are older than
//! `jwks_refresh_secs`, and at once when a token names a key the set does not have (the
//! issuer rotated its keys); never more often than once in ten seconds, so tokens with
//! made-up key ids cannot make the server hammer the issuer. While a fetch fails, the keys fetched last
//! (or those of the `jwks` file, if one is configured) stay in use. Shared by every shard
//! and kept across reloads.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use rustls::pki_types::ServerName;

use crate::config::oauth::OAuthSettings;
use crate::config::OutboundConfig;
use crate::oauth::Keys;
use crate::runtime::net::ShardState;

/// The least time between two fetches.
const RETRY: Duration = Duration::from_secs(10);

/// The keys fetched last, for which URL and when.
#[derive(Default)]
pub struct FetchedKeys {
    keys: RwLock<Option<(String, Arc<Keys>, Instant)>>,
    last_try: Mutex<Option<Instant>>,
    busy: AtomicBool,
}

impl FetchedKeys {
    fn current(&self, url: &str) -> Option<(Arc<Keys>, Instant)> {
        let keys = self.keys.read().unwrap_or_else(PoisonError::into_inner);
        keys.as_ref()
            .filter(|(u, _, _)| u == url)
            .map(|(_, k, at)| (k.clone(), *at))
    }

    /// Whether a fetch may start now (none running, none in the last [`RETRY`]); if so, it
    /// counts as started.
    fn may_try(&self) -> bool {
        let mut last = self.last_try.lock().unwrap_or_else(PoisonError::into_inner);
        if last.is_some_and(|t| t.elapsed() < RETRY) || self.busy.swap(true, Ordering::AcqRel) {
            return false;
        }
        *last = Some(Instant::now());
        true
    }
}

/// The keys to check a token with now: the issuer's fetched ones (fetched first when there
/// are none yet, when they are older than the refresh interval, or — `unknown_key` — when a
/// token named a key they lack), else the `jwks` file's.
pub async fn keys(
    state: &ShardState,
    settings: &OAuthSettings,
    unknown_key: bool,
) -> Option<Arc<Keys>> {
    let Some(url) = &settings.jwks_url else {
        return settings.keys.clone();
    };
    let server = state.server();
    let holder = &server.oauth_keys;
    let have = holder.current(url);
    let stale = have
        .as_ref()
        .is_none_or(|(_, at)| at.elapsed() >= settings.refresh);
    if (stale || unknown_key) && holder.may_try() {
        let fetched = fetch(state, &server.config.outbound, url).await;
        holder.busy.store(false, Ordering::Release);
        match fetched {
            Ok(keys) => {
                tracing::info!(target: "ringpost::auth", url = %url, keys = keys.len(), "OAuth signing keys fetched");
                *holder.keys.write().unwrap_or_else(PoisonError::into_inner) =
                    Some((url.clone(), Arc::new(keys), Instant::now()));
            }
            Err(e) => {
                tracing::warn!(target: "ringpost::auth", url = %url, error = %e, "cannot fetch the OAuth signing keys")
            }
        }
    }
    holder
        .current(url)
        .map(|(k, _)| k)
        .or_else(|| settings.keys.clone())
}

/// `https://host[:port]/path`: host, port and path (IPv6 literals are not taken).
fn split_url(url: &str) -> Result<(String, u16, String), String> {
    let rest = url
        .strip_prefix("https://")
        .ok_or_else(|| format!("{url}: not an https:// URL"))?;
    let (authority, path) = match rest.find('/') {
        Some(at) => (&rest[..at], &rest[at..]),
        None => (rest, "/"),
    };
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) => (h, p.parse().map_err(|_| format!("{url}: bad port"))?),
        None => (authority, 443),
    };
    let clean = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_graphic());
    if !clean(host) || host.contains(['@', '[', ']']) || !clean(path) {
        return Err(format!("{url}: not a plain https://host[:port]/path URL"));
    }
    Ok((host.to_ascii_lowercase(), port, path.to_string()))
}

async fn fetch(state: &ShardState, config: &OutboundConfig, url: &str) -> Result<Keys, String> {
    let (host, port, path) = split_url(url)?;
    let resolver = super::send::resolver_for(state, config);
    let addresses = resolver
        .addresses(&host)
        .await
        .map_err(|e| format!("{host}: {e}"))?;
    let tls = super::send::tls_set(state, config)?;
    let name = ServerName::try_from(host.clone()).map_err(|e| format!("{host}: {e}"))?;
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: ringpost\r\nAccept: application/json\r\n\
         Accept-Encoding: identity\r\nConnection: close\r\n\r\n"
    );
    let read = |received: &[u8], eof: bool| {
        crate::outbound::mta_sts::read_body(received, eof, "application/json")
    };
    let mut last = format!("{host} has no address");
    for ip in addresses {
        let address = std::net::SocketAddr::new(ip, port);
        let got = super::mta_sts::https_get(
            address,
            tls.verified().clone(),
            name.clone(),
            request.as_bytes(),
            config,
            read,
        )
        .await;
        match got {
            Ok(body) => return Keys::from_jwks(&body).map_err(|e| e.to_string()),
            Err(e) => last = format!("{host} [{ip}]: {e}"),
        }
    }
    Err(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_https_urls_are_taken() {
        assert_eq!(
            split_url("https://id.example.com/.well-known/jwks.json"),
            Ok((
                "id.example.com".into(),
                443,
                "/.well-known/jwks.json".into()
            ))
        );
        assert_eq!(
            split_url("https://Localhost:8443"),
            Ok(("localhost".into(), 8443, "/".into()))
        );
        for bad in [
            "http://id.example.com/jwks",
            "https://user@id.example.com/",
            "https://id.example.com:x/",
            "https:///jwks",
            "https://id.example.com/a b",
            "https://[::1]:443/",
        ] {
            assert!(split_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn fetches_are_spaced() {
        let keys = FetchedKeys::default();
        assert!(keys.may_try());
        keys.busy.store(false, Ordering::Release);
        assert!(!keys.may_try(), "again within ten seconds");
    }
}
