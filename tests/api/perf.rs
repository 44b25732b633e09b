//! Performance properties that are not timings: a page view writes nothing to the database,
//! responses are compressed, static assets are immutable under content-hashed names.

use std::time::Duration;

use reqwest::StatusCode;

use crate::helpers::*;

/// SQLite's `EXPLAIN QUERY PLAN` of `sql`, one line per step.
pub async fn query_plan(app: &TestApp, mut sql: partner_portal::db::Sql) -> Vec<String> {
    sql.text = format!("EXPLAIN QUERY PLAN {}", sql.text);
    let plan: Vec<(i64, i64, i64, String)> = app.state.db.fetch_all(&sql).await.unwrap();
    plan.into_iter().map(|r| r.3).collect()
}

/// Size and modification time of the SQLite file and its write-ahead log.
fn db_files(app: &TestApp) -> Vec<(u64, std::time::SystemTime)> {
    let wal = app.db_path.with_extension("db-wal");
    [app.db_path.clone(), wal]
        .iter()
        .map(|p| {
            let m = std::fs::metadata(p).unwrap();
            (m.len(), m.modified().unwrap())
        })
        .collect()
}

#[tokio::test]
async fn warm_page_views_write_nothing_to_the_database() {
    let app = spawn_with(Options {
        access_recheck: Duration::from_secs(3600),
        ..Options::default()
    })
    .await;
    app.login().await;
    app.wait_for_index(70).await;
    for path in ["/", "/activations", "/invoices"] {
        assert_eq!(app.get(path).await.status(), StatusCode::OK);
    }
    // Let the background refresh and every write of the first views settle.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = db_files(&app);
    for _ in 0..5 {
        for path in [
            "/",
            "/activations",
            "/activations?q=baker&sort=site&dir=asc",
            "/invoices",
        ] {
            assert_eq!(app.get(path).await.status(), StatusCode::OK, "{path}");
        }
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        db_files(&app),
        before,
        "20 page views changed the database files"
    );
}

#[tokio::test]
async fn pages_are_compressed_for_clients_that_accept_it() {
    let app = spawn_app().await;
    app.login().await;
    app.wait_for_index(70).await;
    // A client that decodes nothing itself, so the encodings the portal chose are seen as sent.
    let client = reqwest::Client::builder()
        .cookie_store(true)
        .no_gzip()
        .no_brotli()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    app.login_with(&client, 1001, None).await;
    let plain = app.get_with(&client, "/activations").await;
    assert!(plain.headers().get("content-encoding").is_none());
    let identity = plain.bytes().await.unwrap();
    for (accept, encoding) in [("br", "br"), ("gzip", "gzip"), ("gzip, deflate, br", "br")] {
        let r = client
            .get(app.url("/activations"))
            .header("accept-encoding", accept)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()["content-encoding"], encoding, "{accept}");
        assert_eq!(r.headers()["vary"], "accept-encoding");
        let body = r.bytes().await.unwrap();
        assert!(
            body.len() * 3 < identity.len(),
            "{accept}: {} bytes for {} plain",
            body.len(),
            identity.len()
        );
    }
    // JSON and CSS too; error pages as well.
    for path in [
        "/api/v1/invoices?key=70",
        "/static/app.css",
        "/no-such-page",
    ] {
        let r = client
            .get(app.url(path))
            .header("accept-encoding", "gzip")
            .send()
            .await
            .unwrap();
        assert_eq!(r.headers()["content-encoding"], "gzip", "{path}");
    }
}

