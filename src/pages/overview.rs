//! Overview: the activations summary of the selected key as headline numbers, a server-rendered
//! SVG chart and the same numbers as a table.

use askama::Template;
use axum::{
    extract::{RawQuery, State},
    http::StatusCode,
    response::Response,
};

use super::{query::Pairs, select_key};
use crate::{
    app::AppState,
    auth::session::Authed,
    error::AppError,
    upstream::{Scale, SummaryPoint},
    web::{Layout, fmt_int, render},
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

#[derive(Template)]
#[template(path = "overview.html")]
struct OverviewPage {
    layout: Layout,
    scale: &'static str,
    scales: Vec<(&'static str, &'static str, String)>,
    headlines: Vec<Headline>,
    chart: Option<Chart>,
    rows: Vec<Row>,
    shown: usize,
    total_periods: usize,
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
            format!("{sign}{} vs previous {unit}", fmt_int(diff))
        }
    }
}

/// `GET /`.
pub async fn overview_get(
    State(state): State<AppState>,
    authed: Authed,
    RawQuery(raw): RawQuery,
) -> Result<Response, AppError> {
    let q = Pairs::parse(raw.as_deref());
    let key = select_key(&authed, q.key()?)?;
    let scale = match q.get("scale") {
        None => Scale::Month,
        Some(s) => Scale::parse(s)
            .ok_or_else(|| AppError::BadRequest("scale must be day, month or year.".into()))?,
    };
    let points = match state.wpcom.summary(&authed.data.token, key.id, scale).await {
        Ok(p) => p,
        Err(e) => return Err(authed.upstream_failed(e).await),
    };
    let keep = match scale {
        Scale::Day => 60,
        Scale::Month => 24,
        Scale::Year => usize::MAX,
    };
    let shown: &[SummaryPoint] = &points[points.len().saturating_sub(keep)..];
    let unit = scale.as_str();
    let headlines = match (
        shown.last(),
        shown.len().checked_sub(2).and_then(|i| shown.get(i)),
    ) {
        (Some(last), prev) => vec![
            Headline {
                label: "Active plans".into(),
                value: fmt_int(last.total),
                note: change_note(last.total, prev.map(|p| p.total), unit),
            },
            Headline {
                label: format!("New this {unit}"),
                value: fmt_int(last.new),
                note: change_note(last.new, prev.map(|p| p.new), unit),
            },
            Headline {
                label: "Activated since the first".into(),
                value: fmt_int(points.iter().map(|p| p.new).sum()),
                note: format!("over {} {unit}s", fmt_int(points.len() as i64)),
            },
        ],
        (None, _) => Vec::new(),
    };
    let key_param = format!("key={}", key.id);
    let scales = [("day", "Day"), ("month", "Month"), ("year", "Year")]
        .into_iter()
        .map(|(v, l)| (v, l, format!("/?{key_param}&scale={v}")))
        .collect();
    let rows = shown
        .iter()
        .rev()
        .map(|p| Row {
            period: period_label(scale, p),
            new: fmt_int(p.new),
            total: fmt_int(p.total),
        })
        .collect();
    let page = OverviewPage {
        layout: Layout::for_user(&state, &authed, "Overview", "overview", "/", Some(&key)),
        scale: scale.as_str(),
        scales,
        headlines,
        chart: chart(scale, shown),
        rows,
        shown: shown.len(),
        total_periods: points.len(),
    };
    render(StatusCode::OK, &page)
}
