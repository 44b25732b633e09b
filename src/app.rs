//! Assembly: the router with its layers, and the running [`Application`].
//!
//! Nothing in the crate imports this module; `main` and the tests do. Every route module owns
//! its routes, and this module merges them and wraps them in the layers every request passes.

use std::{
    net::SocketAddr,
    sync::{Arc, atomic::Ordering},
    time::Duration,
};

use axum::{
    Router, extract::State, http::StatusCode, middleware::from_fn_with_state,
    response::IntoResponse, routing::get,
};
use tokio::net::TcpListener;
use tower::ServiceExt as _;
use tower_http::{
    catch_panic::CatchPanicLayer, compression::CompressionLayer, limit::RequestBodyLimitLayer,
    timeout::TimeoutLayer,
};
use tower_sessions::{Expiry, SessionManagerLayer, cookie::SameSite};

use crate::state::AppState;
use crate::{
    api, auth,
    cache::UpstreamCache,
    clock::Clock,
    config::{Config, MetricsAt},
    db::{Db, Purpose},
    export::ExportSlots,
    index::{Index, IndexSettings},
    pages,
    ratelimit::RateLimiter,
    server,
    session_store::SqlSessionStore,
    team::Team,
    tokens::Tokens,
    upstream::WpClient,
    web,
};

/// The session cookie's name: `__Host-` prefixed when served over https.
pub fn cookie_name(config: &Config) -> &'static str {
    if config.is_https() {
        "__Host-portal_session"
    } else {
        "portal_session"
    }
}

/// Builds the router for `state`.
pub fn router(state: AppState) -> Router {
    let routes = Router::new()
        .merge(auth::router(&state))
        .merge(pages::router(&state))
        .merge(api::router(&state))
        .route("/static/{file}", get(web::assets::static_file))
        .route("/favicon.ico", get(web::assets::favicon))
        .fallback(pages::not_found);
    with_layers(routes, state)
}

/// `routes` with the session layer and load shedding, beside the health, readiness and
/// metrics routes, all inside the layers every request passes (limits, deadline, error pages,
/// compression). [`router`] is this around the portal's routes; the tests put their own routes
/// here to see the layers handle what no real route does on purpose (a panic).
pub fn with_layers(routes: Router<AppState>, state: AppState) -> Router {
    // SameSite=Lax, not Strict: the return from WordPress.com is a cross-site navigation and
    // must carry the cookie, or the stored `state` cannot be found.
    let sessions = SessionManagerLayer::new(state.sessions.clone())
        .with_name(cookie_name(&state.config))
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_secure(state.config.is_https())
        .with_path("/")
        // The row outlives the idle timeout by a minute so that the app itself notices the
        // idle session and can say "your session has ended" instead of treating it as unknown.
        .with_expiry(Expiry::OnInactivity(time::Duration::seconds(
            state
                .config
                .idle_timeout
                .as_secs()
                .saturating_add(60)
                .min(i64::MAX as u64) as i64,
        )));
    let limits = state.config.limits.clone();
    let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_concurrent));
    let app = routes
        .layer(sessions)
        // Outside the session layer: a request with a portal API token never reads or writes a
        // session, and a token where none is accepted is refused before anything runs.
        .layer(from_fn_with_state(
            state.clone(),
            crate::auth::bearer::layer,
        ))
        // Only the app routes are shed, before their session is loaded; health, readiness and
        // metrics always answer (a health check that saw 503 in a burst would restart a healthy
        // process).
        .layer(from_fn_with_state(slots, server::shed_load));
    let mut ops = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz));
    if state.config.metrics == MetricsAt::Main {
        ops = ops.route("/metrics", get(metrics));
    }
    let base = state.config.base_path().to_owned();
    let router = ops
        .merge(app)
        // Innermost, so that the page renderer below turns a handler's panic into the 500 page.
        .layer(CatchPanicLayer::custom(web::panics::handler_panicked))
        // The deadline answers 503 (not 408), inside the page renderer so it gets headers and a log line.
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            limits.request_timeout,
        ))
        .layer(RequestBodyLimitLayer::new(limits.max_body_bytes))
        // Inside the page renderer, so a refused address gets the portal's page (or JSON under
        // `/api/`), its headers and a log line, as every other refusal does.
        .layer(from_fn_with_state(limits.max_uri_bytes, server::limit_uri))
        .layer(from_fn_with_state(state.clone(), web::finish_response))
        // HTML, CSS, JS and JSON are compressed (brotli at quality 4, or gzip) for clients
        // that accept it: a 15 KB page becomes about 3 KB.
        .layer(CompressionLayer::new().br(true).gzip(true))
        .with_state(state);
    if base.is_empty() {
        return router;
    }
    // Under a sub-path the routes still start at `/`: the prefix is taken off before routing
    // (a proxy may pass it on or strip it; both work), and `web::finish_response` puts it back
    // on redirects while the templates put it on links.
    Router::new().fallback_service(router.map_request(move |req| strip_base(&base, req)))
}

