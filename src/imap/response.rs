//! IMAP server responses and their encoding (RFC 9051 §7). Every byte ringpost sends to an
//! IMAP client is written here. Never does IO.

use super::command::Tag;
use crate::mail::Keyword;
use crate::sasl::{encode_challenge, Mechanism};

/// A capability ringpost advertises (RFC 9051 §7.2.2). Only what is implemented is listed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Capability {
    Imap4rev1,
    Imap4rev2,
    /// RFC 7888.
    LiteralPlus,
    /// RFC 5161.
    Enable,
    /// RFC 2971.
    Id,
    StartTls,
    /// RFC 9051 §6.2.3: LOGIN (and every mechanism) refused until TLS.
    LoginDisabled,
    Auth(Mechanism),
    /// RFC 4959.
    SaslIr,
    /// RFC 2177.
    Idle,
    /// RFC 6851.
    Move,
    /// RFC 4315.
    UidPlus,
    /// RFC 2342.
    Namespace,
    /// RFC 3691.
    Unselect,
    /// RFC 3348.
    Children,
    /// RFC 6154.
    SpecialUse,
    /// RFC 6154 §3.
    CreateSpecialUse,
    /// RFC 8438.
    StatusSize,
    /// RFC 5258.
    ListExtended,
    /// RFC 5819.
    ListStatus,
    /// RFC 4731.
    Esearch,
    /// RFC 7162.
    CondStore,
    /// RFC 7162 §3.2.
    QResync,
    /// RFC 5182.
    SearchRes,
    /// RFC 6855.
    Utf8Accept,
    /// RFC 3516.
    Binary,
    /// RFC 3502.
    MultiAppend,
    /// RFC 5256.
    Sort,
    /// RFC 5957.
    SortDisplay,
    /// RFC 5267 §3.
    ESort,
    /// RFC 5267 §4: SEARCH and SORT contexts (CONTEXT and UPDATE, ADDTO and REMOVEFROM,
    /// CANCELUPDATE).
    ContextSearch,
    ContextSort,
    /// RFC 5256 §3.
    ThreadOrderedSubject,
    ThreadReferences,
    /// draft-ietf-morg-inthread.
    ThreadRefs,
    /// RFC 4978.
    CompressDeflate,
    /// RFC 8437.
    Unauthenticate,
    /// RFC 8970.
    Preview,
    /// RFC 5032.
    Within,
    /// RFC 9586.
    UidOnly,
    /// RFC 9394.
    Partial,
    /// RFC 4469.
    Catenate,
    /// RFC 9585.
    InProgress,
    /// RFC 8508.
    Replace,
    /// RFC 9208, with its STORAGE and MESSAGE resources.
    Quota,
    QuotaResStorage,
    QuotaResMessage,
    /// RFC 5464: mailbox annotations, and server annotations.
    Metadata,
    MetadataServer,
    /// RFC 8514.
    SaveDate,
    /// RFC 8474.
    ObjectId,
    /// RFC 5465.
    Notify,
    /// RFC 4314.
    Acl,
    /// RFC 4314 §2.1: the rights beyond RFC 2086's.
    RightsTexk,
    /// RFC 8440.
    ListMyRights,
    /// RFC 7889: the largest message APPEND accepts.
    AppendLimit(usize),
}

