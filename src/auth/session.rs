//! The typed session: what a logged-in session holds, pending logins, and the extractors that
//! require a login.
//!
//! Session keys and timeouts are defined here only. Activity is recorded by touching
//! `last_seen` at most every quarter of the idle timeout, so a busy user does not cost a write
//! per request; the idle and absolute timeouts are both checked server-side on every request.

use std::sync::Arc;

use axum::{
    extract::{FromRef, FromRequestParts},
    http::request::Parts,
};
use serde::{Deserialize, Serialize};
use tower_sessions::Session;

use super::next_url::SafeNext;
use crate::{
    error::AppError,
    secret::Secret,
    state::AppState,
    team::{Role, audit::Actor},
    upstream::{ASIDE_WAIT, BearerToken, Me, Partner, UpstreamError},
    web::Viewer,
};

const AUTH_KEY: &str = "portal.auth";
const PENDING_KEY: &str = "portal.pending_logins";
/// At most this many logins may be pending in one browser (several tabs).
pub const MAX_PENDING: usize = 3;

/// A logged-in session's data.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuthData {
    /// The user's own WordPress.com bearer token: kept only for owners (whose token lists
    /// partner keys). Members and users without access keep none.
    #[serde(default)]
    pub token: Option<BearerToken>,
    /// The user.
    pub user: Me,
    /// The user's partner, if any.
    pub partner: Option<Partner>,
    /// CSRF token for this session's forms.
    pub csrf: Secret<String>,
    /// Unix seconds of login.
    pub authenticated_at: i64,
    /// Unix seconds of the last recorded activity.
    pub last_seen: i64,
    /// Unix seconds when `partner` was last confirmed with WordPress.com.
    #[serde(default)]
    pub partner_checked_at: i64,
    /// The partner this login is a team member of (reports through its connection).
    #[serde(default)]
    pub member_of: Option<u64>,
}

/// What a login may see: the partner, the token its reports are read with, and the role.
#[derive(Debug, Clone)]
pub struct Access {
    /// The partner (as its token last listed it).
    pub partner: Partner,
    /// The token reports are read with: the owner's own, or the team connection's.
    pub token: BearerToken,
    /// The role.
    pub role: Role,
    /// For a member: whose connection the reports come through.
    pub connection_owner: Option<String>,
    /// The connection is broken: reports are paused.
    pub paused: bool,
}

/// A login started in this browser and not yet finished.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PendingLogin {
    /// The OAuth `state`.
    pub state: Secret<String>,
    /// The PKCE verifier.
    pub verifier: Option<Secret<String>>,
    /// Where to go afterwards.
    pub next: String,
    /// Unix seconds when it started.
    pub created_at: i64,
}

/// Pending logins of this session.
pub async fn pending(session: &Session) -> Result<Vec<PendingLogin>, AppError> {
    Ok(session.get(PENDING_KEY).await?.unwrap_or_default())
}

/// Replaces the pending logins.
pub async fn set_pending(session: &Session, list: &[PendingLogin]) -> Result<(), AppError> {
    if list.is_empty() {
        session.remove_value(PENDING_KEY).await?;
    } else {
        session.insert(PENDING_KEY, list).await?;
    }
    Ok(())
}

/// Stores a completed login, as one JSON text (see [`auth`]).
pub async fn set_auth(session: &Session, data: &AuthData) -> Result<(), AppError> {
    let text = serde_json::to_string(data).map_err(unreadable)?;
    session
        .insert_value(AUTH_KEY, serde_json::Value::String(text))
        .await?;
    Ok(())
}

/// The login data, if any (no timeout checks).
///
/// The login is kept in the session as one JSON text rather than as a tree of JSON values:
/// every request reads it, and a text is copied in one piece where a tree is a few dozen
/// allocations, each time the session's record and then its value are handed out. The text
/// is read once per process and kept by that very text ([`parsed`]): the same text is the
/// same login, so what is kept is exact. A session stored as a tree (before this form) is
/// still read.
pub async fn auth(session: &Session) -> Result<Option<Arc<AuthData>>, AppError> {
    match session.get_value(AUTH_KEY).await? {
        None => Ok(None),
        Some(serde_json::Value::String(text)) => {
            let kept = parsed();
            if let Some(data) = kept.get(text.as_str()).await {
                return Ok(Some(data));
            }
            let data = Arc::new(serde_json::from_str::<AuthData>(&text).map_err(unreadable)?);
            kept.insert(text, data.clone()).await;
            Ok(Some(data))
        }
        Some(tree) => Ok(Some(Arc::new(
            serde_json::from_value(tree).map_err(unreadable)?,
        ))),
    }
}

/// Logins read from their session's text, by that text. Bounded, and a login not used for
/// five minutes is let go (its session still holds it).
fn parsed() -> &'static moka::future::Cache<String, Arc<AuthData>> {
    static PARSED: std::sync::OnceLock<moka::future::Cache<String, Arc<AuthData>>> =
        std::sync::OnceLock::new();
    PARSED.get_or_init(|| {
        moka::future::Cache::builder()
            .max_capacity(10_000)
            .time_to_idle(std::time::Duration::from_secs(5 * 60))
            .build()
    })
}

