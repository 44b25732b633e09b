//! Where a copy lives: one table per key and generation, `activations_{key}_{generation}`, made
//! by the copy that fills it, indexed once it is full, and dropped when a newer copy has been
//! visible for a while.
//!
//! One table shared by every copy (until migration 0011) took each row into eight B-trees and
//! the trigram index at random places among every other copy's rows, and a copy of 1,000,000
//! activations spent most of its 63–89 s reading and rewriting index pages that did not fit the
//! page cache (`perf`: the kernel's page copies and `mark_buffer_dirty` on top). A table of its
//! own is written with no index at all, each row appended after the last, and every index is
//! then built in one sorted pass (`CREATE INDEX`), the trigram table in runs of row ids.

use super::search::search_part_count;
use super::{Index, sync::SyncError};
use crate::db::{Bind, Db, Dialect, Sql};

/// Row ids per transaction filling the trigram table: about 0.1 s of the write lock each.
const TRIGRAM_ROWS: i64 = 20_000;

/// The table of `key`'s copy number `generation`. Both are integers, so the name needs no
/// quoting and cannot carry anything else into a statement.
pub fn table(key: u64, generation: i64) -> String {
    format!("activations_{key}_{generation}")
}

/// SQLite's trigram table over a copy's `search` column (see [`Index::complete`]).
pub fn search_table(key: u64, generation: i64) -> String {
    format!("{}_search", table(key, generation))
}

/// A copy's narrow table of `search` and what a search's counts group by (see [`facets`] for
/// PostgreSQL's, [`Index::complete`] for SQLite's).
pub fn facets_table(key: u64, generation: i64) -> String {
    format!("{}_facets", table(key, generation))
}

/// The statements that make PostgreSQL's [`facets_table`] from a loaded copy of `rows` rows:
/// a search's tab and product counts read only this table. The copy's own rows are 236 bytes
/// (1,000,000 of them: 236 MB, past Debian's default `shared_buffers` of 128 MB), so counting a
/// common term ("bakery", 67,175 matches) read 27,000 of its 30,000 pages from the kernel's
/// cache: 97–139 ms. These rows are 100 bytes (93 MB). The rows are split in copy order into
/// [`search_part_count`] parts of adjacent pages, each with its own pg_trgm index, so the
/// parts are counted at once on their own connections. A copy's rows never change once it is
/// loaded, so neither does this table.
///
/// The first statements make the table of `rows` rows in `parts` parts, then each of the rest
/// builds one part's index and may run beside the others. The rows are written by `INSERT`,
/// whose pages stay in PostgreSQL's buffers while nothing needs them (at 100,000 rows all
/// 1,236 were there after the copy; `CREATE TABLE … AS` writes through a 16 MB ring of
/// buffers). At 1,000,000 the index builds push them out (`pg_buffercache`), so the first
/// search reads the table from the kernel's cache, and the parts keep that near 40 ms.
pub fn facets(key: u64, generation: i64, rows: i64, parts: usize) -> (Vec<Sql>, Vec<Sql>) {
    let t = table(key, generation);
    let f = facets_table(key, generation);
    let rows = rows.max(1);
    let parts = i64::try_from(parts).unwrap_or(1).clamp(1, rows);
    let fill = vec![
        Sql::new(&format!(
            "CREATE TABLE {f} (p BIGINT NOT NULL, part INTEGER NOT NULL, \
             active BOOLEAN NOT NULL, search TEXT NOT NULL)"
        )),
        Sql::new(&format!(
            "INSERT INTO {f} (p, part, active, search) \
             SELECT COALESCE(current_product_id, product_id, 0), \
             LEAST((row_number() OVER () - 1) * {parts} / {rows}, {last}), \
             cancelled_on IS NULL, search FROM {t}",
            last = parts - 1
        )),
    ];
    let indexes = (0..parts)
        .map(|part| {
            Sql::new(&format!(
                "CREATE INDEX {f}_trgm_{part} ON {f} USING gin (search gin_trgm_ops) \
                 WHERE part = {part}"
            ))
        })
        .collect();
    (fill, indexes)
}

