//! Role gates, put on whole routers with `axum::middleware::from_extractor`, so that a route
//! added to a gated router later is gated too. A request without a login stops at the gate: the
//! gate sends it to the login page (or answers 401 JSON) as the handler's extractor would.

use axum::{
    extract::{FromRef, FromRequestParts},
    http::request::Parts,
};

use super::session::Authed;
use crate::{error::AppError, state::AppState};

/// Invoices, amounts and invoice CSVs: admin and finance.
#[derive(Debug, Clone, Copy)]
pub struct SeesMoney;

/// The Team and Audit pages: admins.
#[derive(Debug, Clone, Copy)]
pub struct AdminOnly;

async fn role_of<S>(parts: &mut Parts, state: &S) -> Result<Option<crate::team::Role>, AppError>
where
    S: Send + Sync,
    AppState: FromRef<S>,
{
    match Authed::from_request_parts(parts, state).await {
        Ok(authed) => Ok(authed.role()),
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
        match role_of(parts, state).await? {
            Some(role) if !role.sees_money() => Err(AppError::RoleForbidden {
                role: role.label(),
                what: "invoices or amounts",
            }),
            _ => Ok(Self),
        }
    }
}

impl<S> FromRequestParts<S> for AdminOnly
where
    S: Send + Sync,
    AppState: FromRef<S>,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match role_of(parts, state).await? {
            Some(role) if !role.is_admin() => Err(AppError::RoleForbidden {
                role: role.label(),
                what: "the Team and Audit pages",
            }),
            _ => Ok(Self),
        }
    }
}
