//! MTA-STS, SMTP MTA Strict Transport Security (RFC 8461), without IO or a clock: the
//! `_mta-sts` TXT record (§3.1), the policy file (§3.2) and its HTTPS fetch as bytes (§3.3),
//! the policy cache's decisions (§5.1), and what a policy means for the MX hosts a message
//! may go to (§4, §5).
//!
//! MTA-STS lets a domain say "my MX hosts are these, and they all do TLS with a certificate
//! valid for their name": DNS alone cannot say it safely (an attacker on the path can strip
//! STARTTLS or forge the MX records), so the policy comes over HTTPS from a host whose
//! certificate is checked, and is cached so that an attacker who later blocks the lookups
//! cannot make it disappear.
//!
//! The runtime does the IO with these pieces:
//!
//! 1. look up the TXT records at [`txt_name`] and pick the STS record with [`sts_record`]
//!    (no record, or a failed lookup, is `None`);
//! 2. ask [`decide`] what the cached entry (if any) and that record mean now;
//! 3. to fetch, connect to [`policy_host`] on port 443, do TLS with the certificate verified
//!    for that name (§3.3), send [`request`], feed what arrives to [`read_response`] until it
//!    is done (and [`read_response_at_eof`] when the server closes), and keep the policy as
//!    [`Cached::new`];
//! 4. ask [`plan`] which MX hosts may be tried, and with which [`Requirement`].
//!
//! Times are Unix seconds, passed in.

use std::borrow::Cow;
use std::fmt;

/// The largest `max_age` a policy may give (§3.2): about one year.
pub const MAX_AGE_LIMIT: u32 = 31_557_600;

/// The largest policy body read. §3.3 lets a sender bound the body, to no less than 64 KB;
/// real policies are a few hundred bytes.
pub const MAX_POLICY_BYTES: usize = 64 * 1024;

/// The largest HTTP response header (status line and fields) read.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

/// The most bytes of one response that are ever looked at: the header, the body, and room
/// for the chunked encoding's framing and trailers. A caller that stops reading once
/// [`read_response`] is done never buffers more than this and one read.
pub const MAX_RESPONSE_BYTES: usize = MAX_HEADER_BYTES + 2 * MAX_POLICY_BYTES;

/// A cached policy at least this old is fetched again while it is still applied (see
/// [`Decision::UseCached`]); a policy with a short `max_age` is refreshed after half of it.
pub const REFRESH_AFTER: i64 = 86_400;

// ---------------------------------------------------------------------------------------
// §3.1: the TXT record
// ---------------------------------------------------------------------------------------

/// The domain's STS TXT record (§3.1). What matters in it is the policy's `id`: it changes
/// whenever the policy does, so a sender with a cached policy of the same id need not fetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StsRecord {
    /// 1 to 32 ASCII letters and digits.
    pub id: String,
}

/// The name whose TXT records announce a policy: `_mta-sts.<domain>`.
pub fn txt_name(domain: &str) -> String {
    format!("_mta-sts.{}", bare(domain))
}

/// The STS record among the TXT records found at [`txt_name`] (each record's
/// character-strings already joined, as [`super::dns::Answer::Txt`] has them).
///
/// Records that do not begin with `v=STSv1` followed by `;` (blanks allowed before it, as
/// the ABNF's `sts-field-delim` has them) or the end are not STS records and are set aside.
/// If not exactly one is left, or it is invalid, there is no policy (§3.1: "If the number
/// of resulting records is not one, or if the resulting record is syntactically invalid,
/// senders MUST assume the recipient domain does not have an available MTA-STS Policy").
/// A cached policy outlives that: see [`decide`].
///
/// Within the record, blanks around `;` and `=` are allowed, fields other than `id` are
/// ignored (they are extensions, §3.1), and of two `id` fields the first counts, as for
/// every non-repeated field (§3.2). The record is valid when it has an `id` of 1 to 32
/// letters and digits. Being lenient about anything else can only make a policy be
/// found, never lose one, which is the safe direction.
pub fn sts_record<S: AsRef<str>>(txt: &[S]) -> Option<StsRecord> {
    let mut sts = txt.iter().map(AsRef::as_ref).filter(|t| is_sts(t));
    match (sts.next(), sts.next()) {
        (Some(only), None) => parse_record(only),
        _ => None,
    }
}

