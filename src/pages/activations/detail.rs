//! `GET /activations/{id}`: every field of one activation, its plan's history, the way back to
//! the list it was opened from with its neighbours there, and (for people who see money) the
//! invoices that billed its product family while it was active.

use askama::Template;
use axum::{
    extract::{Path, RawQuery, State},
    http::StatusCode,
    response::Response,
};

use chrono::Utc;

use crate::{
    auth::scope::KeyScope,
    error::AppError,
    index::query::{Row, Status},
    pages::{
        index_ready::indexed,
        invoices::{dues::past_invoice_list, invoice_href, reconciliation::family_of},
    },
    products,
    state::AppState,
    upstream::Invoice,
    web::{Layout, fmt_date, fmt_datetime, fmt_period, query::Pairs, render, safe_href},
};

use super::{
    View,
    row::{RowView, product_name, site_name, status_of, ts},
};
use crate::pages::index_ready::CopyNotice;

/// One field of the detail view.
#[derive(Debug, Clone)]
pub struct Field {
    /// Label.
    pub label: &'static str,
    /// Value (untrusted text is escaped by the template).
    pub value: String,
    /// The element id of a value that gets a Copy button (ids people paste elsewhere).
    pub copy_id: Option<&'static str>,
}

/// The activation before or after this one in the list it was opened from.
#[derive(Debug, Clone)]
pub struct Neighbour {
    /// Its detail page, carrying the list (at the neighbour's page).
    pub href: String,
    /// Its site name.
    pub name: String,
}

/// An invoice that billed this site's product family while the site was active.
#[derive(Debug, Clone)]
pub struct Billed {
    /// "EXHOST-0011".
    pub number: String,
    /// "1–31 Oct 2026".
    pub period: String,
    /// Its page here.
    pub href: Option<String>,
}

#[derive(Template)]
#[template(path = "activation.html")]
struct ActivationPage {
    layout: Layout,
    name: String,
    url: String,
    href: Option<String>,
    status: String,
    status_class: &'static str,
    fields: Vec<Field>,
    /// "Cancelled on 12 Nov 2026, 14:03 UTC, after 250 days active", when it was.
    cancelled: Option<String>,
    /// "Activated as Jetpack Personal (yearly) on 3 Mar 2026", "Now Jetpack Premium (yearly)".
    history: Vec<String>,
    back: String,
    back_label: String,
    previous: Option<Neighbour>,
    next: Option<Neighbour>,
    /// For people who see money: the invoices, or why there are none to show.
    billed: Option<Result<Vec<Billed>, String>>,
    as_of: String,
    copy: Option<CopyNotice>,
}

/// `GET /activations/{id}`.
pub async fn activation_get(
    State(state): State<AppState>,
    scope: KeyScope,
    Path(id): Path<i64>,
    RawQuery(raw): RawQuery,
) -> Result<Response, AppError> {
    let key = &scope.key;
    let list = list_view(raw.as_deref());
    let (back, back_label) = back_to_list(list.as_ref(), key.id);
    let sync = match indexed(&state, &scope, "Activation", "activations", "/activations").await? {
        Ok(sync) => sync,
        Err(page) => return Ok(page),
    };
    let Some(r) = state.index.activation(key.id, sync.generation, id).await? else {
        return Err(AppError::not_found(
            "Activation not found",
            format!(
                "No activation with that id for the {} key. It may belong to another key.",
                key.name
            ),
        ));
    };
    let (status, status_class) = status_of(&r);
    let name = site_name(&r);
    let ((previous, next), billed) = tokio::join!(
        neighbours(&state, key.id, sync.generation, list.as_ref(), r.id),
        billed(&state, &scope, &r)
    );
    let page = ActivationPage {
        layout: scope.layout(
            &state,
            &format!("{name} · Activation"),
            "activations",
            "/activations",
        ),
        name,
        href: safe_href(&r.site_url),
        url: r.site_url.clone(),
        status,
        status_class,
        fields: fields(&r),
        cancelled: cancelled(&r),
        history: history(&r),
        back,
        back_label,
        previous,
        next,
        billed,
        copy: CopyNotice::of(&sync),
        as_of: sync
            .synced_at
            .map_or_else(String::new, crate::web::fmt_as_of),
    };
    render(StatusCode::OK, &page)
}

