//! Starting a copy of a key and ending it: whoever asks (a page, *Refresh now*, the team's
//! background refresh, the schedule that resumes stopped copies) takes the key's lease
//! ([`lease`](super::lease)), the attempt runs in the background ([`copy`](super::copy)), and
//! its end is one of three:
//!
//! - **done**: the switch makes it the visible copy, only if this attempt still holds the
//!   lease (the update must change its row);
//! - **paused**: WordPress.com failed a page past its retries, or the database went away; the
//!   pages stored stay, and the copy resumes by itself (`resume_after`, backing off);
//! - **given up**: an answer that will not change (WordPress.com refuses the key or the
//!   token), or a full disk; the partial table goes, freeing its space.
//!
//! Whatever a person sees is a sentence ([`SyncError::for_people`]); the cause goes to the log.

use super::{
    Index, SyncState, copies,
    copy::{Copy, CopyReport},
    lease::{Attempt, Fence},
};
use crate::{
    db::{Bind, ErrorKind, Sql},
    upstream::{BearerToken, UpstreamError},
};

/// How long views wait after a copy failed before starting another one by themselves.
const RETRY_BACKOFF_SECS: i64 = 60;

/// A paused copy waits this long before it resumes, doubling with each pause in a row, up to
/// [`PAUSE_AT_MOST_SECS`].
const PAUSE_FIRST_SECS: i64 = 30;

/// The longest pause between two tries of a stopped copy.
const PAUSE_AT_MOST_SECS: i64 = 1_800;

/// Why a copy did not complete.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// WordPress.com failed a page (after the client's and the copy's retries).
    #[error("page {page} of {planned}: {error} (after {tries} tries)")]
    Page {
        /// The page.
        page: u32,
        /// Pages planned.
        planned: u32,
        /// Tries made.
        tries: u32,
        /// The last failure.
        error: UpstreamError,
    },
    /// WordPress.com failed outside a page (kept for callers that fetch alone).
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
    /// Another process took the lease over (this one stalled, or lost its database).
    #[error("the copy lost its lease to another process")]
    LeaseLost,
    /// The copy was stopping anyway (another page failed first).
    #[error("stopped")]
    Stopped,
}

/// What becomes of a copy that stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    /// Keep what it stored; resume later.
    Pause,
    /// Drop what it stored; say why.
    GiveUp,
    /// Another process holds the key now: touch nothing.
    LeftToOthers,
}

impl SyncError {
    fn ending(&self) -> Ending {
        match self {
            Self::LeaseLost | Self::Stopped => Ending::LeftToOthers,
            Self::Page { error, .. } | Self::Upstream(error) => match error {
                UpstreamError::Unauthorized
                | UpstreamError::Forbidden { .. }
                | UpstreamError::NotFound { .. }
                | UpstreamError::Rejected { .. }
                | UpstreamError::TooLarge(_) => Ending::GiveUp,
                _ => Ending::Pause,
            },
            Self::Db(e) => match crate::db::kind(e) {
                ErrorKind::DiskFull | ErrorKind::Other => Ending::GiveUp,
                ErrorKind::Unreachable | ErrorKind::Busy => Ending::Pause,
            },
            Self::Encode(_) | Self::Prepare(_) => Ending::GiveUp,
        }
    }