/// The statements that make an empty table for a copy, dropping what a run that died left
/// under the same name. It has no index and no key while rows arrive, so each row is appended
/// where the last one ended (WordPress.com sends them by activation date, not by id, so even a
/// key on `id` is written at random places: 61 s for 1,000,000 rows with the id as SQLite's row
/// id). [`Index::complete`] removes rows that came twice and builds every index afterwards.
pub fn create(dialect: Dialect, key: u64, generation: i64) -> Vec<Sql> {
    let t = table(key, generation);
    let mut statements = drop(dialect, key, generation);
    let (int, collate) = match dialect {
        Dialect::Sqlite => ("INTEGER", ""),
        Dialect::Postgres => ("BIGINT", " COLLATE \"C\""),
    };
    statements.push(Sql::new(&format!(
        "CREATE TABLE {t} (\
            id {int} NOT NULL, blog_id {int}, user_id {int}, external_user_id TEXT, \
            product_id {int}, current_product_id {int}, created_on {int}, activated_on {int}, \
            cancelled_on {int}, disputed_on {int}, site_registered {int}, \
            site_url TEXT NOT NULL DEFAULT '', site_name TEXT NOT NULL DEFAULT '', \
            search TEXT NOT NULL DEFAULT '', product_sort TEXT{collate} NOT NULL DEFAULT '')"
    )));
    statements
}

/// The index on `id`, built as soon as the rows of the planned pages are in: it counts the
/// distinct rows for the copy's check against WordPress.com's total, finds the rows that came
/// twice, and reads each page's rows.
pub fn id_index(key: u64, generation: i64) -> Sql {
    let t = table(key, generation);
    Sql::new(&format!("CREATE INDEX {t}_id ON {t} (id)"))
}

/// The indexes every view reads, built once the copy's rows are in (each one sorted pass),
/// with the same columns the shared table's migrations gave it, less the key and generation.
///
/// - SQLite walks an index either way and places NULLs itself, so one index per sort column
///   serves both directions (see migration 0006); `activations_counts` (0009) covers every
///   count; the product sort carries the plan and date columns, so a filtered product sort
///   tests them without reading rows (0009).
/// - PostgreSQL reads `DESC NULLS LAST` from no ascending index, so each sort has one index per
///   direction (0005); the product sort's carry the filter columns as `INCLUDE` (0009), and
///   `search` gets a pg_trgm index where the extension is installed (0008).
pub fn indexes(dialect: Dialect, key: u64, generation: i64, trigram: bool) -> Vec<Sql> {
    let t = table(key, generation);
    let mut out = Vec::new();
    let mut index = |name: &str, rest: &str| {
        out.push(Sql::new(&format!("CREATE INDEX {t}_{name} ON {t} {rest}")));
    };
    match dialect {
        Dialect::Sqlite => {
            for column in ["activated_on", "created_on", "cancelled_on", "search"] {
                let name = column.trim_end_matches("_on");
                index(&format!("sort_{name}"), &format!("({column}, id)"));
            }
            index(
                "sort_product",
                "(product_sort, id, current_product_id, product_id, activated_on)",
            );
        }
        Dialect::Postgres => {
            for column in ["activated_on", "created_on", "cancelled_on", "search"] {
                let name = column.trim_end_matches("_on");
                index(
                    &format!("sort_{name}_asc"),
                    &format!("({column} ASC NULLS LAST, id ASC)"),
                );
                index(
                    &format!("sort_{name}_desc"),
                    &format!("({column} DESC NULLS LAST, id DESC)"),
                );
            }
            let covered = "INCLUDE (current_product_id, product_id, activated_on)";
            index(
                "sort_product_asc",
                &format!("(product_sort ASC NULLS LAST, id ASC) {covered}"),
            );
            index(
                "sort_product_desc",
                &format!("(product_sort DESC NULLS LAST, id DESC) {covered}"),
            );
            if trigram {
                index("search_trgm", "USING gin (search gin_trgm_ops)");
            }
        }
    }
    index(
        "counts",
        "(activated_on, cancelled_on, current_product_id, product_id)",
    );
    out
}

