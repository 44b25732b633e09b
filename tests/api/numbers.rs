//! Numbers a finance person can trust (issue 10): the activations copy is complete or says that
//! it is not, against a sandbox that pages the way real APIs do; upstream text reads as people
//! wrote it on pages, in search and in CSV.

use chrono::Datelike as _;
use partner_portal::sandbox::{PagingQuirks, SandboxOptions, data::KEY_PRODUCTION};
use reqwest::StatusCode;

use crate::helpers::*;

/// A sandbox with `activations` on the production key, paging with `quirks`, and a portal that
/// asks for `page_size` rows per page.
fn quirky(activations: usize, page_size: u32, quirks: PagingQuirks) -> Options {
    Options {
        sandbox: SandboxOptions {
            activations,
            control: true,
            paging: quirks,
            ..SandboxOptions::default()
        },
        index_page_size: page_size,
        metrics: "on".into(),
        ..Options::default()
    }
}

async fn page(app: &TestApp, path: &str) -> scraper::Html {
    let r = app.get(path).await;
    assert_eq!(r.status(), StatusCode::OK, "{path}");
    html(&r.text().await.unwrap())
}

/// The "All" tab's count on the activations list.
fn all_count(doc: &scraper::Html) -> String {
    texts(doc, "#tabs a .count").remove(0)
}

async fn notice_on_every_view(app: &TestApp, reported: &str, copied: &str) {
    let id = app
        .sandbox
        .data()
        .seed
        .activations
        .iter()
        .find(|a| a.key_id == KEY_PRODUCTION)
        .unwrap()
        .id;
    for path in ["/", "/activations", &format!("/activations/{id}")] {
        let doc = page(app, path).await;
        assert_eq!(
            texts(&doc, "#copy-notice .reported"),
            vec![reported],
            "{path}"
        );
        assert_eq!(texts(&doc, "#copy-notice .copied"), vec![copied], "{path}");
    }
}

async fn metric(app: &TestApp, name: &str) -> f64 {
    let body = app.get("/metrics").await.text().await.unwrap();
    body.lines()
        .find(|l| l.starts_with(name))
        .and_then(|l| l.rsplit(' ').next())
        .map_or(0.0, |v| v.parse().unwrap())
}

#[tokio::test]
async fn a_capped_page_size_still_copies_every_activation() {
    // WordPress.com honours 100 rows per page whatever the portal asks for (1,000).
    let app = spawn_with(quirky(
        1370,
        1000,
        PagingQuirks {
            per_page_cap: Some(100),
            ..PagingQuirks::default()
        },
    ))
    .await;
    app.login().await;
    let doc = html(&app.wait_for_index(70).await);
    assert_eq!(all_count(&doc), "1,370");
    assert!(
        texts(&doc, "#copy-notice").is_empty(),
        "a whole copy says nothing"
    );
    let state = app.state.index.state(70).await.unwrap();
    assert_eq!(
        (state.reported_total, state.copied_rows),
        (Some(1370), Some(1370))
    );
    assert!(
        state
            .copy_note
            .unwrap()
            .contains("at most 100 activations per page"),
        "the details say what WordPress.com did"
    );
}

#[tokio::test]
async fn a_short_page_in_the_middle_is_said_on_every_view_logged_and_counted() {
    let app = spawn_with(quirky(
        1370,
        100,
        PagingQuirks {
            short_page: Some(3),
            ..PagingQuirks::default()
        },
    ))
    .await;
    app.login().await;
    let before = metric(&app, "portal_index_copy_mismatches_total").await;
    let doc = html(&app.wait_for_index(70).await);
    // Page 3 lost 50 rows; paging on found nothing more.
    assert_eq!(all_count(&doc), "1,320");
    notice_on_every_view(&app, "1,370", "1,320").await;
    assert_eq!(
        texts(&doc, "#copy-notice p")[0],
        "The copy may not be complete. WordPress.com reports 1,370 activations; the copy has 1,320. Figures on this page count the activations in the copy. Refreshing the copy tries again."
    );
    assert!(texts(&doc, "#copy-notice details")[0].contains("came back empty"));
    // The registry is shared by every test in this binary: at least this copy was counted.
    assert!(metric(&app, "portal_index_copy_mismatches_total").await - before >= 1.0);
    assert!(captured_logs().contains("the activations copy does not match WordPress.com's total"));
}

