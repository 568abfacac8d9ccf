//! NOTIFY (RFC 5465 §3, §8): `NOTIFY NONE` and `NOTIFY SET [STATUS] event-group…`, with the
//! rules the RFC makes syntax errors (BAD) checked here: MessageNew and MessageExpunge go
//! together, FlagChange (and AnnotationChange) need both, fetch attributes only for the
//! selected mailbox, at most one SELECTED or SELECTED-DELAYED group. Events the server may
//! not know are kept by name ([`NotifyEvent::Other`]): refusing them is the session's
//! `NO [BADEVENT]`, not a syntax error. Never does IO.

use super::cursor::Cursor;
use super::fetch::FetchAttribute;
use super::mailbox::{Mailbox, NameEncoding};
use super::Malformed;

/// The arguments of NOTIFY.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notify {
    /// `NOTIFY NONE`: no more notifications.
    None,
    /// `NOTIFY SET`: `status` asks for the initial STATUS of the watched mailboxes.
    Set {
        status: bool,
        groups: Vec<EventGroup>,
    },
}

/// One `event-group`: which mailboxes, and what to hear about them (`None`: the `NONE`
/// events, nothing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventGroup {
    pub filter: NotifyFilter,
    pub events: Option<Vec<NotifyEvent>>,
}

/// `filter-mailboxes` (RFC 5465 §6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotifyFilter {
    Selected,
    SelectedDelayed,
    Inboxes,
    Personal,
    Subscribed,
    Subtree(Vec<Mailbox>),
    Mailboxes(Vec<Mailbox>),
}

impl NotifyFilter {
    pub fn is_selected(&self) -> bool {
        matches!(self, NotifyFilter::Selected | NotifyFilter::SelectedDelayed)
    }
}

/// `event` (RFC 5465 §5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotifyEvent {
    /// With the fetch attributes to send along for a new message in the selected mailbox.
    MessageNew(Vec<FetchAttribute>),
    MessageExpunge,
    FlagChange,
    AnnotationChange,
    MailboxName,
    SubscriptionChange,
    MailboxMetadataChange,
    ServerMetadataChange,
    /// An `event-ext` atom this parser does not know, as sent.
    Other(String),
}

impl NotifyEvent {
    /// The event's name as RFC 5465 spells it.
    pub fn name(&self) -> &str {
        match self {
            NotifyEvent::MessageNew(_) => "MessageNew",
            NotifyEvent::MessageExpunge => "MessageExpunge",
            NotifyEvent::FlagChange => "FlagChange",
            NotifyEvent::AnnotationChange => "AnnotationChange",
            NotifyEvent::MailboxName => "MailboxName",
            NotifyEvent::SubscriptionChange => "SubscriptionChange",
            NotifyEvent::MailboxMetadataChange => "MailboxMetadataChange",
            NotifyEvent::ServerMetadataChange => "ServerMetadataChange",
            NotifyEvent::Other(name) => name,
        }
    }
}

