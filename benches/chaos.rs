//! The chaos command (`scripts/chaos`, or `cargo bench --bench chaos -- [options]`): the real
//! `partner-portal serve` binary, copying a key over and over while 50 users read pages, and
//! faults thrown at it at random moments of its copies for a few minutes:
//!
//! - `kill -9` of a replica (restarted a moment later) and `kill -STOP` past its lease (then
//!   `-CONT`), while it fetches pages, while it builds indexes, and around the switch;
//! - PostgreSQL restarted (`pg_ctlcluster … restart`; with `--database-url`, two replicas);
//! - on SQLite, the database's disk (a small tmpfs the command mounts) filled and freed;
//! - the sandbox's chaos switch: 15 % of WordPress.com's list calls fail (500, 503, 429, hangs).
//!
//! It prints how long no visible copy could be read (must be 0 s), rows lost or duplicated in
//! any finished copy (must be 0), copies finished, the time from the last fault to a complete
//! copy, and the 5xx users saw, by cause. It exits non-zero when a visible copy was lost, a
//! finished copy was wrong, or no copy finished after the faults stopped.

#![allow(clippy::print_stdout, reason = "the command's output is its figures")]
#![allow(
    missing_debug_implementations,
    reason = "a program, not a library; nothing here is printed with Debug"
)]

#[allow(dead_code, reason = "each benchmark uses part of the shared helpers")]
mod common;

use std::{
    collections::BTreeMap,
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};
use clap::Parser as _;
use common::{client, free_port, login, spawn_portal, spawn_sandbox};
use rand::Rng as _;
use sqlx::Connection as _;

/// Options of the chaos command.
#[derive(Debug, Clone, clap::Parser)]
#[command(name = "chaos")]
struct Args {
    /// Seconds of faults.
    #[arg(long, default_value_t = 180)]
    seconds: u64,
    /// Users reading pages.
    #[arg(long, default_value_t = 50)]
    users: usize,
    /// Activations the sandbox generates.
    #[arg(long, default_value_t = 20_000)]
    activations: usize,
    /// Rows per page the copies ask for (small pages: long copies, many moments to hit).
    #[arg(long, default_value_t = 100)]
    page_size: u32,
    /// Share of WordPress.com's list calls that fail, in percent.
    #[arg(long, default_value_t = 15)]
    chaos_percent: u8,
    /// `postgres://…` of a role that may create databases: two replicas on a scratch
    /// database, and PostgreSQL restarted among the faults. SQLite on a small disk otherwise.
    #[arg(long)]
    database_url: Option<String>,
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

const LIST: &str = "/wpcom/v2/jetpack-partners/7/key/70/activations";

/// Pages the users read.
const PAGES: &[&str] = &[
    "/",
    "/activations",
    "/activations?q=yoga",
    "/activations?sort=site&dir=asc&page=3",
    "/activations?status=cancelled",
    "/activations/100042?key=70",
];

/// What the users saw.
#[derive(Default)]
struct Seen {
    ok: u64,
    by_cause: BTreeMap<String, u64>,
    unreachable: u64,
}

/// A replica: its address and its process (none while it is down).
struct Replica {
    addr: SocketAddr,
    child: Option<tokio::process::Child>,
}

/// The database, as the command reads it beside the portal.
enum Probe {
    Sqlite(sqlx::SqlitePool),
    Postgres(String),
}

impl Probe {
    /// `(visible generation, whether its table is there, running generation, pages done,
    /// pages total)` of key 70.
    async fn key(&self) -> anyhow::Result<(i64, bool, Option<i64>, i64, Option<i64>)> {
        let read = "SELECT generation, running_generation, pages_done, pages_total FROM key_syncs WHERE key_id = 70";
        let (g, running, done, total): (i64, Option<i64>, i64, Option<i64>) = match self {
            Self::Sqlite(p) => sqlx::query_as(read).fetch_optional(p).await?,
            Self::Postgres(url) => {
                let mut c = sqlx::PgConnection::connect(url).await?;
                sqlx::query_as(read).fetch_optional(&mut c).await?
            }
        }
        .unwrap_or((0, None, 0, None));
        let table = format!("activations_70_{g}");
        let there: i64 = match self {
            Self::Sqlite(p) => {
                sqlx::query_scalar("SELECT COUNT(*) FROM sqlite_master WHERE name = ?")
                    .bind(&table)
                    .fetch_one(p)
                    .await?
            }
            Self::Postgres(url) => {
                let mut c = sqlx::PgConnection::connect(url).await?;
                sqlx::query_scalar("SELECT COUNT(*) FROM pg_tables WHERE tablename = $1")
                    .bind(&table)
                    .fetch_one(&mut c)
                    .await?
            }
        };
        Ok((g, there > 0, running, done, total))
    }

