//! One attempt at a copy, from its first page to its last index: pages fetched a few at a time
//! while earlier ones are written, each page retried with backoff when WordPress.com fails it
//! for a moment, every write carrying the attempt's fence, and the pages stored recorded with
//! them so that a copy that stops resumes where it stopped.
//!
//! Paging follows what WordPress.com actually sends (`WPCOM_API.md` §3.7): the page size it
//! honours may be smaller than asked, pages may come back short or repeat rows, and the
//! reported total may move while the copy runs. The copy keeps asking until the rows stored
//! reach the latest total, a page comes back empty, or pages stop adding rows; what it saw is
//! reported, never guessed.
//!
//! **Page boundaries when rows move.** WordPress.com lists the newest activation first, by
//! offset. A row activated while the copy runs pushes every later row one place down: a page
//! fetched after it repeats the last row of the page before (kept once), and the oldest row
//! moves to a page past the planned ones, which the copy asks for because its rows fall short
//! of the new total. A resumed copy asks for page 1 again, and for as many more pages from the
//! top as the total grew by, so rows activated while it was stopped are copied too; rows that
//! moved are repeats, kept once. Whatever still differs is measured against WordPress.com's
//! latest total and said on every view of the key (`SyncState::shortfall`).

use std::{
    sync::{
        Mutex,
        atomic::{AtomicBool, AtomicU32, Ordering},
    },
    time::Duration,
};

use futures_util::{StreamExt as _, stream};
use rand::Rng as _;

pub(super) use super::report::CopyReport;
use super::report::Stop;
use super::{
    Index, copies,
    lease::{Attempt, Fence, Heartbeat},
    pages::PageSet,
    sync::SyncError,
};
use crate::{
    db::{Bind, Sql},
    upstream::{Activation, ActivationQuery, ActivationsPage, BearerToken, UpstreamError},
};

/// Rows per write transaction. The copy's table has no index while rows arrive, so a
/// transaction appends its rows' pages and writes each to the write-ahead log once; fewer,
/// larger transactions also mean fewer commits and checkpoints. A transaction holds SQLite's
/// write lock for a few tens of milliseconds; a session written meanwhile waits. At 10,000 the
/// batch, its statements' JSON and the pages fetched meanwhile took a copy of 1,000,000 to a
/// peak of 54.9–65.7 MB (two runs of six over 60); at 5,000, 50.7–51.8 MB, as fast.
const BATCH_ROWS: usize = 5_000;

/// Pages per write transaction at most: what a crash can cost a copy to fetch again.
const BATCH_PAGES: usize = 5;

/// Rows per INSERT statement within a transaction: the database holds one statement's JSON and
/// its parse at a time, so statements of a page or less keep memory flat however large the
/// transaction.
const STATEMENT_ROWS: usize = 500;

/// Tries of one page before the copy pauses.
const TRIES_PER_PAGE: u32 = 5;

/// Backoff before a page's second try; it doubles each time, up to [`BACKOFF_CAP`], with half
/// of it random so that replicas and pages do not retry in step.
const BACKOFF_BASE: Duration = Duration::from_millis(500);

/// The longest wait between two tries of a page.
const BACKOFF_CAP: Duration = Duration::from_secs(15);

/// Retries of pages a copy may spend in all, plus one for every four pages: WordPress.com
/// failing one call in seven (the sandbox's chaos switch at 15 %) costs a 300-page copy about
/// a dozen, and a page that fails for minutes pauses the copy after [`TRIES_PER_PAGE`].
const RETRY_BUDGET_BASE: u32 = 20;

/// Whether a copy tries a page again after `e`: a moment's failure of WordPress.com (500,
/// 502, 503, 504, 429, a timeout, a reset connection, an answer cut short), as opposed to an
/// answer that will not change (401, 403, 404, a request it refuses).
fn worth_another_try(e: &UpstreamError) -> bool {
    matches!(
        e,
        UpstreamError::Unavailable { .. }
            | UpstreamError::RateLimited { .. }
            | UpstreamError::Timeout
            | UpstreamError::Transport
            | UpstreamError::Decode
    )
}

