//! Portal API tokens through the real stack: made on the page and on the command line, used on
//! the JSON API and CSV downloads, refused everywhere else, and checked at every request
//! against expiry, revocation, scope, the owner's role and membership, the team connection and
//! the rate limit. The secret and its hash never reach a page, the audit log or the log.

use std::time::Duration;

use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

use crate::helpers::*;
use crate::team::{FIONA, OWNER, SAM, accept, connect, invite, post};

/// `client` (logged in, with `csrf`) makes a token on the page; returns its secret.
pub async fn make_token(
    app_url: &str,
    client: &Client,
    csrf: &str,
    name: &str,
    scopes: &[&str],
) -> String {
    let mut form = vec![("name", name), ("days", "30")];
    form.extend(scopes.iter().map(|s| ("scope", *s)));
    let r = post(app_url, client, "/tokens", csrf, &form).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let body = r.text().await.unwrap();
    let secret = attrs(&html(&body), "#token-secret", "value")
        .pop()
        .expect("the secret is shown once");
    assert!(secret.starts_with("ppt_") && secret.len() == 53, "{secret}");
    secret
}

/// A GET with `token` and no cookie.
pub async fn with_token(app: &TestApp, token: &str, path: &str) -> reqwest::Response {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

/// `(status, WWW-Authenticate, JSON body)` of a GET with `token`.
async fn answer(app: &TestApp, token: &str, path: &str) -> (StatusCode, String, Value) {
    let r = with_token(app, token, path).await;
    let status = r.status();
    let challenge = r
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body = r.text().await.unwrap();
    let json =
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: not JSON ({e}): {body}"));
    (status, challenge, json)
}

/// The partner's audit log, as its CSV.
async fn audit_csv(app: &TestApp) -> String {
    let r = app.get("/audit.csv").await;
    assert_eq!(r.status(), StatusCode::OK);
    r.text().await.unwrap()
}

#[tokio::test]
async fn a_token_reads_the_api_and_every_csv_and_nothing_else() {
    reads_the_api_and_every_csv_and_nothing_else(&spawn_app().await).await;
}

#[tokio::test]
async fn a_token_reads_the_api_and_every_csv_and_nothing_else_on_postgres() {
    let Some(url) = crate::postgres::fresh_database().await else {
        return;
    };
    let app = spawn_with(Options {
        database_url: Some(url),
        ..Options::default()
    })
    .await;
    reads_the_api_and_every_csv_and_nothing_else(&app).await;
}

async fn reads_the_api_and_every_csv_and_nothing_else(app: &TestApp) {
    let csrf = connect(app).await;
    let token = make_token(&app.addr, &app.client, &csrf, "nightly", &["invoices:read"]).await;
    // Shown once: the list shows the first characters only.
    let list = app.get("/tokens").await.text().await.unwrap();
    assert!(!list.contains(&token));
    assert!(list.contains(&token[..12]), "the prefix tells tokens apart");

    let (status, _, keys) = answer(app, &token, "/api/v1/keys").await;
    assert_eq!(status, StatusCode::OK, "{keys}");
    assert_eq!(keys["role"], "admin");
    assert_eq!(keys["keys"][0]["id"], 70);
    app.wait_for_index(70).await;
    let (status, _, list) = answer(app, &token, "/api/v1/keys/70/activations?limit=5").await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(list["activations"].as_array().unwrap().len(), 5);
    assert_eq!(list["total"], 150);
    assert_eq!(list["copy"]["complete"], true);
    // Every CSV download takes it, read to its last row.
    for path in [
        "/activations.csv?key=70",
        "/invoices.csv?key=70",
        "/audit.csv",
    ] {
        let r = with_token(app, &token, path).await;
        let status = r.status();
        let body = r.text().await.unwrap();
        if path == "/audit.csv" {
            assert_eq!(status, StatusCode::FORBIDDEN, "no audit:read scope: {body}");
            continue;
        }
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        assert!(body.lines().count() > 1, "{path}");
    }
    let csv = with_token(app, &token, "/activations.csv?key=70")
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(csv.lines().count(), 151, "a header and every activation");

    // A page, a form, the login: refused, and no session is made from the token.
    for path in [
        "/",
        "/activations?key=70",
        "/tokens",
        "/auth/start",
        "/team",
    ] {
        let r = with_token(app, &token, path).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{path}");
        assert!(set_cookies(&r).is_empty(), "{path} set a cookie");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"], "invalid_request", "{path}");
    }
    for (path, status) in [
        ("/activations/refresh", StatusCode::BAD_REQUEST),
        ("/tokens", StatusCode::BAD_REQUEST),
        ("/logout", StatusCode::BAD_REQUEST),
        // No JSON route takes a POST: the router says so, with the methods it takes.
        ("/api/v1/keys", StatusCode::METHOD_NOT_ALLOWED),
    ] {
        let r = reqwest::Client::new()
            .post(app.url(path))
            .bearer_auth(&token)
            .form(&[("csrf", csrf.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), status, "POST {path}");
        assert!(set_cookies(&r).is_empty(), "POST {path} set a cookie");
    }
    // A token request never reads or writes a session.
    let r = with_token(app, &token, "/api/v1/keys").await;
    assert!(set_cookies(&r).is_empty());
}

#[tokio::test]
async fn a_mistyped_token_is_refused_by_its_checksum_without_a_database_read() {
    let app = spawn_app().await;
    let csrf = connect(&app).await;
    let token = make_token(&app.addr, &app.client, &csrf, "typo", &[]).await;
    let typo = format!("{}{}", &token[..20], &token[21..]) + "x";
    // The tokens table is out of reach: a lookup would fail with 503.
    let db = app.state.db.clone();
    let rename = |from: &str, to: &str| {
        partner_portal::db::Sql::new(&format!("ALTER TABLE {from} RENAME TO {to}"))
    };
    db.execute(&rename("api_tokens", "api_tokens_away"))
        .await
        .unwrap();
    let (status, challenge, body) = answer(&app, &typo, "/api/v1/keys").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["error"], "invalid_token");
    assert!(
        challenge.contains(r#"error="invalid_token""#),
        "{challenge}"
    );
    // A well-formed token does go to the database (so the typo's answer above read none).
    let (status, _, body) = answer(&app, &token, "/api/v1/keys").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    db.execute(&rename("api_tokens_away", "api_tokens"))
        .await
        .unwrap();
    let (status, _, _) = answer(&app, &token, "/api/v1/keys").await;
    assert_eq!(status, StatusCode::OK);
    // A token of the right shape that this portal never made.
    let stranger = partner_portal::tokens::secret::generate();
    let (status, challenge, _) = answer(&app, stranger.expose(), "/api/v1/keys").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(challenge.starts_with("Bearer realm=\"partner-portal\""));
}

#[tokio::test]
async fn expiry_revocation_scope_role_change_removal_and_a_broken_connection_each_stop_a_token() {
    let app = spawn_app().await;
    let csrf = connect(&app).await;
    let link = invite(&app.addr, &app.client, &csrf, "finance", "").await;
    let fiona = accept(&app, &app.addr, &link, FIONA).await;
    let fiona_csrf = crate::team::csrf_of(&app.addr, &fiona, "/tokens").await;
    // Scopes no wider than the role: finance may read invoices, not the audit log.
    let r = post(
        &app.addr,
        &fiona,
        "/tokens",
        &fiona_csrf,
        &[("name", "too wide"), ("scope", "audit:read")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let money = make_token(&app.addr, &fiona, &fiona_csrf, "money", &["invoices:read"]).await;
    let plain = make_token(&app.addr, &fiona, &fiona_csrf, "plain", &[]).await;
    app.wait_for_index(70).await;

    // Scope: a token without invoices:read reads no invoice, in JSON or CSV.
    let (status, _, _) = answer(&app, &money, "/api/v1/keys/70/invoices").await;
    assert_eq!(status, StatusCode::OK);
    let (status, challenge, body) = answer(&app, &plain, "/api/v1/keys/70/invoices").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"], "insufficient_scope");
    assert!(challenge.contains("insufficient_scope"), "{challenge}");
    let r = with_token(&app, &plain, "/invoices.csv?key=70").await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    // Role change: Fiona becomes support; her invoices token stops reading invoices at once.
    let r = post(
        &app.addr,
        &app.client,
        &format!("/team/members/{FIONA}/role"),
        &csrf,
        &[("role", "support")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (status, _, body) = answer(&app, &money, "/api/v1/keys/70/invoices").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"], "role_forbidden");
    let (status, _, keys) = answer(&app, &money, "/api/v1/keys").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(keys["role"], "support");
    assert_eq!(keys["scopes"], json!(["activations:read"]));

    // Revocation, by its owner on the page.
    let tokens = fiona.get(app.url("/tokens")).send().await.unwrap();
    let page = html(&tokens.text().await.unwrap());
    let forms = attrs(&page, "#my-tokens form", "action");
    assert_eq!(forms.len(), 2);
    let r = post(&app.addr, &fiona, &forms[0], &fiona_csrf, &[]).await;
    assert_eq!(location(&r), "/tokens?done=revoked");
    let statuses: Vec<StatusCode> = futures_util::future::join_all(
        [&money, &plain].map(|t| async { answer(&app, t, "/api/v1/keys").await.0 }),
    )
    .await;
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::UNAUTHORIZED)
            .count(),
        1,
        "exactly the revoked one is refused: {statuses:?}"
    );
    let live = if statuses[0] == StatusCode::OK {
        &money
    } else {
        &plain
    };

    // Removal: a new token of Sam's stops the moment Sam is removed.
    let link = invite(&app.addr, &app.client, &csrf, "support", "").await;
    let sam = accept(&app, &app.addr, &link, SAM).await;
    let sam_csrf = crate::team::csrf_of(&app.addr, &sam, "/tokens").await;
    let sams = make_token(&app.addr, &sam, &sam_csrf, "sam's", &[]).await;
    assert_eq!(answer(&app, &sams, "/api/v1/keys").await.0, StatusCode::OK);
    let r = post(
        &app.addr,
        &app.client,
        &format!("/team/members/{SAM}/remove"),
        &csrf,
        &[],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (status, _, body) = answer(&app, &sams, "/api/v1/keys").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("no longer a member")
    );

    // A broken connection: WordPress.com revokes the owner's token; the API answers 503 JSON as
    // the pages do, and again once the owner's token works.
    let owner_token = make_token(&app.addr, &app.client, &csrf, "owner's", &[]).await;
    app.control("tokens/revoke", json!({ "user_id": OWNER }))
        .await;
    let (status, _, body) = answer(&app, &owner_token, "/api/v1/activations?key=70").await;
    assert!(
        status == StatusCode::SERVICE_UNAVAILABLE || status == StatusCode::UNAUTHORIZED,
        "{status} {body}"
    );
    let (status, _, body) = answer(&app, &owner_token, "/api/v1/keys/70/activations").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"], "connection_broken");

    // Expiry: 30 days later it is refused, and the audit log says so once.
    app.state.clock.advance(Duration::from_secs(31 * 86_400));
    let (status, _, body) = answer(&app, live, "/api/v1/keys").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(body["message"].as_str().unwrap().contains("expired"));
    answer(&app, live, "/api/v1/keys").await;
    // The owner's session ended with the days that passed: log in again to read the log.
    app.login().await;
    let log = audit_csv(&app).await;
    assert_eq!(log.matches("api_token_refused").count(), 1, "{log}");
}

#[tokio::test]
async fn each_token_has_its_own_rate_limit() {
    let app = spawn_with(Options {
        api_rate_per_minute: 5,
        ..Options::default()
    })
    .await;
    let csrf = connect(&app).await;
    let a = make_token(&app.addr, &app.client, &csrf, "a", &[]).await;
    let b = make_token(&app.addr, &app.client, &csrf, "b", &[]).await;
    for _ in 0..5 {
        assert_eq!(answer(&app, &a, "/api/v1/keys").await.0, StatusCode::OK);
    }
    let r = with_token(&app, &a, "/api/v1/keys").await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "rate_limited");
    assert_eq!(answer(&app, &b, "/api/v1/keys").await.0, StatusCode::OK);
}

#[tokio::test]
async fn the_audit_log_has_each_token_event_and_no_secret_anywhere() {
    let app = spawn_app().await;
    let csrf = connect(&app).await;
    let token = make_token(&app.addr, &app.client, &csrf, "audited", &[]).await;
    let hash = partner_portal::tokens::secret::hash(&token);
    for _ in 0..3 {
        assert_eq!(answer(&app, &token, "/api/v1/keys").await.0, StatusCode::OK);
    }
    // The day's first use is recorded in the background, once.
    let mut log = String::new();
    for _ in 0..50 {
        log = audit_csv(&app).await;
        if log.contains("api_token_used") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(log.matches("api_token_used").count(), 1, "{log}");
    assert!(log.contains("from 127.0.0.1"), "{log}");
    assert!(log.contains("api_token_created"));
    let page = app.get("/tokens").await.text().await.unwrap();
    assert!(
        page.contains("from 127.0.0.1"),
        "the last use is on the page"
    );
    // Revoked on the page by the admin.
    let forms = attrs(&html(&page), "#my-tokens form", "action");
    post(&app.addr, &app.client, &forms[0], &csrf, &[]).await;
    let log = audit_csv(&app).await;
    assert!(log.contains("api_token_revoked"), "{log}");
    // Neither the secret nor its hash is in a page, the audit log, the log or an error.
    let refused = with_token(&app, &token, "/api/v1/keys")
        .await
        .text()
        .await
        .unwrap();
    let audit_page = app.get("/audit").await.text().await.unwrap();
    let tokens_page = app.get("/tokens").await.text().await.unwrap();
    for (what, text) in [
        ("audit CSV", log.as_str()),
        ("audit page", audit_page.as_str()),
        ("tokens page", tokens_page.as_str()),
        ("error", refused.as_str()),
        ("log", portal_logs().as_str()),
    ] {
        if let Some(line) = text.lines().find(|l| l.contains(&token)) {
            panic!("the secret is in the {what}: {line}");
        }
        assert!(!text.contains(&hash), "the hash is in the {what}");
        assert!(
            !text.contains(&token[4..20]),
            "part of the secret is in the {what}"
        );
    }
    // In the database only its hash and shown prefix.
    let rows: Vec<(String, String)> = app
        .state
        .db
        .fetch_all(&partner_portal::db::Sql::new(
            "SELECT token_hash, prefix FROM api_tokens",
        ))
        .await
        .unwrap();
    assert_eq!(rows, vec![(hash, token[..12].to_owned())]);
    let file = std::fs::read(&app.db_path).unwrap();
    assert!(
        !file.windows(token.len()).any(|w| w == token.as_bytes()),
        "the secret is in the database file"
    );
}

#[tokio::test]
async fn the_command_line_makes_and_revokes_tokens_that_the_running_portal_takes() {
    let app = spawn_app().await;
    let csrf = connect(&app).await;
    let link = invite(&app.addr, &app.client, &csrf, "finance", "").await;
    let _fiona = accept(&app, &app.addr, &link, FIONA).await;
    let db = format!("sqlite://{}", app.db_path.display());
    let run = |args: Vec<String>| {
        let db = db.clone();
        async move {
            let out = portal_command()
                .arg("token")
                .args(&args)
                .env("PORTAL_DATABASE_URL", &db)
                .output()
                .await
                .unwrap();
            (
                out.status.success(),
                String::from_utf8(out.stdout).unwrap(),
                String::from_utf8(out.stderr).unwrap(),
            )
        }
    };
    let args = |a: &[&str]| a.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    // Wider than the role: refused with the reason.
    let (ok, _, err) = run(args(&[
        "create",
        "--user",
        &FIONA.to_string(),
        "--scope",
        "audit:read",
    ]))
    .await;
    assert!(!ok && err.contains("wider than"), "{err}");
    let (ok, out, err) = run(args(&[
        "create",
        "--user",
        &FIONA.to_string(),
        "--scope",
        "activations:read,invoices:read",
        "--expires",
        "7d",
        "--name",
        "billing job",
    ]))
    .await;
    assert!(ok, "{err}");
    let token = out.trim().to_owned();
    assert!(token.starts_with("ppt_"), "{out}");
    assert!(
        !err.contains(&token),
        "the secret is printed once, on stdout"
    );
    let (status, _, body) = answer(&app, &token, "/api/v1/keys").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["role"], "finance");
    let (ok, list, _) = run(args(&["list"])).await;
    assert!(
        ok && list.contains("billing job") && !list.contains(&token),
        "{list}"
    );
    let (ok, _, err) = run(args(&["revoke", &token[..12]])).await;
    assert!(ok, "{err}");
    assert_eq!(
        answer(&app, &token, "/api/v1/keys").await.0,
        StatusCode::UNAUTHORIZED
    );
    let log = audit_csv(&app).await;
    assert!(log.contains("from the command line"), "{log}");
}

#[tokio::test]
async fn support_receives_no_amount_through_any_route() {
    let app = spawn_app().await;
    let csrf = connect(&app).await;
    let link = invite(&app.addr, &app.client, &csrf, "support", "").await;
    let sam = accept(&app, &app.addr, &link, SAM).await;
    let sam_csrf = crate::team::csrf_of(&app.addr, &sam, "/tokens").await;
    // Support is not offered the invoices scope, and cannot ask for it.
    let page = sam.get(app.url("/tokens")).send().await.unwrap();
    assert!(!page.text().await.unwrap().contains("invoices:read"));
    let r = post(
        &app.addr,
        &sam,
        "/tokens",
        &sam_csrf,
        &[("name", "x"), ("scope", "invoices:read")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let token = make_token(&app.addr, &sam, &sam_csrf, "support", &[]).await;
    app.wait_for_index(70).await;
    for path in [
        "/api/v1/keys",
        "/api/v1/keys/70/activations",
        "/api/v1/keys/70/activations/100001",
        "/api/v1/keys/70/counts?period=year",
        "/api/v1/activations?key=70",
        "/api/v1/activations/summary?key=70",
        "/api/v1/keys/70/invoices",
        "/api/v1/invoices?key=70",
        "/api/v1/invoices/upcoming?key=70",
        "/invoices.csv?key=70",
    ] {
        let r = with_token(&app, &token, path).await;
        let status = r.status();
        let body = r.text().await.unwrap();
        for money in [
            "\"amount",
            "\"currency\"",
            "\"subtotal\"",
            "\"unit_amount\"",
            "\"tax\"",
        ] {
            assert!(
                !body.contains(money),
                "{path} ({status}) holds {money}: {body}"
            );
        }
        if path.contains("invoice") {
            assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
        } else {
            assert_eq!(status, StatusCode::OK, "{path}: {body}");
        }
    }
}

/// Waits until key 70's visible copy is not `generation` (a first copy when it is 0).
async fn wait_for_generation_after(app: &TestApp, generation: i64) -> i64 {
    for _ in 0..3600 {
        let state = app.state.index.state(70).await.unwrap();
        if state.generation != generation && state.generation > 0 && !state.running {
            return state.generation;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("key 70's copy never moved past generation {generation}");
}

/// Walks `path` with `token` from its first page along `next`, calling `between` after each
/// page; returns every activation id in order, and each page's `copied_at`.
async fn walk(
    app: &TestApp,
    token: &str,
    path: &str,
    mut between: impl AsyncFnMut(usize),
) -> (Vec<i64>, Vec<String>) {
    let (mut ids, mut copies) = (Vec::new(), Vec::new());
    let mut next = Some(path.to_owned());
    let mut pages = 0;
    while let Some(path) = next {
        let (status, _, page) = answer(app, token, &path).await;
        assert_eq!(status, StatusCode::OK, "{path}: {page}");
        ids.extend(
            page["activations"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a["id"].as_i64().unwrap()),
        );
        copies.push(page["copy"]["copied_at"].as_str().unwrap().to_owned());
        next = page["next"].as_str().map(str::to_owned);
        pages += 1;
        between(pages).await;
    }
    (ids, copies)
}

/// Every sort and direction, walked in pages of 7 with a filter: each matching row exactly
/// once, in the order the Activations page shows (its CSV of the same view is the reference).
async fn every_sort_walks_each_row_once(app: &TestApp) {
    let csrf = connect(app).await;
    let token = make_token(&app.addr, &app.client, &csrf, "walker", &[]).await;
    app.wait_for_index(70).await;
    for sort in ["site", "product", "activated", "created", "cancelled"] {
        for dir in ["asc", "desc"] {
            for filter in ["", "&status=cancelled", "&q=a"] {
                let query = format!("sort={sort}&dir={dir}{filter}");
                let (ids, _) = walk(
                    app,
                    &token,
                    &format!("/api/v1/keys/70/activations?limit=7&{query}"),
                    async |_| {},
                )
                .await;
                let csv = with_token(app, &token, &format!("/activations.csv?key=70&{query}"))
                    .await
                    .text()
                    .await
                    .unwrap();
                let expected: Vec<i64> = csv
                    .lines()
                    .skip(1)
                    .map(|l| l.split(',').nth(1).unwrap().parse().unwrap())
                    .collect();
                assert!(!expected.is_empty(), "{query}");
                assert_eq!(
                    ids, expected,
                    "{query}: the walk and the page's order differ"
                );
            }
        }
    }
    // A cursor used with other filters is refused, and a mangled one too.
    let (_, _, first) = answer(app, &token, "/api/v1/keys/70/activations?limit=3").await;
    let next = first["next"].as_str().unwrap();
    let cursor = next.split("cursor=").nth(1).unwrap();
    for bad in [
        format!("/api/v1/keys/70/activations?limit=3&status=active&cursor={cursor}"),
        "/api/v1/keys/70/activations?cursor=not-a-cursor".to_owned(),
        "/api/v1/keys/70/activations?limit=0".to_owned(),
        "/api/v1/keys/70/activations?limit=1001".to_owned(),
        "/api/v1/keys/70/activations?sort=price".to_owned(),
        "/api/v1/keys/70/activations?from=2026-02-30".to_owned(),
    ] {
        let (status, _, body) = answer(app, &token, &bad).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        assert_eq!(body["error"], "bad_request");
    }
}

#[tokio::test]
async fn every_sort_walks_each_row_once_on_sqlite() {
    every_sort_walks_each_row_once(&spawn_app().await).await;
}

#[tokio::test]
async fn every_sort_walks_each_row_once_on_postgres() {
    let Some(url) = crate::postgres::fresh_database().await else {
        return;
    };
    let app = spawn_with(Options {
        database_url: Some(url),
        ..Options::default()
    })
    .await;
    every_sort_walks_each_row_once(&app).await;
}

#[tokio::test]
async fn a_cursor_walk_over_100000_activations_returns_each_once_while_the_copy_is_refreshed() {
    const N: usize = 100_000;
    let app = spawn_with(Options {
        sandbox: partner_portal::sandbox::SandboxOptions {
            control: true,
            activations: N,
            ..Default::default()
        },
        ..Options::default()
    })
    .await;
    let csrf = connect(&app).await;
    let token = make_token(&app.addr, &app.client, &csrf, "walker", &[]).await;
    answer(&app, &token, "/api/v1/keys/70/activations").await;
    let first = wait_for_generation_after(&app, 0).await;
    let started = std::time::Instant::now();
    let mut refreshed = None;
    let (ids, copies) = walk(
        &app,
        &token,
        "/api/v1/keys/70/activations?limit=1000",
        async |page| {
            if page == 30 {
                // A refresh starts; pages go on while it runs...
                let r = app.refresh_now(&csrf, "/activations?key=70").await;
                assert_eq!(r.status(), StatusCode::SEE_OTHER);
            }
            if page == 60 {
                // ...and the rest are read from the new copy.
                refreshed = Some(wait_for_generation_after(&app, first).await);
            }
        },
    )
    .await;
    let walked = started.elapsed();
    assert!(
        refreshed.is_some_and(|g| g > first),
        "the copy was refreshed"
    );
    let distinct: std::collections::BTreeSet<i64> = ids.iter().copied().collect();
    assert_eq!(ids.len(), N, "every activation, none twice");
    assert_eq!(distinct.len(), N);
    let first_copy = &copies[0];
    assert!(
        copies.iter().any(|c| c != first_copy),
        "pages were read from both copies: {first_copy}"
    );
    eprintln!(
        "walked {N} activations in {} pages across a refresh (generation {first} to {}) in {walked:?}",
        copies.len(),
        refreshed.unwrap_or_default()
    );
}

/// The `token` command writes beside the running portal on SQLite, and the portal sees each
/// write at its next request: made, used, revoked, refused, six times over. (Opening and closing
/// the database file at the second pool's start dropped the portal's SQLite locks; the command
/// then took the database for its own and the portal's reads stopped seeing its writes, in
/// about one run in four.)
#[tokio::test]
async fn the_running_portal_sees_every_write_of_the_token_command() {
    let app = spawn_app().await;
    connect(&app).await;
    let db = format!("sqlite://{}", app.db_path.display());
    for round in 0..6 {
        let out = portal_command()
            .args(["token", "create", "--user", &OWNER.to_string()])
            .args(["--name", &format!("round {round}")])
            .env("PORTAL_DATABASE_URL", &db)
            .output()
            .await
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let token = String::from_utf8(out.stdout).unwrap().trim().to_owned();
        // Used a few times, the first use recorded (a write of the portal's own) and settled:
        // the portal then answers from what it keeps in memory.
        for _ in 0..3 {
            assert_eq!(
                answer(&app, &token, "/api/v1/keys").await.0,
                StatusCode::OK,
                "round {round}: the new token"
            );
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
        let out = portal_command()
            .args(["token", "revoke", &token[..12]])
            .env("PORTAL_DATABASE_URL", &db)
            .output()
            .await
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            answer(&app, &token, "/api/v1/keys").await.0,
            StatusCode::UNAUTHORIZED,
            "round {round}: the revoked token"
        );
    }
}
