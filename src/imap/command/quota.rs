//! QUOTA (RFC 9208 §4.1): GETQUOTA, GETQUOTAROOT and SETQUOTA. Never does IO.

use super::cursor::Cursor;
use super::mailbox::{Mailbox, NameEncoding};
use super::{Command, Malformed};

/// A resource limit SETQUOTA asks for (`setquota-resource`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotaResourceLimit {
    /// Upper-cased: `STORAGE`, `MESSAGE`, …
    pub resource: String,
    pub limit: u64,
}

impl Cursor<'_> {
    /// `quota-root-name = astring`.
    fn quota_root(&mut self) -> Result<String, Malformed> {
        self.sp()?;
        String::from_utf8(self.astring()?.into_owned()).map_err(|_| Malformed::InvalidUtf8)
    }

    /// `getquota = "GETQUOTA" SP quota-root-name`.
    pub(super) fn getquota(&mut self) -> Result<Command, Malformed> {
        Ok(Command::GetQuota(self.quota_root()?))
    }

    /// `getquotaroot = "GETQUOTAROOT" SP mailbox`.
    pub(super) fn getquotaroot(&mut self, names: NameEncoding) -> Result<Command, Malformed> {
        self.sp()?;
        let mailbox: Mailbox = self.mailbox(names)?;
        Ok(Command::GetQuotaRoot(mailbox))
    }

    /// `setquota = "SETQUOTA" SP quota-root-name SP setquota-list`, `setquota-list = "("
    /// [setquota-resource *(SP setquota-resource)] ")"`, `setquota-resource = resource-name
    /// SP number64`.
    pub(super) fn setquota(&mut self) -> Result<Command, Malformed> {
        let root = self.quota_root()?;
        self.sp()?;
        let limits = self.paren_list(true, |c| {
            let resource = String::from_utf8_lossy(c.atom()?).to_ascii_uppercase();
            c.sp()?;
            let limit = c.number64()?;
            Ok(QuotaResourceLimit { resource, limit })
        })?;
        Ok(Command::SetQuota { root, limits })
    }
}
