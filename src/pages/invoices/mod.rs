//! Invoices: the upcoming invoice (an estimate) and past invoices, each panel on its own; a
//! detail page per invoice with its lines and a reconciliation against the activations index;
//! CSV downloads of the list, of one invoice's lines and of a reconciliation.

mod detail;
pub mod dues;
mod export;
pub(crate) use export::audit_id;
mod list;
pub mod reconciliation;
mod upcoming;
mod view;

use axum::{Router, routing::get};

use crate::{
    auth::scope::KeyScope,
    cache::Answer,
    error::AppError,
    pages::panel::stale_note,
    state::AppState,
    upstream::{Invoice, InvoiceList},
    web::fmt_as_of,
};

/// The routes of this page family.
pub fn router(state: &AppState) -> Router<AppState> {
    Router::new()
        .route("/invoices", get(list::invoices_get))
        .route("/invoices.csv", get(export::invoices_csv))
        .route("/invoices/upcoming", get(upcoming::upcoming_get))
        .route("/invoices/{id}", get(detail::invoice_get))
        .route("/invoices/{id}/lines.csv", get(export::lines_csv))
        .route(
            "/invoices/{id}/reconciliation.csv",
            get(export::reconciliation_csv),
        )
        // Support staff see no invoices and no amounts.
        .route_layer(axum::middleware::from_extractor_with_state::<
            crate::auth::gate::SeesMoney,
            _,
        >(state.clone()))
}

pub use crate::billing::invoice_href;

/// How a stale invoice answer is described ("…; showing what it said 3 minutes ago").
const SHOWING: &str = "showing what it said";

/// The key's past invoices, through the cache.
pub(crate) async fn past_invoices(state: &AppState, scope: &KeyScope) -> Answer<InvoiceList> {
    state
        .cache
        .invoices(&state.wpcom, scope.token(), scope.partner.id, scope.key.id)
        .await
}

/// The key's upcoming invoice, through the cache.
async fn upcoming_invoice(state: &AppState, scope: &KeyScope) -> Answer<Option<Invoice>> {
    state
        .cache
        .upcoming(&state.wpcom, scope.token(), scope.partner.id, scope.key.id)
        .await
}

/// Invoice `id` of `list`, or the page that says the key has none such.
pub(crate) fn invoice_in(
    list: &InvoiceList,
    scope: &KeyScope,
    id: &str,
) -> Result<Invoice, AppError> {
    list.invoices
        .iter()
        .find(|i| i.id.as_deref() == Some(id))
        .cloned()
        .ok_or_else(|| {
            AppError::not_found(
                "Invoice not found",
                format!(
                    "No invoice with that number for the {} key. It may belong to another key.",
                    scope.key.name
                ),
            )
        })
}

/// Finds one past invoice (by id) through the cache, with its stale note and "as of" text.
pub(crate) async fn find_invoice(
    state: &AppState,
    scope: &KeyScope,
    id: &str,
) -> Result<(Invoice, Option<String>, String), AppError> {
    let (entry, freshness) = match past_invoices(state, scope).await {
        Ok(r) => r,
        Err(e) => return Err(scope.upstream_failed(state, e).await),
    };
    let invoice = invoice_in(&entry.value, scope, id)?;
    Ok((
        invoice,
        stale_note(entry.fetched_at, &freshness, SHOWING),
        fmt_as_of(entry.fetched_at),
    ))
}
