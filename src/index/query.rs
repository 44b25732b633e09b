//! Questions answered from a key's visible generation: filtered, sorted pages; counts per status
//! and product; period statistics; reconciliation counts; and a row stream for exports.

use super::Index;
use std::sync::Arc;

pub use super::filter::{Filter, SortBy, Status};
pub use super::search::Matcher;
use super::search::{search_part_count, walk_is_cheaper};
use super::statements::{COLUMNS, filtered, order, scope, stored_sorts_sql, trigram_lists};
pub use super::statements::{
    ProductStart, active_at_sql, facets_part_sql, facets_rowids_sql, facets_sql, facets_table_sql,
    page_sql, page_sql_at, period_stats_sql,
};
use crate::db::{Bind, Sql};
use crate::products::sort_key;
use std::collections::BTreeMap;

/// One indexed activation.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Row {
    /// Activation id.
    pub id: i64,
    /// Blog id.
    pub blog_id: Option<i64>,
    /// Owner's user id.
    pub user_id: Option<i64>,
    /// Host's user id.
    pub external_user_id: Option<String>,
    /// Product provisioned.
    pub product_id: Option<i64>,
    /// Product now.
    pub current_product_id: Option<i64>,
    /// Created.
    pub created_on: Option<i64>,
    /// Activated.
    pub activated_on: Option<i64>,
    /// Cancelled.
    pub cancelled_on: Option<i64>,
    /// Disputed.
    pub disputed_on: Option<i64>,
    /// Site registered.
    pub site_registered: Option<i64>,
    /// URL (untrusted).
    pub site_url: String,
    /// Name (untrusted).
    pub site_name: String,
}

impl Row {
    /// The row the copy stores for `a` (the copy's insert builds its rows with this, and the
    /// list shows WordPress.com's own rows this way while the first copy is made).
    pub fn from_upstream(a: &crate::upstream::Activation) -> Self {
        let int = |v: Option<u64>| v.and_then(|n| i64::try_from(n).ok());
        let time = |t: Option<chrono::DateTime<chrono::Utc>>| t.map(|t| t.timestamp());
        Self {
            id: a.id as i64,
            blog_id: int(a.blog_id),
            user_id: int(a.user_id),
            external_user_id: a.external_user_id.clone(),
            product_id: int(a.product_id),
            current_product_id: int(a.current_product_id.or(a.product_id)),
            created_on: time(a.created_on),
            activated_on: time(a.activated_on),
            cancelled_on: time(a.cancelled_on),
            disputed_on: time(a.disputed_on),
            site_registered: time(a.site_registered),
            site_url: a.site_url.clone().unwrap_or_default(),
            site_name: a.site_name.clone().unwrap_or_default(),
        }
    }
}

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

/// The overview's figures from the index.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Figures {
    /// Per requested span.
    pub periods: Vec<PeriodStats>,
    /// Active now.
    pub active_now: i64,
    /// Active just before the first span.
    pub active_before: i64,
    /// Active per current product.
    pub by_product: Vec<(i64, i64)>,
}

/// New and cancelled activations in one period.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PeriodStats {
    /// Activated in the period.
    pub new: i64,
    /// Cancelled in the period.
    pub cancelled: i64,
}

