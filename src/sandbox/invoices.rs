//! Stripe-shaped past and upcoming invoices generated from the seed, and the hosted invoice and
//! PDF pages their links point at.

use std::collections::BTreeMap;

use axum::{
    Json,
    extract::Path,
    http::{StatusCode, header},
    response::{Html, IntoResponse, Response},
};
use serde_json::{Value, json};

use super::{
    Sandbox,
    data::{self, Activation, KEY_PRODUCTION, SeedData},
    options::{InvoicesStyle, SandboxOptions},
    wpcom::v2_error,
};
use crate::products;

/// The number of the past invoice whose first line bills one site too many.
pub const DISCREPANT_INVOICE: u32 = 8;

pub(super) fn stripe(sb: &Sandbox, key_id: u64, what: &str) -> Response {
    let derived = sb.data();
    match what {
        "invoices" => {
            let mut list = derived.invoices.get(&key_id).cloned().unwrap_or_default();
            let partial = sb.options().partial_lists;
            let has_more = partial && list.len() > PARTIAL_INVOICES;
            if partial {
                list.truncate(PARTIAL_INVOICES);
                list.iter_mut().for_each(partial_lines);
            }
            match sb.options().invoices_style {
                InvoicesStyle::Array => Json(Value::Array(list)).into_response(),
                InvoicesStyle::List => Json(json!({ "object": "list", "data": list, "has_more": has_more, "url": "/v1/invoices" })).into_response(),
            }
        }
        "upcoming-invoice" => match derived.upcoming.get(&key_id) {
            Some(inv) => {
                let mut inv = inv.clone();
                if sb.options().partial_lists {
                    partial_lines(&mut inv);
                }
                Json(inv).into_response()
            }
            None => v2_error(
                StatusCode::NOT_FOUND,
                "invoice_upcoming_none",
                "No upcoming invoices for customer.",
            ),
        },
        _ => {
            let start = data::midnight(data::month_start(derived.seed.anchor.date_naive()));
            let end = data::midnight(data::next_month(start.date_naive()));
            Json(json!({ "id": format!("sub_FakeKey{key_id}"), "object": "subscription", "status": "active",
                         "current_period_start": start.timestamp(), "current_period_end": end.timestamp(),
                         "items": { "object": "list", "data": [] } }))
            .into_response()
        }
    }
}

/// Invoices a partial list sends (of 12).
const PARTIAL_INVOICES: usize = 10;

/// Keeps only an invoice's first line and says there are more, as Stripe's list objects do
/// when a page is cut (`has_more`, `total_count`).
fn partial_lines(invoice: &mut Value) {
    if let Some(lines) = invoice.get_mut("lines") {
        if let Some(data) = lines.get_mut("data").and_then(Value::as_array_mut) {
            data.truncate(1);
        }
        lines["has_more"] = json!(true);
    }
}

/// Builds 12 past monthly invoices and one upcoming preview for the production key, with line
/// quantities equal to the activations active at each period's end.
pub fn generate_invoices(
    seed: &SeedData,
    options: &SandboxOptions,
    public_url: &str,
) -> (BTreeMap<u64, Vec<Value>>, BTreeMap<u64, Value>) {
    let this_month = data::month_start(seed.anchor.date_naive());
    let mut past = Vec::new();
    for back in 1..=12u32 {
        let Some(start) = this_month.checked_sub_months(chrono::Months::new(back)) else {
            continue;
        };
        let number = 13 - back;
        let status = match back {
            1 => "open",
            6 => "void",
            _ => "paid",
        };
        let id = format!("in_1Fake{:04}K70", number);
        past.push(invoice_json(
            seed,
            options,
            public_url,
            Some(&id),
            number,
            start,
            status,
        ));
    }
    let upcoming = invoice_json(seed, options, public_url, None, 0, this_month, "draft");
    let invoices = BTreeMap::from([(KEY_PRODUCTION, past), (data::KEY_STAGING, Vec::new())]);
    (invoices, BTreeMap::from([(KEY_PRODUCTION, upcoming)]))
}

