//! The API tokens page (every role): a person's own tokens, a form to make one (shown once),
//! and revocation; admins also see and revoke every token of their partner.
//!
//! - `GET /tokens` lists them.
//! - `POST /tokens` makes one: a name, an expiry of 7, 30, 90 (default) or 365 days, and scopes
//!   no wider than the person's role. The answer shows the secret once.
//! - `POST /tokens/{id}/revoke` ends one at once, on every replica.

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
    auth::{check_csrf, csrf::CsrfForm, session::Authed},
    error::AppError,
    pages::team::{Standing, team_standing, when},
    state::AppState,
    tokens::{
        ApiToken, DEFAULT_EXPIRY_DAYS, EXPIRY_DAYS, MAX_NAME, NewToken, Scope, Scopes, TokenStatus,
    },
    web::{Layout, render},
};

/// The API tokens routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/tokens", get(tokens_get).post(create_post))
        .route("/tokens/{id}/revoke", post(revoke_post))
}

struct TokenView {
    id: String,
    name: String,
    prefix: String,
    owner: String,
    scopes: String,
    created: String,
    expires: String,
    status: &'static str,
    active: bool,
    last_used: String,
}

impl TokenView {
    fn new(t: &ApiToken, now: i64) -> Self {
        let status = t.status(now);
        Self {
            id: t.id.clone(),
            name: t.name.clone(),
            prefix: format!("{}…", t.prefix),
            owner: t.user_name.clone(),
            scopes: t
                .scopes
                .iter()
                .map(Scope::as_str)
                .collect::<Vec<_>>()
                .join(", "),
            created: when(t.created_at),
            expires: match (&t.revoked, status) {
                (Some((at, by)), _) => format!("revoked {} by {by}", when(*at)),
                _ => when(t.expires_at),
            },
            status: status.label(),
            active: status == TokenStatus::Active,
            last_used: match (t.last_used_at, &t.last_used_from) {
                (Some(at), Some(from)) => format!("{} from {from}", when(at)),
                (Some(at), None) => when(at),
                (None, _) => "never".to_owned(),
            },
        }
    }
}

/// A scope the form offers: its name, its words, and whether this role may choose it.
struct ScopeChoice {
    value: &'static str,
    label: &'static str,
}

/// The secret of the token just made, shown once.
struct Created {
    name: String,
    secret: String,
    expires: String,
    scopes: String,
}

#[derive(Template)]
#[template(path = "tokens.html")]
struct TokensPage {
    layout: Layout,
    csrf: String,
    role: &'static str,
    /// Why no token can be made (no team connection, no membership), if so.
    cannot: Option<String>,
    mine: Vec<TokenView>,
    /// Admins: the other members' tokens.
    others: Option<Vec<TokenView>>,
    scopes: Vec<ScopeChoice>,
    expiries: Vec<(i64, bool)>,
    max_name: usize,
    created: Option<Created>,
    notice: Option<String>,
    /// The portal's own URL, for the curl example.
    base_url: String,
    key: u64,
}

/// Why `authed` cannot make a token, if they cannot: tokens read through the team connection,
/// as their owner (the connection's owner, or a member).
async fn cannot_make(state: &AppState, authed: &Authed) -> Result<Option<String>, AppError> {
    Ok(match team_standing(state, authed).await? {
        Standing::Member => None,
        Standing::NoConnection => Some(
            "API tokens read through the partner's team connection, and there is none yet. An admin whose own WordPress.com account lists the partner's keys connects it on the Team page.".to_owned(),
        ),
        Standing::NotMember { owner } => Some(format!(
            "API tokens act for a member of the team, and your login is not one: the team connection was made by {owner}. Ask them to make the token, or invite your account on the Team page."
        )),
    })
}

async fn tokens_page(
    state: &AppState,
    authed: &Authed,
    created: Option<Created>,
    notice: Option<String>,
) -> Result<TokensPage, AppError> {
    let access = authed.access()?;
    let now = state.clock.now();
    let user = authed.data.user.id;
    let all = state.tokens.list(access.partner.id, None).await?;
    let (mine, others): (Vec<_>, Vec<_>) = all.iter().partition(|t| t.user_id == user);
    let mut layout = Layout::for_user(
        state,
        authed.viewer(),
        "API tokens",
        "tokens",
        "/tokens",
        None,
    );
    layout.here = "/tokens".to_owned();
    Ok(TokensPage {
        layout,
        csrf: authed.data.csrf.expose().clone(),
        role: access.role.label(),
        cannot: cannot_make(state, authed).await?,
        mine: mine.iter().map(|t| TokenView::new(t, now)).collect(),
        others: access
            .role
            .is_admin()
            .then(|| others.iter().map(|t| TokenView::new(t, now)).collect()),
        scopes: Scope::ALL
            .into_iter()
            .filter(|s| *s != Scope::Activations && s.allowed_for(access.role))
            .map(|s| ScopeChoice {
                value: s.as_str(),
                label: s.label(),
            })
            .collect(),
        expiries: EXPIRY_DAYS
            .iter()
            .map(|d| (*d, *d == DEFAULT_EXPIRY_DAYS))
            .collect(),
        max_name: MAX_NAME,
        created,
        notice,
        base_url: state.config.base_path_url(),
        key: access.partner.default_key().map_or(0, |k| k.id),
    })
}