#[tokio::test]
async fn a_total_that_moves_during_the_copy_is_reported_with_the_latest_figure() {
    let app = spawn_with(quirky(
        300,
        100,
        PagingQuirks {
            total_drift: 5,
            ..PagingQuirks::default()
        },
    ))
    .await;
    app.login().await;
    let doc = html(&app.wait_for_index(70).await);
    assert_eq!(all_count(&doc), "300");
    notice_on_every_view(&app, "305", "300").await;
    assert!(texts(&doc, "#copy-notice details")[0].contains("changed from 300 to 305"));
}

#[tokio::test]
async fn rows_repeated_across_pages_are_kept_once_and_the_copy_completes() {
    let app = spawn_with(quirky(
        1000,
        100,
        PagingQuirks {
            repeat_rows: 10,
            ..PagingQuirks::default()
        },
    ))
    .await;
    app.login().await;
    let doc = html(&app.wait_for_index(70).await);
    assert_eq!(all_count(&doc), "1,000");
    assert!(texts(&doc, "#copy-notice").is_empty());
    let state = app.state.index.state(70).await.unwrap();
    assert!(state.copy_note.unwrap().contains("came more than once"));
}

#[tokio::test]
async fn an_upstream_that_keeps_sending_the_same_rows_stops_safely_and_says_so() {
    // Every page is the first page again (as when `page` is ignored).
    let app = spawn_with(quirky(
        1000,
        100,
        PagingQuirks {
            repeat_rows: 1_000_000,
            ..PagingQuirks::default()
        },
    ))
    .await;
    app.login().await;
    let doc = html(&app.wait_for_index(70).await);
    assert_eq!(all_count(&doc), "100");
    notice_on_every_view(&app, "1,000", "100").await;
    let details = texts(&doc, "#copy-notice details").remove(0);
    assert!(details.contains("only repeated rows"), "{details}");
    // Ten planned pages, then two that added nothing (the copy's pages of 100; the list
    // shows WordPress.com's own pages of 20 while the copy is made).
    assert_eq!(
        app.count("GET /wpcom/v2/jetpack-partners/7/key/70/activations?per_page=100")
            .await,
        12
    );
}

/// Names of the production key's seed activations containing `needle`, as people wrote them.
fn names_with(app: &TestApp, needle: &str) -> Vec<String> {
    app.sandbox
        .data()
        .seed
        .activations
        .iter()
        .filter(|a| a.key_id == KEY_PRODUCTION && a.site_name.contains(needle))
        .map(|a| a.site_name.clone())
        .collect()
}

#[tokio::test]
async fn entity_encoded_names_read_as_written_on_pages_in_search_and_in_csv() {
    let app = spawn_app().await;
    app.login().await;
    app.wait_for_index(70).await;
    // The sandbox sends these names entity-encoded, as WordPress stores them.
    let smith = names_with(&app, "Smith & Sons");
    let cafe = names_with(&app, "Café");
    assert!(!smith.is_empty() && !cafe.is_empty(), "the seed has both");

    // Search finds the decoded text, whichever case the user types.
    let doc = page(&app, "/activations?q=caf%C3%A9&per_page=500").await;
    let mut shown = texts(&doc, "#activations tbody .name");
    shown.sort();
    let mut want = cafe.clone();
    want.sort();
    assert_eq!(shown, want);
    let body = app
        .get("/activations?q=Smith+%26+Sons&per_page=500")
        .await
        .text()
        .await
        .unwrap();
    let doc = html(&body);
    assert_eq!(texts(&doc, "#activations tbody .name").len(), smith.len());
    // Escaped once on output (askama writes `&` as `&#38;`), never twice.
    assert!(body.contains("Smith &#38; Sons"), "escaped once");
    for twice in ["#38;amp;", "&amp;amp;", "#38;eacute;", "#38;#8217;"] {
        assert!(!body.contains(twice), "{twice}");
    }

    // The CSV carries the text as written.
    let csv = app
        .get("/activations.csv?q=Smith+%26+Sons")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        csv.contains("Smith & Sons") && !csv.contains("&amp;"),
        "{csv}"
    );

    // Key names too.
    let doc = page(&app, "/").await;
    assert!(
        texts(&doc, "#key option").contains(&"Staging & QA (disabled)".to_owned()),
        "{:?}",
        texts(&doc, "#key option")
    );
}

