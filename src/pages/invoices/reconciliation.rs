//! Reconciliation: an invoice's quantities per product family beside the sites the activations
//! index says were active in the invoice's period. Matching a Stripe line to a product is a
//! best guess by name, and the pages say so.

use chrono::Utc;

use super::view::line_description;
use crate::{
    auth::scope::KeyScope,
    pages::index_ready::{index_copy, unreadable},
    products,
    state::AppState,
    upstream::{Invoice, InvoiceLine},
    web::fmt_int,
};

/// One reconciliation row: an invoiced product beside what the index says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reconciled {
    /// Product family ("Personal"), or the line text when no product matched.
    pub product: String,
    /// Product ids of the family.
    pub ids: Vec<i64>,
    /// Quantity on the invoice's lines for this family.
    pub invoiced: i64,
    /// Sites of the family active at some moment of the period, per the index.
    pub indexed: Option<i64>,
}

impl Reconciled {
    /// `indexed - invoiced`, when both are known.
    pub fn difference(&self) -> Option<i64> {
        self.indexed.map(|n| n - self.invoiced)
    }
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
    let mut names: Vec<&'static str> = products::PRODUCTS.iter().map(|p| p.name).collect();
    names.sort_by_key(|n| std::cmp::Reverse(n.len()));
    names.dedup();
    names.into_iter().find(|n| {
        let n = n.to_lowercase();
        text.match_indices(&n).any(|(i, _)| {
            let before = text[..i].chars().next_back();
            let after = text[i + n.len()..].chars().next();
            !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
        })
    })
}

/// Groups an invoice's lines by product family (unmatched lines stay on their own).
pub fn invoiced_by_family(invoice: &Invoice) -> Vec<Reconciled> {
    let mut rows: Vec<Reconciled> = Vec::new();
    for line in &invoice.lines {
        let qty = line.quantity.unwrap_or(0);
        match family_of(line) {
            Some(name) => match rows
                .iter_mut()
                .find(|r| r.product == name && !r.ids.is_empty())
            {
                Some(r) => r.invoiced += qty,
                None => rows.push(Reconciled {
                    product: name.to_owned(),
                    ids: products::PRODUCTS
                        .iter()
                        .filter(|p| p.name == name)
                        .map(|p| p.id as i64)
                        .collect(),
                    invoiced: qty,
                    indexed: None,
                }),
            },
            None if line.amount != 0 || qty != 0 => rows.push(Reconciled {
                product: line_description(line),
                ids: Vec::new(),
                invoiced: qty,
                indexed: None,
            }),
            None => {}
        }
    }
    rows
}

/// A reconciliation for display.
#[derive(Debug, Clone)]
pub struct ReconView {
    /// Product.
    pub product: String,
    /// Invoiced quantity.
    pub invoiced: String,
    /// Index count.
    pub indexed: String,
    /// Difference, signed.
    pub difference: String,
    /// CSS class of the difference.
    pub class: &'static str,
    /// The sites behind the index count.
    pub href: Option<String>,
}

/// The reconciliation of `invoice`, or why there is none.
pub(super) async fn reconcile(
    state: &AppState,
    scope: &KeyScope,
    invoice: &Invoice,
) -> Result<Vec<Reconciled>, String> {
    let (Some(start), Some(end)) = (invoice.period_start, invoice.period_end) else {
        return Err(
            "This invoice has no billing period, so it cannot be compared with the index.".into(),
        );
    };
    let sync = index_copy(state, scope, "The reconciliation appears").await?;
    let mut rows = invoiced_by_family(invoice);
    let groups: Vec<Vec<i64>> = rows.iter().map(|r| r.ids.clone()).collect();
    let counts = state
        .index
        .active_during_by_group(
            scope.key.id,
            sync.generation,
            start.timestamp(),
            end.timestamp(),
            &groups,
        )
        .await
        .map_err(|e| unreadable(&e))?;
    for (row, count) in rows.iter_mut().zip(counts) {
        if !row.ids.is_empty() {
            row.indexed = Some(count);
        }
    }
    Ok(rows)
}

pub(super) fn recon_view(rows: &[Reconciled], invoice: &Invoice, key: u64) -> Vec<ReconView> {
    let day = |t: Option<chrono::DateTime<Utc>>| {
        t.map(|t| t.date_naive().to_string()).unwrap_or_default()
    };
    rows.iter()
        .map(|r| {
            let diff = r.difference();
            let mut href = None;
            if !r.ids.is_empty() {
                let mut s = url::form_urlencoded::Serializer::new(String::new());
                s.append_pair("key", &key.to_string())
                    .append_pair("active_from", &day(invoice.period_start))
                    .append_pair("active_to", &day(invoice.period_end));
                for id in &r.ids {
                    s.append_pair("current_plan", &id.to_string());
                }
                href = Some(format!("/activations?{}", s.finish()));
            }
            ReconView {
                product: r.product.clone(),
                invoiced: fmt_int(r.invoiced),
                indexed: r.indexed.map_or_else(|| "–".into(), fmt_int),
                difference: match diff {
                    None => "not matched".into(),
                    Some(0) => "0".into(),
                    Some(d) if d > 0 => format!("+{}", fmt_int(d)),
                    Some(d) => fmt_int(d),
                },
                class: match diff {
                    Some(0) => "diff-ok",
                    Some(_) => "diff-bad",
                    None => "muted",
                },
                href,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(plan: Option<&str>, description: &str, qty: i64) -> InvoiceLine {
        InvoiceLine {
            description: Some(description.into()),
            amount: qty * 100,
            quantity: Some(qty),
            plan: plan.map(Into::into),
            period_start: None,
            period_end: None,
        }
    }

    #[test]
    fn lines_map_to_product_families_by_name() {
        assert_eq!(
            family_of(&line(
                Some("Jetpack Personal"),
                "57 × Jetpack Personal (at $3.50 / month)",
                57
            )),
            Some("Personal")
        );
        assert_eq!(
            family_of(&line(None, "3 × Jetpack Scan Real-time", 3)),
            Some("Scan Real-time")
        );
        assert_eq!(
            family_of(&line(None, "Jetpack Security Daily", 1)),
            Some("Security Daily")
        );
        assert_eq!(family_of(&line(None, "Credit", 1)), None);
        assert_eq!(
            family_of(&line(None, "Personalised support", 1)),
            None,
            "whole words only"
        );
    }

    #[test]
    fn quantities_of_one_family_add_up_and_differences_are_signed() {
        let invoice = Invoice {
            id: Some("in_1".into()),
            number: None,
            status: crate::upstream::InvoiceStatus::Paid,
            currency: "usd".into(),
            total: 0,
            amount_due: None,
            created: None,
            period_start: None,
            period_end: None,
            due_date: None,
            next_payment_attempt: None,
            hosted_invoice_url: None,
            invoice_pdf: None,
            lines: vec![
                line(Some("Jetpack Personal"), "yearly", 5),
                line(Some("Jetpack Personal"), "monthly", 2),
                line(None, "Setup fee", 1),
            ],
        };
        let mut rows = invoiced_by_family(&invoice);
        assert_eq!(rows.len(), 2);
        assert_eq!(
            (rows[0].product.as_str(), rows[0].invoiced),
            ("Personal", 7)
        );
        assert!(rows[0].ids.contains(&2005) && rows[0].ids.contains(&2006));
        rows[0].indexed = Some(6);
        assert_eq!(rows[0].difference(), Some(-1));
        assert_eq!(rows[1].difference(), None);
    }
}
