//! The throughput command (`scripts/throughput`, or `cargo bench --bench throughput -- [options]`):
//! the release `partner-portal serve` binary against the sandbox (both child processes) with
//! 100,000 activations, one logged-in session, every page warm; Debian's `wrk` loads each page
//! three times, each run right after a run of `/healthz`, and the command prints for each path
//! the medians and spread (lowest–highest) of its requests per second, of its ratio to the
//! `/healthz` run beside it (the framework's own floor on this machine), and of the portal's CPU
//! time per request (user + system time from `/proc/PID/stat` over the run ÷ requests: the
//! figure that survives a change of machine); then p50 and p99, the page weight plain and
//! compressed, and the proxy overhead (page p50 ÷ upstream latency with latency injected, cold
//! and warm). The embedded stylesheet is loaded the same way, as a path with the same layers and
//! no page work: what the bytes of an answer cost, apart from what a page does. It prints
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
    /// Seconds of load per run (each path runs three times, each after a run of /healthz).
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// Runs per path, each after a run of /healthz.
    #[arg(long, default_value_t = 3)]
    runs: usize,
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
    /// Load only the path labelled exactly this, or else the paths whose label holds this text
    /// (with their /healthz runs), e.g. to hold one page under `perf record`.
    #[arg(long)]
    only: Option<String>,
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

/// The paths loaded, by label. The first is the floor the others are compared with.
const PATHS: &[(&str, &str)] = &[
    ("/healthz", "/healthz"),
    // Not a page: an embedded file through the same layers, with no session read and no page
    // work. Beside it a page's ratio splits into what the bytes cost and what the portal does.
    ("/static/app.css (a file, no page work)", "/static/app.css"),
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

/// Whether `--only only` loads the path labelled `label`: the label itself when one is named
/// exactly (`/activations` alone), else every label that holds the text.
fn chosen(label: &str, only: &str) -> bool {
    if PATHS.iter().any(|(l, _)| *l == only) {
        label == only
    } else {
        label.contains(only)
    }
}

/// What `wrk` reported for one run, with the portal's CPU time per request over it.
#[derive(Clone, Copy)]
struct WrkRun {
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
    non_2xx: u64,
    requests: u64,
    cpu_ms: f64,
}

/// The process's user + system CPU time in seconds (`/proc/PID/stat` fields 14 and 15).
fn cpu_seconds(pid: u32, ticks_per_second: f64) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) start at field 3.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let user: f64 = fields.get(11)?.parse().ok()?;
    let system: f64 = fields.get(12)?.parse().ok()?;
    Some((user + system) / ticks_per_second)
}

/// `getconf CLK_TCK` (100 on Linux almost everywhere).
fn ticks_per_second() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

/// The median and the spread (lowest, highest) of `values`.
fn median_spread(values: &[f64]) -> (f64, f64, f64) {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let mid = v.get(v.len() / 2).copied().unwrap_or(0.0);
    (
        mid,
        v.first().copied().unwrap_or(0.0),
        v.last().copied().unwrap_or(0.0),
    )
}

/// `1.23 (1.20–1.31)`.
fn with_spread(values: &[f64], digits: usize) -> String {
    let (m, lo, hi) = median_spread(values);
    format!("{m:.digits$} ({lo:.digits$}–{hi:.digits$})")
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
    let requests = out
        .lines()
        .find(|l| l.contains(" requests in "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    Some(WrkRun {
        requests,
        cpu_ms: 0.0,
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
    println!(
        "each path: {} runs, each right after a run of /healthz (a sort or filter also beside a run of /activations, taking turns at going first); medians, with the spread (lowest–highest) in brackets; CPU ms/request = the portal's user + system time over the run ÷ requests",
        args.runs
    );
    println!();
    println!(
        "| path | req/s | ÷ /healthz | ÷ /activations | CPU ms/request | p50 ms | p99 ms | HTML KB | br KB |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    let ticks = ticks_per_second();
    let load = |path: &str| -> anyhow::Result<WrkRun> {
        let url = format!("{portal}{path}");
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
        let before = cpu_seconds(pid, ticks).unwrap_or(0.0);
        let out = cmd.arg(&url).output().context("running wrk")?;
        let after = cpu_seconds(pid, ticks).unwrap_or(0.0);
        let text = String::from_utf8_lossy(&out.stdout);
        let Some(mut run) = parse_wrk(&text) else {
            bail!("could not read wrk's output for {path}: {text}");
        };
        run.cpu_ms = (after - before) * 1000.0 / run.requests.max(1) as f64;
        Ok(run)
    };
    let mut floors: Vec<WrkRun> = Vec::new();
    for (label, path) in PATHS.iter().skip(1) {
        if args
            .only
            .as_deref()
            .is_some_and(|only| !chosen(label, only))
        {
            continue;
        }
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
        // A sort or filter is compared with the plain list loaded beside it in the same run,
        // the two taking turns at going first, so the machine's drift between runs does not
        // enter their ratio.
        let against_list = path.starts_with("/activations?");
        let mut runs = Vec::new();
        let mut ratios = Vec::new();
        let mut list_ratios = Vec::new();
        for i in 0..args.runs.max(1) {
            let floor = load("/healthz")?;
            let run = if against_list {
                let (list, run) = if i % 2 == 0 {
                    let list = load("/activations")?;
                    (list, load(path)?)
                } else {
                    let run = load(path)?;
                    (load("/activations")?, run)
                };
                list_ratios.push(run.rps / list.rps);
                run
            } else {
                load(path)?
            };
            ratios.push(run.rps / floor.rps);
            floors.push(floor);
            runs.push(run);
        }
        let non_2xx: u64 = runs.iter().map(|r| r.non_2xx).sum();
        if non_2xx > 0 {
            println!("  ({label}: {non_2xx} answers were not 2xx)");
        }
        let rps: Vec<f64> = runs.iter().map(|r| r.rps).collect();
        let vs_list = if list_ratios.is_empty() {
            String::new()
        } else {
            with_spread(&list_ratios, 2)
        };
        let pick = |f: fn(&WrkRun) -> f64| runs.iter().map(f).collect::<Vec<f64>>();
        println!(
            "| {label} | {} | {} | {vs_list} | {} | {:.1} | {:.1} | {:.1} | {:.1} |",
            with_spread(&rps, 0),
            with_spread(&ratios, 3),
            with_spread(&pick(|r| r.cpu_ms), 3),
            median_spread(&pick(|r| r.p50_ms)).0,
            median_spread(&pick(|r| r.p99_ms)).0,
            plain as f64 / 1024.0,
            br as f64 / 1024.0
        );
    }
    let pick = |f: fn(&WrkRun) -> f64| floors.iter().map(f).collect::<Vec<f64>>();
    println!(
        "| /healthz (every run above) | {} | 1 | | {} | {:.1} | {:.1} | | |",
        with_spread(&pick(|r| r.rps), 0),
        with_spread(&pick(|r| r.cpu_ms), 3),
        median_spread(&pick(|r| r.p50_ms)).0,
        median_spread(&pick(|r| r.p99_ms)).0,
    );
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
