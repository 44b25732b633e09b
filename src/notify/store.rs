//! Channels, their rules, the outbox and its attempts in the database.

use sha2::Digest as _;

use super::{Fact, Format, Kind, Notifier, Rule};
use crate::{
    db::{Bind, Dialect, Sql},
    secret::{Secret, random_token},
    team::Role,
};

/// One rule a channel follows, with its settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleSetting {
    /// The rule.
    pub rule: Rule,
    /// Cancellations in a day above this many (0: not used).
    pub threshold: i64,
    /// Cancellations above this percentage of the 4-week daily average (0: not used).
    pub percent: i64,
    /// At most one alert of the rule per this many seconds.
    pub damp_secs: i64,
    /// When the rule last wrote a message for this channel.
    pub last_fired_at: Option<i64>,
}

/// A channel: where messages go.
#[derive(Debug, Clone)]
pub struct Channel {
    /// `ch_…`.
    pub id: String,
    /// The partner.
    pub partner_id: u64,
    /// Its person; `None` for a channel the admins share.
    pub user_id: Option<u64>,
    /// Its person's username (or the admin who made a shared one).
    pub username: String,
    /// Who made it.
    pub created_by: String,
    /// A shared channel's role.
    pub audience: Role,
    /// Email or webhook.
    pub kind: Kind,
    /// The address or URL.
    pub target: String,
    /// How messages are written.
    pub format: Format,
    /// A webhook's signing secret.
    pub secret: Option<Secret<String>>,
    /// Unix seconds.
    pub created_at: i64,
    /// What it follows.
    pub rules: Vec<RuleSetting>,
}

impl Channel {
    /// The settings of `rule`, when the channel follows it.
    pub fn rule(&self, rule: Rule) -> Option<&RuleSetting> {
        self.rules.iter().find(|r| r.rule == rule)
    }
}

/// A channel to be made.
#[derive(Debug, Clone)]
pub struct ChannelDraft {
    /// The partner.
    pub partner_id: u64,
    /// Its person; `None` for a shared channel.
    pub user_id: Option<u64>,
    /// Its person's username.
    pub username: String,
    /// Who makes it.
    pub created_by: String,
    /// A shared channel's role.
    pub audience: Role,
    /// Email or webhook.
    pub kind: Kind,
    /// The address or URL (already checked).
    pub target: String,
    /// How messages are written.
    pub format: Format,
    /// What it follows.
    pub rules: Vec<RuleSetting>,
}

type ChannelRow = (
    String,
    i64,
    Option<i64>,
    String,
    String,
    String,
    String,
    String,
    String,
    Option<String>,
    i64,
);

const CHANNEL_COLUMNS: &str = "id, partner_id, user_id, username, created_by, audience, kind, target, format, secret_sealed, created_at";

/// The event id of `fact` on `channel`: the same on every replica and every retry.
pub fn event_id(channel: &str, fact: &str) -> String {
    let mut h = sha2::Sha256::new();
    h.update(channel.as_bytes());
    h.update(b"\n");
    h.update(fact.as_bytes());
    let digest = h.finalize();
    let hex: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
    format!("evt_{hex}")
}

fn secret_aad(channel: &str) -> Vec<u8> {
    format!("notify-channel:{channel}").into_bytes()
}

impl Notifier {
    fn channel_from(&self, row: ChannelRow, rules: Vec<RuleSetting>) -> Option<Channel> {
        let (id, partner, user, username, created_by, audience, kind, target, format, sealed, at) =
            row;
        let secret = match sealed {
            Some(s) => Some(Secret::new(
                self.sealer
                    .open(&s, &secret_aad(&id))
                    .and_then(|b| String::from_utf8(b).ok())?,
            )),
            None => None,
        };
        Some(Channel {
            partner_id: u64::try_from(partner).ok()?,
            user_id: user.and_then(|u| u64::try_from(u).ok()),
            username,
            created_by,
            audience: Role::parse(&audience)?,
            kind: Kind::parse(&kind)?,
            target,
            format: Format::parse(&format)?,
            secret,
            created_at: at,
            rules,
            id,
        })
    }

