//! Every upstream failure becomes a page a person can act on, driven through the sandbox's
//! control API. Each scenario starts on a fresh app: after one good answer, the cache's
//! stale-if-error would (rightly) show the last good data instead of the failure.

use std::time::{Duration, Instant};

use reqwest::StatusCode;

use crate::helpers::*;

const STRIPE: &str = "/wpcom/v2/jetpack-partners/7/key/70/stripe";
const PAST: &str = "/wpcom/v2/jetpack-partners/7/key/70/stripe/invoices";
const UPCOMING: &str = "/wpcom/v2/jetpack-partners/7/key/70/stripe/upcoming-invoice";

async fn calls(app: &TestApp, path: &str) -> u64 {
    app.count(&format!("GET {path}")).await
}

#[tokio::test]
async fn a_revoked_token_ends_the_session_and_returns_to_the_same_page_after_login() {
    let app = spawn_app().await;
    app.login().await;
    app.control("tokens/revoke", serde_json::json!({"user_id": 1001}))
        .await;
    let r = app.get("/invoices?key=70").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        location(&r),
        "/login?next=%2Finvoices%3Fkey%3D70&reason=expired"
    );
    assert_eq!(app.live_sessions().await, 0);
    assert_eq!(
        (calls(&app, PAST).await, calls(&app, UPCOMING).await),
        (1, 1),
        "a 401 is never retried"
    );
    let r = app
        .login_with(&app.client, 1001, Some("/invoices?key=70"))
        .await;
    assert_eq!(location(&r), "/invoices?key=70");
}

#[tokio::test]
async fn a_403_explains_missing_access_without_a_redirect_loop() {
    let app = spawn_app().await;
    app.login().await;
    app.fault(STRIPE, 403, 2, None).await;
    let r = app.get("/invoices").await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        texts(&html(&r.text().await.unwrap()), "h1"),
        vec!["No access"]
    );
    assert_eq!(
        app.get("/invoices").await.status(),
        StatusCode::OK,
        "session kept"
    );
}

#[tokio::test]
async fn a_404_is_a_not_found_page() {
    let app = spawn_app().await;
    app.login().await;
    app.fault(PAST, 404, 1, None).await;
    let r = app.get("/invoices/in_1Fake0012K70?key=70").await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        texts(&html(&r.text().await.unwrap()), "h1"),
        vec!["WordPress.com has no such report"]
    );
    // An invoice the key does not have is a 404 too.
    assert_eq!(
        app.get("/invoices/in_nope?key=70").await.status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn a_short_retry_after_is_honoured_and_the_page_renders() {
    let app = spawn_app().await;
    app.login().await;
    app.fault(PAST, 429, 1, Some(1)).await;
    let started = Instant::now();
    let r = app.get("/invoices").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        started.elapsed() >= Duration::from_millis(950),
        "waited for Retry-After"
    );
    assert_eq!(calls(&app, PAST).await, 2);
    assert!(texts(&html(&r.text().await.unwrap()), "#past .panel-error").is_empty());
}

#[tokio::test]
async fn a_retry_after_beyond_the_deadline_gives_a_busy_page_at_once() {
    let app = spawn_app().await;
    app.login().await;
    app.fault(STRIPE, 429, 2, Some(60)).await;
    let started = Instant::now();
    let r = app.get("/invoices").await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.headers()["retry-after"], "60");
    assert!(started.elapsed() < Duration::from_secs(5));
    let doc = html(&r.text().await.unwrap());
    assert_eq!(texts(&doc, "h1"), vec!["WordPress.com is busy"]);
    assert_eq!(attrs(&doc, "a#retry", "href"), vec!["/invoices"]);
    assert_eq!(
        (calls(&app, PAST).await, calls(&app, UPCOMING).await),
        (1, 1)
    );
}

#[tokio::test]
async fn a_transient_5xx_is_retried_and_the_page_renders() {
    let app = spawn_app().await;
    app.login().await;
    app.fault(PAST, 503, 1, None).await;
    assert_eq!(app.get("/invoices").await.status(), StatusCode::OK);
    assert_eq!(calls(&app, PAST).await, 2);
}

