//! The mail model: the data every layer shares — message and mailbox identifiers, flags,
//! UID ranges, MIME summaries, the read-side views of a mailbox and message bytes. Protocol
//! sessions and the store both speak in these types, so neither imports the other's.
//!
//! Pure data and pure functions: it does no IO, never reads the clock, never names the
//! executor, and depends on nothing of ours (only external crates: rkyv for the types the
//! store's index archives, mail-parser for [`MimeSummary::parse`]).

pub mod acl;
pub mod bytes;
pub mod flags;
pub mod header;
pub mod ids;
pub mod metadata;
pub mod mime;
pub mod order;
pub mod quota;
pub mod ranges;
pub mod text;
pub mod view;

pub use bytes::MessageBytes;
pub use flags::{FlagMode, FlagUpdate, Flags, Keyword, SystemFlags};
pub use ids::{email_object_id, mailbox_object_id, MailboxId, ModSeq, Uid, UidValidity};
pub use mime::MimeSummary;
pub use quota::{Quota, QuotaLimits, QuotaUsage};
pub use ranges::{UidRange, Vanished};
pub use view::{
    AccountChange, Change, MailboxInfo, MailboxSnapshot, MailboxStatus, MessageMeta, Recent,
    SpecialUse, Subscription, UidRun,
};
