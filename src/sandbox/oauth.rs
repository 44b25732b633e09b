//! The sandbox's OAuth2 server: `/oauth2/authorize` (consent page), `/oauth2/token`,
//! `/oauth2/token-info` (`WPCOM_API.md` §9.3).

use std::time::{Duration, Instant};

use askama::Template;
use askama_web::WebTemplate;
use axum::{
    Form, Json,
    extract::{FromRequest, Multipart, Query, Request, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Redirect, Response},
};
use base64::Engine as _;
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use url::Url;

use super::{CLIENT_ID, CLIENT_SECRET, Sandbox, data, lock};
use crate::secret::{constant_time_eq, random_token};

const CODE_LIFETIME: Duration = Duration::from_secs(600);

/// An issued, not yet exchanged authorization code.
#[derive(Debug, Clone)]
pub struct PendingCode {
    user_id: u64,
    scope: String,
    redirect_uri: String,
    challenge: Option<(String, String)>,
    issued: Instant,
}

/// What a token stands for.
#[derive(Debug, Clone)]
pub struct TokenInfo {
    /// The user (0 for client-credentials tokens).
    pub user_id: u64,
    /// `global`, `auth`, `jetpack-partner`, or a blog scope (`""`).
    pub scope: String,
    /// Revoked through the control API.
    pub revoked: bool,
    /// When it was issued.
    pub issued: Instant,
}

/// Authorize parameters (query on GET, form on POST).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct AuthorizeParams {
    client_id: Option<String>,
    redirect_uri: Option<String>,
    response_type: Option<String>,
    scope: Option<String>,
    blog: Option<String>,
    state: Option<String>,
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
    // Consent form only.
    decision: Option<String>,
    user_id: Option<u64>,
}

#[derive(Template, WebTemplate)]
#[template(path = "sandbox/consent.html")]
struct ConsentPage {
    p: AuthorizeParams,
    scope_label: String,
}

impl AuthorizeParams {
    fn field(v: &Option<String>) -> &str {
        v.as_deref().unwrap_or("")
    }
    fn client_id(&self) -> &str {
        Self::field(&self.client_id)
    }
    fn redirect_uri(&self) -> &str {
        Self::field(&self.redirect_uri)
    }
    fn response_type(&self) -> &str {
        Self::field(&self.response_type)
    }
    fn scope(&self) -> &str {
        Self::field(&self.scope)
    }
    fn blog(&self) -> &str {
        Self::field(&self.blog)
    }
    fn state(&self) -> &str {
        Self::field(&self.state)
    }
    fn code_challenge(&self) -> &str {
        Self::field(&self.code_challenge)
    }
    fn code_challenge_method(&self) -> &str {
        Self::field(&self.code_challenge_method)
    }
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    (
        status,
        Json(json!({ "error": error, "error_description": description })),
    )
        .into_response()
}

/// Checks the client and redirect URI; errors here are never redirected (`WPCOM_API.md` §9.3).
fn check_client(sb: &Sandbox, p: &AuthorizeParams) -> Result<Url, Response> {
    if p.client_id() != CLIENT_ID {
        return Err(oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_client",
            "Unknown client_id.",
        ));
    }
    if p.redirect_uri() != sb.inner.redirect_uri {
        return Err(oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "The redirect_uri does not match the one registered for this application.",
        ));
    }
    Url::parse(p.redirect_uri()).map_err(|_| {
        oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "The redirect_uri is not a URL.",
        )
    })
}

/// Normalises the scope; `None` if it is not one WordPress.com knows.
fn check_scope(scope: &str) -> Option<String> {
    const GRANULAR: &[&str] = &[
        "users",
        "sites",
        "posts",
        "comments",
        "taxonomy",
        "follow",
        "sharing",
        "freshly-pressed",
        "notifications",
        "insights",
        "read",
        "stats",
        "media",
        "menus",
        "batch",
        "videos",
    ];
    let items: Vec<&str> = scope
        .split([' ', ','])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    match items.as_slice() {
        [] => Some(String::new()),
        ["global"] => Some("global".into()),
        ["auth"] => Some("auth".into()),
        many if many.iter().all(|s| GRANULAR.contains(s)) => Some(many.join(" ")),
        _ => None,
    }
}

fn redirect_with(mut target: Url, pairs: &[(&str, &str)]) -> Response {
    target.query_pairs_mut().extend_pairs(pairs);
    Redirect::to(target.as_str()).into_response()
}

fn with_state<'a>(p: &'a AuthorizeParams, pairs: &mut Vec<(&'a str, &'a str)>) {
    if let Some(state) = &p.state {
        pairs.push(("state", state));
    }
}

