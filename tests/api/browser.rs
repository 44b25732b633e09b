//! A real headless Chromium logs in: click the button, approve on the consent page, land on the
//! overview. Driven over WebDriver (chromedriver from Debian) with a few plain HTTP calls.
//!
//! Without chromedriver the test says so loudly and passes, except under CI (`CI=true`), where a
//! missing browser is a failure.

use std::{process::Stdio, time::Duration};

use serde_json::{Value, json};

use crate::helpers::*;

pub struct Driver {
    base: String,
    session: String,
    http: reqwest::Client,
    _process: tokio::process::Child,
}

impl Driver {
    pub async fn start() -> Option<Self> {
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

    pub async fn cmd(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let mut req = self.http.request(method, url);
        if !body.is_null() {
            req = req.json(&body);
        }
        let r = req.send().await.unwrap();
        r.json::<Value>().await.unwrap()["value"].clone()
    }

    pub async fn goto(&self, url: &str) {
        let v = self
            .cmd(reqwest::Method::POST, "/url", json!({"url": url}))
            .await;
        assert!(v.get("error").is_none(), "navigation to {url} failed: {v}");
        self.settle().await;
    }

    /// Waits until the current document has loaded. chromedriver can answer a navigation as
    /// soon as the new document is committed, before it is parsed: a page source read then is
    /// empty (seen on a 403 page under load, about one run in twenty).
    async fn settle(&self) {
        for _ in 0..200 {
            let state = self.exec("return document.readyState;", json!([])).await;
            if state == "complete" {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("the page at {} never finished loading", self.url().await);
    }

    pub async fn click(&self, css: &str) {
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

    pub async fn url(&self) -> String {
        self.cmd(reqwest::Method::GET, "/url", json!(null))
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    pub async fn source(&self) -> String {
        let v = self.cmd(reqwest::Method::GET, "/source", json!(null)).await;
        match v.as_str() {
            Some(s) => s.to_owned(),
            None => panic!("no page source: {v}"),
        }
    }

    pub async fn wait_for_url(&self, prefix: &str) -> String {
        for _ in 0..100 {
            let url = self.url().await;
            if url.starts_with(prefix) {
                self.settle().await;
                return url;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("never reached {prefix}; at {}", self.url().await);
    }

    /// Runs a script in the page and returns its value.
    pub async fn exec(&self, script: &str, args: Value) -> Value {
        self.cmd(
            reqwest::Method::POST,
            "/execute/sync",
            json!({"script": script, "args": args}),
        )
        .await
    }

    /// Runs an asynchronous script (its last argument is the callback) and returns its value.
    pub async fn exec_async(&self, script: &str) -> Value {
        self.cmd(
            reqwest::Method::POST,
            "/execute/async",
            json!({"script": script, "args": []}),
        )
        .await
    }

    /// A Chrome DevTools command through chromedriver.
    pub async fn cdp(&self, cmd: &str, params: Value) -> Value {
        self.cmd(
            reqwest::Method::POST,
            "/goog/cdp/execute",
            json!({"cmd": cmd, "params": params}),
        )
        .await
    }

    /// The viewport as a phone (`mobile`, with touch and the meta viewport) or a laptop.
    pub async fn viewport(&self, width: u32, height: u32, mobile: bool) {
        self.cdp(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile}),
        )
        .await;
    }

    /// `prefers-color-scheme` as `light` or `dark`.
    pub async fn color_scheme(&self, scheme: &str) {
        self.cdp(
            "Emulation.setEmulatedMedia",
            json!({"features": [{"name": "prefers-color-scheme", "value": scheme}]}),
        )
        .await;
    }

    /// A PNG of the whole page (up to 2,000 pixels down), as a person scrolling it sees it.
    pub async fn screenshot(&self) -> Vec<u8> {
        use base64::Engine as _;
        let size = self
            .exec(
                "return [document.documentElement.clientWidth, Math.min(document.documentElement.scrollHeight, 2000)];",
                json!([]),
            )
            .await;
        let shot = self
            .cdp(
                "Page.captureScreenshot",
                json!({"format": "png", "captureBeyondViewport": true,
                       "clip": {"x": 0, "y": 0, "width": size[0], "height": size[1], "scale": 1}}),
            )
            .await;
        base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().unwrap_or_default())
            .unwrap_or_default()
    }

    /// The browser's cookies for the current page (HttpOnly ones included) as a Cookie header.
    pub async fn cookie_header(&self) -> String {
        let cookies = self.cmd(reqwest::Method::GET, "/cookie", json!(null)).await;
        cookies
            .as_array()
            .map(|list| {
                list.iter()
                    .map(|c| {
                        format!(
                            "{}={}",
                            c["name"].as_str().unwrap_or(""),
                            c["value"].as_str().unwrap_or("")
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("; ")
            })
            .unwrap_or_default()
    }

    /// Logs in from `start` through the sandbox's consent page (approving as the partner);
    /// returns where the browser landed, once it is back on the portal at `landing`.
    pub async fn log_in(&self, app: &TestApp, start: &str, landing: &str) -> String {
        self.goto(&app.url(start)).await;
        self.click("#login").await;
        self.wait_for_url(&format!("{}/oauth2/authorize", app.sandbox_url))
            .await;
        self.click("#approve").await;
        self.wait_for_url(&app.url(landing)).await
    }

    /// Ends the WebDriver session, which closes Chromium. (Drop cannot: its request would need
    /// the test's runtime, which is gone by then, and Chromium would outlive the test.)
    pub async fn quit(&self) {
        let url = format!("{}/session/{}", self.base, self.session);
        let _ = self.http.delete(url).send().await;
    }

    /// Waits until `css` matches an element, up to ten seconds.
    pub async fn wait_for(&self, css: &str) -> bool {
        for _ in 0..100 {
            let found = self
                .exec(
                    "return document.querySelector(arguments[0]) !== null;",
                    json!([css]),
                )
                .await;
            if found == json!(true) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        false
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
    // One slot per day from the first of last month to today, today's drawn as unfinished.
    let today = chrono::Utc::now().date_naive();
    let from = chrono::Datelike::with_day(&today, 1).unwrap() - chrono::Months::new(1);
    assert_eq!(
        texts(&doc, "#activity-chart g.slot").len() as i64,
        (today - from).num_days() + 1
    );
    assert_eq!(texts(&doc, "#activity-chart g.slot.unfinished").len(), 1);
    // Log out through the form.
    driver.click("form.logout button").await;
    driver
        .wait_for_url(&app.url("/login?reason=logged_out"))
        .await;
    assert_eq!(app.live_sessions().await, 0);
    driver.quit().await;
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
    let css = format!(
        "/partners/static/{}",
        partner_portal::web::assets::versioned("app.css")
    );
    assert_eq!(sheet, json!([app.url(&css), true]));
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
    driver.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_overview_fills_itself_in_when_the_first_copy_is_ready_without_a_reload() {
    let Some(driver) = Driver::start().await else {
        return;
    };
    let app = spawn_app().await;
    // Each page of the copy takes a second and a half, so the overview opens before it is done.
    app.control(
        "latency",
        json!({"path_prefix": "/wpcom/v2/jetpack-partners/7/key/70/activations", "ms": 1500}),
    )
    .await;
    driver.goto(&app.url("/")).await;
    driver.click("#login").await;
    driver
        .wait_for_url(&format!("{}/oauth2/authorize", app.sandbox_url))
        .await;
    driver.click("#approve").await;
    driver.wait_for_url(&app.url("/")).await;
    assert!(
        driver.wait_for("#index-pending.pending").await,
        "a quiet progress line"
    );
    assert_eq!(
        driver
            .exec(
                "return document.querySelectorAll('.panel-error').length;",
                json!([])
            )
            .await,
        json!(0)
    );
    // Marks this document: a reload would lose the mark.
    driver
        .exec("window.__same_document = true;", json!([]))
        .await;
    assert!(
        driver.wait_for("#index-cards .card").await,
        "the cards filled in"
    );
    assert!(
        driver.wait_for("#months-table tbody tr").await,
        "the tables filled in"
    );
    assert_eq!(
        driver
            .exec("return window.__same_document === true;", json!([]))
            .await,
        json!(true),
        "without a reload"
    );
    assert_eq!(
        driver
            .exec(
                "return document.querySelector('[data-copy-status]') === null;",
                json!([])
            )
            .await,
        json!(true),
        "and it stopped waiting"
    );
    // The month links look like links (the table headers' plain style stays in the head row).
    let look = driver
        .exec(
            "const a = getComputedStyle(document.querySelector('#months-table tbody a')); const th = getComputedStyle(document.querySelector('#months-table tbody th')); return [a.textDecorationLine, a.color !== th.color];",
            json!([]),
        )
        .await;
    assert_eq!(look, json!(["underline", true]));
    driver.quit().await;
}
