//! One user must never take the portal away from the others (issue 11): slow downloads, silent
//! and idle connections, connection floods, bursts, cross-site signals, framework rejections,
//! repeated refreshes, and what the store keeps of a session.

use std::time::{Duration, Instant};

use partner_portal::{
    db::{Bind, Sql},
    sandbox::SandboxOptions,
};
use reqwest::StatusCode;
use serde_json::json;
use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::TcpStream,
};

use crate::helpers::*;

/// Logs a fresh client in and returns it with its `portal_session=…` cookie.
async fn login_with_cookie(app: &TestApp) -> (reqwest::Client, String) {
    let client = new_client();
    let r = app.login_with(&client, 1001, None).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let cookie = session_cookie(&r).expect("a session cookie");
    (client, cookie)
}

fn host(app: &TestApp) -> String {
    app.addr.trim_start_matches("http://").to_owned()
}

/// A raw connection that sends `GET path` with `cookie`. Its receive buffer is small, as a
/// slow client's would be, so loopback's large buffers cannot absorb a whole download.
async fn raw_get(app: &TestApp, path: &str, cookie: &str) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut s = socket.connect(host(app).parse().unwrap()).await.unwrap();
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: {}\r\nCookie: {cookie}\r\n\r\n",
        host(app)
    );
    s.write_all(req.as_bytes()).await.unwrap();
    s
}

/// Reads until the server closes the connection (or `limit` passes); `None` if still open.
async fn read_to_close(s: &mut TcpStream, limit: Duration) -> Option<usize> {
    let mut total = 0;
    let mut buf = vec![0u8; 64 * 1024];
    let deadline = Instant::now() + limit;
    loop {
        let left = deadline.checked_duration_since(Instant::now())?;
        match tokio::time::timeout(left, s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return Some(total),
            Ok(Ok(n)) => total += n,
            Err(_) => return None,
        }
    }
}

#[tokio::test]
async fn stalled_csv_downloads_hold_no_connection_and_starve_no_one() {
    let app = spawn_with(Options {
        sandbox: SandboxOptions {
            activations: 30_000,
            control: true,
            ..SandboxOptions::default()
        },
        database_pool: 2,
        session_pool: 2,
        max_exports: 8,
        max_exports_per_session: 8,
        write_stall_timeout: Duration::from_secs(3),
        ..Options::default()
    })
    .await;
    let (_, cookie) = login_with_cookie(&app).await;
    app.login().await;
    app.wait_for_index(70).await;
    let full = app
        .get("/activations.csv")
        .await
        .bytes()
        .await
        .unwrap()
        .len();
    // Eight downloads of ~5 MB that read one kilobyte each, then stop reading.
    let mut stalled = Vec::new();
    for _ in 0..8 {
        let mut s = raw_get(&app, "/activations.csv", &cookie).await;
        let mut first = [0u8; 1024];
        s.read_exact(&mut first).await.unwrap();
        assert!(first.starts_with(b"HTTP/1.1 200"));
        stalled.push(s);
    }
    // Everyone else's pages answer at once, for as long as the downloads stall.
    let other = new_client();
    app.login_with(&other, 1001, None).await;
    for path in ["/", "/activations", "/activations?q=bakery", "/invoices"] {
        let started = Instant::now();
        let r = app.get_with(&other, path).await;
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{path} took {:?}",
            started.elapsed()
        );
    }
    // The server drops clients that stopped reading (3 s here), before the whole file was sent.
    tokio::time::sleep(Duration::from_secs(5)).await;
    for mut s in stalled {
        let got = read_to_close(&mut s, Duration::from_secs(20))
            .await
            .expect("the stalled download is cut off");
        assert!(
            got + 1024 + 512 < full,
            "cut off mid-file: {got} more bytes of {full}"
        );
    }
    // Their slots are free again: a whole download works, every row in it.
    let csv = app.get("/activations.csv").await.text().await.unwrap();
    assert_eq!(csv.lines().count(), 30_001);
}

#[tokio::test]
async fn exports_are_bounded_per_session_with_a_429_that_says_why() {
    let app = spawn_with(Options {
        sandbox: SandboxOptions {
            activations: 30_000,
            control: true,
            ..SandboxOptions::default()
        },
        max_exports_per_session: 1,
        ..Options::default()
    })
    .await;
    let (client, cookie) = login_with_cookie(&app).await;
    app.wait_for_index_with(&client, 70).await;
    let mut first = raw_get(&app, "/activations.csv", &cookie).await;
    let mut head = [0u8; 512];
    first.read_exact(&mut head).await.unwrap();
    let r = app.get_with(&client, "/activations.csv").await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(r.headers()["retry-after"], "10");
    let doc = html(&r.text().await.unwrap());
    assert_eq!(texts(&doc, "h1"), vec!["Too many downloads at once"]);
    // Another user is not affected.
    let other = new_client();
    app.login_with(&other, 1001, None).await;
    let r = app.get_with(&other, "/activations.csv").await;
    assert_eq!(r.status(), StatusCode::OK);
    drop(first);
}

