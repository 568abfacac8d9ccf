//! `[inbound]`: the checks made on mail arriving on the inbound (port 25) listener: SPF,
//! DKIM, DMARC and ARC, written into an `Authentication-Results:` field, and the policies
//! that may refuse a message on them.

use std::time::Duration;

use serde::Deserialize;

use super::{ConfigError, Invalid};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawInbound {
    auth_checks: bool,
    dmarc_reject: bool,
    spf_reject_fail: bool,
    auth_timeout_secs: u64,
    auth_queue: usize,
}

impl Default for RawInbound {
    fn default() -> Self {
        RawInbound {
            auth_checks: true,
            dmarc_reject: false,
            spf_reject_fail: false,
            auth_timeout_secs: 10,
            auth_queue: 256,
        }
    }
}

/// `[inbound]`, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundConfig {
    /// Check SPF, DKIM, DMARC and ARC on inbound mail and add `Authentication-Results:`.
    pub auth_checks: bool,
    /// Refuse (`550 5.7.1`) a message failing DMARC whose `From:` domain says `p=reject`.
    pub dmarc_reject: bool,
    /// Refuse (`550 5.7.23`) a message whose SPF result is `fail`.
    pub spf_reject_fail: bool,
    /// All of one message's checks; past it they count as `temperror`.
    pub auth_timeout: Duration,
    /// Messages waiting for the auth thread at most; past it a message goes unchecked.
    pub auth_queue: usize,
}

pub(super) fn check_inbound(
    raw: &RawInbound,
    invalid: &Invalid,
) -> Result<InboundConfig, ConfigError> {
    if !(1..=120).contains(&raw.auth_timeout_secs) {
        return Err(invalid(
            "inbound.auth_timeout_secs",
            format!("{} is not between 1 and 120", raw.auth_timeout_secs),
        ));
    }
    if !(1..=100_000).contains(&raw.auth_queue) {
        return Err(invalid(
            "inbound.auth_queue",
            format!("{} is not between 1 and 100000", raw.auth_queue),
        ));
    }
    Ok(InboundConfig {
        auth_checks: raw.auth_checks,
        dmarc_reject: raw.dmarc_reject,
        spf_reject_fail: raw.spf_reject_fail,
        auth_timeout: Duration::from_secs(raw.auth_timeout_secs),
        auth_queue: raw.auth_queue,
    })
}