pub(super) fn invoice_json(
    seed: &SeedData,
    options: &SandboxOptions,
    public_url: &str,
    id: Option<&str>,
    number: u32,
    start: chrono::NaiveDate,
    status: &str,
) -> Value {
    let period_start = data::midnight(start);
    let period_end = data::midnight(data::next_month(start));
    // Past invoices bill every site active at some moment of the period; the upcoming one
    // bills what is active today.
    let billed = |a: &&Activation| match id {
        None => a.active_at(seed.anchor),
        Some(_) => a.activated_on < period_end && a.cancelled_on.is_none_or(|c| c >= period_start),
    };
    let mut counts: BTreeMap<u64, i64> = BTreeMap::new();
    for a in seed
        .activations
        .iter()
        .filter(|a| a.key_id == KEY_PRODUCTION)
        .filter(billed)
    {
        if data::unit_price(a.current_product_id) > 0 {
            *counts.entry(a.current_product_id).or_default() += 1;
        }
    }
    // One invoice over-bills one product by a site, so reconciliation has something to find.
    if number == DISCREPANT_INVOICE
        && let Some(q) = counts.values_mut().next()
    {
        *q += 1;
    }
    let mut lines: Vec<Value> = counts
        .iter()
        .enumerate()
        .map(|(i, (product, qty))| {
            let unit = data::unit_price(*product);
            let name = products::by_id(*product).map_or("Jetpack", |p| p.name);
            let description = if options.hostile && i == 0 {
                "<script>alert('invoice')</script>".to_owned()
            } else {
                format!("{qty} × Jetpack {name} (at ${}.{:02} / month)", unit / 100, unit % 100)
            };
            json!({ "id": format!("sli_{number}_{product}"), "object": "line_item", "type": "subscription",
                    "description": description, "amount": unit * qty, "currency": "usd", "quantity": qty,
                    "period": { "start": period_start.timestamp(), "end": period_end.timestamp() },
                    "proration": false,
                    "plan": { "id": format!("jetpack-partner-{product}-monthly"), "nickname": format!("Jetpack {name}"),
                              "amount": unit, "currency": "usd", "interval": "month", "interval_count": 1,
                              "product": format!("prod_Fake{product}") } })
        })
        .collect();
    lines.push(
        json!({ "id": format!("ii_{number}_credit"), "object": "line_item", "type": "invoiceitem",
                       "description": "Credit", "amount": 0, "currency": "usd", "quantity": 1,
                       "period": { "start": period_end.timestamp(), "end": period_end.timestamp() },
                       "proration": false, "plan": null }),
    );
    let total: i64 = lines.iter().filter_map(|l| l["amount"].as_i64()).sum();
    let paid = status == "paid";
    let open = status == "open";
    let created = period_end.timestamp();
    let mut inv = json!({
        "object": "invoice", "number": id.map(|_| format!("EXHOST-{number:04}")), "status": status, "paid": paid,
        "currency": "usd", "amount_due": if status == "void" { 0 } else { total },
        "amount_paid": if paid { total } else { 0 }, "amount_remaining": if paid || status == "void" { 0 } else { total },
        "subtotal": total, "total": total, "tax": null, "created": created,
        "period_start": period_start.timestamp(), "period_end": period_end.timestamp(), "due_date": null,
        "next_payment_attempt": if open { json!(created + 3 * 86_400) } else if id.is_none() { json!(created) } else { Value::Null },
        "hosted_invoice_url": id.map(|i| format!("{public_url}/__sandbox/stripe/i/{i}")),
        "invoice_pdf": id.map(|i| format!("{public_url}/__sandbox/stripe/i/{i}/pdf")),
        "customer": "cus_FakeHost7", "subscription": "sub_FakeKey70", "collection_method": "charge_automatically",
        "attempted": paid || open, "attempt_count": if paid || open { 1 } else { 0 },
        "status_transitions": { "finalized_at": id.map(|_| created), "paid_at": if paid { json!(created + 3_600) } else { Value::Null },
                                "voided_at": if status == "void" { json!(created + 86_400) } else { Value::Null },
                                "marked_uncollectible_at": null },
        "lines": { "object": "list", "has_more": false, "total_count": lines.len(),
                   "url": format!("/v1/invoices/{}/lines", id.unwrap_or("upcoming")), "data": lines },
    });
    if let (Some(id), Some(obj)) = (id, inv.as_object_mut()) {
        obj.insert("id".into(), json!(id));
    }
    if options.stripe_legacy
        && let Some(obj) = inv.as_object_mut()
    {
        for gone in [
            "status",
            "number",
            "hosted_invoice_url",
            "invoice_pdf",
            "collection_method",
            "status_transitions",
        ] {
            obj.remove(gone);
        }
        if let Some(created) = obj.remove("created") {
            obj.insert("date".into(), created);
        }
        obj.insert("closed".into(), json!(paid || status == "void"));
        obj.insert("forgiven".into(), json!(false));
    }
    inv
}

/// A hosted invoice page (stand-in for Stripe's).
pub async fn hosted_invoice(Path(id): Path<String>) -> Html<String> {
    let safe: String = id
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(40)
        .collect();
    Html(format!(
        "<!doctype html><title>Invoice {safe}</title><h1>Sandbox invoice {safe}</h1><p>Stand-in for Stripe's hosted invoice page.</p>"
    ))
}

/// A tiny PDF (stand-in for Stripe's invoice PDF).
pub async fn invoice_pdf(Path(id): Path<String>) -> Response {
    let safe: String = id
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(40)
        .collect();
    let body = format!("%PDF-1.4\n% Sandbox invoice {safe}\n%%EOF\n");
    ([(header::CONTENT_TYPE, "application/pdf")], body).into_response()
}
