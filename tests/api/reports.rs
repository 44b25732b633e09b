//! The reports on top of the index: search, tabs, plans, dates and sort against the generated
//! data; the detail view; reconciliation; CSV exports; the shared cache.

use std::time::Duration;

use chrono::{Datelike as _, Utc};
use partner_portal::{
    sandbox::{
        SandboxOptions,
        data::{Activation, KEY_PRODUCTION},
    },
    web::fmt_int,
};
use reqwest::StatusCode;

use crate::helpers::*;

fn seed_rows(app: &TestApp) -> Vec<Activation> {
    app.sandbox
        .data()
        .seed
        .activations
        .iter()
        .filter(|a| a.key_id == KEY_PRODUCTION)
        .cloned()
        .collect()
}

async fn doc(app: &TestApp, path: &str) -> scraper::Html {
    let r = app.get(path).await;
    assert_eq!(r.status(), StatusCode::OK, "{path}");
    html(&r.text().await.unwrap())
}

fn total_of(doc: &scraper::Html) -> i64 {
    let summary = texts(doc, "#result-count").remove(0);
    if summary.starts_with("No ") {
        return 0;
    }
    let of = summary
        .split(" of ")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .replace(',', "");
    of.parse().unwrap()
}

#[tokio::test]
async fn search_tabs_plans_dates_and_sort_answer_from_the_index() {
    let app = spawn_app().await;
    app.login().await;
    app.wait_for_index(70).await;
    let rows = seed_rows(&app);
    let matches = |a: &Activation, q: &str| {
        format!("{} {}", a.site_name, a.site_url)
            .to_lowercase()
            .contains(q)
    };
    // Search is case-insensitive and matches part of a word.
    let bakery = rows.iter().filter(|a| matches(a, "baker")).count() as i64;
    assert!(bakery > 0);
    let d = doc(&app, "/activations?q=BaKeR").await;
    assert_eq!(total_of(&d), bakery);
    let shown = texts(&d, "#activations tbody td.site");
    assert!(
        !shown.is_empty()
            && shown
                .iter()
                .all(|site| site.to_lowercase().contains("baker")),
        "{shown:?}"
    );
    // Tabs carry counts for the other filters.
    let cancelled = rows
        .iter()
        .filter(|a| matches(a, "baker") && a.cancelled_on.is_some())
        .count() as i64;
    assert_eq!(
        texts(&d, "#tabs a .count"),
        vec![
            fmt_int(bakery),
            fmt_int(bakery - cancelled),
            fmt_int(cancelled)
        ]
    );
    // Per-product counts add up to the total.
    let per_product: i64 = texts(&d, "#product-counts a .count")
        .iter()
        .map(|c| c.replace(',', "").parse::<i64>().unwrap())
        .sum();
    assert_eq!(per_product, bakery);
    // Each product's link lists as many as its count says (the counts are by current product,
    // and so is the link), and the counts say what they count.
    assert_eq!(
        texts(&d, "#product-counts-fold summary"),
        vec!["By current product, all statuses"]
    );
    let counts = texts(&d, "#product-counts a .count");
    let links = attrs(&d, "#product-counts a", "href");
    for (count, href) in counts.iter().zip(&links) {
        let listed = doc(&app, href).await;
        let tabs = texts(&listed, "#tabs a .count");
        assert_eq!(&tabs[0], count, "{href}");
    }
    // Cancelled, oldest cancellation first.
    let d = doc(
        &app,
        "/activations?status=cancelled&sort=cancelled&dir=asc&per_page=500",
    )
    .await;
    let all_cancelled: Vec<&Activation> =
        rows.iter().filter(|a| a.cancelled_on.is_some()).collect();
    assert_eq!(total_of(&d), all_cancelled.len() as i64);
    let first = all_cancelled
        .iter()
        .min_by_key(|a| (a.cancelled_on, a.id))
        .unwrap();
    assert_eq!(texts(&d, "#activations .name")[0], first.site_name);
    assert_eq!(
        attrs(&d, "#activations th[aria-sort=ascending] a", "href").len(),
        1
    );
    // Several plans at once.
    let plans = rows
        .iter()
        .filter(|a| {
            [2005, 2000].contains(&a.product_id) || [2005, 2000].contains(&a.current_product_id)
        })
        .count() as i64;
    assert_eq!(
        total_of(&doc(&app, "/activations?plan=2005&plan=premium").await),
        plans
    );
    // Presets and custom ranges (inclusive days).
    let today = Utc::now().date_naive();
    let this_year = rows
        .iter()
        .filter(|a| a.activated_on.date_naive().year() == today.year())
        .count() as i64;
    assert_eq!(
        total_of(&doc(&app, "/activations?preset=this_year").await),
        this_year
    );
    let day = rows[3].activated_on.date_naive();
    let on_day = rows
        .iter()
        .filter(|a| a.activated_on.date_naive() == day)
        .count() as i64;
    assert_eq!(
        total_of(&doc(&app, &format!("/activations?from={day}&to={day}")).await),
        on_day
    );
    // Sort by site, A to Z, across pages.
    let mut names: Vec<String> = rows
        .iter()
        .map(|a| format!("{} {}", a.site_name, a.site_url).to_lowercase())
        .collect();
    names.sort();
    let d = doc(&app, "/activations?sort=site&dir=asc&per_page=50&page=2").await;
    assert_eq!(
        format!(
            "{} {}",
            texts(&d, "#activations .name")[0],
            texts(&d, "#activations td.site a, #activations td.site .url")[1]
        )
        .to_lowercase(),
        names[50]
    );
    assert_eq!(texts(&d, ".pager span"), vec!["Page 2 of 3"]);
    // A combination that matches nothing says what to change.
    let d = doc(
        &app,
        "/activations?status=cancelled&from=2001-03-01&to=2001-03-31",
    )
    .await;
    assert_eq!(
        texts(&d, "#result-count"),
        vec!["No cancelled activations in March 2001 — widen the dates."]
    );
    // Links keep the whole view: the tab links carry the search.
    let d = doc(
        &app,
        "/activations?q=bakery&plan=2005&sort=product&dir=desc",
    )
    .await;
    for href in attrs(&d, "#tabs a", "href") {
        assert!(
            href.contains("q=bakery")
                && href.contains("plan=2005")
                && href.contains("sort=product"),
            "{href}"
        );
    }
}

