//! The portal's own database: SQLite by default, PostgreSQL for several replicas.
//!
//! Migrations for each backend live under `migrations/<backend>/` and run at start-up. On
//! PostgreSQL sqlx takes an advisory lock around them, so replicas may start together.

use std::{str::FromStr, sync::Arc, time::Duration};

use sqlx::{
    PgPool, SqlitePool,
    postgres::{PgConnectOptions, PgPoolOptions},
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
};

/// The waits between tries of a read whose connection the database cut: 2.6 s in all, about
/// as long as a PostgreSQL restart takes.
const READ_RETRIES: [Duration; 4] = [
    Duration::from_millis(200),
    Duration::from_millis(400),
    Duration::from_millis(800),
    Duration::from_millis(1200),
];

/// How long a request waits for a pooled connection before failing with a 503.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

pub mod batch;
mod health;
pub mod wal;
pub use health::{ErrorKind, Health, free_bytes, kind};

/// Statements that may have written, finished by this process on any pool (see [`writes`]).
static WRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// How many statements that may have written this process has finished, through any pool: a
/// process that is the only one using its database knows nothing changed while this stands.
pub fn writes() -> u64 {
    WRITES.load(std::sync::atomic::Ordering::SeqCst)
}

/// Counts a finished statement that may have written: anything but a plain `SELECT`, unless
/// it is known to have changed no row (`touched`: rows affected or returned, `None` after an
/// error). A statement that changed no row fired no trigger either.
fn finished(text: &str, touched: Option<usize>) {
    let read = text
        .trim_start()
        .get(..6)
        .is_some_and(|w| w.eq_ignore_ascii_case("SELECT"));
    if !read && touched != Some(0) {
        wrote();
    }
}

/// Counts a finished statement that may have written (a transaction's count when they finish,
/// its `COMMIT` included).
fn wrote() {
    WRITES.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
}

/// A connection pool to one of the supported databases, and what it has been through lately.
#[derive(Debug, Clone)]
pub struct Db {
    pool: Pool,
    health: Arc<Health>,
    /// The SQLite file, for its disk's free space and the one-process lock.
    file: Option<std::path::PathBuf>,
}

/// The pool itself.
#[derive(Debug, Clone)]
enum Pool {
    /// Embedded SQLite file (one replica).
    Sqlite(SqlitePool),
    /// PostgreSQL (any number of replicas).
    Postgres(PgPool),
}

/// Opening the database failed. Each message carries its cause, so none is also a `source()`
/// (that would print the cause twice in `{:#}` chains).
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The URL does not parse.
    #[error("invalid database URL: {0}")]
    Url(String),
    /// The directory or file could not be prepared.
    #[error("cannot prepare the SQLite file: {0}")]
    File(std::io::Error),
    /// Connecting failed.
    #[error("cannot connect to the database: {0}")]
    Connect(sqlx::Error),
    /// A migration failed.
    #[error("database migration failed: {0}")]
    Migrate(sqlx::migrate::MigrateError),
}

impl From<std::io::Error> for DbError {
    fn from(e: std::io::Error) -> Self {
        Self::File(e)
    }
}

impl From<sqlx::migrate::MigrateError> for DbError {
    fn from(e: sqlx::migrate::MigrateError) -> Self {
        Self::Migrate(e)
    }
}

/// What a pool is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// The index, reports, exports and team data; this pool applies the migrations.
    Index,
    /// Sessions and readiness.
    Sessions,
}

