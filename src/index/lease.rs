//! Who may write a copy, and how a copy that stopped is picked up again.
//!
//! At most one process copies a key at a time: it holds the key's lease (`lease_owner`,
//! `lease_until` in `key_syncs`) and renews it every quarter of `PORTAL_INDEX_LEASE` while the
//! copy runs. Every attempt gets a generation of its own from `next_generation`, never reused,
//! and the pair (owner, generation) is its fence: every write to the key's row checks it, and
//! the attempt's rows and indexes live in a table only it writes. A process that stalls past
//! its lease and wakes after another took the key over finds its fence gone at its next step
//! and stops; it can no longer write into, index or drop anyone else's table.
//!
//! Taking the lease is one transaction that also decides what the attempt starts from: the
//! table of a copy that stopped (crashed, stalled, paused) is renamed to the new generation
//! and resumed from the pages it stored; anything else starts an empty table.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use super::{Index, copies, pages::PageSet};
use crate::{
    db::{Bind, Dialect, Sql, Tx},
    upstream::BearerToken,
};

/// A stopped copy is resumed only while it is younger than this (or than the copy's maximum
/// age, if longer): rows read hours apart are not one picture of the key.
const RESUME_WITHIN_SECS: i64 = 3_600;

/// One attempt's identity: only writes that carry it reach the key's row.
#[derive(Debug, Clone)]
pub(super) struct Fence {
    /// The key.
    pub key: u64,
    /// This process's lease owner id.
    pub owner: String,
    /// The attempt's generation (its table's number).
    pub generation: i64,
}

impl Fence {
    /// ` WHERE key_id = … AND lease_owner = … AND running_generation = …`.
    pub fn push_guard(&self, sql: &mut Sql) {
        sql.push(" WHERE key_id = ")
            .bind(Bind::Int(self.key as i64))
            .push(" AND lease_owner = ")
            .bind(Bind::Text(self.owner.clone()))
            .push(" AND running_generation = ")
            .bind(Bind::Int(self.generation));
    }

    /// The statement that renews the lease until `until`; it changes no row once the lease is
    /// someone else's.
    pub fn renew(&self, until: i64) -> Sql {
        let mut sql = Sql::new("UPDATE key_syncs SET lease_until = ");
        sql.bind(Bind::Int(until));
        self.push_guard(&mut sql);
        sql
    }
}

/// Where a resumed attempt continues from.
#[derive(Debug, Clone)]
pub(super) struct Resume {
    /// The generation whose table was renamed to this attempt's.
    pub from: i64,
    /// Pages already stored.
    pub pages: PageSet,
    /// Rows per page asked for.
    pub asked: u32,
    /// Rows per page WordPress.com honoured.
    pub per_page: u32,
    /// Pages planned.
    pub planned: u32,
    /// The total of the stopped copy's first page.
    pub first_total: u64,
    /// Rows received, repeats included.
    pub received: u64,
}

/// An attempt that holds the lease.
#[derive(Debug, Clone)]
pub(super) struct Attempt {
    /// Its fence.
    pub fence: Fence,
    /// What it resumes, if anything.
    pub resume: Option<Resume>,
}

/// `key_syncs` as the lease transaction reads it.
type LeaseColumns = (
    Option<i64>,
    Option<i64>,
    Option<i64>,
    i64,
    Option<String>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    i64,
    Option<i64>,
);

