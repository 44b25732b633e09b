//! The dashboard's pages. Each module owns its handler(s) and page struct.

pub mod activations;
pub mod audit;
pub mod index_ready;
pub mod invoices;
pub mod join;
pub mod notifications;
pub mod overview;
pub mod panel;
pub mod team;
pub mod tokens;

use axum::{Router, routing::get};

use crate::state::AppState;

/// The page routes.
pub fn router(state: &AppState) -> Router<AppState> {
    Router::new()
        .route("/", get(overview::overview_get))
        .merge(activations::router())
        .merge(invoices::router(state))
        .merge(team::router(state))
        .merge(audit::router(state))
        .merge(join::router(state))
        .merge(tokens::router())
        .merge(notifications::router())
}

/// Unknown paths. The login is looked up (when there is one) so that the page keeps the header,
/// the navigation and Log out.
pub async fn not_found(
    _viewer: Result<crate::auth::session::Authed, crate::error::AppError>,
) -> crate::error::AppError {
    crate::error::AppError::not_found(
        "Page not found",
        "There is no page at this address. It may have moved, or the link may be mistyped.",
    )
}
