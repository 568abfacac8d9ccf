//! SORT (RFC 5256 §3, with RFC 5957's DISPLAYFROM/DISPLAYTO) and THREAD (RFC 5256 §2.4:
//! ORDEREDSUBJECT and REFERENCES; draft-ietf-morg-inthread: REFS) over the messages a search
//! matched. The search keeps one compact [`Record`] per match, only the fields the order needs
//! (never the message), and the order is computed once the last batch is in.
//!
//! Strings compare in the canonical form of `i;unicode-casemap` (RFC 5051, the default
//! comparator of RFC 5256): decoded (RFC 2047), white space collapsed, each character
//! case-folded (lowercased, where RFC 5051 titlecases: the two differ only for a few digraphs)
//! and fully decomposed (NFKD), compared by code point.

use std::cmp::Ordering;
use std::collections::HashMap;

use super::super::command::{SortCriterion, SortKey, ThreadAlgorithm};
use super::search::Need;
use crate::mail::mime::EnvelopeAddress;
use crate::mail::Uid;
use crate::mailbox::FetchedMessage;

/// What a search must also compute for each match, besides matching it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Order {
    /// SEARCH: nothing.
    None,
    Sort(Vec<SortCriterion>),
    Thread(ThreadAlgorithm),
}

impl Order {
    /// How much of each message the order needs.
    pub fn need(&self) -> Need {
        match self {
            Order::None => Need::View,
            Order::Sort(order) => order
                .iter()
                .map(|c| match c.key {
                    SortKey::Arrival | SortKey::Size => Need::Metadata,
                    _ => Need::Summary,
                })
                .max()
                .unwrap_or(Need::Metadata),
            Order::Thread(ThreadAlgorithm::OrderedSubject) => Need::Summary,
            // The References field is not in the envelope.
            Order::Thread(_) => Need::Header,
        }
    }

    fn wants(&self, key: SortKey) -> bool {
        match self {
            Order::None => false,
            Order::Sort(order) => order.iter().any(|c| c.key == key),
            Order::Thread(_) => matches!(key, SortKey::Date | SortKey::Subject),
        }
    }
}

/// What sorting or threading needs of one matched message. Fields the order does not use
/// stay empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub uid: Uid,
    /// INTERNALDATE (Unix seconds).
    pub arrival: i64,
    pub size: u32,
    /// The sent date (RFC 5256 §2.2): the Date field in UTC, or INTERNALDATE without one.
    pub date: i64,
    /// The base subject (RFC 5256 §2.1), canonical.
    pub subject: String,
    /// Whether extracting the base subject removed a reply or forward marker.
    pub reply: bool,
    pub from: String,
    pub to: String,
    pub cc: String,
    pub display_from: String,
    pub display_to: String,
    /// Threading: the message's own Message-ID, and its References (or In-Reply-To).
    pub id: Option<String>,
    pub references: Vec<String>,
}

impl Default for Record {
    fn default() -> Self {
        Record {
            uid: Uid(0),
            arrival: 0,
            size: 0,
            date: 0,
            subject: String::new(),
            reply: false,
            from: String::new(),
            to: String::new(),
            cc: String::new(),
            display_from: String::new(),
            display_to: String::new(),
            id: None,
            references: Vec::new(),
        }
    }
}

/// The compact record of a matched message, for `order`.
pub fn record(order: &Order, msg: &FetchedMessage) -> Record {
    let env = &msg.summary.envelope;
    let mut r = Record {
        uid: msg.meta.uid,
        arrival: msg.meta.internal_date,
        size: msg.meta.size,
        date: msg.meta.internal_date,
        ..Record::default()
    };
    if order.wants(SortKey::Date) {
        if let Some(d) = env
            .date
            .as_deref()
            .and_then(mail_parser::DateTime::parse_rfc822)
        {
            r.date = d.to_timestamp();
        }
    }
    if order.wants(SortKey::Subject) {
        let decoded = env.subject.as_deref().map(decode_text).unwrap_or_default();
        let (base, reply) = base_subject(&decoded);
        r.subject = fold(&base);
        r.reply = reply;
    }
    if order.wants(SortKey::From) {
        r.from = first(&env.from).map(addr_mailbox).unwrap_or_default();
    }
    if order.wants(SortKey::To) {
        r.to = first(&env.to).map(addr_mailbox).unwrap_or_default();
    }
    if order.wants(SortKey::Cc) {
        r.cc = first(&env.cc).map(addr_mailbox).unwrap_or_default();
    }
    if order.wants(SortKey::DisplayFrom) {
        r.display_from = first(&env.from).map(display).unwrap_or_default();
    }
    if order.wants(SortKey::DisplayTo) {
        r.display_to = first(&env.to).map(display).unwrap_or_default();
    }
    if matches!(
        order,
        Order::Thread(ThreadAlgorithm::References | ThreadAlgorithm::Refs)
    ) {
        r.id = env
            .message_id
            .as_deref()
            .and_then(|v| super::super::fetch::msg_ids(v).into_iter().next());
        let header = msg.bytes.as_deref().unwrap_or_default();
        let end = msg
            .summary
            .parts
            .first()
            .map_or(header.len(), |p| (p.body_offset as usize).min(header.len()));
        r.references = super::super::fetch::header_values(&header[..end], "References")
            .iter()
            .flat_map(|v| super::super::fetch::msg_ids(v))
            .collect();
        if r.references.is_empty() {
            // RFC 5256 §2.4 step 1.A: else the first valid Message-ID of In-Reply-To.
            r.references = env
                .in_reply_to
                .as_deref()
                .and_then(|v| super::super::fetch::msg_ids(v).into_iter().next())
                .into_iter()
                .collect();
        }
    }
    r
}

