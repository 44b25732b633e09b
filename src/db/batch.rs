//! Reads that arrive together go to the database as one statement.
//!
//! A request that memory cannot serve reads its session, or its API token, from the database,
//! with the state versions. Under load most of such a request's time, on PostgreSQL, is that
//! round trip: the portal's write to the server's socket, and the server's own work. So reads
//! queue here, and one task sends them: whatever waits when a statement is sent goes in it, and
//! whatever arrives while it runs waits for the next one.
//!
//! Why this changes nothing a request can see: a read goes in a statement sent *after* the read
//! was queued, so the statement sees every commit that came before the request asked, exactly
//! as a statement of its own would (a removed member, a revoked token or an ended session still
//! takes effect at the next request). A read waits at most for the statement in flight and
//! then its own.

use std::{
    collections::HashMap,
    future::Future,
    hash::Hash,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
};

use tokio::sync::oneshot;

/// The most distinct keys one statement reads; the rest wait for the next.
pub const MOST_PER_STATEMENT: usize = 32;

/// A store whose reads of single rows can be sent together.
pub trait ReadMany: Clone + Send + Sync + 'static {
    /// What names a row (a session id, a token's hash).
    type Key: Clone + Eq + Hash + Send + 'static;
    /// What a read answers when its row is found.
    type Value: Clone + Send + 'static;
    /// Why a read failed; each waiting read gets a copy.
    type Error: Clone + Send + 'static;

    /// One statement reading `keys` (distinct, at most [`MOST_PER_STATEMENT`]): each key found,
    /// with its answer (a row that cannot be read fails that key alone), or why the statement
    /// failed. A key absent from the map was not found.
    fn read_many(
        &self,
        keys: &[Self::Key],
    ) -> impl Future<Output = Result<HashMap<Self::Key, Answer<Self>>, Self::Error>> + Send;

    /// What a read answers when the task sending it ended before it was answered.
    fn dropped() -> Self::Error;
}

/// What a queued read gets back.
pub type Answer<R> = Result<Option<<R as ReadMany>::Value>, <R as ReadMany>::Error>;

/// A queued read: the row it wants, and where its answer goes.
type Read<R> = (<R as ReadMany>::Key, oneshot::Sender<Answer<R>>);

/// What one statement carries: the distinct keys, and the reads that wait for them.
type Statement<R> = (Vec<<R as ReadMany>::Key>, Vec<Read<R>>);

/// The reads of `R` waiting for a statement. Cheap to clone.
pub struct Queue<R: ReadMany>(Arc<Mutex<Waiting<R>>>);

struct Waiting<R: ReadMany> {
    reads: Vec<Read<R>>,
    /// A task is sending statements; it takes what is queued before it ends.
    sending: bool,
}

impl<R: ReadMany> Clone for Queue<R> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<R: ReadMany> Default for Queue<R> {
    fn default() -> Self {
        Self(Arc::new(Mutex::new(Waiting {
            reads: Vec::new(),
            sending: false,
        })))
    }
}

impl<R: ReadMany> std::fmt::Debug for Queue<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Queue")
            .field("waiting", &self.waiting().reads.len())
            .finish()
    }
}

impl<R: ReadMany> Queue<R> {
    fn waiting(&self) -> MutexGuard<'_, Waiting<R>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The row `key` as `reader` finds it, read in the next statement sent.
    pub async fn read(&self, reader: &R, key: R::Key) -> Answer<R> {
        let (answer, answered) = oneshot::channel();
        if self.push(key, answer) {
            let (queue, reader) = (self.clone(), reader.clone());
            tokio::spawn(async move { queue.send(&reader).await });
        }
        answered.await.unwrap_or_else(|_| Err(R::dropped()))
    }

    /// Queues a read of `key`; true when no task is sending, and the caller must start one.
    fn push(&self, key: R::Key, answer: oneshot::Sender<Answer<R>>) -> bool {
        let mut waiting = self.waiting();
        waiting.reads.push((key, answer));
        !std::mem::replace(&mut waiting.sending, true)
    }

