//! Activations, answered from the local index: search, status tabs with counts, plan filter,
//! date presets and ranges, sort, page size, per-product counts, a detail view per row, a CSV of
//! the whole view, and a "Refresh now" action. All view state lives in the query string.

use askama::Template;
use axum::{
    Form, Router,
    extract::{Path, RawQuery, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
};
use chrono::{DateTime, Datelike as _, Duration, NaiveDate, TimeZone as _, Utc};
use serde::Deserialize;

use super::{query::Pairs, select_key};
use crate::{
    auth::{check_csrf, next_url::SafeNext, session::Authed},
    error::AppError,
    export,
    index::{
        SyncState,
        query::{Filter, Row, SortBy, Status},
    },
    products,
    state::AppState,
    upstream::PartnerKey,
    web::{Layout, fmt_age, fmt_date, fmt_datetime, fmt_int, render, safe_href},
};

/// The routes of this page family.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/activations", get(activations_get))
        .route("/activations.csv", get(activations_csv))
        .route("/activations/refresh", post(refresh_post))
        .route("/activations/{id}", get(activation_get))
}

/// Page sizes offered.
pub const PAGE_SIZES: &[u32] = &[20, 50, 100, 500];

/// Date presets.
const PRESETS: &[(&str, &str)] = &[
    ("this_month", "This month"),
    ("last_month", "Last month"),
    ("last_30_days", "Last 30 days"),
    ("this_year", "This year"),
];

/// The view, as read from the query string.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct View {
    /// Selected key.
    pub key: Option<u64>,
    /// Search text.
    pub q: String,
    /// Status tab.
    pub status: Status,
    /// Product ids.
    pub plans: Vec<u64>,
    /// Current product ids only.
    pub current_plans: Vec<u64>,
    /// Date preset.
    pub preset: Option<String>,
    /// Activated from (inclusive).
    pub from: Option<NaiveDate>,
    /// Activated to (inclusive).
    pub to: Option<NaiveDate>,
    /// Active at some point from (inclusive).
    pub active_from: Option<NaiveDate>,
    /// Active at some point to (exclusive).
    pub active_to: Option<NaiveDate>,
    /// Sort column.
    pub sort: SortBy,
    /// Descending.
    pub desc: bool,
    /// Page.
    pub page: u32,
    /// Page size.
    pub per_page: u32,
}

fn status_str(s: Status) -> &'static str {
    match s {
        Status::All => "all",
        Status::Active => "active",
        Status::Cancelled => "cancelled",
    }
}

fn midnight(d: NaiveDate) -> i64 {
    d.and_hms_opt(0, 0, 0)
        .map_or(0, |t| t.and_utc().timestamp())
}

/// `[start, end]` of a preset, as inclusive days, relative to `today`.
pub fn preset_range(preset: &str, today: NaiveDate) -> Option<(NaiveDate, NaiveDate)> {
    let month_start = today.with_day(1)?;
    match preset {
        "this_month" => Some((month_start, today)),
        "last_month" => {
            let end = month_start.pred_opt()?;
            Some((end.with_day(1)?, end))
        }
        "last_30_days" => Some((today - Duration::days(29), today)),
        "this_year" => Some((NaiveDate::from_ymd_opt(today.year(), 1, 1)?, today)),
        _ => None,
    }
}

