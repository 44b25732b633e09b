//! A filter's counts per status tab and per product, the figures behind a list's tabs and its
//! product breakdown: counted once per key, generation and filter, in parts at once on large
//! copies, and for a search alone from the copy's narrow
//! [`facets_table`](super::copies::facets_table).

use super::Index;
use super::filter::{Filter, SortBy, Status};
use super::search::{Matcher, search_part_count};
use super::statements::{facets_part_sql, trigram_lists};
use crate::db::{Bind, Sql};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Counts per status tab for the other filters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatusCounts {
    /// All.
    pub all: i64,
    /// Active.
    pub active: i64,
    /// Cancelled.
    pub cancelled: i64,
}

/// Tab counts and per-product counts of a filter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facets {
    /// Per status tab.
    pub counts: StatusCounts,
    /// `(product, all, active)` per current product.
    pub products: Vec<(i64, i64, i64)>,
}

impl Facets {
    /// From `(product, all, active)` rows, one per product, in any order.
    fn from_rows(mut products: Vec<(i64, i64, i64)>) -> Self {
        products.sort_unstable();
        let all = products.iter().map(|r| r.1).sum();
        let active = products.iter().map(|r| r.2).sum();
        Self {
            counts: StatusCounts {
                all,
                active,
                cancelled: all - active,
            },
            products,
        }
    }

    /// Rows per product under `status`, largest first.
    pub fn products_for(&self, status: Status) -> Vec<(i64, i64)> {
        let mut out: Vec<(i64, i64)> = self
            .products
            .iter()
            .map(|(p, all, active)| {
                let n = match status {
                    Status::All => *all,
                    Status::Active => *active,
                    Status::Cancelled => all - active,
                };
                (*p, n)
            })
            .filter(|(_, n)| *n > 0)
            .collect();
        out.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        out
    }

    /// Rows under `status`.
    pub fn total(&self, status: Status) -> i64 {
        match status {
            Status::All => self.counts.all,
            Status::Active => self.counts.active,
            Status::Cancelled => self.counts.cancelled,
        }
    }
}

/// The row id ranges `f`'s counts are split into: [`search_part_count`] of them where SQLite's
/// trigram table lists the rows (`matcher`), else the whole copy.
async fn search_parts(
    db: &crate::db::Db,
    key: u64,
    generation: i64,
    f: &Filter,
    matcher: Matcher,
) -> Result<Vec<Option<(i64, i64)>>, sqlx::Error> {
    if !trigram_lists(f, matcher) {
        return Ok(vec![None]);
    }
    let last = super::copies::last_rowid(db, key, generation).await?;
    let n = search_part_count(last);
    if n == 1 {
        return Ok(vec![None]);
    }
    let step = (last + n as i64 - 1) / n as i64;
    Ok((0..n as i64)
        .map(|i| Some((i * step, ((i + 1) * step).min(last))))
        .collect())
}

/// The statements that count a search alone from the copy's narrow
/// [`facets_table`](super::copies::facets_table), one per part, where the copy has one: a copy
/// made before it existed, or on PostgreSQL without pg_trgm, counts from its own table.
async fn facets_from_table(
    db: &crate::db::Db,
    key: u64,
    generation: i64,
    f: &Filter,
) -> Result<Option<Vec<Sql>>, sqlx::Error> {
    use super::statements::{facets_rowids_sql, facets_table_sql, pg_trigram_indexed};
    let Some(term) = super::statements::only_search(f) else {
        return Ok(None);
    };
    let table = super::copies::facets_table(key, generation);
    if db.dialect() == crate::db::Dialect::Sqlite {
        let mut exists =
            Sql::new("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ");
        exists.bind(Bind::Text(table));
        if db.fetch_ints(&exists, 1).await?.first() != Some(&1) {
            return Ok(None);
        }
        let parts = search_parts(db, key, generation, f, Matcher::Trigram).await?;
        return Ok(Some(
            parts
                .into_iter()
                .map(|part| facets_rowids_sql(key, generation, part, term))
                .collect(),
        ));
    }
    // One trigram index per part, and no other index.
    let mut parts = Sql::new(
        "SELECT COUNT(*) FROM pg_indexes WHERE schemaname = current_schema() AND tablename = ",
    );
    parts.bind(Bind::Text(table));
    let parts = db
        .fetch_ints(&parts, 1)
        .await?
        .first()
        .copied()
        .unwrap_or(0);
    if parts == 0 {
        return Ok(None);
    }
    // A term the parts' indexes cannot look up is one scan of the table, not one a part (at
    // 1,000,000: 68–77 ms against two of 130–147 ms at once).
    if !pg_trigram_indexed(term) {
        return Ok(Some(vec![facets_table_sql(key, generation, None, term)]));
    }
    Ok(Some(
        (0..parts)
            .map(|part| facets_table_sql(key, generation, Some(part), term))
            .collect(),
    ))
}

impl Index {
    /// Tab and per-product counts in one scan, cached per key, generation and filter (sorting
    /// and paging do not change them, so a user paging or re-sorting pays for them once).
    pub async fn facets(
        &self,
        key: u64,
        generation: i64,
        f: &Filter,
    ) -> Result<Arc<Facets>, Arc<sqlx::Error>> {
        let scope_filter = Filter {
            status: Status::All,
            sort: SortBy::default(),
            desc: false,
            ..f.clone()
        };
        let cache_key = if scope_filter == Filter::default() {
            super::whole_copy_key(key, generation)
        } else {
            format!("{key}:{generation}:{scope_filter:?}")
        };
        let db = self.db.clone();
        let matcher = Matcher::from(db.dialect());
        self.facets
            .try_get_with(cache_key, async move {
                let statements = match facets_from_table(&db, key, generation, &scope_filter)
                    .await?
                {
                    Some(statements) => statements,
                    None => search_parts(&db, key, generation, &scope_filter, matcher)
                        .await?
                        .into_iter()
                        .map(|part| facets_part_sql(key, generation, &scope_filter, matcher, part))
                        .collect(),
                };
                let counted = futures_util::future::try_join_all(
                    statements
                        .iter()
                        .map(|sql| db.fetch_all::<(i64, i64, i64)>(sql)),
                )
                .await?;
                let mut merged: BTreeMap<i64, (i64, i64)> = BTreeMap::new();
                for (p, all, active) in counted.into_iter().flatten() {
                    let entry = merged.entry(p).or_default();
                    entry.0 += all;
                    entry.1 += active;
                }
                let rows: Vec<(i64, i64, i64)> = merged
                    .into_iter()
                    .map(|(p, (all, active))| (p, all, active))
                    .collect();
                Ok(Arc::new(Facets::from_rows(rows)))
            })
            .await
    }
}
