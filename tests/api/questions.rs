//! The four questions finance and support bring every week, asked in a real Chromium as a
//! person would, from the overview, in at most two clicks each, on SQLite and on PostgreSQL:
//!
//! 1. How many active Jetpack Security plans do we have, and how did that change this month?
//! 2. Find bakery-something and see when it was cancelled.
//! 3. What will our next invoice be, and which sites does it bill?
//! 4. Download last month's invoice lines as CSV.
//!
//! Each answer is checked against the sandbox's own data, not against what the page says
//! elsewhere.

use chrono::{Datelike as _, Utc};
use partner_portal::{
    products,
    sandbox::{SandboxOptions, data::KEY_PRODUCTION},
};
use serde_json::json;

use crate::{browser::Driver, helpers::*};

/// The Invoices link of the navigation.
const INVOICES: &str = "nav[aria-label=Main] a[href^='/invoices']";

/// The browser's page, parsed.
async fn doc(driver: &Driver) -> scraper::Html {
    html(&driver.source().await)
}

/// Clicks `css` and counts the click.
async fn click(driver: &Driver, css: &str, clicks: &mut u32) {
    driver.click(css).await;
    *clicks += 1;
}

/// Goes back to the overview, where every question starts.
async fn overview(driver: &Driver, app: &TestApp) {
    driver.goto(&app.url("/?key=70")).await;
    assert!(
        driver.wait_for("#index-cards").await,
        "the overview's cards"
    );
}

fn number(text: &str) -> i64 {
    text.replace([',', '+'], "").trim().parse().unwrap()
}

