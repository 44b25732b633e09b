//! The statements behind the list and the counts, built from a [`Filter`]: which rows, through
//! which index, in which order. Public where a test `EXPLAIN`s them.

use super::copies::{facets_table, search_table, table};
use super::filter::{Filter, SortBy, Status};
use super::search::{Matcher, escape_like, push_search, trigram_term};
use crate::db::{Bind, Dialect, Sql};

/// The columns of a [`Row`](super::query::Row), in its field order.
pub(super) const COLUMNS: &str = "id, blog_id, user_id, external_user_id, product_id, current_product_id, created_on, \
                       activated_on, cancelled_on, disputed_on, site_registered, site_url, site_name";

/// Whether the trigram index lists `f`'s rows: SQLite, and a search term it can serve.
pub(super) fn trigram_lists(f: &Filter, matcher: Matcher) -> bool {
    matcher == Matcher::Trigram
        && f.search
            .as_deref()
            .map(str::trim)
            .and_then(trigram_term)
            .is_some()
}

/// `FROM` the copy's table `WHERE true`, for conditions to follow as ` AND …`.
pub(super) fn scope(sql: &mut Sql, key: u64, generation: i64) {
    sql.push(&format!(" FROM {} WHERE true", table(key, generation)));
}

/// `FROM … WHERE` the key's rows under `f`. Where the trigram index lists the rows, the table
/// is read `NOT INDEXED`, by rowid from that list only: otherwise SQLite may walk one of its
/// indexes over the whole key and test each row against the list (it picked the product sort
/// index once that carried the product columns, and a first search at 1,000,000 rows went from
/// 239 ms to 444).
pub(super) fn filtered(
    sql: &mut Sql,
    key: u64,
    generation: i64,
    f: &Filter,
    with_status: bool,
    matcher: Matcher,
) {
    filtered_part(sql, key, generation, f, with_status, matcher, None);
}

/// [`filtered`], where the trigram index lists the rows, for the row ids in `part` only.
fn filtered_part(
    sql: &mut Sql,
    key: u64,
    generation: i64,
    f: &Filter,
    with_status: bool,
    matcher: Matcher,
    part: Option<(i64, i64)>,
) {
    if trigram_lists(f, matcher) {
        sql.push(&format!(
            " FROM {} NOT INDEXED WHERE true",
            table(key, generation)
        ));
    } else {
        scope(sql, key, generation);
    }
    filters(sql, key, generation, f, with_status, matcher, part);
}

/// ` AND …` for each of `f`'s conditions (the copy's trigram table lists a search's rows).
pub(super) fn filters(
    sql: &mut Sql,
    key: u64,
    generation: i64,
    f: &Filter,
    with_status: bool,
    matcher: Matcher,
    part: Option<(i64, i64)>,
) {
    if let Some(s) = f.search.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        push_search(sql, s, matcher, &search_table(key, generation), part);
    }
    if with_status {
        match f.status {
            Status::All => {}
            Status::Active => {
                sql.push(" AND cancelled_on IS NULL");
            }
            Status::Cancelled => {
                sql.push(" AND cancelled_on IS NOT NULL");
            }
        }
    }
    if !f.plans.is_empty() {
        sql.push(" AND (product_id IN (")
            .bind_list(&f.plans)
            .push(") OR current_product_id IN (")
            .bind_list(&f.plans)
            .push("))");
    }
    if !f.current_plans.is_empty() {
        sql.push(" AND current_product_id IN (")
            .bind_list(&f.current_plans)
            .push(")");
    }
    if let Some(t) = f.activated_from {
        sql.push(" AND activated_on >= ").bind(Bind::Int(t));
    }
    if let Some(t) = f.activated_to {
        sql.push(" AND activated_on < ").bind(Bind::Int(t));
    }
    if let Some(t) = f.cancelled_from {
        sql.push(" AND cancelled_on >= ").bind(Bind::Int(t));
    }
    if let Some(t) = f.cancelled_to {
        sql.push(" AND cancelled_on < ").bind(Bind::Int(t));
    }
    if let Some((from, to)) = f.active_during {
        sql.push(" AND activated_on < ")
            .bind(Bind::Int(to))
            .push(" AND (cancelled_on IS NULL OR cancelled_on >= ")
            .bind(Bind::Int(from))
            .push(")");
    }
}

