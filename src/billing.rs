//! What an invoice bills and what it asks of finance: each Stripe line's product family (a best
//! guess by name: WordPress.com does not say which product a line is for), credits and
//! prorations set apart, and whether the invoice needs action. The invoice pages, the JSON API
//! and the notifications all read invoices through this module.

use crate::{
    format::{fmt_date, fmt_int, fmt_money, safe_href},
    products,
    upstream::{Invoice, InvoiceLine, InvoiceList, InvoiceStatus},
};

/// The path of invoice `id`'s page here, or of a file under it (`rest` is "" or "/lines.csv").
pub fn invoice_href(id: &str, key: u64, rest: &str) -> String {
    let id: String = url::form_urlencoded::byte_serialize(id.as_bytes()).collect();
    format!("/invoices/{id}{rest}?key={key}")
}

/// What a line says it is: its description, else its plan.
pub fn line_description(l: &InvoiceLine) -> String {
    l.description
        .clone()
        .or_else(|| l.plan.clone())
        .unwrap_or_else(|| "–".into())
}

/// One reconciliation row: an invoiced product family beside what the copy says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reconciled {
    /// Product family as shown ("Jetpack Personal").
    pub product: String,
    /// Product ids of the family.
    pub ids: Vec<i64>,
    /// Quantity on the invoice's lines for this family.
    pub invoiced: i64,
    /// Sites of the family active at some moment of the period, per the copy.
    pub indexed: Option<i64>,
}

impl Reconciled {
    /// `indexed - invoiced`, when both are known: negative means more billed than active.
    pub fn difference(&self) -> Option<i64> {
        self.indexed.map(|n| n - self.invoiced)
    }

    /// "Billed for 537 Jetpack Premium sites; 536 were active in the period: 1 more billed
    /// than active."
    pub fn sentence(&self) -> String {
        let billed = format!(
            "Billed for {} {} site{}",
            fmt_int(self.invoiced),
            self.product,
            if self.invoiced == 1 { "" } else { "s" }
        );
        let Some(active) = self.indexed else {
            return format!("{billed}.");
        };
        let were = if active == 1 { "was" } else { "were" };
        let head = format!("{billed}; {} {were} active in the period", fmt_int(active));
        match active - self.invoiced {
            0 => format!("{head}."),
            d if d < 0 => format!("{head}: {} more billed than active.", fmt_int(-d)),
            d => format!(
                "{head}: {} active site{} not billed.",
                fmt_int(d),
                if d == 1 { " was" } else { "s were" }
            ),
        }
    }
}

/// What a line that bills no product family is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OtherKind {
    /// A credit or discount.
    Credit,
    /// A proration (a change within a period).
    Proration,
    /// A charge whose product the portal could not tell.
    Unmatched,
}

impl OtherKind {
    /// How the page and the CSV name it.
    pub fn label(self) -> &'static str {
        match self {
            Self::Credit => "credit",
            Self::Proration => "proration",
            Self::Unmatched => "not matched to a product",
        }
    }
}

/// A line reported apart from the product families.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtherLine {
    /// What it is.
    pub kind: OtherKind,
    /// Its description (untrusted text).
    pub description: String,
    /// Its quantity.
    pub quantity: Option<i64>,
    /// Its amount in minor units.
    pub amount: i64,
}

/// The product family a line bills, matched by name in its plan nickname and description.
/// This is a best guess: WordPress.com does not say which product a Stripe line is for.
pub fn family_of(line: &InvoiceLine) -> Option<&'static str> {
    let text = format!(
        "{} {}",
        line.plan.as_deref().unwrap_or(""),
        line.description.as_deref().unwrap_or("")
    )
    .to_lowercase();
    family_names()
        .iter()
        .find(|(_, lower)| has_word(&text, lower))
        .map(|(name, _)| *name)
}

