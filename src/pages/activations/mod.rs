//! Activations, answered from the local index: search, status tabs with counts, plan filter,
//! date presets and ranges, sort, page size, per-product counts, a detail view per row, a CSV of
//! the whole view, and a "Refresh now" action. All view state lives in the query string.

mod chips;
mod detail;
mod export;
mod list;
mod preview;
mod refresh;
mod row;
pub mod view;

use axum::{
    Router,
    routing::{get, post},
};

pub use self::view::View;
use crate::state::AppState;

/// The routes of this page family.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/activations", get(list::activations_get))
        .route("/activations.csv", get(export::activations_csv))
        .route("/activations/refresh", post(refresh::refresh_post))
        .route(
            "/activations/status",
            get(crate::pages::index_ready::copy_status_get),
        )
        .route("/activations/{id}", get(detail::activation_get))
}
