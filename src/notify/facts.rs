//! What a message says. A rule writes a [`Fact`] (the figures, amounts included) to the outbox;
//! the sender renders it for the channel's role at the time of sending ([`Fact::render`]): a
//! subject, a plain-text and an HTML part, a Slack text and the webhook's `data`. Support never
//! receives an amount: [`Fact::for_role`] drops the invoices before anything is rendered.

use askama::Template;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::{
    team::Role,
    web::{fmt_date, fmt_days, fmt_int, fmt_money, safe_href},
};

/// Activations over some days.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Activated in the days.
    pub new: i64,
    /// Cancelled in the days.
    pub cancelled: i64,
    /// New less cancelled.
    pub net: i64,
    /// Active at the start of the first day.
    pub active_start: i64,
    /// Active at the end of the last day.
    pub active_end: i64,
}

impl From<crate::index::Change> for Counts {
    fn from(c: crate::index::Change) -> Self {
        Self {
            new: c.new,
            cancelled: c.cancelled,
            net: c.net(),
            active_start: c.active_start,
            active_end: c.active_end,
        }
    }
}

/// One current product's counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductDigest {
    /// Product id.
    pub product_id: i64,
    /// Its name.
    pub product: String,
    /// Over the period.
    pub current: Counts,
    /// Over the period before it.
    pub previous: Counts,
}

/// One key's figures over a report's period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyDigest {
    /// Key id.
    pub key: u64,
    /// Its name.
    pub name: String,
    /// Over the period.
    pub current: Counts,
    /// Over the period before it, of the same length.
    pub previous: Counts,
    /// Active now, per the copy.
    pub active_now: i64,
    /// Per current product, most new first.
    pub products: Vec<ProductDigest>,
    /// When the copy the figures come from was made (Unix seconds).
    pub copied_at: Option<i64>,
    /// Said when the copy holds fewer activations than WordPress.com's total.
    pub incomplete: Option<String>,
}

/// An invoice as a message tells it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvoiceFact {
    /// Key id.
    pub key: u64,
    /// Its name.
    pub key_name: String,
    /// Stripe id.
    pub id: String,
    /// Human number.
    pub number: Option<String>,
    /// `open`, `paid`, `past_due`, `payment_failed`, …
    pub status: String,
    /// How the pages say the status.
    pub status_label: String,
    /// Total in minor units.
    pub total: i64,
    /// Still to pay, in minor units.
    pub remaining: Option<i64>,
    /// Lowercase ISO currency.
    pub currency: String,
    /// When it was issued.
    pub created: Option<DateTime<Utc>>,
    /// The billing period's first day.
    pub period_start: Option<DateTime<Utc>>,
    /// The billing period's end.
    pub period_end: Option<DateTime<Utc>>,
    /// Stripe's hosted page (http(s) only).
    pub hosted_url: Option<String>,
    /// What is due, as the pages' banner says it (past due and failed payments).
    pub due: Option<String>,
}

impl InvoiceFact {
    /// The number, or the id.
    pub fn name(&self) -> &str {
        self.number.as_deref().unwrap_or(&self.id)
    }

    /// The invoice's page here.
    pub fn href(&self) -> String {
        crate::pages::invoices::invoice_href(&self.id, self.key, "")
    }
}

/// The invoice of a closed month, with its reconciliation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MonthInvoice {
    /// Key id.
    pub key: u64,
    /// Its name.
    pub key_name: String,
    /// The invoice issued for the month, when WordPress.com has issued it.
    pub invoice: Option<InvoiceFact>,
    /// The reconciliation's result, in one sentence.
    pub reconciliation: Option<String>,
}

/// A weekly digest or a monthly summary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// `weekly` or `monthly`.
    pub period: String,
    /// `2026-W48` or `2026-11`.
    pub name: String,
    /// The period's first day.
    pub from: NaiveDate,
    /// Its last day.
    pub to: NaiveDate,
    /// The compared period's first day.
    pub previous_from: NaiveDate,
    /// Its last day.
    pub previous_to: NaiveDate,
    /// Per key.
    pub keys: Vec<KeyDigest>,
    /// Monthly: each key's invoice for the month (dropped for roles that see no money).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub invoices: Vec<MonthInvoice>,
}

