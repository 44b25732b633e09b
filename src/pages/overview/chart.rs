//! The activity chart, server-rendered SVG from the copy: active plans as a line on its own
//! axis above, and new (up) and cancelled (down) as bars on theirs below, so that twenty
//! cancellations are not a flat line under sixteen thousand plans. The chosen period is shaded
//! and the bar of today (or this month), not over yet, is drawn lighter with "so far" in the
//! strip above the plot, where nothing else is drawn.

use chrono::{Datelike as _, NaiveDate};

use super::{cards::signed, periods::Step};
use crate::{
    index::{Change, DaySpan},
    web::{fmt_day, fmt_day_month, fmt_days, fmt_int, fmt_month, month_abbr},
};

/// A rectangle, its numbers written for SVG.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rect {
    /// Left.
    pub x: String,
    /// Top.
    pub y: String,
    /// Width.
    pub w: String,
    /// Height.
    pub h: String,
}

fn rect(x: f64, y: f64, w: f64, h: f64) -> Rect {
    Rect {
        x: format!("{x:.1}"),
        y: format!("{y:.1}"),
        w: format!("{w:.1}"),
        h: format!("{:.1}", h.max(0.0)),
    }
}

/// A bar, or none where it would be drawn with no height: a quiet month is mostly such bars,
/// and each is 75 bytes of HTML that shows nothing.
fn bar(x: f64, y: f64, w: f64, h: f64) -> Option<Rect> {
    Some(rect(x, y, w, h)).filter(|r| r.h != "0.0")
}

