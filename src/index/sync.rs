//! One sync of one key: lease, page through WordPress.com with a few pages in flight, write each
//! page as it arrives, then switch the visible generation. Memory stays flat: at most
//! `concurrency` pages are held at once.

use futures_util::{StreamExt as _, stream};

use super::{Index, SyncState, copies};
use crate::{
    db::{Bind, Sql},
    upstream::{Activation, ActivationQuery, BearerToken, UpstreamError},
};

/// How long views wait after a failed sync before starting another one by themselves.
const RETRY_BACKOFF_SECS: i64 = 60;

/// Rows per write transaction. The copy's table has no index while rows arrive, so a
/// transaction appends its rows' pages and writes each to the write-ahead log once; fewer,
/// larger transactions also mean fewer commits and checkpoints. A transaction holds SQLite's
/// write lock for a few tens of milliseconds; a session written meanwhile waits. At 10,000 the
/// batch, its statements' JSON and the pages fetched meanwhile took a copy of 1,000,000 to a
/// peak of 54.9–65.7 MB (two runs of six over 60); at 5,000, 50.7–51.8 MB, as fast.
const BATCH_ROWS: usize = 5_000;

/// Rows per INSERT statement within a transaction: the database holds one statement's JSON and
/// its parse at a time, so statements of a page or less keep memory flat however large the
/// transaction.
const STATEMENT_ROWS: usize = 500;

/// Why a sync did not complete.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// WordPress.com failed (after the client's retries).
    #[error("{0}")]
    Upstream(#[from] UpstreamError),
    /// The database failed.
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    /// A page could not be encoded for the database.
    #[error("encoding a page: {0}")]
    Encode(#[from] serde_json::Error),
    /// The task encoding a batch of rows failed.
    #[error("preparing rows: {0}")]
    Prepare(String),
    /// Another process took the lease over (this one stalled).
    #[error("the sync lost its lease")]
    LeaseLost,
}

/// Holds a new copy's first WordPress.com call back until the page a person is waiting for
/// has come back from WordPress.com: the first view of a large partner shows WordPress.com's
/// own page, and the copy's first page (1,000 rows to send, parse and write) arriving at the
/// same moment made that view wait for the machine. The copy starts one call later.
pub type Hold = tokio::sync::oneshot::Receiver<()>;

/// A hold never keeps a copy waiting longer than this.
const HOLD_AT_MOST: std::time::Duration = std::time::Duration::from_secs(10);

/// What [`Index::start`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Started {
    /// A new sync runs in the background.
    Started,
    /// One was already running (here or on another replica).
    AlreadyRunning,
}

impl Index {
    /// Starts a sync of `key` unless one is running; `force` ignores the copy's age.
    /// Returns the state as it is now.
    pub async fn ensure_fresh(
        &self,
        token: &BearerToken,
        partner_id: u64,
        key: u64,
        force: bool,
    ) -> Result<(SyncState, Option<Started>), sqlx::Error> {
        let state = self.state(key).await?;
        self.refresh_if_due(state, token, partner_id, key, force, None)
            .await
    }

    /// [`Index::ensure_fresh`] on a state just read, for a caller that looked at it first. A
    /// copy it starts waits for `hold` before its first WordPress.com call (see [`Hold`]).
    pub async fn refresh_if_due(
        &self,
        state: SyncState,
        token: &BearerToken,
        partner_id: u64,
        key: u64,
        force: bool,
        hold: Option<Hold>,
    ) -> Result<(SyncState, Option<Started>), sqlx::Error> {
        let stale = state
            .synced_at
            .is_none_or(|t| self.clock.now() - t >= self.settings.max_age.as_secs() as i64);
        // After a failure, views do not restart the sync at once (that would hide the failure and
        // hammer a struggling WordPress.com); "Try again" / "Refresh now" force one.
        let backing_off = state
            .failed_at
            .is_some_and(|t| self.clock.now() - t < RETRY_BACKOFF_SECS);
        if state.running || !(force || stale || !state.has_copy()) || (backing_off && !force) {
            return Ok((state, None));
        }
        let started = self
            .start_held(token.clone(), partner_id, key, hold)
            .await?;
        Ok((self.state(key).await?, Some(started)))
    }

