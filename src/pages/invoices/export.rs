//! CSV downloads: the invoice list, one invoice's lines, and one reconciliation.

use axum::{
    body::Body,
    extract::{Path, State},
    response::Response,
};
use chrono::Utc;

use super::{find_invoice, past_invoices};
use crate::{auth::scope::KeyScope, error::AppError, export, products, state::AppState};

use super::reconciliation::{family_of, reconcile};

fn money_cell(minor: i64, currency: &str) -> String {
    let exp = crate::upstream::models::currency_exponent(currency);
    if exp == 0 {
        return minor.to_string();
    }
    let scale = 10i64.pow(exp);
    let sign = if minor < 0 { "-" } else { "" };
    format!(
        "{sign}{}.{:0width$}",
        (minor / scale).abs(),
        (minor % scale).abs(),
        width = exp as usize
    )
}

fn day_cell(t: Option<chrono::DateTime<Utc>>) -> String {
    t.map(|t| t.format("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

/// The last day of a period whose end is exclusive (Stripe's `period_end` is the first moment
/// of the next period), as the pages say it: a November period ends on 2026-11-30.
fn last_day_cell(
    start: Option<chrono::DateTime<Utc>>,
    end_exclusive: Option<chrono::DateTime<Utc>>,
) -> String {
    match (start, end_exclusive) {
        (Some(s), Some(e)) if e > s => day_cell(Some(e - chrono::Duration::seconds(1))),
        (_, e) => day_cell(e),
    }
}

fn money_opt(minor: Option<i64>, currency: &str) -> String {
    minor.map(|a| money_cell(a, currency)).unwrap_or_default()
}

/// How files of one invoice are named: by its number, as people and the invoice itself call
/// it, else by its id.
fn invoice_file_part(invoice: &crate::upstream::Invoice, id: &str) -> String {
    slug(invoice.number.as_deref().unwrap_or(id))
}

/// `GET /invoices.csv`.
pub async fn invoices_csv(
    State(state): State<AppState>,
    scope: KeyScope,
) -> Result<Response, AppError> {
    let (entry, _) = match past_invoices(&state, &scope).await {
        Ok(r) => r,
        Err(e) => return Err(scope.upstream_failed(&state, e).await),
    };
    scope.audit(&state, "csv_download", "invoices.csv").await;
    let mut body = export::header_record(&[
        "invoice_id",
        "number",
        "status",
        "status_text",
        "currency",
        "subtotal",
        "tax",
        "total",
        "amount_due",
        "amount_paid",
        "amount_remaining",
        "created",
        "period_start",
        "period_end",
        "due_date",
        "paid_on",
        "next_payment_attempt",
        "hosted_invoice_url",
        "invoice_pdf",
    ]);
    for i in &entry.value.invoices {
        let c = &i.currency;
        body.extend(export::record(&[
            i.id.clone().unwrap_or_default(),
            i.number.clone().unwrap_or_default(),
            i.status.code().to_owned(),
            i.status.label(),
            c.to_uppercase(),
            money_opt(i.subtotal, c),
            money_opt(i.tax, c),
            money_cell(i.total, c),
            money_opt(i.amount_due, c),
            money_opt(i.amount_paid, c),
            money_opt(i.amount_remaining, c),
            day_cell(i.created),
            day_cell(i.period_start),
            last_day_cell(i.period_start, i.period_end),
            day_cell(i.due_date),
            day_cell(i.paid_at),
            day_cell(i.next_payment_attempt),
            i.hosted_invoice_url.clone().unwrap_or_default(),
            i.invoice_pdf.clone().unwrap_or_default(),
        ]));
    }
    Ok(export::response(
        &export::filename(&scope.partner.name, scope.key.id, "invoices"),
        Body::from(body),
    ))
}

/// `GET /invoices/{id}/lines.csv`.
pub async fn lines_csv(
    State(state): State<AppState>,
    scope: KeyScope,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let (invoice, _, _) = find_invoice(&state, &scope, &id).await?;
    scope
        .audit(
            &state,
            "csv_download",
            &format!("lines.csv of invoice {}", audit_id(&invoice)),
        )
        .await;
    let mut body = export::header_record(&[
        "invoice_number",
        "invoice_id",
        "description",
        "plan",
        "product_guess",
        "quantity",
        "unit_amount",
        "amount",
        "currency",
        "period_start",
        "period_end",
    ]);
    let number = invoice.number.clone().unwrap_or_default();
    for l in &invoice.lines {
        body.extend(export::record(&[
            number.clone(),
            id.clone(),
            l.description.clone().unwrap_or_default(),
            l.plan.clone().unwrap_or_default(),
            family_of(l).map(products::family_name).unwrap_or_default(),
            l.quantity.map(|q| q.to_string()).unwrap_or_default(),
            money_opt(l.unit_amount, &invoice.currency),
            money_cell(l.amount, &invoice.currency),
            invoice.currency.to_uppercase(),
            day_cell(l.period_start),
            last_day_cell(l.period_start, l.period_end),
        ]));
    }
    Ok(export::response(
        &export::filename(
            &scope.partner.name,
            scope.key.id,
            &format!("invoice-{}-lines", invoice_file_part(&invoice, &id)),
        ),
        Body::from(body),
    ))
}

/// `GET /invoices/{id}/reconciliation.csv`.
pub async fn reconciliation_csv(
    State(state): State<AppState>,
    scope: KeyScope,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let (invoice, _, _) = find_invoice(&state, &scope, &id).await?;
    let recon = reconcile(&state, &scope, &invoice)
        .await
        .map_err(|e| AppError::BadRequest(e.message))?;
    scope
        .audit(
            &state,
            "csv_download",
            &format!("reconciliation.csv of invoice {}", audit_id(&invoice)),
        )
        .await;
    let number = invoice.number.clone().unwrap_or_default();
    let mut body = export::header_record(&[
        "invoice_number",
        "invoice_id",
        "period_start",
        "period_end",
        "product",
        "line_kind",
        "product_ids",
        "invoiced_quantity",
        "indexed_active_sites",
        "difference",
    ]);
    for r in &recon.rows {
        body.extend(export::record(&[
            number.clone(),
            id.clone(),
            day_cell(invoice.period_start),
            last_day_cell(invoice.period_start, invoice.period_end),
            r.product.clone(),
            "product".to_owned(),
            r.ids
                .iter()
                .map(i64::to_string)
                .collect::<Vec<_>>()
                .join(" "),
            r.invoiced.to_string(),
            r.indexed.map(|n| n.to_string()).unwrap_or_default(),
            r.difference().map(|d| d.to_string()).unwrap_or_default(),
        ]));
    }
    // Credits, prorations and unmatched lines, apart from the products.
    for o in &recon.other {
        body.extend(export::record(&[
            number.clone(),
            id.clone(),
            day_cell(invoice.period_start),
            last_day_cell(invoice.period_start, invoice.period_end),
            o.description.clone(),
            o.kind.label().to_owned(),
            String::new(),
            o.quantity.map(|q| q.to_string()).unwrap_or_default(),
            String::new(),
            String::new(),
        ]));
    }
    Ok(export::response(
        &export::filename(
            &scope.partner.name,
            scope.key.id,
            &format!(
                "invoice-{}-reconciliation",
                invoice_file_part(&invoice, &id)
            ),
        ),
        Body::from(body),
    ))
}

fn slug(id: &str) -> String {
    id.chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
        .take(40)
        .collect()
}

/// How an invoice is named in the audit log: its number, else its id.
pub(crate) fn audit_id(invoice: &crate::upstream::Invoice) -> &str {
    invoice
        .number
        .as_deref()
        .or(invoice.id.as_deref())
        .unwrap_or("(no number)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_periods_last_day_is_the_day_before_its_exclusive_end() {
        use chrono::TimeZone as _;
        let t = |y, m, d| Utc.with_ymd_and_hms(y, m, d, 0, 0, 0).single();
        assert_eq!(last_day_cell(t(2026, 11, 1), t(2026, 12, 1)), "2026-11-30");
        assert_eq!(
            last_day_cell(t(2026, 11, 30), t(2026, 11, 30)),
            "2026-11-30"
        );
        assert_eq!(last_day_cell(None, t(2026, 12, 1)), "2026-12-01");
    }

    #[test]
    fn csv_money_uses_major_units() {
        assert_eq!(money_cell(19950, "usd"), "199.50");
        assert_eq!(money_cell(1200, "jpy"), "1200");
        assert_eq!(money_cell(-5, "eur"), "-0.05");
    }
}