/// `ORDER BY` of a page, written so that each database's sort index serves it exactly (see the
/// 0005 and 0006 migrations): NULLs last in both directions, `id` breaking ties. Both read
/// `col ASC NULLS LAST` from an ascending index (SQLite walks the non-NULL part, then the
/// NULLs); `search` and `product_sort` are NOT NULL, so they need no NULL placement at all.
pub(super) fn order(sql: &mut Sql, f: &Filter) {
    let dir = if f.desc { "DESC" } else { "ASC" };
    let (column, nullable) = match f.sort {
        SortBy::Site => ("search", false),
        SortBy::Product => ("product_sort", false),
        SortBy::Activated => ("activated_on", true),
        SortBy::Created => ("created_on", true),
        SortBy::Cancelled => ("cancelled_on", true),
    };
    let nulls = if nullable { " NULLS LAST" } else { "" };
    sql.push(&format!(" ORDER BY {column} {dir}{nulls}, id {dir}"));
}

/// Where a product sort's page starts: the first block of equal `product_sort` it can be in,
/// and the matching rows in the blocks before it, counted from the facets (so the walk seeks
/// past them instead of reading them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductStart {
    /// The block's `product_sort`.
    pub from: String,
    /// Matching rows sorted before it.
    pub skipped: i64,
}

/// The statement behind one page of rows (public so a test can `EXPLAIN` every sort). The
/// page's ids are picked by an inner query that walks the sort index alone (skipping rows
/// costs index entries, not row reads); the join then reads only the page's own rows, by
/// primary key (`CROSS JOIN` keeps SQLite from scanning the key to spare itself a 20-row sort).
pub fn page_sql(
    key: u64,
    generation: i64,
    f: &Filter,
    page: u32,
    per_page: u32,
    matcher: Matcher,
) -> Sql {
    // Without a block to seek to, both databases get the same statement.
    page_sql_at(
        Dialect::Postgres,
        key,
        generation,
        f,
        None,
        page,
        per_page,
        matcher,
    )
}

/// [`page_sql`] starting at a product block, for a product sort.
///
/// On SQLite a page that seeks to its block names the product sort index (`INDEXED BY`): it
/// is the one index that orders the page, seeks to the block and carries the plan and date
/// columns to test, but with a date range in the filter SQLite, which has no statistics here,
/// took the count index for the range and sorted every match for each page (196 pages a
/// second under load, against 5,725 for the plain list). In the shared table before migration
/// 0011 the key and generation led both indexes, and it chose the product index by itself.
#[allow(clippy::too_many_arguments)]
pub fn page_sql_at(
    dialect: Dialect,
    key: u64,
    generation: i64,
    f: &Filter,
    start: Option<&ProductStart>,
    page: u32,
    per_page: u32,
    matcher: Matcher,
) -> Sql {
    let mut sql = Sql::new(&format!("SELECT {COLUMNS} FROM (SELECT id AS pid"));
    let seek = start.filter(|_| f.sort == SortBy::Product);
    if seek.is_some() && dialect == Dialect::Sqlite && !trigram_lists(f, matcher) {
        let t = table(key, generation);
        sql.push(&format!(" FROM {t} INDEXED BY {t}_sort_product WHERE true"));
        filters(&mut sql, key, generation, f, true, matcher, None);
    } else {
        filtered(&mut sql, key, generation, f, true, matcher);
    }
    let mut offset = i64::from(page.saturating_sub(1)) * i64::from(per_page);
    if let Some(start) = seek {
        sql.push(if f.desc {
            " AND product_sort <= "
        } else {
            " AND product_sort >= "
        })
        .bind(Bind::Text(start.from.clone()));
        offset = (offset - start.skipped).max(0);
    }
    order(&mut sql, f);
    // The page's size and offset are written into the statement, not bound: PostgreSQL plans a
    // statement with `LIMIT $n OFFSET $m` afresh on every run (it prices the unknown limit at a
    // tenth of the key, so the cached generic plan never wins), which cost 0.26 ms of planning
    // for a 0.1 ms page. With the numbers in the text it keeps the plan. Both are integers.
    sql.push(&format!(" LIMIT {} OFFSET {offset}", i64::from(per_page)))
        .push(&format!(
            ") AS page CROSS JOIN {} WHERE id = page.pid",
            table(key, generation)
        ));
    order(&mut sql, f);
    sql
}

