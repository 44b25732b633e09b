//! The overview's periods, compared like with like: this month so far against the same days of
//! last month, this year so far against the same days of last year, the last 30 days against
//! the 30 before. On the 1st of a month, "this month" is one day and so is what it is compared
//! with; never a whole month against a day.

use chrono::{Datelike as _, Days, Months, NaiveDate};

use crate::{index::DaySpan, web::fmt_days};

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

impl Periods {
    /// The chosen span and the one it is compared with, as whole days.
    pub fn days(&self) -> (DaySpan, DaySpan) {
        (day_span(self.current), day_span(self.previous))
    }
}

fn day_span((start, end): Span) -> DaySpan {
    let day = |t: i64| {
        chrono::DateTime::from_timestamp(t, 0)
            .map(|d| d.date_naive())
            .unwrap_or_default()
    };
    (day(start), day(end))
}

/// How the chart divides the page's time: by day or by month.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// One bar per day.
    Day,
    /// One bar per month.
    Month,
}

impl Step {
    /// How the chart divides `period`: months for a year, days otherwise.
    pub fn of(period: &str) -> Self {
        if period == "year" {
            Self::Month
        } else {
            Self::Day
        }
    }
}

/// The chart's bars: the chosen period and the one before it, so that the comparison the
/// cards make can be seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Buckets {
    /// Day or month.
    pub step: Step,
    /// Each bar's days, oldest first; the last ends with today.
    pub spans: Vec<DaySpan>,
    /// The first bar of the chosen period.
    pub current_from: usize,
}

/// The chart's bars for `period` as of `today`.
pub fn buckets(period: &str, today: NaiveDate) -> Option<Buckets> {
    let tomorrow = today.succ_opt()?;
    let days = |from: NaiveDate| -> Vec<DaySpan> {
        from.iter_days()
            .take_while(|d| *d <= today)
            .filter_map(|d| Some((d, d.succ_opt()?)))
            .collect()
    };
    Some(match period {
        "month" => {
            let start = today.with_day(1)?;
            let from = start.checked_sub_months(Months::new(1))?;
            let spans = days(from);
            let current_from = spans.iter().position(|(d, _)| *d == start)?;
            Buckets {
                step: Step::Day,
                spans,
                current_from,
            }
        }
        "30d" => Buckets {
            step: Step::Day,
            spans: days(today.checked_sub_days(Days::new(59))?),
            current_from: 30,
        },
        "year" => {
            let mut spans = Vec::new();
            let mut m = NaiveDate::from_ymd_opt(today.year() - 1, 1, 1)?;
            while m <= today {
                let next = m.checked_add_months(Months::new(1))?;
                spans.push((m, next.min(tomorrow)));
                m = next;
            }
            Buckets {
                step: Step::Month,
                spans,
                current_from: 12,
            }
        }
        _ => return None,
    })
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
    fn the_chart_shows_the_chosen_period_and_the_one_before() {
        let b = buckets("month", day(2026, 12, 2)).unwrap();
        assert_eq!((b.step, b.spans.len(), b.current_from), (Step::Day, 32, 30));
        assert_eq!(b.spans[0], (day(2026, 11, 1), day(2026, 11, 2)));
        assert_eq!(b.spans[31], (day(2026, 12, 2), day(2026, 12, 3)));
        let b = buckets("30d", day(2026, 12, 2)).unwrap();
        assert_eq!((b.spans.len(), b.current_from), (60, 30));
        let b = buckets("year", day(2026, 12, 2)).unwrap();
        assert_eq!(
            (b.step, b.spans.len(), b.current_from),
            (Step::Month, 24, 12)
        );
        assert_eq!(b.spans[12].0, day(2026, 1, 1));
        assert_eq!(
            b.spans[23],
            (day(2026, 12, 1), day(2026, 12, 3)),
            "up to today"
        );
        let b = buckets("year", day(2026, 1, 1)).unwrap();
        assert_eq!(b.spans.len(), 13);
        assert!(buckets("week", day(2026, 1, 1)).is_none());
        let p = periods("month", day(2026, 12, 2)).unwrap();
        assert_eq!(
            p.days(),
            (
                (day(2026, 12, 1), day(2026, 12, 3)),
                (day(2026, 11, 1), day(2026, 11, 3))
            )
        );
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