#[tokio::test]
async fn the_overview_compares_like_with_like_and_marks_the_unfinished_period() {
    let app = spawn_app().await;
    app.login().await;
    app.wait_for_index(70).await;
    let doc = page(&app, "/").await;
    // "This month so far" against the same days of last month: "in 1–N Mon" (or "in 1 Mon" on
    // the 1st), never "last month"; the two active counts against the start of the period.
    let notes = texts(&doc, "#index-cards .card .note");
    let last_month = (chrono::Utc::now().date_naive().with_day(1).unwrap()
        - chrono::Duration::days(1))
    .format("%b")
    .to_string();
    assert_eq!(notes.len(), 5, "{notes:?}");
    for note in &notes[..2] {
        assert!(note.contains("at the start of 1 "), "{note}");
    }
    for note in &notes[2..] {
        assert!(
            note.contains(" in 1") && note.ends_with(&last_month),
            "{note}"
        );
    }
    // Today is drawn lighter and labelled, not as a drop.
    assert_eq!(
        attrs(&doc, "#activity-chart g.slot.unfinished", "class").len(),
        1
    );
    assert_eq!(texts(&doc, "#activity-chart .so-far"), vec!["so far"]);
    assert!(texts(&doc, "#activity-table tbody tr")[0].contains("(so far)"));
    // One set of headline numbers.
    assert_eq!(texts(&doc, ".card").len(), 5);
}

#[tokio::test]
async fn the_copy_is_cross_checked_with_wordpress_coms_summary() {
    for (offset, shown) in [(25, true), (1, false)] {
        let app = spawn_with(Options {
            sandbox: SandboxOptions {
                control: true,
                summary_offset: offset,
                ..SandboxOptions::default()
            },
            ..Options::default()
        })
        .await;
        app.login().await;
        app.wait_for_index(70).await;
        let doc = page(&app, "/").await;
        let copy = texts(&doc, "#index-cards .card .value")[0].clone();
        if shown {
            let summary: i64 = copy.replace(',', "").parse::<i64>().unwrap() + offset;
            assert_eq!(
                texts(&doc, "#crosscheck .summary-count"),
                vec![summary.to_string()]
            );
            assert_eq!(texts(&doc, "#crosscheck .copy-count"), vec![copy]);
            assert!(
                texts(&doc, "#crosscheck")[0].contains("The figures on this page count the copy")
            );
        } else {
            assert!(
                texts(&doc, "#crosscheck").is_empty(),
                "within what timing explains"
            );
        }
    }
}

#[tokio::test]
async fn an_open_invoice_with_a_failed_charge_says_it_is_retrying_not_past_due() {
    let app = spawn_app().await;
    app.login().await;
    let doc = page(&app, "/invoices").await;
    let statuses = texts(&doc, "#past .status");
    assert!(!statuses.iter().any(|s| s == "Past due"), "{statuses:?}");
    let retrying: Vec<_> = statuses
        .iter()
        .filter(|s| s.starts_with("Payment failed, retrying on "))
        .collect();
    assert_eq!(retrying.len(), 1, "{statuses:?}");
    assert_eq!(attrs(&doc, "#past .status.warn", "class").len(), 1);
}

#[tokio::test]
async fn reconciliation_speaks_in_sentences_with_credits_apart_and_one_product_naming() {
    let app = spawn_app().await;
    app.login().await;
    app.wait_for_index(70).await;
    // The sandbox bills one site too many on invoice 8's first product.
    let d = page(&app, "/invoices/in_1Fake0008K70?key=70").await;
    let sentences = texts(&d, "#recon tbody td.sentence");
    let over: Vec<_> = sentences
        .iter()
        .filter(|s| s.ends_with(": 1 more billed than active."))
        .collect();
    assert_eq!(over.len(), 1, "{sentences:?}");
    assert!(over[0].starts_with("Billed for ") && over[0].contains(" were active in the period"));
    // The credit line is a credit, not an unmatched product.
    assert_eq!(texts(&d, "#other-lines tbody td.kind"), vec!["credit"]);
    assert!(
        !texts(&d, "#reconciliation")
            .join(" ")
            .contains("not matched")
    );
    // One naming: the reconciliation's families are the products' names without the term.
    let products = texts(&d, "#recon tbody th");
    assert!(
        products.iter().all(|p| p.starts_with("Jetpack ")),
        "{products:?}"
    );
    let list = page(&app, "/activations?per_page=500").await;
    let listed = texts(&list, "#activations tbody td:nth-child(2)");
    assert!(
        products
            .iter()
            .all(|p| listed.iter().any(|l| l.starts_with(p.as_str()))),
        "{products:?} vs {:?}",
        &listed[..5]
    );
    // The period ends on its last day, inclusive: "1–31 Jul 2026" style.
    let summary = texts(&d, "#invoice-summary")[0].clone();
    let period = summary
        .split("period ")
        .nth(1)
        .unwrap()
        .split(" · ")
        .next()
        .unwrap();
    let (first, rest) = period.split_once('–').unwrap();
    assert_eq!(first, "1", "{period}");
    let last_day: u32 = rest.split(' ').next().unwrap().parse().unwrap();
    assert!((28..=31).contains(&last_day), "{period}");
}