impl Capability {
    pub fn as_str(self) -> &'static str {
        match self {
            Capability::Imap4rev1 => "IMAP4rev1",
            Capability::Imap4rev2 => "IMAP4rev2",
            Capability::LiteralPlus => "LITERAL+",
            Capability::Enable => "ENABLE",
            Capability::Id => "ID",
            Capability::StartTls => "STARTTLS",
            Capability::LoginDisabled => "LOGINDISABLED",
            Capability::Auth(Mechanism::Plain) => "AUTH=PLAIN",
            Capability::Auth(Mechanism::Login) => "AUTH=LOGIN",
            Capability::Auth(Mechanism::OAuthBearer) => "AUTH=OAUTHBEARER",
            Capability::Auth(Mechanism::XOAuth2) => "AUTH=XOAUTH2",
            Capability::Auth(Mechanism::ScramSha256) => "AUTH=SCRAM-SHA-256",
            Capability::Auth(Mechanism::ScramSha256Plus) => "AUTH=SCRAM-SHA-256-PLUS",
            Capability::SaslIr => "SASL-IR",
            Capability::Idle => "IDLE",
            Capability::Move => "MOVE",
            Capability::UidPlus => "UIDPLUS",
            Capability::Namespace => "NAMESPACE",
            Capability::Unselect => "UNSELECT",
            Capability::Children => "CHILDREN",
            Capability::SpecialUse => "SPECIAL-USE",
            Capability::CreateSpecialUse => "CREATE-SPECIAL-USE",
            Capability::StatusSize => "STATUS=SIZE",
            Capability::ListExtended => "LIST-EXTENDED",
            Capability::ListStatus => "LIST-STATUS",
            Capability::Esearch => "ESEARCH",
            Capability::CondStore => "CONDSTORE",
            Capability::QResync => "QRESYNC",
            Capability::SearchRes => "SEARCHRES",
            Capability::Utf8Accept => "UTF8=ACCEPT",
            Capability::Binary => "BINARY",
            Capability::MultiAppend => "MULTIAPPEND",
            Capability::Sort => "SORT",
            Capability::SortDisplay => "SORT=DISPLAY",
            Capability::ESort => "ESORT",
            Capability::ContextSearch => "CONTEXT=SEARCH",
            Capability::ContextSort => "CONTEXT=SORT",
            Capability::ThreadOrderedSubject => "THREAD=ORDEREDSUBJECT",
            Capability::ThreadReferences => "THREAD=REFERENCES",
            Capability::ThreadRefs => "THREAD=REFS",
            Capability::CompressDeflate => "COMPRESS=DEFLATE",
            Capability::Unauthenticate => "UNAUTHENTICATE",
            Capability::Preview => "PREVIEW",
            Capability::Within => "WITHIN",
            Capability::UidOnly => "UIDONLY",
            Capability::Partial => "PARTIAL",
            Capability::Catenate => "CATENATE",
            Capability::InProgress => "INPROGRESS",
            Capability::Replace => "REPLACE",
            Capability::Quota => "QUOTA",
            Capability::QuotaResStorage => "QUOTA=RES-STORAGE",
            Capability::QuotaResMessage => "QUOTA=RES-MESSAGE",
            Capability::Metadata => "METADATA",
            Capability::MetadataServer => "METADATA-SERVER",
            Capability::SaveDate => "SAVEDATE",
            Capability::ObjectId => "OBJECTID",
            Capability::Notify => "NOTIFY",
            Capability::Acl => "ACL",
            Capability::RightsTexk => "RIGHTS=texk",
            Capability::ListMyRights => "LIST-MYRIGHTS",
            Capability::AppendLimit(_) => "APPENDLIMIT",
        }
    }

    fn encode(self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.as_str().as_bytes());
        if let Capability::AppendLimit(n) = self {
            out.extend_from_slice(format!("={n}").as_bytes());
        }
    }
}

/// `resp-cond-state` / `resp-cond-bye` status words (RFC 9051 §7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Ok,
    No,
    Bad,
    Bye,
}

