//! The typed WordPress.com client: OAuth2 code exchange, `/me`, and the Jetpack partner
//! reporting routes (`WPCOM_API.md`).
//!
//! Policy, in one place:
//! - every call has connect and total timeouts, and a body cap;
//! - redirects are never followed (the token exchange must not be sent elsewhere);
//! - only GETs are retried: on connect errors, timeouts, 502/503/504, and on 429 when
//!   `Retry-After` fits in the deadline; at most two extra attempts, with full-jitter backoff;
//! - the token POST is never retried (codes are single use);
//! - errors carry no URL, token or body.

pub mod error;
pub mod lenient;
pub mod models;

use std::time::{Duration, Instant};

use chrono::Utc;
use rand::Rng as _;
use reqwest::{StatusCode, header};
use serde_json::Value;
use url::Url;

pub use self::{error::UpstreamError, models::*};
use crate::secret::Secret;

/// A bearer token for WordPress.com.
pub type BearerToken = Secret<String>;

/// Largest upstream body read (5 MB).
pub const MAX_BODY: usize = 5 * 1024 * 1024;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
const CALL_TIMEOUT: Duration = Duration::from_secs(8);
const MAX_ATTEMPTS: u32 = 3;
const BACKOFF_BASE: Duration = Duration::from_millis(200);
const BACKOFF_CAP: Duration = Duration::from_secs(2);

/// Filters of the activations list, validated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ActivationQuery {
    /// 1-based page.
    pub page: u32,
    /// Rows per page.
    pub per_page: u32,
    /// Plan filters (product ids or slugs).
    pub plans: Vec<String>,
    /// Exclusive lower bound, `YYYY-MM-DD HH:MM:SS`.
    pub activated_after: Option<String>,
    /// Exclusive upper bound, `YYYY-MM-DD HH:MM:SS`.
    pub activated_before: Option<String>,
}

impl ActivationQuery {
    fn to_pairs(&self) -> Vec<(String, String)> {
        let mut pairs = vec![
            ("page".to_owned(), self.page.to_string()),
            ("per_page".to_owned(), self.per_page.to_string()),
        ];
        pairs.extend(self.plans.iter().map(|p| ("plans[]".to_owned(), p.clone())));
        if let Some(a) = &self.activated_after {
            pairs.push(("activated_after".into(), a.clone()));
        }
        if let Some(b) = &self.activated_before {
            pairs.push(("activated_before".into(), b.clone()));
        }
        pairs
    }
}

/// Scale of the activations summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Scale {
    /// Per day.
    Day,
    /// Per month.
    #[default]
    Month,
    /// Per year.
    Year,
}

impl Scale {
    /// The wire value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Day => "day",
            Self::Month => "month",
            Self::Year => "year",
        }
    }

    /// Parses the wire value.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "day" => Some(Self::Day),
            "month" => Some(Self::Month),
            "year" => Some(Self::Year),
            _ => None,
        }
    }
}

/// A reporting GET endpoint: its path under the WordPress.com base and its label in logs and
/// metrics. The one list of upstream routes, for the typed client and the JSON proxy alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// `/rest/v1.1/me`.
    Me,
    /// `/wpcom/v2/jetpack-partners`.
    Partners,
    /// `/wpcom/v2/jetpack-partners/{partner}/key/{key}/activations`.
    Activations {
        /// Partner id.
        partner: u64,
        /// Key id.
        key: u64,
    },
    /// `/wpcom/v2/jetpack-partners/activations` (the key goes in the query).
    Summary,
    /// `/wpcom/v2/jetpack-partners/{partner}/key/{key}/stripe/invoices`.
    Invoices {
        /// Partner id.
        partner: u64,
        /// Key id.
        key: u64,
    },
    /// `/wpcom/v2/jetpack-partners/{partner}/key/{key}/stripe/upcoming-invoice`.
    UpcomingInvoice {
        /// Partner id.
        partner: u64,
        /// Key id.
        key: u64,
    },
}