impl Db {
    /// A pool of at most `max_connections`; the index pool applies the migrations first. The portal
    /// opens two: one for sessions and readiness, one for the index and exports, so that neither
    /// waits behind the other.
    pub async fn open(url: &str, max_connections: u32, purpose: Purpose) -> Result<Self, DbError> {
        let migrate = purpose == Purpose::Index;
        let max_connections = max_connections.max(1);
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            // A transaction left open by a process that stopped (SIGSTOP, a hung host) holds
            // its locks, the copy's lease row among them: the server ends it after this long,
            // so another replica can take the copy over and the stalled one finds its
            // connection gone when it wakes.
            let options = PgConnectOptions::from_str(url)
                .map_err(|e| DbError::Url(e.to_string()))?
                .options([("idle_in_transaction_session_timeout", "30s")]);
            let pool = PgPoolOptions::new()
                .max_connections(max_connections)
                .acquire_timeout(ACQUIRE_TIMEOUT)
                .connect_with(options)
                .await
                .map_err(DbError::Connect)?;
            if migrate {
                sqlx::migrate!("./migrations/postgres").run(&pool).await?;
            }
            return Ok(Self::new(Pool::Postgres(pool), None));
        }
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| DbError::Url(e.to_string()))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(5))
            .foreign_keys(true);
        // Each connection keeps its own page cache, and under load every one of them fills it:
        // at SQLite's 2 MiB, the index pool's eight held 16 MiB of copies of the same hot pages,
        // which the kernel's page cache holds once anyway. At 1 MiB the portal peaked at 56 MB
        // instead of 69 under `scripts/throughput`, and at 55 instead of 60 through a copy of
        // 1,000,000 activations, with the same pages a second and the same copy time. The
        // session pool's reads are a few small rows: 512 KiB.
        let options = match purpose {
            Purpose::Sessions => options.pragma("cache_size", "-512"),
            Purpose::Index => options.pragma("cache_size", "-1024"),
        };
        prepare_sqlite_file(options.get_filename())?;
        let file = Some(options.get_filename().to_owned())
            .filter(|f| !f.as_os_str().is_empty() && f.as_os_str() != ":memory:");
        let pool = SqlitePoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await
            .map_err(DbError::Connect)?;
        if migrate {
            sqlx::migrate!("./migrations/sqlite").run(&pool).await?;
        }
        Ok(Self::new(Pool::Sqlite(pool), file))
    }

    fn new(pool: Pool, file: Option<std::path::PathBuf>) -> Self {
        Self {
            pool,
            health: Arc::default(),
            file,
        }
    }

    /// What this pool has been through lately.
    pub fn health(&self) -> &Health {
        &self.health
    }

    /// The SQLite file, when the database is one.
    pub fn sqlite_file(&self) -> Option<&std::path::Path> {
        self.file.as_deref()
    }

    /// The SQLite pool, for tests that reach under the portal.
    pub fn sqlite_pool(&self) -> Option<&SqlitePool> {
        match &self.pool {
            Pool::Sqlite(p) => Some(p),
            Pool::Postgres(_) => None,
        }
    }

    /// Connects without migrating and checks that the database answers (for `check-config`).
    pub async fn check(url: &str) -> Result<(), DbError> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let pool = PgPoolOptions::new()
                .max_connections(1)
                .acquire_timeout(ACQUIRE_TIMEOUT)
                .connect(url)
                .await
                .map_err(DbError::Connect)?;
            return Self::new(Pool::Postgres(pool), None)
                .ping()
                .await
                .map_err(DbError::Connect);
        }
        // Check, never create: a file that is not there yet is fine when `serve` could create it.
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| DbError::Url(e.to_string()))?
            .read_only(true);
        let path = options.get_filename().to_owned();
        let name = path.to_string_lossy();
        if !name.is_empty() && name != ":memory:" && !path.exists() {
            let dir = path
                .parent()
                .filter(|d| !d.as_os_str().is_empty())
                .unwrap_or(std::path::Path::new("."));
            let meta = std::fs::metadata(dir)?;
            if meta.permissions().readonly() {
                return Err(DbError::File(std::io::Error::new(
                    std::io::ErrorKind::PermissionDenied,
                    format!("{} is not writable", dir.display()),
                )));
            }
            return Ok(());
        }
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await
            .map_err(DbError::Connect)?;
        Self::new(Pool::Sqlite(pool), None)
            .ping()
            .await
            .map_err(DbError::Connect)
    }

    /// Checks that the database answers.
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        self.health.sent();
        let result = match &self.pool {
            Pool::Sqlite(p) => sqlx::query("SELECT 1").execute(p).await.map(drop),
            Pool::Postgres(p) => sqlx::query("SELECT 1").execute(p).await.map(drop),
        };
        result.map_err(|e| self.health.note(e))
    }
}

/// Creates the parent directory and an empty file readable only by the owner, so the session
/// data (which includes bearer tokens) is never world-readable, not even briefly.
fn prepare_sqlite_file(path: &std::path::Path) -> std::io::Result<()> {
    let name = path.to_string_lossy();
    if name.is_empty() || name == ":memory:" || name.starts_with("file:") {
        return Ok(());
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
        // Opened only to create it. Closing a descriptor of a database file drops every POSIX
        // lock this process holds on it, SQLite's included: the second pool's start released
        // the first pool's locks, so a `token` command finishing beside the running portal
        // took the database for its own, checkpointed and deleted the WAL the portal was
        // reading, and the portal saw none of that command's writes (or any later one) until
        // it restarted.
        if !path.exists() {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .mode(0o600)
                .open(path)?;
        }
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}

/// Which SQL a statement may use where the two databases differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// SQLite (FTS5 tables are available).
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

impl Db {
    /// This pool's dialect.
    pub fn dialect(&self) -> Dialect {
        match &self.pool {
            Pool::Sqlite(_) => Dialect::Sqlite,
            Pool::Postgres(_) => Dialect::Postgres,
        }
    }
}

/// A value bound to a `$n` placeholder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bind {
    /// An integer.
    Int(i64),
    /// A string.
    Text(String),
    /// An integer or NULL.
    OptInt(Option<i64>),
    /// A string or NULL.
    OptText(Option<String>),
}

