//! `GET /invoices`: the upcoming invoice (an estimate) and the past invoices, each panel on
//! its own.

use askama::Template;
use axum::{extract::State, http::StatusCode, response::Response};

use super::{SHOWING, past_invoices, upcoming_invoice};
use crate::{
    auth::scope::KeyScope,
    error::AppError,
    pages::panel::{PanelError, stale_note},
    state::AppState,
    upstream::UpstreamError,
    web::{Layout, fmt_as_of, render},
};

use super::{
    dues::{Due, dues_of},
    view::{InvoiceView, last_billed},
};

#[derive(Template)]
#[template(path = "invoices.html")]
struct InvoicesPage {
    layout: Layout,
    dues: Vec<Due>,
    upcoming: Result<Option<InvoiceView>, PanelError>,
    upcoming_stale: Option<String>,
    past: Result<Vec<InvoiceView>, PanelError>,
    past_stale: Option<String>,
    past_more: bool,
    retry_href: String,
    csv_href: String,
    as_of: Option<String>,
}

/// `GET /invoices`.
pub async fn invoices_get(
    State(state): State<AppState>,
    scope: KeyScope,
) -> Result<Response, AppError> {
    let (upcoming, past) = tokio::join!(
        upcoming_invoice(&state, &scope),
        past_invoices(&state, &scope)
    );
    // A rejected token ends the session whichever call saw it; if both panels failed, the
    // page as a whole failed.
    match (&upcoming, &past) {
        (Err(e @ UpstreamError::Unauthorized), _) | (_, Err(e @ UpstreamError::Unauthorized)) => {
            return Err(scope.upstream_failed(&state, e.clone()).await);
        }
        (Err(a), Err(_)) => return Err(scope.upstream_failed(&state, a.clone()).await),
        _ => {}
    }
    let as_of = past
        .as_ref()
        .map(|(e, _)| e.fetched_at)
        .or(upcoming.as_ref().map(|(e, _)| e.fetched_at))
        .ok()
        .map(fmt_as_of);
    let upcoming_stale = upcoming
        .as_ref()
        .ok()
        .and_then(|(e, f)| stale_note(e.fetched_at, f, SHOWING));
    let past_stale = past
        .as_ref()
        .ok()
        .and_then(|(e, f)| stale_note(e.fetched_at, f, SHOWING));
    let key = scope.key.id;
    let page = InvoicesPage {
        layout: scope.layout(&state, "Invoices", "invoices", "/invoices"),
        dues: past
            .as_ref()
            .map(|(e, _)| dues_of(&e.value, key))
            .unwrap_or_default(),
        upcoming: upcoming
            .as_ref()
            .map(|(e, _)| {
                e.value
                    .as_ref()
                    .map(|i| upcoming_view(i, past.as_ref().ok().map(|(e, _)| &e.value), key))
            })
            .map_err(panel_error),
        upcoming_stale,
        past: past
            .as_ref()
            .map(|(e, _)| {
                e.value
                    .invoices
                    .iter()
                    .map(|i| InvoiceView::row(i, key))
                    .collect()
            })
            .map_err(panel_error),
        past_stale,
        past_more: past.as_ref().is_ok_and(|(e, _)| e.value.has_more),
        retry_href: scope.here().to_owned(),
        csv_href: format!("/invoices.csv?key={key}"),
        as_of,
    };
    render(StatusCode::OK, &page)
}

/// The estimate, compared with the last invoice when the past invoices could be read.
pub(super) fn upcoming_view(
    upcoming: &crate::upstream::Invoice,
    past: Option<&crate::upstream::InvoiceList>,
    key: u64,
) -> InvoiceView {
    let mut view = InvoiceView::new(upcoming, key);
    if let Some(last) = past.and_then(|p| last_billed(&p.invoices)) {
        view.compare_with(upcoming, last, key);
    }
    view
}

fn panel_error(e: &UpstreamError) -> PanelError {
    let message = match e {
        UpstreamError::Forbidden { .. } => {
            "WordPress.com says this account cannot see these invoices.".to_owned()
        }
        UpstreamError::NotFound { .. } => "WordPress.com has no invoices for this key.".to_owned(),
        UpstreamError::RateLimited {
            retry_after: Some(s),
        } => format!("WordPress.com is busy. Try again in {s} seconds."),
        other => format!("Could not load this from WordPress.com: {other}. Try again in a moment."),
    };
    PanelError { message }
}
