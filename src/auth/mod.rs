//! Login with WordPress.com (authorization code + PKCE S256), the callback, and logout.
//!
//! - `GET /login` shows the button; `GET /auth/start` creates a pending login (state of 128
//!   random bits, verifier, `next`) in the server-side session and redirects to WordPress.com.
//! - `GET /auth/callback` checks and consumes `state` before anything else, exchanges the code
//!   (never retried), reads `/me` and the partner, rotates the session id and stores the login.
//! - `POST /logout` needs the CSRF token and a same-origin request; it deletes the server-side
//!   record.

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
    session::{AuthData, MAX_PENDING, PendingLogin},
};
use crate::{
    error::AppError,
    secret::{Secret, constant_time_eq, random_token},
    state::AppState,
    upstream::{ExchangeError, UpstreamError},
    web::{Layout, render},
};

/// The auth routes; starting a login and the callback are rate-limited per client address.
pub fn router(state: &AppState) -> Router<AppState> {
    Router::new()
        .route("/auth/start", get(start_get))
        .route("/auth/callback", get(callback_get))
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
struct CallbackQuery {
    state: Option<String>,
    code: Option<String>,
    error: Option<String>,
}

fn login_failed(status: StatusCode, title: &'static str, message: impl Into<String>) -> AppError {
    AppError::LoginFailed {
        status,
        title,
        message: message.into(),
    }
}

async fn callback_get(
    State(state): State<AppState>,
    session: Session,
    Query(q): Query<CallbackQuery>,
) -> Result<Response, AppError> {
    let result = callback(&state, &session, q).await;
    if let Err(AppError::LoginFailed { title, .. }) = &result {
        let nobody = crate::team::audit::Actor {
            id: None,
            name: "unknown".to_owned(),
        };
        state
            .team
            .audit(state.clock.now(), None, &nobody, "sign_in_failed", *title)
            .await;
    }
    result
}

async fn callback(
    state: &AppState,
    session: &Session,
    q: CallbackQuery,
) -> Result<Response, AppError> {
    // 1. State first: it must match a login started in this browser, and is consumed now.
    let invalid = || {
        login_failed(
            StatusCode::BAD_REQUEST,
            "This login link is not valid",
            "It was already used, or it was not started in this browser. Start the login again.",
        )
    };
    let Some(returned) = q.state.as_deref().filter(|s| !s.is_empty()) else {
        return Err(invalid());
    };
    let mut list = session::pending(session).await?;
    let Some(pos) = list
        .iter()
        .position(|p| constant_time_eq(p.state.expose(), returned))
    else {
        return Err(invalid());
    };
    let pending = list.remove(pos);
    session::set_pending(session, &list).await?;
    if state.clock.now() - pending.created_at > state.config.login_timeout.as_secs() as i64 {
        return Err(login_failed(
            StatusCode::BAD_REQUEST,
            "The login took too long",
            "Start the login again.",
        ));
    }
    // 2. What WordPress.com said.
    if let Some(error) = q.error.as_deref() {
        return Err(if error == "access_denied" {
            login_failed(
                StatusCode::FORBIDDEN,
                "Login cancelled",
                "You declined access on WordPress.com, so partner-portal cannot show your reports. Log in again and approve to continue.",
            )
        } else {
            login_failed(
                StatusCode::BAD_REQUEST,
                "WordPress.com did not complete the login",
                "WordPress.com returned an error. Start the login again.",
            )
        });
    }
    let Some(code) = q.code.filter(|c| !c.is_empty()).map(Secret::new) else {
        return Err(login_failed(
            StatusCode::BAD_REQUEST,
            "WordPress.com did not complete the login",
            "The answer had no authorization code. Start the login again.",
        ));
    };
    // 3. Exchange, then who the user is and which partner they own.
    let grant = state.wpcom.exchange_code(&code, pending.verifier.as_ref()).await.map_err(|e| {
        tracing::warn!(error = %e, "code exchange failed");
        match e {
            ExchangeError::Rejected(_) => login_failed(StatusCode::BAD_REQUEST, "WordPress.com did not accept the login", "The login could not be completed. Start it again."),
            ExchangeError::Upstream(_) => login_failed(StatusCode::BAD_GATEWAY, "WordPress.com is unavailable", "The login could not be completed because WordPress.com did not answer properly. Try again in a moment."),
        }
    })?;
    if grant.scope.as_deref().is_some_and(|s| s != "global") {
        tracing::warn!(scope = ?grant.scope, "token granted without global scope");
    }
    let unavailable = |e: UpstreamError| {
        tracing::warn!(error = %e, "reading the user after login failed");
        login_failed(
            StatusCode::BAD_GATEWAY,
            "WordPress.com is unavailable",
            "Logged in, but WordPress.com did not return your account details. Try again in a moment.",
        )
    };
    let user = state
        .wpcom
        .me(&grant.access_token)
        .await
        .map_err(unavailable)?;
    let partner = match state.wpcom.partner(&grant.access_token).await {
        Ok(p) => p,
        // 403 is how the route says "this user owns no partner" (WPCOM_API.md §4.1).
        Err(UpstreamError::Forbidden { .. }) => None,
        Err(e) => return Err(unavailable(e)),
    };
    // 4. Owner, member, or neither. A member's (or a stranger's) own token is dropped here:
    //    it was needed only to read who they are.
    let now = state.clock.now();
    let (token, member_of, how) = match &partner {
        Some(p) => (
            Some(grant.access_token),
            None,
            format!("as an owner of {}", p.name),
        ),
        None => match state.team.partner_of(&user).await? {
            Some(pid) => {
                let role = state
                    .team
                    .role_of(pid, user.id, &user.username)
                    .await?
                    .map_or("member", |(r, _)| r.label());
                (None, Some(pid), format!("as a team member ({role})"))
            }
            None => (None, None, "without partner access".to_owned()),
        },
    };
    // 5. A fresh session id for the logged-in session (no fixation).
    session.cycle_id().await?;
    let data = AuthData {
        token,
        user,
        partner,
        csrf: Secret::new(random_token(32)),
        authenticated_at: now,
        last_seen: now,
        partner_checked_at: now,
        member_of,
    };
    tracing::info!(
        user_id = data.user.id,
        partner = data.partner.as_ref().map(|p| p.id),
        member_of = data.member_of,
        "login completed"
    );
    let actor = crate::team::audit::Actor {
        id: Some(data.user.id),
        name: data.user.display_name.clone(),
    };
    let audit_partner = data.partner.as_ref().map(|p| p.id).or(data.member_of);
    state
        .team
        .audit(now, audit_partner, &actor, "sign_in", how)
        .await;
    session::set_auth(session, &data).await?;
    session.save().await?;
    Ok((
        StatusCode::SEE_OTHER,
        [
            (header::LOCATION, pending.next.as_str()),
            (header::REFERRER_POLICY, "no-referrer"),
        ],
    )
        .into_response())
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
