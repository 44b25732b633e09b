//! The rules, evaluated when their data changes: after each round of the team's background work
//! (which checks the connection and keeps every key's copy fresh with nobody looking), after
//! each invoice fetch, and when a connection breaks or is made again. Each finding is a fact
//! with an idempotency key, written to the outbox per channel ([`Notifier::enqueue`]); seeing it
//! again writes nothing.

use std::collections::BTreeSet;

use chrono::{Days, NaiveDate};

use super::{
    Fact, Notifier, Rule,
    facts::InvoiceFact,
    schedule::{self, Period},
    store::Channel,
};
use crate::{
    index::SyncState,
    team::{Connection, Role},
    upstream::{Invoice, InvoiceList, PartnerKey},
};

/// A channel with the role its messages take now.
pub(super) struct Listener {
    pub(super) channel: Channel,
    pub(super) role: Role,
}

impl Notifier {
    /// The partner's channels with their roles now (channels whose person left are skipped).
    async fn listeners(&self, connection: &Connection) -> Result<Vec<Listener>, sqlx::Error> {
        let mut out = Vec::new();
        for channel in self.channels(connection.partner.id).await? {
            let role = match channel.user_id {
                None => Some(channel.audience),
                Some(user) => {
                    self.team
                        .acting_role(connection, user, &channel.username)
                        .await?
                }
            };
            if let Some(role) = role {
                out.push(Listener { channel, role });
            }
        }
        Ok(out)
    }

    /// Evaluates every rule of the partner's channels. Returns the messages written.
    pub async fn evaluate(&self, connection: &Connection) -> Result<usize, sqlx::Error> {
        let listeners = self.listeners(connection).await?;
        if listeners.is_empty() {
            return Ok(0);
        }
        let keys: Vec<PartnerKey> = connection
            .partner
            .keys
            .iter()
            .filter(|k| !k.is_disabled())
            .cloned()
            .collect();
        let mut written = 0;
        let mut states = Vec::new();
        for key in &keys {
            states.push((key.clone(), self.index.state(key.id).await?));
        }
        written += self.copy_rules(&listeners, &states).await?;
        let wants_invoices = listeners.iter().any(|l| {
            l.role.sees_money()
                && l.channel
                    .rules
                    .iter()
                    .any(|r| r.rule.is_money() || r.rule == Rule::Monthly)
        });
        let mut invoices = Vec::new();
        if wants_invoices && connection.is_live() {
            for key in &keys {
                if let Some(list) = self.fetch_invoices(connection, key).await? {
                    invoices.push((key.clone(), list));
                }
            }
            written += self
                .invoice_rules(connection.partner.id, &listeners, &invoices)
                .await?;
        }
        written += self
            .reports(connection, &listeners, &states, &mut invoices)
            .await?;
        Ok(written)
    }

    /// Cancellations above a threshold, and copies incomplete against WordPress.com's total.
    async fn copy_rules(
        &self,
        listeners: &[Listener],
        states: &[(PartnerKey, SyncState)],
    ) -> Result<usize, sqlx::Error> {
        let mut written = 0;
        let today = schedule::day_of(self.clock.now());
        for (key, state) in states.iter().filter(|(_, s)| s.has_copy()) {
            if let Some((reported, copied)) = state.shortfall() {
                let fact = Fact::CopyIncomplete {
                    key: key.id,
                    key_name: key.name.clone(),
                    copied,
                    reported,
                    copied_at: state.synced_at,
                };
                let fact_key = format!("copy_incomplete:{}:{}", key.id, state.generation);
                for l in listeners
                    .iter()
                    .filter(|l| l.channel.rule(Rule::CopyIncomplete).is_some())
                {
                    written += usize::from(
                        self.enqueue(&l.channel, Rule::CopyIncomplete, &fact_key, &fact)
                            .await?,
                    );
                }
            }
            let watchers: Vec<&Listener> = listeners
                .iter()
                .filter(|l| l.channel.rule(Rule::Cancellations).is_some())
                .collect();
            if watchers.is_empty() {
                continue;
            }
            for day in [today.pred_opt().unwrap_or(today), today] {
                let (count, average) = self.cancellations(key.id, state.generation, day).await?;
                for l in &watchers {
                    let Some(setting) = l.channel.rule(Rule::Cancellations) else {
                        continue;
                    };
                    let over_count = setting.threshold > 0 && count > setting.threshold;
                    let over_share = setting.percent > 0
                        && average > 0.0
                        && (count as f64) > average * (setting.percent as f64) / 100.0;
                    if !(over_count || over_share) {
                        continue;
                    }
                    let fact = Fact::Cancellations {
                        key: key.id,
                        key_name: key.name.clone(),
                        day,
                        count,
                        average,
                        threshold: setting.threshold,
                        percent: setting.percent,
                    };
                    let fact_key = format!("cancellations:{}:{day}", key.id);
                    written += usize::from(
                        self.enqueue(&l.channel, Rule::Cancellations, &fact_key, &fact)
                            .await?,
                    );
                }
            }
        }
        Ok(written)
    }