impl View {
    /// Reads and validates the query.
    pub fn parse(q: &Pairs) -> Result<Self, AppError> {
        let plans = q
            .all("plan")
            .iter()
            .map(|p| {
                products::resolve(p)
                    .ok_or_else(|| AppError::BadRequest(format!("Unknown plan {p:?}.")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let status = match q.get("status") {
            None | Some("all") => Status::All,
            Some("active") => Status::Active,
            Some("cancelled") => Status::Cancelled,
            Some(_) => {
                return Err(AppError::BadRequest(
                    "status must be all, active or cancelled.".into(),
                ));
            }
        };
        let preset = q.get("preset").map(str::to_owned);
        if let Some(p) = &preset
            && !PRESETS.iter().any(|(v, _)| v == p)
        {
            return Err(AppError::BadRequest("Unknown date preset.".into()));
        }
        let (from, to) = (q.date("from")?, q.date("to")?);
        if let (Some(f), Some(t)) = (from, to)
            && f > t
        {
            return Err(AppError::BadRequest(
                "The start date is after the end date.".into(),
            ));
        }
        let sort = match q.get("sort") {
            None => SortBy::Activated,
            Some(s) => SortBy::parse(s)
                .ok_or_else(|| AppError::BadRequest("Unknown sort column.".into()))?,
        };
        let desc = match q.get("dir") {
            None => sort != SortBy::Site && sort != SortBy::Product,
            Some("desc") => true,
            Some("asc") => false,
            Some(_) => return Err(AppError::BadRequest("dir must be asc or desc.".into())),
        };
        let per_page = q.int("per_page", 20, 1, 500)?;
        Ok(Self {
            key: q.key()?,
            q: q.get("q")
                .unwrap_or_default()
                .trim()
                .chars()
                .take(200)
                .collect(),
            status,
            plans,
            current_plans: q
                .all("current_plan")
                .iter()
                .map(|p| {
                    p.parse::<u64>().map_err(|_| {
                        AppError::BadRequest("current_plan must be product ids.".into())
                    })
                })
                .collect::<Result<_, _>>()?,
            preset,
            from,
            to,
            active_from: q.date("active_from")?,
            active_to: q.date("active_to")?,
            sort,
            desc,
            page: q.int("page", 1, 1, 10_000_000)?,
            per_page,
        })
    }

    /// The activation-date range in effect: an explicit range wins over a preset.
    pub fn range(&self, today: NaiveDate) -> (Option<NaiveDate>, Option<NaiveDate>) {
        if self.from.is_some() || self.to.is_some() {
            return (self.from, self.to);
        }
        match self.preset.as_deref().and_then(|p| preset_range(p, today)) {
            Some((a, b)) => (Some(a), Some(b)),
            None => (None, None),
        }
    }

    /// The index filter.
    pub fn filter(&self, today: NaiveDate) -> Filter {
        let (from, to) = self.range(today);
        Filter {
            search: (!self.q.is_empty()).then(|| self.q.clone()),
            status: self.status,
            plans: self.plans.iter().map(|p| *p as i64).collect(),
            current_plans: self.current_plans.iter().map(|p| *p as i64).collect(),
            activated_from: from.map(midnight),
            activated_to: to.and_then(|d| d.succ_opt()).map(midnight),
            active_during: match (self.active_from, self.active_to) {
                (Some(a), Some(b)) => Some((midnight(a), midnight(b))),
                _ => None,
            },
            sort: self.sort,
            desc: self.desc,
        }
    }

    /// Whether anything narrows the list.
    pub fn narrowed(&self) -> bool {
        !self.q.is_empty()
            || !self.plans.is_empty()
            || !self.current_plans.is_empty()
            || self.preset.is_some()
            || self.from.is_some()
            || self.to.is_some()
            || self.active_from.is_some()
    }

    /// This view's query string after `change`, for links (pages reset to 1 unless changed).
    pub fn href(&self, path: &str, key: u64, change: impl FnOnce(&mut Self)) -> String {
        let mut v = self.clone();
        v.page = 1;
        change(&mut v);
        let mut s = url::form_urlencoded::Serializer::new(String::new());
        s.append_pair("key", &key.to_string());
        if !v.q.is_empty() {
            s.append_pair("q", &v.q);
        }
        if v.status != Status::All {
            s.append_pair("status", status_str(v.status));
        }
        for p in &v.plans {
            s.append_pair("plan", &p.to_string());
        }
        for p in &v.current_plans {
            s.append_pair("current_plan", &p.to_string());
        }
        if let Some(p) = &v.preset {
            s.append_pair("preset", p);
        }
        for (name, d) in [
            ("from", v.from),
            ("to", v.to),
            ("active_from", v.active_from),
            ("active_to", v.active_to),
        ] {
            if let Some(d) = d {
                s.append_pair(name, &d.to_string());
            }
        }
        if v.sort != SortBy::Activated || !v.desc {
            s.append_pair("sort", v.sort.as_str())
                .append_pair("dir", if v.desc { "desc" } else { "asc" });
        }
        if v.per_page != 20 {
            s.append_pair("per_page", &v.per_page.to_string());
        }
        if v.page > 1 {
            s.append_pair("page", &v.page.to_string());
        }
        format!("{path}?{}", s.finish())
    }
}

/// How old the data is, and what the last refresh did.
#[derive(Debug, Clone)]
pub struct Freshness {
    /// "3 minutes ago".
    pub age: String,
    /// Exact time.
    pub at: String,
    /// A refresh runs now: "page 3 of 100".
    pub refreshing: Option<String>,
    /// The last refresh failed: why and when.
    pub failed: Option<String>,
    /// CSRF token for the Refresh form.
    pub csrf: String,
    /// Key.
    pub key: u64,
    /// Where to come back to.
    pub back: String,
}

/// Progress text of a running sync.
pub fn progress(state: &SyncState) -> String {
    match (state.pages_total, state.rows_total) {
        (Some(pages), Some(rows)) => format!(
            "{} of {} pages, {} of {} activations",
            fmt_int(state.pages_done),
            fmt_int(pages),
            fmt_int(state.rows_done),
            fmt_int(rows)
        ),
        _ => "starting".to_owned(),
    }
}

impl Freshness {
    /// From the sync state.
    pub fn new(state: &SyncState, authed: &Authed, key: u64) -> Self {
        let now = Utc::now().timestamp();
        let synced = state.synced_at.unwrap_or(now);
        Self {
            age: fmt_age(now - synced),
            at: Utc
                .timestamp_opt(synced, 0)
                .single()
                .map(|t| fmt_datetime(&t))
                .unwrap_or_default(),
            refreshing: state.running.then(|| progress(state)),
            failed: state.last_error.as_ref().map(|e| {
                let when = state
                    .failed_at
                    .map_or_else(String::new, |t| format!(" {}", fmt_age(now - t)));
                format!("The last refresh failed{when}: {e}.")
            }),
            csrf: authed.data.csrf.expose().clone(),
            key,
            back: authed.here.clone(),
        }
    }
}

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

fn ts(t: Option<i64>) -> Option<DateTime<Utc>> {
    t.and_then(|t| Utc.timestamp_opt(t, 0).single())
}

fn date_or_dash(t: Option<i64>) -> String {
    ts(t).map_or_else(|| "–".to_owned(), |d| fmt_date(&d))
}

fn product_name(id: Option<i64>) -> String {
    id.map_or_else(
        || "Unknown product".to_owned(),
        |p| products::display_name(p as u64),
    )
}

fn status_of(r: &Row) -> (String, &'static str) {
    match (ts(r.cancelled_on), ts(r.disputed_on)) {
        (_, Some(d)) => (format!("Disputed {}", fmt_date(&d)), "bad"),
        (Some(c), None) => (format!("Cancelled {}", fmt_date(&c)), "muted"),
        (None, None) => ("Active".to_owned(), "ok"),
    }
}

/// The site's name as shown; upstream may send none.
fn site_name(r: &Row) -> String {
    if r.site_name.is_empty() {
        "(no name)".into()
    } else {
        r.site_name.clone()
    }
}

impl RowView {
    fn new(r: &Row, key: u64) -> Self {
        let (status, status_class) = status_of(r);
        Self {
            detail: format!("/activations/{}?key={key}", r.id),
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

/// A link with a label and a count.
#[derive(Debug, Clone)]
pub struct Facet {
    /// Label.
    pub label: String,
    /// Count, formatted.
    pub count: String,
    /// Link.
    pub href: String,
    /// Current.
    pub current: bool,
}

/// A sortable column header.
#[derive(Debug, Clone)]
pub struct SortLink {
    /// Label.
    pub label: &'static str,
    /// Link that sorts by this column (toggling the direction when already sorted).
    pub href: String,
    /// `ascending`/`descending`/`none` for aria-sort.
    pub aria: &'static str,
    /// Arrow.
    pub arrow: &'static str,
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
    fresh: Freshness,
    q: String,
    tabs: Vec<Facet>,
    products: Vec<Facet>,
    plans: Vec<PlanChoice>,
    presets: Vec<(&'static str, &'static str, bool)>,
    from: String,
    to: String,
    per_page: u32,
    page_sizes: &'static [u32],
    sort: &'static str,
    dir: &'static str,
    status: &'static str,
    active_range: Option<String>,
    columns: Vec<SortLink>,
    rows: Vec<RowView>,
    summary: String,
    empty: String,
    page: u32,
    pages: u32,
    prev_href: Option<String>,
    next_href: Option<String>,
    clear_href: Option<String>,
    csv_href: String,
    filters_open: bool,
}

#[derive(Template)]
#[template(path = "building.html")]
struct BuildingPage {
    layout: Layout,
    progress: String,
    failed: Option<String>,
    csrf: String,
    key: u64,
    back: String,
    running: bool,
}

/// The key's complete index copy (starting a sync if needed), or a sentence for a panel saying
/// why not yet, ending with `what` (e.g. "These figures appear").
pub async fn index_copy(
    state: &AppState,
    authed: &Authed,
    key: &PartnerKey,
    what: &str,
) -> Result<SyncState, String> {
    let partner_id = authed.partner().map_err(|_| "no partner".to_owned())?.id;
    let sync = match state
        .index
        .ensure_fresh(&authed.data.token, partner_id, key.id, false)
        .await
    {
        Ok((sync, _)) => sync,
        Err(e) => {
            tracing::error!(error = %e, "index state query failed");
            return Err(
                "The activations index could not be read. Try again in a moment.".to_owned(),
            );
        }
    };
    if sync.has_copy() {
        Ok(sync)
    } else {
        Err(format!(
            "The activations index for this key is being built ({}). {what} when it is ready.",
            progress(&sync)
        ))
    }
}

/// Makes sure the key has a copy (starting a sync if needed). Without a complete copy yet,
/// returns the progress page to show instead.
pub async fn indexed(
    state: &AppState,
    authed: &Authed,
    key: &PartnerKey,
    title: &str,
    nav: &'static str,
    path: &'static str,
) -> Result<Result<SyncState, Response>, AppError> {
    let partner_id = authed.partner()?.id;
    let (sync, _) = state
        .index
        .ensure_fresh(&authed.data.token, partner_id, key.id, false)
        .await
        .map_err(|e| AppError::Store(e.to_string()))?;
    if sync.has_copy() {
        return Ok(Ok(sync));
    }
    let page = BuildingPage {
        layout: Layout::for_user(state, authed, title, nav, path, Some(key)),
        progress: progress(&sync),
        failed: sync
            .last_error
            .as_ref()
            .filter(|_| !sync.running)
            .map(|e| format!("Building the index failed: {e}.")),
        csrf: authed.data.csrf.expose().clone(),
        key: key.id,
        back: authed.here.clone(),
        running: sync.running,
    };
    Ok(Err(render(StatusCode::OK, &page)?))
}

fn empty_message(view: &View, today: NaiveDate) -> String {
    let what = match view.status {
        Status::All => "activations",
        Status::Active => "active activations",
        Status::Cancelled => "cancelled activations",
    };
    let (from, to) = view.range(today);
    let when = match (from, to) {
        (Some(a), Some(b))
            if a.day() == 1
                && b.succ_opt().is_some_and(|n| n.day() == 1)
                && a.month() == b.month() =>
        {
            format!(" in {}", a.format("%B %Y"))
        }
        (Some(a), Some(b)) => format!(
            " between {} and {}",
            a.format("%-d %b %Y"),
            b.format("%-d %b %Y")
        ),
        (Some(a), None) => format!(" since {}", a.format("%-d %b %Y")),
        (None, Some(b)) => format!(" until {}", b.format("%-d %b %Y")),
        (None, None) => String::new(),
    };
    let search = if view.q.is_empty() {
        String::new()
    } else {
        format!(" matching “{}”", view.q)
    };
    let hint = if from.is_some() || to.is_some() {
        " — widen the dates"
    } else if !view.q.is_empty() {
        " — try part of the site name or address"
    } else if !view.plans.is_empty() {
        " — pick more plans"
    } else {
        ""
    };
    format!("No {what}{search}{when}{hint}.")
}

/// `GET /activations`.
/// What the list and its CSV share: the view from the query, the key, and the index (or the
/// page to show while it is not ready).
async fn list_prelude(
    state: &AppState,
    authed: &Authed,
    raw: Option<&str>,
) -> Result<Result<(View, PartnerKey, SyncState), Response>, AppError> {
    let view = View::parse(&Pairs::parse(raw))?;
    let key = select_key(authed, view.key)?;
    let ready = indexed(
        state,
        authed,
        &key,
        "Activations",
        "activations",
        "/activations",
    )
    .await?;
    Ok(ready.map(|sync| (view, key, sync)))
}

pub async fn activations_get(
    State(state): State<AppState>,
    authed: Authed,
    RawQuery(raw): RawQuery,
) -> Result<Response, AppError> {
    let (view, key, sync) = match list_prelude(&state, &authed, raw.as_deref()).await? {
        Ok(ready) => ready,
        Err(page) => return Ok(page),
    };
    let today = Utc::now().date_naive();
    let filter = view.filter(today);
    let store = |e: sqlx::Error| AppError::Store(e.to_string());
    let (facets, rows) = tokio::join!(
        state.index.facets(key.id, sync.generation, &filter),
        state
            .index
            .rows(key.id, sync.generation, &filter, view.page, view.per_page),
    );
    let facets = facets.map_err(|e| store(sqlx::Error::Protocol(e.to_string())))?;
    let rows = rows.map_err(store)?;
    let counts = facets.counts;
    let by_product = facets.products_for(view.status);
    let shown_total = facets.total(view.status);
    let pages = u32::try_from((shown_total.max(0) as u64).div_ceil(u64::from(view.per_page)))
        .unwrap_or(u32::MAX)
        .max(1);
    let k = key.id;
    let tabs = [
        (Status::All, "All", counts.all),
        (Status::Active, "Active", counts.active),
        (Status::Cancelled, "Cancelled", counts.cancelled),
    ]
    .into_iter()
    .map(|(s, label, n)| Facet {
        label: label.into(),
        count: fmt_int(n),
        href: view.href("/activations", k, |v| v.status = s),
        current: view.status == s,
    })
    .collect();
    let products = by_product
        .iter()
        .map(|(p, n)| Facet {
            label: products::display_name(*p as u64),
            count: fmt_int(*n),
            href: view.href("/activations", k, |v| v.plans = vec![*p as u64]),
            current: view.plans == [*p as u64],
        })
        .collect();
    let columns = [
        ("Site", SortBy::Site),
        ("Product", SortBy::Product),
        ("Activated", SortBy::Activated),
        ("Created", SortBy::Created),
        ("Status", SortBy::Cancelled),
    ]
    .into_iter()
    .map(|(label, col)| {
        let current = view.sort == col;
        let default_desc = !matches!(col, SortBy::Site | SortBy::Product);
        SortLink {
            label,
            href: view.href("/activations", k, |v| {
                v.desc = if current { !view.desc } else { default_desc };
                v.sort = col;
            }),
            aria: match (current, view.desc) {
                (false, _) => "none",
                (true, true) => "descending",
                (true, false) => "ascending",
            },
            arrow: match (current, view.desc) {
                (false, _) => "",
                (true, true) => "↓",
                (true, false) => "↑",
            },
        }
    })
    .collect();
    let first = (i64::from(view.page) - 1) * i64::from(view.per_page) + 1;
    let summary = if rows.is_empty() {
        String::new()
    } else {
        format!(
            "Showing {}–{} of {}",
            fmt_int(first),
            fmt_int(first + rows.len() as i64 - 1),
            fmt_int(shown_total)
        )
    };
    let (range_from, range_to) = (view.from, view.to);
    let page = ActivationsPage {
        layout: Layout::for_user(
            &state,
            &authed,
            "Activations",
            "activations",
            "/activations",
            Some(&key),
        ),
        fresh: Freshness::new(&sync, &authed, k),
        q: view.q.clone(),
        tabs,
        products,
        plans: products::PROVISIONING_NAMES
            .iter()
            .map(|(_, id)| PlanChoice {
                id: *id,
                name: products::display_name(*id),
                checked: view.plans.contains(id),
            })
            .collect(),
        presets: PRESETS
            .iter()
            .map(|(v, l)| (*v, *l, view.preset.as_deref() == Some(*v)))
            .collect(),
        from: range_from.map(|d| d.to_string()).unwrap_or_default(),
        to: range_to.map(|d| d.to_string()).unwrap_or_default(),
        per_page: view.per_page,
        page_sizes: PAGE_SIZES,
        sort: view.sort.as_str(),
        dir: if view.desc { "desc" } else { "asc" },
        status: status_str(view.status),
        active_range: match (view.active_from, view.active_to) {
            (Some(a), Some(b)) => {
                let products = if view.current_plans.is_empty() {
                    String::new()
                } else {
                    let names: Vec<String> = view
                        .current_plans
                        .iter()
                        .map(|p| products::display_name(*p))
                        .collect();
                    format!(" whose current product is {}", names.join(" or "))
                };
                Some(format!(
                    "active at some moment from {} up to {}{products}",
                    a.format("%-d %b %Y"),
                    b.format("%-d %b %Y")
                ))
            }
            _ => None,
        },
        columns,
        rows: rows.iter().map(|r| RowView::new(r, k)).collect(),
        summary,
        empty: empty_message(&view, today),
        page: view.page,
        pages,
        prev_href: (view.page > 1)
            .then(|| view.href("/activations", k, |v| v.page = view.page - 1)),
        next_href: (view.page < pages)
            .then(|| view.href("/activations", k, |v| v.page = view.page + 1)),
        clear_href: view.narrowed().then(|| format!("/activations?key={k}")),
        csv_href: view.href("/activations.csv", k, |_| {}),
        filters_open: !view.plans.is_empty()
            || view.preset.is_some()
            || view.from.is_some()
            || view.to.is_some(),
    };
    render(StatusCode::OK, &page)
}

/// One field of the detail view.
#[derive(Debug, Clone)]
pub struct Field {
    /// Label.
    pub label: &'static str,
    /// Value (untrusted text is escaped by the template).
    pub value: String,
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
    back: String,
    as_of: String,
}

/// `GET /activations/{id}`.
pub async fn activation_get(
    State(state): State<AppState>,
    authed: Authed,
    Path(id): Path<i64>,
    RawQuery(raw): RawQuery,
) -> Result<Response, AppError> {
    let q = Pairs::parse(raw.as_deref());
    let key = select_key(&authed, q.key()?)?;
    let sync = match indexed(
        &state,
        &authed,
        &key,
        "Activation",
        "activations",
        "/activations",
    )
    .await?
    {
        Ok(sync) => sync,
        Err(page) => return Ok(page),
    };
    let Some(r) = state
        .index
        .activation(key.id, sync.generation, id)
        .await
        .map_err(|e| AppError::Store(e.to_string()))?
    else {
        return Err(AppError::NotFound(format!(
            "Key {} has no activation {id}.",
            key.id
        )));
    };
    let dt = |t: Option<i64>| ts(t).map_or_else(|| "–".to_owned(), |d| fmt_datetime(&d));
    let opt = |v: Option<i64>| v.map_or_else(|| "–".to_owned(), |n| n.to_string());
    let mut fields = vec![
        Field {
            label: "Product",
            value: product_name(r.product_id),
        },
        Field {
            label: "Current product",
            value: product_name(r.current_product_id.or(r.product_id)),
        },
        Field {
            label: "Activation id",
            value: r.id.to_string(),
        },
        Field {
            label: "WordPress.com blog id",
            value: opt(r.blog_id),
        },
        Field {
            label: "Owner's WordPress.com user id",
            value: opt(r.user_id),
        },
        Field {
            label: "External user id",
            value: r.external_user_id.clone().unwrap_or_else(|| "–".into()),
        },
        Field {
            label: "Site registered",
            value: dt(r.site_registered),
        },
        Field {
            label: "Created",
            value: dt(r.created_on),
        },
        Field {
            label: "Activated",
            value: dt(r.activated_on),
        },
        Field {
            label: "Cancelled",
            value: dt(r.cancelled_on),
        },
        Field {
            label: "Disputed",
            value: dt(r.disputed_on),
        },
    ];
    if r.current_product_id == r.product_id || r.current_product_id.is_none() {
        fields.remove(1);
    }
    let (status, status_class) = status_of(&r);
    let page = ActivationPage {
        layout: Layout::for_user(
            &state,
            &authed,
            "Activation",
            "activations",
            "/activations",
            Some(&key),
        ),
        name: site_name(&r),
        href: safe_href(&r.site_url),
        url: r.site_url.clone(),
        status,
        status_class,
        fields,
        back: format!("/activations?key={}", key.id),
        as_of: sync
            .synced_at
            .map_or_else(String::new, crate::web::fmt_as_of),
    };
    render(StatusCode::OK, &page)
}

/// The refresh form.
#[derive(Debug, Deserialize)]
pub struct RefreshForm {
    csrf: Option<String>,
    key: Option<u64>,
    back: Option<String>,
}

/// `POST /activations/refresh`: forces a sync of the key.
pub async fn refresh_post(
    State(state): State<AppState>,
    authed: Authed,
    headers: HeaderMap,
    Form(form): Form<RefreshForm>,
) -> Result<Response, AppError> {
    check_csrf(&state, &headers, &authed.data, form.csrf.as_deref())?;
    let key = select_key(&authed, form.key)?;
    let partner_id = authed.partner()?.id;
    state
        .index
        .start(authed.data.token.clone(), partner_id, key.id)
        .await
        .map_err(|e| AppError::Store(e.to_string()))?;
    let back = SafeNext::parse(form.back.as_deref().unwrap_or("/activations"));
    Ok(Redirect::to(back.as_str()).into_response())
}

/// Columns of the activations export.
pub const CSV_COLUMNS: &[&str] = &[
    "activation_id",
    "site_name",
    "site_url",
    "product_id",
    "product",
    "current_product_id",
    "current_product",
    "status",
    "activated_on",
    "created_on",
    "cancelled_on",
    "disputed_on",
    "site_registered",
    "wpcom_blog_id",
    "wpcom_user_id",
    "external_user_id",
];

fn csv_row(r: Row) -> Vec<u8> {
    let iso = |t: Option<i64>| {
        ts(t)
            .map(|d| d.format("%Y-%m-%d %H:%M:%S").to_string())
            .unwrap_or_default()
    };
    let num = |n: Option<i64>| n.map(|n| n.to_string()).unwrap_or_default();
    let status = if r.disputed_on.is_some() {
        "disputed"
    } else if r.cancelled_on.is_some() {
        "cancelled"
    } else {
        "active"
    };
    export::record(&[
        r.id.to_string(),
        r.site_name,
        r.site_url,
        num(r.product_id),
        r.product_id
            .map(|p| products::display_name(p as u64))
            .unwrap_or_default(),
        num(r.current_product_id),
        r.current_product_id
            .map(|p| products::display_name(p as u64))
            .unwrap_or_default(),
        status.to_owned(),
        iso(r.activated_on),
        iso(r.created_on),
        iso(r.cancelled_on),
        iso(r.disputed_on),
        iso(r.site_registered),
        num(r.blog_id),
        num(r.user_id),
        r.external_user_id.unwrap_or_default(),
    ])
}

/// `GET /activations.csv`: every row of the current view, streamed.
pub async fn activations_csv(
    State(state): State<AppState>,
    authed: Authed,
    RawQuery(raw): RawQuery,
) -> Result<Response, AppError> {
    let partner = authed.partner()?.name.clone();
    let (view, key, sync) = match list_prelude(&state, &authed, raw.as_deref()).await? {
        Ok(ready) => ready,
        Err(page) => return Ok(page),
    };
    let rows = state.index.stream(
        key.id,
        sync.generation,
        &view.filter(Utc::now().date_naive()),
    );
    let body = export::stream(export::header_record(CSV_COLUMNS), rows, csv_row);
    Ok(export::response(
        &export::filename(&partner, key.id, "activations"),
        body,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_cover_whole_periods() {
        let today = NaiveDate::from_ymd_opt(2026, 3, 15).unwrap();
        let d = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
        assert_eq!(
            preset_range("this_month", today),
            Some((d(2026, 3, 1), today))
        );
        assert_eq!(
            preset_range("last_month", today),
            Some((d(2026, 2, 1), d(2026, 2, 28)))
        );
        assert_eq!(
            preset_range("last_30_days", today),
            Some((d(2026, 2, 14), today))
        );
        assert_eq!(
            preset_range("this_year", today),
            Some((d(2026, 1, 1), today))
        );
        assert_eq!(
            preset_range("last_month", d(2026, 1, 5)),
            Some((d(2025, 12, 1), d(2025, 12, 31)))
        );
    }

    #[test]
    fn views_round_trip_through_their_links() {
        let q = Pairs::parse(Some(
            "key=70&q=bakery&status=cancelled&plan=personal&plan=2106&preset=last_month&sort=site&dir=asc&per_page=50&page=3",
        ));
        let v = View::parse(&q).unwrap();
        let href = v.href("/activations", 70, |x| x.page = 3);
        let again = View::parse(&Pairs::parse(href.split_once('?').map(|(_, q)| q))).unwrap();
        assert_eq!(again, View { key: Some(70), ..v });
    }

    #[test]
    fn invalid_views_are_refused() {
        for bad in [
            "status=gone",
            "sort=size",
            "dir=up",
            "preset=someday",
            "per_page=0",
            "plan=nope",
            "from=2024-05-01&to=2024-04-01",
        ] {
            assert!(View::parse(&Pairs::parse(Some(bad))).is_err(), "{bad}");
        }
    }

    #[test]
    fn empty_states_say_what_to_change() {
        let today = NaiveDate::from_ymd_opt(2026, 4, 10).unwrap();
        let v = View {
            status: Status::Cancelled,
            from: NaiveDate::from_ymd_opt(2026, 3, 1),
            to: NaiveDate::from_ymd_opt(2026, 3, 31),
            ..View::default()
        };
        assert_eq!(
            empty_message(&v, today),
            "No cancelled activations in March 2026 — widen the dates."
        );
    }
}
