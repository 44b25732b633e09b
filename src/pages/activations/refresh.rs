//! `POST /activations/refresh`: "Refresh now" starts a new copy of the key's activations,
//! unless one runs or one finished less than `PORTAL_REFRESH_MIN_INTERVAL` ago: ten clicks
//! must not cause ten full reads of WordPress.com. The page it returns to says so.

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
    let back = SafeNext::parse(form.back.as_deref().unwrap_or("/activations"));
    let sync = state.index.state(scope.key.id).await?;
    let last = sync.synced_at.max(sync.failed_at);
    let min = i64::try_from(state.config.refresh_min_interval.as_secs()).unwrap_or(i64::MAX);
    let skipped = if sync.running {
        Some("running")
    } else if last.is_some_and(|t| state.clock.now() - t < min) {
        Some("recent")
    } else {
        None
    };
    if let Some(why) = skipped {
        tracing::info!(key = scope.key.id, why, "refresh request ignored");
        return Ok(Redirect::to(&with_param(back.as_str(), "refresh", why)).into_response());
    }
    state
        .index
        .start(scope.token().clone(), scope.partner.id, scope.key.id)
        .await?;
    Ok(Redirect::to(back.as_str()).into_response())
}

/// `path?query` with `name=value` added (replacing an earlier `name`).
fn with_param(path_and_query: &str, name: &str, value: &str) -> String {
    let (path, query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    let mut out = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
        if k != name {
            out.append_pair(&k, &v);
        }
    }
    out.append_pair(name, value);
    format!("{path}?{}", out.finish())
}
