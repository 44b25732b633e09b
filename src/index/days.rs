//! Activations and cancellations per UTC day, counted once per copy. The overview asks for 14
//! periods (the chosen one, the one before and twelve months), each the count of activations
//! activated and cancelled in `[start, end)`; as one scan with a filter per period that was
//! 28 tests on every row, 1.1–1.3 s at 1,000,000 activations, paid by the first viewer of each
//! minute (the figures are cached per minute). A copy never changes, so each day's counts are
//! read once (about 0.2 s at 1,000,000, while the copy is finished) and kept while the copy
//! is visible; a period of whole UTC days, which every period the portal asks for is, is then
//! the sum of its days. Any other period is counted by the scan, as before.
//!
//! The plans active at a moment are counted the same way: the rows activated by then, less
//! those cancelled by then (a cancellation on or after its activation counted on the day of the
//! cancellation, one before it on the day of the activation), each a sum of whole days plus the
//! rows of the moment's own day up to it. Counted on their own they read the whole count index
//! up to the moment (about 1,000,000 entries, twice per overview).

use std::{collections::BTreeMap, sync::Arc};

use super::{Index, copies::table, query::PeriodStats, query::period_stats_sql};
use crate::db::{Bind, Sql};

/// Seconds in a UTC day.
const DAY: i64 = 86_400;

/// Rows per day number (Unix seconds ÷ [`DAY`]); every time before 1970 falls in day -1.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(super) struct Days {
    /// Activated, by the day of activation.
    activated: BTreeMap<i64, i64>,
    /// Cancelled, by the day of cancellation.
    cancelled: BTreeMap<i64, i64>,
    /// Cancelled on or after activation, by the day of cancellation.
    ended: BTreeMap<i64, i64>,
    /// Cancelled before activation (messy data, counted all the same), by the day of
    /// activation.
    ended_early: BTreeMap<i64, i64>,
}

/// Whether `[start, end)` runs from a midnight from 1970 on to a midnight.
fn whole_days((start, end): (i64, i64)) -> bool {
    start >= 0 && start % DAY == 0 && end % DAY == 0
}

/// The rows of `days` before day `day`.
fn before(days: &BTreeMap<i64, i64>, day: i64) -> i64 {
    days.range(..day).map(|(_, n)| n).sum()
}

impl Days {
    /// The plans active at `at` from the whole days before it, given `today`, the counts of
    /// `at`'s own day up to `at`: (activated, [`Days::ended`], [`Days::ended_early`]).
    fn active_at(&self, at: i64, today: (i64, i64, i64)) -> i64 {
        let day = at / DAY;
        before(&self.activated, day) + today.0
            - before(&self.ended, day)
            - today.1
            - before(&self.ended_early, day)
            - today.2
    }

    /// Activated and cancelled in `[start, end)`, when both are midnights from 1970 on.
    fn period(&self, (start, end): (i64, i64)) -> Option<PeriodStats> {
        if !whole_days((start, end)) {
            return None;
        }
        let days = start / DAY..(end / DAY).max(start / DAY);
        Some(PeriodStats {
            new: self.activated.range(days.clone()).map(|(_, n)| n).sum(),
            cancelled: self.cancelled.range(days).map(|(_, n)| n).sum(),
        })
    }
}

/// Each day's rows of a copy for each of [`Days`]' counts, by their number (0–3).
fn days_sql(key: u64, generation: i64) -> Sql {
    let t = table(key, generation);
    let per_day = |which: i64, column: &str, rows: &str| {
        let day = format!("CASE WHEN {column} < 0 THEN -1 ELSE {column} / {DAY} END");
        format!(
            "SELECT CAST({which} AS BIGINT), {day}, COUNT(*) FROM {t} WHERE {rows} GROUP BY {day}"
        )
    };
    Sql::new(
        &[
            per_day(0, "activated_on", "activated_on IS NOT NULL"),
            per_day(1, "cancelled_on", "cancelled_on IS NOT NULL"),
            per_day(2, "cancelled_on", "activated_on <= cancelled_on"),
            per_day(3, "activated_on", "cancelled_on < activated_on"),
        ]
        .join(" UNION ALL "),
    )
}

