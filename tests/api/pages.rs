//! Every page renders the sandbox's data; filters, keys, empty states, hostile data, and the
//! lenient-parsing switches.

use chrono::{Datelike as _, Utc};
use partner_portal::{
    sandbox::{InvoicesStyle, SandboxOptions, SummaryDateStyle, data::KEY_PRODUCTION},
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
async fn overview_shows_the_summary_chart_and_table_and_the_index_figures() {
    let app = spawn_app().await;
    app.login().await;
    // The first view starts the index and says so; the summary panel works meanwhile.
    let first = page(&app, "/").await;
    assert_eq!(
        texts(&first, "#summary-table tbody tr").len(),
        60,
        "this month's page reads WordPress.com's summary per day"
    );
    app.wait_for_index(70).await;
    let doc = page(&app, "/").await;
    let active_now = {
        let seed = &app.sandbox.data().seed;
        seed.activations
            .iter()
            .filter(|a| a.key_id == KEY_PRODUCTION && a.active_at(Utc::now()))
            .count()
    };
    // One set of headline numbers: the summary shows its figures over time, not as cards.
    assert!(texts(&doc, "#summary .card").is_empty());
    let latest = texts(&doc, "#summary-table tbody tr td.num");
    assert_eq!(
        latest[1],
        fmt_int(active_now as i64),
        "active plans per the summary, in its newest row"
    );
    assert!(texts(&doc, "#crosscheck").is_empty(), "they agree");
    let index_cards = texts(&doc, "#index-cards .card .value");
    assert_eq!(
        index_cards[0],
        fmt_int(active_now as i64),
        "the index agrees with the summary"
    );
    assert_eq!(
        texts(&doc, "#index-cards .card .label"),
        vec!["Active now", "Paid plans", "New", "Cancelled", "Net"]
    );
    assert!(
        texts(&doc, "#summary-table tbody tr")[0]
            .starts_with(&Utc::now().format("%-d %b %Y").to_string())
    );
    // 24 months of the summary's rows, newest first.
    let rows = texts(
        &page(&app, "/?scale=month").await,
        "#summary-table tbody tr",
    );
    assert_eq!(rows.len(), 24);
    assert!(
        rows[0].starts_with(&Utc::now().format("%b %Y").to_string()),
        "{}",
        rows[0]
    );
    assert_eq!(texts(&doc, "#months-table tbody tr").len(), 12);
    assert!(!texts(&doc, "#products-table tbody tr").is_empty());
    // Other scales and periods.
    let doc = page(&app, "/?scale=year").await;
    assert_eq!(texts(&doc, "#summary-table tbody tr").len(), 3);
    let doc = page(&app, "/?scale=day&period=year").await;
    assert_eq!(texts(&doc, "#summary-table tbody tr").len(), 60);
    // The year's chart: one slot per month from January of last year to this month.
    assert_eq!(
        texts(&doc, "#activity-chart g.slot").len(),
        12 + Utc::now().month() as usize
    );
    assert_eq!(
        texts(&doc, "#periods a[aria-current=page]"),
        vec!["This year"]
    );
    assert_eq!(
        app.get("/?scale=week").await.status(),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        app.get("/?period=decade").await.status(),
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn invoices_show_past_statuses_amounts_links_and_the_upcoming_estimate() {
    let app = spawn_app().await;
    app.login().await;
    let doc = page(&app, "/invoices").await;
    assert_eq!(
        texts(&doc, "#freshness strong"),
        vec!["just now"],
        "says how old its data is"
    );
    let statuses = texts(&doc, "#invoices tbody .status");
    assert_eq!(statuses.len(), 12);
    assert!(
        statuses[0].starts_with("Payment failed, retrying on "),
        "the open invoice whose automatic charge failed, issued today: not past due ({})",
        statuses[0]
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
    let links = attrs(&doc, "#invoices tbody td:last-child a", "href");
    assert_eq!(links.len(), 36, "view, PDF and lines CSV for each");
    assert_eq!(
        attrs(&doc, "#invoices tbody a.detail", "href")[0],
        "/invoices/in_1Fake0012K70?key=70"
    );
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

/// Cents from "$20,974.50" or "−$773.00".
fn cents(text: &str) -> i64 {
    let negative = text.starts_with(['−', '-']);
    let digits: String = text.chars().filter(char::is_ascii_digit).collect();
    let n: i64 = digits.parse().unwrap();
    if negative { -n } else { n }
}

#[tokio::test]
async fn finance_sees_what_is_owed_the_estimate_against_the_last_invoice_and_the_sites_it_bills() {
    let app = spawn_app().await;
    app.login().await;
    app.wait_for_index(70).await;
    let last_total = app.sandbox.data().invoices[&KEY_PRODUCTION][0]["total"]
        .as_i64()
        .unwrap();
    let doc = page(&app, "/invoices").await;
    // The failed payment is a banner with the amount, the next attempt and where to pay.
    let due = texts(&doc, "#dues p");
    assert_eq!(due.len(), 1, "{due:?}");
    assert!(
        due[0].starts_with("Payment failed for invoice EXHOST-0012."),
        "{}",
        due[0]
    );
    assert!(
        due[0].contains("Stripe tries the card again on "),
        "{}",
        due[0]
    );
    assert!(attrs(&doc, "#dues a.pay", "href")[0].starts_with(&app.sandbox_url));
    // The same banner on the overview.
    let overview = page(&app, "/").await;
    assert_eq!(texts(&overview, "#dues p"), due);
    // The estimate against the last invoice, as money and as a percentage.
    let upcoming_total = cents(&texts(&doc, "#upcoming strong.total")[0]);
    let against = texts(&doc, "#against")[0].clone();
    assert!(against.contains("EXHOST-0012"), "{against}");
    let change = texts(&doc, "#against .change")[0].clone();
    assert_eq!(
        cents(change.split(" (").next().unwrap()),
        upcoming_total - last_total,
        "{change}"
    );
    let pct = (upcoming_total - last_total) as f64 * 100.0 / last_total as f64;
    assert!(
        change
            .replace('\u{a0}', " ")
            .ends_with(&format!("−{:.1} %)", pct.abs()))
            || pct >= 0.0,
        "{change} {pct}"
    );
    // Each plan line links to the sites it bills: that family's sites active in the period,
    // as many as the line bills in the sandbox (whose estimate counts the active plans).
    let lines = texts(&doc, "#upcoming-lines tbody tr");
    let hrefs = attrs(&doc, "#upcoming-lines td.sites a", "href");
    assert!(
        hrefs.len() >= 5 && hrefs.len() < lines.len(),
        "credits link nowhere"
    );
    assert!(!texts(&doc, "#upcoming-lines td.change").is_empty());
    let list = page(&app, &hrefs[0]).await;
    assert!(!texts(&list, "#activations tbody tr").is_empty());
    assert!(
        texts(&list, "#chips li")
            .iter()
            .any(|c| c.starts_with("Active in ")),
        "{:?}",
        texts(&list, "#chips li")
    );
    // An invoice page has Stripe's summary and a total under its lines that matches it.
    let doc = page(&app, "/invoices/in_1Fake0012K70?key=70").await;
    let facts = texts(&doc, "#stripe-summary dt");
    assert!(facts.contains(&"Amount due".to_owned()), "{facts:?}");
    assert!(
        facts.contains(&"Next payment attempt".to_owned()),
        "{facts:?}"
    );
    let footer = texts(&doc, "#lines tfoot td.num");
    assert_eq!(cents(footer.last().unwrap()), last_total);
    let paid = page(&app, "/invoices/in_1Fake0011K70?key=70").await;
    assert!(texts(&paid, "#stripe-summary dt").contains(&"Paid on".to_owned()));
}

#[tokio::test]
async fn the_key_selector_lists_keys_marks_disabled_ones_and_refuses_unknown_keys() {
    let app = spawn_app().await;
    app.login().await;
    app.wait_for_index(71).await;
    let doc = page(&app, "/activations?key=71").await;
    assert_eq!(
        texts(&doc, "#key option"),
        vec!["Production", "Staging & QA (disabled)"]
    );
    assert_eq!(attrs(&doc, "#key option[selected]", "value"), vec!["71"]);
    assert_eq!(texts(&doc, "#activations tbody tr").len(), 6);
    assert_eq!(
        attrs(&doc, "nav[aria-label=Main] a", "href"),
        vec![
            "/?key=71",
            "/activations?key=71",
            "/invoices?key=71",
            "/team",
            "/audit",
            "/tokens",
            "/notifications"
        ]
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
    app.wait_for_index(70).await;
    let list = app
        .get("/activations?per_page=500")
        .await
        .text()
        .await
        .unwrap();
    let detail = app
        .get("/activations/100000?key=70")
        .await
        .text()
        .await
        .unwrap();
    let invoice = app
        .get("/invoices/in_1Fake0012K70?key=70")
        .await
        .text()
        .await
        .unwrap();
    for (what, body) in [("list", &list), ("detail", &detail), ("invoice", &invoice)] {
        assert!(
            !body.contains("<script>alert"),
            "raw script tag rendered in the {what}"
        );
        assert!(
            !body.contains("<img src=x"),
            "raw img tag rendered in the {what}"
        );
        for href in attrs(&html(body), "a", "href") {
            let h = href.to_ascii_lowercase();
            assert!(
                !h.contains("javascript:") && !h.starts_with("data:") && !h.starts_with("//"),
                "{href} in the {what}"
            );
        }
    }
    assert!(
        texts(&html(&list), "#activations .url")
            .iter()
            .any(|t| t == "javascript:alert(1)"),
        "shown as text"
    );
    assert_eq!(
        texts(&html(&detail), "h1"),
        vec!["<script>alert(1)</script>"],
        "the name is shown literally"
    );
    assert!(
        texts(&html(&invoice), "#lines td")
            .iter()
            .any(|t| t == "<script>alert('invoice')</script>")
    );
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
    plain.wait_for_index(70).await;
    lenient.wait_for_index(70).await;
    for path in [
        "/",
        "/?scale=year",
        "/activations",
        "/invoices",
        "/invoices/in_1Fake0008K70?key=70",
    ] {
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
        attrs(&doc, "#invoices tbody td:last-child a[target]", "href").is_empty(),
        "no hosted links in legacy invoices"
    );
}

#[tokio::test]
async fn unknown_pages_are_a_404_page_and_static_assets_are_served() {
    let app = spawn_app().await;
    let r = app.get("/nope").await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let doc = html(&r.text().await.unwrap());
    assert_eq!(texts(&doc, "h1"), vec!["Page not found"]);
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

/// WordPress.com's summary table is kept rendered per answer: a new answer shows at once.
#[tokio::test]
async fn a_new_summary_answer_shows_on_the_overview_at_once() {
    let app = spawn_app().await;
    app.login().await;
    app.wait_for_index(70).await;
    let newest = |doc: &scraper::Html| texts(doc, "#summary-table tbody tr td.num")[1].clone();
    let before = newest(&page(&app, "/").await);
    assert_eq!(newest(&page(&app, "/").await), before);
    new_client()
        .post(format!("{}/__sandbox/activations/cancel", app.sandbox_url))
        .json(&serde_json::json!({ "key": 70, "count": 40 }))
        .send()
        .await
        .unwrap();
    app.state.cache.invalidate_fresh();
    let after = newest(&page(&app, "/").await);
    let n = |s: &str| s.replace(',', "").parse::<i64>().unwrap();
    assert_eq!(n(&after), n(&before) - 40);
}