    async fn rules_of(&self, ids: &[String]) -> Result<Vec<(String, RuleSetting)>, sqlx::Error> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut sql = Sql::new(
            "SELECT channel_id, rule, threshold, percent, damp_secs, last_fired_at FROM notify_rules WHERE channel_id IN (",
        );
        sql.bind_texts(ids);
        sql.push(")");
        let rows: Vec<(String, String, i64, i64, i64, Option<i64>)> =
            self.db.fetch_all(&sql).await?;
        let mut out: Vec<(String, RuleSetting)> = rows
            .into_iter()
            .filter_map(|(c, r, threshold, percent, damp_secs, last_fired_at)| {
                Some((
                    c,
                    RuleSetting {
                        rule: Rule::parse(&r)?,
                        threshold,
                        percent,
                        damp_secs,
                        last_fired_at,
                    },
                ))
            })
            .collect();
        out.sort_by_key(|(_, r)| r.rule);
        Ok(out)
    }

    async fn channels_where(&self, sql: Sql) -> Result<Vec<Channel>, sqlx::Error> {
        let rows: Vec<ChannelRow> = self.db.fetch_all(&sql).await?;
        let ids: Vec<String> = rows.iter().map(|r| r.0.clone()).collect();
        let mut rules = self.rules_of(&ids).await?;
        Ok(rows
            .into_iter()
            .filter_map(|row| {
                let mine: Vec<RuleSetting> = rules
                    .extract_if(.., |(c, _)| *c == row.0)
                    .map(|(_, r)| r)
                    .collect();
                let id = row.0.clone();
                let channel = self.channel_from(row, mine);
                if channel.is_none() {
                    tracing::warn!(
                        channel = %id,
                        "a notification channel could not be read (was PORTAL_SESSION_KEY changed?)"
                    );
                }
                channel
            })
            .collect())
    }

    /// Every channel of the partner, oldest first.
    pub async fn channels(&self, partner_id: u64) -> Result<Vec<Channel>, sqlx::Error> {
        let mut sql = Sql::new(&format!(
            "SELECT {CHANNEL_COLUMNS} FROM notify_channels WHERE partner_id = "
        ));
        sql.bind(Bind::Int(partner_id as i64))
            .push(" ORDER BY created_at, id");
        self.channels_where(sql).await
    }

    /// One channel.
    pub async fn channel(&self, id: &str) -> Result<Option<Channel>, sqlx::Error> {
        let mut sql = Sql::new(&format!(
            "SELECT {CHANNEL_COLUMNS} FROM notify_channels WHERE id = "
        ));
        sql.bind(Bind::Text(id.to_owned()));
        Ok(self.channels_where(sql).await?.into_iter().next())
    }

    /// Every partner with a channel (the evaluation looks at these only).
    pub async fn partners_with_channels(&self) -> Result<Vec<u64>, sqlx::Error> {
        let rows: Vec<(i64,)> = self
            .db
            .fetch_all(&Sql::new(
                "SELECT DISTINCT partner_id FROM notify_channels ORDER BY partner_id",
            ))
            .await?;
        Ok(rows
            .into_iter()
            .filter_map(|(p,)| u64::try_from(p).ok())
            .collect())
    }

    /// Makes a channel; a webhook gets a signing secret, returned once for the page to show.
    pub async fn create_channel(
        &self,
        draft: &ChannelDraft,
    ) -> Result<(Channel, Option<Secret<String>>), sqlx::Error> {
        let id = format!("ch_{}", random_token(12));
        let now = self.clock.now();
        let secret = (draft.kind == Kind::Webhook)
            .then(|| Secret::new(format!("whsec_{}", random_token(32))));
        let sealed = match &secret {
            Some(s) => Some(
                self.sealer
                    .seal(s.expose().as_bytes(), &secret_aad(&id))
                    .ok_or_else(|| sqlx::Error::Protocol("sealing failed".into()))?,
            ),
            None => None,
        };
        let mut insert = Sql::new(&format!(
            "INSERT INTO notify_channels ({CHANNEL_COLUMNS}) VALUES ("
        ));
        insert
            .bind(Bind::Text(id.clone()))
            .push(", ")
            .bind(Bind::Int(draft.partner_id as i64))
            .push(", ")
            .bind(Bind::OptInt(draft.user_id.map(|u| u as i64)))
            .push(", ")
            .bind(Bind::Text(draft.username.clone()))
            .push(", ")
            .bind(Bind::Text(draft.created_by.clone()))
            .push(", ")
            .bind(Bind::Text(draft.audience.as_str().to_owned()))
            .push(", ")
            .bind(Bind::Text(draft.kind.as_str().to_owned()))
            .push(", ")
            .bind(Bind::Text(draft.target.clone()))
            .push(", ")
            .bind(Bind::Text(draft.format.as_str().to_owned()))
            .push(", ")
            .bind(Bind::OptText(sealed))
            .push(", ")
            .bind(Bind::Int(now))
            .push(")");
        let mut statements = vec![insert];
        statements.extend(rule_inserts(&id, &draft.rules));
        self.db.transaction(&statements).await?;
        let channel = Channel {
            id,
            partner_id: draft.partner_id,
            user_id: draft.user_id,
            username: draft.username.clone(),
            created_by: draft.created_by.clone(),
            audience: draft.audience,
            kind: draft.kind,
            target: draft.target.clone(),
            format: draft.format,
            secret: secret.as_ref().map(|s| Secret::new(s.expose().clone())),
            created_at: now,
            rules: draft.rules.clone(),
        };
        Ok((channel, secret))
    }

    /// Replaces a channel's rules (keeping when each last fired, so damping holds).
    pub async fn set_rules(
        &self,
        channel: &Channel,
        rules: &[RuleSetting],
    ) -> Result<(), sqlx::Error> {
        let mut keep = rules.to_vec();
        for r in &mut keep {
            r.last_fired_at = channel.rule(r.rule).and_then(|old| old.last_fired_at);
        }
        let mut delete = Sql::new("DELETE FROM notify_rules WHERE channel_id = ");
        delete.bind(Bind::Text(channel.id.clone()));
        let mut statements = vec![delete];
        statements.extend(rule_inserts(&channel.id, &keep));
        self.db.transaction(&statements).await
    }

    /// Removes a channel and its rules; what it had pending is cancelled (and kept, so the
    /// Deliveries page still says what happened).
    pub async fn remove_channel(&self, id: &str) -> Result<(), sqlx::Error> {
        let mut a = Sql::new("DELETE FROM notify_rules WHERE channel_id = ");
        a.bind(Bind::Text(id.to_owned()));
        let mut b = Sql::new("DELETE FROM notify_channels WHERE id = ");
        b.bind(Bind::Text(id.to_owned()));
        let mut c = Sql::new(
            "UPDATE notify_outbox SET status = 'cancelled', last_answer = 'the channel was removed' WHERE status = 'pending' AND channel_id = ",
        );
        c.bind(Bind::Text(id.to_owned()));
        self.db.transaction(&[a, b, c]).await
    }

    /// The one-click unsubscribe: `channel` stops following `rule`. Whether it did.
    pub async fn unsubscribe(&self, channel: &str, rule: Rule) -> Result<bool, sqlx::Error> {
        let mut sql = Sql::new("DELETE FROM notify_rules WHERE channel_id = ");
        sql.bind(Bind::Text(channel.to_owned()))
            .push(" AND rule = ")
            .bind(Bind::Text(rule.as_str().to_owned()));
        Ok(self.db.execute(&sql).await? > 0)
    }

    /// Writes `fact` for `channel` under `rule` to the outbox, unless the channel already has
    /// it (the fact is its idempotency key) or, for an alert, the rule fired within its damping
    /// period (then the row is kept as `damped`, so the fact is not sent late). Returns whether
    /// a row to send was written.
    pub async fn enqueue(
        &self,
        channel: &Channel,
        rule: Rule,
        fact_key: &str,
        fact: &Fact,
    ) -> Result<bool, sqlx::Error> {
        let now = self.clock.now();
        let id = event_id(&channel.id, fact_key);
        let payload = serde_json::to_string(fact)
            .map_err(|e| sqlx::Error::Protocol(format!("payload: {e}")))?;
        let mut tx = self.db.begin().await?;
        let mut status = "pending";
        let mut answer = None;
        if rule.is_alert()
            && let Some(setting) = channel.rule(rule)
        {
            let mut read = Sql::new("SELECT last_fired_at FROM notify_rules WHERE channel_id = ");
            read.bind(Bind::Text(channel.id.clone()))
                .push(" AND rule = ")
                .bind(Bind::Text(rule.as_str().to_owned()));
            if tx.dialect() == Dialect::Postgres {
                read.push(" FOR UPDATE");
            }
            let last: Option<(Option<i64>,)> = tx.fetch_optional(&read).await?;
            if let Some((Some(at),)) = last
                && now - at < setting.damp_secs
            {
                status = "damped";
                answer = Some(format!(
                    "not sent: this rule already alerted this channel at {}, within the {} it waits between alerts",
                    crate::format::fmt_unix(at),
                    crate::format::fmt_duration(std::time::Duration::from_secs(
                        u64::try_from(setting.damp_secs).unwrap_or(0)
                    ))
                ));
            }
        }
        let mut insert = Sql::new(
            "INSERT INTO notify_outbox (id, channel_id, partner_id, rule, fact, payload, created_at, status, next_at, last_answer) VALUES (",
        );
        insert
            .bind(Bind::Text(id))
            .push(", ")
            .bind(Bind::Text(channel.id.clone()))
            .push(", ")
            .bind(Bind::Int(channel.partner_id as i64))
            .push(", ")
            .bind(Bind::Text(rule.as_str().to_owned()))
            .push(", ")
            .bind(Bind::Text(fact_key.to_owned()))
            .push(", ")
            .bind(Bind::Text(payload))
            .push(", ")
            .bind(Bind::Int(now))
            .push(", ")
            .bind(Bind::Text(status.to_owned()))
            .push(", ")
            .bind(Bind::Int(now))
            .push(", ")
            .bind(Bind::OptText(answer))
            .push(") ON CONFLICT (channel_id, fact) DO NOTHING");
        let written = tx.execute(&insert).await? > 0;
        if written && status == "pending" && rule.is_alert() {
            let mut fired = Sql::new("UPDATE notify_rules SET last_fired_at = ");
            fired
                .bind(Bind::Int(now))
                .push(" WHERE channel_id = ")
                .bind(Bind::Text(channel.id.clone()))
                .push(" AND rule = ")
                .bind(Bind::Text(rule.as_str().to_owned()));
            tx.execute(&fired).await?;
        }
        tx.commit().await?;
        let sent = written && status == "pending";
        if sent {
            self.wake.notify_one();
        }
        Ok(sent)
    }

    /// A value the rules remember.
    pub async fn remembered(
        &self,
        partner_id: u64,
        name: &str,
    ) -> Result<Option<String>, sqlx::Error> {
        let mut sql = Sql::new("SELECT value FROM notify_state WHERE partner_id = ");
        sql.bind(Bind::Int(partner_id as i64))
            .push(" AND name = ")
            .bind(Bind::Text(name.to_owned()));
        Ok(self
            .db
            .fetch_optional::<(String,)>(&sql)
            .await?
            .map(|(v,)| v))
    }

    /// Remembers a value.
    pub async fn remember(
        &self,
        partner_id: u64,
        name: &str,
        value: &str,
    ) -> Result<(), sqlx::Error> {
        let mut sql = Sql::new("INSERT INTO notify_state (partner_id, name, value) VALUES (");
        sql.bind(Bind::Int(partner_id as i64))
            .push(", ")
            .bind(Bind::Text(name.to_owned()))
            .push(", ")
            .bind(Bind::Text(value.to_owned()))
            .push(") ON CONFLICT (partner_id, name) DO UPDATE SET value = excluded.value");
        self.db.execute(&sql).await.map(|_| ())
    }
}

fn rule_inserts(channel: &str, rules: &[RuleSetting]) -> Vec<Sql> {
    rules
        .iter()
        .map(|r| {
            let mut sql = Sql::new(
                "INSERT INTO notify_rules (channel_id, rule, threshold, percent, damp_secs, last_fired_at) VALUES (",
            );
            sql.bind(Bind::Text(channel.to_owned()))
                .push(", ")
                .bind(Bind::Text(r.rule.as_str().to_owned()))
                .push(", ")
                .bind(Bind::Int(r.threshold))
                .push(", ")
                .bind(Bind::Int(r.percent))
                .push(", ")
                .bind(Bind::Int(r.damp_secs))
                .push(", ")
                .bind(Bind::OptInt(r.last_fired_at))
                .push(")");
            sql
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_id_is_the_same_for_the_same_fact_and_channel_only() {
        let a = event_id("ch_1", "weekly:2026-W48");
        assert_eq!(a, event_id("ch_1", "weekly:2026-W48"));
        assert_ne!(a, event_id("ch_2", "weekly:2026-W48"));
        assert_ne!(a, event_id("ch_1", "weekly:2026-W49"));
        assert!(a.starts_with("evt_") && a.len() == 28, "{a}");
    }
}
