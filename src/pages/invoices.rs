//! Invoices: the upcoming invoice (an estimate) and past invoices, each in its own panel so one
//! failing endpoint does not hide the other.

use askama::Template;
use axum::{
    extract::{RawQuery, State},
    http::StatusCode,
    response::Response,
};

use super::{query::Pairs, select_key};
use crate::{
    app::AppState,
    auth::session::Authed,
    error::AppError,
    upstream::{Invoice, UpstreamError},
    web::{Layout, fmt_date, fmt_money, fmt_opt_date, render, safe_href},
};

/// An invoice, formatted.
#[derive(Debug, Clone)]
pub struct InvoiceView {
    /// Number or id.
    pub number: String,
    /// Period.
    pub period: String,
    /// Created.
    pub created: String,
    /// Status label.
    pub status: &'static str,
    /// Status CSS class.
    pub status_class: &'static str,
    /// Total.
    pub total: String,
    /// Next payment date.
    pub next_payment: String,
    /// Hosted page link (http(s) only).
    pub hosted_href: Option<String>,
    /// PDF link (http(s) only).
    pub pdf_href: Option<String>,
    /// Lines.
    pub lines: Vec<LineView>,
}

/// A line, formatted.
#[derive(Debug, Clone)]
pub struct LineView {
    /// Description (untrusted, escaped by the template).
    pub description: String,
    /// Quantity.
    pub quantity: String,
    /// Amount.
    pub amount: String,
}

impl InvoiceView {
    fn new(i: &Invoice) -> Self {
        let period = match (&i.period_start, &i.period_end) {
            (Some(s), Some(e)) => format!("{} – {}", fmt_date(s), fmt_date(e)),
            _ => "–".into(),
        };
        Self {
            number: i
                .number
                .clone()
                .or_else(|| i.id.clone())
                .unwrap_or_else(|| "–".into()),
            period,
            created: fmt_opt_date(i.created.as_ref()),
            status: i.status.label(),
            status_class: i.status.css(),
            total: fmt_money(i.total, &i.currency),
            next_payment: fmt_opt_date(i.next_payment_attempt.as_ref()),
            hosted_href: i.hosted_invoice_url.as_deref().and_then(safe_href),
            pdf_href: i.invoice_pdf.as_deref().and_then(safe_href),
            lines: i
                .lines
                .iter()
                .map(|l| LineView {
                    description: l
                        .description
                        .clone()
                        .or_else(|| l.plan.clone())
                        .unwrap_or_else(|| "–".into()),
                    quantity: l.quantity.map_or_else(String::new, |q| q.to_string()),
                    amount: fmt_money(l.amount, &i.currency),
                })
                .collect(),
        }
    }
}

/// A panel that failed on its own.
#[derive(Debug, Clone)]
pub struct PanelError {
    /// What to tell the user.
    pub message: String,
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

#[derive(Template)]
#[template(path = "invoices.html")]
struct InvoicesPage {
    layout: Layout,
    upcoming: Result<Option<InvoiceView>, PanelError>,
    past: Result<Vec<InvoiceView>, PanelError>,
    retry_href: String,
}

/// `GET /invoices`.
pub async fn invoices_get(
    State(state): State<AppState>,
    authed: Authed,
    RawQuery(raw): RawQuery,
) -> Result<Response, AppError> {
    let q = Pairs::parse(raw.as_deref());
    let key = select_key(&authed, q.key()?)?;
    let partner_id = authed.partner()?.id;
    let token = &authed.data.token;
    let (upcoming, past) = tokio::join!(
        state.wpcom.upcoming_invoice(token, partner_id, key.id),
        state.wpcom.invoices(token, partner_id, key.id),
    );
    // A rejected token ends the session whichever call saw it; if both panels failed, the
    // page as a whole failed.
    match (&upcoming, &past) {
        (Err(e @ UpstreamError::Unauthorized), _) | (_, Err(e @ UpstreamError::Unauthorized)) => {
            return Err(authed.upstream_failed(e.clone()).await);
        }
        (Err(a), Err(_)) => return Err(authed.upstream_failed(a.clone()).await),
        _ => {}
    }
    let page = InvoicesPage {
        layout: Layout::for_user(
            &state,
            &authed,
            "Invoices",
            "invoices",
            "/invoices",
            Some(&key),
        ),
        upcoming: upcoming
            .as_ref()
            .map(|u| u.as_ref().map(InvoiceView::new))
            .map_err(panel_error),
        past: past
            .as_ref()
            .map(|l| l.iter().map(InvoiceView::new).collect())
            .map_err(panel_error),
        retry_href: authed.here.clone(),
    };
    render(StatusCode::OK, &page)
}
