//! What the benchmarks share: the sandbox and the portal in child processes, a logged-in
//! client, free ports, percentiles, and a process's memory figures from `/proc`.

use std::{net::SocketAddr, process::Stdio, time::Duration};

use anyhow::{Context as _, bail};

const BIN: &str = env!("CARGO_BIN_EXE_partner-portal");
/// The session key the portal child processes use (32 bytes, base64).
const KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

/// Starts `partner-portal sandbox` (control API on, approving user 1001 at once) with
/// `activations` on `addr`, registered for `portal`'s callback, and waits until it answers.
pub async fn spawn_sandbox(
    addr: SocketAddr,
    portal: &str,
    activations: usize,
) -> anyhow::Result<tokio::process::Child> {
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_partner-portal"))
        .arg("sandbox")
        .env("PORTAL_SANDBOX_LISTEN", addr.to_string())
        .env("SANDBOX_REDIRECT_URI", format!("{portal}/auth/callback"))
        .env("SANDBOX_ACTIVATIONS", activations.to_string())
        .env("SANDBOX_AUTO_APPROVE_USER", "1001")
        .env("SANDBOX_CONTROL", "true")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .context("starting the sandbox")?;
    answers(&[format!("http://{addr}/__sandbox/state")], 600)
        .await
        .context("the sandbox did not start")?;
    Ok(child)
}

/// A free loopback port.
pub fn free_port() -> anyhow::Result<SocketAddr> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?)
}

/// The `p` percentile (0–1) of sorted durations.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i).copied().unwrap_or_default()
}