const WSP: [char; 2] = [' ', '\t'];

/// Whether a TXT record is an STS record (valid or not): `v=STSv1`, exactly, then `;` or
/// the end.
fn is_sts(text: &str) -> bool {
    text.strip_prefix("v=STSv1").is_some_and(|rest| {
        let rest = rest.trim_start_matches(WSP);
        rest.is_empty() || rest.starts_with(';')
    })
}

fn parse_record(text: &str) -> Option<StsRecord> {
    let mut id = None;
    // The first field is `v=STSv1`, which `is_sts` checked.
    for field in text.split(';').skip(1) {
        let field = field.trim_matches(WSP);
        let Some((key, value)) = field.split_once('=') else {
            // The final `;`, or a field we would ignore anyway.
            continue;
        };
        if key.trim_end_matches(WSP) == "id" && id.is_none() {
            let value = value.trim_start_matches(WSP);
            let valid =
                (1..=32).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_alphanumeric());
            if !valid {
                return None;
            }
            id = Some(value.to_string());
        }
    }
    id.map(|id| StsRecord { id })
}

// ---------------------------------------------------------------------------------------
// §3.2: the policy
// ---------------------------------------------------------------------------------------

/// What the domain asks of senders (§5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Deliver only to MX hosts the policy names, over TLS with a valid certificate.
    Enforce,
    /// Deliver as without a policy, but report what enforcing would have refused (TLSRPT).
    Testing,
    /// No policy: how a domain withdraws one (§8.3).
    None,
}

impl Mode {
    /// The name the policy file uses.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Enforce => "enforce",
            Mode::Testing => "testing",
            Mode::None => "none",
        }
    }
}

/// An `mx:` line of a policy (§3.2, matched as §4.1 says): a host name, or `*.` and a
/// domain for any host exactly one label below it. Kept in lower case without a final dot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MxPattern {
    wildcard: bool,
    domain: String,
}

impl MxPattern {
    /// `mail.example.com` or `*.example.net` (a final dot is allowed and dropped).
    pub fn parse(text: &str) -> Result<MxPattern, PolicyError> {
        let bad = || PolicyError::BadMx(excerpt(text));
        let (wildcard, name) = match text.strip_prefix("*.") {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let name = bare(name);
        if !valid_name(name) {
            return Err(bad());
        }
        Ok(MxPattern {
            wildcard,
            domain: name.to_ascii_lowercase(),
        })
    }

    /// Whether the MX host `host` matches (§4.1): the same name, or for `*.example.com` a
    /// name with exactly one more label on the left (`a.example.com`, not `example.com`, not
    /// `a.b.example.com`). Case does not matter, nor a final dot.
    pub fn matches(&self, host: &str) -> bool {
        let host = bare(host);
        if self.wildcard {
            match host.split_once('.') {
                Some((label, parent)) => {
                    !label.is_empty() && parent.eq_ignore_ascii_case(&self.domain)
                }
                None => false,
            }
        } else {
            host.eq_ignore_ascii_case(&self.domain)
        }
    }

    pub fn is_wildcard(&self) -> bool {
        self.wildcard
    }
}

impl fmt::Display for MxPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.wildcard {
            f.write_str("*.")?;
        }
        f.write_str(&self.domain)
    }
}

/// A domain's policy, as its policy file says it (§3.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub mode: Mode,
    /// The MX hosts allowed, in the file's order; empty only with [`Mode::None`].
    pub mx: Vec<MxPattern>,
    /// How long the policy may be cached and applied, in seconds (at most
    /// [`MAX_AGE_LIMIT`]).
    pub max_age: u32,
}

