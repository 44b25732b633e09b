//! The Team page (admins): the partner's connection, its members and its invites.
//!
//! - `POST /team/connect` shares the partner's reports: the session's own token (only a user
//!   whose own token lists the partner's keys has one) is stored, sealed, as the connection; the
//!   same button reconnects a broken one, and `POST /team/disconnect` deletes it.
//! - `POST /team/invites` makes a one-time link and shows it once; `.../revoke` ends it.
//! - `POST /team/members/{id}/role` and `.../remove` change a member; the last admin stays.
//!
//! Every change is in the audit log. Members' sessions notice a change at their next request.

use askama::Template;
use axum::{
    Form, Router,
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
};
use serde::Deserialize;

use crate::{
    auth::{check_csrf, csrf::CsrfForm, gate::AdminOnly, session::Authed},
    error::AppError,
    state::AppState,
    team::{Member, MemberSource, Role},
    web::{Layout, render},
};

/// The Team routes, admins only.
pub fn router(state: &AppState) -> Router<AppState> {
    Router::new()
        .route("/team", get(team_get))
        .route("/team/connect", post(connect_post))
        .route("/team/disconnect", post(disconnect_post))
        .route("/team/invites", post(invite_post))
        .route("/team/invites/{id}/revoke", post(revoke_post))
        .route("/team/members/{id}/role", post(role_post))
        .route("/team/members/{id}/remove", post(remove_post))
        .route_layer(axum::middleware::from_extractor_with_state::<AdminOnly, _>(
            state.clone(),
        ))
}

/// Where a signed-in person stands with the team, for what reads with nobody signed in
/// (API tokens, notifications): they act as a member through the team connection.
pub(crate) enum Standing {
    /// A member (or the connection's owner).
    Member,
    /// The partner has no team connection.
    NoConnection,
    /// The partner is connected, by `owner`, and this login is not a member.
    NotMember {
        /// Who connected it.
        owner: String,
    },
}

/// Where `authed` stands with their partner's team.
pub(crate) async fn team_standing(state: &AppState, authed: &Authed) -> Result<Standing, AppError> {
    let access = authed.access()?;
    let Some(connection) = state.team.connection(access.partner.id).await? else {
        return Ok(Standing::NoConnection);
    };
    let user = &authed.data.user;
    Ok(
        match state
            .team
            .acting_role(&connection, user.id, &user.username)
            .await?
        {
            Some(_) => Standing::Member,
            None => Standing::NotMember {
                owner: connection.owner_name,
            },
        },
    )
}

/// `1 Dec 2026, 14:05 UTC` of unix seconds.
pub fn when(t: i64) -> String {
    crate::web::fmt_unix(t)
}

struct ConnectionView {
    owner: String,
    connected: String,
    checked: String,
    live: bool,
    reason: String,
}

struct MemberView {
    user_id: u64,
    name: String,
    username: String,
    role: Role,
    managed: bool,
    added: String,
}

struct InviteView {
    id: String,
    role: &'static str,
    for_whom: String,
    created: String,
    expires: String,
    status: &'static str,
    pending: bool,
    outcome: String,
}

