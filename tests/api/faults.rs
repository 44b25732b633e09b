//! Copies that survive faults, each reproduced the way an operator found it: a replica stalled
//! (`kill -STOP`) while it builds a copy's indexes and resumed after another took the key over;
//! SQLite on a full disk (a small filesystem the test mounts), then freed; a session store that
//! cannot save; the database cutting the copy's connections; WordPress.com failing at random
//! and on one page for a while; and a portal killed with `kill -9` in the middle of a copy.

use std::{collections::BTreeMap, time::Duration};

use partner_portal::{db::Sql, index::copies, sandbox::SandboxOptions};
use reqwest::StatusCode;
use serde_json::json;
use sqlx::Connection as _;

use crate::{
    helpers::*,
    postgres::fresh_database,
    process::{browser, kill_9, login, sandbox_with, serve_with},
    team::{csrf_of, post_as},
};

const LIST: &str = "/wpcom/v2/jetpack-partners/7/key/70/activations";

/// What no page may ever show a person: a database driver's or WordPress.com's own words.
const DRIVER_WORDS: &[&str] = &[
    "error returned from database",
    "database:",
    "terminating connection",
    "sqlx",
    "SQLITE",
    "disk I/O",
    "begin_with",
    "relation \"",
    "pool timed out",
];

fn assert_in_words(page: &str, what: &str) {
    for words in DRIVER_WORDS {
        assert!(
            !page.contains(words),
            "{what} shows a driver's text ({words}): {}",
            page.lines()
                .filter(|l| l.contains(words))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}

/// `kill -SIG pid`.
fn signal(child: &tokio::process::Child, sig: &str) {
    let pid = child.id().unwrap().to_string();
    assert!(
        std::process::Command::new("kill")
            .args([sig, &pid])
            .status()
            .unwrap()
            .success()
    );
}

/// The copy of key 70 as the database says: (visible generation, running generation, owner).
async fn key_row(pg: &mut sqlx::PgConnection) -> (i64, Option<i64>, Option<String>) {
    sqlx::query_as(
        "SELECT generation, running_generation, lease_owner FROM key_syncs WHERE key_id = 70",
    )
    .fetch_optional(&mut *pg)
    .await
    .unwrap()
    .unwrap_or((0, None, None))
}

async fn table_exists(pg: &mut sqlx::PgConnection, table: &str) -> bool {
    sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM pg_tables WHERE tablename = $1")
        .bind(table)
        .fetch_one(&mut *pg)
        .await
        .unwrap()
        > 0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stalled_replica_never_drops_the_copy_everyone_reads_on_postgres() {
    let Some(db) = fresh_database().await else {
        return;
    };
    let (port_a, port_b) = (free_port(), free_port());
    let (_sandbox, sandbox_url) = sandbox_with(port_a, &[("SANDBOX_ACTIVATIONS", "2000")]).await;
    let env = [
        ("PORTAL_INDEX_LEASE", "3s"),
        ("PORTAL_INDEX_PAGE_SIZE", "100"),
        ("PORTAL_REQUEST_TIMEOUT", "3s"),
        ("PORTAL_REFRESH_MIN_INTERVAL", "0s"),
    ];
    let _a = serve_with(port_a, port_a, &sandbox_url, &db, &env).await;
    let b = serve_with(port_b, port_a, &sandbox_url, &db, &env).await;
    let (a_url, b_url) = (
        format!("http://127.0.0.1:{port_a}"),
        format!("http://127.0.0.1:{port_b}"),
    );
    let client = browser();
    login(&client, &a_url).await;
    let mut pg = sqlx::PgConnection::connect(&db).await.unwrap();
    for _ in 0..400 {
        if key_row(&mut pg).await.0 > 0 && key_row(&mut pg).await.1.is_none() {
            break;
        }
        client
            .get(format!("{a_url}/activations"))
            .send()
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (visible, _, _) = key_row(&mut pg).await;
    assert!(visible > 0, "the first copy is visible");

    // Replica B refreshes; hold its copy at its first index build with a lock that lets rows
    // in (ROW EXCLUSIVE) but not CREATE INDEX (SHARE), and stop B there.
    let csrf = csrf_of(&b_url, &client, "/activations").await;
    let r = post_as(
        &b_url,
        &a_url,
        &client,
        "/activations/refresh",
        &csrf,
        &[("key", "70")],
    )
    .await;
    assert_eq!(
        r.status(),
        StatusCode::OK,
        "refreshed, and back on the list"
    );
    let mut running = None;
    for _ in 0..400 {
        if let (_, Some(g), Some(owner)) = key_row(&mut pg).await
            && table_exists(&mut pg, &copies::table(70, g)).await
        {
            running = Some((g, owner));
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (b_generation, b_owner) = running.expect("B's copy started");
    // Once its rows are in (the id index made), B builds the indexes every view reads: hold it
    // there with a lock that CREATE INDEX (SHARE) must wait for, and stop B.
    let table = copies::table(70, b_generation);
    let mut in_completion = false;
    for _ in 0..1_000 {
        let id_index: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM pg_indexes WHERE indexname = $1")
                .bind(format!("{table}_id"))
                .fetch_one(&mut pg)
                .await
                .unwrap();
        if id_index > 0 {
            in_completion = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(in_completion, "B stored its rows");
    let mut hold = sqlx::PgConnection::connect(&db).await.unwrap();
    sqlx::query("BEGIN").execute(&mut hold).await.unwrap();
    sqlx::query(&format!("LOCK TABLE {table} IN ROW EXCLUSIVE MODE"))
        .execute(&mut hold)
        .await
        .unwrap();
    let mut at_index = false;
    for _ in 0..600 {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' \
             AND query LIKE $1",
        )
        .bind(format!("CREATE INDEX {table}_%"))
        .fetch_one(&mut pg)
        .await
        .unwrap();
        if waiting > 0 {
            at_index = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(at_index, "B is building its indexes");
    signal(&b, "-STOP");
    sqlx::query("COMMIT").execute(&mut hold).await.unwrap();

    // A takes the key over once B's lease is over, and is still filling its copy when B comes
    // back.
    reqwest::Client::new()
        .post(format!("{sandbox_url}/__sandbox/latency"))
        .json(&json!({"path_prefix": LIST, "query_contains": "per_page=100", "ms": 400}))
        .send()
        .await
        .unwrap();
    let mut taken = false;
    for _ in 0..1_000 {
        let csrf = csrf_of(&a_url, &client, "/activations").await;
        post_as(
            &a_url,
            &a_url,
            &client,
            "/activations/refresh",
            &csrf,
            &[("key", "70")],
        )
        .await;
        let (_, running, owner) = key_row(&mut pg).await;
        if running.is_some() && owner.is_some_and(|o| o != b_owner) {
            taken = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(taken, "A took the copy over");
    signal(&b, "-CONT");

    // For longer than B's clean-up waits: both replicas keep answering from a copy.
    let mut statuses: BTreeMap<u16, usize> = BTreeMap::new();
    let until = std::time::Instant::now() + Duration::from_secs(20);
    while std::time::Instant::now() < until {
        for portal in [&a_url, &b_url] {
            let r = client
                .get(format!("{portal}/activations"))
                .send()
                .await
                .unwrap();
            let status = r.status();
            *statuses.entry(status.as_u16()).or_default() += 1;
            let body = r.text().await.unwrap();
            assert!(
                !status.is_server_error(),
                "{portal}: {status} while B came back: {}",
                texts(&html(&body), "#error-message").join(" ")
            );
            assert_in_words(&body, "a page");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (visible, running, _) = key_row(&mut pg).await;
    assert!(running.is_none(), "no copy is left running: {statuses:?}");
    assert!(
        table_exists(&mut pg, &copies::table(70, visible)).await,
        "the visible copy's table is there"
    );
    let rows: i64 = sqlx::query_scalar(&format!(
        "SELECT COUNT(DISTINCT id) FROM {}",
        copies::table(70, visible)
    ))
    .fetch_one(&mut pg)
    .await
    .unwrap();
    assert_eq!(rows, 2000, "a whole copy");
}

/// A small filesystem mounted for one test, unmounted when dropped.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    /// `None` (after a loud warning) where mounting is not allowed; a failure under CI.
    fn mount(megabytes: u32) -> Option<Self> {
        let dir = tempfile::tempdir().unwrap();
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={megabytes}m"), "tmpfs"])
            .arg(dir.path())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            assert!(
                std::env::var("CI").is_err(),
                "cannot mount a small filesystem under CI (the full-disk tests need root)"
            );
            skipped("a full-disk test: mounting a small tmpfs needs root");
            return None;
        }
        Some(Self { dir })
    }

    fn path(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// Fills the disk to the last byte with a file of its own.
    fn fill(&self) {
        use std::io::Write as _;
        let mut f = std::fs::File::create(self.path().join("filler")).unwrap();
        let block = vec![0u8; 64 * 1024];
        while f.write_all(&block).is_ok() {}
        let small = [0u8; 512];
        while f.write_all(&small).is_ok() {}
        let _ = f.sync_all();
    }

    fn free(&self) {
        std::fs::remove_file(self.path().join("filler")).unwrap();
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// Generations of key 70 whose tables are in the database.
async fn copy_generations(app: &TestApp) -> Vec<i64> {
    copies::all(&app.state.db)
        .await
        .unwrap()
        .into_iter()
        .filter(|(k, _)| *k == 70)
        .map(|(_, g)| g)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_on_a_full_disk_recovers_by_itself_once_space_is_back() {
    let Some(disk) = SmallDisk::mount(48) else {
        return;
    };
    let app = spawn_with(Options {
        database_url: Some(format!(
            "sqlite://{}",
            disk.path().join("portal.db").display()
        )),
        sandbox: SandboxOptions {
            control: true,
            activations: 20_000,
            ..SandboxOptions::default()
        },
        refresh_min_interval: Duration::ZERO,
        ..Options::default()
    })
    .await;
    app.login().await;
    app.wait_for_index(70).await;
    let first = app.state.index.state(70).await.unwrap().generation;

    // The disk fills while the next copy runs.
    disk.fill();
    let csrf = app.csrf().await;
    app.refresh_now(&csrf, "/activations").await;
    let mut state = app.state.index.state(70).await.unwrap();
    for _ in 0..600 {
        if !state.running && state.failed_at.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        state = app.state.index.state(70).await.unwrap();
    }
    assert!(!state.running, "the lease is let go at once: {state:?}");
    assert_eq!(state.generation, first, "the visible copy stays");
    assert_eq!(
        copy_generations(&app).await,
        vec![first],
        "the partial copy is gone, and with it the space it took"
    );
    let failure = state.last_error.clone().unwrap_or_default();
    assert!(failure.contains("disk"), "said in words: {failure}");
    let page = app.get("/activations").await;
    assert_eq!(
        page.status(),
        StatusCode::OK,
        "the visible copy is still read"
    );
    let page = page.text().await.unwrap();
    assert_in_words(&page, "the list on a full disk");
    let said = texts(&html(&page), "#freshness .panel-error").join(" ");
    assert!(
        said.contains(&failure),
        "the page says the new failure: {said}"
    );
    // A login on the full disk: the portal's own page, never a blank 500.
    let r = new_client()
        .get(app.url("/auth/start"))
        .send()
        .await
        .unwrap();
    assert!(
        r.status() == StatusCode::SEE_OTHER
            || r.headers()
                .get("content-type")
                .is_some_and(|t| t.to_str().unwrap().starts_with("text/html")),
        "{}: a blank answer",
        r.status()
    );
    let readyz = app.get("/readyz").await;
    let (status, body) = (readyz.status(), readyz.text().await.unwrap());
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(body.contains("disk"), "/readyz says what is wrong: {body}");

    // Space comes back: the next copy succeeds, with no restart.
    disk.free();
    app.refresh_now(&csrf, "/activations").await;
    let mut state = app.state.index.state(70).await.unwrap();
    for _ in 0..600 {
        if !state.running && state.generation != first {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        state = app.state.index.state(70).await.unwrap();
    }
    assert_ne!(state.generation, first, "a new copy: {state:?}");
    assert_eq!(state.copied_rows, Some(20_000));
    assert_eq!(state.last_error, None);
    assert_eq!(app.get("/readyz").await.status(), StatusCode::OK);
    for _ in 0..20 {
        assert_eq!(
            app.get("/activations?q=bakery").await.status(),
            StatusCode::OK
        );
    }
}

#[tokio::test]
async fn a_session_store_that_cannot_save_gives_the_portals_page_not_a_blank_500() {
    let app = spawn_app().await;
    // Every session write fails as SQLite fails on a full disk.
    app.state
        .db
        .execute(&Sql::new(
            "CREATE TRIGGER sessions_full BEFORE INSERT ON sessions \
             BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END",
        ))
        .await
        .unwrap();
    let r = app.get("/auth/start").await;
    let status = r.status();
    let kind = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body = r.text().await.unwrap();
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(kind.starts_with("text/html"), "a page, not a blank answer");
    let page = html(&body);
    assert!(!texts(&page, "#error-message").is_empty(), "{body}");
    assert!(
        !texts(&page, "#error-page code").is_empty(),
        "with the request id"
    );
    assert_in_words(&body, "the login's error page");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_database_cutting_a_copys_connections_pauses_it_in_words_and_it_resumes() {
    let Some(db) = fresh_database().await else {
        return;
    };
    let app = spawn_with(Options {
        database_url: Some(db.clone()),
        index_page_size: 10,
        sandbox: SandboxOptions {
            control: true,
            activations: 1_500,
            ..SandboxOptions::default()
        },
        ..Options::default()
    })
    .await;
    app.control(
        "latency",
        json!({"path_prefix": LIST, "query_contains": "per_page=10", "ms": 30}),
    )
    .await;
    app.login().await;
    assert_eq!(app.get("/activations").await.status(), StatusCode::OK);
    for _ in 0..200 {
        if app.state.index.state(70).await.unwrap().pages_done >= 40 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // "terminating connection due to administrator command", on every connection but ours.
    let mut pg = sqlx::PgConnection::connect(&db).await.unwrap();
    let name = url::Url::parse(&db)
        .unwrap()
        .path()
        .trim_start_matches('/')
        .to_owned();
    for _ in 0..3 {
        sqlx::query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = $1 AND pid <> pg_backend_pid()",
        )
        .bind(&name)
        .execute(&mut pg)
        .await
        .unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Every page meanwhile speaks in words, and the copy is finished without a restart.
    let mut done = false;
    for _ in 0..600 {
        let r = app.get("/activations").await;
        let body = r.text().await.unwrap();
        assert_in_words(&body, "the list after the database cut the copy off");
        let state = app.state.index.state(70).await.unwrap();
        if state.has_copy() && !state.running {
            assert_eq!(state.copied_rows, Some(1_500), "{state:?}");
            done = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(done, "the copy finished after the database came back");
}

/// The list calls of a copy in pages of `per_page`, by page number.
async fn page_fetches(app: &TestApp, per_page: u32) -> BTreeMap<u32, u64> {
    let state = app.sandbox_state().await;
    let mut out = BTreeMap::new();
    for (route, n) in state["counts"].as_object().unwrap() {
        let Some(rest) = route.strip_prefix(&format!("GET {LIST}?page=")) else {
            continue;
        };
        if let Some(page) = rest.strip_suffix(&format!("&per_page={per_page}")) {
            out.insert(page.parse().unwrap(), n.as_u64().unwrap());
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_300_page_copy_finishes_while_wordpress_com_fails_15_percent_of_calls() {
    let app = spawn_with(Options {
        index_page_size: 10,
        sandbox: SandboxOptions {
            control: true,
            activations: 3_000,
            ..SandboxOptions::default()
        },
        ..Options::default()
    })
    .await;
    app.control(
        "chaos",
        json!({"path_prefix": LIST, "percent": 15, "hang_ms": 1000}),
    )
    .await;
    app.login().await;
    let mut state = app.state.index.state(70).await.unwrap();
    for _ in 0..1_800 {
        let _ = app.get("/activations").await;
        state = app.state.index.state(70).await.unwrap();
        if state.has_copy() && !state.running {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    app.control("chaos", json!({"path_prefix": LIST, "percent": 0}))
        .await;
    assert!(state.has_copy(), "the copy finished: {state:?}");
    assert_eq!(state.copied_rows, Some(3_000));
    let fetched = page_fetches(&app, 10).await;
    assert_eq!(fetched.len(), 300, "every page");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_interrupted_at_page_200_resumes_there_and_fetches_few_pages_twice() {
    let app = spawn_with(Options {
        index_page_size: 10,
        sandbox: SandboxOptions {
            control: true,
            activations: 3_000,
            ..SandboxOptions::default()
        },
        ..Options::default()
    })
    .await;
    // Page 200 fails for as long as it takes the copy to stop.
    app.control(
        "faults",
        json!({"path_prefix": LIST, "status": 503, "count": 100_000, "query_contains": "page=200&"}),
    )
    .await;
    app.login().await;
    assert_eq!(app.get("/activations").await.status(), StatusCode::OK);
    let mut state = app.state.index.state(70).await.unwrap();
    for _ in 0..1_200 {
        state = app.state.index.state(70).await.unwrap();
        if !state.running && state.failed_at.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        !state.running && !state.has_copy(),
        "the copy paused: {state:?}"
    );
    let paused = state.last_error.clone().unwrap_or_default();
    assert!(
        paused.contains("WordPress.com") && paused.contains("page 200"),
        "said in words: {paused}"
    );
    let page = app.get("/activations").await.text().await.unwrap();
    assert_in_words(&page, "the paused copy's page");
    // WordPress.com recovers; the copy resumes by itself.
    new_client()
        .delete(format!("{}/__sandbox/faults", app.sandbox_url))
        .send()
        .await
        .unwrap();
    app.state.clock.advance(Duration::from_secs(600));
    for _ in 0..600 {
        state = app.state.index.state(70).await.unwrap();
        if state.has_copy() && !state.running {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(state.has_copy(), "the copy resumed and finished: {state:?}");
    assert_eq!(state.copied_rows, Some(3_000));
    let fetched = page_fetches(&app, 10).await;
    assert_eq!(fetched.len(), 300, "every page");
    let twice: Vec<u32> = fetched
        .iter()
        .filter(|(page, n)| **page != 200 && **n > 1)
        .map(|(page, _)| *page)
        .collect();
    assert!(twice.len() <= 6, "pages fetched twice: {twice:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_kill_9_a_sqlite_portal_resumes_its_copy_at_once_without_a_view() {
    let port = free_port();
    let (_sandbox, sandbox_url) = sandbox_with(port, &[("SANDBOX_ACTIVATIONS", "3000")]).await;
    reqwest::Client::new()
        .post(format!("{sandbox_url}/__sandbox/latency"))
        .json(&json!({"path_prefix": LIST, "query_contains": "per_page=10", "ms": 40}))
        .send()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}", dir.path().join("portal.db").display());
    let env = [("PORTAL_INDEX_PAGE_SIZE", "10")];
    let portal = format!("http://127.0.0.1:{port}");
    let mut first = serve_with(port, port, &sandbox_url, &database, &env).await;
    let client = browser();
    login(&client, &portal).await;
    client
        .get(format!("{portal}/activations"))
        .send()
        .await
        .unwrap();
    let pool = sqlx::SqlitePool::connect(&database).await.unwrap();
    let pages_done = |pool: sqlx::SqlitePool| async move {
        sqlx::query_scalar::<_, i64>("SELECT pages_done FROM key_syncs WHERE key_id = 70")
            .fetch_optional(&pool)
            .await
            .unwrap()
            .unwrap_or(0)
    };
    for _ in 0..400 {
        if pages_done(pool.clone()).await >= 150 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    kill_9(&mut first).await;
    let started = std::time::Instant::now();
    let _second = serve_with(port, port, &sandbox_url, &database, &env).await;
    // No page is opened: the portal's own schedule picks the copy up.
    let mut generation = 0;
    for _ in 0..300 {
        generation = sqlx::query_scalar::<_, i64>(
            "SELECT generation FROM key_syncs WHERE key_id = 70 AND running_generation IS NULL",
        )
        .fetch_optional(&pool)
        .await
        .unwrap()
        .unwrap_or(0);
        if generation > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(generation > 0, "the copy finished after the restart");
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "without waiting out the old lease: {:?}",
        started.elapsed()
    );
    let counts: serde_json::Value = reqwest::get(format!("{sandbox_url}/__sandbox/state"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let twice = counts["counts"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, v)| {
            k.contains("?page=") && k.ends_with("&per_page=10") && v.as_u64() > Some(1)
        })
        .count();
    assert!(twice <= 12, "{twice} pages fetched twice");
    let tables: Vec<(String,)> = sqlx::query_as(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'activations_70_%'",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert!(
        tables
            .iter()
            .all(|(t,)| t.starts_with(&copies::table(70, generation))),
        "no partial copy is left behind: {tables:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_refresh_whose_replica_dies_is_finished_by_the_other_which_says_it_waits() {
    let Some(db) = fresh_database().await else {
        return;
    };
    let (port_a, port_b) = (free_port(), free_port());
    let (_sandbox, sandbox_url) = sandbox_with(port_a, &[("SANDBOX_ACTIVATIONS", "2000")]).await;
    let env = [
        ("PORTAL_INDEX_LEASE", "4s"),
        ("PORTAL_INDEX_PAGE_SIZE", "50"),
        ("PORTAL_REFRESH_MIN_INTERVAL", "0s"),
    ];
    let mut a = serve_with(port_a, port_a, &sandbox_url, &db, &env).await;
    let _b = serve_with(port_b, port_a, &sandbox_url, &db, &env).await;
    let (a_url, b_url) = (
        format!("http://127.0.0.1:{port_a}"),
        format!("http://127.0.0.1:{port_b}"),
    );
    let client = browser();
    login(&client, &a_url).await;
    let mut pg = sqlx::PgConnection::connect(&db).await.unwrap();
    for _ in 0..400 {
        let (visible, running, _) = key_row(&mut pg).await;
        if visible > 0 && running.is_none() {
            break;
        }
        client
            .get(format!("{a_url}/activations"))
            .send()
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (first, _, _) = key_row(&mut pg).await;
    // A refresh on A, slow enough to be caught in the middle; then A dies.
    reqwest::Client::new()
        .post(format!("{sandbox_url}/__sandbox/latency"))
        .json(&json!({"path_prefix": LIST, "query_contains": "per_page=50", "ms": 150}))
        .send()
        .await
        .unwrap();
    let csrf = csrf_of(&a_url, &client, "/activations").await;
    post_as(
        &a_url,
        &a_url,
        &client,
        "/activations/refresh",
        &csrf,
        &[("key", "70")],
    )
    .await;
    for _ in 0..200 {
        let done: i64 = sqlx::query_scalar("SELECT pages_done FROM key_syncs WHERE key_id = 70")
            .fetch_one(&mut pg)
            .await
            .unwrap();
        if done >= 10 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    kill_9(&mut a).await;
    // B says what happens while the dead replica's lease runs out, in words.
    let page = client
        .get(format!("{b_url}/activations"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_in_words(&page, "B's list while A's lease runs out");
    let said = texts(&html(&page), "#freshness").join(" ");
    assert!(
        said.contains("stopped") || said.contains("another replica") || said.contains("resum"),
        "the page says what happens next: {said}"
    );
    // Nobody opens anything more: B finishes the copy by itself.
    let mut finished = false;
    for _ in 0..300 {
        let (visible, running, _) = key_row(&mut pg).await;
        if visible != first && running.is_none() {
            finished = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(finished, "the refresh was finished by the other replica");
    let (visible, _, _) = key_row(&mut pg).await;
    let rows: i64 = sqlx::query_scalar(&format!(
        "SELECT COUNT(DISTINCT id) FROM {}",
        copies::table(70, visible)
    ))
    .fetch_one(&mut pg)
    .await
    .unwrap();
    assert_eq!(rows, 2000);
    let tables: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM pg_tables WHERE tablename ~ '^activations_70_[0-9]+$'",
    )
    .fetch_one(&mut pg)
    .await
    .unwrap();
    for _ in 0..100 {
        let now: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM pg_tables WHERE tablename ~ '^activations_70_[0-9]+$'",
        )
        .fetch_one(&mut pg)
        .await
        .unwrap();
        if now == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let left: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM pg_tables WHERE tablename ~ '^activations_70_[0-9]+$'",
    )
    .fetch_one(&mut pg)
    .await
    .unwrap();
    assert_eq!(left, 1, "no partial copy left behind (was {tables})");
}

#[tokio::test]
async fn a_transaction_sqlite_rolled_back_by_itself_leaves_no_broken_connection_behind() {
    // On a full disk SQLite may roll a whole transaction back on its own (SQLITE_FULL, as
    // `RAISE(ROLLBACK)` does here on purpose). The connection must not go back to the pool
    // believing a transaction is still open: with one connection, every later transaction
    // would fail ("attempted to call begin_with at non-zero transaction depth").
    use partner_portal::db::{Db, Purpose};
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("p.db").display());
    let db = Db::open(&url, 1, Purpose::Index).await.unwrap();
    for sql in [
        "CREATE TABLE t (n INTEGER)",
        "CREATE TABLE full_now (n INTEGER)",
        "INSERT INTO full_now VALUES (1)",
        "CREATE TRIGGER t_full BEFORE INSERT ON t WHEN (SELECT COUNT(*) FROM full_now) > 0 \
         BEGIN SELECT RAISE(ROLLBACK, 'database or disk is full'); END",
    ] {
        db.execute(&Sql::new(sql)).await.unwrap();
    }
    let failed = db
        .transaction(&[Sql::new("INSERT INTO t VALUES (1)")])
        .await
        .unwrap_err();
    assert!(failed.to_string().contains("full"), "{failed}");
    // Space is back.
    db.execute(&Sql::new("DELETE FROM full_now")).await.unwrap();
    for n in 0..5 {
        db.transaction(&[Sql::new("INSERT INTO t VALUES (2)")])
            .await
            .unwrap_or_else(|e| panic!("transaction {n} after the rollback: {e}"));
    }
    let rows = db
        .fetch_ints(&Sql::new("SELECT COUNT(*) FROM t"), 1)
        .await
        .unwrap();
    assert_eq!(rows, vec![5]);
}
