//! The local activations index: a per-key copy of the activations list in the portal's
//! database, so that support and finance questions (search, status, counts, sort) are answered
//! at once for partners with 100,000 activations.
//!
//! - [`sync`] starts and ends copies; [`copy`] pages through WordPress.com and writes each
//!   page as it arrives, retrying pages WordPress.com fails for a moment; [`lease`] makes
//!   sure at most one process copies a key, fences every attempt so that a stalled one can
//!   harm no other, and resumes a stopped copy from the pages it stored ([`pages`]);
//!   [`schedule`] picks stopped copies up with nobody looking.
//! - [`query`] answers the pages' questions from the visible generation.
//! - [`copies`] names, makes, indexes and drops each generation's own table.
//! - Access is decided by the caller: a key is served only to a session whose partner data
//!   (re-checked with WordPress.com regularly) lists it.

pub use days::{Change, Changes, DaySpan};

pub mod copies;
mod copy;
mod days;
mod facets;
mod filter;
mod head;
mod insert;
pub mod keyset;
mod lease;
pub mod matches;
mod pages;
pub mod query;
mod report;
pub mod schedule;
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
    secret::{Sealer, random_token},
    upstream::WpClient,
    versions::{Kept, Of, Versions},
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
    /// The running copy is this process's own (else another replica's).
    pub mine: bool,
    /// An attempt holds (or held) the key: its lease ran out without it finishing, when
    /// `running` is false.
    pub attempt: Option<i64>,
    /// When the lease runs out, if nobody renews it.
    pub lease_until: Option<i64>,
    /// A stopped copy waits to be resumed.
    pub paused: bool,
    /// A paused copy resumes by itself at this time.
    pub resume_after: Option<i64>,
    /// What the running copy waits for ("WordPress.com answered 503 for page 221; …").
    pub retry_note: Option<String>,
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

    /// An attempt whose process stopped renewing its lease (killed, stalled, cut off from the
    /// database): another process, or this one's schedule, resumes it.
    pub fn stranded(&self) -> bool {
        !self.running && self.attempt.is_some()
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
    /// A copy whose process has not renewed its lease for this long loses it to another.
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
            lease: Duration::from_secs(20),
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
    /// Seals the token a copy reads with, so the schedule can resume it.
    sealer: Sealer,
    /// This process's hold on SQLite's lock file, when it is the only one using the database.
    sole: Arc<Mutex<Option<std::fs::File>>>,
    /// The portal's clock.
    clock: Clock,
    /// Signalled when one of this process's copies became visible: the notification rules
    /// run on the new copy at once (the team's background round waits on it).
    copied: Arc<tokio::sync::Notify>,
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
    /// Pages of rows, per key, generation, filter, page and size: a copy never changes, so a
    /// page read once is that page for as long as the copy is visible.
    pages: moka::future::Cache<String, Arc<Vec<query::Row>>>,
    /// The newest state versions read (see [`crate::versions`]).
    versions: Versions,
    /// Requests' copy states, by key, while the key's version stands.
    states: Kept<u64, Option<Arc<StateRow>>>,
}

/// `key_syncs` as [`Index::state`] reads it.
#[derive(Debug, Clone, sqlx::FromRow)]
struct StateRow {
    generation: i64,
    synced_at: Option<i64>,
    lease_until: Option<i64>,
    started_at: Option<i64>,
    pages_done: i64,
    pages_total: Option<i64>,
    rows_done: i64,
    rows_total: Option<i64>,
    last_error: Option<String>,
    failed_at: Option<i64>,
    reported_total: Option<i64>,
    copied_rows: Option<i64>,
    copy_note: Option<String>,
    lease_owner: Option<String>,
    running_generation: Option<i64>,
    resume_generation: Option<i64>,
    resume_after: Option<i64>,
    retry_note: Option<String>,
}

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
/// (`Index::sweep`), or when the cache is full.
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

/// Rows of pages kept at most: 50 pages of 100, about 4 MB.
const KEPT_ROWS: u64 = 5_000;

