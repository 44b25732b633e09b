//! Overview: one set of headline numbers for the chosen period (from the activations copy,
//! compared like with like), WordPress.com's summary over time as a server-rendered SVG chart
//! and a table, and a cross-check of the two.

mod chart;
mod periods;

use askama::Template;
use axum::{
    extract::{RawQuery, State},
    http::StatusCode,
    response::Response,
};

use chrono::{Datelike as _, Months, NaiveDate, Utc};

use self::{
    chart::{Chart, chart},
    periods::periods,
};
use super::{
    index_ready::{Freshness, NotReady, index_copy},
    panel::{PanelError, stale_note},
};
use crate::{
    auth::scope::KeyScope,
    error::AppError,
    products,
    state::AppState,
    upstream::{Scale, SummaryPoint, UpstreamError},
    web::{Layout, fmt_as_of, fmt_int, query::Pairs, render},
};

/// A table row.
#[derive(Debug, Clone)]
pub struct Row {
    /// Period label.
    pub period: String,
    /// New activations.
    pub new: String,
    /// Active at period end.
    pub total: String,
}

/// A headline figure.
#[derive(Debug, Clone)]
pub struct Headline {
    /// Label.
    pub label: String,
    /// Value.
    pub value: String,
    /// Comparison note.
    pub note: String,
}

/// A month of the index table.
#[derive(Debug, Clone)]
pub struct MonthRow {
    /// "Mar 2026".
    pub month: String,
    /// New.
    pub new: String,
    /// Cancelled.
    pub cancelled: String,
    /// Net, signed.
    pub net: String,
    /// Link to the month's activations.
    pub href: String,
}

/// Active plans of one product.
#[derive(Debug, Clone)]
pub struct ProductRow {
    /// Name.
    pub name: String,
    /// Count.
    pub count: String,
    /// Link to them.
    pub href: String,
}

