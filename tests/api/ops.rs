//! Operating it: health and readiness, request limits, load shedding, deadlines, the
//! header-read timeout, login rate limits, and session data encrypted at rest.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::helpers::*;

#[tokio::test]
async fn health_and_readiness_answer_without_a_session() {
    let app = spawn_app().await;
    let r = app.get("/healthz").await;
    assert_eq!(
        (r.status(), r.text().await.unwrap()),
        (StatusCode::OK, "ok".to_owned())
    );
    let r = app.get("/readyz").await;
    assert_eq!(
        (r.status(), r.text().await.unwrap()),
        (StatusCode::OK, "ready".to_owned())
    );
    assert_eq!(app.live_sessions().await, 0, "probes create no sessions");
    app.state
        .draining
        .store(true, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(
        app.get("/readyz").await.status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn oversized_uris_headers_and_bodies_are_refused() {
    let app = spawn_app().await;
    let long = "x".repeat(9000);
    assert_eq!(
        app.get(&format!("/login?next=/{long}")).await.status(),
        StatusCode::URI_TOO_LONG
    );
    let r = new_client()
        .get(app.url("/login"))
        .header("x-big", "y".repeat(70 * 1024))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    app.login().await;
    let r = app
        .client
        .post(app.url("/logout"))
        .body(format!("csrf={}", "z".repeat(20 * 1024)))
        .header("content-type", "application/x-www-form-urlencoded")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        app.get("/").await.status(),
        StatusCode::OK,
        "still logged in"
    );
}

#[tokio::test]
async fn load_beyond_the_concurrency_limit_is_shed_with_503_and_retry_after() {
    let app = spawn_with(Options {
        max_concurrent: 2,
        ..Options::default()
    })
    .await;
    app.login().await;
    app.control(
        "latency",
        serde_json::json!({"path_prefix": "/wpcom/v2/jetpack-partners/7/key/70/stripe", "ms": 800}),
    )
    .await;
    let mut requests = Vec::new();
    for _ in 0..6 {
        let (client, url) = (app.client.clone(), app.url("/invoices"));
        requests.push(tokio::spawn(async move {
            let r = client.get(url).send().await.unwrap();
            (
                r.status(),
                r.headers()
                    .get("retry-after")
                    .map(|v| v.to_str().unwrap().to_owned()),
            )
        }));
    }
    let mut ok = 0;
    let mut shed = 0;
    for r in requests {
        match r.await.unwrap() {
            (StatusCode::OK, _) => ok += 1,
            (StatusCode::SERVICE_UNAVAILABLE, Some(retry)) if retry == "1" => shed += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(ok, 2, "two slots");
    assert_eq!(shed, 4, "the rest are refused at once, not queued");
}

#[tokio::test]
async fn a_request_past_its_deadline_gets_503() {
    let app = spawn_with(Options {
        request_timeout: Duration::from_secs(1),
        ..Options::default()
    })
    .await;
    app.login().await;
    app.control("latency", serde_json::json!({"path_prefix": "/wpcom/v2/jetpack-partners/7/key/70/stripe", "ms": 3000})).await;
    let started = Instant::now();
    let r = app.get("/invoices").await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(started.elapsed() < Duration::from_millis(2500));
    assert!(r.headers().contains_key("x-request-id"));
}

#[tokio::test]
async fn a_client_that_sends_headers_slowly_is_cut_off() {
    let app = spawn_with(Options {
        header_read_timeout: Duration::from_secs(1),
        ..Options::default()
    })
    .await;
    let addr = app.addr.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut buf)).await;
    assert!(read.is_ok(), "the server closed the connection");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    let text = String::from_utf8_lossy(&buf);
    assert!(buf.is_empty() || text.starts_with("HTTP/1.1 408"), "{text}");
}

#[tokio::test]
async fn starting_logins_is_rate_limited_per_client_address() {
    let app = spawn_with(Options {
        login_rate_per_minute: 5,
        ..Options::default()
    })
    .await;
    for _ in 0..5 {
        assert_eq!(
            new_client()
                .get(app.url("/auth/start"))
                .send()
                .await
                .unwrap()
                .status(),
            StatusCode::SEE_OTHER
        );
    }
    let r = new_client()
        .get(app.url("/auth/start"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(
        r.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            >= 1
    );
    assert_eq!(
        texts(&html(&r.text().await.unwrap()), "h1"),
        vec!["Too many login attempts"]
    );
    // Forwarded addresses do not count from an untrusted peer.
    let r = new_client()
        .get(app.url("/auth/start"))
        .header("x-forwarded-for", "203.0.113.7")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    // The login page itself is not limited.
    assert_eq!(
        new_client()
            .get(app.url("/login"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_limit() {
    let app = spawn_with(Options {
        login_rate_per_minute: 2,
        trusted_proxies: "127.0.0.1/32".into(),
        ..Options::default()
    })
    .await;
    for client in ["198.51.100.1", "198.51.100.2", "198.51.100.3"] {
        for _ in 0..2 {
            let r = new_client()
                .get(app.url("/auth/start"))
                .header("x-forwarded-for", client)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::SEE_OTHER, "{client}");
        }
    }
    let r = new_client()
        .get(app.url("/auth/start"))
        .header("x-forwarded-for", "198.51.100.1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn the_session_store_holds_no_readable_token() {
    let app = spawn_app().await;
    app.login().await;
    assert_eq!(app.get("/").await.status(), StatusCode::OK);
    let token = app.sandbox.issued_tokens().remove(0);
    // Checkpoint the WAL so every byte is in the main file, then read the files.
    if let Some(pool) = app.state.db.sqlite_pool() {
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(pool)
            .await
            .unwrap();
    }
    let mut bytes = std::fs::read(&app.db_path).unwrap();
    bytes.extend(std::fs::read(app.db_path.with_extension("db-wal")).unwrap_or_default());
    let text = String::from_utf8_lossy(&bytes);
    assert!(
        !text.contains(&token),
        "the bearer token is readable in the database file"
    );
    assert!(
        !text.contains("hostadmin"),
        "session data is encrypted as a whole"
    );
}

#[tokio::test]
async fn metrics_are_off_unless_enabled_then_count_requests_upstream_calls_cache_and_syncs() {
    let off = spawn_app().await;
    assert_eq!(off.get("/metrics").await.status(), StatusCode::NOT_FOUND);

    let app = spawn_with(Options {
        metrics: "on".into(),
        ..Options::default()
    })
    .await;
    app.login().await;
    app.wait_for_index(70).await;
    // The registry is shared by every test in this binary: compare with a baseline.
    let value = |text: &str, series: &str| -> f64 {
        text.lines()
            .find(|l| l.starts_with(series))
            .and_then(|l| l.rsplit(' ').next())
            .map_or(0.0, |v| v.parse().unwrap())
    };
    let before = app.get("/metrics").await.text().await.unwrap();
    app.get("/invoices").await;
    app.get("/invoices").await;
    let r = app.get("/metrics").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let text = r.text().await.unwrap();
    for expected in [
        r#"portal_http_requests_total{route="/invoices",method="GET",status="200"}"#,
        r#"portal_http_request_duration_seconds_bucket{route="/activations",le="+Inf"}"#,
        r#"portal_upstream_calls_total{endpoint="invoices",outcome="200"}"#,
        r#"portal_upstream_calls_total{endpoint="token",outcome="200"}"#,
        r#"portal_cache_requests_total{endpoint="invoices",result="miss"}"#,
        r#"portal_cache_requests_total{endpoint="invoices",result="hit"}"#,
        r#"portal_index_syncs_total{outcome="completed"}"#,
        "# TYPE portal_sessions_active gauge",
    ] {
        assert!(text.contains(expected), "missing {expected}");
    }
    for (series, at_least) in [
        (
            r#"portal_http_requests_total{route="/invoices",method="GET",status="200"}"#,
            2.0,
        ),
        (
            r#"portal_upstream_calls_total{endpoint="invoices",outcome="200"}"#,
            1.0,
        ),
        (
            r#"portal_cache_requests_total{endpoint="invoices",result="hit"}"#,
            1.0,
        ),
    ] {
        let grew = value(&text, series) - value(&before, series);
        assert!(grew >= at_least, "{series} grew by {grew}");
    }
    let sessions: f64 = text
        .lines()
        .find(|l| l.starts_with("portal_sessions_active "))
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    assert!(sessions >= 1.0);
}

#[tokio::test]
async fn metrics_can_be_served_on_a_separate_address() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let app = spawn_with(Options {
        metrics: format!("127.0.0.1:{port}"),
        ..Options::default()
    })
    .await;
    assert_eq!(
        app.get("/metrics").await.status(),
        StatusCode::NOT_FOUND,
        "not on the main port"
    );
    let mut text = String::new();
    for _ in 0..50 {
        if let Ok(r) = reqwest::get(format!("http://127.0.0.1:{port}/metrics")).await {
            text = r.text().await.unwrap();
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        text.contains("# TYPE portal_http_requests_total counter"),
        "{text}"
    );
}

/// The app again on the same database and public URL, sealing with `key` and opening what
/// `previous` sealed.
async fn with_keys(
    app: &TestApp,
    key: [u8; 32],
    previous: Vec<[u8; 32]>,
) -> (String, partner_portal::state::AppState) {
    use partner_portal::{app::Application, secret::Secret};
    let mut config = app.config.clone();
    config.session_key = Secret::new(key);
    config.session_key_previous = previous.into_iter().map(Secret::new).collect();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = format!("http://{}", listener.local_addr().unwrap());
    let app = Application::build(config, listener).await.unwrap();
    let state = app.state().clone();
    tokio::spawn(app.run_until_stopped());
    // The start-up sealing runs before the first request is served.
    tokio::time::sleep(Duration::from_millis(300)).await;
    (addr, state)
}

#[tokio::test]
async fn the_session_key_rotates_without_logging_anyone_out_or_losing_the_team() {
    use crate::team::{FIONA, accept, connect, invite};
    let app = spawn_app().await;
    let csrf = connect(&app).await;
    let link = invite(&app.addr, &app.client, &csrf, "finance", "").await;
    let fiona = accept(&app, &app.addr, &link, FIONA).await;
    let old: [u8; 32] = *b"0123456789abcdef0123456789abcdef";
    let new = [42u8; 32];
    // The new key, with the old one as previous: everyone is still logged in, the team's
    // connection still reads reports.
    let (rotated, state) = with_keys(&app, new, vec![old]).await;
    for (who, client) in [("the owner", &app.client), ("a member", &fiona)] {
        let r = client
            .get(format!("{rotated}/invoices"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{who} after the rotation");
    }
    // Sessions are sealed again when next saved (activity is recorded every quarter of the
    // idle timeout).
    state.clock.advance(Duration::from_secs(10 * 60));
    for client in [&app.client, &fiona] {
        assert_eq!(
            client
                .get(format!("{rotated}/"))
                .send()
                .await
                .unwrap()
                .status(),
            StatusCode::OK
        );
    }
    // Without the previous key: the sessions and the connection open with the new one alone.
    let (only_new, _) = with_keys(&app, new, vec![]).await;
    for (who, client) in [("the owner", &app.client), ("a member", &fiona)] {
        let r = client
            .get(format!("{only_new}/invoices"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{who} with the new key alone");
    }
    // A wrong key opens nothing: everyone logs in again.
    let (wrong, _) = with_keys(&app, [7u8; 32], vec![]).await;
    let r = app
        .client
        .get(format!("{wrong}/invoices"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
}
