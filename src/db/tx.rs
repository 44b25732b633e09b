//! A transaction that reads, decides and writes, on either database, whose connection never
//! goes back to the pool in an unknown state.
//!
//! [`Tx`] holds a pooled connection and issues `BEGIN`/`COMMIT` itself. If any statement fails,
//! or the transaction is dropped before it commits (an error returned early, a cancelled
//! request), the connection is closed instead of returned: closing rolls back whatever was
//! open, and no later request can be handed a connection still inside a transaction. (SQLite
//! rolls a transaction back on its own when the disk fills; sqlx's own `Transaction` then kept
//! counting one open, and every later `begin` on that pooled connection failed with
//! "attempted to call begin_with at non-zero transaction depth" until the process restarted.)

use futures_util::future::BoxFuture;
use sqlx::{Postgres, Sqlite, pool::PoolConnection};

use super::{AnyRow, Bind, Db, Health, Pool, Sql};
use std::sync::Arc;

/// The pooled connection a [`Tx`] runs on.
#[derive(Debug)]
enum Conn {
    Sqlite(PoolConnection<Sqlite>),
    Postgres(PoolConnection<Postgres>),
}

/// An open transaction. Commit it with [`Tx::commit`]; anything else closes its connection.
#[derive(Debug)]
pub struct Tx {
    conn: Conn,
    health: Arc<Health>,
    /// Ended by a COMMIT or ROLLBACK that succeeded: the connection may be reused.
    committed: bool,
}

impl Db {
    /// Starts a transaction. On SQLite it takes the write lock at once (`BEGIN IMMEDIATE`,
    /// waiting up to the busy timeout), so two transactions that read, decide and write never
    /// both decide on the same reading.
    pub async fn begin(&self) -> Result<Tx, sqlx::Error> {
        let conn = match &self.pool {
            Pool::Sqlite(p) => Conn::Sqlite(p.acquire().await.map_err(|e| self.health.note(e))?),
            Pool::Postgres(p) => {
                Conn::Postgres(p.acquire().await.map_err(|e| self.health.note(e))?)
            }
        };
        let mut tx = Tx {
            conn,
            health: self.health.clone(),
            committed: false,
        };
        let begin = match tx.conn {
            Conn::Sqlite(_) => "BEGIN IMMEDIATE",
            Conn::Postgres(_) => "BEGIN",
        };
        tx.raw(begin).await?;
        Ok(tx)
    }
}

impl Tx {
    /// Which database this runs on.
    pub fn dialect(&self) -> super::Dialect {
        match self.conn {
            Conn::Sqlite(_) => super::Dialect::Sqlite,
            Conn::Postgres(_) => super::Dialect::Postgres,
        }
    }

    /// Marks the connection to be closed rather than reused, and passes `e` on.
    fn failed(&mut self, e: sqlx::Error) -> sqlx::Error {
        match &mut self.conn {
            Conn::Sqlite(c) => c.close_on_drop(),
            Conn::Postgres(c) => c.close_on_drop(),
        }
        self.health.note(e)
    }

    // The statements' futures are boxed here, where their lifetimes are concrete: left to
    // the caller's future, rustc cannot prove that `&mut PgConnection` is an `Executor` for
    // every lifetime, and a `tokio::spawn` far away fails with "not general enough".
    fn raw(&mut self, text: &'static str) -> BoxFuture<'_, Result<(), sqlx::Error>> {
        Box::pin(async move {
            self.health.sent();
            let result = match &mut self.conn {
                Conn::Sqlite(c) => sqlx::query(text).execute(&mut **c).await.map(drop),
                Conn::Postgres(c) => sqlx::query(text).execute(&mut **c).await.map(drop),
            };
            super::wrote();
            result.map_err(|e| self.failed(e))
        })
    }

    /// Runs a statement; returns the rows it changed.
    pub fn execute<'a>(&'a mut self, sql: &'a Sql) -> BoxFuture<'a, Result<u64, sqlx::Error>> {
        Box::pin(async move {
            self.health.sent();
            let result = match &mut self.conn {
                Conn::Sqlite(c) => bound!(sqlx::query(&sql.text), &sql.binds)
                    .execute(&mut **c)
                    .await
                    .map(|r| r.rows_affected()),
                Conn::Postgres(c) => bound!(sqlx::query(&sql.text), &sql.binds)
                    .execute(&mut **c)
                    .await
                    .map(|r| r.rows_affected()),
            };
            super::wrote();
            result.map_err(|e| self.failed(e))
        })
    }

    /// At most one row.
    pub fn fetch_optional<'a, T: AnyRow>(
        &'a mut self,
        sql: &'a Sql,
    ) -> BoxFuture<'a, Result<Option<T>, sqlx::Error>> {
        Box::pin(async move {
            self.health.sent();
            let result = match &mut self.conn {
                Conn::Sqlite(c) => {
                    bound!(sqlx::query_as::<_, T>(&sql.text), &sql.binds)
                        .fetch_optional(&mut **c)
                        .await
                }
                Conn::Postgres(c) => {
                    bound!(sqlx::query_as::<_, T>(&sql.text), &sql.binds)
                        .fetch_optional(&mut **c)
                        .await
                }
            };
            super::wrote();
            result.map_err(|e| self.failed(e))
        })
    }

    /// All rows of a query.
    pub fn fetch_all<'a, T: AnyRow>(
        &'a mut self,
        sql: &'a Sql,
    ) -> BoxFuture<'a, Result<Vec<T>, sqlx::Error>> {
        Box::pin(async move {
            self.health.sent();
            let result = match &mut self.conn {
                Conn::Sqlite(c) => {
                    bound!(sqlx::query_as::<_, T>(&sql.text), &sql.binds)
                        .fetch_all(&mut **c)
                        .await
                }
                Conn::Postgres(c) => {
                    bound!(sqlx::query_as::<_, T>(&sql.text), &sql.binds)
                        .fetch_all(&mut **c)
                        .await
                }
            };
            super::wrote();
            result.map_err(|e| self.failed(e))
        })
    }

    /// Commits. The connection goes back to the pool only after a commit that succeeded.
    pub async fn commit(mut self) -> Result<(), sqlx::Error> {
        self.raw("COMMIT").await?;
        self.committed = true;
        self.health.clear();
        Ok(())
    }

    /// Rolls back what this transaction did, keeping the connection when that succeeds.
    pub async fn rollback(mut self) -> Result<(), sqlx::Error> {
        self.raw("ROLLBACK").await?;
        self.committed = true;
        Ok(())
    }
}

impl Drop for Tx {
    fn drop(&mut self) {
        // Not committed: closing the connection ends the transaction on the server (or in the
        // SQLite file) without a round trip here, and nothing reuses a connection whose
        // transaction state nobody knows.
        if !self.committed {
            match &mut self.conn {
                Conn::Sqlite(c) => c.close_on_drop(),
                Conn::Postgres(c) => c.close_on_drop(),
            }
        }
    }
}
