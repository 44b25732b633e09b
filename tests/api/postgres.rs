//! The same flows on a real PostgreSQL server: sessions, the index, reports, exports, and two
//! replicas sharing one database.
//!
//! Needs `PORTAL_TEST_POSTGRES_URL` (a role that may create databases); `.ci/run` installs and
//! starts PostgreSQL and sets it. Without it these tests say so loudly and pass, except under
//! `CI=true`, where a missing server is a failure.

use std::time::Duration;

use reqwest::StatusCode;
use sqlx::Connection as _;

use crate::helpers::*;

/// A fresh, empty database on the test server, or `None` (after a loud warning) without one.
pub async fn fresh_database() -> Option<String> {
    fresh_database_with("").await
}

/// [`fresh_database`], created `WITH` these options (a locale, say).
pub async fn fresh_database_with(options: &str) -> Option<String> {
    let Ok(admin) = std::env::var("PORTAL_TEST_POSTGRES_URL") else {
        assert!(
            std::env::var("CI").is_err(),
            "PORTAL_TEST_POSTGRES_URL is unset under CI: .ci/run must start PostgreSQL"
        );
        crate::helpers::skipped(
            "a PostgreSQL test: set PORTAL_TEST_POSTGRES_URL to run it (see .ci/run)",
        );
        return None;
    };
    let name = format!(
        "pp_test_{}",
        partner_portal::secret::random_token(9)
            .to_lowercase()
            .replace(['-', '_'], "x")
    );
    let mut conn = sqlx::PgConnection::connect(&admin)
        .await
        .expect("connect to the test PostgreSQL");
    sqlx::query(&format!("CREATE DATABASE {name} {options}"))
        .execute(&mut conn)
        .await
        .expect("create a test database");
    let mut url = url::Url::parse(&admin).unwrap();
    url.set_path(&name);
    Some(url.to_string())
}

#[tokio::test]
async fn postgres_serves_login_sessions_index_reports_and_exports() {
    let Some(db) = fresh_database().await else {
        return;
    };
    let app = spawn_with(Options {
        database_url: Some(db),
        index_page_size: 25,
        ..Options::default()
    })
    .await;
    app.login().await;
    assert_eq!(app.live_sessions().await, 1);
    let body = app.wait_for_index(70).await;
    assert_eq!(texts(&html(&body), "#activations tbody tr").len(), 20);
    for path in [
        "/",
        "/?period=year&scale=day",
        "/activations?q=bakery&sort=product&dir=asc",
        "/activations?status=cancelled&sort=cancelled&dir=asc",
        "/activations?preset=this_year&plan=2005",
        "/activations/100005?key=70",
        "/invoices",
    ] {
        assert_eq!(app.get(path).await.status(), StatusCode::OK, "{path}");
    }
    let overview = html(&app.get("/").await.text().await.unwrap());
    assert_eq!(texts(&overview, "#index-cards .card").len(), 5);
    // The overview's periods and active plans from the copy's days, as a scan counts them.
    let generation = app.state.index.state(70).await.unwrap().generation;
    let day = 86_400;
    let now = chrono::Utc::now().timestamp() / day * day;
    let spans: Vec<(i64, i64)> = (0..30)
        .map(|i| (now - (i + 30) * day, now - i * day))
        .collect();
    assert_eq!(
        app.state
            .index
            .period_stats(70, generation, &spans)
            .await
            .unwrap(),
        app.state
            .index
            .scanned_period_stats(70, generation, &spans)
            .await
            .unwrap()
    );
    for at in [now - 1, now, now + 4_000, now - 90 * day + 17] {
        assert_eq!(
            app.state.index.active_at(70, generation, at).await.unwrap(),
            app.state
                .index
                .scanned_active_at(70, generation, at)
                .await
                .unwrap(),
            "active at {at}"
        );
    }
    let invoice = html(
        &app.get("/invoices/in_1Fake0008K70?key=70")
            .await
            .text()
            .await
            .unwrap(),
    );
    assert_eq!(
        texts(&invoice, "#mismatch-count"),
        vec!["1 product differs."]
    );
    let csv = app
        .get("/activations.csv?key=70")
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(csv.lines().count(), 151);
    let csrf = app.csrf().await;
    app.client
        .post(app.url("/logout"))
        .form(&[("csrf", csrf)])
        .send()
        .await
        .unwrap();
    assert_eq!(app.live_sessions().await, 0);
}