/// What a rule found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Fact {
    /// A weekly digest or a monthly summary.
    Report(Report),
    /// Cancellations in a day above a threshold.
    Cancellations {
        /// Key id.
        key: u64,
        /// Its name.
        key_name: String,
        /// The day (UTC).
        day: NaiveDate,
        /// Cancellations that day (so far, for today).
        count: i64,
        /// The daily average over the 4 weeks before the day.
        average: f64,
        /// The channel's threshold (0: not used).
        threshold: i64,
        /// The channel's percentage of the average (0: not used).
        percent: i64,
    },
    /// WordPress.com issued an invoice.
    InvoiceNew(InvoiceFact),
    /// An invoice is past due or its payment failed.
    InvoiceDue(InvoiceFact),
    /// A key's copy holds fewer activations than WordPress.com's total.
    CopyIncomplete {
        /// Key id.
        key: u64,
        /// Its name.
        key_name: String,
        /// Rows in the copy.
        copied: i64,
        /// WordPress.com's total during the copy.
        reported: i64,
        /// When the copy was made.
        copied_at: Option<i64>,
    },
    /// The team connection broke.
    ConnectionBroken {
        /// Why.
        reason: String,
        /// Unix seconds.
        at: i64,
        /// Who connected it.
        owner: String,
    },
    /// The team connection was made again.
    ConnectionRestored {
        /// Who made it.
        by: String,
        /// Unix seconds.
        at: i64,
    },
    /// A test from the Send test button, with the digest of the last 7 days when there is one.
    Test {
        /// The digest.
        report: Option<Report>,
    },
}

/// A table in a message.
#[derive(Debug, Clone)]
pub struct Table {
    /// Its caption.
    pub title: String,
    /// Its head.
    pub head: Vec<String>,
    /// Its rows.
    pub rows: Vec<Vec<Cell>>,
}

/// A cell: text, and a link to the page behind it.
#[derive(Debug, Clone)]
pub struct Cell {
    /// The text.
    pub text: String,
    /// The page (absolute URL).
    pub href: Option<String>,
}

/// A message, before it becomes text, HTML or Slack.
#[derive(Debug, Clone)]
pub struct Message {
    /// The subject.
    pub subject: String,
    /// Its one-sentence summary.
    pub headline: String,
    /// Sentences, each a paragraph.
    pub paragraphs: Vec<String>,
    /// Tables.
    pub tables: Vec<Table>,
    /// Where to look: `(label, absolute URL)`.
    pub links: Vec<(String, String)>,
}

/// A message rendered for one channel.
#[derive(Debug, Clone)]
pub struct Rendered {
    /// The subject.
    pub subject: String,
    /// The one-sentence summary.
    pub summary: String,
    /// The plain-text part.
    pub text: String,
    /// The HTML part.
    pub html: String,
    /// Slack's `text`.
    pub slack: String,
    /// The webhook event's `type`.
    pub event_type: &'static str,
    /// The webhook event's `data`.
    pub data: serde_json::Value,
    /// The page behind the message.
    pub url: String,
}

#[derive(Template)]
#[template(path = "mail/message.html")]
struct MailHtml<'a> {
    message: &'a Message,
    demo: bool,
    unsubscribe: Option<&'a str>,
    settings: &'a str,
}

fn signed(n: i64) -> String {
    if n > 0 {
        format!("+{}", fmt_int(n))
    } else {
        fmt_int(n)
    }
}

fn against(now: i64, before: i64) -> String {
    match now - before {
        0 => "same as before".to_owned(),
        d => format!("{} against before", signed(d)),
    }
}

impl Fact {
    /// The fact as `role` may receive it: amounts and invoices dropped for support.
    pub fn for_role(&self, role: Role) -> Fact {
        let mut fact = self.clone();
        if !role.sees_money() {
            match &mut fact {
                Fact::Report(r) => r.invoices.clear(),
                Fact::Test { report: Some(r) } => r.invoices.clear(),
                _ => {}
            }
        }
        fact
    }

