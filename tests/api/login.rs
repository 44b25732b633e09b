//! The OAuth flow, the session life cycle, logout.

use std::time::Duration;

use reqwest::StatusCode;

use crate::helpers::*;

#[tokio::test]
async fn full_login_lands_on_the_remembered_page_with_a_new_session_id() {
    let app = spawn_app().await;
    // Arrange: a logged-out visit remembers where it was going.
    let r = app.get("/activations?page=2").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/login?next=%2Factivations%3Fpage%3D2");
    let login = app
        .get("/login?next=%2Factivations%3Fpage%3D2")
        .await
        .text()
        .await
        .unwrap();
    let doc = html(&login);
    assert_eq!(texts(&doc, "a#login"), vec!["Log in with WordPress.com"]);
    let start = attrs(&doc, "a#login", "href").remove(0);
    // Act: start, approve, come back.
    let r = app.client.get(app.url(&start)).send().await.unwrap();
    let pre_login_cookie = session_cookie(&r).expect("pre-login session cookie");
    let authorize = url::Url::parse(location(&r)).unwrap();
    let callback = app.consent(&authorize, 1001, "approve").await;
    let r = app.client.get(callback.clone()).send().await.unwrap();
    // Assert: 303 to the remembered page, no code or state in it, a rotated session id.
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/activations?page=2");
    assert_eq!(r.headers()["cache-control"], "no-store");
    assert_eq!(r.headers()["referrer-policy"], "no-referrer");
    let logged_in_cookie = session_cookie(&r).expect("session cookie after login");
    assert_ne!(pre_login_cookie, logged_in_cookie);
    let page = app.get("/activations?page=2").await;
    assert_eq!(page.status(), StatusCode::OK);
    let doc = html(&page.text().await.unwrap());
    assert_eq!(texts(&doc, "h1"), vec!["Activations"]);
    assert_eq!(texts(&doc, ".user"), vec!["Host Admin"]);
    // The pre-login id no longer works.
    let old = client_with_cookie(&pre_login_cookie);
    assert_eq!(
        app.get_with(&old, "/").await.status(),
        StatusCode::SEE_OTHER
    );
    assert_eq!(app.count("POST /oauth2/token").await, 1);
}

#[tokio::test]
async fn the_authorize_request_carries_state_pkce_global_scope_and_the_configured_redirect() {
    let app = spawn_app().await;
    let evil = new_client();
    let r = evil
        .get(app.url("/auth/start"))
        .header("Host", "evil.example")
        .header("X-Forwarded-Host", "evil.example")
        .send()
        .await
        .unwrap();
    let url = url::Url::parse(location(&r)).unwrap();
    let q: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
    assert_eq!(url.path(), "/oauth2/authorize");
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["scope"], "global");
    assert_eq!(q["client_id"], "11111");
    assert_eq!(q["redirect_uri"], format!("{}/auth/callback", app.addr));
    assert!(q["state"].len() >= 22, "state carries at least 128 bits");
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["code_challenge"].len(), 43);
    assert_eq!(r.headers()["cache-control"], "no-store");
}

#[tokio::test]
async fn pkce_can_be_switched_off() {
    let app = spawn_with(Options {
        pkce: false,
        ..Options::default()
    })
    .await;
    let authorize = app.start_login_with(&app.client, None).await;
    assert!(!authorize.query_pairs().any(|(k, _)| k == "code_challenge"));
    let callback = app.consent(&authorize, 1001, "approve").await;
    let r = app.client.get(callback).send().await.unwrap();
    assert_eq!(location(&r), "/");
}

#[tokio::test]
async fn a_wrong_state_is_refused_before_any_token_call() {
    let app = spawn_app().await;
    let authorize = app.start_login_with(&app.client, None).await;
    let mut callback = app.consent(&authorize, 1001, "approve").await;
    let code = callback
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    callback
        .query_pairs_mut()
        .clear()
        .append_pair("code", &code)
        .append_pair("state", "forged-state-value-000000");
    let r = app.client.get(callback).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let doc = html(&r.text().await.unwrap());
    assert_eq!(texts(&doc, "h1"), vec!["This login link is not valid"]);
    assert_eq!(app.count("POST /oauth2/token").await, 0);
    assert_eq!(
        app.get("/").await.status(),
        StatusCode::SEE_OTHER,
        "no logged-in session"
    );
}

