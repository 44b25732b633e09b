//! The WordPress.com sandbox: a faithful stand-in for the OAuth2 and Jetpack partner reporting
//! endpoints (`WPCOM_API.md` §9), at the same paths, with the same shapes and errors.
//!
//! It serves deterministic generated data, never calls the network, and has test-only switches
//! (fault injection, latency, token revocation, request counts) under `/__sandbox/` that are off
//! unless enabled. The dashboard never links to this module: it only talks HTTP to whatever
//! WordPress.com URL it is configured with.

// Handlers here return early with ready-made error responses; boxing them buys nothing.
#![allow(clippy::result_large_err)]

pub mod control;
pub mod data;
mod invoices;
pub mod oauth;
pub mod options;
mod params;
mod reports;
pub mod wpcom;

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard},
    time::Instant,
};

use axum::{
    Router,
    routing::{any, get},
};
use chrono::Utc;
use serde_json::Value;

use self::data::SeedData;
pub use self::options::{InvoicesStyle, PagingQuirks, SandboxOptions, SummaryDateStyle};

/// The sandbox app's client id.
pub const CLIENT_ID: &str = "11111";
/// The sandbox app's client secret.
pub const CLIENT_SECRET: &str = "fake-secret";

/// A sandbox instance. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Sandbox {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    options: SandboxOptions,
    redirect_uri: String,
    public_url: String,
    data: RwLock<Derived>,
    codes: Mutex<HashMap<String, oauth::PendingCode>>,
    tokens: Mutex<HashMap<String, oauth::TokenInfo>>,
    control: Mutex<control::ControlState>,
}

/// Seed data plus what is derived from it once (invoices).
#[derive(Debug)]
pub struct Derived {
    /// The seed.
    pub seed: SeedData,
    /// Past invoices per key, newest first (JSON).
    pub invoices: BTreeMap<u64, Vec<Value>>,
    /// Upcoming invoice per key (JSON).
    pub upcoming: BTreeMap<u64, Value>,
    /// Each key's activations, as positions in `seed.activations` in list order: a page of an
    /// unfiltered list is a slice of this, so serving one costs the page, not the partner.
    pub by_key: BTreeMap<u64, Vec<usize>>,
}

impl Derived {
    fn new(options: &SandboxOptions, public_url: &str) -> Self {
        let anchor = data::midnight(Utc::now().date_naive());
        let seed = SeedData::generate(options.activations, options.hostile, anchor);
        let (invoices, upcoming) = invoices::generate_invoices(&seed, options, public_url);
        let mut by_key: BTreeMap<u64, Vec<usize>> = BTreeMap::new();
        for (i, a) in seed.activations.iter().enumerate() {
            by_key.entry(a.key_id).or_default().push(i);
        }
        Self {
            seed,
            invoices,
            upcoming,
            by_key,
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Sandbox {
    /// A sandbox whose OAuth app has `redirect_uri` registered and which is reachable at
    /// `public_url` (used for the hosted-invoice links it emits).
    pub fn new(options: SandboxOptions, redirect_uri: String, public_url: String) -> Self {
        let started = Instant::now();
        let public_url = public_url.trim_end_matches('/').to_owned();
        let derived = Derived::new(&options, &public_url);
        tracing::info!(
            activations = derived.seed.activations.len(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "sandbox data generated"
        );
        Self {
            inner: Arc::new(Inner {
                options,
                redirect_uri,
                public_url,
                data: RwLock::new(derived),
                codes: Mutex::default(),
                tokens: Mutex::default(),
                control: Mutex::default(),
            }),
        }
    }

    /// The switches.
    pub fn options(&self) -> &SandboxOptions {
        &self.inner.options
    }

    /// Read access to the data.
    pub fn data(&self) -> RwLockReadGuard<'_, Derived> {
        self.inner
            .data
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn data_mut(&self) -> RwLockWriteGuard<'_, Derived> {
        self.inner
            .data
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Restores the seed data and clears faults, latency and counts. Tokens stay valid.
    pub fn reset(&self) {
        *self.data_mut() = Derived::new(&self.inner.options, &self.inner.public_url);
        *lock(&self.inner.control) = control::ControlState::default();
    }

    /// Every token issued so far (tests scan responses and logs for them).
    pub fn issued_tokens(&self) -> Vec<String> {
        lock(&self.inner.tokens).keys().cloned().collect()
    }

    /// The router serving every sandbox route.
    pub fn router(&self) -> Router {
        let mut router = Router::new()
            .route(
                "/oauth2/authorize",
                get(oauth::authorize_get).post(oauth::authorize_post),
            )
            .route("/oauth2/token", any(oauth::token))
            .route("/oauth2/token-info", get(oauth::token_info))
            .route("/rest/v1.1/{*rest}", any(wpcom::rest_v1))
            .route("/wpcom/v2/{*rest}", any(wpcom::wpcom_v2))
            .route("/__sandbox/stripe/i/{id}", get(invoices::hosted_invoice))
            .route("/__sandbox/stripe/i/{id}/pdf", get(invoices::invoice_pdf));
        if self.inner.options.control {
            router = router.merge(control::router());
        }
        router
            .fallback(wpcom::fallback)
            .layer(axum::middleware::from_fn_with_state(
                self.clone(),
                control::faults_and_counts,
            ))
            .layer(axum::middleware::from_fn(wpcom::envelopes))
            .with_state(self.clone())
    }

    /// Serves the sandbox on `listener` until the process ends.
    pub async fn serve(self, listener: tokio::net::TcpListener) -> std::io::Result<()> {
        axum::serve(listener, self.router()).await
    }
}