/// The rows of `at`'s day up to `at`: activated, cancelled on or after activation, and
/// cancelled before activation (see [`Days::active_at`]).
fn today_sql(key: u64, generation: i64, at: i64) -> Sql {
    let start = at / DAY * DAY;
    let mut sql = Sql::new("");
    let within = |sql: &mut Sql, column: &str| {
        sql.push(&format!("{column} >= "))
            .bind(Bind::Int(start))
            .push(&format!(" AND {column} <= "))
            .bind(Bind::Int(at));
    };
    sql.push("SELECT COUNT(*) FILTER (WHERE ");
    within(&mut sql, "activated_on");
    sql.push("), COUNT(*) FILTER (WHERE activated_on <= cancelled_on AND ");
    within(&mut sql, "cancelled_on");
    sql.push("), COUNT(*) FILTER (WHERE cancelled_on < activated_on AND ");
    within(&mut sql, "activated_on");
    sql.push(&format!(") FROM {} WHERE (", table(key, generation)));
    within(&mut sql, "activated_on");
    sql.push(") OR (");
    within(&mut sql, "cancelled_on");
    sql.push(")");
    sql
}

impl Index {
    /// The copy's counts per day, read once while the copy is visible.
    pub(super) async fn days(&self, key: u64, generation: i64) -> Result<Arc<Days>, sqlx::Error> {
        let db = self.db.clone();
        self.per_day
            .try_get_with(super::whole_copy_key(key, generation), async move {
                let rows: Vec<(i64, i64, i64)> = db.fetch_all(&days_sql(key, generation)).await?;
                let mut days = Days::default();
                for (which, day, n) in rows {
                    let into = match which {
                        0 => &mut days.activated,
                        1 => &mut days.cancelled,
                        2 => &mut days.ended,
                        _ => &mut days.ended_early,
                    };
                    *into.entry(day).or_default() += n;
                }
                Ok::<_, sqlx::Error>(Arc::new(days))
            })
            .await
            .map_err(super::unshared)
    }

    /// Activations active at `at` (activated by then, not cancelled by then): from the copy's
    /// counts per day and `at`'s own day, for a moment from 1970 on, else by a scan.
    pub async fn active_at(&self, key: u64, generation: i64, at: i64) -> Result<i64, sqlx::Error> {
        if at < 0 {
            return self.scanned_active_at(key, generation, at).await;
        }
        let today = today_sql(key, generation, at);
        let (days, today) =
            tokio::try_join!(self.days(key, generation), self.db.fetch_ints(&today, 3),)?;
        let today = match today[..] {
            [a, b, c] => (a, b, c),
            _ => return self.scanned_active_at(key, generation, at).await,
        };
        Ok(days.active_at(at, today))
    }

    /// New and cancelled activations for each `[start, end)` period: from the copy's counts per
    /// day when every period is whole days, else in one scan.
    pub async fn period_stats(
        &self,
        key: u64,
        generation: i64,
        periods: &[(i64, i64)],
    ) -> Result<Vec<PeriodStats>, sqlx::Error> {
        if periods.is_empty() {
            return Ok(Vec::new());
        }
        // A period the days cannot answer is scanned, and the days are not read for it.
        if periods.iter().all(|p| whole_days(*p)) {
            let days = self.days(key, generation).await?;
            if let Some(stats) = periods.iter().map(|p| days.period(*p)).collect() {
                return Ok(stats);
            }
        }
        self.scanned_period_stats(key, generation, periods).await
    }

