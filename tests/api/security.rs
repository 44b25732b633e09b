//! Headers, and secrets that must never leave the server.

use reqwest::StatusCode;

use crate::helpers::*;

#[tokio::test]
async fn html_responses_carry_the_security_headers() {
    let app = spawn_app().await;
    let anonymous = app.get("/login").await;
    app.login().await;
    for r in [
        anonymous,
        app.get("/").await,
        app.get("/activations").await,
        app.get("/nope").await,
    ] {
        let h = r.headers();
        let csp = h["content-security-policy"].to_str().unwrap();
        for part in [
            "default-src 'none'",
            "frame-ancestors 'none'",
            "object-src 'none'",
            "base-uri 'none'",
        ] {
            assert!(csp.contains(part), "{csp}");
        }
        assert!(!csp.contains("unsafe-"));
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert_eq!(h["referrer-policy"], "no-referrer");
        assert_eq!(h["cross-origin-opener-policy"], "same-origin");
        assert_eq!(h["cache-control"], "no-store");
        assert_eq!(h["x-request-id"].to_str().unwrap().len(), 16);
    }
}

#[tokio::test]
async fn the_token_secret_and_code_never_reach_responses_or_logs() {
    let app = spawn_app().await;
    // Collect every response of a full session.
    let mut seen = String::new();
    let authorize = app.start_login_with(&app.client, Some("/invoices")).await;
    let callback = app.consent(&authorize, 1001, "approve").await;
    let code = callback
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    let mut responses = vec![app.client.get(callback).send().await.unwrap()];
    for path in [
        "/",
        "/activations",
        "/invoices",
        "/api/v1/activations",
        "/api/v1/invoices",
        "/api/v1/invoices/upcoming",
        "/api/v1/activations/summary",
        "/nope",
    ] {
        responses.push(app.get(path).await);
    }
    app.fault("/wpcom/v2", 503, 3, None).await;
    responses.push(app.get("/activations").await);
    for r in responses {
        for (name, value) in r.headers() {
            seen.push_str(&format!("{name}: {}\n", value.to_str().unwrap_or("")));
        }
        seen.push_str(&r.text().await.unwrap());
    }
    let tokens = app.sandbox.issued_tokens();
    assert_eq!(tokens.len(), 1);
    let logs = captured_logs();
    assert!(logs.contains("upstream call"), "logs were captured");
    for (what, secret) in [
        ("token", tokens[0].as_str()),
        ("client secret", "fake-secret"),
        ("code", code.as_str()),
    ] {
        assert!(!seen.contains(secret), "{what} in a response");
        assert!(!logs.contains(secret), "{what} in the logs");
    }
    assert!(
        !logs.contains("callback?"),
        "the callback query string is never logged"
    );
}

#[tokio::test]
async fn the_session_database_is_private_to_its_owner() {
    use std::os::unix::fs::PermissionsExt as _;
    let app = spawn_app().await;
    app.login().await;
    let mode = std::fs::metadata(&app.db_path)
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
    assert_eq!(app.get("/").await.status(), StatusCode::OK);
}
