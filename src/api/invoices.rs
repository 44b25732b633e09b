//! Past invoices from WordPress.com (through the portal's cache), each with its lines, the
//! `partial` flag where WordPress.com sent fewer lines than the invoice has, and the
//! reconciliation against the copy. Finance and admin only; a token needs `invoices:read`.

use axum::{
    Json, Router,
    extract::{Path, State},
    routing::get,
};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::{key_scope, utc};
use crate::{
    auth::session::ApiAuthed,
    cache::Freshness,
    error::AppError,
    pages::invoices::{
        invoice_href, invoice_in, past_invoices,
        reconciliation::{Reconciliation, reconcile},
    },
    state::AppState,
    upstream::{Invoice, InvoiceLine},
    web::safe_href,
};

/// The routes, behind the money gate.
pub(super) fn router(state: &AppState) -> Router<AppState> {
    Router::new()
        .route("/api/v1/keys/{key}/invoices", get(list))
        .route("/api/v1/keys/{key}/invoices/{id}", get(detail))
        .route_layer(axum::middleware::from_extractor_with_state::<
            crate::auth::gate::SeesMoney,
            _,
        >(state.clone()))
}

/// An invoice. Amounts are integers in the currency's minor unit (cents), as Stripe writes
/// them.
#[derive(Debug, Serialize, ToSchema)]
pub struct InvoiceOut {
    /// Stripe's invoice id (the `{id}` of the detail route).
    pub id: Option<String>,
    /// The invoice number.
    pub number: Option<String>,
    /// `draft`, `open`, `past_due`, `retrying`, `payment_failed`, `paid`, `uncollectible`,
    /// `void` or `unknown`: Stripe's status, or what the portal derives from it.
    pub status: String,
    /// Lowercase ISO 4217 currency.
    pub currency: String,
    /// Total, minor units.
    pub total: i64,
    /// Before tax, minor units.
    pub subtotal: Option<i64>,
    /// Tax, minor units.
    pub tax: Option<i64>,
    /// Due, minor units.
    pub amount_due: Option<i64>,
    /// Paid, minor units.
    pub amount_paid: Option<i64>,
    /// Still to pay, minor units.
    pub amount_remaining: Option<i64>,
    /// Created.
    pub created_at: Option<DateTime<Utc>>,
    /// Billing period start.
    pub period_start: Option<DateTime<Utc>>,
    /// Billing period end (exclusive).
    pub period_end: Option<DateTime<Utc>>,
    /// Due date.
    pub due_date: Option<DateTime<Utc>>,
    /// Paid at.
    pub paid_at: Option<DateTime<Utc>>,
    /// Next payment attempt.
    pub next_payment_attempt: Option<DateTime<Utc>>,
    /// Payment attempts so far.
    pub attempt_count: Option<i64>,
    /// Stripe's hosted page (http or https only; `null` otherwise).
    pub hosted_invoice_url: Option<String>,
    /// Stripe's PDF (http or https only; `null` otherwise).
    pub invoice_pdf: Option<String>,
    /// Lines WordPress.com sent.
    pub lines_sent: usize,
    /// Lines the invoice has, when WordPress.com says.
    pub lines_total: Option<u64>,
    /// WordPress.com sent fewer lines than the invoice has: sums over the lines are partial.
    pub partial: bool,
    /// The invoice's page in the portal.
    pub page: Option<String>,
}

impl InvoiceOut {
    fn new(i: &Invoice, key: u64, base: &str) -> Self {
        Self {
            id: i.id.clone(),
            number: i.number.clone(),
            status: i.status.code().to_owned(),
            currency: i.currency.clone(),
            total: i.total,
            subtotal: i.subtotal,
            tax: i.tax,
            amount_due: i.amount_due,
            amount_paid: i.amount_paid,
            amount_remaining: i.amount_remaining,
            created_at: i.created,
            period_start: i.period_start,
            period_end: i.period_end,
            due_date: i.due_date,
            paid_at: i.paid_at,
            next_payment_attempt: i.next_payment_attempt,
            attempt_count: i.attempt_count,
            hosted_invoice_url: i.hosted_invoice_url.as_deref().and_then(safe_href),
            invoice_pdf: i.invoice_pdf.as_deref().and_then(safe_href),
            lines_sent: i.lines.len(),
            lines_total: i.lines_total,
            partial: i.missing_lines().is_some(),
            page: i
                .id
                .as_deref()
                .map(|id| format!("{base}{}", invoice_href(id, key, ""))),
        }
    }
}

