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
//!
//! The same counts are kept per product (the current product, else the one activated), as
//! running totals, so that the overview's product table and chart can say, for any product or
//! family and any whole days, how many plans were new, cancelled and active: each figure is two
//! binary searches, however many rows the copy has.

use std::{collections::BTreeMap, sync::Arc};

use super::{Index, copies::table, query::PeriodStats, query::period_stats_sql};
use crate::db::{Bind, Sql};

/// Seconds in a UTC day.
const DAY: i64 = 86_400;

/// Counts per day number (Unix seconds ÷ [`DAY`]) as running totals: `before(d)` is the
/// sum over the days before `d`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(super) struct Running {
    /// Day numbers with a count, ascending.
    days: Vec<i64>,
    /// The sum of the counts up to and including `days[i]`.
    sums: Vec<i64>,
}

impl Running {
    fn from_map(map: &BTreeMap<i64, i64>) -> Self {
        let mut total = 0;
        let mut out = Self::default();
        for (day, n) in map {
            total += n;
            out.days.push(*day);
            out.sums.push(total);
        }
        out
    }

    /// The rows of the days before day `day`.
    fn before(&self, day: i64) -> i64 {
        match self.days.partition_point(|d| *d < day) {
            0 => 0,
            i => self.sums[i - 1],
        }
    }

    /// The rows of the days in `[from, to)`.
    fn between(&self, from: i64, to: i64) -> i64 {
        (self.before(to) - self.before(from)).max(0)
    }
}

/// The four counts of [`Days`] for one set of rows, as day → rows while they are read.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Tally {
    activated: BTreeMap<i64, i64>,
    cancelled: BTreeMap<i64, i64>,
    ended: BTreeMap<i64, i64>,
    ended_early: BTreeMap<i64, i64>,
}

/// Rows per day, for the whole copy or one product.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(super) struct Counts {
    /// Activated, by the day of activation.
    activated: Running,
    /// Cancelled, by the day of cancellation.
    cancelled: Running,
    /// Cancelled on or after activation, by the day of cancellation.
    ended: Running,
    /// Cancelled before activation (messy data, counted all the same), by the day of
    /// activation.
    ended_early: Running,
}

impl From<&Tally> for Counts {
    fn from(t: &Tally) -> Self {
        Self {
            activated: Running::from_map(&t.activated),
            cancelled: Running::from_map(&t.cancelled),
            ended: Running::from_map(&t.ended),
            ended_early: Running::from_map(&t.ended_early),
        }
    }
}

impl Counts {
    /// The plans active at the end of the day before day `day` (no row of `day` counted).
    fn active_before_day(&self, day: i64) -> i64 {
        self.activated.before(day) - self.ended.before(day) - self.ended_early.before(day)
    }

    /// The plans active at `at` from the whole days before it, given `today`, the counts of
    /// `at`'s own day up to `at`: (activated, [`Counts::ended`], [`Counts::ended_early`]).
    fn active_at(&self, at: i64, today: (i64, i64, i64)) -> i64 {
        self.active_before_day(at / DAY) + today.0 - today.1 - today.2
    }

    /// Activated and cancelled in days `[from, to)`.
    fn between(&self, from: i64, to: i64) -> PeriodStats {
        PeriodStats {
            new: self.activated.between(from, to),
            cancelled: self.cancelled.between(from, to),
        }
    }
}

/// A copy's rows per day, in all and per product.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(super) struct Days {
    /// Every row.
    all: Counts,
    /// Per product: `COALESCE(current_product_id, product_id, 0)`, as the facets count.
    products: BTreeMap<i64, Counts>,
}

/// Whether `[start, end)` runs from a midnight from 1970 on to a midnight.
fn whole_days((start, end): (i64, i64)) -> bool {
    start >= 0 && start % DAY == 0 && end % DAY == 0
}

impl Days {
    /// Reads `(which, product, day, rows)` as [`days_sql`] returns them.
    fn from_rows(rows: &[(i64, i64, i64, i64)]) -> Self {
        let mut all = Tally::default();
        let mut products: BTreeMap<i64, Tally> = BTreeMap::new();
        for &(which, product, day, n) in rows {
            let per = products.entry(product).or_default();
            for t in [&mut all, per] {
                let into = match which {
                    0 => &mut t.activated,
                    1 => &mut t.cancelled,
                    2 => &mut t.ended,
                    _ => &mut t.ended_early,
                };
                *into.entry(day).or_default() += n;
            }
        }
        Self {
            all: Counts::from(&all),
            products: products
                .iter()
                .map(|(p, t)| (*p, Counts::from(t)))
                .collect(),
        }
    }

