//! Questions answered from a key's visible generation: filtered, sorted pages; period
//! statistics; reconciliation counts; and a row stream for exports (the counts per status and
//! product are in [`facets`](super::facets)).

use super::Index;
use std::sync::Arc;

pub use super::facets::{Facets, StatusCounts};
pub use super::filter::{Filter, SortBy, Status};
pub use super::search::Matcher;
use super::search::walk_is_cheaper;
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

impl Index {
    /// One page of rows, read once per copy (see `Index::pages`).
    pub async fn rows(
        &self,
        key: u64,
        generation: i64,
        f: &Filter,
        page: u32,
        per_page: u32,
    ) -> Result<Arc<Vec<Row>>, sqlx::Error> {
        let cache_key = format!("{key}:{generation}:{f:?}:{page}:{per_page}");
        if let Some(rows) = self.pages.get(&cache_key).await {
            return Ok(rows);
        }
        let rows = Arc::new(self.read_rows(key, generation, f, page, per_page).await?);
        self.pages.insert(cache_key, rows.clone()).await;
        Ok(rows)
    }

    /// One page of rows, from the database.
    async fn read_rows(
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
        let (Ok(facets), Ok(state)) = (
            self.facets(key, generation, f).await,
            self.request_state(key).await,
        ) else {
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