/// An unstructured header value with its RFC 2047 encoded-words decoded.
fn decode_text(raw: &str) -> String {
    if !raw.contains("=?") {
        return raw.to_string();
    }
    let mut bytes = b"Subject: ".to_vec();
    bytes.extend_from_slice(raw.as_bytes());
    bytes.extend_from_slice(b"\r\n\r\n");
    crate::mail::mime::parse_message(&bytes)
        .and_then(|m| m.subject().map(str::to_string))
        .unwrap_or_else(|| raw.to_string())
}

/// The first real address of a list (group markers skipped).
fn first(list: &[EnvelopeAddress]) -> Option<&EnvelopeAddress> {
    list.iter()
        .find(|a| a.host.is_some() && a.mailbox.is_some())
}

/// RFC 5256 §3: the `addr-mailbox` (local part).
fn addr_mailbox(a: &EnvelopeAddress) -> String {
    fold(a.mailbox.as_deref().unwrap_or_default())
}

/// RFC 5957 §3: the display name, or the `addr-spec` without one.
fn display(a: &EnvelopeAddress) -> String {
    match a.name.as_deref().map(str::trim).filter(|n| !n.is_empty()) {
        Some(name) => fold(name),
        None => fold(&format!(
            "{}@{}",
            a.mailbox.as_deref().unwrap_or_default(),
            a.host.as_deref().unwrap_or_default()
        )),
    }
}

/// Canonical form for comparison: white space runs as one space, trimmed, case-folded and
/// decomposed.
fn fold(s: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    let mut out = String::with_capacity(s.len());
    for word in s.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        if word.is_ascii() {
            // Nothing to decompose: the common case, without the normalizer's tables.
            out.extend(word.chars().map(|c| c.to_ascii_lowercase()));
        } else {
            out.extend(word.chars().flat_map(char::to_lowercase).nfkd());
        }
    }
    out
}

/// RFC 5256 §2.1: the base subject of a decoded subject, and whether a reply or forward
/// marker (`Re:`, `Fwd:`, `(fwd)`, `[fwd: ...]`) was removed from it. Not yet case-folded.
pub fn base_subject(decoded: &str) -> (String, bool) {
    // Step 1: tabs and line breaks as spaces, runs of spaces as one.
    let mut s = String::with_capacity(decoded.len());
    for c in decoded.chars() {
        let c = if c.is_ascii_whitespace() { ' ' } else { c };
        if c == ' ' && s.ends_with(' ') {
            continue;
        }
        s.push(c);
    }
    let mut reply = false;
    let mut s = s.as_str();
    loop {
        // Step 2: subj-trailer, `(fwd)` or WSP, repeatedly.
        loop {
            if let Some(rest) = s.strip_suffix(' ') {
                s = rest;
            } else if s.len() >= 5
                && s.is_char_boundary(s.len() - 5)
                && s[s.len() - 5..].eq_ignore_ascii_case("(fwd)")
            {
                s = &s[..s.len() - 5];
                reply = true;
            } else {
                break;
            }
        }
        // Steps 3 to 5: leaders, then one blob if something is left after it.
        loop {
            let before = s.len();
            while let Some((len, refwd)) = leader(s) {
                s = &s[len..];
                reply |= refwd;
            }
            if let Some(len) = blob(s) {
                if s[len..].bytes().any(|b| b != b' ') {
                    s = &s[len..];
                }
            }
            if s.len() == before {
                break;
            }
        }
        // Step 6: `[fwd: subject]`.
        if s.len() >= 6 && s.as_bytes()[..5].eq_ignore_ascii_case(b"[fwd:") && s.ends_with(']') {
            s = &s[5..s.len() - 1];
            reply = true;
            continue;
        }
        break;
    }
    (s.to_string(), reply)
}

