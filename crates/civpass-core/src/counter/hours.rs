//! When a registration point is open, in Hong Kong time (UTC+8, no daylight saving): weekly
//! opening hours for counters, post offices and kiosks, or a mobile team's schedule of venues
//! and dates. An officer acts only while their point is open.

use serde::{Deserialize, Serialize};
use time::{Date, OffsetDateTime, UtcOffset, Weekday};

use crate::kernel::clock::UnixTime;

/// Hong Kong Time, in which every point's hours are given.
const HONG_KONG: UtcOffset = match UtcOffset::from_hms(8, 0, 0) {
    Ok(offset) => offset,
    Err(_) => UtcOffset::UTC,
};

const DAYS: [(&str, Weekday); 7] = [
    ("mon", Weekday::Monday),
    ("tue", Weekday::Tuesday),
    ("wed", Weekday::Wednesday),
    ("thu", Weekday::Thursday),
    ("fri", Weekday::Friday),
    ("sat", Weekday::Saturday),
    ("sun", Weekday::Sunday),
];

/// Opening hours.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Hours {
    /// The same hours every week: for each listed day, a span (`"09:00"` to `"17:30"`).
    Weekly { days: Vec<DaySpan> },
    /// A mobile team: where it stands on which dates.
    Schedule { visits: Vec<Visit> },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DaySpan {
    /// `mon` … `sun`.
    pub day: String,
    pub opens: String,
    pub closes: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Visit {
    /// `YYYY-MM-DD`, Hong Kong date.
    pub date: String,
    pub opens: String,
    pub closes: String,
    pub venue: String,
}

/// Minutes after midnight of `HH:MM` (`24:00` allowed as a closing time).
fn minutes(text: &str) -> Option<u32> {
    let (h, m) = text.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (m < 60 && (h < 24 || (h == 24 && m == 0))).then_some(h * 60 + m)
}

/// `09:00-17:30` as minutes, opening before closing.
fn span(text: &str) -> Result<(String, String), String> {
    let bad = || format!("{text:?} is not a span of time like 09:00-17:30");
    let (opens, closes) = text.split_once('-').ok_or_else(bad)?;
    let (o, c) = (minutes(opens.trim()).ok_or_else(bad)?, minutes(closes.trim()).ok_or_else(bad)?);
    if o >= c {
        return Err(format!("{text:?} closes before it opens"));
    }
    Ok((opens.trim().to_owned(), closes.trim().to_owned()))
}

fn day_index(name: &str) -> Option<usize> {
    DAYS.iter().position(|(d, _)| *d == name)
}

impl Hours {
    /// Weekly hours from text such as `mon-fri 09:00-17:30, sat 09:00-12:30` (days `mon` …
    /// `sun`, a range or one day, then a span; comma-separated).
    ///
    /// Errors: a message naming the part that is not understood.
    pub fn parse_weekly(text: &str) -> Result<Hours, String> {
        let mut days = Vec::new();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (which, when) = part.split_once(' ').ok_or_else(|| {
                format!("{part:?} is not days and hours, like mon-fri 09:00-17:30")
            })?;
            let (opens, closes) = span(when.trim())?;
            let (first, last) = which.split_once('-').unwrap_or((which, which));
            let unknown =
                |d: &str| format!("{d:?} is not a day (mon, tue, wed, thu, fri, sat, sun)");
            let first_i = day_index(first).ok_or_else(|| unknown(first))?;
            let last_i = day_index(last).ok_or_else(|| unknown(last))?;
            if first_i > last_i {
                return Err(format!("{which:?} runs backwards; write it from Monday to Sunday"));
            }
            for (day, _) in &DAYS[first_i..=last_i] {
                days.push(DaySpan {
                    day: (*day).to_owned(),
                    opens: opens.clone(),
                    closes: closes.clone(),
                });
            }
        }
        if days.is_empty() {
            return Err("no opening hours given".into());
        }
        Ok(Hours::Weekly { days })
    }

    /// A mobile team's visit from text such as `2026-12-01 10:00-16:00 Tai Po Market`.
    ///
    /// Errors: a message naming the part that is not understood.
    pub fn parse_visit(text: &str) -> Result<Visit, String> {
        let mut parts = text.trim().splitn(3, ' ');
        let (date, when, venue) = (parts.next(), parts.next(), parts.next());
        let form = || format!("{text:?} is not a visit like 2026-12-01 10:00-16:00 Tai Po Market");
        let (Some(date), Some(when), Some(venue)) = (date, when, venue) else { return Err(form()) };
        let format = time::macros::format_description!("[year]-[month]-[day]");
        Date::parse(date, format).map_err(|_| format!("{date:?} is not a date like 2026-12-01"))?;
        let (opens, closes) = span(when)?;
        if venue.trim().is_empty() {
            return Err(form());
        }
        let venue = crate::kernel::text::display_text(venue, 200).ok_or(
            "a venue is 1 to 200 characters, without control characters or invisible or direction-changing ones",
        )?;
        Ok(Visit { date: date.to_owned(), opens, closes, venue })
    }

    /// Whether the point is open at `now`, in Hong Kong time.
    pub fn is_open(&self, now: UnixTime) -> bool {
        let Ok(utc) = OffsetDateTime::from_unix_timestamp(now) else { return false };
        let local = utc.to_offset(HONG_KONG);
        let minute = u32::from(local.hour()) * 60 + u32::from(local.minute());
        let within = |opens: &str, closes: &str| matches!((minutes(opens), minutes(closes)), (Some(o), Some(c)) if o <= minute && minute < c);
        match self {
            Hours::Weekly { days } => days.iter().any(|d| {
                day_index(&d.day).is_some_and(|i| DAYS[i].1 == local.weekday())
                    && within(&d.opens, &d.closes)
            }),
            Hours::Schedule { visits } => {
                let today = format!(
                    "{:04}-{:02}-{:02}",
                    local.year(),
                    u8::from(local.month()),
                    local.day()
                );
                visits.iter().any(|v| v.date == today && within(&v.opens, &v.closes))
            }
        }
    }
}

