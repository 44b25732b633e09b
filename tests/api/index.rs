//! The activations index: sync with progress, one sync per key across requests and replicas,
//! failures that keep the last copy, background refresh, and access control.

use std::time::Duration;

use partner_portal::db::Sql;
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::*;

const LIST: &str = "/wpcom/v2/jetpack-partners/7/key/70/activations";

/// The copy's page size in these tests.
const COPY_PAGE: u32 = 19;

fn paged() -> Options {
    // 150 activations in pages of 19: 8 upstream pages per sync. (Not 20: that is the size of
    // the page a person asks for, which WordPress.com serves while the first copy is made.)
    Options {
        index_page_size: COPY_PAGE,
        ..Options::default()
    }
}

/// Upstream list calls of the copy (pages of `COPY_PAGE`).
async fn list_calls(app: &TestApp) -> u64 {
    app.count(&format!("GET {LIST}?per_page={COPY_PAGE}")).await
}

/// Rows in every copy of `key` the database holds, the replaced ones included.
async fn rows_stored(app: &TestApp, key: u64) -> i64 {
    use partner_portal::index::copies;
    let mut n = 0;
    for (k, generation) in copies::all(&app.state.db).await.unwrap() {
        if k == key {
            let sql = Sql::new(&format!(
                "SELECT COUNT(*) FROM {}",
                copies::table(k, generation)
            ));
            n += app.state.db.fetch_ints(&sql, 1).await.unwrap()[0];
        }
    }
    n
}

/// WordPress.com recovers: every injected fault goes.
async fn clear_faults(app: &TestApp) {
    new_client()
        .delete(format!("{}/__sandbox/faults", app.sandbox_url))
        .send()
        .await
        .unwrap();
}