#[tokio::test]
async fn a_lasting_5xx_is_retried_twice_then_shown_as_unavailable_with_a_retry_link() {
    let app = spawn_app().await;
    app.login().await;
    app.fault(STRIPE, 503, 6, None).await;
    let r = app.get("/invoices?key=70").await;
    assert_eq!(r.status(), StatusCode::BAD_GATEWAY);
    let doc = html(&r.text().await.unwrap());
    assert_eq!(texts(&doc, "h1"), vec!["WordPress.com is unavailable"]);
    assert_eq!(attrs(&doc, "a#retry", "href"), vec!["/invoices?key=70"]);
    assert_eq!(
        (calls(&app, PAST).await, calls(&app, UPCOMING).await),
        (3, 3),
        "1 try + 2 retries each"
    );
}

#[tokio::test]
async fn a_500_is_not_retried() {
    let app = spawn_app().await;
    app.login().await;
    app.fault(STRIPE, 500, 2, None).await;
    let r = app.get("/invoices").await;
    assert_eq!(r.status(), StatusCode::BAD_GATEWAY);
    assert_unavailable_page(r, "/invoices").await;
    assert_eq!(
        (calls(&app, PAST).await, calls(&app, UPCOMING).await),
        (1, 1)
    );
}

#[tokio::test]
async fn a_hung_upstream_gives_a_timeout_page_within_the_deadline() {
    let app = spawn_with(Options {
        deadline: Duration::from_secs(1),
        ..Options::default()
    })
    .await;
    app.login().await;
    app.control(
        "latency",
        serde_json::json!({"path_prefix": STRIPE, "ms": 5000}),
    )
    .await;
    let started = Instant::now();
    let r = app.get("/invoices").await;
    assert_eq!(r.status(), StatusCode::GATEWAY_TIMEOUT);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        texts(&html(&r.text().await.unwrap()), "h1"),
        vec!["WordPress.com is unavailable"]
    );
}

#[tokio::test]
async fn an_undecodable_body_is_an_unavailable_page_not_a_500() {
    let app = spawn_app().await;
    app.login().await;
    // 200 answers whose bodies are error objects, not invoices.
    app.fault(STRIPE, 200, 2, None).await;
    let r = app.get("/invoices").await;
    assert_eq!(r.status(), StatusCode::BAD_GATEWAY);
    assert_unavailable_page(r, "/invoices").await;
}

/// The "WordPress.com is unavailable" page: what happened, a retry link back to `page`, the
/// layout (the user is still logged in) and a request id, never a cause.
async fn assert_unavailable_page(r: reqwest::Response, page: &str) {
    assert!(r.headers().contains_key("x-request-id"));
    let body = r.text().await.unwrap();
    let doc = html(&body);
    assert_eq!(texts(&doc, "h1"), vec!["WordPress.com is unavailable"]);
    assert!(texts(&doc, ".error-page p")[0].contains("Try again in a moment"));
    assert_eq!(attrs(&doc, "#retry", "href"), vec![page]);
    assert!(texts(&doc, ".error-page .muted")[0].contains("request id"));
    for cause in ["500", "decode", "internal_server_error", "expected"] {
        assert!(
            !texts(&doc, ".error-page p")[0].contains(cause),
            "the cause is not shown: {cause}"
        );
    }
}

#[tokio::test]
async fn one_failing_invoice_endpoint_degrades_only_its_panel() {
    let app = spawn_app().await;
    app.login().await;
    app.fault(PAST, 500, 1, None).await;
    let r = app.get("/invoices").await;
    assert_eq!(r.status(), StatusCode::OK);
    let doc = html(&r.text().await.unwrap());
    assert_eq!(texts(&doc, "#past .panel-error").len(), 1);
    assert_eq!(
        attrs(&doc, "#past .panel-error a", "href"),
        vec!["/invoices"]
    );
    assert!(
        !texts(&doc, "#upcoming tbody tr").is_empty(),
        "the upcoming panel still renders"
    );
}

#[tokio::test]
async fn a_failing_summary_degrades_only_its_overview_panel() {
    let app = spawn_app().await;
    app.login().await;
    app.wait_for_index(70).await;
    app.fault("/wpcom/v2/jetpack-partners/activations", 500, 1, None)
        .await;
    let r = app.get("/").await;
    assert_eq!(r.status(), StatusCode::OK);
    let doc = html(&r.text().await.unwrap());
    assert_eq!(texts(&doc, "#summary-error").len(), 1);
    assert_eq!(
        texts(&doc, "#index-cards .card").len(),
        5,
        "the index panels still render"
    );
}
