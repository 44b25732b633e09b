//! What a message is about. A rule writes a [`Fact`] (the figures, amounts included) to the
//! outbox; the sender renders it for the channel's role at the time of sending
//! (`notify::render`). Support never receives an amount: [`Fact::for_role`] drops the invoices
//! before anything is rendered.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::team::Role;

/// Activations over some days.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Activated in the days.
    pub new: i64,
    /// Cancelled in the days.
    pub cancelled: i64,
    /// New less cancelled.
    pub net: i64,
    /// Active at the start of the first day.
    pub active_start: i64,
    /// Active at the end of the last day.
    pub active_end: i64,
}

impl From<crate::index::Change> for Counts {
    fn from(c: crate::index::Change) -> Self {
        Self {
            new: c.new,
            cancelled: c.cancelled,
            net: c.net(),
            active_start: c.active_start,
            active_end: c.active_end,
        }
    }
}

/// One current product's counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductDigest {
    /// Product id.
    pub product_id: i64,
    /// Its name.
    pub product: String,
    /// Over the period.
    pub current: Counts,
    /// Over the period before it.
    pub previous: Counts,
}

/// One key's figures over a report's period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyDigest {
    /// Key id.
    pub key: u64,
    /// Its name.
    pub name: String,
    /// Over the period.
    pub current: Counts,
    /// Over the period before it, of the same length.
    pub previous: Counts,
    /// Active now, per the copy.
    pub active_now: i64,
    /// Per current product, most new first.
    pub products: Vec<ProductDigest>,
    /// When the copy the figures come from was made (Unix seconds).
    pub copied_at: Option<i64>,
    /// Said when the copy holds fewer activations than WordPress.com's total.
    pub incomplete: Option<String>,
}

/// An invoice as a message tells it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvoiceFact {
    /// Key id.
    pub key: u64,
    /// Its name.
    pub key_name: String,
    /// Stripe id.
    pub id: String,
    /// Human number.
    pub number: Option<String>,
    /// `open`, `paid`, `past_due`, `payment_failed`, …
    pub status: String,
    /// How the pages say the status.
    pub status_label: String,
    /// Total in minor units.
    pub total: i64,
    /// Still to pay, in minor units.
    pub remaining: Option<i64>,
    /// Lowercase ISO currency.
    pub currency: String,
    /// When it was issued.
    pub created: Option<DateTime<Utc>>,
    /// The billing period's first day.
    pub period_start: Option<DateTime<Utc>>,
    /// The billing period's end.
    pub period_end: Option<DateTime<Utc>>,
    /// Stripe's hosted page (http(s) only).
    pub hosted_url: Option<String>,
    /// What is due, as the pages' banner says it (past due and failed payments).
    pub due: Option<String>,
}

impl InvoiceFact {
    /// The number, or the id.
    pub fn name(&self) -> &str {
        self.number.as_deref().unwrap_or(&self.id)
    }

    /// The invoice's page here.
    pub fn href(&self) -> String {
        crate::billing::invoice_href(&self.id, self.key, "")
    }
}

/// The invoice of a closed month, with its reconciliation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MonthInvoice {
    /// Key id.
    pub key: u64,
    /// Its name.
    pub key_name: String,
    /// The invoice issued for the month, when WordPress.com has issued it.
    pub invoice: Option<InvoiceFact>,
    /// The reconciliation's result, in one sentence.
    pub reconciliation: Option<String>,
}

/// A weekly digest or a monthly summary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// `weekly` or `monthly`.
    pub period: String,
    /// `2026-W48` or `2026-11`.
    pub name: String,
    /// The period's first day.
    pub from: NaiveDate,
    /// Its last day.
    pub to: NaiveDate,
    /// The compared period's first day.
    pub previous_from: NaiveDate,
    /// Its last day.
    pub previous_to: NaiveDate,
    /// Per key.
    pub keys: Vec<KeyDigest>,
    /// Monthly: each key's invoice for the month (dropped for roles that see no money).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub invoices: Vec<MonthInvoice>,
}

/// What a rule found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Fact {
    /// A weekly digest or a monthly summary.
    Report(Report),
    /// Cancellations in a day above a threshold.
    Cancellations {
        /// Key id.
        key: u64,
        /// Its name.
        key_name: String,
        /// The day (UTC).
        day: NaiveDate,
        /// Cancellations that day (so far, for today).
        count: i64,
        /// The daily average over the 4 weeks before the day.
        average: f64,
        /// The channel's threshold (0: not used).
        threshold: i64,
        /// The channel's percentage of the average (0: not used).
        percent: i64,
    },
    /// WordPress.com issued an invoice.
    InvoiceNew(InvoiceFact),
    /// An invoice is past due or its payment failed.
    InvoiceDue(InvoiceFact),
    /// A key's copy holds fewer activations than WordPress.com's total.
    CopyIncomplete {
        /// Key id.
        key: u64,
        /// Its name.
        key_name: String,
        /// Rows in the copy.
        copied: i64,
        /// WordPress.com's total during the copy.
        reported: i64,
        /// When the copy was made.
        copied_at: Option<i64>,
    },
    /// The team connection broke.
    ConnectionBroken {
        /// Why.
        reason: String,
        /// Unix seconds.
        at: i64,
        /// Who connected it.
        owner: String,
    },
    /// The team connection was made again.
    ConnectionRestored {
        /// Who made it.
        by: String,
        /// Unix seconds.
        at: i64,
    },
    /// A test from the Send test button, with the digest of the last 7 days when there is one.
    Test {
        /// The digest.
        report: Option<Report>,
    },
}

