//! A short-lived cache for the summary and invoice endpoints, one typed slot per endpoint,
//! keyed by partner key and parameters.
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

use crate::upstream::{
    BearerToken, Invoice, InvoiceList, Scale, SummaryPoint, UpstreamError, WpClient,
};

/// A cached answer and when it was fetched.
#[derive(Debug, Clone)]
pub struct Fetched<T> {
    /// The answer.
    pub value: T,
    /// Unix seconds of the fetch.
    pub fetched_at: i64,
    /// Which fetch this is: no other answer in this process has the same number, so what a
    /// page renders of an answer can be kept under it (see [`crate::rendered`]).
    pub serial: u64,
}

/// The last [`Fetched::serial`] given.
static SERIAL: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

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

/// An answer from the cache, with its freshness.
pub type Answer<T> = Result<(Arc<Fetched<T>>, Freshness), UpstreamError>;

/// Cache key within one endpoint: partner key and parameters.
type Key = (u64, String);

/// One endpoint's answers: fresh ones, and the last good one as a fallback.
#[derive(Debug, Clone)]
struct Slot<T: Send + Sync + 'static> {
    endpoint: &'static str,
    fresh: Cache<Key, Arc<Fetched<T>>>,
    last_good: Cache<Key, Arc<Fetched<T>>>,
}

impl<T: Send + Sync + 'static> Slot<T> {
    fn new(endpoint: &'static str, ttl: Duration) -> Self {
        Self {
            endpoint,
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

    fn count(&self, result: &'static str) {
        crate::metrics::inc(
            "portal_cache_requests_total",
            &[("endpoint", self.endpoint), ("result", result)],
        );
    }

    /// The answer for `key`, fetching it with `fetch` on a miss (one fetch for all concurrent
    /// callers), or the last good answer if the fetch fails.
    async fn get<Fut>(&self, key: Key, fetch: Fut) -> Answer<T>
    where
        Fut: Future<Output = Result<T, UpstreamError>>,
    {
        if let Some(entry) = self.fresh.get(&key).await {
            self.count("hit");
            return Ok((entry, Freshness::Fresh));
        }
        let result = self
            .fresh
            .try_get_with(key.clone(), async move {
                fetch.await.map(|value| {
                    Arc::new(Fetched {
                        value,
                        fetched_at: chrono::Utc::now().timestamp(),
                        serial: SERIAL.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1,
                    })
                })
            })
            .await;
        match result {
            Ok(entry) => {
                self.count("miss");
                self.last_good.insert(key, entry.clone()).await;
                Ok((entry, Freshness::Fresh))
            }
            Err(e) if *e == UpstreamError::Unauthorized => Err(UpstreamError::Unauthorized),
            Err(e) => match self.last_good.get(&key).await {
                Some(entry) => {
                    self.count("stale");
                    Ok((
                        entry,
                        Freshness::Stale {
                            reason: e.to_string(),
                        },
                    ))
                }
                None => Err((*e).clone()),
            },
        }
    }
}

/// The cache. Cheap to clone.
#[derive(Debug, Clone)]
pub struct UpstreamCache {
    summary: Slot<Vec<SummaryPoint>>,
    invoices: Slot<InvoiceList>,
    upcoming: Slot<Option<Invoice>>,
}

impl UpstreamCache {
    /// A cache whose answers are fresh for `ttl`.
    pub fn new(ttl: Duration) -> Self {
        Self {
            summary: Slot::new("summary", ttl),
            invoices: Slot::new("invoices", ttl),
            upcoming: Slot::new("upcoming", ttl),
        }
    }

    /// The activations summary of `key` at `scale`.
    pub async fn summary(
        &self,
        wpcom: &WpClient,
        token: &BearerToken,
        key: u64,
        scale: Scale,
    ) -> Answer<Vec<SummaryPoint>> {
        let fetch = wpcom.summary(token, key, scale);
        self.summary
            .get((key, scale.as_str().to_owned()), fetch)
            .await
    }

    /// The past invoices of `key`.
    pub async fn invoices(
        &self,
        wpcom: &WpClient,
        token: &BearerToken,
        partner: u64,
        key: u64,
    ) -> Answer<InvoiceList> {
        let fetch = wpcom.invoices(token, partner, key);
        self.invoices.get((key, String::new()), fetch).await
    }

    /// The upcoming invoice of `key`, if any.
    pub async fn upcoming(
        &self,
        wpcom: &WpClient,
        token: &BearerToken,
        partner: u64,
        key: u64,
    ) -> Answer<Option<Invoice>> {
        let fetch = wpcom.upcoming_invoice(token, partner, key);
        self.upcoming.get((key, String::new()), fetch).await
    }

    /// Forgets every fresh answer (the next request refetches; stale copies stay as a fallback).
    pub fn invalidate_fresh(&self) {
        self.summary.fresh.invalidate_all();
        self.invoices.fresh.invalidate_all();
        self.upcoming.fresh.invalidate_all();
    }
}