impl Route {
    /// The label in logs and metrics (bounded: ids are not part of it).
    pub fn label(self) -> &'static str {
        match self {
            Self::Me => "me",
            Self::Partners => "partners",
            Self::Activations { .. } => "activations",
            Self::Summary => "summary",
            Self::Invoices { .. } => "invoices",
            Self::UpcomingInvoice { .. } => "upcoming_invoice",
        }
    }

    /// The path under the base URL, without the leading slash. Ids are numbers, so nothing in
    /// it needs escaping.
    pub fn path(self) -> String {
        const PARTNERS: &str = "wpcom/v2/jetpack-partners";
        match self {
            Self::Me => "rest/v1.1/me".to_owned(),
            Self::Partners => PARTNERS.to_owned(),
            Self::Summary => format!("{PARTNERS}/activations"),
            Self::Activations { partner, key } => {
                format!("{PARTNERS}/{partner}/key/{key}/activations")
            }
            Self::Invoices { partner, key } => {
                format!("{PARTNERS}/{partner}/key/{key}/stripe/invoices")
            }
            Self::UpcomingInvoice { partner, key } => {
                format!("{PARTNERS}/{partner}/key/{key}/stripe/upcoming-invoice")
            }
        }
    }
}

/// The token endpoint's answer.
#[derive(Debug)]
pub struct TokenGrant {
    /// The bearer token.
    pub access_token: BearerToken,
    /// Granted scope.
    pub scope: Option<String>,
}

/// Why the code exchange failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExchangeError {
    /// The token endpoint refused (e.g. `invalid_grant`).
    #[error("the token endpoint refused the code ({0})")]
    Rejected(String),
    /// The token endpoint failed or could not be reached.
    #[error("the token endpoint failed: {0}")]
    Upstream(UpstreamError),
}

/// An upstream answer passed through as is (for the JSON proxy routes).
#[derive(Debug)]
pub struct RawResponse {
    /// HTTP status.
    pub status: StatusCode,
    /// Body bytes (at most [`MAX_BODY`]).
    pub body: Vec<u8>,
    /// `Retry-After` seconds.
    pub retry_after: Option<u64>,
}

/// The WordPress.com client. Cheap to clone.
#[derive(Debug, Clone)]
pub struct WpClient {
    base: Url,
    http: reqwest::Client,
    client_id: String,
    client_secret: Secret<String>,
    redirect_uri: String,
    deadline: Duration,
}

