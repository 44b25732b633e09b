//! The JSON proxy routes.

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::*;

#[tokio::test]
async fn unauthenticated_api_calls_get_401_json_not_a_redirect() {
    let app = spawn_app().await;
    for path in [
        "/api/v1/activations",
        "/api/v1/activations/summary",
        "/api/v1/invoices",
        "/api/v1/invoices/upcoming",
    ] {
        let r = app.get(path).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{path}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"], "unauthenticated");
    }
}

#[tokio::test]
async fn the_four_routes_return_the_upstream_json_and_status() {
    let app = spawn_app().await;
    app.login().await;
    let r = app
        .get("/api/v1/activations?per_page=5&plans[]=personal&plans[]=2000")
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["activations"].as_array().unwrap().len(), 5);
    assert!(body["activations"].as_array().unwrap().iter().all(|a| {
        [2005, 2000].contains(&a["product_id"].as_u64().unwrap())
            || [2005, 2000].contains(&a["current_product_id"].as_u64().unwrap())
    }));
    let summary: Value = app
        .get("/api/v1/activations/summary?scale=year")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(summary.as_array().unwrap().len(), 3);
    let invoices: Value = app.get("/api/v1/invoices").await.json().await.unwrap();
    assert_eq!(invoices["object"], "list");
    assert_eq!(invoices["data"].as_array().unwrap().len(), 12);
    let upcoming = app.get("/api/v1/invoices/upcoming").await;
    assert_eq!(upcoming.status(), StatusCode::OK);
    // The upstream's own 404 passes through.
    let none = app.get("/api/v1/invoices/upcoming?key=71").await;
    assert_eq!(none.status(), StatusCode::NOT_FOUND);
    let body: Value = none.json().await.unwrap();
    assert_eq!(body["code"], "invoice_upcoming_none");
    // Byte for byte what WordPress.com answers to the same call with the session's token.
    let token = app.sandbox.issued_tokens().remove(0);
    for (ours, upstream) in [
        (
            "/api/v1/activations?per_page=7&page=2",
            "/wpcom/v2/jetpack-partners/7/key/70/activations?page=2&per_page=7",
        ),
        (
            "/api/v1/activations/summary?scale=month",
            "/wpcom/v2/jetpack-partners/activations?key_id=70&scale=month",
        ),
        (
            "/api/v1/invoices",
            "/wpcom/v2/jetpack-partners/7/key/70/stripe/invoices",
        ),
        (
            "/api/v1/invoices/upcoming?key=71",
            "/wpcom/v2/jetpack-partners/7/key/71/stripe/upcoming-invoice",
        ),
    ] {
        let mine = app.get(ours).await;
        let direct = new_client()
            .get(format!("{}{upstream}", app.sandbox_url))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(mine.status(), direct.status(), "{ours}");
        assert_eq!(
            mine.bytes().await.unwrap(),
            direct.bytes().await.unwrap(),
            "{ours}"
        );
    }
}

#[tokio::test]
async fn api_parameters_are_validated_before_forwarding() {
    let app = spawn_app().await;
    app.login().await;
    for bad in [
        "/api/v1/activations?per_page=0",
        "/api/v1/activations?plans[]=nonsense",
        "/api/v1/activations?activated_after=soon",
        "/api/v1/activations/summary?scale=week",
        "/api/v1/invoices?key=abc",
    ] {
        let r = app.get(bad).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{bad}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"], "bad_request");
    }
    assert_eq!(
        app.get("/api/v1/invoices?key=99").await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.count("GET /wpcom/v2/jetpack-partners/7/key/70/activations")
            .await,
        0
    );
}

#[tokio::test]
async fn an_upstream_401_through_the_api_ends_the_session() {
    let app = spawn_app().await;
    app.login().await;
    app.control("tokens/revoke", serde_json::json!({"all": true}))
        .await;
    let r = app.get("/api/v1/invoices").await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.live_sessions().await, 0);
    let unavailable = spawn_app().await;
    unavailable.login().await;
    unavailable.fault("/wpcom/v2", 503, 3, None).await;
    let r = unavailable.get("/api/v1/invoices").await;
    assert_eq!(
        r.status(),
        StatusCode::SERVICE_UNAVAILABLE,
        "the upstream status passes through after retries"
    );
}
