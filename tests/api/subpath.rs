//! Serving under a sub-path (`PORTAL_PUBLIC_URL=https://intranet.example/partners/`): the login
//! round trip, every link and redirect, and both kinds of reverse proxy (one that passes the
//! prefix on, one that strips it).

use std::collections::{BTreeSet, VecDeque};

use reqwest::StatusCode;
use url::Url;

use partner_portal::web::assets::versioned;

use crate::helpers::*;

const BASE: &str = "/partners";

/// Every `href`, `src` and `action` of a page.
fn links(body: &str) -> Vec<String> {
    let doc = html(body);
    let mut out = attrs(&doc, "a[href], link[href]", "href");
    out.extend(attrs(&doc, "script[src]", "src"));
    out.extend(attrs(&doc, "form[action]", "action"));
    out
}

#[tokio::test]
async fn the_whole_portal_works_under_a_sub_path() {
    let app = spawn_with(Options {
        base_path: BASE,
        ..Options::default()
    })
    .await;
    let client = &app.client;

    // Logged out: the prefixed root sends to the prefixed login page.
    let r = app.get_with(client, "/partners/").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/partners/login");
    let r = app.get_with(client, "/partners").await;
    assert_eq!(
        location(&r),
        "/partners/login",
        "no trailing slash is the same page"
    );

    let login = app
        .get_with(client, "/partners/login?next=%2Finvoices")
        .await
        .text()
        .await
        .unwrap();
    let start = attrs(&html(&login), "#login", "href");
    assert_eq!(start, ["/partners/auth/start?next=%2Finvoices"]);
    for l in links(&login) {
        assert!(l.starts_with("/partners/") || l.starts_with('#'), "{l}");
    }

    // The redirect URI WordPress.com sees carries the prefix, and so does the way back.
    let r = client.get(app.url(&start[0])).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let authorize = Url::parse(location(&r)).unwrap();
    let redirect_uri = authorize
        .query_pairs()
        .find(|(k, _)| k == "redirect_uri")
        .map(|(_, v)| v.into_owned());
    assert_eq!(
        redirect_uri.as_deref(),
        Some(format!("{}/partners/auth/callback", app.addr).as_str())
    );
    let callback = app.consent(&authorize, 1001, "approve").await;
    assert_eq!(callback.path(), "/partners/auth/callback");
    let r = client.get(callback).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        location(&r),
        "/partners/invoices",
        "back where the login began"
    );
    for cookie in set_cookies(&r) {
        assert!(cookie.contains("Path=/"), "{cookie}");
    }

    // Crawl every page reachable from the overview: each link, form and asset stays under
    // the prefix (or leaves for another site), and each answers.
    app.wait_for_index(70).await;
    let own = Url::parse(&app.addr).unwrap();
    let mut seen = BTreeSet::new();
    let mut queue = VecDeque::from(["/partners/".to_owned()]);
    let mut pages = 0;
    while let Some(path) = queue.pop_front() {
        if !seen.insert(path.clone()) || pages >= 80 {
            continue;
        }
        pages += 1;
        let r = app.get_with(client, &path).await;
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        let is_html = r
            .headers()
            .get("content-type")
            .is_some_and(|v| v.to_str().unwrap().starts_with("text/html"));
        let body = r.text().await.unwrap();
        if !is_html {
            continue;
        }
        for l in links(&body) {
            if l.starts_with('#') {
                continue;
            }
            let url = own.join(&l).unwrap();
            if url.origin() != own.origin() {
                assert!(matches!(url.scheme(), "http" | "https"), "{l} on {path}");
                continue;
            }
            assert!(
                url.path().starts_with("/partners/"),
                "{l} on {path} leaves the sub-path"
            );
            // Pages, CSVs and assets; the POST forms are checked below.
            if !body.contains(&format!("method=\"post\" action=\"{l}\"")) {
                queue.push_back(url[url::Position::BeforePath..].to_owned());
            }
        }
    }
    assert!(pages >= 20, "the crawl reached only {pages} pages");
    let css = format!("/partners/static/{}", versioned("app.css"));
    let js = format!("/partners/static/{}", versioned("app.js"));
    for expected in [
        "/partners/activations?key=70",
        "/partners/invoices?key=70",
        css.as_str(),
        js.as_str(),
        "/partners/activations.csv?key=70",
    ] {
        assert!(
            seen.contains(expected),
            "the crawl never reached {expected}"
        );
    }

    // A refresh comes back to the page it was asked from, prefix included.
    let csrf = app.csrf().await;
    let r = client
        .post(app.url("/partners/activations/refresh"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("key", "70"),
            ("back", "/activations?key=70&page=2"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/partners/activations?key=70&page=2");

    // Error pages link under the prefix too.
    let r = app.get_with(client, "/partners/no-such-page").await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let body = r.text().await.unwrap();
    for l in links(&body) {
        assert!(l.starts_with("/partners/") || l.starts_with('#'), "{l}");
    }

    // Logging out lands on the prefixed login page, and the session is gone.
    let r = client
        .post(app.url("/partners/logout"))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/partners/login?reason=logged_out");
    let r = app.get_with(client, "/partners/invoices").await;
    assert_eq!(location(&r), "/partners/login?next=%2Finvoices");
}

#[tokio::test]
async fn a_proxy_that_strips_the_prefix_works_as_well() {
    let app = spawn_with(Options {
        base_path: BASE,
        ..Options::default()
    })
    .await;
    // The proxy maps /partners/x to /x: the portal still answers, and links keep the prefix
    // the browser needs.
    let r = app.get("/").await;
    assert_eq!(location(&r), "/partners/login");
    let r = app.login_with(&app.client, 1001, Some("/invoices")).await;
    assert_eq!(location(&r), "/partners/invoices");
    let body = app.get("/invoices?key=70").await.text().await.unwrap();
    let nav = attrs(&html(&body), "nav a", "href");
    assert_eq!(
        nav,
        [
            "/partners/?key=70",
            "/partners/activations?key=70",
            "/partners/invoices?key=70",
            "/partners/team",
            "/partners/audit",
            "/partners/tokens",
            "/partners/notifications"
        ]
    );
    // Probes answer at the root and under the prefix.
    assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);
    assert_eq!(app.get("/partners/readyz").await.status(), StatusCode::OK);
    // Only whole path segments are the prefix.
    let r = app.get("/partnersx").await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}
