//! The team's background work, on every replica: confirm each connection with WordPress.com
//! every `PORTAL_CONNECTION_CHECK` (a 401, or a listing without the partner, marks it broken and
//! is logged, audited and counted), keep each connected key's activations copy fresh even when
//! nobody is looking (the index's lease makes one replica do each copy), evaluate the
//! notification rules on what changed (through an [`Observer`]; also at once after each copy), and
//! purge audit entries older than `PORTAL_AUDIT_RETENTION`.
//!
//! `checked_at` lives in the database, so replicas share the schedule instead of each checking.

use std::{sync::Arc, time::Duration};

use super::{Connection, Team, audit::Actor};
use crate::{
    clock::Clock,
    index::Index,
    upstream::{UpstreamError, WpClient},
};

/// What the watcher needs.
#[derive(Debug, Clone)]
pub struct Watch {
    /// The team store.
    pub team: Team,
    /// WordPress.com.
    pub wpcom: WpClient,
    /// The activations copies.
    pub index: Index,
    /// The clock.
    pub clock: Clock,
    /// How often a connection is confirmed.
    pub check_every: Duration,
    /// How long audit entries are kept.
    pub retention: Duration,
    /// What runs with each round: the notification rules (none: they wait).
    pub observer: Option<Arc<dyn Observer>>,
}

/// What runs with the round and sees what it found. The notifications implement it: this module
/// only tells, it does not know what is done with it.
#[async_trait::async_trait]
pub trait Observer: std::fmt::Debug + Send + Sync {
    /// This round found `connection` broken, for `reason`, at `at`; the messages written.
    async fn connection_broke(
        &self,
        connection: &Connection,
        reason: &str,
        at: i64,
    ) -> Result<usize, sqlx::Error>;

    /// After the round's checks and the copies it started, `connection` as it is now; the
    /// messages written.
    async fn after_round(&self, connection: &Connection) -> Result<usize, sqlx::Error>;
}

/// What one round did (tests and the log read it).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Round {
    /// Connections confirmed with WordPress.com.
    pub checked: usize,
    /// Connections found broken in this round.
    pub broken: usize,
    /// Copies started.
    pub syncs_started: usize,
    /// Audit entries purged.
    pub purged: u64,
    /// Notifications written to the outbox.
    pub notifications: usize,
}

impl Watch {
    /// One round over every connection.
    pub async fn round(&self) -> Result<Round, sqlx::Error> {
        let mut round = Round::default();
        let now = self.clock.now();
        for c in self.team.connections().await? {
            if !c.is_live() {
                continue;
            }
            let pid = c.partner.id;
            let mut partner = c.partner.clone();
            if now - c.checked_at >= self.check_every.as_secs() as i64 {
                let broken = match self.wpcom.partner(&c.token).await {
                    Ok(Some(p)) if p.id == pid => {
                        self.team.mark_checked(&p, now).await?;
                        round.checked += 1;
                        partner = p;
                        None
                    }
                    Ok(_) | Err(UpstreamError::Forbidden { .. }) => Some(
                        "WordPress.com no longer lists the partner's keys for the connection's token",
                    ),
                    Err(UpstreamError::Unauthorized) => {
                        Some("WordPress.com rejected the connection's token")
                    }
                    Err(e) => {
                        tracing::warn!(partner_id = pid, error = %e, "team connection check failed; will try again");
                        None
                    }
                };
                if let Some(reason) = broken {
                    if self.team.mark_broken(pid, reason, now).await? {
                        round.broken += 1;
                        if let Some(observer) = &self.observer {
                            round.notifications +=
                                observer.connection_broke(&c, reason, now).await?;
                        }
                        tracing::warn!(partner_id = pid, reason, "team connection broken");
                        self.team
                            .audit(
                                now,
                                Some(pid),
                                &Actor::portal(),
                                "connection_broken",
                                format!(
                                    "{reason} (connected by {}), found by the scheduled check",
                                    c.owner_name
                                ),
                            )
                            .await;
                    }
                    continue;
                }
            }
            for key in partner.keys.iter().filter(|k| !k.is_disabled()) {
                if let (_, Some(_)) = self
                    .index
                    .ensure_fresh(&c.token, pid, key.id, false)
                    .await?
                {
                    round.syncs_started += 1;
                }
            }
        }
        if let Some(observer) = &self.observer {
            // After the checks and the copies started above: each connection as it is now.
            for c in self.team.connections().await? {
                match observer.after_round(&c).await {
                    Ok(n) => round.notifications += n,
                    Err(e) => {
                        tracing::warn!(partner_id = c.partner.id, error = %e, "notification rules could not be evaluated; will try again")
                    }
                }
            }
        }
        let retention = i64::try_from(self.retention.as_secs()).unwrap_or(i64::MAX);
        round.purged = self.team.purge_audit(now.saturating_sub(retention)).await?;
        Ok(round)
    }

    /// Runs a round every `tick` until aborted.
    pub fn spawn(self, tick: Duration) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut interval = tokio::time::interval(tick);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                // Every tick, and at once after a copy of this process became visible, so that
                // the notification rules see each copy as it lands.
                tokio::select! {
                    _ = interval.tick() => {}
                    () = self.index.copy_finished(), if self.observer.is_some() => {}
                }
                match self.round().await {
                    Ok(r) if r != Round::default() => tracing::info!(?r, "team watch round"),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "team watch round failed"),
                }
            }
        })
    }
}