/// A session's login that does not read as one; the error names where, never what (the text
/// holds the bearer token).
fn unreadable(e: serde_json::Error) -> AppError {
    AppError::Internal(format!(
        "the session's login does not read ({:?} at line {} column {})",
        e.classify(),
        e.line(),
        e.column()
    ))
}

/// A request from a logged-in user (pages). A missing or timed-out login redirects to `/login`.
#[derive(Debug, Clone)]
pub struct Authed {
    /// The session's data (shared: see [`auth`]).
    pub data: Arc<AuthData>,
    /// The session itself (to flush it on upstream 401).
    pub session: Session,
    /// Path and query of this request, for "try again" and login return links.
    pub here: String,
    /// What this login may see, decided for this request.
    pub access: Option<Access>,
    /// A line every page shows to admins (a broken connection).
    pub banner: Option<String>,
    /// The portal API token the request came with (`None` for a browser session).
    pub grant: Option<Grant>,
}

/// The portal API token a request came with, after its checks.
#[derive(Debug, Clone)]
pub struct Grant {
    /// The token's public id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// What it may read.
    pub scopes: crate::tokens::Scopes,
}

impl Authed {
    /// What this login may see, or the "not a partner" page.
    pub fn access(&self) -> Result<&Access, AppError> {
        self.access.as_ref().ok_or_else(|| AppError::NoPartner {
            csrf: self.data.csrf.expose().clone(),
        })
    }

    /// The role (`None` without partner access).
    pub fn role(&self) -> Option<Role> {
        self.access.as_ref().map(|a| a.role)
    }

    /// Who did something, for the audit log (and with which API token, by its name).
    pub fn actor(&self) -> Actor {
        let name = match &self.grant {
            Some(g) => format!("{} (API token “{}”)", self.data.user.display_name, g.name),
            None => self.data.user.display_name.clone(),
        };
        Actor {
            id: Some(self.data.user.id),
            name,
        }
    }

    /// Records `action` by this login, about its partner, in the audit log.
    pub async fn audit(&self, app: &AppState, action: &'static str, detail: String) {
        let partner = self.access.as_ref().map(|a| a.partner.id);
        app.team
            .audit(app.clock.now(), partner, &self.actor(), action, detail)
            .await;
    }

    /// What the page header shows of this user.
    pub fn viewer(&self) -> Viewer<'_> {
        let role = self.role();
        Viewer {
            name: &self.data.user.display_name,
            partner: self.access.as_ref().map(|a| &a.partner),
            csrf: self.data.csrf.expose(),
            sees_money: role.is_some_and(Role::sees_money),
            admin: role.is_some_and(Role::is_admin),
            banner: self.banner.as_deref(),
        }
    }

    /// WordPress.com rejected the token this request used: an owner's session ends; a team
    /// connection is marked broken (once) and its members' reports pause.
    pub async fn token_rejected(&self, app: &AppState) -> Result<(), AppError> {
        match self.access.as_ref() {
            Some(Access {
                connection_owner: Some(owner),
                partner,
                ..
            }) => {
                let now = app.clock.now();
                let reason = "WordPress.com rejected the connection's token";
                if app.team.mark_broken(partner.id, reason, now).await? {
                    tracing::warn!(
                        partner_id = partner.id,
                        "team connection broken: WordPress.com rejected its token"
                    );
                    app.team
                        .audit(
                            now,
                            Some(partner.id),
                            &Actor::portal(),
                            "connection_broken",
                            format!("{reason} (connected by {owner}), seen on a member's request"),
                        )
                        .await;
                }
                Ok(())
            }
            _ => {
                self.session.flush().await?;
                tracing::info!("WordPress.com rejected the token; session ended");
                Ok(())
            }
        }
    }

    /// Turns an upstream failure into the page to show; a rejected token ends the session (or
    /// pauses a team's reports).
    pub async fn upstream_failed(&self, app: &AppState, error: UpstreamError) -> AppError {
        if error == UpstreamError::Unauthorized {
            if let Err(e) = self.token_rejected(app).await {
                return e;
            }
            if let Some(owner) = self
                .access
                .as_ref()
                .and_then(|a| a.connection_owner.clone())
            {
                return AppError::Paused { owner };
            }
        }
        AppError::Upstream {
            error,
            here: self.here.clone(),
        }
    }
}