#[derive(Template)]
#[template(path = "team.html")]
struct TeamPage {
    layout: Layout,
    csrf: String,
    partner: String,
    can_connect: bool,
    connection: Option<ConnectionView>,
    members: Vec<MemberView>,
    invites: Vec<InviteView>,
    new_link: Option<String>,
    notice: Option<String>,
    roles: Vec<(&'static str, &'static str, &'static str)>,
}

fn member_view(m: Member) -> MemberView {
    MemberView {
        user_id: m.user_id.unwrap_or(0),
        name: m.display_name,
        username: m.username,
        role: m.role,
        managed: m.source == MemberSource::File,
        added: if m.source == MemberSource::File {
            "PORTAL_TEAM_FILE".to_owned()
        } else {
            format!("{} (invited by {})", when(m.added_at), m.added_by)
        },
    }
}

async fn team_page(
    state: &AppState,
    authed: &Authed,
    new_link: Option<String>,
    notice: Option<String>,
) -> Result<TeamPage, AppError> {
    let access = authed.access()?;
    let partner_id = access.partner.id;
    let now = state.clock.now();
    let connection = state
        .team
        .connection(partner_id)
        .await?
        .map(|c| ConnectionView {
            owner: c.owner_name.clone(),
            connected: when(c.connected_at),
            checked: when(c.checked_at),
            live: c.is_live(),
            reason: c.broken_reason.clone().unwrap_or_default(),
        });
    let members = state
        .team
        .members(partner_id)
        .await?
        .into_iter()
        .map(member_view)
        .collect();
    let invites = state
        .team
        .invites(partner_id)
        .await?
        .into_iter()
        .map(|i| {
            let status = i.status(now);
            InviteView {
                id: i.id.clone(),
                role: i.role.label(),
                for_whom: i
                    .for_whom
                    .clone()
                    .unwrap_or_else(|| "anyone with the link".to_owned()),
                created: format!("{} by {}", when(i.created_at), i.created_by),
                expires: when(i.expires_at),
                status: status.label(),
                pending: status == crate::team::InviteStatus::Pending,
                outcome: match (&i.accepted, &i.revoked) {
                    (Some((who, at)), _) => format!("by {who}, {}", when(*at)),
                    (None, Some((who, at))) => format!("by {who}, {}", when(*at)),
                    _ => String::new(),
                },
            }
        })
        .collect();
    let mut layout = Layout::for_user(state, authed.viewer(), "Team", "team", "/team", None);
    layout.here = "/team".to_owned();
    Ok(TeamPage {
        layout,
        csrf: authed.data.csrf.expose().clone(),
        partner: access.partner.name.clone(),
        // Only a login whose own token lists the partner's keys can (re)connect it.
        can_connect: access.connection_owner.is_none() && authed.data.token.is_some(),
        connection,
        members,
        invites,
        new_link,
        notice,
        roles: Role::ALL
            .iter()
            .map(|r| (r.as_str(), r.label(), r.summary()))
            .collect(),
    })
}

#[derive(Debug, Deserialize)]
struct TeamQuery {
    done: Option<String>,
}

async fn team_get(
    State(state): State<AppState>,
    authed: Authed,
    axum::extract::Query(q): axum::extract::Query<TeamQuery>,
) -> Result<Response, AppError> {
    let notice = q.done.as_deref().and_then(|d| {
        Some(match d {
            "connected" => "The partner's reports are now shared with your team.",
            "reconnected" => "The connection now uses your login; your team's reports are back.",
            "disconnected" => {
                "The connection is removed. Members' sessions end at their next request."
            }
            "revoked" => "The invite is revoked; its link no longer works.",
            "role" => "The role is changed. It applies from the member's next request.",
            "removed" => "The member is removed. Their session ends at their next request.",
            _ => return None,
        })
    });
    render(
        StatusCode::OK,
        &team_page(&state, &authed, None, notice.map(str::to_owned)).await?,
    )
}

async fn connect_post(
    State(state): State<AppState>,
    authed: Authed,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Result<Response, AppError> {
    check_csrf(&state, &headers, &authed.data, form.csrf.as_deref())?;
    let access = authed.access()?;
    let (None, Some(token)) = (&access.connection_owner, &authed.data.token) else {
        return Err(AppError::RoleForbidden {
            role: "team member",
            what: "connecting the partner (it needs a WordPress.com account that lists the partner's keys itself)",
        });
    };
    let now = state.clock.now();
    let was_broken = state
        .team
        .connection(access.partner.id)
        .await?
        .is_some_and(|c| !c.is_live());
    let replaced = state
        .team
        .connect(&access.partner, token, &authed.data.user, now)
        .await?;
    if was_broken {
        let fact = crate::notify::Fact::ConnectionRestored {
            by: authed.data.user.display_name.clone(),
            at: now,
        };
        if let Err(e) = state
            .notify
            .connection_changed(
                access.partner.id,
                &format!("connection_restored:{now}"),
                &fact,
            )
            .await
        {
            tracing::warn!(error = %e, "could not write the connection's restored notifications");
        }
    }
    let action = if replaced {
        "connection_replaced"
    } else {
        "connection_made"
    };
    tracing::info!(
        partner_id = access.partner.id,
        user_id = authed.data.user.id,
        replaced,
        "team connection stored"
    );
    authed
        .audit(&state, action, format!("partner {}", access.partner.name))
        .await;
    let done = if replaced { "reconnected" } else { "connected" };
    Ok(Redirect::to(&format!("/team?done={done}")).into_response())
}

async fn disconnect_post(
    State(state): State<AppState>,
    authed: Authed,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Result<Response, AppError> {
    check_csrf(&state, &headers, &authed.data, form.csrf.as_deref())?;
    let access = authed.access()?;
    if access.connection_owner.is_some() || authed.data.token.is_none() {
        return Err(AppError::RoleForbidden {
            role: "team member",
            what: "removing the connection (it needs a WordPress.com account that lists the partner's keys itself)",
        });
    }
    if state.team.disconnect(access.partner.id).await? {
        tracing::info!(partner_id = access.partner.id, "team connection removed");
        authed
            .audit(
                &state,
                "connection_removed",
                format!("partner {}", access.partner.name),
            )
            .await;
    }
    Ok(Redirect::to("/team?done=disconnected").into_response())
}

#[derive(Debug, Deserialize)]
struct InviteForm {
    csrf: Option<String>,
    role: Option<String>,
    for_whom: Option<String>,
}

async fn invite_post(
    State(state): State<AppState>,
    authed: Authed,
    headers: HeaderMap,
    Form(form): Form<InviteForm>,
) -> Result<Response, AppError> {
    check_csrf(&state, &headers, &authed.data, form.csrf.as_deref())?;
    let access = authed.access()?;
    let role = form.role.as_deref().and_then(Role::parse).ok_or_else(|| {
        AppError::BadRequest("Pick a role for the invite: admin, finance or support.".into())
    })?;
    let for_whom = form
        .for_whom
        .map(|w| w.trim().to_owned())
        .filter(|w| !w.is_empty());
    if for_whom
        .as_ref()
        .is_some_and(|w| w.len() > 200 || w.chars().any(char::is_whitespace))
    {
        return Err(AppError::BadRequest(
            "The invite can name one WordPress.com username or email address, without spaces."
                .into(),
        ));
    }
    let now = state.clock.now();
    let (invite, secret) = state
        .team
        .create_invite(
            access.partner.id,
            role,
            for_whom.clone(),
            &authed.data.user.display_name,
            now,
        )
        .await?;
    authed
        .audit(
            &state,
            "invite_created",
            format!(
                "{} invite {} for {}",
                role.label(),
                invite.id,
                for_whom.as_deref().unwrap_or("anyone with the link")
            ),
        )
        .await;
    let link = format!("{}/join/{}", state.config.base_path_url(), secret.expose());
    let page = team_page(&state, &authed, Some(link), None).await?;
    render(StatusCode::CREATED, &page)
}

#[derive(Debug, Deserialize)]
struct RoleForm {
    csrf: Option<String>,
    role: Option<String>,
}

async fn revoke_post(
    State(state): State<AppState>,
    authed: Authed,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, AppError> {
    check_csrf(&state, &headers, &authed.data, form.csrf.as_deref())?;
    let access = authed.access()?;
    let now = state.clock.now();
    let name = &authed.data.user.display_name;
    let Some(invite) = state
        .team
        .revoke_invite(access.partner.id, &id, name, now)
        .await?
    else {
        return Err(AppError::not_found(
            "Invite not found",
            "No pending invite has that number. It may have been accepted, revoked or expired already.",
        ));
    };
    authed
        .audit(
            &state,
            "invite_revoked",
            format!("{} invite {}", invite.role.label(), invite.id),
        )
        .await;
    Ok(Redirect::to("/team?done=revoked").into_response())
}

async fn role_post(
    State(state): State<AppState>,
    authed: Authed,
    headers: HeaderMap,
    Path(user_id): Path<u64>,
    Form(form): Form<RoleForm>,
) -> Result<Response, AppError> {
    check_csrf(&state, &headers, &authed.data, form.csrf.as_deref())?;
    let access = authed.access()?;
    let role =
        form.role.as_deref().and_then(Role::parse).ok_or_else(|| {
            AppError::BadRequest("Pick a role: admin, finance or support.".into())
        })?;
    let old = state
        .team
        .set_role(access.partner.id, user_id, role)
        .await?;
    if old != role {
        authed
            .audit(
                &state,
                "role_changed",
                format!("user {user_id}: {} → {}", old.label(), role.label()),
            )
            .await;
    }
    Ok(Redirect::to("/team?done=role").into_response())
}

async fn remove_post(
    State(state): State<AppState>,
    authed: Authed,
    headers: HeaderMap,
    Path(user_id): Path<u64>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, AppError> {
    check_csrf(&state, &headers, &authed.data, form.csrf.as_deref())?;
    let access = authed.access()?;
    let name = state.team.remove_member(access.partner.id, user_id).await?;
    authed
        .audit(&state, "member_removed", format!("{name} (user {user_id})"))
        .await;
    Ok(Redirect::to("/team?done=removed").into_response())
}