/// What the index contributes to the overview.
#[derive(Debug, Clone)]
pub struct IndexPanels {
    /// Headline figures for the chosen period.
    pub headlines: Vec<Headline>,
    /// Last 12 months, newest first.
    pub months: Vec<MonthRow>,
    /// Active plans per product.
    pub products: Vec<ProductRow>,
    /// Freshness bar.
    pub fresh: Freshness,
    /// Active plans now, per the copy.
    pub active_now: i64,
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

/// The summary chart panel.
#[derive(Debug, Clone)]
pub struct SummaryPanel {
    /// The chart.
    pub chart: Option<Chart>,
    /// Table rows.
    pub rows: Vec<Row>,
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
    scale: &'static str,
    scales: Vec<(&'static str, &'static str, String)>,
    period_label: &'static str,
    periods: Vec<(&'static str, &'static str, String)>,
    summary: Result<SummaryPanel, PanelError>,
    index: Result<IndexPanels, NotReady>,
    crosscheck: Option<Crosscheck>,
    retry_href: String,
}

fn change_note(current: i64, previous: Option<i64>, unit: &str) -> String {
    match previous {
        None => String::new(),
        Some(prev) => {
            let diff = current - prev;
            let sign = if diff > 0 { "+" } else { "" };
            format!("{sign}{} vs {unit}", fmt_int(diff))
        }
    }
}

async fn index_panels(
    state: &AppState,
    scope: &KeyScope,
    period: &str,
) -> Result<IndexPanels, NotReady> {
    let key = &scope.key;
    let sync = index_copy(state, scope, "These figures fill in").await?;
    let today = Utc::now().date_naive();
    let span = periods(period, today).ok_or_else(|| NotReady::unreadable(&"unknown period"))?;
    let unit = span.previous_label.as_str();
    let months: Vec<(i64, i64, NaiveDate)> = (0..12u32)
        .filter_map(|back| {
            let start = today.with_day(1)?.checked_sub_months(Months::new(back))?;
            let end = start.checked_add_months(Months::new(1))?;
            Some((
                start.and_hms_opt(0, 0, 0)?.and_utc().timestamp(),
                end.and_hms_opt(0, 0, 0)?.and_utc().timestamp(),
                start,
            ))
        })
        .collect();
    let mut spans: Vec<(i64, i64)> = vec![span.current, span.previous];
    spans.extend(months.iter().map(|(a, b, _)| (*a, *b)));
    let figures = state
        .index
        .figures(key.id, sync.generation, spans, Utc::now().timestamp())
        .await
        .map_err(|e| NotReady::unreadable(&e))?;
    let (stats, active_now, active_before, by_product) = (
        &figures.periods,
        figures.active_now,
        figures.active_before,
        &figures.by_product,
    );
    let (cur, prev) = (
        stats.first().copied().unwrap_or_default(),
        stats.get(1).copied().unwrap_or_default(),
    );
    let headlines = vec![
        Headline {
            label: "Active now".into(),
            value: fmt_int(active_now),
            note: change_note(active_now, Some(active_before), "the start of the period"),
        },
        Headline {
            label: "New".into(),
            value: fmt_int(cur.new),
            note: change_note(cur.new, Some(prev.new), unit),
        },
        Headline {
            label: "Cancelled".into(),
            value: fmt_int(cur.cancelled),
            note: change_note(cur.cancelled, Some(prev.cancelled), unit),
        },
        Headline {
            label: "Net".into(),
            value: signed(cur.new - cur.cancelled),
            note: change_note(
                cur.new - cur.cancelled,
                Some(prev.new - prev.cancelled),
                unit,
            ),
        },
    ];
    let months = months
        .iter()
        .zip(stats.iter().skip(2))
        .map(|((_, _, start), st)| {
            let last = start
                .checked_add_months(Months::new(1))
                .and_then(|d| d.pred_opt())
                .unwrap_or(*start);
            MonthRow {
                month: start.format("%b %Y").to_string(),
                new: fmt_int(st.new),
                cancelled: fmt_int(st.cancelled),
                net: signed(st.new - st.cancelled),
                href: format!("/activations?key={}&from={start}&to={last}", key.id),
            }
        })
        .collect();
    let products = by_product
        .iter()
        .map(|(p, n)| ProductRow {
            name: products::display_name(*p as u64),
            count: fmt_int(*n),
            href: format!("/activations?key={}&status=active&plan={p}", key.id),
        })
        .collect();
    Ok(IndexPanels {
        headlines,
        months,
        products,
        fresh: Freshness::new(state, &sync, scope),
        active_now,
    })
}

fn signed(n: i64) -> String {
    if n > 0 {
        format!("+{}", fmt_int(n))
    } else {
        fmt_int(n)
    }
}

fn summary_panel(
    scale: Scale,
    points: &[SummaryPoint],
    stale: Option<String>,
    as_of: String,
    today: NaiveDate,
) -> SummaryPanel {
    let keep = match scale {
        Scale::Day => 60,
        Scale::Month => 24,
        Scale::Year => usize::MAX,
    };
    let shown: &[SummaryPoint] = &points[points.len().saturating_sub(keep)..];
    SummaryPanel {
        chart: chart(scale, shown, today),
        rows: shown
            .iter()
            .rev()
            .map(|p| Row {
                period: if chart::unfinished(scale, p, today) {
                    format!("{} (so far)", chart::period_label(scale, p))
                } else {
                    chart::period_label(scale, p)
                },
                new: fmt_int(p.new),
                total: fmt_int(p.total),
            })
            .collect(),
        latest_total: points.last().map(|p| p.total),
        shown: shown.len(),
        total_periods: points.len(),
        stale,
        as_of,
    }
}

/// The `period` the overview's figures cover: `month` (the default), `30d` or `year`.
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

/// A toggle's choices: value, label and link.
type Choices = Vec<(&'static str, &'static str, String)>;

/// The chart's scale choices and the figures' period choices, each keeping the other.
fn toggles(key: u64, period: &str, scale: Scale) -> (Choices, Choices) {
    let scales = [("day", "Day"), ("month", "Month"), ("year", "Year")]
        .into_iter()
        .map(|(v, l)| (v, l, format!("/?key={key}&period={period}&scale={v}")))
        .collect();
    let periods = [
        ("month", "This month"),
        ("30d", "Last 30 days"),
        ("year", "This year"),
    ]
    .into_iter()
    .map(|(v, l)| {
        (
            v,
            l,
            format!("/?key={key}&period={v}&scale={}", scale.as_str()),
        )
    })
    .collect();
    (scales, periods)
}

/// `GET /`.
pub async fn overview_get(
    State(state): State<AppState>,
    scope: KeyScope,
    RawQuery(raw): RawQuery,
) -> Result<Response, AppError> {
    let q = Pairs::parse(raw.as_deref());
    let scale = q.scale()?;
    let period = period_of(&q)?;
    let key_id = scope.key.id;
    let (summary, index) = tokio::join!(
        state
            .cache
            .summary(&state.wpcom, scope.token(), key_id, scale),
        index_panels(&state, &scope, period),
    );
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
            scale,
            &entry.value,
            stale_note(entry.fetched_at, &freshness, "showing figures from"),
            fmt_as_of(entry.fetched_at),
            Utc::now().date_naive(),
        )),
    };
    let crosscheck = match (&summary, &index) {
        (Ok(s), Ok(ix)) => s
            .latest_total
            .and_then(|total| Crosscheck::of(total, ix.active_now)),
        _ => None,
    };
    let (scales, periods) = toggles(key_id, period, scale);
    let page = OverviewPage {
        layout: scope.layout(&state, "Overview", "overview", "/"),
        scale: scale.as_str(),
        scales,
        period_label: period,
        periods,
        summary,
        index,
        crosscheck,
        retry_href: scope.here().to_owned(),
    };
    render(StatusCode::OK, &page)
}