/// Why a policy file is not a policy. Any of these means the fetch failed (§3.3).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("the policy is over {MAX_POLICY_BYTES} bytes")]
    TooLarge,
    #[error("the policy is not UTF-8")]
    NotUtf8,
    #[error("the policy has no `version: STSv1` line")]
    MissingVersion,
    #[error("unknown policy version {0:?} (expected STSv1)")]
    BadVersion(String),
    #[error("the policy has no `mode` line")]
    MissingMode,
    #[error("unknown policy mode {0:?} (expected enforce, testing or none)")]
    BadMode(String),
    #[error("the policy has no `max_age` line")]
    MissingMaxAge,
    #[error("bad max_age {0:?} (expected seconds, at most {MAX_AGE_LIMIT})")]
    BadMaxAge(String),
    #[error("the policy names no mx host (required unless the mode is none)")]
    NoMx,
    #[error("bad mx pattern {0:?}")]
    BadMx(String),
}

impl Policy {
    /// Read a policy file (§3.2): `key: value` lines ending in CRLF or LF.
    ///
    /// - `version: STSv1`, `mode` (`enforce`, `testing` or `none`) and `max_age` (seconds,
    ///   0 to [`MAX_AGE_LIMIT`], at most 10 digits) are required; `mx` is required at least
    ///   once unless the mode is `none`.
    /// - Keys and the version and mode values are case-sensitive, as the ABNF's `%s"…"`
    ///   strings are. Blanks around keys and values are trimmed.
    /// - Of a repeated `version`, `mode` or `max_age` the first counts and the others are
    ///   ignored, as §3.2 says of every field but `mx` (the only one that repeats): a later
    ///   line never overrides an earlier one, nor makes the policy invalid.
    /// - Unknown keys are ignored (extensions), and so are blank lines and lines without a
    ///   `:`, which the ABNF does not allow but which cannot change what the policy says.
    ///   A bad `mx` value makes the whole policy invalid: which hosts it meant is unknown.
    /// - Over [`MAX_POLICY_BYTES`] is an error, whatever the content.
    pub fn parse(body: &[u8]) -> Result<Policy, PolicyError> {
        if body.len() > MAX_POLICY_BYTES {
            return Err(PolicyError::TooLarge);
        }
        let text = std::str::from_utf8(body).map_err(|_| PolicyError::NotUtf8)?;
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut version = None;
        let mut mode = None;
        let mut max_age = None;
        let mut mx = Vec::new();
        for line in text.split('\n') {
            let line = line.strip_suffix('\r').unwrap_or(line);
            let Some((key, value)) = line.split_once(':') else {
                continue;
            };
            let value = value.trim();
            match key.trim_matches(WSP) {
                "version" => {
                    version.get_or_insert(value);
                }
                "mode" => {
                    mode.get_or_insert(value);
                }
                "max_age" => {
                    max_age.get_or_insert(value);
                }
                "mx" => mx.push(MxPattern::parse(value)?),
                _ => {}
            }
        }
        match version {
            None => return Err(PolicyError::MissingVersion),
            Some("STSv1") => {}
            Some(other) => return Err(PolicyError::BadVersion(excerpt(other))),
        }
        let mode = match mode {
            None => return Err(PolicyError::MissingMode),
            Some("enforce") => Mode::Enforce,
            Some("testing") => Mode::Testing,
            Some("none") => Mode::None,
            Some(other) => return Err(PolicyError::BadMode(excerpt(other))),
        };
        let max_age = max_age.ok_or(PolicyError::MissingMaxAge)?;
        let max_age = seconds(max_age).ok_or_else(|| PolicyError::BadMaxAge(excerpt(max_age)))?;
        if mx.is_empty() && mode != Mode::None {
            return Err(PolicyError::NoMx);
        }
        Ok(Policy { mode, mx, max_age })
    }

    /// Whether the policy allows `host` as an MX host (§4.1): it matches one of the `mx`
    /// patterns. The mode is not considered: see [`plan`].
    pub fn permits(&self, host: &str) -> bool {
        self.mx.iter().any(|p| p.matches(host))
    }
}

/// `max_age`'s value: 1 to 10 digits (the ABNF's `1*10(DIGIT)`: no sign, no blanks inside),
/// at most [`MAX_AGE_LIMIT`].
fn seconds(text: &str) -> Option<u32> {
    if !(1..=10).contains(&text.len()) || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse::<u32>().ok().filter(|n| *n <= MAX_AGE_LIMIT)
}

// ---------------------------------------------------------------------------------------
// §5.1, §3.3, §10.2: the cache
// ---------------------------------------------------------------------------------------

