//! Invoices: the upcoming invoice (an estimate) and past invoices, each panel on its own; a
//! detail page per invoice with its lines and a reconciliation against the activations index;
//! CSV downloads of the list, of one invoice's lines and of a reconciliation.

use std::sync::Arc;

use askama::Template;
use axum::{
    Router,
    body::Body,
    extract::{Path, RawQuery, State},
    http::StatusCode,
    response::Response,
    routing::get,
};
use chrono::Utc;

use super::{activations, query::Pairs, select_key};
use crate::{
    auth::session::Authed,
    cache::{Cached, Entry, Freshness},
    error::AppError,
    export, products,
    state::AppState,
    upstream::{Invoice, InvoiceLine, PartnerKey, UpstreamError},
    web::{
        Layout, fmt_age, fmt_as_of, fmt_date, fmt_int, fmt_money, fmt_opt_date, render, safe_href,
    },
};

/// The routes of this page family.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/invoices", get(invoices_get))
        .route("/invoices.csv", get(invoices_csv))
        .route("/invoices/{id}", get(invoice_get))
        .route("/invoices/{id}/lines.csv", get(lines_csv))
        .route("/invoices/{id}/reconciliation.csv", get(reconciliation_csv))
}

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
    /// Period.
    pub period: String,
}

fn period_text(
    start: Option<&chrono::DateTime<Utc>>,
    end: Option<&chrono::DateTime<Utc>>,
) -> String {
    match (start, end) {
        (Some(s), Some(e)) => format!("{} – {}", fmt_date(s), fmt_date(e)),
        _ => "–".into(),
    }
}

fn line_description(l: &InvoiceLine) -> String {
    l.description
        .clone()
        .or_else(|| l.plan.clone())
        .unwrap_or_else(|| "–".into())
}

