//! JSON routes that forward to the four reporting endpoints with the session's token and the
//! selected key, so a partner's curl scripts work with a dashboard session instead of a pasted
//! token. The upstream status and JSON body are returned as they are; parameters are validated
//! first. Unauthenticated calls get 401 JSON, never a redirect.

use axum::{
    Router,
    extract::{RawQuery, State},
    http::{StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};

use crate::{
    auth::session::ApiAuthed,
    error::AppError,
    pages::{query::Pairs, select_key},
    products,
    state::AppState,
    upstream::{RawResponse, Route, UpstreamError, lenient},
};

/// The proxy routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/activations", get(activations))
        .route("/api/v1/activations/summary", get(summary))
        .route("/api/v1/invoices", get(invoices))
        .route("/api/v1/invoices/upcoming", get(upcoming))
}

async fn forward(
    state: &AppState,
    ApiAuthed(authed): &ApiAuthed,
    route: Route,
    query: &[(String, String)],
) -> Result<Response, AppError> {
    let raw: RawResponse = match state.wpcom.get_raw(route, &authed.data.token, query).await {
        Ok(raw) => raw,
        Err(e) => {
            return Err(AppError::Upstream {
                error: e,
                here: String::new(),
            });
        }
    };
    if crate::upstream::classify(&raw) == Err(UpstreamError::Unauthorized) {
        // The token is dead: end the session here too, then pass WordPress.com's answer on.
        authed.session.flush().await?;
    }
    let status = StatusCode::from_u16(raw.status.as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut response = (
        status,
        [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
        raw.body,
    )
        .into_response();
    if let Some(s) = raw.retry_after
        && let Ok(v) = s.to_string().parse()
    {
        response.headers_mut().insert(header::RETRY_AFTER, v);
    }
    Ok(response)
}

/// The partner id and the selected key id.
fn ids(api: &ApiAuthed, q: &Pairs) -> Result<(u64, u64), AppError> {
    let key = select_key(&api.0, q.key()?)?;
    Ok((api.0.partner()?.id, key.id))
}

async fn activations(
    State(state): State<AppState>,
    api: ApiAuthed,
    RawQuery(raw): RawQuery,
) -> Result<Response, AppError> {
    let q = Pairs::parse(raw.as_deref());
    let (partner, key) = ids(&api, &q)?;
    let mut query = vec![
        (
            "page".to_owned(),
            q.int("page", 1, 1, 1_000_000)?.to_string(),
        ),
        (
            "per_page".to_owned(),
            q.int("per_page", 20, 1, 1000)?.to_string(),
        ),
    ];
    for plan in q.all("plans") {
        products::resolve(&plan)
            .ok_or_else(|| AppError::BadRequest(format!("Unknown plan {plan:?}.")))?;
        query.push(("plans[]".to_owned(), plan));
    }
    for name in ["activated_after", "activated_before"] {
        if let Some(v) = q.get(name) {
            lenient::parse_datetime(v).ok_or_else(|| {
                AppError::BadRequest(format!("{name} must be a date or datetime."))
            })?;
            query.push((name.to_owned(), v.to_owned()));
        }
    }
    forward(&state, &api, Route::Activations { partner, key }, &query).await
}

async fn summary(
    State(state): State<AppState>,
    api: ApiAuthed,
    RawQuery(raw): RawQuery,
) -> Result<Response, AppError> {
    let q = Pairs::parse(raw.as_deref());
    let (_, key) = ids(&api, &q)?;
    let query = [
        ("key_id".to_owned(), key.to_string()),
        ("scale".to_owned(), q.scale()?.as_str().to_owned()),
    ];
    forward(&state, &api, Route::Summary, &query).await
}

async fn invoices(
    State(state): State<AppState>,
    api: ApiAuthed,
    RawQuery(raw): RawQuery,
) -> Result<Response, AppError> {
    let (partner, key) = ids(&api, &Pairs::parse(raw.as_deref()))?;
    forward(&state, &api, Route::Invoices { partner, key }, &[]).await
}

async fn upcoming(
    State(state): State<AppState>,
    api: ApiAuthed,
    RawQuery(raw): RawQuery,
) -> Result<Response, AppError> {
    let (partner, key) = ids(&api, &Pairs::parse(raw.as_deref()))?;
    forward(&state, &api, Route::UpcomingInvoice { partner, key }, &[]).await
}
