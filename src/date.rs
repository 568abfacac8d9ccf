//! Calendar arithmetic and the date formats mail protocols use, without a time-zone database:
//! ringpost writes every date in UTC (`+0000`).
//!
//! Pure functions on Unix seconds; this module never reads the clock.

const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// A UTC calendar time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Civil {
    pub year: i64,
    /// 1..=12
    pub month: u32,
    /// 1..=31
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
    /// 0 = Thursday (1 Jan 1970 was a Thursday).
    weekday_from_thursday: u32,
}

impl Civil {
    /// The UTC calendar time of `secs` seconds after the Unix epoch.
    pub fn from_unix(secs: i64) -> Civil {
        let days = secs.div_euclid(86_400);
        let rem = secs.rem_euclid(86_400);
        // Howard Hinnant's civil_from_days.
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        let year = yoe + era * 400 + i64::from(month <= 2);
        Civil {
            year,
            month,
            day,
            hour: (rem / 3600) as u32,
            minute: (rem % 3600 / 60) as u32,
            second: (rem % 60) as u32,
            weekday_from_thursday: days.rem_euclid(7) as u32,
        }
    }

    fn month_name(&self) -> &'static str {
        MONTHS[(self.month - 1) as usize]
    }
}

/// RFC 5322 §3.3 date-time: `Mon, 30 Nov 2026 10:15:00 +0000`.
pub fn rfc5322(secs: i64) -> String {
    weekday_date_time(secs, false, "+0000")
}

/// HTTP's IMF-fixdate (RFC 9110 §5.6.7): `Sun, 06 Nov 1994 08:49:37 GMT`.
pub fn http_date(secs: i64) -> String {
    weekday_date_time(secs, true, "GMT")
}

/// `Day, D Mon YYYY HH:MM:SS zone`, the day of the month in two digits when `two_digit_day`.
fn weekday_date_time(secs: i64, two_digit_day: bool, zone: &str) -> String {
    let c = Civil::from_unix(secs);
    let width = if two_digit_day { 2 } else { 1 };
    format!(
        "{}, {:0width$} {} {:04} {:02}:{:02}:{:02} {zone}",
        DAYS[c.weekday_from_thursday as usize],
        c.day,
        c.month_name(),
        c.year,
        c.hour,
        c.minute,
        c.second
    )
}

/// RFC 3339 UTC: `2026-11-30T10:15:00Z` (for operators: listings and reports).
pub fn rfc3339(secs: i64) -> String {
    let c = Civil::from_unix(secs);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        c.year, c.month, c.day, c.hour, c.minute, c.second
    )
}

/// IMAP date-time (RFC 9051 §9 `date-time`): `30-Nov-2026 10:15:00 +0000`.
pub fn imap_date_time(secs: i64) -> String {
    let c = Civil::from_unix(secs);
    format!(
        "{:2}-{}-{:04} {:02}:{:02}:{:02} +0000",
        c.day,
        c.month_name(),
        c.year,
        c.hour,
        c.minute,
        c.second
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_instants() {
        assert_eq!(rfc5322(0), "Thu, 1 Jan 1970 00:00:00 +0000");
        assert_eq!(rfc5322(1_796_040_000), "Mon, 30 Nov 2026 12:00:00 +0000");
        assert_eq!(rfc5322(951_825_600), "Tue, 29 Feb 2000 12:00:00 +0000");
        assert_eq!(rfc5322(-1), "Wed, 31 Dec 1969 23:59:59 +0000");
        assert_eq!(imap_date_time(1_796_040_000), "30-Nov-2026 12:00:00 +0000");
        assert_eq!(imap_date_time(0), " 1-Jan-1970 00:00:00 +0000");
        // RFC 9110 §5.6.7's own example.
        assert_eq!(http_date(784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT");
    }
}