    /// Takes the lease and spawns the sync.
    pub async fn start(
        &self,
        token: BearerToken,
        partner_id: u64,
        key: u64,
    ) -> Result<Started, sqlx::Error> {
        self.start_held(token, partner_id, key, None).await
    }

    /// [`Index::start`], the copy's first WordPress.com call waiting for `hold`.
    async fn start_held(
        &self,
        token: BearerToken,
        partner_id: u64,
        key: u64,
        hold: Option<Hold>,
    ) -> Result<Started, sqlx::Error> {
        {
            let mut local = self.local_copies();
            if local.contains_key(&key) {
                return Ok(Started::AlreadyRunning);
            }
            local.insert(key, None);
        }
        let taken = self.take_lease(key).await;
        let generation = match taken {
            Ok(Some(g)) => g,
            other => {
                self.release_local(key);
                return other.map(|_| Started::AlreadyRunning);
            }
        };
        let index = self.clone();
        tokio::spawn(async move {
            let started = std::time::Instant::now();
            if let Some(hold) = hold {
                // Released (or dropped) once the page a person waits for is back.
                let _ = tokio::time::timeout(HOLD_AT_MOST, hold).await;
            }
            let result = index.run(&token, partner_id, key, generation).await;
            index.finish(key, generation, result, started).await;
            index.release_local(key);
        });
        Ok(Started::Started)
    }

    fn release_local(&self, key: u64) {
        self.local_copies().remove(&key);
    }

    /// The lease is one conditional UPDATE, atomic on both backends: only one process can move
    /// an expired lease to itself.
    async fn take_lease(&self, key: u64) -> Result<Option<i64>, sqlx::Error> {
        let k = key as i64;
        let mut insert = Sql::new("INSERT INTO key_syncs (key_id) VALUES (");
        insert
            .bind(Bind::Int(k))
            .push(") ON CONFLICT (key_id) DO NOTHING");
        self.db.execute(&insert).await?;
        let t = self.clock.now();
        let mut take = Sql::new("UPDATE key_syncs SET lease_owner = ");
        take.bind(Bind::Text(self.owner.clone()))
            .push(", lease_until = ")
            .bind(Bind::Int(t + self.settings.lease.as_secs() as i64))
            .push(", running_generation = generation + 1, started_at = ")
            .bind(Bind::Int(t))
            .push(", pages_done = 0, pages_total = NULL, rows_done = 0, rows_total = NULL WHERE key_id = ")
            .bind(Bind::Int(k))
            .push(" AND (lease_until IS NULL OR lease_until < ")
            .bind(Bind::Int(t))
            .push(")");
        if self.db.execute(&take).await? == 0 {
            return Ok(None);
        }
        let mut read = Sql::new("SELECT running_generation FROM key_syncs WHERE key_id = ");
        read.bind(Bind::Int(k));
        let generation: Option<(Option<i64>,)> = self.db.fetch_optional(&read).await?;
        let generation = generation.and_then(|g| g.0).unwrap_or(1);
        // The copy's own table (what a run that died left under its name goes first).
        self.db
            .transaction(&copies::create(self.db.dialect(), key, generation))
            .await?;
        Ok(Some(generation))
    }