/// The row id ranges a search's counts are split into on SQLite: [`search_part_count`] of
/// them.
async fn search_parts(
    db: &crate::db::Db,
    key: u64,
    generation: i64,
) -> Result<Vec<Option<(i64, i64)>>, sqlx::Error> {
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
        let parts = if trigram_lists(f, Matcher::Trigram) {
            search_parts(db, key, generation).await?
        } else {
            vec![None]
        };
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
    /// One page of rows.
    pub async fn rows(
        &self,
        key: u64,
        generation: i64,
        f: &Filter,
        page: u32,
        per_page: u32,
    ) -> Result<Vec<Row>, sqlx::Error> {
        if let Some(rows) = self
            .page_from_matches(key, generation, f, page, per_page)
            .await
        {
            return rows;
        }
        let matcher = self.page_matcher(key, generation, f, page, per_page).await;
        let start = if f.sort == SortBy::Product {
            self.product_start(key, generation, f, page, per_page).await
        } else {
            None
        };
        self.db
            .fetch_all(&page_sql_at(
                self.db.dialect(),
                key,
                generation,
                f,
                start.as_ref(),
                page,
                per_page,
                matcher,
            ))
            .await
    }

    /// Where a product sort's page starts. Rows sort by `product_sort`, one value per product,
    /// so the facets (cached per filter, and the page needs them anyway) say how many matching
    /// rows each product's block holds. The page then seeks to the block it falls in instead of
    /// walking every row before it: a plan filter's rows, for one, sit together in product
    /// order, and a walk to them read most of the key. `None` means walk from the start (a
    /// page past the end, a failure to count, or a copy whose stored names are not this
    /// binary's).
    pub async fn product_start(
        &self,
        key: u64,
        generation: i64,
        f: &Filter,
        page: u32,
        per_page: u32,
    ) -> Option<ProductStart> {
        let offset = i64::from(page.saturating_sub(1)) * i64::from(per_page);
        let facets = self.facets(key, generation, f).await.ok()?;
        let products: Vec<(i64, String)> = facets
            .products
            .iter()
            .map(|(p, _, _)| (*p, sort_key(u64::try_from(*p).ok().filter(|p| *p != 0))))
            .collect();
        if !self.stored_sorts_match(key, generation, &products).await {
            return None;
        }
        let mut blocks: BTreeMap<&str, i64> = BTreeMap::new();
        for (p, n) in facets.products_for(f.status) {
            let (_, s) = products.iter().find(|(q, _)| *q == p)?;
            *blocks.entry(s.as_str()).or_default() += n;
        }
        let mut ordered: Vec<(&str, i64)> = blocks.into_iter().collect();
        if f.desc {
            ordered.reverse();
        }
        let mut skipped = 0;
        for (s, n) in ordered {
            // Even the first block with matches is worth seeking to: the blocks before it
            // hold none, and a walk from the start would read them all.
            if skipped + n > offset {
                return Some(ProductStart {
                    from: s.to_owned(),
                    skipped,
                });
            }
            skipped += n;
        }
        None
    }

    /// Whether the copy stored each of `products`' `product_sort` as this binary computes it
    /// (one statement, cached per key, generation and product list).
    async fn stored_sorts_match(
        &self,
        key: u64,
        generation: i64,
        products: &[(i64, String)],
    ) -> bool {
        if products.is_empty() {
            return true;
        }
        let cache_key = format!("{key}:{generation}:{products:?}");
        let db = self.db.clone();
        let sql = stored_sorts_sql(key, generation, products);
        let wanted = products.len();
        let checked = self
            .sorts_checked
            .try_get_with(cache_key, async move {
                let found: Vec<(i64,)> = db.fetch_all(&sql).await?;
                if found.len() != wanted {
                    tracing::info!(
                        key,
                        generation,
                        "this copy's product names differ from this release's; product sort pages walk from the start"
                    );
                }
                Ok::<_, sqlx::Error>(found.len() == wanted)
            })
            .await;
        checked.unwrap_or(false)
    }

    /// The cheaper way to find one page of a search on SQLite. Walking the sort index and
    /// checking each row stops after `offset + per_page` matches, which for a common term is a
    /// few hundred rows; the trigram table lists every match first. So the page walks when it
    /// would read fewer rows than there are matches (the counts are cached per filter, and
    /// the list page needs them anyway).
    async fn page_matcher(
        &self,
        key: u64,
        generation: i64,
        f: &Filter,
        page: u32,
        per_page: u32,
    ) -> Matcher {
        let matcher = Matcher::from(self.db.dialect());
        if !trigram_lists(f, matcher) {
            return matcher;
        }
        let (Ok(facets), Ok(state)) =
            (self.facets(key, generation, f).await, self.state(key).await)
        else {
            return matcher;
        };
        let matches = facets.total(f.status);
        let wanted = i64::from(page.max(1)) * i64::from(per_page);
        if walk_is_cheaper(matches, state.copied_rows.unwrap_or(matches), wanted) {
            Matcher::Like
        } else {
            Matcher::Trigram
        }
    }

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
                let statements =
                    match facets_from_table(&db, key, generation, &scope_filter).await? {
                        Some(statements) => statements,
                        None => {
                            let parts = if trigram_lists(&scope_filter, matcher) {
                                search_parts(&db, key, generation).await?
                            } else {
                                vec![None]
                            };
                            parts
                                .into_iter()
                                .map(|part| {
                                    facets_part_sql(key, generation, &scope_filter, matcher, part)
                                })
                                .collect()
                        }
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

    /// One activation.
    pub async fn activation(
        &self,
        key: u64,
        generation: i64,
        id: i64,
    ) -> Result<Option<Row>, sqlx::Error> {
        let mut sql = Sql::new(&format!("SELECT {COLUMNS}"));
        scope(&mut sql, key, generation);
        sql.push(" AND id = ").bind(Bind::Int(id));
        self.db.fetch_optional(&sql).await
    }

    /// [`Index::active_at`] by a scan of the count index up to `at` (public so a test can
    /// compare the two).
    pub async fn scanned_active_at(
        &self,
        key: u64,
        generation: i64,
        at: i64,
    ) -> Result<i64, sqlx::Error> {
        Ok(self
            .db
            .fetch_optional::<(i64,)>(&active_at_sql(key, generation, at))
            .await?
            .map_or(0, |r| r.0))
    }

    /// The overview's figures for `spans` (the first is the chosen period), computed once per
    /// key, generation, spans and minute however many people open the overview at once.
    pub async fn figures(
        &self,
        key: u64,
        generation: i64,
        spans: Vec<(i64, i64)>,
        now: i64,
    ) -> Result<Arc<Figures>, Arc<sqlx::Error>> {
        let cache_key = format!("{key}:{generation}:{spans:?}:{}", now / 60);
        let index = self.clone();
        self.figures
            .try_get_with(cache_key, async move {
                let before = spans.first().map_or(now, |s| s.0 - 1);
                // The active rows per product are the whole copy's facets (kept while it is
                // visible): counted on their own they read each active row, 1.3 s at 1,000,000.
                let by_product = async {
                    index
                        .facets(key, generation, &Filter::default())
                        .await
                        .map(|f| f.products_for(Status::Active))
                        .map_err(super::unshared)
                };
                let (periods, active_now, active_before, by_product) = tokio::try_join!(
                    index.period_stats(key, generation, &spans),
                    index.active_at(key, generation, now),
                    index.active_at(key, generation, before),
                    by_product,
                )?;
                Ok(Arc::new(Figures {
                    periods,
                    active_now,
                    active_before,
                    by_product,
                }))
            })
            .await
    }

    /// For each group of product ids, the activations whose current product is in the group
    /// and that were active at some moment in `[start, end)`.
    pub async fn active_during_by_group(
        &self,
        key: u64,
        generation: i64,
        start: i64,
        end: i64,
        groups: &[Vec<i64>],
    ) -> Result<Vec<i64>, Arc<sqlx::Error>> {
        if groups.is_empty() {
            return Ok(Vec::new());
        }
        // One scan per copy, invoice period and product groups, however many people open the
        // invoice: the answer cannot change until the copy does.
        let cache_key = format!("{key}:{generation}:{start}:{end}:{groups:?}");
        let sql = Self::during_sql(key, generation, start, end, groups);
        let db = self.db.clone();
        let n = groups.len();
        let counts = self
            .during
            .try_get_with(cache_key, async move {
                db.fetch_ints(&sql, n).await.map(Arc::new)
            })
            .await?;
        Ok(counts.as_ref().clone())
    }

    fn during_sql(key: u64, generation: i64, start: i64, end: i64, groups: &[Vec<i64>]) -> Sql {
        let mut sql = Sql::new("SELECT ");
        for (i, group) in groups.iter().enumerate() {
            if i > 0 {
                sql.push(", ");
            }
            if group.is_empty() {
                sql.push("CAST(0 AS BIGINT)");
            } else {
                sql.push("COUNT(*) FILTER (WHERE current_product_id IN (")
                    .bind_list(group)
                    .push("))");
            }
        }
        scope(&mut sql, key, generation);
        sql.push(" AND activated_on < ")
            .bind(Bind::Int(end))
            .push(" AND (cancelled_on IS NULL OR cancelled_on >= ")
            .bind(Bind::Int(start))
            .push(")");
        sql
    }

    /// Streams every row of the filter, in order, into a bounded channel (exports).
    pub fn stream(
        &self,
        key: u64,
        generation: i64,
        f: &Filter,
    ) -> tokio::sync::mpsc::Receiver<Result<Row, sqlx::Error>> {
        let mut sql = Sql::new(&format!("SELECT {COLUMNS}"));
        filtered(
            &mut sql,
            key,
            generation,
            f,
            true,
            Matcher::from(self.db.dialect()),
        );
        order(&mut sql, f);
        let (tx, rx) = tokio::sync::mpsc::channel(256);
        let db = self.db().clone();
        tokio::spawn(async move { db.stream_into(sql, tx).await });
        rx
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::statements::filters;

    #[test]
    fn filters_bind_every_user_value() {
        let f = Filter {
            search: Some("x'; DROP".into()),
            plans: vec![2005],
            activated_from: Some(1),
            ..Filter::default()
        };
        let mut sql = Sql::new("SELECT 1");
        scope(&mut sql, 70, 1);
        filters(&mut sql, 70, 1, &f, true, Matcher::Like, None);
        assert!(!sql.text.contains("DROP"));
        assert_eq!(sql.binds.len(), 4);
        let mut sql = Sql::new("SELECT 1");
        filters(&mut sql, 70, 1, &f, true, Matcher::Trigram, None);
        assert!(sql.text.contains("activations_70_1_search MATCH") && !sql.text.contains("DROP"));
    }
}
