//! Team access (issue 13) through the real stack: the owner connects, admins invite each role,
//! members sign in with their own sandbox accounts and see exactly what their role allows;
//! invites used twice, expired, revoked or for someone else; a member removed mid-session; the
//! connection revoked upstream and restored; the audit log of each flow; the allow-list file.

use std::time::Duration;

use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

use crate::helpers::*;

pub const OWNER: u64 = 1001;
pub const VISITOR: u64 = 1002;
pub const FIONA: u64 = 1003;
pub const SAM: u64 = 1004;

/// A same-origin form POST with the session's CSRF token.
pub async fn post(
    app_url: &str,
    client: &Client,
    path: &str,
    csrf: &str,
    extra: &[(&str, &str)],
) -> reqwest::Response {
    post_as(app_url, app_url, client, path, csrf, extra).await
}

/// A form POST to `app_url` from a page of `origin` (replicas share one public URL).
pub async fn post_as(
    app_url: &str,
    origin: &str,
    client: &Client,
    path: &str,
    csrf: &str,
    extra: &[(&str, &str)],
) -> reqwest::Response {
    let mut form = vec![("csrf", csrf)];
    form.extend_from_slice(extra);
    client
        .post(format!("{app_url}{path}"))
        .header("origin", origin)
        .form(&form)
        .send()
        .await
        .unwrap()
}

