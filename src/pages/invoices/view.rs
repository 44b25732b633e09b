//! An invoice and its lines as the pages show them.

use chrono::Utc;

use super::reconciliation::{family_ids, family_of, sites_href};
pub(super) use crate::billing::line_description;
use crate::{
    upstream::Invoice,
    web::{fmt_date, fmt_int, fmt_money, fmt_opt_date, fmt_period, safe_href},
};

/// An invoice, formatted.
#[derive(Debug, Clone)]
pub struct InvoiceView {
    /// Number or id.
    pub number: String,
    /// Detail link, when the invoice has an id.
    pub detail: Option<String>,
    /// Its lines as CSV, when the invoice has an id.
    pub lines_csv: Option<String>,
    /// Period.
    pub period: String,
    /// Created.
    pub created: String,
    /// Status label.
    pub status: String,
    /// Status CSS class.
    pub status_class: &'static str,
    /// Total.
    pub total: String,
    /// Next payment date.
    pub next_payment: String,
    /// Hosted page link (http(s) only).
    pub hosted_href: Option<String>,
    /// PDF link (http(s) only).
    pub pdf_href: Option<String>,
    /// Lines.
    pub lines: Vec<LineView>,
    /// Said when WordPress.com sent only some of the lines.
    pub lines_note: Option<String>,
    /// Stripe's summary, the facts it gives: ("Amount due", "$1.00"), ("Paid on", …).
    pub facts: Vec<(&'static str, String)>,
    /// Subtotal and tax, for the footer under the lines, when Stripe gives them.
    pub subtotal: Option<String>,
    pub tax: Option<String>,
    /// The estimate against the last invoice, on the upcoming invoice.
    pub against: Option<Against>,
}

/// An upcoming invoice against the last one: "against EXHOST-0012: −$4,201.50 (−3.0 %)".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Against {
    /// The last invoice's number.
    pub number: String,
    /// Its page here.
    pub href: Option<String>,
    /// "−$4,201.50 (−3.0 %)", "the same".
    pub change: String,
}

/// A line, formatted.
#[derive(Debug, Clone)]
pub struct LineView {
    /// Description (untrusted, escaped by the template).
    pub description: String,
    /// Quantity.
    pub quantity: String,
    /// Price of one, when Stripe gives it.
    pub unit: String,
    /// Amount.
    pub amount: String,
    /// Period.
    pub period: String,
    /// The sites this line bills: the product family's sites active in the invoice's period.
    pub sites_href: Option<String>,
    /// The quantity against the same family in the last invoice: "+12", "−3", "no change".
    pub change: Option<String>,
}

/// A signed difference with a true minus sign: "+12", "−3", "0".
fn signed(n: i64, shown: impl Fn(i64) -> String) -> String {
    match n.signum() {
        1 => format!("+{}", shown(n)),
        -1 => format!("\u{2212}{}", shown(-n)),
        _ => shown(0),
    }
}