impl InvoiceView {
    fn new(i: &Invoice, key: u64) -> Self {
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
                    quantity: l.quantity.map_or_else(String::new, |q| q.to_string()),
                    amount: fmt_money(l.amount, &i.currency),
                    period: period_text(l.period_start.as_ref(), l.period_end.as_ref()),
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

fn stale_note(entry: &Entry, freshness: &Freshness) -> Option<String> {
    match freshness {
        Freshness::Fresh => None,
        Freshness::Stale { reason } => Some(format!(
            "WordPress.com could not be reached ({reason}); showing what it said {}.",
            fmt_age(Utc::now().timestamp() - entry.fetched_at)
        )),
    }
}

/// One of the key's cached invoice answers, fetched with the session's token on a miss.
async fn cached<F, Fut>(
    state: &AppState,
    authed: &Authed,
    key: &PartnerKey,
    endpoint: &'static str,
    fetch: F,
) -> Result<(Arc<Entry>, Freshness), UpstreamError>
where
    F: FnOnce(crate::upstream::WpClient, crate::upstream::BearerToken, u64, u64) -> Fut,
    Fut: std::future::Future<Output = Result<Cached, UpstreamError>>,
{
    let partner_id = authed
        .partner()
        .map_err(|_| UpstreamError::Forbidden {
            code: "no_partner".into(),
        })?
        .id;
    let (wpcom, token, key_id) = (state.wpcom.clone(), authed.data.token.clone(), key.id);
    state
        .cache
        .get((endpoint, key_id, String::new()), move || {
            fetch(wpcom, token, partner_id, key_id)
        })
        .await
}

async fn past_invoices(
    state: &AppState,
    authed: &Authed,
    key: &PartnerKey,
) -> Result<(Arc<Entry>, Freshness), UpstreamError> {
    cached(
        state,
        authed,
        key,
        "invoices",
        |wpcom, token, partner, key| async move {
            wpcom
                .invoices(&token, partner, key)
                .await
                .map(Cached::Invoices)
        },
    )
    .await
}

async fn upcoming_invoice(
    state: &AppState,
    authed: &Authed,
    key: &PartnerKey,
) -> Result<(Arc<Entry>, Freshness), UpstreamError> {
    cached(
        state,
        authed,
        key,
        "upcoming",
        |wpcom, token, partner, key| async move {
            wpcom
                .upcoming_invoice(&token, partner, key)
                .await
                .map(|u| Cached::Upcoming(u.map(Box::new)))
        },
    )
    .await
}

fn invoices_of(entry: &Entry) -> &[Invoice] {
    match &entry.value {
        Cached::Invoices(list) => list,
        _ => &[],
    }
}

#[derive(Template)]
#[template(path = "invoices.html")]
struct InvoicesPage {
    layout: Layout,
    upcoming: Result<Option<InvoiceView>, PanelError>,
    upcoming_stale: Option<String>,
    past: Result<Vec<InvoiceView>, PanelError>,
    past_stale: Option<String>,
    retry_href: String,
    csv_href: String,
    as_of: Option<String>,
}

/// `GET /invoices`.
pub async fn invoices_get(
    State(state): State<AppState>,
    authed: Authed,
    RawQuery(raw): RawQuery,
) -> Result<Response, AppError> {
    let q = Pairs::parse(raw.as_deref());
    let key = select_key(&authed, q.key()?)?;
    authed.partner()?;
    let (upcoming, past) = tokio::join!(
        upcoming_invoice(&state, &authed, &key),
        past_invoices(&state, &authed, &key)
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
    let as_of = past
        .as_ref()
        .ok()
        .or(upcoming.as_ref().ok())
        .map(|(e, _)| fmt_as_of(e.fetched_at));
    let upcoming_stale = upcoming.as_ref().ok().and_then(|(e, f)| stale_note(e, f));
    let past_stale = past.as_ref().ok().and_then(|(e, f)| stale_note(e, f));
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
            .map(|(e, _)| match &e.value {
                Cached::Upcoming(u) => u.as_deref().map(|i| InvoiceView::new(i, key.id)),
                _ => None,
            })
            .map_err(panel_error),
        upcoming_stale,
        past: past
            .as_ref()
            .map(|(e, _)| {
                invoices_of(e)
                    .iter()
                    .map(|i| InvoiceView::new(i, key.id))
                    .collect()
            })
            .map_err(panel_error),
        past_stale,
        retry_href: authed.here.clone(),
        csv_href: format!("/invoices.csv?key={}", key.id),
        as_of,
    };
    render(StatusCode::OK, &page)
}

/// One reconciliation row: an invoiced product beside what the index says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reconciled {
    /// Product family ("Personal"), or the line text when no product matched.
    pub product: String,
    /// Product ids of the family.
    pub ids: Vec<i64>,
    /// Quantity on the invoice's lines for this family.
    pub invoiced: i64,
    /// Sites of the family active at some moment of the period, per the index.
    pub indexed: Option<i64>,
}

impl Reconciled {
    /// `indexed - invoiced`, when both are known.
    pub fn difference(&self) -> Option<i64> {
        self.indexed.map(|n| n - self.invoiced)
    }
}

/// The product family a line bills, matched by name in its plan nickname and description.
/// This is a best guess: WordPress.com does not say which product a Stripe line is for.
pub fn family_of(line: &InvoiceLine) -> Option<&'static str> {
    let text = format!(
        "{} {}",
        line.plan.as_deref().unwrap_or(""),
        line.description.as_deref().unwrap_or("")
    )
    .to_lowercase();
    let mut names: Vec<&'static str> = products::PRODUCTS.iter().map(|p| p.name).collect();
    names.sort_by_key(|n| std::cmp::Reverse(n.len()));
    names.dedup();
    names.into_iter().find(|n| {
        let n = n.to_lowercase();
        text.match_indices(&n).any(|(i, _)| {
            let before = text[..i].chars().next_back();
            let after = text[i + n.len()..].chars().next();
            !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
        })
    })
}

/// Groups an invoice's lines by product family (unmatched lines stay on their own).
pub fn invoiced_by_family(invoice: &Invoice) -> Vec<Reconciled> {
    let mut rows: Vec<Reconciled> = Vec::new();
    for line in &invoice.lines {
        let qty = line.quantity.unwrap_or(0);
        match family_of(line) {
            Some(name) => match rows
                .iter_mut()
                .find(|r| r.product == name && !r.ids.is_empty())
            {
                Some(r) => r.invoiced += qty,
                None => rows.push(Reconciled {
                    product: name.to_owned(),
                    ids: products::PRODUCTS
                        .iter()
                        .filter(|p| p.name == name)
                        .map(|p| p.id as i64)
                        .collect(),
                    invoiced: qty,
                    indexed: None,
                }),
            },
            None if line.amount != 0 || qty != 0 => rows.push(Reconciled {
                product: line_description(line),
                ids: Vec::new(),
                invoiced: qty,
                indexed: None,
            }),
            None => {}
        }
    }
    rows
}

/// A reconciliation for display.
#[derive(Debug, Clone)]
pub struct ReconView {
    /// Product.
    pub product: String,
    /// Invoiced quantity.
    pub invoiced: String,
    /// Index count.
    pub indexed: String,
    /// Difference, signed.
    pub difference: String,
    /// CSS class of the difference.
    pub class: &'static str,
    /// The sites behind the index count.
    pub href: Option<String>,
}