    /// The webhook event's `type`.
    pub fn event_type(&self) -> &'static str {
        match self {
            Fact::Report(r) if r.period == "monthly" => "report.monthly",
            Fact::Report(_) => "report.weekly",
            Fact::Cancellations { .. } => "activations.cancellations_spike",
            Fact::InvoiceNew(_) => "invoice.created",
            Fact::InvoiceDue(i) if i.status == "past_due" => "invoice.past_due",
            Fact::InvoiceDue(_) => "invoice.payment_failed",
            Fact::CopyIncomplete { .. } => "copy.incomplete",
            Fact::ConnectionBroken { .. } => "connection.broken",
            Fact::ConnectionRestored { .. } => "connection.restored",
            Fact::Test { .. } => "test",
        }
    }

    /// One sentence, for `role`.
    pub fn summary(&self, role: Role) -> String {
        self.message(role, "").headline
    }

    /// The message for `role`, with links under `base` (the portal's public URL).
    pub fn message(&self, role: Role, base: &str) -> Message {
        let fact = self.for_role(role);
        let link = |path: &str| format!("{base}{path}");
        match &fact {
            Fact::Report(r) => report_message(r, base, None),
            Fact::Test { report } => {
                let intro = "This is a test from partner-portal: this channel works.".to_owned();
                match report {
                    Some(r) => report_message(r, base, Some(intro)),
                    None => Message {
                        subject: "partner-portal: test message".into(),
                        headline: intro,
                        paragraphs: vec!["No activations copy is ready yet, so this test carries no figures.".into()],
                        tables: Vec::new(),
                        links: vec![("Open partner-portal".into(), link("/"))],
                    },
                }
            }
            Fact::Cancellations {
                key,
                key_name,
                day,
                count,
                average,
                threshold,
                percent,
            } => {
                let mut why = Vec::new();
                if *threshold > 0 && *count > *threshold {
                    why.push(format!("above your threshold of {}", fmt_int(*threshold)));
                }
                if *percent > 0 && (*count as f64) > average * (*percent as f64) / 100.0 {
                    why.push(format!(
                        "above {percent} % of the 4-week daily average of {average:.1}"
                    ));
                }
                let day_text = day.format("%-d %B %Y").to_string();
                let href = link(&format!(
                    "/activations?key={key}&status=cancelled&cancelled_from={day}&cancelled_to={day}"
                ));
                Message {
                    subject: format!("{} cancellations on {day_text} ({key_name})", fmt_int(*count)),
                    headline: format!(
                        "{} activations of the {key_name} key were cancelled on {day_text}, {}.",
                        fmt_int(*count),
                        if why.is_empty() { "above your threshold".to_owned() } else { why.join(" and ") }
                    ),
                    paragraphs: vec![format!(
                        "The 4 weeks before it averaged {average:.1} cancellations a day."
                    )],
                    tables: Vec::new(),
                    links: vec![("See the day's cancellations".into(), href)],
                }
            }
            Fact::InvoiceNew(i) => {
                let amount = fmt_money(i.total, &i.currency);
                let period = match (i.period_start, i.period_end) {
                    (Some(s), Some(e)) => format!(" for {}", crate::web::fmt_period(&s, &e)),
                    _ => String::new(),
                };
                Message {
                    subject: format!("New invoice {}: {amount} ({})", i.name(), i.key_name),
                    headline: format!(
                        "WordPress.com issued invoice {} of {amount}{period} for the {} key; it is {}.",
                        i.name(),
                        i.key_name,
                        i.status_label.to_lowercase()
                    ),
                    paragraphs: Vec::new(),
                    tables: Vec::new(),
                    links: invoice_links(i, base),
                }
            }
            Fact::InvoiceDue(i) => Message {
                subject: format!(
                    "{} ({})",
                    match i.status.as_str() {
                        "past_due" => format!("Invoice {} is past due", i.name()),
                        _ => format!("Payment failed for invoice {}", i.name()),
                    },
                    i.key_name
                ),
                headline: match i.status.as_str() {
                    "past_due" => format!("Invoice {} of the {} key is past due.", i.name(), i.key_name),
                    _ => format!("The payment for invoice {} of the {} key failed.", i.name(), i.key_name),
                },
                paragraphs: i.due.iter().cloned().collect(),
                tables: Vec::new(),
                links: invoice_links(i, base),
            },
            Fact::CopyIncomplete {
                key,
                key_name,
                copied,
                reported,
                ..
            } => Message {
                subject: format!("The {key_name} key's copy is incomplete"),
                headline: format!(
                    "The copy of the {key_name} key holds {} activations, but WordPress.com reported {}.",
                    fmt_int(*copied),
                    fmt_int(*reported)
                ),
                paragraphs: vec!["Figures from the copy may be short until a later copy is whole; the portal copies again on its schedule.".into()],
                tables: Vec::new(),
                links: vec![("Open the activations".into(), link(&format!("/activations?key={key}")))],
            },
            Fact::ConnectionBroken { reason, at, owner } => Message {
                subject: "The team connection is broken".into(),
                headline: format!(
                    "The partner's team connection broke at {}: {reason}.",
                    crate::pages::team::when(*at)
                ),
                paragraphs: vec![format!(
                    "Members' reports are paused until an admin connects the partner again (it was connected by {owner})."
                )],
                tables: Vec::new(),
                links: vec![("Open the Team page".into(), link("/team"))],
            },
            Fact::ConnectionRestored { by, at } => Message {
                subject: "The team connection is restored".into(),
                headline: format!(
                    "{by} connected the partner again at {}; members' reports read from WordPress.com again.",
                    crate::pages::team::when(*at)
                ),
                paragraphs: Vec::new(),
                tables: Vec::new(),
                links: vec![("Open the Team page".into(), link("/team"))],
            },
        }
    }

    /// The fact rendered for `role`: every part a channel may send.
    pub fn render(
        &self,
        role: Role,
        base: &str,
        demo: bool,
        unsubscribe: Option<&str>,
    ) -> Rendered {
        let fact = self.for_role(role);
        let message = fact.message(role, base);
        let text = plain_text(&message, demo, unsubscribe);
        let settings = format!("{base}/notifications");
        let html = MailHtml {
            message: &message,
            demo,
            unsubscribe,
            settings: &settings,
        }
        .render()
        .unwrap_or_else(|_| format!("<pre>{}</pre>", html_escape::encode_text(&text)));
        let slack = slack_text(&message, demo);
        let url = message
            .links
            .first()
            .map_or_else(|| format!("{base}/"), |(_, u)| u.clone());
        Rendered {
            subject: if demo {
                format!("[sandbox] {}", message.subject)
            } else {
                message.subject.clone()
            },
            summary: message.headline.clone(),
            text,
            html,
            slack,
            event_type: fact.event_type(),
            data: serde_json::to_value(&fact).unwrap_or_default(),
            url,
        }
    }
}