/// SQL built at run time with `$1, $2, ...` placeholders, which both SQLite and PostgreSQL
/// accept, so one statement serves both backends.
#[derive(Debug, Clone, Default)]
pub struct Sql {
    /// The statement.
    pub text: String,
    /// Values, in placeholder order.
    pub binds: Vec<Bind>,
}

impl Sql {
    /// Starts a statement.
    pub fn new(text: &str) -> Self {
        Self {
            text: text.to_owned(),
            binds: Vec::new(),
        }
    }

    /// Appends text.
    pub fn push(&mut self, text: &str) -> &mut Self {
        self.text.push_str(text);
        self
    }

    /// Appends a placeholder for `value`.
    pub fn bind(&mut self, value: Bind) -> &mut Self {
        self.binds.push(value);
        let n = self.binds.len();
        self.text.push_str(&format!("${n}"));
        self
    }

    /// Appends `$a, $b, ...` for each string.
    pub fn bind_texts<S: AsRef<str>>(&mut self, values: &[S]) -> &mut Self {
        for (i, v) in values.iter().enumerate() {
            if i > 0 {
                self.text.push_str(", ");
            }
            self.bind(Bind::Text(v.as_ref().to_owned()));
        }
        self
    }

    /// Appends `$a, $b, ...` for each integer.
    pub fn bind_list(&mut self, values: &[i64]) -> &mut Self {
        for (i, v) in values.iter().enumerate() {
            if i > 0 {
                self.text.push_str(", ");
            }
            self.bind(Bind::Int(*v));
        }
        self
    }
}

macro_rules! bound {
    ($query:expr, $binds:expr) => {{
        let mut q = $query;
        for b in $binds {
            q = match b {
                Bind::Int(i) => q.bind(*i),
                Bind::Text(t) => q.bind(t.clone()),
                Bind::OptInt(i) => q.bind(*i),
                Bind::OptText(t) => q.bind(t.clone()),
            };
        }
        q
    }};
}

mod tx;
pub use tx::Tx;

/// Rows that decode on both backends (tuples of `i64`, `String` and their `Option`s do).
pub trait AnyRow:
    for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow>
    + for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow>
    + Send
    + Unpin
    + 'static
{
}
impl<T> AnyRow for T where
    T: for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow>
        + for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow>
        + Send
        + Unpin
        + 'static
{
}

impl Db {
    /// Runs a statement; returns the rows affected.
    pub async fn execute(&self, sql: &Sql) -> Result<u64, sqlx::Error> {
        self.health.sent();
        let result = match &self.pool {
            Pool::Sqlite(p) => bound!(sqlx::query(&sql.text), &sql.binds)
                .execute(p)
                .await
                .map(|r| r.rows_affected()),
            Pool::Postgres(p) => bound!(sqlx::query(&sql.text), &sql.binds)
                .execute(p)
                .await
                .map(|r| r.rows_affected()),
        };
        finished(
            &sql.text,
            result
                .as_ref()
                .ok()
                .map(|n| usize::try_from(*n).unwrap_or(1)),
        );
        match result {
            Ok(n) => {
                self.health.clear();
                Ok(n)
            }
            Err(e) => Err(self.health.note(e)),
        }
    }

    /// All rows of a query.
    pub async fn fetch_all<T: AnyRow>(&self, sql: &Sql) -> Result<Vec<T>, sqlx::Error> {
        self.read(|| self.fetch_all_once(sql)).await
    }

    async fn fetch_all_once<T: AnyRow>(&self, sql: &Sql) -> Result<Vec<T>, sqlx::Error> {
        self.health.sent();
        let result = match &self.pool {
            Pool::Sqlite(p) => {
                bound!(sqlx::query_as::<_, T>(&sql.text), &sql.binds)
                    .fetch_all(p)
                    .await
            }
            Pool::Postgres(p) => {
                bound!(sqlx::query_as::<_, T>(&sql.text), &sql.binds)
                    .fetch_all(p)
                    .await
            }
        };
        finished(&sql.text, result.as_ref().ok().map(Vec::len));
        result
    }

    /// At most one row.
    pub async fn fetch_optional<T: AnyRow>(&self, sql: &Sql) -> Result<Option<T>, sqlx::Error> {
        self.read(|| self.fetch_optional_once(sql)).await
    }