/// One bar's slot: its new and cancelled bars and what its tooltip says.
#[derive(Debug, Clone)]
pub struct Slot {
    /// New activations, up from the zero line; none for none.
    pub new: Option<Rect>,
    /// Cancellations, down from the zero line; none for none.
    pub cancelled: Option<Rect>,
    /// The whole slot's height, for the tooltip's target.
    pub hit: Rect,
    /// "2 Dec 2026: 12 new, 3 cancelled, 16,102 active at the end".
    pub title: String,
    /// Not over yet.
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

/// A row of the chart's table.
#[derive(Debug, Clone)]
pub struct ChartRow {
    /// "2 Dec 2026 (so far)".
    pub period: String,
    /// New.
    pub new: String,
    /// Cancelled.
    pub cancelled: String,
    /// Net, signed.
    pub net: String,
    /// Active at the end.
    pub active: String,
}

/// The chart, laid out in a 720 × 300 view box.
#[derive(Debug, Clone)]
pub struct Chart {
    /// One slot per day or month.
    pub slots: Vec<Slot>,
    /// Active plans over the finished slots.
    pub active_line: String,
    /// The last segment, into the unfinished slot, drawn dashed.
    pub active_line_unfinished: Option<String>,
    /// The chosen period's band, behind the bars.
    pub band: Option<Rect>,
    /// Where "so far" goes, in the strip above the plot: x, y.
    pub so_far: Option<(String, String)>,
    /// The active axis.
    pub active_ticks: Vec<Tick>,
    /// The new/cancelled axis.
    pub change_ticks: Vec<Tick>,
    /// The zero line of new/cancelled.
    pub zero: String,
    /// X labels.
    pub x_ticks: Vec<Tick>,
    /// "day" or "month".
    pub unit: &'static str,
    /// Accessible description.
    pub description: String,
    /// The same figures as a table, newest first.
    pub rows: Vec<ChartRow>,
}

const W: f64 = 720.0;
const LEFT: f64 = 60.0;
const RIGHT: f64 = 8.0;
/// The strip above the plot that holds "so far" and nothing else.
const STRIP: f64 = 22.0;
const ACTIVE_TOP: f64 = STRIP;
const ACTIVE_H: f64 = 110.0;
const CHANGE_TOP: f64 = ACTIVE_TOP + ACTIVE_H + 22.0;
const CHANGE_H: f64 = 100.0;

fn slot_label(step: Step, (first, end): DaySpan) -> String {
    match step {
        Step::Day => fmt_day(&first),
        Step::Month if end.day() == 1 => fmt_month(&first),
        Step::Month => fmt_days(first, end.pred_opt().unwrap_or(first), true),
    }
}

fn short_label(step: Step, first: NaiveDate) -> String {
    match step {
        Step::Day => fmt_day_month(&first),
        Step::Month => format!("{} {:02}", month_abbr(&first), first.year().rem_euclid(100)),
    }
}

/// A round number at or above `n` for an axis end: 1, 2 or 5 times a power of ten.
fn nice(n: i64) -> i64 {
    let mut p = 1i64;
    loop {
        for m in [1, 2, 5] {
            if m * p >= n {
                return m * p;
            }
        }
        p = p.saturating_mul(10);
    }
}

/// Lays out the chart of `spans` (oldest first) with their `changes`; the slots from
/// `current_from` are the chosen period, and the last is unfinished when it ends after `today`.
pub fn chart(
    step: Step,
    spans: &[DaySpan],
    changes: &[Change],
    current_from: usize,
    today: NaiveDate,
) -> Option<Chart> {
    let n = spans.len().min(changes.len());
    if n == 0 {
        return None;
    }
    let (spans, changes) = (&spans[..n], &changes[..n]);
    let open = spans.last().is_some_and(|(_, end)| *end > today);
    let g = Geometry::of(changes);
    let unit = match step {
        Step::Day => "day",
        Step::Month => "month",
    };
    let points: Vec<String> = changes
        .iter()
        .enumerate()
        .map(|(i, c)| format!("{:.1},{:.1}", g.middle(i), g.active_y(c.active_end)))
        .collect();
    let finished = if open { n - 1 } else { n };
    let so_far = open.then(|| {
        (
            format!("{:.1}", g.middle(n - 1).min(W - RIGHT - 24.0)),
            format!("{:.1}", STRIP - 8.0),
        )
    });
    let band = (current_from < n).then(|| {
        rect(
            g.x(current_from),
            ACTIVE_TOP,
            W - RIGHT - g.x(current_from),
            CHANGE_TOP + CHANGE_H - ACTIVE_TOP,
        )
    });
    let active_ticks = [g.axis_lo, g.axis_hi]
        .iter()
        .map(|v| Tick::major(g.active_y(*v), fmt_int(*v)))
        .collect();
    Some(Chart {
        slots: g.slots(step, spans, changes, open),
        active_line: points[..finished.max(1).min(n)].join(" "),
        active_line_unfinished: (open && n >= 2).then(|| points[n - 2..].join(" ")),
        band,
        so_far,
        active_ticks,
        change_ticks: g.change_ticks(),
        zero: format!("{:.1}", g.zero),
        x_ticks: g.x_ticks(step, spans),
        unit,
        description: description(step, unit, spans, changes, current_from, open),
        rows: table_rows(step, spans, changes, open),
    })
}

impl Tick {
    fn major(pos: f64, label: String) -> Self {
        Self {
            pos: format!("{pos:.1}"),
            label,
            minor: false,
        }
    }
}

/// Where things sit in the chart for a run of changes.
struct Geometry {
    n: usize,
    /// The width of one slot (a day or a month).
    slot: f64,
    bar_w: f64,
    /// The active plans' axis, round numbers around the lowest and highest.
    axis_lo: i64,
    axis_hi: i64,
    /// The y of no change; new go up from it, cancelled down.
    zero: f64,
    /// Height per activation on the lower axis.
    per: f64,
    max_new: i64,
    max_cancelled: i64,
}

impl Geometry {
    fn of(changes: &[Change]) -> Self {
        let n = changes.len().max(1);
        let slot = (W - LEFT - RIGHT) / n as f64;
        let hi = changes.iter().map(|c| c.active_end).max().unwrap_or(0);
        let lo = changes.iter().map(|c| c.active_end).min().unwrap_or(0);
        let pad = nice(((hi - lo) / 10).max(1));
        let max_new = changes.iter().map(|c| c.new).max().unwrap_or(0);
        let max_cancelled = changes.iter().map(|c| c.cancelled).max().unwrap_or(0);
        let both = (max_new + max_cancelled).max(1) as f64;
        let zero = if max_new + max_cancelled == 0 {
            CHANGE_TOP + CHANGE_H / 2.0
        } else {
            CHANGE_TOP + CHANGE_H * max_new as f64 / both
        };
        Self {
            n,
            slot,
            bar_w: (slot * 0.7).max(1.0),
            axis_lo: (lo - pad).max(0) / pad * pad,
            axis_hi: (hi / pad + 1) * pad,
            zero,
            per: CHANGE_H / both,
            max_new,
            max_cancelled,
        }
    }

