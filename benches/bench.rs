//! The benchmark (`scripts/bench`, or `cargo bench --bench bench -- --activations N`): measures
//! the targets of the reports work and prints the figures.
//!
//! It starts the sandbox from the built `partner-portal` binary as a separate process (so this process's memory is the portal's
//! alone), starts the portal in-process on a fresh SQLite file, logs in through the sandbox,
//! and then measures: a full index sync, search and sort latency on the activations page, and
//! how many upstream calls 50 concurrent viewers of an uncached overview cause. It prints
//! figures; it never fails on timing.

#![allow(clippy::print_stdout, reason = "the benchmark's output is its figures")]
#![allow(
    missing_debug_implementations,
    reason = "a program, not a library; nothing here is printed with Debug"
)]

#[allow(dead_code, reason = "each benchmark uses part of the shared helpers")]
mod common;

use std::time::{Duration, Instant};

use anyhow::bail;
use clap::Parser as _;
use common::{free_port, kib, percentile, spawn_sandbox};
use partner_portal::{app::Application, config::Config, sandbox, telemetry};
use url::Url;

/// Options of the benchmark.
#[derive(Debug, Clone, clap::Parser)]
#[command(name = "bench")]
struct BenchArgs {
    /// Activations the sandbox generates.
    #[arg(long, default_value_t = 100_000)]
    activations: usize,
    /// Requests per latency measurement.
    #[arg(long, default_value_t = 50)]
    samples: usize,
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    // Figures on stdout; only warnings in the log unless RUST_LOG says otherwise.
    telemetry::init_with_default(telemetry::LogFormat::Text, "warn");
    let args = BenchArgs::parse();
    match run(args).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Runs the benchmark and prints its figures.
async fn run(args: BenchArgs) -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("partner-portal-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let portal_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let portal = format!("http://{}", portal_listener.local_addr()?);
    let sandbox_addr = free_port()?;
    let sandbox = format!("http://{sandbox_addr}");
    println!(
        "partner-portal bench: {} activations; sandbox in a child process at {sandbox}",
        args.activations
    );

    let started = Instant::now();
    let mut child = spawn_sandbox(sandbox_addr, &portal, args.activations).await?;
    let http = reqwest::Client::builder().cookie_store(true).build()?;
    println!(
        "  sandbox ready in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let config = partner_portal::config::ConfigBuilder {
        listen: portal_listener.local_addr()?,
        wpcom_url: Some(Url::parse(&sandbox)?),
        client_id: Some(sandbox::CLIENT_ID.into()),
        client_secret: Some(sandbox::CLIENT_SECRET.to_owned().into()),
        database_url: format!("sqlite://{}", dir.join("bench.db").display()),
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
    if !r.url().as_str().starts_with(&portal) || !r.status().is_success() {
        bail!(
            "login through the sandbox failed: {} at {}",
            r.status(),
            r.url().path()
        );
    }
    let rss_before = kib(None, "VmRSS:").unwrap_or(0);

    // 1. Full sync.
    let started = Instant::now();
    http.get(format!("{portal}/activations")).send().await?;
    loop {
        let s = state.index.state(70).await?;
        if !s.running && s.has_copy() {
            break;
        }
        if !s.running && s.last_error.is_some() {
            bail!("the sync failed: {:?}", s.last_error);
        }
        if started.elapsed() > Duration::from_secs(600) {
            bail!("the sync did not finish in 10 minutes");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let sync = started.elapsed();
    let peak = kib(None, "VmHWM:").unwrap_or(0);
    println!();
    println!(
        "  full sync of {} activations     {:>8.2} s      (target < 15 s)",
        args.activations,
        sync.as_secs_f64()
    );
    println!(
        "  peak memory of the portal process  {:>8.1} MB     (target < 150 MB; {:.1} MB before the sync)",
        peak as f64 / 1024.0,
        rss_before as f64 / 1024.0
    );

    // 2. Search and sort on the activations page.
    println!();
    println!(
        "  activations page over the index ({} requests each; time to the full response over loopback):",
        args.samples
    );
    let queries = [
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
        ("page 4,000 of 5,000", "/activations?page=4000"),
    ];
    for (label, path) in queries {
        let mut times = Vec::with_capacity(args.samples);
        for _ in 0..args.samples {
            let t = Instant::now();
            let r = http.get(format!("{portal}{path}")).send().await?;
            let ok = r.status().is_success();
            r.bytes().await?;
            if !ok {
                bail!("{path} failed");
            }
            times.push(t.elapsed());
        }
        let first = times.first().copied().unwrap_or_default();
        times.sort();
        println!(
            "    {label:<28} median {:>6.1} ms   p95 {:>6.1} ms   first (cold) {:>6.1} ms   (target: median < 50 ms)",
            percentile(&times, 0.5).as_secs_f64() * 1000.0,
            percentile(&times, 0.95).as_secs_f64() * 1000.0,
            first.as_secs_f64() * 1000.0
        );
    }

    // 3. Fifty concurrent viewers of an uncached overview.
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
    println!();
    println!(
        "  50 concurrent viewers of an uncached overview: {summary_calls} upstream summary call(s)   (target: 1)"
    );

    child.kill().await.ok();
    std::fs::remove_dir_all(&dir).ok();
    Ok(())
}