    /// The next reads to send, with the distinct keys they name (at most
    /// [`MOST_PER_STATEMENT`]), or none (and the task ends) when nothing waits.
    fn next(&self) -> Option<Statement<R>> {
        let mut waiting = self.waiting();
        if waiting.reads.is_empty() {
            waiting.sending = false;
            return None;
        }
        let mut keys: Vec<R::Key> = Vec::new();
        let mut now = Vec::new();
        let mut later = Vec::new();
        for (key, answer) in waiting.reads.drain(..) {
            let seen = keys.contains(&key);
            if seen || keys.len() < MOST_PER_STATEMENT {
                if !seen {
                    keys.push(key.clone());
                }
                now.push((key, answer));
            } else {
                later.push((key, answer));
            }
        }
        waiting.reads = later;
        Some((keys, now))
    }

    /// Sends statements until nothing waits.
    async fn send(&self, reader: &R) {
        let mut guard = Sending {
            queue: self.clone(),
            done: false,
        };
        while let Some((keys, reads)) = self.next() {
            match reader.read_many(&keys).await {
                Ok(found) => {
                    for (key, answer) in reads {
                        let _ = answer.send(found.get(&key).cloned().unwrap_or(Ok(None)));
                    }
                }
                Err(e) => {
                    for (_, answer) in reads {
                        let _ = answer.send(Err(e.clone()));
                    }
                }
            }
        }
        guard.done = true;
    }
}

/// Held by a sending task: when it ends before the queue is empty (a panic, or the runtime
/// shutting down), the reads still waiting are answered with an error (their senders dropped)
/// rather than left waiting, and the next read starts a new task.
struct Sending<R: ReadMany> {
    queue: Queue<R>,
    /// [`Queue::next`] answered none: the queue was empty and `sending` is already false (and
    /// may by now be another task's).
    done: bool,
}

impl<R: ReadMany> Drop for Sending<R> {
    fn drop(&mut self) {
        if !self.done {
            let mut waiting = self.queue.waiting();
            waiting.sending = false;
            waiting.reads.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Squares numbers; counts its statements; fails key 13 alone and every statement with 99.
    #[derive(Clone, Default)]
    struct Squares {
        statements: Arc<AtomicUsize>,
        widest: Arc<AtomicUsize>,
    }

    impl ReadMany for Squares {
        type Key = u64;
        type Value = u64;
        type Error = String;

        async fn read_many(&self, keys: &[u64]) -> Result<HashMap<u64, Answer<Self>>, String> {
            self.statements.fetch_add(1, Ordering::SeqCst);
            self.widest.fetch_max(keys.len(), Ordering::SeqCst);
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            if keys.contains(&99) {
                return Err("statement failed".into());
            }
            Ok(keys
                .iter()
                .filter(|k| **k != 0)
                .map(|k| {
                    (
                        *k,
                        if *k == 13 {
                            Err("bad row".into())
                        } else {
                            Ok(Some(k * k))
                        },
                    )
                })
                .collect())
        }

        fn dropped() -> String {
            "dropped".into()
        }
    }

    #[tokio::test]
    async fn reads_that_wait_together_share_statements_and_keep_their_own_answers() {
        let (queue, reader) = (Queue::<Squares>::default(), Squares::default());
        let reads = (0..100u64).map(|i| {
            let (queue, reader) = (queue.clone(), reader.clone());
            tokio::spawn(async move { (i % 40, queue.read(&reader, i % 40).await) })
        });
        for read in futures_util::future::join_all(reads).await {
            let (key, answer) = read.map_err(|e| e.to_string()).unwrap_or((0, Ok(None)));
            match key {
                0 => assert_eq!(answer, Ok(None), "key 0 is not found"),
                13 => assert_eq!(answer, Err("bad row".to_owned())),
                k => assert_eq!(answer, Ok(Some(k * k))),
            }
        }
        let statements = reader.statements.load(Ordering::SeqCst);
        assert!(statements <= 4, "{statements} statements for 100 reads");
        assert!(reader.widest.load(Ordering::SeqCst) <= MOST_PER_STATEMENT);
        // The queue is idle again, and a later read starts a new task.
        assert_eq!(queue.read(&reader, 3).await, Ok(Some(9)));
        assert!(!queue.waiting().sending);
    }

    #[tokio::test]
    async fn a_failed_statement_fails_the_reads_it_carried_only() {
        let (queue, reader) = (Queue::<Squares>::default(), Squares::default());
        assert_eq!(
            queue.read(&reader, 99).await,
            Err("statement failed".to_owned())
        );
        assert_eq!(queue.read(&reader, 4).await, Ok(Some(16)));
    }
}
