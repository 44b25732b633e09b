//! The one error type of request handlers, and how each variant looks to a person.
//!
//! Handlers return `Result<_, AppError>`. `AppError::into_response` only decides the status and
//! a short, safe message and puts an [`ErrorView`] in the response's extensions; the
//! response middleware (`web::middleware`) turns that into the HTML error page (with the
//! layout and request id) or into JSON for `/api/` paths. Causes are logged, never shown.

use std::time::Duration;

use axum::{
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Redirect, Response},
};

use crate::upstream::UpstreamError;

/// The page for a request the session layer refused with a bare 500: tower-sessions answers
/// so, with no body, when the store cannot save (or load) a session, below every handler.
pub fn session_store_view() -> ErrorView {
    AppError::Store(String::new()).view()
}

/// What the error page shows.
#[derive(Debug, Clone)]
pub struct ErrorView {
    /// HTTP status.
    pub status: StatusCode,
    /// Short machine code for JSON (`not_found`, `upstream_unavailable`, ...).
    pub code: &'static str,
    /// Page heading.
    pub title: String,
    /// One or two sentences saying what happened and what to do.
    pub message: String,
    /// A "Try again" link, when retrying can help.
    pub retry_href: Option<String>,
    /// Offer a logout button (with this CSRF token).
    pub logout_csrf: Option<String>,
    /// Offer a "Log in" link.
    pub login_href: Option<String>,
}

impl ErrorView {
    /// With a "Try again" link to the page itself.
    fn with_retry(mut self) -> Self {
        self.retry_href = Some(String::new());
        self
    }

    /// With a Log out button.
    fn with_logout(mut self, csrf: &str) -> Self {
        self.logout_csrf = Some(csrf.to_owned());
        self
    }

    fn new(status: StatusCode, code: &'static str, title: &str, message: &str) -> Self {
        Self {
            status,
            code,
            title: title.to_owned(),
            message: message.to_owned(),
            retry_href: None,
            logout_csrf: None,
            login_href: None,
        }
    }
}

/// Everything a handler can fail with.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Not logged in (303 to the login page, remembering `next`).
    #[error("login required")]
    LoginRequired {
        /// Where to go after login.
        next: String,
        /// Why (`expired`), shown on the login page.
        reason: Option<&'static str>,
    },
    /// A JSON route was called without a login (401 JSON, never a redirect).
    #[error("unauthenticated API call")]
    ApiUnauthenticated,
    /// A request's portal API token was refused (401, or 403 for a scope it lacks), with
    /// `WWW-Authenticate` as RFC 6750 writes it.
    #[error("API token refused: {error}")]
    Token {
        /// 401 or 403 (or 400 for a token where none is accepted).
        status: StatusCode,
        /// RFC 6750's error code: `invalid_token`, `insufficient_scope`, `invalid_request`.
        error: &'static str,
        /// What to do, for the person running the script.
        message: String,
    },
    /// Too many requests with one API token (429, with the seconds to wait).
    #[error("API rate limit")]
    ApiRateLimited(u64),
    /// A JSON route needs the key's copy, and its first one is being made (503, with what is
    /// happening).
    #[error("copy not ready")]
    CopyNotReady(String),
    /// The partner has no team connection, which API tokens read through (503).
    #[error("no team connection")]
    NotConnected,
    /// A WordPress.com failure while showing `here` (a same-origin path to retry).
    #[error("upstream: {error}")]
    Upstream {
        /// What failed.
        error: UpstreamError,
        /// The page to retry.
        here: String,
    },
    /// 400 with a message for the user.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// 404, with a heading that names what is missing ("Invoice not found").
    #[error("not found: {message}")]
    NotFound {
        /// Heading.
        title: &'static str,
        /// What is missing and what to do instead.
        message: String,
    },
    /// The logged-in WordPress.com user is not a Jetpack partner (403).
    #[error("no partner")]
    NoPartner {
        /// CSRF token for the logout button.
        csrf: String,
    },
    /// The team connection is broken: a member's reports wait for its owner (503).
    #[error("team connection broken")]
    Paused {
        /// Who connected it.
        owner: String,
    },
    /// The member's role does not include this page (403).
    #[error("role forbids")]
    RoleForbidden {
        /// "Support".
        role: &'static str,
        /// What the role lacks ("invoices and amounts").
        what: &'static str,
    },
    /// An invite that cannot be used (410, with why).
    #[error("invite unusable")]
    InviteUnusable(String),
    /// Too many login attempts from one address (429, with the seconds to wait).
    #[error("rate limited")]
    TooManyRequests(u64),
    /// Too many CSV downloads run at once, for this session or in all (429).
    #[error("too many exports")]
    ExportsBusy(crate::export::ExportBusy),
    /// CSRF token or origin check failed (403).
    #[error("cross-site request refused")]
    Csrf,
    /// The login could not be completed (status and message chosen by the auth module).
    #[error("login failed: {title}")]
    LoginFailed {
        /// HTTP status.
        status: StatusCode,
        /// Heading.
        title: &'static str,
        /// Explanation.
        message: String,
    },
    /// The session store failed (503).
    #[error("session store: {0}")]
    Store(String),
    /// The local copy of the activations could not be read or written (503).
    #[error("activations index: {0}")]
    Index(String),
    /// Anything else (500); the cause is logged.
    #[error("internal: {0}")]
    Internal(String),
}

