//! Deterministic calendar objects (iCalendar, RFC 5545) and vCards (3.0, RFC 2426) for the DAV
//! scenarios: events spread over one year (`YEAR`), one in five recurring, and contacts whose
//! FN is built from short name lists, so a text-match on a first name finds a share of them.

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// The year the seeded events fall in; calendar-query windows are weeks of it.
pub const YEAR: i32 = 2026;
/// 2026-01-01T00:00:00Z.
pub const YEAR_START: i64 = 1_767_225_600;

pub const FIRST_NAMES: &[&str] = &[
    "Anna", "Bernd", "Clara", "David", "Emma", "Felix", "Greta", "Hannes", "Ida", "Jonas", "Karla",
    "Lukas", "Mia", "Noah", "Olga", "Paul", "Rosa", "Simon", "Tilda", "Viktor",
];

const LAST_NAMES: &[&str] = &[
    "Berg", "Fischer", "Hahn", "Jung", "Klein", "Lang", "Meyer", "Neumann", "Otto", "Peters",
    "Richter", "Schmidt", "Vogel", "Wolf", "Zimmer",
];

const TOPICS: &[&str] = &[
    "Planning",
    "Review",
    "Standup",
    "Retro",
    "Lunch",
    "Workshop",
    "Interview",
    "Dentist",
    "Call",
    "Training",
    "Budget",
    "Release",
    "Offsite",
    "Demo",
    "1:1",
];

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// `YYYYMMDDTHHMMSSZ` for a Unix time.
pub fn utc(ts: i64) -> String {
    let (y, m, d) = civil(ts.div_euclid(86_400));
    let s = ts.rem_euclid(86_400);
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

/// `YYYYMMDD` for a Unix time.
fn date(ts: i64) -> String {
    let (y, m, d) = civil(ts.div_euclid(86_400));
    format!("{y:04}{m:02}{d:02}")
}

fn rng_for(seed: u64, i: u64, salt: u64) -> SmallRng {
    SmallRng::seed_from_u64(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ i.wrapping_mul(31) ^ salt)
}

/// Event number `i`: its resource name (`<uid>.ics`) and body. The UID is `<prefix>-ev-<i>`.
pub fn event(prefix: &str, seed: u64, i: u64) -> (String, String) {
    let mut rng = rng_for(seed, i, 0xe7);
    let uid = format!("{prefix}-ev-{i}");
    let day = rng.gen_range(0..365i64);
    let start =
        YEAR_START + day * 86_400 + rng.gen_range(7..19i64) * 3600 + rng.gen_range(0..4i64) * 900;
    let minutes = [30i64, 45, 60, 90, 120][rng.gen_range(0..5)];
    let topic = TOPICS[rng.gen_range(0..TOPICS.len())];
    let who = FIRST_NAMES[rng.gen_range(0..FIRST_NAMES.len())];
    let mut ev = String::with_capacity(600);
    ev.push_str("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//ringpost//loadtest//EN\r\n");
    ev.push_str("BEGIN:VEVENT\r\n");
    ev.push_str(&format!("UID:{uid}\r\n"));
    ev.push_str(&format!("DTSTAMP:{}\r\n", utc(YEAR_START - 86_400)));
    match i % 10 {
        // An all-day event.
        4 => {
            ev.push_str(&format!("DTSTART;VALUE=DATE:{}\r\n", date(start)));
            ev.push_str(&format!("DTEND;VALUE=DATE:{}\r\n", date(start + 86_400)));
        }
        _ => {
            ev.push_str(&format!("DTSTART:{}\r\n", utc(start)));
            ev.push_str(&format!("DTEND:{}\r\n", utc(start + minutes * 60)));
        }
    }
    // One in five recurs: weekly for 12 weeks, or daily for 5 days.
    match i % 10 {
        2 => ev.push_str("RRULE:FREQ=WEEKLY;COUNT=12\r\n"),
        7 => ev.push_str("RRULE:FREQ=DAILY;COUNT=5\r\n"),
        _ => {}
    }
    ev.push_str(&format!("SUMMARY:{topic} with {who} #{i}\r\n"));
    ev.push_str(&format!("LOCATION:Room {}\r\n", rng.gen_range(1..40u32)));
    ev.push_str(&format!(
        "DESCRIPTION:Seeded by ringpost's loadtest (event {i}\\, seed {seed}).\r\n"
    ));
    ev.push_str("END:VEVENT\r\nEND:VCALENDAR\r\n");
    (format!("{uid}.ics"), ev)
}

/// Contact number `i`: its resource name (`<uid>.vcf`) and a vCard 3.0. UID `<prefix>-vc-<i>`.
pub fn vcard(prefix: &str, seed: u64, i: u64) -> (String, String) {
    let mut rng = rng_for(seed, i, 0xc4);
    let uid = format!("{prefix}-vc-{i}");
    let first = FIRST_NAMES[rng.gen_range(0..FIRST_NAMES.len())];
    let last = LAST_NAMES[rng.gen_range(0..LAST_NAMES.len())];
    let mut vc = String::with_capacity(400);
    vc.push_str("BEGIN:VCARD\r\nVERSION:3.0\r\nPRODID:-//ringpost//loadtest//EN\r\n");
    vc.push_str(&format!("UID:{uid}\r\n"));
    vc.push_str(&format!("N:{last};{first};;;\r\n"));
    vc.push_str(&format!("FN:{first} {last} {i}\r\n"));
    vc.push_str(&format!(
        "EMAIL;TYPE=INTERNET:{}.{}{i}@example.org\r\n",
        first.to_lowercase(),
        last.to_lowercase()
    ));
    vc.push_str(&format!(
        "TEL;TYPE=CELL:+49 151 {:07}\r\n",
        rng.gen_range(0..10_000_000u32)
    ));
    vc.push_str(&format!(
        "ORG:{} GmbH\r\n",
        LAST_NAMES[rng.gen_range(0..LAST_NAMES.len())]
    ));
    vc.push_str(&format!(
        "NOTE:Seeded by ringpost's loadtest (contact {i}).\r\n"
    ));
    vc.push_str("END:VCARD\r\n");
    (format!("{uid}.vcf"), vc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(utc(0), "19700101T000000Z");
        assert_eq!(utc(YEAR_START), "20260101T000000Z");
        assert_eq!(utc(YEAR_START + 59 * 86_400 + 3661), "20260301T010101Z");
        assert_eq!(date(YEAR_START + 364 * 86_400), "20261231");
        assert_eq!(civil(-1), (1969, 12, 31));
    }

    #[test]
    fn objects_are_deterministic_and_well_formed() {
        for i in 0..20 {
            let (name, ev) = event("p", 1, i);
            assert_eq!((name, ev.clone()), event("p", 1, i));
            assert!(ev.starts_with("BEGIN:VCALENDAR\r\n") && ev.ends_with("END:VCALENDAR\r\n"));
            assert!(ev.lines().all(|l| l.len() <= 75), "{ev}");
            assert!(ev.contains(&format!("UID:p-ev-{i}\r\n")));
            assert!(ev.contains("DTSTART") && ev.contains(&YEAR.to_string()));
            let (name, vc) = vcard("p", 1, i);
            assert_eq!(name, format!("p-vc-{i}.vcf"));
            assert!(vc.contains("VERSION:3.0\r\n") && vc.contains("\r\nFN:"));
            assert!(vc.lines().all(|l| l.len() <= 75), "{vc}");
        }
        assert!(event("p", 1, 2).1.contains("RRULE:FREQ=WEEKLY"));
        assert!(event("p", 1, 4).1.contains("DTSTART;VALUE=DATE:"));
    }
}