impl WpClient {
    /// A client for `base` (e.g. `https://public-api.wordpress.com`).
    pub fn new(
        base: Url,
        client_id: String,
        client_secret: Secret<String>,
        redirect_uri: String,
        deadline: Duration,
    ) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(CALL_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("partner-portal/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            base,
            http,
            client_id,
            client_secret,
            redirect_uri,
            deadline,
        })
    }

    /// The OAuth client id.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The URL of `segments` under the base, e.g. `["wpcom", "v2", "jetpack-partners"]`.
    pub fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        url
    }

    /// The authorization URL to send the browser to.
    pub fn authorize_url(&self, state: &str, code_challenge: Option<&str>) -> Url {
        let mut url = self.url(&["oauth2", "authorize"]);
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("client_id", &self.client_id)
                .append_pair("redirect_uri", &self.redirect_uri)
                .append_pair("response_type", "code")
                .append_pair("scope", "global")
                .append_pair("state", state);
            if let Some(challenge) = code_challenge {
                q.append_pair("code_challenge", challenge)
                    .append_pair("code_challenge_method", "S256");
            }
        }
        url
    }

    /// Exchanges an authorization code for a token. Never retried.
    pub async fn exchange_code(
        &self,
        code: &Secret<String>,
        verifier: Option<&Secret<String>>,
    ) -> Result<TokenGrant, ExchangeError> {
        let mut form = vec![
            ("client_id", self.client_id.as_str()),
            ("client_secret", self.client_secret.expose().as_str()),
            ("redirect_uri", self.redirect_uri.as_str()),
            ("code", code.expose().as_str()),
            ("grant_type", "authorization_code"),
        ];
        if let Some(v) = verifier {
            form.push(("code_verifier", v.expose().as_str()));
        }
        let started = Instant::now();
        let response = self
            .http
            .post(self.url(&["oauth2", "token"]))
            .form(&form)
            .send()
            .await
            .map_err(|e| ExchangeError::Upstream(UpstreamError::from_reqwest(&e)))?;
        let status = response.status();
        let body = read_capped(response)
            .await
            .map_err(ExchangeError::Upstream)?;
        crate::metrics::inc(
            "portal_upstream_calls_total",
            &[("endpoint", "token"), ("outcome", status.as_str())],
        );
        tracing::info!(
            endpoint = "token",
            status = status.as_u16(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "upstream call"
        );
        let json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        if status.is_success() {
            let token = lenient::string(&json["access_token"])
                .ok_or(ExchangeError::Upstream(UpstreamError::Decode))?;
            return Ok(TokenGrant {
                access_token: Secret::new(token),
                scope: lenient::string(&json["scope"]),
            });
        }
        if status.is_server_error() {
            return Err(ExchangeError::Upstream(UpstreamError::Unavailable {
                status: status.as_u16(),
            }));
        }
        Err(ExchangeError::Rejected(
            error_code(&json).unwrap_or_else(|| status.as_u16().to_string()),
        ))
    }

    /// `GET /rest/v1.1/me`.
    pub async fn me(&self, token: &BearerToken) -> Result<Me, UpstreamError> {
        let v = self.get_json(Route::Me, token, &[]).await?;
        Me::from_value(&v).ok_or(UpstreamError::Decode)
    }

    /// `GET /wpcom/v2/jetpack-partners`: the user's partner (`None` if the list is empty).
    pub async fn partner(&self, token: &BearerToken) -> Result<Option<Partner>, UpstreamError> {
        let v = self.get_json(Route::Partners, token, &[]).await?;
        match &v {
            Value::Array(items) if items.is_empty() => Ok(None),
            _ => Partner::from_value(&v)
                .map(Some)
                .ok_or(UpstreamError::Decode),
        }
    }

    /// The activations list of one key.
    pub async fn activations(
        &self,
        token: &BearerToken,
        partner_id: u64,
        key_id: u64,
        query: &ActivationQuery,
    ) -> Result<ActivationsPage, UpstreamError> {
        let route = Route::Activations {
            partner: partner_id,
            key: key_id,
        };
        let v = self.get_json(route, token, &query.to_pairs()).await?;
        ActivationsPage::from_value(&v).ok_or(UpstreamError::Decode)
    }

    /// The activations summary of one key.
    pub async fn summary(
        &self,
        token: &BearerToken,
        key_id: u64,
        scale: Scale,
    ) -> Result<Vec<SummaryPoint>, UpstreamError> {
        let query = [
            ("key_id".to_owned(), key_id.to_string()),
            ("scale".to_owned(), scale.as_str().to_owned()),
        ];
        let v = self.get_json(Route::Summary, token, &query).await?;
        summary_from_value(&v).ok_or(UpstreamError::Decode)
    }

    /// Past invoices of one key, newest first.
    pub async fn invoices(
        &self,
        token: &BearerToken,
        partner_id: u64,
        key_id: u64,
    ) -> Result<Vec<Invoice>, UpstreamError> {
        let route = Route::Invoices {
            partner: partner_id,
            key: key_id,
        };
        let v = self.get_json(route, token, &[]).await?;
        invoices_from_value(&v, Utc::now()).ok_or(UpstreamError::Decode)
    }

    /// The upcoming invoice of one key; `None` when there is none yet.
    pub async fn upcoming_invoice(
        &self,
        token: &BearerToken,
        partner_id: u64,
        key_id: u64,
    ) -> Result<Option<Invoice>, UpstreamError> {
        let route = Route::UpcomingInvoice {
            partner: partner_id,
            key: key_id,
        };
        match self.get_json(route, token, &[]).await {
            // "Nothing upcoming" may arrive as a 404, `null`, `{}` or `[]` (`WPCOM_API.md` §5.2).
            Err(UpstreamError::NotFound { .. }) => Ok(None),
            Ok(Value::Null) => Ok(None),
            Ok(Value::Object(m)) if m.is_empty() => Ok(None),
            Ok(Value::Array(a)) if a.is_empty() => Ok(None),
            Ok(v) => Invoice::from_value(&v, Utc::now())
                .map(Some)
                .ok_or(UpstreamError::Decode),
            Err(e) => Err(e),
        }
    }

    /// A GET whose answer is passed through: any HTTP status is returned as is, and only
    /// transport failures are errors. Transient failures are retried like every GET.
    pub async fn get_raw(
        &self,
        route: Route,
        token: &BearerToken,
        query: &[(String, String)],
    ) -> Result<RawResponse, UpstreamError> {
        let endpoint = route.label();
        let path = route.path();
        let mut url = self.url(&path.split('/').collect::<Vec<_>>());
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        let started = Instant::now();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let remaining = self.deadline.saturating_sub(started.elapsed());
            let result = self.attempt(&url, token, remaining).await;
            let retry_in = match &result {
                Ok(raw) => retry_delay_for_status(raw, attempt),
                Err(e) if e.is_transient() => Some(backoff(attempt)),
                Err(_) => None,
            };
            let outcome = outcome_label(&result);
            match retry_in {
                Some(wait)
                    if attempt < MAX_ATTEMPTS && started.elapsed() + wait < self.deadline =>
                {
                    tracing::info!(
                        endpoint,
                        attempt,
                        outcome,
                        wait_ms = wait.as_millis() as u64,
                        "upstream call failed, retrying"
                    );
                    tokio::time::sleep(wait).await;
                }
                _ => {
                    crate::metrics::inc(
                        "portal_upstream_calls_total",
                        &[("endpoint", endpoint), ("outcome", &outcome)],
                    );
                    tracing::info!(
                        endpoint,
                        attempt,
                        outcome,
                        elapsed_ms = started.elapsed().as_millis() as u64,
                        "upstream call"
                    );
                    return result;
                }
            }
        }
    }

    async fn attempt(
        &self,
        url: &Url,
        token: &BearerToken,
        remaining: Duration,
    ) -> Result<RawResponse, UpstreamError> {
        if remaining.is_zero() {
            return Err(UpstreamError::Timeout);
        }
        let response = self
            .http
            .get(url.clone())
            .bearer_auth(token.expose())
            .header(header::ACCEPT, "application/json")
            .timeout(remaining.min(CALL_TIMEOUT))
            .send()
            .await
            .map_err(|e| UpstreamError::from_reqwest(&e))?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse().ok());
        let body = read_capped(response).await?;
        Ok(RawResponse {
            status,
            body,
            retry_after,
        })
    }

    /// A GET that must answer 2xx JSON; other statuses become [`UpstreamError`]s.
    async fn get_json(
        &self,
        route: Route,
        token: &BearerToken,
        query: &[(String, String)],
    ) -> Result<Value, UpstreamError> {
        let raw = self.get_raw(route, token, query).await?;
        classify(&raw)?;
        serde_json::from_slice(&raw.body).map_err(|_| UpstreamError::Decode)
    }
}

