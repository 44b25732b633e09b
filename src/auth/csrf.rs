//! Cross-site request checks for every POST: the session's CSRF token (the primary defence)
//! and the request's origin.

use axum::http::{HeaderMap, header};

use super::session::AuthData;
use crate::{error::AppError, secret::constant_time_eq, state::AppState};

/// Refuses cross-site POSTs. `Sec-Fetch-Site`, when the browser sends it, decides: it must be
/// `same-origin` (or `none`, for a request the user typed). Otherwise `Origin`, when present,
/// must be the public origin. Browsers send `Origin: null` on form POSTs from pages with
/// `Referrer-Policy: no-referrer`, so `null` alone proves nothing either way; the CSRF token is
/// always required as well.
pub fn same_origin(state: &AppState, headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        return site == "same-origin" || site == "none";
    }
    match headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        None | Some("null") => true,
        Some(origin) => origin == state.config.public_url.origin().ascii_serialization(),
    }
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
