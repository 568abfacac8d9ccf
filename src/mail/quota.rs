//! Quotas (RFC 9208): what an account may hold, what it holds, and whether more fits. One
//! quota root per account (named `""`) covers every mailbox of it; two resources are
//! counted, STORAGE (the sizes of its messages) and MESSAGE (their number).

/// An account's limits; `None` is no limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct QuotaLimits {
    /// Bytes of all messages together.
    pub storage: Option<u64>,
    /// Messages in all mailboxes together.
    pub messages: Option<u64>,
}

/// What an account holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct QuotaUsage {
    pub storage: u64,
    pub messages: u64,
}

/// An account's usage with its limits: the answer to GETQUOTA.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Quota {
    pub usage: QuotaUsage,
    pub limits: QuotaLimits,
}

impl QuotaLimits {
    /// No limit on anything.
    pub const NONE: QuotaLimits = QuotaLimits {
        storage: None,
        messages: None,
    };

    /// Whether `messages` more messages of `bytes` bytes in all fit beside `usage`. A limit
    /// is a ceiling the account may reach, not pass (RFC 9208 §5: a command that would take
    /// usage over a limit fails).
    pub fn admits(&self, usage: QuotaUsage, bytes: u64, messages: u64) -> bool {
        let fits = |limit: Option<u64>, used: u64, more: u64| {
            limit.is_none_or(|limit| used.saturating_add(more) <= limit)
        };
        fits(self.storage, usage.storage, bytes) && fits(self.messages, usage.messages, messages)
    }

    /// Whether the account is at or over a limit already: nothing more fits at all (an SMTP
    /// recipient is then refused at RCPT).
    pub fn full(&self, usage: QuotaUsage) -> bool {
        !self.admits(usage, 1, 1)
    }

    /// Whether any limit is set.
    pub fn is_limited(&self) -> bool {
        self.storage.is_some() || self.messages.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_limit_may_be_reached_not_passed() {
        let limits = QuotaLimits {
            storage: Some(100),
            messages: Some(3),
        };
        let usage = QuotaUsage {
            storage: 60,
            messages: 2,
        };
        assert!(limits.admits(usage, 40, 1));
        assert!(!limits.admits(usage, 41, 1));
        assert!(!limits.admits(usage, 1, 2));
        assert!(!limits.full(usage));
        assert!(limits.full(QuotaUsage {
            storage: 100,
            messages: 0
        }));
        assert!(limits.full(QuotaUsage {
            storage: 0,
            messages: 3
        }));
        assert!(QuotaLimits::NONE.admits(
            QuotaUsage {
                storage: u64::MAX,
                messages: u64::MAX
            },
            u64::MAX,
            1
        ));
    }
}
