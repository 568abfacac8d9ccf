//! The results of the inbound checks (SPF RFC 7208, DKIM RFC 6376, DMARC RFC 7489, ARC
//! RFC 8617) as plain data, the RFC 8601 `Authentication-Results:` field written from them,
//! the removal of fields that claim to be ours (RFC 8601 §5), and what a policy refuses.
//!
//! The checks themselves (DNS, signatures) run elsewhere (the runtime's auth thread); this
//! module only formats and decides, so it is tested without a resolver.

/// One method's result (RFC 8601 §2.7; the names are the ones written in the field).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    Fail,
    SoftFail,
    Neutral,
    None,
    TempError,
    PermError,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::SoftFail => "softfail",
            Verdict::Neutral => "neutral",
            Verdict::None => "none",
            Verdict::TempError => "temperror",
            Verdict::PermError => "permerror",
        }
    }
}

/// The SPF result of the MAIL FROM identity (or of the HELO one for the null sender).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpfCheck {
    pub result: Verdict,
    /// The envelope sender; empty for `<>`, when the HELO name was checked instead.
    pub mail_from: String,
    pub helo: String,
}

/// One `DKIM-Signature:`'s result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DkimCheck {
    pub result: Verdict,
    /// The signing domain (`d=`) and selector (`s=`); empty when the signature was unreadable.
    pub domain: String,
    pub selector: String,
}

/// The policy a DMARC record asks for (`p=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DmarcPolicy {
    None,
    Quarantine,
    Reject,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DmarcCheck {
    pub result: Verdict,
    /// The RFC 5322 `From:` domain.
    pub from_domain: String,
    pub policy: DmarcPolicy,
}

/// Everything the inbound checks found about one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthResults {
    pub spf: SpfCheck,
    /// One per signature; empty: the message has none (`dkim=none`).
    pub dkim: Vec<DkimCheck>,
    /// `None` when the checks could not get that far (`dmarc=temperror`).
    pub dmarc: Option<DmarcCheck>,
    pub arc: Verdict,
}

/// Why a policy refuses a message (`550` before it is acknowledged).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyRefusal {
    /// DMARC failed and the `From:` domain asks for `p=reject` (`[inbound] dmarc_reject`).
    Dmarc,
    /// SPF `fail` (`[inbound] spf_reject_fail`).
    Spf,
}

impl AuthResults {
    /// The results when the checks could not run or did not finish (no resolver, a full
    /// queue, the time limit): every method a `temperror`, which no policy refuses.
    pub fn unavailable(mail_from: &str, helo: &str) -> AuthResults {
        AuthResults {
            spf: SpfCheck {
                result: Verdict::TempError,
                mail_from: mail_from.to_string(),
                helo: helo.to_string(),
            },
            dkim: vec![DkimCheck {
                result: Verdict::TempError,
                domain: String::new(),
                selector: String::new(),
            }],
            dmarc: None,
            arc: Verdict::TempError,
        }
    }

    /// What the configured policies refuse: DMARC `fail` under `p=reject` when
    /// `dmarc_reject`, SPF `fail` when `spf_reject_fail`. `p=quarantine` is never refused:
    /// the message is delivered with `dmarc=fail … policy.dmarc=quarantine` in its header.
    pub fn refusal(&self, dmarc_reject: bool, spf_reject_fail: bool) -> Option<PolicyRefusal> {
        if dmarc_reject {
            if let Some(dmarc) = &self.dmarc {
                if dmarc.result == Verdict::Fail && dmarc.policy == DmarcPolicy::Reject {
                    return Some(PolicyRefusal::Dmarc);
                }
            }
        }
        if spf_reject_fail && self.spf.result == Verdict::Fail {
            return Some(PolicyRefusal::Spf);
        }
        None
    }

    /// The log's short form: `(spf, dkim, dmarc, arc)`, e.g. `("pass", "pass:example.com",
    /// "fail:example.org", "none")`.
    pub fn summary(&self) -> (String, String, String, &'static str) {
        let dkim = if self.dkim.is_empty() {
            "none".to_string()
        } else {
            self.dkim
                .iter()
                .map(|d| match d.domain.is_empty() {
                    true => d.result.as_str().to_string(),
                    false => format!("{}:{}", d.result.as_str(), d.domain),
                })
                .collect::<Vec<_>>()
                .join(",")
        };
        let dmarc = match &self.dmarc {
            Some(d) if !d.from_domain.is_empty() => {
                format!("{}:{}", d.result.as_str(), d.from_domain)
            }
            Some(d) => d.result.as_str().to_string(),
            None => "temperror".to_string(),
        };
        (
            self.spf.result.as_str().to_string(),
            dkim,
            dmarc,
            self.arc.as_str(),
        )
    }