/// A response code (`resp-text-code`, RFC 9051 §7.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Code {
    Capability(Vec<Capability>),
    PrivacyRequired,
    AuthenticationFailed,
    Unavailable,
    TooBig,
    /// `BADCHARSET (UTF-8 US-ASCII)`: the SEARCH charsets ringpost supports (RFC 9051 §7.1).
    BadCharset,
    ReadOnly,
    ReadWrite,
    UidValidity(u32),
    UidNext(u32),
    /// RFC 7162 §3.1.2.1.
    HighestModSeq(u64),
    /// RFC 8474 §4.1: `MAILBOXID (objectid)`.
    MailboxId(String),
    /// RFC 5464 §4.3: `METADATA TOOMANY`.
    MetadataTooMany,
    /// RFC 5464 §4.3: `METADATA MAXSIZE n`, the longest value the server takes.
    MetadataMaxSize(u64),
    /// RFC 5464 §4.2.1: `METADATA LONGENTRIES n`, the longest value MAXSIZE left out.
    MetadataLongEntries(u64),
    /// The flags STORE can set: the system flags, the keywords in use and `\*`, any new
    /// keyword (RFC 9051 §7.1).
    PermanentFlags(Vec<Keyword>),
    /// RFC 4315 §3: `APPENDUID uidvalidity uid-set`.
    AppendUid(u32, String),
    /// RFC 3501 §7.1: the first unseen message.
    Unseen(u32),
    /// `PERMANENTFLAGS ()`: nothing can be changed (EXAMINE).
    NoPermanentFlags,
    /// RFC 4315 §3: `COPYUID uidvalidity source-uids target-uids`.
    CopyUid(u32, String, String),
    NonExistent,
    AlreadyExists,
    Cannot,
    TryCreate,
    /// RFC 9051 §7.1: the previously selected mailbox is now closed.
    Closed,
    /// RFC 7162 §3.2: the messages a conditional STORE left alone.
    Modified(String),
    /// RFC 3516 §4.3.
    UnknownCte,
    /// RFC 6154 §3: a special-use attribute the server cannot set.
    UseAttr,
    /// RFC 9208 §4.3: the command would take the account over its quota.
    OverQuota,
    /// RFC 5530 §3: the user may not do this.
    NoPerm,
    /// RFC 5530 §3: a limit of the server was reached.
    Limit,
    /// `PERMANENTFLAGS (…)` limited by the user's rights on a shared mailbox (RFC 4314
    /// §5.1.1): the system flags they may change, then the keywords and `\*` if they may
    /// change those.
    PermanentFlagsOf(Vec<&'static str>, Option<Vec<Keyword>>),
    /// RFC 9586 §3: a message sequence number after ENABLE UIDONLY.
    UidRequired,
    /// RFC 4469 §5: the URL of a CATENATE part names nothing usable.
    BadUrl(String),
    /// RFC 4978 §3: compression is on already.
    CompressionActive,
    /// RFC 5267 §4.3.1: `NOUPDATE "tag"`, the searching command whose UPDATE is refused.
    NoUpdate(Tag),
    /// RFC 5465 §3: `BADEVENT (…)`, the events the server supports.
    BadEvent(&'static str),
    /// RFC 5465 §5.8: notifications are off, the server could not keep up.
    NotificationOverflow,
}

/// One response line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    /// `tag SP status SP [code] text`, or untagged (`*`) when `tag` is `None`.
    Status {
        tag: Option<Tag>,
        status: Status,
        code: Option<Code>,
        text: &'static str,
    },
    /// `* CAPABILITY ...` (RFC 9051 §7.2.2).
    Capability(Vec<Capability>),
    /// `* ENABLED ...` (RFC 5161 §3.2).
    Enabled(Vec<&'static str>),
    /// `* ID ("name" ... "version" ...)` (RFC 2971 §3.2).
    Id {
        name: &'static str,
        version: &'static str,
    },
    /// `+ text`: ready for a literal (RFC 9051 §7.5).
    Continue(&'static str),
    /// `+ base64`: a SASL challenge (RFC 9051 §6.2.2).
    Challenge(Vec<u8>),
}

impl Response {
    pub fn tagged(tag: Tag, status: Status, code: Option<Code>, text: &'static str) -> Self {
        Response::Status {
            tag: Some(tag),
            status,
            code,
            text,
        }
    }

    pub fn untagged(status: Status, code: Option<Code>, text: &'static str) -> Self {
        Response::Status {
            tag: None,
            status,
            code,
            text,
        }
    }

    /// Append the wire form, CRLF included.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Response::Status {
                tag,
                status,
                code,
                text,
            } => {
                match tag {
                    Some(t) => out.extend_from_slice(t.as_str().as_bytes()),
                    None => out.push(b'*'),
                }
                out.extend_from_slice(match status {
                    Status::Ok => b" OK ",
                    Status::No => b" NO ",
                    Status::Bad => b" BAD ",
                    Status::Bye => b" BYE ",
                });
                if let Some(code) = code {
                    out.push(b'[');
                    encode_code(code, out);
                    out.extend_from_slice(b"] ");
                }
                out.extend_from_slice(text.as_bytes());
            }
            Response::Capability(caps) => {
                out.extend_from_slice(b"* CAPABILITY");
                encode_capabilities(caps, out);
            }
            Response::Enabled(names) => {
                out.extend_from_slice(b"* ENABLED");
                for name in names {
                    out.push(b' ');
                    out.extend_from_slice(name.as_bytes());
                }
            }
            Response::Id { name, version } => {
                // Both values are compile-time constants without `"` or `\`.
                out.extend_from_slice(b"* ID (\"name\" \"");
                out.extend_from_slice(name.as_bytes());
                out.extend_from_slice(b"\" \"version\" \"");
                out.extend_from_slice(version.as_bytes());
                out.extend_from_slice(b"\")");
            }
            Response::Continue(text) => {
                out.extend_from_slice(b"+ ");
                out.extend_from_slice(text.as_bytes());
            }
            Response::Challenge(raw) => {
                out.extend_from_slice(b"+ ");
                out.extend_from_slice(encode_challenge(raw).as_bytes());
            }
        }
        out.extend_from_slice(b"\r\n");
    }
}

