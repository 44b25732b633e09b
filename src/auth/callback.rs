//! `GET /auth/callback`: WordPress.com sends the browser back here. In order, and each step a
//! function of its own:
//!
//! 1. [`consume_state`]: `state` must match a login started in this browser, and is consumed
//!    before anything else (a forged callback costs no call to WordPress.com);
//! 2. [`code_from`]: what WordPress.com said (declined, an error, or a code);
//! 3. [`exchange`]: the code for a token (never retried), then who the user is and which
//!    partner their token lists;
//! 4. [`standing`]: owner, team member, or neither (a member's own token is dropped);
//! 5. [`start_session`]: a fresh session id, the login stored, the audit entry, the redirect.

use axum::{
    extract::{Query, State},
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Deserialize;
use tower_sessions::Session;

use super::session::{self, AuthData, PendingLogin};
use crate::{
    error::AppError,
    secret::{Secret, constant_time_eq, random_token},
    state::AppState,
    team::audit::Actor,
    upstream::{BearerToken, ExchangeError, Me, Partner, UpstreamError},
};

#[derive(Debug, Deserialize)]
pub(super) struct CallbackQuery {
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

/// `GET /auth/callback`; a failed login is recorded in the audit log (naming no one).
pub(super) async fn callback_get(
    State(state): State<AppState>,
    session: Session,
    Query(q): Query<CallbackQuery>,
) -> Result<Response, AppError> {
    let result = callback(&state, &session, q).await;
    if let Err(AppError::LoginFailed { title, .. }) = &result {
        let nobody = Actor {
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
    let pending = consume_state(state, session, q.state.as_deref()).await?;
    let code = code_from(q.error.as_deref(), q.code)?;
    let (token, user, partner) = exchange(state, &code, &pending).await?;
    let (token, member_of, how) = standing(state, &user, partner.as_ref(), token).await?;
    let now = state.clock.now();
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
    start_session(state, session, data, how, &pending.next).await
}

/// Step 1: the pending login `returned` names, removed from the session; it must have been
/// started in this browser, and recently.
async fn consume_state(
    state: &AppState,
    session: &Session,
    returned: Option<&str>,
) -> Result<PendingLogin, AppError> {
    let invalid = || {
        login_failed(
            StatusCode::BAD_REQUEST,
            "This login link is not valid",
            "It was already used, or it was not started in this browser. Start the login again.",
        )
    };
    let Some(returned) = returned.filter(|s| !s.is_empty()) else {
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
    Ok(pending)
}

/// Step 2: the authorization code, or why WordPress.com gave none.
fn code_from(error: Option<&str>, code: Option<String>) -> Result<Secret<String>, AppError> {
    if let Some(error) = error {
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
    code.filter(|c| !c.is_empty())
        .map(Secret::new)
        .ok_or_else(|| {
            login_failed(
                StatusCode::BAD_REQUEST,
                "WordPress.com did not complete the login",
                "The answer had no authorization code. Start the login again.",
            )
        })
}

/// Step 3: the code for a token, then the user and the partner the token lists (none when
/// WordPress.com answers 403, which is how the route says "this user owns no partner",
/// `WPCOM_API.md` §4.1).
async fn exchange(
    state: &AppState,
    code: &Secret<String>,
    pending: &PendingLogin,
) -> Result<(BearerToken, Me, Option<Partner>), AppError> {
    let grant = state
        .wpcom
        .exchange_code(code, pending.verifier.as_ref())
        .await
        .map_err(|e| {
            tracing::warn!(error = %e, "code exchange failed");
            match e {
                ExchangeError::Rejected(_) => login_failed(
                    StatusCode::BAD_REQUEST,
                    "WordPress.com did not accept the login",
                    "The login could not be completed. Start it again.",
                ),
                ExchangeError::Upstream(_) => login_failed(
                    StatusCode::BAD_GATEWAY,
                    "WordPress.com is unavailable",
                    "The login could not be completed because WordPress.com did not answer properly. Try again in a moment.",
                ),
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
        Err(UpstreamError::Forbidden { .. }) => None,
        Err(e) => return Err(unavailable(e)),
    };
    Ok((grant.access_token, user, partner))
}

/// Step 4: an owner keeps their token; a member of a connected partner (or anyone else) keeps
/// none: their own was needed only to read who they are. Returns the token kept, the partner
/// a member signs in to, and how they signed in, in words for the audit log.
async fn standing(
    state: &AppState,
    user: &Me,
    partner: Option<&Partner>,
    token: BearerToken,
) -> Result<(Option<BearerToken>, Option<u64>, String), AppError> {
    if let Some(p) = partner {
        return Ok((Some(token), None, format!("as an owner of {}", p.name)));
    }
    Ok(match state.team.partner_of(user).await? {
        Some(pid) => {
            let role = state
                .team
                .role_of(pid, user.id, &user.username)
                .await?
                .map_or("member", |(r, _)| r.label());
            (None, Some(pid), format!("as a team member ({role})"))
        }
        None => (None, None, "without partner access".to_owned()),
    })
}

/// Step 5: a fresh session id for the logged-in session (no fixation), the login stored and
/// audited, and a redirect to `next` that carries no code and no state.
async fn start_session(
    state: &AppState,
    session: &Session,
    data: AuthData,
    how: String,
    next: &str,
) -> Result<Response, AppError> {
    session.cycle_id().await?;
    tracing::info!(
        user_id = data.user.id,
        partner = data.partner.as_ref().map(|p| p.id),
        member_of = data.member_of,
        "login completed"
    );
    let actor = Actor {
        id: Some(data.user.id),
        name: data.user.display_name.clone(),
    };
    let audit_partner = data.partner.as_ref().map(|p| p.id).or(data.member_of);
    state
        .team
        .audit(state.clock.now(), audit_partner, &actor, "sign_in", how)
        .await;
    session::set_auth(session, &data).await?;
    session.save().await?;
    Ok((
        StatusCode::SEE_OTHER,
        [
            (header::LOCATION, next),
            (header::REFERRER_POLICY, "no-referrer"),
        ],
    )
        .into_response())
}
