//! What one session and one operation are, per scenario.

use rand::rngs::SmallRng;
use rand::Rng;

use crate::cli::Opts;
use crate::conn::Endpoint;
use crate::error::Failure;
use crate::imap::Imap;
use crate::message::message;
use crate::pop3::Pop3;
use crate::smtp::Smtp;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scenario {
    ImapLogin,
    TlsHandshake,
    ImapChurn,
    ImapFetch,
    ImapAppend,
    ImapMixed,
    ImapSort,
    ImapThread,
    ImapSearchText,
    ImapSearchScan,
    SmtpSubmit,
    SmtpInbound,
    Pop3Retr,
    DavSync,
    DavMix,
}

/// What an operation did: its kind (for per-kind latency) and the bytes it received; for
/// HTTP, the requests it made and connections it opened, and the latency of its parts (each
/// request of a DAV sync) as further kinds.
#[derive(Default)]
pub struct Op {
    pub kind: &'static str,
    pub bytes: u64,
    pub requests: u64,
    pub connections: u64,
    pub parts: Vec<(&'static str, u64)>,
}

pub trait Session: Send {
    fn op(&mut self, ctx: &Ctx, rng: &mut SmallRng) -> Result<Op, Failure>;
    fn close(self: Box<Self>);
}

pub struct Ctx {
    pub opts: Opts,
    pub ep: Endpoint,
    pub scenario: Scenario,
    /// dav-mix: what each --user's client knows before the run (hrefs, sync-token), learned
    /// once before the clock starts.
    pub dav: Vec<crate::dav::Learned>,
}

impl Ctx {
    fn message(&self, rng: &mut SmallRng, from: &str, to: &str) -> Vec<u8> {
        let id = format!("{:016x}", rng.gen::<u64>());
        message(rng, self.opts.size, from, to, &id)
    }
}

/// Open a session for `worker` (its credentials are the worker's turn in --user).
pub fn open(ctx: &Ctx, worker: usize) -> Result<Box<dyn Session>, Failure> {
    let (user, pass) = ctx.opts.credentials(worker);
    let ep = &ctx.ep;
    Ok(match ctx.scenario {
        Scenario::ImapLogin => Box::new(LoginLoop { worker }),
        Scenario::TlsHandshake => Box::new(HandshakeLoop),
        Scenario::ImapChurn => Box::new(ChurnLoop { worker }),
        Scenario::ImapAppend => {
            let mut imap = Imap::connect(ep)?;
            imap.login(user, pass)?;
            Box::new(ImapSession {
                imap,
                user: user.into(),
            })
        }
        Scenario::ImapFetch
        | Scenario::ImapMixed
        | Scenario::ImapSort
        | Scenario::ImapThread
        | Scenario::ImapSearchText
        | Scenario::ImapSearchScan => {
            let mut imap = Imap::connect(ep)?;
            imap.login(user, pass)?;
            let n = imap.select(&ctx.opts.mailbox)?;
            if n == 0 && ctx.scenario != Scenario::ImapMixed {
                let _ = imap.logout();
                return Err(Failure::Setup("mailbox empty (run seed first)"));
            }
            Box::new(ImapSession {
                imap,
                user: user.into(),
            })
        }
        Scenario::SmtpSubmit => {
            let mut smtp = Smtp::connect(ep, &ctx.opts.helo)?;
            smtp.auth_plain(user, pass)?;
            if ctx.opts.pipelining {
                smtp.pipeline()?;
            }
            Box::new(SmtpSession {
                smtp,
                from: user.into(),
            })
        }
        Scenario::SmtpInbound => {
            let mut smtp = Smtp::connect(ep, &ctx.opts.helo)?;
            if ctx.opts.pipelining {
                smtp.pipeline()?;
            }
            Box::new(SmtpSession {
                smtp,
                from: ctx.opts.from.clone(),
            })
        }
        Scenario::DavSync => return crate::dav::open(ctx, worker, false),
        Scenario::DavMix => return crate::dav::open(ctx, worker, true),
        Scenario::Pop3Retr => {
            let mut pop = Pop3::connect(ep)?;
            pop.login(user, pass)?;
            let (count, _) = pop.stat()?;
            if count == 0 {
                let _ = pop.quit();
                return Err(Failure::Setup("mailbox empty (run seed first)"));
            }
            Box::new(Pop3Session { pop, count })
        }
    })
}

/// tls-handshake: the operation is a connection that ends after the greeting.
struct HandshakeLoop;

impl Session for HandshakeLoop {
    fn op(&mut self, ctx: &Ctx, _rng: &mut SmallRng) -> Result<Op, Failure> {
        let mut conn = crate::conn::Conn::open(&ctx.ep)?;
        let kind = match conn.handshake_kind() {
            Some(rustls::HandshakeKind::Resumed) => "resumed",
            _ => "full",
        };
        // The greeting: the server took the connection past its handshake.
        conn.read_line()?;
        Ok(Op {
            kind,
            bytes: conn.bytes_in,
            ..Op::default()
        })
    }

