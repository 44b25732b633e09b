//! The state every handler shares: one cheap-to-clone [`AppState`] of handles, nothing else.

use std::sync::{Arc, atomic::AtomicBool};

use crate::{
    cache::UpstreamCache, clock::Clock, config::Config, db::Db, export::ExportSlots, index::Index,
    notify::Notifier, ratelimit::RateLimiter, rendered::Rendered, session_store::SqlSessionStore,
    team::Team, tokens::Tokens, upstream::WpClient,
};

/// State shared by every handler: one `Arc`, so that a clone (axum makes one for every
/// extractor of every request) is one atomic increment; its fields are reached through
/// `Deref`. Cloning the fields themselves (seven caches in the index alone) was a tenth of an
/// overview's CPU time.
#[derive(Debug, Clone)]
pub struct AppState(Arc<Shared>);

impl AppState {
    /// The state of `shared`.
    pub fn new(shared: Shared) -> Self {
        Self(Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// What [`AppState`] holds.
#[derive(Debug)]
pub struct Shared {
    /// Validated configuration.
    pub config: Arc<Config>,
    /// The WordPress.com client (shared connection pool).
    pub wpcom: WpClient,
    /// The portal's database.
    pub db: Db,
    /// The session store (for maintenance and counts).
    pub sessions: SqlSessionStore,
    /// The local activations index.
    pub index: Index,
    /// Cache of the summary and invoice endpoints.
    pub cache: UpstreamCache,
    /// Set once a shutdown signal arrived: readiness turns 503.
    pub draining: Arc<AtomicBool>,
    /// Limits login attempts per client address.
    pub login_limiter: Arc<RateLimiter>,
    /// Limits requests per portal API token (keyed by the token's hash).
    pub token_limiter: Arc<RateLimiter<String>>,
    /// Portal API tokens.
    pub tokens: Tokens,
    /// Bounds the CSV exports running at once.
    pub exports: Arc<ExportSlots>,
    /// Team connections, members, invites and the audit log.
    pub team: Team,
    /// The wall clock (tests move it).
    pub clock: Clock,
    /// Notification channels, rules and the outbox.
    pub notify: Notifier,
    /// Parts of pages kept rendered per copy generation.
    pub rendered: Rendered,
}