/// The CSRF token on `path`'s logout form, for `client`.
pub async fn csrf_of(app_url: &str, client: &Client, path: &str) -> String {
    let body = client
        .get(format!("{app_url}{path}"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    attrs(&html(&body), "form.logout input[name=csrf]", "value")
        .into_iter()
        .next()
        .unwrap_or_else(|| panic!("no logout form on {path}: {body}"))
}

/// Logs `client` in as `user` on `app_url` (whose sandbox is `app`'s), returning where it landed.
pub async fn log_in(
    app: &TestApp,
    app_url: &str,
    client: &Client,
    user: u64,
    next: Option<&str>,
) -> String {
    let mut url = url::Url::parse(&format!("{app_url}/auth/start")).unwrap();
    if let Some(n) = next {
        url.query_pairs_mut().append_pair("next", n);
    }
    let r = client.get(url).send().await.unwrap();
    let authorize = url::Url::parse(location(&r)).unwrap();
    let callback = app.consent(&authorize, user, "approve").await;
    let r = client.get(callback).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "login as {user}");
    location(&r).to_owned()
}

/// The owner connects the partner; returns the owner's CSRF token.
pub async fn connect(app: &TestApp) -> String {
    app.login().await;
    let csrf = app.csrf().await;
    let r = post(&app.addr, &app.client, "/team/connect", &csrf, &[]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/team?done=connected");
    csrf
}

/// An admin (`client`) creates an invite; returns the link.
pub async fn invite(
    app_url: &str,
    client: &Client,
    csrf: &str,
    role: &str,
    for_whom: &str,
) -> String {
    let r = post(
        app_url,
        client,
        "/team/invites",
        csrf,
        &[("role", role), ("for_whom", for_whom)],
    )
    .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let body = r.text().await.unwrap();
    attrs(&html(&body), "#invite-link", "value")
        .pop()
        .expect("the link is shown once")
}

/// A new browser opens `link`, logs in as `user` and accepts; returns its client.
pub async fn accept(app: &TestApp, app_url: &str, link: &str, user: u64) -> Client {
    let client = new_client();
    let path = link.strip_prefix(&app.addr).unwrap_or(link);
    let r = client.get(format!("{app_url}{path}")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        location(&r),
        "/join",
        "the secret leaves the address bar at once"
    );
    let page = client
        .get(format!("{app_url}/join"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Log in with WordPress.com"), "{page}");
    assert_eq!(
        log_in(app, app_url, &client, user, Some("/join")).await,
        "/join"
    );
    let csrf = csrf_of(app_url, &client, "/join").await;
    let r = post_as(app_url, &app.addr, &client, "/join", &csrf, &[]).await;
    assert_eq!(
        r.status(),
        StatusCode::SEE_OTHER,
        "{}",
        r.text().await.unwrap()
    );
    assert_eq!(location(&r), "/?joined=1");
    client
}

async fn status(app_url: &str, client: &Client, path: &str) -> StatusCode {
    client
        .get(format!("{app_url}{path}"))
        .send()
        .await
        .unwrap()
        .status()
}

fn nav(body: &str) -> Vec<String> {
    texts(&html(body), "nav[aria-label=Main] a")
}

/// The login stored in the session behind `cookie` (`name=value`), decrypted by the app's own
/// store.
async fn session_auth(app: &TestApp, cookie: &str) -> Value {
    use tower_sessions::SessionStore as _;
    let value = cookie.split_once('=').map_or(cookie, |(_, v)| v);
    let id: tower_sessions::session::Id = value.parse().unwrap();
    let record = app
        .state
        .sessions
        .load(&id)
        .await
        .unwrap()
        .expect("a session");
    // The login is kept as one JSON text.
    match record.data.get("portal.auth") {
        Some(Value::String(text)) => serde_json::from_str(text).unwrap(),
        Some(other) => other.clone(),
        None => Value::Null,
    }
}

async fn audit_actions(app: &TestApp) -> Vec<String> {
    let r = app.get("/audit.csv").await;
    assert_eq!(r.status(), StatusCode::OK);
    let body = r.text().await.unwrap();
    csv::Reader::from_reader(body.trim_start_matches('\u{feff}').as_bytes())
        .records()
        .map(|r| r.unwrap()[4].to_owned())
        .collect()
}

#[tokio::test]
async fn members_see_exactly_what_their_role_allows() {
    let app = spawn_app().await;
    let owner_csrf = connect(&app).await;
    let team = app.get("/team").await.text().await.unwrap();
    assert!(team.contains("Live"), "{team}");
    let finance_link = invite(&app.addr, &app.client, &owner_csrf, "finance", "fiona").await;
    let support_link = invite(&app.addr, &app.client, &owner_csrf, "support", "").await;
    assert!(finance_link.starts_with(&format!("{}/join/", app.addr)));

    let fiona = accept(&app, &app.addr, &finance_link, FIONA).await;
    let sam = accept(&app, &app.addr, &support_link, SAM).await;

    // Finance: every report and CSV, no Team page.
    let home = fiona
        .get(app.url("/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        nav(&home),
        [
            "Overview",
            "Activations",
            "Invoices",
            "API tokens",
            "Notifications"
        ]
    );
    assert!(home.contains("Example Hosting"));
    assert_eq!(status(&app.addr, &fiona, "/invoices").await, StatusCode::OK);
    assert_eq!(
        status(&app.addr, &fiona, "/invoices.csv").await,
        StatusCode::OK
    );
    assert_eq!(
        status(&app.addr, &fiona, "/api/v1/invoices").await,
        StatusCode::OK
    );
    assert_eq!(
        status(&app.addr, &fiona, "/team").await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        status(&app.addr, &fiona, "/audit").await,
        StatusCode::FORBIDDEN
    );

    // Support: counts and activations only; invoice pages, CSVs and JSON answer 403.
    let home = sam
        .get(app.url("/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        nav(&home),
        ["Overview", "Activations", "API tokens", "Notifications"]
    );
    assert!(
        !home.contains("/invoices"),
        "no invoice link anywhere on the overview"
    );
    assert_eq!(
        status(&app.addr, &sam, "/activations").await,
        StatusCode::OK
    );
    assert_eq!(
        status(&app.addr, &sam, "/api/v1/activations").await,
        StatusCode::OK
    );
    for path in [
        "/invoices",
        "/invoices.csv",
        "/invoices/upcoming",
        "/invoices/in_1/lines.csv",
        "/team",
        "/audit",
        "/audit.csv",
    ] {
        let r = sam.get(app.url(path)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{path}");
        let body = r.text().await.unwrap();
        assert!(body.contains("Not part of your role"), "{path}: {body}");
    }
    let r = sam.get(app.url("/api/v1/invoices")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"], "role_forbidden", "{v}");
    let r = sam
        .get(app.url("/api/v1/invoices/upcoming"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    // The Team page lists both members with who accepted each invite.
    let team = app.get("/team").await.text().await.unwrap();
    let doc = html(&team);
    let names = texts(&doc, "#member-list .member-name");
    assert!(
        names.iter().any(|n| n.contains("Fiona Finance")),
        "{names:?}"
    );
    assert!(names.iter().any(|n| n.contains("Sam Support")), "{names:?}");
    let statuses = texts(&doc, "#invite-list .invite-status");
    assert!(
        statuses.iter().all(|s| s.starts_with("Accepted by")),
        "{statuses:?}"
    );
    assert!(
        !team.contains(finance_link.rsplit('/').next().unwrap()),
        "a link is shown once"
    );

    // Finance opens an invoice: recorded, with who and which key.
    assert_eq!(
        status(&app.addr, &fiona, "/invoices/in_1Fake0008K70?key=70").await,
        StatusCode::OK
    );
    // A login that fails (a forged callback) is recorded without a name.
    let r = new_client()
        .get(app.url("/auth/callback?state=forged&code=x"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);

    // A role change applies at the member's next request.
    let r = post(
        &app.addr,
        &app.client,
        &format!("/team/members/{FIONA}/role"),
        &owner_csrf,
        &[("role", "support")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        status(&app.addr, &fiona, "/invoices").await,
        StatusCode::FORBIDDEN
    );

    // Removed mid-session: the next request ends the session.
    let r = post(
        &app.addr,
        &app.client,
        &format!("/team/members/{SAM}/remove"),
        &owner_csrf,
        &[],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = sam.get(app.url("/activations")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(location(&r).contains("reason=removed"), "{}", location(&r));
    assert_eq!(
        status(&app.addr, &sam, "/").await,
        StatusCode::SEE_OTHER,
        "the session is gone"
    );

    let actions = audit_actions(&app).await;
    for a in [
        "sign_in",
        "sign_in_failed",
        "invoice_view",
        "connection_made",
        "invite_created",
        "invite_accepted",
        "csv_download",
        "role_changed",
        "member_removed",
    ] {
        assert!(
            actions.iter().any(|x| x == a),
            "{a} missing from {actions:?}"
        );
    }
    let csv = app.get("/audit.csv").await.text().await.unwrap();
    assert!(
        csv.lines().any(|l| l.contains("Fiona Finance")
            && l.contains("invoice_view")
            && l.contains("key Production (70)")),
        "{csv}"
    );
    assert!(
        !csv.contains(finance_link.rsplit('/').next().unwrap()),
        "no invite link in the audit log"
    );
    let logs = captured_logs();
    for link in [&finance_link, &support_link] {
        let secret = link.rsplit('/').next().unwrap();
        // The test's own HTML parser traces what it reads; the portal's lines are what count.
        let line = logs.lines().find(|l| {
            l.contains(secret)
                && ![" html5ever::", " selectors::", " scraper::"]
                    .iter()
                    .any(|t| l.contains(t))
        });
        assert!(line.is_none(), "an invite secret reached the log: {line:?}");
    }
}

#[tokio::test]
async fn members_hold_no_token_and_the_owners_token_is_sealed_at_rest() {
    let app = spawn_app().await;
    let r = app.login_with(&app.client, OWNER, None).await;
    let owner_cookie = session_cookie(&r).unwrap();
    let owner_token = session_auth(&app, &owner_cookie).await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let csrf = app.csrf().await;
    post(&app.addr, &app.client, "/team/connect", &csrf, &[]).await;
    let link = invite(&app.addr, &app.client, &csrf, "finance", "").await;
    // Fiona's browser, with its cookie in view.
    let fiona = new_client();
    fiona.get(&link).send().await.unwrap();
    let authorize = app.start_login_with(&fiona, Some("/join")).await;
    let callback = app.consent(&authorize, FIONA, "approve").await;
    let r = fiona.get(callback).send().await.unwrap();
    let cookie = session_cookie(&r).unwrap();
    let before = session_auth(&app, &cookie).await;
    assert!(
        before["token"].is_null(),
        "a user without partner access keeps no token: {before}"
    );
    let fiona_csrf = csrf_of(&app.addr, &fiona, "/join").await;
    let r = post(&app.addr, &fiona, "/join", &fiona_csrf, &[]).await;
    let cookie = session_cookie(&r).expect("accepting rotates the session id");
    let after = session_auth(&app, &cookie).await;
    assert_eq!(after["member_of"], json!(7), "{after}");
    assert!(
        after["token"].is_null(),
        "a member session holds no token: {after}"
    );
    let home = fiona
        .get(app.url("/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        !home.contains(&owner_token),
        "the owner's token never reaches a member's browser"
    );
    // The owner's token is sealed in the database: not in the file or its WAL.
    for ext in ["", "-wal"] {
        let path = format!("{}{ext}", app.db_path.display());
        if let Ok(raw) = std::fs::read(&path) {
            let text = String::from_utf8_lossy(&raw);
            assert!(
                !text.contains(&owner_token),
                "the bearer token is readable in {path}"
            );
        }
    }
    let (sealed,): (String,) = sqlx::query_as("SELECT token_sealed FROM team_connections")
        .fetch_one(
            &sqlx::SqlitePool::connect(&format!("sqlite://{}", app.db_path.display()))
                .await
                .unwrap(),
        )
        .await
        .unwrap();
    assert!(sealed.starts_with("v1.") && !sealed.contains(&owner_token));
}

#[tokio::test]
async fn spent_revoked_expired_and_foreign_invites_refuse() {
    let app = spawn_app().await;
    let csrf = connect(&app).await;
    // Used twice.
    let link = invite(&app.addr, &app.client, &csrf, "support", "").await;
    let _sam = accept(&app, &app.addr, &link, SAM).await;
    let other = new_client();
    other.get(&link).send().await.unwrap();
    let r = other.get(app.url("/join")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::GONE);
    assert!(r.text().await.unwrap().contains("already been used"));

    // Revoked.
    let link = invite(&app.addr, &app.client, &csrf, "support", "").await;
    let team = app.get("/team").await.text().await.unwrap();
    let revoke = attrs(&html(&team), "#invite-list form", "action")
        .into_iter()
        .find(|a| a.ends_with("/revoke"))
        .unwrap();
    let r = post(&app.addr, &app.client, &revoke, &csrf, &[]).await;
    assert_eq!(location(&r), "/team?done=revoked");
    let c = new_client();
    c.get(&link).send().await.unwrap();
    let r = c.get(app.url("/join")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::GONE);
    assert!(r.text().await.unwrap().contains("revoked"));

    // For someone else: the visitor cannot accept Fiona's invite.
    let link = invite(
        &app.addr,
        &app.client,
        &csrf,
        "finance",
        "fiona@host.example",
    )
    .await;
    let c = new_client();
    c.get(&link).send().await.unwrap();
    log_in(&app, &app.addr, &c, VISITOR, Some("/join")).await;
    let page = c
        .get(app.url("/join"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("for another WordPress.com account"), "{page}");
    assert!(!page.contains("id=\"accept\""));
    let csrf_v = csrf_of(&app.addr, &c, "/join").await;
    let r = post(&app.addr, &c, "/join", &csrf_v, &[]).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // ... but Fiona can, matched by her email.
    let _fiona = accept(&app, &app.addr, &link, FIONA).await;

    let actions = audit_actions(&app).await;
    assert!(actions.iter().any(|a| a == "invite_revoked"), "{actions:?}");

    // Expired: seven days later the link is dead.
    let link = invite(&app.addr, &app.client, &csrf, "support", "").await;
    app.state
        .clock
        .advance(Duration::from_secs(7 * 24 * 3600 + 1));
    let c = new_client();
    c.get(&link).send().await.unwrap();
    let r = c.get(app.url("/join")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::GONE);
    assert!(r.text().await.unwrap().contains("expired"));

    // A made-up link.
    let c = new_client();
    c.get(app.url("/join/not-a-real-invite"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        c.get(app.url("/join")).send().await.unwrap().status(),
        StatusCode::NOT_FOUND
    );

    // Anyone else: the not-a-partner page now mentions invites.
    let c = new_client();
    log_in(&app, &app.addr, &c, VISITOR, None).await;
    let body = c
        .get(app.url("/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(body.contains("ask its admin for an invite"), "{body}");
}

#[tokio::test]
async fn the_last_admin_stays() {
    let app = spawn_app().await;
    let csrf = connect(&app).await;
    let link = invite(&app.addr, &app.client, &csrf, "admin", "").await;
    let admin = accept(&app, &app.addr, &link, VISITOR).await;
    // The invited admin sees the Team and Audit pages.
    let home = admin
        .get(app.url("/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        nav(&home),
        [
            "Overview",
            "Activations",
            "Invoices",
            "Team",
            "Audit",
            "API tokens",
            "Notifications"
        ]
    );
    let team = admin
        .get(app.url("/team"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        team.contains("Only someone whose own WordPress.com account lists the partner's keys"),
        "a member cannot reconnect"
    );
    let r = post(
        &app.addr,
        &app.client,
        &format!("/team/members/{VISITOR}/role"),
        &csrf,
        &[("role", "support")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = post(
        &app.addr,
        &app.client,
        &format!("/team/members/{VISITOR}/remove"),
        &csrf,
        &[],
    )
    .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.text().await.unwrap().contains("without an admin"));
    // A member admin cannot connect with a token they do not have.
    let admin_csrf = csrf_of(&app.addr, &admin, "/team").await;
    let r = post(&app.addr, &admin, "/team/connect", &admin_csrf, &[]).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_revoked_connection_pauses_members_and_a_reconnect_restores_them() {
    let app = spawn_with(Options {
        metrics: "on".into(),
        ..Options::default()
    })
    .await;
    let csrf = connect(&app).await;
    let link = invite(&app.addr, &app.client, &csrf, "finance", "").await;
    let fiona = accept(&app, &app.addr, &link, FIONA).await;
    let link = invite(&app.addr, &app.client, &csrf, "admin", "").await;
    let admin = accept(&app, &app.addr, &link, VISITOR).await;
    assert_eq!(status(&app.addr, &fiona, "/invoices").await, StatusCode::OK);

    // WordPress.com revokes the owner's tokens.
    app.control("tokens/revoke", json!({ "user_id": OWNER }))
        .await;
    let r = fiona
        .get(app.url("/invoices?fresh=1"))
        .send()
        .await
        .unwrap();
    // The invoice list may still come from the cache; the JSON route always asks upstream.
    let _ = r;
    let r = fiona.get(app.url("/api/v1/invoices")).send().await.unwrap();
    assert_eq!(
        r.status(),
        StatusCode::UNAUTHORIZED,
        "WordPress.com's answer is passed on"
    );
    let r = fiona.get(app.url("/activations")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body = r.text().await.unwrap();
    assert!(
        body.contains("Reports are paused until Host Admin reconnects"),
        "{body}"
    );
    assert!(!body.contains("Internal"), "no 500");
    // The member admin sees a banner saying who must reconnect; metrics say so.
    let home = admin
        .get(app.url("/team"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let banner = texts(&html(&home), "#team-banner");
    assert!(
        banner.first().is_some_and(|b| b.contains("Host Admin")),
        "{banner:?}"
    );
    assert!(home.contains("Broken"));
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains("portal_team_connections_broken 1"),
        "{metrics}"
    );

    // The owner logs in again and reconnects.
    let c = new_client();
    log_in(&app, &app.addr, &c, OWNER, None).await;
    let home = c
        .get(app.url("/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        home.contains("id=\"team-banner\""),
        "the owner sees the banner too"
    );
    let owner_csrf = csrf_of(&app.addr, &c, "/team").await;
    let r = post(&app.addr, &c, "/team/connect", &owner_csrf, &[]).await;
    assert_eq!(location(&r), "/team?done=reconnected");
    assert_eq!(
        status(&app.addr, &fiona, "/api/v1/invoices").await,
        StatusCode::OK
    );
    assert_eq!(
        status(&app.addr, &fiona, "/activations").await,
        StatusCode::OK
    );
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains("portal_team_connections_broken 0"),
        "{metrics}"
    );

    // Disconnecting ends every member session at its next request.
    let r = post(&app.addr, &c, "/team/disconnect", &owner_csrf, &[]).await;
    assert_eq!(location(&r), "/team?done=disconnected");
    let r = fiona.get(app.url("/")).send().await.unwrap();
    assert!(
        location(&r).contains("reason=disconnected"),
        "{}",
        location(&r)
    );

    let r = c
        .get(app.url("/audit.csv"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for a in [
        "connection_broken",
        "connection_replaced",
        "connection_removed",
    ] {
        assert!(r.contains(a), "{a} missing: {r}");
    }
}

#[tokio::test]
async fn the_scheduled_check_finds_a_broken_connection_and_refreshes_copies() {
    let app = spawn_app().await;
    connect(&app).await;
    let watch = partner_portal::team::watch::Watch {
        team: app.state.team.clone(),
        wpcom: app.state.wpcom.clone(),
        index: app.state.index.clone(),
        clock: app.state.clock.clone(),
        check_every: Duration::from_secs(600),
        retention: Duration::from_secs(180 * 86_400),
        observer: None,
    };
    // Just connected: nothing to check yet.
    app.wait_for_index(70).await;
    assert_eq!(
        watch.round().await.unwrap().checked,
        0,
        "checked at connect time"
    );
    // Later, with nobody looking, the watcher confirms the connection and refreshes the copies.
    app.state.clock.advance(Duration::from_secs(901));
    let round = watch.round().await.unwrap();
    assert_eq!(round.checked, 1, "{round:?}");
    assert!(round.syncs_started >= 1, "{round:?}");
    app.state.clock.advance(Duration::from_secs(601));
    app.control("tokens/revoke", json!({ "user_id": OWNER }))
        .await;
    let round = watch.round().await.unwrap();
    assert_eq!(round.broken, 1, "{round:?}");
    assert_eq!(watch.round().await.unwrap().broken, 0, "recorded once");
    // Retention: entries older than it go.
    app.state.clock.advance(Duration::from_secs(181 * 86_400));
    assert!(watch.round().await.unwrap().purged > 0);
}

#[tokio::test]
async fn the_allow_list_file_grants_memberships() {
    let app = spawn_with(Options {
        team_file: Some("# support desk\nfinance fiona\nsupport 1004\n".into()),
        ..Options::default()
    })
    .await;
    // Before the partner is connected nobody from the file gets in.
    let c = new_client();
    log_in(&app, &app.addr, &c, FIONA, None).await;
    assert_eq!(status(&app.addr, &c, "/").await, StatusCode::FORBIDDEN);
    connect(&app).await;
    let fiona = new_client();
    log_in(&app, &app.addr, &fiona, FIONA, None).await;
    assert_eq!(status(&app.addr, &fiona, "/invoices").await, StatusCode::OK);
    let sam = new_client();
    log_in(&app, &app.addr, &sam, SAM, None).await;
    assert_eq!(
        status(&app.addr, &sam, "/activations").await,
        StatusCode::OK
    );
    assert_eq!(
        status(&app.addr, &sam, "/invoices").await,
        StatusCode::FORBIDDEN
    );
    let team = app.get("/team").await.text().await.unwrap();
    assert_eq!(
        team.matches("managed by configuration").count(),
        2,
        "{team}"
    );
    // The visitor is in no file and has no invite.
    let v = new_client();
    log_in(&app, &app.addr, &v, VISITOR, None).await;
    assert_eq!(status(&app.addr, &v, "/").await, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn two_replicas_on_postgres_agree_on_memberships_and_the_connection() {
    let Some(db) = crate::postgres::fresh_database().await else {
        return;
    };
    let app = spawn_with(Options {
        database_url: Some(db),
        ..Options::default()
    })
    .await;
    let (b, _) = app.spawn_replica().await;
    let csrf = connect(&app).await;
    let link = invite(&app.addr, &app.client, &csrf, "finance", "").await;
    // The invite is made on one replica and accepted on the other.
    let fiona = accept(&app, &b, &link, FIONA).await;
    assert_eq!(status(&b, &fiona, "/invoices").await, StatusCode::OK);
    assert_eq!(status(&app.addr, &fiona, "/invoices").await, StatusCode::OK);
    // A role change on B applies on A at once.
    let r = post_as(
        &b,
        &app.addr,
        &app.client,
        &format!("/team/members/{FIONA}/role"),
        &csrf,
        &[("role", "support")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        status(&app.addr, &fiona, "/invoices").await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        status(&app.addr, &fiona, "/activations").await,
        StatusCode::OK
    );
    // The connection broken on A pauses B's members too.
    app.control("tokens/revoke", json!({ "user_id": OWNER }))
        .await;
    let r = fiona
        .get(format!("{}/api/v1/activations", app.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = fiona.get(format!("{b}/activations")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    // Removal on A ends the session on B.
    let c = new_client();
    log_in(&app, &app.addr, &c, OWNER, None).await;
    let owner_csrf = csrf_of(&b, &c, "/team").await;
    let r = post_as(&b, &app.addr, &c, "/team/connect", &owner_csrf, &[]).await;
    assert_eq!(location(&r), "/team?done=reconnected");
    assert_eq!(status(&b, &fiona, "/activations").await, StatusCode::OK);
    let r = post(
        &app.addr,
        &c,
        &format!("/team/members/{FIONA}/remove"),
        &owner_csrf,
        &[],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = fiona.get(format!("{b}/")).send().await.unwrap();
    assert!(location(&r).contains("reason=removed"), "{}", location(&r));
    // Both replicas read one audit log.
    let csv = c
        .get(format!("{b}/audit.csv"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for a in [
        "connection_made",
        "invite_accepted",
        "role_changed",
        "connection_broken",
        "connection_replaced",
        "member_removed",
    ] {
        assert!(csv.contains(a), "{a} missing: {csv}");
    }
}

#[tokio::test]
async fn an_invite_is_accepted_in_a_second_browser_profile() {
    use crate::browser::Driver;
    let Some(owner) = Driver::start().await else {
        return;
    };
    let Some(second) = Driver::start().await else {
        owner.quit().await;
        return;
    };
    let app = spawn_app().await;
    owner.log_in(&app, "/login", "/").await;
    owner.goto(&app.url("/team")).await;
    owner.click("#connect").await;
    owner.wait_for_url(&app.url("/team?done=connected")).await;
    owner.click("input[name=role][value=finance]").await;
    owner.click("#create-invite").await;
    assert!(owner.wait_for("#invite-link").await, "the link is shown");
    let link = owner
        .exec(
            "return document.querySelector('#invite-link').value;",
            json!([]),
        )
        .await;
    let link = link.as_str().unwrap().to_owned();

    // The second profile has no cookie of the owner's: it logs in as Fiona and accepts.
    second.goto(&link).await;
    second.wait_for_url(&app.url("/join")).await;
    assert!(second.source().await.contains("Finance"));
    second.click("#join-login").await;
    second
        .wait_for_url(&format!("{}/oauth2/authorize", app.sandbox_url))
        .await;
    second.click("input[name=user_id][value=\"1003\"]").await;
    second.click("#approve").await;
    second.wait_for_url(&app.url("/join")).await;
    second.click("#accept").await;
    second.wait_for_url(&app.url("/?joined=1")).await;
    let nav = second
        .exec(
            "return [...document.querySelectorAll('nav[aria-label=Main] a')].map(a => a.textContent.trim());",
            json!([]),
        )
        .await;
    assert_eq!(
        nav,
        json!([
            "Overview",
            "Activations",
            "Invoices",
            "API tokens",
            "Notifications"
        ])
    );
    assert!(second.source().await.contains("Fiona Finance"));
    second.goto(&app.url("/team")).await;
    let refused = second.source().await;
    assert!(
        refused.contains("Not part of your role"),
        "a finance member is refused the team page; at {}: {refused}",
        second.url().await
    );

    owner.goto(&app.url("/team")).await;
    let team = owner.source().await;
    assert!(
        team.contains("Fiona Finance"),
        "the owner sees who accepted; at {}: {team}",
        owner.url().await
    );
    owner.quit().await;
    second.quit().await;
}