/// Drops one copy's table and its side tables (its [`facets_table`], and on SQLite its trigram
/// table).
pub fn drop(dialect: Dialect, key: u64, generation: i64) -> Vec<Sql> {
    let mut statements = drop_side_tables(dialect, key, generation);
    statements.push(Sql::new(&format!(
        "DROP TABLE IF EXISTS {}",
        table(key, generation)
    )));
    statements
}

/// Drops a copy's side tables (its [`facets_table`], and on SQLite its trigram table), leaving
/// its own rows.
pub fn drop_side_tables(dialect: Dialect, key: u64, generation: i64) -> Vec<Sql> {
    let mut tables = vec![facets_table(key, generation)];
    if dialect == Dialect::Sqlite {
        tables.insert(0, search_table(key, generation));
    }
    tables
        .iter()
        .map(|t| Sql::new(&format!("DROP TABLE IF EXISTS {t}")))
        .collect()
}

/// What a copy's sealed token is bound to: it opens only as the token of this key's copy.
pub fn token_aad(key: u64) -> Vec<u8> {
    format!("partner-portal copy token {key}").into_bytes()
}

/// The highest SQLite row id in a copy (0 when empty): row ids are given as rows are appended,
/// so ranges of them split a copy into parts of about equal rows.
pub(super) async fn last_rowid(db: &Db, key: u64, generation: i64) -> Result<i64, sqlx::Error> {
    let sql = Sql::new(&format!(
        "SELECT COALESCE(MAX(rowid), 0) FROM {}",
        table(key, generation)
    ));
    Ok(db.fetch_ints(&sql, 1).await?.first().copied().unwrap_or(0))
}

/// Whether PostgreSQL has pg_trgm (migration 0008 installs it where it may).
pub async fn has_trigram(db: &Db) -> Result<bool, sqlx::Error> {
    if db.dialect() != Dialect::Postgres {
        return Ok(false);
    }
    let found: Option<(i64,)> = db
        .fetch_optional(&Sql::new(
            "SELECT 1::bigint FROM pg_extension WHERE extname = 'pg_trgm'",
        ))
        .await?;
    Ok(found.is_some())
}

/// Every copy table in the database, as (key, generation).
pub async fn all(db: &Db) -> Result<Vec<(u64, i64)>, sqlx::Error> {
    let sql = match db.dialect() {
        Dialect::Sqlite => {
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'activations\\_%' ESCAPE '\\'"
        }
        Dialect::Postgres => {
            "SELECT tablename::text FROM pg_tables WHERE schemaname = current_schema() AND tablename LIKE 'activations\\_%'"
        }
    };
    let names: Vec<(String,)> = db.fetch_all(&Sql::new(sql)).await?;
    let mut copies: Vec<_> = names.iter().filter_map(|(n,)| parse(n)).collect();
    copies.sort_unstable();
    copies.dedup();
    Ok(copies)
}

/// (key, generation) from the name of a copy's table or of one of its side tables
/// (`activations_70_3`, `activations_70_3_facets`, `activations_70_3_search_data`); `None` for
/// any other table.
fn parse(name: &str) -> Option<(u64, i64)> {
    let mut parts = name.strip_prefix("activations_")?.split('_');
    let key = parts.next()?.parse().ok()?;
    let generation = parts.next()?.parse().ok()?;
    let side = parts.next();
    matches!(side, None | Some("facets" | "search")).then_some((key, generation))
}

/// A key's visible generation, when it became visible, its running and its stopped attempt.
type SweepRow = (i64, Option<i64>, Option<i64>, Option<i64>);

impl Index {
    /// Distinct activations in a copy (rows that came twice count once), read from the id index.
    pub(super) async fn distinct_rows(
        &self,
        key: u64,
        generation: i64,
    ) -> Result<u64, sqlx::Error> {
        let sql = Sql::new(&format!(
            "SELECT COUNT(DISTINCT id) FROM {}",
            table(key, generation)
        ));
        let n = self.db.fetch_ints(&sql, 1).await?;
        Ok(n.first().map_or(0, |n| u64::try_from(*n).unwrap_or(0)))
    }