/// Which of `products` (id, the `product_sort` this binary gives it) the copy stored as this
/// binary would: a copy made by a release with other product names sorts by those, and a page
/// must not be placed by names it does not hold.
pub fn stored_sorts_sql(key: u64, generation: i64, products: &[(i64, String)]) -> Sql {
    let mut sql = Sql::new("WITH wanted (p, s) AS (VALUES ");
    for (i, (p, s)) in products.iter().enumerate() {
        if i > 0 {
            sql.push(", ");
        }
        sql.push("(")
            .bind(Bind::Int(*p))
            .push(", ")
            .bind(Bind::Text(s.clone()))
            .push(")");
    }
    sql.push(") SELECT p FROM wanted WHERE EXISTS (SELECT 1");
    scope(&mut sql, key, generation);
    sql.push(
        " AND product_sort = wanted.s AND COALESCE(current_product_id, product_id, 0) = wanted.p)",
    );
    sql
}

/// Rows per current product, all and active, under the filter's other conditions (public so a
/// test can `EXPLAIN` it, as for the statements below: migration 0009's index covers them).
pub fn facets_sql(key: u64, generation: i64, f: &Filter, matcher: Matcher) -> Sql {
    facets_part_sql(key, generation, f, matcher, None)
}

/// [`facets_sql`] over the rows the trigram index lists with a row id in `part` (see
/// `Index::facets`).
pub fn facets_part_sql(
    key: u64,
    generation: i64,
    f: &Filter,
    matcher: Matcher,
    part: Option<(i64, i64)>,
) -> Sql {
    let mut sql = Sql::new(
        "SELECT COALESCE(current_product_id, product_id, 0) AS p, COUNT(*), COUNT(*) FILTER (WHERE cancelled_on IS NULL)",
    );
    filtered_part(&mut sql, key, generation, f, false, matcher, part);
    sql.push(" GROUP BY COALESCE(current_product_id, product_id, 0)");
    sql
}

/// The search term of a filter that narrows by nothing else (its tab aside, which the counts
/// split by): the counts [`facets_table_sql`] answers.
pub(super) fn only_search(f: &Filter) -> Option<&str> {
    let term = f
        .search
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())?;
    let rest = Filter {
        search: None,
        status: Status::All,
        sort: SortBy::default(),
        desc: false,
        ..f.clone()
    };
    (rest == Filter::default()).then_some(term)
}

/// [`facets_sql`] for a search alone over one part of PostgreSQL's narrow
/// [`facets_table`](super::copies::facets_table), read through that part's trigram index (the
/// part is written into the statement, so the planner matches the index's `WHERE`), or with
/// `None` over the whole table.
pub fn facets_table_sql(key: u64, generation: i64, part: Option<i64>, term: &str) -> Sql {
    let mut sql = Sql::new(&format!(
        "SELECT p, COUNT(*), COUNT(*) FILTER (WHERE active) FROM {} WHERE true",
        facets_table(key, generation)
    ));
    if let Some(part) = part {
        sql.push(&format!(" AND part = {part}"));
    }
    sql.push(" AND search LIKE ")
        .bind(Bind::Text(escape_like(term)))
        .push(" ESCAPE '\\' GROUP BY p");
    sql
}

