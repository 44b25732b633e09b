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
    auth::scope::{ApiKeyScope, KeyScope},
    error::AppError,
    products,
    state::AppState,
    upstream::{RawResponse, Route, UpstreamError, lenient},
    web::query::Pairs,
};

/// The proxy routes.
pub(super) fn router(state: &AppState) -> Router<AppState> {
    let money = Router::new()
        .route("/api/v1/invoices", get(invoices))
        .route("/api/v1/invoices/upcoming", get(upcoming))
        // Support staff see no invoices and no amounts.
        .route_layer(axum::middleware::from_extractor_with_state::<
            crate::auth::gate::SeesMoney,
            _,
        >(state.clone()));
    Router::new()
        .route("/api/v1/activations", get(activations))
        .route("/api/v1/activations/summary", get(summary))
        .merge(money)
}

async fn forward(
    state: &AppState,
    scope: &KeyScope,
    route: Route,
    query: &[(String, String)],
) -> Result<Response, AppError> {
    let raw: RawResponse = match state.wpcom.get_raw(route, scope.token(), query).await {
        Ok(raw) => raw,
        Err(e) => {
            return Err(AppError::Upstream {
                error: e,
                here: String::new(),
            });
        }
    };
    if crate::upstream::classify(&raw) == Err(UpstreamError::Unauthorized) {
        // The token is dead: end the session (or pause the team's connection) here too, then
        // pass WordPress.com's answer on.
        scope.authed.token_rejected(state).await?;
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

/// `GET /api/v1/activations`: WordPress.com's activations list for a key.
#[utoipa::path(
    get,
    path = "/api/v1/activations",
    operation_id = "wpcom_activations",
    tag = "wordpress.com",
    params(("key" = Option<u64>, Query, description = "A key of the partner (its first key when left out)"),
        ("page" = Option<u32>, Query, minimum = 1, maximum = 1000000, description = "Page (from 1)"),
        ("per_page" = Option<u32>, Query, minimum = 1, maximum = 1000, description = "Rows per page"),
        ("plans" = Option<Vec<u64>>, Query, style = Form, explode, description = "Product ids (slugs work too)"),
        ("activated_after" = Option<String>, Query, format = Date, description = "A date or date and time"),
        ("activated_before" = Option<String>, Query, format = Date, description = "A date or date and time")),
    responses(
        (status = 200, description = "WordPress.com's own JSON, passed on as it is (see its documentation)", body = serde_json::Value),
        (status = 400, description = "A parameter cannot be read", body = super::ApiError),
        (status = 401, description = "No token, or a token that is not accepted (the portal\'s error, or WordPress.com\'s own error body passed on)", body = serde_json::Value),
        (status = 403, description = "Not a partner's login, or WordPress.com refused (the portal\'s error, or WordPress.com\'s own error body passed on)", body = serde_json::Value),
        (status = 404, description = "No such key (the portal\'s error, or WordPress.com\'s own error body passed on)", body = serde_json::Value),
        (status = 414, description = "The address is longer than the portal takes", body = super::ApiError),
        (status = 429, description = "Too many requests with this token, or WordPress.com asked to slow down (the portal\'s error, or WordPress.com\'s own error body passed on)", body = serde_json::Value),
        (status = 502, description = "WordPress.com failed (the portal\'s error, or WordPress.com\'s own error body passed on)", body = serde_json::Value),
        (status = 503, description = "The team connection is broken, or WordPress.com is busy (the portal\'s error, or WordPress.com\'s own error body passed on)", body = serde_json::Value),
        (status = 504, description = "WordPress.com did not answer in time (the portal\'s error, or WordPress.com\'s own error body passed on)", body = serde_json::Value),
    ),
    security(("token" = []), ("session" = []))
)]
pub async fn activations(
    State(state): State<AppState>,
    ApiKeyScope(scope): ApiKeyScope,
    RawQuery(raw): RawQuery,
) -> Result<Response, AppError> {
    let q = Pairs::parse(raw.as_deref());
    super::no_empty(
        &q,
        &[
            "page",
            "per_page",
            "plans",
            "activated_after",
            "activated_before",
        ],
    )?;
    super::once(
        &q,
        &["page", "per_page", "activated_after", "activated_before"],
    )?;
    let (partner, key) = (scope.partner.id, scope.key.id);
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
    forward(&state, &scope, Route::Activations { partner, key }, &query).await
}

