//! Overview: the activations summary of the selected key as headline numbers, a server-rendered
//! SVG chart and the same numbers as a table.

use askama::Template;
use axum::{
    extract::{RawQuery, State},
    http::StatusCode,
    response::Response,
};

use chrono::{Datelike as _, Months, NaiveDate, Utc};

use super::{
    index_ready::{Freshness, index_copy, unreadable},
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

/// One bar of the chart.
#[derive(Debug, Clone)]
pub struct Bar {
    /// Left edge.
    pub x: String,
    /// Top edge.
    pub y: String,
    /// Width.
    pub w: String,
    /// Height.
    pub h: String,
    /// Tooltip text.
    pub title: String,
}

/// An axis label.
#[derive(Debug, Clone)]
pub struct Tick {
    /// Position.
    pub pos: String,
    /// Text.
    pub label: String,
}

/// The chart, laid out in a 720×260 view box.
#[derive(Debug, Clone)]
pub struct Chart {
    /// Bars (active plans at period end).
    pub bars: Vec<Bar>,
    /// Polyline points of new activations.
    pub new_line: String,
    /// Y ticks.
    pub y_ticks: Vec<Tick>,
    /// X labels.
    pub x_ticks: Vec<Tick>,
    /// Accessible description.
    pub description: String,
}

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
}

/// The summary chart panel.
#[derive(Debug, Clone)]
pub struct SummaryPanel {
    /// Headline figures from the summary.
    pub headlines: Vec<Headline>,
    /// The chart.
    pub chart: Option<Chart>,
    /// Table rows.
    pub rows: Vec<Row>,
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
    index: Result<IndexPanels, String>,
    retry_href: String,
}

const W: f64 = 720.0;
const H: f64 = 260.0;
const LEFT: f64 = 56.0;
const BOTTOM: f64 = 28.0;
const TOP: f64 = 12.0;

fn period_label(scale: Scale, p: &SummaryPoint) -> String {
    match scale {
        Scale::Day => p.date.format("%-d %b %Y").to_string(),
        Scale::Month => p.date.format("%b %Y").to_string(),
        Scale::Year => p.date.format("%Y").to_string(),
    }
}

/// Lays out the chart for `points` (already cut to the shown range).
pub fn chart(scale: Scale, points: &[SummaryPoint]) -> Option<Chart> {
    if points.is_empty() {
        return None;
    }
    let max = points
        .iter()
        .map(|p| p.total.max(p.new))
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let plot_w = W - LEFT - 8.0;
    let plot_h = H - BOTTOM - TOP;
    let slot = plot_w / points.len() as f64;
    let bar_w = (slot * 0.75).max(1.0);
    let y_of = |v: i64| TOP + plot_h - (v as f64 / max) * plot_h;
    let bars = points
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let y = y_of(p.total);
            Bar {
                x: format!("{:.1}", LEFT + i as f64 * slot + (slot - bar_w) / 2.0),
                y: format!("{y:.1}"),
                w: format!("{bar_w:.1}"),
                h: format!("{:.1}", TOP + plot_h - y),
                title: format!(
                    "{}: {} active, {} new",
                    period_label(scale, p),
                    fmt_int(p.total),
                    fmt_int(p.new)
                ),
            }
        })
        .collect();
    let new_line = points
        .iter()
        .enumerate()
        .map(|(i, p)| format!("{:.1},{:.1}", LEFT + (i as f64 + 0.5) * slot, y_of(p.new)))
        .collect::<Vec<_>>()
        .join(" ");
    let y_ticks = [0.0, 0.5, 1.0]
        .iter()
        .map(|f| Tick {
            pos: format!("{:.1}", TOP + plot_h - f * plot_h),
            label: fmt_int((max * f).round() as i64),
        })
        .collect();
    let every = points.len().div_ceil(6).max(1);
    let x_ticks = points
        .iter()
        .enumerate()
        .filter(|(i, _)| i % every == 0)
        .map(|(i, p)| Tick {
            pos: format!("{:.1}", LEFT + (i as f64 + 0.5) * slot),
            label: period_label(scale, p),
        })
        .collect();
    let (first, last) = (points.first()?, points.last()?);
    let description = format!(
        "Active plans per {} from {} to {}: {} at the start, {} at the end; the line shows new activations.",
        scale.as_str(),
        period_label(scale, first),
        period_label(scale, last),
        fmt_int(first.total),
        fmt_int(last.total)
    );
    Some(Chart {
        bars,
        new_line,
        y_ticks,
        x_ticks,
        description,
    })
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

/// A `[start, end)` span in Unix seconds.
pub type Span = (i64, i64);