async fn four_questions(app: &TestApp) {
    let Some(driver) = Driver::start().await else {
        return;
    };
    app.login().await;
    app.wait_for_index(70).await;
    driver.log_in(app, "/", "/").await;
    let seed = app.sandbox.data().seed.clone();
    let now = Utc::now();
    let month_start = now
        .date_naive()
        .with_day(1)
        .unwrap()
        .and_hms_opt(0, 0, 0)
        .unwrap()
        .and_utc();
    let ours: Vec<_> = seed
        .activations
        .iter()
        .filter(|a| a.key_id == KEY_PRODUCTION)
        .collect();

    // 1. One click: the Security row of the product table narrows the whole overview.
    overview(&driver, app).await;
    let mut clicks = 0;
    driver
        .exec(
            "const a = [...document.querySelectorAll('#products-table tbody th a')].find(a => a.textContent.startsWith('Jetpack Security')); a.id = 'security'; return a.textContent;",
            json!([]),
        )
        .await;
    click(&driver, "#security", &mut clicks).await;
    assert!(
        driver.wait_for("#selection").await,
        "the page says what it counts"
    );
    let page = doc(&driver).await;
    let security = |id: u64| products::line_of_id(id).is_some_and(|l| l == "Security");
    let cards = texts(&page, "#index-cards .card .value");
    let labels = texts(&page, "#index-cards .card .label");
    let card = |label: &str| number(&cards[labels.iter().position(|l| l == label).unwrap()]);
    let active = ours
        .iter()
        .filter(|a| security(a.current_product_id) && a.active_at(now))
        .count() as i64;
    let new = ours
        .iter()
        .filter(|a| security(a.current_product_id) && a.activated_on >= month_start)
        .count() as i64;
    let cancelled = ours
        .iter()
        .filter(|a| {
            security(a.current_product_id) && a.cancelled_on.is_some_and(|c| c >= month_start)
        })
        .count() as i64;
    assert!(active > 0, "the sandbox has Security plans");
    assert_eq!(card("Active now"), active, "{cards:?}");
    assert_eq!(card("New"), new, "{cards:?}");
    assert_eq!(card("Cancelled"), cancelled, "{cards:?}");
    assert_eq!(card("Net"), new - cancelled, "{cards:?}");
    let note = texts(&page, "#index-cards .card .note")[0].clone();
    assert!(
        note.contains(" against ") || note.starts_with("the same as "),
        "the change is said: {note}"
    );
    assert!(clicks <= 2, "question 1 took {clicks} clicks");

    // 2. Type the bakery's name in the overview's search, submit (one), open the cancelled
    // one among the results (two).
    let site = ours
        .iter()
        .filter(|a| a.site_name.to_lowercase().contains("bakery") && a.cancelled_on.is_some())
        .max_by_key(|a| a.id)
        .expect("a cancelled bakery in the sandbox");
    let q = site.site_name.clone();
    overview(&driver, app).await;
    let mut clicks = 0;
    driver
        .exec(
            "document.getElementById('find-q').value = arguments[0];",
            json!([q]),
        )
        .await;
    click(&driver, "#find-go", &mut clicks).await;
    driver.wait_for_url(&app.url("/activations?")).await;
    assert!(driver.wait_for("#activations").await);
    let found = driver
        .exec(
            "const row = [...document.querySelectorAll('#activations tbody tr')].find(r => r.querySelector('.status').textContent.startsWith('Cancelled')); if (!row) return null; const a = row.querySelector('a.name'); a.id = 'cancelled-bakery'; return a.getAttribute('href');",
            json!([]),
        )
        .await;
    assert!(found.is_string(), "a cancelled {q} among the results");
    click(&driver, "#cancelled-bakery", &mut clicks).await;
    assert!(
        driver.wait_for("#cancelled").await,
        "the cancellation is the headline"
    );
    let page = doc(&driver).await;
    let when = site.cancelled_on.unwrap().format("%-d %b %Y").to_string();
    assert!(
        texts(&page, "#cancelled")[0].contains(&when),
        "{:?} should say {when}",
        texts(&page, "#cancelled")
    );
    assert_eq!(
        texts(&page, "#back"),
        vec![format!("← Back to results for “{q}”")]
    );
    assert!(clicks <= 2, "question 2 took {clicks} clicks");

    // 3. Invoices (one): the estimate against the last invoice; a line's sites (two).
    overview(&driver, app).await;
    let mut clicks = 0;
    click(&driver, INVOICES, &mut clicks).await;
    assert!(driver.wait_for("#upcoming-lines").await);
    let page = doc(&driver).await;
    assert!(!texts(&page, "#upcoming strong.total").is_empty());
    assert!(texts(&page, "#against")[0].contains("EXHOST-0012"));
    let line = texts(&page, "#upcoming-lines tbody tr td:first-child")[0].clone();
    click(&driver, "#upcoming-lines td.sites a", &mut clicks).await;
    driver.wait_for_url(&app.url("/activations?")).await;
    assert!(driver.wait_for("#activations").await);
    let page = doc(&driver).await;
    let family = products::PRODUCTS
        .iter()
        .filter(|p| line.contains(p.name))
        .max_by_key(|p| p.name.len())
        .unwrap()
        .name;
    let billed = ours
        .iter()
        .filter(|a| {
            products::by_id(a.current_product_id).is_some_and(|p| p.name == family)
                && a.cancelled_on.is_none_or(|c| c >= month_start)
                && a.activated_on < now
        })
        .count() as i64;
    let count = texts(&page, "#result-count")[0].clone();
    let total = count
        .split(" of ")
        .nth(1)
        .and_then(|t| t.split(" ·").next())
        .map_or_else(|| panic!("the list says how many: {count}"), number);
    assert_eq!(total, billed, "the sites of {family} active this period");
    assert!(clicks <= 2, "question 3 took {clicks} clicks");

    // 4. Invoices (one), last month's "Lines CSV" (two): a whole file named by its number.
    overview(&driver, app).await;
    let dir = tempfile::tempdir().unwrap();
    driver
        .cdp(
            "Browser.setDownloadBehavior",
            json!({"behavior": "allow", "downloadPath": dir.path()}),
        )
        .await;
    let mut clicks = 0;
    click(&driver, INVOICES, &mut clicks).await;
    assert!(driver.wait_for("#invoices").await);
    let last_month = (month_start - chrono::Duration::days(1))
        .format("%b")
        .to_string();
    let number_of_last_month = driver
        .exec(
            "const row = [...document.querySelectorAll('#invoices tbody tr')].find(r => r.querySelector('td.period').textContent.includes(arguments[0])); row.querySelector('a.lines-csv').id = 'last-month-lines'; return row.querySelector('td.number').textContent.trim();",
            json!([last_month]),
        )
        .await;
    let invoice_number = number_of_last_month.as_str().unwrap().to_owned();
    click(&driver, "#last-month-lines", &mut clicks).await;
    let csv = crate::edges::downloaded(dir.path()).await;
    let file = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .find(|n| n.ends_with(".csv"))
        .unwrap();
    assert!(
        file.contains(&invoice_number),
        "{file} names {invoice_number}"
    );
    let mut reader = csv::Reader::from_reader(&csv[..]);
    let header: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(|h| h.trim_start_matches('\u{feff}').to_owned())
        .collect();
    for column in [
        "invoice_number",
        "unit_amount",
        "quantity",
        "amount",
        "period_end",
    ] {
        assert!(
            header.contains(&column.to_owned()),
            "{column} in {header:?}"
        );
    }
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    let invoice = app.sandbox.data().invoices[&KEY_PRODUCTION]
        .iter()
        .find(|i| i["number"] == invoice_number)
        .cloned()
        .unwrap();
    assert_eq!(
        rows.len(),
        invoice["lines"]["data"].as_array().map_or(0, Vec::len),
        "every line, to the last"
    );
    let end = header.iter().position(|h| h == "period_end").unwrap();
    let last_day = (month_start - chrono::Duration::days(1))
        .date_naive()
        .to_string();
    assert!(
        rows.iter().any(|r| r[end] == last_day),
        "a month's line ends on its last day, {last_day}"
    );
    assert!(clicks <= 2, "question 4 took {clicks} clicks");
    driver.quit().await;
}

/// As many activations as the demo has, so that a search finds several of a kind.
fn many() -> SandboxOptions {
    SandboxOptions {
        activations: 3_000,
        ..SandboxOptions::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_four_everyday_questions_take_at_most_two_clicks_each_on_sqlite() {
    let app = spawn_with(Options {
        sandbox: many(),
        ..Options::default()
    })
    .await;
    four_questions(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_four_everyday_questions_take_at_most_two_clicks_each_on_postgres() {
    let Some(db) = crate::postgres::fresh_database().await else {
        return;
    };
    let app = spawn_with(Options {
        database_url: Some(db),
        sandbox: many(),
        ..Options::default()
    })
    .await;
    four_questions(&app).await;
}
