//! `GET /invoices/{id}`: one invoice with its lines and its reconciliation.

use askama::Template;
use axum::{
    extract::{Path, State},
    http::StatusCode,
    response::Response,
};

use super::find_invoice;
use crate::{
    auth::scope::KeyScope,
    error::AppError,
    pages::index_ready::{CopyNotice, NotReady},
    state::AppState,
    web::{Layout, render},
};

use super::{
    reconciliation::{OtherView, ReconView, other_view, recon_view, reconcile},
    view::InvoiceView,
};

#[derive(Template)]
#[template(path = "invoice.html")]
struct InvoicePage {
    layout: Layout,
    invoice: InvoiceView,
    stale: Option<String>,
    as_of: String,
    recon: Result<Vec<ReconView>, NotReady>,
    other: Vec<OtherView>,
    copy: Option<CopyNotice>,
    mismatches: usize,
    lines_csv: String,
    recon_csv: String,
    back: String,
}

/// `GET /invoices/{id}`.
pub async fn invoice_get(
    State(state): State<AppState>,
    scope: KeyScope,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let key = &scope.key;
    let (invoice, stale, as_of) = find_invoice(&state, &scope, &id).await?;
    scope
        .audit(
            &state,
            "invoice_view",
            &format!("invoice {}", super::export::audit_id(&invoice)),
        )
        .await;
    let recon = reconcile(&state, &scope, &invoice).await;
    let mismatches = recon.as_ref().map_or(0, |r| {
        r.rows
            .iter()
            .filter(|r| r.difference().is_some_and(|d| d != 0))
            .count()
    });
    let other = recon
        .as_ref()
        .map(|r| other_view(r, &invoice.currency))
        .unwrap_or_default();
    let copy = recon.as_ref().ok().and_then(|r| r.copy.clone());
    let enc: String = url::form_urlencoded::byte_serialize(id.as_bytes()).collect();
    let page = InvoicePage {
        layout: scope.layout(
            &state,
            &format!(
                "Invoice {}",
                invoice
                    .number
                    .as_deref()
                    .or(invoice.id.as_deref())
                    .unwrap_or("")
            ),
            "invoices",
            "/invoices",
        ),
        recon: recon.map(|r| recon_view(&r, &invoice, key.id)),
        other,
        copy,
        invoice: InvoiceView::new(&invoice, key.id),
        stale,
        as_of,
        mismatches,
        lines_csv: format!("/invoices/{enc}/lines.csv?key={}", key.id),
        recon_csv: format!("/invoices/{enc}/reconciliation.csv?key={}", key.id),
        back: format!("/invoices?key={}", key.id),
    };
    render(StatusCode::OK, &page)
}
