//! Dates of SEARCH (`date`) and APPEND (`date-time`), RFC 9051 §9, valid by construction
//! (the day exists in its month). Never does IO.

use super::cursor::Cursor;
use super::Malformed;

/// A calendar date: `date-day "-" date-month "-" date-year`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    year: u16,
    month: u8,
    day: u8,
}

impl Date {
    /// `None` unless the day exists (year 1 to 9999, proleptic Gregorian).
    pub fn new(year: u16, month: u8, day: u8) -> Option<Date> {
        let leap =
            year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400));
        let days = match month {
            1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
            4 | 6 | 9 | 11 => 30,
            2 if leap => 29,
            2 => 28,
            _ => return None,
        };
        (year >= 1 && (1..=days).contains(&day)).then_some(Date { year, month, day })
    }

    pub fn year(self) -> u16 {
        self.year
    }

    /// 1 to 12.
    pub fn month(self) -> u8 {
        self.month
    }

    pub fn day(self) -> u8 {
        self.day
    }
}

/// An APPEND date-time: a local time and its offset from UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DateTime {
    pub date: Date,
    pub hour: u8,
    pub minute: u8,
    pub second: u8,
    /// `zone`, in minutes east of UTC (`-0800` is -480).
    pub offset_minutes: i16,
}

const MONTHS: [&[u8; 3]; 12] = [
    b"JAN", b"FEB", b"MAR", b"APR", b"MAY", b"JUN", b"JUL", b"AUG", b"SEP", b"OCT", b"NOV", b"DEC",
];

fn digits(s: &[u8]) -> Option<u16> {
    if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    s.iter().try_fold(0u16, |n, &d| {
        n.checked_mul(10)?.checked_add(u16::from(d - b'0'))
    })
}

fn two(s: &[u8]) -> Option<u8> {
    if s.len() != 2 {
        return None;
    }
    digits(s).and_then(|n| u8::try_from(n).ok())
}

/// `date-text = date-day "-" date-month "-" date-year`, where `date-day = 1*2DIGIT` or, in a
/// date-time, `date-day-fixed = (SP DIGIT) / 2DIGIT`.
fn date_text(s: &[u8]) -> Option<Date> {
    let mut parts = s.splitn(3, |&b| b == b'-');
    let day = parts.next()?;
    let month = parts.next()?;
    let year = parts.next()?;
    let day = match day {
        [b' ', d] => digits(&[*d])?,
        d if d.len() <= 2 => digits(d)?,
        _ => return None,
    };
    let month = MONTHS.iter().position(|m| m.eq_ignore_ascii_case(month))? + 1;
    if year.len() != 4 {
        return None;
    }
    Date::new(
        digits(year)?,
        u8::try_from(month).ok()?,
        u8::try_from(day).ok()?,
    )
}

/// `date-time = DQUOTE date-day-fixed "-" date-month "-" date-year SP time SP zone DQUOTE`.
fn date_time_text(s: &[u8]) -> Option<DateTime> {
    // "dd-Mon-yyyy hh:mm:ss +zzzz" is 26 octets.
    if s.len() != 26 || s[11] != b' ' || s[20] != b' ' || s[14] != b':' || s[17] != b':' {
        return None;
    }
    let date = date_text(&s[..11])?;
    let (hour, minute, second) = (two(&s[12..14])?, two(&s[15..17])?, two(&s[18..20])?);
    // RFC 9051 allows a leap second (60).
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let sign = match s[21] {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let (zh, zm) = (two(&s[22..24])?, two(&s[24..26])?);
    if zm > 59 {
        return None;
    }
    Some(DateTime {
        date,
        hour,
        minute,
        second,
        offset_minutes: sign * (i16::from(zh) * 60 + i16::from(zm)),
    })
}

impl Cursor<'_> {
    /// `date = date-text / DQUOTE date-text DQUOTE` (SEARCH).
    pub(super) fn date(&mut self) -> Result<Date, Malformed> {
        let raw = if self.peek() == Some(b'"') {
            self.quoted()?
        } else {
            self.atom()?.into()
        };
        date_text(&raw).ok_or(Malformed::InvalidDate)
    }

    /// APPEND's `date-time` (always quoted).
    pub(super) fn date_time(&mut self) -> Result<DateTime, Malformed> {
        let raw = self.quoted()?;
        date_time_text(&raw).ok_or(Malformed::InvalidDateTime)
    }
}