/// An invoice line.
#[derive(Debug, Serialize, ToSchema)]
pub struct LineOut {
    /// Description (WordPress.com's text).
    pub description: Option<String>,
    /// Plan or price nickname.
    pub plan: Option<String>,
    /// Quantity.
    pub quantity: Option<i64>,
    /// Price of one unit, minor units.
    pub unit_amount: Option<i64>,
    /// Amount, minor units.
    pub amount: i64,
    /// Period start.
    pub period_start: Option<DateTime<Utc>>,
    /// Period end (exclusive).
    pub period_end: Option<DateTime<Utc>>,
    /// A proration (a change within a period).
    pub proration: bool,
    /// Stripe's line type: `subscription` or `invoiceitem`.
    pub kind: Option<String>,
}

impl From<&InvoiceLine> for LineOut {
    fn from(l: &InvoiceLine) -> Self {
        Self {
            description: l.description.clone(),
            plan: l.plan.clone(),
            quantity: l.quantity,
            unit_amount: l.unit_amount,
            amount: l.amount,
            period_start: l.period_start,
            period_end: l.period_end,
            proration: l.proration,
            kind: l.kind.clone(),
        }
    }
}

/// How old the answer is.
#[derive(Debug, Serialize, ToSchema)]
pub struct FetchedOut {
    /// When WordPress.com sent it.
    pub fetched_at: Option<DateTime<Utc>>,
    /// WordPress.com failed just now, and this is its last good answer: why.
    pub stale: Option<String>,
}

fn fetched(at: i64, freshness: &Freshness) -> FetchedOut {
    FetchedOut {
        fetched_at: utc(Some(at)),
        stale: match freshness {
            Freshness::Fresh => None,
            Freshness::Stale { reason } => Some(reason.clone()),
        },
    }
}

/// The key's past invoices.
#[derive(Debug, Serialize, ToSchema)]
pub struct InvoicesAnswer {
    /// How old the answer is.
    pub fetched: FetchedOut,
    /// The key.
    pub key: u64,
    /// WordPress.com says there are more invoices than it sent.
    pub has_more: bool,
    /// Newest first, without their lines (the detail route has them).
    pub invoices: Vec<InvoiceOut>,
}

/// One reconciliation row: an invoiced product family beside the copy.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReconciledOut {
    /// Product family ("Jetpack Security").
    pub family: String,
    /// Its product ids.
    pub product_ids: Vec<i64>,
    /// Quantity on the invoice's lines.
    pub invoiced: i64,
    /// Sites of the family active at some moment of the period, per the copy.
    pub active_in_period: Option<i64>,
    /// `active_in_period - invoiced`: negative means more billed than active.
    pub difference: Option<i64>,
    /// The result in a sentence, as the page says it.
    pub sentence: String,
}

/// A line that bills no product family.
#[derive(Debug, Serialize, ToSchema)]
pub struct OtherOut {
    /// `credit`, `proration` or `not matched to a product`.
    pub kind: String,
    /// Its description.
    pub description: String,
    /// Its quantity.
    pub quantity: Option<i64>,
    /// Its amount, minor units.
    pub amount: i64,
}

/// The invoice against the copy. Matching a line to a product family is a best guess by
/// name: WordPress.com does not say which product a line bills.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReconciliationOut {
    /// Why there is no reconciliation (no billing period, the copy being made), if there is
    /// none.
    pub unavailable: Option<String>,
    /// One row per product family billed.
    pub rows: Vec<ReconciledOut>,
    /// Credits, prorations and lines naming no product.
    pub other: Vec<OtherOut>,
    /// Said when the copy the counts come from is not whole.
    pub copy_notice: Option<String>,
}

impl ReconciliationOut {
    fn of(r: Result<Reconciliation, String>) -> Self {
        match r {
            Err(why) => Self {
                unavailable: Some(why),
                rows: Vec::new(),
                other: Vec::new(),
                copy_notice: None,
            },
            Ok(r) => Self {
                unavailable: None,
                rows: r
                    .rows
                    .iter()
                    .map(|row| ReconciledOut {
                        family: row.product.clone(),
                        product_ids: row.ids.clone(),
                        invoiced: row.invoiced,
                        active_in_period: row.indexed,
                        difference: row.difference(),
                        sentence: row.sentence(),
                    })
                    .collect(),
                other: r
                    .other
                    .iter()
                    .map(|o| OtherOut {
                        kind: o.kind.label().to_owned(),
                        description: o.description.clone(),
                        quantity: o.quantity,
                        amount: o.amount,
                    })
                    .collect(),
                copy_notice: r.copy.map(|c| {
                    format!(
                        "The copy holds {} activations; WordPress.com reported {}.",
                        c.copied, c.reported
                    )
                }),
            },
        }
    }
}

