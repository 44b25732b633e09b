//! The benchmark (`scripts/bench`, or `cargo bench --bench bench -- --sizes 10000,100000`):
//! measures the targets of the reports work at each partner size and prints them side by side.
//!
//! For each size it starts the sandbox from the built `partner-portal` binary as a separate
//! process (so this process's memory is the portal's alone), starts the portal in-process on a
//! fresh database (a SQLite file, or a scratch PostgreSQL database made from `--database-url`),
//! logs in through the sandbox, and then measures: a full copy, the peak memory, the first and
//! the warm time of searches and sorts on the activations page, and how many upstream calls 50
//! concurrent viewers of an uncached overview cause. It prints figures; it never fails on
//! timing.

#![allow(clippy::print_stdout, reason = "the benchmark's output is its figures")]
#![allow(
    missing_debug_implementations,
    reason = "a program, not a library; nothing here is printed with Debug"
)]

#[allow(dead_code, reason = "each benchmark uses part of the shared helpers")]
mod common;

use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::Parser as _;
use common::{free_port, kib, percentile, spawn_sandbox};
use partner_portal::{app::Application, config::Config, sandbox, telemetry};
use url::Url;

/// The portal runs in this process, so it uses the binary's allocator (`src/main.rs`).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Options of the benchmark.
#[derive(Debug, Clone, clap::Parser)]
#[command(name = "bench")]
struct BenchArgs {
    /// Partner sizes (activations the sandbox generates), comma-separated, measured in turn.
    #[arg(long, value_delimiter = ',', default_value = "10000,100000,1000000")]
    sizes: Vec<usize>,
    /// One size instead of `--sizes` (kept for older invocations).
    #[arg(long)]
    activations: Option<usize>,
    /// Requests per latency measurement.
    #[arg(long, default_value_t = 30)]
    samples: usize,
    /// `postgres://…` to measure PostgreSQL: each size gets a scratch database made from it
    /// (the role needs CREATEDB) and dropped afterwards. A SQLite file otherwise.
    #[arg(long)]
    database_url: Option<String>,
    /// Internal: measure this one size in this process and print its figures as JSON.
    #[arg(long, hide = true)]
    one: Option<usize>,
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

/// The activations-page requests measured, by label.
const QUERIES: &[(&str, &str)] = &[
    ("overview (the copy's figures)", "/"),
    ("search \"bakery\"", "/activations?q=bakery"),
    ("sort by site, A to Z", "/activations?sort=site&dir=asc"),
    (
        "search + sort by product",
        "/activations?q=studio&sort=product&dir=asc",
    ),
    (
        "cancelled, by cancellation",
        "/activations?status=cancelled&sort=cancelled",
    ),
    (
        "plans + last 30 days",
        "/activations?plan=2005&plan=2000&preset=last_30_days",
    ),
    ("page 4,000 (or the last)", "/activations?page=4000"),
];

/// What one size measured (times in milliseconds).
#[derive(serde::Serialize, serde::Deserialize)]
struct Figures {
    size: usize,
    copy_ms: f64,
    peak_kib: u64,
    before_kib: u64,
    /// Per query: the first request (nothing cached for it) and the median of the rest.
    queries: Vec<(f64, f64)>,
    summary_calls: u64,
    /// The first view of the list with no copy yet (the list opened before any other page),
    /// and whether it showed a table.
    first_view_ms: f64,
    first_view_table: bool,
    /// A view of the list while that copy runs, once its first page is back (as after the
    /// overview started the copy), and whether it came from that page with no call of its own.
    running_view_ms: f64,
    running_view_kept: bool,
    /// The same page straight from WordPress.com (the median of three calls, same latency).
    direct_ms: f64,
}

/// Latency on every WordPress.com call while the first view is timed.
const FIRST_VIEW_LATENCY_MS: u64 = 50;

/// The line a size's child process prints its figures on.
const FIGURES: &str = "bench-figures: ";

#[tokio::main]
async fn main() -> std::process::ExitCode {
    // Figures on stdout; only warnings in the log unless RUST_LOG says otherwise.
    telemetry::init_with_default(telemetry::LogFormat::Text, "warn");
    let args = BenchArgs::parse();
    let result = match args.one {
        Some(size) => run(size, args.samples, args.database_url.clone())
            .await
            .and_then(|f| {
                println!("{FIGURES}{}", serde_json::to_string(&f)?);
                Ok(())
            }),
        None => run_all(args).await,
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Measures every size in turn, then prints them side by side.
async fn run_all(args: BenchArgs) -> anyhow::Result<()> {
    let sizes = args
        .activations
        .map_or_else(|| args.sizes.clone(), |n| vec![n]);
    let backend = if args.database_url.is_some() {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    println!(
        "partner-portal bench on {backend}: sizes {}; {} requests per page measurement",
        sizes
            .iter()
            .map(|n| n.to_string())
            .collect::<Vec<_>>()
            .join(", "),
        args.samples
    );
    let mut all = Vec::new();
    for &size in &sizes {
        let database = match &args.database_url {
            Some(url) => Some(ScratchPg::create(url, size).await?),
            None => None,
        };
        let figures =
            measure_in_child(&args, size, database.as_ref().map(|d| d.url.as_str())).await;
        if let Some(d) = database {
            d.drop_database().await;
        }
        all.push(figures?);
    }
    print_table(&all);
    Ok(())
}

/// Runs one size in a fresh process, so each size's peak memory is its own.
async fn measure_in_child(
    args: &BenchArgs,
    size: usize,
    database: Option<&str>,
) -> anyhow::Result<Figures> {
    println!("  measuring {size} activations…");
    let mut cmd = tokio::process::Command::new(std::env::current_exe()?);
    cmd.arg("--one")
        .arg(size.to_string())
        .arg("--samples")
        .arg(args.samples.to_string())
        .stderr(std::process::Stdio::inherit());
    if let Some(url) = database {
        cmd.arg("--database-url").arg(url);
    }
    let out = cmd.output().await.context("running a size")?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        bail!("measuring {size} activations failed: {stdout}");
    }
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix(FIGURES))
        .context("the size's process printed no figures")?;
    Ok(serde_json::from_str(line)?)
}

/// A PostgreSQL database made for one size and dropped after it.
struct ScratchPg {
    admin: Url,
    name: String,
    url: String,
}

impl ScratchPg {
    async fn create(url: &str, size: usize) -> anyhow::Result<Self> {
        use sqlx::Connection as _;
        let admin = Url::parse(url).context("--database-url")?;
        let base = admin.path().trim_start_matches('/').to_owned();
        let name = format!("{base}_bench_{size}_{}", std::process::id());
        let mut conn = sqlx::PgConnection::connect(url).await?;
        sqlx::query(&format!("CREATE DATABASE \"{name}\""))
            .execute(&mut conn)
            .await
            .context("creating a scratch database (the role needs CREATEDB)")?;
        conn.close().await.ok();
        let mut scratch = admin.clone();
        scratch.set_path(&format!("/{name}"));
        Ok(Self {
            admin,
            name,
            url: scratch.to_string(),
        })
    }

    async fn drop_database(self) {
        use sqlx::Connection as _;
        if let Ok(mut conn) = sqlx::PgConnection::connect(self.admin.as_str()).await {
            let dropped = sqlx::query(&format!(
                "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
                self.name
            ))
            .execute(&mut conn)
            .await;
            if let Err(e) = dropped {
                eprintln!(
                    "bench: could not drop the scratch database {}: {e}",
                    self.name
                );
            }
            conn.close().await.ok();
        }
    }
}

/// The figures of every size, one column each.
fn print_table(all: &[Figures]) {
    let ms = |d: f64| format!("{d:.1} ms");
    let mut rows: Vec<(String, Vec<String>)> = vec![
        (
            "full copy".into(),
            all.iter()
                .map(|f| format!("{:.2} s", f.copy_ms / 1000.0))
                .collect(),
        ),
        (
            format!(
                "first view of the list, {FIRST_VIEW_LATENCY_MS} ms on each WordPress.com call"
            ),
            all.iter()
                .map(|f| {
                    format!(
                        "{} ({:.2} × one call straight to WordPress.com, {}; {:.2} × the latency{})",
                        ms(f.first_view_ms),
                        f.first_view_ms / f.direct_ms,
                        ms(f.direct_ms),
                        f.first_view_ms / FIRST_VIEW_LATENCY_MS as f64,
                        if f.first_view_table {
                            ""
                        } else {
                            "; progress page, no table"
                        }
                    )
                })
                .collect(),
        ),
        (
            "a view of the list while that copy runs (the overview starts the copy)".into(),
            all.iter()
                .map(|f| {
                    format!(
                        "{} ({:.2} × one call; {})",
                        ms(f.running_view_ms),
                        f.running_view_ms / f.direct_ms,
                        if f.running_view_kept {
                            "the copy's first page, no call of its own"
                        } else {
                            "asked WordPress.com"
                        }
                    )
                })
                .collect(),
        ),
        (
            "peak memory (before the copy)".into(),
            all.iter()
                .map(|f| {
                    format!(
                        "{:.1} MB ({:.1})",
                        f.peak_kib as f64 / 1024.0,
                        f.before_kib as f64 / 1024.0
                    )
                })
                .collect(),
        ),
    ];
    for (i, (label, _)) in QUERIES.iter().enumerate() {
        rows.push((
            format!("{label}: first / warm median"),
            all.iter()
                .map(|f| {
                    f.queries
                        .get(i)
                        .map(|(first, median)| format!("{} / {}", ms(*first), ms(*median)))
                        .unwrap_or_default()
                })
                .collect(),
        ));
    }
    rows.push((
        "WordPress.com calls for 50 viewers of an uncached overview".into(),
        all.iter().map(|f| f.summary_calls.to_string()).collect(),
    ));
    println!();
    println!(
        "| activations | {} |",
        all.iter()
            .map(|f| f.size.to_string())
            .collect::<Vec<_>>()
            .join(" | ")
    );
    println!("|---|{}", "---|".repeat(all.len()));
    for (label, cells) in rows {
        println!("| {label} | {} |", cells.join(" | "));
    }
    println!();
    println!(
        "first = the first request for that page after the copy (nothing cached for it); warm = the median of the rest"
    );
}

/// The time to fetch `url` as `http`, its whole body read; an error unless it succeeded.
async fn timed_get(http: &reqwest::Client, url: &str) -> anyhow::Result<Duration> {
    let t = Instant::now();
    let r = http.get(url).send().await?;
    let ok = r.status().is_success();
    r.bytes().await?;
    if !ok {
        bail!("{url} failed");
    }
    Ok(t.elapsed())
}

/// Measures one size in this process.
async fn run(size: usize, samples: usize, database: Option<String>) -> anyhow::Result<Figures> {
    let dir = std::env::temp_dir().join(format!("partner-portal-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let portal_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let portal = format!("http://{}", portal_listener.local_addr()?);
    let sandbox_addr = free_port()?;
    let sandbox = format!("http://{sandbox_addr}");
    let mut child = spawn_sandbox(sandbox_addr, &portal, size).await?;
    // The login stops short of the overview, which would start the copy: the list is the
    // first page opened.
    let stop_at = format!("{portal}/");
    let http = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.url().as_str() == stop_at {
                attempt.stop()
            } else {
                attempt.follow()
            }
        }))
        .build()?;

    let config = partner_portal::config::ConfigBuilder {
        listen: portal_listener.local_addr()?,
        wpcom_url: Some(Url::parse(&sandbox)?),
        client_id: Some(sandbox::CLIENT_ID.into()),
        client_secret: Some(sandbox::CLIENT_SECRET.to_owned().into()),
        database_url: database
            .unwrap_or_else(|| format!("sqlite://{}", dir.join("bench.db").display())),
        idle_timeout: Duration::from_secs(3600),
        absolute_timeout: Duration::from_secs(3600),
        upstream_deadline: Duration::from_secs(30),
        index_max_age: Duration::from_secs(3600),
        access_recheck: Duration::from_secs(3600),
        max_concurrent: 1024,
        request_timeout: Duration::from_secs(30),
        shutdown_grace: Duration::from_secs(5),
        demo: true,
        ..Config::builder()
    }
    .build()?;
    let app = Application::build(config, portal_listener).await?;
    let state = app.state().clone();
    tokio::spawn(app.run_until_stopped());
    let r = http.get(format!("{portal}/auth/start")).send().await?;
    if !r.url().as_str().starts_with(&portal) || !r.status().is_redirection() {
        bail!(
            "login through the sandbox failed: {} at {}",
            r.status(),
            r.url().path()
        );
    }
    let before_kib = kib(None, "VmRSS:").unwrap_or(0);

    // 1. The first view of a partner with no copy yet, with FIRST_VIEW_LATENCY_MS on every
    // WordPress.com call: the list shows WordPress.com's own first page while the copy is made.
    // The latency is lifted once that page and a second view during the copy are back, so
    // the copy is timed without it (except for its first pages).
    let latency = |ms: u64| {
        http.post(format!("{sandbox}/__sandbox/latency"))
            .json(&serde_json::json!({"path_prefix": "/wpcom/v2", "ms": ms}))
            .send()
    };
    latency(FIRST_VIEW_LATENCY_MS).await?;
    // One call as a partner's own script makes it: the page the list shows first.
    let token = common::sandbox_token(&sandbox, &portal).await?;
    let mut direct = Vec::new();
    for _ in 0..3 {
        let t = Instant::now();
        http.get(format!(
            "{sandbox}/wpcom/v2/jetpack-partners/{}/key/{}/activations",
            sandbox::data::PARTNER_ID,
            sandbox::data::KEY_PRODUCTION
        ))
        .query(&[("page", "1"), ("per_page", "20")])
        .bearer_auth(&token)
        .send()
        .await?
        .error_for_status()?
        .bytes()
        .await?;
        direct.push(t.elapsed());
    }
    direct.sort();
    let direct = percentile(&direct, 0.5);
    let started = Instant::now();
    let first_page = http
        .get(format!("{portal}/activations"))
        .send()
        .await?
        .text()
        .await?;
    let first_view = started.elapsed();
    let Some(first_view_table) = common::first_view(&first_page) else {
        bail!("the first view was neither WordPress.com's own page nor the progress page");
    };
    // Once the copy's first page is back, a view of rows within it (page 2 here) is shown
    // from it.
    let mut running_view_kept = false;
    for _ in 0..500 {
        running_view_kept = state.index.head_page(70, 2, 20).is_some();
        if running_view_kept || state.index.state(70).await?.has_copy() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let running_view = timed_get(&http, &format!("{portal}/activations?page=2")).await?;
    running_view_kept &= state.index.head_page(70, 2, 20).is_some();
    latency(0).await?;
    // The overview during the copy fetches (and caches) WordPress.com's summary, so the
    // overview timed after the copy is the portal's own figures.
    timed_get(&http, &format!("{portal}/")).await?;

    // 2. The full copy, from that first request.
    loop {
        let s = state.index.state(70).await?;
        if !s.running && s.has_copy() {
            break;
        }
        if !s.running && s.last_error.is_some() {
            bail!("the copy failed: {:?}", s.last_error);
        }
        if started.elapsed() > Duration::from_secs(1800) {
            bail!("the copy did not finish in 30 minutes");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let copy = started.elapsed();

    // 3. Searches and sorts on the activations page: the first request, then the rest.
    let mut queries = Vec::new();
    for (_, path) in QUERIES {
        let mut times = Vec::with_capacity(samples);
        for _ in 0..samples.max(2) {
            times.push(timed_get(&http, &format!("{portal}{path}")).await?);
        }
        let first = times.remove(0);
        times.sort();
        queries.push((
            first.as_secs_f64() * 1000.0,
            percentile(&times, 0.5).as_secs_f64() * 1000.0,
        ));
    }
    let peak_kib = kib(None, "VmHWM:").unwrap_or(0);

    // 4. Fifty concurrent viewers of an uncached overview.
    state.cache.invalidate_fresh();
    http.post(format!("{sandbox}/__sandbox/reset"))
        .send()
        .await?;
    let mut views = Vec::new();
    for _ in 0..50 {
        let (h, url) = (http.clone(), format!("{portal}/"));
        views.push(tokio::spawn(async move {
            h.get(url).send().await.map(|r| r.status())
        }));
    }
    for v in views {
        v.await??;
    }
    let counts: serde_json::Value = http
        .get(format!("{sandbox}/__sandbox/state"))
        .send()
        .await?
        .json()
        .await?;
    let summary_calls = counts["counts"]["GET /wpcom/v2/jetpack-partners/activations"]
        .as_u64()
        .unwrap_or(0);

    child.kill().await.ok();
    std::fs::remove_dir_all(&dir).ok();
    Ok(Figures {
        size,
        copy_ms: copy.as_secs_f64() * 1000.0,
        peak_kib,
        before_kib,
        queries,
        summary_calls,
        first_view_ms: first_view.as_secs_f64() * 1000.0,
        first_view_table,
        running_view_ms: running_view.as_secs_f64() * 1000.0,
        running_view_kept,
        direct_ms: direct.as_secs_f64() * 1000.0,
    })
}
