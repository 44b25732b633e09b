//! Overview: one period control drives the page. Cards for the chosen period compared like
//! with like, a chart of active plans and of new and cancelled, a product table with the same
//! period's change per product and product line, and month by month; a row of the product
//! table narrows all of it to that product or line. WordPress.com's own summary stays beside,
//! as a table and a cross-check of the copy.

mod cards;
mod chart;
pub mod periods;
mod selection;
mod table;

use std::sync::Arc;

use askama::Template;
use axum::{
    extract::{RawQuery, State},
    http::StatusCode,
    response::Response,
};
use chrono::{NaiveDate, Utc};

use self::{
    cards::{Card, Figures, cards},
    chart::{Chart, chart},
    periods::{Step, buckets, periods},
    selection::{Links, Selection},
    table::{MonthRow, ProductRow, month_rows, month_spans, product_rows},
};
use super::{
    index_ready::{Freshness, NotReady, index_copy},
    invoices::dues::dues,
    panel::{PanelError, stale_note},
};
use crate::{
    auth::scope::KeyScope,
    cache::Fetched,
    error::AppError,
    index::{Change, DaySpan},
    products,
    rendered::Part,
    state::AppState,
    upstream::{Scale, SummaryPoint, UpstreamError},
    web::{Layout, fmt_as_of, fmt_days, fmt_int, query::Pairs, render},
};

/// A row of WordPress.com's summary table.
#[derive(Debug, Clone)]
pub struct Row {
    /// Period label.
    pub period: String,
    /// New activations.
    pub new: String,
    /// Active at period end.
    pub total: String,
}

/// What the copy contributes to the overview: its part, rendered ([`CopyPart`]), and the
/// freshness line rendered for this request.
#[derive(Debug, Clone)]
pub struct IndexPanels {
    /// The rendered [`CopyPart`], kept per copy generation, address, day and minute.
    part: Arc<Part>,
    /// Freshness bar.
    pub fresh: Freshness,
    /// Active plans now, every product, per the copy.
    pub active_now: i64,
}

impl IndexPanels {
    /// Piece `n` of the rendered part: the heading, the cards, the chart, the tables.
    pub fn piece(&self, n: usize) -> &str {
        self.part.piece(n)
    }
}

/// Divides [`CopyPart`]'s pieces; escaped data never holds a `<`.
const SPLIT: &str = "<!--piece-->";

/// What the overview shows of the copy, rendered once per copy generation, address, day and
/// minute (the "active now" figures move with the minute) and kept (see [`crate::rendered`]).
/// Nothing of the viewer or the session goes in it.
#[derive(Template)]
#[template(path = "overview_copy.html")]
struct CopyPart {
    /// The public URL's path (see [`Layout::base`]).
    base: String,
    /// [`SPLIT`].
    split: &'static str,
    /// The cards for the chosen period.
    cards: Vec<Card>,
    /// The chart of the chosen period and the one before.
    chart: Option<Chart>,
    /// The product table.
    products: Vec<ProductRow>,
    /// Last 12 months, newest first.
    months: Vec<MonthRow>,
    /// "1–2 Dec 2026".
    period_words: String,
}

/// WordPress.com's summary and the copy disagree about how many plans are active.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Crosscheck {
    /// The summary's latest total, formatted.
    pub summary: String,
    /// The copy's active count, formatted.
    pub copy: String,
}

impl Crosscheck {
    /// Said when the two differ by more than activity between the copy and the summary call
    /// explains: more than 2 plans and more than 0.5 %.
    pub fn of(summary: i64, copy: i64) -> Option<Self> {
        let allowed = (summary.max(copy) / 200).max(2);
        ((summary - copy).abs() > allowed).then(|| Self {
            summary: fmt_int(summary),
            copy: fmt_int(copy),
        })
    }
}