impl Cursor<'_> {
    /// `notify = "NOTIFY" SP (notify-set / notify-none)` (RFC 5465 §8).
    pub(super) fn notify(&mut self, names: NameEncoding) -> Result<Notify, Malformed> {
        self.sp()?;
        if self.eat_word(b"NONE") {
            return Ok(Notify::None);
        }
        if !self.eat_word(b"SET") {
            return Err(match self.peek() {
                None => Malformed::MissingArgument,
                Some(_) => Malformed::InvalidNotify,
            });
        }
        self.sp()?;
        let status = self.eat_word(b"STATUS");
        if status {
            self.sp()?;
        }
        let mut groups = Vec::new();
        loop {
            groups.push(self.event_group(names)?);
            if self.at_end() {
                break;
            }
            self.sp()?;
        }
        check_groups(&groups)?;
        Ok(Notify::Set { status, groups })
    }

    /// `event-group = "(" filter-mailboxes SP events ")"`.
    fn event_group(&mut self, names: NameEncoding) -> Result<EventGroup, Malformed> {
        self.expect(b'(', Malformed::ExpectedParenthesis)?;
        let filter = self.notify_filter(names)?;
        self.sp()?;
        let events = if self.eat_word(b"NONE") {
            None
        } else {
            Some(self.paren_list(false, |c| c.notify_event())?)
        };
        self.expect(b')', Malformed::ExpectedParenthesis)?;
        Ok(EventGroup { filter, events })
    }

    fn notify_filter(&mut self, names: NameEncoding) -> Result<NotifyFilter, Malformed> {
        // The longer word first: `SELECTED` is a prefix of `SELECTED-DELAYED`.
        Ok(if self.eat_word(b"SELECTED-DELAYED") {
            NotifyFilter::SelectedDelayed
        } else if self.eat_word(b"SELECTED") {
            NotifyFilter::Selected
        } else if self.eat_word(b"INBOXES") {
            NotifyFilter::Inboxes
        } else if self.eat_word(b"PERSONAL") {
            NotifyFilter::Personal
        } else if self.eat_word(b"SUBSCRIBED") {
            NotifyFilter::Subscribed
        } else if self.eat_word(b"SUBTREE") {
            self.sp()?;
            NotifyFilter::Subtree(self.one_or_more_mailbox(names)?)
        } else if self.eat_word(b"MAILBOXES") {
            self.sp()?;
            NotifyFilter::Mailboxes(self.one_or_more_mailbox(names)?)
        } else {
            return Err(Malformed::InvalidNotify);
        })
    }

    /// `one-or-more-mailbox = mailbox / many-mailboxes`, `many-mailboxes = "(" mailbox
    /// *(SP mailbox) ")"`.
    fn one_or_more_mailbox(&mut self, names: NameEncoding) -> Result<Vec<Mailbox>, Malformed> {
        if self.peek() == Some(b'(') {
            self.paren_list(false, |c| c.mailbox(names))
        } else {
            Ok(vec![self.mailbox(names)?])
        }
    }

    /// `event = message-event / mailbox-event / user-event / event-ext`.
    fn notify_event(&mut self) -> Result<NotifyEvent, Malformed> {
        let name = self.atom()?;
        let lower = name.to_ascii_lowercase();
        Ok(match lower.as_slice() {
            b"messagenew" => {
                let mut attrs = Vec::new();
                if self.rest().starts_with(b" (") {
                    self.advance(1);
                    attrs = self.paren_list(false, |c| c.fetch_attribute())?;
                }
                NotifyEvent::MessageNew(attrs)
            }
            b"messageexpunge" => NotifyEvent::MessageExpunge,
            b"flagchange" => NotifyEvent::FlagChange,
            b"annotationchange" => NotifyEvent::AnnotationChange,
            b"mailboxname" => NotifyEvent::MailboxName,
            b"subscriptionchange" => NotifyEvent::SubscriptionChange,
            b"mailboxmetadatachange" => NotifyEvent::MailboxMetadataChange,
            b"servermetadatachange" => NotifyEvent::ServerMetadataChange,
            // Atoms are ASCII: lossless.
            _ => NotifyEvent::Other(String::from_utf8_lossy(name).into_owned()),
        })
    }
}

/// RFC 5465 §3, §5: the combinations the RFC answers with BAD.
fn check_groups(groups: &[EventGroup]) -> Result<(), Malformed> {
    if groups.iter().filter(|g| g.filter.is_selected()).count() > 1 {
        return Err(Malformed::NotifySelectedTwice);
    }
    for g in groups {
        let Some(events) = &g.events else {
            continue;
        };
        let has = |f: fn(&NotifyEvent) -> bool| events.iter().any(f);
        let new = has(|e| matches!(e, NotifyEvent::MessageNew(_)));
        let expunge = has(|e| matches!(e, NotifyEvent::MessageExpunge));
        let needs_both =
            has(|e| matches!(e, NotifyEvent::FlagChange | NotifyEvent::AnnotationChange));
        // §5.2, §5.3: MessageNew and MessageExpunge only together; §5.4, §5.5: FlagChange
        // and AnnotationChange only with both.
        if new != expunge || (needs_both && !(new && expunge)) {
            return Err(Malformed::NotifyEventPairs);
        }
        // §5.2: fetch attributes are for the selected mailbox's new messages only.
        let fetches = has(|e| matches!(e, NotifyEvent::MessageNew(a) if !a.is_empty()));
        if fetches && !g.filter.is_selected() {
            return Err(Malformed::NotifyFetchOutsideSelected);
        }
    }
    Ok(())
}
