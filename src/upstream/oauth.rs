//! The OAuth2 half of the client: the authorization URL and the code exchange, which is a POST
//! and is never retried (codes are single use).

use std::time::Instant;

use serde_json::Value;
use url::Url;

use super::{
    BearerToken, UpstreamError, WpClient, lenient,
    request::{error_code, read_capped},
};
use crate::secret::Secret;

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

impl WpClient {
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
}