    /// The plans active at `at`; see [`Counts::active_at`].
    fn active_at(&self, at: i64, today: (i64, i64, i64)) -> i64 {
        self.all.active_at(at, today)
    }

    /// Activated and cancelled in `[start, end)`, when both are midnights from 1970 on.
    fn period(&self, (start, end): (i64, i64)) -> Option<PeriodStats> {
        if !whole_days((start, end)) {
            return None;
        }
        Some(self.all.between(start / DAY, (end / DAY).max(start / DAY)))
    }
}

/// What changed over some whole days: for the overview's periods, product table and chart.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Change {
    /// Activated in the days.
    pub new: i64,
    /// Cancelled in the days.
    pub cancelled: i64,
    /// Active at the start of the first day.
    pub active_start: i64,
    /// Active at the end of the last day.
    pub active_end: i64,
}

impl Change {
    /// New less cancelled.
    pub fn net(&self) -> i64 {
        self.new - self.cancelled
    }
}

impl std::ops::AddAssign for Change {
    fn add_assign(&mut self, o: Self) {
        self.new += o.new;
        self.cancelled += o.cancelled;
        self.active_start += o.active_start;
        self.active_end += o.active_end;
    }
}

/// Whole UTC days `[first, end)`, as dates.
pub type DaySpan = (chrono::NaiveDate, chrono::NaiveDate);

fn day_number(d: chrono::NaiveDate) -> i64 {
    d.signed_duration_since(chrono::NaiveDate::default())
        .num_days()
}

/// Per product, one [`Change`] per asked span.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    /// Product → its changes, in the order the spans were asked.
    pub products: BTreeMap<i64, Vec<Change>>,
}

impl Changes {
    /// The changes of the products in `only` (every product when `None`) added up, one per span.
    pub fn sum(&self, only: Option<&[i64]>, spans: usize) -> Vec<Change> {
        let mut out = vec![Change::default(); spans];
        for (p, changes) in &self.products {
            if only.is_some_and(|o| !o.contains(p)) {
                continue;
            }
            for (total, c) in out.iter_mut().zip(changes) {
                *total += *c;
            }
        }
        out
    }
}

impl Days {
    /// What changed for each product over each span.
    fn changes(&self, spans: &[DaySpan]) -> Changes {
        let numbers: Vec<(i64, i64)> = spans
            .iter()
            .map(|(a, b)| (day_number(*a), day_number(*b).max(day_number(*a))))
            .collect();
        Changes {
            products: self
                .products
                .iter()
                .map(|(p, counts)| {
                    let per_span = numbers
                        .iter()
                        .map(|&(from, to)| {
                            let stats = counts.between(from, to);
                            Change {
                                new: stats.new,
                                cancelled: stats.cancelled,
                                active_start: counts.active_before_day(from),
                                active_end: counts.active_before_day(to),
                            }
                        })
                        .collect();
                    (*p, per_span)
                })
                .collect(),
        }
    }
}