/// A policy as the sender keeps it between deliveries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cached {
    pub policy: Policy,
    /// The `id` of the TXT record the policy was fetched for.
    pub id: String,
    /// When it was fetched.
    pub fetched: i64,
    /// When it stops applying: `fetched + max_age`.
    pub expires: i64,
}

impl Cached {
    /// The entry for `policy`, fetched at `fetched` for the TXT record's `id`.
    pub fn new(policy: Policy, id: impl Into<String>, fetched: i64) -> Cached {
        let expires = fetched.saturating_add(i64::from(policy.max_age));
        Cached {
            policy,
            id: id.into(),
            fetched,
            expires,
        }
    }

    /// Whether the policy still applies at `now` (its `max_age` has not run out).
    pub fn is_fresh(&self, now: i64) -> bool {
        now < self.expires
    }

    /// The policy, unless its mode is `none` (which is no policy).
    fn active(&self) -> Option<&Policy> {
        (self.policy.mode != Mode::None).then_some(&self.policy)
    }

    /// Whether to fetch the policy again although its id has not changed, so that it is
    /// renewed before it expires: once it is [`REFRESH_AFTER`] old, or half its lifetime
    /// for a short `max_age`.
    fn refresh_due(&self, now: i64) -> bool {
        let lifetime = self.expires.saturating_sub(self.fetched);
        now.saturating_sub(self.fetched) >= REFRESH_AFTER.min(lifetime / 2)
    }
}

/// What to do about a domain's policy before delivering to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision<'a> {
    /// Apply the cached policy as it is. With `refresh`, also fetch it again (the message
    /// need not wait for that): it is some time since it was fetched, and renewing it before
    /// it expires narrows the window in which blocked lookups could make it vanish (§10.2).
    /// A failed refresh changes nothing; the runtime should not try again at every message.
    UseCached { policy: &'a Policy, refresh: bool },
    /// Fetch the policy (§3.3): there is no unexpired cached one, or the TXT record's id
    /// differs from the cached one's (the policy changed). A fetched policy replaces the
    /// cached one ([`Cached::new`]) and applies. If the fetch fails, `fallback` applies: the
    /// cached policy while it has not expired (§3.3: a valid cached policy MUST be applied
    /// when no live one can be had), or none. Fetches that keep failing may be rate-limited
    /// by the runtime (§3.3 allows it); this decision would ask again at every message.
    Fetch { fallback: Option<&'a Policy> },
    /// Deliver as if the domain had no policy.
    NoPolicy,
}

/// What a domain's policy means at `now`, given the cached entry (if any) and the STS
/// record found now ([`sts_record`]; `None` when there is none or the lookup failed: §3.1
/// and §5.1 treat both alike, as the absence of a live policy).
///
/// - An unexpired cached policy applies while the record has its id, and also when there
///   is no record: its absence is not enough to drop a cached policy (§3.1, §5.1), or an
///   attacker could drop it by blocking one DNS answer (§10.2). A domain withdraws its
///   policy by publishing `mode: none` under a new id (§8.3).
/// - A record with a new id means fetching, with the cached policy to fall back on.
/// - Without an unexpired cached policy, a record means fetching, and no record means no
///   policy.
/// - A policy of mode `none` is no policy, cached or fetched.
pub fn decide<'a>(
    cached: Option<&'a Cached>,
    record: Option<&StsRecord>,
    now: i64,
) -> Decision<'a> {
    match (cached.filter(|c| c.is_fresh(now)), record) {
        (Some(c), Some(r)) if r.id != c.id => Decision::Fetch {
            fallback: c.active(),
        },
        (Some(c), _) => match c.active() {
            Some(policy) => Decision::UseCached {
                policy,
                // Refreshing needs the record's id to file the new policy under.
                refresh: record.is_some() && c.refresh_due(now),
            },
            None => Decision::NoPolicy,
        },
        (None, Some(_)) => Decision::Fetch { fallback: None },
        (None, None) => Decision::NoPolicy,
    }
}

// ---------------------------------------------------------------------------------------
// §4, §5: what a policy means for delivery
// ---------------------------------------------------------------------------------------

