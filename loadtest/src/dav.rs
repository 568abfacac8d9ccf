//! CalDAV/CardDAV (RFC 4918, RFC 4791, RFC 6352, RFC 6578) requests on `http`, and the DAV
//! scenarios: `dav-seed` (PUT events and vCards), `dav-sync` (vdirsyncer's first sync of a
//! calendar and an address book) and `dav-mix` (a client polling: PROPFINDs and REPORTs).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use rand::rngs::SmallRng;
use rand::seq::index::sample;
use rand::Rng;

use crate::cli::Opts;
use crate::conn::Endpoint;
use crate::davdata;
use crate::davxml::{self, escape, Multistatus};
use crate::error::Failure;
use crate::http::{Client, Response};
use crate::procstat;
use crate::report::{Latency, Report, Stats};
use crate::runner::{server_stats, Limits, Sampler};
use crate::scenarios::{Ctx, Op, Session};

const XML: &str = "application/xml; charset=utf-8";
const HEADER: &str = r#"<?xml version="1.0" encoding="utf-8"?>"#;
const NS: &str = r#"xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav" xmlns:CR="urn:ietf:params:xml:ns:carddav" xmlns:CS="http://calendarserver.org/ns/""#;

/// Hrefs per multiget in `dav-mix`.
const MIX_MULTIGET: usize = 10;

/// A collection path with `<user>` replaced by the login.
pub fn collection_path(template: &str, user: &str) -> String {
    let mut p = template.replace("<user>", user);
    if !p.starts_with('/') {
        p.insert(0, '/');
    }
    if !p.ends_with('/') {
        p.push('/');
    }
    p
}

/// The path of an href: servers may answer with absolute URLs (RFC 4918 §8.3).
fn href_path(href: &str) -> &str {
    for scheme in ["https://", "http://"] {
        if let Some(rest) = href.strip_prefix(scheme) {
            return rest.find('/').map_or("/", |i| &rest[i..]);
        }
    }
    href
}

/// Which collection a request goes to.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Coll {
    Calendar,
    AddressBook,
}

/// One user's DAV client: an HTTP connection and the two collections' paths.
pub struct Dav {
    pub http: Client,
    pub calendar: String,
    pub addressbook: String,
    /// Request, connection and byte counts already reported in an `Op`.
    reported: (u64, u64, u64),
}

impl Dav {
    pub fn new(opts: &Opts, ep: &Endpoint, worker: usize) -> Dav {
        let (user, pass) = opts.credentials(worker);
        Dav {
            http: Client::new(ep, user, pass, opts.max_body),
            calendar: collection_path(&opts.calendar, user),
            addressbook: collection_path(&opts.addressbook, user),
            reported: (0, 0, 0),
        }
    }

    fn path(&self, c: Coll) -> String {
        match c {
            Coll::Calendar => self.calendar.clone(),
            Coll::AddressBook => self.addressbook.clone(),
        }
    }

