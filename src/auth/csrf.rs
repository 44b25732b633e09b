//! Cross-site request checks for every POST: the session's CSRF token (the primary defence)
//! and the request's origin.

use axum::http::{HeaderMap, header};

use super::session::AuthData;
use crate::{error::AppError, secret::constant_time_eq, state::AppState};

/// Refuses a POST that carries any explicit cross-site signal; the CSRF token stays the primary
/// defence and is always required as well.
///
/// - `Sec-Fetch-Site`, when sent, must be `same-origin` (or `none`, a request the user typed).
/// - `Origin`, when sent, must be the public origin. Browsers send `Origin: null` on form POSTs
///   from pages with `Referrer-Policy: no-referrer` (ours), so `null` is accepted only when
///   `Sec-Fetch-Site` says `same-origin`.
/// - Without `Origin`, a `Referer`, when sent, must be on the public origin.
pub fn same_origin(state: &AppState, headers: &HeaderMap) -> bool {
    let get = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    let ours = state.config.public_url.origin().ascii_serialization();
    let site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok());
    if site.is_some_and(|s| s != "same-origin" && s != "none") {
        return false;
    }
    match get(header::ORIGIN) {
        Some("null") => site == Some("same-origin"),
        Some(origin) => origin == ours,
        None => get(header::REFERER).is_none_or(|r| {
            url::Url::parse(r).is_ok_and(|u| u.origin().ascii_serialization() == ours)
        }),
    }
}

/// A form that carries only its CSRF token (the buttons that revoke, remove, connect).
#[derive(Debug, serde::Deserialize)]
pub struct CsrfForm {
    /// The session's CSRF token.
    pub csrf: Option<String>,
}

/// Checks a form's CSRF token against the session's, and the request's origin.
pub fn check_csrf(
    state: &AppState,
    headers: &HeaderMap,
    data: &AuthData,
    token: Option<&str>,
) -> Result<(), AppError> {
    let ok = token.is_some_and(|t| constant_time_eq(t, data.csrf.expose()))
        && same_origin(state, headers);
    if ok { Ok(()) } else { Err(AppError::Csrf) }
}
