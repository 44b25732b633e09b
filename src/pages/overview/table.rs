//! The overview's tables: products (active now, and new, cancelled and net in the chosen period,
//! with a row per product line that adds its plans up) and month by month.

use std::collections::BTreeMap;

use chrono::{Months, NaiveDate};

use super::{
    cards::signed,
    selection::{Links, Selection},
};
use crate::{
    index::{Change, Changes},
    products,
    web::{fmt_int, fmt_month},
};

/// A row of the product table.
#[derive(Debug, Clone)]
pub struct ProductRow {
    /// "Jetpack Security (every plan)", "Jetpack Security Daily (yearly)".
    pub name: String,
    /// `line` (adds up the rows under it), `member` (one of those) or `single`.
    pub level: &'static str,
    /// The overview narrowed to this row (or back to every product when it is the chosen one).
    pub filter_href: String,
    /// The row the overview is narrowed to.
    pub current: bool,
    /// Active now.
    pub active: String,
    /// The activations list of these plans, active.
    pub active_href: String,
    /// New in the period.
    pub new: String,
    /// Cancelled in the period.
    pub cancelled: String,
    /// Net in the period, signed.
    pub net: String,
}

/// One product's figures.
#[derive(Debug, Clone, Copy, Default)]
struct Figures {
    active: i64,
    change: Change,
}

impl std::ops::AddAssign for Figures {
    fn add_assign(&mut self, o: Self) {
        self.active += o.active;
        self.change += o.change;
    }
}

fn row(
    links: &Links,
    name: String,
    level: &'static str,
    selection: Selection,
    ids: &[i64],
    f: Figures,
) -> ProductRow {
    ProductRow {
        name,
        level,
        filter_href: links.toggle(&selection),
        current: links.selection == selection,
        active: fmt_int(f.active),
        active_href: links.activations(Some(ids), &[("status", "active".into())]),
        new: fmt_int(f.change.new),
        cancelled: fmt_int(f.change.cancelled),
        net: signed(f.change.net()),
    }
}

/// A product line with its products' figures and their sum.
struct Line {
    name: String,
    members: Vec<(i64, Figures)>,
    total: Figures,
}

/// The product table: lines by active plans, most first, each with its products under it when
/// it has more than one. `active` is the active plans per product; the period's change is the
/// first of each product's changes.
pub fn product_rows(links: &Links, changes: &Changes, active: &[(i64, i64)]) -> Vec<ProductRow> {
    let mut per_product: BTreeMap<i64, Figures> = BTreeMap::new();
    for (p, n) in active {
        per_product.entry(*p).or_default().active += n;
    }
    for (p, c) in &changes.products {
        if let Some(c) = c.first().filter(|c| c.new != 0 || c.cancelled != 0) {
            per_product.entry(*p).or_default().change = *c;
        }
    }
    // Line name → its products and their figures.
    let mut lines: BTreeMap<String, Vec<(i64, Figures)>> = BTreeMap::new();
    for (p, f) in per_product {
        let line = products::line_of_id(p as u64)
            .map_or_else(|| products::display_name(p as u64), str::to_owned);
        lines.entry(line).or_default().push((p, f));
    }
    let mut lines: Vec<Line> = lines
        .into_iter()
        .map(|(name, mut members)| {
            members.sort_by_key(|(p, f)| (std::cmp::Reverse(f.active), *p));
            let mut total = Figures::default();
            for (_, f) in &members {
                total += *f;
            }
            Line {
                name,
                members,
                total,
            }
        })
        .collect();
    lines.sort_by(|a, b| {
        b.total
            .active
            .cmp(&a.total.active)
            .then(a.name.cmp(&b.name))
    });
    let mut out = Vec::new();
    for Line {
        name,
        members,
        total,
    } in lines
    {
        if let [(p, f)] = members.as_slice() {
            out.push(row(
                links,
                products::display_name(*p as u64),
                "single",
                Selection::Product(*p as u64),
                &[*p],
                *f,
            ));
            continue;
        }
        let ids: Vec<i64> = members.iter().map(|(p, _)| *p).collect();
        let line = products::line_by_slug(&products::line_slug(&name));
        let selection = line.map_or(Selection::All, Selection::Line);
        out.push(row(
            links,
            format!("{} (every plan)", products::family_name(&name)),
            "line",
            selection,
            &ids,
            total,
        ));
        for (p, f) in members {
            out.push(row(
                links,
                products::display_name(p as u64),
                "member",
                Selection::Product(p as u64),
                &[p],
                f,
            ));
        }
    }
    out
}