/// The reconciliation of `invoice`, or why there is none.
async fn reconcile(
    state: &AppState,
    authed: &Authed,
    key: &PartnerKey,
    invoice: &Invoice,
) -> Result<Vec<Reconciled>, String> {
    let (Some(start), Some(end)) = (invoice.period_start, invoice.period_end) else {
        return Err(
            "This invoice has no billing period, so it cannot be compared with the index.".into(),
        );
    };
    let sync = activations::index_copy(state, authed, key, "The reconciliation appears").await?;
    let store = |e: sqlx::Error| {
        tracing::error!(error = %e, "reconciliation query failed");
        "The activations index could not be read. Try again in a moment.".to_owned()
    };
    let mut rows = invoiced_by_family(invoice);
    let groups: Vec<Vec<i64>> = rows.iter().map(|r| r.ids.clone()).collect();
    let counts = state
        .index
        .active_during_by_group(
            key.id,
            sync.generation,
            start.timestamp(),
            end.timestamp(),
            &groups,
        )
        .await
        .map_err(store)?;
    for (row, count) in rows.iter_mut().zip(counts) {
        if !row.ids.is_empty() {
            row.indexed = Some(count);
        }
    }
    Ok(rows)
}

fn recon_view(rows: &[Reconciled], invoice: &Invoice, key: u64) -> Vec<ReconView> {
    let day = |t: Option<chrono::DateTime<Utc>>| {
        t.map(|t| t.date_naive().to_string()).unwrap_or_default()
    };
    rows.iter()
        .map(|r| {
            let diff = r.difference();
            let mut href = None;
            if !r.ids.is_empty() {
                let mut s = url::form_urlencoded::Serializer::new(String::new());
                s.append_pair("key", &key.to_string())
                    .append_pair("active_from", &day(invoice.period_start))
                    .append_pair("active_to", &day(invoice.period_end));
                for id in &r.ids {
                    s.append_pair("current_plan", &id.to_string());
                }
                href = Some(format!("/activations?{}", s.finish()));
            }
            ReconView {
                product: r.product.clone(),
                invoiced: fmt_int(r.invoiced),
                indexed: r.indexed.map_or_else(|| "–".into(), fmt_int),
                difference: match diff {
                    None => "not matched".into(),
                    Some(0) => "0".into(),
                    Some(d) if d > 0 => format!("+{}", fmt_int(d)),
                    Some(d) => fmt_int(d),
                },
                class: match diff {
                    Some(0) => "diff-ok",
                    Some(_) => "diff-bad",
                    None => "muted",
                },
                href,
            }
        })
        .collect()
}

#[derive(Template)]
#[template(path = "invoice.html")]
struct InvoicePage {
    layout: Layout,
    invoice: InvoiceView,
    stale: Option<String>,
    as_of: String,
    recon: Result<Vec<ReconView>, String>,
    mismatches: usize,
    lines_csv: String,
    recon_csv: String,
    back: String,
}

/// Finds one past invoice (by id) through the cache.
async fn find_invoice(
    state: &AppState,
    authed: &Authed,
    key: &PartnerKey,
    id: &str,
) -> Result<(Invoice, Option<String>, String), AppError> {
    let (entry, freshness) = match past_invoices(state, authed, key).await {
        Ok(r) => r,
        Err(e) => return Err(authed.upstream_failed(e).await),
    };
    let invoice = invoices_of(&entry)
        .iter()
        .find(|i| i.id.as_deref() == Some(id))
        .cloned()
        .ok_or_else(|| AppError::NotFound(format!("Key {} has no invoice {id}.", key.id)))?;
    Ok((
        invoice,
        stale_note(&entry, &freshness),
        fmt_as_of(entry.fetched_at),
    ))
}