/// [`facets_sql`] for a search alone over SQLite's narrow
/// [`facets_table`](super::copies::facets_table), whose row ids are the copy's: the rows the
/// trigram table lists with a row id in `part` (see `Index::facets`), or every row for a term
/// too short for it.
pub fn facets_rowids_sql(key: u64, generation: i64, part: Option<(i64, i64)>, term: &str) -> Sql {
    let mut sql = Sql::new(&format!(
        "SELECT p, COUNT(*), COUNT(*) FILTER (WHERE active) FROM {} NOT INDEXED WHERE true",
        facets_table(key, generation)
    ));
    push_search(
        &mut sql,
        term,
        Matcher::Trigram,
        &search_table(key, generation),
        part,
    );
    sql.push(" GROUP BY p");
    sql
}

/// Whether pg_trgm finds trigrams in `term` for its index to look up: it takes them from runs
/// of letters and digits, so a term without three in a row ("ba", "%", "a.b") is read by a
/// scan of the whole table whatever the statement says.
pub(super) fn pg_trigram_indexed(term: &str) -> bool {
    term.split(|c: char| !c.is_alphanumeric())
        .any(|run| run.chars().count() >= 3)
}

/// Activations active at `at`.
pub fn active_at_sql(key: u64, generation: i64, at: i64) -> Sql {
    let mut sql = Sql::new("SELECT COUNT(*)");
    scope(&mut sql, key, generation);
    sql.push(" AND activated_on <= ")
        .bind(Bind::Int(at))
        .push(" AND (cancelled_on IS NULL OR cancelled_on > ")
        .bind(Bind::Int(at))
        .push(")");
    sql
}

/// New and cancelled activations per `[start, end)` period, in one scan.
pub fn period_stats_sql(key: u64, generation: i64, periods: &[(i64, i64)]) -> Sql {
    let mut sql = Sql::new("SELECT ");
    for (i, (start, end)) in periods.iter().enumerate() {
        if i > 0 {
            sql.push(", ");
        }
        sql.push("COUNT(*) FILTER (WHERE activated_on >= ")
            .bind(Bind::Int(*start))
            .push(" AND activated_on < ")
            .bind(Bind::Int(*end));
        sql.push("), COUNT(*) FILTER (WHERE cancelled_on >= ")
            .bind(Bind::Int(*start))
            .push(" AND cancelled_on < ")
            .bind(Bind::Int(*end))
            .push(")");
    }
    scope(&mut sql, key, generation);
    sql
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pg_trgm_looks_up_a_term_with_three_letters_or_digits_in_a_row() {
        for term in ["bakery", "a.bak", "5%_a1b2", "café"] {
            assert!(pg_trigram_indexed(term), "{term}");
        }
        for term in ["ba", "%", "_", "\\", "'", "a.b.c", "é1"] {
            assert!(!pg_trigram_indexed(term), "{term}");
        }
    }

    #[test]
    fn only_a_search_with_nothing_but_a_tab_or_order_is_counted_from_the_facets_table() {
        let search = |s: &str| Filter {
            search: Some(s.to_string()),
            ..Filter::default()
        };
        assert_eq!(only_search(&search(" bakery ")), Some("bakery"));
        let tabbed = Filter {
            status: Status::Cancelled,
            sort: SortBy::Product,
            desc: true,
            ..search("bakery")
        };
        assert_eq!(only_search(&tabbed), Some("bakery"));
        assert_eq!(only_search(&search("  ")), None);
        assert_eq!(only_search(&Filter::default()), None);
        for narrower in [
            Filter {
                plans: vec![2005],
                ..search("bakery")
            },
            Filter {
                current_plans: vec![2005],
                ..search("bakery")
            },
            Filter {
                activated_from: Some(0),
                ..search("bakery")
            },
            Filter {
                activated_to: Some(0),
                ..search("bakery")
            },
            Filter {
                active_during: Some((0, 1)),
                ..search("bakery")
            },
        ] {
            assert_eq!(only_search(&narrower), None, "{narrower:?}");
        }
    }
}
