//! The typed session: what a logged-in session holds, pending logins, and the extractors that
//! require a login.
//!
//! Session keys and timeouts are defined here only. Activity is recorded by touching
//! `last_seen` at most every quarter of the idle timeout, so a busy user does not cost a write
//! per request; the idle and absolute timeouts are both checked server-side on every request.

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
    upstream::{BearerToken, Me, Partner, UpstreamError},
    web::Viewer,
};

const AUTH_KEY: &str = "portal.auth";
const PENDING_KEY: &str = "portal.pending_logins";
/// At most this many logins may be pending in one browser (several tabs).
pub const MAX_PENDING: usize = 3;

/// A logged-in session's data.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuthData {
    /// The WordPress.com bearer token.
    pub token: BearerToken,
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

/// Stores a completed login.
pub async fn set_auth(session: &Session, data: &AuthData) -> Result<(), AppError> {
    session.insert(AUTH_KEY, data).await?;
    Ok(())
}

/// The login data, if any (no timeout checks).
pub async fn auth(session: &Session) -> Result<Option<AuthData>, AppError> {
    Ok(session.get(AUTH_KEY).await?)
}

/// A request from a logged-in user (pages). A missing or timed-out login redirects to `/login`.
#[derive(Debug, Clone)]
pub struct Authed {
    /// The session's data.
    pub data: AuthData,
    /// The session itself (to flush it on upstream 401).
    pub session: Session,
    /// Path and query of this request, for "try again" and login return links.
    pub here: String,
}

impl Authed {
    /// The partner, or the "not a partner" page.
    pub fn partner(&self) -> Result<&Partner, AppError> {
        self.data
            .partner
            .as_ref()
            .ok_or_else(|| AppError::NoPartner {
                csrf: self.data.csrf.expose().clone(),
            })
    }

    /// What the page header shows of this user.
    pub fn viewer(&self) -> Viewer<'_> {
        Viewer {
            name: &self.data.user.display_name,
            partner: self.data.partner.as_ref(),
            csrf: self.data.csrf.expose(),
        }
    }

    /// Turns an upstream failure into the page to show; a rejected token ends the session.
    pub async fn upstream_failed(&self, error: crate::upstream::UpstreamError) -> AppError {
        if error == crate::upstream::UpstreamError::Unauthorized {
            if let Err(e) = self.session.flush().await {
                return AppError::from(e);
            }
            tracing::info!("WordPress.com rejected the token; session ended");
        }
        AppError::Upstream {
            error,
            here: self.here.clone(),
        }
    }
}

impl<S> FromRequestParts<S> for Authed
where
    S: Send + Sync,
    AppState: FromRef<S>,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
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
            data.last_seen = now;
            changed = true;
        }
        // Which keys this token may see is WordPress.com's decision; confirm it regularly so a
        // user who lost access to a key stops seeing its indexed data.
        if now - data.partner_checked_at >= app.config.access_recheck.as_secs() as i64 {
            match app.wpcom.partner(&data.token).await {
                Ok(partner) => data.partner = partner,
                Err(UpstreamError::Forbidden { .. }) => data.partner = None,
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
            data.partner_checked_at = now;
            changed = true;
        }
        if changed {
            set_auth(&session, &data).await?;
        }
        let authed = Self {
            data,
            session,
            here,
        };
        if let Some(slot) = parts.extensions.get::<crate::web::ViewerSlot>() {
            slot.fill(authed.viewer());
        }
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