/// The pages cache: weighed by rows, and an idle page goes after [`AGGREGATE_TTL`] (a replaced
/// copy's pages are never asked for again).
fn pages_cache() -> moka::future::Cache<String, Arc<Vec<query::Row>>> {
    moka::future::Cache::builder()
        .max_capacity(KEPT_ROWS)
        .weigher(|_, rows: &Arc<Vec<query::Row>>| {
            u32::try_from(rows.len()).unwrap_or(u32::MAX).max(1)
        })
        .time_to_idle(AGGREGATE_TTL)
        .build()
}

impl Index {
    /// An index on `db`, syncing through `wpcom`; `sealer` seals the tokens of copies that
    /// may have to be resumed.
    pub fn new(
        db: Db,
        wpcom: WpClient,
        settings: IndexSettings,
        clock: Clock,
        sealer: Sealer,
        versions: Versions,
    ) -> Self {
        Self {
            db,
            wpcom,
            settings,
            clock,
            sealer,
            sole: Arc::default(),
            copied: Arc::default(),
            owner: random_token(12),
            local: Arc::default(),
            facets: facets_cache(AGGREGATE_TTL),
            per_day: moka::future::Cache::new(AGGREGATES),
            figures: aggregate_cache(),
            during: aggregate_cache(),
            sorts_checked: aggregate_cache(),
            match_lists: matches::match_lists(),
            pages: pages_cache(),
            versions,
            states: Kept::default(),
        }
    }

    /// Resolves when one of this process's copies has become visible since the last call.
    pub async fn copy_finished(&self) {
        self.copied.notified().await;
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
        let row = self.state_row(key).await?;
        Ok(self.state_of(key, row.as_ref()))
    }

    /// [`Self::state`] for a request whose session (or token) read carried the state
    /// versions: kept in memory while the key's version stands, so a warm page does not read it.
    pub async fn request_state(&self, key: u64) -> Result<SyncState, sqlx::Error> {
        let version = self.versions.of(Of::Key(key));
        let row = match self.states.get(&key, version) {
            Some(row) => row,
            None => {
                let row = self.state_row(key).await?.map(Arc::new);
                self.states.put(key, version, row.clone());
                row
            }
        };
        Ok(self.state_of(key, row.as_deref()))
    }

    /// `key_syncs`' row of `key`.
    async fn state_row(&self, key: u64) -> Result<Option<StateRow>, sqlx::Error> {
        let mut sql = Sql::new(
            "SELECT generation, synced_at, lease_until, started_at, pages_done, pages_total, rows_done, \
             rows_total, last_error, failed_at, reported_total, copied_rows, copy_note, \
             lease_owner, running_generation, resume_generation, resume_after, retry_note \
             FROM key_syncs WHERE key_id = ",
        );
        sql.bind(Bind::Int(key as i64));
        self.db.fetch_optional(&sql).await
    }

    /// The state `key`'s row says now: whether a copy runs depends on the clock and on this
    /// process's own copies, so it is worked out at each use.
    fn state_of(&self, key: u64, row: Option<&StateRow>) -> SyncState {
        let Some(r) = row.cloned() else {
            return SyncState::default();
        };
        let mine = r.lease_owner.as_deref() == Some(self.owner.as_str());
        // This process's own attempt runs only while it is in the local map: a lease row that
        // names this process otherwise belongs to an attempt that already ended here.
        let alive = !mine || self.local_copies().contains_key(&key);
        let running = alive && r.lease_until.is_some_and(|until| until >= self.clock.now());
        SyncState {
            generation: r.generation,
            synced_at: r.synced_at,
            running,
            started_at: r.started_at,
            pages_done: r.pages_done,
            pages_total: r.pages_total,
            rows_done: r.rows_done,
            rows_total: r.rows_total,
            last_error: r.last_error,
            failed_at: r.failed_at,
            reported_total: r.reported_total,
            copied_rows: r.copied_rows,
            copy_note: r.copy_note,
            mine,
            attempt: r.running_generation,
            lease_until: r.lease_until,
            paused: r.resume_generation.is_some() && !running,
            resume_after: r.resume_after,
            retry_note: r.retry_note.filter(|_| running),
        }
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
