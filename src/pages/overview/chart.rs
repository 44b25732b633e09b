//! The summary chart: a server-rendered SVG of active plans per period (bars) and new
//! activations (a line), with the current, unfinished period drawn as such.

use chrono::{Datelike as _, Months, NaiveDate};

use crate::{
    upstream::{Scale, SummaryPoint},
    web::fmt_int,
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
    /// The period is not over yet (drawn lighter).
    pub unfinished: bool,
}

/// An axis label.
#[derive(Debug, Clone)]
pub struct Tick {
    /// Position.
    pub pos: String,
    /// Text.
    pub label: String,
    /// Left out where the chart is narrow (phones), so the labels that stay can be larger.
    pub minor: bool,
}

/// The chart, laid out in a 720×260 view box.
#[derive(Debug, Clone)]
pub struct Chart {
    /// Bars (active plans at period end).
    pub bars: Vec<Bar>,
    /// Polyline points of new activations over finished periods.
    pub new_line: String,
    /// The last segment, into the unfinished period (drawn dashed), if there is one.
    pub new_line_unfinished: Option<String>,
    /// Where the "so far" label of the unfinished period goes: x, y.
    pub so_far: Option<(String, String)>,
    /// Y ticks.
    pub y_ticks: Vec<Tick>,
    /// X labels.
    pub x_ticks: Vec<Tick>,
    /// Accessible description.
    pub description: String,
}

const W: f64 = 720.0;
const H: f64 = 260.0;
const LEFT: f64 = 56.0;
const BOTTOM: f64 = 28.0;
const TOP: f64 = 12.0;

pub(super) fn period_label(scale: Scale, p: &SummaryPoint) -> String {
    match scale {
        Scale::Day => p.date.format("%-d %b %Y").to_string(),
        Scale::Month => p.date.format("%b %Y").to_string(),
        Scale::Year => p.date.format("%Y").to_string(),
    }
}

/// Lays out the chart for `points` (already cut to the shown range).
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

/// Lays out the chart for `points` (already cut to the shown range); a last period that
/// contains `today` is marked unfinished instead of reading as a drop.
pub fn chart(scale: Scale, points: &[SummaryPoint], today: NaiveDate) -> Option<Chart> {
    if points.is_empty() {
        return None;
    }
    let open = points.last().is_some_and(|p| unfinished(scale, p, today));
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
                    "{}: {} active, {} new{}",
                    period_label(scale, p),
                    fmt_int(p.total),
                    fmt_int(p.new),
                    if open && i + 1 == points.len() {
                        " so far (this period is not over)"
                    } else {
                        ""
                    }
                ),
                unfinished: open && i + 1 == points.len(),
            }
        })
        .collect();
    let xy: Vec<String> = points
        .iter()
        .enumerate()
        .map(|(i, p)| format!("{:.1},{:.1}", LEFT + (i as f64 + 0.5) * slot, y_of(p.new)))
        .collect();
    let finished = if open { xy.len() - 1 } else { xy.len() };
    let new_line = xy[..finished].join(" ");
    let new_line_unfinished = (open && xy.len() >= 2).then(|| xy[xy.len() - 2..].join(" "));
    let so_far = points.last().filter(|_| open).map(|p| {
        let i = points.len() - 1;
        (
            format!("{:.1}", LEFT + (i as f64 + 0.5) * slot),
            format!("{:.1}", (y_of(p.total) - 4.0).max(TOP + 8.0)),
        )
    });
    let y_ticks = [0.0, 0.5, 1.0]
        .iter()
        .map(|f| Tick {
            pos: format!("{:.1}", TOP + plot_h - f * plot_h),
            label: fmt_int((max * f).round() as i64),
            minor: false,
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
            minor: (i / every) % 2 == 1,
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
    let description = if open {
        format!("{description} The last {} is not over yet.", scale.as_str())
    } else {
        description
    };
    Some(Chart {
        bars,
        new_line,
        new_line_unfinished,
        so_far,
        y_ticks,
        x_ticks,
        description,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(y: i32, m: u32, d: u32, new: i64, total: i64) -> SummaryPoint {
        SummaryPoint {
            date: NaiveDate::from_ymd_opt(y, m, d).unwrap(),
            new,
            total,
        }
    }

    #[test]
    fn the_current_period_is_drawn_as_unfinished_not_as_a_drop() {
        let points = [
            point(2026, 10, 1, 40, 400),
            point(2026, 11, 1, 38, 420),
            point(2026, 12, 1, 2, 421),
        ];
        let today = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
        let c = chart(Scale::Month, &points, today).unwrap();
        let marks: Vec<bool> = c.bars.iter().map(|b| b.unfinished).collect();
        assert_eq!(marks, [false, false, true]);
        assert_eq!(
            c.new_line.split(' ').count(),
            2,
            "the solid line stops at November"
        );
        assert_eq!(c.new_line_unfinished.unwrap().split(' ').count(), 2);
        assert!(c.so_far.is_some());
        assert!(c.description.ends_with("The last month is not over yet."));
        // A month later, December is finished.
        let c = chart(
            Scale::Month,
            &points,
            NaiveDate::from_ymd_opt(2027, 1, 1).unwrap(),
        )
        .unwrap();
        assert!(c.bars.iter().all(|b| !b.unfinished) && c.new_line_unfinished.is_none());
        // Truncated dates (`2026-12` read as the 1st) and other scales.
        assert!(unfinished(Scale::Year, &point(2026, 1, 1, 0, 0), today));
        assert!(unfinished(Scale::Day, &point(2026, 12, 1, 0, 0), today));
        assert!(!unfinished(Scale::Day, &point(2026, 11, 30, 0, 0), today));
    }
}
