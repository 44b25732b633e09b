//! `GET /activations`: the list with its tabs, facets, filters, sort links and pager.

use askama::Template;
use axum::{
    extract::{RawQuery, State},
    http::StatusCode,
    response::Response,
};
use chrono::Utc;

use crate::{
    auth::scope::KeyScope,
    error::AppError,
    index::{
        SyncState,
        query::{Facets, Row, SortBy, Status, StatusCounts},
    },
    pages::index_ready::{Freshness, indexed},
    products,
    rendered::Part,
    state::AppState,
    web::{Layout, fmt_int, query::Pairs, render},
};

use super::{
    chips::{Chip, chips, hidden_fields},
    preview::copy_or_interim,
    row::RowView,
    view::{PAGE_SIZES, PRESETS, View, status_str},
};

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
    /// The `sort` value of this column.
    pub value: &'static str,
    /// Link that sorts by this column (toggling the direction when already sorted).
    pub href: String,
    /// `ascending`/`descending`/`none` for aria-sort.
    pub aria: &'static str,
    /// Arrow.
    pub arrow: &'static str,
}

/// One entry of the pager: a page number, or a gap between numbers.
#[derive(Debug, Clone)]
pub struct PageLink {
    /// The page number, formatted ("" for a gap).
    pub label: String,
    /// Link to it (`None` for a gap).
    pub href: Option<String>,
    /// The page shown.
    pub current: bool,
}

/// The pager's numbers: the first and last page, and two either side of `page`.
fn pager(view: &View, key: u64, page: u32, pages: u32) -> Vec<PageLink> {
    let mut shown: Vec<u32> = vec![1, pages];
    shown.extend(page.saturating_sub(2).max(1)..=page.saturating_add(2).min(pages));
    shown.sort_unstable();
    shown.dedup();
    let mut out = Vec::new();
    let mut last = 0;
    for n in shown {
        if n > last + 1 {
            out.push(PageLink {
                label: String::new(),
                href: None,
                current: false,
            });
        }
        out.push(PageLink {
            label: fmt_int(i64::from(n)),
            href: Some(view.href("/activations", key, |v| v.page = n)),
            current: n == page,
        });
        last = n;
    }
    out
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

/// The page: its layout and freshness line around the list, which is kept rendered.
#[derive(Template)]
#[template(path = "activations.html")]
struct ActivationsPage<'a> {
    layout: Layout,
    fresh: Freshness,
    /// The rendered [`ListPart`].
    list: &'a str,
}

