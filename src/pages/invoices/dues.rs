//! What finance must act on: an invoice past due or whose payment failed, raised as a banner on
//! the overview and the invoices page with the amount due, the due date, Stripe's next attempt
//! and a link to pay or update the card where WordPress.com gives one.

use crate::{
    auth::scope::KeyScope,
    state::AppState,
    upstream::{Invoice, InvoiceList, InvoiceStatus},
    web::{fmt_date, fmt_money, safe_href},
};

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
            detail_href: invoice
                .id
                .as_ref()
                .map(|id| super::invoice_href(id, key, "")),
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

/// The key's past invoices through the cache, for pages outside the invoices family.
pub(crate) async fn past_invoice_list(
    state: &AppState,
    scope: &KeyScope,
) -> Result<std::sync::Arc<crate::cache::Fetched<InvoiceList>>, crate::upstream::UpstreamError> {
    super::past_invoices(state, scope).await.map(|(e, _)| e)
}

/// The banners for this key, for people who see money; none for the others, and none when the
/// invoices cannot be read (the invoices page says why).
pub async fn dues(state: &AppState, scope: &KeyScope) -> Vec<Due> {
    if !scope.authed.viewer().sees_money {
        return Vec::new();
    }
    match super::past_invoices(state, scope).await {
        Ok((entry, _)) => dues_of(&entry.value, scope.key.id),
        Err(_) => Vec::new(),
    }
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
