//! Accepting an invite. `GET /join/{secret}` keeps the link's secret in the (server-side)
//! session and redirects to `/join` at once, so the secret leaves the address bar, the history
//! and any Referer; the request log never shows it either. `/join` shows the invite and, once
//! the person has logged in with their own WordPress.com account, an Accept button.
//!
//! Accepting binds the membership to the WordPress.com user id, ends any own token the login
//! held, rotates the session id, and is recorded in the audit log.

use askama::Template;
use axum::{
    Form, Router,
    extract::{Path, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use serde::Deserialize;
use tower_sessions::Session;

use crate::{
    auth::{
        check_csrf,
        session::{self, Authed},
    },
    error::AppError,
    secret::Secret,
    state::AppState,
    team::{AcceptError, Invite, InviteStatus},
    web::{Layout, render},
};

const INVITE_KEY: &str = "portal.invite";

/// The invite routes (anyone may open them). Opening a link is rate-limited per client
/// address like a login, so guessing links costs what guessing logins does.
pub fn router(state: &AppState) -> Router<AppState> {
    Router::new()
        .route("/join/{secret}", get(join_link))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::auth::rate_limit,
        ))
        .route("/join", get(join_get).post(join_post))
}

async fn join_link(
    State(state): State<AppState>,
    session: Session,
    Path(secret): Path<String>,
) -> Result<Response, AppError> {
    let unknown = || {
        AppError::not_found(
            "Invite not found",
            "This invite link is not valid. Ask your admin for a new one.",
        )
    };
    if secret.len() > 100 {
        return Err(unknown());
    }
    // Only a link that is an invite is kept in a session: a guessed or mistyped one stores
    // nothing (each would otherwise be a session row kept for the idle timeout).
    let secret = Secret::new(secret);
    if state.team.invite_by_secret(&secret).await?.is_none() {
        return Err(unknown());
    }
    session.insert(INVITE_KEY, secret).await?;
    Ok((
        StatusCode::SEE_OTHER,
        [
            (header::LOCATION, "/join"),
            (header::REFERRER_POLICY, "no-referrer"),
        ],
    )
        .into_response())
}

#[derive(Template)]
#[template(path = "join.html")]
struct JoinPage {
    layout: Layout,
    partner: String,
    role: &'static str,
    role_summary: &'static str,
    for_whom: Option<String>,
    expires: String,
    /// Not logged in: the login link.
    login_href: Option<String>,
    /// Logged in and allowed: the Accept form's CSRF token.
    accept_csrf: Option<String>,
    /// Why it cannot be accepted by this login.
    problem: Option<String>,
    /// The login already has partner access of its own.
    owner_note: bool,
}

fn spent(status: InviteStatus) -> AppError {
    let why = match status {
        InviteStatus::Accepted => "It has already been used.",
        InviteStatus::Revoked => "An admin revoked it.",
        InviteStatus::Expired => "It has expired (invites last 7 days).",
        InviteStatus::Pending => "",
    };
    AppError::InviteUnusable(format!("{why} Ask your team's admin for a new invite."))
}

async fn stashed(
    state: &AppState,
    session: &Session,
) -> Result<(Secret<String>, Invite), AppError> {
    let missing = || {
        AppError::not_found(
            "No invite here",
            "Open the invite link your admin sent you. If it no longer works, ask them for a new one.",
        )
    };
    let secret: Secret<String> = session.get(INVITE_KEY).await?.ok_or_else(missing)?;
    let invite = state
        .team
        .invite_by_secret(&secret)
        .await?
        .ok_or_else(missing)?;
    Ok((secret, invite))
}

async fn partner_name(state: &AppState, partner_id: u64) -> Result<String, AppError> {
    Ok(state
        .team
        .connection(partner_id)
        .await?
        .map_or_else(|| format!("partner {partner_id}"), |c| c.partner.name))
}

async fn join_get(
    State(state): State<AppState>,
    session: Session,
    authed: Result<Authed, AppError>,
) -> Result<Response, AppError> {
    let (_, invite) = stashed(&state, &session).await?;
    let now = state.clock.now();
    match invite.status(now) {
        InviteStatus::Pending => {}
        other => return Err(spent(other)),
    }
    let authed = authed.ok();
    let (layout, login_href, accept_csrf, problem, owner_note) = match &authed {
        None => (
            Layout::anonymous(&state, "Team invite"),
            Some("/auth/start?next=%2Fjoin".to_owned()),
            None,
            None,
            false,
        ),
        Some(a) => {
            let layout = Layout::for_user(&state, a.viewer(), "Team invite", "overview", "/", None);
            if invite.is_for(&a.data.user) {
                let owner = a
                    .access
                    .as_ref()
                    .is_some_and(|x| x.connection_owner.is_none());
                (
                    layout,
                    None,
                    Some(a.data.csrf.expose().clone()),
                    None,
                    owner,
                )
            } else {
                let problem = format!(
                    "This invite is for another WordPress.com account. You are logged in as {} ({}). Log out and log in with the account it names.",
                    a.data.user.display_name, a.data.user.username
                );
                (layout, None, None, Some(problem), false)
            }
        }
    };
    let page = JoinPage {
        layout,
        partner: partner_name(&state, invite.partner_id).await?,
        role: invite.role.label(),
        role_summary: invite.role.summary(),
        for_whom: invite.for_whom.clone(),
        expires: super::team::when(invite.expires_at),
        login_href,
        accept_csrf,
        problem,
        owner_note,
    };
    render(StatusCode::OK, &page)
}

#[derive(Debug, Deserialize)]
struct AcceptForm {
    csrf: Option<String>,
}

async fn join_post(
    State(state): State<AppState>,
    authed: Authed,
    headers: HeaderMap,
    Form(form): Form<AcceptForm>,
) -> Result<Response, AppError> {
    check_csrf(&state, &headers, &authed.data, form.csrf.as_deref())?;
    let (secret, _) = stashed(&state, &authed.session).await?;
    let now = state.clock.now();
    let user = &authed.data.user;
    let invite = match state.team.accept_invite(&secret, user, now).await? {
        Ok(invite) => invite,
        Err(AcceptError::Spent(status)) => return Err(spent(status)),
        Err(AcceptError::NotForYou) => {
            return Err(AppError::LoginFailed {
                status: StatusCode::FORBIDDEN,
                title: "This invite is for another account",
                message: "This invite names another WordPress.com account. Log out and log in with the account it names.".into(),
            });
        }
        Err(AcceptError::Unknown) => {
            return Err(AppError::not_found(
                "Invite not found",
                "This invite link is not valid. Ask your admin for a new one.",
            ));
        }
    };
    authed.session.remove_value(INVITE_KEY).await?;
    state
        .team
        .audit(
            now,
            Some(invite.partner_id),
            &authed.actor(),
            "invite_accepted",
            format!(
                "{} invite {} (created by {})",
                invite.role.label(),
                invite.id,
                invite.created_by
            ),
        )
        .await;
    tracing::info!(
        user_id = user.id,
        partner_id = invite.partner_id,
        role = invite.role.as_str(),
        "team invite accepted"
    );
    // An owner keeps their own access (and their token); anyone else becomes a member and keeps
    // no token of their own.
    let mut data = session::AuthData::clone(&authed.data);
    if data.partner.is_none() {
        data.member_of = Some(invite.partner_id);
        data.token = None;
        authed.session.cycle_id().await?;
    }
    session::set_auth(&authed.session, &data).await?;
    Ok((StatusCode::SEE_OTHER, [(header::LOCATION, "/?joined=1")]).into_response())
}
