//! Activations: the upstream's paged list with its filters (plans, activation dates, page,
//! page size). All state lives in the query string.

use askama::Template;
use axum::{
    extract::{RawQuery, State},
    http::StatusCode,
    response::Response,
};
use chrono::{Duration, NaiveDate};

use super::{query::Pairs, select_key};
use crate::{
    app::AppState,
    auth::session::Authed,
    error::AppError,
    products,
    upstream::{Activation, ActivationQuery},
    web::{Layout, fmt_date, fmt_int, fmt_opt_date, render, safe_href},
};

/// Page sizes offered.
pub const PAGE_SIZES: &[u32] = &[10, 20, 50, 100];

/// The filters of the activations page, from its query string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    /// Selected key.
    pub key: Option<u64>,
    /// 1-based page.
    pub page: u32,
    /// Rows per page.
    pub per_page: u32,
    /// Product ids.
    pub plans: Vec<u64>,
    /// Activated on or after (inclusive).
    pub from: Option<NaiveDate>,
    /// Activated on or before (inclusive).
    pub to: Option<NaiveDate>,
}

impl Filter {
    /// Reads and validates the page's query.
    pub fn parse(q: &Pairs) -> Result<Self, AppError> {
        let plans = q
            .all("plan")
            .iter()
            .map(|p| {
                products::resolve(p)
                    .ok_or_else(|| AppError::BadRequest(format!("Unknown plan {p:?}.")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let (from, to) = (q.date("from")?, q.date("to")?);
        if let (Some(f), Some(t)) = (from, to)
            && f > t
        {
            return Err(AppError::BadRequest(
                "The start date is after the end date.".into(),
            ));
        }
        Ok(Self {
            key: q.key()?,
            page: q.int("page", 1, 1, 1_000_000)?,
            per_page: q.int("per_page", 20, 1, 100)?,
            plans,
            from,
            to,
        })
    }

    /// The upstream query. Inclusive dates become the upstream's exclusive bounds.
    pub fn upstream(&self) -> ActivationQuery {
        ActivationQuery {
            page: self.page,
            per_page: self.per_page,
            plans: self.plans.iter().map(u64::to_string).collect(),
            activated_after: self.from.and_then(|d| d.and_hms_opt(0, 0, 0)).map(|t| {
                (t - Duration::seconds(1))
                    .format("%Y-%m-%d %H:%M:%S")
                    .to_string()
            }),
            activated_before: self
                .to
                .and_then(|d| d.succ_opt())
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string()),
        }
    }

    /// This filter's query string, with `page` replaced.
    pub fn href(&self, key: u64, page: u32) -> String {
        let mut s = url::form_urlencoded::Serializer::new(String::new());
        s.append_pair("key", &key.to_string());
        for p in &self.plans {
            s.append_pair("plan", &p.to_string());
        }
        if let Some(f) = self.from {
            s.append_pair("from", &f.to_string());
        }
        if let Some(t) = self.to {
            s.append_pair("to", &t.to_string());
        }
        if self.per_page != 20 {
            s.append_pair("per_page", &self.per_page.to_string());
        }
        if page > 1 {
            s.append_pair("page", &page.to_string());
        }
        format!("/activations?{}", s.finish())
    }
}

/// One table row, formatted.
#[derive(Debug, Clone)]
pub struct Row {
    /// Site name (untrusted, escaped by the template).
    pub name: String,
    /// Site URL as text.
    pub url: String,
    /// Link target, only for http(s) URLs.
    pub href: Option<String>,
    /// Product.
    pub product: String,
    /// Current product, when different.
    pub current_product: Option<String>,
    /// Activated date.
    pub activated: String,
    /// Status text.
    pub status: String,
    /// Status CSS class.
    pub status_class: &'static str,
    /// Blog id.
    pub blog_id: String,
}

impl Row {
    fn new(a: &Activation) -> Self {
        let url = a.site_url.clone().unwrap_or_default();
        let product = a
            .product_id
            .map_or_else(|| "Unknown product".to_owned(), products::display_name);
        let current_product = a
            .current_product_id
            .filter(|c| Some(*c) != a.product_id)
            .map(products::display_name);
        let (status, status_class) = match (&a.cancelled_on, &a.disputed_on) {
            (_, Some(d)) => (format!("Disputed {}", fmt_date(d)), "bad"),
            (Some(c), None) => (format!("Cancelled {}", fmt_date(c)), "muted"),
            (None, None) => ("Active".to_owned(), "ok"),
        };
        Self {
            name: a.site_name.clone().unwrap_or_else(|| "(no name)".into()),
            href: safe_href(&url),
            url,
            product,
            current_product,
            activated: fmt_opt_date(a.activated_on.as_ref()),
            status,
            status_class,
            blog_id: a.blog_id.map_or_else(String::new, |b| b.to_string()),
        }
    }
}

/// A plan checkbox.
#[derive(Debug, Clone)]
pub struct PlanChoice {
    /// Product id.
    pub id: u64,
    /// Name.
    pub name: String,
    /// Checked.
    pub checked: bool,
}

#[derive(Template)]
#[template(path = "activations.html")]
struct ActivationsPage {
    layout: Layout,
    rows: Vec<Row>,
    plans: Vec<PlanChoice>,
    from: String,
    to: String,
    per_page: u32,
    page_sizes: &'static [u32],
    total: String,
    range: String,
    page: u32,
    pages: u32,
    prev_href: Option<String>,
    next_href: Option<String>,
    filtered: bool,
    clear_href: String,
}

/// `GET /activations`.
pub async fn activations_get(
    State(state): State<AppState>,
    authed: Authed,
    RawQuery(raw): RawQuery,
) -> Result<Response, AppError> {
    let filter = Filter::parse(&Pairs::parse(raw.as_deref()))?;
    let key = select_key(&authed, filter.key)?;
    let partner_id = authed.partner()?.id;
    let list = match state
        .wpcom
        .activations(&authed.data.token, partner_id, key.id, &filter.upstream())
        .await
    {
        Ok(l) => l,
        Err(e) => return Err(authed.upstream_failed(e).await),
    };
    let pages = u32::try_from(list.total.div_ceil(u64::from(filter.per_page)))
        .unwrap_or(u32::MAX)
        .max(1);
    let first = u64::from(filter.page - 1) * u64::from(filter.per_page) + 1;
    let last = first + list.activations.len() as u64 - 1;
    let range = if list.activations.is_empty() {
        String::new()
    } else {
        format!("{}–{}", fmt_int(first as i64), fmt_int(last as i64))
    };
    let plans = products::PROVISIONING_NAMES
        .iter()
        .map(|(_, id)| PlanChoice {
            id: *id,
            name: products::display_name(*id),
            checked: filter.plans.contains(id),
        })
        .collect();
    let page = ActivationsPage {
        layout: Layout::for_user(
            &state,
            &authed,
            "Activations",
            "activations",
            "/activations",
            Some(&key),
        ),
        rows: list.activations.iter().map(Row::new).collect(),
        plans,
        from: filter.from.map(|d| d.to_string()).unwrap_or_default(),
        to: filter.to.map(|d| d.to_string()).unwrap_or_default(),
        per_page: filter.per_page,
        page_sizes: PAGE_SIZES,
        total: fmt_int(list.total as i64),
        range,
        page: filter.page,
        pages,
        prev_href: (filter.page > 1).then(|| filter.href(key.id, filter.page - 1)),
        next_href: (filter.page < pages).then(|| filter.href(key.id, filter.page + 1)),
        filtered: !filter.plans.is_empty() || filter.from.is_some() || filter.to.is_some(),
        clear_href: format!("/activations?key={}", key.id),
    };
    render(StatusCode::OK, &page)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inclusive_dates_become_exclusive_upstream_bounds() {
        let q = Pairs::parse(Some(
            "from=2024-03-01&to=2024-03-31&plan=personal&plan=2106&page=2",
        ));
        let f = Filter::parse(&q).unwrap();
        let up = f.upstream();
        assert_eq!(up.activated_after.as_deref(), Some("2024-02-29 23:59:59"));
        assert_eq!(up.activated_before.as_deref(), Some("2024-04-01 00:00:00"));
        assert_eq!(up.plans, vec!["2005", "2106"]);
        assert_eq!(up.page, 2);
        assert_eq!(
            f.href(70, 3),
            "/activations?key=70&plan=2005&plan=2106&from=2024-03-01&to=2024-03-31&page=3"
        );
    }

    #[test]
    fn invalid_filters_are_refused() {
        for bad in [
            "page=0",
            "per_page=5000",
            "from=yesterday",
            "plan=nope",
            "from=2024-05-01&to=2024-04-01",
            "key=x",
        ] {
            assert!(Filter::parse(&Pairs::parse(Some(bad))).is_err(), "{bad}");
        }
    }
}
