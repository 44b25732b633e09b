//! The local copy of a key's activations as pages see it: whether it is ready, the page shown
//! while it is being built, and the "data as of" line with its Refresh form.

use askama::Template;
use axum::{http::StatusCode, response::Response};
use chrono::{TimeZone as _, Utc};

use crate::{
    auth::scope::KeyScope,
    error::AppError,
    index::{SyncState, sync::Hold},
    state::AppState,
    web::{Layout, fmt_age, fmt_datetime, fmt_int, render},
};

/// How old the data is, and what the last refresh did.
#[derive(Debug, Clone)]
pub struct Freshness {
    /// "3 minutes ago".
    pub age: String,
    /// Exact time.
    pub at: String,
    /// A refresh runs now: "page 3 of 100".
    pub refreshing: Option<String>,
    /// The last refresh failed: why and when.
    pub failed: Option<String>,
    /// CSRF token for the Refresh form.
    pub csrf: String,
    /// Key.
    pub key: u64,
    /// Where to come back to.
    pub back: String,
    /// Said when the copy does not hold what WordPress.com reports.
    pub copy: Option<CopyNotice>,
    /// Said when a "Refresh now" was ignored.
    pub refresh_skipped: Option<String>,
}

/// What every view of a key says when its copy does not hold as many activations as
/// WordPress.com reported while the copy was made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyNotice {
    /// WordPress.com's total, formatted.
    pub reported: String,
    /// Rows in the copy, formatted.
    pub copied: String,
    /// How the pages came back, when that explains it.
    pub note: Option<String>,
}

impl CopyNotice {
    /// The notice for `state`'s copy, if it is short (or long).
    pub fn of(state: &SyncState) -> Option<Self> {
        state.shortfall().map(|(reported, copied)| Self {
            reported: fmt_int(reported),
            copied: fmt_int(copied),
            note: state.copy_note.clone(),
        })
    }
}

/// What a page says of a copy in progress, or of one that stopped: what is happening, and
/// what happens next. Never a driver's or WordPress.com's own words (the copy stores only
/// sentences; the causes are in the log).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CopyWords {
    /// A copy runs: its progress, and who makes it.
    pub running: Option<String>,
    /// The last copy stopped: why, and what happens next.
    pub stopped: Option<String>,
}

impl CopyWords {
    /// The words for `state`, with `lease` the time a stopped process's copy takes to move on.
    pub fn of(state: &SyncState, lease: std::time::Duration, now: i64) -> Self {
        let running = state.running.then(|| {
            let mut said = if state.mine {
                progress(state)
            } else {
                format!(
                    "{} (another replica of the portal is making this copy; if it stops, this one continues it within {})",
                    progress(state),
                    crate::web::fmt_duration(lease)
                )
            };
            if let Some(note) = &state.retry_note {
                said.push_str(&format!(". {note}"));
            }
            said
        });
        let stopped = if state.stranded() {
            Some(
                "The process making the last refresh stopped answering. The refresh resumes by itself in a few seconds, keeping the pages it stored".to_owned(),
            )
        } else {
            state.failure().map(|e| {
                let when = state
                    .failed_at
                    .map_or_else(String::new, |t| format!(" {}", fmt_age(now - t)));
                let next = match state.resume_after {
                    Some(t) if state.paused && t > now => Utc
                        .timestamp_opt(t, 0)
                        .single()
                        .map(|t| format!(" at {}", t.format("%H:%M:%S UTC")))
                        .unwrap_or_default(),
                    _ if state.paused => " now".to_owned(),
                    _ => String::new(),
                };
                format!("The last refresh failed{when}: {e}{next}")
            })
        };
        Self { running, stopped }
    }
}

/// Progress text of a running sync.
pub fn progress(state: &SyncState) -> String {
    match (state.pages_total, state.rows_total) {
        (Some(pages), Some(rows)) => format!(
            "{} of {} pages, {} of {} activations",
            fmt_int(state.pages_done),
            fmt_int(pages),
            fmt_int(state.rows_done),
            fmt_int(rows)
        ),
        _ => "starting".to_owned(),
    }
}