    /// `(rows, distinct ids)` of a copy.
    async fn rows(&self, generation: i64) -> anyhow::Result<(i64, i64)> {
        let sql = format!("SELECT COUNT(*), COUNT(DISTINCT id) FROM activations_70_{generation}");
        Ok(match self {
            Self::Sqlite(p) => sqlx::query_as(&sql).fetch_one(p).await?,
            Self::Postgres(url) => {
                let mut c = sqlx::PgConnection::connect(url).await?;
                sqlx::query_as(&sql).fetch_one(&mut c).await?
            }
        })
    }
}

/// A small filesystem mounted for the SQLite database.
struct SmallDisk(std::path::PathBuf);

impl SmallDisk {
    fn mount(dir: &std::path::Path, megabytes: u32) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={megabytes}m"), "tmpfs"])
            .arg(dir)
            .status()?
            .success();
        if !ok {
            bail!(
                "cannot mount a tmpfs at {} (the SQLite run needs root)",
                dir.display()
            );
        }
        Ok(Self(dir.to_owned()))
    }

    fn fill(&self) {
        use std::io::Write as _;
        if let Ok(mut f) = std::fs::File::create(self.0.join("filler")) {
            let block = vec![0u8; 64 * 1024];
            while f.write_all(&block).is_ok() {}
        }
    }

