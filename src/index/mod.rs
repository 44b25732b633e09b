//! The local activations index: a per-key copy of the activations list in the portal's
//! database, so that support and finance questions (search, status, counts, sort) are answered
//! at once for partners with 100,000 activations.
//!
//! - [`sync`] pages through WordPress.com and writes each page as it arrives; at most one sync
//!   runs per key, enforced by a lease row that works across replicas.
//! - [`query`] answers the pages' questions from the visible generation.
//! - [`copies`] names, makes, indexes and drops each generation's own table.
//! - Access is decided by the caller: a key is served only to a session whose partner data
//!   (re-checked with WordPress.com regularly) lists it.

pub mod copies;
mod days;
mod facets;
mod filter;
mod head;
mod insert;
pub mod matches;
pub mod query;
mod search;
mod statements;
pub mod sync;

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, MutexGuard},
    time::Duration,
};

use crate::{
    clock::Clock,
    db::{Bind, Db, Sql},
    secret::random_token,
    upstream::WpClient,
};

/// The state of one key's copy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncState {
    /// Visible generation (0 = no complete copy yet).
    pub generation: i64,
    /// When the visible generation was completed (Unix seconds).
    pub synced_at: Option<i64>,
    /// A sync holds the lease now.
    pub running: bool,
    /// When the running sync started.
    pub started_at: Option<i64>,
    /// Pages written by the running sync.
    pub pages_done: i64,
    /// Pages to write (known after the first page).
    pub pages_total: Option<i64>,
    /// Rows written by the running sync.
    pub rows_done: i64,
    /// Rows to write (known after the first page).
    pub rows_total: Option<i64>,
    /// Why the last sync failed, if the last one did.
    pub last_error: Option<String>,
    /// When it failed.
    pub failed_at: Option<i64>,
    /// The total WordPress.com reported during the last completed copy.
    pub reported_total: Option<i64>,
    /// The rows the visible copy holds.
    pub copied_rows: Option<i64>,
    /// How the last completed copy's pages came back ("WordPress.com sent at most 100 rows per
    /// page"), when that is worth saying.
    pub copy_note: Option<String>,
}

impl SyncState {
    /// Whether there is a complete copy to show.
    pub fn has_copy(&self) -> bool {
        self.generation > 0
    }

    /// Why the last copy failed, when it did and no copy runs now.
    pub fn failure(&self) -> Option<&str> {
        self.last_error.as_deref().filter(|_| !self.running)
    }

    /// `(reported, copied)` when the visible copy does not hold as many rows as WordPress.com
    /// said it has.
    pub fn shortfall(&self) -> Option<(i64, i64)> {
        match (self.reported_total, self.copied_rows) {
            (Some(reported), Some(copied)) if reported != copied => Some((reported, copied)),
            _ => None,
        }
    }
}

/// Settings of the index.
#[derive(Debug, Clone)]
pub struct IndexSettings {
    /// Refresh in the background when the copy is older than this.
    pub max_age: Duration,
    /// Rows per upstream page.
    pub page_size: u32,
    /// Upstream pages in flight at once.
    pub concurrency: usize,
    /// A sync that has not reported progress for this long loses its lease.
    pub lease: Duration,
    /// A replaced copy's table is dropped this long after the new one became visible: longer
    /// than any request runs, so a view that read the old state finds its table.
    pub retire_after: Duration,
}

impl Default for IndexSettings {
    fn default() -> Self {
        Self {
            max_age: Duration::from_secs(900),
            page_size: 1000,
            concurrency: 4,
            lease: Duration::from_secs(60),
            retire_after: Duration::from_secs(20),
        }
    }
}

/// The index. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Index {
    db: Db,
    wpcom: WpClient,
    settings: IndexSettings,
    /// This process's lease owner id.
    owner: String,
    /// The portal's clock.
    clock: Clock,
    /// Keys this process is syncing (saves a database round trip per view), with each copy's
    /// first page once it is back (see [`head`]).
    local: Arc<Mutex<HashMap<u64, Option<Arc<head::Head>>>>>,
    /// Tab and product counts per key, generation and filter.
    facets: moka::future::Cache<String, Arc<query::Facets>>,
    /// Each copy's activations and cancellations per day, while it is visible.
    per_day: moka::future::Cache<String, Arc<days::Days>>,
    /// Overview figures per key, generation, period and minute.
    figures: moka::future::Cache<String, Arc<query::Figures>>,
    /// Reconciliation counts per key, generation, period and product groups.
    during: moka::future::Cache<String, Arc<Vec<i64>>>,
    /// Whether a copy's stored product sort names are this binary's, per key, generation and
    /// product list.
    sorts_checked: moka::future::Cache<String, bool>,
    /// Each narrowed view's matches in its order, per key, generation and filter.
    match_lists: matches::MatchLists,
}