#[tokio::test]
async fn a_connection_that_never_speaks_is_closed_after_the_header_timeout() {
    let app = spawn_with(Options {
        header_read_timeout: Duration::from_secs(1),
        ..Options::default()
    })
    .await;
    let mut s = TcpStream::connect(host(&app)).await.unwrap();
    assert_eq!(
        read_to_close(&mut s, Duration::from_secs(5)).await,
        Some(0),
        "closed without a word"
    );
}

#[tokio::test]
async fn a_request_head_that_stops_halfway_is_closed_after_the_header_timeout() {
    let app = spawn_with(Options {
        header_read_timeout: Duration::from_secs(1),
        ..Options::default()
    })
    .await;
    let mut s = TcpStream::connect(host(&app)).await.unwrap();
    // The first bytes come at once, the rest never (slowloris): the idle timeout (60 s) must
    // not be what closes it.
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    assert!(
        read_to_close(&mut s, Duration::from_secs(5))
            .await
            .is_some(),
        "still open 5 s after its first bytes"
    );
    assert!(started.elapsed() >= Duration::from_millis(800));
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed() {
    let app = spawn_with(Options {
        idle_connection_timeout: Duration::from_secs(1),
        ..Options::default()
    })
    .await;
    let mut s = TcpStream::connect(host(&app)).await.unwrap();
    let req = format!("GET /healthz HTTP/1.1\r\nHost: {}\r\n\r\n", host(&app));
    s.write_all(req.as_bytes()).await.unwrap();
    let mut buf = [0u8; 256];
    let n = s.read(&mut buf).await.unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    // Kept alive, then closed once idle.
    let started = Instant::now();
    assert!(
        read_to_close(&mut s, Duration::from_secs(5))
            .await
            .is_some()
    );
    assert!(started.elapsed() >= Duration::from_millis(800));
}

#[tokio::test]
async fn connections_over_the_cap_are_closed_at_once_and_the_cap_frees_up() {
    let app = spawn_with(Options {
        max_connections: Some(3),
        ..Options::default()
    })
    .await;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(TcpStream::connect(host(&app)).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut extra = TcpStream::connect(host(&app)).await.unwrap();
    assert_eq!(
        read_to_close(&mut extra, Duration::from_secs(2)).await,
        Some(0),
        "refused cheaply"
    );
    drop(held);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn health_and_readiness_are_never_shed_in_a_burst() {
    let app = spawn_with(Options {
        max_concurrent: 1,
        ..Options::default()
    })
    .await;
    app.login().await;
    app.control(
        "latency",
        json!({"path_prefix": "/wpcom/v2/jetpack-partners/7/key/70/stripe", "ms": 1500}),
    )
    .await;
    let slow = {
        let client = app.client.clone();
        let url = app.url("/invoices");
        tokio::spawn(async move { client.get(url).send().await.unwrap().status() })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        app.get("/login").await.status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);
    assert_eq!(app.get("/readyz").await.status(), StatusCode::OK);
    assert_eq!(slow.await.unwrap(), StatusCode::OK);
}

#[tokio::test]
async fn the_store_keeps_a_hash_of_each_session_id_never_the_id() {
    let app = spawn_app().await;
    let (_, cookie) = login_with_cookie(&app).await;
    let id = cookie.split_once('=').unwrap().1.to_owned();
    let mut sql = Sql::new("SELECT COUNT(*) FROM sessions WHERE id = ");
    sql.bind(Bind::Text(id.clone()));
    assert_eq!(app.state.db.fetch_ints(&sql, 1).await.unwrap(), vec![0]);
    let bytes = std::fs::read(&app.db_path).unwrap();
    let wal = std::fs::read(app.db_path.with_extension("db-wal")).unwrap_or_default();
    for file in [&bytes, &wal] {
        assert!(
            !file.windows(id.len()).any(|w| w == id.as_bytes()),
            "the raw session id is in the database file"
        );
    }
    // The session still works: it is found by its hash.
    assert_eq!(
        client_with_cookie(&cookie)
            .get(app.url("/"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn explicit_cross_site_signals_are_refused_even_with_a_valid_token() {
    let app = spawn_app().await;
    app.login().await;
    let csrf = app.csrf().await;
    let post = |headers: Vec<(&'static str, String)>| {
        let mut r = app
            .client
            .post(app.url("/logout"))
            .form(&[("csrf", csrf.as_str())]);
        for (k, v) in headers {
            r = r.header(k, v);
        }
        r.send()
    };
    for (case, headers) in [
        ("Origin: null alone", vec![("origin", "null".to_owned())]),
        (
            "a cross-site Referer without Origin",
            vec![("referer", "https://evil.example/page".to_owned())],
        ),
        (
            "Sec-Fetch-Site: cross-site",
            vec![("sec-fetch-site", "cross-site".to_owned())],
        ),
        (
            "a foreign Origin",
            vec![("origin", "https://evil.example".to_owned())],
        ),
        (
            "Origin: null from a same-site page",
            vec![
                ("origin", "null".to_owned()),
                ("sec-fetch-site", "same-site".to_owned()),
            ],
        ),
    ] {
        let r = post(headers).await.unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{case}");
    }
    // What browsers send for our own form (Referrer-Policy: no-referrer) is accepted.
    let r = post(vec![
        ("origin", "null".to_owned()),
        ("sec-fetch-site", "same-origin".to_owned()),
    ])
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn framework_rejections_are_the_portals_own_pages_and_never_echo_input() {
    let app = spawn_app().await;
    app.login().await;
    app.wait_for_index(70).await;
    let csrf = app.csrf().await;
    let probes = [
        app.get("/activations/not-a-number%3Cb%3E").await,
        app.client
            .post(app.url("/logout"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("csrf={csrf}&csrf=dup"))
            .send()
            .await
            .unwrap(),
        app.client
            .post(app.url("/logout"))
            .header("content-type", "text/x-evil")
            .body("evil=1")
            .send()
            .await
            .unwrap(),
        app.client
            .put(app.url("/activations"))
            .send()
            .await
            .unwrap(),
    ];
    for (i, r) in probes.into_iter().enumerate() {
        let status = r.status();
        assert!(
            status == StatusCode::BAD_REQUEST || status == StatusCode::METHOD_NOT_ALLOWED,
            "probe {i}: {status}"
        );
        assert!(r.headers().contains_key("x-request-id"));
        assert!(
            r.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
        let body = r.text().await.unwrap();
        for echo in [
            "not-a-number",
            "Cannot parse",
            "duplicate field",
            "x-evil",
            "<b>",
        ] {
            assert!(!body.contains(echo), "probe {i} echoes {echo:?}");
        }
        let doc = html(&body);
        assert!(
            !texts(&doc, "header.top").is_empty(),
            "probe {i}: the layout"
        );
        assert!(
            texts(&doc, ".error-page .muted")[0].contains("request id"),
            "probe {i}: the request id"
        );
    }
}

#[tokio::test]
async fn refresh_now_is_ignored_while_a_copy_is_fresh_and_says_so() {
    let app = spawn_with(Options {
        refresh_min_interval: Duration::from_secs(60),
        ..Options::default()
    })
    .await;
    app.login().await;
    app.wait_for_index(70).await;
    let calls = app
        .count("GET /wpcom/v2/jetpack-partners/7/key/70/activations")
        .await;
    let csrf = app.csrf().await;
    for _ in 0..10 {
        let r = app.refresh_now(&csrf, "/activations?page=1").await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert_eq!(location(&r), "/activations?page=1&refresh=recent");
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        app.count("GET /wpcom/v2/jetpack-partners/7/key/70/activations")
            .await,
        calls,
        "ten clicks, no new copy"
    );
    let doc = html(
        &app.get("/activations?page=1&refresh=recent")
            .await
            .text()
            .await
            .unwrap(),
    );
    assert_eq!(
        texts(&doc, "#refresh-skipped"),
        vec![
            "This key's copy was refreshed less than 1 minute ago, so it was not refreshed again."
        ]
    );
}

#[tokio::test]
async fn a_non_ascii_next_path_is_percent_encoded_in_location() {
    let app = spawn_app().await;
    let r = app
        .login_with(&new_client(), 1001, Some("/activations?q=Café"))
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/activations?q=Caf%C3%A9");
}

#[tokio::test]
async fn with_a_zero_recheck_a_revoked_token_ends_pages_and_csvs_at_once() {
    let app = spawn_with(Options {
        access_recheck: Duration::ZERO,
        ..Options::default()
    })
    .await;
    app.login().await;
    app.wait_for_index(70).await;
    app.control("tokens/revoke", json!({"all": true})).await;
    for path in ["/activations", "/activations.csv"] {
        let r = app.get(path).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{path}");
        assert!(location(&r).starts_with("/login"), "{path}");
    }
}

#[tokio::test]
async fn the_summary_proxy_checks_the_key_like_the_other_three() {
    let app = spawn_app().await;
    app.login().await;
    for route in [
        "/api/v1/activations",
        "/api/v1/activations/summary",
        "/api/v1/invoices",
        "/api/v1/invoices/upcoming",
    ] {
        let r = app.get(&format!("{route}?key=99")).await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{route}");
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["error"], "not_found", "{route}");
    }
    assert_eq!(
        app.count("GET /wpcom/v2/jetpack-partners/activations")
            .await,
        0
    );
}