#[tokio::test]
async fn missing_state_or_a_callback_from_another_browser_is_refused() {
    let app = spawn_app().await;
    let r = app.get("/auth/callback?code=abc").await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    // Login CSRF: a valid code and state from someone else's browser.
    let attacker = new_client();
    let authorize = app.start_login_with(&attacker, None).await;
    let callback = app.consent(&authorize, 1001, "approve").await;
    let r = app.client.get(callback).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(app.count("POST /oauth2/token").await, 0);
}

#[tokio::test]
async fn a_replayed_callback_is_refused_and_the_first_session_survives() {
    let app = spawn_app().await;
    let authorize = app.start_login_with(&app.client, None).await;
    let callback = app.consent(&authorize, 1001, "approve").await;
    assert_eq!(
        app.client
            .get(callback.clone())
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::SEE_OTHER
    );
    let again = app.client.get(callback).send().await.unwrap();
    assert_eq!(again.status(), StatusCode::BAD_REQUEST);
    assert_eq!(app.count("POST /oauth2/token").await, 1);
    assert_eq!(app.get("/").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn denied_consent_gives_a_clear_page_and_no_session() {
    let app = spawn_app().await;
    let authorize = app.start_login_with(&app.client, None).await;
    let callback = app.consent(&authorize, 1001, "deny").await;
    assert!(
        callback
            .query_pairs()
            .any(|(k, v)| k == "error" && v == "access_denied")
    );
    let r = app.client.get(callback).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let doc = html(&r.text().await.unwrap());
    assert_eq!(texts(&doc, "h1"), vec!["Login cancelled"]);
    assert_eq!(attrs(&doc, "a#relogin", "href"), vec!["/login"]);
    assert_eq!(app.get("/").await.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.count("POST /oauth2/token").await, 0);
}

#[tokio::test]
async fn a_failed_code_exchange_gives_a_clear_page_and_is_not_retried() {
    let app = spawn_app().await;
    app.fault("/oauth2/token", 500, 1, None).await;
    let r = app.login_with(&app.client, 1001, None).await;
    assert_eq!(r.status(), StatusCode::BAD_GATEWAY);
    assert_eq!(
        texts(&html(&r.text().await.unwrap()), "h1"),
        vec!["WordPress.com is unavailable"]
    );
    assert_eq!(
        app.count("POST /oauth2/token").await,
        1,
        "the token POST is never retried"
    );
    assert_eq!(app.get("/").await.status(), StatusCode::SEE_OTHER);
    // A rejected code (invalid_grant) is a 400 page.
    let authorize = app.start_login_with(&app.client, None).await;
    let callback = app.consent(&authorize, 1001, "approve").await;
    let state = callback
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .into_owned();
    let r = app
        .get(&format!("/auth/callback?code=not-a-code&state={state}"))
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        texts(&html(&r.text().await.unwrap()), "h1"),
        vec!["WordPress.com did not accept the login"]
    );
}

#[tokio::test]
async fn a_user_without_a_partner_is_told_so_and_can_log_out() {
    let app = spawn_app().await;
    let r = app.login_with(&app.client, 1002, None).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = app.get("/").await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let doc = html(&r.text().await.unwrap());
    assert_eq!(
        texts(&doc, "h1"),
        vec!["This WordPress.com account is not a Jetpack partner"]
    );
    let csrf = attrs(&doc, "form input[name=csrf]", "value").remove(0);
    let r = app
        .client
        .post(app.url("/logout"))
        .form(&[("csrf", csrf)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.live_sessions().await, 0);
}

#[tokio::test]
async fn next_only_keeps_same_origin_paths() {
    let app = spawn_app().await;
    for evil in [
        "//evil.example",
        "https://evil.example/",
        "/\\evil.example",
        "javascript:alert(1)",
        "/%2F%2Fevil.example",
    ] {
        let client = new_client();
        let r = app.login_with(&client, 1001, Some(evil)).await;
        assert_eq!(location(&r), "/", "{evil}");
    }
}

#[tokio::test]
async fn logout_needs_post_a_csrf_token_and_same_origin_then_deletes_the_session() {
    let app = spawn_app().await;
    app.login().await;
    let csrf = app.csrf().await;
    // GET is not a logout.
    assert_eq!(
        app.get("/logout").await.status(),
        StatusCode::METHOD_NOT_ALLOWED
    );
    // No token, a wrong token, or a cross-site origin: refused, session intact.
    let r = app
        .client
        .post(app.url("/logout"))
        .form(&[("x", "y")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = app
        .client
        .post(app.url("/logout"))
        .form(&[("csrf", "wrong")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = app
        .client
        .post(app.url("/logout"))
        .header("Origin", "https://evil.example")
        .form(&[("csrf", &csrf)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = app
        .client
        .post(app.url("/logout"))
        .header("Sec-Fetch-Site", "cross-site")
        .form(&[("csrf", &csrf)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(app.get("/").await.status(), StatusCode::OK);
    // A proper logout.
    let body = app.get("/").await;
    let cookie = body
        .headers()
        .get("set-cookie")
        .map(|v| v.to_str().unwrap().to_owned());
    drop(cookie);
    assert_eq!(app.live_sessions().await, 1);
    let r = app
        .client
        .post(app.url("/logout"))
        .header("Origin", &app.addr)
        .header("Sec-Fetch-Site", "same-origin")
        .form(&[("csrf", &csrf)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/login?reason=logged_out");
    assert!(r.headers().contains_key("clear-site-data"));
    let removal = set_cookies(&r)
        .into_iter()
        .find(|c| c.starts_with("portal_session="))
        .expect("cookie removal");
    assert!(removal.contains("Max-Age=0"), "{removal}");
    assert_eq!(app.live_sessions().await, 0);
    assert_eq!(app.get("/").await.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn the_old_cookie_is_anonymous_after_logout() {
    let app = spawn_app().await;
    let r = app.login_with(&app.client, 1001, None).await;
    let cookie = session_cookie(&r).unwrap();
    let csrf = app.csrf().await;
    app.client
        .post(app.url("/logout"))
        .form(&[("csrf", &csrf)])
        .send()
        .await
        .unwrap();
    let replay = client_with_cookie(&cookie);
    let r = app.get_with(&replay, "/").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        app.live_sessions().await,
        0,
        "a replayed id creates nothing"
    );
}

#[tokio::test]
async fn a_request_in_flight_cannot_bring_a_logged_out_session_back() {
    let app = spawn_with(Options {
        idle: Duration::from_secs(4),
        ..Options::default()
    })
    .await;
    let r = app.login_with(&app.client, 1001, None).await;
    let cookie = session_cookie(&r).unwrap();
    let csrf = app.csrf().await;
    // The slow request starts late enough that it records activity (touch every idle/4 = 1 s).
    tokio::time::sleep(Duration::from_millis(1100)).await;
    app.control(
        "latency",
        serde_json::json!({"path_prefix": "/wpcom/v2", "ms": 1500}),
    )
    .await;
    // The invoices page waits on WordPress.com (1.5 s here), after its session was touched, so
    // its session is saved after the logout below has deleted the row.
    let slow_client = client_with_cookie(&cookie);
    let url = app.url("/invoices");
    let slow = tokio::spawn(async move {
        let r = slow_client.get(url).send().await.unwrap();
        (r, std::time::Instant::now())
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let r = app
        .client
        .post(app.url("/logout"))
        .form(&[("csrf", &csrf)])
        .send()
        .await
        .unwrap();
    let logged_out = std::time::Instant::now();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (slow, slow_done) = slow.await.unwrap();
    assert!(
        slow_done > logged_out + Duration::from_millis(500),
        "the slow request really ended after the logout"
    );
    assert_eq!(
        slow.status(),
        StatusCode::OK,
        "the slow page itself still renders"
    );
    app.control(
        "latency",
        serde_json::json!({"path_prefix": "/wpcom/v2", "ms": 0}),
    )
    .await;
    assert_eq!(
        app.live_sessions().await,
        0,
        "the slow response did not re-create the row"
    );
    assert_eq!(
        app.get_with(&client_with_cookie(&cookie), "/")
            .await
            .status(),
        StatusCode::SEE_OTHER
    );
}

#[tokio::test]
async fn a_forged_session_id_is_never_adopted() {
    let app = spawn_app().await;
    let forged = client_with_cookie("portal_session=AAAAAAAAAAAAAAAAAAAAAA");
    let r = app.get_with(&forged, "/").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(
        set_cookies(&r)
            .iter()
            .all(|c| !c.contains("AAAAAAAAAAAAAAAAAAAAAA") || c.contains("Max-Age=0"))
    );
    assert_eq!(app.live_sessions().await, 0);
}

#[tokio::test]
async fn idle_sessions_end() {
    let app = spawn_with(Options {
        idle: Duration::from_secs(2),
        ..Options::default()
    })
    .await;
    app.login().await;
    assert_eq!(app.get("/").await.status(), StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(3200)).await;
    let r = app.get("/invoices").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/login?next=%2Finvoices&reason=expired");
    assert_eq!(app.live_sessions().await, 0);
}

#[tokio::test]
async fn sessions_end_after_the_absolute_timeout_even_when_active() {
    let app = spawn_with(Options {
        idle: Duration::from_secs(60),
        absolute: Duration::from_secs(3),
        ..Options::default()
    })
    .await;
    app.login().await;
    for _ in 0..3 {
        assert_eq!(app.get("/").await.status(), StatusCode::OK);
        tokio::time::sleep(Duration::from_millis(700)).await;
    }
    tokio::time::sleep(Duration::from_millis(2000)).await;
    assert_eq!(app.get("/").await.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn session_cookies_are_httponly_lax_and_secure_only_over_https() {
    let app = spawn_app().await;
    let r = app.get("/auth/start").await;
    let cookie = set_cookies(&r)
        .into_iter()
        .find(|c| c.starts_with("portal_session="))
        .unwrap();
    assert!(cookie.contains("HttpOnly"));
    assert!(cookie.contains("SameSite=Lax"));
    assert!(cookie.contains("Path=/"));
    assert!(!cookie.contains("Secure"));
    assert!(!cookie.contains("Domain"));
    assert!(!r.headers().contains_key("strict-transport-security"));

    let https = spawn_with(Options {
        public_url: Some("https://portal.example".into()),
        ..Options::default()
    })
    .await;
    let r = https.get("/auth/start").await;
    let cookie = set_cookies(&r)
        .into_iter()
        .find(|c| c.contains("portal_session="))
        .unwrap();
    assert!(cookie.starts_with("__Host-portal_session="), "{cookie}");
    assert!(
        cookie.contains("Secure") && cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax")
    );
    let authorize = url::Url::parse(location(&r)).unwrap();
    assert!(
        authorize
            .query_pairs()
            .any(|(k, v)| k == "redirect_uri" && v == "https://portal.example/auth/callback")
    );
    assert!(r.headers().contains_key("strict-transport-security"));
}

#[tokio::test]
async fn at_most_three_logins_are_pending_per_browser() {
    let app = spawn_app().await;
    let mut authorizes = Vec::new();
    for _ in 0..4 {
        authorizes.push(app.start_login_with(&app.client, None).await);
    }
    // The oldest was dropped; the newest three still complete (the second-oldest proves the
    // limit is three, not one or two).
    let first = app.consent(&authorizes[0], 1001, "approve").await;
    assert_eq!(
        app.client.get(first).send().await.unwrap().status(),
        StatusCode::BAD_REQUEST
    );
    let second = app.consent(&authorizes[1], 1001, "approve").await;
    assert_eq!(
        app.client.get(second).send().await.unwrap().status(),
        StatusCode::SEE_OTHER
    );
    let last = app.consent(&authorizes[3], 1001, "approve").await;
    assert_eq!(
        app.client.get(last).send().await.unwrap().status(),
        StatusCode::SEE_OTHER
    );
}

#[tokio::test]
async fn a_login_is_kept_as_one_text_and_a_session_kept_as_a_tree_of_values_still_reads() {
    use tower_sessions::SessionStore as _;
    let app = spawn_app().await;
    let r = app.login_with(&app.client, 1001, None).await;
    let cookie = session_cookie(&r).unwrap();
    let id: tower_sessions::session::Id = cookie.split_once('=').unwrap().1.parse().unwrap();
    let mut record = app.state.sessions.load(&id).await.unwrap().unwrap();
    let Some(serde_json::Value::String(text)) = record.data.get("portal.auth").cloned() else {
        panic!("the login is kept as one JSON text");
    };
    // Arrange: the session as it was stored before, the login a tree of JSON values.
    let tree: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(tree["user"]["id"], 1001);
    let csrf = tree["csrf"].as_str().unwrap().to_owned();
    record.data.insert("portal.auth".into(), tree);
    app.state.sessions.save(&record).await.unwrap();
    // Act and assert: the page is the logged-in user's, the login's CSRF token the same.
    let r = app.get("/").await;
    assert_eq!(r.status(), StatusCode::OK);
    let doc = html(&r.text().await.unwrap());
    assert_eq!(texts(&doc, ".who .user"), vec!["Host Admin"]);
    assert_eq!(
        attrs(&doc, "form.logout input[name=csrf]", "value"),
        vec![csrf]
    );
}
