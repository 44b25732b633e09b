//! Reconciliation: an invoice's quantities per product family beside the sites the activations
//! copy says were active in the invoice's period, said in sentences a finance person reads at
//! once. Matching a Stripe line to a product is a best guess by name, and the page says so beside
//! the figures. Credits and prorations are listed apart, not as unmatched products.

use chrono::Utc;

pub use crate::billing::{OtherKind, OtherLine, Reconciled, family_ids, family_of};
use crate::{
    auth::scope::KeyScope,
    billing,
    pages::index_ready::{CopyNotice, NotReady, index_copy},
    state::AppState,
    upstream::Invoice,
    web::{fmt_int, fmt_money},
};

/// An invoice's lines split into product families and everything else.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reconciliation {
    /// One row per product family billed.
    pub rows: Vec<Reconciled>,
    /// Credits, prorations and lines naming no product.
    pub other: Vec<OtherLine>,
    /// Said when the copy the counts come from is not whole.
    pub copy: Option<CopyNotice>,
}

/// Groups an invoice's lines by product family; credits, prorations and lines naming no
/// product go apart.
pub fn split_lines(invoice: &Invoice) -> Reconciliation {
    let (rows, other) = billing::split(invoice);
    Reconciliation {
        rows,
        other,
        copy: None,
    }
}

/// A reconciliation row for display.
#[derive(Debug, Clone)]
pub struct ReconView {
    /// Product.
    pub product: String,
    /// Invoiced quantity.
    pub invoiced: String,
    /// Copy count.
    pub indexed: String,
    /// Difference, signed (active − billed).
    pub difference: String,
    /// CSS class of the difference.
    pub class: &'static str,
    /// The row in words.
    pub sentence: String,
    /// The sites behind the copy's count.
    pub href: Option<String>,
}

/// A line reported apart, for display.
#[derive(Debug, Clone)]
pub struct OtherView {
    /// "credit", "proration", "not matched to a product".
    pub kind: &'static str,
    /// Description.
    pub description: String,
    /// Quantity, formatted.
    pub quantity: String,
    /// Amount, formatted.
    pub amount: String,
}

/// The reconciliation of `invoice`, or why there is none.
pub(crate) async fn reconcile(
    state: &AppState,
    scope: &KeyScope,
    invoice: &Invoice,
) -> Result<Reconciliation, NotReady> {
    let (Some(start), Some(end)) = (invoice.period_start, invoice.period_end) else {
        return Err(NotReady::failed(
            "This invoice has no billing period, so it cannot be compared with the index.".into(),
        ));
    };
    let sync = index_copy(state, scope, "The reconciliation fills in").await?;
    let mut recon = split_lines(invoice);
    let groups: Vec<Vec<i64>> = recon.rows.iter().map(|r| r.ids.clone()).collect();
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
        .map_err(|e| NotReady::unreadable(&e))?;
    for (row, count) in recon.rows.iter_mut().zip(counts) {
        row.indexed = Some(count);
    }
    recon.copy = CopyNotice::of(&sync);
    Ok(recon)
}

/// The list of the sites whose current product is one of `ids` and that were active at any
/// moment of the invoice's period: the sites a line of that family bills.
pub fn sites_href(key: u64, ids: &[i64], invoice: &Invoice) -> String {
    let day = |t: Option<chrono::DateTime<Utc>>| {
        t.map(|t| t.date_naive().to_string()).unwrap_or_default()
    };
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    s.append_pair("key", &key.to_string())
        .append_pair("active_from", &day(invoice.period_start))
        .append_pair("active_to", &day(invoice.period_end));
    for id in ids {
        s.append_pair("current_plan", &id.to_string());
    }
    format!("/activations?{}", s.finish())
}

