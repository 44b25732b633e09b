//! The session store: one table, `sessions`, on SQLite or PostgreSQL.
//!
//! Unlike the upsert-based stores, `save` here only *updates* an existing row. A request that
//! was already in flight when its session was logged out therefore cannot bring the session back
//! (`SECURITY.md` finding 2); `create` inserts and retries on an id collision.

use async_trait::async_trait;
use time::OffsetDateTime;
use tower_sessions::{
    session::{Id, Record},
    session_store::{self, SessionStore},
};

use crate::db::Db;

/// Sessions persisted in the portal's database.
#[derive(Debug, Clone)]
pub struct SqlSessionStore {
    db: Db,
}

impl SqlSessionStore {
    /// A store on `db` (the migrations must have run).
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// Deletes expired rows; returns how many went.
    pub async fn delete_expired(&self) -> Result<u64, sqlx::Error> {
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let sql = "DELETE FROM sessions WHERE expires_at < $1";
        Ok(match &self.db {
            Db::Sqlite(p) => sqlx::query(sql).bind(now).execute(p).await?.rows_affected(),
            Db::Postgres(p) => sqlx::query(sql).bind(now).execute(p).await?.rows_affected(),
        })
    }

    /// Counts live sessions (for tests and metrics).
    pub async fn count_live(&self) -> Result<i64, sqlx::Error> {
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let sql = "SELECT COUNT(*) FROM sessions WHERE expires_at >= $1";
        match &self.db {
            Db::Sqlite(p) => sqlx::query_scalar(sql).bind(now).fetch_one(p).await,
            Db::Postgres(p) => sqlx::query_scalar(sql).bind(now).fetch_one(p).await,
        }
    }

    /// Runs [`Self::delete_expired`] every `period` until the process ends.
    pub fn spawn_cleanup(self, period: std::time::Duration) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(period);
            loop {
                tick.tick().await;
                if let Err(e) = self.delete_expired().await {
                    tracing::warn!(error = %e, "expired-session cleanup failed");
                }
            }
        })
    }
}

fn backend(e: sqlx::Error) -> session_store::Error {
    session_store::Error::Backend(e.to_string())
}

fn encode(record: &Record) -> session_store::Result<String> {
    serde_json::to_string(&record.data).map_err(|e| session_store::Error::Encode(e.to_string()))
}

#[async_trait]
impl SessionStore for SqlSessionStore {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        let data = encode(record)?;
        let expires = record.expiry_date.unix_timestamp();
        let sql = "INSERT INTO sessions (id, data, expires_at) VALUES ($1, $2, $3) \
                   ON CONFLICT (id) DO NOTHING";
        // A collision of two 128-bit random ids is astronomically unlikely; retry anyway.
        for _ in 0..8 {
            let id = record.id.to_string();
            let inserted = match &self.db {
                Db::Sqlite(p) => sqlx::query(sql)
                    .bind(&id)
                    .bind(&data)
                    .bind(expires)
                    .execute(p)
                    .await
                    .map(|r| r.rows_affected()),
                Db::Postgres(p) => sqlx::query(sql)
                    .bind(&id)
                    .bind(&data)
                    .bind(expires)
                    .execute(p)
                    .await
                    .map(|r| r.rows_affected()),
            }
            .map_err(backend)?;
            if inserted == 1 {
                return Ok(());
            }
            record.id = Id::default();
        }
        Err(session_store::Error::Backend(
            "could not allocate a session id".into(),
        ))
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        let data = encode(record)?;
        let expires = record.expiry_date.unix_timestamp();
        let id = record.id.to_string();
        // Update only: a row deleted by logout or expiry stays deleted.
        let sql = "UPDATE sessions SET data = $1, expires_at = $2 WHERE id = $3";
        match &self.db {
            Db::Sqlite(p) => sqlx::query(sql)
                .bind(&data)
                .bind(expires)
                .bind(&id)
                .execute(p)
                .await
                .map(drop),
            Db::Postgres(p) => sqlx::query(sql)
                .bind(&data)
                .bind(expires)
                .bind(&id)
                .execute(p)
                .await
                .map(drop),
        }
        .map_err(backend)?;
        Ok(())
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let sql = "SELECT data, expires_at FROM sessions WHERE id = $1 AND expires_at >= $2";
        let row: Option<(String, i64)> = match &self.db {
            Db::Sqlite(p) => {
                sqlx::query_as(sql)
                    .bind(id.to_string())
                    .bind(now)
                    .fetch_optional(p)
                    .await
            }
            Db::Postgres(p) => {
                sqlx::query_as(sql)
                    .bind(id.to_string())
                    .bind(now)
                    .fetch_optional(p)
                    .await
            }
        }
        .map_err(backend)?;
        let Some((data, expires_at)) = row else {
            return Ok(None);
        };
        let data =
            serde_json::from_str(&data).map_err(|e| session_store::Error::Decode(e.to_string()))?;
        let expiry_date = OffsetDateTime::from_unix_timestamp(expires_at)
            .map_err(|e| session_store::Error::Decode(e.to_string()))?;
        Ok(Some(Record {
            id: *id,
            data,
            expiry_date,
        }))
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        let sql = "DELETE FROM sessions WHERE id = $1";
        match &self.db {
            Db::Sqlite(p) => sqlx::query(sql)
                .bind(id.to_string())
                .execute(p)
                .await
                .map(drop),
            Db::Postgres(p) => sqlx::query(sql)
                .bind(id.to_string())
                .execute(p)
                .await
                .map(drop),
        }
        .map_err(backend)?;
        Ok(())
    }
}
