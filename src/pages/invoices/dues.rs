//! What finance must act on: an invoice past due or whose payment failed, raised as a banner on
//! the overview and the invoices page with the amount due, the due date, Stripe's next attempt
//! and a link to pay or update the card where WordPress.com gives one.

pub use crate::billing::{Due, dues_of};
use crate::{auth::scope::KeyScope, state::AppState, upstream::InvoiceList};

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