/// `/partners/activations?x` becomes `/activations?x`; paths outside `base` stay as they are.
fn strip_base(base: &str, mut req: axum::extract::Request) -> axum::extract::Request {
    let uri = req.uri();
    let rest = match uri.path().strip_prefix(base) {
        Some("") => "/",
        Some(rest) if rest.starts_with('/') => rest,
        _ => return req,
    };
    let path_and_query = match uri.query() {
        Some(q) => format!("{rest}?{q}"),
        None => rest.to_owned(),
    };
    let mut parts = uri.clone().into_parts();
    let Ok(pq) = path_and_query.parse() else {
        return req;
    };
    parts.path_and_query = Some(pq);
    if let Ok(stripped) = axum::http::Uri::from_parts(parts) {
        *req.uri_mut() = stripped;
    }
    req
}

/// `GET /metrics`: Prometheus text, with the live session count.
async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let sessions = state.sessions.count_live().await.unwrap_or(-1) as f64;
    let (connections, broken) = state.team.connection_counts().await.unwrap_or((-1, -1));
    let body = crate::metrics::render(&[
        (
            "portal_sessions_active",
            "Sessions in the store that have not expired.",
            sessions,
        ),
        (
            "portal_team_connections",
            "Team connections stored (live and broken).",
            connections as f64,
        ),
        (
            "portal_team_connections_broken",
            "Team connections WordPress.com no longer accepts: their members' reports are paused.",
            broken as f64,
        ),
    ]);
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
}

/// `GET /healthz`: the process answers; no dependency is checked.
async fn healthz() -> &'static str {
    "ok"
}

/// The least free space on the SQLite database's disk for the portal to call itself ready:
/// below it, a session or a copy's next page cannot be written.
const LEAST_FREE_BYTES: u64 = 1 << 20;

/// `GET /readyz`: the store answers within a second, its disk has room, and the process is not
/// draining. What is wrong is said in the body (and was logged when it happened).
async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    if state.draining.load(Ordering::SeqCst) {
        return (StatusCode::SERVICE_UNAVAILABLE, "draining".to_owned());
    }
    let both = async {
        state.sessions.ping().await?;
        state.db.ping().await
    };
    match tokio::time::timeout(Duration::from_secs(1), both).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness: the store failed");
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                "store unavailable".to_owned(),
            );
        }
        Err(_) => {
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                "store did not answer within 1 s".to_owned(),
            );
        }
    }
    if let Some(free) = state.db.sqlite_file().and_then(crate::db::free_bytes)
        && free < LEAST_FREE_BYTES
    {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("the database's disk is full ({} KiB free)", free / 1024),
        );
    }
    let recent = Duration::from_secs(60);
    let full = [&state.db, state.sessions.db()]
        .iter()
        .any(|db| db.health().trouble(recent) == Some(crate::db::ErrorKind::DiskFull));
    if full {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "the database's disk was full within the last minute".to_owned(),
        );
    }
    (StatusCode::OK, "ready".to_owned())
}

/// A built application, bound to its listener.
#[derive(Debug)]
pub struct Application {
    listener: TcpListener,
    state: AppState,
}