/// A month of the month-by-month table.
#[derive(Debug, Clone)]
pub struct MonthRow {
    /// "Mar 2026".
    pub month: String,
    /// New.
    pub new: String,
    /// The month's activations.
    pub new_href: String,
    /// Cancelled.
    pub cancelled: String,
    /// The month's cancellations.
    pub cancelled_href: String,
    /// Net, signed.
    pub net: String,
}

/// The last twelve months, newest first, from `today`'s month.
pub fn month_spans(today: NaiveDate) -> Vec<(NaiveDate, NaiveDate)> {
    use chrono::Datelike as _;
    (0..12u32)
        .filter_map(|back| {
            let start = today.with_day(1)?.checked_sub_months(Months::new(back))?;
            Some((start, start.checked_add_months(Months::new(1))?))
        })
        .collect()
}

/// The month-by-month rows for `spans` and their `changes`, narrowed to `ids`.
pub fn month_rows(
    links: &Links,
    spans: &[(NaiveDate, NaiveDate)],
    changes: &[Change],
    ids: Option<&[i64]>,
) -> Vec<MonthRow> {
    spans
        .iter()
        .zip(changes)
        .map(|((start, end), c)| {
            let last = end.pred_opt().unwrap_or(*start);
            MonthRow {
                month: fmt_month(start),
                new: fmt_int(c.new),
                new_href: links.activations(
                    ids,
                    &[("from", start.to_string()), ("to", last.to_string())],
                ),
                cancelled: fmt_int(c.cancelled),
                cancelled_href: links.activations(
                    ids,
                    &[
                        ("status", "cancelled".into()),
                        ("cancelled_from", start.to_string()),
                        ("cancelled_to", last.to_string()),
                    ],
                ),
                net: signed(c.net()),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(new: i64, cancelled: i64) -> Vec<Change> {
        vec![Change {
            new,
            cancelled,
            ..Change::default()
        }]
    }

    #[test]
    fn a_line_adds_up_its_plans_and_a_lone_product_stands_alone() {
        let links = Links {
            key: 70,
            period: "month",
            selection: Selection::Line("Security"),
        };
        let changes = Changes {
            products: BTreeMap::from([
                (2010, change(3, 1)),
                (2011, change(2, 0)),
                (2106, change(0, 4)),
            ]),
        };
        let rows = product_rows(&links, &changes, &[(2010, 50), (2011, 7), (2106, 80)]);
        let names: Vec<(&str, &str, &str, &str)> = rows
            .iter()
            .map(|r| (r.name.as_str(), r.level, r.active.as_str(), r.net.as_str()))
            .collect();
        assert_eq!(
            names,
            [
                ("Jetpack Scan (yearly)", "single", "80", "-4"),
                ("Jetpack Security (every plan)", "line", "57", "+4"),
                ("Jetpack Security Daily (yearly)", "member", "50", "+2"),
                ("Jetpack Security Daily (monthly)", "member", "7", "+2"),
            ]
        );
        assert!(rows[1].current, "the chosen line is marked");
        assert_eq!(
            rows[1].filter_href, "/?key=70&period=month",
            "and clicks back to all"
        );
        assert_eq!(rows[0].filter_href, "/?key=70&period=month&product=2106");
        assert_eq!(
            rows[1].active_href,
            "/activations?key=70&status=active&current_plan=2010&current_plan=2011"
        );
    }

    #[test]
    fn months_link_to_their_activations_and_their_cancellations() {
        let links = Links {
            key: 70,
            period: "month",
            selection: Selection::All,
        };
        let today = NaiveDate::from_ymd_opt(2026, 12, 2).unwrap();
        let spans = month_spans(today);
        assert_eq!(spans.len(), 12);
        let rows = month_rows(&links, &spans[..1], &change(5, 2), Some(&[2106]));
        assert_eq!(rows[0].month, "Dec 2026");
        assert_eq!(
            rows[0].cancelled_href,
            "/activations?key=70&status=cancelled&cancelled_from=2026-12-01&cancelled_to=2026-12-31&current_plan=2106"
        );
        assert_eq!(rows[0].net, "+3");
    }
}