    fn x(&self, i: usize) -> f64 {
        LEFT + i as f64 * self.slot
    }

    fn middle(&self, i: usize) -> f64 {
        self.x(i) + self.slot / 2.0
    }

    fn active_y(&self, v: i64) -> f64 {
        let span = (self.axis_hi - self.axis_lo).max(1) as f64;
        ACTIVE_TOP + ACTIVE_H - (v - self.axis_lo) as f64 / span * ACTIVE_H
    }

    fn slots(&self, step: Step, spans: &[DaySpan], changes: &[Change], open: bool) -> Vec<Slot> {
        spans
            .iter()
            .zip(changes)
            .enumerate()
            .map(|(i, (s, c))| {
                let unfinished = open && i + 1 == self.n;
                let x = self.x(i) + (self.slot - self.bar_w) / 2.0;
                let (up, down) = (c.new as f64 * self.per, c.cancelled as f64 * self.per);
                Slot {
                    new: bar(x, self.zero - up, self.bar_w, up),
                    cancelled: bar(x, self.zero, self.bar_w, down),
                    hit: rect(
                        self.x(i),
                        ACTIVE_TOP,
                        self.slot,
                        CHANGE_TOP + CHANGE_H - ACTIVE_TOP,
                    ),
                    title: format!(
                        "{}{}: {} new, {} cancelled, {} active at the end",
                        slot_label(step, *s),
                        if unfinished { " (so far)" } else { "" },
                        fmt_int(c.new),
                        fmt_int(c.cancelled),
                        fmt_int(c.active_end)
                    ),
                    unfinished,
                }
            })
            .collect()
    }

    /// 0, the most new above it and the most cancelled below it.
    fn change_ticks(&self) -> Vec<Tick> {
        let mut ticks = vec![Tick::major(self.zero, "0".into())];
        if self.max_new > 0 {
            let y = self.zero - self.max_new as f64 * self.per;
            ticks.push(Tick::major(y, format!("+{}", fmt_int(self.max_new))));
        }
        if self.max_cancelled > 0 {
            let y = self.zero + self.max_cancelled as f64 * self.per;
            ticks.push(Tick::major(y, format!("−{}", fmt_int(self.max_cancelled))));
        }
        ticks
    }