fn invoice_links(i: &InvoiceFact, base: &str) -> Vec<(String, String)> {
    let mut links = vec![(
        format!("Open invoice {}", i.name()),
        format!("{base}{}", i.href()),
    )];
    if let Some(pay) = i.hosted_url.as_deref().and_then(safe_href) {
        links.push(("Pay or update the card on Stripe".into(), pay));
    }
    links
}

fn report_message(r: &Report, base: &str, intro: Option<String>) -> Message {
    let weekly = r.period != "monthly";
    let span = fmt_days(r.from, r.to, true);
    let before = fmt_days(r.previous_from, r.previous_to, true);
    let (new, cancelled, net, active) = r.keys.iter().fold((0, 0, 0, 0), |acc, k| {
        (
            acc.0 + k.current.new,
            acc.1 + k.current.cancelled,
            acc.2 + k.current.net,
            acc.3 + k.active_now,
        )
    });
    let headline = format!(
        "{span}: {} new, {} cancelled, net {}; {} active now.",
        fmt_int(new),
        fmt_int(cancelled),
        signed(net),
        fmt_int(active)
    );
    let headline = match intro {
        Some(intro) => format!("{intro} {headline}"),
        None => headline,
    };
    let mut paragraphs = vec![format!(
        "Compared like for like with {before}, as the overview compares."
    )];
    let mut tables = Vec::new();
    let (from, to) = (r.from, r.to);
    for k in &r.keys {
        let key = k.key;
        let list = |extra: &str| format!("{base}/activations?key={key}{extra}");
        let new_href = list(&format!("&from={from}&to={to}"));
        let cancelled_href = list(&format!(
            "&status=cancelled&cancelled_from={from}&cancelled_to={to}"
        ));
        let mut rows = vec![
            vec![
                Cell {
                    text: "New".into(),
                    href: None,
                },
                Cell {
                    text: fmt_int(k.current.new),
                    href: Some(new_href),
                },
                Cell {
                    text: against(k.current.new, k.previous.new),
                    href: None,
                },
            ],
            vec![
                Cell {
                    text: "Cancelled".into(),
                    href: None,
                },
                Cell {
                    text: fmt_int(k.current.cancelled),
                    href: Some(cancelled_href),
                },
                Cell {
                    text: against(k.current.cancelled, k.previous.cancelled),
                    href: None,
                },
            ],
            vec![
                Cell {
                    text: "Net".into(),
                    href: None,
                },
                Cell {
                    text: signed(k.current.net),
                    href: None,
                },
                Cell {
                    text: against(k.current.net, k.previous.net),
                    href: None,
                },
            ],
            vec![
                Cell {
                    text: "Active now".into(),
                    href: None,
                },
                Cell {
                    text: fmt_int(k.active_now),
                    href: Some(list("&status=active")),
                },
                Cell {
                    text: format!("{} at the period's end", fmt_int(k.current.active_end)),
                    href: None,
                },
            ],
        ];
        for p in &k.products {
            rows.push(vec![
                Cell {
                    text: p.product.clone(),
                    href: None,
                },
                Cell {
                    text: format!(
                        "{} new, {} cancelled",
                        fmt_int(p.current.new),
                        fmt_int(p.current.cancelled)
                    ),
                    href: Some(list(&format!("&plan={}&from={from}&to={to}", p.product_id))),
                },
                Cell {
                    text: format!(
                        "before: {} new, {} cancelled",
                        fmt_int(p.previous.new),
                        fmt_int(p.previous.cancelled)
                    ),
                    href: None,
                },
            ]);
        }
        tables.push(Table {
            title: format!("{} key", k.name),
            head: vec!["".into(), span.clone(), format!("Against {before}")],
            rows,
        });
        if let Some(note) = &k.incomplete {
            paragraphs.push(note.clone());
        }
    }
    for m in &r.invoices {
        match &m.invoice {
            Some(i) => {
                let mut line = format!(
                    "Invoice {} for the {} key: {}, {}.",
                    i.name(),
                    m.key_name,
                    fmt_money(i.total, &i.currency),
                    i.status_label.to_lowercase()
                );
                if let Some(recon) = &m.reconciliation {
                    line.push(' ');
                    line.push_str(recon);
                }
                paragraphs.push(line);
            }
            None => paragraphs.push(format!(
                "WordPress.com has not issued the {} key's invoice for the month yet.",
                m.key_name
            )),
        }
    }
    let mut links = vec![("Open the overview".to_owned(), format!("{base}/"))];
    for m in &r.invoices {
        if let Some(i) = &m.invoice {
            links.push((
                format!("Open invoice {}", i.name()),
                format!("{base}{}", i.href()),
            ));
        }
    }
    Message {
        subject: if weekly {
            format!("Weekly activations digest, {span}")
        } else {
            format!("Monthly summary, {}", r.from.format("%B %Y"))
        },
        headline,
        paragraphs,
        tables,
        links,
    }
}

