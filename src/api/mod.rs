//! The JSON API under `/api/v1`, for scripts with a portal API token (or a browser session):
//!
//! - [`proxy`]: the four reporting endpoints of WordPress.com, passed through as they answer.
//! - [`copy`]: the keys, and the activations from the portal's own copy, with the pages'
//!   filters and cursor paging; [`counts`]: their counts and the overview's period.
//! - [`invoices`]: the past invoices with their lines and reconciliation (finance and admin).
//! - [`doc`]: the OpenAPI 3.1 document generated from these handlers' types, and the page that
//!   shows it.
//!
//! Every answer from the copy says how fresh it is; money is integer minor units beside the
//! currency, as Stripe writes it; times are ISO 8601 UTC. Errors are `{error, message,
//! request_id}` with the right status, never a redirect.

pub mod copy;
pub mod counts;
pub mod doc;
pub mod invoices;
mod paging;
pub mod proxy;

use axum::Router;
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::{
    auth::{scope::KeyScope, session::ApiAuthed},
    error::AppError,
    index::SyncState,
    pages::index_ready::{CopyNotice, CopyWords, ensure_copy, progress},
    state::AppState,
};

/// Every `/api/v1` route.
pub fn router(state: &AppState) -> Router<AppState> {
    Router::new()
        .merge(proxy::router(state))
        .merge(copy::router())
        .merge(invoices::router(state))
        .merge(doc::router())
}

/// An error answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiError {
    /// A stable code: `unauthenticated`, `invalid_token`, `insufficient_scope`,
    /// `role_forbidden`, `bad_request`, `not_found`, `rate_limited`, `copy_not_ready`,
    /// `connection_broken`, `not_connected`, `index_unavailable`, `upstream_unavailable`, ….
    pub error: String,
    /// What happened and what to do, in a sentence.
    pub message: String,
    /// Quote it when reporting a problem; the portal's log has the same id.
    pub request_id: String,
}

/// How fresh an answer from the copy is, and whether the copy is whole.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CopyState {
    /// When the copy the answer comes from was completed.
    pub copied_at: Option<DateTime<Utc>>,
    /// The copy holds as many activations as WordPress.com reported while it was made.
    pub complete: bool,
    /// What the pages say when the copy is not complete (`null` when it is).
    pub notice: Option<String>,
    /// WordPress.com's total while the copy was made.
    pub reported_total: Option<i64>,
    /// Activations in the copy.
    pub copied_rows: Option<i64>,
    /// A newer copy is being made now; answers switch to it when it is complete.
    pub refreshing: bool,
}

impl CopyState {
    /// The state of `sync`'s visible copy.
    pub fn of(sync: &SyncState) -> Self {
        let notice = CopyNotice::of(sync).map(|n| {
            let mut s = format!(
                "This copy holds {} activations; WordPress.com reported {} while it was made, so counts and lists may be short.",
                n.copied, n.reported
            );
            if let Some(note) = n.note {
                s.push(' ');
                s.push_str(&note);
                if !s.ends_with('.') {
                    s.push('.');
                }
            }
            s
        });
        Self {
            copied_at: sync.synced_at.and_then(|t| DateTime::from_timestamp(t, 0)),
            complete: notice.is_none(),
            notice,
            reported_total: sync.reported_total,
            copied_rows: sync.copied_rows,
            refreshing: sync.running,
        }
    }
}

/// A Unix time as a UTC date and time.
pub fn utc(t: Option<i64>) -> Option<DateTime<Utc>> {
    t.and_then(|t| DateTime::from_timestamp(t, 0))
}