    /// About six labels along the bottom, every other one minor (hidden on a phone).
    fn x_ticks(&self, step: Step, spans: &[DaySpan]) -> Vec<Tick> {
        let every = self.n.div_ceil(6).max(1);
        spans
            .iter()
            .enumerate()
            .filter(|(i, _)| i % every == 0)
            .map(|(i, s)| Tick {
                pos: format!("{:.1}", self.middle(i)),
                label: short_label(step, s.0),
                minor: (i / every) % 2 == 1,
            })
            .collect()
    }
}

/// The chart in words, for a screen reader.
fn description(
    step: Step,
    unit: &str,
    spans: &[DaySpan],
    changes: &[Change],
    current_from: usize,
    open: bool,
) -> String {
    let (Some(first), Some(last)) = (spans.first(), spans.last()) else {
        return String::new();
    };
    let chosen = changes.get(current_from..).unwrap_or_default();
    let total_new: i64 = chosen.iter().map(|c| c.new).sum();
    let total_cancelled: i64 = chosen.iter().map(|c| c.cancelled).sum();
    let active = |c: Option<&Change>| fmt_int(c.map_or(0, |c| c.active_end));
    format!(
        "Per {unit} from {} to {}: active plans went from {} to {}. In the chosen period (shaded), {} new and {} cancelled.{}",
        slot_label(step, *first),
        slot_label(step, *last),
        active(changes.first()),
        active(changes.last()),
        fmt_int(total_new),
        fmt_int(total_cancelled),
        if open {
            format!(" The last {unit} is not over yet.")
        } else {
            String::new()
        }
    )
}

/// The chart's numbers, newest first.
fn table_rows(step: Step, spans: &[DaySpan], changes: &[Change], open: bool) -> Vec<ChartRow> {
    let n = spans.len();
    spans
        .iter()
        .zip(changes)
        .enumerate()
        .rev()
        .map(|(i, (s, c))| ChartRow {
            period: if open && i + 1 == n {
                format!("{} (so far)", slot_label(step, *s))
            } else {
                slot_label(step, *s)
            },
            new: fmt_int(c.new),
            cancelled: fmt_int(c.cancelled),
            net: signed(c.net()),
            active: fmt_int(c.active_end),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, m, d).unwrap()
    }

    fn c(new: i64, cancelled: i64, active_end: i64) -> Change {
        Change {
            new,
            cancelled,
            active_start: 0,
            active_end,
        }
    }

    fn f(s: &str) -> f64 {
        s.parse().unwrap()
    }

    #[test]
    fn small_changes_get_their_own_axis_and_today_is_marked_so_far_above_the_plot() {
        let spans = [
            (day(11, 30), day(12, 1)),
            (day(12, 1), day(12, 2)),
            (day(12, 2), day(12, 3)),
        ];
        let changes = [c(20, 5, 16_000), c(10, 15, 15_995), c(2, 0, 15_997)];
        let chart = chart(Step::Day, &spans, &changes, 1, day(12, 2)).unwrap();
        // Twenty new plans are a bar the height of the change panel, not a sliver under 16,000.
        let tallest = f(&chart.slots[0].new.as_ref().unwrap().h);
        assert!(tallest > 50.0, "{tallest}");
        assert!(f(&chart.slots[1].cancelled.as_ref().unwrap().h) > 30.0);
        // No cancellations on the last day: no bar, rather than one of no height.
        assert!(chart.slots[2].cancelled.is_none());
        assert!(chart.slots[2].new.is_some());
        let marks: Vec<bool> = chart.slots.iter().map(|s| s.unfinished).collect();
        assert_eq!(marks, [false, false, true]);
        let (_, y) = chart.so_far.clone().unwrap();
        assert!(
            f(&y) < ACTIVE_TOP,
            "the label sits in the strip, clear of the plot"
        );
        assert_eq!(chart.active_line.split(' ').count(), 2);
        assert_eq!(
            chart
                .active_line_unfinished
                .as_ref()
                .unwrap()
                .split(' ')
                .count(),
            2
        );
        assert_eq!(chart.rows[0].period, "2 Dec 2026 (so far)");
        assert_eq!(chart.rows[0].net, "+2");
        let band = chart.band.clone().unwrap();
        assert!((f(&band.x) - (LEFT + (W - LEFT - RIGHT) / 3.0)).abs() < 0.2);
        assert!(chart.description.ends_with("The last day is not over yet."));
        // The active axis brackets the figures.
        let ticks: Vec<i64> = chart
            .active_ticks
            .iter()
            .map(|t| t.label.replace(',', "").parse().unwrap())
            .collect();
        assert!(ticks[0] <= 15_995 && ticks[1] > 16_000, "{ticks:?}");
    }

    #[test]
    fn a_finished_period_has_no_so_far_and_an_empty_one_draws_nothing() {
        let spans = [(day(10, 1), day(11, 1)), (day(11, 1), day(12, 1))];
        let chart = chart(
            Step::Month,
            &spans,
            &[c(0, 0, 0), c(0, 0, 0)],
            1,
            day(12, 2),
        )
        .unwrap();
        assert!(chart.so_far.is_none() && chart.active_line_unfinished.is_none());
        assert_eq!(chart.rows[1].period, "Oct 2026");
        assert!(super::chart(Step::Day, &[], &[], 0, day(12, 2)).is_none());
    }
}