impl AppError {
    /// A 404 with this heading and message.
    pub fn not_found(title: &'static str, message: impl Into<String>) -> Self {
        Self::NotFound {
            title,
            message: message.into(),
        }
    }
}

impl From<tower_sessions::session::Error> for AppError {
    fn from(e: tower_sessions::session::Error) -> Self {
        Self::Store(e.to_string())
    }
}

/// Handlers reach the database only through the activations index (sessions go through
/// `tower_sessions`), so a database error in a handler is an index failure.
impl From<sqlx::Error> for AppError {
    fn from(e: sqlx::Error) -> Self {
        Self::Index(e.to_string())
    }
}

impl From<crate::team::TeamError> for AppError {
    fn from(e: crate::team::TeamError) -> Self {
        match e {
            crate::team::TeamError::Db(m) => Self::Index(m),
            crate::team::TeamError::NoMember => Self::not_found(
                "Member not found",
                "That person is not a member of this team, or their membership is managed by configuration.",
            ),
            crate::team::TeamError::LastAdmin => Self::BadRequest(
                "That would leave the team without an admin. Make someone else an admin first."
                    .into(),
            ),
        }
    }
}

/// The index's shared (cached) queries fail with a shared error.
impl From<std::sync::Arc<sqlx::Error>> for AppError {
    fn from(e: std::sync::Arc<sqlx::Error>) -> Self {
        Self::Index(e.to_string())
    }
}

/// The page for a request the framework or a size limit refused before any handler ran (a
/// path segment that is not a number, a malformed form, a body too large). Their own text
/// echoes the input; this says what happened in general terms instead.
pub fn rejection_view(status: StatusCode) -> ErrorView {
    use StatusCode as S;
    match status {
        S::METHOD_NOT_ALLOWED => ErrorView::new(
            status,
            "method_not_allowed",
            "That action is not available here",
            "This address does not take that kind of request. Go back and use the page's own links and buttons.",
        ),
        S::PAYLOAD_TOO_LARGE => ErrorView::new(
            status,
            "too_large",
            "That request is too large",
            "The form sent more than partner-portal accepts. Go back and try again.",
        ),
        S::URI_TOO_LONG => ErrorView::new(
            status,
            "uri_too_long",
            "That address is too long",
            "Go back and try again with fewer filters.",
        ),
        _ => ErrorView::new(
            S::BAD_REQUEST,
            "bad_request",
            "That request could not be understood",
            "Something in the address or the form was not in the shape partner-portal expects. Go back and try again.",
        ),
    }
}

/// The `/login` URL that returns to `next` afterwards.
pub fn login_href(next: &str, reason: Option<&str>) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    if next != "/" && !next.is_empty() {
        s.append_pair("next", next);
    }
    if let Some(r) = reason {
        s.append_pair("reason", r);
    }
    let q = s.finish();
    if q.is_empty() {
        "/login".to_owned()
    } else {
        format!("/login?{q}")
    }
}

impl AppError {
    /// The page this error renders as: WordPress.com's failures, the person's access, the
    /// request itself, or the portal's own parts failing.
    pub fn view(&self) -> ErrorView {
        if let Self::Upstream { error, here } = self {
            return upstream_view(error, here);
        }
        self.access_view()
            .or_else(|| self.request_view())
            .unwrap_or_else(|| self.failure_view())
    }

