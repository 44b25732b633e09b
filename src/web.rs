//! What every page shares: the layout context, rendering, the response middleware (request id,
//! request log, error pages, security headers), static files, and formatting for people.

use askama::Template;
use axum::{
    Json,
    extract::{MatchedPath, Request, State},
    http::{HeaderName, HeaderValue, StatusCode, header},
    middleware::Next,
    response::{Html, IntoResponse, Response},
};
use chrono::{DateTime, Utc};
use serde_json::json;

use crate::{
    auth::session::Authed,
    error::{AppError, ErrorView},
    state::AppState,
    upstream::{PartnerKey, models::currency_exponent},
};

/// The request id header, set on every response and shown on error pages.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// One entry of the key selector.
#[derive(Debug, Clone)]
pub struct KeyChoice {
    /// Key id.
    pub id: u64,
    /// "Production", "Staging (disabled)".
    pub label: String,
    /// Currently shown.
    pub selected: bool,
}

/// The layout context every page carries.
#[derive(Debug, Clone, Default)]
pub struct Layout {
    /// `<title>` and heading.
    pub title: String,
    /// Show the sandbox-data banner.
    pub demo: bool,
    /// Logged-in user's display name.
    pub user: Option<String>,
    /// Partner name.
    pub partner: Option<String>,
    /// Key selector entries (shown when there are several).
    pub keys: Vec<KeyChoice>,
    /// Selected key id (0 when none).
    pub key_id: u64,
    /// Active navigation entry.
    pub nav: &'static str,
    /// The page path the key selector submits to.
    pub path: &'static str,
    /// CSRF token for the logout form.
    pub csrf: String,
    /// Request id (error pages).
    pub request_id: String,
    /// The public URL's path without its trailing slash (`""` or `"/partners"`); templates
    /// put it before every internal link, which the handlers build from `/`.
    pub base: String,
}

impl Layout {
    /// A page for someone not logged in.
    pub fn anonymous(state: &AppState, title: &str) -> Self {
        Self {
            title: title.to_owned(),
            demo: state.config.demo,
            base: state.config.base_path().to_owned(),
            ..Self::default()
        }
    }

    /// A page of a logged-in user, showing `key`.
    pub fn for_user(
        state: &AppState,
        authed: &Authed,
        title: &str,
        nav: &'static str,
        path: &'static str,
        key: Option<&PartnerKey>,
    ) -> Self {
        let partner = authed.data.partner.as_ref();
        let keys = partner
            .map(|p| {
                p.keys
                    .iter()
                    .map(|k| KeyChoice {
                        id: k.id,
                        label: if k.is_disabled() {
                            format!("{} (disabled)", k.name)
                        } else {
                            k.name.clone()
                        },
                        selected: key.is_some_and(|s| s.id == k.id),
                    })
                    .collect()
            })
            .unwrap_or_default();
        Self {
            title: title.to_owned(),
            demo: state.config.demo,
            user: Some(authed.data.user.display_name.clone()),
            partner: partner.map(|p| p.name.clone()),
            keys,
            key_id: key.map_or(0, |k| k.id),
            nav,
            path,
            csrf: authed.data.csrf.expose().clone(),
            request_id: String::new(),
            base: state.config.base_path().to_owned(),
        }
    }

    /// `?key=N` for links that keep the selected key.
    pub fn key_query(&self) -> String {
        if self.key_id == 0 {
            String::new()
        } else {
            format!("?key={}", self.key_id)
        }
    }
}

/// Renders a template as an HTML response with `status`.
pub fn render<T: Template>(status: StatusCode, page: &T) -> Result<Response, AppError> {
    let html = page
        .render()
        .map_err(|e| AppError::Internal(format!("template: {e}")))?;
    Ok((status, Html(html)).into_response())
}

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

