//! A product sort's page seeks to the product block it falls in (counted from the facets)
//! instead of walking every matching row before it. Every page must be the page the plain walk
//! gives, on both databases, and a copy whose stored product names are not this release's must
//! fall back to the walk.

use partner_portal::{
    db::{Bind, Sql},
    index::query::{Filter, Matcher, Row, SortBy, Status, page_sql, page_sql_at},
    state::AppState,
};

use crate::helpers::*;

/// 2,000 activations in the sandbox (key 70 holds most of them), pages of 20.
pub fn sizes() -> Options {
    Options {
        sandbox: partner_portal::sandbox::SandboxOptions {
            activations: 2_000,
            ..Options::default().sandbox
        },
        ..Options::default()
    }
}

/// The page as the plain walk from the start gives it.
async fn walked(
    state: &AppState,
    generation: i64,
    f: &Filter,
    page: u32,
    per_page: u32,
) -> Vec<i64> {
    let rows: Vec<Row> = state
        .db
        .fetch_all(&page_sql(70, generation, f, page, per_page, Matcher::Like))
        .await
        .unwrap();
    rows.iter().map(|r| r.id).collect()
}

/// The page as the list gets it.
async fn listed(
    state: &AppState,
    generation: i64,
    f: &Filter,
    page: u32,
    per_page: u32,
) -> Vec<i64> {
    let rows = state
        .index
        .rows(70, generation, f, page, per_page)
        .await
        .unwrap();
    rows.iter().map(|r| r.id).collect()
}

/// The filters the check runs: none, the two largest products as a plan filter, cancelled
/// only, a search, and a plan with an activation date range.
async fn filters(state: &AppState, generation: i64) -> Vec<Filter> {
    let facets = state
        .index
        .facets(70, generation, &Filter::default())
        .await
        .unwrap();
    let by_size = facets.products_for(Status::All);
    assert!(by_size.len() >= 3, "the sandbox sells several products");
    let plans = vec![by_size[0].0, by_size[1].0];
    vec![
        Filter::default(),
        Filter {
            plans: plans.clone(),
            ..Filter::default()
        },
        Filter {
            status: Status::Cancelled,
            ..Filter::default()
        },
        Filter {
            search: Some("bak".into()),
            ..Filter::default()
        },
        Filter {
            plans: vec![by_size[2].0],
            activated_from: Some(1_600_000_000),
            ..Filter::default()
        },
    ]
}

/// Every page of a product sort, both ways, under each filter, in pages of 20 and of 3 (so
/// that block edges fall at every place in a page), equals the plain walk's.
pub async fn every_product_page_is_the_walks_page(state: &AppState) {
    let generation = state.index.state(70).await.unwrap().generation;
    let mut deep_pages = 0;
    let mut seeks = 0;
    for base in filters(state, generation).await {
        for desc in [false, true] {
            let f = Filter {
                sort: SortBy::Product,
                desc,
                ..base.clone()
            };
            let facets = state.index.facets(70, generation, &f).await.unwrap();
            for per_page in [20, 3] {
                let per = i64::from(per_page);
                let pages = u32::try_from((facets.total(f.status) + per - 1) / per).unwrap();
                for page in 1..=pages {
                    assert_eq!(
                        listed(state, generation, &f, page, per_page).await,
                        walked(state, generation, &f, page, per_page).await,
                        "page {page} of {per_page}, {f:?}"
                    );
                    deep_pages += u32::from(page > 1);
                    let start = state
                        .index
                        .product_start(70, generation, &f, page, per_page)
                        .await;
                    // Every page seeks, the first too: no block before the first with
                    // matches holds one.
                    assert!(
                        start.is_some(),
                        "page {page} of {per_page}, {f:?} walks from the start"
                    );
                    seeks += 1;
                }
            }
        }
    }
    assert!(deep_pages > 1000, "only {deep_pages} pages past the first");
    assert!(seeks > deep_pages);
}

/// A copy that stored other names for a product (as a release with other product names would
/// have) is walked from the start, and its pages stay right. Run it before any product sort
/// of the app's copy: the check is made once per copy.
pub async fn a_copy_with_other_product_names_is_walked(state: &AppState) {
    let generation = state.index.state(70).await.unwrap().generation;
    let facets = state
        .index
        .facets(70, generation, &Filter::default())
        .await
        .unwrap();
    let (renamed, _) = facets.products_for(Status::All)[0];
    let mut rename = Sql::new(&format!(
        "UPDATE {} SET product_sort = 'zz renamed' WHERE COALESCE(current_product_id, product_id, 0) = ",
        partner_portal::index::copies::table(70, generation)
    ));
    rename.bind(Bind::Int(renamed));
    state.db.execute(&rename).await.unwrap();
    for desc in [false, true] {
        let f = Filter {
            sort: SortBy::Product,
            desc,
            ..Filter::default()
        };
        let pages = u32::try_from(facets.total(Status::All).div_euclid(3) + 1).unwrap();
        for page in 1..=pages {
            assert_eq!(
                listed(state, generation, &f, page, 3).await,
                walked(state, generation, &f, page, 3).await,
                "page {page} of 3, desc={desc}, with product {renamed} stored under another name"
            );
        }
    }
}

#[tokio::test]
async fn on_sqlite_every_page_of_a_product_sort_is_the_page_the_walk_gives() {
    let app = spawn_with(sizes()).await;
    app.login().await;
    app.wait_for_index(70).await;
    every_product_page_is_the_walks_page(&app.state).await;
}

#[tokio::test]
async fn on_sqlite_a_copy_with_other_product_names_is_walked_from_the_start() {
    // Its own app: whether a copy's names are this release's is checked once per copy.
    let app = spawn_with(sizes()).await;
    app.login().await;
    app.wait_for_index(70).await;
    a_copy_with_other_product_names_is_walked(&app.state).await;
}

#[tokio::test]
async fn on_sqlite_a_deep_product_page_seeks_to_its_block_in_the_sort_index() {
    let app = spawn_app().await;
    app.login().await;
    app.wait_for_index(70).await;
    let generation = app.state.index.state(70).await.unwrap().generation;
    // With a date range too (a preset such as "this year"), which the count index also serves.
    let ranges = [(None, None), (Some(1_600_000_000), Some(1_900_000_000))];
    for ((from, to), desc) in ranges.into_iter().flat_map(|r| [(r, false), (r, true)]) {
        let f = Filter {
            sort: SortBy::Product,
            desc,
            plans: vec![2000, 2005],
            activated_from: from,
            activated_to: to,
            ..Filter::default()
        };
        let start = partner_portal::index::query::ProductStart {
            from: "jetpack".into(),
            skipped: 40,
        };
        let sql = page_sql_at(
            partner_portal::db::Dialect::Sqlite,
            70,
            generation,
            &f,
            Some(&start),
            5,
            20,
            Matcher::Like,
        );
        let text = crate::perf::query_plan(&app, sql).await.join(" | ");
        let seek = if desc {
            "product_sort<?"
        } else {
            "product_sort>?"
        };
        assert!(
            text.contains(&format!(
                "COVERING INDEX {}_sort_product ({seek})",
                partner_portal::index::copies::table(70, generation)
            )),
            "desc={desc} {from:?}..{to:?}: {text}"
        );
        assert_eq!(text.matches("TEMP B-TREE").count(), 1, "{text}");
    }
}
