//! `POST /activations/refresh`: "Refresh now" starts a new copy of the key's activations.

use axum::{
    Form,
    extract::State,
    http::HeaderMap,
    response::{IntoResponse, Redirect, Response},
};
use serde::Deserialize;

use crate::{
    auth::{check_csrf, next_url::SafeNext, scope::KeyScope, session::Authed},
    error::AppError,
    state::AppState,
};

/// The refresh form.
#[derive(Debug, Deserialize)]
pub struct RefreshForm {
    csrf: Option<String>,
    key: Option<u64>,
    back: Option<String>,
}

/// `POST /activations/refresh`: forces a sync of the key.
pub async fn refresh_post(
    State(state): State<AppState>,
    authed: Authed,
    headers: HeaderMap,
    Form(form): Form<RefreshForm>,
) -> Result<Response, AppError> {
    check_csrf(&state, &headers, &authed.data, form.csrf.as_deref())?;
    let scope = KeyScope::new(authed, form.key)?;
    state
        .index
        .start(scope.token().clone(), scope.partner.id, scope.key.id)
        .await?;
    let back = SafeNext::parse(form.back.as_deref().unwrap_or("/activations"));
    Ok(Redirect::to(back.as_str()).into_response())
}
