//! The weekly digest and the monthly summary: due from Monday 00:00 UTC and the 1st, to each
//! channel that existed before the period ended, once; built from a copy made after the period
//! ended (or, a day later, from the copy there is, saying so).

use super::{
    Fact, Notifier, Rule,
    evaluate::{Listener, invoice_fact},
    facts::{Counts, KeyDigest, MonthInvoice, ProductDigest, Report},
    schedule::{self, Period},
};
use crate::{
    db::{Bind, Sql},
    index::SyncState,
    team::Connection,
    upstream::{Invoice, InvoiceList, PartnerKey},
};

/// How long a report waits for a copy made after its period ended before it is sent from the
/// copy there is (saying so).
const REPORT_WAITS: i64 = 86_400;

impl Notifier {
    /// Whether every one of `channels` already has `fact`.
    async fn all_have(&self, channels: &[&Listener], fact: &str) -> Result<bool, sqlx::Error> {
        if channels.is_empty() {
            return Ok(true);
        }
        let mut sql = Sql::new("SELECT COUNT(*) FROM notify_outbox WHERE fact = ");
        sql.bind(Bind::Text(fact.to_owned()))
            .push(" AND channel_id IN (");
        let ids: Vec<&str> = channels.iter().map(|l| l.channel.id.as_str()).collect();
        sql.bind_texts(&ids);
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
    pub(super) async fn reports(
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
                    crate::format::fmt_int(copied),
                    crate::format::fmt_int(reported)
                )
            }).or_else(|| {
                state.synced_at.filter(|t| *t < period.end_unix()).map(|t| {
                    format!(
                        "The {} key's figures come from the copy of {}, made before the period ended: WordPress.com could not be read since.",
                        key.name,
                        crate::format::fmt_unix(t)
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
        let (rows, _) = crate::billing::split(invoice);
        let groups: Vec<Vec<i64>> = rows.iter().map(|r| r.ids.clone()).collect();
        let counts = self
            .index
            .active_during_by_group(key, generation, start.timestamp(), end.timestamp(), &groups)
            .await
            .ok()?;
        let billed: i64 = rows.iter().map(|r| r.invoiced).sum();
        let active: i64 = counts.iter().sum();
        let off = rows
            .iter()
            .zip(&counts)
            .filter(|(r, c)| r.invoiced != **c)
            .count();
        let fmt = crate::format::fmt_int;
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
}