fn encode_code(code: &Code, out: &mut Vec<u8>) {
    match code {
        Code::Capability(caps) => {
            out.extend_from_slice(b"CAPABILITY");
            encode_capabilities(caps, out);
        }
        Code::PrivacyRequired => out.extend_from_slice(b"PRIVACYREQUIRED"),
        Code::AuthenticationFailed => out.extend_from_slice(b"AUTHENTICATIONFAILED"),
        Code::Unavailable => out.extend_from_slice(b"UNAVAILABLE"),
        Code::TooBig => out.extend_from_slice(b"TOOBIG"),
        Code::OverQuota => out.extend_from_slice(b"OVERQUOTA"),
        Code::NoPerm => out.extend_from_slice(b"NOPERM"),
        Code::Limit => out.extend_from_slice(b"LIMIT"),
        Code::PermanentFlagsOf(system, keywords) => {
            let mut items: Vec<&str> = system.clone();
            if let Some(keywords) = keywords {
                items.extend(keywords.iter().map(|k| k.as_str()));
                items.push("\\*");
            }
            out.extend_from_slice(format!("PERMANENTFLAGS ({})", items.join(" ")).as_bytes());
        }
        Code::UidRequired => out.extend_from_slice(b"UIDREQUIRED"),
        Code::BadUrl(url) => {
            out.extend_from_slice(b"BADURL ");
            out.extend_from_slice(url.as_bytes());
        }
        Code::CompressionActive => out.extend_from_slice(b"COMPRESSIONACTIVE"),
        Code::BadEvent(events) => out.extend_from_slice(format!("BADEVENT ({events})").as_bytes()),
        Code::NotificationOverflow => out.extend_from_slice(b"NOTIFICATIONOVERFLOW"),
        // A tag has no `"` or `\` (ATOM-CHAR excludes quoted-specials): quoted as it is.
        Code::NoUpdate(tag) => out.extend_from_slice(format!("NOUPDATE \"{tag}\"").as_bytes()),
        Code::BadCharset => out.extend_from_slice(b"BADCHARSET (UTF-8 US-ASCII)"),
        Code::ReadOnly => out.extend_from_slice(b"READ-ONLY"),
        Code::ReadWrite => out.extend_from_slice(b"READ-WRITE"),
        Code::UidValidity(v) => out.extend_from_slice(format!("UIDVALIDITY {v}").as_bytes()),
        Code::UidNext(v) => out.extend_from_slice(format!("UIDNEXT {v}").as_bytes()),
        Code::HighestModSeq(v) => out.extend_from_slice(format!("HIGHESTMODSEQ {v}").as_bytes()),
        Code::MailboxId(id) => out.extend_from_slice(format!("MAILBOXID ({id})").as_bytes()),
        Code::MetadataTooMany => out.extend_from_slice(b"METADATA TOOMANY"),
        Code::MetadataMaxSize(n) => {
            out.extend_from_slice(format!("METADATA MAXSIZE {n}").as_bytes())
        }
        Code::MetadataLongEntries(n) => {
            out.extend_from_slice(format!("METADATA LONGENTRIES {n}").as_bytes())
        }
        Code::PermanentFlags(keywords) => {
            out.extend_from_slice(
                b"PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft ",
            );
            for k in keywords {
                out.extend_from_slice(k.as_str().as_bytes());
                out.push(b' ');
            }
            out.extend_from_slice(b"\\*)");
        }
        Code::AppendUid(v, u) => out.extend_from_slice(format!("APPENDUID {v} {u}").as_bytes()),
        Code::CopyUid(v, from, to) => {
            out.extend_from_slice(format!("COPYUID {v} {from} {to}").as_bytes())
        }
        Code::Unseen(n) => out.extend_from_slice(format!("UNSEEN {n}").as_bytes()),
        Code::NoPermanentFlags => out.extend_from_slice(b"PERMANENTFLAGS ()"),
        Code::NonExistent => out.extend_from_slice(b"NONEXISTENT"),
        Code::AlreadyExists => out.extend_from_slice(b"ALREADYEXISTS"),
        Code::Cannot => out.extend_from_slice(b"CANNOT"),
        Code::TryCreate => out.extend_from_slice(b"TRYCREATE"),
        Code::Closed => out.extend_from_slice(b"CLOSED"),
        Code::UnknownCte => out.extend_from_slice(b"UNKNOWN-CTE"),
        Code::UseAttr => out.extend_from_slice(b"USEATTR"),
        Code::Modified(set) => out.extend_from_slice(format!("MODIFIED {set}").as_bytes()),
    }
}

