//! The sender: on every replica, a background task takes due outbox rows under a lease (`FOR
//! UPDATE SKIP LOCKED` on PostgreSQL; SQLite's write lock serialises the claim), sends them with
//! bounded concurrency and a timeout per channel, and records each attempt. A failure is tried
//! again after [`backoff`]; after [`super::GIVE_UP_AFTER`] the row is `failed`, audited, and
//! shown to the partner's admins. Sending never runs on a request's path.

use std::{sync::Arc, time::Duration};

use super::{Fact, Kind, Notifier, Rule, store::Channel, webhook};
use crate::{
    db::{Bind, Dialect, Sql},
    team::{Role, audit::Actor},
};

/// Rows taken per look.
const BATCH: i64 = 16;

/// Messages sent at once by one process.
const CONCURRENCY: usize = 4;

/// How long a taken row is this process's: longer than any send's timeout.
const LEASE_SECS: i64 = 120;

/// How often due rows are looked for when nothing wakes the sender.
const LOOK_EVERY: Duration = Duration::from_secs(1);

/// The wait before attempt `n + 1` after `n` failed attempts: 30 s, 1 min, 2 min, … doubling up
/// to 6 hours.
pub fn backoff(failed: i64) -> i64 {
    let n = u32::try_from(failed.clamp(1, 20) - 1).unwrap_or(0);
    (30_i64 << n).min(6 * 3600)
}

/// A row taken to send.
#[derive(Debug, Clone)]
struct Due {
    id: String,
    channel_id: String,
    partner_id: u64,
    rule: String,
    payload: String,
    created_at: i64,
    attempts: i64,
    lease: i64,
}

/// What one send came to.
enum Outcome {
    Sent(String),
    Failed(String),
    /// Never to be sent (the channel or its person is gone).
    Cancelled(String),
}

impl Notifier {
    /// Takes up to [`BATCH`] due rows under a lease.
    async fn claim(&self, now: i64) -> Result<Vec<Due>, sqlx::Error> {
        let lease = now + LEASE_SECS;
        let mut sql = Sql::new("UPDATE notify_outbox SET lease_until = ");
        sql.bind(Bind::Int(lease))
            .push(" WHERE id IN (SELECT id FROM notify_outbox WHERE status = 'pending' AND next_at <= ")
            .bind(Bind::Int(now))
            .push(" AND (lease_until IS NULL OR lease_until < ")
            .bind(Bind::Int(now))
            .push(") ORDER BY next_at, id LIMIT ")
            .bind(Bind::Int(BATCH));
        if self.db.dialect() == Dialect::Postgres {
            sql.push(" FOR UPDATE SKIP LOCKED");
        }
        sql.push(") RETURNING id, channel_id, partner_id, rule, payload, created_at, attempts");
        let rows: Vec<(String, String, i64, String, String, i64, i64)> =
            self.db.fetch_all(&sql).await?;
        Ok(rows
            .into_iter()
            .map(
                |(id, channel_id, partner, rule, payload, created_at, attempts)| Due {
                    id,
                    channel_id,
                    partner_id: u64::try_from(partner).unwrap_or_default(),
                    rule,
                    payload,
                    created_at,
                    attempts,
                    lease,
                },
            )
            .collect())
    }

    /// Frees every lease (SQLite, at start, when this process alone uses the database: the
    /// leases are a dead predecessor's).
    pub async fn free_leases(&self) -> Result<u64, sqlx::Error> {
        self.db
            .execute(&Sql::new(
                "UPDATE notify_outbox SET lease_until = NULL WHERE status = 'pending' AND lease_until IS NOT NULL",
            ))
            .await
    }

    /// One look: sends what is due. Returns the rows attempted.
    pub async fn deliver_due(&self) -> Result<usize, sqlx::Error> {
        let now = self.clock.now();
        let due = self.claim(now).await?;
        let n = due.len();
        let slots = Arc::new(tokio::sync::Semaphore::new(CONCURRENCY));
        let mut tasks = tokio::task::JoinSet::new();
        for row in due {
            let this = self.clone();
            let slots = slots.clone();
            tasks.spawn(async move {
                let _slot = slots.acquire_owned().await;
                let outcome = this.send(&row).await;
                if let Err(e) = this.record(&row, outcome).await {
                    tracing::warn!(event = %row.id, error = %e, "could not record a notification's send; it is sent again after its lease");
                }
            });
        }
        while tasks.join_next().await.is_some() {}
        Ok(n)
    }

    /// The role a channel's messages take now, or why it receives nothing any more.
    async fn audience(&self, channel: &Channel) -> Result<Role, String> {
        let Some(user) = channel.user_id else {
            return Ok(channel.audience);
        };
        let connection = self
            .team
            .connection(channel.partner_id)
            .await
            .map_err(|e| format!("the database failed: {e}"))?;
        let Some(connection) = connection else {
            return Err("the partner is no longer connected".into());
        };
        match self
            .team
            .acting_role(&connection, user, &channel.username)
            .await
        {
            Ok(Some(role)) => Ok(role),
            Ok(None) => Err(format!(
                "{} is no longer a member of the team",
                channel.username
            )),
            Err(e) => Err(format!("the database failed: {e}")),
        }
    }

