//! `[auth.oauth]`: OAuth 2.0 bearer tokens (SASL OAUTHBEARER and XOAUTH2) from one issuer,
//! validated against its signing keys (a JWKS file), read when the configuration is loaded.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;

use super::{ConfigError, Invalid};
use crate::oauth::{Keys, OAuthConfig, DEFAULT_LEEWAY_SECS, DEFAULT_USERNAME_CLAIM};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawOAuth {
    issuer: String,
    audience: String,
    /// The issuer's JWKS document (its `jwks_uri`, saved to a file).
    #[serde(default)]
    jwks: Option<PathBuf>,
    /// Or its `jwks_uri`, fetched (and refreshed every `jwks_refresh_secs`).
    #[serde(default)]
    jwks_url: Option<String>,
    #[serde(default)]
    jwks_refresh_secs: Option<u64>,
    #[serde(default)]
    username_claim: Option<String>,
    #[serde(default)]
    leeway_secs: Option<u64>,
}

/// `[auth.oauth]`, checked, with the keys loaded.
#[derive(Debug, Clone)]
pub struct OAuthSettings {
    pub config: OAuthConfig,
    /// The keys of the `jwks` file, if one is configured.
    pub keys: Option<Arc<Keys>>,
    /// Where the keys came from (a reload reads it again).
    pub jwks: Option<PathBuf>,
    /// The issuer's `jwks_uri`, if configured: its keys come first.
    pub jwks_url: Option<String>,
    /// How old fetched keys may get before they are fetched again.
    pub refresh: std::time::Duration,
}

impl PartialEq for OAuthSettings {
    fn eq(&self, other: &Self) -> bool {
        self.config == other.config
            && self.jwks == other.jwks
            && self.jwks_url == other.jwks_url
            && self.refresh == other.refresh
    }
}

impl Eq for OAuthSettings {}

pub(super) fn check_oauth(
    raw: &RawOAuth,
    resolve: &dyn Fn(&Path) -> PathBuf,
    invalid: &Invalid,
) -> Result<OAuthSettings, ConfigError> {
    if raw.issuer.trim().is_empty() {
        return Err(invalid("auth.oauth.issuer", "must not be empty".into()));
    }
    if raw.audience.trim().is_empty() {
        return Err(invalid("auth.oauth.audience", "must not be empty".into()));
    }
    let leeway = raw.leeway_secs.unwrap_or(DEFAULT_LEEWAY_SECS);
    if leeway > 600 {
        return Err(invalid("auth.oauth.leeway_secs", "at most 600".into()));
    }
    if raw.jwks.is_none() && raw.jwks_url.is_none() {
        return Err(invalid(
            "auth.oauth",
            "needs jwks (a file) or jwks_url (the issuer's jwks_uri)".into(),
        ));
    }
    if let Some(url) = &raw.jwks_url {
        if !url.starts_with("https://") || url.contains(char::is_whitespace) {
            return Err(invalid(
                "auth.oauth.jwks_url",
                format!("{url:?} is not an https:// URL"),
            ));
        }
    }
    let refresh = raw.jwks_refresh_secs.unwrap_or(3600);
    if !(60..=7 * 86_400).contains(&refresh) {
        return Err(invalid(
            "auth.oauth.jwks_refresh_secs",
            "between 60 and 604800".into(),
        ));
    }
    let jwks = raw.jwks.as_deref().map(resolve);
    let keys = match &jwks {
        Some(file) => {
            let bytes = std::fs::read(file)
                .map_err(|e| invalid("auth.oauth.jwks", format!("{}: {e}", file.display())))?;
            Some(Arc::new(Keys::from_jwks(&bytes).map_err(|e| {
                invalid("auth.oauth.jwks", format!("{}: {e}", file.display()))
            })?))
        }
        None => None,
    };
    let mut config = OAuthConfig::new(raw.issuer.trim(), raw.audience.trim());
    config.username_claim = raw
        .username_claim
        .clone()
        .unwrap_or_else(|| DEFAULT_USERNAME_CLAIM.to_string());
    config.leeway_secs = leeway;
    Ok(OAuthSettings {
        config,
        keys,
        jwks,
        jwks_url: raw.jwks_url.clone(),
        refresh: std::time::Duration::from_secs(refresh),
    })
}
