//! The outbox as the Deliveries page reads it: each event, its attempts and answers.

use super::{Fact, Notifier};
use crate::{
    db::{Bind, Sql},
    team::Role,
};

/// One outbox row, as the Deliveries page shows it.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// The event id.
    pub id: String,
    /// The channel.
    pub channel_id: String,
    /// The rule.
    pub rule: String,
    /// The fact it is about.
    pub fact: String,
    /// Its summary, from the payload.
    pub summary: String,
    /// Unix seconds.
    pub created_at: i64,
    /// pending, sent, failed, cancelled, damped.
    pub status: String,
    /// Attempts so far.
    pub attempts: i64,
    /// The next attempt, while pending.
    pub next_at: i64,
    /// When it was sent.
    pub sent_at: Option<i64>,
    /// What the last attempt got.
    pub last_answer: Option<String>,
    /// Every attempt: `(at, ok, answer)`, oldest first.
    pub tries: Vec<(i64, bool, String)>,
}

impl Notifier {
    /// The partner's deliveries, newest first: every channel's, or those of `channels` only.
    pub async fn deliveries(
        &self,
        partner_id: u64,
        channels: Option<&[String]>,
        limit: i64,
    ) -> Result<Vec<Delivery>, sqlx::Error> {
        if channels.is_some_and(<[String]>::is_empty) {
            return Ok(Vec::new());
        }
        let mut sql = Sql::new(
            "SELECT id, channel_id, rule, fact, payload, created_at, status, attempts, next_at, sent_at, last_answer FROM notify_outbox WHERE partner_id = ",
        );
        sql.bind(Bind::Int(partner_id as i64));
        if let Some(ids) = channels {
            sql.push(" AND channel_id IN (");
            sql.bind_texts(ids);
            sql.push(")");
        }
        sql.push(" ORDER BY created_at DESC, id LIMIT ")
            .bind(Bind::Int(limit));
        type Row = (
            String,
            String,
            String,
            String,
            String,
            i64,
            String,
            i64,
            i64,
            Option<i64>,
            Option<String>,
        );
        let rows: Vec<Row> = self.db.fetch_all(&sql).await?;
        let mut out: Vec<Delivery> = rows
            .into_iter()
            .map(
                |(
                    id,
                    channel_id,
                    rule,
                    fact,
                    payload,
                    created_at,
                    status,
                    attempts,
                    next_at,
                    sent_at,
                    last_answer,
                )| {
                    let summary = serde_json::from_str::<Fact>(&payload)
                        .map(|f| f.summary(Role::Support))
                        .unwrap_or_default();
                    Delivery {
                        id,
                        channel_id,
                        rule,
                        fact,
                        summary,
                        created_at,
                        status,
                        attempts,
                        next_at,
                        sent_at,
                        last_answer,
                        tries: Vec::new(),
                    }
                },
            )
            .collect();
        if !out.is_empty() {
            let mut sql = Sql::new(
                "SELECT event_id, at, ok, answer FROM notify_attempts WHERE event_id IN (",
            );
            let ids: Vec<&str> = out.iter().map(|d| d.id.as_str()).collect();
            sql.bind_texts(&ids);
            sql.push(") ORDER BY at, id");
            let tries: Vec<(String, i64, i64, String)> = self.db.fetch_all(&sql).await?;
            for (event, at, ok, answer) in tries {
                if let Some(d) = out.iter_mut().find(|d| d.id == event) {
                    d.tries.push((at, ok != 0, answer));
                }
            }
        }
        Ok(out)
    }

    /// How many of the partner's deliveries gave up (the admins' banner).
    pub async fn failed_count(&self, partner_id: u64) -> Result<i64, sqlx::Error> {
        let mut sql = Sql::new(
            "SELECT COUNT(*) FROM notify_outbox WHERE status = 'failed' AND partner_id = ",
        );
        sql.bind(Bind::Int(partner_id as i64));
        Ok(self
            .db
            .fetch_ints(&sql, 1)
            .await?
            .first()
            .copied()
            .unwrap_or(0))
    }
}