type StateRow = (
    i64,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    i64,
    Option<i64>,
    i64,
    Option<i64>,
    Option<String>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<String>,
);

/// How long an aggregate is kept.
const AGGREGATE_TTL: Duration = Duration::from_secs(300);

/// Aggregates kept at most.
const AGGREGATES: u64 = 1_000;

/// A small cache of aggregates; entries are keyed by generation, so a new copy never serves an
/// old figure, and they expire after five minutes anyway.
fn aggregate_cache<V: Clone + Send + Sync + 'static>() -> moka::future::Cache<String, V> {
    moka::future::Cache::builder()
        .max_capacity(AGGREGATES)
        .time_to_live(AGGREGATE_TTL)
        .build()
}

/// A cache's shared error as the database's own (a copy of its text when others hold it too).
fn unshared(e: Arc<sqlx::Error>) -> sqlx::Error {
    Arc::try_unwrap(e).unwrap_or_else(|e| sqlx::Error::Protocol(e.to_string()))
}

/// The end of the cache key of what is counted over a whole copy, with no filter.
const WHOLE: &str = ":whole";

/// The cache key of what is counted over the whole of `key`'s copy number `generation` (its
/// facets, its days).
fn whole_copy_key(key: u64, generation: i64) -> String {
    format!("{key}:{generation}{WHOLE}")
}

/// Facets expire after `ttl`, but a whole copy's: the plain list and its tabs read them on every
/// view, a copy never changes, and at 1,000,000 activations counting them again took 290 ms for
/// the first view after five idle minutes. They go when the copy is dropped
/// (`Index::drop_older`), or when the cache is full.
#[derive(Debug)]
struct FacetsExpiry(Duration);

impl moka::Expiry<String, Arc<query::Facets>> for FacetsExpiry {
    fn expire_after_create(
        &self,
        key: &String,
        _: &Arc<query::Facets>,
        _: std::time::Instant,
    ) -> Option<Duration> {
        (!key.ends_with(WHOLE)).then_some(self.0)
    }
}

/// The facets cache: [`aggregate_cache`], but whole copies' facets do not expire.
fn facets_cache(ttl: Duration) -> moka::future::Cache<String, Arc<query::Facets>> {
    moka::future::Cache::builder()
        .max_capacity(AGGREGATES)
        .expire_after(FacetsExpiry(ttl))
        .build()
}

impl Index {
    /// An index on `db`, syncing through `wpcom`.
    pub fn new(db: Db, wpcom: WpClient, settings: IndexSettings, clock: Clock) -> Self {
        Self {
            db,
            wpcom,
            settings,
            clock,
            owner: random_token(12),
            local: Arc::default(),
            facets: facets_cache(AGGREGATE_TTL),
            per_day: moka::future::Cache::new(AGGREGATES),
            figures: aggregate_cache(),
            during: aggregate_cache(),
            sorts_checked: aggregate_cache(),
            match_lists: matches::match_lists(),
        }
    }

    /// The copies this process is making, by key.
    fn local_copies(&self) -> MutexGuard<'_, HashMap<u64, Option<Arc<head::Head>>>> {
        self.local
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The settings.
    pub fn settings(&self) -> &IndexSettings {
        &self.settings
    }

    /// The database.
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// The state of `key`'s copy.
    pub async fn state(&self, key: u64) -> Result<SyncState, sqlx::Error> {
        let mut sql = Sql::new(
            "SELECT generation, synced_at, lease_until, started_at, pages_done, pages_total, rows_done, \
             rows_total, last_error, failed_at, reported_total, copied_rows, copy_note \
             FROM key_syncs WHERE key_id = ",
        );
        sql.bind(Bind::Int(key as i64));
        let row: Option<StateRow> = self.db.fetch_optional(&sql).await?;
        Ok(row.map_or_else(SyncState::default, |r| SyncState {
            generation: r.0,
            synced_at: r.1,
            running: r.2.is_some_and(|until| until >= self.clock.now()),
            started_at: r.3,
            pages_done: r.4,
            pages_total: r.5,
            rows_done: r.6,
            rows_total: r.7,
            last_error: r.8,
            failed_at: r.9,
            reported_total: r.10,
            copied_rows: r.11,
            copy_note: r.12,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_whole_copys_facets_outlive_the_ttl_and_a_filtered_views_do_not() {
        let cache = facets_cache(Duration::from_millis(50));
        let whole = whole_copy_key(70, 3);
        let searched = format!(
            "70:3:{:?}",
            query::Filter {
                search: Some("yoga".into()),
                ..query::Filter::default()
            }
        );
        for key in [&whole, &searched] {
            cache.insert(key.clone(), Arc::default()).await;
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
        assert!(
            cache.get(&whole).await.is_some(),
            "the whole copy's are kept"
        );
        assert!(cache.get(&searched).await.is_none(), "a search's expire");
    }
}