impl std::fmt::Display for Hours {
    /// In the form `parse_weekly` and `parse_visit` read: `mon 09:00-17:30, tue 09:00-17:30`,
    /// or `2026-11-30 09:30-16:00 Tai Po Market; ...`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Hours::Weekly { days } => {
                let parts: Vec<String> =
                    days.iter().map(|d| format!("{} {}-{}", d.day, d.opens, d.closes)).collect();
                f.write_str(&parts.join(", "))
            }
            Hours::Schedule { visits } => {
                let parts: Vec<String> = visits
                    .iter()
                    .map(|v| format!("{} {}-{} {}", v.date, v.opens, v.closes, v.venue))
                    .collect();
                f.write_str(&parts.join("; "))
            }
        }
    }
}

/// The day and time in Hong Kong at `now`, as `Tue 01:25`, to tell an officer why a point is
/// closed.
pub fn hong_kong_time(now: UnixTime) -> String {
    let Ok(utc) = OffsetDateTime::from_unix_timestamp(now) else { return String::new() };
    let local = utc.to_offset(HONG_KONG);
    let day = DAYS.iter().find(|(_, w)| *w == local.weekday()).map_or("", |(d, _)| d);
    let mut day = day.to_owned();
    if let Some(first) = day.get_mut(..1) {
        first.make_ascii_uppercase();
    }
    format!("{day} {:02}:{:02}", local.hour(), local.minute())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// 2026-11-30 is a Monday; 02:00 UTC is 10:00 in Hong Kong.
    const MONDAY_10_HKT: UnixTime = 1_796_004_000;

    #[test]
    fn weekly_hours_are_read_in_hong_kong_time() {
        let hours = Hours::parse_weekly("mon-fri 09:00-17:30, sat 09:00-12:30").unwrap();
        assert!(hours.is_open(MONDAY_10_HKT));
        assert!(!hours.is_open(MONDAY_10_HKT - 2 * 3600), "08:00 in Hong Kong");
        assert!(!hours.is_open(MONDAY_10_HKT + 8 * 3600), "18:00 in Hong Kong");
        assert!(hours.is_open(MONDAY_10_HKT + 5 * 86400), "Saturday 10:00");
        assert!(!hours.is_open(MONDAY_10_HKT + 5 * 86400 + 3 * 3600), "Saturday 13:00");
        assert!(!hours.is_open(MONDAY_10_HKT + 6 * 86400), "Sunday");
        assert_eq!(hong_kong_time(MONDAY_10_HKT + 6 * 86400 + 90), "Sun 10:01");
    }

    #[test]
    fn a_mobile_team_is_open_where_and_when_its_schedule_says() {
        let visit = Hours::parse_visit("2026-11-30 09:30-16:00 Tai Po Market").unwrap();
        assert_eq!(visit.venue, "Tai Po Market");
        let hours = Hours::Schedule { visits: vec![visit] };
        assert!(hours.is_open(MONDAY_10_HKT));
        assert!(!hours.is_open(MONDAY_10_HKT + 86400), "the next day it is elsewhere");
    }

    #[test]
    fn bad_hours_say_what_is_wrong() {
        for (text, says) in [
            ("", "no opening hours"),
            ("mon", "not days and hours"),
            ("fri-mon 09:00-17:00", "backwards"),
            ("mon 17:00-09:00", "closes before it opens"),
            ("mon 9-17", "not a span"),
            ("funday 09:00-17:00", "not a day"),
            ("mon 24:30-25:00", "not a span"),
        ] {
            let err = Hours::parse_weekly(text).unwrap_err();
            assert!(err.contains(says), "{text:?}: {err}");
        }
        assert!(Hours::parse_visit("2026-13-01 10:00-16:00 X").unwrap_err().contains("not a date"));
        assert!(Hours::parse_visit("2026-12-01 10:00-16:00").is_err());
        let venue = Hours::parse_visit("2026-12-01 10:00-16:00 Tai\u{1b}[31mPo").unwrap_err();
        assert!(venue.contains("control characters"), "{venue}");
    }

    proptest! {
        #[test]
        fn any_text_is_read_or_refused_without_panicking(text in "\\PC{0,60}", now in any::<i64>()) {
            if let Ok(hours) = Hours::parse_weekly(&text) {
                let _ = hours.is_open(now);
            }
            let _ = Hours::parse_visit(&text);
        }
    }
}