/// The product family names, longest first (so "Security Daily" wins over "Security"), each
/// with its lower-case form: sorted once, as every invoice line of every page asks.
fn family_names() -> &'static [(&'static str, String)] {
    static NAMES: std::sync::OnceLock<Vec<(&'static str, String)>> = std::sync::OnceLock::new();
    NAMES.get_or_init(|| {
        let mut names: Vec<&'static str> = products::PRODUCTS.iter().map(|p| p.name).collect();
        names.sort_by_key(|n| std::cmp::Reverse(n.len()));
        names.dedup();
        names.into_iter().map(|n| (n, n.to_lowercase())).collect()
    })
}

/// Whether `word` stands in `text` as a whole word.
fn has_word(text: &str, word: &str) -> bool {
    text.match_indices(word).any(|(i, _)| {
        let before = text[..i].chars().next_back();
        let after = text[i + word.len()..].chars().next();
        !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
    })
}

/// What a line is, when it is not a charge for a product family.
fn other_kind(line: &InvoiceLine) -> Option<OtherKind> {
    let text = line_description(line).to_lowercase();
    if line.proration {
        Some(OtherKind::Proration)
    } else if line.amount < 0 || has_word(&text, "credit") || has_word(&text, "discount") {
        Some(OtherKind::Credit)
    } else if family_of(line).is_some() {
        None
    } else if line.amount != 0 || line.quantity.unwrap_or(0) != 0 {
        Some(OtherKind::Unmatched)
    } else {
        None
    }
}

/// The ids of the products of `family` (a name of [`products::PRODUCTS`]).
pub fn family_ids(family: &str) -> Vec<i64> {
    products::PRODUCTS
        .iter()
        .filter(|p| p.name == family)
        .map(|p| p.id as i64)
        .collect()
}

/// An invoice's lines split into product families (each with the quantity billed, the copy's
/// count not yet known) and everything else.
pub fn split(invoice: &Invoice) -> (Vec<Reconciled>, Vec<OtherLine>) {
    let mut rows: Vec<Reconciled> = Vec::new();
    let mut other = Vec::new();
    for line in &invoice.lines {
        if let Some(kind) = other_kind(line) {
            other.push(OtherLine {
                kind,
                description: line_description(line),
                quantity: line.quantity,
                amount: line.amount,
            });
            continue;
        }
        let Some(name) = family_of(line) else {
            continue;
        };
        let qty = line.quantity.unwrap_or(0);
        let product = products::family_name(name);
        match rows.iter_mut().find(|r| r.product == product) {
            Some(r) => r.invoiced += qty,
            None => rows.push(Reconciled {
                product,
                ids: family_ids(name),
                invoiced: qty,
                indexed: None,
            }),
        }
    }
    (rows, other)
}

/// One invoice that needs action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Due {
    /// "Payment failed for invoice EXHOST-0012".
    pub headline: String,
    /// "$1,234.50 is due", with the due date and the next attempt when there are.
    pub details: String,
    /// The invoice's page here.
    pub detail_href: Option<String>,
    /// Stripe's hosted invoice page (http(s) only), where the invoice can be paid or the card
    /// updated.
    pub pay_href: Option<String>,
}

impl Due {
    /// The banner of `invoice`, when it needs action.
    pub fn of(invoice: &Invoice, key: u64) -> Option<Self> {
        if !invoice.status.needs_action() {
            return None;
        }
        let number = invoice
            .number
            .as_deref()
            .or(invoice.id.as_deref())
            .unwrap_or("without a number");
        let headline = match invoice.status {
            InvoiceStatus::PastDue => format!("Invoice {number} is past due"),
            _ => format!("Payment failed for invoice {number}"),
        };
        let owed = invoice
            .amount_remaining
            .or(invoice.amount_due)
            .unwrap_or(invoice.total);
        let mut details = vec![format!("{} is due", fmt_money(owed, &invoice.currency))];
        if let Some(d) = &invoice.due_date {
            details.push(format!("it was due on {}", fmt_date(d)));
        }
        match (invoice.status, &invoice.next_payment_attempt) {
            (InvoiceStatus::Retrying { next }, _) => {
                details.push(format!(
                    "Stripe tries the card again on {}",
                    fmt_date(&next)
                ));
            }
            (_, Some(next)) => {
                details.push(format!("Stripe tries again on {}", fmt_date(next)));
            }
            _ => details.push("Stripe has no further attempt scheduled".into()),
        }
        Some(Self {
            headline,
            details: format!("{}.", details.join("; ")),
            detail_href: invoice.id.as_ref().map(|id| invoice_href(id, key, "")),
            pay_href: invoice.hosted_invoice_url.as_deref().and_then(safe_href),
        })
    }
}

/// The banners of a list of invoices, newest first.
pub fn dues_of(list: &InvoiceList, key: u64) -> Vec<Due> {
    list.invoices
        .iter()
        .filter_map(|i| Due::of(i, key))
        .collect()
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone as _, Utc};

    use super::*;

    #[test]
    fn a_failed_payment_says_what_is_due_when_and_where_to_pay() {
        let next = Utc.with_ymd_and_hms(2026, 12, 4, 0, 0, 0).unwrap();
        let invoice = Invoice {
            id: Some("in_1".into()),
            number: Some("EXHOST-0012".into()),
            status: InvoiceStatus::Retrying { next },
            currency: "usd".into(),
            total: 123_450,
            amount_remaining: Some(123_450),
            next_payment_attempt: Some(next),
            hosted_invoice_url: Some("https://invoice.stripe.com/i/x".into()),
            ..Invoice::default()
        };
        let due = Due::of(&invoice, 70).unwrap();
        assert_eq!(due.headline, "Payment failed for invoice EXHOST-0012");
        assert_eq!(
            due.details,
            "$1,234.50 is due; Stripe tries the card again on 4 Dec 2026."
        );
        assert_eq!(
            due.pay_href.as_deref(),
            Some("https://invoice.stripe.com/i/x")
        );
        assert_eq!(due.detail_href.as_deref(), Some("/invoices/in_1?key=70"));
        let hostile = Invoice {
            hosted_invoice_url: Some("javascript:alert(1)".into()),
            ..invoice.clone()
        };
        assert_eq!(Due::of(&hostile, 70).unwrap().pay_href, None);
        let paid = Invoice {
            status: InvoiceStatus::Paid,
            ..invoice
        };
        assert!(Due::of(&paid, 70).is_none());
    }
}