/// WordPress.com's summary.
#[derive(Debug, Clone)]
pub struct SummaryPanel {
    /// Table rows, newest first, rendered ([`SummaryRows`]) and kept per answer and day.
    pub rows: Arc<Part>,
    /// Active plans at the end of the latest period, per WordPress.com.
    pub latest_total: Option<i64>,
    /// Periods shown.
    pub shown: usize,
    /// Periods available.
    pub total_periods: usize,
    /// Set when the upstream failed and this is the last good answer.
    pub stale: Option<String>,
    /// How old the answer is.
    pub as_of: String,
}

#[derive(Template)]
#[template(path = "overview.html")]
struct OverviewPage {
    layout: Layout,
    /// The summary's scale.
    scale: &'static str,
    period_label: &'static str,
    periods: Vec<(&'static str, &'static str, String)>,
    /// What the page is narrowed to, and the link back to every product.
    selection: Option<(String, String)>,
    /// The rendered banners (see [`dues`]).
    dues: Option<Arc<Part>>,
    summary: Result<SummaryPanel, PanelError>,
    index: Result<IndexPanels, NotReady>,
    crosscheck: Option<Crosscheck>,
    retry_href: String,
}

/// A span in words: "in 1–2 Dec".
fn span_words((first, end): DaySpan, with_year: bool) -> String {
    format!(
        "in {}",
        fmt_days(first, end.pred_opt().unwrap_or(first), with_year)
    )
}

/// What the copy says for the chosen period, narrowed to `links.selection`: rendered once per
/// copy generation, address, day and minute ([`copy_part`]), then kept.
async fn index_panels(
    state: &AppState,
    scope: &KeyScope,
    links: &Links,
    today: NaiveDate,
) -> Result<IndexPanels, NotReady> {
    let sync = index_copy(state, scope, "These figures fill in").await?;
    let now = Utc::now().timestamp();
    let name = format!(
        "overview:{}:{today}:{}:{}",
        sync.generation,
        now / 60,
        links.with_period(links.period)
    );
    let part = state
        .rendered
        .get_or_render(
            name,
            copy_part(state, scope.key.id, sync.generation, links, today, now),
        )
        .await?;
    Ok(IndexPanels {
        active_now: part.figure.unwrap_or_default(),
        part,
        fresh: Freshness::new(state, &sync, scope),
    })
}

/// The overview's part of copy `generation` of `key`, rendered, with the copy's active plans
/// as its figure.
async fn copy_part(
    state: &AppState,
    key: u64,
    generation: i64,
    links: &Links,
    today: NaiveDate,
    now: i64,
) -> Result<Part, NotReady> {
    let unknown = || NotReady::unreadable(&"unknown period");
    let span = periods(links.period, today).ok_or_else(unknown)?;
    let bars = buckets(links.period, today).ok_or_else(unknown)?;
    let months = month_spans(today);
    let (current, previous) = span.days();
    let mut spans = vec![current, previous];
    spans.extend(bars.spans.iter().copied());
    spans.extend(months.iter().copied());
    let (changes, figures) = tokio::join!(
        state.index.changes(key, generation, &spans),
        state
            .index
            .figures(key, generation, vec![span.current], now),
    );
    let changes = changes.map_err(|e| NotReady::unreadable(&e))?;
    let figures = figures.map_err(|e| NotReady::unreadable(&e))?;
    let ids = links.selection.ids();
    let summed = changes.sum(ids.as_deref(), spans.len());
    let active_of = |only: &dyn Fn(i64) -> bool| -> i64 {
        figures
            .by_product
            .iter()
            .filter(|(p, _)| only(*p))
            .map(|(_, n)| n)
            .sum()
    };
    let active_now = match links.selection {
        Selection::All => figures.active_now,
        _ => active_of(&|p| links.selection.counts(p)),
    };
    let free = products::FREE as i64;
    let free_counted = links.selection.counts(free);
    let free_start = changes
        .products
        .get(&free)
        .and_then(|c| c.first())
        .filter(|_| free_counted)
        .map_or(0, |c| c.active_start);
    let with_year = {
        use chrono::Datelike as _;
        current.0.year() != previous.0.year() || links.period == "year"
    };
    let period_words = span_words(current, with_year);
    let previous_words = span_words(previous, with_year);
    let start_words = crate::web::fmt_day_month(&current.0);
    let cards = cards(&Figures {
        current: summed[0],
        previous: summed[1],
        active_now,
        free_now: if free_counted {
            active_of(&|p| p == free)
        } else {
            0
        },
        free_start,
        period_words: &period_words,
        previous_words: &previous_words,
        start_words: &start_words,
    });
    let bar_changes: &[Change] = &summed[2..2 + bars.spans.len()];
    let month_changes: &[Change] = &summed[2 + bars.spans.len()..];
    let part = CopyPart {
        base: state.config.base_path().to_owned(),
        split: SPLIT,
        cards,
        chart: chart(
            bars.step,
            &bars.spans,
            bar_changes,
            bars.current_from,
            today,
        ),
        products: product_rows(links, &changes, &figures.by_product),
        months: month_rows(links, &months, month_changes, ids.as_deref()),
        period_words: period_words.trim_start_matches("in ").to_owned(),
    };
    let html = part
        .render()
        .map_err(|e| NotReady::unreadable(&format!("template: {e}")))?;
    Ok(Part {
        status: StatusCode::OK,
        title: "Overview".to_owned(),
        html,
        figure: Some(figures.active_now),
        cuts: Vec::new(),
    }
    .cut(SPLIT))
}

