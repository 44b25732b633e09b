//! The request core every GET goes through: deadline, retries with full-jitter backoff, the
//! body cap, metrics and one log line per call, and the mapping of statuses to errors.

use std::time::{Duration, Instant};

use rand::Rng as _;
use reqwest::{StatusCode, header};
use serde_json::Value;
use url::Url;

use super::{
    BACKOFF_BASE, BACKOFF_CAP, BearerToken, CALL_TIMEOUT, MAX_ATTEMPTS, MAX_BODY, Route,
    UpstreamError, WpClient,
};

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

impl WpClient {
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
    pub(super) async fn get_json(
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
pub(super) fn error_code(json: &Value) -> Option<String> {
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

pub(super) async fn read_capped(mut response: reqwest::Response) -> Result<Vec<u8>, UpstreamError> {
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
    use crate::secret::Secret;

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
