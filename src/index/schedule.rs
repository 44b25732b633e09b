//! Copies that stopped are picked up with nobody looking: every few seconds each process looks
//! for an attempt whose lease ran out (its process was killed, stalled or cut off) and for a
//! paused copy whose wait is over, and resumes it with the token the attempt kept sealed. Now
//! and then it also drops copy tables no one needs ([`Index::sweep`]).
//!
//! On SQLite, which serves one process, the process that holds the database's lock file knows
//! every other lease in it belongs to a process that is gone: it frees them at start, so a
//! restart after a crash resumes the copy at once instead of waiting out the old lease.

use std::time::Duration;

use super::{Index, copies};
use crate::{
    db::{Bind, Sql},
    secret::Secret,
};

/// How often stopped copies are looked for.
const LOOK_EVERY: Duration = Duration::from_secs(2);

/// How often copy tables no one needs are looked for.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

impl Index {
    /// Takes SQLite's lock file (`<database>.lock`) when no other process holds it, and then
    /// frees every lease of another process: none of them runs. Returns whether it did.
    pub async fn claim_sole_use(&self) -> bool {
        let Some(file) = self.db.sqlite_file() else {
            return false;
        };
        let mut name = file.as_os_str().to_owned();
        name.push(".lock");
        let Ok(lock) = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&name)
        else {
            return false;
        };
        if lock.try_lock().is_err() {
            // Another process uses this database file (a second replica on SQLite): leases
            // are left to run out as on PostgreSQL, and this process reads every request's
            // session from the file, as on PostgreSQL.
            return false;
        }
        // Memory is trusted while the WAL index says nothing committed since it was read;
        // without it, never: every request reads the versions.
        match crate::db::wal::WalIndex::open(file).await {
            Ok(wal) => self.versions.held_alone(wal),
            Err(e) => {
                tracing::warn!(error = %e, "could not open the SQLite file's WAL index; every request reads its session from the file")
            }
        }
        *self
            .sole
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(lock);
        match self.free_dead_leases().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(
                leases = n,
                "freed the copy leases of a process that stopped; their copies resume now"
            ),
            Err(e) => tracing::warn!(error = %e, "could not free the leases of a stopped process"),
        }
        true
    }

    /// Seals again with the current key every stopped copy's token a previous key sealed.
    pub async fn reseal_tokens(&self) -> Result<usize, sqlx::Error> {
        if !self.sealer.is_rotating() {
            return Ok(0);
        }
        let rows: Vec<(i64, String)> = self
            .db
            .fetch_all(&Sql::new(
                "SELECT key_id, copy_token FROM key_syncs WHERE copy_token IS NOT NULL",
            ))
            .await?;
        let mut resealed = 0;
        for (key, sealed) in rows {
            let aad = copies::token_aad(u64::try_from(key).unwrap_or_default());
            let Some((plain, false)) = self.sealer.open_with(&sealed, &aad) else {
                continue;
            };
            let Some(again) = self.sealer.seal(&plain, &aad) else {
                continue;
            };
            let mut sql = Sql::new("UPDATE key_syncs SET copy_token = ");
            sql.bind(Bind::Text(again))
                .push(" WHERE key_id = ")
                .bind(Bind::Int(key))
                .push(" AND copy_token = ")
                .bind(Bind::Text(sealed));
            resealed += usize::try_from(self.db.execute(&sql).await?).unwrap_or(0);
        }
        Ok(resealed)
    }

    /// One look: resumes what can be resumed now. Returns the copies started.
    pub async fn resume_stopped(&self) -> Result<usize, sqlx::Error> {
        let now = self.clock.now();
        let mut sql = Sql::new(
            "SELECT key_id, copy_partner, copy_token FROM key_syncs WHERE copy_token IS NOT NULL \
             AND copy_partner IS NOT NULL AND (lease_until IS NULL OR lease_until < ",
        );
        sql.bind(Bind::Int(now))
            .push(") AND (running_generation IS NOT NULL OR (resume_generation IS NOT NULL AND (resume_after IS NULL OR resume_after <= ")
            .bind(Bind::Int(now))
            .push(")))");
        let rows: Vec<(i64, i64, String)> = self.db.fetch_all(&sql).await?;
        let mut started = 0;
        for (key, partner, sealed) in rows {
            let key = u64::try_from(key).unwrap_or_default();
            let Some(token) = self
                .sealer
                .open(&sealed, &copies::token_aad(key))
                .and_then(|plain| String::from_utf8(plain).ok())
            else {
                // Sealed under another PORTAL_SESSION_KEY: the copy waits for a person to
                // open the key, whose login has a token.
                continue;
            };
            let partner = u64::try_from(partner).unwrap_or_default();
            match self.start(Secret::new(token), partner, key).await {
                Ok(super::sync::Started::Started) => {
                    tracing::info!(key, "resumed a copy that had stopped");
                    started += 1;
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(key, error = %e, "could not resume a stopped copy"),
            }
        }
        Ok(started)
    }

    /// Looks for stopped copies every few seconds, and for tables no one needs every minute,
    /// until aborted.
    pub fn spawn_schedule(self) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut since_sweep = Duration::ZERO;
            loop {
                if let Err(e) = self.resume_stopped().await {
                    tracing::debug!(error = %e, "looking for stopped copies failed");
                }
                if since_sweep >= SWEEP_EVERY {
                    since_sweep = Duration::ZERO;
                    match self.sweep().await {
                        Ok(0) => {}
                        Ok(n) => tracing::info!(dropped = n, "dropped copy tables no one needs"),
                        Err(e) => tracing::warn!(error = %e, "could not drop copy tables"),
                    }
                }
                tokio::time::sleep(LOOK_EVERY).await;
                since_sweep += LOOK_EVERY;
            }
        })
    }
}