impl Freshness {
    /// From the sync state.
    pub fn new(app: &AppState, state: &SyncState, scope: &KeyScope) -> Self {
        let now = app.clock.now();
        let words = CopyWords::of(state, app.config.index_lease, now);
        let synced = state.synced_at.unwrap_or(now);
        Self {
            age: fmt_age(now - synced),
            at: Utc
                .timestamp_opt(synced, 0)
                .single()
                .map(|t| fmt_datetime(&t))
                .unwrap_or_default(),
            refreshing: words.running,
            failed: words.stopped.map(|s| format!("{s}.")),
            csrf: scope.csrf().to_owned(),
            key: scope.key.id,
            back: scope.here().to_owned(),
            copy: CopyNotice::of(state),
            refresh_skipped: refresh_skipped(app, scope.here()),
        }
    }
}

#[derive(Template)]
#[template(path = "building.html")]
struct BuildingPage {
    layout: Layout,
    progress: String,
    failed: Option<String>,
    csrf: String,
    key: u64,
    back: String,
    running: bool,
    status_href: String,
}

/// Why a panel that needs the activations copy cannot show it yet.
#[derive(Debug, Clone)]
pub struct NotReady {
    /// The first copy is being made (a normal state, shown quietly); otherwise it failed.
    pub building: bool,
    /// What the panel says.
    pub message: String,
    /// The copy's status as JSON, which the page script polls to fill the panel in.
    pub status_href: String,
}

impl NotReady {
    /// The panel cannot be shown, for the reason `message` says (nothing to wait for).
    pub fn failed(message: String) -> Self {
        Self {
            building: false,
            message,
            status_href: String::new(),
        }
    }

    /// The copy could not be read; the cause is logged.
    pub fn unreadable(cause: &dyn std::fmt::Display) -> Self {
        Self::failed(unreadable(cause))
    }
}

/// The key's complete index copy (starting a sync if needed), or what a panel says instead:
/// the copy's progress while the first one is made, ending with `what` (e.g. "These figures
/// fill in").
pub async fn index_copy(
    state: &AppState,
    scope: &KeyScope,
    what: &str,
) -> Result<SyncState, NotReady> {
    let index = &state.index;
    let fresh = async {
        let current = index.request_state(scope.key.id).await?;
        index
            .refresh_if_due(
                current,
                scope.token(),
                scope.partner.id,
                scope.key.id,
                false,
                None,
            )
            .await
    };
    let sync = match fresh.await {
        Ok((sync, _)) => sync,
        Err(e) => return Err(NotReady::unreadable(&e)),
    };
    if sync.has_copy() {
        return Ok(sync);
    }
    let words = CopyWords::of(&sync, state.config.index_lease, state.clock.now());
    match words.stopped {
        Some(e) => Err(NotReady::failed(format!(
            "{e}. Refresh the copy to try again."
        ))),
        None => Err(NotReady {
            building: true,
            message: format!(
                "Building the activations index for this key: {}. {what} when it is ready.",
                words.running.unwrap_or_else(|| progress(&sync))
            ),
            status_href: status_href(scope.key.id),
        }),
    }
}

/// The copy-status URL of `key`.
pub fn status_href(key: u64) -> String {
    format!("/activations/status?key={key}")
}

/// The copy's state as the page script reads it.
#[derive(Debug, serde::Serialize)]
pub struct CopyStatus {
    /// A complete copy exists: panels can be filled in.
    ready: bool,
    /// A copy is being made now.
    running: bool,
    /// "3 of 10 pages, 3,000 of 10,000 activations".
    progress: String,
    /// The last attempt failed (and none runs): the page should show why.
    failed: bool,
}

