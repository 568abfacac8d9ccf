//! Deterministic test messages of a given size.

use rand::Rng;

const WORDS: &[&str] = &[
    "mail",
    "engine",
    "thread",
    "core",
    "shard",
    "queue",
    "latency",
    "inbox",
    "folder",
    "flag",
    "server",
    "client",
    "message",
    "header",
    "body",
    "storage",
    "durable",
    "fsync",
    "ring",
    "post",
    "loopback",
    "session",
    "throughput",
    "percentile",
    "histogram",
    "seed",
];

/// An RFC 5322 message of exactly `size` bytes (or its headers, when `size` is smaller),
/// CRLF line endings, lines under 80 characters, no line starting with a dot.
pub fn message(rng: &mut impl Rng, size: usize, from: &str, to: &str, id: &str) -> Vec<u8> {
    // Dates spread over a year and one of 64 subjects, half of them replies: what SORT and
    // THREAD (imap-sort, imap-thread) have to order and group, as in a real mailbox.
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let date = format!(
        "{} {} 2025 {:02}:{:02}:{:02} +0000",
        rng.gen_range(1..=28),
        MONTHS[rng.gen_range(0..12)],
        rng.gen_range(0..24),
        rng.gen_range(0..60),
        rng.gen_range(0..60)
    );
    let reply = if rng.gen_bool(0.5) { "Re: " } else { "" };
    let topic = rng.gen_range(0..64);
    let mut out = format!(
        "From: <{from}>\r\nTo: <{to}>\r\nSubject: {reply}loadtest topic {topic}\r\n\
         Date: {date}\r\nMessage-ID: <{id}@loadtest.invalid>\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n"
    )
    .into_bytes();
    let header_len = out.len();
    while out.len() < size {
        let mut line = String::with_capacity(80);
        while line.len() < 66 {
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(WORDS[rng.gen_range(0..WORDS.len())]);
        }
        line.push_str("\r\n");
        out.extend_from_slice(line.as_bytes());
    }
    if out.len() > size {
        // Cut the last body line short so the total is exact, keeping the CRLF ending and
        // never leaving a bare CR or an empty last line.
        let target = size.max(header_len + 3);
        out.truncate(target - 2);
        while matches!(out.last(), Some(b'\r' | b'\n' | b' ')) {
            out.pop();
        }
        while out.len() < target - 2 {
            out.push(b'x');
        }
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// A word of the text [`message`] writes.
pub fn word(rng: &mut impl Rng) -> &'static str {
    WORDS[rng.gen_range(0..WORDS.len())]
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn exact_size_and_well_formed() {
        let mut rng = rand::rngs::SmallRng::seed_from_u64(1);
        for size in [1000usize, 4096, 100_000] {
            let m = message(&mut rng, size, "a@example.com", "b@example.com", "x1");
            assert_eq!(m.len(), size);
            assert!(m.ends_with(b"\r\n"));
            assert!(!m.windows(3).any(|w| w == b"\n.\r" || w == b"\n.."));
        }
    }
}
