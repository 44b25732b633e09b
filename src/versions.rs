//! What the portal keeps in memory between requests, and how it knows it is still true.
//!
//! A warm page needs the login's membership and team connection and its key's copy state. These
//! change rarely, but when they change on another replica (or through the `token` command beside
//! a running portal) the next request must see it. So every change moves a row of
//! `state_versions` in its own transaction (database triggers do it, whoever writes), and every
//! request reads those rows in the one statement that reads its session or its API token. What
//! is kept in memory is kept with the version it was read under, and used only while that is
//! still the version: a removed member, a revoked connection or a finished copy is seen at the
//! next request on every replica, and a warm page reads nothing else but its rows.
//!
//! Why this is exact: a kept value's version is taken *before* the value is read, and the
//! versions a request compares with are at least those it read itself. A change committed
//! before the request's first statement moved its row past the version of anything read before
//! that change, so that value is not used.
//!
//! On SQLite, the process that holds the file's lock skips even that statement while the WAL
//! index's header ([`crate::db::wal`]) is what it was before the last reading of the versions:
//! every transaction that changes a page, in any process, changes the header, so an equal
//! header means the database is as that reading found it. A session or a token is kept
//! ([`Remembered`]) under the header taken before it was read, and used only while the header
//! is still that one.

use std::{
    collections::HashMap,
    hash::Hash,
    sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError},
};

use crate::db::{
    Dialect,
    wal::{Stamp, WalIndex},
};

/// How many values one [`Kept`] or [`Remembered`] holds at most; past it, it starts over.
const MOST_KEPT: usize = 10_000;

/// The newest versions this process has read, and whether it may trust them without reading
/// again. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Versions(Arc<Shared>);

/// What [`Versions`] holds.
#[derive(Debug, Default)]
struct Shared {
    seen: Mutex<Seen>,
    /// The WAL index of the SQLite database, when this process holds its lock file (see
    /// [`Versions::held_alone`]).
    wal: OnceLock<WalIndex>,
    /// What [`Versions::before`] took before the last read of the versions.
    synced: Mutex<Option<Before>>,
}

/// Where the database stood before a statement that reads: taken by [`Versions::before`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Before {
    /// [`crate::db::writes`].
    writes: u64,
    /// The WAL index's header, on SQLite when this process holds its lock file.
    stamp: Option<Stamp>,
}

impl Before {
    /// The WAL index's header it holds, which a value read after it is kept under.
    pub fn stamp(&self) -> Option<Stamp> {
        self.stamp
    }
}

/// The versions themselves.
#[derive(Debug, Default)]
struct Seen {
    /// Memberships and team connections.
    team: i64,
    /// Each key's copy state.
    keys: HashMap<u64, i64>,
}

/// Which state a version is of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Of {
    /// Memberships and team connections.
    Team,
    /// One key's copy state.
    Key(u64),
}