/// What a connection to an MX host must achieve for the message to go there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requirement {
    /// As without a policy: STARTTLS when offered, the certificate unchecked.
    None,
    /// Enforce mode (§4.2, §5): STARTTLS, and a certificate valid (PKIX, from a trusted
    /// root) for the MX host's name; if either fails, this host is skipped (no plaintext
    /// retry) and the next one tried.
    VerifiedTls,
    /// Testing mode (§5): deliver as with [`Requirement::None`], but a failure that
    /// [`Requirement::VerifiedTls`] would have refused is worth reporting (log, TLSRPT);
    /// it is never acted on.
    ReportTls,
}

/// An MX host to try, and what the connection must achieve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub host: String,
    pub requirement: Requirement,
}

/// Which MX hosts a message may go to under a policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// Try these hosts in this order. `would_fail`: in testing mode, why enforcing would
    /// have refused hosts that are tried all the same, for the log; empty otherwise.
    Try {
        targets: Vec<Target>,
        would_fail: Vec<String>,
    },
    /// An enforced policy permits none of the MX hosts: defer the message (a temporary
    /// failure, never a bounce: the MX records or the policy may be fixed, and §5.1 wants a
    /// new policy checked for before a message fails), for `reason`.
    Defer { reason: String },
}

/// The hosts to try, from the MX hosts in preference order (as [`super::route::route`]
/// gives them) and the policy that applies (`None` for none; a policy of mode `none` is
/// none too).
///
/// - `enforce`: only the hosts the policy permits (§4.1), each with
///   [`Requirement::VerifiedTls`]; if it permits none, [`Plan::Defer`]. When every
///   permitted host then fails its TLS requirement, the message is deferred as well.
/// - `testing`: every host, the permitted ones with [`Requirement::ReportTls`], the others
///   with [`Requirement::None`] and a line in `would_fail`.
pub fn plan<S: AsRef<str>>(hosts: &[S], policy: Option<&Policy>) -> Plan {
    let hosts = hosts.iter().map(AsRef::as_ref);
    let Some(policy) = policy.filter(|p| p.mode != Mode::None) else {
        return Plan::Try {
            targets: hosts.map(|h| target(h, Requirement::None)).collect(),
            would_fail: Vec::new(),
        };
    };
    match policy.mode {
        Mode::Enforce => {
            let all: Vec<&str> = hosts.collect();
            let targets: Vec<Target> = all
                .iter()
                .filter(|h| policy.permits(h))
                .map(|h| target(h, Requirement::VerifiedTls))
                .collect();
            if targets.is_empty() {
                let reason = if all.is_empty() {
                    "MTA-STS policy (enforce): no MX host to check against it".to_string()
                } else {
                    format!(
                        "MTA-STS policy (enforce) permits none of the MX hosts {} (mx: {})",
                        list(&all),
                        list(&policy.mx)
                    )
                };
                return Plan::Defer { reason };
            }
            Plan::Try {
                targets,
                would_fail: Vec::new(),
            }
        }
        // (`none` was handled above.)
        Mode::Testing | Mode::None => {
            let mut targets = Vec::new();
            let mut would_fail = Vec::new();
            for host in hosts {
                if policy.permits(host) {
                    targets.push(target(host, Requirement::ReportTls));
                } else {
                    would_fail.push(format!(
                        "MTA-STS policy (testing): MX host {host} is not permitted (mx: {})",
                        list(&policy.mx)
                    ));
                    targets.push(target(host, Requirement::None));
                }
            }
            Plan::Try {
                targets,
                would_fail,
            }
        }
    }
}

fn target(host: &str, requirement: Requirement) -> Target {
    Target {
        host: host.to_string(),
        requirement,
    }
}

/// Up to five items, comma-separated, and how many more: a policy may name many hosts, and
/// the reason goes into logs and delay reports.
fn list<T: fmt::Display>(items: &[T]) -> String {
    const SHOWN: usize = 5;
    let mut text = items
        .iter()
        .take(SHOWN)
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    if items.len() > SHOWN {
        text.push_str(&format!(" and {} more", items.len() - SHOWN));
    }
    text
}

