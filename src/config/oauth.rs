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
    jwks: PathBuf,
    #[serde(default)]
    username_claim: Option<String>,
    #[serde(default)]
    leeway_secs: Option<u64>,
}

/// `[auth.oauth]`, checked, with the keys loaded.
#[derive(Debug, Clone)]
pub struct OAuthSettings {
    pub config: OAuthConfig,
    pub keys: Arc<Keys>,
    /// Where the keys came from (a reload reads it again).
    pub jwks: PathBuf,
}

impl PartialEq for OAuthSettings {
    fn eq(&self, other: &Self) -> bool {
        self.config == other.config && self.jwks == other.jwks
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
    let jwks = resolve(&raw.jwks);
    let bytes = std::fs::read(&jwks)
        .map_err(|e| invalid("auth.oauth.jwks", format!("{}: {e}", jwks.display())))?;
    let keys = Keys::from_jwks(&bytes)
        .map_err(|e| invalid("auth.oauth.jwks", format!("{}: {e}", jwks.display())))?;
    let mut config = OAuthConfig::new(raw.issuer.trim(), raw.audience.trim());
    config.username_claim = raw
        .username_claim
        .clone()
        .unwrap_or_else(|| DEFAULT_USERNAME_CLAIM.to_string());
    config.leeway_secs = leeway;
    Ok(OAuthSettings {
        config,
        keys: Arc::new(keys),
        jwks,
    })
}
