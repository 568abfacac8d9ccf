//! UTC instants as CalDAV's XML writes them (`YYYYMMDDTHHMMSSZ`, RFC 4791 §9.9 and RFC 5545
//! §3.3.5's form #2) and the time ranges built from them.

use std::fmt;

/// A UTC date-time, valid by construction; ordered chronologically.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UtcDateTime {
    year: u16,
    month: u8,
    day: u8,
    hour: u8,
    minute: u8,
    second: u8,
}

impl UtcDateTime {
    /// `20060104T000000Z`; anything else (a local time, a date, a missing `Z`) is `None`.
    pub fn parse(text: &str) -> Option<UtcDateTime> {
        let bytes = text.as_bytes();
        if bytes.len() != 16 || bytes[8] != b'T' || bytes[15] != b'Z' {
            return None;
        }
        let number = |range: std::ops::Range<usize>| -> Option<u16> {
            let digits = &bytes[range];
            if !digits.iter().all(u8::is_ascii_digit) {
                return None;
            }
            Some(
                digits
                    .iter()
                    .fold(0u16, |n, d| n * 10 + u16::from(d - b'0')),
            )
        };
        let small = |range| number(range).and_then(|n| u8::try_from(n).ok());
        UtcDateTime::new(
            number(0..4)?,
            small(4..6)?,
            small(6..8)?,
            small(9..11)?,
            small(11..13)?,
            small(13..15)?,
        )
    }

    /// The instant, if every field is in range (a second of 60 is a leap second, RFC 5545
    /// §3.3.12).
    pub fn new(
        year: u16,
        month: u8,
        day: u8,
        hour: u8,
        minute: u8,
        second: u8,
    ) -> Option<UtcDateTime> {
        let valid = (1..=12).contains(&month)
            && day >= 1
            && day <= days_in_month(year, month)
            && hour < 24
            && minute < 60
            && second <= 60;
        valid.then_some(UtcDateTime {
            year,
            month,
            day,
            hour,
            minute,
            second,
        })
    }

    /// Seconds since 1970-01-01T00:00:00Z (negative before).
    pub fn unix_seconds(self) -> i64 {
        // Days from civil (Howard Hinnant's algorithm), for the proleptic Gregorian calendar.
        let (y, m, d) = (
            i64::from(self.year),
            i64::from(self.month),
            i64::from(self.day),
        );
        let y = if m <= 2 { y - 1 } else { y };
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let mp = (m + 9) % 12;
        let doy = (153 * mp + 2) / 5 + d - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        let days = era * 146_097 + doe - 719_468;
        days * 86_400
            + i64::from(self.hour) * 3600
            + i64::from(self.minute) * 60
            + i64::from(self.second)
    }
}

fn days_in_month(year: u16, month: u8) -> u8 {
    match month {
        4 | 6 | 9 | 11 => 30,
        2 if year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400)) => {
            29
        }
        2 => 28,
        _ => 31,
    }
}

impl fmt::Display for UtcDateTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }
}

/// A `CALDAV:time-range` (RFC 4791 §9.9): at least one bound; a missing start is the
/// beginning of time, a missing end the end of time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TimeRange {
    pub start: Option<UtcDateTime>,
    pub end: Option<UtcDateTime>,
}