    async fn fetch_optional_once<T: AnyRow>(&self, sql: &Sql) -> Result<Option<T>, sqlx::Error> {
        self.health.sent();
        let result = match &self.pool {
            Pool::Sqlite(p) => {
                bound!(sqlx::query_as::<_, T>(&sql.text), &sql.binds)
                    .fetch_optional(p)
                    .await
            }
            Pool::Postgres(p) => {
                bound!(sqlx::query_as::<_, T>(&sql.text), &sql.binds)
                    .fetch_optional(p)
                    .await
            }
        };
        finished(
            &sql.text,
            result.as_ref().ok().map(|r| usize::from(r.is_some())),
        );
        result
    }

    /// One row of `n` integer columns. For statements whose column count is only known at run
    /// time (one count per period or product group).
    pub async fn fetch_ints(&self, sql: &Sql, n: usize) -> Result<Vec<i64>, sqlx::Error> {
        self.read(|| self.fetch_ints_once(sql, n)).await
    }

    async fn fetch_ints_once(&self, sql: &Sql, n: usize) -> Result<Vec<i64>, sqlx::Error> {
        self.health.sent();
        use sqlx::Row as _;
        match &self.pool {
            Pool::Sqlite(p) => bound!(sqlx::query(&sql.text), &sql.binds)
                .fetch_one(p)
                .await
                .and_then(|row| (0..n).map(|i| row.try_get::<i64, _>(i)).collect()),
            Pool::Postgres(p) => bound!(sqlx::query(&sql.text), &sql.binds)
                .fetch_one(p)
                .await
                .and_then(|row| (0..n).map(|i| row.try_get::<i64, _>(i)).collect()),
        }
    }

    /// Runs a read, and again after a moment while the database has just cut the connection
    /// (a PostgreSQL restart takes it away for a second or two): the page waits instead of
    /// failing. Writes are not repeated this way; a read changes nothing when run twice.
    async fn read<T, F, Fut>(&self, once: F) -> Result<T, sqlx::Error>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<T, sqlx::Error>>,
    {
        for wait in READ_RETRIES {
            match once().await {
                Err(e) if health::cut_off(&e) => tokio::time::sleep(wait).await,
                other => return other.map_err(|e| self.health.note(e)),
            }
        }
        once().await.map_err(|e| self.health.note(e))
    }

    /// Streams the rows of a query into `tx` until it is closed; for exports that must not be
    /// built in memory.
    pub async fn stream_into<T: AnyRow>(
        &self,
        sql: Sql,
        tx: tokio::sync::mpsc::Sender<Result<T, sqlx::Error>>,
    ) {
        use futures_util::StreamExt as _;
        self.health.sent();
        match &self.pool {
            Pool::Sqlite(p) => {
                let mut rows = bound!(sqlx::query_as::<_, T>(&sql.text), &sql.binds).fetch(p);
                while let Some(row) = rows.next().await {
                    if tx.send(row).await.is_err() {
                        break;
                    }
                }
            }
            Pool::Postgres(p) => {
                let mut rows = bound!(sqlx::query_as::<_, T>(&sql.text), &sql.binds).fetch(p);
                while let Some(row) = rows.next().await {
                    if tx.send(row).await.is_err() {
                        break;
                    }
                }
            }
        }
    }

    /// Runs `guard` and then `statements` in one transaction, but only if `guard` changed a
    /// row: otherwise nothing is kept and the answer is `false`. A copy guards its writes with
    /// the update that renews its lease, so a process that lost the lease writes nothing more.
    pub async fn transaction_if(
        &self,
        guard: &Sql,
        statements: &[Sql],
    ) -> Result<bool, sqlx::Error> {
        self.run_transaction(Some(guard), statements).await
    }

    /// Runs several statements in one transaction. On SQLite it takes the write lock at the
    /// start (`BEGIN IMMEDIATE`, waiting up to the busy timeout): a deferred transaction whose
    /// first statement reads (a `DROP TABLE IF EXISTS` reads the schema) fails at once with
    /// "database is locked" when another connection has written since, instead of waiting.
    pub async fn transaction(&self, statements: &[Sql]) -> Result<(), sqlx::Error> {
        self.run_transaction(None, statements).await.map(|_| ())
    }

    /// [`Self::transaction`], first running `guard` when there is one and keeping nothing
    /// (answering `false`) if it changed no row.
    async fn run_transaction(
        &self,
        guard: Option<&Sql>,
        statements: &[Sql],
    ) -> Result<bool, sqlx::Error> {
        let mut tx = self.begin().await?;
        if let Some(guard) = guard
            && tx.execute(guard).await? == 0
        {
            tx.rollback().await?;
            return Ok(false);
        }
        for sql in statements {
            tx.execute(sql).await?;
        }
        tx.commit().await?;
        Ok(true)
    }
}