#[derive(Debug, Deserialize)]
struct TokensQuery {
    done: Option<String>,
}

async fn tokens_get(
    State(state): State<AppState>,
    authed: Authed,
    axum::extract::Query(q): axum::extract::Query<TokensQuery>,
) -> Result<Response, AppError> {
    let notice = match q.done.as_deref() {
        Some("revoked") => Some("The token is revoked. Requests with it are refused from now on."),
        _ => None,
    };
    let page = tokens_page(&state, &authed, None, notice.map(str::to_owned)).await?;
    render(StatusCode::OK, &page)
}

/// The create form. `scope` repeats (one per checked box).
#[derive(Debug, Deserialize)]
struct CreateForm {
    csrf: Option<String>,
    name: Option<String>,
    days: Option<String>,
    #[serde(default)]
    scope: Vec<String>,
}

async fn create_post(
    State(state): State<AppState>,
    authed: Authed,
    headers: HeaderMap,
    axum::extract::RawForm(body): axum::extract::RawForm,
) -> Result<Response, AppError> {
    let form = parse_create(&body);
    check_csrf(&state, &headers, &authed.data, form.csrf.as_deref())?;
    let access = authed.access()?;
    if let Some(why) = cannot_make(&state, &authed).await? {
        return Err(AppError::BadRequest(why));
    }
    let (name, days, scopes) = validate(&form, access.role)?;
    let user = &authed.data.user;
    let now = state.clock.now();
    let (token, secret) = state
        .tokens
        .create(
            &NewToken {
                partner_id: access.partner.id,
                user_id: user.id,
                username: user.username.clone(),
                user_name: user.display_name.clone(),
                name,
                scopes,
                days,
            },
            now,
        )
        .await?;
    authed
        .audit(
            &state,
            "api_token_created",
            format!(
                "“{}” ({}…), {}, expires {}",
                token.name,
                token.prefix,
                token.scopes.to_text(),
                when(token.expires_at)
            ),
        )
        .await;
    let created = Created {
        name: token.name.clone(),
        secret: secret.expose().clone(),
        expires: when(token.expires_at),
        scopes: token.scopes.to_text(),
    };
    let page = tokens_page(&state, &authed, Some(created), None).await?;
    render(StatusCode::CREATED, &page)
}

/// The form's name, expiry and scopes, or what is wrong with them.
fn validate(form: &CreateForm, role: crate::team::Role) -> Result<(String, i64, Scopes), AppError> {
    let name = form.name.as_deref().unwrap_or("").trim().to_owned();
    if name.is_empty() || name.chars().count() > MAX_NAME || name.chars().any(char::is_control) {
        return Err(AppError::BadRequest(format!(
            "Give the token a name of 1 to {MAX_NAME} characters, such as “nightly billing export”."
        )));
    }
    let days = match form.days.as_deref() {
        None | Some("") => DEFAULT_EXPIRY_DAYS,
        Some(d) => d
            .parse::<i64>()
            .ok()
            .filter(|d| EXPIRY_DAYS.contains(d))
            .ok_or_else(|| {
                AppError::BadRequest("Pick an expiry of 7, 30, 90 or 365 days.".into())
            })?,
    };
    let mut chosen = Vec::new();
    for s in &form.scope {
        chosen.push(
            Scope::parse(s)
                .ok_or_else(|| AppError::BadRequest(format!("There is no scope {s:?}.")))?,
        );
    }
    let scopes = Scopes::new(chosen);
    if let Some(wider) = scopes.wider_than(role) {
        return Err(AppError::RoleForbidden {
            role: role.label(),
            what: wider.what(),
        });
    }
    Ok((name, days, scopes))
}

/// Reads the create form by hand: `scope` may repeat, which a struct form cannot say.
fn parse_create(body: &[u8]) -> CreateForm {
    let mut form = CreateForm {
        csrf: None,
        name: None,
        days: None,
        scope: Vec::new(),
    };
    for (k, v) in url::form_urlencoded::parse(body) {
        match k.as_ref() {
            "csrf" => form.csrf = Some(v.into_owned()),
            "name" => form.name = Some(v.into_owned()),
            "days" => form.days = Some(v.into_owned()),
            "scope" => form.scope.push(v.into_owned()),
            _ => {}
        }
    }
    form
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
    // Admins may revoke any token of the partner; everyone else their own.
    let only = (!access.role.is_admin()).then_some(authed.data.user.id);
    let now = state.clock.now();
    let Some(token) = state
        .tokens
        .revoke(
            access.partner.id,
            &id,
            only,
            &authed.data.user.display_name,
            now,
        )
        .await?
    else {
        return Err(AppError::not_found(
            "Token not found",
            "There is no active token of yours with that id. It may have been revoked already.",
        ));
    };
    authed
        .audit(
            &state,
            "api_token_revoked",
            format!(
                "“{}” ({}…) of {}",
                token.name, token.prefix, token.user_name
            ),
        )
        .await;
    Ok(Redirect::to("/tokens?done=revoked").into_response())
}