    /// Makes a loaded copy ready to show: keeps the first of any rows that came twice (rows can
    /// shift between pages while new activations arrive), then builds the sort, count and
    /// trigram indexes, one statement each, so the write lock is held for one index at a time
    /// (about a second each at 1,000,000 rows on SQLite; a session written meanwhile waits).
    pub(super) async fn complete(
        &self,
        key: u64,
        generation: i64,
        rows: u64,
        distinct: u64,
        alive: &(dyn Fn() -> Result<(), SyncError> + Sync),
    ) -> Result<(), SyncError> {
        let started = std::time::Instant::now();
        let dialect = self.db.dialect();
        let t = table(key, generation);
        if rows > distinct {
            alive()?;
            let dedupe = match dialect {
                Dialect::Sqlite => format!(
                    "DELETE FROM {t} WHERE rowid NOT IN (SELECT MIN(rowid) FROM {t} GROUP BY id)"
                ),
                Dialect::Postgres => format!(
                    "DELETE FROM {t} AS later USING {t} AS first \
                     WHERE later.id = first.id AND later.ctid > first.ctid"
                ),
            };
            self.db.execute(&Sql::new(&dedupe)).await?;
        }
        let trigram = has_trigram(&self.db).await?;
        // Each index is built on the attempt's own table, which only it writes; between two,
        // the attempt checks it still holds the key, and stops at once when it does not.
        let sort_indexes = async {
            for sql in indexes(dialect, key, generation, trigram) {
                alive()?;
                self.db.execute(&sql).await?;
            }
            Ok::<_, SyncError>(())
        };
        // Beside the sort indexes, on their own connections: PostgreSQL builds a GIN index on
        // one core.
        let facets_table = async {
            if dialect == Dialect::Postgres && trigram {
                let rows = i64::try_from(distinct).unwrap_or(i64::MAX);
                let (fill, part_indexes) = facets(key, generation, rows, search_part_count(rows));
                for sql in &fill {
                    alive()?;
                    self.db.execute(sql).await?;
                }
                alive()?;
                futures_util::future::try_join_all(
                    part_indexes.iter().map(|sql| self.db.execute(sql)),
                )
                .await?;
            }
            Ok::<_, SyncError>(())
        };
        futures_util::future::try_join(sort_indexes, facets_table).await?;
        if dialect == Dialect::Sqlite {
            self.fill_search_tables(key, generation, alive).await?;
        }
        tracing::debug!(
            key,
            generation,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "indexed the new copy"
        );
        Ok(())
    }

    /// SQLite's FTS5 trigram table over the copy's `search`, and its [`facets_table`], filled
    /// from the table in runs of [`TRIGRAM_ROWS`] row ids, a transaction each (about 4 s for
    /// 1,000,000 rows, against 17–20 s for FTS5's own `rebuild`). The trigram table is
    /// external-content with `detail = none` (postings only; `search LIKE` confirms a match on
    /// the row it reads anyway) and `columnsize = 0` (nothing here ranks).
    ///
    /// The same runs fill the copy's [`facets_table`] under the same row ids: a search's counts
    /// read each match by row id to confirm it and count it by product and status, and its rows
    /// (product, status, `search`: 70 MB at 1,000,000, against the copy's 425) took 27–28 ms a
    /// part for "bakery" where the copy's own took 34–40 (`sqlite3`, half the row ids).
    async fn fill_search_tables(
        &self,
        key: u64,
        generation: i64,
        alive: &(dyn Fn() -> Result<(), SyncError> + Sync),
    ) -> Result<(), SyncError> {
        let t = table(key, generation);
        let s = search_table(key, generation);
        let f = facets_table(key, generation);
        self.db
            .execute(&Sql::new(&format!(
                "CREATE VIRTUAL TABLE {s} USING fts5(search, content = '{t}', \
                 content_rowid = 'rowid', tokenize = 'trigram', detail = 'none', columnsize = 0)"
            )))
            .await?;
        self.db
            .execute(&Sql::new(&format!(
                "CREATE TABLE {f} (p INTEGER NOT NULL, active INTEGER NOT NULL, \
                 search TEXT NOT NULL)"
            )))
            .await?;
        let last = last_rowid(&self.db, key, generation).await?;
        let mut from = 0;
        while from < last {
            alive()?;
            let to = from.saturating_add(TRIGRAM_ROWS);
            let run = |insert: String| {
                let mut sql = Sql::new(&format!("{insert} FROM {t} WHERE rowid > "));
                sql.bind(Bind::Int(from))
                    .push(" AND rowid <= ")
                    .bind(Bind::Int(to));
                sql
            };
            self.db
                .transaction(&[
                    run(format!(
                        "INSERT INTO {s} (rowid, search) SELECT rowid, search"
                    )),
                    run(format!(
                        "INSERT INTO {f} (rowid, p, active, search) SELECT rowid, \
                         COALESCE(current_product_id, product_id, 0), cancelled_on IS NULL, search"
                    )),
                ])
                .await?;
            from = to;
        }
        Ok(())
    }