// ---------------------------------------------------------------------------------------
// §3.3: fetching the policy over HTTPS, as bytes
// ---------------------------------------------------------------------------------------

/// Why a policy fetch failed (§3.3: for any reason, the fetch failed, and the cached policy
/// or none applies).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    #[error("not a domain name: {0:?}")]
    BadDomain(String),
    #[error("malformed HTTP response: {0}")]
    Malformed(String),
    #[error("the HTTP response header is over {MAX_HEADER_BYTES} bytes")]
    HeaderTooLarge,
    #[error("HTTP {0}: redirects are not followed (RFC 8461 §3.3)")]
    Redirect(u16),
    #[error("HTTP {0} {1} (expected 200)")]
    Status(u16, String),
    #[error("Content-Type {0} is not the one asked for")]
    ContentType(String),
    #[error("unsupported {0}")]
    Unsupported(String),
    #[error("bad Content-Length {0:?}")]
    ContentLength(String),
    #[error("malformed chunked body: {0}")]
    Chunked(&'static str),
    #[error("the policy is over {MAX_POLICY_BYTES} bytes")]
    BodyTooLarge,
    #[error("the HTTP response is over {MAX_RESPONSE_BYTES} bytes")]
    ResponseTooLarge,
    #[error("the connection closed before the end of the response ({0} bytes received)")]
    Truncated(usize),
    #[error("invalid policy: {0}")]
    Policy(#[from] PolicyError),
}

/// The host serving `domain`'s policy, `mta-sts.<domain>` (§3.3), in lower case without a
/// final dot: where to connect, the TLS server name, and the name the certificate must be
/// valid for. An error for anything but a plain host name, so that nothing odd reaches the
/// request.
pub fn policy_host(domain: &str) -> Result<String, FetchError> {
    let name = bare(domain);
    let host = format!("mta-sts.{}", name.to_ascii_lowercase());
    if !valid_name(name) || host.len() > 253 {
        return Err(FetchError::BadDomain(excerpt(domain)));
    }
    Ok(host)
}

/// The policy request for `domain` (§3.3): `GET /.well-known/mta-sts.txt` from
/// [`policy_host`], to be sent over TLS with the certificate verified for that name. The
/// connection is closed after the one response, and no compression is asked for.
pub fn request(domain: &str) -> Result<Vec<u8>, FetchError> {
    let host = policy_host(domain)?;
    Ok(format!(
        "GET /.well-known/mta-sts.txt HTTP/1.1\r\n\
         Host: {host}\r\n\
         User-Agent: ringpost\r\n\
         Accept: text/plain\r\n\
         Accept-Encoding: identity\r\n\
         Connection: close\r\n\
         \r\n"
    )
    .into_bytes())
}

/// Where reading the response stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// Read more and call again with everything received so far.
    NeedMore,
    /// The fetch is over: the policy, or why not. Stop reading.
    Done(Result<Policy, FetchError>),
}

/// Read the response to [`request`] from everything received so far (the whole of it,
/// from its first byte: nothing is kept between calls).
///
/// The status must be 200: a redirect is an error naming its status, as 3xx MUST NOT be
/// followed (§3.3). `Content-Type` must be `text/plain`, parameters allowed (§3.2). The
/// body ends by `Content-Length`, or by `Transfer-Encoding: chunked` (which wins over a
/// `Content-Length`, as RFC 9112 §6.3 says), or when the server closes the connection: then
/// [`read_response_at_eof`] gives the result. A header over [`MAX_HEADER_BYTES`], a body
/// over [`MAX_POLICY_BYTES`] or a response over [`MAX_RESPONSE_BYTES`] is an error as soon
/// as it shows, so the caller never buffers without bound. Bytes after the body are
/// ignored.
pub fn read_response(received: &[u8]) -> Progress {
    match body(received, false, "text/plain") {
        Ok(None) => Progress::NeedMore,
        Ok(Some(body)) => Progress::Done(Policy::parse(&body).map_err(FetchError::from)),
        Err(e) => Progress::Done(Err(e)),
    }
}

