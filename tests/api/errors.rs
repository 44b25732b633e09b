//! Every upstream failure becomes a page a person can act on, driven through the sandbox's
//! control API.

use std::time::{Duration, Instant};

use reqwest::StatusCode;

use crate::helpers::*;

const LIST: &str = "/wpcom/v2/jetpack-partners/7/key/70/activations";

#[tokio::test]
async fn a_revoked_token_ends_the_session_and_returns_to_the_same_page_after_login() {
    let app = spawn_app().await;
    app.login().await;
    app.control("tokens/revoke", serde_json::json!({"user_id": 1001}))
        .await;
    let r = app.get("/activations?page=3").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        location(&r),
        "/login?next=%2Factivations%3Fpage%3D3&reason=expired"
    );
    assert_eq!(app.live_sessions().await, 0);
    assert_eq!(
        app.count(&format!("GET {LIST}")).await,
        1,
        "a 401 is never retried"
    );
    // Logging in again lands on the same page.
    let r = app
        .login_with(&app.client, 1001, Some("/activations?page=3"))
        .await;
    assert_eq!(location(&r), "/activations?page=3");
}

#[tokio::test]
async fn a_403_explains_missing_access_without_a_redirect_loop() {
    let app = spawn_app().await;
    app.login().await;
    app.fault(LIST, 403, 1, None).await;
    let r = app.get("/activations").await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        texts(&html(&r.text().await.unwrap()), "h1"),
        vec!["No access"]
    );
    assert_eq!(
        app.get("/activations").await.status(),
        StatusCode::OK,
        "session kept"
    );
}

#[tokio::test]
async fn a_404_is_a_not_found_page() {
    let app = spawn_app().await;
    app.login().await;
    app.fault("/wpcom/v2/jetpack-partners/activations", 404, 1, None)
        .await;
    let r = app.get("/").await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        texts(&html(&r.text().await.unwrap()), "h1"),
        vec!["Not found"]
    );
}

#[tokio::test]
async fn a_short_retry_after_is_honoured_and_the_page_renders() {
    let app = spawn_app().await;
    app.login().await;
    app.fault(LIST, 429, 1, Some(1)).await;
    let started = Instant::now();
    let r = app.get("/activations").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        started.elapsed() >= Duration::from_millis(950),
        "waited for Retry-After"
    );
    assert_eq!(app.count(&format!("GET {LIST}")).await, 2);
}

#[tokio::test]
async fn a_retry_after_beyond_the_deadline_gives_a_busy_page_at_once() {
    let app = spawn_app().await;
    app.login().await;
    app.fault(LIST, 429, 3, Some(60)).await;
    let started = Instant::now();
    let r = app.get("/activations").await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.headers()["retry-after"], "60");
    assert!(started.elapsed() < Duration::from_secs(5));
    let doc = html(&r.text().await.unwrap());
    assert_eq!(texts(&doc, "h1"), vec!["WordPress.com is busy"]);
    assert_eq!(attrs(&doc, "a#retry", "href"), vec!["/activations"]);
    assert_eq!(app.count(&format!("GET {LIST}")).await, 1);
}

#[tokio::test]
async fn transient_5xx_are_retried_then_shown_as_unavailable_with_a_retry_link() {
    let app = spawn_app().await;
    app.login().await;
    app.fault(LIST, 503, 1, None).await;
    assert_eq!(app.get("/activations").await.status(), StatusCode::OK);
    assert_eq!(app.count(&format!("GET {LIST}")).await, 2);
    app.fault(LIST, 503, 3, None).await;
    let r = app.get("/activations?page=2").await;
    assert_eq!(r.status(), StatusCode::BAD_GATEWAY);
    let doc = html(&r.text().await.unwrap());
    assert_eq!(texts(&doc, "h1"), vec!["WordPress.com is unavailable"]);
    assert_eq!(attrs(&doc, "a#retry", "href"), vec!["/activations?page=2"]);
    assert_eq!(
        app.count(&format!("GET {LIST}")).await,
        2 + 3,
        "1 try + 2 retries"
    );
    // A 500 is not retried (it is not a transient gateway error).
    app.fault(LIST, 500, 1, None).await;
    assert_eq!(
        app.get("/activations").await.status(),
        StatusCode::BAD_GATEWAY
    );
    assert_eq!(app.count(&format!("GET {LIST}")).await, 6);
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
        serde_json::json!({"path_prefix": LIST, "ms": 5000}),
    )
    .await;
    let started = Instant::now();
    let r = app.get("/activations").await;
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
    // A 200 whose body is an error object, not an activations list.
    app.fault(LIST, 200, 1, None).await;
    let r = app.get("/activations").await;
    assert_eq!(r.status(), StatusCode::BAD_GATEWAY);
}

#[tokio::test]
async fn one_failing_invoice_endpoint_degrades_only_its_panel() {
    let app = spawn_app().await;
    app.login().await;
    app.fault(
        "/wpcom/v2/jetpack-partners/7/key/70/stripe/invoices",
        500,
        1,
        None,
    )
    .await;
    let r = app.get("/invoices").await;
    assert_eq!(r.status(), StatusCode::OK);
    let doc = html(&r.text().await.unwrap());
    assert_eq!(texts(&doc, "#past .panel-error").len(), 1);
    assert!(
        !texts(&doc, "#upcoming tbody tr").is_empty(),
        "the upcoming panel still renders"
    );
    // Both failing: the page fails as a whole.
    app.fault("/wpcom/v2/jetpack-partners/7/key/70/stripe", 500, 2, None)
        .await;
    assert_eq!(app.get("/invoices").await.status(), StatusCode::BAD_GATEWAY);
}