impl Versions {
    /// The expression that reads every version as one text (`team=4,key:70=12`), for the
    /// statement that reads a session or a token to carry.
    pub fn select(dialect: Dialect) -> &'static str {
        match dialect {
            Dialect::Sqlite => "(SELECT group_concat(name || '=' || n, ',') FROM state_versions)",
            Dialect::Postgres => {
                "(SELECT string_agg(name || '=' || n::text, ',') FROM state_versions)"
            }
        }
    }

    fn seen(&self) -> MutexGuard<'_, Seen> {
        self.0.seen.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// This process holds SQLite's lock file: memory may be trusted while `wal`, the
    /// database's WAL index, says nothing committed since it was read (see [`Self::current`]).
    pub fn held_alone(&self, wal: WalIndex) {
        let _ = self.0.wal.set(wal);
    }

    /// Where the database stands, taken before a statement that reads the versions or a value
    /// to keep: hand it to [`Self::synced`] after the statement, and keep the values under its
    /// [`Before::stamp`].
    pub fn before(&self) -> Before {
        Before {
            writes: crate::db::writes(),
            stamp: self.0.wal.get().and_then(WalIndex::stamp),
        }
    }

    /// The WAL index's header now, when what the versions hold is what the database holds,
    /// without reading it: this process holds the SQLite file's lock, and no transaction
    /// committed (by this or any other process) since the last reading of the versions began.
    /// A value kept in memory may be used when it was kept under this same stamp. `None`
    /// otherwise: on PostgreSQL, where another replica may write at any moment, always.
    pub fn current(&self) -> Option<Stamp> {
        let now = self.before();
        let synced = *self.0.synced.lock().unwrap_or_else(PoisonError::into_inner);
        (now.stamp.is_some() && synced == Some(now))
            .then_some(now.stamp)
            .flatten()
    }

    /// Takes in the versions a statement sent after `before` was taken read (none when it
    /// read no row): [`Self::observe`], then [`Self::synced`].
    pub fn read_after(&self, before: Before, text: Option<&str>) {
        if let Some(text) = text {
            self.observe(text);
            self.synced(before);
        }
    }

    /// The versions were read (and taken in) by a statement sent after `before` was taken.
    fn synced(&self, before: Before) {
        *self.0.synced.lock().unwrap_or_else(PoisonError::into_inner) = Some(before);
    }

    /// Takes in the versions a statement read (the text of [`Self::select`]). Versions only
    /// grow, so each keeps the larger of what this process knew and what was read: a request
    /// that read earlier and finishes later never takes a version back.
    pub fn observe(&self, text: &str) {
        let mut seen = self.seen();
        for part in text.split(',') {
            let Some((name, n)) = part.split_once('=') else {
                continue;
            };
            let Ok(n) = n.trim().parse::<i64>() else {
                continue;
            };
            if name == "team" {
                seen.team = seen.team.max(n);
            } else if let Some(key) = name.strip_prefix("key:").and_then(|k| k.parse().ok()) {
                let v = seen.keys.entry(key).or_insert(n);
                *v = (*v).max(n);
            }
        }
    }

    /// The newest version of `of` this process has read (0 before any).
    pub fn of(&self, of: Of) -> i64 {
        let seen = self.seen();
        match of {
            Of::Team => seen.team,
            Of::Key(key) => seen.keys.get(&key).copied().unwrap_or(0),
        }
    }
}

/// Values read from the database, each with the version it was read under. Cheap to clone.
#[derive(Debug)]
pub struct Kept<K, V> {
    values: Arc<Mutex<HashMap<K, (i64, V)>>>,
}

impl<K, V> Clone for Kept<K, V> {
    fn clone(&self) -> Self {
        Self {
            values: self.values.clone(),
        }
    }
}

impl<K, V> Default for Kept<K, V> {
    fn default() -> Self {
        Self {
            values: Arc::default(),
        }
    }
}

impl<K: Eq + Hash, V: Clone> Kept<K, V> {
    fn values(&self) -> MutexGuard<'_, HashMap<K, (i64, V)>> {
        self.values.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The value of `key`, if it was read under `version`.
    pub fn get(&self, key: &K, version: i64) -> Option<V> {
        self.values()
            .get(key)
            .filter(|(v, _)| *v == version)
            .map(|(_, value)| value.clone())
    }

    /// Keeps `value`, read under `version` (taken before it was read). A value read under an
    /// older version than the one kept does not replace it.
    pub fn put(&self, key: K, version: i64, value: V) {
        let mut values = self.values();
        if values.get(&key).is_some_and(|(v, _)| *v > version) {
            return;
        }
        if values.len() >= MOST_KEPT && !values.contains_key(&key) {
            values.clear();
        }
        values.insert(key, (version, value));
    }

    /// Forgets `key` (its row changed here, or is gone).
    pub fn forget(&self, key: &K) {
        self.values().remove(key);
    }
}

/// Values this process read, each kept under the WAL index's header taken before it was read
/// ([`Before::stamp`]) and used only while [`Versions::current`] answers that same header:
/// nothing, in this process or another, committed since. An epoch guards this process's own
/// writes as well: it moves when a write starts and again when it ends, and a read that
/// overlapped a write keeps nothing, so a value changed or deleted while a request was reading
/// it is never kept as it was. Cheap to clone.
#[derive(Debug)]
pub struct Remembered<K, V> {
    inner: Arc<Mutex<Epoch<K, V>>>,
}

/// What [`Remembered`] holds.
#[derive(Debug)]
struct Epoch<K, V> {
    epoch: u64,
    values: HashMap<K, (Stamp, V)>,
}

impl<K, V> Clone for Remembered<K, V> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

impl<K, V> Default for Remembered<K, V> {
    fn default() -> Self {
        Self {
            inner: Arc::new(Mutex::new(Epoch {
                epoch: 0,
                values: HashMap::new(),
            })),
        }
    }
}

impl<K: Eq + Hash, V: Clone> Remembered<K, V> {
    fn inner(&self) -> MutexGuard<'_, Epoch<K, V>> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Where the epoch stands, taken before a read.
    pub fn epoch(&self) -> u64 {
        self.inner().epoch
    }