/// The result once the server has closed the connection, with everything received: the
/// policy if the response was complete (or ends at the close), else why not.
pub fn read_response_at_eof(received: &[u8]) -> Result<Policy, FetchError> {
    match body(received, true, "text/plain")? {
        Some(body) => Ok(Policy::parse(&body)?),
        None => Err(FetchError::Truncated(received.len())),
    }
}

/// The body of another small document fetched the same way (an OAuth issuer's JWKS,
/// `application/json`): as [`read_response`] reads a policy, with the same bounds (a body
/// of at most [`MAX_POLICY_BYTES`]), for the media type `media`. `None` while more is needed
/// (`eof`: the connection is closed, so a body without a length ends here).
pub fn read_body(received: &[u8], eof: bool, media: &str) -> Result<Option<Vec<u8>>, FetchError> {
    match body(received, eof, media)? {
        Some(b) => Ok(Some(b.into_owned())),
        None if eof => Err(FetchError::Truncated(received.len())),
        None => Ok(None),
    }
}

/// The body, once complete; `None` while more is needed. `eof`: the connection is closed,
/// so a body without a length ends here.
fn body<'a>(
    received: &'a [u8],
    eof: bool,
    media: &str,
) -> Result<Option<Cow<'a, [u8]>>, FetchError> {
    let found = framed_body(received, eof, media)?;
    if found.is_none() && received.len() > MAX_RESPONSE_BYTES {
        // Only chunk framing or trailers can get here: the header and the body have their
        // own bounds.
        return Err(FetchError::ResponseTooLarge);
    }
    Ok(found)
}

fn framed_body<'a>(
    received: &'a [u8],
    eof: bool,
    media: &str,
) -> Result<Option<Cow<'a, [u8]>>, FetchError> {
    let mut fields = [httparse::EMPTY_HEADER; 64];
    let mut response = httparse::Response::new(&mut fields);
    let head = match response.parse(received) {
        Ok(httparse::Status::Complete(head)) => head,
        Ok(httparse::Status::Partial) if received.len() > MAX_HEADER_BYTES => {
            return Err(FetchError::HeaderTooLarge)
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(FetchError::Malformed(e.to_string())),
    };
    if head > MAX_HEADER_BYTES {
        return Err(FetchError::HeaderTooLarge);
    }
    match response.code {
        Some(200) => {}
        Some(code @ 300..=399) => return Err(FetchError::Redirect(code)),
        Some(code) => {
            return Err(FetchError::Status(
                code,
                excerpt(response.reason.unwrap_or_default()),
            ))
        }
        None => return Err(FetchError::Malformed("no status".into())),
    }
    let framing = framing(response.headers, media)?;
    let rest = received.get(head..).unwrap_or_default();
    match framing {
        Framing::Chunked => dechunk(rest).map(|b| b.map(Cow::Owned)),
        Framing::Length(length) => Ok(rest.get(..length).map(Cow::Borrowed)),
        Framing::Close if rest.len() > MAX_POLICY_BYTES => Err(FetchError::BodyTooLarge),
        Framing::Close => Ok(eof.then_some(Cow::Borrowed(rest))),
    }
}

/// How the body's end is known.
enum Framing {
    Chunked,
    Length(usize),
    Close,
}

