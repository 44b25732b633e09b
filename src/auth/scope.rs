//! The request's key scope: the logged-in session, its partner and the partner key the request
//! is about, after the access checks. Pages and JSON routes take one [`KeyScope`] (or
//! [`ApiKeyScope`]) instead of re-assembling token, partner and key at every call site.
//!
//! Access is decided by what WordPress.com listed for this token (re-checked regularly by
//! [`Authed`]): a key the partner does not list is a 404, and a user without a partner gets the
//! "not a partner" page.

use axum::{
    extract::{FromRef, FromRequestParts},
    http::request::Parts,
};

use super::session::{ApiAuthed, Authed};
use crate::{
    error::AppError,
    state::AppState,
    upstream::{BearerToken, Partner, PartnerKey, UpstreamError},
    web::{Layout, query::Pairs},
};

/// A logged-in request about one key of the user's partner.
#[derive(Debug, Clone)]
pub struct KeyScope {
    /// The session.
    pub authed: Authed,
    /// The partner, as WordPress.com last listed it.
    pub partner: Partner,
    /// The selected key: `?key=`, or the partner's default key.
    pub key: PartnerKey,
    /// The token reports are read with.
    token: BearerToken,
}

impl KeyScope {
    /// The scope of `key` (the default key when `None`) for `authed`.
    pub fn new(authed: Authed, key: Option<u64>) -> Result<Self, AppError> {
        let access = authed.access()?;
        if access.paused {
            return Err(AppError::Paused {
                owner: access.connection_owner.clone().unwrap_or_default(),
            });
        }
        let partner = access.partner.clone();
        let token = access.token.clone();
        let found = match key {
            Some(id) => partner.key(id),
            None => partner.default_key(),
        };
        let key = found.cloned().ok_or_else(|| match key {
            Some(_) => AppError::not_found(
                "Key not found",
                "Your partner has no key with that number. Pick one of your keys from the menu above.",
            ),
            None => AppError::not_found(
                "No partner keys yet",
                "Your partner has no keys yet. Once WordPress.com issues one, its reports appear here.",
            ),
        })?;
        Ok(Self {
            authed,
            partner,
            key,
            token,
        })
    }

    /// The token this scope's reports are read with (the owner's own, or the connection's).
    pub fn token(&self) -> &BearerToken {
        &self.token
    }

    /// Records `action` about this key in the audit log.
    pub async fn audit(&self, state: &AppState, action: &'static str, detail: &str) {
        let detail = format!("key {} ({}): {detail}", self.key.name, self.key.id);
        self.authed.audit(state, action, detail).await;
    }

    /// The session's CSRF token, for forms.
    pub fn csrf(&self) -> &str {
        self.authed.data.csrf.expose()
    }

    /// Path and query of this request.
    pub fn here(&self) -> &str {
        &self.authed.here
    }

    /// The layout of a page of this scope.
    pub fn layout(
        &self,
        state: &AppState,
        title: &str,
        nav: &'static str,
        path: &'static str,
    ) -> Layout {
        let mut layout = Layout::for_user(
            state,
            self.authed.viewer(),
            title,
            nav,
            path,
            Some(&self.key),
        );
        layout.here = self.here().to_owned();
        layout
    }

    /// Turns an upstream failure into the page to show; a rejected token ends the session (or
    /// pauses a team's reports).
    pub async fn upstream_failed(&self, state: &AppState, error: UpstreamError) -> AppError {
        self.authed.upstream_failed(state, error).await
    }
}

fn key_param(parts: &Parts) -> Result<Option<u64>, AppError> {
    Pairs::parse(parts.uri.query()).key()
}

impl<S> FromRequestParts<S> for KeyScope
where
    S: Send + Sync,
    AppState: FromRef<S>,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let authed = Authed::from_request_parts(parts, state).await?;
        Self::new(authed, key_param(parts)?)
    }
}

/// A [`KeyScope`] for a JSON route: unauthenticated calls get 401 JSON, never a redirect.
#[derive(Debug, Clone)]
pub struct ApiKeyScope(pub KeyScope);

impl<S> FromRequestParts<S> for ApiKeyScope
where
    S: Send + Sync,
    AppState: FromRef<S>,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let ApiAuthed(authed) = ApiAuthed::from_request_parts(parts, state).await?;
        // A script that names two keys is told, not given one of them.
        let keys: Vec<_> = Pairs::parse(parts.uri.query())
            .iter()
            .filter(|(k, _)| *k == "key")
            .map(|(_, v)| v.is_empty())
            .collect();
        match keys.as_slice() {
            [] | [false] => {}
            [true] => {
                return Err(AppError::BadRequest(
                    "key is empty: leave it out for the first key, or give one.".into(),
                ));
            }
            _ => {
                return Err(AppError::BadRequest(
                    "key is given more than once; give it once.".into(),
                ));
            }
        }
        KeyScope::new(authed, key_param(parts)?).map(Self)
    }
}