/// `subj-blob = "[" *BLOBCHAR "]" *WSP`: its length at the start of `s`.
fn blob(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    if b.first() != Some(&b'[') {
        return None;
    }
    let close = 1 + b[1..].iter().position(|&c| c == b'[' || c == b']')?;
    if b[close] != b']' {
        return None;
    }
    let mut end = close + 1;
    while b.get(end) == Some(&b' ') {
        end += 1;
    }
    Some(end)
}

/// `subj-leader = (*subj-blob subj-refwd) / WSP`: its length at the start of `s`, and
/// whether it was a `subj-refwd`.
fn leader(s: &str) -> Option<(usize, bool)> {
    if s.starts_with(' ') {
        return Some((1, false));
    }
    let mut pos = 0;
    while let Some(len) = blob(&s[pos..]) {
        pos += len;
    }
    refwd(&s[pos..]).map(|len| (pos + len, true))
}

/// `subj-refwd = ("re" / ("fw" ["d"])) *WSP [subj-blob] ":"`.
fn refwd(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let starts = |p: &[u8]| b.len() >= p.len() && b[..p.len()].eq_ignore_ascii_case(p);
    let prefixes: &[&[u8]] = &[b"re", b"fwd", b"fw"];
    for p in prefixes {
        if !starts(p) {
            continue;
        }
        let mut pos = p.len();
        while b.get(pos) == Some(&b' ') {
            pos += 1;
        }
        if let Some(len) = blob(&s[pos..]) {
            pos += len;
        }
        if b.get(pos) == Some(&b':') {
            return Some(pos + 1);
        }
    }
    None
}

/// The records in the order of `criteria` (RFC 5256 §3): each criterion in turn, REVERSE
/// inverting it alone; messages equal on all of them in mailbox order.
pub fn sort(records: &mut [Record], criteria: &[SortCriterion]) {
    records.sort_by(|a, b| compare(a, b, criteria));
}

/// The order of two records under `criteria`, ties broken by UID (RFC 5256 §3: by sequence
/// number, which is UID order).
fn compare(a: &Record, b: &Record, criteria: &[SortCriterion]) -> Ordering {
    for c in criteria {
        let o = match c.key {
            SortKey::Arrival => a.arrival.cmp(&b.arrival),
            SortKey::Size => a.size.cmp(&b.size),
            SortKey::Date => a.date.cmp(&b.date),
            SortKey::Subject => a.subject.cmp(&b.subject),
            SortKey::From => a.from.cmp(&b.from),
            SortKey::To => a.to.cmp(&b.to),
            SortKey::Cc => a.cc.cmp(&b.cc),
            SortKey::DisplayFrom => a.display_from.cmp(&b.display_from),
            SortKey::DisplayTo => a.display_to.cmp(&b.display_to),
        };
        let o = if c.reverse { o.reverse() } else { o };
        if o.is_ne() {
            return o;
        }
    }
    a.uid.cmp(&b.uid)
}

/// One field of a [`SortKeys`].
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum KeyPart {
    Number(i64),
    Text(Box<str>),
}

/// What a kept SORT result (RFC 5267 §4, CONTEXT=SORT) holds of a message to place it: the
/// fields its criteria name, in their order, and nothing else of the [`Record`].
pub type SortKeys = Box<[KeyPart]>;

/// The fields of `record` that `criteria` compare.
pub fn sort_keys(record: &Record, criteria: &[SortCriterion]) -> SortKeys {
    criteria
        .iter()
        .map(|c| match c.key {
            SortKey::Arrival => KeyPart::Number(record.arrival),
            SortKey::Size => KeyPart::Number(i64::from(record.size)),
            SortKey::Date => KeyPart::Number(record.date),
            SortKey::Subject => KeyPart::Text(record.subject.as_str().into()),
            SortKey::From => KeyPart::Text(record.from.as_str().into()),
            SortKey::To => KeyPart::Text(record.to.as_str().into()),
            SortKey::Cc => KeyPart::Text(record.cc.as_str().into()),
            SortKey::DisplayFrom => KeyPart::Text(record.display_from.as_str().into()),
            SortKey::DisplayTo => KeyPart::Text(record.display_to.as_str().into()),
        })
        .collect()
}

/// The order of two messages by their [`SortKeys`], as [`sort`] orders their records.
pub fn compare_keys(
    (a, ua): (&[KeyPart], Uid),
    (b, ub): (&[KeyPart], Uid),
    criteria: &[SortCriterion],
) -> Ordering {
    for ((x, y), c) in a.iter().zip(b).zip(criteria) {
        let o = x.cmp(y);
        let o = if c.reverse { o.reverse() } else { o };
        if o.is_ne() {
            return o;
        }
    }
    ua.cmp(&ub)
}