    /// The `Authentication-Results:` field (RFC 8601), folded one method a line, ending in
    /// CRLF; `hostname` is the authserv-id.
    pub fn header(&self, hostname: &str) -> String {
        let mut out = format!("Authentication-Results: {}", pvalue(hostname));
        out.push_str(";\r\n\tspf=");
        out.push_str(self.spf.result.as_str());
        if self.spf.mail_from.is_empty() {
            out.push_str(" smtp.helo=");
            out.push_str(&pvalue(&self.spf.helo));
        } else {
            out.push_str(" smtp.mailfrom=");
            out.push_str(&pvalue(&self.spf.mail_from));
        }
        if self.dkim.is_empty() {
            out.push_str(";\r\n\tdkim=none");
        }
        for dkim in &self.dkim {
            out.push_str(";\r\n\tdkim=");
            out.push_str(dkim.result.as_str());
            if !dkim.domain.is_empty() {
                out.push_str(" header.d=");
                out.push_str(&pvalue(&dkim.domain));
            }
            if !dkim.selector.is_empty() {
                out.push_str(" header.s=");
                out.push_str(&pvalue(&dkim.selector));
            }
        }
        out.push_str(";\r\n\tdmarc=");
        match &self.dmarc {
            None => out.push_str("temperror"),
            Some(dmarc) => {
                out.push_str(dmarc.result.as_str());
                if !dmarc.from_domain.is_empty() {
                    out.push_str(" header.from=");
                    out.push_str(&pvalue(&dmarc.from_domain));
                }
                if dmarc.result != Verdict::None {
                    out.push_str(match dmarc.policy {
                        DmarcPolicy::None => " policy.dmarc=none",
                        DmarcPolicy::Quarantine => " policy.dmarc=quarantine",
                        DmarcPolicy::Reject => " policy.dmarc=reject",
                    });
                }
            }
        }
        out.push_str(";\r\n\tarc=");
        out.push_str(self.arc.as_str());
        out.push_str("\r\n");
        out
    }
}

/// A property value (RFC 8601 §2.2 `pvalue`): as it is when it is a plain token or
/// `local@domain`, else a quoted string. Control characters (CR, LF among them) never get
/// into the field.
fn pvalue(value: &str) -> String {
    let clean: String = value.chars().filter(|c| !c.is_control()).collect();
    let plain = !clean.is_empty()
        && clean.chars().all(|c| {
            c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.@".contains(c) || !c.is_ascii()
        });
    if plain {
        return clean;
    }
    let mut quoted = String::with_capacity(clean.len() + 2);
    quoted.push('"');
    for c in clean.chars() {
        if c == '"' || c == '\\' {
            quoted.push('\\');
        }
        quoted.push(c);
    }
    quoted.push('"');
    quoted
}

/// `message` without the `Authentication-Results:` fields of its header whose authserv-id is
/// `hostname` (any case): nobody upstream may speak for us (RFC 8601 §5). `None` when there
/// is none, so the common case copies nothing.
pub fn strip_forged(message: &[u8], hostname: &str) -> Option<Vec<u8>> {
    let fields = header_fields(message);
    let forged: Vec<(usize, usize)> = fields
        .into_iter()
        .filter(|&(start, end)| claims(&message[start..end], hostname))
        .collect();
    if forged.is_empty() {
        return None;
    }
    let mut out = Vec::with_capacity(message.len());
    let mut at = 0;
    for (start, end) in forged {
        out.extend_from_slice(&message[at..start]);
        at = end;
    }
    out.extend_from_slice(&message[at..]);
    Some(out)
}

/// The byte ranges of the header's fields, each with its continuation lines and line end.
fn header_fields(message: &[u8]) -> Vec<(usize, usize)> {
    let mut fields = Vec::new();
    let mut at = 0;
    let mut current: Option<usize> = None;
    while at < message.len() {
        let end = memchr::memchr(b'\n', &message[at..]).map_or(message.len(), |i| at + i + 1);
        let line = &message[at..end];
        if line == b"\r\n" || line == b"\n" {
            break;
        }
        let continuation = matches!(line.first(), Some(b' ' | b'\t'));
        if !continuation {
            if let Some(start) = current {
                fields.push((start, at));
            }
            current = Some(at);
        }
        at = end;
    }
    if let Some(start) = current {
        fields.push((start, at));
    }
    fields
}

/// Whether `field` is an `Authentication-Results:` whose authserv-id is `hostname`.
fn claims(field: &[u8], hostname: &str) -> bool {
    let Some(colon) = memchr::memchr(b':', field) else {
        return false;
    };
    let name = &field[..colon];
    if !name
        .trim_ascii_end()
        .eq_ignore_ascii_case(b"authentication-results")
    {
        return false;
    }
    let value = &field[colon + 1..];
    // Skip folding white space and comments before the authserv-id.
    let mut i = 0;
    let mut depth = 0usize;
    while i < value.len() {
        match value[i] {
            b'(' => depth += 1,
            b')' if depth > 0 => depth -= 1,
            b'\\' if depth > 0 => i += 1,
            b' ' | b'\t' | b'\r' | b'\n' => {}
            _ if depth > 0 => {}
            _ => break,
        }
        i += 1;
    }
    let rest = value.get(i..).unwrap_or_default();
    let id: Vec<u8> = if let Some(quoted) = rest.strip_prefix(b"\"") {
        quoted.iter().take_while(|&&b| b != b'"').copied().collect()
    } else {
        rest.iter()
            .take_while(|&&b| !matches!(b, b';' | b' ' | b'\t' | b'\r' | b'\n' | b'('))
            .copied()
            .collect()
    };
    let id = id.strip_suffix(b".").unwrap_or(&id);
    let hostname = hostname.trim_end_matches('.');
    id.eq_ignore_ascii_case(hostname.as_bytes())
}

#[cfg(test)]
#[path = "authres_tests.rs"]
mod tests;