    /// An `Op` of `kind` carrying the requests, connections and bytes since the last one
    /// (those of failed operations and of the session's setup included).
    fn op(&mut self, kind: &'static str, parts: Vec<(&'static str, u64)>) -> Op {
        let now = (
            self.http.requests,
            self.http.connections,
            self.http.bytes_in(),
        );
        let op = Op {
            kind,
            bytes: now.2 - self.reported.2,
            requests: now.0 - self.reported.0,
            connections: now.1 - self.reported.1,
            parts,
        };
        self.reported = now;
        op
    }

    /// A PROPFIND or REPORT that must answer 207 Multi-Status.
    fn multistatus(
        &mut self,
        kind: &'static str,
        method: &str,
        path: &str,
        depth: &str,
        body: &str,
    ) -> Result<Multistatus, Failure> {
        let resp = self.http.request(
            method,
            path,
            &[("Depth", depth), ("Content-Type", XML)],
            body.as_bytes(),
        )?;
        if resp.status != 207 {
            return Err(resp.failure(kind));
        }
        davxml::multistatus(&resp.body).map_err(|e| Failure::reply(kind, "bad XML", e.as_bytes()))
    }

    /// PROPFIND Depth 1 for getetag and getcontenttype (as vdirsyncer lists a collection):
    /// the members' hrefs (the collection itself and any sub-collection left out).
    pub fn members(&mut self, kind: &'static str, c: Coll) -> Result<Vec<String>, Failure> {
        let body = format!(
            "{HEADER}<D:propfind {NS}><D:prop><D:resourcetype/><D:getcontenttype/><D:getetag/></D:prop></D:propfind>"
        );
        let path = self.path(c);
        let ms = self.multistatus(kind, "PROPFIND", &path, "1", &body)?;
        let mut out = Vec::with_capacity(ms.responses.len());
        for e in ms.responses {
            let p = href_path(&e.href);
            if p.is_empty() || p.ends_with('/') || (e.status != 0 && e.status != 200) {
                continue;
            }
            out.push(p.to_string());
        }
        Ok(out)
    }

    /// calendar-multiget / addressbook-multiget of `hrefs` with the data; every href must
    /// come back with it. Returns how many did.
    pub fn multiget(
        &mut self,
        kind: &'static str,
        c: Coll,
        hrefs: &[String],
    ) -> Result<usize, Failure> {
        let (root, data) = match c {
            Coll::Calendar => ("C:calendar-multiget", "C:calendar-data"),
            Coll::AddressBook => ("CR:addressbook-multiget", "CR:address-data"),
        };
        let mut body = format!("{HEADER}<{root} {NS}><D:prop><D:getetag/><{data}/></D:prop>");
        for h in hrefs {
            body.push_str("<D:href>");
            body.push_str(&escape(h));
            body.push_str("</D:href>");
        }
        body.push_str(&format!("</{root}>"));
        let path = self.path(c);
        let ms = self.multistatus(kind, "REPORT", &path, "1", &body)?;
        let local = data.trim_start_matches("CR:").trim_start_matches("C:");
        let got = ms
            .responses
            .iter()
            .filter(|e| e.ok_prop(local).is_some_and(|d| d.contains("BEGIN:")))
            .count();
        if got != hrefs.len() {
            let text = format!(
                "asked for {} hrefs, {got} came back with {local} ({} responses)",
                hrefs.len(),
                ms.responses.len()
            );
            return Err(Failure::reply(kind, "incomplete", text.as_bytes()));
        }
        Ok(got)
    }

    /// PROPFIND Depth 0 on the calendar for getctag and sync-token: the sync-token.
    pub fn ctag(&mut self, kind: &'static str) -> Result<Option<String>, Failure> {
        let body = format!(
            "{HEADER}<D:propfind {NS}><D:prop><CS:getctag/><D:sync-token/></D:prop></D:propfind>"
        );
        let path = self.calendar.clone();
        let ms = self.multistatus(kind, "PROPFIND", &path, "0", &body)?;
        let Some(e) = ms.responses.first() else {
            return Err(Failure::reply(kind, "empty", b"207 without a response"));
        };
        Ok(e.ok_prop("sync-token").map(|t| t.trim().to_string()))
    }

    /// calendar-query for the events with an instance in [start, start + 7 days).
    pub fn calendar_query(&mut self, kind: &'static str, start: i64) -> Result<usize, Failure> {
        let body = format!(
            "{HEADER}<C:calendar-query {NS}><D:prop><D:getetag/><C:calendar-data/></D:prop><C:filter><C:comp-filter name=\"VCALENDAR\"><C:comp-filter name=\"VEVENT\"><C:time-range start=\"{}\" end=\"{}\"/></C:comp-filter></C:comp-filter></C:filter></C:calendar-query>",
            davdata::utc(start),
            davdata::utc(start + 7 * 86_400)
        );
        let path = self.calendar.clone();
        let ms = self.multistatus(kind, "REPORT", &path, "1", &body)?;
        Ok(ms.responses.len())
    }

    /// addressbook-query: the cards whose FN contains `text` (default collation,
    /// i;unicode-casemap).
    pub fn addressbook_query(&mut self, kind: &'static str, text: &str) -> Result<usize, Failure> {
        let body = format!(
            "{HEADER}<CR:addressbook-query {NS}><D:prop><D:getetag/><CR:address-data/></D:prop><CR:filter><CR:prop-filter name=\"FN\"><CR:text-match match-type=\"contains\">{}</CR:text-match></CR:prop-filter></CR:filter></CR:addressbook-query>",
            escape(text)
        );
        let path = self.addressbook.clone();
        let ms = self.multistatus(kind, "REPORT", &path, "1", &body)?;
        Ok(ms.responses.len())
    }

    /// sync-collection on the calendar from `token` ("" for an initial sync): the new token
    /// and the number of changes.
    pub fn sync_collection(
        &mut self,
        kind: &'static str,
        token: &str,
    ) -> Result<(String, usize), Failure> {
        let body = format!(
            "{HEADER}<D:sync-collection {NS}><D:sync-token>{}</D:sync-token><D:sync-level>1</D:sync-level><D:prop><D:getetag/></D:prop></D:sync-collection>",
            escape(token)
        );
        let path = self.calendar.clone();
        let ms = self.multistatus(kind, "REPORT", &path, "0", &body)?;
        let Some(new) = ms.sync_token else {
            return Err(Failure::reply(
                kind,
                "no token",
                b"207 without a sync-token",
            ));
        };
        Ok((new, ms.responses.len()))
    }

    fn expect_success(&mut self, kind: &'static str, resp: Response) -> Result<u16, Failure> {
        if resp.is_success() {
            Ok(resp.status)
        } else {
            Err(resp.failure(kind))
        }
    }

    /// PUT a new object (If-None-Match: *).
    pub fn put(
        &mut self,
        kind: &'static str,
        path: &str,
        content_type: &str,
        body: &[u8],
    ) -> Result<u16, Failure> {
        let resp = self.http.request(
            "PUT",
            path,
            &[("Content-Type", content_type), ("If-None-Match", "*")],
            body,
        )?;
        self.expect_success(kind, resp)
    }

    pub fn delete(&mut self, kind: &'static str, path: &str) -> Result<u16, Failure> {
        let resp = self.http.request("DELETE", path, &[], b"")?;
        self.expect_success(kind, resp)
    }

    /// Make sure the collection exists: PROPFIND Depth 0, and when it answers 404 and
    /// `create` is set, MKCALENDAR (RFC 4791 §5.3.1) or an extended MKCOL (RFC 5689).
    pub fn ensure(&mut self, c: Coll, create: bool) -> Result<(), Failure> {
        let path = self.path(c);
        let body =
            format!("{HEADER}<D:propfind {NS}><D:prop><D:resourcetype/></D:prop></D:propfind>");
        let resp = self.http.request(
            "PROPFIND",
            &path,
            &[("Depth", "0"), ("Content-Type", XML)],
            body.as_bytes(),
        )?;
        if resp.status == 207 {
            return Ok(());
        }
        if resp.status != 404 || !create {
            return Err(resp.failure("PROPFIND"));
        }
        let (method, kind, body) = match c {
            Coll::Calendar => (
                "MKCALENDAR",
                "MKCALENDAR",
                format!("{HEADER}<C:mkcalendar {NS}><D:set><D:prop><D:displayname>loadtest</D:displayname><C:supported-calendar-component-set><C:comp name=\"VEVENT\"/></C:supported-calendar-component-set></D:prop></D:set></C:mkcalendar>"),
            ),
            Coll::AddressBook => (
                "MKCOL",
                "MKCOL",
                format!("{HEADER}<D:mkcol {NS}><D:set><D:prop><D:resourcetype><D:collection/><CR:addressbook/></D:resourcetype><D:displayname>loadtest</D:displayname></D:prop></D:set></D:mkcol>"),
            ),
        };
        let resp = self
            .http
            .request(method, &path, &[("Content-Type", XML)], body.as_bytes())?;
        self.expect_success(kind, resp).map(|_| ())
    }
}

