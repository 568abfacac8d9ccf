//! `seed`: give fetch/retr scenarios data. IMAP APPEND tops --mailbox up to --count messages
//! (idempotent, synchronous); SMTP sends --count messages through the server.

use std::time::Instant;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::cli::{Opts, Via};
use crate::conn::Endpoint;
use crate::error::Failure;
use crate::imap::{quote, Imap};
use crate::message::message;
use crate::report::{Report, Stats};
use crate::smtp::Smtp;

pub fn run(opts: &Opts, ep: &Endpoint) -> Result<Report, String> {
    let start = Instant::now();
    let mut stats = Stats::default();
    let mut rng = SmallRng::seed_from_u64(opts.seed);
    let r = match opts.via {
        Via::Imap => seed_imap(opts, ep, &mut rng, &mut stats),
        Via::Smtp => seed_smtp(opts, ep, &mut rng, &mut stats),
    };
    r.map_err(|f| format!("seed: {f}"))?;
    let elapsed = start.elapsed().as_secs_f64();
    Ok(Report {
        scenario: "seed".into(),
        target: opts.target.to_string(),
        tls: format!("{:?}", opts.tls).to_lowercase(),
        mode: "closed".into(),
        sessions: 1,
        message_size: opts.size,
        elapsed_seconds: elapsed,
        ops: stats.ok,
        failed: stats.failed,
        ops_per_second: stats.ok as f64 / elapsed.max(1e-9),
        sessions_opened: 1,
        latency: crate::report::Latency::of(&stats.latency),
        failures: stats.failures,
        first_failure: stats.first_failure,
        ..Report::default()
    })
}

fn seed_imap(
    opts: &Opts,
    ep: &Endpoint,
    rng: &mut SmallRng,
    stats: &mut Stats,
) -> Result<(), Failure> {
    let (user, pass) = opts.credentials(0);
    let mut imap = Imap::connect(ep)?;
    imap.login(user, pass)?;
    if !opts.mailbox.eq_ignore_ascii_case("INBOX") {
        // NO when it exists already: fine.
        let _ = imap.command("CREATE", &format!("CREATE {}", quote(&opts.mailbox)));
    }
    let mut exists = imap.select(&opts.mailbox)?;
    if opts.reset && exists > 0 {
        imap.command("STORE", "STORE 1:* +FLAGS.SILENT (\\Deleted)")?;
        imap.command("EXPUNGE", "EXPUNGE")?;
        exists = imap.exists;
    }
    for i in exists..opts.count {
        let id = format!("seed-{}-{i}-{:08x}", opts.seed, rng.gen::<u32>());
        let msg = message(rng, opts.size, user, user, &id);
        let t = Instant::now();
        imap.append(&opts.mailbox, &msg)?;
        stats.record_ok("append", t.elapsed().as_micros() as u64, 0);
    }
    imap.logout()
}

fn seed_smtp(
    opts: &Opts,
    ep: &Endpoint,
    rng: &mut SmallRng,
    stats: &mut Stats,
) -> Result<(), Failure> {
    let (user, pass) = opts.credentials(0);
    let mut smtp = Smtp::connect(ep, &opts.helo)?;
    // Submission ports need AUTH; an inbound port is used with an empty --password.
    let from = if pass.is_empty() {
        opts.from.clone()
    } else {
        smtp.auth_plain(user, pass)?;
        user.to_string()
    };
    let rcpt = opts.rcpt();
    for i in 0..opts.count {
        let id = format!("seed-{}-{i}-{:08x}", opts.seed, rng.gen::<u32>());
        let msg = message(rng, opts.size, &from, &rcpt, &id);
        let t = Instant::now();
        smtp.send(&from, std::slice::from_ref(&rcpt), &msg)?;
        stats.record_ok("message", t.elapsed().as_micros() as u64, 0);
    }
    smtp.quit()
}
