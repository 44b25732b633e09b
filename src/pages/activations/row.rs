//! One activation as the list and the detail page show it: names, dates, product and status.

use chrono::{DateTime, TimeZone as _, Utc};

use crate::{
    index::query::Row,
    products,
    web::{fmt_date, safe_href},
};

/// A list row.
#[derive(Debug, Clone)]
pub struct RowView {
    /// Detail link.
    pub detail: String,
    /// Name (untrusted, escaped by the template).
    pub name: String,
    /// URL text.
    pub url: String,
    /// Link target (http(s) only).
    pub href: Option<String>,
    /// Product.
    pub product: String,
    /// Current product when different.
    pub current: Option<String>,
    /// Activated.
    pub activated: String,
    /// Created.
    pub created: String,
    /// Status.
    pub status: String,
    /// Status class.
    pub status_class: &'static str,
}

pub(super) fn ts(t: Option<i64>) -> Option<DateTime<Utc>> {
    t.and_then(|t| Utc.timestamp_opt(t, 0).single())
}

pub(super) fn date_or_dash(t: Option<i64>) -> String {
    ts(t).map_or_else(|| "–".to_owned(), |d| fmt_date(&d))
}

pub(super) fn product_name(id: Option<i64>) -> String {
    id.map_or_else(
        || "Unknown product".to_owned(),
        |p| products::display_name(p as u64),
    )
}

pub(super) fn status_of(r: &Row) -> (String, &'static str) {
    match (ts(r.cancelled_on), ts(r.disputed_on)) {
        (_, Some(d)) => (format!("Disputed {}", fmt_date(&d)), "bad"),
        (Some(c), None) => (format!("Cancelled {}", fmt_date(&c)), "muted"),
        (None, None) => ("Active".to_owned(), "ok"),
    }
}

/// The site's name as shown; upstream may send none.
pub(super) fn site_name(r: &Row) -> String {
    if r.site_name.is_empty() {
        "(no name)".into()
    } else {
        r.site_name.clone()
    }
}

impl RowView {
    /// The row of `r`; its detail link carries `list` (the list's query string, `?key=…`) so
    /// that the detail page's way back returns to exactly this list.
    pub(super) fn new(r: &Row, key: u64, list: &str) -> Self {
        let (status, status_class) = status_of(r);
        let back: String =
            url::form_urlencoded::byte_serialize(list.strip_prefix('?').unwrap_or(list).as_bytes())
                .collect();
        Self {
            detail: format!("/activations/{}?key={key}&list={back}", r.id),
            name: site_name(r),
            href: safe_href(&r.site_url),
            url: r.site_url.clone(),
            product: product_name(r.product_id),
            current: r
                .current_product_id
                .filter(|c| Some(*c) != r.product_id)
                .map(|c| product_name(Some(c))),
            activated: date_or_dash(r.activated_on),
            created: date_or_dash(r.created_on),
            status,
            status_class,
        }
    }
}