/// Renews an attempt's lease while it runs; says when the lease turned out to be someone
/// else's. Dropping it stops the renewals.
#[derive(Debug)]
pub(super) struct Heartbeat {
    lost: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Heartbeat {
    /// Starts renewing `fence`'s lease every quarter of the lease.
    pub fn start(index: &Index, fence: &Fence) -> Self {
        let lost = Arc::new(AtomicBool::new(false));
        let (index, fence, flag) = (index.clone(), fence.clone(), lost.clone());
        let task = tokio::spawn(async move {
            let lease = index.settings.lease;
            let every = (lease / 4).max(Duration::from_millis(250));
            loop {
                tokio::time::sleep(every).await;
                let until = index.clock.now() + lease.as_secs() as i64;
                match index.db.execute(&fence.renew(until)).await {
                    Ok(0) => {
                        flag.store(true, Ordering::SeqCst);
                        tracing::warn!(
                            key = fence.key,
                            generation = fence.generation,
                            "this process lost the copy's lease to another one; it stops"
                        );
                        return;
                    }
                    Ok(_) => {}
                    // The database is away: the next renewal may succeed; if the lease runs
                    // out meanwhile, another process takes over and the fence stops this one.
                    Err(e) => tracing::debug!(key = fence.key, error = %e, "lease renewal failed"),
                }
            }
        });
        Self { lost, task }
    }

    /// Whether another process holds the lease now.
    pub fn lost(&self) -> bool {
        self.lost.load(Ordering::SeqCst)
    }
}

impl Drop for Heartbeat {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// `key`'s row, locked for the rest of `tx` on PostgreSQL (replicas taking the lease at once
/// decide one after the other; SQLite's `BEGIN IMMEDIATE` already serializes them).
async fn read_lease_row(tx: &mut Tx, key: u64) -> Result<Option<LeaseRow>, sqlx::Error> {
    let mut read = Sql::new(
        "SELECT lease_until, running_generation, resume_generation, next_generation, \
         pages_stored, copy_asked, copy_per_page, copy_planned, copy_first_total, \
         copy_received, started_at FROM key_syncs WHERE key_id = ",
    );
    read.bind(Bind::Int(key as i64));
    if tx.dialect() == Dialect::Postgres {
        read.push(" FOR UPDATE");
    }
    let row: Option<LeaseColumns> = tx.fetch_optional(&read).await?;
    Ok(row.map(LeaseRow::from))
}

/// Whether a table is in the database, read in `tx`.
async fn table_exists(tx: &mut Tx, table: &str) -> Result<bool, sqlx::Error> {
    let mut sql = Sql::new(match tx.dialect() {
        Dialect::Sqlite => "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ",
        Dialect::Postgres => {
            "SELECT COUNT(*)::bigint FROM pg_tables WHERE schemaname = current_schema() AND tablename = "
        }
    });
    sql.bind(Bind::Text(table.to_owned()));
    let n: Option<(i64,)> = tx.fetch_optional(&sql).await?;
    Ok(n.is_some_and(|(n,)| n > 0))
}

/// Drops what an attempt built beside and on its table (side tables, indexes), leaving its
/// rows, so that the table can take another generation's name.
async fn strip(tx: &mut Tx, key: u64, generation: i64) -> Result<(), sqlx::Error> {
    let table = copies::table(key, generation);
    let mut list = Sql::new(match tx.dialect() {
        Dialect::Sqlite => {
            "SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL AND tbl_name = "
        }
        Dialect::Postgres => {
            "SELECT indexname::text FROM pg_indexes WHERE schemaname = current_schema() AND tablename = "
        }
    });
    list.bind(Bind::Text(table));
    let indexes: Vec<(String,)> = tx.fetch_all(&list).await?;
    for (name,) in indexes {
        // Index names come from the catalog, and are this portal's own (`copies::indexes`).
        if name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            tx.execute(&Sql::new(&format!("DROP INDEX IF EXISTS {name}")))
                .await?;
        }
    }
    for sql in copies::drop_side_tables(tx.dialect(), key, generation) {
        tx.execute(&sql).await?;
    }
    Ok(())
}

/// What the lease transaction reads of a key's row.
struct LeaseRow {
    lease_until: Option<i64>,
    running: Option<i64>,
    resumable: Option<i64>,
    next: i64,
    stored: Option<String>,
    /// The stopped attempt's plan: rows asked per page, honoured per page, pages, first total.
    plan: Option<(i64, i64, i64, i64)>,
    received: i64,
    started: Option<i64>,
}

impl From<LeaseColumns> for LeaseRow {
    fn from(r: LeaseColumns) -> Self {
        let (
            lease_until,
            running,
            resumable,
            next,
            stored,
            asked,
            per_page,
            planned,
            total,
            received,
            started,
        ) = r;
        let plan = match (asked, per_page, planned, total) {
            (Some(a), Some(p), Some(n), Some(t)) => Some((a, p, n, t)),
            _ => None,
        };
        Self {
            lease_until,
            running,
            resumable,
            next,
            stored,
            plan,
            received,
            started,
        }
    }
}

impl Index {
    /// Takes `key`'s lease if it is free, in one transaction that also prepares the attempt's
    /// table: a stopped copy's table renamed to the new generation (resumed), or an empty one.
    /// `None` when another process holds the lease.
    pub(super) async fn take_lease(
        &self,
        key: u64,
        partner: u64,
        token: &BearerToken,
    ) -> Result<Option<Attempt>, sqlx::Error> {
        let mut insert = Sql::new("INSERT INTO key_syncs (key_id) VALUES (");
        insert
            .bind(Bind::Int(key as i64))
            .push(") ON CONFLICT (key_id) DO NOTHING");
        self.db.execute(&insert).await?;
        let now = self.clock.now();
        let mut tx = self.db.begin().await?;
        let row = match read_lease_row(&mut tx, key).await? {
            Some(row) if row.lease_until.is_none_or(|t| t < now) => row,
            _ => {
                tx.rollback().await?;
                return Ok(None);
            }
        };
        let generation = row.next;
        let resume = self
            .prepare_table(&mut tx, key, generation, &row, now)
            .await?;
        tx.execute(&self.claim(key, partner, token, generation, resume.as_ref(), now))
            .await?;
        tx.commit().await?;
        match &resume {
            Some(r) => tracing::info!(
                key,
                generation,
                from = r.from,
                pages_stored = r.pages.len(),
                planned = r.planned,
                "resuming a copy that stopped"
            ),
            None => tracing::debug!(key, generation, "starting a copy"),
        }
        let fence = Fence {
            key,
            owner: self.owner.clone(),
            generation,
        };
        Ok(Some(Attempt { fence, resume }))
    }