/// What the page shows under its freshness line: decided by the key's copy, the address and
/// the day alone, so it is rendered once per copy generation and kept (see
/// [`crate::rendered`]). Nothing of the viewer or the session goes in it.
#[derive(Template)]
#[template(path = "activations_list.html")]
struct ListPart {
    /// The public URL's path (see [`Layout::base`]).
    base: String,
    /// The key listed.
    key_id: u64,
    q: String,
    tabs: Vec<Facet>,
    products: Vec<Facet>,
    plans: Vec<PlanChoice>,
    presets: Vec<(&'static str, &'static str, bool)>,
    from: String,
    to: String,
    cancelled_from: String,
    cancelled_to: String,
    /// The filters in effect, each removable.
    chips: Vec<Chip>,
    /// Filters the form has no control for, kept by it.
    hidden: Vec<(&'static str, String)>,
    per_page: u32,
    page_sizes: &'static [u32],
    sort: &'static str,
    dir: &'static str,
    status: &'static str,
    columns: Vec<SortLink>,
    rows: Vec<RowView>,
    summary: String,
    empty: String,
    page: u32,
    pages: u32,
    prev_href: Option<String>,
    next_href: Option<String>,
    pager: Vec<PageLink>,
    /// The hidden fields of the "go to page" form: this view without its page.
    jump_fields: Vec<(&'static str, String)>,
    clear_href: Option<String>,
    csv_href: String,
    filters_open: bool,
    /// Dates are given: the preset select shows "Custom dates".
    custom_dates: bool,
    /// What in the address could not be used, said above the list.
    problems: Vec<String>,
    /// Said when the page asked for is past the end.
    page_note: Option<String>,
}

/// What the list and its CSV share: the view from the query, and the index (or the page to
/// show while it is not ready).
pub(super) async fn list_prelude(
    state: &AppState,
    scope: &KeyScope,
    raw: Option<&str>,
) -> Result<Result<(View, SyncState), Response>, AppError> {
    let view = View::parse(&Pairs::parse(raw))?;
    let ready = indexed(state, scope, "Activations", "activations", "/activations").await?;
    Ok(ready.map(|sync| (view, sync)))
}

/// The `<title>` of a list: what it shows, and where in it.
fn list_title(view: &View, page: u32, pages: u32) -> String {
    let mut title = if view.q.is_empty() {
        "Activations".to_owned()
    } else {
        format!("Activations matching “{}”", view.q)
    };
    if pages > 1 {
        title.push_str(&format!(
            ", page {} of {}",
            fmt_int(i64::from(page)),
            fmt_int(i64::from(pages))
        ));
    }
    title
}

/// `GET /activations`: reads the view, gets the key's copy (or the page shown while there is
/// none yet), and shows the list under the copy's freshness line. The list is rendered once per
/// copy generation, day and address ([`list_part`]), then kept.
pub async fn activations_get(
    State(state): State<AppState>,
    scope: KeyScope,
    RawQuery(raw): RawQuery,
) -> Result<Response, AppError> {
    // What cannot be read is said above the list, which shows the rest (never a bare 400 page).
    let (view, problems) = View::read(&Pairs::parse(raw.as_deref()));
    let sync = match copy_or_interim(&state, &scope, &view).await? {
        Ok(sync) => sync,
        Err(page) => return Ok(page),
    };
    let k = scope.key.id;
    let today = Utc::now().date_naive();
    let name = format!(
        "activations:{k}:{}:{today}:{}",
        sync.generation,
        raw.as_deref().unwrap_or("")
    );
    let part = state
        .rendered
        .get_or_render(name, list_part(&state, k, &sync, view, problems, today))
        .await?;
    let page = ActivationsPage {
        layout: scope.layout(&state, &part.title, "activations", "/activations"),
        fresh: Freshness::new(&state, &sync, &scope),
        list: &part.html,
    };
    render(part.status, &page)
}

/// The list of key `k`'s copy `sync` for `view`, rendered: its counts and rows, what could not
/// be read of the address (`problems`), and the page's title and status.
async fn list_part(
    state: &AppState,
    k: u64,
    sync: &SyncState,
    mut view: View,
    problems: Vec<String>,
    today: chrono::NaiveDate,
) -> Result<Part, AppError> {
    let filter = view.filter(today);
    let (facets, rows) = tokio::join!(
        state.index.facets(k, sync.generation, &filter),
        state
            .index
            .rows(k, sync.generation, &filter, view.page, view.per_page),
    );
    let facets = facets?;
    let mut rows = rows?;
    let shown_total = facets.total(view.status);
    let pages = u32::try_from((shown_total.max(0) as u64).div_ceil(u64::from(view.per_page)))
        .unwrap_or(u32::MAX)
        .max(1);
    // A page past the end shows the last page, and says so.
    let page_note = (view.page > pages).then(|| past_the_end(view.page, pages));
    if page_note.is_some() {
        view.page = pages;
        rows = state
            .index
            .rows(k, sync.generation, &filter, view.page, view.per_page)
            .await?;
    }
    let mut list = ListPart::new(
        state.config.base_path().to_owned(),
        &Listed {
            view: &view,
            key: k,
            facets: &facets,
            rows: &rows,
            pages,
            today,
        },
    );
    list.page_note = page_note;
    list.problems = problems;
    let status = if list.problems.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    let html = list
        .render()
        .map_err(|e| AppError::Internal(format!("template: {e}")))?;
    Ok(Part {
        status,
        title: list_title(&view, view.page, pages),
        html,
        figure: None,
        cuts: Vec::new(),
    })
}

/// What a list says when the page asked for is past its end.
fn past_the_end(asked: u32, pages: u32) -> String {
    format!(
        "There is no page {}: this list has {} page{}. Showing the last one.",
        fmt_int(i64::from(asked)),
        fmt_int(i64::from(pages)),
        if pages == 1 { "" } else { "s" }
    )
}

/// The status tabs, each with its count and link.
fn tabs(view: &View, k: u64, counts: &StatusCounts) -> Vec<Facet> {
    [
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
    .collect()
}

/// The column headers, each a link that sorts by it (or turns the order round).
fn sort_links(view: &View, k: u64) -> Vec<SortLink> {
    [
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
            value: col.as_str(),
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
    .collect()
}

/// What one page of the list shows.
struct Listed<'a> {
    view: &'a View,
    key: u64,
    facets: &'a Facets,
    /// The page's rows: page `view.page` of `pages`.
    rows: &'a [Row],
    pages: u32,
    today: chrono::NaiveDate,
}

impl ListPart {
    /// The list of `listed`, its links under `base`.
    fn new(base: String, listed: &Listed<'_>) -> Self {
        let Listed {
            view,
            key: k,
            facets,
            rows,
            pages,
            today,
        } = *listed;
        let shown_total = facets.total(view.status);
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
        let list_query = view.href("", k, |v| v.page = view.page);
        Self {
            base,
            key_id: k,
            q: view.q.clone(),
            tabs: tabs(view, k, &facets.counts),
            products: facets
                .products_for(view.status)
                .iter()
                .map(|(p, n)| Facet {
                    label: products::display_name(*p as u64),
                    count: fmt_int(*n),
                    href: view.href("/activations", k, |v| v.current_plans = vec![*p as u64]),
                    current: view.current_plans == [*p as u64],
                })
                .collect(),
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
            from: view.from.map(|d| d.to_string()).unwrap_or_default(),
            to: view.to.map(|d| d.to_string()).unwrap_or_default(),
            cancelled_from: view
                .cancelled_from
                .map(|d| d.to_string())
                .unwrap_or_default(),
            cancelled_to: view.cancelled_to.map(|d| d.to_string()).unwrap_or_default(),
            chips: chips(view, k),
            hidden: hidden_fields(view),
            per_page: view.per_page,
            page_sizes: PAGE_SIZES,
            sort: view.sort.as_str(),
            dir: if view.desc { "desc" } else { "asc" },
            status: status_str(view.status),
            columns: sort_links(view, k),
            rows: rows
                .iter()
                .map(|r| RowView::new(r, k, &list_query))
                .collect(),
            summary,
            empty: view.empty_message(today),
            page: view.page,
            pages,
            prev_href: (view.page > 1)
                .then(|| view.href("/activations", k, |v| v.page = view.page - 1)),
            next_href: (view.page < pages)
                .then(|| view.href("/activations", k, |v| v.page = view.page + 1)),
            pager: pager(view, k, view.page, pages),
            jump_fields: view
                .pairs(k, |_| {})
                .into_iter()
                .filter(|(n, _)| *n != "page")
                .collect(),
            custom_dates: view.from.is_some() || view.to.is_some(),
            page_note: None,
            clear_href: view.narrowed().then(|| format!("/activations?key={k}")),
            csv_href: view.href("/activations.csv", k, |_| {}),
            filters_open: !view.plans.is_empty()
                || view.preset.is_some()
                || view.from.is_some()
                || view.to.is_some()
                || view.cancelled_from.is_some()
                || view.cancelled_to.is_some(),
            problems: Vec::new(),
        }
    }
}
