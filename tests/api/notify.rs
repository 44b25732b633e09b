//! Notifications through real parts: a real SMTP server (aiosmtpd) receives the mail and the
//! tests parse the delivered MIME; a real HTTP receiver checks webhook signatures with its own
//! HMAC and counts deliveries; the clock moves the schedule; faults go through real processes.

use std::{
    collections::HashMap,
    path::Path,
    process::Stdio,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    Router,
    body::Bytes,
    extract::{Path as UrlPath, State},
    http::{HeaderMap, StatusCode as AxumStatus},
    routing::post as axum_post,
};
use hmac::Mac as _;
use mail_parser::MimeHeaders as _;
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use tokio::io::AsyncBufReadExt as _;

use crate::helpers::*;
use crate::team::{FIONA, OWNER, SAM, accept, connect, invite, post};

const DAY: u64 = 86_400;

// ---------------------------------------------------------------------------------------------
// A real SMTP server.

/// aiosmtpd, started from `tests/notify/smtp_sink.py`: each accepted message becomes a file.
pub struct SmtpSink {
    pub port: u16,
    pub dir: tempfile::TempDir,
    child: tokio::process::Child,
}

/// A Python that has aiosmtpd (Debian's, or the one on PATH).
fn python_with_aiosmtpd() -> Option<&'static str> {
    ["/usr/bin/python3", "python3"].into_iter().find(|py| {
        std::process::Command::new(py)
            .args(["-c", "import aiosmtpd"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}

impl SmtpSink {
    /// Starts one, or says loudly why not (a failure under CI).
    pub async fn start() -> Option<Self> {
        let Some(python) = python_with_aiosmtpd() else {
            assert!(
                std::env::var("CI").is_err(),
                "aiosmtpd is missing under CI: .ci/run must install python3-aiosmtpd"
            );
            skipped("a mail test: install python3-aiosmtpd (Debian) or aiosmtpd (PyPI)");
            return None;
        };
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/notify/smtp_sink.py");
        let mut child = tokio::process::Command::new(python)
            .arg(script)
            .arg(port.to_string())
            .arg(dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
        let ready = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
            .await
            .expect("the SMTP sink starts within 20 s")
            .unwrap();
        assert_eq!(ready.as_deref(), Some("ready"));
        Some(Self { port, dir, child })
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    pub fn pid(&self) -> u32 {
        self.child.id().unwrap()
    }

    /// While on, every message is answered 451.
    pub fn refuse(&self, on: bool) {
        let flag = self.dir.path().join("refuse");
        if on {
            std::fs::write(flag, b"").unwrap();
        } else {
            let _ = std::fs::remove_file(flag);
        }
    }

    /// What it accepted, oldest first.
    pub fn mails(&self) -> Vec<Mail> {
        let mut names: Vec<_> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "eml"))
            .collect();
        names.sort();
        names
            .into_iter()
            .map(|p| {
                let envelope: Value = serde_json::from_str(
                    &std::fs::read_to_string(p.with_extension("json")).unwrap(),
                )
                .unwrap();
                Mail {
                    raw: std::fs::read(&p).unwrap(),
                    to: envelope["to"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|t| t.as_str().unwrap().to_owned())
                        .collect(),
                }
            })
            .collect()
    }

    /// Waits until at least `n` messages arrived (20 s at most).
    pub async fn wait_for(&self, n: usize) -> Vec<Mail> {
        for _ in 0..200 {
            let mails = self.mails();
            if mails.len() >= n {
                return mails;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{n} mails never arrived: {}", self.mails().len());
    }
}

/// A delivered message.
pub struct Mail {
    pub raw: Vec<u8>,
    pub to: Vec<String>,
}

impl Mail {
    pub fn parsed(&self) -> mail_parser::Message<'_> {
        mail_parser::MessageParser::default()
            .parse(&self.raw)
            .expect("a MIME message")
    }
    pub fn subject(&self) -> String {
        self.parsed().subject().unwrap_or_default().to_owned()
    }
    pub fn text(&self) -> String {
        self.parsed().body_text(0).unwrap_or_default().into_owned()
    }
    pub fn html(&self) -> String {
        self.parsed().body_html(0).unwrap_or_default().into_owned()
    }
    pub fn header(&self, name: &str) -> String {
        self.parsed()
            .header_raw(name.to_owned())
            .unwrap_or_default()
            .trim()
            .to_owned()
    }
    /// The MIME types of its leaf parts.
    pub fn part_types(&self) -> Vec<String> {
        self.parsed()
            .parts
            .iter()
            .filter_map(|p| {
                let ct = p.content_type()?;
                Some(format!(
                    "{}/{}",
                    ct.ctype(),
                    ct.subtype().unwrap_or_default()
                ))
            })
            .collect()
    }
}

// ---------------------------------------------------------------------------------------------
// A real webhook receiver.

#[derive(Debug, Clone)]
pub struct Got {
    pub hook: String,
    pub id: String,
    pub body: Value,
    pub signed: bool,
    pub raw: Vec<u8>,
    pub signature: String,
}

#[derive(Default)]
struct Rx {
    fail_next: usize,
    failed: usize,
    got: Vec<Got>,
    secrets: HashMap<String, String>,
}

#[derive(Clone, Default)]
pub struct Receiver {
    inner: Arc<Mutex<Rx>>,
    pub url: String,
}

/// Verifies `Portal-Signature: t=…,v1=…` with its own HMAC, as a receiver would.
fn verify(secret: &str, header: &str, body: &[u8]) -> bool {
    let mut t = None;
    let mut v1 = None;
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", x)) => t = Some(x.to_owned()),
            Some(("v1", x)) => v1 = Some(x.to_owned()),
            _ => {}
        }
    }
    let (Some(t), Some(v1)) = (t, v1) else {
        return false;
    };
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.").as_bytes());
    mac.update(body);
    let want: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    want == v1
}

async fn receive(
    State(rx): State<Arc<Mutex<Rx>>>,
    UrlPath(hook): UrlPath<String>,
    headers: HeaderMap,
    body: Bytes,
) -> AxumStatus {
    let mut rx = rx.lock().unwrap();
    if rx.fail_next > 0 {
        rx.fail_next -= 1;
        rx.failed += 1;
        return AxumStatus::INTERNAL_SERVER_ERROR;
    }
    let header = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let signed = rx
        .secrets
        .get(&hook)
        .is_some_and(|s| verify(s, &header("portal-signature"), &body));
    let got = Got {
        hook,
        id: header("portal-event-id"),
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
        signed,
        raw: body.to_vec(),
        signature: header("portal-signature"),
    };
    rx.got.push(got);
    AxumStatus::OK
}

impl Receiver {
    pub async fn start() -> Self {
        let inner = Arc::new(Mutex::new(Rx::default()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let app = Router::new()
            .route("/hook/{name}", axum_post(receive))
            .with_state(inner.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { inner, url }
    }
    pub fn hook(&self, name: &str) -> String {
        format!("{}/hook/{name}", self.url)
    }
    pub fn secret(&self, hook: &str, secret: &str) {
        self.inner
            .lock()
            .unwrap()
            .secrets
            .insert(hook.to_owned(), secret.to_owned());
    }
    pub fn fail_next(&self, n: usize) {
        self.inner.lock().unwrap().fail_next = n;
    }
    pub fn failed(&self) -> usize {
        self.inner.lock().unwrap().failed
    }
    pub fn got(&self) -> Vec<Got> {
        self.inner.lock().unwrap().got.clone()
    }
    /// Waits until a delivery of `kind` (the event's `type`) arrived; returns it.
    pub async fn wait_type(&self, kind: &str) -> Got {
        for _ in 0..300 {
            if let Some(g) = self.got().into_iter().find(|g| g.body["type"] == kind) {
                return g;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("no {kind} delivery: {:?}", self.got());
    }

    pub async fn wait_for(&self, n: usize) -> Vec<Got> {
        for _ in 0..300 {
            let got = self.got();
            if got.len() >= n {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{n} webhook deliveries never arrived: {:?}", self.got());
    }
}

// ---------------------------------------------------------------------------------------------
// Helpers.

/// Adds a channel with the form's fields; answers the response.
pub async fn add_channel(
    app_url: &str,
    client: &Client,
    csrf: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    post(app_url, client, "/notifications", csrf, fields).await
}

/// Adds a webhook channel to `receiver`'s `/hook/{name}` and registers its secret there.
pub async fn add_webhook(
    app_url: &str,
    client: &Client,
    csrf: &str,
    receiver: &Receiver,
    name: &str,
    extra: &[(&str, &str)],
) {
    let url = receiver.hook(name);
    let mut fields = vec![("kind", "webhook"), ("target", url.as_str())];
    fields.extend_from_slice(extra);
    let r = add_channel(app_url, client, csrf, &fields).await;
    let body = r.text().await.unwrap();
    let secret = attrs(&html(&body), "#webhook-secret", "value")
        .pop()
        .unwrap_or_else(|| panic!("the secret is shown once: {body}"));
    assert!(secret.starts_with("whsec_"));
    receiver.secret(name, &secret);
}

/// The team's background round with notifications, as `serve` runs it.
pub fn watch(app: &TestApp) -> partner_portal::team::watch::Watch {
    partner_portal::team::watch::Watch {
        team: app.state.team.clone(),
        wpcom: app.state.wpcom.clone(),
        index: app.state.index.clone(),
        clock: app.state.clock.clone(),
        check_every: Duration::from_secs(600),
        retention: Duration::from_secs(180 * DAY),
        observer: Some(Arc::new(app.state.notify.clone())),
    }
}

/// Rounds until the copies the round starts have finished, then one more: the messages written.
pub async fn settle(app: &TestApp) -> usize {
    let w = watch(app);
    let mut written = w.round().await.unwrap().notifications;
    for _ in 0..600 {
        let mut running = false;
        for key in [70, 71] {
            running |= app.state.index.state(key).await.unwrap().running;
        }
        if !running {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    written += w.round().await.unwrap().notifications;
    written
}

/// The connected partner's id.
pub async fn partner_id(app: &TestApp) -> u64 {
    app.state.team.connections().await.unwrap()[0].partner.id
}

/// The outbox rows' `(rule, fact, status)`, oldest first.
async fn outbox(app: &TestApp) -> Vec<(String, String, String)> {
    let mut all: Vec<_> = app
        .state
        .notify
        .deliveries(partner_id(app).await, None, 1000)
        .await
        .unwrap()
        .into_iter()
        .map(|d| (d.rule, d.fact, d.status))
        .collect();
    all.reverse();
    all
}

fn links(text: &str) -> Vec<String> {
    text.split_whitespace()
        .filter_map(|w| {
            let w = w.trim_matches(|c| c == '<' || c == '>');
            w.starts_with("http").then(|| w.to_owned())
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The tests.

async fn reports_over_smtp(database_url: Option<String>) {
    let Some(sink) = SmtpSink::start().await else {
        return;
    };
    let app = spawn_with(Options {
        smtp_url: Some(sink.url()),
        database_url,
        ..Options::default()
    })
    .await;
    let csrf = connect(&app).await;
    app.wait_for_index(70).await;
    // The owner (admin) follows everything by mail; a support member the reports.
    let r = add_channel(
        &app.addr,
        &app.client,
        &csrf,
        &[
            ("kind", "email"),
            ("target", "owner@example.com"),
            ("rule", "weekly"),
            ("rule", "monthly"),
            ("rule", "invoice_due"),
        ],
    )
    .await;
    assert_eq!(
        r.status(),
        StatusCode::SEE_OTHER,
        "{}",
        r.text().await.unwrap()
    );
    let link = invite(&app.addr, &app.client, &csrf, "support", "sam").await;
    let sam = accept(&app, &app.addr, &link, SAM).await;
    let page = sam
        .get(app.url("/notifications"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        !page.contains("value=\"invoice_new\""),
        "support is not offered invoice rules"
    );
    let sam_csrf = crate::team::csrf_of(&app.addr, &sam, "/notifications").await;
    let r = add_channel(
        &app.addr,
        &sam,
        &sam_csrf,
        &[
            ("kind", "email"),
            ("target", "sam@example.com"),
            ("rule", "invoice_new"),
        ],
    )
    .await;
    assert_eq!(
        r.status(),
        StatusCode::FORBIDDEN,
        "support may not follow invoices"
    );
    let r = add_channel(
        &app.addr,
        &sam,
        &sam_csrf,
        &[
            ("kind", "email"),
            ("target", "sam@example.com"),
            ("rule", "weekly"),
            ("rule", "monthly"),
        ],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    // Now: the invoice that needs action (the sandbox's open invoice, whose payment is being
    // retried) alerts the owner at once; no report yet (the channels are newer than any period).
    settle(&app).await;
    let mails = sink.wait_for(1).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(sink.mails().len(), 1, "one alert, no report yet");
    assert!(
        mails[0]
            .subject()
            .contains("Payment failed for invoice EXHOST-0012"),
        "{}",
        mails[0].subject()
    );
    assert_eq!(mails[0].to, ["owner@example.com"]);
    // 32 days on, a week and a month have closed since the channels were made: each person
    // gets one digest and one summary.
    app.state.clock.advance(Duration::from_secs(32 * DAY));
    settle(&app).await;
    let mails = sink.wait_for(5).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    settle(&app).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        sink.mails().len(),
        5,
        "nothing twice: {:?}",
        sink.mails().iter().map(Mail::subject).collect::<Vec<_>>()
    );
    let of = |to: &str, what: &str| {
        mails
            .iter()
            .find(|m| m.to == [to] && m.subject().contains(what))
            .unwrap_or_else(|| panic!("no {what} to {to}"))
    };
    for to in ["owner@example.com", "sam@example.com"] {
        for what in ["Weekly activations digest", "Monthly summary"] {
            let m = of(to, what);
            // Both parts, as multipart/alternative.
            let types = m.part_types();
            assert!(
                types.contains(&"text/plain".to_owned()) && types.contains(&"text/html".to_owned()),
                "{types:?}"
            );
            // RFC 8058 one-click unsubscribe.
            let unsub = m.header("List-Unsubscribe");
            assert!(
                unsub.starts_with(&format!("<{}/unsubscribe/ch_", app.addr)),
                "{unsub}"
            );
            assert_eq!(
                m.header("List-Unsubscribe-Post"),
                "List-Unsubscribe=One-Click"
            );
            // Numbers and links: every link is the portal's, and each answers.
            let text = m.text();
            assert!(
                text.contains(" new, ") && text.contains("active now"),
                "{text}"
            );
            for l in links(&text) {
                assert!(l.starts_with(&app.addr), "{l}");
            }
            assert!(text.contains("/activations?key=70&from="), "{text}");
            let html = m.html();
            assert!(
                !html.contains("<img") && !html.contains("<script"),
                "no remote content or scripts"
            );
            assert!(html.contains("<table"), "{html}");
        }
    }
    // Support never receives an amount; the owner's summary has the invoice and its
    // reconciliation.
    for what in ["Weekly activations digest", "Monthly summary"] {
        let m = of("sam@example.com", what);
        for part in [m.text(), m.html()] {
            assert!(
                !part.contains('$')
                    && !part.contains("EXHOST")
                    && !part.to_lowercase().contains("invoice"),
                "{part}"
            );
        }
    }
    let summary = of("owner@example.com", "Monthly summary").text();
    assert!(
        summary.contains("Invoice EXHOST-") || summary.contains("has not issued"),
        "{summary}"
    );
    // The links lead to pages that answer (the sessions ended while the clock moved a month).
    app.login().await;
    crate::team::log_in(&app, &app.addr, &sam, SAM, None).await;
    for l in links(&summary).into_iter().take(6) {
        let path = l.strip_prefix(&app.addr).unwrap();
        assert_eq!(app.get(path).await.status(), StatusCode::OK, "{l}");
    }
    // One click: the mail client POSTs with no cookie and no CSRF token; the rule stops.
    let unsub = of("sam@example.com", "Weekly activations digest").header("List-Unsubscribe");
    let url = unsub.trim_matches(|c| c == '<' || c == '>');
    let bare = reqwest::Client::new();
    let r = bare.get(url).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.text().await.unwrap().contains("Stop sending"),
        "a GET only asks"
    );
    let r = bare
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("List-Unsubscribe=One-Click")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.unwrap().contains("no longer receives"));
    let page = sam
        .get(app.url("/notifications"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("Receives: Monthly summary (on the 1st)."),
        "{page}"
    );
    // A forged link changes nothing.
    let forged = format!("{}x", url.trim_end_matches(|c: char| c.is_ascii_hexdigit()));
    assert_eq!(
        bare.post(&forged).send().await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
    // The link's proof stays out of the log.
    let logs = portal_logs();
    let proof = url.rsplit('.').next().unwrap();
    assert!(!logs.contains(proof), "the unsubscribe proof is logged");
    // The next week: the owner's digest only (Sam unsubscribed from it).
    app.state.clock.advance(Duration::from_secs(7 * DAY));
    settle(&app).await;
    let mails = sink.wait_for(6).await;
    assert!(mails[5].subject().contains("Weekly") && mails[5].to == ["owner@example.com"]);
    // The audit log has every channel change.
    app.login().await;
    let audit = app.get("/audit").await.text().await.unwrap();
    for a in ["Notification channel added", "Unsubscribed from a mail"] {
        assert!(audit.contains(a), "{a} missing");
    }
}

#[tokio::test]
async fn reports_reach_a_real_smtp_server_with_both_parts_and_one_click_unsubscribe() {
    reports_over_smtp(None).await;
}

#[tokio::test]
async fn reports_reach_a_real_smtp_server_on_postgres() {
    let Some(db) = crate::postgres::fresh_database().await else {
        return;
    };
    reports_over_smtp(Some(db)).await;
}

async fn webhooks_signed_and_retried(database_url: Option<String>) {
    let receiver = Receiver::start().await;
    let app = spawn_with(Options {
        webhook_allow: "127.0.0.1".into(),
        webhook_allow_http: true,
        database_url,
        ..Options::default()
    })
    .await;
    let csrf = connect(&app).await;
    app.wait_for_index(70).await;
    add_webhook(
        &app.addr,
        &app.client,
        &csrf,
        &receiver,
        "json",
        &[("rule", "connection")],
    )
    .await;
    add_webhook(
        &app.addr,
        &app.client,
        &csrf,
        &receiver,
        "slack",
        &[("format", "slack"), ("rule", "connection")],
    )
    .await;
    // The receiver fails twice, then recovers.
    receiver.fail_next(2);
    let r = post(&app.addr, &app.client, "/notifications", &csrf, &[]).await;
    assert_eq!(
        r.status(),
        StatusCode::BAD_REQUEST,
        "an empty form is refused"
    );
    let channels = app
        .state
        .notify
        .channels(partner_id(&app).await)
        .await
        .unwrap();
    let json_channel = channels
        .iter()
        .find(|c| c.target.ends_with("/hook/json"))
        .unwrap();
    let r = post(
        &app.addr,
        &app.client,
        &format!("/notifications/{}/test", json_channel.id),
        &csrf,
        &[],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    // Two failures, each retried after its backoff (the clock moves instead of the test
    // sleeping 30 s and 60 s).
    for _ in 0..150 {
        if !receiver.got().is_empty() {
            break;
        }
        app.state.clock.advance(Duration::from_secs(61));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(receiver.failed(), 2);
    let got = receiver.wait_for(1).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let got_again = receiver.got();
    assert_eq!(got_again.len(), 1, "delivered once: {got_again:?}");
    let g = &got[0];
    assert!(g.signed, "the receiver's own HMAC agrees");
    assert!(
        g.id.starts_with("evt_") && g.body["id"] == g.id.as_str(),
        "{:?}",
        g.body
    );
    assert_eq!(g.body["type"], "test");
    assert!(
        g.body["summary"]
            .as_str()
            .unwrap()
            .contains("this channel works")
    );
    // The Deliveries page shows the attempts and answers.
    let page = app
        .get("/notifications/deliveries")
        .await
        .text()
        .await
        .unwrap();
    let doc = html(&page);
    let row = texts(&doc, &format!("tr[id='{}']", g.id)).join(" ");
    assert!(
        row.contains("Sent") && row.contains("500 Internal Server Error") && row.contains("200 OK"),
        "{row}"
    );
    // The connection breaks: both webhooks hear once; the Slack one in Slack's shape.
    app.state.clock.advance(Duration::from_secs(601));
    app.control("tokens/revoke", json!({ "user_id": OWNER }))
        .await;
    let round = watch(&app).round().await.unwrap();
    assert_eq!(round.broken, 1);
    let got = receiver.wait_for(3).await;
    let slack = got.iter().find(|g| g.hook == "slack").unwrap();
    assert!(slack.signed);
    assert!(
        slack.body["text"]
            .as_str()
            .unwrap()
            .contains("team connection broke"),
        "{:?}",
        slack.body
    );
    let json_event = got
        .iter()
        .find(|g| g.hook == "json" && g.body["type"] == "connection.broken")
        .unwrap();
    assert!(json_event.signed);
    assert!(json_event.body["url"].as_str().unwrap().ends_with("/team"));
    // Restored within the hour: damped (at most one alert per rule per hour), and the
    // Deliveries page says so.
    let owner = new_client();
    crate::team::log_in(&app, &app.addr, &owner, OWNER, None).await;
    let owner_csrf = crate::team::csrf_of(&app.addr, &owner, "/team").await;
    let r = post(&app.addr, &owner, "/team/connect", &owner_csrf, &[]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        receiver.got().len(),
        3,
        "the restore within the hour is damped"
    );
    let rows = outbox(&app).await;
    assert!(
        rows.iter().any(|(r, f, s)| r == "connection"
            && f.starts_with("connection_restored:")
            && s == "damped"),
        "{rows:?}"
    );
    let page = owner
        .get(app.url("/notifications/deliveries"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Not sent (damped)"), "{page}");
}

#[tokio::test]
async fn webhooks_are_signed_retried_until_the_receiver_recovers_and_delivered_once() {
    webhooks_signed_and_retried(None).await;
}

#[tokio::test]
async fn webhooks_are_signed_and_retried_on_postgres() {
    let Some(db) = crate::postgres::fresh_database().await else {
        return;
    };
    webhooks_signed_and_retried(Some(db)).await;
}

#[tokio::test]
async fn a_webhook_to_loopback_or_a_private_network_is_refused() {
    let receiver = Receiver::start().await;
    let app = spawn_with(Options {
        webhook_allow_http: true,
        ..Options::default()
    })
    .await;
    let csrf = connect(&app).await;
    for target in [
        receiver.hook("x"),
        "http://localhost:9/x".to_owned(),
        "http://10.0.0.1/x".to_owned(),
        "http://[::1]:9/x".to_owned(),
        "http://169.254.169.254/latest/meta-data".to_owned(),
    ] {
        let r = add_channel(
            &app.addr,
            &app.client,
            &csrf,
            &[("kind", "webhook"), ("target", &target), ("rule", "weekly")],
        )
        .await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{target}");
        let body = r.text().await.unwrap();
        assert!(
            body.contains("refused") && body.contains("PORTAL_WEBHOOK_ALLOW"),
            "{body}"
        );
    }
    assert!(
        app.state
            .notify
            .partners_with_channels()
            .await
            .unwrap()
            .is_empty()
    );
    // https only, unless configured otherwise.
    let strict = spawn_app().await;
    let csrf = connect(&strict).await;
    let r = add_channel(
        &strict.addr,
        &strict.client,
        &csrf,
        &[
            ("kind", "webhook"),
            ("target", "http://hooks.example.com/x"),
            ("rule", "weekly"),
        ],
    )
    .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(receiver.got().is_empty());
}

#[tokio::test]
async fn a_refusing_mail_server_is_retried_and_the_deliveries_page_says_why() {
    let Some(sink) = SmtpSink::start().await else {
        return;
    };
    let app = spawn_with(Options {
        smtp_url: Some(sink.url()),
        ..Options::default()
    })
    .await;
    let csrf = connect(&app).await;
    app.wait_for_index(70).await;
    let r = add_channel(
        &app.addr,
        &app.client,
        &csrf,
        &[
            ("kind", "email"),
            ("target", "owner@example.com"),
            ("rule", "weekly"),
        ],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    sink.refuse(true);
    let id = app
        .state
        .notify
        .channels(partner_id(&app).await)
        .await
        .unwrap()[0]
        .id
        .clone();
    post(
        &app.addr,
        &app.client,
        &format!("/notifications/{id}/test"),
        &csrf,
        &[],
    )
    .await;
    // The first attempt is answered 451; the page says so, with the next retry.
    let mut page = String::new();
    for _ in 0..100 {
        page = app
            .get("/notifications/deliveries")
            .await
            .text()
            .await
            .unwrap();
        if page.contains("Retrying") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        page.contains("Retrying") && page.contains("451") && page.contains("Mail queue full"),
        "{page}"
    );
    assert!(sink.mails().is_empty());
    // A second refusal, then the queue has room: one message.
    app.state.clock.advance(Duration::from_secs(31));
    for _ in 0..100 {
        let rows = app
            .state
            .notify
            .deliveries(partner_id(&app).await, None, 10)
            .await
            .unwrap();
        if rows[0].attempts >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    sink.refuse(false);
    app.state.clock.advance(Duration::from_secs(61));
    let mails = sink.wait_for(1).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(sink.mails().len(), 1);
    assert!(
        mails[0].subject().contains("Weekly activations digest"),
        "{}",
        mails[0].subject()
    );
    assert!(mails[0].text().contains("this channel works"));
    let page = app
        .get("/notifications/deliveries")
        .await
        .text()
        .await
        .unwrap();
    let doc = html(&page);
    assert_eq!(texts(&doc, "td.delivery-status"), ["Sent"]);
    assert!(texts(&doc, "td[data-label=Attempts]").contains(&"3".to_owned()));
    // After 3 days of refusals a delivery is marked failed and the admins see it.
    sink.refuse(true);
    post(
        &app.addr,
        &app.client,
        &format!("/notifications/{id}/test"),
        &csrf,
        &[],
    )
    .await;
    for _ in 0..400 {
        if app
            .state
            .notify
            .failed_count(partner_id(&app).await)
            .await
            .unwrap()
            > 0
        {
            break;
        }
        app.state.clock.advance(Duration::from_secs(6 * 3600));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    app.login().await;
    let page = app.get("/notifications").await.text().await.unwrap();
    assert!(page.contains("could not be delivered"), "{page}");
    let audit = app.get("/audit").await.text().await.unwrap();
    assert!(audit.contains("Notification failed"));
}

#[tokio::test]
async fn alerts_fire_once_per_fact_for_invoices_cancellations_and_copies() {
    let receiver = Receiver::start().await;
    let app = spawn_with(Options {
        webhook_allow: "127.0.0.0/8".into(),
        webhook_allow_http: true,
        index_max_age: Duration::from_secs(60),
        ..Options::default()
    })
    .await;
    let csrf = connect(&app).await;
    app.wait_for_index(70).await;
    add_webhook(
        &app.addr,
        &app.client,
        &csrf,
        &receiver,
        "alerts",
        &[
            ("rule", "invoice_new"),
            ("rule", "invoice_due"),
            ("rule", "cancellations"),
            ("rule", "copy_incomplete"),
            ("threshold", "25"),
            ("percent", "0"),
        ],
    )
    .await;
    // A finance member's webhook for new invoices; a support member cannot have one.
    let link = invite(&app.addr, &app.client, &csrf, "finance", "fiona").await;
    let fiona = accept(&app, &app.addr, &link, FIONA).await;
    let fiona_csrf = crate::team::csrf_of(&app.addr, &fiona, "/notifications").await;
    add_webhook(
        &app.addr,
        &fiona,
        &fiona_csrf,
        &receiver,
        "fiona",
        &[("rule", "invoice_new")],
    )
    .await;
    // The first look: the invoice being retried alerts; past invoices set the baseline.
    settle(&app).await;
    receiver.wait_type("invoice.payment_failed").await;
    let before = receiver.got().len();
    // WordPress.com issues an invoice: both hear of it once, at the next invoice fetch.
    let issued: Value = Client::new()
        .post(format!("{}/__sandbox/invoices", app.sandbox_url))
        .json(&json!({ "key": 70, "issue": true }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    settle(&app).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.got().len(), before, "not before the next fetch");
    app.state.clock.advance(Duration::from_secs(601));
    settle(&app).await;
    let got = receiver.wait_for(before + 2).await;
    let new: Vec<&Got> = got
        .iter()
        .filter(|g| g.body["type"] == "invoice.created")
        .collect();
    assert_eq!(new.len(), 2, "{got:?}");
    assert!(
        new.iter()
            .all(|g| g.body["data"]["id"] == issued["id"] && g.signed)
    );
    // Cancellations jump: 40 today, over the threshold of 25.
    Client::new()
        .post(format!("{}/__sandbox/activations/cancel", app.sandbox_url))
        .json(&json!({ "key": 70, "count": 40 }))
        .send()
        .await
        .unwrap();
    app.state.clock.advance(Duration::from_secs(61));
    settle(&app).await;
    let spike = receiver.wait_type("activations.cancellations_spike").await;
    assert!(
        spike.body["data"]["count"].as_i64().unwrap() >= 40,
        "{:?}",
        spike.body
    );
    assert!(
        spike.body["url"]
            .as_str()
            .unwrap()
            .contains("status=cancelled")
    );
    // More cancellations the same day: the same fact, no second alert; rounds change nothing.
    Client::new()
        .post(format!("{}/__sandbox/activations/cancel", app.sandbox_url))
        .json(&json!({ "key": 70, "count": 10 }))
        .send()
        .await
        .unwrap();
    app.state.clock.advance(Duration::from_secs(601));
    settle(&app).await;
    settle(&app).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let got = receiver.got();
    let mut ids: Vec<&str> = got.iter().map(|g| g.id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), got.len(), "no event twice: {got:?}");
    assert_eq!(
        got.iter()
            .filter(|g| g.body["type"] == "activations.cancellations_spike")
            .count(),
        1
    );
}

#[tokio::test]
async fn the_weekly_and_monthly_schedule_follows_the_clock() {
    let receiver = Receiver::start().await;
    let app = spawn_with(Options {
        webhook_allow: "127.0.0.1".into(),
        webhook_allow_http: true,
        ..Options::default()
    })
    .await;
    let csrf = connect(&app).await;
    app.wait_for_index(70).await;
    add_webhook(
        &app.addr,
        &app.client,
        &csrf,
        &receiver,
        "r",
        &[("rule", "weekly"), ("rule", "monthly")],
    )
    .await;
    let now = app.state.clock.now();
    // Until the Monday after the channel was made, nothing.
    settle(&app).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(receiver.got().is_empty());
    // Move to the next Monday 00:00:30 UTC (and, if a 1st came first, expect that summary).
    let (_, this_week) = partner_portal::notify::schedule::last_week(now);
    let mut to = now;
    while partner_portal::notify::schedule::last_week(to).1 == this_week {
        to += 3600;
    }
    let (_, month_now, _) = partner_portal::notify::schedule::last_month(now);
    let month_turned = partner_portal::notify::schedule::last_month(to).1 != month_now;
    app.state
        .clock
        .advance(Duration::from_secs(u64::try_from(to - now).unwrap()));
    settle(&app).await;
    let expected = 1 + usize::from(month_turned);
    let got = receiver.wait_for(expected).await;
    let weekly: Vec<&Got> = got
        .iter()
        .filter(|g| g.body["type"] == "report.weekly")
        .collect();
    assert_eq!(weekly.len(), 1, "{got:?}");
    let data = &weekly[0].body["data"];
    assert_eq!(data["period"], "weekly");
    let from =
        chrono::NaiveDate::parse_from_str(data["from"].as_str().unwrap(), "%Y-%m-%d").unwrap();
    let last = chrono::NaiveDate::parse_from_str(data["to"].as_str().unwrap(), "%Y-%m-%d").unwrap();
    assert_eq!(chrono::Datelike::weekday(&from), chrono::Weekday::Mon);
    assert_eq!((last - from).num_days(), 6);
    assert_eq!(data["keys"][0]["key"], 70);
    // Rounds the same week send nothing more.
    settle(&app).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(receiver.got().len(), expected);
    // Through the next month's end: exactly one monthly summary for each month closed.
    let start = app.state.clock.now();
    let mut weeks = std::collections::BTreeSet::new();
    for day in 1..=40u64 {
        app.state.clock.advance(Duration::from_secs(DAY));
        let t = start + i64::try_from(day * DAY).unwrap();
        weeks.insert(partner_portal::notify::schedule::last_week(t).1);
        if day % 3 == 0 || day == 40 {
            settle(&app).await;
        }
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let got = receiver.got();
    let monthly: Vec<String> = got
        .iter()
        .filter(|g| g.body["type"] == "report.monthly")
        .map(|g| g.body["data"]["name"].as_str().unwrap().to_owned())
        .collect();
    let mut unique = monthly.clone();
    unique.dedup();
    assert_eq!(monthly, unique, "each month once: {monthly:?}");
    assert!((1..=2).contains(&monthly.len()), "{monthly:?}");
    let weekly: Vec<String> = got
        .iter()
        .filter(|g| g.body["type"] == "report.weekly")
        .map(|g| g.body["data"]["name"].as_str().unwrap().to_owned())
        .collect();
    let mut unique = weekly.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(weekly.len(), unique.len(), "each week once: {weekly:?}");
    let first = got
        .iter()
        .find(|g| g.body["type"] == "report.weekly")
        .unwrap()
        .body["data"]["name"]
        .as_str()
        .unwrap()
        .to_owned();
    weeks.insert(first);
    assert_eq!(
        unique,
        weeks.into_iter().collect::<Vec<_>>(),
        "a digest for every week closed"
    );
}

#[tokio::test]
async fn two_replicas_on_postgres_send_each_event_once() {
    let Some(db) = crate::postgres::fresh_database().await else {
        return;
    };
    let receiver = Receiver::start().await;
    let app = spawn_with(Options {
        database_url: Some(db),
        webhook_allow: "127.0.0.1".into(),
        webhook_allow_http: true,
        ..Options::default()
    })
    .await;
    let (_replica, replica_state) = app.spawn_replica().await;
    let csrf = connect(&app).await;
    for name in ["a", "b", "c", "d"] {
        add_webhook(
            &app.addr,
            &app.client,
            &csrf,
            &receiver,
            name,
            &[("rule", "weekly")],
        )
        .await;
    }
    let partner = app.state.notify.partners_with_channels().await.unwrap()[0];
    let channels = app.state.notify.channels(partner).await.unwrap();
    // 40 events written at once through both replicas; both senders race for them.
    let mut writes = Vec::new();
    for i in 0..40 {
        let notify = if i % 2 == 0 {
            app.state.notify.clone()
        } else {
            replica_state.notify.clone()
        };
        let channel = channels[i % channels.len()].clone();
        writes.push(tokio::spawn(async move {
            notify
                .enqueue(
                    &channel,
                    partner_portal::notify::Rule::Test,
                    &format!("test:race:{i}"),
                    &partner_portal::notify::Fact::Test { report: None },
                )
                .await
                .unwrap()
        }));
    }
    for w in writes {
        assert!(w.await.unwrap());
    }
    // The same facts again, from the other replica: nothing new.
    for i in 0..40 {
        let notify = if i % 2 == 1 {
            app.state.notify.clone()
        } else {
            replica_state.notify.clone()
        };
        let written = notify
            .enqueue(
                &channels[i % channels.len()],
                partner_portal::notify::Rule::Test,
                &format!("test:race:{i}"),
                &partner_portal::notify::Fact::Test { report: None },
            )
            .await
            .unwrap();
        assert!(!written);
    }
    let got = receiver.wait_for(40).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let got_after = receiver.got();
    assert_eq!(got_after.len(), 40, "each event once across replicas");
    let mut ids: Vec<&str> = got.iter().map(|g| g.id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 40);
    assert!(got.iter().all(|g| g.signed));
}

/// The portal is killed (SIGKILL) while a message is written but not yet sent (its mail server
/// is stopped with SIGSTOP mid-conversation); the restarted portal sends it, once.
#[tokio::test]
async fn a_portal_killed_between_writing_and_sending_delivers_once_after_restart() {
    let Some(sink) = SmtpSink::start().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("portal.db").display());
    let key = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
    let start = |port: u16, sandbox: u16| {
        let mut cmd = portal_command();
        cmd.args(["demo", "--auto-approve-user", "1001"])
            .env("PORTAL_LISTEN", format!("127.0.0.1:{port}"))
            .env("PORTAL_SANDBOX_LISTEN", format!("127.0.0.1:{sandbox}"))
            .env("PORTAL_DATABASE_URL", &db)
            .env("PORTAL_SESSION_KEY", key)
            .env("PORTAL_SMTP_URL", sink.url())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true);
        cmd.spawn().unwrap()
    };
    let (port, sandbox) = (free_port(), free_port());
    let mut portal = start(port, sandbox);
    let base = format!("http://127.0.0.1:{port}");
    let client = new_client();
    let mut up = false;
    for _ in 0..200 {
        if client.get(format!("{base}/healthz")).send().await.is_ok() {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(up, "the demo starts");
    // Log in (the demo's sandbox approves user 1001 at once) and connect the partner.
    let mut next = client
        .get(format!("{base}/auth/start"))
        .send()
        .await
        .unwrap();
    for _ in 0..6 {
        if next.status() != StatusCode::SEE_OTHER && next.status() != StatusCode::FOUND {
            break;
        }
        let to = location(&next).to_owned();
        let url = if to.starts_with("http") {
            to
        } else {
            format!("{base}{to}")
        };
        next = client.get(url).send().await.unwrap();
    }
    let csrf = crate::team::csrf_of(&base, &client, "/team").await;
    let r = post(&base, &client, "/team/connect", &csrf, &[]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = add_channel(
        &base,
        &client,
        &csrf,
        &[
            ("kind", "email"),
            ("target", "owner@example.com"),
            ("rule", "connection"),
        ],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let page = client
        .get(format!("{base}/notifications"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let id = attrs(&html(&page), "form[action$='/test']", "action")
        .pop()
        .unwrap();
    // The mail server stops answering; the portal writes the message and starts sending it.
    signal(sink.pid(), "STOP");
    let r = post(&base, &client, id.as_str(), &csrf, &[]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    tokio::time::sleep(Duration::from_secs(2)).await;
    // Killed mid-send.
    portal.start_kill().unwrap();
    portal.wait().await.unwrap();
    signal(sink.pid(), "CONT");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        sink.mails().is_empty(),
        "nothing was delivered before the kill"
    );
    // The restarted portal frees the dead process's lease and sends the message once.
    let _portal = start(port, sandbox);
    let mails = sink.wait_for(1).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(sink.mails().len(), 1, "once");
    assert!(mails[0].text().contains("this channel works"));
    assert!(
        mails[0].subject().starts_with("[sandbox]"),
        "{}",
        mails[0].subject()
    );
}

fn signal(pid: u32, name: &str) {
    let status = std::process::Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid.to_string())
        .status()
        .unwrap();
    assert!(status.success());
}

#[tokio::test]
async fn the_pages_hold_roles_and_say_what_is_missing() {
    let app = spawn_app().await;
    app.login().await;
    // Before the partner is connected the page says why nothing can be added.
    let page = app.get("/notifications").await.text().await.unwrap();
    assert!(page.contains("id=\"cannot-notify\""), "{page}");
    let csrf = app.csrf().await;
    let r = add_channel(
        &app.addr,
        &app.client,
        &csrf,
        &[
            ("kind", "webhook"),
            ("target", "https://hooks.example.com/x"),
            ("rule", "weekly"),
        ],
    )
    .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.text().await.unwrap().contains("team connection"));
    // Mail is off without PORTAL_SMTP_URL outside the demo.
    post(&app.addr, &app.client, "/team/connect", &csrf, &[]).await;
    let r = add_channel(
        &app.addr,
        &app.client,
        &csrf,
        &[
            ("kind", "email"),
            ("target", "a@example.com"),
            ("rule", "weekly"),
        ],
    )
    .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.text().await.unwrap().contains("PORTAL_SMTP_URL"));
    // Without a CSRF token nothing is added.
    let r = app
        .client
        .post(app.url("/notifications"))
        .form(&[
            ("kind", "webhook"),
            ("target", "https://hooks.example.com/x"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // A member cannot change another's channel, nor a shared one.
    let link = invite(&app.addr, &app.client, &csrf, "support", "sam").await;
    let sam = accept(&app, &app.addr, &link, SAM).await;
    let sam_csrf = crate::team::csrf_of(&app.addr, &sam, "/notifications").await;
    let r = add_channel(
        &app.addr,
        &sam,
        &sam_csrf,
        &[
            ("shared", "1"),
            ("audience", "admin"),
            ("kind", "webhook"),
            ("target", "https://hooks.example.com/x"),
            ("rule", "weekly"),
        ],
    )
    .await;
    assert_eq!(
        r.status(),
        StatusCode::FORBIDDEN,
        "support cannot add shared channels"
    );
    let (owners, _) = app
        .state
        .notify
        .create_channel(&partner_portal::notify::ChannelDraft {
            partner_id: partner_id(&app).await,
            user_id: Some(OWNER),
            username: "owner".into(),
            created_by: "owner".into(),
            audience: partner_portal::team::Role::Admin,
            kind: partner_portal::notify::Kind::Webhook,
            target: "https://hooks.example.com/owner".into(),
            format: partner_portal::notify::Format::Json,
            rules: Vec::new(),
        })
        .await
        .unwrap();
    let page = app.get("/notifications").await.text().await.unwrap();
    assert!(page.contains("The partner's shared channels"));
    let sam_page = sam
        .get(app.url("/notifications"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!sam_page.contains("The partner's shared channels"));
    for action in ["remove", "test"] {
        let r = post(
            &app.addr,
            &sam,
            &format!("/notifications/{}/{action}", owners.id),
            &sam_csrf,
            &[],
        )
        .await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{action}");
    }
    assert!(
        app.state
            .notify
            .channel(&owners.id)
            .await
            .unwrap()
            .is_some()
    );
}

/// The README's code block that starts with `first_line`.
fn readme_block(lang: &str, first_line: &str) -> String {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    readme
        .split(&format!("```{lang}\n"))
        .skip(1)
        .map(|b| b.split("```").next().unwrap().to_owned())
        .find(|b| b.starts_with(first_line))
        .unwrap_or_else(|| panic!("README has no {lang} block starting {first_line:?}"))
}

#[tokio::test]
async fn the_readmes_verification_recipes_accept_a_real_delivery_and_refuse_a_forged_one() {
    let python = python_with_aiosmtpd().unwrap_or("python3");
    let receiver = Receiver::start().await;
    let app = spawn_with(Options {
        webhook_allow: "127.0.0.1".into(),
        webhook_allow_http: true,
        ..Options::default()
    })
    .await;
    let csrf = connect(&app).await;
    add_webhook(
        &app.addr,
        &app.client,
        &csrf,
        &receiver,
        "r",
        &[("rule", "weekly")],
    )
    .await;
    let channel = app
        .state
        .notify
        .channels(partner_id(&app).await)
        .await
        .unwrap()[0]
        .id
        .clone();
    post(
        &app.addr,
        &app.client,
        &format!("/notifications/{channel}/test"),
        &csrf,
        &[],
    )
    .await;
    let got = receiver.wait_for(1).await.remove(0);
    assert!(got.signed);
    let secret = receiver.inner.lock().unwrap().secrets["r"].clone();
    let dir = tempfile::tempdir().unwrap();
    let shell = readme_block("sh", "# body.json");
    let python_code = format!(
        "{}\nimport os, sys\nprint(verify(os.environ['WEBHOOK_SECRET'], os.environ['HEADER'], open('body.json', 'rb').read()))\n",
        readme_block("python", "import hashlib")
    );
    for (body, want_shell, want_python) in [
        (got.raw.clone(), "valid", "True"),
        ([got.raw.as_slice(), b" "].concat(), "", "False"),
    ] {
        std::fs::write(dir.path().join("body.json"), &body).unwrap();
        let out = std::process::Command::new("bash")
            .args(["-c", &shell])
            .current_dir(dir.path())
            .env("HEADER", &got.signature)
            .env("WEBHOOK_SECRET", &secret)
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            want_shell,
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let out = std::process::Command::new(python)
            .args(["-c", &python_code])
            .current_dir(dir.path())
            .env("HEADER", &got.signature)
            .env("WEBHOOK_SECRET", &secret)
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            want_python,
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[tokio::test]
async fn the_monthly_summary_names_the_months_invoice_and_its_reconciliation() {
    let receiver = Receiver::start().await;
    let app = spawn_with(Options {
        webhook_allow: "127.0.0.1".into(),
        webhook_allow_http: true,
        ..Options::default()
    })
    .await;
    let csrf = connect(&app).await;
    app.wait_for_index(70).await;
    add_webhook(
        &app.addr,
        &app.client,
        &csrf,
        &receiver,
        "owner",
        &[("rule", "monthly")],
    )
    .await;
    add_webhook(
        &app.addr,
        &app.client,
        &csrf,
        &receiver,
        "support-room",
        &[
            ("shared", "1"),
            ("audience", "support"),
            ("rule", "monthly"),
        ],
    )
    .await;
    // Both channels existed before the month the sandbox last invoiced ended.
    let forty_days = 40 * 86_400;
    app.state
        .db
        .execute(&partner_portal::db::Sql::new(&format!(
            "UPDATE notify_channels SET created_at = created_at - {forty_days}"
        )))
        .await
        .unwrap();
    settle(&app).await;
    let got = receiver.wait_for(2).await;
    let owner = got.iter().find(|g| g.hook == "owner").unwrap();
    assert_eq!(owner.body["type"], "report.monthly");
    let invoice = &owner.body["data"]["invoices"][0];
    assert_eq!(invoice["key"], 70);
    assert_eq!(invoice["invoice"]["number"], "EXHOST-0012", "{invoice}");
    assert!(invoice["invoice"]["total"].as_i64().unwrap() > 0);
    let recon = invoice["reconciliation"].as_str().unwrap();
    assert!(recon.starts_with("Reconciliation: billed for "), "{recon}");
    // The support room's copy of the same summary has no invoice and no amount.
    let support = got.iter().find(|g| g.hook == "support-room").unwrap();
    assert_eq!(support.body["type"], "report.monthly");
    assert!(
        support.body["data"].get("invoices").is_none(),
        "{}",
        support.body
    );
    let text = support.body.to_string();
    assert!(!text.contains("EXHOST") && !text.contains('$'), "{text}");
    // The owner's summary names the month's invoice in its first sentences.
    let page = app
        .get("/notifications/deliveries")
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("Monthly summary"), "{page}");
}
