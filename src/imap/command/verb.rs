//! Command names (RFC 9051 §6 and the extensions ringpost implements). Never does IO.

/// Every command name ringpost recognises.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verb {
    // Any state (RFC 9051 §6.1).
    Capability,
    Noop,
    Logout,
    Id,
    Enable,
    // Not authenticated (RFC 9051 §6.2).
    StartTls,
    Authenticate,
    Login,
    // Authenticated (RFC 9051 §6.3).
    Select,
    Examine,
    Create,
    Delete,
    Rename,
    Subscribe,
    Unsubscribe,
    List,
    Lsub,
    Namespace,
    Status,
    Append,
    Idle,
    /// RFC 8437: back to the not-authenticated state.
    Unauthenticate,
    // Selected (RFC 9051 §6.4).
    Check,
    Close,
    Unselect,
    Expunge,
    Search,
    Fetch,
    Store,
    Copy,
    Move,
    Uid,
    /// RFC 8508.
    Replace,
    /// RFC 9208.
    GetQuota,
    GetQuotaRoot,
    SetQuota,
    /// RFC 4978 (authenticated and selected states).
    Compress,
    /// RFC 5256.
    Sort,
    Thread,
    /// RFC 5464.
    GetMetadata,
    SetMetadata,
    /// RFC 5267 §4.3.5.
    CancelUpdate,
    /// RFC 4314 §3.
    SetAcl,
    DeleteAcl,
    GetAcl,
    ListRights,
    MyRights,
    // Planned extensions, recognised but not built yet.
    /// RFC 5465.
    Notify,
}

impl Verb {
    const NAMES: [(&'static str, Verb); 48] = [
        ("CAPABILITY", Verb::Capability),
        ("NOOP", Verb::Noop),
        ("LOGOUT", Verb::Logout),
        ("ID", Verb::Id),
        ("ENABLE", Verb::Enable),
        ("STARTTLS", Verb::StartTls),
        ("AUTHENTICATE", Verb::Authenticate),
        ("LOGIN", Verb::Login),
        ("SELECT", Verb::Select),
        ("EXAMINE", Verb::Examine),
        ("CREATE", Verb::Create),
        ("DELETE", Verb::Delete),
        ("RENAME", Verb::Rename),
        ("SUBSCRIBE", Verb::Subscribe),
        ("UNSUBSCRIBE", Verb::Unsubscribe),
        ("LIST", Verb::List),
        ("LSUB", Verb::Lsub),
        ("NAMESPACE", Verb::Namespace),
        ("STATUS", Verb::Status),
        ("APPEND", Verb::Append),
        ("IDLE", Verb::Idle),
        ("CHECK", Verb::Check),
        ("CLOSE", Verb::Close),
        ("UNSELECT", Verb::Unselect),
        ("UNAUTHENTICATE", Verb::Unauthenticate),
        ("EXPUNGE", Verb::Expunge),
        ("SEARCH", Verb::Search),
        ("FETCH", Verb::Fetch),
        ("STORE", Verb::Store),
        ("COPY", Verb::Copy),
        ("MOVE", Verb::Move),
        ("UID", Verb::Uid),
        ("COMPRESS", Verb::Compress),
        ("NOTIFY", Verb::Notify),
        ("GETMETADATA", Verb::GetMetadata),
        ("SETMETADATA", Verb::SetMetadata),
        ("GETQUOTA", Verb::GetQuota),
        ("GETQUOTAROOT", Verb::GetQuotaRoot),
        ("SETQUOTA", Verb::SetQuota),
        ("SORT", Verb::Sort),
        ("THREAD", Verb::Thread),
        ("REPLACE", Verb::Replace),
        ("CANCELUPDATE", Verb::CancelUpdate),
        ("SETACL", Verb::SetAcl),
        ("DELETEACL", Verb::DeleteAcl),
        ("GETACL", Verb::GetAcl),
        ("LISTRIGHTS", Verb::ListRights),
        ("MYRIGHTS", Verb::MyRights),
    ];

    /// Command names are case-insensitive (RFC 9051 §9, "case-insensitive" note).
    pub fn parse(name: &[u8]) -> Option<Verb> {
        Verb::NAMES
            .iter()
            .find(|(n, _)| n.as_bytes().eq_ignore_ascii_case(name))
            .map(|&(_, v)| v)
    }

    /// Whether the command may only be used once logged in.
    pub fn needs_authentication(self) -> bool {
        !matches!(
            self,
            Verb::Capability
                | Verb::Noop
                | Verb::Logout
                | Verb::Id
                | Verb::StartTls
                | Verb::Authenticate
                | Verb::Login
        )
    }

    /// Whether the command needs a selected mailbox (RFC 9051 §6.4).
    pub fn needs_selection(self) -> bool {
        matches!(
            self,
            Verb::Check
                | Verb::Close
                | Verb::Unselect
                | Verb::Expunge
                | Verb::Search
                | Verb::Sort
                | Verb::Thread
                | Verb::Fetch
                | Verb::Store
                | Verb::Copy
                | Verb::Move
                | Verb::Uid
                | Verb::Replace
                | Verb::CancelUpdate
        )
    }

    /// Whether the command names messages by sequence number (its UID form does not):
    /// refused after ENABLE UIDONLY (RFC 9586 §3).
    pub fn takes_sequence_numbers(self) -> bool {
        matches!(
            self,
            Verb::Fetch
                | Verb::Store
                | Verb::Copy
                | Verb::Move
                | Verb::Search
                | Verb::Sort
                | Verb::Thread
                | Verb::Replace
        )
    }

    /// Whether the grammar of this command contains a `string` (and so may carry a literal).
    /// Literals announced for any other command are refused before the client sends them.
    pub fn takes_strings(self) -> bool {
        matches!(
            self,
            Verb::Login
                | Verb::Id
                | Verb::Select
                | Verb::Examine
                | Verb::Create
                | Verb::Delete
                | Verb::Rename
                | Verb::Subscribe
                | Verb::Unsubscribe
                | Verb::List
                | Verb::Lsub
                | Verb::Status
                | Verb::Append
                | Verb::Search
                | Verb::Fetch
                | Verb::Copy
                | Verb::Move
                | Verb::Uid
                | Verb::Notify
                | Verb::GetMetadata
                | Verb::SetMetadata
                | Verb::GetQuota
                | Verb::GetQuotaRoot
                | Verb::SetQuota
                | Verb::Sort
                | Verb::Thread
                | Verb::Replace
        )
    }
}