fn plain_text(m: &Message, demo: bool, unsubscribe: Option<&str>) -> String {
    let mut out = String::new();
    if demo {
        out.push_str(
            "Sandbox data: this comes from the partner-portal demo, not from WordPress.com.\n\n",
        );
    }
    out.push_str(&m.headline);
    out.push_str("\n\n");
    for p in &m.paragraphs {
        out.push_str(p);
        out.push_str("\n\n");
    }
    for t in &m.tables {
        out.push_str(&t.title);
        out.push('\n');
        for row in &t.rows {
            let cells: Vec<String> = row
                .iter()
                .filter(|c| !c.text.is_empty())
                .map(|c| match &c.href {
                    Some(h) => format!("{} <{h}>", c.text),
                    None => c.text.clone(),
                })
                .collect();
            out.push_str("  ");
            out.push_str(&cells.join(" · "));
            out.push('\n');
        }
        out.push('\n');
    }
    for (label, href) in &m.links {
        out.push_str(&format!("{label}: {href}\n"));
    }
    if let Some(u) = unsubscribe {
        out.push_str(&format!("\nStop these messages: {u}\n"));
    }
    out
}

fn slack_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn slack_text(m: &Message, demo: bool) -> String {
    let mut out = String::new();
    if demo {
        out.push_str("_Sandbox data (partner-portal demo)._\n");
    }
    out.push_str(&format!("*{}*\n", slack_escape(&m.headline)));
    for p in &m.paragraphs {
        out.push_str(&slack_escape(p));
        out.push('\n');
    }
    for t in &m.tables {
        out.push_str(&format!("*{}*\n", slack_escape(&t.title)));
        for row in &t.rows {
            let cells: Vec<String> = row
                .iter()
                .filter(|c| !c.text.is_empty())
                .map(|c| match &c.href {
                    Some(h) => format!("<{h}|{}>", slack_escape(&c.text)),
                    None => slack_escape(&c.text),
                })
                .collect();
            out.push_str(&format!("• {}\n", cells.join(" · ")));
        }
    }
    for (label, href) in &m.links {
        out.push_str(&format!("<{href}|{}>\n", slack_escape(label)));
    }
    out
}