#[tokio::test]
async fn static_assets_have_content_hashed_names_cached_for_a_year() {
    use partner_portal::web::assets::versioned;
    let app = spawn_app().await;
    let login = html(&app.get("/login").await.text().await.unwrap());
    let css = attrs(&login, "link[rel=stylesheet]", "href");
    assert_eq!(css, vec![format!("/static/{}", versioned("app.css"))]);
    assert_ne!(versioned("app.css"), "app.css");
    let r = app.get(&css[0]).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    assert_eq!(r.headers()["content-type"], "text/css; charset=utf-8");
    // The plain name, and a name from another build, get today's file with a short cache.
    for path in ["/static/app.css", "/static/app.000000000000.css"] {
        let r = app.get(path).await;
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        assert_eq!(
            r.headers()["cache-control"],
            "public, max-age=3600",
            "{path}"
        );
    }
    assert_eq!(
        app.get("/static/nope.css").await.status(),
        StatusCode::NOT_FOUND
    );
    // Pages themselves are never cached.
    assert_eq!(
        app.get("/login").await.headers()["cache-control"],
        "no-store"
    );
}

#[tokio::test]
async fn every_sort_on_sqlite_walks_an_index_and_reads_only_its_page() {
    use partner_portal::index::query::{Filter, SortBy, Status, page_sql};
    let app = spawn_app().await;
    app.login().await;
    app.wait_for_index(70).await;
    let generation = app.state.index.state(70).await.unwrap().generation;
    for sort in SortBy::ALL {
        for desc in [false, true] {
            for status in [Status::All, Status::Cancelled] {
                let f = Filter {
                    sort,
                    desc,
                    status,
                    ..Filter::default()
                };
                let sql = page_sql(
                    70,
                    generation,
                    &f,
                    40,
                    20,
                    partner_portal::index::query::Matcher::Trigram,
                );
                let plan = query_plan(&app, sql).await;
                let text = plan.join(" | ");
                // The page's ids come from a sort index alone, in its order; the only sort
                // is the page's own 20 rows; each row is read by its primary key.
                // Unfiltered, the index alone answers (covering); a status filter reads
                // `cancelled_on` for the rows it walks, in the index's order still.
                let t = partner_portal::index::copies::table(70, generation);
                // (A whole copy is a SCAN of the index, a filter's range a SEARCH in it.)
                let walks_a_sort_index = (plan[1].starts_with(&format!("SCAN {t} USING "))
                    || plan[1].starts_with(&format!("SEARCH {t} USING ")))
                    && plan[1].contains(&format!("INDEX {t}_sort_"));
                let covering = plan[1].contains("COVERING INDEX");
                assert!(
                    walks_a_sort_index && (covering || status != Status::All),
                    "{sort:?} desc={desc} {status:?}: {text}"
                );
                assert_eq!(
                    text.matches("TEMP B-TREE").count(),
                    1,
                    "{sort:?} desc={desc} {status:?} sorts more than its page: {text}"
                );
                assert!(
                    text.contains(&format!("SEARCH {t} USING INDEX {t}_id (id=?)")),
                    "{text}"
                );
            }
        }
    }
}

/// Key 70's copy's row ids in three ranges, as a large copy counts a search in parts.
async fn thirds(app: &TestApp, generation: i64) -> Vec<Option<(i64, i64)>> {
    let t = partner_portal::index::copies::table(70, generation);
    let last = app
        .state
        .db
        .fetch_ints(
            &partner_portal::db::Sql::new(&format!("SELECT MAX(rowid) FROM {t}")),
            1,
        )
        .await
        .unwrap()[0];
    let step = last / 3 + 1;
    (0..3)
        .map(|i| Some((i * step, ((i + 1) * step).min(last))))
        .collect()
}

/// `(product, all, active)` as `statements` count them together, summed per product, in
/// product order.
async fn summed(app: &TestApp, statements: &[partner_portal::db::Sql]) -> Vec<(i64, i64, i64)> {
    let mut summed = std::collections::BTreeMap::<i64, (i64, i64)>::new();
    for sql in statements {
        for (p, all, active) in app
            .state
            .db
            .fetch_all::<(i64, i64, i64)>(sql)
            .await
            .unwrap()
        {
            let e = summed.entry(p).or_default();
            e.0 += all;
            e.1 += active;
        }
    }
    summed.into_iter().map(|(p, (a, b))| (p, a, b)).collect()
}