    fn close(self: Box<Self>) {}
}

/// imap-login: the operation is the whole session.
struct LoginLoop {
    worker: usize,
}

impl Session for LoginLoop {
    fn op(&mut self, ctx: &Ctx, _rng: &mut SmallRng) -> Result<Op, Failure> {
        let (user, pass) = ctx.opts.credentials(self.worker);
        let mut imap = Imap::connect(&ctx.ep)?;
        imap.login(user, pass)?;
        let bytes = imap.conn.bytes_in;
        imap.logout()?;
        Ok(Op {
            kind: "login",
            bytes,
            ..Op::default()
        })
    }

    fn close(self: Box<Self>) {}
}

/// imap-churn: the operation is a whole short session of a client checking its mail.
struct ChurnLoop {
    worker: usize,
}

impl Session for ChurnLoop {
    fn op(&mut self, ctx: &Ctx, rng: &mut SmallRng) -> Result<Op, Failure> {
        let (user, pass) = ctx.opts.credentials(self.worker);
        let mut imap = Imap::connect(&ctx.ep)?;
        imap.login(user, pass)?;
        let exists = imap.select(&ctx.opts.mailbox)?;
        if exists == 0 {
            let _ = imap.logout();
            return Err(Failure::Setup("mailbox empty (run seed first)"));
        }
        for _ in 0..3 {
            let n = rng.gen_range(1..=exists);
            imap.command("FETCH", &format!("FETCH {n} (FLAGS)"))?;
        }
        let n = rng.gen_range(1..=exists);
        imap.command("STORE", &format!("STORE {n} +FLAGS.SILENT (\\Seen)"))?;
        let bytes = imap.conn.bytes_in;
        imap.logout()?;
        Ok(Op {
            kind: "session",
            bytes,
            ..Op::default()
        })
    }

    fn close(self: Box<Self>) {}
}

struct ImapSession {
    imap: Imap,
    user: String,
}

impl ImapSession {
    fn fetch_body(&mut self, rng: &mut SmallRng) -> Result<Op, Failure> {
        let n = rng.gen_range(1..=self.imap.exists.max(1));
        let before = self.imap.conn.bytes_in;
        self.imap
            .command("FETCH", &format!("FETCH {n} BODY.PEEK[]"))?;
        Ok(Op {
            kind: "fetch-body",
            bytes: self.imap.conn.bytes_in - before,
            ..Op::default()
        })
    }

    fn append(&mut self, ctx: &Ctx, rng: &mut SmallRng) -> Result<Op, Failure> {
        let msg = ctx.message(rng, &self.user, &self.user);
        self.imap.append(&ctx.opts.mailbox, &msg)?;
        Ok(Op {
            kind: "append",
            bytes: 0,
            ..Op::default()
        })
    }

    /// One command over the whole selected mailbox (SORT, THREAD, SEARCH TEXT).
    fn whole_mailbox(
        &mut self,
        kind: &'static str,
        name: &'static str,
        line: &str,
    ) -> Result<Op, Failure> {
        let before = self.imap.conn.bytes_in;
        self.imap.command(name, line)?;
        Ok(Op {
            kind,
            bytes: self.imap.conn.bytes_in - before,
            ..Op::default()
        })
    }

