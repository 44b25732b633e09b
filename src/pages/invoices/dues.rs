//! What finance must act on: an invoice past due or whose payment failed, raised as a banner on
//! the overview and the invoices page with the amount due, the due date, Stripe's next attempt
//! and a link to pay or update the card where WordPress.com gives one.

use std::sync::Arc;

use askama::Template as _;
use axum::http::StatusCode;

pub use crate::billing::{Due, dues_of};
use crate::{
    auth::scope::KeyScope, cache::Fetched, error::AppError, rendered::Part, state::AppState,
    upstream::InvoiceList,
};

/// The banners, decided by one answer of the past invoices alone, so rendered once per answer
/// ([`Fetched::serial`]) and kept (see [`crate::rendered`]).
#[derive(askama::Template)]
#[template(path = "dues.html")]
struct DuesPart {
    /// The public URL's path (see [`crate::web::Layout::base`]).
    base: String,
    dues: Vec<Due>,
}

/// The banners of `list` for `key`, rendered, or as kept for the same answer.
pub async fn kept_dues(
    state: &AppState,
    list: &Fetched<InvoiceList>,
    key: u64,
) -> Result<Arc<Part>, AppError> {
    let name = format!("dues:{key}:{}", list.serial);
    state
        .rendered
        .get_or_render(name, async {
            let html = DuesPart {
                base: state.config.base_path().to_owned(),
                dues: dues_of(&list.value, key),
            }
            .render()
            .map_err(|e| AppError::Internal(format!("template: {e}")))?;
            Ok::<_, AppError>(Part {
                status: StatusCode::OK,
                title: String::new(),
                html,
                figure: None,
                cuts: Vec::new(),
            })
        })
        .await
}

/// The key's past invoices through the cache, for pages outside the invoices family.
pub(crate) async fn past_invoice_list(
    state: &AppState,
    scope: &KeyScope,
) -> Result<std::sync::Arc<crate::cache::Fetched<InvoiceList>>, crate::upstream::UpstreamError> {
    super::past_invoices(state, scope).await.map(|(e, _)| e)
}

/// The banners for this key, rendered, for people who see money; none for the others, and
/// none when the invoices cannot be read (the invoices page says why).
pub async fn dues(state: &AppState, scope: &KeyScope) -> Result<Option<Arc<Part>>, AppError> {
    if !scope.authed.viewer().sees_money {
        return Ok(None);
    }
    match super::past_invoices(state, scope).await {
        Ok((entry, _)) => kept_dues(state, &entry, scope.key.id).await.map(Some),
        Err(_) => Ok(None),
    }
}