    /// [`Index::period_stats`] in one scan of the copy (public so a test can compare the two).
    pub async fn scanned_period_stats(
        &self,
        key: u64,
        generation: i64,
        periods: &[(i64, i64)],
    ) -> Result<Vec<PeriodStats>, sqlx::Error> {
        let sql = period_stats_sql(key, generation, periods);
        let counts = self.db.fetch_ints(&sql, periods.len() * 2).await?;
        Ok(counts
            .chunks(2)
            .map(|c| PeriodStats {
                new: c.first().copied().unwrap_or(0),
                cancelled: c.get(1).copied().unwrap_or(0),
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rows as `(activated_on, cancelled_on)`, counted as `days_sql` and `today_sql` count them.
    fn counted(rows: &[(Option<i64>, Option<i64>)], at: i64) -> (Days, (i64, i64, i64)) {
        let bucket = |t: i64| if t < 0 { -1 } else { t / DAY };
        let mut d = Days::default();
        let mut today = (0, 0, 0);
        let start = at / DAY * DAY;
        let on_day = |t: i64| start <= t && t <= at;
        for &(a, c) in rows {
            if let Some(a) = a {
                *d.activated.entry(bucket(a)).or_default() += 1;
                today.0 += i64::from(on_day(a));
            }
            if let Some(c) = c {
                *d.cancelled.entry(bucket(c)).or_default() += 1;
            }
            if let (Some(a), Some(c)) = (a, c) {
                if a <= c {
                    *d.ended.entry(bucket(c)).or_default() += 1;
                    today.1 += i64::from(on_day(c));
                } else {
                    *d.ended_early.entry(bucket(a)).or_default() += 1;
                    today.2 += i64::from(on_day(a));
                }
            }
        }
        (d, today)
    }

    #[test]
    fn active_at_a_moment_is_the_rows_activated_by_then_and_not_cancelled_by_then() {
        let rows = [
            (Some(-500), None),
            (Some(-500), Some(-10)),
            (Some(10), None),
            (Some(DAY + 5), Some(2 * DAY + 7)),
            (Some(DAY + 5), Some(DAY + 5)),
            (Some(3 * DAY), Some(DAY)),
            (None, Some(DAY)),
            (None, None),
            (Some(2 * DAY + 6), None),
            (Some(4 * DAY - 1), Some(5 * DAY)),
        ];
        for at in [
            0,
            9,
            10,
            DAY,
            DAY + 5,
            DAY + 6,
            2 * DAY + 6,
            2 * DAY + 7,
            3 * DAY,
            6 * DAY,
        ] {
            let brute = rows
                .iter()
                .filter(|(a, c)| a.is_some_and(|a| a <= at) && c.is_none_or(|c| c > at))
                .count() as i64;
            let (days, today) = counted(&rows, at);
            assert_eq!(days.active_at(at, today), brute, "at {at}");
        }
    }

    #[test]
    fn a_period_of_whole_days_sums_its_days_and_any_other_is_not_answered() {
        let days = Days {
            activated: BTreeMap::from([(-1, 5), (0, 1), (1, 2), (2, 4), (9, 8)]),
            cancelled: BTreeMap::from([(1, 1), (2, 1), (3, 1)]),
            ..Days::default()
        };
        assert_eq!(
            days.period((DAY, 3 * DAY)),
            Some(PeriodStats {
                new: 6,
                cancelled: 2
            }),
            "days 1 and 2, not 3"
        );
        assert_eq!(
            days.period((0, DAY)).map(|p| p.new),
            Some(1),
            "not before 1970"
        );
        assert_eq!(days.period((3 * DAY, 3 * DAY)).map(|p| p.new), Some(0));
        assert_eq!(days.period((5 * DAY, 2 * DAY)).map(|p| p.new), Some(0));
        assert_eq!(days.period((DAY + 1, 3 * DAY)), None);
        assert_eq!(days.period((DAY, 3 * DAY - 1)), None);
        assert_eq!(days.period((-DAY, DAY)), None);
    }
}
