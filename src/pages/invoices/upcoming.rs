//! `GET /invoices/upcoming`: the upcoming invoice (an estimate) on a page of its own.

use askama::Template;
use axum::{extract::State, http::StatusCode, response::Response};

use super::{SHOWING, list::upcoming_view, past_invoices, upcoming_invoice, view::InvoiceView};
use crate::{
    auth::scope::KeyScope,
    error::AppError,
    pages::panel::stale_note,
    state::AppState,
    web::{Layout, fmt_as_of, render},
};

#[derive(Template)]
#[template(path = "upcoming.html")]
struct UpcomingPage {
    layout: Layout,
    upcoming: Option<InvoiceView>,
    stale: Option<String>,
    as_of: String,
    back: String,
}

/// `GET /invoices/upcoming`.
pub async fn upcoming_get(
    State(state): State<AppState>,
    scope: KeyScope,
) -> Result<Response, AppError> {
    let (upcoming, past) = tokio::join!(
        upcoming_invoice(&state, &scope),
        past_invoices(&state, &scope)
    );
    let (entry, freshness) = match upcoming {
        Ok(answer) => answer,
        Err(e) => return Err(scope.upstream_failed(&state, e).await),
    };
    let key = scope.key.id;
    // Without the past invoices the estimate is still shown, without the comparison.
    let past = past.ok();
    let page = UpcomingPage {
        layout: scope.layout(&state, "Upcoming invoice", "invoices", "/invoices"),
        upcoming: entry
            .value
            .as_ref()
            .map(|i| upcoming_view(i, past.as_ref().map(|(e, _)| &e.value), key)),
        stale: stale_note(entry.fetched_at, &freshness, SHOWING),
        as_of: fmt_as_of(entry.fetched_at),
        back: format!("/invoices?key={key}"),
    };
    render(StatusCode::OK, &page)
}
