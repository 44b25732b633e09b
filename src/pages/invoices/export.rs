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
        "currency",
        "total",
        "amount_due",
        "created",
        "period_start",
        "period_end",
        "due_date",
        "hosted_invoice_url",
        "invoice_pdf",
    ]);
    for i in &entry.value.invoices {
        body.extend(export::record(&[
            i.id.clone().unwrap_or_default(),
            i.number.clone().unwrap_or_default(),
            i.status.label().to_owned(),
            i.currency.to_uppercase(),
            money_cell(i.total, &i.currency),
            i.amount_due
                .map(|a| money_cell(a, &i.currency))
                .unwrap_or_default(),
            day_cell(i.created),
            day_cell(i.period_start),
            day_cell(i.period_end),
            day_cell(i.due_date),
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
        "invoice_id",
        "description",
        "plan",
        "product_guess",
        "quantity",
        "amount",
        "currency",
        "period_start",
        "period_end",
    ]);
    for l in &invoice.lines {
        body.extend(export::record(&[
            id.clone(),
            l.description.clone().unwrap_or_default(),
            l.plan.clone().unwrap_or_default(),
            family_of(l).map(products::family_name).unwrap_or_default(),
            l.quantity.map(|q| q.to_string()).unwrap_or_default(),
            money_cell(l.amount, &invoice.currency),
            invoice.currency.to_uppercase(),
            day_cell(l.period_start),
            day_cell(l.period_end),
        ]));
    }
    Ok(export::response(
        &export::filename(
            &scope.partner.name,
            scope.key.id,
            &format!("invoice-{}-lines", slug(&id)),
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
    let mut body = export::header_record(&[
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
            id.clone(),
            day_cell(invoice.period_start),
            day_cell(invoice.period_end),
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
            id.clone(),
            day_cell(invoice.period_start),
            day_cell(invoice.period_end),
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
            &format!("invoice-{}-reconciliation", slug(&id)),
        ),
        Body::from(body),
    ))
}

fn slug(id: &str) -> String {
    id.chars()
        .filter(char::is_ascii_alphanumeric)
        .take(40)
        .collect()
}

/// How an invoice is named in the audit log: its number, else its id.
pub(super) fn audit_id(invoice: &crate::upstream::Invoice) -> &str {
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
    fn csv_money_uses_major_units() {
        assert_eq!(money_cell(19950, "usd"), "199.50");
        assert_eq!(money_cell(1200, "jpy"), "1200");
        assert_eq!(money_cell(-5, "eur"), "-0.05");
    }
}
