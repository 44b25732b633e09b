//! Every page renders the sandbox's data; filters, keys, empty states, hostile data, and the
//! lenient-parsing switches.

use chrono::Utc;
use partner_portal::{
    config::{InvoicesStyle, SandboxOptions, SummaryDateStyle},
    sandbox::data::KEY_PRODUCTION,
    web::fmt_int,
};
use reqwest::StatusCode;

use crate::helpers::*;

async fn page(app: &TestApp, path: &str) -> scraper::Html {
    let r = app.get(path).await;
    assert_eq!(r.status(), StatusCode::OK, "{path}");
    assert_eq!(r.headers()["content-type"], "text/html; charset=utf-8");
    html(&r.text().await.unwrap())
}

fn sandbox_with(f: impl FnOnce(&mut SandboxOptions)) -> Options {
    let mut o = Options::default();
    f(&mut o.sandbox);
    o
}

#[tokio::test]
async fn overview_shows_headlines_chart_and_table_from_the_summary() {
    let app = spawn_app().await;
    app.login().await;
    let doc = page(&app, "/").await;
    let active_now = {
        let seed = &app.sandbox.data().seed;
        seed.activations
            .iter()
            .filter(|a| a.key_id == KEY_PRODUCTION && a.active_at(Utc::now()))
            .count()
    };
    let cards = texts(&doc, ".card .value");
    assert_eq!(cards[0], fmt_int(active_now as i64), "active plans now");
    assert_eq!(cards[2], "150", "every activation of the key");
    // 24 months of bars and table rows, newest first in the table.
    assert_eq!(texts(&doc, "#summary-chart rect.bar").len(), 24);
    let rows = texts(&doc, "#summary-table tbody tr");
    assert_eq!(rows.len(), 24);
    assert!(
        rows[0].starts_with(&Utc::now().format("%b %Y").to_string()),
        "{}",
        rows[0]
    );
    assert_eq!(
        attrs(&doc, ".tabs a[aria-current=page]", "href"),
        vec!["/?key=70&scale=month"]
    );
    // Other scales.
    let doc = page(&app, "/?scale=year").await;
    assert_eq!(texts(&doc, "#summary-table tbody tr").len(), 3);
    let doc = page(&app, "/?scale=day").await;
    assert_eq!(texts(&doc, "#summary-chart rect.bar").len(), 60);
    assert_eq!(
        app.get("/?scale=week").await.status(),
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn activations_list_pages_and_filters_through_the_upstream() {
    let app = spawn_app().await;
    app.login().await;
    let doc = page(&app, "/activations").await;
    let seed_rows: Vec<_> = app
        .sandbox
        .data()
        .seed
        .activations
        .iter()
        .filter(|a| a.key_id == KEY_PRODUCTION)
        .cloned()
        .collect();
    let names = texts(&doc, "#activations tbody tr .name");
    assert_eq!(names.len(), 20);
    assert_eq!(names[0], seed_rows[0].site_name);
    assert_eq!(
        texts(&doc, "#result-count"),
        vec!["Showing 1–20 of 150 activations."]
    );
    assert_eq!(texts(&doc, ".pager span"), vec!["Page 1 of 8"]);
    let next = attrs(&doc, ".pager a[rel=next]", "href").remove(0);
    assert_eq!(next, "/activations?key=70&page=2");
    let doc = page(&app, &next).await;
    assert_eq!(
        texts(&doc, "#activations tbody tr .name")[0],
        seed_rows[20].site_name
    );
    // Site links only for http(s) URLs, with rel=noopener.
    let hrefs = attrs(&doc, "#activations tbody a", "href");
    assert!(
        hrefs
            .iter()
            .all(|h| h.starts_with("http://") || h.starts_with("https://"))
    );
    assert!(
        attrs(&doc, "#activations tbody a", "rel")
            .iter()
            .all(|r| r == "noopener noreferrer")
    );
    // Plan filter: every row is that product.
    let personal = seed_rows
        .iter()
        .filter(|a| a.product_id == 2005 || a.current_product_id == 2005)
        .count();
    let doc = page(&app, "/activations?key=70&plan=2005&per_page=100").await;
    assert_eq!(
        texts(&doc, "#result-count"),
        vec![format!(
            "Showing 1–{personal} of {personal} activations matching the filters."
        )]
    );
    assert!(
        texts(&doc, "#activations tbody tr td:nth-child(2)")
            .iter()
            .all(|p| p.contains("Personal"))
    );
    assert_eq!(
        attrs(&doc, "input[name=plan][checked]", "value"),
        vec!["2005"]
    );
    // Date filter (inclusive days).
    let day = seed_rows[0].activated_on.date_naive();
    let on_day = seed_rows
        .iter()
        .filter(|a| a.activated_on.date_naive() == day)
        .count();
    let doc = page(&app, &format!("/activations?key=70&from={day}&to={day}")).await;
    assert_eq!(texts(&doc, "#activations tbody tr").len(), on_day);
    // An empty result says what to change.
    let doc = page(&app, "/activations?key=70&from=2001-01-01&to=2001-01-31").await;
    assert_eq!(
        texts(&doc, ".empty"),
        vec!["No activations match these filters. Widen the dates or pick more plans."]
    );
    // Invalid input is a 400 page, not a 500.
    let r = app.get("/activations?per_page=abc").await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        texts(&html(&r.text().await.unwrap()), "h1"),
        vec!["That request could not be understood"]
    );
}

#[tokio::test]
async fn invoices_show_past_statuses_amounts_links_and_the_upcoming_estimate() {
    let app = spawn_app().await;
    app.login().await;
    let doc = page(&app, "/invoices").await;
    let statuses = texts(&doc, "#invoices tbody .status");
    assert_eq!(statuses.len(), 12);
    assert_eq!(
        statuses[0], "Past due",
        "the open invoice whose payment attempt failed"
    );
    assert_eq!(statuses.iter().filter(|s| *s == "Paid").count(), 10);
    assert_eq!(statuses.iter().filter(|s| *s == "Void").count(), 1);
    let expected_total = app.sandbox.data().invoices[&KEY_PRODUCTION][0]["total"]
        .as_i64()
        .unwrap();
    let totals = texts(&doc, "#invoices tbody td.num");
    assert_eq!(
        totals[0],
        format!(
            "${}.{:02}",
            fmt_int(expected_total / 100),
            expected_total % 100
        )
    );
    let links = attrs(&doc, "#invoices tbody a", "href");
    assert_eq!(links.len(), 24, "view and PDF for each");
    assert!(links[0].starts_with(&app.sandbox_url));
    assert_eq!(texts(&doc, "#upcoming h2 .tag"), vec!["estimate"]);
    assert!(!texts(&doc, "#upcoming tbody tr").is_empty());
    // The staging key has no invoices and nothing upcoming: calm empty states.
    let doc = page(&app, "/invoices?key=71").await;
    assert_eq!(
        texts(&doc, "#upcoming .empty"),
        vec![
            "The next invoice is being prepared. It appears here once WordPress.com has one for this key."
        ]
    );
    assert_eq!(
        texts(&doc, "#past .empty"),
        vec!["No invoices for this key yet."]
    );
}

#[tokio::test]
async fn the_key_selector_lists_keys_marks_disabled_ones_and_refuses_unknown_keys() {
    let app = spawn_app().await;
    app.login().await;
    let doc = page(&app, "/activations?key=71").await;
    assert_eq!(
        texts(&doc, "#key option"),
        vec!["Production", "Staging (disabled)"]
    );
    assert_eq!(attrs(&doc, "#key option[selected]", "value"), vec!["71"]);
    assert_eq!(texts(&doc, "#activations tbody tr").len(), 6);
    assert_eq!(
        attrs(&doc, "nav[aria-label=Main] a", "href"),
        vec!["/?key=71", "/activations?key=71", "/invoices?key=71"]
    );
    let r = app.get("/activations?key=99").await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn demo_mode_marks_every_page_as_sandbox_data() {
    let demo = spawn_with(Options {
        demo: true,
        ..Options::default()
    })
    .await;
    let doc = html(&demo.get("/login").await.text().await.unwrap());
    assert_eq!(texts(&doc, "#demo-banner strong"), vec!["Sandbox data."]);
    demo.login().await;
    for path in ["/", "/activations", "/invoices", "/no-such-page"] {
        let doc = html(&demo.get(path).await.text().await.unwrap());
        assert_eq!(
            texts(&doc, "#demo-banner strong"),
            vec!["Sandbox data."],
            "{path}"
        );
    }
    let real = spawn_app().await;
    real.login().await;
    assert!(
        texts(
            &html(&real.get("/").await.text().await.unwrap()),
            "#demo-banner"
        )
        .is_empty()
    );
}

#[tokio::test]
async fn hostile_upstream_strings_are_escaped_and_never_become_links() {
    let app = spawn_with(sandbox_with(|s| s.hostile = true)).await;
    app.login().await;
    let seed: Vec<_> = app
        .sandbox
        .data()
        .seed
        .activations
        .iter()
        .filter(|a| a.site_name.contains('<') || !a.site_url.starts_with("http"))
        .cloned()
        .collect();
    assert!(!seed.is_empty());
    // Find the pages those rows are on: fetch everything in one page.
    let body = app
        .get("/activations?per_page=100")
        .await
        .text()
        .await
        .unwrap();
    let mut all = body.clone();
    all.push_str(
        &app.get("/activations?per_page=100&page=2")
            .await
            .text()
            .await
            .unwrap(),
    );
    all.push_str(&app.get("/invoices").await.text().await.unwrap());
    assert!(!all.contains("<script>alert"), "raw script tag rendered");
    assert!(!all.contains("<img src=x"), "raw img tag rendered");
    assert!(
        all.contains("&lt;script&gt;alert(1)&lt;/script&gt;")
            || all.contains("&#60;script&#62;alert(1)&#60;/script&#62;")
    );
    let docs = [
        html(&body),
        html(
            &app.get("/activations?per_page=100&page=2")
                .await
                .text()
                .await
                .unwrap(),
        ),
    ];
    for doc in &docs {
        for href in attrs(doc, "a", "href") {
            assert!(
                !href.to_ascii_lowercase().contains("javascript:")
                    && !href.starts_with("data:")
                    && !href.starts_with("//"),
                "{href}"
            );
        }
    }
    // The javascript: URL is shown, as text.
    assert!(docs.iter().any(|d| {
        texts(d, "#activations .url")
            .iter()
            .any(|t| t == "javascript:alert(1)")
    }));
}

#[tokio::test]
async fn numeric_strings_bare_invoice_arrays_and_truncated_dates_render_the_same() {
    let plain = spawn_app().await;
    plain.login().await;
    let lenient = spawn_with(sandbox_with(|s| {
        s.numeric_strings = true;
        s.invoices_style = InvoicesStyle::Array;
        s.summary_date_style = SummaryDateStyle::Truncated;
    }))
    .await;
    lenient.login().await;
    for path in ["/", "/?scale=year", "/activations", "/invoices"] {
        let a = html(&plain.get(path).await.text().await.unwrap());
        let b = html(&lenient.get(path).await.text().await.unwrap());
        for sel in ["main table tbody tr", ".card .value", "#summary-chart rect"] {
            assert_eq!(texts(&a, sel), texts(&b, sel), "{path} {sel}");
        }
    }
}

#[tokio::test]
async fn legacy_stripe_invoices_get_statuses_from_their_flags() {
    let app = spawn_with(sandbox_with(|s| s.stripe_legacy = true)).await;
    app.login().await;
    let doc = page(&app, "/invoices").await;
    let statuses = texts(&doc, "#invoices tbody .status");
    assert_eq!(statuses.len(), 12);
    assert_eq!(statuses.iter().filter(|s| *s == "Paid").count(), 10);
    assert!(
        texts(&doc, "#invoices tbody tr td:nth-child(3)")
            .iter()
            .all(|d| d != "–"),
        "legacy `date` read as created"
    );
    assert!(
        attrs(&doc, "#invoices tbody a", "href").is_empty(),
        "no hosted links in legacy invoices"
    );
}

#[tokio::test]
async fn unknown_pages_are_a_404_page_and_static_assets_are_served() {
    let app = spawn_app().await;
    let r = app.get("/nope").await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let doc = html(&r.text().await.unwrap());
    assert_eq!(texts(&doc, "h1"), vec!["Not found"]);
    assert_eq!(texts(&doc, ".muted code").len(), 1, "request id shown");
    let css = app.get("/static/app.css").await;
    assert_eq!(css.status(), StatusCode::OK);
    assert_eq!(css.headers()["content-type"], "text/css; charset=utf-8");
    assert!(
        css.text()
            .await
            .unwrap()
            .contains("prefers-color-scheme: dark")
    );
}
