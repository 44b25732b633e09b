//! The filters in effect, each as a chip that says it in words and links to the same list
//! without it, and the hidden fields that carry the filters the form has no control for.

use chrono::NaiveDate;

use super::view::{PRESETS, View};
use crate::{
    products,
    web::{fmt_day, fmt_days},
};

/// One filter in effect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chip {
    /// What it filters, in words ("Cancelled 1–30 Nov 2026").
    pub label: String,
    /// The same list without it.
    pub remove_href: String,
    /// For people who do not see the ×: "Remove the filter “…”".
    pub remove_label: String,
}

fn days(from: Option<NaiveDate>, to: Option<NaiveDate>) -> Option<String> {
    Some(match (from, to) {
        (Some(a), Some(b)) => fmt_days(a, b, true),
        (Some(a), None) => format!("since {}", fmt_day(&a)),
        (None, Some(b)) => format!("until {}", fmt_day(&b)),
        (None, None) => return None,
    })
}

/// The chips of `view`, in the order the form shows their controls.
pub fn chips(view: &View, key: u64) -> Vec<Chip> {
    let mut out = Vec::new();
    let mut chip = |label: String, change: &dyn Fn(&mut View)| {
        out.push(Chip {
            remove_label: format!("Remove the filter “{label}”"),
            remove_href: view.href("/activations", key, change),
            label,
        });
    };
    if !view.q.is_empty() {
        chip(format!("Search “{}”", view.q), &|v| v.q.clear());
    }
    for p in &view.plans {
        chip(format!("Plan {}", products::display_name(*p)), &|v| {
            v.plans.retain(|x| x != p);
        });
    }
    for p in &view.current_plans {
        chip(format!("Now {}", products::display_name(*p)), &|v| {
            v.current_plans.retain(|x| x != p);
        });
    }
    if let Some(p) = &view.preset
        && let Some((_, label)) = PRESETS.iter().find(|(v, _)| v == p)
    {
        chip(format!("Activated {}", label.to_lowercase()), &|v| {
            v.preset = None;
        });
    }
    if !view.dates_reversed()
        && let Some(d) = days(view.from, view.to)
    {
        chip(format!("Activated {d}"), &|v| {
            v.from = None;
            v.to = None;
        });
    }
    if let (Some(a), Some(b)) = (view.active_from, view.active_to) {
        let last = b.pred_opt().unwrap_or(b);
        chip(format!("Active in {}", fmt_days(a, last, true)), &|v| {
            v.active_from = None;
            v.active_to = None;
        });
    }
    if let (Some(d), false) = (
        days(view.cancelled_from, view.cancelled_to),
        view.cancelled_reversed(),
    ) {
        chip(format!("Cancelled {d}"), &|v| {
            v.cancelled_from = None;
            v.cancelled_to = None;
        });
    }
    out
}

/// The hidden fields of the filter form: the view's filters that the form has no control for
/// (a reconciliation's "active in" range and current plans), so that Search keeps them.
pub fn hidden_fields(view: &View) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    for p in &view.current_plans {
        out.push(("current_plan", p.to_string()));
    }
    if let Some(d) = view.active_from {
        out.push(("active_from", d.to_string()));
    }
    if let Some(d) = view.active_to {
        out.push(("active_to", d.to_string()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::web::query::Pairs;

    #[test]
    fn each_chip_removes_only_its_own_filter() {
        let v = View::parse(&Pairs::parse(Some(
            "key=70&q=bakery&plan=2005&current_plan=2106&active_from=2026-11-01&active_to=2026-12-01&cancelled_from=2026-11-01&cancelled_to=2026-11-30",
        )))
        .unwrap();
        let chips = chips(&v, 70);
        let labels: Vec<&str> = chips.iter().map(|c| c.label.as_str()).collect();
        assert_eq!(
            labels,
            [
                "Search “bakery”",
                "Plan Jetpack Personal (yearly)",
                "Now Jetpack Scan (yearly)",
                "Active in 1–30 Nov 2026",
                "Cancelled 1–30 Nov 2026",
            ]
        );
        for c in &chips {
            let without =
                View::parse(&Pairs::parse(c.remove_href.split_once('?').map(|(_, q)| q))).unwrap();
            let left = super::chips(&without, 70);
            assert_eq!(left.len(), chips.len() - 1, "{}", c.label);
            assert!(!left.iter().any(|l| l.label == c.label), "{}", c.label);
        }
    }

    #[test]
    fn the_form_keeps_what_it_has_no_control_for() {
        let v = View::parse(&Pairs::parse(Some(
            "current_plan=2106&active_from=2026-11-01&active_to=2026-12-01",
        )))
        .unwrap();
        assert_eq!(
            hidden_fields(&v),
            [
                ("current_plan", "2106".to_owned()),
                ("active_from", "2026-11-01".to_owned()),
                ("active_to", "2026-12-01".to_owned()),
            ]
        );
    }
}