impl Fact {
    /// The fact as `role` may receive it: amounts and invoices dropped for support.
    pub fn for_role(&self, role: Role) -> Fact {
        let mut fact = self.clone();
        if !role.sees_money() {
            match &mut fact {
                Fact::Report(r) => r.invoices.clear(),
                Fact::Test { report: Some(r) } => r.invoices.clear(),
                _ => {}
            }
        }
        fact
    }

    /// The webhook event's `type`.
    pub fn event_type(&self) -> &'static str {
        match self {
            Fact::Report(r) if r.period == "monthly" => "report.monthly",
            Fact::Report(_) => "report.weekly",
            Fact::Cancellations { .. } => "activations.cancellations_spike",
            Fact::InvoiceNew(_) => "invoice.created",
            Fact::InvoiceDue(i) if i.status == "past_due" => "invoice.past_due",
            Fact::InvoiceDue(_) => "invoice.payment_failed",
            Fact::CopyIncomplete { .. } => "copy.incomplete",
            Fact::ConnectionBroken { .. } => "connection.broken",
            Fact::ConnectionRestored { .. } => "connection.restored",
            Fact::Test { .. } => "test",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invoice() -> InvoiceFact {
        InvoiceFact {
            key: 70,
            key_name: "Production".into(),
            id: "in_1".into(),
            number: Some("EXHOST-0013".into()),
            status: "open".into(),
            status_label: "Open".into(),
            total: 123_450,
            remaining: Some(123_450),
            currency: "usd".into(),
            created: None,
            period_start: None,
            period_end: None,
            hosted_url: Some("javascript:alert(1)".into()),
            due: None,
        }
    }

    fn report() -> Report {
        let d = |m, day| NaiveDate::from_ymd_opt(2026, m, day).unwrap_or_default();
        Report {
            period: "monthly".into(),
            name: "2026-11".into(),
            from: d(11, 1),
            to: d(11, 30),
            previous_from: d(10, 1),
            previous_to: d(10, 31),
            keys: vec![KeyDigest {
                key: 70,
                name: "Production <b>".into(),
                current: Counts {
                    new: 1200,
                    cancelled: 30,
                    net: 1170,
                    active_start: 5,
                    active_end: 1175,
                },
                previous: Counts::default(),
                active_now: 1175,
                products: Vec::new(),
                copied_at: None,
                incomplete: None,
            }],
            invoices: vec![MonthInvoice {
                key: 70,
                key_name: "Production".into(),
                invoice: Some(invoice()),
                reconciliation: Some("It matches.".into()),
            }],
        }
    }

    #[test]
    fn support_never_receives_an_amount() {
        let fact = Fact::Report(report());
        let finance = fact.render(Role::Finance, "https://p.example", false, None);
        assert!(finance.text.contains("$1,234.50"), "{}", finance.text);
        let support = fact.render(Role::Support, "https://p.example", false, None);
        for part in [
            &support.text,
            &support.html,
            &support.slack,
            &support.data.to_string(),
        ] {
            assert!(
                !part.contains('$') && !part.contains("1,234") && !part.contains("123450"),
                "{part}"
            );
            assert!(!part.contains("EXHOST"), "{part}");
        }
        assert!(support.text.contains("1,200 new"), "{}", support.text);
    }

    #[test]
    fn numbers_are_formatted_as_on_the_pages_and_text_is_escaped_in_html() {
        let r = Fact::Report(report()).render(
            Role::Admin,
            "https://p.example",
            true,
            Some("https://p.example/unsubscribe/x"),
        );
        assert!(
            r.subject
                .starts_with("[sandbox] Monthly summary, November 2026"),
            "{}",
            r.subject
        );
        assert!(
            r.html.contains("Production &lt;b&gt; key")
                || r.html.contains("Production &#60;b&#62; key"),
            "{}",
            r.html
        );
        assert!(!r.html.contains("<b> key"));
        assert!(
            r.html.contains(
                "https://p.example/activations?key=70&#38;from=2026-11-01&#38;to=2026-11-30"
            ),
            "{}",
            r.html
        );
        assert!(
            r.text
                .contains("Stop these messages: https://p.example/unsubscribe/x")
        );
        assert!(
            !r.html.contains("<img") && !r.html.contains("src="),
            "no remote content"
        );
    }

    #[test]
    fn only_http_links_leave_the_portal() {
        let r = Fact::InvoiceNew(invoice()).render(Role::Finance, "https://p.example", false, None);
        assert!(!r.text.contains("javascript:"), "{}", r.text);
        assert!(!r.html.contains("javascript:"));
        assert!(
            r.text.contains("https://p.example/invoices/in_1?key=70"),
            "{}",
            r.text
        );
    }
}