    /// Copies every activation of `key`, paging by what WordPress.com actually sends
    /// (`WPCOM_API.md` §3.7): the page size it honours may be smaller than asked, pages may come
    /// back short or repeat rows, and the reported total may move while the copy runs. It keeps
    /// asking until the rows stored reach the latest reported total, a page comes back empty, or
    /// pages stop adding rows; what it saw is reported, never guessed.
    async fn run(
        &self,
        token: &BearerToken,
        partner_id: u64,
        key: u64,
        generation: i64,
    ) -> Result<CopyReport, SyncError> {
        let asked = self.settings.page_size;
        let fetch = |page: u32, per_page: u32| {
            let wpcom = self.wpcom.clone();
            let query = ActivationQuery {
                page,
                per_page,
                ..ActivationQuery::default()
            };
            async move { wpcom.activations(token, partner_id, key, &query).await }
        };
        let first = fetch(1, asked).await?;
        self.keep_head(key, first.total, &first.activations);
        let mut report = CopyReport::new(asked, first.total);
        report.saw(&first.activations, first.total);
        // The page size WordPress.com honours: fewer rows than asked on a page that is not the
        // last means a cap. Later pages ask for exactly that many, so offsets line up whether
        // the upstream counts them from the size asked or the size sent.
        let sent = u32::try_from(first.activations.len()).unwrap_or(u32::MAX);
        let per_page = if sent > 0 && sent < asked && u64::from(sent) < first.total {
            sent
        } else {
            asked
        };
        report.honoured = per_page;
        let planned = if sent == 0 {
            1
        } else {
            u32::try_from(first.total.div_ceil(u64::from(per_page)))
                .unwrap_or(u32::MAX)
                .max(1)
        };
        let first_total = first.total;
        self.write_rows(
            key,
            generation,
            first.activations,
            1,
            Some((planned, first_total)),
        )
        .await?;
        // The other pages: a few fetched at once while earlier ones are written, so WordPress.com
        // and the database work at the same time, in transactions of about BATCH_ROWS rows.
        let concurrency = self.settings.concurrency.max(1);
        let (pages_tx, mut pages_rx) = tokio::sync::mpsc::channel::<Vec<Activation>>(concurrency);
        let fetching = async {
            let pages_tx = pages_tx;
            let mut rest = stream::iter(2..=planned)
                .map(|page| fetch(page, per_page))
                .buffer_unordered(concurrency);
            while let Some(page) = rest.next().await {
                let page = page?;
                report.saw(&page.activations, page.total);
                if pages_tx.send(page.activations).await.is_err() {
                    // The writer stopped; its error is the one reported.
                    break;
                }
            }
            Ok::<(), SyncError>(())
        };
        let writing = async {
            let mut batch = Vec::new();
            let mut pages = 0;
            while let Some(rows) = pages_rx.recv().await {
                batch.extend(rows);
                pages += 1;
                if batch.len() >= BATCH_ROWS {
                    self.write_rows(key, generation, std::mem::take(&mut batch), pages, None)
                        .await?;
                    pages = 0;
                }
            }
            if pages > 0 {
                self.write_rows(key, generation, batch, pages, None).await?;
            }
            Ok::<(), SyncError>(())
        };
        futures_util::try_join!(fetching, writing)?;
        // Short of the total: keep paging (a short page in the middle pushes rows further on),
        // but stop on an empty page, and after two pages that add nothing.
        self.db.execute(&copies::id_index(key, generation)).await?;
        let mut stored = self.distinct_rows(key, generation).await?;
        let mut page_no = planned.saturating_add(1);
        let last_page = planned.saturating_mul(2).saturating_add(10);
        let mut idle = 0;
        while stored < report.latest_total && page_no <= last_page && sent > 0 {
            let page = fetch(page_no, per_page).await?;
            if page.activations.is_empty() {
                report.stop = Some(Stop::EmptyPage(page_no));
                break;
            }
            report.saw(&page.activations, page.total);
            self.write_rows(
                key,
                generation,
                page.activations,
                1,
                Some((page_no, report.latest_total)),
            )
            .await?;
            let now_stored = self.distinct_rows(key, generation).await?;
            idle = if now_stored == stored { idle + 1 } else { 0 };
            stored = now_stored;
            if idle >= 2 {
                report.stop = Some(Stop::NoNewRows(page_no));
                break;
            }
            page_no += 1;
        }
        report.stored = stored;
        self.complete(key, generation, report.received, stored)
            .await?;
        self.refresh_statistics(key, generation).await;
        // The plain list's counts (every sort and status tab shares them) are the one scan of
        // the whole key a first viewer would pay: pay it before the copy is shown, so no viewer
        // waits for it or races it.
        if let Err(e) = self
            .facets(key, generation, &super::query::Filter::default())
            .await
        {
            tracing::warn!(key, error = %e, "warming the new copy's counts failed");
        }
        // The overview's periods are sums of these (see `days`).
        if let Err(e) = self.days(key, generation).await {
            tracing::warn!(key, error = %e, "counting the new copy's days failed");
        }
        Ok(report)
    }