/// `GET /oauth2/authorize`: validate, then show the consent page (or auto-approve).
pub async fn authorize_get(
    State(sb): State<Sandbox>,
    Query(p): Query<AuthorizeParams>,
) -> Response {
    let target = match check_client(&sb, &p) {
        Ok(t) => t,
        Err(r) => return r,
    };
    if !matches!(p.response_type(), "code" | "token") {
        let mut pairs = vec![("error", "unsupported_response_type")];
        with_state(&p, &mut pairs);
        return redirect_with(target, &pairs);
    }
    let Some(scope) = check_scope(p.scope()) else {
        let mut pairs = vec![("error", "invalid_scope")];
        with_state(&p, &mut pairs);
        return redirect_with(target, &pairs);
    };
    if let Some(user) = sb.options().auto_approve_user {
        return approve(&sb, &p, target, user, scope);
    }
    let scope_label = match scope.as_str() {
        "global" => "all of your sites, including Jetpack partner reports".to_owned(),
        "auth" => "your WordPress.com profile only".to_owned(),
        "" => "one of your sites".to_owned(),
        other => format!("these areas of your sites: {other}"),
    };
    let page = ConsentPage { p, scope_label };
    ([(header::CACHE_CONTROL, "no-store")], page).into_response()
}

/// `POST /oauth2/authorize`: the consent form's Approve or Deny.
pub async fn authorize_post(State(sb): State<Sandbox>, Form(p): Form<AuthorizeParams>) -> Response {
    let target = match check_client(&sb, &p) {
        Ok(t) => t,
        Err(r) => return r,
    };
    let Some(scope) = check_scope(p.scope()) else {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_scope", "Unknown scope.");
    };
    if p.decision.as_deref() != Some("approve") {
        let mut pairs = vec![("error", "access_denied")];
        with_state(&p, &mut pairs);
        return redirect_with(target, &pairs);
    }
    let user = p.user_id.unwrap_or(data::USER_PARTNER);
    approve(&sb, &p, target, user, scope)
}

fn approve(
    sb: &Sandbox,
    p: &AuthorizeParams,
    target: Url,
    user_id: u64,
    scope: String,
) -> Response {
    if !data::USERS.iter().any(|u| u.id == user_id) {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", "Unknown user.");
    }
    if p.response_type() == "token" {
        let token = issue_token(sb, user_id, scope);
        let mut target = target;
        let fragment: String = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("access_token", &token)
            .append_pair("expires_in", "1209600")
            .append_pair("token_type", "bearer")
            .append_pair("site_id", "0")
            .finish();
        target.set_fragment(Some(&fragment));
        return Redirect::to(target.as_str()).into_response();
    }
    let code = random_token(24);
    let challenge = p.code_challenge.clone().filter(|c| !c.is_empty()).map(|c| {
        (
            c,
            p.code_challenge_method
                .clone()
                .unwrap_or_else(|| "plain".into()),
        )
    });
    lock(&sb.inner.codes).insert(
        code.clone(),
        PendingCode {
            user_id,
            scope,
            redirect_uri: p.redirect_uri().to_owned(),
            challenge,
            issued: Instant::now(),
        },
    );
    let mut pairs = vec![("code", code.as_str())];
    with_state(p, &mut pairs);
    redirect_with(target, &pairs)
}

/// Tokens contain `#%&()^@` so that encoding mistakes in clients show up.
fn issue_token(sb: &Sandbox, user_id: u64, scope: String) -> String {
    let token = format!("{}#^@(%&)", random_token(24));
    lock(&sb.inner.tokens).insert(
        token.clone(),
        TokenInfo {
            user_id,
            scope,
            revoked: false,
            issued: Instant::now(),
        },
    );
    token
}

/// Looks up a live token.
pub fn token_info_for(sb: &Sandbox, token: &str) -> Option<TokenInfo> {
    lock(&sb.inner.tokens)
        .get(token)
        .filter(|t| !t.revoked)
        .cloned()
}

#[derive(Debug, Default, Deserialize)]
struct TokenForm {
    client_id: Option<String>,
    client_secret: Option<String>,
    redirect_uri: Option<String>,
    code: Option<String>,
    grant_type: Option<String>,
    scope: Option<String>,
    code_verifier: Option<String>,
}

