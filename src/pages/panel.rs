//! What a page panel says when its part of the page could not be loaded, or was served from
//! the last good answer because WordPress.com failed.

use chrono::Utc;

use crate::{cache::Freshness, web::fmt_age};

/// A panel that could not be filled, with a reason; the rest of the page still shows.
#[derive(Debug, Clone)]
pub struct PanelError {
    /// What to tell the user.
    pub message: String,
}

/// "WordPress.com could not be reached (why); showing what it said 3 minutes ago." for a stale
/// answer fetched at `fetched_at`; `None` for a fresh one.
pub fn stale_note(fetched_at: i64, freshness: &Freshness, showing: &str) -> Option<String> {
    match freshness {
        Freshness::Fresh => None,
        Freshness::Stale { reason } => Some(format!(
            "WordPress.com could not be reached ({reason}); {showing} {}.",
            fmt_age(Utc::now().timestamp() - fetched_at)
        )),
    }
}
