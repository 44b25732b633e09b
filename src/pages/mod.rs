//! The dashboard's pages. Each module owns its handler(s) and page struct.

pub mod activations;
pub mod index_ready;
pub mod invoices;
pub mod overview;
pub mod panel;

use axum::{Router, routing::get};

use crate::state::AppState;

/// The page routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(overview::overview_get))
        .merge(activations::router())
        .merge(invoices::router())
}