    /// One imaptest-like operation, chosen by weight.
    fn mixed(&mut self, ctx: &Ctx, rng: &mut SmallRng) -> Result<Op, Failure> {
        let exists = self.imap.exists;
        let mut pick = rng.gen_range(0..100u32);
        if exists == 0 {
            // Nothing to fetch, store or expunge: refill first.
            return self.append(ctx, rng);
        }
        if (60..70).contains(&pick) && exists > 2000 {
            // Keep the mailbox from growing without bound: expunge instead of append.
            pick = 80;
        }
        let before = self.imap.conn.bytes_in;
        let n = rng.gen_range(1..=exists);
        let kind = match pick {
            0..=24 => {
                let end = (n + rng.gen_range(0..10)).min(exists);
                self.imap
                    .command("FETCH", &format!("FETCH {n}:{end} (UID FLAGS)"))?;
                "fetch-flags"
            }
            25..=44 => return self.fetch_body(rng),
            45..=64 => {
                let (sign, flag) = match rng.gen_range(0..4) {
                    0 => ('+', "\\Seen"),
                    1 => ('-', "\\Seen"),
                    2 => ('+', "\\Flagged"),
                    _ => ('-', "\\Flagged"),
                };
                self.imap
                    .command("STORE", &format!("STORE {n} {sign}FLAGS ({flag})"))?;
                "store"
            }
            65..=74 => {
                let q = if rng.gen_bool(0.5) {
                    "UNSEEN"
                } else {
                    "FLAGGED"
                };
                self.imap.command("SEARCH", &format!("SEARCH {q}"))?;
                "search"
            }
            75..=84 => return self.append(ctx, rng),
            85..=92 => {
                self.imap
                    .command("STORE", &format!("STORE {n} +FLAGS (\\Deleted)"))?;
                self.imap.command("EXPUNGE", "EXPUNGE")?;
                "expunge"
            }
            93..=97 => {
                self.imap.select(&ctx.opts.mailbox)?;
                "select"
            }
            _ => {
                self.imap.command("NOOP", "NOOP")?;
                "noop"
            }
        };
        Ok(Op {
            kind,
            bytes: self.imap.conn.bytes_in - before,
            ..Op::default()
        })
    }
}

impl Session for ImapSession {
    fn op(&mut self, ctx: &Ctx, rng: &mut SmallRng) -> Result<Op, Failure> {
        match ctx.scenario {
            Scenario::ImapFetch => self.fetch_body(rng),
            Scenario::ImapAppend => self.append(ctx, rng),
            Scenario::ImapSort => {
                self.whole_mailbox("sort", "SORT", "UID SORT (REVERSE DATE) UTF-8 ALL")
            }
            Scenario::ImapThread => {
                self.whole_mailbox("thread", "THREAD", "UID THREAD REFERENCES UTF-8 ALL")
            }
            Scenario::ImapSearchText => {
                // A word of the seeded text, so every message is read and many match.
                let word = crate::message::word(rng);
                self.whole_mailbox("search-text", "SEARCH", &format!("UID SEARCH TEXT {word}"))
            }
            Scenario::ImapSearchScan => {
                let word = crate::message::word(rng);
                let line = format!("UID SEARCH OR TEXT {word} TEXT {word}");
                self.whole_mailbox("search-scan", "SEARCH", &line)
            }
            _ => self.mixed(ctx, rng),
        }
    }

    fn close(self: Box<Self>) {
        let _ = self.imap.logout();
    }
}

struct SmtpSession {
    smtp: Smtp,
    from: String,
}

impl Session for SmtpSession {
    fn op(&mut self, ctx: &Ctx, rng: &mut SmallRng) -> Result<Op, Failure> {
        let rcpt = ctx.opts.rcpt();
        let msg = ctx.message(rng, &self.from, &rcpt);
        self.smtp.send(&self.from, &[rcpt], &msg)?;
        Ok(Op {
            kind: "message",
            bytes: 0,
            ..Op::default()
        })
    }

    fn close(self: Box<Self>) {
        let _ = self.smtp.quit();
    }
}

struct Pop3Session {
    pop: Pop3,
    count: u32,
}

impl Session for Pop3Session {
    fn op(&mut self, _ctx: &Ctx, rng: &mut SmallRng) -> Result<Op, Failure> {
        let n = rng.gen_range(1..=self.count);
        let bytes = self.pop.retr(n)?;
        Ok(Op {
            kind: "retr",
            bytes,
            ..Op::default()
        })
    }

    fn close(self: Box<Self>) {
        let _ = self.pop.quit();
    }
}