/// `GET /api/v1/activations/summary`: WordPress.com's activations summary for a key.
#[utoipa::path(
    get,
    path = "/api/v1/activations/summary",
    operation_id = "wpcom_activations_summary",
    tag = "wordpress.com",
    params(("key" = Option<u64>, Query, description = "A key of the partner (its first key when left out)"),
        ("scale" = Option<String>, Query, description = "`day`, `month` or `year`")),
    responses(
        (status = 200, description = "WordPress.com's own JSON, passed on as it is (see its documentation)", body = serde_json::Value),
        (status = 400, description = "A parameter cannot be read", body = super::ApiError),
        (status = 401, description = "No token, or a token that is not accepted (the portal\'s error, or WordPress.com\'s own error body passed on)", body = serde_json::Value),
        (status = 403, description = "Not a partner's login, or WordPress.com refused (the portal\'s error, or WordPress.com\'s own error body passed on)", body = serde_json::Value),
        (status = 404, description = "No such key (the portal\'s error, or WordPress.com\'s own error body passed on)", body = serde_json::Value),
        (status = 414, description = "The address is longer than the portal takes", body = super::ApiError),
        (status = 429, description = "Too many requests with this token, or WordPress.com asked to slow down (the portal\'s error, or WordPress.com\'s own error body passed on)", body = serde_json::Value),
        (status = 502, description = "WordPress.com failed (the portal\'s error, or WordPress.com\'s own error body passed on)", body = serde_json::Value),
        (status = 503, description = "The team connection is broken, or WordPress.com is busy (the portal\'s error, or WordPress.com\'s own error body passed on)", body = serde_json::Value),
        (status = 504, description = "WordPress.com did not answer in time (the portal\'s error, or WordPress.com\'s own error body passed on)", body = serde_json::Value),
    ),
    security(("token" = []), ("session" = []))
)]
pub async fn summary(
    State(state): State<AppState>,
    ApiKeyScope(scope): ApiKeyScope,
    RawQuery(raw): RawQuery,
) -> Result<Response, AppError> {
    let q = Pairs::parse(raw.as_deref());
    super::no_empty(&q, &["scale"])?;
    super::once(&q, &["scale"])?;
    let query = [
        ("key_id".to_owned(), scope.key.id.to_string()),
        ("scale".to_owned(), q.scale()?.as_str().to_owned()),
    ];
    forward(&state, &scope, Route::Summary, &query).await
}

/// `GET /api/v1/invoices`: WordPress.com's past invoices for a key.
#[utoipa::path(
    get,
    path = "/api/v1/invoices",
    operation_id = "wpcom_invoices",
    tag = "wordpress.com",
    params(("key" = Option<u64>, Query, description = "A key of the partner (its first key when left out)")),
    responses(
        (status = 200, description = "WordPress.com's own JSON, passed on as it is (see its documentation)", body = serde_json::Value),
        (status = 400, description = "A parameter cannot be read", body = super::ApiError),
        (status = 401, description = "No token, or a token that is not accepted (the portal\'s error, or WordPress.com\'s own error body passed on)", body = serde_json::Value),
        (status = 403, description = "Not a partner's login, or WordPress.com refused (the portal\'s error, or WordPress.com\'s own error body passed on)", body = serde_json::Value),
        (status = 404, description = "No such key (the portal\'s error, or WordPress.com\'s own error body passed on)", body = serde_json::Value),
        (status = 414, description = "The address is longer than the portal takes", body = super::ApiError),
        (status = 429, description = "Too many requests with this token, or WordPress.com asked to slow down (the portal\'s error, or WordPress.com\'s own error body passed on)", body = serde_json::Value),
        (status = 502, description = "WordPress.com failed (the portal\'s error, or WordPress.com\'s own error body passed on)", body = serde_json::Value),
        (status = 503, description = "The team connection is broken, or WordPress.com is busy (the portal\'s error, or WordPress.com\'s own error body passed on)", body = serde_json::Value),
        (status = 504, description = "WordPress.com did not answer in time (the portal\'s error, or WordPress.com\'s own error body passed on)", body = serde_json::Value),
    ),
    security(("token" = ["invoices:read"]), ("session" = []))
)]
pub async fn invoices(
    State(state): State<AppState>,
    ApiKeyScope(scope): ApiKeyScope,
) -> Result<Response, AppError> {
    let (partner, key) = (scope.partner.id, scope.key.id);
    forward(&state, &scope, Route::Invoices { partner, key }, &[]).await
}

/// `GET /api/v1/invoices/upcoming`: WordPress.com's upcoming invoice for a key.
#[utoipa::path(
    get,
    path = "/api/v1/invoices/upcoming",
    operation_id = "wpcom_upcoming_invoice",
    tag = "wordpress.com",
    params(("key" = Option<u64>, Query, description = "A key of the partner (its first key when left out)")),
    responses(
        (status = 200, description = "WordPress.com's own JSON, passed on as it is (see its documentation)", body = serde_json::Value),
        (status = 400, description = "A parameter cannot be read", body = super::ApiError),
        (status = 401, description = "No token, or a token that is not accepted (the portal\'s error, or WordPress.com\'s own error body passed on)", body = serde_json::Value),
        (status = 403, description = "Not a partner's login, or WordPress.com refused (the portal\'s error, or WordPress.com\'s own error body passed on)", body = serde_json::Value),
        (status = 404, description = "No such key (the portal\'s error, or WordPress.com\'s own error body passed on)", body = serde_json::Value),
        (status = 414, description = "The address is longer than the portal takes", body = super::ApiError),
        (status = 429, description = "Too many requests with this token, or WordPress.com asked to slow down (the portal\'s error, or WordPress.com\'s own error body passed on)", body = serde_json::Value),
        (status = 502, description = "WordPress.com failed (the portal\'s error, or WordPress.com\'s own error body passed on)", body = serde_json::Value),
        (status = 503, description = "The team connection is broken, or WordPress.com is busy (the portal\'s error, or WordPress.com\'s own error body passed on)", body = serde_json::Value),
        (status = 504, description = "WordPress.com did not answer in time (the portal\'s error, or WordPress.com\'s own error body passed on)", body = serde_json::Value),
    ),
    security(("token" = ["invoices:read"]), ("session" = []))
)]
pub async fn upcoming(
    State(state): State<AppState>,
    ApiKeyScope(scope): ApiKeyScope,
) -> Result<Response, AppError> {
    let (partner, key) = (scope.partner.id, scope.key.id);
    forward(&state, &scope, Route::UpcomingInvoice { partner, key }, &[]).await
}
