//! The sandbox's `/rest/v1.1/me` and `/wpcom/v2/jetpack-partners` family (`WPCOM_API.md` §9.4,
//! §9.5): authentication, routing to the reports, and the three error envelopes.

use axum::{
    Json,
    body::Body,
    extract::{Path, Request, State},
    http::{HeaderMap, Method, StatusCode, Uri, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use chrono::Utc;
use serde_json::{Value, json};

use super::{
    Sandbox,
    data::{self, PARTNER_ID},
    invoices::stripe,
    oauth::{TokenInfo, token_info_for},
    params::{DATETIME, numeric, parse_query, truthy},
    reports::{activations, summary},
};

/// The error body of the namespace `path` belongs to.
pub fn error_body(path: &str, code: &str, message: &str, status: StatusCode) -> Value {
    if path.starts_with("/wpcom/") {
        json!({ "code": code, "message": message, "data": { "status": status.as_u16() } })
    } else if path.starts_with("/oauth2/") {
        json!({ "error": code, "error_description": message })
    } else {
        json!({ "error": code, "message": message })
    }
}

pub(super) fn v2_error(status: StatusCode, code: &str, message: &str) -> Response {
    (status, Json(error_body("/wpcom/", code, message, status))).into_response()
}

pub(super) fn v1_error(status: StatusCode, code: &str, message: &str) -> Response {
    (status, Json(error_body("/rest/", code, message, status))).into_response()
}

pub(super) fn no_route() -> Response {
    v2_error(
        StatusCode::NOT_FOUND,
        "rest_no_route",
        "No route was found matching the URL and request method.",
    )
}

pub(super) fn forbidden() -> Response {
    v2_error(
        StatusCode::FORBIDDEN,
        "rest_forbidden",
        "Sorry, you are not allowed to do that.",
    )
}

pub(super) fn not_found(what: &str) -> Response {
    v2_error(
        StatusCode::NOT_FOUND,
        "not_found",
        &format!("{what} not found."),
    )
}

/// Unknown paths anywhere else.
pub async fn fallback(uri: Uri) -> Response {
    if uri.path().starts_with("/rest/") {
        return v1_error(
            StatusCode::NOT_FOUND,
            "unknown_endpoint",
            "Unknown endpoint.",
        );
    }
    no_route()
}

pub(super) fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// `/rest/v1.1/*`: only `me` exists here.
pub async fn rest_v1(
    State(sb): State<Sandbox>,
    method: Method,
    Path(rest): Path<String>,
    headers: HeaderMap,
) -> Response {
    if rest.trim_end_matches('/') != "me" || method != Method::GET {
        return v1_error(
            StatusCode::NOT_FOUND,
            "unknown_endpoint",
            "Unknown endpoint.",
        );
    }
    let required = || {
        v1_error(
            StatusCode::FORBIDDEN,
            "authorization_required",
            "An active access token must be used to query information about the current user.",
        )
    };
    let Some(token) = bearer(&headers) else {
        return required();
    };
    let Some(info) = token_info_for(&sb, token) else {
        return v1_error(
            StatusCode::BAD_REQUEST,
            "invalid_token",
            "The OAuth2 token is invalid.",
        );
    };
    let Some(user) = data::USERS.iter().find(|u| u.id == info.user_id) else {
        return required();
    };
    Json(json!({
        "ID": user.id, "display_name": user.display_name, "username": user.username,
        "email": user.email, "avatar_URL": "", "profile_URL": format!("https://gravatar.example/{}", user.username),
        "primary_blog": 0, "primary_blog_url": null, "language": "en",
        "token_site_id": false, "token_scope": [info.scope], "token_client_id": super::CLIENT_ID.parse::<u64>().unwrap_or(0),
        "verified": true, "email_verified": true, "date": "2015-04-01T10:00:00+00:00", "site_count": 1,
        "has_jetpack_partner_access": user.partner,
        "jetpack_partner_types": if user.partner { json!(["reseller"]) } else { json!([]) },
    }))
    .into_response()
}

/// Authenticates a `/wpcom/v2` request (`WPCOM_API.md` §9.5 rules).
pub(super) fn authenticate(sb: &Sandbox, headers: &HeaderMap) -> Result<TokenInfo, Response> {
    let Some(token) = bearer(headers) else {
        return Err(v2_error(
            StatusCode::UNAUTHORIZED,
            "rest_forbidden",
            "Sorry, you are not allowed to do that.",
        ));
    };
    let Some(info) = token_info_for(sb, token) else {
        return Err(v2_error(
            StatusCode::UNAUTHORIZED,
            "invalid_token",
            "The OAuth2 token is invalid.",
        ));
    };
    if info.scope != "global" {
        return Err(forbidden());
    }
    Ok(info)
}

pub(super) fn owns_partner(info: &TokenInfo) -> bool {
    data::USERS
        .iter()
        .any(|u| u.id == info.user_id && u.partner)
}

/// `/wpcom/v2/*`, dispatched by path segments so that the route regexes (`\d+`) and
/// `rest_no_route` behave as WordPress does.
pub async fn wpcom_v2(
    State(sb): State<Sandbox>,
    method: Method,
    Path(rest): Path<String>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let segments: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    let Some((&"jetpack-partners", tail)) = segments.split_first() else {
        return no_route();
    };
    let query = parse_query(uri.query().unwrap_or(""));
    // Route matching first: unknown routes are 404 whatever the token.
    let Some(route) = Route::of(&method, tail) else {
        return no_route();
    };
    let info = match authenticate(&sb, &headers) {
        Ok(info) => info,
        Err(r) => return r,
    };
    if !owns_partner(&info) {
        return forbidden();
    }
    answer(&sb, route, &method, &query)
}

/// What an authenticated partner gets from `route`.
fn answer(
    sb: &Sandbox,
    route: Route<'_>,
    method: &Method,
    query: &std::collections::BTreeMap<String, Vec<String>>,
) -> Response {
    let is_edit = matches!(*method, Method::POST | Method::PUT | Method::PATCH);
    match route {
        Route::Partners if is_edit => {
            sb.record_write(format!("{method} /jetpack-partners"));
            forbidden()
        }
        Route::Partners => {
            if query
                .get("all")
                .and_then(|v| v.first())
                .is_some_and(|v| truthy(v))
            {
                return forbidden();
            }
            Json(json!([partner_json(sb)])).into_response()
        }
        Route::Capabilities => Json(json!({ "partner_ids": [PARTNER_ID] })).into_response(),
        Route::Summary => summary(sb, query),
        Route::Partner(p) => with_partner(p, || Json(partner_json(sb)).into_response()),
        Route::Admin(p) => with_partner(p, || {
            sb.record_write(format!("{method} /jetpack-partners/{p}/key"));
            forbidden()
        }),
        Route::Key(p, k) => with_key(sb, p, k, |key| {
            if is_edit {
                sb.record_write(format!("{method} /jetpack-partners/{p}/key/{k}"));
                return forbidden();
            }
            Json(key).into_response()
        }),
        Route::Activations(p, k) => with_key(sb, p, k, |_| {
            activations(sb, numeric(k).unwrap_or(0), query)
        }),
        Route::Toggle(p, k, action) => with_key(sb, p, k, |_| {
            sb.record_write(format!("{method} /jetpack-partners/{p}/key/{k}/{action}"));
            toggle_key(sb, numeric(k).unwrap_or(0), action == "disable")
        }),
        Route::Cancel(p, k, a) => with_key(sb, p, k, |_| {
            sb.record_write(format!(
                "DELETE /jetpack-partners/{p}/key/{k}/activation/{a}"
            ));
            match (numeric(k), numeric(a)) {
                (Some(key), Some(id)) => cancel_activation(sb, key, id),
                _ => no_route(),
            }
        }),
        Route::Stripe(p, k, what) => {
            with_key(sb, p, k, |_| stripe(sb, numeric(k).unwrap_or(0), what))
        }
        Route::Customer(p) => with_partner(p, || {
            Json(json!({ "id": "cus_FakeHost7", "object": "customer", "email": "billing@host.example",
                         "name": "Example Hosting", "currency": "usd" }))
            .into_response()
        }),
    }
}

/// `POST …/key/{id}/disable` or `/enable`: the key as it is now.
fn toggle_key(sb: &Sandbox, id: u64, disable: bool) -> Response {
    let mut derived = sb.data_mut();
    let now = Utc::now();
    if let Some(key) = derived.seed.keys.iter_mut().find(|key| key.id == id) {
        key.disabled_on = disable.then_some(now);
    }
    Json(derived.seed.key(id).map(key_json).unwrap_or(Value::Null)).into_response()
}

/// `DELETE …/key/{key}/activation/{id}`: the activation cancelled now (once).
fn cancel_activation(sb: &Sandbox, key: u64, id: u64) -> Response {
    let mut derived = sb.data_mut();
    match derived
        .seed
        .activations
        .iter_mut()
        .find(|x| x.id == id && x.key_id == key)
    {
        Some(row) => {
            row.cancelled_on.get_or_insert(Utc::now());
            Json(json!({ "success": true })).into_response()
        }
        None => not_found("Activation"),
    }
}

impl<'a> Route<'a> {
    /// The route `method` and the path's segments after `jetpack-partners` name, as
    /// WordPress's route regexes match them.
    fn of(method: &Method, tail: &[&'a str]) -> Option<Self> {
        let is_get = *method == Method::GET;
        let is_edit = matches!(*method, Method::POST | Method::PUT | Method::PATCH);
        Some(match *tail {
            [] if is_get || is_edit => Self::Partners,
            ["activations"] if is_get => Self::Summary,
            ["capabilities"] if is_get => Self::Capabilities,
            [p] if is_get => Self::Partner(p),
            [p, "key"] if is_edit => Self::Admin(p),
            [p, "key", k] if is_get || is_edit => Self::Key(p, k),
            [p, "key", k, "activations"] if is_get => Self::Activations(p, k),
            [p, "key", k, action @ ("disable" | "enable")] if is_edit => Self::Toggle(p, k, action),
            [p, "key", k, "activation", a] if *method == Method::DELETE => Self::Cancel(p, k, a),
            [
                p,
                "key",
                k,
                "stripe",
                what @ ("invoices" | "subscription" | "upcoming-invoice"),
            ] if is_get => Self::Stripe(p, k, what),
            [p, "stripe", "customer"] if is_get => Self::Customer(p),
            _ => return None,
        })
    }
}

enum Route<'a> {
    Partners,
    Summary,
    Capabilities,
    Partner(&'a str),
    Admin(&'a str),
    Key(&'a str, &'a str),
    Activations(&'a str, &'a str),
    Toggle(&'a str, &'a str, &'a str),
    Cancel(&'a str, &'a str, &'a str),
    Stripe(&'a str, &'a str, &'a str),
    Customer(&'a str),
}

pub(super) fn with_partner(p: &str, f: impl FnOnce() -> Response) -> Response {
    match numeric(p) {
        None => no_route(),
        Some(PARTNER_ID) => f(),
        Some(_) => not_found("Partner"),
    }
}

pub(super) fn with_key(
    sb: &Sandbox,
    p: &str,
    k: &str,
    f: impl FnOnce(Value) -> Response,
) -> Response {
    let Some(key_id) = numeric(k) else {
        return no_route();
    };
    if sb.key_hidden(key_id) {
        return forbidden();
    }
    with_partner(p, || {
        let key = sb.data().seed.key(key_id).map(key_json);
        match key {
            Some(key) => f(key),
            None => not_found("Key"),
        }
    })
}

pub(super) fn key_json(k: &data::Key) -> Value {
    json!({ "id": k.id, "name": data::wp_text(k.name), "oauth2_token": format!("sandbox-key-token-{}", k.id),
            "disabled_on": k.disabled_on.map(|d| d.format(DATETIME).to_string()) })
}

pub(super) fn partner_json(sb: &Sandbox) -> Value {
    let keys: Vec<Value> = sb
        .data()
        .seed
        .keys
        .iter()
        .filter(|k| !sb.key_hidden(k.id))
        .map(key_json)
        .collect();
    json!({ "id": PARTNER_ID, "slug": "example-hosting", "name": "Example Hosting",
            "partner_type": "reseller", "keys": keys })
}

/// `_envelope` (wpcom/v2), `http_envelope` (rest/v1.x), `_pretty` / `pretty` (`WPCOM_API.md` §3.3).
pub async fn envelopes(req: Request, next: Next) -> Response {
    let path = req.uri().path().to_owned();
    let query = parse_query(req.uri().query().unwrap_or(""));
    let truthy = |k: &str| {
        query
            .get(k)
            .and_then(|v| v.last())
            .is_some_and(|v| v == "1" || v == "true")
    };
    let v2 = path.starts_with("/wpcom/v2");
    let v1 = path.starts_with("/rest/v1");
    let envelope = (v2 && query.contains_key("_envelope")) || (v1 && truthy("http_envelope"));
    let pretty = query.contains_key("_pretty") || truthy("pretty");
    let response = next.run(req).await;
    if !(envelope || pretty) || !(v1 || v2) {
        return response;
    }
    let (parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 64 * 1024 * 1024).await else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let Ok(mut value) = serde_json::from_slice::<Value>(&bytes) else {
        return Response::from_parts(parts, Body::from(bytes));
    };
    let mut status = parts.status;
    if envelope {
        let code = status.as_u16();
        value = if v2 {
            json!({ "body": value, "status": code, "headers": { "Content-Type": "application/json" } })
        } else {
            json!({ "code": code, "headers": [{ "name": "Content-Type", "value": "application/json" }], "body": value })
        };
        status = StatusCode::OK;
    }
    let text = if pretty {
        serde_json::to_string_pretty(&value)
    } else {
        serde_json::to_string(&value)
    };
    let mut response = Response::from_parts(parts, Body::from(text.unwrap_or_default()));
    *response.status_mut() = status;
    response.headers_mut().remove(header::CONTENT_LENGTH);
    response
}