    /// Writes the rows of `pages` pages and records progress, in one transaction that starts
    /// with the progress update, which also renews the lease: when another process holds the
    /// lease the update changes nothing, nothing is written, and the copy stops.
    async fn write_rows(
        &self,
        key: u64,
        generation: i64,
        rows: Vec<Activation>,
        pages: u32,
        totals: Option<(u32, u64)>,
    ) -> Result<(), SyncError> {
        let written = rows.len();
        // Encoding 10,000 rows is milliseconds of CPU: off the async workers, which serve the
        // people waiting for pages meanwhile.
        let dialect = self.db.dialect();
        let statements = tokio::task::spawn_blocking(move || {
            rows.chunks(STATEMENT_ROWS)
                .map(|chunk| super::insert::insert_rows(dialect, key, generation, chunk))
                .collect::<Result<Vec<_>, _>>()
        })
        .await
        .map_err(|e| SyncError::Prepare(e.to_string()))??;
        let mut progress = Sql::new("UPDATE key_syncs SET pages_done = pages_done + ");
        progress
            .bind(Bind::Int(i64::from(pages)))
            .push(", rows_done = rows_done + ")
            .bind(Bind::Int(written as i64))
            .push(", lease_until = ")
            .bind(Bind::Int(
                self.clock.now() + self.settings.lease.as_secs() as i64,
            ));
        if let Some((pages, total)) = totals {
            progress
                .push(", pages_total = ")
                .bind(Bind::Int(i64::from(pages)))
                .push(", rows_total = ")
                .bind(Bind::Int(total as i64));
        }
        progress
            .push(" WHERE key_id = ")
            .bind(Bind::Int(key as i64))
            .push(" AND lease_owner = ")
            .bind(Bind::Text(self.owner.clone()));
        if self.db.transaction_if(&progress, &statements).await? {
            Ok(())
        } else {
            Err(SyncError::LeaseLost)
        }
    }

    /// Switches the visible generation on success; on failure keeps the old copy and records
    /// the reason. Either way the lease is released.
    async fn finish(
        &self,
        key: u64,
        generation: i64,
        result: Result<CopyReport, SyncError>,
        started: std::time::Instant,
    ) {
        let k = Bind::Int(key as i64);
        let owner = Bind::Text(self.owner.clone());
        let outcome = match &result {
            Ok(report) => {
                report.log_if_short(key);
                let mut switch = Sql::new("UPDATE key_syncs SET generation = ");
                switch
                    .bind(Bind::Int(generation))
                    .push(", synced_at = ")
                    .bind(Bind::Int(self.clock.now()))
                    .push(", reported_total = ")
                    .bind(Bind::Int(i64::try_from(report.latest_total).unwrap_or(i64::MAX)))
                    .push(", copied_rows = ")
                    .bind(Bind::Int(i64::try_from(report.stored).unwrap_or(i64::MAX)))
                    .push(", copy_note = ")
                    .bind(Bind::OptText(report.note()))
                    .push(", running_generation = NULL, lease_owner = NULL, lease_until = NULL, last_error = NULL, failed_at = NULL WHERE key_id = ")
                    .bind(k)
                    .push(" AND lease_owner = ")
                    .bind(owner);
                let switched = self.db.execute(&switch).await.map(|_| ());
                if switched.is_ok() {
                    self.retire_older(key, generation);
                }
                switched
            }
            Err(e) => {
                let mut failed = Sql::new(
                    "UPDATE key_syncs SET running_generation = NULL, lease_owner = NULL, lease_until = NULL, last_error = ",
                );
                failed
                    .bind(Bind::Text(e.to_string()))
                    .push(", failed_at = ")
                    .bind(Bind::Int(self.clock.now()))
                    .push(" WHERE key_id = ")
                    .bind(k)
                    .push(" AND lease_owner = ")
                    .bind(owner);
                // The partial copy goes only while this process still holds the lease: after
                // a takeover the new owner is filling a table of the same name.
                let partial = copies::drop(self.db.dialect(), key, generation);
                self.db.transaction_if(&failed, &partial).await.map(|_| ())
            }
        };
        crate::metrics::inc(
            "portal_index_syncs_total",
            &[(
                "outcome",
                if result.is_ok() {
                    "completed"
                } else {
                    "failed"
                },
            )],
        );
        match (&result, outcome) {
            (Ok(_), Ok(())) => {
                tracing::info!(
                    key,
                    generation,
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "index sync completed"
                );
            }
            (Err(e), Ok(())) => {
                tracing::warn!(key, error = %e, "index sync failed; the previous copy stays visible")
            }
            (_, Err(e)) => {
                tracing::error!(key, error = %e, "could not record the end of an index sync")
            }
        }
    }
}

