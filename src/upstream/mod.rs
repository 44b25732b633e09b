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
mod oauth;
mod request;
mod routes;

use std::time::Duration;

use url::Url;

pub use self::{
    error::UpstreamError,
    models::*,
    oauth::{ExchangeError, TokenGrant},
    request::{RawResponse, classify},
    routes::{ActivationQuery, Route, Scale},
};
use crate::secret::Secret;

/// A bearer token for WordPress.com.
pub type BearerToken = Secret<String>;

/// Largest upstream body read (5 MB).
pub const MAX_BODY: usize = 5 * 1024 * 1024;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
const CALL_TIMEOUT: Duration = Duration::from_secs(8);

/// How long a page waits on WordPress.com for a call that is not the page's own content (an
/// activation's invoices beside it, the periodic re-check of a session's keys): a call that
/// hangs takes up to 8 s, and no one should wait that long for something beside the page.
pub const ASIDE_WAIT: Duration = Duration::from_millis(1500);
const MAX_ATTEMPTS: u32 = 3;
const BACKOFF_BASE: Duration = Duration::from_millis(200);
const BACKOFF_CAP: Duration = Duration::from_secs(2);

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
            // Plain bodies, whatever features other builds of reqwest turn on (the tests' client
            // asks for gzip and brotli): the body cap counts the bytes WordPress.com sends.
            .no_gzip()
            .no_brotli()
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
}