/// The rows of WordPress.com's summary table, rendered once per answer, scale and day.
#[derive(Template)]
#[template(
    source = r#"{% for r in rows %}<tr><th scope="row">{{ r.period }}</th><td class="num">{{ r.new }}</td><td class="num">{{ r.total }}</td></tr>{% endfor %}"#,
    ext = "html"
)]
struct SummaryRows {
    rows: Vec<Row>,
}

/// The summary panel of `entry` (WordPress.com's answer for `key` at `scale`), its rows as
/// kept for the same answer and day.
async fn summary_panel(
    state: &AppState,
    key: u64,
    scale: Scale,
    entry: &Fetched<Vec<SummaryPoint>>,
    stale: Option<String>,
    today: NaiveDate,
) -> Result<SummaryPanel, AppError> {
    let points = &entry.value;
    let keep = match scale {
        Scale::Day => 60,
        Scale::Month => 24,
        Scale::Year => usize::MAX,
    };
    let shown: &[SummaryPoint] = &points[points.len().saturating_sub(keep)..];
    let name = format!("summary:{key}:{}:{}:{today}", scale.as_str(), entry.serial);
    let rows = state
        .rendered
        .get_or_render(name, async {
            let rows = SummaryRows {
                rows: shown
                    .iter()
                    .rev()
                    .map(|p| Row {
                        period: if summary::unfinished(scale, p, today) {
                            format!("{} (so far)", summary::period_label(scale, p))
                        } else {
                            summary::period_label(scale, p)
                        },
                        new: fmt_int(p.new),
                        total: fmt_int(p.total),
                    })
                    .collect(),
            };
            Ok::<_, AppError>(Part {
                status: StatusCode::OK,
                title: String::new(),
                html: rows
                    .render()
                    .map_err(|e| AppError::Internal(format!("template: {e}")))?,
                figure: None,
                cuts: Vec::new(),
            })
        })
        .await?;
    Ok(SummaryPanel {
        rows,
        latest_total: points.last().map(|p| p.total),
        shown: shown.len(),
        total_periods: points.len(),
        stale,
        as_of: fmt_as_of(entry.fetched_at),
    })
}

/// Periods of WordPress.com's summary.
mod summary {
    use chrono::{Datelike as _, Months, NaiveDate};

    use crate::upstream::{Scale, SummaryPoint};