/// Check the fields that matter and say how the body is framed.
fn framing(fields: &[httparse::Header<'_>], expected: &str) -> Result<Framing, FetchError> {
    let values = |name: &'static str| {
        fields
            .iter()
            .filter(move |f| f.name.eq_ignore_ascii_case(name))
            .map(|f| String::from_utf8_lossy(f.value).trim().to_string())
    };
    let mut types = values("Content-Type").peekable();
    if types.peek().is_none() {
        return Err(FetchError::ContentType("missing".into()));
    }
    for value in types {
        let media = value.split(';').next().unwrap_or_default().trim();
        if !media.eq_ignore_ascii_case(expected) {
            return Err(FetchError::ContentType(excerpt(&value)));
        }
    }
    for value in values("Content-Encoding") {
        if !value.eq_ignore_ascii_case("identity") {
            return Err(FetchError::Unsupported(format!(
                "Content-Encoding {}",
                excerpt(&value)
            )));
        }
    }
    let codings: Vec<String> = values("Transfer-Encoding")
        .flat_map(|v| {
            v.split(',')
                .map(|c| c.trim().to_ascii_lowercase())
                .collect::<Vec<_>>()
        })
        .filter(|c| !c.is_empty())
        .collect();
    match codings.as_slice() {
        [] => {}
        [only] if only == "chunked" => return Ok(Framing::Chunked),
        _ => {
            return Err(FetchError::Unsupported(format!(
                "Transfer-Encoding {}",
                excerpt(&codings.join(", "))
            )))
        }
    }
    let mut length = None;
    for value in values("Content-Length") {
        let bad = || FetchError::ContentLength(excerpt(&value));
        if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        // Too many digits to parse is too large all the same.
        let n = value.parse::<u64>().unwrap_or(u64::MAX);
        if length.is_some_and(|l| l != n) {
            return Err(bad());
        }
        length = Some(n);
    }
    match length {
        None => Ok(Framing::Close),
        Some(n) => usize::try_from(n)
            .ok()
            .filter(|n| *n <= MAX_POLICY_BYTES)
            .map(Framing::Length)
            .ok_or(FetchError::BodyTooLarge),
    }
}

/// Decode a chunked body (RFC 9112 §7.1): chunks of `size[;extensions] CRLF data CRLF`,
/// then `0 CRLF`, trailer fields (ignored) and an empty line. `None` while incomplete. The
/// size lines are httparse's; a size is refused as soon as it would take the body over
/// [`MAX_POLICY_BYTES`], before its data arrives.
fn dechunk(wire: &[u8]) -> Result<Option<Vec<u8>>, FetchError> {
    let mut body = Vec::new();
    let mut at = 0;
    loop {
        let rest = wire.get(at..).unwrap_or_default();
        match rest.first() {
            None => return Ok(None),
            // httparse reads an empty size line as 0: a size needs a digit.
            Some(b) if !b.is_ascii_hexdigit() => return Err(FetchError::Chunked("bad size")),
            Some(_) => {}
        }
        let (used, size) = match httparse::parse_chunk_size(rest) {
            Ok(httparse::Status::Complete(found)) => found,
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(_) => return Err(FetchError::Chunked("bad size")),
        };
        at += used;
        if size == 0 {
            return Ok(trailers_end(wire.get(at..).unwrap_or_default()).then_some(body));
        }
        let size = usize::try_from(size)
            .ok()
            .filter(|s| body.len().saturating_add(*s) <= MAX_POLICY_BYTES)
            .ok_or(FetchError::BodyTooLarge)?;
        let Some(data) = wire.get(at..at + size) else {
            return Ok(None);
        };
        body.extend_from_slice(data);
        at += size;
        let end = wire.get(at..).unwrap_or_default();
        if end.len() < 2 {
            if b"\r\n".starts_with(end) {
                return Ok(None);
            }
            return Err(FetchError::Chunked("no CRLF after a chunk"));
        }
        if !end.starts_with(b"\r\n") {
            return Err(FetchError::Chunked("no CRLF after a chunk"));
        }
        at += 2;
    }
}

/// Whether the trailer section (fields, then an empty line) is complete in `wire`.
fn trailers_end(wire: &[u8]) -> bool {
    let mut rest = wire;
    while let Some(eol) = rest.windows(2).position(|w| w == b"\r\n") {
        if eol == 0 {
            return true;
        }
        rest = rest.get(eol + 2..).unwrap_or_default();
    }
    false
}

// ---------------------------------------------------------------------------------------
// Names
// ---------------------------------------------------------------------------------------

/// A name without its final dot.
fn bare(name: &str) -> &str {
    name.strip_suffix('.').unwrap_or(name)
}

/// Whether `name` (without a final dot) is a plain host name: dot-separated labels of 1 to
/// 63 ASCII letters, digits, `-` or `_`, 253 characters at most. (Underscores are not in
/// host names, but refusing one would lose a whole policy over it.)
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            (1..=63).contains(&label.len())
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// `text` cut to a length fit for an error message.
fn excerpt(text: &str) -> String {
    const MAX: usize = 80;
    match text.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

#[cfg(test)]
#[path = "mta_sts_tests.rs"]
mod tests;