/// Writes `t` exactly as chrono's `Serialize` does (RFC 3339 in UTC, `Z`, no fraction when there
/// is none), but from a buffer on the stack instead of through `fmt`: a page of 100 activations
/// writes 500 dates, and chrono's way was an eighth of the JSON list's CPU. Dates with a
/// fraction of a second or outside years 0–9999 go through chrono.
pub fn utc_text<S: serde::Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
    use chrono::{Datelike as _, Timelike as _};
    let Some(t) = t else {
        return s.serialize_none();
    };
    let Ok(year) = u32::try_from(t.year()) else {
        return s.serialize_some(t);
    };
    if year > 9999 || t.nanosecond() != 0 {
        return s.serialize_some(t);
    }
    let mut text = *b"0000-00-00T00:00:00Z";
    for (at, value, width) in [
        (0, year, 4),
        (5, t.month(), 2),
        (8, t.day(), 2),
        (11, t.hour(), 2),
        (14, t.minute(), 2),
        (17, t.second(), 2),
    ] {
        let mut v = value;
        for i in (at..at + width).rev() {
            if let Some(b) = text.get_mut(i) {
                *b = b'0' + (v % 10) as u8;
            }
            v /= 10;
        }
    }
    match std::str::from_utf8(&text) {
        Ok(text) => s.serialize_some(text),
        Err(_) => s.serialize_some(t),
    }
}

/// Refuses a parameter of `names` given with an empty value. The pages read an empty field
/// as one left out (a form sends every field); a script that sends `status=` meant something
/// and is told, as the document's types say.
pub fn no_empty(q: &crate::web::query::Pairs, names: &[&str]) -> Result<(), AppError> {
    match q.iter().find(|(k, v)| v.is_empty() && names.contains(k)) {
        Some((k, _)) => Err(AppError::BadRequest(format!(
            "{k} is empty: leave it out, or give it a value."
        ))),
        None => Ok(()),
    }
}

/// Refuses a parameter of `names` given more than once: a script that sends `status=active&
/// status=cancelled` would otherwise get one of them without being told.
pub fn once(q: &crate::web::query::Pairs, names: &[&str]) -> Result<(), AppError> {
    for name in names {
        if q.iter().filter(|(k, _)| k == name).count() > 1 {
            return Err(AppError::BadRequest(format!(
                "{name} is given more than once; give it once."
            )));
        }
    }
    Ok(())
}

/// The scope of `key` for a JSON request.
pub fn key_scope(authed: ApiAuthed, key: u64) -> Result<KeyScope, AppError> {
    KeyScope::new(authed.0, Some(key))
}

/// The key's complete copy, starting one when there is none or it is old; while the first copy
/// is made, 503 `copy_not_ready` with its progress and `Retry-After`.
pub async fn copy_of(state: &AppState, scope: &KeyScope) -> Result<SyncState, AppError> {
    let sync = ensure_copy(state, scope).await?;
    if sync.has_copy() {
        return Ok(sync);
    }
    let words = CopyWords::of(&sync, state.config.index_lease, state.clock.now());
    Err(AppError::CopyNotReady(match words.stopped {
        Some(e) => format!("{e}. The portal tries again by itself; ask again in a minute."),
        None => format!(
            "The portal is making its first copy of this key's activations ({}). Ask again in a few seconds.",
            words.running.unwrap_or_else(|| progress(&sync))
        ),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    struct Hand(#[serde(serialize_with = "utc_text")] Option<DateTime<Utc>>);

    #[test]
    fn dates_written_by_hand_match_chrono() {
        let mut t = -62_167_219_200_i64; // 0000-01-01T00:00:00Z
        while t < 253_402_300_800 {
            // 10000-01-01
            let at = DateTime::from_timestamp(t, 0);
            assert_eq!(
                serde_json::to_string(&Hand(at)).ok(),
                serde_json::to_string(&at).ok(),
                "{t}"
            );
            t += 7_777_777;
        }
        for at in [
            None,
            DateTime::from_timestamp(1_764_000_000, 5_000_000),
            DateTime::from_timestamp(-62_167_219_201, 0),
            DateTime::from_timestamp(253_402_300_800, 0),
        ] {
            assert_eq!(
                serde_json::to_string(&Hand(at)).ok(),
                serde_json::to_string(&at).ok()
            );
        }
    }
}