/// A node of a thread tree: a message (an index into the records) or a dummy standing for
/// a message that is referred to but was not matched.
#[derive(Debug, Clone, Default)]
struct Node {
    msg: Option<usize>,
    parent: Option<usize>,
    children: Vec<usize>,
}

/// A thread forest: the root nodes in order, every node's children in order.
pub struct Forest {
    nodes: Vec<Node>,
    roots: Vec<usize>,
}

/// Thread `records` (in any order) with `algorithm`.
pub fn thread(records: &mut [Record], algorithm: ThreadAlgorithm) -> Forest {
    records.sort_by_key(|r| r.uid);
    match algorithm {
        ThreadAlgorithm::OrderedSubject => ordered_subject(records),
        ThreadAlgorithm::References => references(records, true),
        ThreadAlgorithm::Refs => references(records, false),
    }
}

/// RFC 5256 §2.3 ORDEREDSUBJECT: by base subject then sent date; each subject one thread,
/// its first message the parent of all the others; threads by their first message's date.
fn ordered_subject(records: &[Record]) -> Forest {
    let mut order: Vec<usize> = (0..records.len()).collect();
    order.sort_by(|&a, &b| {
        let (x, y) = (&records[a], &records[b]);
        (&x.subject, x.date, x.uid).cmp(&(&y.subject, y.date, y.uid))
    });
    let mut nodes: Vec<Node> = (0..records.len())
        .map(|i| Node {
            msg: Some(i),
            ..Node::default()
        })
        .collect();
    let mut roots = Vec::new();
    let mut i = 0;
    while i < order.len() {
        let root = order[i];
        let mut j = i + 1;
        while j < order.len() && records[order[j]].subject == records[root].subject {
            nodes[root].children.push(order[j]);
            nodes[order[j]].parent = Some(root);
            j += 1;
        }
        roots.push(root);
        i = j;
    }
    roots.sort_by_key(|&r| (records[r].date, records[r].uid));
    Forest { nodes, roots }
}

/// Whether `a` is `b` or one of its ancestors.
fn is_ancestor(nodes: &[Node], a: usize, b: usize) -> bool {
    let mut cur = Some(b);
    while let Some(n) = cur {
        if n == a {
            return true;
        }
        cur = nodes[n].parent;
    }
    false
}

fn link(nodes: &mut [Node], parent: usize, child: usize) {
    nodes[child].parent = Some(parent);
    nodes[parent].children.push(child);
}

fn unlink(nodes: &mut [Node], child: usize) {
    if let Some(p) = nodes[child].parent.take() {
        nodes[p].children.retain(|&c| c != child);
    }
}

/// RFC 5256 §2.4 REFERENCES (`by_subject`), or REFS: the same links without the subject
/// step, threads ordered by their latest message (draft-ietf-morg-inthread).
fn references(records: &[Record], by_subject: bool) -> Forest {
    let mut nodes: Vec<Node> = Vec::new();
    let mut ids: HashMap<&str, usize> = HashMap::new();
    // Step 1: link every message to its references.
    for (i, r) in records.iter().enumerate() {
        // 1.A: the message's container; a missing or duplicate Message-ID gets one of its own.
        let own = match r.id.as_deref() {
            Some(id) => match ids.get(id) {
                Some(&n) if nodes[n].msg.is_none() => {
                    nodes[n].msg = Some(i);
                    n
                }
                Some(_) => new_node(&mut nodes, Some(i)),
                None => {
                    let n = new_node(&mut nodes, Some(i));
                    ids.insert(id, n);
                    n
                }
            },
            None => new_node(&mut nodes, Some(i)),
        };
        // 1.B: each reference the parent of the next, unless already linked or a loop.
        let mut prev: Option<usize> = None;
        for id in &r.references {
            let n = match ids.get(id.as_str()) {
                Some(&n) => n,
                None => {
                    let n = new_node(&mut nodes, None);
                    ids.insert(id.as_str(), n);
                    n
                }
            };
            if let Some(p) = prev {
                if nodes[n].parent.is_none()
                    && !is_ancestor(&nodes, n, p)
                    && !is_ancestor(&nodes, p, n)
                {
                    link(&mut nodes, p, n);
                }
            }
            prev = Some(n);
        }
        // 1.C: the last reference is the message's parent (replacing a guessed one),
        // unless that makes a loop.
        unlink(&mut nodes, own);
        if let Some(p) = prev {
            if !is_ancestor(&nodes, own, p) {
                link(&mut nodes, p, own);
            }
        }
    }
    // Step 2: the root set, in the order the containers came.
    let roots: Vec<usize> = (0..nodes.len())
        .filter(|&n| nodes[n].parent.is_none())
        .collect();
    // Step 4: prune dummies (post-order, without recursion).
    let mut post = Vec::with_capacity(nodes.len());
    let mut stack: Vec<(usize, bool)> = roots.iter().rev().map(|&r| (r, false)).collect();
    while let Some((n, done)) = stack.pop() {
        if done {
            post.push(n);
            continue;
        }
        stack.push((n, true));
        stack.extend(nodes[n].children.iter().rev().map(|&c| (c, false)));
    }
    for &n in &post {
        let old = std::mem::take(&mut nodes[n].children);
        let mut kept = Vec::with_capacity(old.len());
        for c in old {
            if nodes[c].msg.is_some() {
                kept.push(c);
            } else {
                // A dummy below the root goes; its children (already pruned) move up.
                kept.append(&mut nodes[c].children);
            }
        }
        for &c in &kept {
            nodes[c].parent = Some(n);
        }
        nodes[n].children = kept;
    }
    let mut top = Vec::with_capacity(roots.len());
    for r in roots {
        if nodes[r].msg.is_some() || nodes[r].children.len() > 1 {
            top.push(r);
        } else if let Some(&only) = nodes[r].children.first() {
            // A dummy root with one child: the child becomes the root.
            nodes[only].parent = None;
            nodes[r].children.clear();
            top.push(only);
        }
    }
    let mut forest = Forest { nodes, roots: top };
    // Each set of siblings by sent date (RFC 5256 §2.4 steps 5 and 7).
    sort_children(&mut forest, records);
    if by_subject {
        sort_roots_by_first(&mut forest, records);
        gather_by_subject(&mut forest, records);
        sort_children(&mut forest, records);
        sort_roots_by_first(&mut forest, records);
    } else {
        // REFS: threads by their latest message.
        let latest = latest_dates(&forest, records);
        forest.roots.sort_by_key(|&r| latest[r]);
    }
    forest
}

