//! SORT (RFC 5256 §3, with RFC 5957's DISPLAYFROM/DISPLAYTO) and THREAD (RFC 5256 §2.4:
//! ORDEREDSUBJECT and REFERENCES; draft-ietf-morg-inthread: REFS) over the messages a search
//! matched. The search keeps one compact [`Record`] per match (never the message): its index
//! data and the message's [`OrderFields`], which the store keeps once derived, so a SORT or
//! THREAD of a mailbox ordered before reads nothing else. The order is computed once the
//! last batch is in. Strings compare in `i;unicode-casemap`'s canonical form (see
//! [`crate::mail::order`]).

use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::Arc;

use super::super::command::{SortCriterion, SortKey, ThreadAlgorithm};
use super::search::Need;
use crate::mail::order::OrderFields;
use crate::mail::{MessageMeta, Uid};
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

    /// Whether the order needs each message's References (THREAD REFERENCES and REFS).
    pub fn references(&self) -> bool {
        matches!(
            self,
            Order::Thread(ThreadAlgorithm::References | ThreadAlgorithm::Refs)
        )
    }
}

/// What sorting or threading needs of one matched message: its index data and its
/// [`OrderFields`], shared with the store's copy (the keys an order does not need may be
/// empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub uid: Uid,
    /// INTERNALDATE (Unix seconds).
    pub arrival: i64,
    pub size: u32,
    /// The sent date (RFC 5256 §2.2): the Date field in UTC, or INTERNALDATE without one.
    pub date: i64,
    pub keys: Arc<OrderFields>,
}

impl Default for Record {
    fn default() -> Self {
        Record {
            uid: Uid(0),
            arrival: 0,
            size: 0,
            date: 0,
            keys: Arc::default(),
        }
    }
}

impl Record {
    /// The record of a message with index data `meta` and keys `keys`.
    pub fn new(meta: &MessageMeta, keys: Arc<OrderFields>) -> Record {
        Record {
            uid: meta.uid,
            arrival: meta.internal_date,
            size: meta.size,
            date: keys.sent.unwrap_or(meta.internal_date),
            keys,
        }
    }

    /// Its References (or In-Reply-To), none when they were not read.
    fn references(&self) -> &[Box<str>] {
        self.keys.references.as_deref().unwrap_or_default()
    }
}

/// The record of a matched message for `order`, its keys derived from what was fetched
/// (an order on arrival or size needs none; THREAD REFERENCES and REFS read the header
/// block's References).
pub fn record(order: &Order, msg: &FetchedMessage) -> Record {
    if order.need() < Need::Summary {
        return Record::new(&msg.meta, Arc::default());
    }
    let env = &msg.summary.envelope;
    let mut keys = OrderFields::of(env);
    if order.references() {
        let header = msg.bytes.as_deref().unwrap_or_default();
        let end = msg
            .summary
            .parts
            .first()
            .map_or(header.len(), |p| (p.body_offset as usize).min(header.len()));
        keys = keys.with_references(&header[..end], env);
    }
    Record::new(&msg.meta, Arc::new(keys))
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
            SortKey::Subject => a.keys.subject.cmp(&b.keys.subject),
            SortKey::From => a.keys.from.cmp(&b.keys.from),
            SortKey::To => a.keys.to.cmp(&b.keys.to),
            SortKey::Cc => a.keys.cc.cmp(&b.keys.cc),
            SortKey::DisplayFrom => a.keys.display_from.cmp(&b.keys.display_from),
            SortKey::DisplayTo => a.keys.display_to.cmp(&b.keys.display_to),
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
            SortKey::Subject => KeyPart::Text(record.keys.subject.clone()),
            SortKey::From => KeyPart::Text(record.keys.from.clone()),
            SortKey::To => KeyPart::Text(record.keys.to.clone()),
            SortKey::Cc => KeyPart::Text(record.keys.cc.clone()),
            SortKey::DisplayFrom => KeyPart::Text(record.keys.display_from.clone()),
            SortKey::DisplayTo => KeyPart::Text(record.keys.display_to.clone()),
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
        (&x.keys.subject, x.date, x.uid).cmp(&(&y.keys.subject, y.date, y.uid))
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
        while j < order.len() && records[order[j]].keys.subject == records[root].keys.subject {
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
        let own = match r.keys.id.as_deref() {
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
        for id in r.references() {
            let n = match ids.get(&**id) {
                Some(&n) => n,
                None => {
                    let n = new_node(&mut nodes, None);
                    ids.insert(&**id, n);
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
        (!records[m].keys.subject.is_empty()).then_some((m, records[m].keys.reply))
    };
    let is_dummy = |forest: &Forest, n: usize| forest.nodes[n].msg.is_none();
    // 6.B: one container per subject, preferring a dummy, then a non-reply.
    let mut table: HashMap<&str, usize> = HashMap::new();
    for &r in &forest.roots {
        let Some((m, reply)) = subject_of(forest, r) else {
            continue;
        };
        let subject = &*records[m].keys.subject;
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
        let subject = &*records[m].keys.subject;
        let Some(&t) = table.get(subject) else {
            continue;
        };
        if t == r {
            continue;
        }
        let nodes = &mut forest.nodes;
        let (r_dummy, t_dummy) = (nodes[r].msg.is_none(), nodes[t].msg.is_none());
        let t_reply = nodes[t].msg.is_some_and(|tm| records[tm].keys.reply);
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
    use crate::mail::order::{base_subject, decode_text, fold};

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
            keys: Arc::new(OrderFields {
                subject: fold(&b).into(),
                reply,
                id: id.map(Into::into),
                references: Some(refs.iter().map(|&s| s.into()).collect()),
                ..OrderFields::default()
            }),
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
        let k = &r.keys;
        assert_eq!(&*k.subject, "cafe\u{301}");
        assert!(k.reply);
        // A group's marker is skipped: its first member counts.
        assert_eq!(&*k.from, "ann");
        assert_eq!(&*k.display_from, "ann b");
        assert_eq!(&*k.to, "to");
        assert_eq!(&*k.display_to, "to@x.org");
        assert_eq!(&*k.cc, "zoe");
        // SORT needs no References: the header block is not read for them.
        assert_eq!(
            (k.id.as_deref(), k.references.is_none()),
            (Some("id@x"), true)
        );
        // A sort on arrival keeps nothing else; THREAD=REFS takes the ids.
        let arrival = Order::Sort(vec![SortCriterion {
            reverse: true,
            key: SortKey::Arrival,
        }]);
        let r = record(&arrival, &msg);
        assert_eq!((r.arrival, r.date, &*r.keys.subject), (99, 99, ""));
        let r = record(&Order::Thread(ThreadAlgorithm::Refs), &msg);
        assert_eq!(r.keys.id.as_deref(), Some("id@x"));
        assert_eq!(r.references(), ["parent@x".into()]);
        // Without a Date field, the sent date is the arrival.
        let r = record(&every, &fetched(8, 1234, "Subject: x\r\n\r\n"));
        assert_eq!(
            (r.date, &*r.keys.from, &*r.keys.display_from),
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
                keys: Arc::new(OrderFields {
                    id: Some(ids[i as usize].as_str().into()),
                    references: Some(if i == 0 {
                        Box::default()
                    } else {
                        Box::new([ids[i as usize - 1].as_str().into()])
                    }),
                    ..OrderFields::default()
                }),
                ..Record::default()
            })
            .collect();
        let out = threads(&mut r, ThreadAlgorithm::References);
        assert!(out.starts_with("(1 2 3 "));
        assert!(out.ends_with(" 5000)"));
    }
}
