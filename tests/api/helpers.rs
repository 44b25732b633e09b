//! The harness: the real app on a random port, the sandbox on another, a fresh SQLite file per
//! test, and a cookie-keeping HTTP client that does not follow redirects.

use std::{
    io::Write,
    path::PathBuf,
    sync::{Arc, Mutex, OnceLock},
    time::Duration,
};

use partner_portal::{
    app::Application,
    config::{Config, ConfigBuilder},
    sandbox::{Sandbox, SandboxOptions},
    secret::Secret,
    state::AppState,
};
use reqwest::{StatusCode, header};
use serde_json::Value;
use tokio::net::TcpListener;
use url::Url;

/// Everything every test wrote to the log, for secret scanning.
pub fn captured_logs() -> String {
    String::from_utf8_lossy(&log_buffer().lock().unwrap()).into_owned()
}

/// [`captured_logs`] without the trace lines of the test's own HTML parser, which echo the pages
/// the test reads (a token's page shows its secret once, and the test reads it there).
pub fn portal_logs() -> String {
    captured_logs()
        .lines()
        .filter(|l| {
            !l.contains(" html5ever") && !l.contains(" markup5ever") && !l.contains(" selectors::")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn log_buffer() -> &'static Arc<Mutex<Vec<u8>>> {
    static BUF: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    BUF.get_or_init(Default::default)
}

#[derive(Clone)]
struct BufWriter;
impl Write for BufWriter {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        log_buffer().lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn init_logs() {
    static INIT: OnceLock<()> = OnceLock::new();
    INIT.get_or_init(|| {
        // Everything at trace level, as SECURITY.md F01 asks: secrets must not appear even there.
        let _ = tracing_subscriber::fmt()
            .with_env_filter("trace")
            .with_ansi(false)
            .with_writer(|| BufWriter)
            .try_init();
    });
}

/// How to start a test app.
#[derive(Clone)]
pub struct Options {
    pub sandbox: SandboxOptions,
    pub idle: Duration,
    pub absolute: Duration,
    pub deadline: Duration,
    pub pkce: bool,
    pub demo: bool,
    pub public_url: Option<String>,
    /// Serve under this sub-path (`/partners`): the public URL becomes `http://ADDR/partners/`.
    pub base_path: &'static str,
    pub index_max_age: Duration,
    pub cache_ttl: Duration,
    pub access_recheck: Duration,
    pub index_page_size: u32,
    pub index_lease: Duration,
    /// A database URL instead of a fresh SQLite file.
    pub database_url: Option<String>,
    pub trusted_proxies: String,
    pub login_rate_per_minute: u32,
    pub api_rate_per_minute: u32,
    pub max_concurrent: usize,
    pub request_timeout: Duration,
    pub header_read_timeout: Duration,
    pub metrics: String,
    pub database_pool: u32,
    pub session_pool: u32,
    pub max_exports: usize,
    pub max_exports_per_session: usize,
    pub refresh_min_interval: Duration,
    pub idle_connection_timeout: Duration,
    pub write_stall_timeout: Duration,
    pub max_connections: Option<usize>,
    /// The text of a `PORTAL_TEAM_FILE`.
    pub team_file: Option<String>,
    /// `PORTAL_SMTP_URL`.
    pub smtp_url: Option<String>,
    /// `PORTAL_WEBHOOK_ALLOW`.
    pub webhook_allow: String,
    /// `PORTAL_WEBHOOK_ALLOW_HTTP`.
    pub webhook_allow_http: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            sandbox: SandboxOptions {
                control: true,
                ..SandboxOptions::default()
            },
            idle: Duration::from_secs(1800),
            absolute: Duration::from_secs(8 * 3600),
            deadline: Duration::from_secs(12),
            pkce: true,
            demo: false,
            public_url: None,
            base_path: "",
            index_max_age: Duration::from_secs(900),
            cache_ttl: Duration::from_secs(60),
            access_recheck: Duration::from_secs(60),
            index_page_size: 1000,
            index_lease: Duration::from_secs(20),
            database_url: None,
            trusted_proxies: String::new(),
            login_rate_per_minute: 1000,
            api_rate_per_minute: 100_000,
            max_concurrent: 256,
            request_timeout: Duration::from_secs(15),
            header_read_timeout: Duration::from_secs(10),
            metrics: "off".into(),
            database_pool: 8,
            session_pool: 4,
            max_exports: 4,
            max_exports_per_session: 2,
            refresh_min_interval: Duration::ZERO,
            idle_connection_timeout: Duration::from_secs(60),
            write_stall_timeout: Duration::from_secs(30),
            max_connections: None,
            team_file: None,
            smtp_url: None,
            webhook_allow: String::new(),
            webhook_allow_http: false,
        }
    }
}

pub struct TestApp {
    /// `http://127.0.0.1:PORT` of the dashboard.
    pub addr: String,
    /// `http://127.0.0.1:PORT` of the sandbox.
    pub sandbox_url: String,
    pub sandbox: Sandbox,
    pub state: AppState,
    pub client: reqwest::Client,
    pub db_path: PathBuf,
    pub config: Config,
    _dir: tempfile::TempDir,
}

pub fn new_client() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

pub async fn spawn_app() -> TestApp {
    spawn_with(Options::default()).await
}

pub async fn spawn_with(opts: Options) -> TestApp {
    init_logs();
    let dir = tempfile::tempdir().unwrap();
    let db_path = dir.path().join("portal.db");
    let portal_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sandbox_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = format!("http://{}", portal_listener.local_addr().unwrap());
    let sandbox_url = format!("http://{}", sandbox_listener.local_addr().unwrap());
    let team_file = opts.team_file.as_ref().map(|text| {
        let path = dir.path().join("team.txt");
        std::fs::write(&path, text).unwrap();
        path
    });
    let config = ConfigBuilder {
        team_file,
        listen: portal_listener.local_addr().unwrap(),
        public_url: match (&opts.public_url, opts.base_path) {
            (Some(u), _) => Some(Url::parse(u).unwrap()),
            (None, "") => None,
            (None, base) => Some(Url::parse(&format!("{addr}{base}/")).unwrap()),
        },
        wpcom_url: Some(Url::parse(&sandbox_url).unwrap()),
        client_id: Some("11111".into()),
        client_secret: Some(Secret::new("fake-secret".into())),
        pkce: opts.pkce,
        database_url: opts
            .database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", db_path.display())),
        idle_timeout: opts.idle,
        absolute_timeout: opts.absolute,
        upstream_deadline: opts.deadline,
        index_max_age: opts.index_max_age,
        index_page_size: opts.index_page_size,
        index_lease: opts.index_lease,
        cache_ttl: opts.cache_ttl,
        access_recheck: opts.access_recheck,
        // A fixed key, so replicas and restarts share sessions as in production.
        session_key: Some(Secret::new(*b"0123456789abcdef0123456789abcdef")),
        trusted_proxies: opts.trusted_proxies.clone(),
        login_rate_per_minute: opts.login_rate_per_minute,
        api_rate_per_minute: opts.api_rate_per_minute,
        max_concurrent: opts.max_concurrent,
        request_timeout: opts.request_timeout,
        header_read_timeout: opts.header_read_timeout,
        shutdown_grace: Duration::from_secs(2),
        metrics: opts.metrics.clone(),
        demo: opts.demo,
        database_pool: opts.database_pool,
        session_pool: opts.session_pool,
        max_exports: opts.max_exports,
        max_exports_per_session: opts.max_exports_per_session,
        refresh_min_interval: opts.refresh_min_interval,
        idle_connection_timeout: opts.idle_connection_timeout,
        write_stall_timeout: opts.write_stall_timeout,
        max_connections: opts.max_connections,
        smtp: opts
            .smtp_url
            .as_ref()
            .map(|url| partner_portal::notify::SmtpSettings {
                url: url.clone(),
                username: None,
                password: None,
            }),
        webhook_allow: opts.webhook_allow.clone(),
        webhook_allow_http: opts.webhook_allow_http,
        ..Config::builder()
    }
    .build()
    .unwrap();
    let sandbox = Sandbox::new(
        opts.sandbox.clone(),
        config.redirect_uri(),
        sandbox_url.clone(),
    );
    tokio::spawn(sandbox.clone().serve(sandbox_listener));
    let app = Application::build(config.clone(), portal_listener)
        .await
        .unwrap();
    let state = app.state().clone();
    tokio::spawn(app.run_until_stopped());
    TestApp {
        addr,
        sandbox_url,
        sandbox,
        state,
        client: new_client(),
        db_path,
        config,
        _dir: dir,
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.addr, path)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    pub async fn get_with(&self, client: &reqwest::Client, path: &str) -> reqwest::Response {
        client.get(self.url(path)).send().await.unwrap()
    }

    /// `GET /auth/start?next=…` → the authorize URL on the sandbox.
    pub async fn start_login_with(&self, client: &reqwest::Client, next: Option<&str>) -> Url {
        let mut url = Url::parse(&self.url("/auth/start")).unwrap();
        if let Some(n) = next {
            url.query_pairs_mut().append_pair("next", n);
        }
        let r = client.get(url).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        Url::parse(location(&r)).unwrap()
    }

    /// Submits the sandbox consent form as `user` with `decision`; returns the callback URL.
    pub async fn consent(&self, authorize: &Url, user: u64, decision: &str) -> Url {
        let mut form: Vec<(String, String)> = authorize.query_pairs().into_owned().collect();
        form.push(("decision".into(), decision.into()));
        form.push(("user_id".into(), user.to_string()));
        let r = new_client()
            .post(format!("{}/oauth2/authorize", self.sandbox_url))
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "consent should redirect");
        Url::parse(location(&r)).unwrap()
    }

    /// The whole login as `user` with `client`; returns the callback's response.
    pub async fn login_with(
        &self,
        client: &reqwest::Client,
        user: u64,
        next: Option<&str>,
    ) -> reqwest::Response {
        let authorize = self.start_login_with(client, next).await;
        let callback = self.consent(&authorize, user, "approve").await;
        client.get(callback).send().await.unwrap()
    }

    /// Logs the default client in as the partner owner and checks it landed.
    pub async fn login(&self) {
        let r = self.login_with(&self.client, 1001, None).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert_eq!(location(&r), "/");
    }

    /// The CSRF token of the logged-in session, read from a page's logout form.
    pub async fn csrf(&self) -> String {
        let body = self.get("/").await.text().await.unwrap();
        let doc = scraper::Html::parse_document(&body);
        let sel = scraper::Selector::parse("form.logout input[name=csrf]").unwrap();
        doc.select(&sel)
            .next()
            .expect("logout form")
            .value()
            .attr("value")
            .unwrap()
            .to_owned()
    }

    pub async fn control(&self, path: &str, body: Value) {
        let r = new_client()
            .post(format!("{}/__sandbox/{path}", self.sandbox_url))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "control {path}: {}", r.status());
    }

    pub async fn fault(&self, prefix: &str, status: u16, count: u64, retry_after: Option<u64>) {
        self.control("faults", serde_json::json!({"path_prefix": prefix, "status": status, "count": count, "retry_after": retry_after})).await;
    }

    /// Presses "Refresh now" for key 70 with `csrf`, coming back to `back`.
    pub async fn refresh_now(&self, csrf: &str, back: &str) -> reqwest::Response {
        self.client
            .post(self.url("/activations/refresh"))
            .form(&[("csrf", csrf), ("key", "70"), ("back", back)])
            .send()
            .await
            .unwrap()
    }

    /// The sandbox's `/__sandbox/state`: request counts and upstream writes.
    pub async fn sandbox_state(&self) -> Value {
        new_client()
            .get(format!("{}/__sandbox/state", self.sandbox_url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// How often the sandbox saw `METHOD path`.
    pub async fn count(&self, route: &str) -> u64 {
        self.sandbox_state().await["counts"][route]
            .as_u64()
            .unwrap_or(0)
    }

    /// Another replica: same database, same sandbox, its own port (and its own process state).
    pub async fn spawn_replica(&self) -> (String, AppState) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = format!("http://{}", listener.local_addr().unwrap());
        let app = Application::build(self.config.clone(), listener)
            .await
            .unwrap();
        let state = app.state().clone();
        tokio::spawn(app.run_until_stopped());
        (addr, state)
    }

    /// Opens `/activations` `n` times at once with the default client, alternating between this
    /// app and `replica`; every view must answer 200.
    pub async fn open_activations_on_both(&self, replica: &str, n: usize) {
        let mut views = Vec::new();
        for i in 0..n {
            let client = self.client.clone();
            let url = if i % 2 == 0 {
                self.url("/activations")
            } else {
                format!("{replica}/activations")
            };
            views.push(tokio::spawn(async move {
                client.get(url).send().await.unwrap().status()
            }));
        }
        for v in views {
            assert_eq!(v.await.unwrap(), StatusCode::OK);
        }
    }

    /// Opens `/activations` until the index is built; returns the page's HTML.
    pub async fn wait_for_index(&self, key: u64) -> String {
        self.wait_for_index_with(&self.client, key).await
    }

    /// [`Self::wait_for_index`] as `client`.
    pub async fn wait_for_index_with(&self, client: &reqwest::Client, key: u64) -> String {
        for _ in 0..600 {
            let body = self
                .get_with(client, &format!("/activations?key={key}"))
                .await
                .text()
                .await
                .unwrap();
            // The building page, or WordPress.com's own list shown while the copy is made.
            if !body.contains("id=\"building\"") && !body.contains("id=\"preview-note\"") {
                return body;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the index of key {key} was never built");
    }

    pub async fn live_sessions(&self) -> i64 {
        self.state.sessions.count_live().await.unwrap()
    }
}

pub fn location(r: &reqwest::Response) -> &str {
    r.headers()
        .get(header::LOCATION)
        .expect("a Location header")
        .to_str()
        .unwrap()
}

pub fn html(body: &str) -> scraper::Html {
    scraper::Html::parse_document(body)
}

/// Texts of the elements matching `selector`.
pub fn texts(doc: &scraper::Html, selector: &str) -> Vec<String> {
    let sel = scraper::Selector::parse(selector).unwrap();
    doc.select(&sel)
        .map(|e| {
            e.text()
                .collect::<String>()
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

/// Values of `attr` on the elements matching `selector`.
pub fn attrs(doc: &scraper::Html, selector: &str, attr: &str) -> Vec<String> {
    let sel = scraper::Selector::parse(selector).unwrap();
    doc.select(&sel)
        .filter_map(|e| e.value().attr(attr).map(str::to_owned))
        .collect()
}

pub fn set_cookies(r: &reqwest::Response) -> Vec<String> {
    r.headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

/// A client that carries exactly this cookie header (to replay an old session id).
pub fn client_with_cookie(cookie: &str) -> reqwest::Client {
    let mut headers = header::HeaderMap::new();
    headers.insert(header::COOKIE, cookie.parse().unwrap());
    reqwest::Client::builder()
        .default_headers(headers)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// `name=value` of the session cookie set by `r`.
pub fn session_cookie(r: &reqwest::Response) -> Option<String> {
    set_cookies(r)
        .into_iter()
        .find(|c| c.contains("portal_session=") && !c.contains("Max-Age=0"))
        .map(|c| c.split(';').next().unwrap().to_owned())
}

/// Records a skipped test loudly: on stderr (hidden by cargo's capture) and in a file that
/// `scripts/test` reads after the run, so the summary says how many tests did not run.
pub fn skipped(what: &str) {
    eprintln!("\n!!! SKIPPING {what} !!!\n");
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("skipped-tests.txt");
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        let _ = writeln!(f, "{what}");
    }
}

/// The `partner-portal` binary as a command, without any `PORTAL_*` or `SANDBOX_*` variable of
/// the environment the tests run in.
pub fn portal_command() -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_partner-portal"));
    for (k, _) in std::env::vars() {
        if k.starts_with("PORTAL_") || k.starts_with("SANDBOX_") {
            cmd.env_remove(k);
        }
    }
    cmd
}

/// A free loopback port.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