    /// Makes the table of attempt `generation`: what a stopped attempt left (the newest table
    /// that is there, if its plan is known and it is young enough) renamed to it, else an
    /// empty one. Every other table a stopped attempt left goes.
    async fn prepare_table(
        &self,
        tx: &mut Tx,
        key: u64,
        generation: i64,
        row: &LeaseRow,
        now: i64,
    ) -> Result<Option<Resume>, sqlx::Error> {
        let fresh_enough = row.started.is_some_and(|t| {
            now - t <= RESUME_WITHIN_SECS.max(self.settings.max_age.as_secs() as i64)
        });
        let plan = row.plan.filter(|_| fresh_enough);
        let mut source = None;
        for g in [row.running, row.resumable].into_iter().flatten() {
            let there = table_exists(tx, &copies::table(key, g)).await?;
            if there && source.is_none() && plan.is_some() {
                source = Some(g);
            } else {
                for sql in copies::drop(tx.dialect(), key, g) {
                    tx.execute(&sql).await?;
                }
            }
        }
        let (Some(from), Some((asked, per_page, planned, total))) = (source, plan) else {
            for sql in copies::create(tx.dialect(), key, generation) {
                tx.execute(&sql).await?;
            }
            return Ok(None);
        };
        strip(tx, key, from).await?;
        tx.execute(&Sql::new(&format!(
            "ALTER TABLE {} RENAME TO {}",
            copies::table(key, from),
            copies::table(key, generation)
        )))
        .await?;
        Ok(Some(Resume {
            from,
            pages: PageSet::parse(row.stored.as_deref().unwrap_or_default()),
            asked: u32::try_from(asked).unwrap_or(1),
            per_page: u32::try_from(per_page).unwrap_or(1).max(1),
            planned: u32::try_from(planned).unwrap_or(1),
            first_total: u64::try_from(total).unwrap_or(0),
            received: u64::try_from(row.received).unwrap_or(0),
        }))
    }

    /// The update that gives attempt `generation` the lease, with the token it reads with
    /// sealed, so that the schedule can resume it, and its progress so far.
    fn claim(
        &self,
        key: u64,
        partner: u64,
        token: &BearerToken,
        generation: i64,
        resume: Option<&Resume>,
        now: i64,
    ) -> Sql {
        let sealed = self
            .sealer
            .seal(token.expose().as_bytes(), &copies::token_aad(key));
        let mut take = Sql::new("UPDATE key_syncs SET lease_owner = ");
        take.bind(Bind::Text(self.owner.clone()))
            .push(", lease_until = ")
            .bind(Bind::Int(now + self.settings.lease.as_secs() as i64))
            .push(", running_generation = ")
            .bind(Bind::Int(generation))
            .push(", next_generation = ")
            .bind(Bind::Int(generation + 1))
            .push(", resume_generation = NULL, retry_note = NULL, copy_partner = ")
            .bind(Bind::Int(partner as i64))
            .push(", copy_token = ")
            .bind(Bind::OptText(sealed));
        match resume {
            Some(r) => {
                take.push(", pages_done = ")
                    .bind(Bind::Int(r.pages.len() as i64))
                    .push(", pages_total = ")
                    .bind(Bind::Int(i64::from(r.planned)))
                    .push(", rows_done = ")
                    .bind(Bind::Int(r.received as i64));
            }
            None => {
                take.push(", started_at = ").bind(Bind::Int(now)).push(
                    ", pages_done = 0, pages_total = NULL, rows_done = 0, rows_total = NULL, \
                     pages_stored = NULL, copy_asked = NULL, copy_per_page = NULL, \
                     copy_planned = NULL, copy_first_total = NULL, copy_received = 0",
                );
            }
        }
        take.push(" WHERE key_id = ").bind(Bind::Int(key as i64));
        take
    }

    /// Frees the leases of every process but this one: called when this process is known to
    /// be the only one using the database (SQLite's lock file, see `Index::claim_sole_use`), so
    /// that a restart after a crash resumes the copy at once instead of waiting out the dead
    /// process's lease.
    pub(super) async fn free_dead_leases(&self) -> Result<u64, sqlx::Error> {
        let mut sql = Sql::new(
            "UPDATE key_syncs SET lease_until = NULL WHERE lease_owner IS NOT NULL AND lease_owner <> ",
        );
        sql.bind(Bind::Text(self.owner.clone()));
        self.db.execute(&sql).await
    }
}