/// Each day's rows of a copy for each of [`Days`]' counts, by their number (0–3).
fn days_sql(key: u64, generation: i64) -> Sql {
    let t = table(key, generation);
    let product = "COALESCE(current_product_id, product_id, 0)";
    let per_day = |which: i64, column: &str, rows: &str| {
        let day = format!("CASE WHEN {column} < 0 THEN -1 ELSE {column} / {DAY} END");
        format!(
            "SELECT CAST({which} AS BIGINT), {product}, {day}, COUNT(*) FROM {t} WHERE {rows} GROUP BY {product}, {day}"
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
                let rows: Vec<(i64, i64, i64, i64)> =
                    db.fetch_all(&days_sql(key, generation)).await?;
                Ok::<_, sqlx::Error>(Arc::new(Days::from_rows(&rows)))
            })
            .await
            .map_err(super::unshared)
    }

    /// What changed for each product over each of `spans` (whole UTC days), from the copy's
    /// counts per day.
    pub async fn changes(
        &self,
        key: u64,
        generation: i64,
        spans: &[DaySpan],
    ) -> Result<Changes, sqlx::Error> {
        Ok(self.days(key, generation).await?.changes(spans))
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

    /// Rows as `(activated_on, cancelled_on, product)`, counted as `days_sql` and `today_sql`
    /// count them.
    fn counted(rows: &[(Option<i64>, Option<i64>, i64)], at: i64) -> (Days, (i64, i64, i64)) {
        let bucket = |t: i64| if t < 0 { -1 } else { t / DAY };
        let mut read = Vec::new();
        let mut today = (0, 0, 0);
        let start = at / DAY * DAY;
        let on_day = |t: i64| start <= t && t <= at;
        for &(a, c, p) in rows {
            if let Some(a) = a {
                read.push((0, p, bucket(a), 1));
                today.0 += i64::from(on_day(a));
            }
            if let Some(c) = c {
                read.push((1, p, bucket(c), 1));
            }
            if let (Some(a), Some(c)) = (a, c) {
                if a <= c {
                    read.push((2, p, bucket(c), 1));
                    today.1 += i64::from(on_day(c));
                } else {
                    read.push((3, p, bucket(a), 1));
                    today.2 += i64::from(on_day(a));
                }
            }
        }
        (Days::from_rows(&read), today)
    }

    const ROWS: [(Option<i64>, Option<i64>, i64); 10] = [
        (Some(-500), None, 2005),
        (Some(-500), Some(-10), 2005),
        (Some(10), None, 2010),
        (Some(DAY + 5), Some(2 * DAY + 7), 2010),
        (Some(DAY + 5), Some(DAY + 5), 2011),
        (Some(3 * DAY), Some(DAY), 2011),
        (None, Some(DAY), 2005),
        (None, None, 2005),
        (Some(2 * DAY + 6), None, 2010),
        (Some(4 * DAY - 1), Some(5 * DAY), 2011),
    ];

    fn brute_active(rows: &[(Option<i64>, Option<i64>, i64)], at: i64) -> i64 {
        rows.iter()
            .filter(|(a, c, _)| a.is_some_and(|a| a <= at) && c.is_none_or(|c| c > at))
            .count() as i64
    }

    #[test]
    fn active_at_a_moment_is_the_rows_activated_by_then_and_not_cancelled_by_then() {
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
            let (days, today) = counted(&ROWS, at);
            assert_eq!(
                days.active_at(at, today),
                brute_active(&ROWS, at),
                "at {at}"
            );
        }
    }

    #[test]
    fn each_products_changes_over_whole_days_are_counted_as_a_scan_would() {
        let (days, _) = counted(&ROWS, 0);
        let date = |n: i64| chrono::NaiveDate::default() + chrono::Duration::days(n);
        let spans = [
            (date(0), date(1)),
            (date(1), date(3)),
            (date(2), date(6)),
            (date(3), date(3)),
        ];
        let changes = days.changes(&spans);
        for product in [2005, 2010, 2011] {
            let rows: Vec<_> = ROWS.iter().copied().filter(|r| r.2 == product).collect();
            for (span, got) in spans.iter().zip(&changes.products[&product]) {
                let (from, to) = (day_number(span.0) * DAY, day_number(span.1) * DAY);
                let within = |t: Option<i64>| t.is_some_and(|t| from <= t && t < to);
                let want = Change {
                    new: rows.iter().filter(|r| within(r.0)).count() as i64,
                    cancelled: rows.iter().filter(|r| within(r.1)).count() as i64,
                    active_start: brute_active(&rows, from - 1),
                    active_end: brute_active(&rows, to - 1),
                };
                assert_eq!(*got, want, "product {product}, span {span:?}");
            }
        }
        let all = changes.sum(None, spans.len());
        let only = changes.sum(Some(&[2010]), spans.len());
        assert_eq!(all[1].new, 3);
        assert_eq!(only[1].new, 2);
        assert_eq!(all[2].active_end, brute_active(&ROWS, 6 * DAY - 1));
    }

    #[test]
    fn a_period_of_whole_days_sums_its_days_and_any_other_is_not_answered() {
        let read: Vec<(i64, i64, i64, i64)> = [(-1, 5), (0, 1), (1, 2), (2, 4), (9, 8)]
            .into_iter()
            .map(|(d, n)| (0, 2005, d, n))
            .chain(
                [(1, 1), (2, 1), (3, 1)]
                    .into_iter()
                    .map(|(d, n)| (1, 2010, d, n)),
            )
            .collect();
        let days = Days::from_rows(&read);
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
