//! Pages of a filtered, sorted list that continue *after a row* rather than at an offset: the
//! JSON API's cursors. A cursor holds the last row's sort value and id, so it reads the same
//! next rows from any generation of the copy: a refresh between two pages neither repeats nor
//! skips a row that is in both copies.

use super::Index;
use super::filter::{Filter, SortBy};
use super::query::Row;
use super::search::Matcher;
use super::statements::{COLUMNS, filtered, order};
use crate::db::{Bind, Sql};

/// A row's place in a sort: its sort column's value and its id.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct After {
    /// The sort column's value (`None` for a NULL date, which sorts last either way).
    pub value: Option<SortValue>,
    /// The row's id (ties broken by it).
    pub id: i64,
}

/// A sort column's value.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(untagged)]
pub enum SortValue {
    /// A date column (Unix seconds).
    Int(i64),
    /// The site or product sort text.
    Text(String),
}

/// The sort column of `sort`, and whether it can be NULL.
fn column(sort: SortBy) -> (&'static str, bool) {
    match sort {
        SortBy::Site => ("search", false),
        SortBy::Product => ("product_sort", false),
        SortBy::Activated => ("activated_on", true),
        SortBy::Created => ("created_on", true),
        SortBy::Cancelled => ("cancelled_on", true),
    }
}

/// A row with the sort value a cursor after it holds.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct KeyedRow {
    /// The row.
    #[sqlx(flatten)]
    pub row: Row,
    /// The sort value when the column is a date.
    pub sort_int: Option<i64>,
    /// The sort value when the column is text.
    pub sort_text: Option<String>,
}

impl KeyedRow {
    /// Where a page that continues after this row starts.
    pub fn after(&self) -> After {
        After {
            value: match (&self.sort_text, self.sort_int) {
                (Some(t), _) => Some(SortValue::Text(t.clone())),
                (None, Some(n)) => Some(SortValue::Int(n)),
                (None, None) => None,
            },
            id: self.row.id,
        }
    }
}

fn bind_value(sql: &mut Sql, v: &SortValue) {
    match v {
        SortValue::Int(n) => sql.bind(Bind::Int(*n)),
        SortValue::Text(t) => sql.bind(Bind::Text(t.clone())),
    };
}

/// The statement of up to `limit` rows of `f` after `after` (from the start when `None`).
/// Public so a test can `EXPLAIN` it.
pub fn after_sql(
    key: u64,
    generation: i64,
    f: &Filter,
    after: Option<&After>,
    limit: u32,
    matcher: Matcher,
) -> Sql {
    let (col, nullable) = column(f.sort);
    let (int, text) = if matches!(f.sort, SortBy::Site | SortBy::Product) {
        ("CAST(NULL AS BIGINT)", col)
    } else {
        (col, "CAST(NULL AS TEXT)")
    };
    let mut sql = Sql::new(&format!(
        "SELECT {COLUMNS}, {int} AS sort_int, {text} AS sort_text"
    ));
    filtered(&mut sql, key, generation, f, true, matcher);
    let (past, id_past) = if f.desc { ("<", "<") } else { (">", ">") };
    match after {
        None => {}
        Some(After { value: Some(v), id }) => {
            // Rows past the value, or at it with a later id; NULLs come after every value.
            sql.push(&format!(" AND ({col} {past} "));
            bind_value(&mut sql, v);
            sql.push(&format!(" OR ({col} = "));
            bind_value(&mut sql, v);
            sql.push(&format!(" AND id {id_past} "))
                .bind(Bind::Int(*id))
                .push(")");
            if nullable {
                sql.push(&format!(" OR {col} IS NULL"));
            }
            sql.push(")");
        }
        Some(After { value: None, id }) => {
            sql.push(&format!(" AND {col} IS NULL AND id {id_past} "))
                .bind(Bind::Int(*id));
        }
    }
    order(&mut sql, f);
    sql.push(&format!(" LIMIT {}", i64::from(limit)));
    sql
}

impl Index {
    /// A list's page by cursor: up to `limit` rows of `f` after `after`, each with its place
    /// for the next cursor. A first page sorted by a date is the list's own first page (the
    /// same statement and caches as the Activations page), its places read off its rows.
    pub async fn keyed_page(
        &self,
        key: u64,
        generation: i64,
        f: &Filter,
        after: Option<&After>,
        limit: u32,
    ) -> Result<Vec<KeyedRow>, sqlx::Error> {
        let date: Option<fn(&Row) -> Option<i64>> = match f.sort {
            SortBy::Activated => Some(|r| r.activated_on),
            SortBy::Created => Some(|r| r.created_on),
            SortBy::Cancelled => Some(|r| r.cancelled_on),
            SortBy::Site | SortBy::Product => None,
        };
        if let (None, Some(date)) = (after, date) {
            let rows = self.rows(key, generation, f, 1, limit).await?;
            return Ok(rows
                .iter()
                .map(|row| KeyedRow {
                    sort_int: date(row),
                    sort_text: None,
                    row: row.clone(),
                })
                .collect());
        }
        self.rows_after(key, generation, f, after, limit).await
    }

    /// Up to `limit` rows of `f` after `after`, each with its place for the next cursor.
    pub async fn rows_after(
        &self,
        key: u64,
        generation: i64,
        f: &Filter,
        after: Option<&After>,
        limit: u32,
    ) -> Result<Vec<KeyedRow>, sqlx::Error> {
        let matcher = Matcher::from(self.db.dialect());
        self.db
            .fetch_all(&after_sql(key, generation, f, after, limit, matcher))
            .await
    }
}