/// The list this detail was opened from (`list=` holds its query), as a parsed view so that
/// links back can only ever be an activations list of this key.
fn list_view(raw: Option<&str>) -> Option<View> {
    Pairs::parse(raw)
        .get("list")
        .and_then(|list| View::parse(&Pairs::parse(Some(list))).ok())
}

/// The way back and what it says: to the results of a search, to a filtered list, or to all
/// activations.
fn back_to_list(list: Option<&View>, key: u64) -> (String, String) {
    let Some(v) = list else {
        return (format!("/activations?key={key}"), "All activations".into());
    };
    let label = if !v.q.is_empty() {
        format!("Back to results for “{}”", v.q)
    } else if v.narrowed() || v.status != Status::All {
        "Back to the filtered list".into()
    } else {
        "All activations".into()
    };
    (v.href("/activations", key, |x| x.page = v.page), label)
}

/// The activations before and after `id` in the list it was opened from, across page
/// boundaries; none when it was not opened from a list or is no longer in it.
async fn neighbours(
    state: &AppState,
    key: u64,
    generation: i64,
    list: Option<&View>,
    id: i64,
) -> (Option<Neighbour>, Option<Neighbour>) {
    let Some(v) = list else {
        return (None, None);
    };
    let filter = v.filter(Utc::now().date_naive());
    let page_rows = |page: u32| {
        let filter = &filter;
        async move {
            state
                .index
                .rows(key, generation, filter, page, v.per_page)
                .await
                .unwrap_or_default()
        }
    };
    let neighbour = |r: &Row, page: u32| {
        let list = v.href("", key, |x| x.page = page);
        Neighbour {
            href: RowView::new(r, key, &list).detail,
            name: site_name(r),
        }
    };
    let rows = page_rows(v.page).await;
    let Some(i) = rows.iter().position(|r| r.id == id) else {
        return (None, None);
    };
    let previous = match i.checked_sub(1).and_then(|p| rows.get(p)) {
        Some(r) => Some(neighbour(r, v.page)),
        None if v.page > 1 => page_rows(v.page - 1)
            .await
            .last()
            .map(|r| neighbour(r, v.page - 1)),
        None => None,
    };
    let next = match rows.get(i + 1) {
        Some(r) => Some(neighbour(r, v.page)),
        None if rows.len() as u32 == v.per_page => page_rows(v.page + 1)
            .await
            .first()
            .map(|r| neighbour(r, v.page + 1)),
        None => None,
    };
    (previous, next)
}

/// The cancellation as a sentence, with how long the plan was active.
fn cancelled(r: &Row) -> Option<String> {
    let at = ts(r.cancelled_on)?;
    let active = ts(r.activated_on)
        .filter(|a| *a <= at)
        .map(|a| (at - a).num_days());
    Some(match active {
        Some(1) => format!("Cancelled on {}, after 1 day active.", fmt_datetime(&at)),
        Some(d) => format!("Cancelled on {}, after {d} days active.", fmt_datetime(&at)),
        None => format!("Cancelled on {}.", fmt_datetime(&at)),
    })
}

/// The plan's history in the order it happened: activated as, now, cancelled.
fn history(r: &Row) -> Vec<String> {
    let first = product_name(r.product_id);
    let mut out = vec![match (ts(r.activated_on), ts(r.created_on)) {
        (Some(a), _) => format!("Activated as {first} on {}", fmt_date(&a)),
        (None, Some(c)) => format!("Created as {first} on {}, not activated", fmt_date(&c)),
        (None, None) => format!("Provisioned as {first}"),
    }];
    if let Some(now) = r.current_product_id.filter(|c| Some(*c) != r.product_id) {
        out.push(format!(
            "Changed to {} (WordPress.com does not say when)",
            product_name(Some(now))
        ));
    }
    if let Some(c) = ts(r.cancelled_on) {
        out.push(format!("Cancelled on {}", fmt_date(&c)));
    }
    out
}