/// A bounded label for a call's outcome: the HTTP status, or the kind of failure.
fn outcome_label(result: &Result<RawResponse, UpstreamError>) -> String {
    match result {
        Ok(raw) => raw.status.as_u16().to_string(),
        Err(UpstreamError::Timeout) => "timeout".into(),
        Err(UpstreamError::TooLarge(_)) => "too_large".into(),
        Err(UpstreamError::Decode) => "decode".into(),
        Err(_) => "transport".into(),
    }
}

/// Turns a non-2xx answer into the error the user can act on (`WPCOM_API.md` §3.2).
pub fn classify(raw: &RawResponse) -> Result<(), UpstreamError> {
    let status = raw.status;
    if status.is_success() {
        return Ok(());
    }
    let json: Value = serde_json::from_slice(&raw.body).unwrap_or(Value::Null);
    let code = error_code(&json).unwrap_or_default();
    let auth_code = matches!(
        code.as_str(),
        "invalid_token" | "authorization_required" | "rest_unauthorized"
    );
    Err(match status.as_u16() {
        401 => UpstreamError::Unauthorized,
        400 | 403 if auth_code => UpstreamError::Unauthorized,
        403 => UpstreamError::Forbidden { code },
        404 => UpstreamError::NotFound { code },
        429 => UpstreamError::RateLimited {
            retry_after: raw.retry_after,
        },
        s @ 500..=599 => UpstreamError::Unavailable { status: s },
        s => UpstreamError::Rejected { status: s, code },
    })
}

