//! `Authorization: Bearer ppt_…`: where a portal API token is accepted, and what a request with
//! one may do.
//!
//! The layer runs before the session layer. On a route that takes tokens (`/api/v1/*` and
//! `*.csv`, GET and HEAD only) it checks the token and puts the request's [`Authed`] in its
//! extensions, where every extractor and gate finds it, so no session is read or written. A
//! token anywhere else (a page, a form, the login) is refused with 400 JSON. Each request is
//! checked afresh: the token (revoked, expired), its owner's membership and role, the team
//! connection, and the per-token rate limit.

use axum::{
    extract::{ConnectInfo, Request, State},
    http::{Method, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
};
use tower_sessions::Session;

use super::session::{Access, AuthData, Authed, Grant};
use crate::{
    error::AppError,
    secret::{Secret, random_token},
    state::AppState,
    team::audit::Actor,
    tokens::{ApiToken, Scopes, TokenStatus, portal_token, secret},
    upstream::Me,
};

/// Whether `path` is one that takes API tokens: the JSON API and every CSV download.
fn token_path(path: &str) -> bool {
    path.starts_with("/api/v1/") || path.ends_with(".csv")
}

/// Whether a request takes an API token: a GET or HEAD of the JSON API or a CSV download.
pub fn takes_tokens(method: &Method, path: &str) -> bool {
    (method == Method::GET || method == Method::HEAD) && token_path(path)
}

fn refused(message: &str) -> AppError {
    AppError::Token {
        status: StatusCode::UNAUTHORIZED,
        error: "invalid_token",
        message: message.to_owned(),
    }
}

/// The layer: see the module's documentation.
pub async fn layer(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let Some(text) = portal_token(req.headers()) else {
        return next.run(req).await;
    };
    let path = req.uri().path();
    if token_path(path) && !takes_tokens(req.method(), path) {
        // No route there takes another method: the router answers 405 with `Allow`.
        return next.run(req).await;
    }
    if !takes_tokens(req.method(), path) {
        return AppError::Token {
            status: StatusCode::BAD_REQUEST,
            error: "invalid_request",
            message: "Portal API tokens are accepted on /api/v1 and on CSV downloads, for reading, and nowhere else. Pages and forms need a browser login.".to_owned(),
        }
        .into_response();
    }
    let from = {
        let peer = req.extensions().get::<ConnectInfo<std::net::SocketAddr>>();
        let forwarded = req
            .headers()
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok());
        crate::server::client_ip(peer.map(|c| c.0), forwarded, &state.config.trusted_proxies)
    };
    let here = req
        .uri()
        .path_and_query()
        .map_or("/", |pq| pq.as_str())
        .to_owned();
    match authenticate(&state, text, from, here).await {
        Ok(authed) => {
            req.extensions_mut().insert(authed);
            next.run(req).await
        }
        Err(e) => e.into_response(),
    }
}

/// The request's login for token `text`, or why it is refused.
async fn authenticate(
    state: &AppState,
    text: &str,
    from: Option<std::net::IpAddr>,
    here: String,
) -> Result<Authed, AppError> {
    // A mistyped or cut-off token is turned away by its checksum: no database read.
    if !secret::well_formed(text) {
        return Err(refused(
            "This is not a whole portal API token: its checksum does not match. Copy it again from where you saved it.",
        ));
    }
    let hash = secret::hash(text);
    if let Err(wait) = state.token_limiter.check(hash.clone()) {
        return Err(AppError::ApiRateLimited(wait.as_secs().max(1)));
    }
    let now = state.clock.now();
    let Some(token) = state.tokens.for_request(&hash).await? else {
        return Err(refused("This token is not known to this portal."));
    };
    match token.status(now) {
        TokenStatus::Active => {}
        TokenStatus::Revoked => return Err(refused("This token was revoked.")),
        TokenStatus::Expired => {
            if state.tokens.note_refused(&token.id, now).await? {
                audit(
                    state,
                    &token,
                    "api_token_refused",
                    format!(
                        "“{}” ({}…) expired and was refused{}",
                        token.name,
                        token.prefix,
                        from.map(|ip| format!(" from {ip}")).unwrap_or_default()
                    ),
                )
                .await;
            }
            return Err(refused(
                "This token has expired. Make a new one on the API tokens page.",
            ));
        }
    }
    let Some(connection) = state.team.request_connection(token.partner_id).await? else {
        return Err(AppError::NotConnected);
    };
    let Some(role) = state
        .team
        .request_acting_role(&connection, token.user_id, &token.username)
        .await?
    else {
        return Err(refused(
            "The person this token belongs to is no longer a member of the team.",
        ));
    };
    record_use(state, &token, from, now);
    let paused = !connection.is_live();
    let user = Me {
        id: token.user_id,
        username: token.username.clone(),
        display_name: token.user_name.clone(),
        email: None,
    };
    Ok(Authed {
        data: std::sync::Arc::new(AuthData {
            token: None,
            user,
            partner: None,
            csrf: Secret::new(random_token(16)),
            authenticated_at: now,
            last_seen: now,
            partner_checked_at: now,
            member_of: Some(token.partner_id),
        }),
        // Never saved: a token's request has no session.
        session: Session::new(None, std::sync::Arc::new(state.sessions.clone()), None),
        here,
        access: Some(Access {
            partner: connection.partner,
            token: connection.token,
            role,
            connection_owner: Some(connection.owner_name),
            paused,
        }),
        banner: None,
        // The owner's role may have narrowed since the token was made: it reads no more than the
        // role does now.
        grant: Some(Grant {
            id: token.id.clone(),
            name: token.name.clone(),
            scopes: Scopes::new(token.scopes.iter().filter(|s| s.allowed_for(role))),
        }),
    })
}

/// Records the use in the background (at most once a minute per token), and the first use of
/// each day in the audit log with the client's address.
fn record_use(state: &AppState, token: &ApiToken, from: Option<std::net::IpAddr>, now: i64) {
    if token.last_used_at.is_some_and(|t| now - t < 60) {
        return;
    }
    let (state, token) = (state.clone(), token.clone());
    tokio::spawn(async move {
        let address = from.map(|ip| ip.to_string());
        match state.tokens.record_use(&token, address.clone(), now).await {
            Ok(Some(previous)) if previous.is_none_or(|t| t / 86_400 != now / 86_400) => {
                let detail = format!(
                    "“{}” ({}…) first used today{}",
                    token.name,
                    token.prefix,
                    address.map(|a| format!(" from {a}")).unwrap_or_default()
                );
                audit(&state, &token, "api_token_used", detail).await;
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "could not record an API token's use"),
        }
    });
}

async fn audit(state: &AppState, token: &ApiToken, action: &'static str, detail: String) {
    let actor = Actor {
        id: Some(token.user_id),
        name: token.user_name.clone(),
    };
    state
        .team
        .audit(
            state.clock.now(),
            Some(token.partner_id),
            &actor,
            action,
            detail,
        )
        .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_taken_on_json_and_csv_reads_only() {
        let get = Method::GET;
        assert!(takes_tokens(&get, "/api/v1/keys"));
        assert!(takes_tokens(&get, "/activations.csv"));
        assert!(takes_tokens(&get, "/invoices/in_1/lines.csv"));
        assert!(!takes_tokens(&get, "/activations"));
        assert!(!takes_tokens(&get, "/"));
        assert!(!takes_tokens(&get, "/tokens"));
        assert!(!takes_tokens(&Method::POST, "/api/v1/keys"));
        assert!(!takes_tokens(&Method::POST, "/activations.csv"));
    }
}