    fn free(&self) {
        let _ = std::fs::remove_file(self.0.join("filler"));
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

fn signal(child: &tokio::process::Child, sig: &str) {
    if let Some(pid) = child.id() {
        let _ = std::process::Command::new("kill")
            .args([sig, &pid.to_string()])
            .status();
    }
}

/// The local PostgreSQL cluster (`pg_lsclusters`), to restart it.
fn pg_cluster() -> Option<(String, String)> {
    let out = std::process::Command::new("pg_lsclusters")
        .arg("-h")
        .output()
        .ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    let mut first = text
        .lines()
        .find(|l| l.contains("online"))?
        .split_whitespace();
    Some((first.next()?.to_owned(), first.next()?.to_owned()))
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = Args::parse();
    match run(args).await {
        Ok(true) => std::process::ExitCode::SUCCESS,
        Ok(false) => std::process::ExitCode::FAILURE,
        Err(e) => {
            eprintln!("chaos: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

#[allow(clippy::too_many_lines, reason = "one scenario, read top to bottom")]
async fn run(args: Args) -> anyhow::Result<bool> {
    let dir = std::env::temp_dir().join(format!("partner-portal-chaos-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let (database, probe, disk, scratch) = match &args.database_url {
        Some(admin) => {
            let name = format!("pp_chaos_{}", std::process::id());
            let mut c = sqlx::PgConnection::connect(admin)
                .await
                .context("connecting to PostgreSQL")?;
            sqlx::query(&format!("CREATE DATABASE {name}"))
                .execute(&mut c)
                .await?;
            let mut url = url::Url::parse(admin)?;
            url.set_path(&name);
            let url = url.to_string();
            (
                url.clone(),
                Probe::Postgres(url),
                None,
                Some((admin.clone(), name)),
            )
        }
        None => {
            let disk = SmallDisk::mount(&dir.join("disk"), 96)?;
            let file = disk.0.join("portal.db");
            let url = format!("sqlite://{}", file.display());
            (
                url,
                Probe::Sqlite(sqlx::SqlitePool::connect_lazy(&format!(
                    "sqlite://{}?mode=ro",
                    file.display()
                ))?),
                Some(disk),
                None,
            )
        }
    };
    let backend = if args.database_url.is_some() {
        "PostgreSQL, two replicas"
    } else {
        "SQLite on a 96 MB disk"
    };
    let replicas = if args.database_url.is_some() { 2 } else { 1 };
    let addrs: Vec<SocketAddr> = (0..replicas)
        .map(|_| free_port())
        .collect::<Result<_, _>>()?;
    let public = format!("http://{}", addrs[0]);
    let sandbox_addr = free_port()?;
    let sandbox = format!("http://{sandbox_addr}");
    let _sandbox = spawn_sandbox(sandbox_addr, &public, args.activations).await?;
    let page_size = args.page_size.to_string();
    let env = [
        ("PORTAL_PUBLIC_URL", public.as_str()),
        ("PORTAL_INDEX_PAGE_SIZE", page_size.as_str()),
        ("PORTAL_INDEX_LEASE", "4s"),
        ("PORTAL_INDEX_MAX_AGE", "5s"),
        ("PORTAL_REFRESH_MIN_INTERVAL", "0s"),
        ("PORTAL_REQUEST_TIMEOUT", "10s"),
    ];
    let start = |addr: SocketAddr| {
        let (sandbox, database) = (sandbox.clone(), database.clone());
        async move { spawn_portal(addr, &sandbox, &database, &env).await }
    };
    let mut fleet = Vec::new();
    for addr in &addrs {
        fleet.push(Replica {
            addr: *addr,
            child: Some(start(*addr).await?),
        });
    }
    println!(
        "partner-portal chaos: {} activations in pages of {}, {} users, {} s of faults, {} % of list calls failing, on {backend}",
        args.activations, args.page_size, args.users, args.seconds, args.chaos_percent
    );
    // The first copy, before any fault.
    let first_started = Instant::now();
    let mut users = Vec::new();
    for _ in 0..args.users {
        let c = client()?;
        login(&c, &public).await?;
        users.push(c);
    }
    loop {
        let _ = users[0].get(format!("{public}/activations")).send().await;
        if probe.key().await.is_ok_and(|k| k.0 > 0 && k.1) {
            break;
        }
        if first_started.elapsed() > Duration::from_secs(300) {
            bail!("the first copy was not made in 5 minutes");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    println!(
        "first copy made in {:.1} s",
        first_started.elapsed().as_secs_f64()
    );
    let http = reqwest::Client::new();
    http.post(format!("{sandbox}/__sandbox/chaos"))
        .json(&serde_json::json!({"path_prefix": LIST, "percent": args.chaos_percent, "hang_ms": 3000}))
        .send()
        .await?;

    let up: Arc<Mutex<Vec<(SocketAddr, bool)>>> =
        Arc::new(Mutex::new(addrs.iter().map(|a| (*a, true)).collect()));
    let seen = Arc::new(Mutex::new(Seen::default()));
    let stop = Arc::new(AtomicBool::new(false));
    // The users: a page at a time, on a replica that is up.
    let mut readers = Vec::new();
    for user in users {
        let (up, seen, stop) = (up.clone(), seen.clone(), stop.clone());
        readers.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let pick = {
                    let live: Vec<SocketAddr> = locked(&up)
                        .iter()
                        .filter(|(_, ok)| *ok)
                        .map(|(a, _)| *a)
                        .collect();
                    let mut rng = rand::rng();
                    (!live.is_empty()).then(|| {
                        (
                            live[rng.random_range(0..live.len())],
                            PAGES[rng.random_range(0..PAGES.len())],
                        )
                    })
                };
                let Some((addr, path)) = pick else {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                };
                let outcome = match user.get(format!("http://{addr}{path}")).send().await {
                    Ok(r) if r.status().is_server_error() => {
                        let status = r.status().as_u16();
                        let body = r.text().await.unwrap_or_default();
                        let title = body
                            .split("<h1 id=\"error-h\">")
                            .nth(1)
                            .and_then(|t| t.split('<').next())
                            .unwrap_or("(no page)")
                            .to_owned();
                        Some(Err(format!("{status} {title}")))
                    }
                    Ok(r) => {
                        // Read to the end: a page cut short is not a page.
                        Some(
                            r.bytes()
                                .await
                                .map(drop)
                                .map_err(|_| "cut short".to_owned()),
                        )
                    }
                    Err(_) => None,
                };
                {
                    let mut seen = locked(&seen);
                    match outcome {
                        Some(Ok(())) => seen.ok += 1,
                        Some(Err(cause)) => *seen.by_cause.entry(cause).or_default() += 1,
                        None => seen.unreachable += 1,
                    }
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }));
    }
    // The watcher: is the visible copy there, and is every finished copy whole?
    let expected = i64::try_from(args.activations).unwrap_or(i64::MAX);
    let lost = Arc::new(Mutex::new(Duration::ZERO));
    let finished = Arc::new(Mutex::new(Vec::<(Instant, i64, i64, i64)>::new()));
    let watcher = {
        let (lost, finished, stop) = (lost.clone(), finished.clone(), stop.clone());
        let probe = Arc::new(probe);
        let probe2 = probe.clone();
        let task = tokio::spawn(async move {
            let mut last = 0;
            let mut at = Instant::now();
            while !stop.load(Ordering::Relaxed) {
                let now = Instant::now();
                // Unanswered: the database is away (restarting, its disk full): nothing read.
                if let Ok((g, there, _, _, _)) = probe.key().await {
                    if !there {
                        *locked(&lost) += now - at;
                    }
                    if g != last && there {
                        last = g;
                        if let Ok((rows, distinct)) = probe.rows(g).await {
                            locked(&finished).push((Instant::now(), g, rows, distinct));
                        }
                    }
                }
                at = now;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        });
        (task, probe2)
    };
    // The faults.
    let pg = if args.database_url.is_some() {
        pg_cluster()
    } else {
        None
    };
    let faults_until = Instant::now() + Duration::from_secs(args.seconds);
    let mut faults: BTreeMap<&'static str, u64> = BTreeMap::new();
    let mut last_fault = Instant::now();
    while Instant::now() < faults_until {
        tokio::time::sleep(Duration::from_millis(
            rand::rng().random_range(2_000..6_000),
        ))
        .await;
        // A moment of a copy: while its pages come in, or while it builds its indexes.
        let want_indexes = rand::rng().random_bool(0.5);
        for _ in 0..100 {
            if let Ok((_, _, Some(_), done, Some(total))) = watcher.1.key().await
                && (done >= total) == want_indexes
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let which = rand::rng().random_range(0..fleet.len());
        let kinds: &[&'static str] = if pg.is_some() {
            &["kill -9", "kill -STOP", "restart PostgreSQL"]
        } else {
            &["kill -9", "kill -STOP", "disk full"]
        };
        let kind = kinds[rand::rng().random_range(0..kinds.len())];
        let moment = if want_indexes {
            "while indexing"
        } else {
            "while fetching pages"
        };
        *faults.entry(kind).or_default() += 1;
        println!(
            "  {:>5.1} s  {kind} ({moment}) on replica {which}",
            args.seconds as f64 - (faults_until - Instant::now()).as_secs_f64()
        );
        match kind {
            "kill -9" => {
                set_up(&up, fleet[which].addr, false);
                if let Some(mut child) = fleet[which].child.take() {
                    let _ = child.start_kill();
                    let _ = child.wait().await;
                }
                tokio::time::sleep(Duration::from_millis(rand::rng().random_range(500..3_000)))
                    .await;
                fleet[which].child = Some(start(fleet[which].addr).await?);
                set_up(&up, fleet[which].addr, true);
            }
            "kill -STOP" => {
                set_up(&up, fleet[which].addr, false);
                if let Some(child) = &fleet[which].child {
                    signal(child, "-STOP");
                    tokio::time::sleep(Duration::from_secs(6)).await;
                    signal(child, "-CONT");
                }
                set_up(&up, fleet[which].addr, true);
            }
            "restart PostgreSQL" => {
                if let Some((version, cluster)) = &pg {
                    let _ = std::process::Command::new("pg_ctlcluster")
                        .args([version.as_str(), cluster.as_str(), "restart"])
                        .status();
                }
            }
            _ => {
                if let Some(disk) = &disk {
                    disk.fill();
                    tokio::time::sleep(Duration::from_secs(4)).await;
                    disk.free();
                }
            }
        }
        last_fault = Instant::now();
    }
    // After the last fault: how long until a complete copy?
    http.post(format!("{sandbox}/__sandbox/chaos"))
        .json(&serde_json::json!({"path_prefix": LIST, "percent": 0}))
        .send()
        .await?;
    let mut recovered = None;
    let deadline = last_fault + Duration::from_secs(300);
    while Instant::now() < deadline {
        if let Some((at, ..)) = locked(&finished).iter().find(|(at, ..)| *at > last_fault) {
            recovered = Some(*at - last_fault);
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        let _ = r.await;
    }
    let _ = watcher.0.await;
    for replica in &mut fleet {
        if let Some(mut child) = replica.child.take() {
            let _ = child.start_kill();
            let _ = child.wait().await;
        }
    }
    drop(disk);
    if let Some((admin, name)) = scratch
        && let Ok(mut c) = sqlx::PgConnection::connect(&admin).await
    {
        let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&mut c)
            .await;
    }
    let _ = std::fs::remove_dir_all(&dir);

    let lost = *locked(&lost);
    let finished = locked(&finished).clone();
    let wrong: Vec<String> = finished
        .iter()
        .filter(|(_, _, rows, distinct)| *rows != *distinct || *distinct != expected)
        .map(|(_, g, rows, distinct)| {
            format!("copy {g}: {rows} rows, {distinct} distinct of {expected}")
        })
        .collect();
    let seen = locked(&seen);
    println!();
    println!("| figure | value |");
    println!("|---|---|");
    println!(
        "| faults | {} |",
        faults
            .iter()
            .map(|(k, n)| format!("{n} × {k}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!("| visible copy lost | {:.1} s |", lost.as_secs_f64());
    println!("| copies finished | {} |", finished.len());
    println!(
        "| rows lost or duplicated in a finished copy | {} |",
        if wrong.is_empty() {
            "0".to_owned()
        } else {
            wrong.join("; ")
        }
    );
    println!(
        "| last fault to a complete copy | {} |",
        recovered.map_or_else(
            || "none within 5 minutes".to_owned(),
            |d| format!("{:.1} s", d.as_secs_f64())
        )
    );
    println!("| pages read whole | {} |", seen.ok);
    println!(
        "| requests to a replica that was down (a load balancer's job) | {} |",
        seen.unreachable
    );
    if seen.by_cause.is_empty() {
        println!("| user-visible 5xx | 0 |");
    }
    for (cause, n) in &seen.by_cause {
        println!("| user-visible {cause} | {n} |");
    }
    Ok(lost.is_zero() && wrong.is_empty() && recovered.is_some())
}

/// `m`'s value, whatever a panic elsewhere left.
fn locked<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn set_up(up: &Mutex<Vec<(SocketAddr, bool)>>, addr: SocketAddr, ok: bool) {
    for entry in locked(up).iter_mut() {
        if entry.0 == addr {
            entry.1 = ok;
        }
    }
}