async fn wait_until_idle(app: &TestApp, key: u64) -> partner_portal::index::SyncState {
    for _ in 0..600 {
        let s = app.state.index.state(key).await.unwrap();
        if !s.running {
            return s;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the sync of {key} never ended");
}

#[tokio::test]
async fn the_first_view_builds_the_index_with_progress_then_serves_it() {
    let app = spawn_with(paged()).await;
    app.login().await;
    app.control("latency", json!({"path_prefix": LIST, "ms": 150}))
        .await;
    // Pages that need the copy show its progress (the list itself shows WordPress.com's own
    // rows meanwhile: `preview` below).
    let r = app.get("/activations/1").await;
    assert_eq!(r.status(), StatusCode::OK);
    let doc = html(&r.text().await.unwrap());
    assert_eq!(
        texts(&doc, "#building h2"),
        vec!["Building the activations index for this key"]
    );
    // It updates without a manual reload: a polite live region the page script fills from the
    // copy's status (no meta refresh, which axe counts as a critical failure).
    assert!(attrs(&doc, "meta[http-equiv=refresh]", "content").is_empty());
    assert_eq!(
        attrs(&doc, "#building [role=status]", "data-copy-status"),
        vec!["/activations/status?key=70"],
        "updates without a manual reload"
    );
    // Progress is reported in pages and rows.
    let mut saw_progress = false;
    for _ in 0..100 {
        let doc = html(&app.get("/activations/1").await.text().await.unwrap());
        let p = texts(&doc, "#progress");
        if p.first()
            .is_some_and(|t| t.contains(" of 8 pages") && t.contains(" of 150 activations"))
        {
            saw_progress = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(saw_progress, "progress in pages and rows");
    let body = app.wait_for_index(70).await;
    let doc = html(&body);
    assert_eq!(
        texts(&doc, "#result-count")[0].split(" · ").next(),
        Some("Showing 1–20 of 150")
    );
    assert_eq!(texts(&doc, "#freshness strong"), vec!["just now"]);
    assert_eq!(list_calls(&app).await, 8, "each page fetched once");
    assert_eq!(rows_stored(&app, 70).await, 150);
    let state = app.state.index.state(70).await.unwrap();
    assert_eq!((state.generation, state.last_error), (1, None));
}

#[tokio::test]
async fn concurrent_views_and_a_second_replica_start_only_one_sync() {
    let app = spawn_with(paged()).await;
    app.login().await;
    let (replica, _) = app.spawn_replica().await;
    app.control("latency", json!({"path_prefix": LIST, "ms": 200}))
        .await;
    // The session store is shared, so the same cookie works on both replicas.
    app.open_activations_on_both(&replica, 20).await;
    app.wait_for_index(70).await;
    assert_eq!(list_calls(&app).await, 8, "one sync, not twenty");
    let on_replica = app
        .client
        .get(format!("{replica}/activations"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        texts(&html(&on_replica), "#activations tbody tr").len(),
        20,
        "the replica serves the same copy"
    );
}

#[tokio::test]
async fn a_failed_first_sync_says_why_and_can_be_retried() {
    let app = spawn_with(paged()).await;
    app.login().await;
    // WordPress.com fails the list for longer than the copy tries a page.
    app.fault(LIST, 500, 1_000, None).await;
    app.get("/activations/1").await;
    let state = wait_until_idle(&app, 70).await;
    assert!(!state.has_copy());
    let doc = html(&app.get("/activations").await.text().await.unwrap());
    let said = texts(&doc, "#building .panel-error");
    assert!(
        said.len() == 1
            && said[0].starts_with(
                "The last refresh failed just now: WordPress.com answered 500 for page 1"
            )
            && said[0].contains("starts again by itself"),
        "{said:?}"
    );
    clear_faults(&app).await;
    assert!(
        attrs(&doc, "meta[http-equiv=refresh]", "content").is_empty(),
        "no auto-refresh while nothing runs"
    );
    let csrf = attrs(&doc, "#building input[name=csrf]", "value").remove(0);
    let r = app.refresh_now(&csrf, "/activations").await;
    assert_eq!(
        (r.status(), location(&r)),
        (StatusCode::SEE_OTHER, "/activations")
    );
    let body = app.wait_for_index(70).await;
    assert_eq!(texts(&html(&body), "#activations tbody tr").len(), 20);
    assert_eq!(
        rows_stored(&app, 70).await,
        150,
        "the failed run left nothing behind"
    );
}

#[tokio::test]
async fn after_a_failed_first_copy_a_restarted_copy_shows_wordpress_coms_page_meanwhile() {
    let app = spawn_with(paged()).await;
    app.login().await;
    app.fault(LIST, 500, 1_000, None).await;
    app.get("/activations/1").await;
    assert!(!wait_until_idle(&app, 70).await.has_copy());
    clear_faults(&app).await;
    // The retried copy's pages are slow; the page a person asks for is not.
    app.control(
        "latency",
        json!({"path_prefix": LIST, "query_contains": format!("per_page={COPY_PAGE}"), "ms": 400}),
    )
    .await;
    let doc = html(&app.get("/activations").await.text().await.unwrap());
    let csrf = attrs(&doc, "#building input[name=csrf]", "value").remove(0);
    let r = app.refresh_now(&csrf, "/activations").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let doc = html(&app.get("/activations").await.text().await.unwrap());
    assert_eq!(
        texts(&doc, "#preview-note").len(),
        1,
        "WordPress.com's own page"
    );
    assert_eq!(texts(&doc, "#activations tbody tr").len(), 20);
    app.wait_for_index(70).await;
}

#[tokio::test]
async fn the_first_copy_asks_for_its_first_page_only_once_the_first_view_has_its_own() {
    // The page a person waits for is slow; while it is on its way, the copy's first page (19
    // rows to send, parse and write, 1,000 in production) must not be.
    let app = spawn_with(paged()).await;
    app.login().await;
    app.control(
        "latency",
        json!({"path_prefix": LIST, "query_contains": "per_page=20", "ms": 400}),
    )
    .await;
    let client = app.client.clone();
    let url = app.url("/activations");
    let view = tokio::spawn(async move { client.get(url).send().await.unwrap().text().await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let copy_page = format!("GET {LIST}?per_page={COPY_PAGE}");
    assert_eq!(app.count(&format!("GET {LIST}?per_page=20")).await, 1);
    assert_eq!(
        app.count(&copy_page).await,
        0,
        "the copy asked while the view waited"
    );
    let body = view.await.unwrap().unwrap();
    assert!(
        body.contains("id=\"preview-note\""),
        "WordPress.com's own page"
    );
    let state = wait_until_idle(&app, 70).await;
    assert!(state.has_copy() && app.count(&copy_page).await >= 8);
}

#[tokio::test]
async fn a_copy_that_lost_its_lease_writes_nothing_more_and_leaves_the_new_owners_table() {
    // Replica A's copy stalls past its lease; replica B, whose clock says the lease is over,
    // takes the key over with a generation of its own and resumes from the rows A stored. A
    // must neither write into B's table nor drop it when it gives up.
    let app = spawn_with(paged()).await;
    app.login().await;
    app.control(
        "latency",
        json!({"path_prefix": LIST, "query_contains": "per_page=19", "ms": 300}),
    )
    .await;
    assert_eq!(app.get("/activations").await.status(), StatusCode::OK);
    for _ in 0..100 {
        if app.state.index.state(70).await.unwrap().pages_done >= 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (replica, b) = app.spawn_replica().await;
    b.clock.advance(Duration::from_secs(120));
    let r = app
        .client
        .get(format!("{replica}/activations"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let mut state = b.index.state(70).await.unwrap();
    for _ in 0..200 {
        if !state.running && (state.has_copy() || state.last_error.is_some()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        state = b.index.state(70).await.unwrap();
    }
    assert!(state.generation > 1, "B's own attempt: {state:?}");
    assert_eq!(
        (state.last_error.as_deref(), state.copied_rows),
        (None, Some(150)),
        "the new owner's copy completes"
    );
    assert_eq!(rows_stored(&app, 70).await, 150);
}

#[tokio::test]
async fn a_refresh_that_fails_part_way_keeps_the_last_complete_copy() {
    // A replaced copy is dropped a second after the longest a request may run.
    let app = spawn_with(Options {
        request_timeout: Duration::from_secs(2),
        ..paged()
    })
    .await;
    app.login().await;
    app.wait_for_index(70).await;
    let csrf = app.csrf().await;
    // Pages 1-3 succeed, then WordPress.com fails for longer than the copy tries a page.
    app.control(
        "faults",
        json!({"path_prefix": LIST, "status": 500, "count": 1_000, "skip": 3}),
    )
    .await;
    let r = app
        .client
        .post(app.url("/activations/refresh"))
        .form(&[("csrf", csrf.as_str()), ("key", "70")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let state = wait_until_idle(&app, 70).await;
    assert_eq!(state.generation, 1, "still the first copy");
    assert!(state.last_error.is_some());
    let doc = html(&app.get("/activations").await.text().await.unwrap());
    assert_eq!(
        texts(&doc, "#activations tbody tr").len(),
        20,
        "the last complete copy stays visible"
    );
    let failed = texts(&doc, "#freshness .panel-error");
    assert!(
        failed[0].starts_with("The last refresh failed")
            && failed[0].contains("WordPress.com answered 500"),
        "{failed:?}"
    );
    assert!(
        rows_stored(&app, 70).await > 150,
        "the paused copy's pages are kept to resume from"
    );
    // WordPress.com recovers; the next refresh resumes the copy, completes it and clears the
    // message.
    clear_faults(&app).await;
    app.client
        .post(app.url("/activations/refresh"))
        .form(&[("csrf", csrf.as_str()), ("key", "70")])
        .send()
        .await
        .unwrap();
    let mut state = wait_until_idle(&app, 70).await;
    for _ in 0..100 {
        if state.generation > 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        state = wait_until_idle(&app, 70).await;
    }
    assert!(state.generation > 1, "{state:?}");
    assert_eq!(state.last_error, None);
    let doc = html(&app.get("/activations").await.text().await.unwrap());
    assert!(texts(&doc, "#freshness .panel-error").is_empty());
    // A view that read the old state just before the switch still finds the old copy…
    assert_eq!(
        rows_stored(&app, 70).await,
        300,
        "old generation kept a while"
    );
    // …which goes once no request can be reading it.
    let mut stored = 0;
    for _ in 0..100 {
        stored = rows_stored(&app, 70).await;
        if stored == 150 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(stored, 150, "old generation removed");
}

#[tokio::test]
async fn refresh_needs_the_csrf_token() {
    let app = spawn_app().await;
    app.login().await;
    let r = app
        .client
        .post(app.url("/activations/refresh"))
        .form(&[("key", "70")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(list_calls(&app).await, 0);
}

#[tokio::test]
async fn an_old_copy_is_served_at_once_and_refreshed_in_the_background() {
    let app = spawn_with(Options {
        index_max_age: Duration::from_secs(1),
        ..paged()
    })
    .await;
    app.login().await;
    app.wait_for_index(70).await;
    // The copy ages by the clock, not by sleeping through whole seconds (that raced).
    app.state.clock.advance(Duration::from_secs(2));
    app.control("latency", json!({"path_prefix": LIST, "ms": 100}))
        .await;
    let doc = html(&app.get("/activations").await.text().await.unwrap());
    assert_eq!(
        texts(&doc, "#activations tbody tr").len(),
        20,
        "served at once from the old copy"
    );
    assert!(
        texts(&doc, ".refreshing")[0].starts_with("Refreshing"),
        "and says a refresh runs"
    );
    let state = wait_until_idle(&app, 70).await;
    assert_eq!(state.generation, 2);
}

#[tokio::test]
async fn indexed_data_follows_what_wordpress_com_lists_for_the_token() {
    let app = spawn_with(Options {
        access_recheck: Duration::ZERO,
        ..Options::default()
    })
    .await;
    app.login().await;
    app.wait_for_index(71).await;
    assert_eq!(
        app.get("/activations.csv?key=71").await.status(),
        StatusCode::OK
    );
    // WordPress.com stops listing key 71 for this user: its copy is no longer shown.
    app.control("partner/keys", json!({"hide": [71]})).await;
    for path in [
        "/activations?key=71",
        "/activations.csv?key=71",
        "/activations/100150?key=71",
    ] {
        assert_eq!(
            app.get(path).await.status(),
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
    assert_eq!(
        app.get("/activations?key=70").await.status(),
        StatusCode::OK,
        "key 70 is still listed"
    );
    // A user without a partner never sees any key's copy.
    let visitor = new_client();
    app.login_with(&visitor, 1002, None).await;
    assert_eq!(
        app.get_with(&visitor, "/activations?key=70").await.status(),
        StatusCode::FORBIDDEN
    );
    // A rejected token ends the session before any copy is shown.
    app.control("tokens/revoke", json!({"user_id": 1001})).await;
    let r = app.get("/activations?key=70").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        app.get("/activations.csv?key=70").await.status(),
        StatusCode::SEE_OTHER
    );
}

/// Two replicas asked to start the same key's sync at the same instant, `rounds` times (a new
/// key each round): exactly one of each pair starts it, the other sees it running.
pub async fn race_replicas_for_the_lease(app: &TestApp, rounds: u64) {
    use partner_portal::{index::sync::Started, secret::Secret};
    let (_, replica) = app.spawn_replica().await;
    let (a, b) = (app.state.index.clone(), replica.index.clone());
    // Every sync takes at least this long, so the winner still holds the lease when the loser
    // tries: any second start would be a second sync running at once.
    app.control(
        "latency",
        json!({"path_prefix": "/wpcom/v2/jetpack-partners/7/key/", "ms": 500}),
    )
    .await;
    let mut started = 0;
    for round in 0..rounds {
        let key = 10_000 + round;
        let token = Secret::new("race".to_owned());
        let (x, y) = tokio::join!(
            a.start(token.clone(), 7, key),
            b.start(token.clone(), 7, key)
        );
        let (x, y) = (x.unwrap(), y.unwrap());
        let firsts = [x, y].iter().filter(|s| **s == Started::Started).count();
        assert_eq!(firsts, 1, "round {round}: {x:?} and {y:?}");
        started += firsts;
    }
    assert_eq!(started as u64, rounds);
}

#[tokio::test]
async fn two_replicas_starting_at_the_same_instant_start_one_sync_on_sqlite() {
    let app = spawn_app().await;
    race_replicas_for_the_lease(&app, 30).await;
}

/// A logged-in app whose copy asks for pages of 30 (150 activations), with `ms` of latency on
/// the list calls whose query holds `query`.
async fn copying_by_30_with_latency(query: &str, ms: u64) -> TestApp {
    let app = spawn_with(Options {
        index_page_size: 30,
        ..Options::default()
    })
    .await;
    app.login().await;
    app.control(
        "latency",
        json!({"path_prefix": LIST, "query_contains": query, "ms": ms}),
    )
    .await;
    app
}

#[tokio::test]
async fn while_the_first_copy_is_made_the_list_shows_wordpress_coms_own_first_page() {
    // The copy asks for pages of 30, each slow; the page a person asks for (20 rows) is not.
    let app = copying_by_30_with_latency("per_page=30", 400).await;
    let r = app.get("/activations").await;
    assert_eq!(r.status(), StatusCode::OK);
    let doc = html(&r.text().await.unwrap());
    assert_eq!(texts(&doc, "#preview-note").len(), 1, "says what it is");
    assert!(
        texts(&doc, "#preview-note")[0].contains("Search, filters, counts and sorting arrive when"),
        "{:?}",
        texts(&doc, "#preview-note")
    );
    assert_eq!(
        attrs(&doc, "#preview-note", "data-copy-status"),
        vec!["/activations/status?key=70"],
        "and fills in when the copy is ready"
    );
    assert_eq!(texts(&doc, "#activations tbody tr").len(), 20);
    assert_eq!(
        texts(&doc, "#result-count"),
        vec!["Showing 1–20 of 150, from WordPress.com"]
    );
    // Read-only: no tabs, facets, sort links or CSV while the rows are WordPress.com's.
    assert!(texts(&doc, "#tabs").is_empty() && texts(&doc, "#csv").is_empty());
    assert!(attrs(&doc, "#activations thead a", "href").is_empty());
    // Its rows are WordPress.com's first page, newest first as it sends them.
    let first_upstream = {
        let seed = &app.sandbox.data().seed;
        seed.activations
            .iter()
            .find(|a| a.key_id == 70)
            .map(|a| a.id)
            .unwrap()
    };
    assert!(
        attrs(&doc, "#activations tbody a.name", "href")[0]
            .starts_with(&format!("/activations/{first_upstream}?key=70&list=")),
        "{:?}",
        attrs(&doc, "#activations tbody a.name", "href")
    );
    assert_eq!(
        attrs(&doc, "#pager a[rel=next]", "href"),
        vec!["/activations?key=70&page=2"]
    );
    let body = app.wait_for_index(70).await;
    assert!(!body.contains("preview-note"));
    assert_eq!(rows_stored(&app, 70).await, 150);
}

#[tokio::test]
async fn a_list_view_while_the_copy_runs_shows_the_copys_first_page_without_a_call_of_its_own() {
    // The overview starts the first copy, so the list usually opens after the copy's first
    // page (30 rows here) is back. Page 2 of the copy is slow: the copy runs on meanwhile.
    let app = copying_by_30_with_latency("page=2&per_page=30", 1500).await;
    assert_eq!(app.get("/").await.status(), StatusCode::OK);
    for _ in 0..200 {
        if app.state.index.state(70).await.unwrap().pages_done >= 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let own_calls = format!("GET {LIST}?per_page=20");
    let doc = html(&app.get("/activations").await.text().await.unwrap());
    assert_eq!(app.count(&own_calls).await, 0, "no call of its own");
    assert_eq!(texts(&doc, "#preview-note").len(), 1, "says what it is");
    assert_eq!(
        texts(&doc, "#result-count"),
        vec!["Showing 1–20 of 150, from WordPress.com"]
    );
    let first_upstream: Vec<String> = app
        .sandbox
        .data()
        .seed
        .activations
        .iter()
        .filter(|a| a.key_id == 70)
        .take(20)
        .map(|a| format!("/activations/{}?key=70&list=", a.id))
        .collect();
    let hrefs = attrs(&doc, "#activations tbody a.name", "href");
    assert_eq!(hrefs.len(), 20);
    for (href, want) in hrefs.iter().zip(&first_upstream) {
        assert!(href.starts_with(want), "{href} is not {want}…");
    }
    // Rows 21–40 are not all in the copy's first page: WordPress.com is asked for them.
    let doc = html(&app.get("/activations?page=2").await.text().await.unwrap());
    assert_eq!(app.count(&own_calls).await, 1);
    assert_eq!(
        texts(&doc, "#result-count"),
        vec!["Showing 21–40 of 150, from WordPress.com"]
    );
    let state = wait_until_idle(&app, 70).await;
    assert!(state.has_copy());
    // Once the copy is visible, the first page it kept is gone with it.
    assert!(app.state.index.head_page(70, 1, 20).is_none());
}

/// The list and the overview are kept rendered per copy: a new copy shows at the very address
/// that showed the old one, on the next view.
#[tokio::test]
async fn a_new_copy_shows_at_the_same_address_at_once() {
    let app = spawn_app().await;
    app.login().await;
    app.wait_for_index(70).await;
    let cancelled = |body: &str| -> String {
        texts(&html(body), "#tabs a .count")
            .get(2)
            .cloned()
            .unwrap_or_default()
    };
    let list = "/activations?key=70&status=cancelled";
    let before = app.get(list).await.text().await.unwrap();
    let overview_before = app.get("/?key=70").await.text().await.unwrap();
    // The same address again: the same list (from what is kept).
    assert_eq!(
        cancelled(&app.get(list).await.text().await.unwrap()),
        cancelled(&before)
    );
    new_client()
        .post(format!("{}/__sandbox/activations/cancel", app.sandbox_url))
        .json(&json!({ "key": 70, "count": 40 }))
        .send()
        .await
        .unwrap();
    let csrf = attrs(&html(&before), "#freshness input[name=csrf]", "value").remove(0);
    let r = app.refresh_now(&csrf, list).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let generation = wait_until_idle(&app, 70).await.generation;
    assert_eq!(generation, 2, "the refresh made a new copy");
    let after = app.get(list).await.text().await.unwrap();
    let n = |s: String| s.replace(',', "").parse::<i64>().unwrap();
    assert_eq!(n(cancelled(&after)), n(cancelled(&before)) + 40, "{after}");
    let cards = |body: &str| texts(&html(body), "#index-cards .value");
    let overview_after = app.get("/?key=70").await.text().await.unwrap();
    assert_ne!(cards(&overview_after), cards(&overview_before));
}
