//! The session store: one table, `sessions`, on SQLite or PostgreSQL.
//!
//! Unlike the upsert-based stores, `save` here only *updates* an existing row. A request that
//! was already in flight when its session was logged out therefore cannot bring the session back
//! (`SECURITY.md` finding 2); `create` inserts and retries on an id collision.
//!
//! The session data (which holds the WordPress.com bearer token) is encrypted at rest with
//! XChaCha20-Poly1305 under `PORTAL_SESSION_KEY`, bound to its session id, so neither a copy of
//! the database nor a row moved to another id yields a usable token. Rows are keyed by a SHA-256
//! of the session id, never the id itself, so reading the table gives no usable cookie.

use std::collections::HashMap;

use async_trait::async_trait;
use time::OffsetDateTime;
use tower_sessions::{
    session::{Id, Record},
    session_store::{self, SessionStore},
};

use crate::{
    db::{
        Bind, Db, Sql,
        batch::{self, Answer, ReadMany},
    },
    secret::Sealer,
    versions::{Remembered, Versions},
};

/// A row of the session read: the row key, sealed data and expiry of a session found (all none
/// when none was), and the state versions.
type Row = (Option<String>, Option<String>, Option<i64>, Option<String>);

/// Sessions persisted in the portal's database.
#[derive(Clone)]
pub struct SqlSessionStore {
    db: Db,
    sealer: Sealer,
    /// Takes in the versions each session read carries (see [`crate::versions`]).
    versions: Versions,
    /// Sessions as this process last read or wrote them: used only while
    /// [`Versions::current`] says nothing else can have written them.
    records: Remembered<Id, Record>,
    /// Reads waiting to go to the database together ([`batch`]).
    queue: batch::Queue<SqlSessionStore>,
}

impl std::fmt::Debug for SqlSessionStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlSessionStore")
            .field("db", &self.db)
            .finish()
    }
}

impl SqlSessionStore {
    /// A store on `db` (the migrations must have run) encrypting with `sealer`. A session
    /// sealed with a previous key opens, and is sealed with the current one when next saved.
    /// Each read of a session also reads the state versions, into `versions`.
    pub fn new(db: Db, sealer: Sealer, versions: Versions) -> Self {
        Self {
            db,
            sealer,
            versions,
            records: Remembered::default(),
            queue: batch::Queue::default(),
        }
    }

    /// The session `id` from memory, when nothing but this process can have changed it since.
    fn remembered(&self, id: &Id, now: i64) -> Option<Record> {
        let stamp = self.versions.current()?;
        self.records
            .get(id, stamp, |r| r.expiry_date.unix_timestamp() >= now)
    }

    fn encode(&self, record: &Record) -> session_store::Result<String> {
        let plain = serde_json::to_vec(&record.data)
            .map_err(|e| session_store::Error::Encode(e.to_string()))?;
        self.sealer
            .seal(&plain, record.id.to_string().as_bytes())
            .ok_or_else(|| session_store::Error::Encode("encryption failed".into()))
    }

    fn decode(
        &self,
        id: &Id,
        stored: &str,
    ) -> session_store::Result<std::collections::HashMap<String, serde_json::Value>> {
        let plain = self
            .sealer
            .open(stored, id.to_string().as_bytes())
            .ok_or_else(|| {
                session_store::Error::Decode(
                    "session data could not be decrypted (wrong PORTAL_SESSION_KEY?)".into(),
                )
            })?;
        serde_json::from_slice(&plain).map_err(|e| session_store::Error::Decode(e.to_string()))
    }

    /// The session `id` from its stored row, or none when the row does not decrypt.
    fn record(&self, id: Id, data: &str, expires_at: i64) -> session_store::Result<Option<Record>> {
        // A row that does not decrypt (the key was changed) is a session that no longer exists:
        // the user logs in again instead of seeing an error.
        let data = match self.decode(&id, data) {
            Ok(data) => data,
            Err(e) => {
                tracing::warn!(error = %e, "ignoring a session that does not decrypt");
                return Ok(None);
            }
        };
        let expiry_date = OffsetDateTime::from_unix_timestamp(expires_at)
            .map_err(|e| session_store::Error::Decode(e.to_string()))?;
        Ok(Some(Record {
            id,
            data,
            expiry_date,
        }))
    }

