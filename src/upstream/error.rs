//! What can go wrong talking to WordPress.com, classified by what the user should do about it.

use std::time::Duration;

/// An upstream failure. Messages never contain URLs, tokens or response bodies.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpstreamError {
    /// 401, or an auth error code: the token is no longer valid; log in again.
    #[error("WordPress.com rejected the session's token")]
    Unauthorized,
    /// 403 that is not an auth error: no access to that partner or key.
    #[error("WordPress.com refused access ({code})")]
    Forbidden {
        /// The error code WordPress.com sent.
        code: String,
    },
    /// 404.
    #[error("WordPress.com has no such resource ({code})")]
    NotFound {
        /// The error code WordPress.com sent.
        code: String,
    },
    /// 429 that could not be waited out within the deadline.
    #[error("WordPress.com is rate limiting requests")]
    RateLimited {
        /// Seconds WordPress.com asked us to wait.
        retry_after: Option<u64>,
    },
    /// Any other 4xx (a request we built that WordPress.com did not accept).
    #[error("WordPress.com rejected the request with {status} ({code})")]
    Rejected {
        /// HTTP status.
        status: u16,
        /// The error code WordPress.com sent.
        code: String,
    },
    /// 5xx after retries.
    #[error("WordPress.com answered {status}")]
    Unavailable {
        /// HTTP status.
        status: u16,
    },
    /// No answer within the timeout.
    #[error("WordPress.com did not answer in time")]
    Timeout,
    /// Connection failure.
    #[error("cannot reach WordPress.com")]
    Transport,
    /// The body is not what the endpoint returns.
    #[error("WordPress.com sent a response that could not be read")]
    Decode,
    /// The body is larger than the cap.
    #[error("WordPress.com sent a response larger than {0} bytes")]
    TooLarge(usize),
}

impl UpstreamError {
    /// Whether a GET may be retried after this error.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::Unavailable { status: 502..=504 } | Self::Timeout | Self::Transport
        )
    }

    /// Builds the error from reqwest's, dropping the URL so nothing of it reaches a log.
    pub fn from_reqwest(e: &reqwest::Error) -> Self {
        if e.is_timeout() {
            Self::Timeout
        } else if e.is_decode() {
            Self::Decode
        } else {
            Self::Transport
        }
    }

    /// How long the user should wait before trying again, if known.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::RateLimited {
                retry_after: Some(s),
            } => Some(Duration::from_secs(*s)),
            _ => None,
        }
    }
}
