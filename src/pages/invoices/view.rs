//! An invoice and its lines as the pages show them.

use chrono::Utc;

use crate::{
    upstream::{Invoice, InvoiceLine},
    web::{fmt_int, fmt_money, fmt_opt_date, fmt_period, safe_href},
};

/// An invoice, formatted.
#[derive(Debug, Clone)]
pub struct InvoiceView {
    /// Number or id.
    pub number: String,
    /// Detail link, when the invoice has an id.
    pub detail: Option<String>,
    /// Period.
    pub period: String,
    /// Created.
    pub created: String,
    /// Status label.
    pub status: String,
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
    /// Said when WordPress.com sent only some of the lines.
    pub lines_note: Option<String>,
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
    /// Period.
    pub period: String,
}

fn period_text(
    start: Option<&chrono::DateTime<Utc>>,
    end: Option<&chrono::DateTime<Utc>>,
) -> String {
    match (start, end) {
        (Some(s), Some(e)) => fmt_period(s, e),
        _ => "–".into(),
    }
}

pub(super) fn line_description(l: &InvoiceLine) -> String {
    l.description
        .clone()
        .or_else(|| l.plan.clone())
        .unwrap_or_else(|| "–".into())
}

impl InvoiceView {
    pub(super) fn new(i: &Invoice, key: u64) -> Self {
        Self {
            number: i
                .number
                .clone()
                .or_else(|| i.id.clone())
                .unwrap_or_else(|| "–".into()),
            detail: i.id.as_ref().map(|id| {
                format!(
                    "/invoices/{}?key={key}",
                    url::form_urlencoded::byte_serialize(id.as_bytes()).collect::<String>()
                )
            }),
            period: period_text(i.period_start.as_ref(), i.period_end.as_ref()),
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
                    description: line_description(l),
                    quantity: l.quantity.map_or_else(String::new, fmt_int),
                    amount: fmt_money(l.amount, &i.currency),
                    period: period_text(l.period_start.as_ref(), l.period_end.as_ref()),
                })
                .collect(),
            lines_note: i.missing_lines().map(|(sent, total)| match total {
                Some(total) => format!(
                    "WordPress.com sent {} of this invoice's {} lines; lines and figures computed from them are partial.",
                    fmt_int(sent as i64),
                    fmt_int(i64::try_from(total).unwrap_or(i64::MAX))
                ),
                None => format!(
                    "WordPress.com sent {} lines and says this invoice has more; lines and figures computed from them are partial.",
                    fmt_int(sent as i64)
                ),
            }),
        }
    }
}
