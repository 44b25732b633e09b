//! A narrowed list's matches, listed once. Each page of a search, a tab or a plan filter
//! either walks a sort index testing every row it passes, or lists every match and sorts them:
//! hundreds to thousands of rows read for 20 shown, on every page, every time. Within one copy
//! the matches of a filter in one order never change, so after the first page the list of
//! their ids is made once, in the background, and every later page of that view (any depth,
//! this sort) reads only its own rows by primary key. Lists are kept per key, generation and
//! filter, up to [`MAX_LISTED`] ids each and [`CACHE_BYTES`] in all. The whole key's list is
//! never listed: its sort indexes are that list already.

use std::sync::Arc;

use super::Index;
use super::filter::Filter;
use super::query::Row;
use super::search::Matcher;
use super::statements::{COLUMNS, filtered, order};
use crate::db::{Bind, Sql};

/// Memory the lists may hold together.
pub const CACHE_BYTES: u64 = 4 * 1024 * 1024;

/// A view with more matches than this pages as before: its list would take more than an
/// eighth of [`CACHE_BYTES`] (8 bytes an id), and cost more to make than its pages save.
/// (At 20,000, a plan filter over this year with 20,185 of 100,000 activations paged by
/// offset, and planning and walking that page cost PostgreSQL 0.35 ms a view: 0.49 × the
/// list's throughput.)
pub const MAX_LISTED: i64 = (CACHE_BYTES / 8 / 8) as i64;

/// The cache of match lists.
pub(super) type MatchLists = moka::future::Cache<String, Arc<Vec<i64>>>;

/// An empty cache of match lists, weighed by their ids.
pub(super) fn match_lists() -> MatchLists {
    moka::future::Cache::builder()
        .max_capacity(CACHE_BYTES)
        .weigher(|_, ids: &Arc<Vec<i64>>| {
            u32::try_from(ids.len().saturating_mul(8).saturating_add(64)).unwrap_or(u32::MAX)
        })
        .time_to_live(std::time::Duration::from_secs(300))
        .build()
}

/// The ids of every row `f` shows, in its order (public so a test can compare it).
pub fn match_ids_sql(key: u64, generation: i64, f: &Filter, matcher: Matcher) -> Sql {
    let mut sql = Sql::new("SELECT id");
    filtered(&mut sql, key, generation, f, true, matcher);
    order(&mut sql, f);
    sql
}

/// The rows with these ids, in `f`'s order, each read by primary key. (With `id IN (…)`
/// instead, SQLite preferred walking the order's sort index over the whole key, testing each
/// entry against the list, to spare itself sorting the page: 94 pages a second under load.)
pub fn rows_by_id_sql(key: u64, generation: i64, f: &Filter, ids: &[i64]) -> Sql {
    let mut sql = Sql::new("WITH page (pid) AS (VALUES ");
    for (i, id) in ids.iter().enumerate() {
        if i > 0 {
            sql.push(", ");
        }
        sql.push("(").bind(Bind::Int(*id)).push(")");
    }
    sql.push(&format!(
        ") SELECT {COLUMNS} FROM page CROSS JOIN {} WHERE id = page.pid",
        super::copies::table(key, generation)
    ));
    order(&mut sql, f);
    sql
}

fn cache_key(key: u64, generation: i64, f: &Filter) -> String {
    format!("{key}:{generation}:{f:?}")
}

impl Index {
    /// The page from the view's list of matches, when there is one. Without one, and when the
    /// view has at most [`MAX_LISTED`] matches, the list is made in the background for the
    /// next page (this one is found the usual way, so a first view costs what it did).
    pub(super) async fn page_from_matches(
        &self,
        key: u64,
        generation: i64,
        f: &Filter,
        page: u32,
        per_page: u32,
    ) -> Option<Result<Vec<Row>, sqlx::Error>> {
        if !f.narrows() {
            return None;
        }
        let cache_key = cache_key(key, generation, f);
        let Some(ids) = self.match_lists.get(&cache_key).await else {
            let matches = self.facets(key, generation, f).await.ok()?.total(f.status);
            if matches > 0 && matches <= MAX_LISTED {
                self.list_matches_later(cache_key, key, generation, f.clone());
            }
            return None;
        };
        let from = usize::try_from(u64::from(page.saturating_sub(1)) * u64::from(per_page))
            .unwrap_or(usize::MAX)
            .min(ids.len());
        let to = from
            .saturating_add(usize::try_from(per_page).unwrap_or(usize::MAX))
            .min(ids.len());
        let Some(page_ids) = ids.get(from..to).filter(|p| !p.is_empty()) else {
            return Some(Ok(Vec::new()));
        };
        Some(
            self.db
                .fetch_all(&rows_by_id_sql(key, generation, f, page_ids))
                .await,
        )
    }

    /// Makes the list in a task of its own; views asking meanwhile wait for nothing, and
    /// concurrent ones make it once (the cache joins them).
    fn list_matches_later(&self, cache_key: String, key: u64, generation: i64, f: Filter) {
        let lists = self.match_lists.clone();
        let db = self.db.clone();
        tokio::spawn(async move {
            let matcher = Matcher::from(db.dialect());
            let made = lists
                .try_get_with(cache_key, async move {
                    let ids: Vec<(i64,)> = db
                        .fetch_all(&match_ids_sql(key, generation, &f, matcher))
                        .await?;
                    Ok::<_, sqlx::Error>(Arc::new(ids.into_iter().map(|(id,)| id).collect()))
                })
                .await;
            if let Err(e) = made {
                tracing::warn!(error = %e, key, "listing a view's matches failed; its pages are found one by one");
            }
        });
    }

    /// Whether the list of `f`'s matches is made (for tests).
    pub async fn matches_listed(&self, key: u64, generation: i64, f: &Filter) -> bool {
        self.match_lists
            .get(&cache_key(key, generation, f))
            .await
            .is_some()
    }
}