fn new_node(nodes: &mut Vec<Node>, msg: Option<usize>) -> usize {
    nodes.push(Node {
        msg,
        ..Node::default()
    });
    nodes.len() - 1
}

/// The (sent date, UID) a node sorts by: its message's, or a dummy's first child's.
fn sort_key(forest: &Forest, records: &[Record], n: usize) -> (i64, Uid) {
    let m = forest.nodes[n].msg.or_else(|| {
        forest.nodes[n]
            .children
            .first()
            .and_then(|&c| forest.nodes[c].msg)
    });
    m.map_or((i64::MIN, Uid(0)), |m| (records[m].date, records[m].uid))
}

fn sort_children(forest: &mut Forest, records: &[Record]) {
    for n in 0..forest.nodes.len() {
        let mut kids = std::mem::take(&mut forest.nodes[n].children);
        kids.sort_by_key(|&c| {
            let m = forest.nodes[c].msg;
            m.map_or((i64::MIN, Uid(0)), |m| (records[m].date, records[m].uid))
        });
        forest.nodes[n].children = kids;
    }
}

fn sort_roots_by_first(forest: &mut Forest, records: &[Record]) {
    let mut roots = std::mem::take(&mut forest.roots);
    roots.sort_by_key(|&r| sort_key(forest, records, r));
    forest.roots = roots;
}

/// The latest (sent date, UID) in each node's subtree.
fn latest_dates(forest: &Forest, records: &[Record]) -> Vec<(i64, Uid)> {
    let mut latest = vec![(i64::MIN, Uid(0)); forest.nodes.len()];
    let mut post = Vec::new();
    let mut stack: Vec<(usize, bool)> = forest.roots.iter().map(|&r| (r, false)).collect();
    while let Some((n, done)) = stack.pop() {
        if done {
            post.push(n);
            continue;
        }
        stack.push((n, true));
        stack.extend(forest.nodes[n].children.iter().map(|&c| (c, false)));
    }
    for n in post {
        let own = forest.nodes[n]
            .msg
            .map_or((i64::MIN, Uid(0)), |m| (records[m].date, records[m].uid));
        latest[n] = forest.nodes[n]
            .children
            .iter()
            .map(|&c| latest[c])
            .fold(own, Ord::max);
    }
    latest
}