#[tokio::test]
async fn each_row_opens_a_detail_view_with_every_field() {
    let app = spawn_app().await;
    app.login().await;
    app.wait_for_index(70).await;
    let upgraded = seed_rows(&app)
        .into_iter()
        .find(|a| a.current_product_id != a.product_id)
        .unwrap();
    let d = doc(&app, &format!("/activations/{}?key=70", upgraded.id)).await;
    assert_eq!(texts(&d, "h1"), vec![upgraded.site_name.clone()]);
    assert_eq!(
        texts(&d, "#freshness strong"),
        vec!["just now"],
        "says how old its data is"
    );
    let labels = texts(&d, "#fields dt");
    for l in [
        "Product",
        "Current product",
        "Activation id",
        "WordPress.com blog id",
        "Owner's WordPress.com user id",
        "External user id",
        "Activated",
        "Cancelled",
    ] {
        assert!(labels.iter().any(|x| x == l), "{l}");
    }
    assert_eq!(
        attrs(&d, "#site-link", "href"),
        vec![format!("{}/", upgraded.site_url)]
    );
    assert_eq!(
        app.get("/activations/1?key=70").await.status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn reconciliation_puts_invoice_quantities_beside_the_index_and_links_to_the_sites() {
    let app = spawn_app().await;
    app.login().await;
    app.wait_for_index(70).await;
    // The sandbox bills one site too many on invoice 8's first product.
    let d = doc(&app, "/invoices/in_1Fake0008K70?key=70").await;
    assert_eq!(texts(&d, "#mismatch-count"), vec!["1 product differs."]);
    let diffs = texts(&d, "#recon tbody td.diff-bad");
    assert_eq!(diffs, vec!["-1"]);
    // Each index figure links to exactly the sites behind it.
    let rows = texts(&d, "#recon tbody tr");
    let links = attrs(&d, "#recon tbody td a", "href");
    assert_eq!(
        links.len(),
        rows.iter().filter(|r| !r.contains("not matched")).count()
    );
    for (link, count) in links.iter().zip(texts(&d, "#recon tbody td a")) {
        let list = doc(&app, &format!("{link}&per_page=500")).await;
        assert_eq!(fmt_int(total_of(&list)), count, "{link}");
    }
    assert!(texts(&d, "#reconciliation p.muted")[0].contains("best guess"));
    // Other invoices match.
    let d = doc(&app, "/invoices/in_1Fake0011K70?key=70").await;
    assert!(texts(&d, "#recon tbody td.diff-bad").is_empty());
}

#[tokio::test]
async fn exports_stream_every_row_as_safe_utf8_csv() {
    let opts = Options {
        sandbox: SandboxOptions {
            control: true,
            hostile: true,
            ..SandboxOptions::default()
        },
        ..Options::default()
    };
    let app = spawn_with(opts).await;
    app.login().await;
    app.wait_for_index(70).await;
    let r = app.get("/activations.csv?key=70&sort=site&dir=asc").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "text/csv; charset=utf-8");
    let disposition = r.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        disposition.starts_with(
            "attachment; filename=\"partner-portal_example-hosting_key-70_activations_"
        ),
        "{disposition}"
    );
    let bytes = r.bytes().await.unwrap();
    assert!(
        bytes.starts_with("\u{feff}".as_bytes()),
        "byte-order mark for spreadsheets"
    );
    let text = String::from_utf8(bytes[3..].to_vec()).unwrap();
    let mut reader = csv::ReaderBuilder::new().from_reader(text.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    assert_eq!(
        &header[..3],
        ["format_version", "activation_id", "site_name"]
    );
    let records: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(records.len(), 150, "every matching row, not one page");
    assert!(records.iter().all(|r| &r[0] == "1"));
    let names: Vec<&str> = records.iter().map(|r| &r[2]).collect();
    assert!(
        names.contains(&"'=HYPERLINK(\"http://evil.example\",\"click\")"),
        "formula neutralised"
    );
    assert!(
        names.contains(&"<script>alert(1)</script>"),
        "text kept as text"
    );
    assert!(names.iter().all(|n| !n.starts_with(['=', '+', '-', '@'])));
    // A filtered view exports just that view.
    let filtered = app
        .get("/activations.csv?key=70&status=cancelled")
        .await
        .text()
        .await
        .unwrap();
    let cancelled = seed_rows(&app)
        .iter()
        .filter(|a| a.cancelled_on.is_some())
        .count();
    assert_eq!(filtered.lines().count(), cancelled + 1);
    // Invoice list, lines and reconciliation.
    // The status is a code a spreadsheet can filter on, its sentence beside it; the period
    // ends on its last day, as the page says it ("1–30 Nov"), not on Stripe's exclusive end.
    let invoices = app.get("/invoices.csv?key=70").await.text().await.unwrap();
    assert_eq!(invoices.lines().count(), 13);
    let by_name = |text: &str| -> Vec<std::collections::HashMap<String, String>> {
        let mut r = csv::Reader::from_reader(text.trim_start_matches('\u{feff}').as_bytes());
        let header: Vec<String> = r.headers().unwrap().iter().map(str::to_owned).collect();
        r.records()
            .map(|rec| {
                header
                    .iter()
                    .cloned()
                    .zip(rec.unwrap().iter().map(str::to_owned))
                    .collect()
            })
            .collect()
    };
    let first = &by_name(&invoices)[0];
    assert_eq!(first["number"], "EXHOST-0012");
    assert_eq!(first["status"], "retrying");
    assert!(first["status_text"].starts_with("Payment failed, retrying on "));
    let start = chrono::NaiveDate::parse_from_str(&first["period_start"], "%Y-%m-%d").unwrap();
    let end = chrono::NaiveDate::parse_from_str(&first["period_end"], "%Y-%m-%d").unwrap();
    assert_eq!(start.day(), 1);
    assert_eq!(
        end.succ_opt().unwrap().day(),
        1,
        "the last day of the month: {end}"
    );
    for column in [
        "subtotal",
        "tax",
        "amount_paid",
        "amount_remaining",
        "next_payment_attempt",
    ] {
        assert!(first.contains_key(column), "{column}");
    }
    let lines = app.get("/invoices/in_1Fake0012K70/lines.csv?key=70").await;
    assert!(
        lines.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains("invoice-EXHOST-0012-lines"),
        "named by the invoice number people use"
    );
    let lines = by_name(&lines.text().await.unwrap());
    assert!(lines.iter().all(|l| l["invoice_number"] == "EXHOST-0012"));
    let descriptions: Vec<&str> = lines.iter().map(|l| l["description"].as_str()).collect();
    assert!(
        descriptions.contains(&"<script>alert('invoice')</script>"),
        "hostile line kept as text, exactly: {descriptions:?}"
    );
    // Each plan line's unit price times its quantity is its amount.
    for l in lines.iter().filter(|l| !l["unit_amount"].is_empty()) {
        let cents = |s: &str| (s.parse::<f64>().unwrap() * 100.0).round() as i64;
        let q: i64 = l["quantity"].parse().unwrap();
        assert_eq!(cents(&l["unit_amount"]) * q, cents(&l["amount"]), "{l:?}");
    }
    assert!(
        lines
            .iter()
            .filter(|l| !l["unit_amount"].is_empty())
            .count()
            >= 5
    );
    let recon = app
        .get("/invoices/in_1Fake0008K70/reconciliation.csv?key=70")
        .await;
    assert!(
        recon.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains("invoice-EXHOST-0008-reconciliation")
    );
    let recon = recon.text().await.unwrap();
    assert!(recon.lines().any(|l| l.ends_with(",-1")), "{recon}");
}

#[tokio::test]
async fn plans_cancelled_between_two_dates_are_listed_exported_and_shown_as_removable_chips() {
    let app = spawn_app().await;
    app.login().await;
    app.wait_for_index(70).await;
    let rows = seed_rows(&app);
    let today = Utc::now().date_naive();
    let from = today - chrono::Duration::days(60);
    let to = today - chrono::Duration::days(10);
    let want = rows
        .iter()
        .filter(|a| {
            a.cancelled_on
                .is_some_and(|c| c.date_naive() >= from && c.date_naive() <= to)
        })
        .count() as i64;
    assert!(want > 0, "the sandbox cancels plans in that range");
    let query = format!("key=70&cancelled_from={from}&cancelled_to={to}&q=a");
    let d = doc(&app, &format!("/activations?{query}")).await;
    let matching = rows
        .iter()
        .filter(|a| {
            a.cancelled_on
                .is_some_and(|c| c.date_naive() >= from && c.date_naive() <= to)
                && (a.site_name.to_lowercase().contains('a') || a.site_url.contains('a'))
        })
        .count() as i64;
    assert_eq!(total_of(&d), matching);
    // The CSV follows the same filter, to the last row.
    let csv = app
        .get(&format!("/activations.csv?{query}"))
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(csv.lines().count() as i64, matching + 1);
    // Each filter is a chip; removing the search keeps the dates, and the form keeps them too.
    let chips = texts(&d, "#chips li span");
    assert_eq!(chips.len(), 2, "{chips:?}");
    assert!(
        chips.iter().any(|c| c.starts_with("Cancelled ")),
        "{chips:?}"
    );
    let remove_search = attrs(&d, "#chips li a", "href")
        .into_iter()
        .find(|h| !h.contains("q=a"))
        .unwrap();
    assert_eq!(total_of(&doc(&app, &remove_search).await), want);
    assert_eq!(
        attrs(&d, "#cancelled-from", "value"),
        vec![from.to_string()]
    );
    assert_eq!(texts(&d, "#apply").len(), 1, "one submit button");
    // A reversed range is said above the list (answered 400, as every unusable filter is), not
    // silently empty.
    let r = app
        .get(&format!(
            "/activations?key=70&cancelled_from={to}&cancelled_to={from}"
        ))
        .await;
    let status = r.status();
    let body = r.text().await.unwrap();
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let d = html(&body);
    assert!(
        !texts(&d, "#activations tbody tr").is_empty(),
        "the list stays"
    );
    assert!(
        texts(&d, "#problems li")
            .iter()
            .any(|p| p.contains("first cancellation date")),
        "{:?}",
        texts(&d, "#problems li")
    );
}

#[tokio::test]
async fn fifty_concurrent_viewers_cause_one_upstream_call_per_endpoint() {
    let app = spawn_app().await;
    app.login().await;
    let other = new_client();
    app.login_with(&other, 1001, None).await;
    app.control(
        "latency",
        serde_json::json!({"path_prefix": "/wpcom/v2/jetpack-partners/activations", "ms": 300}),
    )
    .await;
    app.control(
        "latency",
        serde_json::json!({"path_prefix": "/wpcom/v2/jetpack-partners/7/key/70/stripe", "ms": 300}),
    )
    .await;
    let mut views = Vec::new();
    for i in 0..50 {
        let client = if i % 2 == 0 {
            app.client.clone()
        } else {
            other.clone()
        };
        let url = if i % 5 == 0 {
            app.url("/invoices")
        } else {
            app.url("/")
        };
        views.push(tokio::spawn(async move {
            client.get(url).send().await.unwrap().status()
        }));
    }
    for v in views {
        assert_eq!(v.await.unwrap(), StatusCode::OK);
    }
    assert_eq!(
        app.count("GET /wpcom/v2/jetpack-partners/activations")
            .await,
        1
    );
    assert_eq!(
        app.count("GET /wpcom/v2/jetpack-partners/7/key/70/stripe/invoices")
            .await,
        1
    );
    assert_eq!(
        app.count("GET /wpcom/v2/jetpack-partners/7/key/70/stripe/upcoming-invoice")
            .await,
        1
    );
}

#[tokio::test]
async fn when_the_upstream_fails_the_last_good_answer_is_shown_marked_stale() {
    let app = spawn_with(Options {
        cache_ttl: Duration::from_millis(300),
        metrics: "on".into(),
        ..Options::default()
    })
    .await;
    app.login().await;
    assert_eq!(app.get("/invoices").await.status(), StatusCode::OK);
    let stale_series = r#"portal_cache_requests_total{endpoint="invoices",result="stale"}"#;
    let stale_count = |text: String| -> f64 {
        text.lines()
            .find(|l| l.starts_with(stale_series))
            .and_then(|l| l.rsplit(' ').next())
            .map_or(0.0, |v| v.parse().unwrap())
    };
    let before = stale_count(app.get("/metrics").await.text().await.unwrap());
    tokio::time::sleep(Duration::from_millis(400)).await;
    app.fault("/wpcom/v2/jetpack-partners/7/key/70/stripe", 500, 2, None)
        .await;
    let r = app.get("/invoices").await;
    assert_eq!(r.status(), StatusCode::OK);
    let d = html(&r.text().await.unwrap());
    assert_eq!(
        texts(&d, "#invoices tbody tr").len(),
        12,
        "the last good list"
    );
    assert!(texts(&d, "#past-stale")[0].starts_with("WordPress.com could not be reached"));
    let after = stale_count(app.get("/metrics").await.text().await.unwrap());
    assert!(
        after - before >= 1.0,
        "stale answers are counted in /metrics"
    );
    // Once the upstream is back, fresh data and no note.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let d = html(&app.get("/invoices").await.text().await.unwrap());
    assert!(texts(&d, "#past-stale").is_empty());
}

/// The invoices page's panels are kept rendered per pair of WordPress.com answers: a new
/// answer shows at once, an unchanged one comes from what is kept.
#[tokio::test]
async fn a_new_invoice_list_shows_on_the_invoices_page_at_once() {
    let app = spawn_app().await;
    app.login().await;
    let rows = |body: &str| texts(&html(body), "#invoices tbody tr td.number").len();
    let before = rows(&app.get("/invoices?key=70").await.text().await.unwrap());
    assert!(before > 0);
    assert_eq!(
        rows(&app.get("/invoices?key=70").await.text().await.unwrap()),
        before
    );
    app.control("invoices", serde_json::json!({"key": 70, "issue": true}))
        .await;
    app.state.cache.invalidate_fresh();
    let body = app.get("/invoices?key=70").await.text().await.unwrap();
    assert_eq!(rows(&body), before + 1, "{body}");
}
