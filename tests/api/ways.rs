//! Never losing the way: error pages keep the header and speak to people, invalid filters keep
//! the list, detail pages return to the exact list, titles say what is shown, the pager jumps,
//! and the first minute is a quiet progress line, not an error.

use reqwest::StatusCode;

use crate::helpers::*;

async fn doc_with_status(app: &TestApp, path: &str) -> (StatusCode, scraper::Html) {
    let r = app.get(path).await;
    let status = r.status();
    (status, html(&r.text().await.unwrap()))
}

fn title(doc: &scraper::Html) -> String {
    texts(doc, "title").concat()
}

/// The header a logged-in page carries: navigation, key selector, Log out.
fn assert_header(doc: &scraper::Html, what: &str) {
    assert_eq!(
        // The owner is an admin: Overview, Activations, Invoices, Team, Audit, API tokens,
        // Notifications.
        texts(doc, "header nav[aria-label=Main] a").len(),
        7,
        "{what}: navigation"
    );
    assert_eq!(
        texts(doc, "header select#key option").len(),
        2,
        "{what}: key selector"
    );
    assert_eq!(
        texts(doc, "header form.logout button"),
        vec!["Log out"],
        "{what}: Log out"
    );
}

#[tokio::test]
async fn error_pages_keep_the_header_and_say_what_happened_in_words() {
    let app = spawn_app().await;
    // Before logging in, an unknown page has no navigation to offer.
    let (status, doc) = doc_with_status(&app, "/no-such-page").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(texts(&doc, "header nav").is_empty());
    assert_eq!(texts(&doc, "h1"), vec!["Page not found"]);

    app.login().await;
    app.wait_for_index(70).await;
    let (status, doc) = doc_with_status(&app, "/activations/999999999?key=70").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_header(&doc, "404");
    assert_eq!(texts(&doc, "h1"), vec!["Activation not found"]);
    assert_eq!(
        texts(&doc, "#error-message"),
        vec!["No activation with that id for the Production key. It may belong to another key."]
    );
    assert_eq!(
        attrs(&doc, "#way-back", "href"),
        vec!["/activations?key=70"]
    );
    assert_eq!(
        attrs(&doc, "header nav a[aria-current=page]", "href"),
        vec!["/activations?key=70"]
    );

    let (status, doc) = doc_with_status(&app, "/invoices/does-not-exist?key=70").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_header(&doc, "invoice 404");
    assert_eq!(texts(&doc, "h1"), vec!["Invoice not found"]);
    assert_eq!(
        texts(&doc, "#error-message"),
        vec!["No invoice with that number for the Production key. It may belong to another key."]
    );
    assert_eq!(texts(&doc, "#way-back"), vec!["Back to the invoices"]);

    // An unknown path, logged in; a bad request; a forged form; WordPress.com down.
    let (status, doc) = doc_with_status(&app, "/nope").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_header(&doc, "unknown path");
    let (status, doc) = doc_with_status(&app, "/?scale=fortnight").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_header(&doc, "400");
    let r = app
        .client
        .post(app.url("/activations/refresh"))
        .header("origin", app.url(""))
        .form(&[("key", "70")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_header(&html(&r.text().await.unwrap()), "403");
    app.fault(
        "/wpcom/v2/jetpack-partners/7/key/71/stripe/invoices",
        500,
        50,
        None,
    )
    .await;
    let (status, doc) = doc_with_status(&app, "/invoices/in_x?key=71").await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert_header(&doc, "upstream");
    assert_eq!(
        attrs(&doc, "header select#key option[selected]", "value"),
        vec!["71"],
        "the key asked for stays selected"
    );
    assert_eq!(attrs(&doc, "#retry", "href"), vec!["/invoices/in_x?key=71"]);
}

#[tokio::test]
async fn an_invalid_filter_keeps_the_list_and_says_why_inline() {
    let app = spawn_app().await;
    app.login().await;
    app.wait_for_index(70).await;
    let (status, doc) =
        doc_with_status(&app, "/activations?q=a&from=2026-05-01&to=2026-04-01").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        texts(&doc, "h1"),
        vec!["Activations"],
        "the list, not an error page"
    );
    assert_eq!(texts(&doc, "#filters").len(), 1, "with its form");
    assert_eq!(
        attrs(&doc, "#from", "value"),
        vec!["2026-05-01"],
        "as typed"
    );
    let problems = texts(&doc, "#problems li");
    assert_eq!(problems.len(), 1);
    assert!(
        problems[0].starts_with("The start date (1 May 2026) is after the end date (1 Apr 2026)"),
        "{problems:?}"
    );
    assert!(
        !texts(&doc, "#activations tbody tr").is_empty(),
        "the rest still applies"
    );

    // A page past the end shows the last page and says so.
    let (status, doc) = doc_with_status(&app, "/activations?page=999").await;
    assert_eq!(status, StatusCode::OK);
    let pages = texts(&doc, ".pager-where").concat();
    assert_eq!(pages, "Page 8 of 8", "150 activations, 20 a page");
    assert_eq!(
        texts(&doc, "#page-note"),
        vec!["There is no page 999: this list has 8 pages. Showing the last one."]
    );
    assert_eq!(texts(&doc, "#activations tbody tr").len(), 10);
    // The CSV cannot show a message beside its rows, so it still refuses.
    assert_eq!(
        app.get("/activations.csv?from=2026-05-01&to=2026-04-01")
            .await
            .status(),
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn a_detail_page_leads_back_to_the_exact_list_and_titles_say_what_is_shown() {
    let app = spawn_app().await;
    app.login().await;
    app.wait_for_index(70).await;
    let list = "/activations?key=70&q=e&status=active&sort=site&dir=asc&page=2";
    let (status, doc) = doc_with_status(&app, list).await;
    assert_eq!(status, StatusCode::OK);
    let t = title(&doc);
    assert!(
        t.starts_with("Activations matching “e”, page 2 of ") && t.ends_with(" · partner-portal"),
        "{t}"
    );
    let name = texts(&doc, "#activations tbody a.name")[0].clone();
    let detail = attrs(&doc, "#activations tbody a.name", "href")[0].clone();
    let (status, d) = doc_with_status(&app, &detail).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(title(&d), format!("{name} · Activation · partner-portal"));
    assert_eq!(
        attrs(&d, "#back", "href"),
        vec![list],
        "the way back returns to the list it came from"
    );
    assert_eq!(texts(&d, "#back"), vec!["← Back to results for “e”"]);
    // Previous and next walk the results, across the page boundary: the first row of page 2
    // has the last row of page 1 before it.
    let page1 = html(
        &app.get(&list.replace("page=2", "page=1"))
            .await
            .text()
            .await
            .unwrap(),
    );
    let page1_names = texts(&page1, "#activations tbody a.name");
    let page2_names = texts(&doc, "#activations tbody a.name");
    assert_eq!(
        texts(&d, "#previous .visually-hidden"),
        vec![format!(": {}", page1_names.last().unwrap())]
    );
    assert_eq!(
        texts(&d, "#next .visually-hidden"),
        vec![format!(": {}", page2_names[1])]
    );
    let previous = attrs(&d, "#previous", "href")[0].clone();
    let (_, p) = doc_with_status(&app, &previous).await;
    assert_eq!(
        attrs(&p, "#back", "href"),
        vec![list.replace("&page=2", "")],
        "the neighbour's way back is its own page of the results"
    );
    assert_eq!(
        texts(&p, "#next .visually-hidden"),
        vec![format!(": {name}")]
    );
    // The plan history, and Copy buttons for the ids (hidden until the clipboard is there).
    assert!(texts(&d, "#history li")[0].starts_with("Activated as "));
    assert_eq!(
        attrs(&d, "button[data-copy=activation-id]", "hidden").len(),
        1
    );
    assert_eq!(
        texts(&d, "#activation-id"),
        vec![
            detail
                .split('?')
                .next()
                .unwrap()
                .trim_start_matches("/activations/")
        ]
    );
    // A filtered list without a search, and the plain list, say so.
    let (_, f) = doc_with_status(
        &app,
        &format!(
            "{}?key=70&list=key%3D70%26status%3Dcancelled",
            detail.split('?').next().unwrap()
        ),
    )
    .await;
    assert_eq!(texts(&f, "#back"), vec!["← Back to the filtered list"]);
    // Only an activations list of this key can come out of `list=`.
    let id = detail.split('?').next().unwrap();
    let (_, d) = doc_with_status(&app, &format!("{id}?key=70&list=%2F%2Fevil.example%2F")).await;
    assert_eq!(attrs(&d, "#back", "href")[0], "/activations?key=70");
    assert_eq!(texts(&d, "#back"), vec!["← All activations"]);
    assert!(texts(&d, "#previous").is_empty() && texts(&d, "#next").is_empty());
    let (_, d) = doc_with_status(&app, &format!("{id}?key=70&list=sort%3Dnope")).await;
    assert_eq!(attrs(&d, "#back", "href")[0], "/activations?key=70");

    let invoices = html(&app.get("/invoices").await.text().await.unwrap());
    let number = texts(&invoices, "#invoices a.detail")[0].clone();
    let href = attrs(&invoices, "#invoices a.detail", "href")[0].clone();
    let (_, inv) = doc_with_status(&app, &href).await;
    assert_eq!(title(&inv), format!("Invoice {number} · partner-portal"));
}

#[tokio::test]
async fn the_pager_offers_first_last_neighbours_and_a_jump() {
    let app = spawn_with(Options {
        sandbox: partner_portal::sandbox::SandboxOptions {
            activations: 1000,
            control: true,
            ..Default::default()
        },
        ..Options::default()
    })
    .await;
    app.login().await;
    app.wait_for_index(70).await;
    let (_, doc) = doc_with_status(&app, "/activations?key=70&q=a&page=10").await;
    let numbers = texts(&doc, ".pager-links a[aria-label^=Page]");
    let last = numbers.last().unwrap().clone();
    assert_eq!(&numbers[..6], ["1", "8", "9", "10", "11", "12"]);
    assert_eq!(numbers.len(), 7, "{numbers:?}");
    assert_eq!(
        attrs(&doc, ".pager-links a[aria-current=page]", "href"),
        vec!["/activations?key=70&q=a&page=10"]
    );
    assert_eq!(texts(&doc, ".pager-links .gap").len(), 2);
    assert_eq!(
        texts(&doc, ".pager-where").concat(),
        format!("Page 10 of {last}")
    );
    // The jump form keeps the view and asks only for the page.
    let hidden: Vec<(String, String)> = doc
        .select(&scraper::Selector::parse("#jump input[type=hidden]").unwrap())
        .map(|e| {
            (
                e.attr("name").unwrap().to_owned(),
                e.attr("value").unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        hidden,
        vec![("key".into(), "70".into()), ("q".into(), "a".into())]
    );
    assert_eq!(attrs(&doc, "#jump input[name=page]", "max"), vec![last]);
}

#[tokio::test]
async fn a_preset_and_custom_dates_never_both_look_chosen() {
    let app = spawn_app().await;
    app.login().await;
    app.wait_for_index(70).await;
    let (_, doc) = doc_with_status(&app, "/activations?preset=this_year").await;
    assert_eq!(
        attrs(&doc, "#preset option[selected]", "value"),
        vec!["this_year"]
    );
    assert_eq!(attrs(&doc, "#from", "value"), vec![""]);
    let (_, doc) = doc_with_status(
        &app,
        "/activations?preset=this_year&from=2026-01-05&to=2026-02-01",
    )
    .await;
    assert_eq!(
        attrs(&doc, "#preset option[selected]", "value"),
        vec!["custom"],
        "dates decide, and the select says so"
    );
    assert_eq!(attrs(&doc, "#from", "value"), vec!["2026-01-05"]);
    // The links of this view carry the dates, not the preset.
    assert!(
        attrs(&doc, "#tabs a", "href")
            .iter()
            .all(|h| !h.contains("preset") && h.contains("from=2026-01-05"))
    );
}

#[tokio::test]
async fn the_layout_details_people_notice() {
    let app = spawn_with(Options {
        demo: true,
        ..Options::default()
    })
    .await;
    app.login().await;
    let doc = html(&app.get("/").await.text().await.unwrap());
    // The demo banner is inside the header landmark; the key selector submits only on "Show".
    assert_eq!(
        texts(&doc, "header #demo-banner strong"),
        vec!["Sandbox data."]
    );
    assert!(attrs(&doc, "select#key", "data-autosubmit").is_empty());
    assert_eq!(texts(&doc, "form.key-select button"), vec!["Show"]);
    assert!(
        !std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/static/app.js"))
            .unwrap()
            .contains("submit()"),
        "no script submits a form on its own"
    );
    // A favicon, as SVG for pages and as an icon file for everything else.
    assert_eq!(
        attrs(&doc, "link[rel=icon]", "href"),
        vec![format!(
            "/static/{}",
            partner_portal::web::assets::versioned("favicon.svg")
        )]
    );
    let ico = app.get("/favicon.ico").await;
    assert_eq!(ico.status(), StatusCode::OK);
    assert_eq!(ico.headers()["content-type"], "image/x-icon");
    assert_eq!(&ico.bytes().await.unwrap()[..4], &[0, 0, 1, 0]);
    let svg = app.get("/static/favicon.svg").await;
    assert_eq!(svg.headers()["content-type"], "image/svg+xml");
    // Links in the overview's tables are styled as links: only column headers drop the look.
    let css = app.get("/static/app.css").await.text().await.unwrap();
    assert!(css.contains("thead th a { color: inherit; text-decoration: none; }"));
    assert!(!css.contains("\nth a {"));
}

#[tokio::test]
async fn the_first_minute_is_a_quiet_progress_line_that_fills_itself_in() {
    let app = spawn_app().await;
    app.control(
        "latency",
        serde_json::json!({"path_prefix": "/wpcom/v2/jetpack-partners/7/key/70/activations", "ms": 1500}),
    )
    .await;
    app.login().await;
    let doc = html(&app.get("/").await.text().await.unwrap());
    assert!(
        texts(&doc, ".panel-error").is_empty(),
        "a normal state is not an error"
    );
    let pending = texts(&doc, "#index-pending.pending[role=status]");
    assert_eq!(pending.len(), 1, "a quiet progress line");
    assert!(
        pending[0].starts_with("Building the activations index for this key: "),
        "{pending:?}"
    );
    assert_eq!(
        attrs(&doc, "#index-pending", "data-copy-status"),
        vec!["/activations/status?key=70"]
    );
    assert_eq!(attrs(&doc, "#period[data-fill]", "id"), vec!["period"]);
    assert_eq!(
        attrs(&doc, "#index-tables[data-fill]", "id"),
        vec!["index-tables"]
    );
    // The building page: a polite live region and a link, never a meta refresh.
    let building = app.get("/activations/1").await.text().await.unwrap();
    assert!(!building.contains("http-equiv"));
    let b = html(&building);
    assert_eq!(
        attrs(
            &b,
            "#building [role=status][data-copy-status]",
            "data-copy-status"
        ),
        vec!["/activations/status?key=70"]
    );
    assert_eq!(attrs(&b, "#no-js-hint a", "href"), vec!["/activations/1"]);
    // The status the page script polls.
    let s: serde_json::Value = app
        .get("/activations/status?key=70")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(s["ready"], false);
    assert_eq!(s["running"], true);
    app.wait_for_index(70).await;
    let s: serde_json::Value = app
        .get("/activations/status?key=70")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(s["ready"], true);
    // Its key is checked like every page's.
    assert_eq!(
        app.get("/activations/status?key=99").await.status(),
        StatusCode::NOT_FOUND
    );
}