    /// The sessions' database.
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// Checks that the sessions' database answers.
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        self.db.ping().await
    }

    /// Deletes expired rows; returns how many went.
    pub async fn delete_expired(&self) -> Result<u64, sqlx::Error> {
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let mut sql = Sql::new("DELETE FROM sessions WHERE expires_at < ");
        sql.bind(Bind::Int(now));
        self.db.execute(&sql).await
    }

    /// Counts live sessions (for tests and metrics).
    pub async fn count_live(&self) -> Result<i64, sqlx::Error> {
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let mut sql = Sql::new("SELECT COUNT(*) FROM sessions WHERE expires_at >= ");
        sql.bind(Bind::Int(now));
        let row: Option<(i64,)> = self.db.fetch_optional(&sql).await?;
        Ok(row.map_or(0, |(n,)| n))
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

/// The row key of a session: a SHA-256 of its id, so whoever can read the database cannot use
/// the sessions in it (the cookie carries the id itself).
fn row_key(id: &Id) -> String {
    use sha2::{Digest as _, Sha256};
    let digest = Sha256::digest(format!("partner-portal session {id}").as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

fn backend(e: sqlx::Error) -> session_store::Error {
    session_store::Error::Backend(e.to_string())
}

#[async_trait]
impl SessionStore for SqlSessionStore {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        let expires = record.expiry_date.unix_timestamp();
        self.records.writing(&record.id);
        // A collision of two 128-bit random ids is astronomically unlikely; retry anyway.
        for _ in 0..8 {
            let mut sql = Sql::new("INSERT INTO sessions (id, data, expires_at) VALUES (");
            sql.bind(Bind::Text(row_key(&record.id)))
                .push(", ")
                .bind(Bind::Text(self.encode(record)?))
                .push(", ")
                .bind(Bind::Int(expires))
                .push(") ON CONFLICT (id) DO NOTHING");
            let inserted = self.db.execute(&sql).await;
            // Moved again once written: a read that overlapped the write keeps nothing. The
            // session is kept once read again: the write moved the WAL index anyway.
            self.records.writing(&record.id);
            if inserted.map_err(backend)? == 1 {
                return Ok(());
            }
            record.id = Id::default();
        }
        Err(session_store::Error::Backend(
            "could not allocate a session id".into(),
        ))
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        // Update only: a row deleted by logout or expiry stays deleted.
        self.records.writing(&record.id);
        let mut sql = Sql::new("UPDATE sessions SET data = ");
        sql.bind(Bind::Text(self.encode(record)?))
            .push(", expires_at = ")
            .bind(Bind::Int(record.expiry_date.unix_timestamp()))
            .push(" WHERE id = ")
            .bind(Bind::Text(row_key(&record.id)));
        let updated = self.db.execute(&sql).await;
        // Moved again once written: a read that overlapped the write keeps nothing.
        self.records.writing(&record.id);
        updated.map_err(backend)?;
        Ok(())
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        let now = OffsetDateTime::now_utc().unix_timestamp();
        if let Some(record) = self.remembered(id, now) {
            return Ok(Some(record));
        }
        // One round trip, shared with the reads that wait beside it: the session, and the
        // versions of what the portal keeps in memory (the request then reads its membership,
        // connection and copy state from there).
        self.queue
            .read(self, *id)
            .await
            .map_err(session_store::Error::Backend)
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        // Forgotten first, and the epoch moved: a read in flight keeps nothing.
        self.records.writing(id);
        let mut sql = Sql::new("DELETE FROM sessions WHERE id = ");
        sql.bind(Bind::Text(row_key(id)));
        let deleted = self.db.execute(&sql).await;
        // And again once deleted: a read that overlapped the delete keeps nothing.
        self.records.writing(id);
        deleted.map_err(backend)?;
        Ok(())
    }
}

impl ReadMany for SqlSessionStore {
    type Key = Id;
    type Value = Record;
    type Error = String;

    /// One statement: the sessions `ids` that exist and have not expired, and the state
    /// versions (see [`crate::versions`]). A row that cannot be made a session fails that
    /// session's read alone.
    async fn read_many(&self, ids: &[Id]) -> Result<HashMap<Id, Answer<Self>>, String> {
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let before = self.versions.before();
        let epoch = self.records.epoch();
        let keys: Vec<String> = ids.iter().map(row_key).collect();
        let mut sql = Sql::new(&format!(
            "SELECT s.id, s.data, s.expires_at, {} FROM (SELECT 1 AS one) AS one \
             LEFT JOIN sessions s ON s.id IN (",
            Versions::select(self.db.dialect())
        ));
        sql.bind_texts(&keys)
            .push(") AND s.expires_at >= ")
            .bind(Bind::Int(now));
        let rows: Vec<Row> = self.db.fetch_all(&sql).await.map_err(|e| e.to_string())?;
        self.versions
            .read_after(before, rows.first().and_then(|r| r.3.as_deref()));
        let mut found = HashMap::new();
        for (key, data, expires_at) in rows
            .into_iter()
            .filter_map(|(k, d, e, _)| Some((k?, d?, e?)))
        {
            let Some(id) = keys
                .iter()
                .position(|k| *k == key)
                .and_then(|i| ids.get(i))
                .copied()
            else {
                continue;
            };
            let answer = self.record(id, &data, expires_at).map_err(message);
            if let Ok(Some(record)) = &answer {
                self.records
                    .remember(epoch, before.stamp(), record.id, record.clone());
            }
            found.insert(id, answer);
        }
        Ok(found)
    }

    fn dropped() -> String {
        "the session read was dropped".into()
    }
}

/// What a failed read answers: the store's message.
fn message(e: session_store::Error) -> String {
    match e {
        session_store::Error::Backend(m) => m,
        other => other.to_string(),
    }
}