/// The chosen period and the one before it, with how to name the earlier one.
pub fn periods(period: &str, today: NaiveDate) -> Option<(Span, Span, &'static str)> {
    let midnight = |d: NaiveDate| d.and_hms_opt(0, 0, 0).map(|t| t.and_utc().timestamp());
    let tomorrow = today.succ_opt()?;
    match period {
        "month" => {
            let start = today.with_day(1)?;
            let prev_start = start.checked_sub_months(Months::new(1))?;
            Some((
                (midnight(start)?, midnight(tomorrow)?),
                (midnight(prev_start)?, midnight(start)?),
                "last month",
            ))
        }
        "30d" => {
            let start = today - chrono::Duration::days(29);
            let prev = start - chrono::Duration::days(30);
            Some((
                (midnight(start)?, midnight(tomorrow)?),
                (midnight(prev)?, midnight(start)?),
                "the 30 days before",
            ))
        }
        "year" => {
            let start = NaiveDate::from_ymd_opt(today.year(), 1, 1)?;
            let prev = NaiveDate::from_ymd_opt(today.year() - 1, 1, 1)?;
            Some((
                (midnight(start)?, midnight(tomorrow)?),
                (midnight(prev)?, midnight(start)?),
                "last year",
            ))
        }
        _ => None,
    }
}

async fn index_panels(
    state: &AppState,
    scope: &KeyScope,
    period: &str,
) -> Result<IndexPanels, String> {
    let key = &scope.key;
    let sync = index_copy(state, scope, "These figures appear").await?;
    let today = Utc::now().date_naive();
    let (current, previous, unit) =
        periods(period, today).ok_or_else(|| "Unknown period.".to_owned())?;
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
    let mut spans: Vec<(i64, i64)> = vec![current, previous];
    spans.extend(months.iter().map(|(a, b, _)| (*a, *b)));
    let figures = state
        .index
        .figures(key.id, sync.generation, spans, Utc::now().timestamp())
        .await
        .map_err(|e| unreadable(&e))?;
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
        fresh: Freshness::new(&sync, scope),
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
) -> SummaryPanel {
    let keep = match scale {
        Scale::Day => 60,
        Scale::Month => 24,
        Scale::Year => usize::MAX,
    };
    let shown: &[SummaryPoint] = &points[points.len().saturating_sub(keep)..];
    let unit = format!("previous {}", scale.as_str());
    let headlines = match (
        shown.last(),
        shown.len().checked_sub(2).and_then(|i| shown.get(i)),
    ) {
        (Some(last), prev) => vec![
            Headline {
                label: "Active plans".into(),
                value: fmt_int(last.total),
                note: change_note(last.total, prev.map(|p| p.total), &unit),
            },
            Headline {
                label: format!("New this {}", scale.as_str()),
                value: fmt_int(last.new),
                note: change_note(last.new, prev.map(|p| p.new), &unit),
            },
        ],
        (None, _) => Vec::new(),
    };
    SummaryPanel {
        headlines,
        chart: chart(scale, shown),
        rows: shown
            .iter()
            .rev()
            .map(|p| Row {
                period: period_label(scale, p),
                new: fmt_int(p.new),
                total: fmt_int(p.total),
            })
            .collect(),
        shown: shown.len(),
        total_periods: points.len(),
        stale,
        as_of,
    }
}

/// `GET /`.
pub async fn overview_get(
    State(state): State<AppState>,
    scope: KeyScope,
    RawQuery(raw): RawQuery,
) -> Result<Response, AppError> {
    let q = Pairs::parse(raw.as_deref());
    let scale = q.scale()?;
    let period: &'static str = match q.get("period") {
        None | Some("month") => "month",
        Some("30d") => "30d",
        Some("year") => "year",
        Some(_) => {
            return Err(AppError::BadRequest(
                "period must be month, 30d or year.".into(),
            ));
        }
    };
    let key_id = scope.key.id;
    let (summary, index) = tokio::join!(
        state
            .cache
            .summary(&state.wpcom, scope.token(), key_id, scale),
        index_panels(&state, &scope, period),
    );
    let summary = match summary {
        Err(UpstreamError::Unauthorized) => {
            return Err(scope.upstream_failed(UpstreamError::Unauthorized).await);
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
        )),
    };
    let key_param = format!("key={key_id}");
    let scales = [("day", "Day"), ("month", "Month"), ("year", "Year")]
        .into_iter()
        .map(|(v, l)| (v, l, format!("/?{key_param}&period={period}&scale={v}")))
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
            format!("/?{key_param}&period={v}&scale={}", scale.as_str()),
        )
    })
    .collect();
    let page = OverviewPage {
        layout: scope.layout(&state, "Overview", "overview", "/"),
        scale: scale.as_str(),
        scales,
        period_label: period,
        periods,
        summary,
        index,
        retry_href: scope.here().to_owned(),
    };
    render(StatusCode::OK, &page)
}