async fn read_token_form(headers: &HeaderMap, req: Request) -> Option<TokenForm> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if content_type.starts_with("multipart/form-data") {
        let mut multipart = Multipart::from_request(req, &()).await.ok()?;
        let mut fields = serde_json::Map::new();
        while let Ok(Some(field)) = multipart.next_field().await {
            let name = field.name().unwrap_or_default().to_owned();
            let value = field.text().await.ok()?;
            fields.insert(name, Value::String(value));
        }
        serde_json::from_value(Value::Object(fields)).ok()
    } else {
        Form::<TokenForm>::from_request(req, &())
            .await
            .ok()
            .map(|Form(f)| f)
    }
}

/// `POST /oauth2/token`.
pub async fn token(State(sb): State<Sandbox>, headers: HeaderMap, req: Request) -> Response {
    if req.method() != axum::http::Method::POST {
        return oauth_error(
            StatusCode::METHOD_NOT_ALLOWED,
            "invalid_request",
            "Use POST.",
        );
    }
    let Some(form) = read_token_form(&headers, req).await else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Malformed request body.",
        );
    };
    let (Some(client_id), Some(secret), Some(grant)) =
        (&form.client_id, &form.client_secret, &form.grant_type)
    else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Missing required parameters.",
        );
    };
    if client_id != CLIENT_ID || !constant_time_eq(secret, CLIENT_SECRET) {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_client",
            "Unknown client or wrong secret.",
        );
    }
    match grant.as_str() {
        "authorization_code" => exchange_code(&sb, &form),
        "client_credentials" => {
            if form.scope.as_deref() != Some("jetpack-partner") {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_scope",
                    "Unsupported scope.",
                );
            }
            let token = issue_token(&sb, 0, "jetpack-partner".into());
            Json(
                json!({ "access_token": token, "token_type": "bearer", "blog_id": 0,
                         "blog_url": 0, "scope": "jetpack-partner" }),
            )
            .into_response()
        }
        _ => oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "Unsupported grant type.",
        ),
    }
}

fn exchange_code(sb: &Sandbox, form: &TokenForm) -> Response {
    let (Some(code), Some(redirect_uri)) = (&form.code, &form.redirect_uri) else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Missing code or redirect_uri.",
        );
    };
    // Removing the code first makes it single use, whatever happens next.
    let Some(pending) = lock(&sb.inner.codes).remove(code) else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "Invalid or already used code.",
        );
    };
    if pending.issued.elapsed() > CODE_LIFETIME {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "The code has expired.",
        );
    }
    if &pending.redirect_uri != redirect_uri {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "redirect_uri mismatch.",
        );
    }
    if let Some((challenge, method)) = &pending.challenge {
        let Some(verifier) = &form.code_verifier else {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_grant",
                "Missing code_verifier.",
            );
        };
        let computed = if method == "S256" {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(Sha256::digest(verifier.as_bytes()))
        } else {
            verifier.clone()
        };
        if !constant_time_eq(&computed, challenge) {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_grant",
                "PKCE verification failed.",
            );
        }
    }
    let scope = pending.scope.clone();
    let token = issue_token(sb, pending.user_id, scope.clone());
    let body = match scope.as_str() {
        "global" => json!({ "access_token": token, "token_type": "bearer", "blog_id": 0,
                            "blog_url": null, "scope": "global" }),
        "auth" => json!({ "access_token": token, "token_type": "bearer", "blog_id": 0,
                          "blog_url": null, "scope": "auth" }),
        other => json!({ "access_token": token, "token_type": "bearer",
                         "blog_id": "78618526", "blog_url": "https://host-admin.example", "scope": other }),
    };
    Json(body).into_response()
}

#[derive(Debug, Deserialize)]
pub struct TokenInfoQuery {
    client_id: Option<String>,
    token: Option<String>,
}

/// `GET /oauth2/token-info`.
pub async fn token_info(State(sb): State<Sandbox>, Query(q): Query<TokenInfoQuery>) -> Response {
    let info = q.token.as_deref().and_then(|t| token_info_for(&sb, t));
    match info {
        Some(info) if q.client_id.as_deref() == Some(CLIENT_ID) => Json(json!({
            "client_id": CLIENT_ID, "user_id": info.user_id.to_string(), "blog_id": "0", "scope": info.scope,
        }))
        .into_response(),
        _ => oauth_error(StatusCode::BAD_REQUEST, "invalid_request", "The specified token is invalid."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_follow_the_documented_rules() {
        assert_eq!(check_scope("global").as_deref(), Some("global"));
        assert_eq!(check_scope("").as_deref(), Some(""));
        assert_eq!(
            check_scope("posts comments").as_deref(),
            Some("posts comments")
        );
        assert_eq!(
            check_scope("posts,comments").as_deref(),
            Some("posts comments")
        );
        assert_eq!(check_scope("global posts"), None);
        assert_eq!(check_scope("admin"), None);
    }
}