fn encode_capabilities(caps: &[Capability], out: &mut Vec<u8>) {
    for cap in caps {
        out.push(b' ');
        cap.encode(out);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn wire(r: Response) -> Vec<u8> {
        let mut out = Vec::new();
        r.encode(&mut out);
        out
    }

    #[test]
    fn tagged_and_untagged_status() {
        let tag = Tag::parse(b"a1").unwrap();
        assert_eq!(
            wire(Response::tagged(tag, Status::No, Some(Code::TooBig), "x y")),
            b"a1 NO [TOOBIG] x y\r\n"
        );
        assert_eq!(
            wire(Response::untagged(Status::Bye, None, "bye")),
            b"* BYE bye\r\n"
        );
    }

    #[test]
    fn capability_lists() {
        let caps = vec![Capability::Imap4rev1, Capability::Auth(Mechanism::Plain)];
        assert_eq!(
            wire(Response::Capability(caps.clone())),
            b"* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n"
        );
        assert_eq!(
            wire(Response::untagged(
                Status::Ok,
                Some(Code::Capability(caps)),
                "hi"
            )),
            b"* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] hi\r\n"
        );
    }

    #[test]
    fn continuations_enabled_and_id() {
        assert_eq!(wire(Response::Challenge(Vec::new())), b"+ \r\n");
        assert_eq!(
            wire(Response::Challenge(b"Username:".to_vec())),
            b"+ VXNlcm5hbWU6\r\n"
        );
        assert_eq!(wire(Response::Continue("go")), b"+ go\r\n");
        assert_eq!(wire(Response::Enabled(vec![])), b"* ENABLED\r\n");
        assert_eq!(
            wire(Response::Enabled(vec!["IMAP4rev2"])),
            b"* ENABLED IMAP4rev2\r\n"
        );
        assert_eq!(
            wire(Response::Id {
                name: "ringpost",
                version: "1.2"
            }),
            b"* ID (\"name\" \"ringpost\" \"version\" \"1.2\")\r\n"
        );
    }
}