    /// On PostgreSQL, VACUUM (ANALYZE) the copy's table once it is in, before it becomes
    /// visible. Autovacuum would do it up to a minute later; until then the planner took a key
    /// for a handful of rows and ran a page as a nested loop over the whole key, rerunning the
    /// page's query per row (10 s a page at 10,000 activations), and every index-only scan
    /// fetched each row from the table anyway, because the visibility map did not yet say the
    /// new rows' pages were visible to all. The vacuum reads the pages the copy wrote (the old
    /// copy's are already marked), and ANALYZE samples a fixed number of rows. SQLite's plans do
    /// not depend on statistics here (the `EXPLAIN` tests hold them without any).
    pub(super) async fn refresh_statistics(&self, key: u64, generation: i64) {
        if self.db.dialect() != Dialect::Postgres {
            return;
        }
        let started = std::time::Instant::now();
        let mut tables = table(key, generation);
        if has_trigram(&self.db).await.unwrap_or(false) {
            tables.push_str(", ");
            tables.push_str(&facets_table(key, generation));
        }
        let vacuum = format!("VACUUM (ANALYZE) {tables}");
        match self.db.execute(&Sql::new(&vacuum)).await {
            Ok(_) => tracing::debug!(
                key,
                elapsed_ms = started.elapsed().as_millis() as u64,
                "vacuumed and analysed after the copy"
            ),
            // Not a reason to throw the copy away: autovacuum will catch up.
            Err(e) => {
                tracing::warn!(key, error = %e, "could not vacuum and analyse after a copy")
            }
        }
    }

