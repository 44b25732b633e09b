//! When the reports are due, in UTC (which has no daylight saving time to skip or repeat an
//! hour): the weekly digest covers the ISO week (Monday to Sunday) just closed and is due from
//! Monday 00:00; the monthly summary covers the calendar month just closed and is due from the
//! 1st at 00:00.

use chrono::{Datelike as _, Days, Months, NaiveDate};

/// A closed period a report covers: `from` inclusive, `to` exclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    /// Its first day.
    pub from: NaiveDate,
    /// The day after its last.
    pub to: NaiveDate,
}

impl Period {
    /// Its last day.
    pub fn last(&self) -> NaiveDate {
        self.to.pred_opt().unwrap_or(self.to)
    }

    /// The period of the same length just before it.
    pub fn before(&self) -> Period {
        let days = (self.to - self.from).num_days().max(0) as u64;
        Period {
            from: self
                .from
                .checked_sub_days(Days::new(days))
                .unwrap_or(self.from),
            to: self.from,
        }
    }

    /// Unix seconds of its end (`to` at 00:00 UTC).
    pub fn end_unix(&self) -> i64 {
        self.to
            .and_hms_opt(0, 0, 0)
            .map_or(0, |t| t.and_utc().timestamp())
    }
}

/// The day of `now` (Unix seconds) in UTC.
pub fn day_of(now: i64) -> NaiveDate {
    chrono::DateTime::from_timestamp(now, 0)
        .map(|d| d.date_naive())
        .unwrap_or_default()
}

/// The ISO week closed last as of `now`, with its name (`2026-W48`).
pub fn last_week(now: i64) -> (Period, String) {
    let today = day_of(now);
    let monday = today
        .checked_sub_days(Days::new(u64::from(today.weekday().num_days_from_monday())))
        .unwrap_or(today);
    let from = monday.checked_sub_days(Days::new(7)).unwrap_or(monday);
    let week = from.iso_week();
    (
        Period { from, to: monday },
        format!("{}-W{:02}", week.year(), week.week()),
    )
}

/// The calendar month closed last as of `now`, with its name (`2026-11`), and the month
/// before it (the like-for-like comparison).
pub fn last_month(now: i64) -> (Period, String, Period) {
    let today = day_of(now);
    let first = today.with_day(1).unwrap_or(today);
    let from = first.checked_sub_months(Months::new(1)).unwrap_or(first);
    let before = from.checked_sub_months(Months::new(1)).unwrap_or(from);
    (
        Period { from, to: first },
        format!("{}-{:02}", from.year(), from.month()),
        Period {
            from: before,
            to: from,
        },
    )
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone as _, Utc};

    use super::*;

    fn at(y: i32, m: u32, d: u32, h: u32, min: u32, s: u32) -> i64 {
        Utc.with_ymd_and_hms(y, m, d, h, min, s)
            .unwrap()
            .timestamp()
    }

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn the_week_turns_at_monday_midnight_utc() {
        // Sunday 23:59:59: the week closed last is the one before.
        let (p, name) = last_week(at(2026, 11, 29, 23, 59, 59));
        assert_eq!(
            (p.from, p.to, name.as_str()),
            (day(2026, 11, 16), day(2026, 11, 23), "2026-W47")
        );
        // Monday 00:00:00: the week that just ended.
        let (p, name) = last_week(at(2026, 11, 30, 0, 0, 0));
        assert_eq!(
            (p.from, p.to, name.as_str()),
            (day(2026, 11, 23), day(2026, 11, 30), "2026-W48")
        );
        assert_eq!(p.last(), day(2026, 11, 29));
        assert_eq!(
            p.before(),
            Period {
                from: day(2026, 11, 16),
                to: day(2026, 11, 23)
            }
        );
    }

    #[test]
    fn a_week_across_a_year_end_takes_its_iso_year() {
        // 2026-12-28 (Mon) .. 2027-01-03 (Sun) is ISO week 53 of 2026.
        let (p, name) = last_week(at(2027, 1, 4, 0, 0, 1));
        assert_eq!(
            (p.from, p.to, name.as_str()),
            (day(2026, 12, 28), day(2027, 1, 4), "2026-W53")
        );
    }

    #[test]
    fn the_month_turns_on_the_first_and_months_keep_their_lengths() {
        let (p, name, before) = last_month(at(2026, 12, 1, 0, 0, 0));
        assert_eq!(
            (p.from, p.to, name.as_str()),
            (day(2026, 11, 1), day(2026, 12, 1), "2026-11")
        );
        assert_eq!(
            before,
            Period {
                from: day(2026, 10, 1),
                to: day(2026, 11, 1)
            }
        );
        let (p, name, _) = last_month(at(2026, 11, 30, 23, 59, 59));
        assert_eq!((p.from, name.as_str()), (day(2026, 10, 1), "2026-10"));
        // March closes on April 1st; February (28 days in 2027) is the month before it.
        let (p, name, before) = last_month(at(2027, 4, 1, 0, 0, 0));
        assert_eq!(
            (p.from, p.to, name.as_str()),
            (day(2027, 3, 1), day(2027, 4, 1), "2027-03")
        );
        assert_eq!((before.from, before.to), (day(2027, 2, 1), day(2027, 3, 1)));
        // January closes into the previous year's December for comparison.
        let (p, name, before) = last_month(at(2027, 2, 1, 0, 0, 0));
        assert_eq!(
            (p.from, name.as_str(), before.from),
            (day(2027, 1, 1), "2027-01", day(2026, 12, 1))
        );
        // A leap year's February.
        let (p, _, _) = last_month(at(2028, 3, 1, 0, 0, 0));
        assert_eq!((p.to - p.from).num_days(), 29);
    }
}