/// One invoice with its lines and reconciliation.
#[derive(Debug, Serialize, ToSchema)]
pub struct InvoiceAnswer {
    /// How old the answer is.
    pub fetched: FetchedOut,
    /// The invoice.
    pub invoice: InvoiceOut,
    /// Its lines, as WordPress.com sent them (see `invoice.partial`).
    pub lines: Vec<LineOut>,
    /// Against the activations copy.
    pub reconciliation: ReconciliationOut,
}

/// `GET /api/v1/keys/{key}/invoices`: the key's past invoices.
#[utoipa::path(
    get,
    path = "/api/v1/keys/{key}/invoices",
    operation_id = "list_invoices",
    tag = "invoices",
    params(("key" = u64, Path, description = "A key of the partner", example = 70)),
    responses(
        (status = 200, description = "The past invoices, newest first", body = InvoicesAnswer),
        (status = 400, description = "The key is not a number", body = super::ApiError),
        (status = 401, description = "No token, or a token that is not accepted", body = super::ApiError),
        (status = 403, description = "The role (support) or the token's scopes exclude invoices", body = super::ApiError),
        (status = 404, description = "The partner has no such key", body = super::ApiError),
        (status = 429, description = "Too many requests with this token", body = super::ApiError),
        (status = 502, description = "WordPress.com failed and nothing is cached", body = super::ApiError),
        (status = 503, description = "The team connection is broken, or WordPress.com is busy", body = super::ApiError),
        (status = 504, description = "WordPress.com did not answer in time", body = super::ApiError),
    ),
    security(("token" = ["invoices:read"]), ("session" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    authed: ApiAuthed,
    Path(key): Path<u64>,
) -> Result<Json<InvoicesAnswer>, AppError> {
    let scope = key_scope(authed, key)?;
    let (entry, freshness) = match past_invoices(&state, &scope).await {
        Ok(r) => r,
        Err(e) => return Err(scope.upstream_failed(&state, e).await),
    };
    let base = state.config.base_path();
    Ok(Json(InvoicesAnswer {
        fetched: fetched(entry.fetched_at, &freshness),
        key,
        has_more: entry.value.has_more,
        invoices: entry
            .value
            .invoices
            .iter()
            .map(|i| InvoiceOut::new(i, key, base))
            .collect(),
    }))
}

/// `GET /api/v1/keys/{key}/invoices/{id}`: one invoice with its lines and reconciliation.
#[utoipa::path(
    get,
    path = "/api/v1/keys/{key}/invoices/{id}",
    operation_id = "get_invoice",
    tag = "invoices",
    params(
        ("key" = u64, Path, description = "A key of the partner", example = 70),
        ("id" = String, Path, description = "Stripe's invoice id (`in_…`)", example = "in_1Fake0012K70"),
    ),
    responses(
        (status = 200, description = "The invoice", body = InvoiceAnswer),
        (status = 400, description = "The key is not a number", body = super::ApiError),
        (status = 401, description = "No token, or a token that is not accepted", body = super::ApiError),
        (status = 403, description = "The role (support) or the token's scopes exclude invoices", body = super::ApiError),
        (status = 404, description = "No such key, or no such invoice of the key", body = super::ApiError),
        (status = 429, description = "Too many requests with this token", body = super::ApiError),
        (status = 502, description = "WordPress.com failed and nothing is cached", body = super::ApiError),
        (status = 503, description = "The team connection is broken, or WordPress.com is busy", body = super::ApiError),
        (status = 504, description = "WordPress.com did not answer in time", body = super::ApiError),
    ),
    security(("token" = ["invoices:read"]), ("session" = []))
)]
pub async fn detail(
    State(state): State<AppState>,
    authed: ApiAuthed,
    Path((key, id)): Path<(u64, String)>,
) -> Result<Json<InvoiceAnswer>, AppError> {
    let scope = key_scope(authed, key)?;
    let (entry, freshness) = match past_invoices(&state, &scope).await {
        Ok(r) => r,
        Err(e) => return Err(scope.upstream_failed(&state, e).await),
    };
    let invoice = invoice_in(&entry.value, &scope, &id)?;
    scope
        .audit(
            &state,
            "invoice_view",
            &format!(
                "invoice {} through the API",
                crate::pages::invoices::audit_id(&invoice)
            ),
        )
        .await;
    let recon = reconcile(&state, &scope, &invoice)
        .await
        .map_err(|n| n.message);
    Ok(Json(InvoiceAnswer {
        fetched: fetched(entry.fetched_at, &freshness),
        lines: invoice.lines.iter().map(LineOut::from).collect(),
        reconciliation: ReconciliationOut::of(recon),
        invoice: InvoiceOut::new(&invoice, key, state.config.base_path()),
    }))
}
