//! After a narrowed view's first page, the list of its matches is made once per copy and filter, and
//! every later page reads its rows from it. Every such page must be the page the plain walk
//! gives, on both databases.

use std::time::Duration;

use partner_portal::{
    db::Sql,
    index::query::{Filter, Matcher, Row, SortBy, Status, page_sql},
    state::AppState,
};

use crate::helpers::*;

async fn ids(state: &AppState, sql: &Sql) -> Vec<i64> {
    let rows: Vec<Row> = state.db.fetch_all(sql).await.unwrap();
    rows.into_iter().map(|r| r.id).collect()
}

/// Every page of several narrowed views (searches, plans, dates, the cancelled tab), in every
/// sort both ways, once their matches are listed, equals the walk's page; the whole key is
/// never listed.
pub async fn every_listed_page_is_the_walks_page(state: &AppState) {
    let generation = state.index.state(70).await.unwrap().generation;
    let facets = state
        .index
        .facets(70, generation, &Filter::default())
        .await
        .unwrap();
    let biggest = facets.products_for(Status::All);
    let mut bases: Vec<Filter> = ["bak", "studio", "e", "50%"]
        .into_iter()
        .map(|term| Filter {
            search: Some(term.into()),
            ..Filter::default()
        })
        .collect();
    bases.push(Filter {
        plans: vec![biggest[0].0, biggest[2].0],
        ..Filter::default()
    });
    bases.push(Filter {
        activated_from: Some(1_700_000_000),
        ..Filter::default()
    });
    bases.push(Filter::default());
    let mut listed_pages = 0;
    for base in bases {
        for sort in SortBy::ALL {
            for desc in [false, true] {
                for status in [Status::All, Status::Cancelled] {
                    let f = Filter {
                        sort,
                        desc,
                        status,
                        ..base.clone()
                    };
                    // The first page asks for the list; it is made in the background.
                    state.index.rows(70, generation, &f, 1, 7).await.unwrap();
                    let total = state
                        .index
                        .facets(70, generation, &f)
                        .await
                        .unwrap()
                        .total(status);
                    // Every view but the whole key's is listed.
                    let whole_key = base == Filter::default() && status == Status::All;
                    let expected = !whole_key && total > 0;
                    for _ in 0..200 {
                        if !expected || state.index.matches_listed(70, generation, &f).await {
                            break;
                        }
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                    let listed = state.index.matches_listed(70, generation, &f).await;
                    assert_eq!(listed, expected, "{f:?}: {total} matches");
                    let pages = u32::try_from((total + 6) / 7).unwrap();
                    for page in 1..=pages + 1 {
                        let got: Vec<i64> = state
                            .index
                            .rows(70, generation, &f, page, 7)
                            .await
                            .unwrap()
                            .iter()
                            .map(|r| r.id)
                            .collect();
                        let want =
                            ids(state, &page_sql(70, generation, &f, page, 7, Matcher::Like)).await;
                        assert_eq!(got, want, "page {page} of {f:?}");
                        listed_pages += u32::from(listed);
                    }
                }
            }
        }
    }
    assert!(
        listed_pages > 3000,
        "only {listed_pages} pages came from lists"
    );
}

#[tokio::test]
async fn on_sqlite_a_narrowed_views_pages_from_its_list_of_matches_are_the_walks_pages() {
    let app = spawn_with(crate::product_sort::sizes()).await;
    app.login().await;
    app.wait_for_index(70).await;
    every_listed_page_is_the_walks_page(&app.state).await;
}

#[tokio::test]
async fn on_postgres_a_narrowed_views_pages_from_its_list_of_matches_are_the_walks_pages() {
    let Some(db) = crate::postgres::fresh_database().await else {
        return;
    };
    let app = spawn_with(Options {
        database_url: Some(db),
        ..crate::product_sort::sizes()
    })
    .await;
    app.login().await;
    app.wait_for_index(70).await;
    every_listed_page_is_the_walks_page(&app.state).await;
}

#[tokio::test]
async fn on_sqlite_a_page_from_a_list_reads_its_rows_by_primary_key() {
    use partner_portal::index::matches::rows_by_id_sql;
    let app = spawn_app().await;
    app.login().await;
    app.wait_for_index(70).await;
    let generation = app.state.index.state(70).await.unwrap().generation;
    for sort in [SortBy::Activated, SortBy::Site, SortBy::Product] {
        let f = Filter {
            search: Some("bak".into()),
            sort,
            ..Filter::default()
        };
        let ids: Vec<i64> = (100_001..100_021).collect();
        let sql = rows_by_id_sql(70, generation, &f, &ids);
        let text = crate::perf::query_plan(&app, sql).await.join(" | ");
        let t = partner_portal::index::copies::table(70, generation);
        assert!(
            text.contains(&format!("SEARCH {t} USING INDEX {t}_id (id=?)"))
                && !text.contains("_sort_"),
            "{sort:?}: {text}"
        );
    }
}
