//! How a copy's rows reach the database: one INSERT per few hundred rows, its values packed
//! into one JSON parameter.

use crate::{
    db::{Bind, Dialect, Sql},
    upstream::Activation,
};

/// The columns a copy writes, in the order of each row's JSON array.
const COLUMNS: [(&str, &str); 15] = [
    ("id", "bigint"),
    ("blog_id", "bigint"),
    ("user_id", "bigint"),
    ("external_user_id", "text"),
    ("product_id", "bigint"),
    ("current_product_id", "bigint"),
    ("created_on", "bigint"),
    ("activated_on", "bigint"),
    ("cancelled_on", "bigint"),
    ("disputed_on", "bigint"),
    ("site_registered", "bigint"),
    ("site_url", "text"),
    ("site_name", "text"),
    ("search", "text"),
    ("product_sort", "text"),
];

/// One INSERT into the copy's table for a chunk of rows (the caller sends a few hundred), with
/// one parameter: the rows as one JSON array of arrays, which the database unpacks
/// itself (`json_each` on SQLite, `jsonb_array_elements` on PostgreSQL). Binding every value
/// instead cost more than the database's own work: sqlx's SQLite driver looks each parameter's
/// name up by walking the statement's list of names, so a statement of n values costs n² (19 %
/// of a copy in `perf`, and 7.0 s for 100,000 rows even at 50 rows per statement).
pub(super) fn insert_rows(
    dialect: Dialect,
    key: u64,
    generation: i64,
    rows: &[Activation],
) -> Result<Sql, serde_json::Error> {
    let json = page_json(rows)?;
    let names: Vec<&str> = COLUMNS.iter().map(|(name, _)| *name).collect();
    let mut sql = Sql::new(&format!(
        "INSERT INTO {} ({}) SELECT ",
        super::copies::table(key, generation),
        names.join(", ")
    ));
    for (i, (_, ty)) in COLUMNS.iter().enumerate() {
        let comma = if i > 0 { ", " } else { "" };
        match dialect {
            Dialect::Sqlite => sql.push(&format!("{comma}value ->> {i}")),
            Dialect::Postgres => sql.push(&format!("{comma}(v ->> {i})::{ty}")),
        };
    }
    // Rows can shift between pages while new activations arrive: a row seen twice is written
    // twice here, and the copy keeps the first once it is complete (`Index::complete`).
    match dialect {
        Dialect::Sqlite => sql
            .push(" FROM json_each(")
            .bind(Bind::Text(json))
            .push(")"),
        Dialect::Postgres => sql
            .push(" FROM jsonb_array_elements(")
            .bind(Bind::Text(json))
            .push("::jsonb) AS page(v)"),
    };
    Ok(sql)
}

/// The rows as the JSON array of arrays [`insert_rows`] unpacks, in the order of [`COLUMNS`].
fn page_json(rows: &[Activation]) -> Result<String, serde_json::Error> {
    let rows: Vec<_> = rows
        .iter()
        .map(|a| {
            let r = super::query::Row::from_upstream(a);
            let search = format!("{} {}", r.site_name, r.site_url).to_lowercase();
            let sort = crate::products::sort_key(a.current_product_id.or(a.product_id));
            (
                r.id,
                r.blog_id,
                r.user_id,
                r.external_user_id,
                r.product_id,
                r.current_product_id,
                r.created_on,
                r.activated_on,
                r.cancelled_on,
                r.disputed_on,
                r.site_registered,
                r.site_url,
                r.site_name,
                search,
                sort,
            )
        })
        .collect();
    serde_json::to_string(&rows)
}
