//! The partner documentation's own token recipe, run against `partner-portal sandbox`: a client
//! nobody here wrote. Its app registers `http://127.0.0.1:3210` (no trailing slash) as the
//! redirect URL, sends the browser to the authorize URL, exchanges the code with the multipart
//! form POST that PHP's curl sends for an array of fields, then calls the four reporting
//! endpoints with the token, as its curl lines do.

use std::{process::Stdio, time::Duration};

use reqwest::{StatusCode, multipart::Form};
use serde_json::Value;

use crate::helpers::*;

const REDIRECT: &str = "http://127.0.0.1:3210";

async fn start_sandbox() -> (tokio::process::Child, String) {
    let port = free_port();
    let child = portal_command()
        .arg("sandbox")
        .env("PORTAL_SANDBOX_LISTEN", format!("127.0.0.1:{port}"))
        .env("SANDBOX_REDIRECT_URI", REDIRECT)
        .env("SANDBOX_AUTO_APPROVE_USER", "1001")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    for _ in 0..200 {
        if reqwest::get(format!("{base}/oauth2/token-info"))
            .await
            .is_ok()
        {
            return (child, base);
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the sandbox did not start");
}

#[tokio::test]
async fn the_partner_docs_php_recipe_works_against_the_sandbox_binary() {
    let (_child, base) = start_sandbox().await;
    let client = new_client();

    // 1. The authorize URL exactly as the partner docs spell it.
    let authorize = format!(
        "{base}/oauth2/authorize?client_id=11111&response_type=code&redirect_uri=http%3A%2F%2F127.0.0.1%3A3210&scope=global"
    );
    let r = client.get(&authorize).send().await.unwrap();
    assert!(
        r.status().is_redirection(),
        "the registered URI must match: {}",
        r.status()
    );
    let back = url::Url::parse(location(&r)).unwrap();
    assert_eq!(back.origin().ascii_serialization(), REDIRECT);
    let code = back
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .expect("a code comes back");

    // 2. PHP's curl with an array of POST fields sends multipart/form-data.
    let form = Form::new()
        .text("client_id", "11111")
        .text("redirect_uri", REDIRECT)
        .text("client_secret", "fake-secret")
        .text("code", code)
        .text("grant_type", "authorization_code");
    let r = client
        .post(format!("{base}/oauth2/token"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let grant: Value = r.json().await.unwrap();
    let token = grant["access_token"].as_str().unwrap().to_owned();
    assert_eq!(grant["scope"], "global");

    // 3. The four reporting endpoints, with the token as the recipe's curl lines send it.
    for path in [
        "/wpcom/v2/jetpack-partners/7/key/70/activations?page=1&per_page=10&activated_after&activated_before",
        "/wpcom/v2/jetpack-partners/activations?key_id=70&scale=month",
        "/wpcom/v2/jetpack-partners/7/key/70/stripe/invoices",
        "/wpcom/v2/jetpack-partners/7/key/70/stripe/upcoming-invoice",
    ] {
        let r = client
            .get(format!("{base}{path}"))
            .header("Authorization", format!("Bearer {token}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        let body: Value = r.json().await.unwrap();
        assert!(body.is_object() || body.is_array(), "{path}: {body}");
    }
}
