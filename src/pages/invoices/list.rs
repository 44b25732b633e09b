//! `GET /invoices`: the upcoming invoice (an estimate) and the past invoices, each panel on
//! its own.

use std::sync::Arc;

use askama::Template;
use axum::{extract::State, http::StatusCode, response::Response};

use super::{SHOWING, past_invoices, upcoming_invoice};
use crate::{
    auth::scope::KeyScope,
    cache::Answer,
    error::AppError,
    pages::panel::{PanelError, stale_note},
    rendered::Part,
    state::AppState,
    upstream::{Invoice, InvoiceList, UpstreamError},
    web::{Layout, fmt_as_of, render},
};

use super::{
    dues::kept_dues,
    view::{InvoiceView, last_billed},
};

/// The page: its layout, dues and "as of" line around the panels, which are kept rendered.
#[derive(Template)]
#[template(path = "invoices.html")]
struct InvoicesPage<'a> {
    layout: Layout,
    /// The rendered banners ([`kept_dues`]).
    dues: Option<Arc<Part>>,
    as_of: Option<String>,
    /// The rendered [`Panels`].
    panels: &'a str,
}

/// The upcoming and past invoices: decided by WordPress.com's two answers (and whether they
/// are stale), so rendered once per pair of answers and kept (see [`crate::rendered`]).
/// Nothing of the viewer or the session goes in them.
#[derive(Template)]
#[template(path = "invoices_panels.html")]
struct Panels {
    /// The public URL's path (see [`Layout::base`]).
    base: String,
    /// The key shown.
    key_id: u64,
    upcoming: Result<Option<InvoiceView>, PanelError>,
    upcoming_stale: Option<String>,
    past: Result<Vec<InvoiceView>, PanelError>,
    past_stale: Option<String>,
    past_more: bool,
    retry_href: String,
    csv_href: String,
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
    let key = scope.key.id;
    let panels = panels(&state, &scope, &upcoming, &past).await?;
    let page = InvoicesPage {
        layout: scope.layout(&state, "Invoices", "invoices", "/invoices"),
        dues: match &past {
            Ok((e, _)) => Some(kept_dues(&state, e, key).await?),
            Err(_) => None,
        },
        as_of,
        panels: &panels.html,
    };
    render(StatusCode::OK, &page)
}

/// The two panels of WordPress.com's answers, rendered, or as kept for the same answers.
/// Kept only when both answers are there; a failed panel is rendered each time.
async fn panels(
    state: &AppState,
    scope: &KeyScope,
    upcoming: &Answer<Option<Invoice>>,
    past: &Answer<InvoiceList>,
) -> Result<Arc<Part>, AppError> {
    let key = scope.key.id;
    let upcoming_stale = upcoming
        .as_ref()
        .ok()
        .and_then(|(e, f)| stale_note(e.fetched_at, f, SHOWING));
    let past_stale = past
        .as_ref()
        .ok()
        .and_then(|(e, f)| stale_note(e.fetched_at, f, SHOWING));
    let name = match (upcoming, past) {
        (Ok((u, _)), Ok((p, _))) => Some(format!(
            "invoices:{key}:{}:{}:{}:{}",
            u.serial,
            p.serial,
            upcoming_stale.as_deref().unwrap_or_default(),
            past_stale.as_deref().unwrap_or_default()
        )),
        _ => None,
    };
    if let Some(part) = match &name {
        Some(name) => state.rendered.get(name).await,
        None => None,
    } {
        return Ok(part);
    }
    let panels = Panels {
        base: state.config.base_path().to_owned(),
        key_id: key,
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
    };
    let part = Part {
        status: StatusCode::OK,
        title: "Invoices".to_owned(),
        html: panels
            .render()
            .map_err(|e| AppError::Internal(format!("template: {e}")))?,
        figure: None,
        cuts: Vec::new(),
    };
    Ok(match name {
        Some(name) => state.rendered.keep(name, part).await,
        None => Arc::new(part),
    })
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