    /// Sweeps `key` once [`IndexSettings::retire_after`] has passed: a view that read the old
    /// state just before the switch still finds its table (a request runs at most the request
    /// timeout, which that setting exceeds).
    ///
    /// [`IndexSettings::retire_after`]: super::IndexSettings::retire_after
    pub(super) fn retire_older(&self, key: u64) {
        let index = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(index.settings.retire_after).await;
            if let Err(e) = index.sweep().await {
                tracing::warn!(key, error = %e, "could not drop the replaced copies");
            }
        });
    }

    /// Drops every copy table no one needs: of each key, all but the visible copy, the running
    /// attempt's and the stopped one kept to resume from. A copy replaced less than
    /// [`IndexSettings::retire_after`] ago stays until then. A partial copy whose attempt is
    /// gone (it crashed before anyone resumed it, or was given up) goes too. Returns the copies
    /// dropped.
    ///
    /// [`IndexSettings::retire_after`]: super::IndexSettings::retire_after
    pub async fn sweep(&self) -> Result<usize, sqlx::Error> {
        let copies = all(&self.db).await?;
        let mut keys: Vec<u64> = copies.iter().map(|(k, _)| *k).collect();
        keys.dedup();
        let now = self.clock.now();
        let retire = i64::try_from(self.settings.retire_after.as_secs()).unwrap_or(i64::MAX);
        let mut dropped = 0;
        for key in keys {
            let mut read = Sql::new(
                "SELECT generation, synced_at, running_generation, resume_generation \
                 FROM key_syncs WHERE key_id = ",
            );
            read.bind(Bind::Int(key as i64));
            let row: Option<SweepRow> = self.db.fetch_optional(&read).await?;
            let Some((visible, synced_at, running, resumable)) = row else {
                continue;
            };
            let settled = synced_at.is_none_or(|t| now - t >= retire);
            for &(k, g) in &copies {
                let needed = g == visible || Some(g) == running || Some(g) == resumable;
                // Newer than the visible copy and nobody's: a partial left behind. Older: a
                // replaced copy, once no request can still be reading it.
                if k != key || needed || (g < visible && !settled) {
                    continue;
                }
                // Another process may have started an attempt since the read: only a
                // generation below the key's next one, and not running now, is dropped.
                let mut still = Sql::new("SELECT COUNT(*) FROM key_syncs WHERE key_id = ");
                still
                    .bind(Bind::Int(key as i64))
                    .push(" AND (running_generation = ")
                    .bind(Bind::Int(g))
                    .push(" OR resume_generation = ")
                    .bind(Bind::Int(g))
                    .push(" OR generation = ")
                    .bind(Bind::Int(g))
                    .push(")");
                let mut tx = self.db.begin().await?;
                if tx.dialect() == Dialect::Postgres {
                    let mut lock = Sql::new("SELECT 1 FROM key_syncs WHERE key_id = ");
                    lock.bind(Bind::Int(key as i64)).push(" FOR UPDATE");
                    tx.execute(&lock).await?;
                }
                let busy: Option<(i64,)> = tx.fetch_optional(&still).await?;
                if busy.is_some_and(|(n,)| n > 0) {
                    tx.rollback().await?;
                    continue;
                }
                for sql in drop(self.db.dialect(), k, g) {
                    tx.execute(&sql).await?;
                }
                tx.commit().await?;
                self.facets.invalidate(&super::whole_copy_key(k, g)).await;
                self.per_day.invalidate(&super::whole_copy_key(k, g)).await;
                dropped += 1;
            }
        }
        if dropped > 0 {
            tracing::debug!(dropped, "dropped copies no one needs");
        }
        Ok(dropped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_other_tables_are_not_copies() {
        assert_eq!(table(70, 3), "activations_70_3");
        assert_eq!(parse("activations_70_3"), Some((70, 3)));
        assert_eq!(parse(&search_table(70, 3)), Some((70, 3)));
        assert_eq!(parse(&facets_table(70, 3)), Some((70, 3)));
        assert_eq!(parse("activations_70_3_search_data"), Some((70, 3)));
        assert_eq!(parse("activations_70_3_other"), None);
        assert_eq!(parse("activations"), None);
        assert_eq!(parse("activations_x_1"), None);
    }

    #[test]
    fn every_index_is_named_after_its_copy() {
        for dialect in [Dialect::Sqlite, Dialect::Postgres] {
            for sql in indexes(dialect, 70, 3, true) {
                assert!(
                    sql.text.starts_with("CREATE INDEX activations_70_3_")
                        && sql.text.contains(" ON activations_70_3 "),
                    "{}",
                    sql.text
                );
            }
        }
    }

    #[test]
    fn the_facets_table_has_one_index_per_part_named_after_its_copy() {
        let (fill, parts) = facets(70, 3, 1_000, 3);
        assert!(
            fill[0]
                .text
                .starts_with("CREATE TABLE activations_70_3_facets ")
        );
        assert!(
            fill[1].text.contains("* 3 / 1000, 2), "),
            "{}",
            fill[1].text
        );
        let names: Vec<&str> = parts
            .iter()
            .map(|sql| sql.text.split(' ').nth(2).unwrap_or_default())
            .collect();
        assert_eq!(
            names,
            [0, 1, 2].map(|i| format!("activations_70_3_facets_trgm_{i}"))
        );
        assert!(
            parts[2].text.ends_with("WHERE part = 2"),
            "{}",
            parts[2].text
        );
        // More parts than rows: one part a row at most.
        assert_eq!(facets(70, 3, 2, 4).1.len(), 2);
    }
}
