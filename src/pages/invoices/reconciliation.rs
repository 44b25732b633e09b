//! Reconciliation: an invoice's quantities per product family beside the sites the activations
//! copy says were active in the invoice's period, said in sentences a finance person reads at
//! once. Matching a Stripe line to a product is a best guess by name, and the page says so beside
//! the figures. Credits and prorations are listed apart, not as unmatched products.

use chrono::Utc;

use super::view::line_description;
use crate::{
    auth::scope::KeyScope,
    pages::index_ready::{CopyNotice, NotReady, index_copy},
    products,
    state::AppState,
    upstream::{Invoice, InvoiceLine},
    web::{fmt_int, fmt_money},
};

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

/// Groups an invoice's lines by product family; credits, prorations and lines naming no
/// product go apart.
pub fn split_lines(invoice: &Invoice) -> Reconciliation {
    let mut out = Reconciliation::default();
    for line in &invoice.lines {
        if let Some(kind) = other_kind(line) {
            out.other.push(OtherLine {
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
        match out.rows.iter_mut().find(|r| r.product == product) {
            Some(r) => r.invoiced += qty,
            None => out.rows.push(Reconciled {
                product,
                ids: family_ids(name),
                invoiced: qty,
                indexed: None,
            }),
        }
    }
    out
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

/// The ids of the products of `family` (a name of [`products::PRODUCTS`]).
pub fn family_ids(family: &str) -> Vec<i64> {
    products::PRODUCTS
        .iter()
        .filter(|p| p.name == family)
        .map(|p| p.id as i64)
        .collect()
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