impl Application {
    /// Connects the database, runs migrations and prepares the router. The listener is bound by
    /// the caller, so port 0 works and the real port is known before the redirect URI is used.
    pub async fn build(config: Config, listener: TcpListener) -> anyhow::Result<Self> {
        // Two pools: sessions (and readiness) never wait behind exports and syncs.
        let db = Db::open(&config.database_url, config.database_pool, Purpose::Index).await?;
        let session_db =
            Db::open(&config.database_url, config.session_pool, Purpose::Sessions).await?;
        let wpcom = WpClient::new(
            config.wpcom_url.clone(),
            config.client_id.clone(),
            config.client_secret.clone(),
            config.redirect_uri(),
            config.upstream_deadline,
        )?;
        // The newest state versions read: what keeps the membership, connection and copy
        // state of a warm page in memory exact (`crate::versions`).
        let versions = crate::versions::Versions::default();
        let sessions = SqlSessionStore::new(session_db, config.sealer(), versions.clone());
        let settings = IndexSettings {
            max_age: config.index_max_age,
            page_size: config.index_page_size,
            lease: config.index_lease,
            retire_after: config.limits.request_timeout + Duration::from_secs(1),
            ..IndexSettings::default()
        };
        let clock = Clock::default();
        let index = Index::new(
            db.clone(),
            wpcom.clone(),
            settings,
            clock.clone(),
            config.sealer(),
            versions.clone(),
        );
        let cache = UpstreamCache::new(config.cache_ttl);
        let login_limiter = Arc::new(RateLimiter::new(config.login_rate_per_minute));
        let exports = ExportSlots::new(config.max_exports, config.max_exports_per_session);
        let team = Team::new(
            db.clone(),
            config.sealer(),
            config.team_file.clone(),
            versions.clone(),
        );
        let token_limiter = Arc::new(RateLimiter::new(config.api_rate_per_minute));
        let tokens = Tokens::new(db.clone(), versions);
        let mailer =
            crate::notify::Mailer::new(config.smtp.as_ref(), &config.mail_from, config.demo)
                .map_err(|e| anyhow::anyhow!("PORTAL_SMTP_URL: {e}"))?;
        let notify = crate::notify::Notifier::new(crate::notify::Inner {
            db: db.clone(),
            team: team.clone(),
            index: index.clone(),
            wpcom: wpcom.clone(),
            sealer: config.sealer(),
            clock: clock.clone(),
            mailer,
            webhooks: config.webhooks.clone(),
            public_url: config.base_path_url().trim_end_matches('/').to_owned(),
            demo: config.demo,
            link_key: crate::notify::link_key(config.session_key.expose()),
            wake: tokio::sync::Notify::new(),
            invoice_every: i64::try_from(config.connection_check.as_secs()).unwrap_or(600),
        });
        let state = AppState::new(crate::state::Shared {
            config: Arc::new(config),
            wpcom,
            db,
            sessions,
            index,
            cache,
            draining: Arc::default(),
            login_limiter,
            token_limiter,
            tokens,
            exports,
            team,
            clock,
            notify,
            rendered: crate::rendered::Rendered::default(),
        });
        Ok(Self { listener, state })
    }

    /// The bound address.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The shared state (tests inspect the store through it).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until SIGINT or SIGTERM, then drains in-flight requests.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        // First, before anything here writes: on SQLite, whether this is the one process using
        // the database (what it may then keep in memory depends on it, `crate::versions`).
        let sole = self.state.index.claim_sole_use().await;
        let cleanup = self
            .state
            .sessions
            .clone()
            .spawn_cleanup(Duration::from_secs(300));
        let watch = crate::team::watch::Watch {
            team: self.state.team.clone(),
            wpcom: self.state.wpcom.clone(),
            index: self.state.index.clone(),
            clock: self.state.clock.clone(),
            check_every: self.state.config.connection_check,
            retention: self.state.config.audit_retention,
            observer: Some(Arc::new(self.state.notify.clone())),
        }
        .spawn(Duration::from_secs(30));
        // On SQLite, the one process using the database frees a dead predecessor's leases, so
        // its copies resume at once; then copies that stopped are resumed, and tables no one
        // needs dropped, with nobody looking.
        if sole {
            match self.state.notify.free_leases().await {
                Ok(0) => {}
                Ok(n) => tracing::info!(
                    notifications = n,
                    "freed the notification leases of a process that stopped; they are sent now"
                ),
                Err(e) => {
                    tracing::warn!(error = %e, "could not free the notification leases of a stopped process")
                }
            }
        }
        let sender = self.state.notify.clone().spawn_sender();
        // After a rotation of PORTAL_SESSION_KEY, what the previous key sealed at rest (the
        // team connections, stopped copies' tokens) is sealed again with the current one.
        // Sessions are sealed again when they are next saved.
        match (
            self.state.team.reseal_connections().await,
            self.state.index.reseal_tokens().await,
        ) {
            (Ok(0), Ok(0)) => {}
            (Ok(connections), Ok(tokens)) => tracing::info!(
                connections,
                tokens,
                "sealed again with the current PORTAL_SESSION_KEY"
            ),
            (Err(e), _) | (_, Err(e)) => {
                tracing::warn!(error = %e, "could not seal values again with the current key")
            }
        }
        let sweep = self.state.index.clone().spawn_schedule();
        let limits = self.state.config.limits.clone();
        let draining = self.state.draining.clone();
        let metrics_task = match self.state.config.metrics {
            MetricsAt::Separate(addr) => {
                let listener = TcpListener::bind(addr).await?;
                tracing::info!(%addr, "metrics listening");
                let app = Router::new()
                    .route("/metrics", get(metrics))
                    .with_state(self.state.clone());
                Some(tokio::spawn(
                    async move { axum::serve(listener, app).await },
                ))
            }
            _ => None,
        };
        let app = router(self.state);
        let result = server::serve(
            self.listener,
            app,
            limits,
            draining,
            crate::server::shutdown_signal(),
        )
        .await;
        cleanup.abort();
        sweep.abort();
        watch.abort();
        sender.abort();
        if let Some(task) = metrics_task {
            task.abort();
        }
        result
    }
}