/// `fmt_date` for an optional time (messages say "—" when WordPress.com gave none).
pub fn opt_date(d: Option<&DateTime<Utc>>) -> String {
    d.map_or_else(|| "—".to_owned(), fmt_date)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invoice() -> InvoiceFact {
        InvoiceFact {
            key: 70,
            key_name: "Production".into(),
            id: "in_1".into(),
            number: Some("EXHOST-0013".into()),
            status: "open".into(),
            status_label: "Open".into(),
            total: 123_450,
            remaining: Some(123_450),
            currency: "usd".into(),
            created: None,
            period_start: None,
            period_end: None,
            hosted_url: Some("javascript:alert(1)".into()),
            due: None,
        }
    }

    fn report() -> Report {
        let d = |m, day| NaiveDate::from_ymd_opt(2026, m, day).unwrap_or_default();
        Report {
            period: "monthly".into(),
            name: "2026-11".into(),
            from: d(11, 1),
            to: d(11, 30),
            previous_from: d(10, 1),
            previous_to: d(10, 31),
            keys: vec![KeyDigest {
                key: 70,
                name: "Production <b>".into(),
                current: Counts {
                    new: 1200,
                    cancelled: 30,
                    net: 1170,
                    active_start: 5,
                    active_end: 1175,
                },
                previous: Counts::default(),
                active_now: 1175,
                products: Vec::new(),
                copied_at: None,
                incomplete: None,
            }],
            invoices: vec![MonthInvoice {
                key: 70,
                key_name: "Production".into(),
                invoice: Some(invoice()),
                reconciliation: Some("It matches.".into()),
            }],
        }
    }

    #[test]
    fn support_never_receives_an_amount() {
        let fact = Fact::Report(report());
        let finance = fact.render(Role::Finance, "https://p.example", false, None);
        assert!(finance.text.contains("$1,234.50"), "{}", finance.text);
        let support = fact.render(Role::Support, "https://p.example", false, None);
        for part in [
            &support.text,
            &support.html,
            &support.slack,
            &support.data.to_string(),
        ] {
            assert!(
                !part.contains('$') && !part.contains("1,234") && !part.contains("123450"),
                "{part}"
            );
            assert!(!part.contains("EXHOST"), "{part}");
        }
        assert!(support.text.contains("1,200 new"), "{}", support.text);
    }

    #[test]
    fn numbers_are_formatted_as_on_the_pages_and_text_is_escaped_in_html() {
        let r = Fact::Report(report()).render(
            Role::Admin,
            "https://p.example",
            true,
            Some("https://p.example/unsubscribe/x"),
        );
        assert!(
            r.subject
                .starts_with("[sandbox] Monthly summary, November 2026"),
            "{}",
            r.subject
        );
        assert!(
            r.html.contains("Production &lt;b&gt; key")
                || r.html.contains("Production &#60;b&#62; key"),
            "{}",
            r.html
        );
        assert!(!r.html.contains("<b> key"));
        assert!(
            r.html.contains(
                "https://p.example/activations?key=70&#38;from=2026-11-01&#38;to=2026-11-30"
            ),
            "{}",
            r.html
        );
        assert!(
            r.text
                .contains("Stop these messages: https://p.example/unsubscribe/x")
        );
        assert!(
            !r.html.contains("<img") && !r.html.contains("src="),
            "no remote content"
        );
    }

    #[test]
    fn only_http_links_leave_the_portal() {
        let r = Fact::InvoiceNew(invoice()).render(Role::Finance, "https://p.example", false, None);
        assert!(!r.text.contains("javascript:"), "{}", r.text);
        assert!(!r.html.contains("javascript:"));
        assert!(
            r.text.contains("https://p.example/invoices/in_1?key=70"),
            "{}",
            r.text
        );
    }
}
