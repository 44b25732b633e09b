//! The outermost middleware: a request id for every request, error pages (or JSON under
//! `/api/`) for every [`ErrorView`], the sub-path prefix on redirects, security headers, one log
//! line and the request metrics. It never logs a query string.

use askama::Template;
use axum::{
    Json,
    extract::{MatchedPath, Request, State},
    http::{HeaderName, HeaderValue, header},
    middleware::Next,
    response::{Html, IntoResponse, Response},
};
use serde_json::json;

use super::{Layout, ViewerSlot, section_of};
use crate::{error::ErrorView, state::AppState};

/// The request id header, set on every response and shown on error pages.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    layout: Layout,
    view: &'a ErrorView,
}

fn new_request_id() -> String {
    use rand::RngCore as _;
    format!("{:016x}", rand::rng().next_u64())
}

/// Gives the request an id, renders [`ErrorView`]s as pages (or JSON for
/// `/api/`), sets security headers, and logs one line per request (never the query string).
pub async fn finish_response(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Response {
    let started = std::time::Instant::now();
    let request_id = new_request_id();
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        req.headers_mut().insert(REQUEST_ID, v);
    }
    let viewer = ViewerSlot::default();
    req.extensions_mut().insert(viewer.clone());
    let method = req.method().clone();
    // An invite link's secret is its path: it never reaches the log, a metric or an error page.
    let mut path = loggable_path(req.uri().path());
    // An address too long to serve is logged by its start (the limit refuses it below).
    if path.len() > 256 {
        let mut cut = 256;
        while !path.is_char_boundary(cut) {
            cut -= 1;
        }
        path.truncate(cut);
        path.push('…');
    }
    // A cheap clone (the URI's bytes are shared): its `key` is read only for an error page.
    let uri = req.uri().clone();
    // A script's request (a portal API token, on a CSV download too) gets its errors as JSON.
    let json = path.starts_with("/api/") || crate::tokens::portal_token(req.headers()).is_some();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned());
    let mut response = next.run(req).await;
    let page = ErrorContext {
        json,
        path: &path,
        request_id: &request_id,
        viewer: &viewer,
        query: uri.query(),
    };
    if let Some(view) = response.extensions_mut().remove::<ErrorView>() {
        response = error_response(&state, &view, &page, response);
    } else if response.status().is_client_error()
        && response
            .headers()
            .get(header::CONTENT_TYPE)
            .is_none_or(|t| t.as_bytes().starts_with(b"text/plain"))
    {
        // Refused before any handler ran (extractor rejections, size limits): the portal's own
        // page or JSON, never the framework's text, which echoes the input.
        let view = crate::error::rejection_view(response.status());
        response = error_response(&state, &view, &page, response);
    } else if response.status() == axum::http::StatusCode::INTERNAL_SERVER_ERROR
        && response.headers().get(header::CONTENT_TYPE).is_none()
    {
        // A bare 500 comes only from the session layer, when its store failed (a full disk,
        // a lost database): the portal's page, with the request id, instead of nothing.
        tracing::error!(request_id = %request_id, "the session store failed; answered with the store's error page");
        let view = crate::error::session_store_view();
        response = error_response(&state, &view, &page, response);
        *response.status_mut() = view.status;
    }
    let headers = response.headers_mut();
    prefix_location(state.config.base_path(), headers);
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        headers.insert(REQUEST_ID, v);
    }
    set_security_headers(&state, &path, headers);
    let status = response.status().as_u16();
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    let route = route
        .as_deref()
        .unwrap_or(if status == 404 { "<unmatched>" } else { "" });
    let status_text = status.to_string();
    crate::metrics::inc(
        "portal_http_requests_total",
        &[
            ("route", route),
            ("method", method.as_str()),
            ("status", &status_text),
        ],
    );
    crate::metrics::observe(
        "portal_http_request_duration_seconds",
        &[("route", route)],
        latency_ms / 1000.0,
    );
    tracing::info!(request_id = %request_id, method = %method, route, path = %path, status, latency_ms, "request");
    response.map(|body| super::panics::GuardedBody::wrap(body, &request_id))
}

/// `path` as it may be logged or shown: every segment after a `join` or `unsubscribe` segment
/// is redacted, so an invite link's secret (or an unsubscribe link's proof) stays out of the log however the path is spelled (`//join/…`,
/// `/./join/…`, `/%6Aoin/…`, `/JOIN/…`, under a sub-path).
pub fn loggable_path(path: &str) -> String {
    let mut redacting = false;
    let mut out = String::with_capacity(path.len());
    for (i, segment) in path.split('/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        if redacting && !segment.is_empty() {
            out.push_str("[redacted]");
            continue;
        }
        out.push_str(segment);
        let decoded = percent_decoded(segment);
        redacting |=
            decoded.eq_ignore_ascii_case("join") || decoded.eq_ignore_ascii_case("unsubscribe");
    }
    out
}

