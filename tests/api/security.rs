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

/// Every same-origin link and form target of `body`.
fn targets(body: &str) -> Vec<(String, String)> {
    let doc = html(body);
    let mut out: Vec<(String, String)> = attrs(&doc, "a[href]", "href")
        .into_iter()
        .map(|h| ("get".to_owned(), h))
        .collect();
    let sel = scraper::Selector::parse("form").unwrap();
    for form in doc.select(&sel) {
        let method = form.value().attr("method").unwrap_or("get").to_lowercase();
        if let Some(action) = form.value().attr("action") {
            out.push((method, action.to_owned()));
        }
    }
    out.retain(|(_, h)| h.starts_with('/') && !h.starts_with("//"));
    out
}

#[tokio::test]
async fn the_token_secret_and_code_never_reach_responses_or_logs() {
    let app = spawn_app().await;
    // Collect every response of a full session: every page reachable from the overview, every
    // download, every form (GET and POST), error pages, the refresh and the logout.
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
    app.wait_for_index(70).await;
    let csrf = app.csrf().await;
    // A portal API token, made on its page (whose answer shows it once, and is not scanned)
    // and used on the JSON API and a CSV download before the crawl.
    crate::team::post(&app.addr, &app.client, "/team/connect", &csrf, &[]).await;
    let made = crate::team::post(
        &app.addr,
        &app.client,
        "/tokens",
        &csrf,
        &[("name", "scanned"), ("scope", "invoices:read")],
    )
    .await
    .text()
    .await
    .unwrap();
    let api_token = made
        .split("value=\"")
        .find_map(|rest| rest.strip_prefix("ppt_"))
        .and_then(|rest| rest.split('"').next())
        .map(|rest| format!("ppt_{rest}"))
        .expect("the new token is shown once");
    for path in [
        "/api/v1/keys",
        "/api/v1/keys/70/activations?status=cancelled",
        "/api/v1/keys/70/invoices",
        "/activations.csv?key=70",
        "/",
    ] {
        responses.push(crate::tokens::with_token(&app, &api_token, path).await);
    }
    responses.push(crate::tokens::with_token(&app, &format!("{api_token}x"), "/api/v1/keys").await);
    let mut queue = vec![("get".to_owned(), "/".to_owned())];
    let mut done = std::collections::BTreeSet::new();
    while let Some((method, path)) = queue.pop() {
        if path.starts_with("/logout")
            || !done.insert((method.clone(), path.clone()))
            || done.len() > 120
        {
            continue;
        }
        let r = if method == "post" {
            app.client
                .post(app.url(&path))
                .form(&[("csrf", csrf.as_str()), ("key", "70"), ("back", "/")])
                .send()
                .await
                .unwrap()
        } else {
            app.get(&path).await
        };
        let mut head = String::new();
        for (name, value) in r.headers() {
            head.push_str(&format!("{name}: {}\n", value.to_str().unwrap_or("")));
        }
        let body = r.text().await.unwrap();
        queue.extend(targets(&body));
        seen.push_str(&head);
        seen.push_str(&body);
    }
    assert!(done.len() > 40, "the crawl reached {} targets", done.len());
    assert!(
        done.iter().any(|(m, _)| m == "post"),
        "the crawl posted forms"
    );
    assert!(
        done.iter().any(|(_, p)| p.contains(".csv")),
        "the crawl downloaded CSVs"
    );
    for path in [
        "/api/v1/activations",
        "/api/v1/invoices",
        "/api/v1/invoices/upcoming",
        "/api/v1/activations/summary",
        "/nope",
        "/activations/999999999",
        "/invoices/nope?key=70",
        "/activations?page=abc",
        "/activations/abc",
    ] {
        responses.push(app.get(path).await);
    }
    app.fault("/wpcom/v2", 503, 3, None).await;
    responses.push(app.get("/invoices").await);
    responses.push(
        app.client
            .post(app.url("/logout"))
            .form(&[("csrf", csrf.as_str())])
            .send()
            .await
            .unwrap(),
    );
    responses.push(app.get("/").await);
    for r in responses {
        for (name, value) in r.headers() {
            seen.push_str(&format!("{name}: {}\n", value.to_str().unwrap_or("")));
        }
        seen.push_str(&r.text().await.unwrap());
    }
    let tokens = app.sandbox.issued_tokens();
    assert_eq!(tokens.len(), 1);
    // The token's random part survives any encoding (base64url: escaping and URL-encoding
    // leave it as it is); the whole token is also looked for as HTML and as a URL would carry it.
    let token = tokens[0].as_str();
    let random = token.split('#').next().unwrap();
    assert!(random.len() >= 24, "{random}");
    let encodings = [
        token.to_owned(),
        url::form_urlencoded::byte_serialize(token.as_bytes()).collect::<String>(),
        token.replace('&', "&#38;"),
        token.replace('&', "&amp;"),
    ];
    let logs = captured_logs();
    assert!(logs.contains("upstream call"), "logs were captured");
    let api_hash = partner_portal::tokens::secret::hash(&api_token);
    // The portal's own log: the test's HTML parser traces the one page that shows the token.
    let portal = portal_logs();
    for (what, secret) in [
        ("token", random),
        ("client secret", "fake-secret"),
        ("code", code.as_str()),
        ("API token", &api_token[4..]),
        ("API token hash", api_hash.as_str()),
    ] {
        assert!(!seen.contains(secret), "{what} in a response");
        assert!(!portal.contains(secret), "{what} in the logs");
    }
    for encoded in &encodings {
        assert!(
            !seen.contains(encoded.as_str()),
            "the token, encoded, in a response"
        );
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
