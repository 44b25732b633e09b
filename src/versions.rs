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

use std::{
    collections::HashMap,
    hash::Hash,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
};

use crate::db::Dialect;

/// `<file>.others`, beside the SQLite database `file`, opened to add to (and made if missing):
/// the file through which processes using the database tell its holder they do (see
/// [`Versions::held_alone`] and [`Versions::held_beside`]).
pub fn others_of(file: &std::path::Path) -> std::io::Result<std::fs::File> {
    let mut name = file.as_os_str().to_owned();
    name.push(".others");
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(name)
}

/// How many values one [`Kept`] holds at most; past it, it starts over.
const MOST_KEPT: usize = 10_000;

/// The newest versions this process has read, and whether it may trust them without reading
/// again. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Versions(Arc<Shared>);

/// What [`Versions`] holds.
#[derive(Debug, Default)]
struct Shared {
    seen: Mutex<Seen>,
    alone: Mutex<Alone>,
}

/// Whether this process is the only one using its SQLite database, so that nothing can change
/// there but through it.
#[derive(Debug, Default)]
struct Alone {
    /// `<database>.others`, when this process holds SQLite's lock file: every other process
    /// using the database holds a shared lock on it for as long as it runs, and adds a byte to
    /// it when it starts (see [`Versions::held_beside`]).
    others: Option<std::fs::File>,
    /// The length `others` had at the last check: a process that came and went between two
    /// checks, and so was never seen holding its lock, left it longer.
    trace: Option<u64>,
    /// This process's own shared lock on it, when another holds the lock file.
    mine: Option<std::fs::File>,
    /// [`crate::db::writes`] before the last read of the versions that nothing wrote after.
    synced: Option<u64>,
    /// Another process was seen using the database since: whatever was kept then is dropped
    /// before memory is trusted again.
    shared_since: bool,
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

    fn alone(&self) -> MutexGuard<'_, Alone> {
        self.0.alone.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// This process holds SQLite's lock file: `others` is `<database>.others` (see
    /// [`others_of`]), whose shared locks and length say another process uses the database
    /// anyway, or did.
    pub fn held_alone(&self, others: std::fs::File) {
        let mut alone = self.alone();
        alone.trace = others.metadata().ok().map(|m| m.len());
        alone.others = Some(others);
    }

    /// This process uses a SQLite database another process may hold the lock file of (a
    /// second replica, the `token` command): it holds a shared lock on `others`
    /// (`<database>.others`, see [`others_of`]) while it runs, and adds a byte to it before it
    /// writes anything, so the holder trusts nothing it kept in memory from before, even when
    /// this process comes and goes between two of its requests. Waits for the holder's
    /// momentary check to end.
    pub fn held_beside(&self, mut others: std::fs::File) -> std::io::Result<()> {
        use std::io::Write as _;
        others.lock_shared()?;
        others.write_all(b".")?;
        self.alone().mine = Some(others);
        Ok(())
    }

    /// Whether what the versions and the session cache hold is what the database holds now,
    /// without reading it: this process is the only one using the database, and none of its
    /// statements since the last reading of the versions wrote. Answers `false` otherwise (and,
    /// when another process is using the database, or was, forgets what the caller kept: see
    /// `forget`).
    pub fn current(&self, forget: impl FnOnce()) -> bool {
        let mut alone = self.alone();
        let Some(others) = &alone.others else {
            return false;
        };
        // A momentary exclusive lock: it is free only while no other process holds its
        // shared one.
        let shared = match others.try_lock() {
            Ok(()) => {
                let _ = others.unlock();
                false
            }
            Err(_) => true,
        };
        let trace = others.metadata().ok().map(|m| m.len());
        let came_and_went = trace.is_none() || trace != alone.trace;
        alone.trace = trace;
        if shared || came_and_went || alone.shared_since {
            alone.shared_since = shared;
            alone.synced = None;
            drop(alone);
            forget();
            return false;
        }
        alone.synced == Some(crate::db::writes())
    }

    /// The versions were read (and taken in) by a statement sent when
    /// [`crate::db::writes`] was `before`.
    pub fn synced(&self, before: u64) {
        self.alone().synced = Some(before);
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

/// Values this process read or wrote itself, kept for as long as [`Versions::current`] says
/// nothing else can have written them (on SQLite, alone on the file), and guarded by an epoch:
/// it moves when a write starts and again when it ends, and a read or write that overlapped a
/// write keeps nothing, so a value changed or deleted while a request was reading it is never
/// kept as it was. Cheap to clone.
#[derive(Debug)]
pub struct Remembered<K, V> {
    inner: Arc<Mutex<Epoch<K, V>>>,
}

/// What [`Remembered`] holds.
#[derive(Debug)]
struct Epoch<K, V> {
    epoch: u64,
    values: HashMap<K, V>,
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

    /// A write of `key` starts or ends: it is forgotten, and the epoch moves. Returns the new
    /// epoch.
    pub fn writing(&self, key: &K) -> u64 {
        let mut inner = self.inner();
        inner.epoch += 1;
        inner.values.remove(key);
        inner.epoch
    }

    /// A write that may touch any value starts or ends: all are forgotten, and the epoch
    /// moves.
    pub fn writing_any(&self) {
        let mut inner = self.inner();
        inner.epoch += 1;
        inner.values.clear();
    }

    /// Forgets every value without moving the epoch (another process may have written).
    pub fn forget_all(&self) {
        self.inner().values.clear();
    }

    /// Keeps `value` as read or written when the epoch stood at `epoch`, unless a write
    /// started since (then `key` is forgotten instead).
    pub fn remember(&self, epoch: u64, key: K, value: V) {
        let mut inner = self.inner();
        if inner.epoch != epoch {
            inner.values.remove(&key);
            return;
        }
        if inner.values.len() >= MOST_KEPT && !inner.values.contains_key(&key) {
            inner.values.clear();
        }
        inner.values.insert(key, value);
    }

    /// The value kept for `key`, if any and if `usable` says it still is.
    pub fn get<Q>(&self, key: &Q, usable: impl FnOnce(&V) -> bool) -> Option<V>
    where
        K: std::borrow::Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        self.inner().values.get(key).filter(|v| usable(v)).cloned()
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
    fn a_read_that_overlapped_a_write_keeps_nothing() {
        let kept: Remembered<u64, &str> = Remembered::default();
        let before = kept.epoch();
        kept.remember(before, 1, "one");
        assert_eq!(kept.get(&1, |_| true), Some("one"));
        assert_eq!(
            kept.get(&1, |_| false),
            None,
            "the caller said it is no longer usable"
        );
        let read = kept.epoch();
        kept.writing(&2);
        kept.remember(read, 3, "three");
        assert_eq!(
            kept.get(&3, |_| true),
            None,
            "a write started after the read began"
        );
        assert_eq!(
            kept.get(&1, |_| true),
            Some("one"),
            "only the written key is forgotten"
        );
        let read = kept.epoch();
        kept.writing_any();
        kept.remember(read, 4, "four");
        assert_eq!(kept.get(&1, |_| true), None);
        assert_eq!(kept.get(&4, |_| true), None);
        let after = kept.writing(&5);
        kept.remember(after, 5, "five");
        assert_eq!(
            kept.get(&5, |_| true),
            Some("five"),
            "written under the epoch it moved to"
        );
        kept.forget_all();
        assert_eq!(kept.get(&5, |_| true), None);
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
