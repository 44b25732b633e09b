//! A real headless Chromium logs in: click the button, approve on the consent page, land on the
//! overview. Driven over WebDriver (chromedriver from Debian) with a few plain HTTP calls.
//!
//! Without chromedriver the test says so loudly and passes, except under CI (`CI=true`), where a
//! missing browser is a failure.

use std::{process::Stdio, time::Duration};

use serde_json::{Value, json};

use crate::helpers::*;

struct Driver {
    base: String,
    session: String,
    http: reqwest::Client,
    _process: tokio::process::Child,
}

impl Driver {
    async fn start() -> Option<Self> {
        let chromedriver = ["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists());
        let Some(chromedriver) = chromedriver else {
            assert!(
                std::env::var("CI").is_err(),
                "chromedriver is missing under CI: .ci/run must install chromium-driver"
            );
            crate::helpers::skipped(
                "the headless Chromium test: chromedriver is not installed (apt-get install chromium chromium-driver)",
            );
            return None;
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let process = tokio::process::Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("chromedriver starts");
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        for _ in 0..100 {
            if http.get(format!("{base}/status")).send().await.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let profile = tempfile::tempdir().unwrap().keep();
        let caps = json!({"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": {
            "binary": "/usr/bin/chromium",
            "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     "--disable-dev-shm-usage", format!("--user-data-dir={}", profile.display())]}}}});
        let r: Value = http
            .post(format!("{base}/session"))
            .json(&caps)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let session = r["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no WebDriver session: {r}"))
            .to_owned();
        Some(Self {
            base,
            session,
            http,
            _process: process,
        })
    }

    async fn cmd(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let mut req = self.http.request(method, url);
        if !body.is_null() {
            req = req.json(&body);
        }
        let r = req.send().await.unwrap();
        r.json::<Value>().await.unwrap()["value"].clone()
    }

    async fn goto(&self, url: &str) {
        self.cmd(reqwest::Method::POST, "/url", json!({"url": url}))
            .await;
    }

    async fn click(&self, css: &str) {
        let el = self
            .cmd(
                reqwest::Method::POST,
                "/element",
                json!({"using": "css selector", "value": css}),
            )
            .await;
        let id = el
            .as_object()
            .and_then(|o| o.values().next())
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("no element {css}: {el}"))
            .to_owned();
        self.cmd(
            reqwest::Method::POST,
            &format!("/element/{id}/click"),
            json!({}),
        )
        .await;
    }

    async fn url(&self) -> String {
        self.cmd(reqwest::Method::GET, "/url", json!(null))
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    async fn source(&self) -> String {
        self.cmd(reqwest::Method::GET, "/source", json!(null))
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    async fn wait_for_url(&self, prefix: &str) -> String {
        for _ in 0..100 {
            let url = self.url().await;
            if url.starts_with(prefix) {
                return url;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("never reached {prefix}; at {}", self.url().await);
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let url = format!("{}/session/{}", self.base, self.session);
        let http = self.http.clone();
        tokio::spawn(async move {
            let _ = http.delete(url).send().await;
        });
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headless_chromium_logs_in_through_the_consent_page_and_lands_on_the_overview() {
    let Some(driver) = Driver::start().await else {
        return;
    };
    let app = spawn_with(Options {
        demo: true,
        ..Options::default()
    })
    .await;
    driver.goto(&app.url("/activations")).await;
    driver.wait_for_url(&app.url("/login")).await;
    driver.click("#login").await;
    driver
        .wait_for_url(&format!("{}/oauth2/authorize", app.sandbox_url))
        .await;
    driver.click("#approve").await;
    // SameSite=Lax carries the session cookie on WordPress.com's cross-site redirect back.
    let landed = driver.wait_for_url(&app.url("/activations")).await;
    assert_eq!(landed, app.url("/activations"));
    // The first view builds the activations index; the page refreshes itself until it is ready.
    let mut doc = html(&driver.source().await);
    for _ in 0..100 {
        if !texts(&doc, "#activations tbody tr").is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        doc = html(&driver.source().await);
    }
    assert_eq!(texts(&doc, "h1"), vec!["Activations"]);
    assert_eq!(
        texts(&doc, "#activations tbody tr").len(),
        20,
        "the page updated without a manual reload"
    );
    assert_eq!(texts(&doc, "#demo-banner strong"), vec!["Sandbox data."]);
    // The overview, with its chart, from the navigation.
    driver.click("nav[aria-label=Main] a[href^='/?']").await;
    driver.wait_for_url(&app.url("/?key=")).await;
    let doc = html(&driver.source().await);
    assert_eq!(texts(&doc, "h1"), vec!["Overview"]);
    assert_eq!(texts(&doc, "#summary-chart rect.bar").len(), 24);
    // Log out through the form.
    driver.click("form.logout button").await;
    driver
        .wait_for_url(&app.url("/login?reason=logged_out"))
        .await;
    assert_eq!(app.live_sessions().await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headless_chromium_logs_in_and_out_under_a_sub_path() {
    let Some(driver) = Driver::start().await else {
        return;
    };
    let app = spawn_with(Options {
        demo: true,
        base_path: "/partners",
        ..Options::default()
    })
    .await;
    driver.goto(&app.url("/partners/invoices")).await;
    driver
        .wait_for_url(&app.url("/partners/login?next=%2Finvoices"))
        .await;
    driver.click("#login").await;
    driver
        .wait_for_url(&format!("{}/oauth2/authorize", app.sandbox_url))
        .await;
    driver.click("#approve").await;
    let landed = driver.wait_for_url(&app.url("/partners/invoices")).await;
    assert_eq!(landed, app.url("/partners/invoices"));
    let doc = html(&driver.source().await);
    assert_eq!(texts(&doc, "h1"), vec!["Invoices"]);
    // The stylesheet loaded from under the prefix (the proxy would not route anything else).
    let sheet = driver
        .cmd(
            reqwest::Method::POST,
            "/execute/sync",
            json!({"script": "const s = document.styleSheets[0]; return [s.href, s.cssRules.length > 0];", "args": []}),
        )
        .await;
    assert_eq!(sheet, json!([app.url("/partners/static/app.css"), true]));
    driver
        .click("nav[aria-label=Main] a[href^='/partners/activations']")
        .await;
    driver
        .wait_for_url(&app.url("/partners/activations?key="))
        .await;
    driver.click("form.logout button").await;
    driver
        .wait_for_url(&app.url("/partners/login?reason=logged_out"))
        .await;
    assert_eq!(app.live_sessions().await, 0);
}
