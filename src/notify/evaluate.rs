//! The rules, evaluated when their data changes: after each round of the team's background work
//! (which checks the connection and keeps every key's copy fresh with nobody looking), after
//! each invoice fetch, and when a connection breaks or is made again. Each finding is a fact
//! with an idempotency key, written to the outbox per channel ([`Notifier::enqueue`]); seeing it
//! again writes nothing.

use std::collections::BTreeSet;

use chrono::{Days, NaiveDate};

use super::{
    Fact, Notifier, Rule,
    facts::{Counts, InvoiceFact, KeyDigest, MonthInvoice, ProductDigest, Report},
    schedule::{self, Period},
    store::Channel,
};
use crate::{
    db::{Bind, Sql},
    index::SyncState,
    team::{Connection, Role},
    upstream::{Invoice, InvoiceList, PartnerKey},
};

/// How long a report waits for a copy made after its period ended before it is sent from the
/// copy there is (saying so).
const REPORT_WAITS: i64 = 86_400;

/// A channel with the role its messages take now.
struct Listener {
    channel: Channel,
    role: Role,
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
    async fn read_invoices(
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

    /// Whether every one of `channels` already has `fact`.
    async fn all_have(&self, channels: &[&Listener], fact: &str) -> Result<bool, sqlx::Error> {
        if channels.is_empty() {
            return Ok(true);
        }
        let mut sql = Sql::new("SELECT COUNT(*) FROM notify_outbox WHERE fact = ");
        sql.bind(Bind::Text(fact.to_owned()))
            .push(" AND channel_id IN (");
        for (i, l) in channels.iter().enumerate() {
            if i > 0 {
                sql.push(", ");
            }
            sql.bind(Bind::Text(l.channel.id.clone()));
        }
        sql.push(")");
        let n = self
            .db
            .fetch_ints(&sql, 1)
            .await?
            .first()
            .copied()
            .unwrap_or(0);
        Ok(n >= channels.len() as i64)
    }

    /// The weekly digest from Monday 00:00 UTC and the monthly summary from the 1st, to channels
    /// that existed before the period ended, once each.
    async fn reports(
        &self,
        connection: &Connection,
        listeners: &[Listener],
        states: &[(PartnerKey, SyncState)],
        invoices: &mut Vec<(PartnerKey, InvoiceList)>,
    ) -> Result<usize, sqlx::Error> {
        let now = self.clock.now();
        let (week, week_name) = schedule::last_week(now);
        let (month, month_name, month_before) = schedule::last_month(now);
        let mut written = 0;
        for (rule, period, before, name, kind) in [
            (Rule::Weekly, week, week.before(), week_name, "weekly"),
            (Rule::Monthly, month, month_before, month_name, "monthly"),
        ] {
            let due: Vec<&Listener> = listeners
                .iter()
                .filter(|l| {
                    l.channel.rule(rule).is_some() && l.channel.created_at < period.end_unix()
                })
                .collect();
            let fact_key = format!("{kind}:{name}");
            if self.all_have(&due, &fact_key).await? {
                continue;
            }
            // The figures come from a copy made after the period ended; a report waits a day
            // for one (the copy of a broken connection does not refresh) and then says which
            // copy it used.
            let fresh = states
                .iter()
                .all(|(_, s)| s.synced_at.is_some_and(|t| t >= period.end_unix()));
            if !fresh && now < period.end_unix() + REPORT_WAITS {
                continue;
            }
            let mut report = self.report(kind, &name, period, before, states).await?;
            if rule == Rule::Monthly && due.iter().any(|l| l.role.sees_money()) {
                // The summary names the month's invoice: read the list now unless this round
                // already did.
                if connection.is_live() {
                    for (key, _) in states {
                        if !invoices.iter().any(|(k, _)| k.id == key.id)
                            && let Some(list) = self.read_invoices(connection, key).await?
                        {
                            invoices.push((key.clone(), list));
                        }
                    }
                }
                report.invoices = self.month_invoices(period, states, invoices).await;
            }
            let fact = Fact::Report(report);
            for l in due {
                written += usize::from(self.enqueue(&l.channel, rule, &fact_key, &fact).await?);
            }
        }
        Ok(written)
    }

    /// A report over `period` against `before`, per key with a copy.
    pub async fn report(
        &self,
        kind: &str,
        name: &str,
        period: Period,
        before: Period,
        states: &[(PartnerKey, SyncState)],
    ) -> Result<Report, sqlx::Error> {
        let mut keys = Vec::new();
        for (key, state) in states.iter().filter(|(_, s)| s.has_copy()) {
            keys.push(self.key_digest(key, state, period, before).await?);
        }
        Ok(Report {
            period: kind.to_owned(),
            name: name.to_owned(),
            from: period.from,
            to: period.last(),
            previous_from: before.from,
            previous_to: before.last(),
            keys,
            invoices: Vec::new(),
        })
    }

    async fn key_digest(
        &self,
        key: &PartnerKey,
        state: &SyncState,
        period: Period,
        before: Period,
    ) -> Result<KeyDigest, sqlx::Error> {
        let g = state.generation;
        let changes = self
            .index
            .changes(
                key.id,
                g,
                &[(period.from, period.to), (before.from, before.to)],
            )
            .await?;
        let sum = changes.sum(None, 2);
        let active_now = self.index.active_at(key.id, g, self.clock.now()).await?;
        let mut products: Vec<ProductDigest> = changes
            .products
            .iter()
            .filter_map(|(p, c)| {
                let (cur, prev) = (c.first().copied()?, c.get(1).copied()?);
                (cur.new + cur.cancelled + prev.new + prev.cancelled > 0).then(|| ProductDigest {
                    product_id: *p,
                    product: u64::try_from(*p)
                        .ok()
                        .and_then(crate::products::by_id)
                        .map_or_else(|| format!("Product {p}"), |x| x.name.to_owned()),
                    current: cur.into(),
                    previous: prev.into(),
                })
            })
            .collect();
        products.sort_by(|a, b| {
            b.current
                .new
                .cmp(&a.current.new)
                .then(a.product_id.cmp(&b.product_id))
        });
        Ok(KeyDigest {
            key: key.id,
            name: key.name.clone(),
            current: Counts::from(sum[0]),
            previous: Counts::from(sum[1]),
            active_now,
            products,
            copied_at: state.synced_at,
            incomplete: state.shortfall().map(|(reported, copied)| {
                format!(
                    "The {} key's copy holds {} activations, but WordPress.com reported {}: its figures may be short.",
                    key.name,
                    crate::web::fmt_int(copied),
                    crate::web::fmt_int(reported)
                )
            }).or_else(|| {
                state.synced_at.filter(|t| *t < period.end_unix()).map(|t| {
                    format!(
                        "The {} key's figures come from the copy of {}, made before the period ended: WordPress.com could not be read since.",
                        key.name,
                        crate::pages::team::when(t)
                    )
                })
            }),
        })
    }

    /// Each key's invoice for the closed month (the one whose billing period starts in it),
    /// with its reconciliation in one sentence.
    async fn month_invoices(
        &self,
        period: Period,
        states: &[(PartnerKey, SyncState)],
        invoices: &[(PartnerKey, InvoiceList)],
    ) -> Vec<MonthInvoice> {
        let mut out = Vec::new();
        for (key, list) in invoices {
            let invoice = list.invoices.iter().find(|i| {
                i.period_start
                    .map(|s| s.date_naive())
                    .is_some_and(|d| d >= period.from && d < period.to)
            });
            let state = states.iter().find(|(k, _)| k.id == key.id).map(|(_, s)| s);
            let reconciliation = match (invoice, state) {
                (Some(i), Some(s)) if s.has_copy() => {
                    self.reconciliation(key.id, s.generation, i).await
                }
                _ => None,
            };
            out.push(MonthInvoice {
                key: key.id,
                key_name: key.name.clone(),
                invoice: invoice.and_then(|i| invoice_fact(key, i)),
                reconciliation,
            });
        }
        out
    }

    /// The reconciliation of `invoice` against the copy, in one sentence.
    async fn reconciliation(&self, key: u64, generation: i64, invoice: &Invoice) -> Option<String> {
        let (start, end) = (invoice.period_start?, invoice.period_end?);
        let recon = crate::pages::invoices::reconciliation::split_lines(invoice);
        let groups: Vec<Vec<i64>> = recon.rows.iter().map(|r| r.ids.clone()).collect();
        let counts = self
            .index
            .active_during_by_group(key, generation, start.timestamp(), end.timestamp(), &groups)
            .await
            .ok()?;
        let billed: i64 = recon.rows.iter().map(|r| r.invoiced).sum();
        let active: i64 = counts.iter().sum();
        let off = recon
            .rows
            .iter()
            .zip(&counts)
            .filter(|(r, c)| r.invoiced != **c)
            .count();
        let fmt = crate::web::fmt_int;
        Some(match billed - active {
            0 if off == 0 => format!(
                "Reconciliation: billed for {} sites, and the copy counts as many active in the period.",
                fmt(billed)
            ),
            d if d > 0 => format!(
                "Reconciliation: billed for {} sites, {} active in the period per the copy: {} more billed than active ({} product famil{} differ).",
                fmt(billed),
                fmt(active),
                fmt(d),
                off,
                if off == 1 { "y" } else { "ies" }
            ),
            d => format!(
                "Reconciliation: billed for {} sites, {} active in the period per the copy: {} active sites not billed ({} product famil{} differ).",
                fmt(billed),
                fmt(active),
                fmt(-d),
                off,
                if off == 1 { "y" } else { "ies" }
            ),
        })
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
fn invoice_fact(key: &PartnerKey, i: &Invoice) -> Option<InvoiceFact> {
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
            .and_then(crate::web::safe_href),
        due: crate::pages::invoices::dues::Due::of(i, key.id).map(|d| d.details),
    })
}