/// How long to wait before try `tries + 1` of a page: WordPress.com's `Retry-After` when it
/// sent one, else an exponential backoff with half of it random.
fn backoff(tries: u32, e: &UpstreamError) -> Duration {
    if let Some(asked) = e.retry_after() {
        return asked.min(BACKOFF_CAP * 4);
    }
    let full = BACKOFF_BASE
        .saturating_mul(1 << tries.saturating_sub(1).min(10))
        .min(BACKOFF_CAP);
    let half = full / 2;
    half + half.mul_f64(rand::rng().random::<f64>())
}

/// A copy in progress. Its methods take `&self`: pages are fetched and written at once.
pub(super) struct Copy<'a> {
    index: &'a Index,
    token: &'a BearerToken,
    partner: u64,
    fence: Fence,
    heartbeat: Heartbeat,
    /// Pages stored (committed).
    stored: Mutex<PageSet>,
    /// What it saw.
    report: Mutex<CopyReport>,
    /// Retries of pages left to this copy.
    budget: AtomicU32,
    /// Set when the copy stops: pages not yet asked for are not asked for.
    stopping: AtomicBool,
    /// Rows per page asked for.
    asked: u32,
    /// Rows per page WordPress.com honours, and pages planned (known after page 1).
    plan: Mutex<(u32, u32)>,
    /// Rows page 1 had (none: the key has no activations).
    first_rows: AtomicU32,
}

impl std::fmt::Debug for Copy<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Copy")
            .field("fence", &self.fence)
            .finish_non_exhaustive()
    }
}