    /// Cancellations on `day`, and the daily average of the 28 days before it.
    async fn cancellations(
        &self,
        key: u64,
        generation: i64,
        day: NaiveDate,
    ) -> Result<(i64, f64), sqlx::Error> {
        let next = day.succ_opt().unwrap_or(day);
        let before = day.checked_sub_days(Days::new(28)).unwrap_or(day);
        let changes = self
            .index
            .changes(key, generation, &[(day, next), (before, day)])
            .await?;
        let sum = changes.sum(None, 2);
        Ok((sum[0].cancelled, sum[1].cancelled as f64 / 28.0))
    }

    /// The key's past invoices, fetched at most every `invoice_every` (the time is kept in the
    /// database, so replicas share it); `None` between fetches or when WordPress.com fails.
    async fn fetch_invoices(
        &self,
        connection: &Connection,
        key: &PartnerKey,
    ) -> Result<Option<InvoiceList>, sqlx::Error> {
        let pid = connection.partner.id;
        let now = self.clock.now();
        let stamp = format!("invoices_at:{}", key.id);
        let last: i64 = self
            .remembered(pid, &stamp)
            .await?
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        if now - last < self.invoice_every {
            return Ok(None);
        }
        self.read_invoices(connection, key).await
    }

    /// The key's past invoices from WordPress.com now; `None` when it fails (logged).
    pub(super) async fn read_invoices(
        &self,
        connection: &Connection,
        key: &PartnerKey,
    ) -> Result<Option<InvoiceList>, sqlx::Error> {
        let pid = connection.partner.id;
        let now = self.clock.now();
        let stamp = format!("invoices_at:{}", key.id);
        match self.wpcom.invoices(&connection.token, pid, key.id).await {
            Ok(list) => {
                self.remember(pid, &stamp, &now.to_string()).await?;
                Ok(Some(list))
            }
            Err(e) => {
                tracing::warn!(partner_id = pid, key = key.id, error = %e, "notifications: invoices could not be read; will try again");
                Ok(None)
            }
        }
    }

