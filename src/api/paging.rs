//! Paging the JSON list: the cursor a `next` link carries, and the page of rows kept per copy
//! generation, day and address.

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use super::copy::Activation;
use crate::{
    error::AppError,
    index::{
        keyset::{After, KeyedRow},
        query::{Facets, Filter},
    },
    state::AppState,
    web::query::Pairs,
};

/// What a cursor holds: where the last page ended, and which query it belongs to.
#[derive(Debug, Serialize, Deserialize)]
struct Cursor {
    /// The query's filter and order, hashed.
    f: String,
    /// The last row's place.
    a: After,
}

/// A short hash of the filter and order a cursor belongs to.
fn fingerprint(f: &Filter) -> String {
    let digest = Sha256::digest(format!("{f:?}").as_bytes());
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

fn encode_cursor(f: &Filter, row: &KeyedRow) -> String {
    let cursor = Cursor {
        f: fingerprint(f),
        a: row.after(),
    };
    let json = serde_json::to_vec(&cursor).unwrap_or_default();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
}

pub(super) fn decode_cursor(text: &str, f: &Filter) -> Result<After, AppError> {
    let bad = || {
        AppError::BadRequest(
            "The cursor cannot be read. Use the `next` link of the previous page as it is.".into(),
        )
    };
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text.trim())
        .map_err(|_| bad())?;
    let cursor: Cursor = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    if cursor.f != fingerprint(f) {
        return Err(AppError::BadRequest(
            "The cursor belongs to a list with other filters or another order. Keep every parameter of the first page, or start again without a cursor.".into(),
        ));
    }
    Ok(cursor.a)
}

/// A value that could not be written as JSON (none of ours fails to).
pub(super) fn json_error(e: serde_json::Error) -> AppError {
    AppError::Internal(format!("writing JSON: {e}"))
}

/// What an [`ActivationsAnswer`] holds after the copy's state and the key: the part kept per
/// copy generation, day and address.
#[derive(Serialize)]
pub(super) struct ActivationsPage {
    total: i64,
    activations: Vec<Activation>,
    next: Option<String>,
}

impl ActivationsPage {
    /// The page of `rows` (one more than `limit` when there is a next page) for the query `q`.
    pub(super) fn new(
        state: &AppState,
        key: u64,
        q: &Pairs,
        filter: &Filter,
        facets: std::sync::Arc<Facets>,
        mut rows: Vec<KeyedRow>,
        limit: u32,
    ) -> Self {
        let more = rows.len() > limit as usize;
        rows.truncate(limit as usize);
        let base = state.config.base_path();
        let next = match rows.last() {
            Some(last) if more => {
                let mut s = url::form_urlencoded::Serializer::new(String::new());
                for (k, v) in q.iter().filter(|(k, _)| *k != "cursor") {
                    s.append_pair(k, v);
                }
                s.append_pair("cursor", &encode_cursor(filter, last));
                Some(format!(
                    "{base}/api/v1/keys/{key}/activations?{}",
                    s.finish()
                ))
            }
            _ => None,
        };
        Self {
            total: facets.total(filter.status),
            activations: rows
                .iter()
                .map(|r| Activation::new(&r.row, key, base))
                .collect(),
            next,
        }
    }
}