/// RFC 5256 §2.4 step 6: root threads with the same base subject gathered together.
fn gather_by_subject(forest: &mut Forest, records: &[Record]) {
    // The subject of a thread: its message's, or a dummy's first child's.
    let subject_of = |forest: &Forest, n: usize| -> Option<(usize, bool)> {
        let m = forest.nodes[n].msg.or_else(|| {
            forest.nodes[n]
                .children
                .first()
                .and_then(|&c| forest.nodes[c].msg)
        })?;
        (!records[m].subject.is_empty()).then_some((m, records[m].reply))
    };
    let is_dummy = |forest: &Forest, n: usize| forest.nodes[n].msg.is_none();
    // 6.B: one container per subject, preferring a dummy, then a non-reply.
    let mut table: HashMap<&str, usize> = HashMap::new();
    for &r in &forest.roots {
        let Some((m, reply)) = subject_of(forest, r) else {
            continue;
        };
        let subject = records[m].subject.as_str();
        match table.get(subject) {
            None => {
                table.insert(subject, r);
            }
            Some(&t) => {
                let t_reply = subject_of(forest, t).is_some_and(|(_, rp)| rp);
                if (is_dummy(forest, r) && !is_dummy(forest, t))
                    || (!is_dummy(forest, t) && !is_dummy(forest, r) && t_reply && !reply)
                {
                    table.insert(subject, r);
                }
            }
        }
    }
    // 6.C: merge every other root with that subject into the table's container.
    let mut roots: Vec<Option<usize>> = forest.roots.iter().map(|&r| Some(r)).collect();
    let mut slot: HashMap<usize, usize> = roots
        .iter()
        .enumerate()
        .filter_map(|(i, r)| r.map(|r| (r, i)))
        .collect();
    for i in 0..roots.len() {
        let Some(r) = roots[i] else { continue };
        let Some((m, reply)) = subject_of(forest, r) else {
            continue;
        };
        let subject = records[m].subject.as_str();
        let Some(&t) = table.get(subject) else {
            continue;
        };
        if t == r {
            continue;
        }
        let nodes = &mut forest.nodes;
        let (r_dummy, t_dummy) = (nodes[r].msg.is_none(), nodes[t].msg.is_none());
        let t_reply = nodes[t].msg.is_some_and(|tm| records[tm].reply);
        if r_dummy && t_dummy {
            for c in std::mem::take(&mut nodes[r].children) {
                link(nodes, t, c);
            }
            roots[i] = None;
        } else if t_dummy || (!r_dummy && !t_reply && reply) {
            // The message goes under the dummy, or the reply under the non-reply.
            link(nodes, t, r);
            roots[i] = None;
        } else if r_dummy || (t_reply && !reply) {
            link(nodes, r, t);
            if let Some(&ts) = slot.get(&t) {
                roots[ts] = None;
            }
            table.insert(subject, r);
        } else {
            // Both replies or neither: siblings under a new dummy, in the table's place.
            let d = new_node(&mut forest.nodes, None);
            link(&mut forest.nodes, d, t);
            link(&mut forest.nodes, d, r);
            if let Some(&ts) = slot.get(&t) {
                roots[ts] = Some(d);
                slot.insert(d, ts);
            }
            roots[i] = None;
            table.insert(subject, d);
        }
    }
    forest.roots = roots.into_iter().flatten().collect();
}