/// The rows for display, each linking to exactly the sites behind its count.
pub(super) fn recon_view(recon: &Reconciliation, invoice: &Invoice, key: u64) -> Vec<ReconView> {
    recon
        .rows
        .iter()
        .map(|r| {
            let diff = r.difference();
            ReconView {
                product: r.product.clone(),
                invoiced: fmt_int(r.invoiced),
                indexed: r.indexed.map_or_else(|| "–".into(), fmt_int),
                difference: match diff {
                    None => "–".into(),
                    Some(0) => "0".into(),
                    Some(d) if d > 0 => format!("+{}", fmt_int(d)),
                    Some(d) => fmt_int(d),
                },
                class: match diff {
                    Some(0) => "diff-ok",
                    Some(_) => "diff-bad",
                    None => "muted",
                },
                sentence: r.sentence(),
                href: Some(sites_href(key, &r.ids, invoice)),
            }
        })
        .collect()
}

/// The lines reported apart, for display.
pub(super) fn other_view(recon: &Reconciliation, currency: &str) -> Vec<OtherView> {
    recon
        .other
        .iter()
        .map(|o| OtherView {
            kind: o.kind.label(),
            description: o.description.clone(),
            quantity: o.quantity.map_or_else(String::new, fmt_int),
            amount: fmt_money(o.amount, currency),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::upstream::InvoiceLine;

    fn line(plan: Option<&str>, description: &str, qty: i64) -> InvoiceLine {
        InvoiceLine {
            description: Some(description.into()),
            amount: qty * 100,
            quantity: Some(qty),
            plan: plan.map(Into::into),
            ..InvoiceLine::default()
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

    fn invoice(lines: Vec<InvoiceLine>) -> Invoice {
        Invoice {
            id: Some("in_1".into()),
            status: crate::upstream::InvoiceStatus::Paid,
            currency: "usd".into(),
            lines,
            ..Invoice::default()
        }
    }

    #[test]
    fn quantities_of_one_family_add_up_and_other_lines_go_apart() {
        let mut proration = line(
            Some("Jetpack Personal"),
            "Unused time on Jetpack Personal",
            1,
        );
        proration.proration = true;
        proration.amount = -350;
        let mut credit = line(None, "Credit", 1);
        credit.amount = 0;
        let mut recon = split_lines(&invoice(vec![
            line(Some("Jetpack Personal"), "yearly", 5),
            line(Some("Jetpack Personal"), "monthly", 2),
            line(None, "Setup fee", 1),
            credit,
            proration,
        ]));
        assert_eq!(recon.rows.len(), 1, "one row per family, nothing else");
        assert_eq!(
            (recon.rows[0].product.as_str(), recon.rows[0].invoiced),
            ("Jetpack Personal", 7)
        );
        assert!(recon.rows[0].ids.contains(&2005) && recon.rows[0].ids.contains(&2006));
        let kinds: Vec<_> = recon.other.iter().map(|o| o.kind).collect();
        assert_eq!(
            kinds,
            [
                OtherKind::Unmatched,
                OtherKind::Credit,
                OtherKind::Proration
            ]
        );
        recon.rows[0].indexed = Some(6);
        assert_eq!(recon.rows[0].difference(), Some(-1));
    }

    #[test]
    fn each_row_reads_as_a_sentence_with_the_sign_explained() {
        let row = |invoiced, indexed| Reconciled {
            product: "Jetpack Premium".into(),
            ids: vec![2000],
            invoiced,
            indexed: Some(indexed),
        };
        assert_eq!(
            row(537, 536).sentence(),
            "Billed for 537 Jetpack Premium sites; 536 were active in the period: 1 more billed than active."
        );
        assert_eq!(
            row(10, 12).sentence(),
            "Billed for 10 Jetpack Premium sites; 12 were active in the period: 2 active sites were not billed."
        );
        assert_eq!(
            row(1, 1).sentence(),
            "Billed for 1 Jetpack Premium site; 1 was active in the period."
        );
        assert_eq!(
            row(1200, 1201).sentence(),
            "Billed for 1,200 Jetpack Premium sites; 1,201 were active in the period: 1 active site was not billed."
        );
    }
}