    /// What a person reads: what happened, in words, without a driver's or WordPress.com's
    /// own text. (What happens next is added by whoever shows it.)
    pub fn for_people(&self) -> String {
        match self {
            Self::Page {
                page,
                planned,
                tries,
                error,
            } => {
                let what = match error {
                    UpstreamError::Unavailable { status } => {
                        format!("WordPress.com answered {status}")
                    }
                    UpstreamError::RateLimited { .. } => {
                        "WordPress.com asked the portal to slow down (429)".to_owned()
                    }
                    UpstreamError::Timeout => "WordPress.com did not answer in time".to_owned(),
                    UpstreamError::Transport => "WordPress.com could not be reached".to_owned(),
                    UpstreamError::Decode => {
                        "WordPress.com sent an answer that could not be read".to_owned()
                    }
                    other => return Self::Upstream(other.clone()).for_people(),
                };
                let times = if *tries > 1 {
                    format!(", {tries} times in a row")
                } else {
                    String::new()
                };
                format!("{what} for page {page} of {planned}{times}")
            }
            Self::Upstream(e) => match e {
                UpstreamError::Unauthorized => "WordPress.com no longer accepts the login this copy reads with; log in again, or ask whoever connected the team to reconnect it".to_owned(),
                UpstreamError::Forbidden { .. } => "WordPress.com refused to list this key's activations (403)".to_owned(),
                UpstreamError::NotFound { .. } => "WordPress.com no longer knows this key (404)".to_owned(),
                UpstreamError::TooLarge(_) => "WordPress.com sent a page larger than the portal accepts".to_owned(),
                other => format!("{other}"),
            },
            Self::Db(e) => crate::db::kind(e).for_people().to_owned(),
            Self::Encode(_) | Self::Prepare(_) => {
                "the portal could not store part of WordPress.com's answer".to_owned()
            }
            Self::LeaseLost | Self::Stopped => {
                "another replica of the portal took this copy over".to_owned()
            }
        }
    }
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
        let now = self.clock.now();
        let stale = state
            .synced_at
            .is_none_or(|t| now - t >= self.settings.max_age.as_secs() as i64);
        // After a failure, views do not restart the copy at once (that would hide the failure
        // and hammer a struggling WordPress.com): a paused copy resumes on its own schedule,
        // and "Try again" / "Refresh now" force one.
        let backing_off = state
            .failed_at
            .is_some_and(|t| now - t < RETRY_BACKOFF_SECS)
            || state.resume_after.is_some_and(|t| now < t);
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
        let attempt = match self.take_lease(key, partner_id, &token).await {
            Ok(Some(attempt)) => attempt,
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
            let copy = Copy::new(&index, &token, partner_id, &attempt);
            let result = copy.run(attempt.resume.is_some()).await;
            let stored = copy.progress();
            drop(copy);
            index.finish(&attempt, result, stored, started).await;
            index.release_local(key);
        });
        Ok(Started::Started)
    }

    fn release_local(&self, key: u64) {
        self.local_copies().remove(&key);
    }

    /// Ends an attempt: the switch, a pause or giving up (see the module's notes).
    async fn finish(
        &self,
        attempt: &Attempt,
        result: Result<CopyReport, SyncError>,
        (pages_stored, planned): (usize, u32),
        started: std::time::Instant,
    ) {
        let fence = &attempt.fence;
        let key = fence.key;
        let now = self.clock.now();
        let outcome = match &result {
            Ok(report) => self.switch(attempt, report).await,
            Err(e) => match e.ending() {
                Ending::LeftToOthers => {
                    tracing::warn!(key, generation = fence.generation, error = %e, "the copy stopped: another process holds the key now");
                    return;
                }
                Ending::Pause => self.pause(fence, e, pages_stored, planned, now).await,
                Ending::GiveUp => self.give_up(fence, e, now).await,
            },
        };
        crate::metrics::inc(
            "portal_index_syncs_total",
            &[(
                "outcome",
                match (&result, result.as_ref().err().map(SyncError::ending)) {
                    (Ok(_), _) => "completed",
                    (Err(_), Some(Ending::Pause)) => "paused",
                    _ => "failed",
                },
            )],
        );
        match (&result, outcome) {
            (Ok(_), Ok(())) => tracing::info!(
                key,
                generation = fence.generation,
                elapsed_ms = started.elapsed().as_millis() as u64,
                "index sync completed"
            ),
            (Err(e), Ok(())) => {
                tracing::warn!(key, generation = fence.generation, error = %e, "index sync stopped; the previous copy stays visible")
            }
            (_, Err(e)) => {
                // The lease runs out by itself (nothing renews it now), and the schedule
                // resumes or cleans up the attempt then.
                tracing::error!(key, generation = fence.generation, error = %e, "could not record the end of an index sync")
            }
        }
    }

    /// Pauses a copy: its pages stay, and it resumes by itself after a wait that doubles with
    /// each pause in a row (30 s, 1 min, … 30 min).
    async fn pause(
        &self,
        fence: &Fence,
        e: &SyncError,
        pages_stored: usize,
        planned: u32,
        now: i64,
    ) -> Result<(), sqlx::Error> {
        let kept = if pages_stored == 0 {
            "The copy paused and starts again by itself".to_owned()
        } else {
            format!(
                "The copy paused with {pages_stored} of {planned} pages stored, and resumes by \
                 itself from there"
            )
        };
        let words = format!("{}. {kept}", capitalised(&e.for_people()));
        let mut pause = Sql::new(
            "UPDATE key_syncs SET lease_owner = NULL, lease_until = NULL, \
             resume_generation = running_generation, running_generation = NULL, \
             retry_note = NULL, pauses = pauses + 1, failed_at = ",
        );
        pause
            .bind(Bind::Int(now))
            .push(", last_error = ")
            .bind(Bind::Text(words))
            .push(", resume_after = ")
            .bind(Bind::Int(now))
            .push(" + CASE WHEN pauses >= 6 THEN ")
            .bind(Bind::Int(PAUSE_AT_MOST_SECS))
            .push(" ELSE ")
            .bind(Bind::Int(PAUSE_FIRST_SECS))
            .push(
                " * (CASE pauses WHEN 0 THEN 1 WHEN 1 THEN 2 WHEN 2 THEN 4 \
                 WHEN 3 THEN 8 WHEN 4 THEN 16 ELSE 32 END) END",
            );
        fence.push_guard(&mut pause);
        self.db.execute(&pause).await.map(|_| ())
    }

    /// Gives a copy up: says why, and drops its partial table with the row's change (on a full
    /// disk, that frees its space).
    async fn give_up(&self, fence: &Fence, e: &SyncError, now: i64) -> Result<(), sqlx::Error> {
        let words = capitalised(&e.for_people());
        let words = if matches!(e, SyncError::Db(_)) {
            format!(
                "{words}, so the copy stopped and its partial rows were removed. Refresh now \
                 tries again; tell whoever runs the portal if it keeps happening"
            )
        } else {
            words
        };
        let mut give_up = Sql::new(
            "UPDATE key_syncs SET lease_owner = NULL, lease_until = NULL, \
             running_generation = NULL, resume_generation = NULL, \
             pages_stored = NULL, copy_token = NULL, copy_asked = NULL, \
             copy_per_page = NULL, copy_planned = NULL, copy_first_total = NULL, \
             retry_note = NULL, resume_after = NULL, pauses = 0, last_error = ",
        );
        give_up
            .bind(Bind::Text(words))
            .push(", failed_at = ")
            .bind(Bind::Int(now));
        fence.push_guard(&mut give_up);
        let partial = copies::drop(self.db.dialect(), fence.key, fence.generation);
        self.db.transaction_if(&give_up, &partial).await.map(|_| ())
    }

    /// Makes `attempt`'s copy the visible one, only while it still holds the lease: an update
    /// that changed no row means another process took the key over, and nothing is retired.
    async fn switch(&self, attempt: &Attempt, report: &CopyReport) -> Result<(), sqlx::Error> {
        let fence = &attempt.fence;
        report.log_if_short(fence.key);
        let mut switch = Sql::new("UPDATE key_syncs SET generation = ");
        switch
            .bind(Bind::Int(fence.generation))
            .push(", synced_at = ")
            .bind(Bind::Int(self.clock.now()))
            .push(", reported_total = ")
            .bind(Bind::Int(
                i64::try_from(report.latest_total).unwrap_or(i64::MAX),
            ))
            .push(", copied_rows = ")
            .bind(Bind::Int(i64::try_from(report.stored).unwrap_or(i64::MAX)))
            .push(", copy_note = ")
            .bind(Bind::OptText(report.note()))
            .push(
                ", running_generation = NULL, lease_owner = NULL, lease_until = NULL, \
                 last_error = NULL, failed_at = NULL, resume_generation = NULL, \
                 pages_stored = NULL, copy_token = NULL, copy_asked = NULL, copy_per_page = NULL, \
                 copy_planned = NULL, copy_first_total = NULL, retry_note = NULL, \
                 resume_after = NULL, pauses = 0",
            );
        fence.push_guard(&mut switch);
        if self.db.execute(&switch).await? == 1 {
            self.copied.notify_one();
            if report.fetched_again > 0 {
                tracing::info!(
                    key = fence.key,
                    fetched_again = report.fetched_again,
                    "the resumed copy fetched pages again"
                );
            }
            self.retire_older(fence.key);
        } else {
            tracing::warn!(
                key = fence.key,
                generation = fence.generation,
                "the copy finished after another process took the key over; it is not shown"
            );
        }
        Ok(())
    }
}

/// `s` with its first letter in capitals.
fn capitalised(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}
