//! The sandbox keeps to `WPCOM_API.md` §9: routes, shapes and errors, checked directly.

use partner_portal::sandbox::SandboxOptions;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;

async fn token_for(app: &TestApp, user: u64) -> String {
    let authorize = app.start_login_with(&new_client(), None).await;
    let callback = app.consent(&authorize, user, "approve").await;
    let code = callback
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    let verifier_less = new_client()
        .post(format!("{}/oauth2/token", app.sandbox_url))
        .form(&[
            ("client_id", "11111"),
            ("client_secret", "fake-secret"),
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", &format!("{}/auth/callback", app.addr)),
        ])
        .send()
        .await
        .unwrap();
    // The portal sent a PKCE challenge, so a verifier-less exchange is refused (and burns the code).
    assert_eq!(verifier_less.status(), StatusCode::BAD_REQUEST);
    let body: Value = verifier_less.json().await.unwrap();
    assert_eq!(body["error"], "invalid_grant");
    // A flow without PKCE gives a token.
    let mut url = url::Url::parse(&format!("{}/oauth2/authorize", app.sandbox_url)).unwrap();
    url.query_pairs_mut()
        .append_pair("client_id", "11111")
        .append_pair("redirect_uri", &format!("{}/auth/callback", app.addr))
        .append_pair("response_type", "code")
        .append_pair("scope", "global")
        .append_pair("state", "s1");
    let callback = app.consent(&url, user, "approve").await;
    assert!(
        callback
            .query_pairs()
            .any(|(k, v)| k == "state" && v == "s1"),
        "state echoed"
    );
    let code = callback
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    let r: Value = new_client()
        .post(format!("{}/oauth2/token", app.sandbox_url))
        .form(&[
            ("client_id", "11111"),
            ("client_secret", "fake-secret"),
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", &format!("{}/auth/callback", app.addr)),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["token_type"], "bearer");
    assert_eq!(r["scope"], "global");
    assert_eq!(r["blog_id"], 0);
    assert!(r["blog_url"].is_null());
    let token = r["access_token"].as_str().unwrap().to_owned();
    assert!(
        token.contains(['#', '%', '&', '(', ')', '^', '@']),
        "tokens carry URL-hostile characters"
    );
    token
}

#[tokio::test]
async fn authorize_refuses_unknown_clients_and_redirect_mismatches_without_redirecting() {
    let app = spawn_app().await;
    let base = format!("{}/oauth2/authorize", app.sandbox_url);
    let r = new_client()
        .get(&base)
        .query(&[
            ("client_id", "999"),
            ("redirect_uri", "x"),
            ("response_type", "code"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_client");
    let r = new_client()
        .get(&base)
        .query(&[
            ("client_id", "11111"),
            ("redirect_uri", &format!("{}/auth/callback/", app.addr)),
            ("response_type", "code"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::BAD_REQUEST,
        "a trailing slash is a mismatch"
    );
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_request");
    let r = new_client()
        .get(&base)
        .query(&[
            ("client_id", "11111"),
            ("redirect_uri", &format!("{}/auth/callback", app.addr)),
            ("response_type", "code"),
            ("scope", "global posts"),
            ("state", "z"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(location(&r).contains("error=invalid_scope") && location(&r).contains("state=z"));
}

#[tokio::test]
async fn the_token_endpoint_returns_every_documented_error() {
    let app = spawn_app().await;
    let post = |form: Vec<(&'static str, &'static str)>| {
        let url = format!("{}/oauth2/token", app.sandbox_url);
        async move {
            let r = new_client().post(url).form(&form).send().await.unwrap();
            (
                r.status(),
                r.json::<Value>().await.unwrap()["error"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            )
        }
    };
    let ok_client = vec![("client_id", "11111"), ("client_secret", "fake-secret")];
    assert_eq!(
        post(vec![("grant_type", "authorization_code")]).await,
        (StatusCode::BAD_REQUEST, "invalid_request".into())
    );
    assert_eq!(
        post(vec![
            ("client_id", "11111"),
            ("client_secret", "nope"),
            ("grant_type", "authorization_code")
        ])
        .await,
        (StatusCode::BAD_REQUEST, "invalid_client".into())
    );
    let mut f = ok_client.clone();
    f.extend([
        ("grant_type", "authorization_code"),
        ("code", "unknown"),
        ("redirect_uri", "x"),
    ]);
    assert_eq!(
        post(f).await,
        (StatusCode::BAD_REQUEST, "invalid_grant".into())
    );
    let mut f = ok_client.clone();
    f.push(("grant_type", "password"));
    assert_eq!(
        post(f).await,
        (StatusCode::BAD_REQUEST, "unsupported_grant_type".into())
    );
    let mut f = ok_client.clone();
    f.extend([("grant_type", "client_credentials"), ("scope", "global")]);
    assert_eq!(
        post(f).await,
        (StatusCode::BAD_REQUEST, "invalid_scope".into())
    );
    // Multipart works too, as the partner scripts use it.
    let form = reqwest::multipart::Form::new()
        .text("client_id", "11111")
        .text("client_secret", "fake-secret")
        .text("grant_type", "client_credentials")
        .text("scope", "jetpack-partner");
    let r: Value = new_client()
        .post(format!("{}/oauth2/token", app.sandbox_url))
        .multipart(form)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["scope"], "jetpack-partner");
    // Such a token is refused by the reporting routes.
    let partner_token = r["access_token"].as_str().unwrap();
    let r = new_client()
        .get(format!("{}/wpcom/v2/jetpack-partners", app.sandbox_url))
        .bearer_auth(partner_token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn me_token_info_and_the_partner_routes_follow_the_contract() {
    let app = spawn_app().await;
    let token = token_for(&app, 1001).await;
    let s = &app.sandbox_url;
    let get = |path: String, token: Option<String>| async move {
        let mut req = new_client().get(path);
        if let Some(t) = token {
            req = req.header("Authorization", format!("BEARER {t}"));
        }
        let r = req.send().await.unwrap();
        (r.status(), r.json::<Value>().await.unwrap_or(Value::Null))
    };
    let t = Some(token.clone());
    let (st, me) = get(format!("{s}/rest/v1.1/me"), t.clone()).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(
        (
            me["ID"].as_u64(),
            me["username"].as_str(),
            me["has_jetpack_partner_access"].as_bool()
        ),
        (Some(1001), Some("hostadmin"), Some(true))
    );
    assert_eq!(
        get(format!("{s}/rest/v1.1/me"), None).await,
        (
            StatusCode::FORBIDDEN,
            json!({"error": "authorization_required", "message": "An active access token must be used to query information about the current user."})
        )
    );
    let info: Value = new_client()
        .get(format!("{s}/oauth2/token-info"))
        .query(&[("client_id", "11111"), ("token", token.as_str())])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        info,
        json!({"client_id": "11111", "user_id": "1001", "blog_id": "0", "scope": "global"})
    );
    let (st, partners) = get(format!("{s}/wpcom/v2/jetpack-partners"), t.clone()).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(partners[0]["keys"][1]["disabled_on"], "2020-06-01 00:00:00");
    assert_eq!(
        get(format!("{s}/wpcom/v2/jetpack-partners"), None).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        get(
            format!("{s}/wpcom/v2/jetpack-partners"),
            Some("bogus".into())
        )
        .await
        .1["code"],
        "invalid_token"
    );
    assert_eq!(
        get(
            format!("{s}/wpcom/v2/jetpack-partners/x/key/70/activations"),
            t.clone()
        )
        .await
        .1["code"],
        "rest_no_route"
    );
    assert_eq!(
        get(
            format!("{s}/wpcom/v2/jetpack-partners/8/key/70/activations"),
            t.clone()
        )
        .await,
        (
            StatusCode::NOT_FOUND,
            json!({"code": "not_found", "message": "Partner not found.", "data": {"status": 404}})
        )
    );
    let (st, body) = get(
        format!("{s}/wpcom/v2/jetpack-partners/7/key/70/activations?per_page=1001"),
        t.clone(),
    )
    .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert_eq!(body["code"], "rest_invalid_param");
    assert!(body["data"]["params"]["per_page"].is_string());
    let (_, page) = get(
        format!("{s}/wpcom/v2/jetpack-partners/7/key/70/activations?page=99"),
        t.clone(),
    )
    .await;
    assert_eq!(page, json!({"total": 150, "activations": []}));
    let (_, filtered) = get(format!("{s}/wpcom/v2/jetpack-partners/7/key/70/activations?plans=jetpack_personal,premium&per_page=1000"), t.clone()).await;
    assert!(filtered["total"].as_u64().unwrap() > 0);
    assert_eq!(
        get(
            format!("{s}/wpcom/v2/jetpack-partners/activations?scale=week"),
            t.clone()
        )
        .await
        .0,
        StatusCode::BAD_REQUEST
    );
    // Envelopes and pretty printing.
    let (st, env) = get(
        format!("{s}/wpcom/v2/jetpack-partners/8?_envelope=1"),
        t.clone(),
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(env["status"], 404);
    assert_eq!(env["body"]["code"], "not_found");
    let (st, env) = get(format!("{s}/rest/v1.1/me?http_envelope=1"), None).await;
    assert_eq!((st, env["code"].as_u64()), (StatusCode::OK, Some(403)));
    // A non-partner is refused; writes are refused and recorded.
    let visitor = token_for(&app, 1002).await;
    assert_eq!(
        get(format!("{s}/wpcom/v2/jetpack-partners"), Some(visitor))
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    let r = new_client()
        .post(format!("{s}/wpcom/v2/jetpack-partners/7/key/70"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let state = app.sandbox_state().await;
    assert_eq!(state["writes"], json!(["POST /jetpack-partners/7/key/70"]));
}

#[tokio::test]
async fn the_dashboard_never_writes_upstream() {
    let app = spawn_app().await;
    app.login().await;
    app.wait_for_index(70).await;
    for path in [
        "/",
        "/activations",
        "/invoices",
        "/invoices/in_1Fake0008K70?key=70",
        "/activations.csv",
        "/invoices.csv",
        "/api/v1/activations",
        "/api/v1/activations/summary",
        "/api/v1/invoices",
        "/api/v1/invoices/upcoming",
    ] {
        app.get(path).await;
    }
    // Every form that posts, too: refresh and log out.
    let csrf = app.csrf().await;
    for path in ["/activations/refresh", "/logout"] {
        let r = app
            .client
            .post(app.url(path))
            .form(&[("csrf", csrf.as_str()), ("key", "70")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{path}");
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let state = app.sandbox_state().await;
    assert_eq!(state["writes"], json!([]));
    let counts = state["counts"].as_object().unwrap();
    assert!(
        counts.keys().all(|k| k.starts_with("GET ")
            || k == "POST /oauth2/token"
            || k == "POST /oauth2/authorize"),
        "{counts:?}"
    );
}

#[tokio::test]
async fn the_control_api_is_off_unless_enabled() {
    let app = spawn_with(Options {
        sandbox: SandboxOptions::default(),
        ..Options::default()
    })
    .await;
    let r = new_client()
        .get(format!("{}/__sandbox/state", app.sandbox_url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}