/// The THREAD response's data (RFC 5256 §4): `(2)(3 6 (4 23)(44 7 96))`, each message as
/// `number(uid)`; a chain of only children stays flat, siblings are nested lists.
pub fn encode(forest: &Forest, records: &[Record], number: impl Fn(Uid) -> Option<u32>) -> String {
    enum Task {
        Open(usize),
        Close,
    }
    let mut out = String::new();
    let mut stack: Vec<Task> = forest.roots.iter().rev().map(|&r| Task::Open(r)).collect();
    while let Some(task) = stack.pop() {
        let Task::Open(mut n) = task else {
            out.push(')');
            continue;
        };
        out.push('(');
        let mut written = false;
        loop {
            if let Some(num) = forest.nodes[n].msg.and_then(|m| number(records[m].uid)) {
                if written {
                    out.push(' ');
                }
                out.push_str(&num.to_string());
                written = true;
            }
            match forest.nodes[n].children.as_slice() {
                [] => {
                    out.push(')');
                    break;
                }
                [only] => n = *only,
                kids => {
                    if written {
                        out.push(' ');
                    }
                    stack.push(Task::Close);
                    stack.extend(kids.iter().rev().map(|&c| Task::Open(c)));
                    break;
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base(s: &str) -> (String, bool) {
        let (b, reply) = base_subject(s);
        (fold(&b), reply)
    }

    #[test]
    fn base_subjects() {
        for (raw, want, reply) in [
            ("Hello", "hello", false),
            ("Re: Hello", "hello", true),
            ("RE:  hello ", "hello", true),
            ("re: Re: RE: hello", "hello", true),
            ("Fwd: hello", "hello", true),
            ("FW: hello", "hello", true),
            ("Re [2]: hello", "hello", true),
            ("[ietf] Re: hello", "hello", true),
            ("[ietf] hello", "hello", false),
            ("Re: [ietf] Re: hello", "hello", true),
            ("[ietf]", "[ietf]", false),
            ("[a] [b] hello", "hello", false),
            ("hello (fwd)", "hello", true),
            ("hello (FWD) (fwd)  ", "hello", true),
            ("[fwd: hello]", "hello", true),
            ("[Fwd: Re: hello (fwd)]", "hello", true),
            ("Re:hello\t\tworld", "hello world", true),
            ("   ", "", false),
            ("", "", false),
            ("Re:", "", true),
            ("Ref: hello", "ref: hello", false),
            ("Réponse: hello", "re\u{301}ponse: hello", false),
            ("Über", "u\u{308}ber", false),
            ("é(fwd)", "e\u{301}", true),
            ("[é] ü", "u\u{308}", false),
            ("[fwd:é]", "e\u{301}", true),
            ("Re:[fwd: [é]]", "[e\u{301}]", true),
            ("[", "[", false),
            ("[fwd:]", "", true),
            ("ﬁle", "file", false),
        ] {
            assert_eq!(base(raw), (want.to_string(), reply), "{raw:?}");
        }
    }

    #[test]
    fn encoded_words_are_decoded() {
        let decoded = decode_text("=?UTF-8?B?UmU6IMOcYmVy?=");
        assert_eq!(decoded, "Re: Über");
        assert_eq!(base(&decoded), ("u\u{308}ber".to_string(), true));
        assert_eq!(decode_text("plain"), "plain");
    }

    #[test]
    fn message_ids() {
        assert_eq!(
            crate::imap::fetch::msg_ids("<a@b> junk <c\r\n @d> <nohost> <@x>"),
            vec!["a@b".to_string(), "c@d".to_string()]
        );
    }

    fn rec(uid: u32, date: i64, subject: &str, id: Option<&str>, refs: &[&str]) -> Record {
        let (b, reply) = base_subject(subject);
        Record {
            uid: Uid(uid),
            date,
            subject: fold(&b),
            reply,
            id: id.map(str::to_string),
            references: refs.iter().map(|s| s.to_string()).collect(),
            ..Record::default()
        }
    }

    fn threads(records: &mut [Record], alg: ThreadAlgorithm) -> String {
        let f = thread(records, alg);
        encode(&f, records, |u| Some(u.0))
    }

    #[test]
    fn references_links_prunes_and_gathers() {
        let mut r = vec![
            rec(1, 10, "a", Some("1@x"), &[]),
            rec(2, 20, "Re: a", Some("2@x"), &["1@x"]),
            // Its parent 9@x is missing: a dummy child of 1, pruned, 3 moves up.
            rec(3, 30, "Re: a", Some("3@x"), &["1@x", "9@x"]),
            rec(4, 40, "Re: a", Some("4@x"), &["1@x", "2@x"]),
            // Two threads under a missing root: a dummy root with two children stays.
            rec(5, 50, "b", Some("5@x"), &["8@x"]),
            rec(6, 45, "c", Some("6@x"), &["8@x"]),
            // Same subject as 1, no references: gathered under 1 as a reply.
            rec(7, 70, "Re: a", Some("7@x"), &[]),
            // A loop: 11 says 10 is its parent, 10 says 11 is.
            rec(10, 80, "loop", Some("10@x"), &["11@x"]),
            rec(11, 90, "Re: loop", Some("11@x"), &["10@x"]),
            // A duplicate Message-ID stands alone.
            rec(12, 5, "dup", Some("1@x"), &[]),
        ];
        assert_eq!(
            threads(&mut r, ThreadAlgorithm::References),
            "(12)(1 (2 4)(3)(7))((6)(5))(11 10)"
        );
        assert_eq!(
            threads(&mut r, ThreadAlgorithm::Refs),
            "(12)(1 (2 4)(3))((6)(5))(7)(11 10)"
        );
    }

    #[test]
    fn references_subject_merges() {
        // Both non-replies with one subject: siblings under a dummy.
        let mut r = vec![
            rec(1, 10, "x", Some("1@x"), &[]),
            rec(2, 20, "x", Some("2@x"), &[]),
            rec(3, 30, "Re: x", Some("3@x"), &[]),
            rec(4, 5, "", None, &[]),
            rec(5, 6, "", None, &[]),
        ];
        assert_eq!(
            threads(&mut r, ThreadAlgorithm::References),
            "(4)(5)((1)(2)(3))"
        );
    }

    #[test]
    fn ordered_subject() {
        // RFC 5256 §2.3 with the messages of its example shape.
        let mut r = vec![
            rec(1, 30, "b", None, &[]),
            rec(2, 10, "a", None, &[]),
            rec(3, 20, "Re: a", None, &[]),
            rec(4, 40, "Re: b", None, &[]),
            rec(5, 50, "a", None, &[]),
            rec(6, 60, "c", None, &[]),
            rec(7, 5, "d", None, &[]),
        ];
        assert_eq!(
            threads(&mut r, ThreadAlgorithm::OrderedSubject),
            "(7)(2 (3)(5))(1 4)(6)"
        );
    }

    #[test]
    fn rfc_5256_response_shape() {
        // RFC 5256 §4's example: `(2)(3 6 (4 23)(44 7 96))`, numbers as UIDs, dates rising
        // in the order the RFC lists them.
        let mut r = vec![
            rec(2, 1, "x", Some("2@x"), &[]),
            rec(3, 2, "y", Some("3@x"), &[]),
            rec(6, 3, "Re: y", Some("6@x"), &["3@x"]),
            rec(4, 4, "Re: y", Some("4@x"), &["3@x", "6@x"]),
            rec(23, 5, "Re: y", Some("23@x"), &["3@x", "6@x", "4@x"]),
            rec(44, 6, "Re: y", Some("44@x"), &["3@x", "6@x"]),
            rec(7, 7, "Re: y", Some("7@x"), &["6@x", "44@x"]),
            rec(96, 8, "Re: y", Some("96@x"), &["44@x", "7@x"]),
        ];
        assert_eq!(
            threads(&mut r, ThreadAlgorithm::References),
            "(2)(3 6 (4 23)(44 7 96))"
        );
        assert_eq!(threads(&mut [], ThreadAlgorithm::References), "");
    }

    fn fetched(uid: u32, internal_date: i64, raw: &str) -> FetchedMessage {
        let summary = crate::mail::MimeSummary::parse(raw.as_bytes());
        FetchedMessage {
            meta: crate::mail::MessageMeta {
                uid: Uid(uid),
                flags: crate::mail::Flags::default(),
                modseq: crate::mail::ModSeq(1),
                internal_date,
                size: raw.len() as u32,
                saved: None,
                email_id: u64::from(uid),
            },
            summary,
            bytes: Some(raw.as_bytes().to_vec().into()),
        }
    }

    #[test]
    fn records_take_only_what_the_order_needs() {
        use crate::imap::command::SortCriterion;
        let raw = "From: Team: \"Ann B\" <ann@x.org>, bob@y.org;\r\nTo: <to@x.org>\r\n\
                   Cc: =?UTF-8?Q?Z=C3=B6e?= <Zoe@Z.org>\r\nSubject: =?UTF-8?Q?Re:_Caf=C3=A9?=\r\n\
                   Date: Thu, 02 Jan 2020 01:00:00 +0300\r\nMessage-ID: <id@x>\r\n\
                   In-Reply-To: <parent@x> (sic)\r\n\r\nbody\r\n";
        let msg = fetched(7, 99, raw);
        let every = Order::Sort(
            [
                SortKey::Date,
                SortKey::Subject,
                SortKey::From,
                SortKey::To,
                SortKey::Cc,
                SortKey::DisplayFrom,
                SortKey::DisplayTo,
            ]
            .into_iter()
            .map(|key| SortCriterion {
                reverse: false,
                key,
            })
            .collect(),
        );
        let r = record(&every, &msg);
        assert_eq!(r.date, 1_577_916_000);
        assert_eq!(r.subject, "cafe\u{301}");
        assert!(r.reply);
        // A group's marker is skipped: its first member counts.
        assert_eq!(r.from, "ann");
        assert_eq!(r.display_from, "ann b");
        assert_eq!(r.to, "to");
        assert_eq!(r.display_to, "to@x.org");
        assert_eq!(r.cc, "zoe");
        assert_eq!((r.id.as_deref(), r.references.len()), (None, 0));
        // A sort on arrival keeps nothing else; THREAD=REFS takes the ids.
        let arrival = Order::Sort(vec![SortCriterion {
            reverse: true,
            key: SortKey::Arrival,
        }]);
        let r = record(&arrival, &msg);
        assert_eq!((r.arrival, r.date, r.subject.as_str()), (99, 99, ""));
        let r = record(&Order::Thread(ThreadAlgorithm::Refs), &msg);
        assert_eq!(r.id.as_deref(), Some("id@x"));
        assert_eq!(r.references, vec!["parent@x".to_string()]);
        // Without a Date field, the sent date is the arrival.
        let r = record(&every, &fetched(8, 1234, "Subject: x\r\n\r\n"));
        assert_eq!(
            (r.date, r.from.as_str(), r.display_from.as_str()),
            (1234, "", "")
        );
    }

    #[test]
    fn deep_chains_do_not_recurse() {
        let ids: Vec<String> = (0..5_000).map(|i| format!("{i}@x")).collect();
        let mut r: Vec<Record> = (0..5_000u32)
            .map(|i| Record {
                uid: Uid(i + 1),
                date: i64::from(i),
                id: Some(ids[i as usize].clone()),
                references: if i == 0 {
                    Vec::new()
                } else {
                    vec![ids[i as usize - 1].clone()]
                },
                ..Record::default()
            })
            .collect();
        let out = threads(&mut r, ThreadAlgorithm::References);
        assert!(out.starts_with("(1 2 3 "));
        assert!(out.ends_with(" 5000)"));
    }
}