// ------------------------------------------------------------------------ dav-sync

/// `dav-sync`: one operation is vdirsyncer's first sync of the calendar and the address book.
pub struct SyncSession {
    dav: Dav,
}

impl Session for SyncSession {
    fn op(&mut self, ctx: &Ctx, _rng: &mut SmallRng) -> Result<Op, Failure> {
        let batch = ctx.opts.batch.max(1);
        let mut parts = Vec::new();
        for (c, list, get) in [
            (Coll::Calendar, "cal propfind-d1", "cal multiget"),
            (Coll::AddressBook, "ab propfind-d1", "ab multiget"),
        ] {
            let t = Instant::now();
            let hrefs = self.dav.members(list, c)?;
            parts.push((list, t.elapsed().as_micros() as u64));
            if hrefs.is_empty() {
                return Err(Failure::Setup("collection empty (run dav-seed first)"));
            }
            // Bounded by the listing's length.
            for chunk in hrefs.chunks(batch) {
                let t = Instant::now();
                self.dav.multiget(get, c, chunk)?;
                parts.push((get, t.elapsed().as_micros() as u64));
            }
        }
        Ok(self.dav.op("full sync", parts))
    }

    fn close(self: Box<Self>) {
        self.dav.http.close();
    }
}

// ------------------------------------------------------------------------ dav-mix

