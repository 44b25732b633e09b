//! SQLite's WAL index (`<database>-shm`), read as SQLite's own readers read it: its header
//! changes with every transaction that commits, by any process on the machine, so a process
//! that saw the same header before reading something and sees it again now knows nothing was
//! written since, without sending a statement.
//!
//! The header is two copies of 48 bytes at the start of the file; a writer writes the second,
//! then the first, and a reader trusts them only when the two agree (`walIndexReadHdr` in
//! SQLite's `wal.c`). The file is shared memory to SQLite and is read here through the page
//! cache, which holds the very pages SQLite maps.

use std::{os::unix::fs::FileExt as _, path::Path};

use sqlx::{
    Connection as _,
    sqlite::{SqliteConnectOptions, SqliteConnection, SqliteJournalMode},
};

/// The WAL index's header at one moment: equal headers mean no transaction committed a changed
/// page between the two readings (SQLite writes nothing for an update that leaves a page as it
/// was).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Stamp([u8; HEADER]);

impl std::fmt::Debug for Stamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Bytes 8..12 are the header's change counter.
        let change = u32::from_ne_bytes([self.0[8], self.0[9], self.0[10], self.0[11]]);
        write!(f, "Stamp(change {change})")
    }
}

#[cfg(test)]
impl Stamp {
    /// A header whose change counter is `n`, for tests of what is kept under one.
    pub(crate) fn of_change(n: u8) -> Self {
        let mut bytes = [0u8; HEADER];
        bytes[8] = n;
        Self(bytes)
    }
}

/// One copy of the header (`WalIndexHdr`).
const HEADER: usize = 48;

/// The WAL index of one SQLite database, open for as long as the process runs.
pub struct WalIndex {
    shm: std::fs::File,
    /// A connection held open with it: SQLite deletes the WAL index when the last connection
    /// to the database closes and makes a new file for the next one, which this handle would
    /// never see. While this one is open, the file stays.
    _keeper: SqliteConnection,
}

impl std::fmt::Debug for WalIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WalIndex").finish_non_exhaustive()
    }
}

impl WalIndex {
    /// Opens the WAL index of the SQLite database `file` (in WAL mode, as the portal opens it),
    /// with a connection of its own that keeps it.
    pub async fn open(file: &Path) -> Result<Self, sqlx::Error> {
        let options = SqliteConnectOptions::new()
            .filename(file)
            .create_if_missing(false)
            .journal_mode(SqliteJournalMode::Wal);
        let mut keeper = SqliteConnection::connect_with(&options).await?;
        // A read maps the WAL index (and makes it, if no connection had).
        let _: (i64,) = sqlx::query_as("SELECT count(*) FROM sqlite_master")
            .fetch_one(&mut keeper)
            .await?;
        let mut name = file.as_os_str().to_owned();
        name.push("-shm");
        let shm = std::fs::File::open(name)?;
        Ok(Self {
            shm,
            _keeper: keeper,
        })
    }

    /// The header now, or `None` when it cannot be read or a writer is between its two copies
    /// (the caller then trusts nothing).
    pub fn stamp(&self) -> Option<Stamp> {
        let mut both = [0u8; 2 * HEADER];
        self.shm.read_exact_at(&mut both, 0).ok()?;
        let (first, second) = both.split_at(HEADER);
        // Byte 12 is `isInit`: 0 before SQLite has built the index.
        if first != second || first[12] == 0 {
            return None;
        }
        let mut stamp = [0u8; HEADER];
        stamp.copy_from_slice(first);
        Some(Stamp(stamp))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::sqlite::SqlitePoolOptions;

    #[tokio::test]
    async fn the_stamp_moves_with_each_commit_of_any_connection_and_only_then() {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("w.db");
        let options = SqliteConnectOptions::new()
            .filename(&file)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal);
        let pool = SqlitePoolOptions::new()
            .max_connections(2)
            .connect_with(options.clone())
            .await
            .expect("pool");
        sqlx::query("CREATE TABLE t (n INTEGER)")
            .execute(&pool)
            .await
            .expect("table");
        let wal = WalIndex::open(&file).await.expect("wal index");
        let before = wal.stamp().expect("a stamp");
        let _: Vec<(i64,)> = sqlx::query_as("SELECT n FROM t")
            .fetch_all(&pool)
            .await
            .expect("read");
        assert_eq!(wal.stamp(), Some(before), "a read commits nothing");
        // Another connection, outside the pool, as another process would write.
        let mut other = SqliteConnection::connect_with(&options)
            .await
            .expect("other");
        sqlx::query("INSERT INTO t VALUES (1)")
            .execute(&mut other)
            .await
            .expect("insert");
        let after = wal.stamp().expect("a stamp");
        assert_ne!(after, before, "a commit by another connection moves it");
        sqlx::query("UPDATE t SET n = 1")
            .execute(&pool)
            .await
            .expect("update");
        assert_eq!(
            wal.stamp(),
            Some(after),
            "an update that leaves every page as it was commits no page"
        );
        sqlx::query("UPDATE t SET n = 5")
            .execute(&pool)
            .await
            .expect("update");
        assert_ne!(wal.stamp(), Some(after), "one that changes a row moves it");
        other.close().await.expect("close");
        // Every other connection closes: the keeper holds the index, which still moves.
        pool.close().await;
        let kept = wal.stamp().expect("a stamp");
        let mut again = SqliteConnection::connect_with(&options)
            .await
            .expect("again");
        sqlx::query("INSERT INTO t VALUES (2)")
            .execute(&mut again)
            .await
            .expect("insert");
        assert_ne!(wal.stamp(), Some(kept), "the index is the one SQLite uses");
    }
}
