//! The real binary as separate processes: SIGTERM drains and exits 0; sessions survive
//! `kill -9` and a restart on SQLite and PostgreSQL; two processes share one PostgreSQL;
//! `check-config` answers for CI and container start-up.

use std::{process::Stdio, time::Duration};

use reqwest::StatusCode;

use crate::{helpers::*, postgres::fresh_database};

const KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

pub fn command(args: &[&str]) -> tokio::process::Command {
    let mut cmd = portal_command();
    cmd.args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    cmd
}

pub async fn wait_ready(url: &str) {
    for _ in 0..200 {
        if reqwest::get(format!("{url}/readyz"))
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{url} never became ready");
}

/// A sandbox process that auto-approves the partner owner for portals on `portal_port`.
pub async fn sandbox(portal_port: u16) -> (tokio::process::Child, String) {
    sandbox_with(portal_port, &[]).await
}

/// [`sandbox`] with more `SANDBOX_*` settings.
pub async fn sandbox_with(
    portal_port: u16,
    env: &[(&str, &str)],
) -> (tokio::process::Child, String) {
    let port = free_port();
    let child = command(&["sandbox"])
        .envs(env.iter().copied())
        .env("PORTAL_SANDBOX_LISTEN", format!("127.0.0.1:{port}"))
        .env(
            "SANDBOX_REDIRECT_URI",
            format!("http://127.0.0.1:{portal_port}/auth/callback"),
        )
        .env("SANDBOX_AUTO_APPROVE_USER", "1001")
        .env("SANDBOX_CONTROL", "true")
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}");
    for _ in 0..200 {
        if reqwest::get(format!("{url}/__sandbox/state")).await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (child, url)
}

/// A `serve` process on `port`. Every replica shares the public URL of port `public_port`, as
/// replicas behind one load balancer do.
pub async fn serve(
    port: u16,
    public_port: u16,
    sandbox: &str,
    database: &str,
) -> tokio::process::Child {
    serve_with(port, public_port, sandbox, database, &[]).await
}

/// [`serve`] with more `PORTAL_*` settings.
pub async fn serve_with(
    port: u16,
    public_port: u16,
    sandbox: &str,
    database: &str,
    env: &[(&str, &str)],
) -> tokio::process::Child {
    let child = command(&["serve"])
        .env("PORTAL_LISTEN", format!("127.0.0.1:{port}"))
        .env(
            "PORTAL_PUBLIC_URL",
            format!("http://127.0.0.1:{public_port}"),
        )
        .env("PORTAL_WPCOM_URL", sandbox)
        .env("PORTAL_WPCOM_CLIENT_ID", "11111")
        .env("PORTAL_WPCOM_CLIENT_SECRET", "fake-secret")
        .env("PORTAL_DATABASE_URL", database)
        .env("PORTAL_SESSION_KEY", KEY)
        .env("PORTAL_SHUTDOWN_GRACE", "5s")
        .envs(env.iter().copied())
        .spawn()
        .unwrap();
    wait_ready(&format!("http://127.0.0.1:{port}")).await;
    child
}

pub fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap()
}