/// `dav-mix`: a polling client's requests, one per operation, chosen uniformly.
pub struct MixSession {
    dav: Dav,
    events: Arc<Vec<String>>,
    cards: Arc<Vec<String>>,
    token: String,
}

const MIX_KINDS: [&str; 7] = [
    "cal propfind-d0",
    "cal propfind-d1",
    "cal query",
    "cal multiget",
    "ab query",
    "ab multiget",
    "cal sync",
];

impl MixSession {
    fn random_hrefs(list: &[String], rng: &mut SmallRng) -> Vec<String> {
        let n = MIX_MULTIGET.min(list.len());
        sample(rng, list.len(), n)
            .into_iter()
            .map(|i| list[i].clone())
            .collect()
    }
}

impl Session for MixSession {
    fn op(&mut self, _ctx: &Ctx, rng: &mut SmallRng) -> Result<Op, Failure> {
        let kind = MIX_KINDS[rng.gen_range(0..MIX_KINDS.len())];
        match kind {
            "cal propfind-d0" => {
                self.dav.ctag(kind)?;
            }
            "cal propfind-d1" => {
                let n = self.dav.members(kind, Coll::Calendar)?.len();
                if n == 0 {
                    return Err(Failure::reply(kind, "empty", b"no members listed"));
                }
            }
            "cal query" => {
                let week = rng.gen_range(0..52i64);
                self.dav
                    .calendar_query(kind, davdata::YEAR_START + week * 7 * 86_400)?;
            }
            "cal multiget" => {
                let hrefs = Self::random_hrefs(&self.events, rng);
                self.dav.multiget(kind, Coll::Calendar, &hrefs)?;
            }
            "ab query" => {
                let names = davdata::FIRST_NAMES;
                let name = names[rng.gen_range(0..names.len())];
                self.dav.addressbook_query(kind, name)?;
            }
            "ab multiget" => {
                let hrefs = Self::random_hrefs(&self.cards, rng);
                self.dav.multiget(kind, Coll::AddressBook, &hrefs)?;
            }
            _ => match self.dav.sync_collection(kind, &self.token) {
                Ok((token, _changes)) => self.token = token,
                Err(f) => {
                    // A refused token (403 valid-sync-token, or 412): start over with an
                    // initial sync next time, as a client would.
                    if let Failure::Reply { code, .. } = &f {
                        if code.starts_with('4') {
                            self.token.clear();
                        }
                    }
                    return Err(f);
                }
            },
        }
        Ok(self.dav.op(kind, Vec::new()))
    }

    fn close(self: Box<Self>) {
        self.dav.http.close();
    }
}

/// What a polling client knows from its first sync: the members' hrefs and the calendar's
/// sync-token.
pub struct Learned {
    events: Arc<Vec<String>>,
    cards: Arc<Vec<String>>,
    token: String,
}

/// Learn, for each --user, what `dav-mix` sessions start from: one client per user lists
/// both collections (PROPFIND Depth 1) and reads the calendar's sync-token (Depth 0) before
/// the run, so that those three large requests per session are not part of the mix measured
/// (a polling client made them long before).
pub fn learn(opts: &Opts, ep: &Endpoint) -> Result<Vec<Learned>, String> {
    let mut out = Vec::new();
    // Bounded by the number of --user values.
    for i in 0..opts.user.len().max(1) {
        let mut dav = Dav::new(opts, ep, i);
        let who = opts.credentials(i).0.to_string();
        let r = (|| {
            let events = dav.members("PROPFIND", Coll::Calendar)?;
            let cards = dav.members("PROPFIND", Coll::AddressBook)?;
            let token = dav.ctag("PROPFIND")?.unwrap_or_default();
            Ok::<_, Failure>((events, cards, token))
        })();
        dav.http.close();
        let (events, cards, token) = r.map_err(|f| format!("dav-mix: {who}: {f}"))?;
        if events.is_empty() || cards.is_empty() {
            return Err(format!(
                "dav-mix: {who}: {} holds {} objects, {} holds {} (run dav-seed first)",
                dav.calendar,
                events.len(),
                dav.addressbook,
                cards.len()
            ));
        }
        out.push(Learned {
            events: Arc::new(events),
            cards: Arc::new(cards),
            token,
        });
    }
    Ok(out)
}