/// `GET /activations/status`: the copy's state, for the script of a page that waits for it.
/// It reads the state only; the page that waits started the copy.
pub async fn copy_status_get(
    axum::extract::State(state): axum::extract::State<AppState>,
    scope: KeyScope,
) -> Result<axum::Json<CopyStatus>, AppError> {
    let sync = state.index.request_state(scope.key.id).await?;
    Ok(axum::Json(CopyStatus {
        ready: sync.has_copy(),
        running: sync.running,
        progress: {
            let words = CopyWords::of(&sync, state.config.index_lease, state.clock.now());
            words
                .running
                .or(words.stopped.filter(|_| sync.stranded()))
                .unwrap_or_else(|| progress(&sync))
        },
        // A copy whose process stopped resumes in seconds: the page keeps waiting.
        failed: sync.failure().is_some() && !sync.stranded(),
    }))
}

/// The key's copy state, starting a sync when there is none or it is old.
pub async fn ensure_copy(state: &AppState, scope: &KeyScope) -> Result<SyncState, AppError> {
    let current = state.index.request_state(scope.key.id).await?;
    ensure_copy_from(state, scope, current, None).await
}

/// [`ensure_copy`] for a caller that has just read the key's state; a copy it starts waits
/// for `hold` before its first WordPress.com call.
pub async fn ensure_copy_from(
    state: &AppState,
    scope: &KeyScope,
    current: SyncState,
    hold: Option<Hold>,
) -> Result<SyncState, AppError> {
    let (sync, _) = state
        .index
        .refresh_if_due(
            current,
            scope.token(),
            scope.partner.id,
            scope.key.id,
            false,
            hold,
        )
        .await?;
    Ok(sync)
}

/// The page shown while the key's first copy is made (or after it failed).
pub fn building_page(
    state: &AppState,
    scope: &KeyScope,
    sync: &SyncState,
    title: &str,
    nav: &'static str,
    path: &'static str,
) -> Result<Response, AppError> {
    let words = CopyWords::of(sync, state.config.index_lease, state.clock.now());
    let page = BuildingPage {
        layout: scope.layout(state, title, nav, path),
        progress: words.running.unwrap_or_else(|| progress(sync)),
        failed: words.stopped.map(|e| format!("{e}.")),
        csrf: scope.csrf().to_owned(),
        key: scope.key.id,
        back: scope.here().to_owned(),
        running: sync.running,
        status_href: status_href(scope.key.id),
    };
    render(StatusCode::OK, &page)
}

/// Makes sure the key has a copy (starting a sync if needed). Without a complete copy yet,
/// returns the progress page to show instead.
pub async fn indexed(
    state: &AppState,
    scope: &KeyScope,
    title: &str,
    nav: &'static str,
    path: &'static str,
) -> Result<Result<SyncState, Response>, AppError> {
    let sync = ensure_copy(state, scope).await?;
    if sync.has_copy() {
        return Ok(Ok(sync));
    }
    Ok(Err(building_page(state, scope, &sync, title, nav, path)?))
}

/// What the page says after a "Refresh now" that was ignored (`?refresh=running|recent`).
fn refresh_skipped(app: &AppState, here: &str) -> Option<String> {
    let query = here.split_once('?').map_or("", |(_, q)| q);
    match crate::web::query::Pairs::parse(Some(query)).get("refresh") {
        Some("running") => {
            Some("A refresh of this key is already running, so it was not started again.".into())
        }
        Some("recent") => Some(format!(
            "This key's copy was refreshed less than {} ago, so it was not refreshed again.",
            crate::web::fmt_duration(app.config.refresh_min_interval)
        )),
        _ => None,
    }
}

/// What a panel says when the activations index could not be read; the cause is logged.
pub fn unreadable(cause: &dyn std::fmt::Display) -> String {
    tracing::error!(error = %cause, "activations index query failed");
    "The activations index could not be read. Try again in a moment.".to_owned()
}