/// Why a copy stopped before reaching the reported total.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    /// This page came back empty.
    EmptyPage(u32),
    /// Pages up to this one added no new rows.
    NoNewRows(u32),
}

/// What one copy saw of WordPress.com's paging.
#[derive(Debug, Clone)]
struct CopyReport {
    /// Rows per page asked for.
    asked: u32,
    /// Rows per page WordPress.com honoured.
    honoured: u32,
    /// The total of the first page.
    first_total: u64,
    /// The total of the last page received.
    latest_total: u64,
    /// Rows received, repeats included.
    received: u64,
    /// Distinct rows stored.
    stored: u64,
    /// Why paging stopped early, if it did.
    stop: Option<Stop>,
}

impl CopyReport {
    fn new(asked: u32, total: u64) -> Self {
        Self {
            asked,
            honoured: asked,
            first_total: total,
            latest_total: total,
            received: 0,
            stored: 0,
            stop: None,
        }
    }

    fn saw(&mut self, rows: &[Activation], total: u64) {
        self.received += rows.len() as u64;
        self.latest_total = total;
    }

    /// A sentence on how the pages came back, when anything was out of the ordinary.
    fn note(&self) -> Option<String> {
        let mut parts = Vec::new();
        if self.honoured < self.asked {
            parts.push(format!(
                "WordPress.com sent at most {} activations per page (the portal asked for {}).",
                self.honoured, self.asked
            ));
        }
        if self.first_total != self.latest_total {
            parts.push(format!(
                "The total it reported changed from {} to {} during the copy.",
                self.first_total, self.latest_total
            ));
        }
        let repeated = self.received.saturating_sub(self.stored);
        if repeated > 0 {
            parts.push(format!(
                "{repeated} rows came more than once and were kept once."
            ));
        }
        match self.stop {
            Some(Stop::EmptyPage(page)) => parts.push(format!(
                "Page {page} came back empty before the reported total was reached."
            )),
            Some(Stop::NoNewRows(page)) => parts.push(format!(
                "Pages up to {page} only repeated rows already copied, so the copy stopped there."
            )),
            None => {}
        }
        (!parts.is_empty()).then(|| parts.join(" "))
    }

    fn log_if_short(&self, key: u64) {
        if self.stored == self.latest_total {
            return;
        }
        crate::metrics::inc("portal_index_copy_mismatches_total", &[]);
        tracing::warn!(
            key,
            reported = self.latest_total,
            copied = self.stored,
            note = self.note().unwrap_or_default(),
            "the activations copy does not match WordPress.com's total"
        );
    }
}