    /// A write of `key` starts or ends: it is forgotten, and the epoch moves.
    pub fn writing(&self, key: &K) {
        let mut inner = self.inner();
        inner.epoch += 1;
        inner.values.remove(key);
    }

    /// A write that may touch any value starts or ends: all are forgotten, and the epoch
    /// moves.
    pub fn writing_any(&self) {
        let mut inner = self.inner();
        inner.epoch += 1;
        inner.values.clear();
    }

    /// Keeps `value`, read when the epoch stood at `epoch` and the WAL index at `stamp`,
    /// unless a write of this process started since (then `key` is forgotten instead). Without
    /// a stamp (PostgreSQL, or a process beside the SQLite file's holder), nothing is kept.
    pub fn remember(&self, epoch: u64, stamp: Option<Stamp>, key: K, value: V) {
        let mut inner = self.inner();
        let Some(stamp) = stamp.filter(|_| inner.epoch == epoch) else {
            inner.values.remove(&key);
            return;
        };
        if inner.values.len() >= MOST_KEPT && !inner.values.contains_key(&key) {
            inner.values.clear();
        }
        inner.values.insert(key, (stamp, value));
    }

    /// The value kept for `key`, if it was kept under `stamp` (what [`Versions::current`]
    /// answered) and `usable` says it still is.
    pub fn get<Q>(&self, key: &Q, stamp: Stamp, usable: impl FnOnce(&V) -> bool) -> Option<V>
    where
        K: std::borrow::Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        self.inner()
            .values
            .get(key)
            .filter(|(kept, v)| *kept == stamp && usable(v))
            .map(|(_, v)| v.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_only_grow_and_unknown_ones_are_zero() {
        let v = Versions::default();
        assert_eq!(v.of(Of::Team), 0);
        v.observe("team=4,key:70=12,key:71=1");
        v.observe("team=3,key:70=13,bogus,key:x=9,other=5");
        assert_eq!(v.of(Of::Team), 4, "an older reading takes nothing back");
        assert_eq!(v.of(Of::Key(70)), 13);
        assert_eq!(v.of(Of::Key(71)), 1);
        assert_eq!(v.of(Of::Key(72)), 0);
        v.observe("");
        assert_eq!(v.of(Of::Team), 4);
    }

    #[test]
    fn a_value_is_used_under_its_stamp_and_never_after_an_overlapping_write() {
        let (s1, s2) = (Stamp::of_change(1), Stamp::of_change(2));
        let kept: Remembered<u64, &str> = Remembered::default();
        let before = kept.epoch();
        kept.remember(before, Some(s1), 1, "one");
        assert_eq!(kept.get(&1, s1, |_| true), Some("one"));
        assert_eq!(
            kept.get(&1, s2, |_| true),
            None,
            "something committed since"
        );
        assert_eq!(
            kept.get(&1, s1, |_| false),
            None,
            "the caller said it is no longer usable"
        );
        kept.remember(before, None, 2, "two");
        assert_eq!(
            kept.get(&2, s1, |_| true),
            None,
            "nothing is kept without a stamp"
        );
        let read = kept.epoch();
        kept.writing(&2);
        kept.remember(read, Some(s1), 3, "three");
        assert_eq!(
            kept.get(&3, s1, |_| true),
            None,
            "a write started after the read began"
        );
        assert_eq!(
            kept.get(&1, s1, |_| true),
            Some("one"),
            "only the written key is forgotten"
        );
        let read = kept.epoch();
        kept.writing_any();
        kept.remember(read, Some(s1), 4, "four");
        assert_eq!(kept.get(&1, s1, |_| true), None);
        assert_eq!(kept.get(&4, s1, |_| true), None);
        kept.remember(kept.epoch(), Some(s2), 5, "five");
        assert_eq!(kept.get(&5, s2, |_| true), Some("five"));
    }

    #[test]
    fn a_value_is_used_only_under_the_version_it_was_read_under() {
        let kept: Kept<u64, &str> = Kept::default();
        kept.put(1, 5, "five");
        assert_eq!(kept.get(&1, 5), Some("five"));
        assert_eq!(kept.get(&1, 6), None, "the row moved since");
        kept.put(1, 4, "four");
        assert_eq!(
            kept.get(&1, 5),
            Some("five"),
            "an older reading does not replace it"
        );
        kept.put(1, 6, "six");
        assert_eq!(kept.get(&1, 6), Some("six"));
        kept.forget(&1);
        assert_eq!(kept.get(&1, 6), None);
    }
}