    async fn send(&self, row: &Due) -> Outcome {
        let channel = match self.channel(&row.channel_id).await {
            Ok(Some(c)) => c,
            Ok(None) => return Outcome::Cancelled("the channel was removed".into()),
            Err(e) => return Outcome::Failed(format!("the database failed: {e}")),
        };
        let role = match self.audience(&channel).await {
            Ok(role) => role,
            Err(why) if why.starts_with("the database") => return Outcome::Failed(why),
            Err(why) => return Outcome::Cancelled(why),
        };
        let rule = Rule::parse(&row.rule).unwrap_or(Rule::Test);
        if rule.is_money() && !role.sees_money() {
            return Outcome::Cancelled(format!(
                "the {} role does not receive invoices",
                role.label().to_lowercase()
            ));
        }
        let Ok(fact) = serde_json::from_str::<Fact>(&row.payload) else {
            return Outcome::Cancelled("the message could not be read".into());
        };
        let now = self.clock.now();
        match channel.kind {
            Kind::Email => {
                let unsubscribe = self.unsubscribe_url(&channel.id, rule);
                let rendered = fact.render(role, &self.public_url, self.demo, Some(&unsubscribe));
                match self
                    .mailer
                    .send(&channel.target, &row.id, &rendered, &unsubscribe, now)
                    .await
                {
                    Ok(answer) => Outcome::Sent(answer),
                    Err(e) => Outcome::Failed(e.to_string()),
                }
            }
            Kind::Webhook => {
                let rendered = fact.render(role, &self.public_url, self.demo, None);
                let body = webhook::body(
                    channel.format == super::Format::Json,
                    &row.id,
                    channel.partner_id,
                    row.created_at,
                    self.demo,
                    &rendered,
                );
                match webhook::post(
                    &self.webhooks,
                    &channel.target,
                    &row.id,
                    channel.secret.as_ref(),
                    body,
                    now,
                )
                .await
                {
                    Ok(answer) => Outcome::Sent(answer),
                    Err(e) => Outcome::Failed(e),
                }
            }
        }
    }

    /// Records an attempt, guarded by this process's lease (a process whose lease ran out and
    /// whose row another took records nothing over it).
    async fn record(&self, row: &Due, outcome: Outcome) -> Result<(), sqlx::Error> {
        let now = self.clock.now();
        let attempts = row.attempts + 1;
        let (ok, answer, status, next_at) = match &outcome {
            Outcome::Sent(a) => (true, a.clone(), "sent", now),
            Outcome::Cancelled(a) => (false, format!("not sent: {a}"), "cancelled", now),
            Outcome::Failed(a) => {
                let next = now + backoff(attempts);
                if next > row.created_at + super::GIVE_UP_AFTER {
                    (
                        false,
                        format!("{a}; gave up after {attempts} attempts over 3 days"),
                        "failed",
                        now,
                    )
                } else {
                    (false, a.clone(), "pending", next)
                }
            }
        };
        let mut update = Sql::new("UPDATE notify_outbox SET status = ");
        update
            .bind(Bind::Text(status.to_owned()))
            .push(", attempts = ")
            .bind(Bind::Int(attempts))
            .push(", next_at = ")
            .bind(Bind::Int(next_at))
            .push(", last_answer = ")
            .bind(Bind::Text(answer.clone()))
            .push(", lease_until = NULL, sent_at = ")
            .bind(Bind::OptInt((status == "sent").then_some(now)))
            .push(" WHERE id = ")
            .bind(Bind::Text(row.id.clone()))
            .push(" AND lease_until = ")
            .bind(Bind::Int(row.lease));
        let mut attempt =
            Sql::new("INSERT INTO notify_attempts (event_id, at, ok, answer) VALUES (");
        attempt
            .bind(Bind::Text(row.id.clone()))
            .push(", ")
            .bind(Bind::Int(now))
            .push(", ")
            .bind(Bind::Int(i64::from(ok)))
            .push(", ")
            .bind(Bind::Text(answer.clone()))
            .push(")");
        if !self.db.transaction_if(&update, &[attempt]).await? {
            tracing::warn!(event = %row.id, "a notification's lease ran out before its send was recorded");
            return Ok(());
        }
        match status {
            "sent" => {
                tracing::info!(event = %row.id, rule = %row.rule, attempts, "notification sent")
            }
            "pending" => {
                tracing::warn!(event = %row.id, rule = %row.rule, attempts, answer = %answer, "notification not sent; will try again")
            }
            "failed" => {
                tracing::error!(event = %row.id, rule = %row.rule, attempts, answer = %answer, "notification failed for good");
                self.team
                    .audit(
                        now,
                        Some(row.partner_id),
                        &Actor::portal(),
                        "notification_failed",
                        format!(
                            "event {} ({}) to channel {}: {answer}",
                            row.id, row.rule, row.channel_id
                        ),
                    )
                    .await;
            }
            _ => tracing::info!(event = %row.id, answer = %answer, "notification cancelled"),
        }
        Ok(())
    }

    /// Sends what is due, every [`LOOK_EVERY`] or as soon as a row is written, until aborted.
    pub fn spawn_sender(self) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            loop {
                match self.deliver_due().await {
                    // A full batch: look again at once.
                    Ok(n) if n as i64 == BATCH => continue,
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, "could not look for notifications to send")
                    }
                }
                tokio::select! {
                    () = self.wake.notified() => {}
                    () = tokio::time::sleep(LOOK_EVERY) => {}
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_exponentially_and_give_up_within_three_days() {
        assert_eq!(backoff(1), 30);
        assert_eq!(backoff(2), 60);
        assert_eq!(backoff(3), 120);
        assert_eq!(backoff(10), 15_360);
        assert_eq!(backoff(11), 6 * 3600);
        assert_eq!(backoff(50), 6 * 3600);
        // Attempts until 3 days have passed: 30 s doubling to 6 h, then every 6 h.
        let (mut t, mut n) = (0, 0);
        while t + backoff(n + 1) <= super::super::GIVE_UP_AFTER {
            n += 1;
            t += backoff(n);
        }
        assert!((15..=25).contains(&n), "{n} attempts");
    }
}
