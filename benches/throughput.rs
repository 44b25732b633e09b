//! The throughput command (`scripts/throughput`, or `cargo bench --bench throughput -- [options]`):
//! the release `partner-portal serve` binary against the sandbox (both child processes) with
//! 100,000 activations, one logged-in session, every page warm; Debian's `wrk` loads each page
//! in turn and the command prints requests per second, the ratio to `/healthz` (the framework's
//! own floor on this machine), p50 and p99, the page weight plain and compressed, and the
//! proxy overhead (page p50 ÷ upstream latency with latency injected, cold and warm). It prints
//! figures and never fails on them.

#![allow(clippy::print_stdout, reason = "the command's output is its figures")]
#![allow(
    missing_debug_implementations,
    reason = "a program, not a library; nothing here is printed with Debug"
)]

#[allow(dead_code, reason = "each benchmark uses part of the shared helpers")]
mod common;

use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::Parser as _;
use common::{
    Setup, client, kib, login, percentile, portal_token, setup, spawn_portal, spawn_sandbox,
    wait_for_copy,
};

/// Options of the throughput command.
#[derive(Debug, Clone, clap::Parser)]
#[command(name = "throughput")]
struct Args {
    /// Activations the sandbox generates.
    #[arg(long, default_value_t = 100_000)]
    activations: usize,
    /// Seconds of load per path.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Open connections (`wrk -c`).
    #[arg(long, default_value_t = 64)]
    connections: u32,
    /// Load-generator threads (`wrk -t`).
    #[arg(long, default_value_t = 2)]
    threads: u32,
    /// Latency injected on WordPress.com for the proxy-overhead figures, in milliseconds.
    #[arg(long, default_value_t = 50)]
    latency_ms: u64,
    /// `postgres://…` to run on PostgreSQL (a fresh database); a SQLite file otherwise.
    #[arg(long)]
    database_url: Option<String>,
    /// Send `Accept-Encoding: br, gzip` as browsers do (the default measures plain HTML).
    #[arg(long)]
    compressed: bool,
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

/// The paths loaded, by label. The first is the floor the others are compared with.
const PATHS: &[(&str, &str)] = &[
    ("/healthz", "/healthz"),
    ("/ (overview)", "/"),
    ("/activations", "/activations"),
    ("/activations?q=yoga", "/activations?q=yoga"),
    (
        "/activations?sort=site&dir=asc&page=40",
        "/activations?sort=site&dir=asc&page=40",
    ),
    (
        "/activations?status=cancelled&sort=cancelled&page=200",
        "/activations?status=cancelled&sort=cancelled&page=200",
    ),
    (
        "/activations?plan=2005&plan=2000&preset=this_year&sort=product&page=30",
        "/activations?plan=2005&plan=2000&preset=this_year&sort=product&page=30",
    ),
    (
        "/activations?q=studio&sort=created&dir=asc&page=5",
        "/activations?q=studio&sort=created&dir=asc&page=5",
    ),
    ("/invoices", "/invoices"),
    (
        "/api/v1/keys/70/activations?limit=20 (token, JSON)",
        "/api/v1/keys/70/activations?limit=20",
    ),
];

/// What `wrk` reported for one path.
struct WrkRun {
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
    non_2xx: u64,
}

/// `1.10ms`, `92.93us`, `1.02s` in milliseconds.
fn wrk_ms(s: &str) -> Option<f64> {
    let (n, unit) = s
        .find(|c: char| c.is_ascii_alphabetic())
        .map(|i| s.split_at(i))?;
    let n: f64 = n.parse().ok()?;
    Some(match unit {
        "us" => n / 1000.0,
        "ms" => n,
        "s" => n * 1000.0,
        "m" => n * 60_000.0,
        _ => return None,
    })
}

fn parse_wrk(out: &str) -> Option<WrkRun> {
    let field = |prefix: &str| {
        out.lines()
            .map(str::trim)
            .find(|l| l.starts_with(prefix))
            .and_then(|l| l.split_whitespace().nth(1).map(str::to_owned))
    };
    let non_2xx = out
        .lines()
        .find(|l| l.contains("Non-2xx or 3xx responses:"))
        .and_then(|l| l.split(':').nth(1))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0);
    Some(WrkRun {
        rps: out
            .lines()
            .find(|l| l.starts_with("Requests/sec:"))?
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()?,
        p50_ms: wrk_ms(&field("50%")?)?,
        p99_ms: wrk_ms(&field("99%")?)?,
        non_2xx,
    })
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run(Args::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("throughput: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    if std::process::Command::new("wrk")
        .arg("--version")
        .output()
        .is_err()
    {
        bail!("wrk is not installed (apt-get install wrk)");
    }
    let Setup {
        dir,
        portal_addr,
        sandbox_addr,
        portal,
        sandbox,
        database,
        backend,
    } = setup("wrk", args.database_url.clone())?;
    let mut sandbox_child = spawn_sandbox(sandbox_addr, &portal, args.activations).await?;
    let mut portal_child = spawn_portal(
        portal_addr,
        &sandbox,
        &database,
        &[
            ("PORTAL_INDEX_MAX_AGE", "1h"),
            ("PORTAL_CACHE_TTL", "1h"),
            ("PORTAL_ACCESS_RECHECK", "1h"),
            ("PORTAL_MAX_CONCURRENT", "4096"),
            ("PORTAL_API_RATE_PER_MINUTE", "1000000000"),
        ],
    )
    .await?;
    let pid = portal_child.id().context("the portal's pid")?;
    let http = client()?;
    let cookie = login(&http, &portal).await?;
    let copy = wait_for_copy(&http, &portal, Duration::from_secs(900)).await?;
    let token = portal_token(&http, &portal).await?;
    println!(
        "partner-portal throughput: {} activations on {backend}, copy made in {:.1} s; wrk -t{} -c{} -d{}s per path, one session, every page warm{}",
        args.activations,
        copy.as_secs_f64(),
        args.threads,
        args.connections,
        args.seconds,
        if args.compressed {
            ", Accept-Encoding: br, gzip"
        } else {
            ", plain HTML"
        }
    );
    println!();
    println!("| path | req/s | ÷ /healthz | ÷ /activations | p50 ms | p99 ms | HTML KB | br KB |");
    println!("|---|---|---|---|---|---|---|---|");
    let mut floor = None;
    let mut list = None;
    for (label, path) in PATHS {
        let url = format!("{portal}{path}");
        // Warm: every cache this page uses is filled before the load.
        let plain = http.get(&url).send().await?.bytes().await?.len();
        let br = http
            .get(&url)
            .header("accept-encoding", "br")
            .send()
            .await?
            .bytes()
            .await?
            .len();
        let mut cmd = std::process::Command::new("wrk");
        cmd.arg(format!("-t{}", args.threads))
            .arg(format!("-c{}", args.connections))
            .arg(format!("-d{}s", args.seconds))
            .arg("--latency");
        // The JSON list is read as a script reads it: with a portal API token, no session.
        if path.starts_with("/api/") {
            cmd.args(["-H", &format!("Authorization: Bearer {token}")]);
        } else {
            cmd.args(["-H", &format!("Cookie: {cookie}")]);
        }
        if args.compressed {
            cmd.args(["-H", "Accept-Encoding: br, gzip"]);
        }
        let out = cmd.arg(&url).output().context("running wrk")?;
        let text = String::from_utf8_lossy(&out.stdout);
        let Some(run) = parse_wrk(&text) else {
            bail!("could not read wrk's output for {path}: {text}");
        };
        if run.non_2xx > 0 {
            println!("  ({label}: {} answers were not 2xx)", run.non_2xx);
        }
        let floor_rps = *floor.get_or_insert(run.rps);
        if *path == "/activations" {
            list = Some(run.rps);
        }
        let vs_list = match (
            list,
            path.starts_with("/activations?") || path.starts_with("/api/"),
        ) {
            (Some(l), true) => format!("{:.2}", run.rps / l),
            _ => String::new(),
        };
        println!(
            "| {label} | {:.0} | {:.3} | {vs_list} | {:.1} | {:.1} | {:.1} | {:.1} |",
            run.rps,
            run.rps / floor_rps,
            run.p50_ms,
            run.p99_ms,
            plain as f64 / 1024.0,
            br as f64 / 1024.0
        );
    }
    println!();
    println!(
        "peak memory of the portal: {:.1} MB",
        kib(Some(pid), "VmHWM:").unwrap_or(0) as f64 / 1024.0
    );

    // Proxy overhead with latency on WordPress.com: the uncached JSON route (cold: every call
    // goes upstream) and the cached invoices page (warm).
    http.post(format!("{sandbox}/__sandbox/latency"))
        .json(&serde_json::json!({"path_prefix": "/wpcom/v2", "ms": args.latency_ms}))
        .send()
        .await?;
    let latency = args.latency_ms as f64;
    for (label, path) in [
        ("cold: /api/v1/invoices (uncached)", "/api/v1/invoices"),
        ("warm: /invoices (cached)", "/invoices"),
    ] {
        let mut times = Vec::new();
        for _ in 0..30 {
            let t = Instant::now();
            let r = http.get(format!("{portal}{path}")).send().await?;
            r.bytes().await?;
            times.push(t.elapsed());
        }
        times.sort();
        let p50 = percentile(&times, 0.5).as_secs_f64() * 1000.0;
        println!(
            "proxy overhead, {label}: p50 {p50:.1} ms with {latency:.0} ms upstream = {:.2} × the upstream latency",
            p50 / latency
        );
    }
    portal_child.kill().await.ok();
    sandbox_child.kill().await.ok();
    std::fs::remove_dir_all(&dir).ok();
    Ok(())
}