/// `m`'s value, whatever a panic elsewhere left.
fn locked<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl<'a> Copy<'a> {
    /// The copy of `attempt`, renewing its lease from now on.
    pub fn new(index: &'a Index, token: &'a BearerToken, partner: u64, attempt: &Attempt) -> Self {
        let asked = attempt
            .resume
            .as_ref()
            .map_or(index.settings.page_size, |r| r.asked);
        let mut report = CopyReport::new(asked, 0);
        let (stored, plan) = match &attempt.resume {
            Some(r) => {
                report.first_total = r.first_total;
                report.latest_total = r.first_total;
                report.received = r.received;
                report.honoured = r.per_page;
                (r.pages.clone(), (r.per_page, r.planned))
            }
            None => (PageSet::default(), (asked, 0)),
        };
        Self {
            index,
            token,
            partner,
            heartbeat: Heartbeat::start(index, &attempt.fence),
            fence: attempt.fence.clone(),
            stored: Mutex::new(stored),
            report: Mutex::new(report),
            budget: AtomicU32::new(TRIES_PER_PAGE * 2),
            stopping: AtomicBool::new(false),
            asked,
            plan: Mutex::new(plan),
            first_rows: AtomicU32::new(1),
        }
    }

    /// What the copy saw.
    pub fn report(&self) -> CopyReport {
        locked(&self.report).clone()
    }

    /// Pages stored so far, and pages planned.
    pub fn progress(&self) -> (usize, u32) {
        (locked(&self.stored).len(), locked(&self.plan).1)
    }

    /// Stops when another process holds the lease now.
    pub fn check_fence(&self) -> Result<(), SyncError> {
        if self.heartbeat.lost() {
            Err(SyncError::LeaseLost)
        } else {
            Ok(())
        }
    }

    /// Fetches one page, trying it again while WordPress.com fails it for a moment and the
    /// copy's budget of retries lasts.
    async fn fetch(&self, page: u32, per_page: u32) -> Result<ActivationsPage, SyncError> {
        let query = ActivationQuery {
            page,
            per_page,
            ..ActivationQuery::default()
        };
        let mut tries = 0;
        loop {
            if self.stopping.load(Ordering::SeqCst) {
                return Err(SyncError::Stopped);
            }
            self.check_fence()?;
            tries += 1;
            let error = match self
                .index
                .wpcom
                .activations(self.token, self.partner, self.fence.key, &query)
                .await
            {
                Ok(answer) => return Ok(answer),
                Err(e) => e,
            };
            let retry = worth_another_try(&error)
                && tries < TRIES_PER_PAGE
                && self
                    .budget
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                    .is_ok();
            if !retry {
                let planned = locked(&self.plan).1.max(page);
                return Err(SyncError::Page {
                    page,
                    planned,
                    tries,
                    error,
                });
            }
            let wait = backoff(tries, &error);
            tracing::info!(
                key = self.fence.key,
                page,
                tries,
                wait_ms = wait.as_millis() as u64,
                error = %error,
                "a page of the copy failed; trying it again"
            );
            self.note_retry(page, &error).await;
            tokio::time::sleep(wait).await;
        }
    }

    /// Says on the key's row what the copy waits for (best effort: the next write clears it).
    async fn note_retry(&self, page: u32, error: &UpstreamError) {
        let mut sql = Sql::new("UPDATE key_syncs SET retry_note = ");
        sql.bind(Bind::Text(format!(
            "{error} for page {page}; the portal tries it again in a moment"
        )));
        self.fence.push_guard(&mut sql);
        let _ = self.index.db.execute(&sql).await;
    }

    /// Writes `rows` of `pages` and records them, in one transaction that starts with the
    /// progress update carrying the fence (which also renews the lease): when another process
    /// holds the lease the update changes nothing, nothing is written, and the copy stops.
    async fn write(
        &self,
        rows: Vec<Activation>,
        pages: &[u32],
        totals: Option<(u32, u64)>,
    ) -> Result<(), SyncError> {
        let written = rows.len();
        let (key, generation) = (self.fence.key, self.fence.generation);
        // Encoding 10,000 rows is milliseconds of CPU: off the async workers, which serve the
        // people waiting for pages meanwhile.
        let dialect = self.index.db.dialect();
        let statements = tokio::task::spawn_blocking(move || {
            rows.chunks(STATEMENT_ROWS)
                .map(|chunk| super::insert::insert_rows(dialect, key, generation, chunk))
                .collect::<Result<Vec<_>, _>>()
        })
        .await
        .map_err(|e| SyncError::Prepare(e.to_string()))??;
        let mut stored = locked(&self.stored).clone();
        stored.extend(pages.iter().copied());
        let lease = self.index.clock.now() + self.index.settings.lease.as_secs() as i64;
        let mut progress = Sql::new("UPDATE key_syncs SET pages_done = ");
        progress
            .bind(Bind::Int(stored.len() as i64))
            .push(", rows_done = rows_done + ")
            .bind(Bind::Int(written as i64))
            .push(", copy_received = copy_received + ")
            .bind(Bind::Int(written as i64))
            .push(", pages_stored = ")
            .bind(Bind::Text(stored.to_text()))
            .push(", retry_note = NULL, lease_until = ")
            .bind(Bind::Int(lease));
        if let Some((pages, total)) = totals {
            progress
                .push(", pages_total = ")
                .bind(Bind::Int(i64::from(pages)))
                .push(", rows_total = ")
                .bind(Bind::Int(total as i64));
        }
        self.fence.push_guard(&mut progress);
        if self.index.db.transaction_if(&progress, &statements).await? {
            locked(&self.stored).extend(pages.iter().copied());
            Ok(())
        } else {
            Err(SyncError::LeaseLost)
        }
    }

    /// Page 1, and the plan it gives: the page size WordPress.com honours (fewer rows than
    /// asked on a page that is not the last means a cap, and later pages ask for exactly that
    /// many, so offsets line up whether it counts them from the size asked or the size sent),
    /// and the pages to ask for. The plan is recorded with page 1's rows.
    async fn start_fresh(&self) -> Result<(), SyncError> {
        let first = self.fetch(1, self.asked).await?;
        self.index
            .keep_head(self.fence.key, first.total, &first.activations);
        let sent = u32::try_from(first.activations.len()).unwrap_or(u32::MAX);
        self.first_rows.store(sent, Ordering::SeqCst);
        let per_page = if sent > 0 && sent < self.asked && u64::from(sent) < first.total {
            sent
        } else {
            self.asked
        };
        let planned = if sent == 0 {
            1
        } else {
            u32::try_from(first.total.div_ceil(u64::from(per_page)))
                .unwrap_or(u32::MAX)
                .max(1)
        };
        *locked(&self.plan) = (per_page, planned);
        {
            let mut report = locked(&self.report);
            *report = CopyReport::new(self.asked, first.total);
            report.saw(first.activations.len(), first.total);
            report.honoured = per_page;
        }
        self.budget
            .store(RETRY_BUDGET_BASE + planned / 4, Ordering::SeqCst);
        let mut plan = Sql::new("UPDATE key_syncs SET copy_asked = ");
        plan.bind(Bind::Int(i64::from(self.asked)))
            .push(", copy_per_page = ")
            .bind(Bind::Int(i64::from(per_page)))
            .push(", copy_planned = ")
            .bind(Bind::Int(i64::from(planned)))
            .push(", copy_first_total = ")
            .bind(Bind::Int(first.total as i64));
        self.fence.push_guard(&mut plan);
        if self.index.db.execute(&plan).await? == 0 {
            return Err(SyncError::LeaseLost);
        }
        let total = first.total;
        self.write(first.activations, &[1], Some((planned, total)))
            .await
    }

    /// A resumed copy asks for page 1 again, and for as many more pages from the top as the
    /// total grew by while it was stopped (see the module's notes on page boundaries).
    async fn catch_up_head(&self) -> Result<(), SyncError> {
        let (per_page, planned) = *locked(&self.plan);
        self.budget
            .store(RETRY_BUDGET_BASE + planned / 4, Ordering::SeqCst);
        let first = self.fetch(1, per_page).await?;
        let again = u32::from(locked(&self.stored).contains(1));
        self.first_rows.store(
            u32::try_from(first.activations.len()).unwrap_or(u32::MAX),
            Ordering::SeqCst,
        );
        let grew = {
            let mut report = locked(&self.report);
            report.fetched_again += again;
            let grew = first.total.saturating_sub(report.first_total);
            report.saw(first.activations.len(), first.total);
            grew
        };
        self.index
            .keep_head(self.fence.key, first.total, &first.activations);
        let total = first.total;
        self.write(first.activations, &[1], Some((planned, total)))
            .await?;
        let more = u32::try_from(grew.div_ceil(u64::from(per_page))).unwrap_or(u32::MAX);
        let head: Vec<u32> = (2..=more.saturating_add(1).min(planned))
            .filter(|p| locked(&self.stored).contains(*p))
            .collect();
        locked(&self.report).fetched_again += u32::try_from(head.len()).unwrap_or(u32::MAX);
        self.fetch_and_write(head).await
    }

    /// Fetches `pages` a few at a time while earlier ones are written, in transactions of
    /// about [`BATCH_ROWS`] rows or [`BATCH_PAGES`] pages. When a page fails for good, the
    /// pages already fetched are still written, so a resumed copy does not fetch them again.
    async fn fetch_and_write(&self, pages: Vec<u32>) -> Result<(), SyncError> {
        let concurrency = self.index.settings.concurrency.max(1);
        let per_page = locked(&self.plan).0;
        let (tx, mut rx) = tokio::sync::mpsc::channel::<(u32, ActivationsPage)>(concurrency);
        let fetching = async move {
            let tx = tx;
            let mut answers = stream::iter(pages)
                .map(|page| async move { (page, self.fetch(page, per_page).await) })
                .buffer_unordered(concurrency);
            let mut failure = None;
            while let Some((page, answer)) = answers.next().await {
                match answer {
                    Ok(answer) => {
                        if tx.send((page, answer)).await.is_err() {
                            self.stopping.store(true, Ordering::SeqCst);
                        }
                    }
                    Err(SyncError::Stopped) => {}
                    Err(e) => {
                        // Pages already asked for come back and are written; no new ones.
                        self.stopping.store(true, Ordering::SeqCst);
                        failure.get_or_insert(e);
                    }
                }
            }
            failure.map_or(Ok(()), Err)
        };
        let writing = async {
            let mut rows: Vec<Activation> = Vec::new();
            let mut batch: Vec<u32> = Vec::new();
            let mut result = Ok(());
            while let Some((page, answer)) = rx.recv().await {
                if result.is_err() {
                    continue;
                }
                locked(&self.report).saw(answer.activations.len(), answer.total);
                rows.extend(answer.activations);
                batch.push(page);
                if rows.len() >= BATCH_ROWS || batch.len() >= BATCH_PAGES {
                    let pages = std::mem::take(&mut batch);
                    result = self.write(std::mem::take(&mut rows), &pages, None).await;
                    if result.is_err() {
                        self.stopping.store(true, Ordering::SeqCst);
                    }
                }
            }
            if result.is_ok() && !batch.is_empty() {
                result = self.write(rows, &batch, None).await;
            }
            result
        };
        let (fetched, written) = tokio::join!(fetching, writing);
        written?;
        fetched
    }

    /// Short of the total: keep paging (a short page in the middle pushes rows further on),
    /// but stop on an empty page, and after two pages that add nothing. Returns the distinct
    /// rows stored.
    async fn past_the_plan(&self) -> Result<u64, SyncError> {
        let (key, generation) = (self.fence.key, self.fence.generation);
        let (per_page, planned) = *locked(&self.plan);
        self.index
            .db
            .execute(&copies::id_index(key, generation))
            .await?;
        let mut stored = self.index.distinct_rows(key, generation).await?;
        let mut page_no = planned.saturating_add(1);
        let last_page = planned.saturating_mul(2).saturating_add(10);
        let mut idle = 0;
        let sent = self.first_rows.load(Ordering::SeqCst);
        while stored < locked(&self.report).latest_total && page_no <= last_page && sent > 0 {
            let page = self.fetch(page_no, per_page).await?;
            if page.activations.is_empty() {
                locked(&self.report).stop = Some(Stop::EmptyPage(page_no));
                break;
            }
            let total = {
                let mut report = locked(&self.report);
                report.saw(page.activations.len(), page.total);
                report.latest_total
            };
            self.write(page.activations, &[page_no], Some((page_no, total)))
                .await?;
            let now_stored = self.index.distinct_rows(key, generation).await?;
            idle = if now_stored == stored { idle + 1 } else { 0 };
            stored = now_stored;
            if idle >= 2 {
                locked(&self.report).stop = Some(Stop::NoNewRows(page_no));
                break;
            }
            page_no += 1;
        }
        Ok(stored)
    }

    /// The whole attempt: page 1 (or, resumed, the head again), the pages not stored yet, the
    /// pages past the plan, then the copy made ready to show (duplicates removed, indexes,
    /// statistics, the counts every first view reads). The switch is the caller's.
    pub async fn run(&self, resumed: bool) -> Result<CopyReport, SyncError> {
        if resumed {
            self.catch_up_head().await?;
        } else {
            self.start_fresh().await?;
        }
        let planned = locked(&self.plan).1;
        let missing = locked(&self.stored).missing(planned);
        self.fetch_and_write(missing).await?;
        self.check_fence()?;
        let stored = self.past_the_plan().await?;
        let received = {
            let mut report = locked(&self.report);
            report.stored = stored;
            report.received
        };
        let (key, generation) = (self.fence.key, self.fence.generation);
        self.index
            .complete(key, generation, received, stored, &|| self.check_fence())
            .await?;
        self.check_fence()?;
        self.index.refresh_statistics(key, generation).await;
        // The plain list's counts (every sort and status tab shares them) are the one scan of
        // the whole key a first viewer would pay: pay it before the copy is shown, so no viewer
        // waits for it or races it.
        if let Err(e) = self
            .index
            .facets(key, generation, &super::query::Filter::default())
            .await
        {
            tracing::warn!(key, error = %e, "warming the new copy's counts failed");
        }
        // The overview's periods are sums of these (see `days`).
        if let Err(e) = self.index.days(key, generation).await {
            tracing::warn!(key, error = %e, "counting the new copy's days failed");
        }
        self.check_fence()?;
        Ok(self.report())
    }
}