    /// New invoices (against the ids seen before; the first look only sets the baseline) and
    /// invoices past due or whose payment failed.
    async fn invoice_rules(
        &self,
        partner_id: u64,
        listeners: &[Listener],
        invoices: &[(PartnerKey, InvoiceList)],
    ) -> Result<usize, sqlx::Error> {
        let mut written = 0;
        for (key, list) in invoices {
            let name = format!("invoices_seen:{}", key.id);
            let seen: Option<BTreeSet<String>> = self
                .remembered(partner_id, &name)
                .await?
                .and_then(|v| serde_json::from_str(&v).ok());
            let ids: BTreeSet<String> = list.invoices.iter().filter_map(|i| i.id.clone()).collect();
            for invoice in &list.invoices {
                let Some(fact) = invoice_fact(key, invoice) else {
                    continue;
                };
                let is_new = seen.as_ref().is_some_and(|s| !s.contains(&fact.id));
                let mut found = Vec::new();
                if is_new {
                    found.push((
                        Rule::InvoiceNew,
                        format!("invoice_new:{}", fact.id),
                        Fact::InvoiceNew(fact.clone()),
                    ));
                }
                if invoice.status.needs_action() {
                    found.push((
                        Rule::InvoiceDue,
                        format!("invoice_due:{}:{}", fact.id, fact.status),
                        Fact::InvoiceDue(fact.clone()),
                    ));
                }
                for (rule, fact_key, fact) in found {
                    for l in listeners
                        .iter()
                        .filter(|l| l.role.sees_money() && l.channel.rule(rule).is_some())
                    {
                        written +=
                            usize::from(self.enqueue(&l.channel, rule, &fact_key, &fact).await?);
                    }
                }
            }
            if seen.as_ref() != Some(&ids) {
                let mut all = seen.unwrap_or_default();
                all.extend(ids);
                let text = serde_json::to_string(&all).unwrap_or_default();
                self.remember(partner_id, &name, &text).await?;
            }
        }
        Ok(written)
    }

    /// The team connection broke or was made again: every channel following the rule hears.
    pub async fn connection_changed(
        &self,
        partner_id: u64,
        fact_key: &str,
        fact: &Fact,
    ) -> Result<usize, sqlx::Error> {
        let mut written = 0;
        for channel in self.channels(partner_id).await? {
            if channel.rule(Rule::Connection).is_some() {
                written += usize::from(
                    self.enqueue(&channel, Rule::Connection, fact_key, fact)
                        .await?,
                );
            }
        }
        Ok(written)
    }

    /// A test message for `channel` now, with the digest of the last 7 days when there is a
    /// copy to read it from.
    pub async fn send_test(
        &self,
        channel: &Channel,
        keys: &[PartnerKey],
    ) -> Result<(), sqlx::Error> {
        let now = self.clock.now();
        let today = schedule::day_of(now);
        let to = today.succ_opt().unwrap_or(today);
        let from = to.checked_sub_days(Days::new(7)).unwrap_or(to);
        let period = Period { from, to };
        let mut states = Vec::new();
        for key in keys.iter().filter(|k| !k.is_disabled()) {
            states.push((key.clone(), self.index.state(key.id).await?));
        }
        let report = if states.iter().any(|(_, s)| s.has_copy()) {
            Some(
                self.report("weekly", "last 7 days", period, period.before(), &states)
                    .await?,
            )
        } else {
            None
        };
        let fact_key = format!("test:{now}:{}", crate::secret::random_token(6));
        self.enqueue(channel, Rule::Test, &fact_key, &Fact::Test { report })
            .await?;
        Ok(())
    }
}

/// An invoice as messages tell it (`None` for one without an id).
pub(super) fn invoice_fact(key: &PartnerKey, i: &Invoice) -> Option<InvoiceFact> {
    Some(InvoiceFact {
        key: key.id,
        key_name: key.name.clone(),
        id: i.id.clone()?,
        number: i.number.clone(),
        status: i.status.code().to_owned(),
        status_label: i.status.label(),
        total: i.total,
        remaining: i.amount_remaining,
        currency: i.currency.clone(),
        created: i.created,
        period_start: i.period_start,
        period_end: i.period_end,
        hosted_url: i
            .hosted_invoice_url
            .as_deref()
            .and_then(crate::format::safe_href),
        due: crate::billing::Due::of(i, key.id).map(|d| d.details),
    })
}

#[async_trait::async_trait]
impl crate::team::watch::Observer for Notifier {
    async fn connection_broke(
        &self,
        connection: &Connection,
        reason: &str,
        at: i64,
    ) -> Result<usize, sqlx::Error> {
        let fact = Fact::ConnectionBroken {
            reason: reason.to_owned(),
            at,
            owner: connection.owner_name.clone(),
        };
        self.connection_changed(
            connection.partner.id,
            &format!("connection_broken:{at}"),
            &fact,
        )
        .await
    }

    async fn after_round(&self, connection: &Connection) -> Result<usize, sqlx::Error> {
        self.evaluate(connection).await
    }
}
