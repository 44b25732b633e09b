//! Role gates, put on whole routers with `axum::middleware::from_extractor`, so that a route
//! added to a gated router later is gated too. A request without a login stops at the gate: the
//! gate sends it to the login page (or answers 401 JSON) as the handler's extractor would. A
//! request with a portal API token must also hold the gate's scope.

use axum::{
    extract::{FromRef, FromRequestParts},
    http::request::Parts,
};

use super::session::Authed;
use crate::{error::AppError, state::AppState, team::Role, tokens::Scope};

/// Invoices, amounts and invoice CSVs: admin and finance.
#[derive(Debug, Clone, Copy)]
pub struct SeesMoney;

/// The Team and Audit pages: admins.
#[derive(Debug, Clone, Copy)]
pub struct AdminOnly;

/// Refuses a logged-in request whose role is not `allowed`, naming `what` it lacks.
async fn require<S>(
    parts: &mut Parts,
    state: &S,
    allowed: fn(Role) -> bool,
    what: &'static str,
    scope: Scope,
) -> Result<(), AppError>
where
    S: Send + Sync,
    AppState: FromRef<S>,
{
    match Authed::from_request_parts(parts, state).await {
        Ok(authed) => match authed.role() {
            Some(role) if !allowed(role) => Err(AppError::RoleForbidden {
                role: role.label(),
                what,
            }),
            _ => match &authed.grant {
                Some(grant) if !grant.scopes.has(scope) => Err(AppError::Token {
                    status: axum::http::StatusCode::FORBIDDEN,
                    error: "insufficient_scope",
                    message: format!(
                        "This token does not include the {} scope. Make a token with it on the API tokens page.",
                        scope.as_str()
                    ),
                }),
                _ => Ok(()),
            },
        },
        // A JSON route answers 401 JSON, never a redirect, as its handler would.
        Err(AppError::LoginRequired { .. }) if parts.uri.path().starts_with("/api/") => {
            Err(AppError::ApiUnauthenticated)
        }
        Err(e) => Err(e),
    }
}

impl<S> FromRequestParts<S> for SeesMoney
where
    S: Send + Sync,
    AppState: FromRef<S>,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        require(
            parts,
            state,
            Role::sees_money,
            "invoices or amounts",
            Scope::Invoices,
        )
        .await?;
        Ok(Self)
    }
}

impl<S> FromRequestParts<S> for AdminOnly
where
    S: Send + Sync,
    AppState: FromRef<S>,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        require(
            parts,
            state,
            Role::is_admin,
            "the Team and Audit pages",
            Scope::Audit,
        )
        .await?;
        Ok(Self)
    }
}