#[tokio::test]
async fn a_searchs_counts_split_by_row_id_add_up_to_the_counts_in_one_statement() {
    // A large copy counts a search in row id ranges at once (`Index::facets`); the parts must
    // cover every row once, with the ranges' ends in the trigram table's own lookup.
    use partner_portal::index::query::{Filter, Matcher, facets_part_sql, facets_sql};
    let app = spawn_app().await;
    app.login().await;
    app.wait_for_index(70).await;
    let generation = app.state.index.state(70).await.unwrap().generation;
    let parts = thirds(&app, generation).await;
    for term in ["bakery", "e.c", "studio", "zzz-none"] {
        let f = Filter {
            search: Some(term.into()),
            ..Filter::default()
        };
        let whole = summed(&app, &[facets_sql(70, generation, &f, Matcher::Trigram)]).await;
        let statements: Vec<_> = parts
            .iter()
            .map(|part| facets_part_sql(70, generation, &f, Matcher::Trigram, *part))
            .collect();
        for sql in &statements {
            assert!(
                sql.text
                    .contains(" MATCH $1 AND rowid > $2 AND rowid <= $3)"),
                "{}",
                sql.text
            );
        }
        assert_eq!(summed(&app, &statements).await, whole, "{term}");
    }
}

#[tokio::test]
async fn on_sqlite_a_searchs_counts_from_the_facets_table_equal_the_copys() {
    use partner_portal::db::Sql;
    use partner_portal::index::copies::facets_table;
    use partner_portal::index::query::{Filter, Matcher, facets_rowids_sql, facets_sql};
    let app = spawn_app().await;
    app.login().await;
    app.wait_for_index(70).await;
    let generation = app.state.index.state(70).await.unwrap().generation;
    let mut exists =
        Sql::new("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ");
    exists.bind(partner_portal::db::Bind::Text(facets_table(70, generation)));
    assert_eq!(
        app.state.db.fetch_ints(&exists, 1).await.unwrap(),
        [1],
        "the copy has no facets table"
    );
    let thirds = thirds(&app, generation).await;
    // Terms the trigram table lists, in three row id ranges as a large copy counts them, and
    // terms too short for it, over the whole table.
    let listed = ["bakery", "e.c", "studio", "zzz-none"];
    for term in listed.into_iter().chain(["ba", "%", "_", "'", "\\"]) {
        let f = Filter {
            search: Some(term.into()),
            ..Filter::default()
        };
        let whole = summed(&app, &[facets_sql(70, generation, &f, Matcher::Trigram)]).await;
        assert!(
            !whole.is_empty() || !["bakery", "ba"].contains(&term),
            "{term}: no matches"
        );
        let got = app.state.index.facets(70, generation, &f).await.unwrap();
        assert_eq!(got.products, whole, "{term}");
        let parts = if listed.contains(&term) {
            thirds.clone()
        } else {
            vec![None]
        };
        let statements: Vec<_> = parts
            .into_iter()
            .map(|part| facets_rowids_sql(70, generation, part, term))
            .collect();
        assert_eq!(summed(&app, &statements).await, whole, "{term}: in parts");
    }
}