/// Decides what a login may see for this request. A member's role and the connection are read
/// from the database every time, so a removal, a role change or a disconnect takes effect at
/// the member's next request, on every replica.
async fn resolve(
    app: &AppState,
    data: &AuthData,
    session: &Session,
    here: &str,
) -> Result<(Option<Access>, Option<String>), AppError> {
    if let Some(partner_id) = data.member_of {
        let ended = |reason| AppError::LoginRequired {
            next: here.to_owned(),
            reason: Some(reason),
        };
        let Some((role, _)) = app
            .team
            .request_role_of(partner_id, data.user.id, &data.user.username)
            .await?
        else {
            session.flush().await?;
            tracing::info!(
                user_id = data.user.id,
                partner_id,
                "team membership ended; session ended"
            );
            return Err(ended("removed"));
        };
        let Some(connection) = app.team.request_connection(partner_id).await? else {
            session.flush().await?;
            tracing::info!(
                user_id = data.user.id,
                partner_id,
                "team connection removed; session ended"
            );
            return Err(ended("disconnected"));
        };
        let paused = !connection.is_live();
        let banner = (paused && role.is_admin()).then(|| {
            format!(
                "Reports are paused: WordPress.com no longer accepts the team connection made by {}. Someone whose own WordPress.com account lists the partner's keys must reconnect it on the Team page.",
                connection.owner_name
            )
        });
        return Ok((
            Some(Access {
                partner: connection.partner,
                token: connection.token,
                role,
                connection_owner: Some(connection.owner_name),
                paused,
            }),
            banner,
        ));
    }
    let (Some(partner), Some(token)) = (&data.partner, &data.token) else {
        return Ok((None, None));
    };
    let banner = match app.team.request_connection(partner.id).await? {
        Some(c) if !c.is_live() => Some(format!(
            "The team connection made by {} is broken: WordPress.com no longer accepts its token, so your team's reports are paused. Reconnect it on the Team page.",
            c.owner_name
        )),
        _ => None,
    };
    Ok((
        Some(Access {
            partner: partner.clone(),
            token: token.clone(),
            role: Role::Admin,
            connection_owner: None,
            paused: false,
        }),
        banner,
    ))
}

impl<S> FromRequestParts<S> for Authed
where
    S: Send + Sync,
    AppState: FromRef<S>,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        if let Some(authed) = parts.extensions.get::<Self>() {
            return Ok(authed.clone());
        }
        let app = AppState::from_ref(state);
        // The URI as routed: under a sub-path the prefix is already off, and links put it back.
        let here = SafeNext::parse(parts.uri.path_and_query().map_or("/", |pq| pq.as_str()))
            .as_str()
            .to_owned();
        let session = Session::from_request_parts(parts, state)
            .await
            .map_err(|(_, m)| AppError::Internal(m.to_owned()))?;
        let Some(mut data) = auth(&session).await? else {
            return Err(AppError::LoginRequired {
                next: here,
                reason: None,
            });
        };
        let now = app.clock.now();
        let idle = app.config.idle_timeout.as_secs() as i64;
        let absolute = app.config.absolute_timeout.as_secs() as i64;
        if now - data.last_seen > idle || now - data.authenticated_at >= absolute {
            session.flush().await?;
            return Err(AppError::LoginRequired {
                next: here,
                reason: Some("expired"),
            });
        }
        let mut changed = false;
        if now - data.last_seen >= (idle / 4).max(1) {
            Arc::make_mut(&mut data).last_seen = now;
            changed = true;
        }
        // Which keys this token may see is WordPress.com's decision; confirm it regularly so a
        // user who lost access to a key stops seeing its indexed data. The page does not wait
        // on a call that hangs: past `ASIDE_WAIT` the last known keys stand until the next
        // re-check, as when the call fails.
        if let Some(token) = data
            .token
            .clone()
            .filter(|_| now - data.partner_checked_at >= app.config.access_recheck.as_secs() as i64)
        {
            let answer = tokio::time::timeout(ASIDE_WAIT, app.wpcom.partner(&token))
                .await
                .unwrap_or(Err(UpstreamError::Timeout));
            match answer {
                Ok(partner) => Arc::make_mut(&mut data).partner = partner,
                Err(UpstreamError::Forbidden { .. }) => Arc::make_mut(&mut data).partner = None,
                Err(UpstreamError::Unauthorized) => {
                    session.flush().await?;
                    tracing::info!(
                        "WordPress.com rejected the token at the access re-check; session ended"
                    );
                    return Err(AppError::LoginRequired {
                        next: here,
                        reason: Some("expired"),
                    });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "partner re-check failed; keeping the last known keys")
                }
            }
            Arc::make_mut(&mut data).partner_checked_at = now;
            changed = true;
        }
        if changed {
            set_auth(&session, &data).await?;
        }
        let (access, banner) = resolve(&app, &data, &session, &here).await?;
        let authed = Self {
            data,
            session,
            here,
            access,
            banner,
            grant: None,
        };
        if let Some(slot) = parts.extensions.get::<crate::web::ViewerSlot>() {
            slot.fill(authed.viewer());
        }
        // A role gate (`from_extractor`) and the handler read the same login once.
        parts.extensions.insert(authed.clone());
        Ok(authed)
    }
}

/// A request from a logged-in user to a JSON route: unauthenticated calls get 401 JSON.
#[derive(Debug, Clone)]
pub struct ApiAuthed(pub Authed);

impl<S> FromRequestParts<S> for ApiAuthed
where
    S: Send + Sync,
    AppState: FromRef<S>,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Authed::from_request_parts(parts, state).await {
            Ok(a) => Ok(Self(a)),
            // The JSON renderer turns LoginRequired's view (401) into a JSON body.
            Err(AppError::LoginRequired { .. }) => Err(AppError::ApiUnauthenticated),
            Err(e) => Err(e),
        }
    }
}