/// The invoices with a line for the site's current product family whose period overlaps the
/// time the site was active: the invoices that billed it, as far as matching lines to
/// products by name can tell. Only for people who see money.
async fn billed(
    state: &AppState,
    scope: &KeyScope,
    r: &Row,
) -> Option<Result<Vec<Billed>, String>> {
    if !scope.authed.viewer().sees_money {
        return None;
    }
    let family = products::by_id(r.current_product_id.or(r.product_id)? as u64)?.name;
    let from = ts(r.activated_on)?;
    let until = ts(r.cancelled_on);
    // The activation is the page; which invoices billed it is a panel beside it, and is not
    // worth a wait on WordPress.com (a call that hangs takes up to 8 s). The fetch goes on in
    // the background and fills the cache for the next view.
    let fetch = tokio::spawn({
        let (state, scope) = (state.clone(), scope.clone());
        async move { past_invoice_list(&state, &scope).await }
    });
    let list = match tokio::time::timeout(crate::upstream::ASIDE_WAIT, fetch).await {
        Ok(Ok(Ok(fetched))) => fetched,
        Err(_) => {
            return Some(Err(
                "WordPress.com's invoices did not answer in time. Reload the page in a moment to see them.".into(),
            ));
        }
        Ok(_) => {
            return Some(Err(
                "WordPress.com's invoices could not be read just now.".into()
            ));
        }
    };
    let overlaps = |i: &Invoice| match (i.period_start, i.period_end) {
        (Some(s), Some(e)) => e > from && until.is_none_or(|u| s < u),
        _ => false,
    };
    Some(Ok(list
        .value
        .invoices
        .iter()
        .filter(|i| i.status != crate::upstream::InvoiceStatus::Void && overlaps(i))
        .filter(|i| i.lines.iter().any(|l| family_of(l) == Some(family)))
        .map(|i| Billed {
            number: i
                .number
                .clone()
                .or_else(|| i.id.clone())
                .unwrap_or_else(|| "–".into()),
            period: match (&i.period_start, &i.period_end) {
                (Some(s), Some(e)) => fmt_period(s, e),
                _ => "–".into(),
            },
            href: i.id.as_ref().map(|id| invoice_href(id, scope.key.id, "")),
        })
        .collect()))
}

/// Every field of the activation, in the order a support agent reads them.
fn fields(r: &Row) -> Vec<Field> {
    let dt = |t: Option<i64>| ts(t).map_or_else(|| "–".to_owned(), |d| fmt_datetime(&d));
    let opt = |v: Option<i64>| v.map_or_else(|| "–".to_owned(), |n| n.to_string());
    let field = |label, value| Field {
        label,
        value,
        copy_id: None,
    };
    let copyable = |label, value: String, id| Field {
        label,
        copy_id: (value != "–").then_some(id),
        value,
    };
    let mut fields = vec![
        field("Product", product_name(r.product_id)),
        field(
            "Current product",
            product_name(r.current_product_id.or(r.product_id)),
        ),
        copyable("Activation id", r.id.to_string(), "activation-id"),
        copyable("WordPress.com blog id", opt(r.blog_id), "blog-id"),
        copyable("Owner's WordPress.com user id", opt(r.user_id), "user-id"),
        copyable(
            "External user id",
            r.external_user_id.clone().unwrap_or_else(|| "–".into()),
            "external-user-id",
        ),
        field("Site registered", dt(r.site_registered)),
        field("Created", dt(r.created_on)),
        field("Activated", dt(r.activated_on)),
        field("Cancelled", dt(r.cancelled_on)),
        field("Disputed", dt(r.disputed_on)),
    ];
    if r.current_product_id == r.product_id || r.current_product_id.is_none() {
        fields.remove(1);
    }
    fields
}