    /// Who may see what: logins, roles, teams, invites, forms from elsewhere.
    fn access_view(&self) -> Option<ErrorView> {
        use StatusCode as S;
        Some(match self {
            Self::LoginRequired { .. } | Self::ApiUnauthenticated => ErrorView::new(
                S::UNAUTHORIZED,
                "unauthenticated",
                "Log in required",
                "Log in to continue.",
            ),
            Self::Token {
                status,
                error,
                message,
            } => ErrorView::new(*status, error, "API token refused", message),
            Self::CopyNotReady(message) => ErrorView::new(
                S::SERVICE_UNAVAILABLE,
                "copy_not_ready",
                "The activations copy is not ready",
                message,
            ),
            Self::NotConnected => ErrorView::new(
                S::SERVICE_UNAVAILABLE,
                "not_connected",
                "The team is not connected",
                "API tokens read through the partner's team connection, and there is none. Someone whose own WordPress.com account lists the partner's keys connects it on the Team page.",
            ),
            Self::NoPartner { csrf } => ErrorView::new(
                S::FORBIDDEN,
                "no_partner",
                "This WordPress.com account is not a Jetpack partner",
                "The account you logged in with has no Jetpack partner keys, and no team has invited it. Log out and log in with the WordPress.com account attached to your partner keys. If your company uses partner-portal, ask its admin for an invite.",
            )
            .with_logout(csrf),
            Self::Paused { owner } => ErrorView::new(
                S::SERVICE_UNAVAILABLE,
                "connection_broken",
                "Reports are paused",
                &format!("Reports are paused until {owner} reconnects: WordPress.com no longer accepts the connection your team's reports come through. Your admins have been told on their pages."),
            )
            .with_retry(),
            Self::RoleForbidden { role, what } => ErrorView::new(
                S::FORBIDDEN,
                "role_forbidden",
                "Not part of your role",
                &format!("Your role ({role}) does not include {what}. Ask an admin of your team if you need it."),
            ),
            Self::InviteUnusable(why) => ErrorView::new(
                S::GONE,
                "invite_unusable",
                "This invite cannot be used",
                why,
            ),
            Self::Csrf => ErrorView::new(
                S::FORBIDDEN,
                "csrf",
                "Request refused",
                "The form was stale or came from another site. Go back, reload the page and try again.",
            ),
            Self::LoginFailed {
                status,
                title,
                message,
            } => {
                let mut v = ErrorView::new(*status, "login_failed", title, message);
                v.login_href = Some("/login".into());
                v
            }
            _ => return None,
        })
    }

    /// The request itself: what it asks for cannot be read, is not there, or comes too often.
    fn request_view(&self) -> Option<ErrorView> {
        use StatusCode as S;
        Some(match self {
            Self::BadRequest(m) => ErrorView::new(
                S::BAD_REQUEST,
                "bad_request",
                "That request could not be understood",
                m,
            ),
            Self::NotFound { title, message } => {
                ErrorView::new(S::NOT_FOUND, "not_found", title, message)
            }
            Self::TooManyRequests(wait) => ErrorView::new(
                S::TOO_MANY_REQUESTS,
                "rate_limited",
                "Too many login attempts",
                &format!(
                    "Too many logins were started from your address. Wait {wait} seconds and try again."
                ),
            ),
            Self::ApiRateLimited(wait) => ErrorView::new(
                S::TOO_MANY_REQUESTS,
                "rate_limited",
                "Too many requests",
                &format!(
                    "This token made more requests than the portal allows a minute. Wait {wait} seconds and try again."
                ),
            ),
            Self::ExportsBusy(busy) => ErrorView::new(
                S::TOO_MANY_REQUESTS,
                "too_many_exports",
                "Too many downloads at once",
                &match busy {
                    crate::export::ExportBusy::Session(n) => format!(
                        "You already have {n} downloads being prepared or sent. Wait for one to finish, then try again."
                    ),
                    crate::export::ExportBusy::All => "partner-portal is preparing as many downloads as it allows at once. Try again in a few seconds.".to_owned(),
                },
            ),
            _ => return None,
        })
    }

    /// The portal's own parts failing: its session store, its copy, or a bug.
    fn failure_view(&self) -> ErrorView {
        use StatusCode as S;
        match self {
            Self::Store(_) => ErrorView::new(
                S::SERVICE_UNAVAILABLE,
                "store_unavailable",
                "Sessions are unavailable",
                "partner-portal could not read or save your session right now: its database is out of reach or out of space. Try again in a moment; if it keeps happening, tell whoever runs the portal.",
            )
            .with_retry(),
            Self::Index(_) => ErrorView::new(
                S::SERVICE_UNAVAILABLE,
                "index_unavailable",
                "The activations copy is unavailable",
                "partner-portal cannot read its copy of your activations right now. Try again in a moment.",
            )
            .with_retry(),
            _ => ErrorView::new(
                S::INTERNAL_SERVER_ERROR,
                "internal",
                "Something went wrong",
                "An unexpected error occurred. Quote the request id below if you report it.",
            ),
        }
    }
}

