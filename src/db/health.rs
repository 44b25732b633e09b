//! What kind of failure a database error is, and what the store has been through lately.
//!
//! The copy decides from the kind whether to pause (and resume later) or give up; `/readyz`
//! and the log say what is wrong from the last trouble each pool met. A driver's own text is
//! for the log only: people read the sentences the callers make from the kind.

use std::sync::Mutex;

/// What kind of failure a database error is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The disk (or the database's space) is full.
    DiskFull,
    /// The database cannot be reached, or cut the connection (restart, shutdown, network).
    Unreachable,
    /// Worth another try at once: busy, locked, a serialization failure or a deadlock.
    Busy,
    /// Anything else: a statement that cannot work (a missing table, a constraint).
    Other,
}

impl ErrorKind {
    /// Whether a later attempt can succeed without anyone changing anything but the weather.
    pub fn is_transient(self) -> bool {
        self != Self::Other
    }

    /// A sentence for people: what happened, without the driver's words.
    pub fn for_people(self) -> &'static str {
        match self {
            Self::DiskFull => "the portal's database disk is full",
            Self::Unreachable => "the portal lost its connection to its database",
            Self::Busy => "the portal's database was too busy to answer",
            Self::Other => "the portal's database refused a statement",
        }
    }
}

/// The kind of `e`.
pub fn kind(e: &sqlx::Error) -> ErrorKind {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => ErrorKind::Unreachable,
        sqlx::Error::Database(db) => {
            let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
            let message = db.message().to_ascii_lowercase();
            // SQLite answers with its result code (the primary code in the low byte of an
            // extended one): 13 SQLITE_FULL, 10 SQLITE_IOERR, 5 SQLITE_BUSY, 6 SQLITE_LOCKED.
            if let Ok(n) = code.parse::<i64>() {
                return match n & 0xff {
                    13 => ErrorKind::DiskFull,
                    10 if message.contains("full") => ErrorKind::DiskFull,
                    10 => ErrorKind::Unreachable,
                    5 | 6 => ErrorKind::Busy,
                    _ if message.contains("disk is full") => ErrorKind::DiskFull,
                    _ => ErrorKind::Other,
                };
            }
            // PostgreSQL's SQLSTATE: 53100 disk_full, class 08 connection exceptions, 57P01-03
            // shutdown or restart, 40001 serialization, 40P01 deadlock, 55P03 lock not
            // available, 25P03 idle-in-transaction timeout.
            match code.as_str() {
                "53100" => ErrorKind::DiskFull,
                c if c.starts_with("08") || c.starts_with("57P") || c == "25P03" => {
                    ErrorKind::Unreachable
                }
                "40001" | "40P01" | "55P03" | "53200" | "53300" => ErrorKind::Busy,
                _ if message.contains("disk is full") || message.contains("no space left") => {
                    ErrorKind::DiskFull
                }
                _ => ErrorKind::Other,
            }
        }
        _ => ErrorKind::Other,
    }
}

/// Whether the database cut the connection under a statement (a restart, a shutdown, a
/// network reset): the same statement on a new connection may well succeed a moment later. A
/// pool that found no connection in time is not this: it has waited already.
pub fn cut_off(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_) | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db
            .code()
            .is_some_and(|c| c.starts_with("57P") || c.starts_with("08")),
        _ => false,
    }
}

/// The last trouble a pool met that a person operating the portal should hear of: a full disk
/// or a lost database. A success after it clears it.
#[derive(Debug, Default)]
pub struct Health {
    trouble: Mutex<Option<(ErrorKind, std::time::Instant)>>,
    /// Statements sent to the database (each a round trip), for the tests that hold a page to
    /// its count.
    statements: std::sync::atomic::AtomicU64,
}

impl Health {
    /// One more statement is on its way to the database.
    pub fn sent(&self) {
        self.statements
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// Statements sent through this pool since it opened.
    pub fn statements(&self) -> u64 {
        self.statements.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Notes `e` when it is trouble worth saying; passes it on.
    pub fn note(&self, e: sqlx::Error) -> sqlx::Error {
        let k = kind(&e);
        if matches!(k, ErrorKind::DiskFull | ErrorKind::Unreachable) {
            *self
                .trouble
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) =
                Some((k, std::time::Instant::now()));
        }
        e
    }

    /// A write went through: whatever was wrong is over.
    pub fn clear(&self) {
        *self
            .trouble
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
    }

    /// The trouble met within `within`, if any.
    pub fn trouble(&self, within: std::time::Duration) -> Option<ErrorKind> {
        self.trouble
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .filter(|(_, at)| at.elapsed() <= within)
            .map(|(k, _)| k)
    }
}

/// Bytes free for an unprivileged writer on the filesystem holding `path`, where the system
/// says.
pub fn free_bytes(path: &std::path::Path) -> Option<u64> {
    let dir = if path.is_dir() {
        path
    } else {
        path.parent().filter(|d| !d.as_os_str().is_empty())?
    };
    let stat = rustix::fs::statvfs(dir).ok()?;
    Some(stat.f_bavail.saturating_mul(stat.f_frsize))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_and_pool_failures_are_a_lost_database() {
        assert_eq!(kind(&sqlx::Error::PoolTimedOut), ErrorKind::Unreachable);
        assert_eq!(
            kind(&sqlx::Error::Io(std::io::Error::other("reset"))),
            ErrorKind::Unreachable
        );
        assert_eq!(kind(&sqlx::Error::RowNotFound), ErrorKind::Other);
    }

    #[test]
    fn trouble_is_remembered_until_a_success() {
        let h = Health::default();
        let _ = h.note(sqlx::Error::PoolTimedOut);
        assert_eq!(
            h.trouble(std::time::Duration::from_secs(60)),
            Some(ErrorKind::Unreachable)
        );
        h.clear();
        assert_eq!(h.trouble(std::time::Duration::from_secs(60)), None);
    }

    #[test]
    fn the_free_space_of_a_directory_is_known() {
        assert!(free_bytes(&std::env::temp_dir()).is_some_and(|n| n > 0));
    }
}