/// The error code of any of the three error shapes (`code`, `error`).
fn error_code(json: &Value) -> Option<String> {
    json["code"]
        .as_str()
        .or_else(|| json["error"].as_str())
        .map(|c| {
            // Codes are slugs; keep them short and printable before they reach a log line.
            c.chars()
                .filter(|ch| ch.is_ascii_alphanumeric() || *ch == '_')
                .take(64)
                .collect()
        })
}

fn retry_delay_for_status(raw: &RawResponse, attempt: u32) -> Option<Duration> {
    match raw.status.as_u16() {
        429 => raw
            .retry_after
            .map(Duration::from_secs)
            .or(Some(backoff(attempt))),
        502..=504 => Some(backoff(attempt)),
        _ => None,
    }
}

/// Full-jitter exponential backoff: uniform in `[0, min(cap, base * 2^attempt))`.
fn backoff(attempt: u32) -> Duration {
    let ceiling = BACKOFF_BASE
        .saturating_mul(1 << attempt.min(8))
        .min(BACKOFF_CAP);
    let millis = ceiling.as_millis().max(1) as u64;
    Duration::from_millis(rand::rng().random_range(0..millis))
}

async fn read_capped(mut response: reqwest::Response) -> Result<Vec<u8>, UpstreamError> {
    if response
        .content_length()
        .is_some_and(|n| n > MAX_BODY as u64)
    {
        return Err(UpstreamError::TooLarge(MAX_BODY));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| UpstreamError::from_reqwest(&e))?
    {
        if body.len() + chunk.len() > MAX_BODY {
            return Err(UpstreamError::TooLarge(MAX_BODY));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(status: u16, body: &str) -> RawResponse {
        RawResponse {
            status: StatusCode::from_u16(status).unwrap(),
            body: body.as_bytes().to_vec(),
            retry_after: Some(2),
        }
    }

    #[test]
    fn auth_errors_mean_log_in_again() {
        assert_eq!(classify(&raw(401, "{}")), Err(UpstreamError::Unauthorized));
        assert_eq!(
            classify(&raw(400, r#"{"error":"invalid_token","message":"x"}"#)),
            Err(UpstreamError::Unauthorized)
        );
        assert_eq!(
            classify(&raw(403, r#"{"error":"authorization_required"}"#)),
            Err(UpstreamError::Unauthorized)
        );
    }

    #[test]
    fn other_statuses_map_to_actionable_errors() {
        assert_eq!(
            classify(&raw(
                403,
                r#"{"code":"rest_forbidden","data":{"status":403}}"#
            )),
            Err(UpstreamError::Forbidden {
                code: "rest_forbidden".into()
            })
        );
        assert!(matches!(
            classify(&raw(404, "")),
            Err(UpstreamError::NotFound { .. })
        ));
        assert_eq!(
            classify(&raw(429, "")),
            Err(UpstreamError::RateLimited {
                retry_after: Some(2)
            })
        );
        assert_eq!(
            classify(&raw(503, "<html>")),
            Err(UpstreamError::Unavailable { status: 503 })
        );
        assert!(classify(&raw(200, "{}")).is_ok());
    }

    #[test]
    fn backoff_stays_under_the_cap() {
        for attempt in 0..20 {
            assert!(backoff(attempt) < BACKOFF_CAP);
        }
    }

    #[test]
    fn urls_keep_a_base_path_and_encode_segments() {
        let c = WpClient::new(
            Url::parse("http://h.example/prefix/").unwrap(),
            "1".into(),
            Secret::new("s".into()),
            "http://app/auth/callback".into(),
            Duration::from_secs(1),
        )
        .unwrap();
        assert_eq!(
            c.url(&["rest", "v1.1", "me"]).as_str(),
            "http://h.example/prefix/rest/v1.1/me"
        );
        let auth = c.authorize_url("st", Some("ch"));
        assert!(
            auth.as_str()
                .contains("redirect_uri=http%3A%2F%2Fapp%2Fauth%2Fcallback")
        );
        assert!(auth.as_str().contains("code_challenge_method=S256"));
    }
}
