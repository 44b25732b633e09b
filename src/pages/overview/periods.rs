//! The overview's periods, compared like with like: this month so far against the same days of
//! last month, this year so far against the same days of last year, the last 30 days against
//! the 30 before. On the 1st of a month, "this month" is one day and so is what it is compared
//! with; never a whole month against a day.

use chrono::{Datelike as _, Days, Months, NaiveDate};

use crate::web::fmt_days;

/// A `[start, end)` span in Unix seconds.
pub type Span = (i64, i64);

/// The chosen period, the span it is compared with, and how to name that span in a note
/// ("1–15 Nov", "the 30 days before").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Periods {
    /// The chosen period, up to the end of today.
    pub current: Span,
    /// The earlier span of the same length.
    pub previous: Span,
    /// The earlier span, in words.
    pub previous_label: String,
}

fn midnight(d: NaiveDate) -> Option<i64> {
    d.and_hms_opt(0, 0, 0).map(|t| t.and_utc().timestamp())
}

/// `month`, `30d` or `year` as of `today` (inclusive), with its like-for-like comparison.
pub fn periods(period: &str, today: NaiveDate) -> Option<Periods> {
    let tomorrow = today.succ_opt()?;
    let (start, prev_start, prev_end_excl, label) = match period {
        "month" => {
            let start = today.with_day(1)?;
            let prev_start = start.checked_sub_months(Months::new(1))?;
            // The same days of last month, cut at its end (31 March compares with 1–28 Feb).
            let same_days = prev_start.checked_add_days(Days::new(u64::from(today.day())))?;
            let prev_end = same_days.min(start);
            let label = fmt_days(prev_start, prev_end.pred_opt()?, false);
            (start, prev_start, prev_end, label)
        }
        "30d" => {
            let start = today.checked_sub_days(Days::new(29))?;
            let prev_start = start.checked_sub_days(Days::new(30))?;
            (start, prev_start, start, "the 30 days before".to_owned())
        }
        "year" => {
            let start = NaiveDate::from_ymd_opt(today.year(), 1, 1)?;
            let prev_start = NaiveDate::from_ymd_opt(today.year() - 1, 1, 1)?;
            // The same days of last year: up to the same date (29 Feb counts as 28 Feb + 1).
            let elapsed = u64::try_from((tomorrow - start).num_days()).ok()?;
            let prev_end = prev_start.checked_add_days(Days::new(elapsed))?.min(start);
            let label = fmt_days(prev_start, prev_end.pred_opt()?, true);
            (start, prev_start, prev_end, label)
        }
        _ => return None,
    };
    Some(Periods {
        current: (midnight(start)?, midnight(tomorrow)?),
        previous: (midnight(prev_start)?, midnight(prev_end_excl)?),
        previous_label: label,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn span(a: NaiveDate, b_excl: NaiveDate) -> Span {
        (midnight(a).unwrap(), midnight(b_excl).unwrap())
    }

    #[test]
    fn on_the_first_of_a_month_one_day_is_compared_with_one_day() {
        let p = periods("month", day(2026, 12, 1)).unwrap();
        assert_eq!(p.current, span(day(2026, 12, 1), day(2026, 12, 2)));
        assert_eq!(p.previous, span(day(2026, 11, 1), day(2026, 11, 2)));
        assert_eq!(p.previous_label, "1 Nov");
    }

    #[test]
    fn mid_month_compares_the_same_days_of_last_month() {
        let p = periods("month", day(2026, 12, 15)).unwrap();
        assert_eq!(p.current, span(day(2026, 12, 1), day(2026, 12, 16)));
        assert_eq!(p.previous, span(day(2026, 11, 1), day(2026, 11, 16)));
        assert_eq!(p.previous_label, "1–15 Nov");
    }

    #[test]
    fn on_the_last_day_a_longer_month_compares_with_the_whole_shorter_one() {
        let p = periods("month", day(2026, 12, 31)).unwrap();
        assert_eq!(p.previous, span(day(2026, 11, 1), day(2026, 12, 1)));
        assert_eq!(p.previous_label, "1–30 Nov");
        let p = periods("month", day(2026, 3, 31)).unwrap();
        assert_eq!(p.previous, span(day(2026, 2, 1), day(2026, 3, 1)));
        assert_eq!(p.previous_label, "1–28 Feb");
        let p = periods("month", day(2026, 11, 30)).unwrap();
        assert_eq!(p.previous, span(day(2026, 10, 1), day(2026, 10, 31)));
    }

    #[test]
    fn the_year_so_far_compares_with_the_same_days_of_last_year() {
        let p = periods("year", day(2026, 12, 1)).unwrap();
        assert_eq!(p.current, span(day(2026, 1, 1), day(2026, 12, 2)));
        assert_eq!(p.previous, span(day(2025, 1, 1), day(2025, 12, 2)));
        assert_eq!(p.previous_label, "1 Jan – 1 Dec 2025");
        let p = periods("year", day(2026, 1, 1)).unwrap();
        assert_eq!(p.previous, span(day(2025, 1, 1), day(2025, 1, 2)));
        let p = periods("year", day(2026, 12, 31)).unwrap();
        assert_eq!(p.previous, span(day(2025, 1, 1), day(2026, 1, 1)));
        // After a leap day, the year before still ends at the turn of the year at most.
        let p = periods("year", day(2025, 12, 31)).unwrap();
        assert_eq!(p.previous, span(day(2024, 1, 1), day(2024, 12, 31)));
    }

    #[test]
    fn thirty_days_compare_with_the_thirty_before() {
        for today in [day(2026, 12, 1), day(2026, 12, 15), day(2026, 12, 31)] {
            let p = periods("30d", today).unwrap();
            assert_eq!(p.current.1 - p.current.0, 30 * 86_400);
            assert_eq!(p.previous.1 - p.previous.0, 30 * 86_400);
            assert_eq!(p.previous.1, p.current.0);
        }
        assert!(periods("week", day(2026, 12, 1)).is_none());
    }
}