/// A `/proc/<pid>/status` figure in KiB (`VmRSS:`, `VmHWM:`); `pid` `None` is this process.
pub fn kib(pid: Option<u32>, field: &str) -> Option<u64> {
    let path = pid.map_or_else(
        || "/proc/self/status".to_owned(),
        |p| format!("/proc/{p}/status"),
    );
    let status = std::fs::read_to_string(path).ok()?;
    status
        .lines()
        .find(|l| l.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Starts the release `partner-portal serve` on `addr` against the sandbox at `sandbox`, with
/// `database`, plus `env` (`PORTAL_*` overrides); waits until both answer.
pub async fn spawn_portal(
    addr: SocketAddr,
    sandbox: &str,
    database: &str,
    env: &[(&str, &str)],
) -> anyhow::Result<tokio::process::Child> {
    let mut cmd = tokio::process::Command::new(BIN);
    cmd.arg("serve")
        .env("PORTAL_LISTEN", addr.to_string())
        .env("PORTAL_WPCOM_URL", sandbox)
        .env("PORTAL_WPCOM_CLIENT_ID", "11111")
        .env("PORTAL_WPCOM_CLIENT_SECRET", "fake-secret")
        .env("PORTAL_SESSION_KEY", KEY)
        .env("PORTAL_DATABASE_URL", database)
        .env("PORTAL_LOGIN_RATE_PER_MINUTE", "100000")
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .kill_on_drop(true);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let child = cmd.spawn().context("starting the portal")?;
    answers(
        &[
            format!("http://{addr}/healthz"),
            format!("{sandbox}/__sandbox/state"),
        ],
        400,
    )
    .await
    .context("the portal did not start")?;
    Ok(child)
}

/// Waits until every URL answers, polling every 50 ms at most `tries` times.
async fn answers(urls: &[String], tries: u32) -> anyhow::Result<()> {
    let http = reqwest::Client::new();
    for _ in 0..tries {
        let mut all = true;
        for url in urls {
            all = all && http.get(url).send().await.is_ok();
        }
        if all {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!("{} did not answer", urls.join(" and "))
}

/// A client with a cookie store that follows no redirect and asks for plain answers: the
/// commands measure the portal's pages as they always have (`scripts/throughput --compressed`
/// measures compressed ones with `wrk`).
pub fn client() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .cookie_store(true)
        .no_gzip()
        .no_brotli()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()?)
}

/// Logs `client` in through the sandbox (which approves at once); returns the session cookie.
pub async fn login(client: &reqwest::Client, portal: &str) -> anyhow::Result<String> {
    let mut url = format!("{portal}/auth/start");
    let mut cookie = String::new();
    for _ in 0..6 {
        let r = client.get(&url).send().await?;
        for c in r.headers().get_all("set-cookie") {
            let c = c.to_str().unwrap_or("");
            if c.starts_with("portal_session=") && !c.contains("Max-Age=0") {
                cookie = c.split(';').next().unwrap_or("").to_owned();
            }
        }
        let Some(next) = r.headers().get("location").and_then(|v| v.to_str().ok()) else {
            if r.status().is_success() {
                return Ok(cookie);
            }
            bail!("login stopped at {} with {}", r.url().path(), r.status());
        };
        url = if next.starts_with('/') {
            format!("{portal}{next}")
        } else {
            next.to_owned()
        };
    }
    bail!("login did not finish")
}

/// A portal API token for the logged-in `client`: the partner is connected for the team (tokens
/// read through the connection) and a token made on the API tokens page.
pub async fn portal_token(client: &reqwest::Client, portal: &str) -> anyhow::Result<String> {
    let page = client
        .get(format!("{portal}/team"))
        .send()
        .await?
        .text()
        .await?;
    let csrf = page
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .context("no CSRF token on the Team page")?
        .to_owned();
    for form in [
        vec![("csrf", csrf.as_str())],
        vec![("csrf", csrf.as_str()), ("name", "bench")],
    ] {
        let path = if form.len() == 1 {
            "/team/connect"
        } else {
            "/tokens"
        };
        let r = client
            .post(format!("{portal}{path}"))
            .header("origin", portal)
            .form(&form)
            .send()
            .await?;
        if !(r.status().is_success() || r.status().is_redirection()) {
            bail!("{path} answered {}", r.status());
        }
        if path == "/tokens" {
            let body = r.text().await?;
            let token = body
                .split("value=\"ppt_")
                .nth(1)
                .and_then(|rest| rest.split('"').next())
                .context("the new token is not on the page")?;
            return Ok(format!("ppt_{token}"));
        }
    }
    bail!("no token was made")
}

/// A bearer token for the sandbox's partner, straight from its OAuth endpoints (it approves at
/// once), for timing WordPress.com calls the way a partner's own script makes them.
pub async fn sandbox_token(sandbox: &str, portal: &str) -> anyhow::Result<String> {
    let http = client()?;
    let redirect_uri = format!("{portal}/auth/callback");
    let r = http
        .get(format!("{sandbox}/oauth2/authorize"))
        .query(&[
            ("client_id", partner_portal::sandbox::CLIENT_ID),
            ("redirect_uri", &redirect_uri),
            ("response_type", "code"),
            ("scope", "global"),
            ("state", "bench"),
        ])
        .send()
        .await?;
    let location = r
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .context("the sandbox's authorize did not redirect")?;
    let code = url::Url::parse(location)?
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .context("no code in the sandbox's redirect")?;
    let grant: serde_json::Value = http
        .post(format!("{sandbox}/oauth2/token"))
        .form(&[
            ("client_id", partner_portal::sandbox::CLIENT_ID),
            ("client_secret", partner_portal::sandbox::CLIENT_SECRET),
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", &redirect_uri),
        ])
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    grant["access_token"]
        .as_str()
        .map(str::to_owned)
        .context("no access_token from the sandbox")
}

/// What an activations page shows while the key's first copy is made: WordPress.com's own page
/// (`Some(true)`), the progress page (`Some(false)`), or `None` once the copy is there.
pub fn first_view(body: &str) -> Option<bool> {
    if body.contains("id=\"preview-note\"") {
        Some(true)
    } else if body.contains("id=\"building\"") {
        Some(false)
    } else {
        None
    }
}

/// Opens `/activations` as `client` until the key's copy is made (neither the building page nor
/// WordPress.com's own list shown meanwhile); returns how long that took.
pub async fn wait_for_copy(
    client: &reqwest::Client,
    portal: &str,
    limit: Duration,
) -> anyhow::Result<Duration> {
    let started = std::time::Instant::now();
    loop {
        let body = client
            .get(format!("{portal}/activations"))
            .send()
            .await?
            .text()
            .await?;
        if first_view(&body).is_none() {
            return Ok(started.elapsed());
        }
        if started.elapsed() > limit {
            bail!("the copy was not made in {} s", limit.as_secs());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Where a benchmark's portal, sandbox and database live.
pub struct Setup {
    /// Scratch directory (the SQLite file).
    pub dir: std::path::PathBuf,
    /// The portal's address.
    pub portal_addr: SocketAddr,
    /// The sandbox's address.
    pub sandbox_addr: SocketAddr,
    /// `http://` + the portal's address.
    pub portal: String,
    /// `http://` + the sandbox's address.
    pub sandbox: String,
    /// The database URL: `database_url`, or a fresh SQLite file in `dir`.
    pub database: String,
    /// "SQLite" or "PostgreSQL".
    pub backend: &'static str,
}

/// Free ports, a scratch directory named after `name`, and the database to use.
pub fn setup(name: &str, database_url: Option<String>) -> anyhow::Result<Setup> {
    let dir = std::env::temp_dir().join(format!("partner-portal-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let (portal_addr, sandbox_addr) = (free_port()?, free_port()?);
    let database = database_url
        .unwrap_or_else(|| format!("sqlite://{}", dir.join(format!("{name}.db")).display()));
    let backend = if database.starts_with("postgres") {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    Ok(Setup {
        portal: format!("http://{portal_addr}"),
        sandbox: format!("http://{sandbox_addr}"),
        dir,
        portal_addr,
        sandbox_addr,
        database,
        backend,
    })
}