#[tokio::test]
async fn lists_that_say_they_are_partial_are_shown_as_partial() {
    let app = spawn_with(Options {
        sandbox: SandboxOptions {
            control: true,
            partial_lists: true,
            ..SandboxOptions::default()
        },
        ..Options::default()
    })
    .await;
    app.login().await;
    app.wait_for_index(70).await;
    let d = page(&app, "/invoices").await;
    assert_eq!(texts(&d, "#invoices tbody tr").len(), 10);
    assert!(texts(&d, "#past-partial")[0].contains("more invoices than it sent"));
    let d = page(&app, "/invoices/in_1Fake0008K70?key=70").await;
    let note = texts(&d, "#lines-partial").remove(0);
    assert!(
        note.starts_with("WordPress.com sent 1 of this invoice's ") && note.contains("partial"),
        "{note}"
    );
    assert!(
        texts(&d, "#reconciliation .notice")
            .iter()
            .any(|n| n.contains("The billed figures below count only the lines sent."))
    );
    // A whole list says nothing.
    let app = spawn_app().await;
    app.login().await;
    let d = page(&app, "/invoices").await;
    assert!(texts(&d, "#past-partial").is_empty());
}

#[tokio::test]
async fn the_overviews_counts_from_the_copys_days_and_facets_equal_counting_the_copy() {
    // 2,000 activations over two years, many cancelled: each whole-day period is the sum of
    // its days; a period that is not whole days is scanned; the plans active at a moment are
    // counted from the days too; the active plans per product come from the whole copy's
    // facets.
    let app = spawn_with(quirky(2_000, 1000, PagingQuirks::default())).await;
    app.login().await;
    app.wait_for_index(70).await;
    let generation = app.state.index.state(70).await.unwrap().generation;
    let tomorrow = chrono::Utc::now().date_naive().succ_opt().unwrap();
    let midnight = |days_back: u64| {
        (tomorrow - chrono::Days::new(days_back))
            .and_hms_opt(0, 0, 0)
            .unwrap()
            .and_utc()
            .timestamp()
    };
    let mut spans = vec![(0, midnight(0))];
    for back in (1..800).step_by(13) {
        for len in [1, 2, 7, 30, 31, 365] {
            spans.push((midnight(back + len), midnight(back)));
        }
    }
    let index = &app.state.index;
    let summed = index.period_stats(70, generation, &spans).await.unwrap();
    let scanned = index
        .scanned_period_stats(70, generation, &spans)
        .await
        .unwrap();
    assert_eq!(summed, scanned);
    assert_eq!(summed[0].new, 2_000, "every activation is in the first");
    assert!(summed[0].cancelled > 100, "{:?}", summed[0]);
    // Not whole days: scanned, and the same.
    let odd = [(midnight(40) + 3_600, midnight(10))];
    assert_eq!(
        index.period_stats(70, generation, &odd).await.unwrap(),
        index
            .scanned_period_stats(70, generation, &odd)
            .await
            .unwrap()
    );
    // Active at a moment: the whole days before it and its own day up to it, as a scan gives;
    // before 1970, a scan.
    let now = chrono::Utc::now().timestamp();
    let mut moments = vec![now, 0, 1, -5, now + 400 * 86_400];
    for back in (0..800).step_by(7) {
        let m = midnight(back);
        moments.extend([m - 1, m, m + 1, m + 43_200 + back as i64]);
    }
    for at in moments {
        assert_eq!(
            index.active_at(70, generation, at).await.unwrap(),
            index.scanned_active_at(70, generation, at).await.unwrap(),
            "active at {at}"
        );
    }
    // The active plans per product, from the whole copy's facets, as a count of them gives.
    let figures = index
        .figures(70, generation, spans[..3].to_vec(), midnight(0))
        .await
        .unwrap();
    let counted: Vec<(i64, i64)> = index
        .db()
        .fetch_all(&partner_portal::db::Sql::new(&format!(
            "SELECT COALESCE(current_product_id, product_id, 0) AS p, COUNT(*) AS n FROM {} \
             WHERE cancelled_on IS NULL GROUP BY COALESCE(current_product_id, product_id, 0) \
             ORDER BY n DESC, p",
            partner_portal::index::copies::table(70, generation)
        )))
        .await
        .unwrap();
    assert!(counted.len() > 3, "{counted:?}");
    assert_eq!(figures.by_product, counted);
}