/// A path segment with its `%XX` escapes decoded (invalid UTF-8 replaced).
fn percent_decoded(segment: &str) -> String {
    url::form_urlencoded::parse(format!("s={}", segment.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// Handlers redirect to paths from `/`; under a sub-path the prefix goes in front.
fn prefix_location(base: &str, headers: &mut axum::http::HeaderMap) {
    if base.is_empty() {
        return;
    }
    let Some(location) = headers.get(header::LOCATION).and_then(|v| v.to_str().ok()) else {
        return;
    };
    if location.starts_with('/')
        && !location.starts_with("//")
        && let Ok(v) = HeaderValue::from_str(&format!("{base}{location}"))
    {
        headers.insert(header::LOCATION, v);
    }
}

/// What an error page needs to know of its request.
struct ErrorContext<'a> {
    /// Answer in JSON (an API route, or a request with an API token).
    json: bool,
    path: &'a str,
    request_id: &'a str,
    /// Who is logged in, when the request got that far.
    viewer: &'a ViewerSlot,
    /// The request's query string (its `key` is the key the page asked for).
    query: Option<&'a str>,
}

fn error_response(
    state: &AppState,
    view: &ErrorView,
    page: &ErrorContext<'_>,
    original: Response,
) -> Response {
    let (path, request_id) = (page.path, page.request_id);
    let (parts, _) = original.into_parts();
    let mut response = if page.json {
        (
            view.status,
            Json(json!({ "error": view.code, "message": view.message, "request_id": request_id })),
        )
            .into_response()
    } else {
        // A logged-in user keeps the header, navigation, key selector and Log out.
        let mut layout = match page.viewer.get() {
            Some(viewer) => {
                let (nav, section) = section_of(path);
                let asked = crate::web::query::Pairs::parse(page.query)
                    .key()
                    .ok()
                    .flatten();
                let key = viewer
                    .partner
                    .and_then(|p| asked.and_then(|id| p.key(id)).or_else(|| p.default_key()));
                Layout::for_user(state, viewer, &view.title, nav, section, key)
            }
            None => Layout::anonymous(state, &view.title),
        };
        layout.request_id = request_id.to_owned();
        let mut view = view.clone();
        if view.retry_href.as_deref() == Some("") {
            view.retry_href = Some(path.to_owned());
        }
        let page = ErrorPage {
            layout,
            view: &view,
        };
        match page.render() {
            Ok(html) => (view.status, Html(html)).into_response(),
            Err(e) => {
                tracing::error!(error = %e, "error page failed to render");
                (view.status, view.title.clone()).into_response()
            }
        }
    };
    // Keep headers such as Retry-After and Set-Cookie that the handler or session layer set.
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            response.headers_mut().append(name.clone(), value.clone());
        }
    }
    response
}

fn set_security_headers(state: &AppState, path: &str, headers: &mut axum::http::HeaderMap) {
    let set = |headers: &mut axum::http::HeaderMap, name: &'static str, value: &'static str| {
        headers.insert(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        );
    };
    set(
        headers,
        "content-security-policy",
        "default-src 'none'; style-src 'self'; img-src 'self' data:; script-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'",
    );
    set(headers, "x-content-type-options", "nosniff");
    set(headers, "referrer-policy", "no-referrer");
    set(headers, "cross-origin-opener-policy", "same-origin");
    set(headers, "x-frame-options", "DENY");
    if !path.starts_with("/static/") && path != "/favicon.ico" {
        set(headers, "cache-control", "no-store");
    }
    if state.config.is_https() {
        set(
            headers,
            "strict-transport-security",
            "max-age=31536000; includeSubDomains",
        );
    }
}

#[cfg(test)]
mod tests {
    use super::loggable_path;

    #[test]
    fn an_invite_secret_is_redacted_however_the_path_is_spelled() {
        for (path, logged) in [
            ("/join/s3cret", "/join/[redacted]"),
            ("//join/s3cret", "//join/[redacted]"),
            ("/./join/s3cret/", "/./join/[redacted]/"),
            ("/join//s3cret", "/join//[redacted]"),
            ("/%6Aoin/s3cret", "/%6Aoin/[redacted]"),
            ("/JOIN/s3cret", "/JOIN/[redacted]"),
            ("/partners/join/s3cret", "/partners/join/[redacted]"),
            ("/join", "/join"),
            ("/unsubscribe/ch_1.weekly.abc", "/unsubscribe/[redacted]"),
            ("/activations/100005", "/activations/100005"),
            ("/joined/x", "/joined/x"),
        ] {
            assert_eq!(loggable_path(path), logged, "{path}");
        }
    }
}
