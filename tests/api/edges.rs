//! What a browser, a scanner and a fault injector found at the edges, each reproduced the way it
//! was found: a compressed CSV download checked to the last row, a panic in a handler and in a
//! body, control characters in every text parameter, a flood of invite links, two demotions at
//! once, page numbers at the edge of an integer, a stranger's sign-in on another partner's
//! audit log, and an invite secret behind a double slash.

use std::{io::Read as _, time::Duration};

use partner_portal::{db::Sql, index::copies, sandbox::SandboxOptions, team::Role};
use reqwest::StatusCode;

use crate::{
    helpers::*,
    team::{FIONA, OWNER, SAM, VISITOR, accept, connect, invite, post},
};

/// A client that asks for exactly `accept` and decodes nothing itself.
fn raw_client(accept: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(reqwest::header::ACCEPT_ENCODING, accept.parse().unwrap());
    reqwest::Client::builder()
        .cookie_store(true)
        .default_headers(headers)
        .no_gzip()
        .no_brotli()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// `body` decoded as `encoding` says; an error if the stream is cut short.
pub fn decode(encoding: Option<&str>, body: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    match encoding {
        None | Some("identity") => out.extend_from_slice(body),
        Some("gzip") => {
            flate2::read::GzDecoder::new(body).read_to_end(&mut out)?;
        }
        Some("br") => {
            brotli::Decompressor::new(body, 4096).read_to_end(&mut out)?;
        }
        Some(other) => panic!("unexpected content-encoding {other}"),
    }
    Ok(out)
}

/// The copy's rows of key 70 in the CSV's default order (newest activation first), as
/// `(id, site name, site URL)`.
pub async fn copy_rows(app: &TestApp) -> Vec<(i64, String, String)> {
    let generation = app.state.index.state(70).await.unwrap().generation;
    let table = copies::table(70, generation);
    app.state
        .index
        .db()
        .fetch_all(&Sql::new(&format!(
            "SELECT id, site_name, site_url FROM {table} \
             ORDER BY activated_on DESC, id DESC"
        )))
        .await
        .unwrap()
}

/// Checks a downloaded activations CSV against the copy, row by row, to the last one.
pub fn assert_csv_is_the_copy(csv_bytes: &[u8], rows: &[(i64, String, String)], what: &str) {
    let text = std::str::from_utf8(csv_bytes).unwrap_or_else(|e| panic!("{what}: not UTF-8: {e}"));
    let text = text.trim_start_matches('\u{feff}');
    assert!(text.ends_with("\r\n"), "{what}: the file ends mid-row");
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let records: Vec<csv::StringRecord> = reader
        .records()
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    assert_eq!(
        records.len(),
        rows.len(),
        "{what}: {} rows of {}",
        records.len(),
        rows.len()
    );
    for (i, (record, (id, name, url))) in records.iter().zip(rows).enumerate() {
        assert_eq!(
            (&record[1], &record[2], &record[3]),
            (id.to_string().as_str(), name.as_str(), url.as_str()),
            "{what}: row {}",
            i + 1
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_activations_csv_arrives_whole_with_every_encoding_a_browser_asks_for() {
    let app = spawn_with(Options {
        sandbox: SandboxOptions {
            control: true,
            activations: 3_000,
            ..SandboxOptions::default()
        },
        ..Options::default()
    })
    .await;
    app.login().await;
    app.wait_for_index(70).await;
    let rows = copy_rows(&app).await;
    assert_eq!(rows.len(), 3_000);
    for accept in ["identity", "gzip", "br", "gzip, deflate, br, zstd"] {
        // The logged-in session's cookie, with exactly this Accept-Encoding.
        let client = raw_client(accept);
        log_in_client(&app, &client).await;
        let r = client
            .get(app.url("/activations.csv?key=70"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{accept}");
        let encoding = r
            .headers()
            .get("content-encoding")
            .map(|v| v.to_str().unwrap().to_owned());
        let body = r
            .bytes()
            .await
            .unwrap_or_else(|e| panic!("{accept}: the download broke off: {e}"));
        let csv = decode(encoding.as_deref(), &body)
            .unwrap_or_else(|e| panic!("{accept}: the {encoding:?} stream is cut short: {e}"));
        assert_csv_is_the_copy(&csv, &rows, accept);
    }
    // The tests' own client asks as browsers do (and decodes, failing on a cut stream).
    let csv = app
        .get("/activations.csv?key=70")
        .await
        .bytes()
        .await
        .expect("a whole download");
    assert_csv_is_the_copy(&csv, &rows, "the default client");
}

/// Logs `client` in as the partner owner.
async fn log_in_client(app: &TestApp, client: &reqwest::Client) {
    let r = app.login_with(client, OWNER, None).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_in_a_handler_is_the_portals_500_page_and_one_in_a_body_is_logged() {
    use axum::{body::Body, routing::get};
    use futures_util::StreamExt as _;
    let app = spawn_app().await;
    let marker = format!("injected-{}", partner_portal::secret::random_token(6));
    let (in_handler, in_body) = (marker.clone(), marker.clone());
    let routes = axum::Router::new()
        .route(
            "/boom",
            get(move || async move {
                if !in_handler.is_empty() {
                    panic!("{in_handler} in a handler");
                }
                "unreachable"
            }),
        )
        .route(
            "/boom-body",
            get(move || async move {
                let marker = in_body.clone();
                let chunks = futures_util::stream::iter(0..3).map(move |i| {
                    if i == 2 {
                        panic!("{marker} in a body");
                    }
                    Ok::<_, std::io::Error>(axum::body::Bytes::from("x".repeat(100_000)))
                });
                Body::from_stream(chunks)
            }),
        );
    let router = partner_portal::app::with_layers(routes, app.state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });

    let r = new_client()
        .get(format!("{addr}/boom"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let request_id = r.headers()["x-request-id"].to_str().unwrap().to_owned();
    let page = html(&r.text().await.unwrap());
    assert_eq!(texts(&page, "h1"), vec!["Something went wrong"]);
    assert!(
        texts(&page, "#error-page").join(" ").contains(&request_id),
        "the page gives the request id"
    );
    // A body that panics part-way: the client sees a broken body, never a clean end.
    // (Hyper may not have flushed the head yet when the body fails: then the whole answer is
    // the broken connection.)
    let whole = match new_client()
        .get(format!("{addr}/boom-body"))
        .header("accept-encoding", "identity")
        .send()
        .await
    {
        Ok(r) => r.bytes().await.is_ok(),
        Err(_) => false,
    };
    assert!(!whole, "a cut body is not a whole one");
    // The server is still there, and both panics are in the log as errors.
    let r = new_client()
        .get(format!("{addr}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let logs = captured_logs();
    for what in ["in a handler", "in a body"] {
        assert!(
            logs.lines()
                .any(|l| l.contains("ERROR") && l.contains(&format!("{marker} {what}"))),
            "the panic {what} is logged as an error"
        );
    }
}

/// Every page and download that reads free text from its query string.
const TEXT_PARAMETERS: &[(&str, &str)] = &[
    ("/activations", "q"),
    ("/activations.csv", "q"),
    ("/activations", "plan"),
    ("/activations", "from"),
    ("/activations", "sort"),
    ("/activations/100005", "list"),
    ("/", "period"),
    ("/audit", "actor"),
    ("/audit", "action"),
    ("/audit", "from"),
    ("/audit.csv", "actor"),
    ("/invoices", "key"),
    ("/api/v1/activations", "plans"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_characters_in_any_text_parameter_are_never_a_server_error() {
    let app = spawn_app().await;
    connect(&app).await;
    app.wait_for_index(70).await;
    let before = captured_logs().len();
    for (path, name) in TEXT_PARAMETERS {
        for c in [
            '\0', '\u{1}', '\t', '\n', '\r', '\u{1b}', '\u{7f}', '\u{85}', '\u{2028}',
        ] {
            for value in [format!("abc{c}"), format!("{c}"), format!("ba{c}kery")] {
                let mut url = url::Url::parse(&app.url(path)).unwrap();
                url.query_pairs_mut().append_pair(name, &value);
                let r = app.client.get(url.clone()).send().await.unwrap();
                let status = r.status();
                assert!(
                    !status.is_server_error(),
                    "{path}?{name}={value:?} answered {status}"
                );
                // Read to the end: a CSV must arrive whole.
                r.bytes().await.unwrap();
            }
        }
    }
    let logs = &captured_logs()[before..];
    assert!(
        !logs.lines().any(
            |l| l.contains(" ERROR ") && (l.contains("fts5") || l.contains("activations copy"))
        ),
        "no database error from a search term"
    );
    // A NUL in the search is read as the rest of the term, not refused.
    let r = app.get("/activations?q=bakery%00").await;
    assert_eq!(r.status(), StatusCode::OK);
    let page = html(&r.text().await.unwrap());
    assert_eq!(attrs(&page, "input[name=q]", "value"), vec!["bakery"]);
}

/// Session rows in the store, live or not.
async fn session_rows(app: &TestApp) -> i64 {
    let row: Option<(i64,)> = app
        .state
        .index
        .db()
        .fetch_optional(&Sql::new("SELECT COUNT(*) FROM sessions"))
        .await
        .unwrap();
    row.unwrap().0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_invite_links_stores_nothing_and_is_rate_limited() {
    let app = spawn_with(Options {
        login_rate_per_minute: 30,
        ..Options::default()
    })
    .await;
    let before = session_rows(&app).await;
    let mut statuses = std::collections::BTreeMap::new();
    for i in 0..500 {
        // A new browser each time: no cookie to reuse.
        let r = new_client()
            .get(app.url(&format!("/join/guess{i:04}abcdefghijklmnop")))
            .send()
            .await
            .unwrap();
        *statuses.entry(r.status().as_u16()).or_insert(0) += 1;
    }
    assert_eq!(
        session_rows(&app).await,
        before,
        "no session row for a link that is no invite: {statuses:?}"
    );
    // 30 at once, and the bucket refills at 30 a minute while the 500 are sent.
    let allowed = statuses.get(&404).copied().unwrap_or(0);
    assert!((30..=40).contains(&allowed), "{statuses:?}");
    assert_eq!(
        statuses.get(&429).copied().unwrap_or(0),
        500 - allowed,
        "{statuses:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_invite_link_still_works_beside_the_flood_guard() {
    let app = spawn_app().await;
    let csrf = connect(&app).await;
    let link = invite(&app.addr, &app.client, &csrf, "finance", "").await;
    let before = session_rows(&app).await;
    let fiona = accept(&app, &app.addr, &link, FIONA).await;
    assert!(session_rows(&app).await > before);
    let r = fiona.get(app.url("/invoices")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

/// Makes both staff accounts admin members of partner 7.
async fn two_admin_members(app: &TestApp) -> String {
    let csrf = connect(app).await;
    for user in [FIONA, SAM] {
        let link = invite(&app.addr, &app.client, &csrf, "admin", "").await;
        accept(app, &app.addr, &link, user).await;
    }
    csrf
}

async fn admin_members(app: &TestApp) -> usize {
    app.state
        .team
        .members(7)
        .await
        .unwrap()
        .iter()
        .filter(|m| m.role.is_admin())
        .count()
}

/// Fifty rounds of two demotions at once: one of them must be refused every time.
async fn concurrent_demotions_keep_an_admin(app: &TestApp) {
    let csrf = two_admin_members(app).await;
    for round in 0..50 {
        for user in [FIONA, SAM] {
            app.state.team.set_role(7, user, Role::Admin).await.unwrap();
        }
        assert_eq!(admin_members(app).await, 2);
        let demote = |user: u64| {
            let (addr, client, csrf) = (app.addr.clone(), app.client.clone(), csrf.clone());
            tokio::spawn(async move {
                post(
                    &addr,
                    &client,
                    &format!("/team/members/{user}/role"),
                    &csrf,
                    &[("role", "support")],
                )
                .await
                .status()
            })
        };
        let (a, b) = (demote(FIONA), demote(SAM));
        let (a, b) = (a.await.unwrap(), b.await.unwrap());
        assert_eq!(
            admin_members(app).await,
            1,
            "round {round}: both demotions went through ({a}, {b}), leaving no admin member"
        );
        let refused = [a, b]
            .iter()
            .filter(|s| **s == StatusCode::BAD_REQUEST)
            .count();
        assert_eq!(refused, 1, "round {round}: {a}, {b}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_demotions_at_once_never_leave_no_admin_on_sqlite() {
    let app = spawn_app().await;
    concurrent_demotions_keep_an_admin(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_demotions_at_once_never_leave_no_admin_on_postgres() {
    let Some(db) = crate::postgres::fresh_database().await else {
        return;
    };
    let app = spawn_with(Options {
        database_url: Some(db),
        ..Options::default()
    })
    .await;
    concurrent_demotions_keep_an_admin(&app).await;
}

/// Page numbers at and past the edge of every integer type, on every paged page.
async fn huge_page_numbers_are_refused_or_clamped(app: &TestApp) {
    connect(app).await;
    app.wait_for_index(70).await;
    for page in [
        "9223372036854775807",
        "9223372036854775808",
        "-9223372036854775808",
        "18446744073709551616",
        "4294967296",
        "2147483648",
        "-1",
        "0",
        "1e3",
    ] {
        for path in ["/audit", "/audit.csv", "/activations", "/activations.csv"] {
            let r = app.get(&format!("{path}?page={page}")).await;
            let status = r.status();
            assert!(
                status == StatusCode::OK || status == StatusCode::BAD_REQUEST,
                "{path}?page={page}: {status}"
            );
            let body = r.text().await.unwrap();
            if status == StatusCode::OK && path == "/audit" {
                let doc = html(&body);
                for href in attrs(&doc, "nav.pager a", "href") {
                    let n: i64 = href
                        .split("page=")
                        .nth(1)
                        .map_or(1, |p| p.split('&').next().unwrap().parse().unwrap());
                    assert!(n < 1_000, "{path}?page={page} links to page {n}");
                }
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huge_page_numbers_never_wrap_on_sqlite() {
    let app = spawn_app().await;
    huge_page_numbers_are_refused_or_clamped(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huge_page_numbers_never_wrap_on_postgres() {
    let Some(db) = crate::postgres::fresh_database().await else {
        return;
    };
    let app = spawn_with(Options {
        database_url: Some(db),
        ..Options::default()
    })
    .await;
    huge_page_numbers_are_refused_or_clamped(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_reads_only_their_own_partners_sign_ins() {
    let app = spawn_app().await;
    connect(&app).await;
    // Someone with no partner at all signs in (Site Visitor, user 1002).
    let stranger = new_client();
    let landed = crate::team::log_in(&app, &app.addr, &stranger, VISITOR, None).await;
    assert!(!landed.is_empty());
    let page = app.get("/audit").await.text().await.unwrap();
    let csv = app.get("/audit.csv").await.text().await.unwrap();
    for (what, text) in [("page", &page), ("CSV", &csv)] {
        assert!(
            !text.contains("Site Visitor"),
            "the audit {what} names a stranger"
        );
        assert!(
            !text.contains("without partner access"),
            "the audit {what} lists a stranger's sign-in"
        );
    }
    // The partner's own sign-ins are there.
    assert!(page.contains("Host Admin"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invite_secret_never_reaches_the_log_whatever_the_path_looks_like() {
    let app = spawn_app().await;
    let secret = format!("Sekr1t{}", partner_portal::secret::random_token(12));
    for path in [
        format!("//join/{secret}"),
        format!("///join/{secret}"),
        format!("/./join/{secret}"),
        format!("/join//{secret}"),
        format!("/%6Aoin/{secret}"),
        format!("/JOIN/{secret}"),
        format!("/join/{secret}/"),
        format!("/partners/join/{secret}"),
    ] {
        let r = new_client()
            .get(format!("{}{path}", app.addr))
            .send()
            .await
            .unwrap();
        assert!(!r.status().is_server_error(), "{path}");
        let body = r.text().await.unwrap();
        assert!(!body.contains(&secret), "{path}: the page shows the secret");
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(
        !captured_logs().contains(&secret),
        "an invite secret reached the log"
    );
}

/// Waits for Chromium to finish a download into `dir`; returns the file's bytes.
pub(crate) async fn downloaded(dir: &std::path::Path) -> Vec<u8> {
    for _ in 0..300 {
        let done: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "csv"))
            .collect();
        let partial = std::fs::read_dir(dir)
            .unwrap()
            .filter_map(Result::ok)
            .any(|e| e.path().extension().is_some_and(|e| e == "crdownload"));
        if let [file] = done.as_slice()
            && !partial
        {
            return std::fs::read(file).unwrap();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "no finished download in {}: {:?}",
        dir.display(),
        std::fs::read_dir(dir)
            .unwrap()
            .filter_map(Result::ok)
            .map(|e| e.file_name())
            .collect::<Vec<_>>()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_downloads_the_whole_activations_csv_compressed_and_not() {
    let Some(driver) = crate::browser::Driver::start().await else {
        return;
    };
    let app = spawn_with(Options {
        sandbox: SandboxOptions {
            control: true,
            activations: 3_000,
            ..SandboxOptions::default()
        },
        ..Options::default()
    })
    .await;
    app.login().await;
    app.wait_for_index(70).await;
    let rows = copy_rows(&app).await;
    driver.log_in(&app, "/activations", "/activations").await;
    driver.cdp("Network.enable", serde_json::json!({})).await;
    for (what, accept) in [
        ("as Chromium asks (gzip, deflate, br, zstd)", None),
        ("uncompressed", Some("identity")),
    ] {
        let headers = match accept {
            Some(a) => serde_json::json!({ "Accept-Encoding": a }),
            None => serde_json::json!({}),
        };
        driver
            .cdp(
                "Network.setExtraHTTPHeaders",
                serde_json::json!({ "headers": headers }),
            )
            .await;
        let dir = tempfile::tempdir().unwrap();
        driver
            .cdp(
                "Browser.setDownloadBehavior",
                serde_json::json!({"behavior": "allow", "downloadPath": dir.path()}),
            )
            .await;
        driver.goto(&app.url("/activations?key=70")).await;
        assert!(driver.wait_for("#csv").await, "{what}: a Download CSV link");
        driver.click("#csv").await;
        let csv = downloaded(dir.path()).await;
        assert_csv_is_the_copy(&csv, &rows, &format!("Chromium, {what}"));
    }
    driver.quit().await;
}
