//! A short-lived cache for the summary and invoice endpoints, per key and parameters.
//!
//! - Fresh answers are served for `ttl` (default 60 s).
//! - Concurrent identical misses share one upstream call (moka's `try_get_with`).
//! - When the upstream fails, the last good answer (up to 15 minutes old) is served, marked
//!   stale. A rejected token is never papered over: it ends the session as usual.
//!
//! Access is checked before the cache is consulted: a key is only looked up for a session whose
//! partner data lists it.

use std::{future::Future, sync::Arc, time::Duration};

use moka::future::Cache;

use crate::upstream::{Invoice, SummaryPoint, UpstreamError};

/// What is cached.
#[derive(Debug, Clone)]
pub enum Cached {
    /// Activations summary.
    Summary(Vec<SummaryPoint>),
    /// Past invoices.
    Invoices(Vec<Invoice>),
    /// Upcoming invoice.
    Upcoming(Option<Box<Invoice>>),
}

/// A cached answer and when it was fetched.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The answer.
    pub value: Cached,
    /// Unix seconds of the fetch.
    pub fetched_at: i64,
}

/// How fresh an answer is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Freshness {
    /// Within the TTL.
    Fresh,
    /// The upstream failed; this is the last good answer.
    Stale {
        /// Why the refresh failed.
        reason: String,
    },
}

/// Cache key: endpoint, partner key, parameters.
pub type Key = (&'static str, u64, String);

/// The cache. Cheap to clone.
#[derive(Debug, Clone)]
pub struct UpstreamCache {
    fresh: Cache<Key, Arc<Entry>>,
    last_good: Cache<Key, Arc<Entry>>,
}

impl UpstreamCache {
    /// A cache whose answers are fresh for `ttl`.
    pub fn new(ttl: Duration) -> Self {
        Self {
            fresh: Cache::builder()
                .max_capacity(10_000)
                .time_to_live(ttl.max(Duration::from_millis(1)))
                .build(),
            last_good: Cache::builder()
                .max_capacity(10_000)
                .time_to_live(Duration::from_secs(900))
                .build(),
        }
    }

    /// The answer for `key`, fetching it with `fetch` on a miss (one fetch for all concurrent
    /// callers), or the last good answer if the fetch fails.
    pub async fn get<F, Fut>(
        &self,
        key: Key,
        fetch: F,
    ) -> Result<(Arc<Entry>, Freshness), UpstreamError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Cached, UpstreamError>>,
    {
        let endpoint = key.0;
        if let Some(entry) = self.fresh.get(&key).await {
            crate::metrics::inc(
                "portal_cache_requests_total",
                &[("endpoint", endpoint), ("result", "hit")],
            );
            return Ok((entry, Freshness::Fresh));
        }
        let result = self
            .fresh
            .try_get_with(key.clone(), async move {
                fetch().await.map(|value| {
                    Arc::new(Entry {
                        value,
                        fetched_at: chrono::Utc::now().timestamp(),
                    })
                })
            })
            .await;
        match result {
            Ok(entry) => {
                crate::metrics::inc(
                    "portal_cache_requests_total",
                    &[("endpoint", endpoint), ("result", "miss")],
                );
                self.last_good.insert(key, entry.clone()).await;
                Ok((entry, Freshness::Fresh))
            }
            Err(e) if *e == UpstreamError::Unauthorized => Err(UpstreamError::Unauthorized),
            Err(e) => match self.last_good.get(&key).await {
                Some(entry) => Ok((
                    entry,
                    Freshness::Stale {
                        reason: e.to_string(),
                    },
                )),
                None => Err((*e).clone()),
            },
        }
    }

    /// Forgets every fresh answer (the next request refetches; stale copies stay as a fallback).
    pub fn invalidate_fresh(&self) {
        self.fresh.invalidate_all();
    }
}