/// Quantities per product family billed by `invoice`.
fn family_quantities(invoice: &Invoice) -> Vec<(&'static str, i64)> {
    let mut out: Vec<(&'static str, i64)> = Vec::new();
    for l in &invoice.lines {
        if let Some(f) = family_of(l) {
            let q = l.quantity.unwrap_or(0);
            match out.iter_mut().find(|(n, _)| *n == f) {
                Some((_, total)) => *total += q,
                None => out.push((f, q)),
            }
        }
    }
    out
}

fn period_text(
    start: Option<&chrono::DateTime<Utc>>,
    end: Option<&chrono::DateTime<Utc>>,
) -> String {
    match (start, end) {
        (Some(s), Some(e)) => fmt_period(s, e),
        _ => "–".into(),
    }
}

/// The lines of `i`, each linking to the sites it bills.
fn lines_of(i: &Invoice, key: u64) -> Vec<LineView> {
    i.lines
        .iter()
        .map(|l| LineView {
            description: line_description(l),
            quantity: l.quantity.map_or_else(String::new, fmt_int),
            unit: l
                .unit_amount
                .map_or_else(String::new, |u| fmt_money(u, &i.currency)),
            amount: fmt_money(l.amount, &i.currency),
            period: period_text(l.period_start.as_ref(), l.period_end.as_ref()),
            sites_href: family_of(l).map(|f| sites_href(key, &family_ids(f), i)),
            change: None,
        })
        .collect()
}

/// Stripe's summary of an invoice: what is owed, what was paid, and when.
fn facts(i: &Invoice) -> Vec<(&'static str, String)> {
    let money = |m: Option<i64>| m.map(|m| fmt_money(m, &i.currency));
    let day = |d: Option<&chrono::DateTime<Utc>>| d.map(fmt_date);
    [
        ("Amount due", money(i.amount_due)),
        ("Amount paid", money(i.amount_paid)),
        ("Amount remaining", money(i.amount_remaining)),
        ("Due date", day(i.due_date.as_ref())),
        ("Paid on", day(i.paid_at.as_ref())),
        ("Next payment attempt", day(i.next_payment_attempt.as_ref())),
        ("Payment attempts", i.attempt_count.map(fmt_int)),
    ]
    .into_iter()
    .filter_map(|(label, v)| Some((label, v?)))
    .collect()
}

/// The newest invoice that was not voided: what an estimate is compared with.
pub(super) fn last_billed(invoices: &[Invoice]) -> Option<&Invoice> {
    invoices
        .iter()
        .filter(|i| i.status != crate::upstream::InvoiceStatus::Void)
        .max_by_key(|i| i.created)
}

impl InvoiceView {
    /// The invoice with its lines and Stripe's summary, for the pages that show them.
    pub(super) fn new(i: &Invoice, key: u64) -> Self {
        Self {
            lines: lines_of(i, key),
            facts: facts(i),
            ..Self::row(i, key)
        }
    }

    /// Says the estimate against `last`: its total and each line's quantity against the same
    /// product family in `last`.
    pub(super) fn compare_with(&mut self, upcoming: &Invoice, last: &Invoice, key: u64) {
        if !upcoming.currency.eq_ignore_ascii_case(&last.currency) {
            return;
        }
        let diff = upcoming.total - last.total;
        let money = |m: i64| fmt_money(m, &upcoming.currency);
        let change = if diff == 0 {
            "the same".to_owned()
        } else if last.total > 0 {
            let pct = diff as f64 * 100.0 / last.total as f64;
            format!(
                "{} ({}{:.1}\u{a0}%)",
                signed(diff, money),
                if pct < 0.0 { "\u{2212}" } else { "+" },
                pct.abs()
            )
        } else {
            signed(diff, money)
        };
        let number = last
            .number
            .clone()
            .or_else(|| last.id.clone())
            .unwrap_or_else(|| "the last invoice".into());
        let href = InvoiceView::row(last, key).detail;
        self.against = Some(Against {
            number,
            href,
            change,
        });
        // A family's quantity against the same family's, said once on its first line.
        let (before, now) = (family_quantities(last), family_quantities(upcoming));
        let quantity = |list: &[(&str, i64)], f: &str| {
            list.iter().find(|(n, _)| *n == f).map_or(0, |(_, q)| *q)
        };
        let mut said: Vec<&str> = Vec::new();
        for (view, line) in self.lines.iter_mut().zip(&upcoming.lines) {
            let Some(f) = family_of(line).filter(|f| !said.contains(f)) else {
                continue;
            };
            said.push(f);
            let d = quantity(&now, f) - quantity(&before, f);
            view.change = Some(if d == 0 {
                "no change".into()
            } else {
                signed(d, fmt_int)
            });
        }
    }

    /// The invoice as a row of the past invoices' list: what [`InvoiceView::new`] gives, without
    /// the lines, facts and footer the list does not show (a tenth of a millisecond a page for
    /// twelve invoices).
    pub(super) fn row(i: &Invoice, key: u64) -> Self {
        Self {
            number: i
                .number
                .clone()
                .or_else(|| i.id.clone())
                .unwrap_or_else(|| "–".into()),
            detail: i.id.as_ref().map(|id| super::invoice_href(id, key, "")),
            lines_csv: i
                .id
                .as_ref()
                .map(|id| super::invoice_href(id, key, "/lines.csv")),
            period: period_text(i.period_start.as_ref(), i.period_end.as_ref()),
            created: fmt_opt_date(i.created.as_ref()),
            status: i.status.label(),
            status_class: i.status.css(),
            total: fmt_money(i.total, &i.currency),
            next_payment: fmt_opt_date(i.next_payment_attempt.as_ref()),
            hosted_href: i.hosted_invoice_url.as_deref().and_then(safe_href),
            pdf_href: i.invoice_pdf.as_deref().and_then(safe_href),
            lines: Vec::new(),
            facts: Vec::new(),
            subtotal: i.subtotal.map(|m| fmt_money(m, &i.currency)),
            tax: i.tax.map(|m| fmt_money(m, &i.currency)),
            against: None,
            lines_note: i.missing_lines().map(|(sent, total)| match total {
                Some(total) => format!(
                    "WordPress.com sent {} of this invoice's {} lines; lines and figures computed from them are partial.",
                    fmt_int(sent as i64),
                    fmt_int(i64::try_from(total).unwrap_or(i64::MAX))
                ),
                None => format!(
                    "WordPress.com sent {} lines and says this invoice has more; lines and figures computed from them are partial.",
                    fmt_int(sent as i64)
                ),
            }),
        }
    }
}