fn upstream_view(error: &UpstreamError, here: &str) -> ErrorView {
    use StatusCode as S;
    let mut v = match error {
        UpstreamError::Unauthorized => {
            let mut v = ErrorView::new(
                S::UNAUTHORIZED,
                "reauthenticate",
                "Your WordPress.com login has ended",
                "WordPress.com no longer accepts this login. Log in again.",
            );
            v.login_href = Some(login_href(here, Some("expired")));
            return v;
        }
        UpstreamError::Forbidden { .. } => {
            return ErrorView::new(
                S::FORBIDDEN,
                "forbidden",
                "No access",
                "WordPress.com says this account has no access to that partner or key. If that is unexpected, check which WordPress.com account owns your partner keys.",
            );
        }
        UpstreamError::NotFound { .. } => {
            return ErrorView::new(
                S::NOT_FOUND,
                "not_found",
                "WordPress.com has no such report",
                "WordPress.com has no such partner, key or report. Pick another key or page from the menu above.",
            );
        }
        UpstreamError::RateLimited { retry_after } => {
            let wait =
                retry_after.map_or_else(|| "a moment".to_owned(), |s| format!("{s} seconds"));
            ErrorView::new(
                S::SERVICE_UNAVAILABLE,
                "rate_limited",
                "WordPress.com is busy",
                &format!("WordPress.com asked us to slow down. Try again in {wait}."),
            )
        }
        UpstreamError::Rejected { .. } => ErrorView::new(
            S::BAD_GATEWAY,
            "upstream_rejected",
            "WordPress.com refused the request",
            "WordPress.com did not accept a request partner-portal made. Check the filters and try again.",
        ),
        UpstreamError::Timeout => ErrorView::new(
            S::GATEWAY_TIMEOUT,
            "upstream_timeout",
            "WordPress.com is unavailable",
            "WordPress.com did not answer in time. Try again in a moment.",
        ),
        UpstreamError::Unavailable { .. }
        | UpstreamError::Transport
        | UpstreamError::Decode
        | UpstreamError::TooLarge(_) => ErrorView::new(
            S::BAD_GATEWAY,
            "upstream_unavailable",
            "WordPress.com is unavailable",
            "WordPress.com could not be reached or sent an answer we could not read. Try again in a moment.",
        ),
    };
    v.retry_href = Some(here.to_owned());
    v
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        match &self {
            Self::LoginRequired { next, reason } => {
                return Redirect::to(&login_href(next, *reason)).into_response();
            }
            Self::Upstream {
                error: UpstreamError::Unauthorized,
                here,
            } => {
                return Redirect::to(&login_href(here, Some("expired"))).into_response();
            }
            Self::Store(cause) => tracing::error!(cause = %cause, "session store failure"),
            Self::Index(cause) => tracing::error!(cause = %cause, "activations index failure"),
            Self::Internal(cause) => tracing::error!(cause = %cause, "internal error"),
            Self::Upstream { error, .. } => {
                tracing::warn!(error = ?error, "upstream failure shown to the user")
            }
            _ => {}
        }
        let view = self.view();
        let mut response = view.status.into_response();
        let wait = match &self {
            Self::Upstream { error, .. } => error.retry_after(),
            Self::Store(_) | Self::Index(_) => Some(Duration::from_secs(2)),
            Self::TooManyRequests(wait) | Self::ApiRateLimited(wait) => {
                Some(Duration::from_secs(*wait))
            }
            Self::NotConnected => Some(Duration::from_secs(60)),
            Self::CopyNotReady(_) => Some(Duration::from_secs(5)),
            Self::ExportsBusy(_) => Some(Duration::from_secs(10)),
            _ => None,
        };
        if let Some(wait) = wait
            && let Ok(v) = HeaderValue::from_str(&wait.as_secs().to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, v);
        }
        if let Some(v) = self.www_authenticate() {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, v);
        }
        response.extensions_mut().insert(view);
        response
    }
}

impl AppError {
    /// RFC 6750's challenge for a JSON route's refusal: no credentials, or a token refused.
    fn www_authenticate(&self) -> Option<HeaderValue> {
        let text = match self {
            Self::ApiUnauthenticated => r#"Bearer realm="partner-portal""#.to_owned(),
            Self::Token { error, message, .. } => {
                // The description is the portal's own sentence: no quote or backslash in it,
                // and nothing from the request.
                let description: String = message
                    .chars()
                    .filter(|c| c.is_ascii() && !matches!(c, '"' | '\\') && !c.is_control())
                    .collect();
                format!(
                    r#"Bearer realm="partner-portal", error="{error}", error_description="{description}""#
                )
            }
            _ => return None,
        };
        HeaderValue::from_str(&text).ok()
    }
}