/// `GET /invoices/{id}`.
pub async fn invoice_get(
    State(state): State<AppState>,
    authed: Authed,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, AppError> {
    let key = select_key(&authed, Pairs::parse(raw.as_deref()).key()?)?;
    let (invoice, stale, as_of) = find_invoice(&state, &authed, &key, &id).await?;
    let recon = reconcile(&state, &authed, &key, &invoice).await;
    let mismatches = recon.as_ref().map_or(0, |rows| {
        rows.iter()
            .filter(|r| r.difference().is_some_and(|d| d != 0))
            .count()
    });
    let enc: String = url::form_urlencoded::byte_serialize(id.as_bytes()).collect();
    let page = InvoicePage {
        layout: Layout::for_user(
            &state,
            &authed,
            "Invoice",
            "invoices",
            "/invoices",
            Some(&key),
        ),
        recon: recon.map(|rows| recon_view(&rows, &invoice, key.id)),
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
    authed: Authed,
    RawQuery(raw): RawQuery,
) -> Result<Response, AppError> {
    let key = select_key(&authed, Pairs::parse(raw.as_deref()).key()?)?;
    let partner = authed.partner()?.name.clone();
    let (entry, _) = match past_invoices(&state, &authed, &key).await {
        Ok(r) => r,
        Err(e) => return Err(authed.upstream_failed(e).await),
    };
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
    for i in invoices_of(&entry) {
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
        &export::filename(&partner, key.id, "invoices"),
        Body::from(body),
    ))
}

/// `GET /invoices/{id}/lines.csv`.
pub async fn lines_csv(
    State(state): State<AppState>,
    authed: Authed,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, AppError> {
    let key = select_key(&authed, Pairs::parse(raw.as_deref()).key()?)?;
    let partner = authed.partner()?.name.clone();
    let (invoice, _, _) = find_invoice(&state, &authed, &key, &id).await?;
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
            family_of(l).unwrap_or_default().to_owned(),
            l.quantity.map(|q| q.to_string()).unwrap_or_default(),
            money_cell(l.amount, &invoice.currency),
            invoice.currency.to_uppercase(),
            day_cell(l.period_start),
            day_cell(l.period_end),
        ]));
    }
    Ok(export::response(
        &export::filename(&partner, key.id, &format!("invoice-{}-lines", slug(&id))),
        Body::from(body),
    ))
}

/// `GET /invoices/{id}/reconciliation.csv`.
pub async fn reconciliation_csv(
    State(state): State<AppState>,
    authed: Authed,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, AppError> {
    let key = select_key(&authed, Pairs::parse(raw.as_deref()).key()?)?;
    let partner = authed.partner()?.name.clone();
    let (invoice, _, _) = find_invoice(&state, &authed, &key, &id).await?;
    let rows = reconcile(&state, &authed, &key, &invoice)
        .await
        .map_err(AppError::BadRequest)?;
    let mut body = export::header_record(&[
        "invoice_id",
        "period_start",
        "period_end",
        "product",
        "product_ids",
        "invoiced_quantity",
        "indexed_active_sites",
        "difference",
    ]);
    for r in &rows {
        body.extend(export::record(&[
            id.clone(),
            day_cell(invoice.period_start),
            day_cell(invoice.period_end),
            r.product.clone(),
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
    Ok(export::response(
        &export::filename(
            &partner,
            key.id,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn line(plan: Option<&str>, description: &str, qty: i64) -> InvoiceLine {
        InvoiceLine {
            description: Some(description.into()),
            amount: qty * 100,
            quantity: Some(qty),
            plan: plan.map(Into::into),
            period_start: None,
            period_end: None,
        }
    }

    #[test]
    fn lines_map_to_product_families_by_name() {
        assert_eq!(
            family_of(&line(
                Some("Jetpack Personal"),
                "57 × Jetpack Personal (at $3.50 / month)",
                57
            )),
            Some("Personal")
        );
        assert_eq!(
            family_of(&line(None, "3 × Jetpack Scan Real-time", 3)),
            Some("Scan Real-time")
        );
        assert_eq!(
            family_of(&line(None, "Jetpack Security Daily", 1)),
            Some("Security Daily")
        );
        assert_eq!(family_of(&line(None, "Credit", 1)), None);
        assert_eq!(
            family_of(&line(None, "Personalised support", 1)),
            None,
            "whole words only"
        );
    }

    #[test]
    fn quantities_of_one_family_add_up_and_differences_are_signed() {
        let invoice = Invoice {
            id: Some("in_1".into()),
            number: None,
            status: crate::upstream::InvoiceStatus::Paid,
            currency: "usd".into(),
            total: 0,
            amount_due: None,
            created: None,
            period_start: None,
            period_end: None,
            due_date: None,
            next_payment_attempt: None,
            hosted_invoice_url: None,
            invoice_pdf: None,
            lines: vec![
                line(Some("Jetpack Personal"), "yearly", 5),
                line(Some("Jetpack Personal"), "monthly", 2),
                line(None, "Setup fee", 1),
            ],
        };
        let mut rows = invoiced_by_family(&invoice);
        assert_eq!(rows.len(), 2);
        assert_eq!(
            (rows[0].product.as_str(), rows[0].invoiced),
            ("Personal", 7)
        );
        assert!(rows[0].ids.contains(&2005) && rows[0].ids.contains(&2006));
        rows[0].indexed = Some(6);
        assert_eq!(rows[0].difference(), Some(-1));
        assert_eq!(rows[1].difference(), None);
    }

    #[test]
    fn csv_money_uses_major_units() {
        assert_eq!(money_cell(19950, "usd"), "199.50");
        assert_eq!(money_cell(1200, "jpy"), "1200");
        assert_eq!(money_cell(-5, "eur"), "-0.05");
    }
}