#[tokio::test]
async fn two_replicas_on_postgres_share_sessions_and_sync_each_key_once() {
    let Some(db) = fresh_database().await else {
        return;
    };
    let app = spawn_with(Options {
        database_url: Some(db),
        // 8 pages of 19 (not 20: the size of the list page WordPress.com serves meanwhile).
        index_page_size: 19,
        ..Options::default()
    })
    .await;
    let (replica, _) = app.spawn_replica().await;
    app.login().await;
    app.control("latency", serde_json::json!({"path_prefix": "/wpcom/v2/jetpack-partners/7/key/70/activations", "ms": 150})).await;
    app.open_activations_on_both(&replica, 10).await;
    app.wait_for_index(70).await;
    assert_eq!(
        app.count("GET /wpcom/v2/jetpack-partners/7/key/70/activations?per_page=19")
            .await,
        8,
        "one sync across both replicas"
    );
    // Logged in through one, logged out through the other.
    let csrf = app.csrf().await;
    let r = app
        .client
        .post(format!("{replica}/logout"))
        .form(&[("csrf", csrf)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(
        app.get("/").await.status(),
        StatusCode::SEE_OTHER,
        "the session is gone on the first replica too"
    );
}

#[tokio::test]
async fn two_replicas_starting_at_the_same_instant_start_one_sync_on_postgres() {
    let Some(db) = fresh_database().await else {
        return;
    };
    let app = spawn_with(Options {
        database_url: Some(db),
        ..Options::default()
    })
    .await;
    crate::index::race_replicas_for_the_lease(&app, 30).await;
}

/// `text` (the statement `sql` or a wrapper of it) with `sql`'s binds, for a connection of the
/// test's own.
fn bound<'q, O>(
    text: &'q str,
    sql: &'q partner_portal::db::Sql,
) -> sqlx::query::QueryAs<'q, sqlx::Postgres, O, sqlx::postgres::PgArguments>
where
    O: for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow>,
{
    use partner_portal::db::Bind;
    let mut q = sqlx::query_as::<_, O>(text);
    for b in &sql.binds {
        q = match b {
            Bind::Int(n) => q.bind(*n),
            Bind::Text(t) => q.bind(t.clone()),
            other => panic!("unexpected bind {other:?}"),
        };
    }
    q
}

/// A portal on `db`, logged in, once key 70's copy of `activations` rows is made: the app, the
/// copy's generation and a connection of the test's own.
async fn copied(db: &str, activations: usize) -> (TestApp, i64, sqlx::PgConnection) {
    let app = spawn_with(Options {
        database_url: Some(db.to_string()),
        sandbox: partner_portal::sandbox::SandboxOptions {
            activations,
            ..Options::default().sandbox
        },
        ..Options::default()
    })
    .await;
    app.login().await;
    app.wait_for_index(70).await;
    let generation = app.state.index.state(70).await.unwrap().generation;
    let conn = sqlx::PgConnection::connect(db).await.unwrap();
    (app, generation, conn)
}

/// PostgreSQL's `EXPLAIN` of `sql` on `conn`, one line per step.
async fn explain(conn: &mut sqlx::PgConnection, sql: &partner_portal::db::Sql) -> String {
    let text = format!("EXPLAIN {}", sql.text);
    let plan: Vec<String> = bound::<(String,)>(&text, sql)
        .fetch_all(conn)
        .await
        .unwrap()
        .into_iter()
        .map(|(line,)| line)
        .collect();
    plan.join("\n")
}

#[tokio::test]
async fn on_postgres_every_page_of_a_product_sort_is_the_page_the_walk_gives() {
    use partner_portal::index::query::{Filter, Matcher, ProductStart, SortBy, page_sql_at};
    let Some(db) = fresh_database().await else {
        return;
    };
    let app = spawn_with(Options {
        database_url: Some(db.clone()),
        ..crate::product_sort::sizes()
    })
    .await;
    app.login().await;
    app.wait_for_index(70).await;
    crate::product_sort::every_product_page_is_the_walks_page(&app.state).await;
    // The page seeks to its block through a product sort index, in its order.
    let generation = app.state.index.state(70).await.unwrap().generation;
    let mut conn = sqlx::PgConnection::connect(&db).await.unwrap();
    sqlx::query("SET enable_sort = off")
        .execute(&mut conn)
        .await
        .unwrap();
    for desc in [false, true] {
        let f = Filter {
            sort: SortBy::Product,
            desc,
            plans: vec![2000, 2005],
            ..Filter::default()
        };
        let start = ProductStart {
            from: "jetpack".into(),
            skipped: 40,
        };
        let sql = page_sql_at(
            partner_portal::db::Dialect::Postgres,
            70,
            generation,
            &f,
            Some(&start),
            5,
            20,
            Matcher::Like,
        );
        let plan = explain(&mut conn, &sql).await;
        let seek = if desc {
            "product_sort <="
        } else {
            "product_sort >="
        };
        assert!(
            !plan.contains("Sort")
                && plan.contains(&format!(
                    "{}_sort_product",
                    partner_portal::index::copies::table(70, generation)
                ))
                && plan.contains(seek),
            "desc={desc}:\n{plan}"
        );
    }
}

#[tokio::test]
async fn on_postgres_with_a_locale_product_sort_compares_bytes_and_pages_stay_the_walks() {
    use partner_portal::db::{Bind, Sql};
    // ICU's English puts symbols before letters: "~product …" (a product this release does not
    // know) would sort first there, and the page's place, found byte by byte, would be wrong.
    let Some(db) = fresh_database_with(
        "TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en' LOCALE 'C.UTF-8'",
    )
    .await
    else {
        return;
    };
    let app = spawn_with(Options {
        database_url: Some(db),
        ..crate::product_sort::sizes()
    })
    .await;
    app.login().await;
    app.wait_for_index(70).await;
    let generation = app.state.index.state(70).await.unwrap().generation;
    // Some rows move to a product this release does not know, as after WordPress.com adds one.
    let t = partner_portal::index::copies::table(70, generation);
    let mut unknown = Sql::new(&format!(
        "UPDATE {t} SET current_product_id = 2999, product_sort = "
    ));
    unknown
        .bind(Bind::Text(partner_portal::products::sort_key(Some(2999))))
        .push(" WHERE id % 40 = 0");
    assert!(app.state.db.execute(&unknown).await.unwrap() > 10);
    // The copy's narrow table for a search's counts, as a copy of these rows would make it.
    let facets = partner_portal::index::copies::facets_table(70, generation);
    app.state
        .db
        .execute(&Sql::new(&format!("DROP TABLE {facets}")))
        .await
        .unwrap();
    let (fill, indexes) = partner_portal::index::copies::facets(70, generation, 2_000, 1);
    for sql in fill.iter().chain(&indexes) {
        app.state.db.execute(sql).await.unwrap();
    }
    let last = Sql::new(&format!(
        "SELECT product_sort FROM {t} ORDER BY product_sort DESC LIMIT 1"
    ));
    let (last,): (String,) = app.state.db.fetch_optional(&last).await.unwrap().unwrap();
    assert!(last.starts_with("~product"), "sorts last: {last}");
    // A replica, whose caches know nothing of the copy before the move.
    let (_, replica) = app.spawn_replica().await;
    crate::product_sort::every_product_page_is_the_walks_page(&replica).await;
}

#[tokio::test]
async fn on_postgres_a_page_statement_keeps_its_plan_instead_of_planning_every_run() {
    use partner_portal::index::query::{Filter, Matcher, SortBy, page_sql};
    let Some(db) = fresh_database().await else {
        return;
    };
    // Enough rows that a tenth of the key (PostgreSQL's guess for an unknown LIMIT) prices a
    // generic plan out.
    let (_app, generation, mut conn) = copied(&db, 20_000).await;
    for sort in [SortBy::Activated, SortBy::Site, SortBy::Product] {
        let f = Filter {
            sort,
            ..Filter::default()
        };
        let sql = page_sql(70, generation, &f, 3, 20, Matcher::Like);
        // sqlx prepares the statement once per connection and runs it again.
        for _ in 0..10 {
            bound::<partner_portal::index::query::Row>(&sql.text, &sql)
                .fetch_all(&mut conn)
                .await
                .unwrap();
        }
        let (generic, custom): (i64, i64) = sqlx::query_as(
            "SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE statement = $1",
        )
        .bind(&sql.text)
        .fetch_one(&mut conn)
        .await
        .unwrap();
        assert!(
            generic >= 5,
            "{sort:?}: planned afresh {custom} times of 10, the cached plan used {generic} times"
        );
    }
}

#[tokio::test]
async fn on_postgres_a_copy_with_other_product_names_is_walked_from_the_start() {
    let Some(db) = fresh_database().await else {
        return;
    };
    let app = spawn_with(Options {
        database_url: Some(db),
        ..crate::product_sort::sizes()
    })
    .await;
    app.login().await;
    app.wait_for_index(70).await;
    crate::product_sort::a_copy_with_other_product_names_is_walked(&app.state).await;
}

#[tokio::test]
async fn on_postgres_every_sort_of_the_activations_list_is_served_by_an_index() {
    use partner_portal::index::query::{Filter, SortBy, page_sql};
    let Some(db) = fresh_database().await else {
        return;
    };
    let app = spawn_with(Options {
        database_url: Some(db.clone()),
        ..Options::default()
    })
    .await;
    app.login().await;
    app.wait_for_index(70).await;
    let generation = app.state.index.state(70).await.unwrap().generation;
    // With sorting priced out, a plan still sorts only when no index yields the order: a
    // migration that loses a sort index fails here, whatever the table's size.
    let mut conn = sqlx::PgConnection::connect(&db).await.unwrap();
    sqlx::query("SET enable_sort = off")
        .execute(&mut conn)
        .await
        .unwrap();
    for sort in SortBy::ALL {
        for desc in [false, true] {
            let f = Filter {
                sort,
                desc,
                ..Filter::default()
            };
            let sql = page_sql(
                70,
                generation,
                &f,
                40,
                20,
                partner_portal::index::query::Matcher::Like,
            );
            let plan = explain(&mut conn, &sql).await;
            assert!(
                !plan.contains("Sort") && plan.contains("Index"),
                "{sort:?} desc={desc} sorts without an index:\n{plan}"
            );
        }
    }
}

#[tokio::test]
async fn on_postgres_a_search_is_served_by_the_trigram_index() {
    let Some(db) = fresh_database().await else {
        return;
    };
    // Enough rows that an index beats a scan on its merits.
    let (app, generation, mut conn) = copied(&db, 20_000).await;
    let t = partner_portal::index::copies::table(70, generation);
    let (installed,): (bool,) = sqlx::query_as(&format!(
        "SELECT EXISTS (SELECT 1 FROM pg_indexes WHERE indexname = '{t}_search_trgm')"
    ))
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert!(
        installed,
        "the copy has no pg_trgm index (is pg_trgm installed?)"
    );
    // A small test table would be scanned anyway; with scans priced out the planner must still
    // find an index that answers a substring search, and that index is the trigram one.
    sqlx::query("SET enable_seqscan = off")
        .execute(&mut conn)
        .await
        .unwrap();
    let plan: Vec<(String,)> = sqlx::query_as(&format!(
        "EXPLAIN SELECT COUNT(*) FROM {t} WHERE search LIKE '%bakery%'"
    ))
    .fetch_all(&mut conn)
    .await
    .unwrap();
    let plan: Vec<String> = plan.into_iter().map(|(l,)| l).collect();
    let plan = plan.join("\n");
    assert!(plan.contains(&format!("{t}_search_trgm")), "{plan}");
    assert_eq!(
        app.get("/activations?q=bakery").await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn right_after_a_copy_postgres_has_statistics_and_plans_a_page_with_its_indexes() {
    use partner_portal::index::query::{Filter, Matcher, page_sql};
    let Some(db) = fresh_database().await else {
        return;
    };
    let app = spawn_with(Options {
        database_url: Some(db.clone()),
        sandbox: partner_portal::sandbox::SandboxOptions {
            activations: 10_000,
            ..partner_portal::sandbox::SandboxOptions::default()
        },
        ..Options::default()
    })
    .await;
    app.login().await;
    app.wait_for_index(70).await;
    let generation = app.state.index.state(70).await.unwrap().generation;
    let mut conn = sqlx::PgConnection::connect(&db).await.unwrap();
    // Autovacuum analyses a table up to a minute after a bulk load; until then the planner
    // guessed that a key held a handful of rows and ran each page as a nested loop over the
    // whole key (10 s a page for 10,000 activations, seen in `scripts/bench`).
    let t = partner_portal::index::copies::table(70, generation);
    let (tuples, visible): (f32, i32) = sqlx::query_as(&format!(
        "SELECT reltuples, relallvisible FROM pg_class WHERE relname = '{t}'"
    ))
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert!(
        tuples > 0.0,
        "no statistics on activations right after the copy (reltuples {tuples})"
    );
    // And the visibility map marks the new pages, or an index-only scan reads every row's page
    // from the table anyway.
    assert!(
        visible > 0,
        "no page of activations is marked all-visible after the copy"
    );
    // sqlx prepares its statements, and after five runs PostgreSQL may switch a prepared
    // statement to a generic plan (parameters unknown) when that looks no dearer: the plan it
    // settles on must still pick the page's ids first.
    // (A bound value, as a filter's: a statement without any has one plan from the start.)
    let since = Filter {
        activated_from: Some(1),
        ..Filter::default()
    };
    let sql = page_sql(70, generation, &since, 1, 20, Matcher::Like);
    assert!(!sql.binds.is_empty());
    sqlx::query(&format!("PREPARE page_plan AS {}", sql.text))
        .execute(&mut conn)
        .await
        .unwrap();
    let args: Vec<String> = sql
        .binds
        .iter()
        .map(|b| match b {
            partner_portal::db::Bind::Int(n) => n.to_string(),
            other => panic!("unexpected bind {other:?}"),
        })
        .collect();
    let run = format!("EXECUTE page_plan ({})", args.join(", "));
    for _ in 0..6 {
        sqlx::query(&run).execute(&mut conn).await.unwrap();
    }
    let plan: Vec<(String,)> = sqlx::query_as(&format!("EXPLAIN {run}"))
        .fetch_all(&mut conn)
        .await
        .unwrap();
    let plan = plan
        .into_iter()
        .map(|(l,)| l)
        .collect::<Vec<_>>()
        .join("\n");
    // The page's 20 ids first (the Limit), then each row by primary key; the other way round
    // reruns the page's query for every row of the key.
    let limit = plan.find("Limit");
    let by_key = plan.find(&format!("{t}_id"));
    assert!(
        matches!((limit, by_key), (Some(l), Some(k)) if l < k) && !plan.contains("Seq Scan"),
        "the plan PostgreSQL settles on for a page does not pick its 20 ids first:\n{plan}"
    );
}

/// The one integer `sql` selects, on `conn`.
async fn one_int(conn: &mut sqlx::PgConnection, sql: &str) -> i64 {
    let (n,): (i64,) = sqlx::query_as(sql).fetch_one(conn).await.unwrap();
    n
}

#[tokio::test]
async fn on_postgres_a_searchs_counts_come_from_the_narrow_table_in_parts_and_equal_the_copys() {
    use partner_portal::index::copies::{facets, facets_table, table};
    use partner_portal::index::query::{Filter, Matcher, facets_sql, facets_table_sql};
    let Some(db) = fresh_database().await else {
        return;
    };
    let (app, generation, mut conn) = copied(&db, 2_000).await;
    let (t, f) = (table(70, generation), facets_table(70, generation));
    let part_indexes = format!("SELECT COUNT(*) FROM pg_indexes WHERE tablename = '{f}'");
    assert_eq!(
        one_int(&mut conn, &part_indexes).await,
        1,
        "the copy has no facets table"
    );
    // What the copy's own table counts: (product, all, active) by product, and the total.
    let mut expected = Vec::new();
    let terms = [
        "bakery", "studio", "yoga", "ba", "%", "_", "\\", "'", "https", "zzzz",
    ];
    for term in terms {
        let filter = Filter {
            search: Some(term.to_string()),
            ..Filter::default()
        };
        let sql = facets_sql(70, generation, &filter, Matcher::Like);
        let mut rows: Vec<(i64, i64, i64)> =
            bound(&sql.text, &sql).fetch_all(&mut conn).await.unwrap();
        rows.sort_unstable();
        expected.push(rows);
    }
    assert!(
        expected[0].iter().map(|r| r.1).sum::<i64>() > 100,
        "too few bakeries to tell"
    );
    let check = |label: &'static str, upper: bool| {
        let app = &app;
        let expected = &expected;
        async move {
            for (term, rows) in terms.iter().zip(expected) {
                // Another spelling of the same search is another cache entry.
                let search = if upper {
                    term.to_uppercase()
                } else {
                    term.to_string()
                };
                let filter = Filter {
                    search: Some(search),
                    ..Filter::default()
                };
                let got = app
                    .state
                    .index
                    .facets(70, generation, &filter)
                    .await
                    .unwrap();
                assert_eq!(&got.products, rows, "{label}: {term:?}");
                let all: i64 = rows.iter().map(|r| r.1).sum();
                let active: i64 = rows.iter().map(|r| r.2).sum();
                assert_eq!(
                    (got.counts.all, got.counts.active, got.counts.cancelled),
                    (all, active, all - active),
                    "{label}: {term:?}"
                );
            }
        }
    };
    check("one part", false).await;
    // The same table in three parts, as a copy of 200,000 rows or more is made on a 3-core
    // machine.
    let rows = one_int(&mut conn, &format!("SELECT COUNT(*) FROM {t}")).await;
    sqlx::query(&format!("DROP TABLE {f}"))
        .execute(&mut conn)
        .await
        .unwrap();
    let (fill, indexes) = facets(70, generation, rows, 3);
    for sql in fill.iter().chain(&indexes) {
        sqlx::query(&sql.text).execute(&mut conn).await.unwrap();
    }
    sqlx::query(&format!("ANALYZE {f}"))
        .execute(&mut conn)
        .await
        .unwrap();
    assert_eq!(one_int(&mut conn, &part_indexes).await, 3);
    let (smallest, largest): (i64, i64) = sqlx::query_as(&format!(
        "SELECT MIN(n), MAX(n) FROM (SELECT COUNT(*) AS n FROM {f} GROUP BY part) AS parts"
    ))
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert!(largest - smallest <= 1, "{smallest}..{largest} rows a part");
    check("three parts", true).await;
    // Each part is read through its own trigram index.
    sqlx::query("SET enable_seqscan = off")
        .execute(&mut conn)
        .await
        .unwrap();
    let plan = explain(
        &mut conn,
        &facets_table_sql(70, generation, Some(1), "bakery"),
    )
    .await;
    assert!(plan.contains(&format!("{f}_trgm_1")), "{plan}");
}
