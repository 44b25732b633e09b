//! Session reads that arrive together go to the database as one statement.
//!
//! Every request that is not served from memory reads its session (and the state versions) from
//! the database. Under load most of a request's time, on PostgreSQL, is that round trip: the
//! portal's write to the server's socket, and the server's own work. So reads queue here, and
//! one task sends them: whatever waits when a statement is sent goes in it, and whatever
//! arrives while it runs waits for the next one.
//!
//! Why this changes nothing a request can see: a read goes in a statement sent *after* the read
//! was queued, so the statement sees every commit that came before the request asked, exactly
//! as a statement of its own would (a removed member or an ended session still takes effect at
//! the next request). A read waits at most for the statement in flight and then its own.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
};

use time::OffsetDateTime;
use tokio::sync::oneshot;
use tower_sessions::{
    session::{Id, Record},
    session_store,
};

use super::{SqlSessionStore, backend, row_key};
use crate::{
    db::{Bind, Sql},
    versions::Versions,
};

/// The most sessions one statement reads; the rest wait for the next.
const MOST_PER_STATEMENT: usize = 32;

/// What a queued read gets back.
type Answer = Result<Option<Record>, String>;

/// A queued read: the session it wants, and where its answer goes.
type Read = (Id, oneshot::Sender<Answer>);

/// A row of [`SqlSessionStore::read_many`]: the row key, sealed data and expiry of a session
/// found (all none when none was), and the state versions.
type Row = (Option<String>, Option<String>, Option<i64>, Option<String>);

/// The reads waiting for a statement. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub(super) struct Queue(Arc<Mutex<Waiting>>);

#[derive(Debug, Default)]
struct Waiting {
    reads: Vec<Read>,
    /// A task is sending statements; it takes what is queued before it ends.
    sending: bool,
}

impl Queue {
    fn waiting(&self) -> MutexGuard<'_, Waiting> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues a read of `id`; true when no task is sending, and the caller must start one.
    fn push(&self, id: Id, answer: oneshot::Sender<Answer>) -> bool {
        let mut waiting = self.waiting();
        waiting.reads.push((id, answer));
        !std::mem::replace(&mut waiting.sending, true)
    }

    /// The next reads to send, with the distinct sessions they name (at most
    /// [`MOST_PER_STATEMENT`]), or none (and the task ends) when nothing waits.
    fn next(&self) -> Option<(Vec<Id>, Vec<Read>)> {
        let mut waiting = self.waiting();
        if waiting.reads.is_empty() {
            waiting.sending = false;
            return None;
        }
        let mut ids: Vec<Id> = Vec::new();
        let mut now = Vec::new();
        let mut later = Vec::new();
        for (id, answer) in waiting.reads.drain(..) {
            let seen = ids.contains(&id);
            if seen || ids.len() < MOST_PER_STATEMENT {
                if !seen {
                    ids.push(id);
                }
                now.push((id, answer));
            } else {
                later.push((id, answer));
            }
        }
        waiting.reads = later;
        Some((ids, now))
    }
}

/// Held by a sending task: when it ends before the queue is empty (a panic, or the runtime
/// shutting down), the reads still waiting are answered with an error (their senders dropped)
/// rather than left waiting, and the next read starts a new task.
struct Sending {
    queue: Queue,
    /// [`Queue::next`] answered none: the queue was empty and `sending` is already false (and
    /// may by now be another task's).
    done: bool,
}

impl Drop for Sending {
    fn drop(&mut self) {
        if !self.done {
            let mut waiting = self.queue.waiting();
            waiting.sending = false;
            waiting.reads.clear();
        }
    }
}

impl SqlSessionStore {
    /// The session `id` from the database, read in the next statement sent.
    pub(super) async fn load_batched(&self, id: Id) -> session_store::Result<Option<Record>> {
        let (answer, answered) = oneshot::channel();
        if self.queue.push(id, answer) {
            let store = self.clone();
            tokio::spawn(async move { store.send_reads().await });
        }
        answered
            .await
            .map_err(|_| session_store::Error::Backend("the session read was dropped".into()))?
            .map_err(session_store::Error::Backend)
    }

    /// Sends statements until nothing waits.
    async fn send_reads(&self) {
        let mut guard = Sending {
            queue: self.queue.clone(),
            done: false,
        };
        while let Some((ids, reads)) = self.queue.next() {
            match self.read_many(&ids).await {
                Ok(found) => {
                    for (id, answer) in reads {
                        let _ = answer.send(found.get(&id).cloned().unwrap_or(Ok(None)));
                    }
                }
                Err(e) => {
                    let message = message(e);
                    for (_, answer) in reads {
                        let _ = answer.send(Err(message.clone()));
                    }
                }
            }
        }
        guard.done = true;
    }

    /// One statement: the sessions `ids` that exist and have not expired, and the state
    /// versions (see [`crate::versions`]). A row that cannot be made a session fails that
    /// session's read alone.
    async fn read_many(&self, ids: &[Id]) -> session_store::Result<HashMap<Id, Answer>> {
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
        let rows: Vec<Row> = self.db.fetch_all(&sql).await.map_err(backend)?;
        if let Some(versions) = rows.first().and_then(|r| r.3.as_deref()) {
            self.versions.observe(versions);
            self.versions.synced(before);
        }
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
}

/// What a failed read answers: the store's message.
fn message(e: session_store::Error) -> String {
    match e {
        session_store::Error::Backend(m) => m,
        other => other.to_string(),
    }
}
