//! The dashboard's pages. Each module owns its handler(s) and page struct.

pub mod activations;
pub mod invoices;
pub mod overview;
pub mod query;

use axum::{Router, routing::get};

use crate::{auth::session::Authed, error::AppError, state::AppState, upstream::PartnerKey};

/// The page routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(overview::overview_get))
        .merge(activations::router())
        .merge(invoices::router())
}

/// The key named by `?key=`, or the partner's default key. A key the session's partner does not
/// list is a 404: access is decided by what WordPress.com listed for this token at login.
pub fn select_key(authed: &Authed, key: Option<u64>) -> Result<PartnerKey, AppError> {
    let partner = authed.partner()?;
    let found = match key {
        Some(id) => partner.key(id),
        None => partner.default_key(),
    };
    found.cloned().ok_or_else(|| match key {
        Some(id) => AppError::NotFound(format!("Your partner has no key {id}.")),
        None => AppError::NotFound("Your partner has no keys yet.".into()),
    })
}
