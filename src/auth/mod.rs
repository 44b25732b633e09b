//! Login with WordPress.com (authorization code + PKCE S256), the callback, and logout.
//!
//! - `GET /login` shows the button; `GET /auth/start` creates a pending login (state of 128
//!   random bits, verifier, `next`) in the server-side session and redirects to WordPress.com.
//! - `GET /auth/callback` checks and consumes `state` before anything else, exchanges the code
//!   (never retried), reads `/me` and the partner, rotates the session id and stores the login.
//! - `POST /logout` needs the CSRF token and a same-origin request; it deletes the server-side
//!   record.

pub mod bearer;
mod callback;
pub mod csrf;
pub mod gate;
pub mod next_url;
pub mod scope;
pub mod session;

use askama::Template;
use axum::{
    Form, Router,
    extract::{Query, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
};
use base64::Engine as _;
use serde::Deserialize;
use sha2::{Digest as _, Sha256};
use tower_sessions::Session;

pub use self::csrf::check_csrf;
use self::{
    next_url::SafeNext,
    session::{MAX_PENDING, PendingLogin},
};
use crate::{
    error::AppError,
    secret::{Secret, random_token},
    state::AppState,
    web::{Layout, render},
};

/// The auth routes; starting a login and the callback are rate-limited per client address.
pub fn router(state: &AppState) -> Router<AppState> {
    Router::new()
        .route("/auth/start", get(start_get))
        .route("/auth/callback", get(callback::callback_get))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            rate_limit,
        ))
        .route("/login", get(login_get))
        .route("/logout", post(logout_post))
}

/// Middleware: at most `PORTAL_LOGIN_RATE_PER_MINUTE` requests per client address (429 after).
pub(crate) async fn rate_limit(
    State(state): State<AppState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Result<Response, AppError> {
    let peer = req
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0);
    let forwarded = req
        .headers()
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok());
    if let Some(ip) = crate::server::client_ip(peer, forwarded, &state.config.trusted_proxies)
        && let Err(wait) = state.login_limiter.check(ip)
    {
        tracing::warn!(client = %ip, "login rate limit reached");
        return Err(AppError::TooManyRequests(wait.as_secs().max(1)));
    }
    Ok(next.run(req).await)
}

#[derive(Debug, Deserialize)]
struct LoginQuery {
    next: Option<String>,
    reason: Option<String>,
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    layout: Layout,
    start_href: String,
    notice: Option<&'static str>,
}

async fn login_get(
    State(state): State<AppState>,
    session: Session,
    Query(q): Query<LoginQuery>,
) -> Result<Response, AppError> {
    let next = SafeNext::parse(q.next.as_deref().unwrap_or("/"));
    if session::auth(&session).await?.is_some() && q.reason.is_none() {
        return Ok(Redirect::to(next.as_str()).into_response());
    }
    let notice = match q.reason.as_deref() {
        Some("expired") => Some("Your session has ended. Log in again to continue."),
        Some("logged_out") => Some("You have logged out."),
        Some("removed") => Some(
            "Your team membership has ended, so your session has ended. Ask your team's admin if that is unexpected.",
        ),
        Some("disconnected") => Some(
            "Your team's connection to WordPress.com was removed, so your session has ended. Ask your team's admin to reconnect it.",
        ),
        _ => None,
    };
    let start_href = if next.as_str() == "/" {
        "/auth/start".to_owned()
    } else {
        format!(
            "/auth/start?{}",
            url::form_urlencoded::Serializer::new(String::new())
                .append_pair("next", next.as_str())
                .finish()
        )
    };
    let page = LoginPage {
        layout: Layout::anonymous(&state, "Log in"),
        start_href,
        notice,
    };
    render(StatusCode::OK, &page)
}

#[derive(Debug, Deserialize)]
struct StartQuery {
    next: Option<String>,
}

/// The PKCE S256 challenge of a verifier.
pub fn pkce_challenge(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

async fn start_get(
    State(state): State<AppState>,
    session: Session,
    Query(q): Query<StartQuery>,
) -> Result<Response, AppError> {
    let next = SafeNext::parse(q.next.as_deref().unwrap_or("/"));
    let login_state = random_token(16);
    let verifier = state.config.pkce.then(|| random_token(32));
    let challenge = verifier.as_deref().map(pkce_challenge);
    let mut list = session::pending(&session).await?;
    let ttl = state.config.login_timeout.as_secs() as i64;
    list.retain(|p| state.clock.now() - p.created_at <= ttl);
    list.push(PendingLogin {
        state: Secret::new(login_state.clone()),
        verifier: verifier.map(Secret::new),
        next: next.as_str().to_owned(),
        created_at: state.clock.now(),
    });
    // Several tabs may log in at once; keep only the newest few.
    let excess = list.len().saturating_sub(MAX_PENDING);
    list.drain(..excess);
    session::set_pending(&session, &list).await?;
    let target = state
        .wpcom
        .authorize_url(&login_state, challenge.as_deref());
    Ok((StatusCode::SEE_OTHER, [(header::LOCATION, target.as_str())]).into_response())
}

#[derive(Debug, Deserialize)]
struct LogoutForm {
    csrf: Option<String>,
}

async fn logout_post(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    Form(form): Form<LogoutForm>,
) -> Result<Response, AppError> {
    let Some(data) = session::auth(&session).await? else {
        return Ok(Redirect::to("/login").into_response());
    };
    check_csrf(&state, &headers, &data, form.csrf.as_deref())?;
    session.flush().await?;
    tracing::info!(user_id = data.user.id, "logged out");
    let mut response = (
        StatusCode::SEE_OTHER,
        [(header::LOCATION, "/login?reason=logged_out")],
    )
        .into_response();
    response
        .headers_mut()
        .insert("clear-site-data", HeaderValue::from_static("\"cache\""));
    Ok(response)
}