/// Outermost middleware: gives the request an id, renders [`ErrorView`]s as pages (or JSON for
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
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned());
    let mut response = next.run(req).await;
    if let Some(view) = response.extensions_mut().remove::<ErrorView>() {
        response = error_response(&state, &view, &path, &request_id, response);
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
    response
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

fn error_response(
    state: &AppState,
    view: &ErrorView,
    path: &str,
    request_id: &str,
    original: Response,
) -> Response {
    let (parts, _) = original.into_parts();
    let mut response = if path.starts_with("/api/") {
        (
            view.status,
            Json(json!({ "error": view.code, "message": view.message, "request_id": request_id })),
        )
            .into_response()
    } else {
        let mut layout = Layout::anonymous(state, &view.title);
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
    if !path.starts_with("/static/") {
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

/// `GET /static/{file}`: the few static assets, embedded in the binary.
pub async fn static_file(axum::extract::Path(file): axum::extract::Path<String>) -> Response {
    let (body, content_type): (&'static str, &str) = match file.as_str() {
        "app.css" => (include_str!("../static/app.css"), "text/css; charset=utf-8"),
        "app.js" => (
            include_str!("../static/app.js"),
            "text/javascript; charset=utf-8",
        ),
        _ => return AppError::NotFound("No such file.".into()).into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
        .into_response()
}

/// Unknown paths.
pub async fn not_found() -> AppError {
    AppError::NotFound("There is no page at this address.".into())
}

/// `12345` → `12,345`.
pub fn fmt_int(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

/// Minor units in `currency` → `$1,234.50`, `¥1,200`, `CHF 12.00`.
pub fn fmt_money(minor: i64, currency: &str) -> String {
    let exp = currency_exponent(currency);
    let scale = 10i64.pow(exp);
    let major = fmt_int((minor / scale).abs());
    let fraction = if exp == 0 {
        String::new()
    } else {
        format!(".{:0width$}", (minor % scale).abs(), width = exp as usize)
    };
    let code = currency.to_ascii_uppercase();
    let symbol = match code.as_str() {
        "USD" => "$",
        "EUR" => "€",
        "GBP" => "£",
        "JPY" => "¥",
        "CAD" => "CA$",
        "AUD" => "A$",
        "INR" => "₹",
        _ => "",
    };
    let sign = if minor < 0 { "-" } else { "" };
    if symbol.is_empty() {
        format!("{sign}{code} {major}{fraction}")
    } else {
        format!("{sign}{symbol}{major}{fraction}")
    }
}

/// `just now`, `3 minutes ago`, `2 hours ago`, `5 days ago`.
pub fn fmt_age(seconds: i64) -> String {
    let s = seconds.max(0);
    let (n, unit) = match s {
        0..=59 => return "just now".to_owned(),
        60..=3599 => (s / 60, "minute"),
        3600..=86_399 => (s / 3600, "hour"),
        _ => (s / 86_400, "day"),
    };
    format!("{n} {unit}{} ago", if n == 1 { "" } else { "s" })
}

/// "3 minutes ago" for a Unix time, for "data as of" lines.
pub fn fmt_as_of(unix: i64) -> String {
    fmt_age(chrono::Utc::now().timestamp() - unix)
}

/// `1 Mar 2024`.
pub fn fmt_date(d: &DateTime<Utc>) -> String {
    d.format("%-d %b %Y").to_string()
}

/// `1 Mar 2024, 12:05 UTC`.
pub fn fmt_datetime(d: &DateTime<Utc>) -> String {
    d.format("%-d %b %Y, %H:%M UTC").to_string()
}

/// An optional date, or an en dash.
pub fn fmt_opt_date(d: Option<&DateTime<Utc>>) -> String {
    d.map_or_else(|| "–".to_owned(), fmt_date)
}

/// The URL if it is an absolute http(s) URL with a host, else `None` (show it as text).
pub fn safe_href(raw: &str) -> Option<String> {
    let url = url::Url::parse(raw.trim()).ok()?;
    let ok =
        matches!(url.scheme(), "http" | "https") && url.host_str().is_some_and(|h| !h.is_empty());
    ok.then(|| url.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_get_thousands_separators() {
        assert_eq!(fmt_int(0), "0");
        assert_eq!(fmt_int(999), "999");
        assert_eq!(fmt_int(1000), "1,000");
        assert_eq!(fmt_int(-1234567), "-1,234,567");
    }

    #[test]
    fn money_respects_the_currency_exponent() {
        assert_eq!(fmt_money(19950, "usd"), "$199.50");
        assert_eq!(fmt_money(123456789, "usd"), "$1,234,567.89");
        assert_eq!(fmt_money(1200, "jpy"), "¥1,200");
        assert_eq!(fmt_money(1234, "kwd"), "KWD 1.234");
        assert_eq!(fmt_money(-250, "eur"), "-€2.50");
        assert_eq!(fmt_money(5, "chf"), "CHF 0.05");
    }

    #[test]
    fn only_http_urls_become_links() {
        assert_eq!(
            safe_href("https://example.com/a").as_deref(),
            Some("https://example.com/a")
        );
        assert!(safe_href("http://example.com").is_some());
        for bad in [
            "javascript:alert(1)",
            "JaVaScRiPt:alert(1)",
            " javascript:alert(1)",
            "java\tscript:alert(1)",
            "data:text/html,<script>alert(1)</script>",
            "vbscript:msgbox(1)",
            "//evil.example",
            "evil.example",
            "",
            "http://",
        ] {
            assert_eq!(safe_href(bad), None, "{bad:?}");
        }
        // Quotes are percent-encoded by the URL parser, so they cannot break out of an attribute.
        let href = safe_href("https://ok.example/\"onmouseover=\"alert(1)").unwrap();
        assert!(!href.contains('"'));
    }
}