/// Logs in by following the redirects (the sandbox auto-approves).
pub async fn login(client: &reqwest::Client, portal: &str) {
    let r = client
        .get(format!("{portal}/auth/start"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.url().path(), "/");
}

pub async fn kill_9(child: &mut tokio::process::Child) {
    child.start_kill().unwrap();
    child.wait().await.unwrap();
}

async fn sessions_survive_kill_9(database: String) {
    let port = free_port();
    let (_sandbox, sandbox_url) = sandbox(port).await;
    let portal = format!("http://127.0.0.1:{port}");
    let mut first = serve(port, port, &sandbox_url, &database).await;
    let client = browser();
    login(&client, &portal).await;
    kill_9(&mut first).await;
    let _second = serve(port, port, &sandbox_url, &database).await;
    let r = client
        .get(format!("{portal}/invoices"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        (r.status(), r.url().path()),
        (StatusCode::OK, "/invoices"),
        "still logged in after kill -9 and a restart"
    );
}

#[tokio::test]
async fn sessions_survive_kill_9_and_a_restart_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    sessions_survive_kill_9(format!(
        "sqlite://{}",
        dir.path().join("portal.db").display()
    ))
    .await;
    // The file is intact.
    let url = format!("sqlite://{}", dir.path().join("portal.db").display());
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    let check: (String,) = sqlx::query_as("PRAGMA integrity_check")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(check.0, "ok");
}

#[tokio::test]
async fn sessions_survive_kill_9_and_a_restart_on_postgres() {
    let Some(db) = fresh_database().await else {
        return;
    };
    sessions_survive_kill_9(db).await;
}

#[tokio::test]
async fn two_processes_on_one_postgres_share_login_browsing_and_logout() {
    let Some(db) = fresh_database().await else {
        return;
    };
    let (port_a, port_b) = (free_port(), free_port());
    let (_sandbox, sandbox_url) = sandbox(port_a).await;
    let _a = serve(port_a, port_a, &sandbox_url, &db).await;
    let _b = serve(port_b, port_a, &sandbox_url, &db).await;
    let (a, b) = (
        format!("http://127.0.0.1:{port_a}"),
        format!("http://127.0.0.1:{port_b}"),
    );
    let session = login_capturing_cookie(&a).await;
    let (on_a, on_b) = (client_with_cookie(&session), client_with_cookie(&session));
    assert_eq!(
        on_a.get(format!("{a}/invoices"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK,
        "logged in through the first"
    );
    let page = on_b.get(format!("{b}/invoices")).send().await.unwrap();
    assert_eq!(
        page.status(),
        StatusCode::OK,
        "browsing through the second process"
    );
    let csrf = attrs(
        &html(&page.text().await.unwrap()),
        "form.logout input[name=csrf]",
        "value",
    )
    .remove(0);
    let r = on_b
        .post(format!("{b}/logout"))
        .form(&[("csrf", csrf)])
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::SEE_OTHER,
        "logged out through the second"
    );
    let r = on_a.get(format!("{a}/invoices")).send().await.unwrap();
    assert_eq!(
        r.status(),
        StatusCode::SEE_OTHER,
        "and the session is gone on the first"
    );
}

/// Logs in at `portal` following the redirects by hand; returns the session cookie.
async fn login_capturing_cookie(portal: &str) -> String {
    let plain = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut cookie = String::new();
    let mut next = format!("{portal}/auth/start");
    for _ in 0..5 {
        let mut req = plain.get(&next);
        if !cookie.is_empty() && next.starts_with(portal) {
            req = req.header("cookie", cookie.clone());
        }
        let r = req.send().await.unwrap();
        if let Some(c) = session_cookie(&r) {
            cookie = c;
        }
        let Some(location) = r.headers().get("location") else {
            break;
        };
        let location = location.to_str().unwrap();
        next = if location.starts_with("http") {
            location.to_owned()
        } else {
            format!("{portal}{location}")
        };
    }
    assert!(!cookie.is_empty(), "no session cookie");
    cookie
}

#[tokio::test]
async fn sigterm_lets_in_flight_requests_finish_then_exits_zero() {
    let port = free_port();
    let (_sandbox, sandbox_url) = sandbox(port).await;
    let dir = tempfile::tempdir().unwrap();
    let mut child = serve(
        port,
        port,
        &sandbox_url,
        &format!("sqlite://{}", dir.path().join("p.db").display()),
    )
    .await;
    let portal = format!("http://127.0.0.1:{port}");
    let client = browser();
    login(&client, &portal).await;
    reqwest::Client::new()
        .post(format!("{sandbox_url}/__sandbox/latency"))
        .json(&serde_json::json!({"path_prefix": "/wpcom/v2/jetpack-partners/7/key/70/stripe", "ms": 1500}))
        .send()
        .await
        .unwrap();
    let slow = tokio::spawn({
        let client = client.clone();
        let url = format!("{portal}/invoices");
        async move { client.get(url).send().await.unwrap().status() }
    });
    // A socket that has sent nothing yet (the header timeout is 10 s).
    let mut silent = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let pid = child.id().unwrap().to_string();
    let termed = std::time::Instant::now();
    assert!(
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let mut byte = [0u8; 1];
    let closed = tokio::time::timeout(
        Duration::from_secs(5),
        tokio::io::AsyncReadExt::read(&mut silent, &mut byte),
    )
    .await;
    assert!(
        matches!(closed, Ok(Ok(0)) | Ok(Err(_))),
        "the silent socket is closed at the shutdown, not after the header timeout: {closed:?}"
    );
    assert!(termed.elapsed() < Duration::from_secs(5));
    assert_eq!(
        slow.await.unwrap(),
        StatusCode::OK,
        "the in-flight request completed"
    );
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "exit status {status}");
}

#[tokio::test]
async fn healthcheck_asks_a_running_portal() {
    let port = free_port();
    let (_sandbox, sandbox_url) = sandbox(port).await;
    let dir = tempfile::tempdir().unwrap();
    let _portal = serve(
        port,
        port,
        &sandbox_url,
        &format!("sqlite://{}", dir.path().join("h.db").display()),
    )
    .await;
    let ok = command(&["healthcheck"])
        .env("PORTAL_LISTEN", format!("0.0.0.0:{port}"))
        .status()
        .await
        .unwrap();
    assert!(ok.success(), "healthy portal");
    let down = command(&["healthcheck"])
        .env("PORTAL_LISTEN", format!("127.0.0.1:{}", free_port()))
        .status()
        .await
        .unwrap();
    assert!(!down.success(), "nothing listening");
}

#[tokio::test]
async fn check_config_validates_and_reaches_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let ok = command(&["check-config"])
        .env("PORTAL_WPCOM_CLIENT_ID", "1")
        .env("PORTAL_WPCOM_CLIENT_SECRET", "s")
        .env("PORTAL_SESSION_KEY", KEY)
        .env(
            "PORTAL_DATABASE_URL",
            format!("sqlite://{}", dir.path().join("c.db").display()),
        )
        .status()
        .await
        .unwrap();
    assert!(ok.success());
    assert!(
        !dir.path().join("c.db").exists(),
        "check-config checks; it does not create the database"
    );
    let bad = command(&["check-config"])
        .env("PORTAL_WPCOM_CLIENT_ID", "1")
        .env("PORTAL_WPCOM_CLIENT_SECRET", "s")
        .env("PORTAL_SESSION_KEY", KEY)
        .env(
            "PORTAL_DATABASE_URL",
            "postgres://nobody:wrong@127.0.0.1:1/none",
        )
        .stderr(Stdio::piped())
        .output()
        .await
        .unwrap();
    assert!(!bad.status.success());
    let stderr = String::from_utf8(bad.stderr).unwrap();
    assert!(stderr.contains("PORTAL_DATABASE_URL"), "{stderr}");
}

/// Two `serve` processes on one SQLite file: the one holding the lock file keeps sessions and
/// state in memory only while no other process uses the file, so a logout through the second
/// takes effect on the first at its next request (as on PostgreSQL).
#[tokio::test]
async fn a_logout_through_a_second_process_on_the_sqlite_file_ends_the_session_on_the_first() {
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}", dir.path().join("portal.db").display());
    let (port, port_b) = (free_port(), free_port());
    let (_sandbox, sandbox_url) = sandbox(port).await;
    let first = format!("http://127.0.0.1:{port}");
    let _first = serve(port, port, &sandbox_url, &database).await;
    let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
    let client = reqwest::Client::builder()
        .cookie_provider(jar.clone())
        .build()
        .unwrap();
    login(&client, &first).await;
    // The session's cookie, to send again after the logout clears it in the browser.
    let cookie = {
        use reqwest::cookie::CookieStore as _;
        jar.cookies(&first.parse().unwrap()).unwrap()
    };
    // The key's copy (started by the overview) done, and its writes over: the first process
    // answers from memory now.
    tokio::time::sleep(Duration::from_secs(2)).await;
    for _ in 0..3 {
        let r = client
            .get(format!("{first}/invoices"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
    }
    let _second = serve(port_b, port, &sandbox_url, &database).await;
    let csrf = crate::team::csrf_of(&first, &client, "/invoices").await;
    let r = client
        .post(format!("http://127.0.0.1:{port_b}/logout"))
        .form(&[("csrf", csrf)])
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    let r = browser()
        .get(format!("{first}/invoices"))
        .header(reqwest::header::COOKIE, cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.url().path(),
        "/login",
        "the session logged out through the second process still opens pages on the first"
    );
}