#[tokio::test]
async fn a_search_on_sqlite_reads_the_trigram_index_and_finds_what_like_finds() {
    use partner_portal::index::query::{Filter, page_sql};
    let app = spawn_app().await;
    app.login().await;
    app.wait_for_index(70).await;
    let generation = app.state.index.state(70).await.unwrap().generation;
    let f = Filter {
        search: Some("Bakery".into()),
        ..Filter::default()
    };
    let sql = page_sql(
        70,
        generation,
        &f,
        1,
        20,
        partner_portal::index::query::Matcher::Trigram,
    );
    let t = partner_portal::index::copies::table(70, generation);
    let text = query_plan(&app, sql).await.join(" | ");
    assert!(
        text.contains("VIRTUAL TABLE INDEX") && text.contains(&format!("{t}_search")),
        "the search does not use the trigram index: {text}"
    );
    // Its counts read the listed rows by rowid, not a walk of some index over the whole key.
    let sql = partner_portal::index::query::facets_sql(
        70,
        generation,
        &f,
        partner_portal::index::query::Matcher::Trigram,
    );
    let text = query_plan(&app, sql).await.join(" | ");
    assert!(
        text.contains("INTEGER PRIMARY KEY (rowid=?)") && !text.contains(&format!("INDEX {t}_")),
        "a search's counts do not read the rows the trigram index lists: {text}"
    );
    // Same rows as a plain scan, for terms the index serves and terms it cannot.
    for term in [
        "bakery",
        "Bak",
        "ba",
        "e",
        ".example",
        "zzz-none",
        "smith & sons",
        "café",
        "50%",
        "o\"b",
        "\"><img",
        "a_b",
    ] {
        let f = Filter {
            search: Some(term.into()),
            ..Filter::default()
        };
        let by_index = app.state.index.facets(70, generation, &f).await.unwrap();
        let mut scan =
            partner_portal::db::Sql::new(&format!("SELECT COUNT(*) FROM {t} WHERE instr(search, "));
        scan.bind(partner_portal::db::Bind::Text(term.to_lowercase()))
            .push(") > 0");
        let n = app.state.db.fetch_ints(&scan, 1).await.unwrap()[0];
        assert_eq!(by_index.counts.all, n, "{term}");
    }
    // The trigram table holds the postings of the copy's rows, each once.
    let (live,): (i64,) = sqlx::query_as(&format!(
        "SELECT COUNT(*) FROM {t}_search WHERE search LIKE '%bakery%'"
    ))
    .fetch_one(
        &sqlx::SqlitePool::connect(&format!("sqlite://{}", app.db_path.display()))
            .await
            .unwrap(),
    )
    .await
    .unwrap();
    let (rows,): (i64,) = sqlx::query_as(&format!(
        "SELECT COUNT(*) FROM {t} WHERE search LIKE '%bakery%'"
    ))
    .fetch_one(
        &sqlx::SqlitePool::connect(&format!("sqlite://{}", app.db_path.display()))
            .await
            .unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(live, rows);
}

#[tokio::test]
async fn on_sqlite_the_counts_every_view_needs_read_one_narrow_index() {
    use partner_portal::index::query::{
        Filter, Matcher, Status, active_at_sql, facets_sql, period_stats_sql,
    };
    let app = spawn_app().await;
    app.login().await;
    app.wait_for_index(70).await;
    let generation = app.state.index.state(70).await.unwrap().generation;
    let active = Filter {
        status: Status::Active,
        ..Filter::default()
    };
    // The plain list's tab and product counts, the overview's active-at and per-period counts:
    // each a scan of the whole key, which reads the narrow index of migration 0009 instead of
    // every row. A migration that drops or narrows it fails here.
    for (what, sql) in [
        (
            "facets",
            facets_sql(70, generation, &Filter::default(), Matcher::Trigram),
        ),
        (
            "active facets",
            facets_sql(70, generation, &active, Matcher::Trigram),
        ),
        ("active at", active_at_sql(70, generation, 1_700_000_000)),
        (
            "periods",
            period_stats_sql(70, generation, &[(1_600_000_000, 1_700_000_000)]),
        ),
    ] {
        let text = query_plan(&app, sql).await.join(" | ");
        let t = partner_portal::index::copies::table(70, generation);
        assert!(
            text.contains(&format!("COVERING INDEX {t}_counts")),
            "{what} reads the rows: {text}"
        );
    }
    // A product sort with a plan and a date filter tests them in its index, not row by row
    // (the plans it wants sit together in product order, so a walk can pass most of the key).
    let f = Filter {
        plans: vec![2005, 2000],
        activated_from: Some(1_700_000_000),
        sort: partner_portal::index::query::SortBy::Product,
        ..Filter::default()
    };
    let sql = partner_portal::index::query::page_sql(70, generation, &f, 30, 20, Matcher::Trigram);
    let text = query_plan(&app, sql).await.join(" | ");
    assert!(
        text.contains(&format!(
            "COVERING INDEX {}_sort_product",
            partner_portal::index::copies::table(70, generation)
        )),
        "a filtered product sort reads each row: {text}"
    );
}

#[tokio::test]
async fn the_index_pools_sqlite_connections_keep_a_1_mib_page_cache() {
    // Eight connections at SQLite's 2 MiB held 16 MiB of copies of the same pages under load.
    let app = spawn_app().await;
    let (pages,): (i64,) = app
        .state
        .db
        .fetch_optional(&partner_portal::db::Sql::new("PRAGMA cache_size"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(pages, -1024, "KiB, negative as SQLite writes a size");
}

#[tokio::test]
async fn sqlites_connections_keep_page_caches_of_their_own() {
    // Built with SQLITE_ENABLE_MEMORY_MANAGEMENT (libsqlite3-sys's default), SQLite puts every
    // connection's page cache behind one global mutex, and two connections reading at once take
    // turns at every page. `.cargo/config.toml` builds it without that option.
    let app = spawn_app().await;
    let options: Vec<(String,)> = app
        .state
        .db
        .fetch_all(&partner_portal::db::Sql::new("PRAGMA compile_options"))
        .await
        .unwrap();
    assert!(options.iter().any(|(o,)| o.starts_with("THREADSAFE=1")));
    assert!(
        !options.iter().any(|(o,)| o == "ENABLE_MEMORY_MANAGEMENT"),
        "SQLite was built with ENABLE_MEMORY_MANAGEMENT (is LIBSQLITE3_FLAGS in .cargo/config.toml?): {options:?}"
    );
}

/// Statements sent to the database so far, through both of the portal's pools.
fn statements(app: &TestApp) -> u64 {
    app.state.db.health().statements() + app.state.sessions.db().health().statements()
}

/// The statements each warm view of `paths` sends, in order: the fewest and the most any
/// view sent, over up to 20 views (3 once one sent none). `db::writes` counts every write in
/// the process, so another test's app writing between two views makes this one read its
/// session again; on a busy machine the first few views can all see such a write.
async fn statements_per_view(app: &TestApp, paths: &[&str]) -> Vec<(String, u64, u64)> {
    let mut counts = Vec::new();
    for path in paths {
        let (fewest, most) =
            statements_per_request(app, path, || async { app.get(path).await.status() }).await;
        counts.push(((*path).to_owned(), fewest, most));
    }
    counts
}

/// The fewest and the most statements one warm request made by `send` sends (see
/// [`statements_per_view`]).
async fn statements_per_request<F, Fut>(app: &TestApp, what: &str, send: F) -> (u64, u64)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = StatusCode>,
{
    // The first request fills whatever its rows are kept in, and may start work in the
    // background (a search's list of matches), which is let finish.
    assert_eq!(send().await, StatusCode::OK, "{what}");
    settle_statements(app).await;
    let (mut fewest, mut most) = (u64::MAX, 0);
    for view in 0..20 {
        if view >= 3 && fewest == 0 {
            break;
        }
        let before = statements(app);
        assert_eq!(send().await, StatusCode::OK, "{what}");
        let n = statements(app) - before;
        (fewest, most) = (fewest.min(n), most.max(n));
    }
    (fewest, most)
}

/// Waits until the portal's background work (a search's list of matches, which a slow machine
/// may still be making) sends no statement for 300 ms, for at most 15 s.
async fn settle_statements(app: &TestApp) {
    for _ in 0..50 {
        let before = statements(app);
        tokio::time::sleep(Duration::from_millis(300)).await;
        if statements(app) == before {
            return;
        }
    }
}

/// The pages a person opens all day, warm: one statement (the session, carrying the versions
/// of what the portal keeps in memory). `alone`: on SQLite, with no other process on the file,
/// none at all unless something was written since the last one. The counter also counts the
/// portal's own background work, which runs now and then: hence the fewest of three views.
async fn warm_pages_send_one_statement(app: &TestApp, alone: bool) {
    app.login().await;
    app.wait_for_index(70).await;
    for path in ["/", "/activations", "/invoices"] {
        assert_eq!(app.get(path).await.status(), StatusCode::OK);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let counts = statements_per_view(
        app,
        &[
            "/",
            "/activations",
            "/activations?page=2",
            "/activations?sort=site&dir=asc",
            "/activations?status=cancelled",
            "/activations?q=baker",
            "/invoices",
        ],
    )
    .await;
    for (path, fewest, _) in &counts {
        assert!(
            *fewest <= 1,
            "{path}: {fewest} statements in a warm view ({counts:?})"
        );
        if alone {
            assert_eq!(
                *fewest, 0,
                "{path}: no view without a statement ({counts:?})"
            );
        }
    }
}

#[tokio::test]
async fn a_warm_page_sends_one_statement_on_sqlite_and_none_when_alone() {
    let app = spawn_with(Options {
        access_recheck: Duration::from_secs(3600),
        ..Options::default()
    })
    .await;
    warm_pages_send_one_statement(&app, true).await;
}

/// An app on a fresh PostgreSQL database whose access re-check waits an hour (so a warm view
/// calls nothing), and the database's URL; none when no PostgreSQL is configured.
async fn warm_app_on_postgres() -> Option<(TestApp, String)> {
    let db = crate::postgres::fresh_database().await?;
    let app = spawn_with(Options {
        access_recheck: Duration::from_secs(3600),
        database_url: Some(db.clone()),
        ..Options::default()
    })
    .await;
    Some((app, db))
}

#[tokio::test]
async fn a_warm_page_sends_one_statement_on_postgres() {
    let Some((app, _)) = warm_app_on_postgres().await else {
        return;
    };
    warm_pages_send_one_statement(&app, false).await;
}

/// Session reads that wait together go to PostgreSQL as one statement, and each request still
/// gets its own session. The sessions table is locked while 64 requests from 4 sessions
/// arrive, so the first read waits at the lock and the rest queue behind it; once the lock goes,
/// they are read in one more statement, not 63. Each page carries its own session's CSRF token.
#[tokio::test]
async fn session_reads_that_wait_together_share_one_statement() {
    let Some((app, db)) = warm_app_on_postgres().await else {
        return;
    };
    app.wait_for_index(70).await;
    let mut people = Vec::new();
    for _ in 0..4 {
        let client = new_client();
        let r = app.login_with(&client, 1001, None).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        let page = app
            .get_with(&client, "/invoices")
            .await
            .text()
            .await
            .unwrap();
        let csrf = attrs(&html(&page), "input[name=csrf]", "value");
        assert_eq!(csrf.len(), 1, "{page}");
        people.push((client, csrf[0].clone()));
    }
    settle_statements(&app).await;

    // The sessions' own pool: the portal's background work (the notifier, the copy schedule)
    // goes through the other one.
    let session_statements = || app.state.sessions.db().health().statements();
    let before = session_statements();
    let views = futures_util::future::join_all((0..64).map(|i| {
        let (client, csrf) = &people[i % 4];
        let app = &app;
        async move {
            let r = app.get_with(client, "/invoices").await;
            let status = r.status();
            let page = r.text().await.unwrap();
            assert_eq!(status, StatusCode::OK, "{page}");
            (
                attrs(&html(&page), "input[name=csrf]", "value"),
                csrf.clone(),
            )
        }
    }));
    let views = behind_a_lock(&db, "sessions", views).await;
    let sent = session_statements() - before;
    for (got, own) in &views {
        assert_eq!(
            got,
            &vec![own.clone()],
            "a page carries another session's token"
        );
    }
    assert!(
        sent <= 4,
        "{sent} session reads for 64 page views that waited together (one per view without batching)"
    );
}

/// Runs `reads` while PostgreSQL table `table` is locked: the first read waits at the lock (a
/// statement joining `table`, seen in `pg_stat_activity`), the others arrive meanwhile (a
/// second is plenty: they are already sent), then the lock goes.
async fn behind_a_lock<T>(db: &str, table: &str, reads: impl std::future::Future<Output = T>) -> T {
    use sqlx::Connection as _;
    let mut lock = sqlx::PgConnection::connect(db).await.unwrap();
    sqlx::query("BEGIN").execute(&mut lock).await.unwrap();
    sqlx::query(&format!("LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE"))
        .execute(&mut lock)
        .await
        .unwrap();
    let release = async {
        let mut watch = sqlx::PgConnection::connect(db).await.unwrap();
        for _ in 0..200 {
            let (waiting,): (i64,) = sqlx::query_as(
                "SELECT count(*) FROM pg_stat_activity \
                 WHERE wait_event_type = 'Lock' AND query LIKE $1",
            )
            .bind(format!("%JOIN {table} %"))
            .fetch_one(&mut watch)
            .await
            .unwrap();
            if waiting > 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        sqlx::query("ROLLBACK").execute(&mut lock).await.unwrap();
    };
    tokio::join!(reads, release).0
}

/// Token reads that wait together go to PostgreSQL as one statement, and each request still
/// gets its own token: 64 requests with 4 tokens of different scopes and one unknown token
/// arrive while `api_tokens` is locked. Each answer names its own token's scopes, the unknown
/// token is refused, and the reads go in a few statements, not 64.
#[tokio::test]
async fn token_reads_that_wait_together_share_one_statement() {
    let Some((app, db)) = warm_app_on_postgres().await else {
        return;
    };
    let csrf = crate::team::connect(&app).await;
    app.wait_for_index(70).await;
    let kinds: [&[&str]; 4] = [
        &[],
        &["invoices:read"],
        &["audit:read"],
        &["invoices:read", "audit:read"],
    ];
    let mut tokens = Vec::new();
    for (i, scopes) in kinds.iter().enumerate() {
        let name = format!("batch {i}");
        let token = crate::tokens::make_token(&app.addr, &app.client, &csrf, &name, scopes).await;
        let r = crate::tokens::with_token(&app, &token, "/api/v1/keys").await;
        assert_eq!(r.status(), StatusCode::OK);
        let keys: serde_json::Value = r.json().await.unwrap();
        tokens.push((token, Some(keys["scopes"].clone())));
    }
    let unknown = partner_portal::tokens::secret::generate();
    tokens.push((unknown.expose().clone(), None));
    settle_statements(&app).await;

    let before = app.state.db.health().statements();
    let reads = futures_util::future::join_all((0..64).map(|i| {
        let (token, scopes) = &tokens[i % tokens.len()];
        let app = &app;
        async move {
            let r = crate::tokens::with_token(app, token, "/api/v1/keys").await;
            let status = r.status();
            let body: serde_json::Value = r.json().await.unwrap();
            match scopes {
                Some(scopes) => {
                    assert_eq!(status, StatusCode::OK, "{body}");
                    assert_eq!(&body["scopes"], scopes, "an answer for another token");
                }
                None => assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}"),
            }
        }
    }));
    behind_a_lock(&db, "api_tokens", reads).await;
    let sent = app.state.db.health().statements() - before;
    // The portal's background work (the notifier, the copy schedule) shares this pool.
    assert!(
        sent <= 8,
        "{sent} statements for 64 token reads that waited together (one per read without batching)"
    );
}

/// A script's warm request with a portal API token, on SQLite alone on its file, sends no
/// statement: the token comes from memory as a session does. (That a `token` command run
/// beside the portal is still seen at the next request is
/// `tokens::the_running_portal_sees_every_write_of_the_token_command`.)
#[tokio::test]
async fn a_warm_token_request_sends_no_statement_when_alone() {
    let app = spawn_with(Options {
        access_recheck: Duration::from_secs(3600),
        ..Options::default()
    })
    .await;
    warm_token_requests_send(&app, 0).await;
}

/// A script's warm request with a portal API token, on PostgreSQL, sends one statement: its
/// token's row, which carries the state versions, so its membership and connection come from
/// memory.
#[tokio::test]
async fn a_warm_token_request_sends_one_statement_on_postgres() {
    let Some((app, _)) = warm_app_on_postgres().await else {
        return;
    };
    warm_token_requests_send(&app, 1).await;
}

/// The fewest statements a warm token request to the keys and to a JSON list sends is
/// `statements`.
async fn warm_token_requests_send(app: &TestApp, statements: u64) {
    let csrf = crate::team::connect(app).await;
    app.wait_for_index(70).await;
    let token = crate::tokens::make_token(&app.addr, &app.client, &csrf, "warm", &[]).await;
    for path in ["/api/v1/keys", "/api/v1/keys/70/activations?limit=20"] {
        let (fewest, most) = statements_per_request(app, path, || async {
            crate::tokens::with_token(app, &token, path).await.status()
        })
        .await;
        assert_eq!(
            fewest, statements,
            "{path}: the fewest statements a warm request sent (at most {most})"
        );
    }
}

/// An activation's page does not wait on a WordPress.com that hangs for its invoices panel:
/// it answers after 1.5 s saying so, and the call, left to finish, fills the panel of a later
/// view.
#[tokio::test]
async fn an_activation_page_does_not_wait_on_a_hanging_invoice_list() {
    let app = spawn_app().await;
    app.login().await;
    app.wait_for_index(70).await;
    app.control(
        "latency",
        serde_json::json!({"path_prefix": "/wpcom/v2/jetpack-partners/7/key/70/stripe/invoices", "ms": 4000}),
    )
    .await;
    let r = app.get("/activations/100000?key=70").await;
    assert_eq!(r.status(), StatusCode::OK);
    let body = r.text().await.unwrap();
    assert!(body.contains("did not answer in time"), "{body}");
    tokio::time::sleep(Duration::from_secs(4)).await;
    let body = app
        .get("/activations/100000?key=70")
        .await
        .text()
        .await
        .unwrap();
    assert!(!body.contains("did not answer in time"), "{body}");
}

/// A page does not wait on a WordPress.com that hangs for the periodic re-check of the
/// session's keys: the re-check gives up after 1.5 s and the last known keys stand, as when it
/// fails. The call alone would hold the page for its 8 s timeout; the test's client gives up
/// at 7.5 s, five times the bound.
#[tokio::test]
async fn a_page_does_not_wait_on_a_hanging_access_recheck() {
    let app = spawn_with(Options {
        access_recheck: Duration::ZERO,
        ..Options::default()
    })
    .await;
    app.login().await;
    app.wait_for_index(70).await;
    app.control(
        "latency",
        serde_json::json!({"path_prefix": "/wpcom/v2/jetpack-partners", "ms": 60_000}),
    )
    .await;
    let r = app
        .client
        .get(app.url("/activations?key=70"))
        .timeout(Duration::from_millis(7_500))
        .send()
        .await
        .expect("the page answers before the call's own timeout");
    assert_eq!(r.status(), StatusCode::OK);
    let body = r.text().await.unwrap();
    assert!(
        body.contains("id=\"activations\""),
        "the list is shown: {body}"
    );
}