/// Open a `dav-sync` or `dav-mix` session for `worker`; no request is made yet.
pub fn open(ctx: &Ctx, worker: usize, mix: bool) -> Result<Box<dyn Session>, Failure> {
    let dav = Dav::new(&ctx.opts, &ctx.ep, worker);
    if !mix {
        return Ok(Box::new(SyncSession { dav }));
    }
    let Some(learned) = ctx.dav.get(worker % ctx.dav.len().max(1)) else {
        return Err(Failure::Setup("nothing learned (run dav-seed first)"));
    };
    Ok(Box::new(MixSession {
        dav,
        events: learned.events.clone(),
        cards: learned.cards.clone(),
        token: learned.token.clone(),
    }))
}

// ------------------------------------------------------------------------ dav-seed

/// Failures without a single success after which dav-seed gives up.
const SEED_GIVE_UP: u64 = 200;

/// `dav-seed`: --count events into --calendar and --count vCards into --addressbook, PUT by
/// --sessions connections at once; --create makes missing collections, --reset deletes
/// their members first.
pub fn seed(opts: &Opts, ep: &Endpoint) -> Result<Report, String> {
    let count = u64::from(opts.count);
    let prefix = match &opts.uid_prefix {
        Some(p) => p.clone(),
        None => {
            let secs = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            format!("lt{secs:x}s{}", opts.seed)
        }
    };
    if prefix.is_empty()
        || !prefix
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
    {
        return Err("--uid-prefix: letters, digits, '-', '_' and '.' only".into());
    }
    let mut setup = Dav::new(opts, ep, 0);
    let mut notes = Vec::new();
    for c in [Coll::Calendar, Coll::AddressBook] {
        setup
            .ensure(c, opts.create)
            .map_err(|f| format!("dav-seed: {}: {f}", setup.path(c)))?;
        if opts.reset {
            let kind = "PROPFIND";
            let members = setup
                .members(kind, c)
                .map_err(|f| format!("dav-seed --reset: {f}"))?;
            // Bounded by the listing.
            for m in &members {
                setup
                    .delete("DELETE", m)
                    .map_err(|f| format!("dav-seed --reset: {m}: {f}"))?;
            }
            notes.push(format!(
                "--reset deleted {} members of {}",
                members.len(),
                setup.path(c)
            ));
        }
    }
    setup.http.close();

    let total = count * 2;
    let sessions = opts.sessions.clamp(1, total.max(1) as usize);
    let next = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let limits = Arc::new(Limits::new(None, Some(total), opts.max_time));
    let before = procstat::sample(&opts.server_pid, false);
    let progress = {
        let (d, f, start) = (done.clone(), failed.clone(), limits.start);
        move || {
            let ok = d.load(Ordering::Relaxed);
            let secs = start.elapsed().as_secs_f64().max(0.001);
            format!(
                "PUT {ok}/{total} ({:.0}/s) failed {}",
                ok as f64 / secs,
                f.load(Ordering::Relaxed)
            )
        }
    };
    let sampler = Sampler::start(
        opts.server_pid.clone(),
        "dav-seed".into(),
        opts.quiet,
        progress,
    );
    let stats_all = Arc::new(Mutex::new(Stats::default()));
    let mut handles = Vec::new();
    for worker in 0..sessions {
        let (opts, ep, next, done, failed, limits, stats_all, prefix) = (
            opts.clone(),
            ep.clone(),
            next.clone(),
            done.clone(),
            failed.clone(),
            limits.clone(),
            stats_all.clone(),
            prefix.clone(),
        );
        let spawned = std::thread::Builder::new()
            .name(format!("dav-seed-{worker}"))
            .stack_size(512 * 1024)
            .spawn(move || {
                // Every worker PUTs as user 0: the collections set up above are theirs.
                let mut dav = Dav::new(&opts, &ep, 0);
                let mut stats = Stats::default();
                // Every iteration takes a ticket: bounded by 2 × --count and the deadline.
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= total || Instant::now() >= limits.deadline {
                        break;
                    }
                    if done.load(Ordering::Relaxed) == 0
                        && failed.load(Ordering::Relaxed) >= SEED_GIVE_UP
                    {
                        break;
                    }
                    let (kind, coll, (name, body), ctype) = if i < count {
                        (
                            "put event",
                            dav.calendar.clone(),
                            davdata::event(&prefix, opts.seed, i),
                            "text/calendar; charset=utf-8",
                        )
                    } else {
                        (
                            "put vcard",
                            dav.addressbook.clone(),
                            davdata::vcard(&prefix, opts.seed, i - count),
                            "text/vcard; charset=utf-8",
                        )
                    };
                    let t = Instant::now();
                    match dav.put(kind, &format!("{coll}{name}"), ctype, body.as_bytes()) {
                        Ok(_) => {
                            let op = dav.op(kind, Vec::new());
                            stats.record_ok(kind, t.elapsed().as_micros() as u64, op.bytes);
                            stats.requests += op.requests;
                            stats.connections += op.connections;
                            done.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(f) => {
                            stats.record_failure(&f);
                            failed.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
                let op = dav.op("", Vec::new());
                stats.requests += op.requests;
                stats.connections += op.connections;
                dav.http.close();
                if let Ok(mut all) = stats_all.lock() {
                    all.merge(stats);
                }
            });
        match spawned {
            Ok(h) => handles.push(h),
            Err(e) => {
                eprintln!("loadtest: could not start session thread {worker}: {e}");
                break;
            }
        }
    }
    for h in handles {
        let _ = h.join();
    }
    let elapsed = limits.start.elapsed().as_secs_f64();
    let peak = sampler.finish();
    let stats = std::mem::take(&mut *stats_all.lock().unwrap_or_else(|e| e.into_inner()));
    let mut server = server_stats(&opts.server_pid, before, peak, stats.ok);
    if let Some(s) = server.as_mut() {
        s.requests_per_core_second = if s.cpu_seconds > 0.0 {
            stats.requests as f64 / s.cpu_seconds
        } else {
            0.0
        };
    }

    // What the collections hold now.
    let mut check = Dav::new(opts, ep, 0);
    for c in [Coll::Calendar, Coll::AddressBook] {
        match check.members("PROPFIND", c) {
            Ok(m) => notes.push(format!("{} holds {} objects", check.path(c), m.len())),
            Err(f) => notes.push(format!("{}: listing failed: {f}", check.path(c))),
        }
    }
    check.http.close();
    notes.push(format!("UIDs {prefix}-ev-N and {prefix}-vc-N"));

    Ok(Report {
        scenario: "dav-seed".into(),
        target: opts.target.to_string(),
        tls: format!("{:?}", opts.tls).to_lowercase(),
        mode: "closed".into(),
        sessions,
        elapsed_seconds: elapsed,
        ops: stats.ok,
        failed: stats.failed,
        ops_per_second: stats.ok as f64 / elapsed.max(1e-9),
        bytes_received: stats.bytes,
        mb_per_second: stats.bytes as f64 / 1e6 / elapsed.max(1e-9),
        sessions_opened: sessions as u64,
        requests: stats.requests,
        requests_per_second: stats.requests as f64 / elapsed.max(1e-9),
        connections_opened: stats.connections,
        latency: Latency::of(&stats.latency),
        by_kind: stats
            .by_kind
            .iter()
            .map(|(k, h)| (k.to_string(), Latency::of(h)))
            .collect(),
        failures: stats.failures,
        first_failure: stats.first_failure,
        server,
        notes,
        ..Report::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert_eq!(
            collection_path("/SOGo/dav/<user>/Calendar/personal/", "a@b"),
            "/SOGo/dav/a@b/Calendar/personal/"
        );
        assert_eq!(collection_path("<user>/calendar", "a"), "/a/calendar/");
        assert_eq!(href_path("https://h:1/x/y.ics"), "/x/y.ics");
        assert_eq!(href_path("/x/y.ics"), "/x/y.ics");
        assert_eq!(href_path("http://h"), "/");
    }
}