    /// "2 Dec 2026", "Dec 2026", "2026".
    pub fn period_label(scale: Scale, p: &SummaryPoint) -> String {
        match scale {
            Scale::Day => crate::web::fmt_day(&p.date),
            Scale::Month => crate::web::fmt_month(&p.date),
            Scale::Year => p.date.year().to_string(),
        }
    }

    /// Whether the period of `p` (at `scale`) contains `today`: it is not over yet.
    pub fn unfinished(scale: Scale, p: &SummaryPoint, today: NaiveDate) -> bool {
        let end = match scale {
            Scale::Day => p.date.succ_opt(),
            Scale::Month => p
                .date
                .with_day(1)
                .and_then(|d| d.checked_add_months(Months::new(1))),
            Scale::Year => NaiveDate::from_ymd_opt(p.date.year() + 1, 1, 1),
        };
        p.date <= today && end.is_some_and(|end| today < end)
    }
}

/// The `period` the overview covers: `month` (the default), `30d` or `year`.
fn period_of(q: &Pairs) -> Result<&'static str, AppError> {
    match q.get("period") {
        None | Some("month") => Ok("month"),
        Some("30d") => Ok("30d"),
        Some("year") => Ok("year"),
        Some(_) => Err(AppError::BadRequest(
            "period must be month, 30d or year.".into(),
        )),
    }
}

/// The scale of WordPress.com's summary: as `scale=` says, else the period's (days for a month
/// or 30 days, months for a year).
fn summary_scale(q: &Pairs, period: &str) -> Result<Scale, AppError> {
    if q.get("scale").is_some() {
        return q.scale();
    }
    Ok(match Step::of(period) {
        Step::Day => Scale::Day,
        Step::Month => Scale::Month,
    })
}

/// `GET /`.
pub async fn overview_get(
    State(state): State<AppState>,
    scope: KeyScope,
    RawQuery(raw): RawQuery,
) -> Result<Response, AppError> {
    let q = Pairs::parse(raw.as_deref());
    let period = period_of(&q)?;
    let scale = summary_scale(&q, period)?;
    let links = Links {
        key: scope.key.id,
        period,
        selection: Selection::read(&q)?,
    };
    let today = Utc::now().date_naive();
    let (summary, index, dues) = tokio::join!(
        state
            .cache
            .summary(&state.wpcom, scope.token(), links.key, scale),
        index_panels(&state, &scope, &links, today),
        dues(&state, &scope),
    );
    let dues = dues?;
    let summary = match summary {
        Err(UpstreamError::Unauthorized) => {
            return Err(scope
                .upstream_failed(&state, UpstreamError::Unauthorized)
                .await);
        }
        Err(e) => Err(PanelError {
            message: format!(
                "The activations summary could not be loaded from WordPress.com: {e}."
            ),
        }),
        Ok((entry, freshness)) => Ok(summary_panel(
            &state,
            links.key,
            scale,
            &entry,
            stale_note(entry.fetched_at, &freshness, "showing figures from"),
            today,
        )
        .await?),
    };
    let crosscheck = match (&summary, &index) {
        (Ok(s), Ok(ix)) => s
            .latest_total
            .and_then(|total| Crosscheck::of(total, ix.active_now)),
        _ => None,
    };
    let periods = [
        ("month", "This month"),
        ("30d", "Last 30 days"),
        ("year", "This year"),
    ]
    .into_iter()
    .map(|(v, l)| (v, l, links.with_period(v)))
    .collect();
    let page = OverviewPage {
        layout: scope.layout(&state, "Overview", "overview", "/"),
        scale: scale.as_str(),
        period_label: period,
        periods,
        selection: links
            .selection
            .label()
            .map(|l| (l, links.overview(period, &Selection::All))),
        dues,
        summary,
        index,
        crosscheck,
        retry_href: scope.here().to_owned(),
    };
    render(StatusCode::OK, &page)
}
