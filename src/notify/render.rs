//! A fact rendered for one channel and role: a subject, a plain-text and an HTML part (no
//! images, no remote content, numbers formatted as on the pages, a link to the page behind each
//! figure), a Slack text and the webhook event's `data`. Support never receives an amount:
//! [`Fact::for_role`] drops the invoices before anything is rendered.

use askama::Template;

use super::facts::{Fact, InvoiceFact, KeyDigest, Report};
use crate::{
    format::{fmt_days, fmt_int, fmt_money, safe_href},
    team::Role,
};

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

impl Cell {
    /// Text alone.
    fn plain(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            href: None,
        }
    }

    /// Text that links to `href`.
    fn link(text: impl Into<String>, href: String) -> Self {
        Self {
            text: text.into(),
            href: Some(href),
        }
    }
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
            } => cancellations_message(*key, key_name, *day, *count, *average, (*threshold, *percent), base),
            Fact::InvoiceNew(i) => invoice_new_message(i, base),
            Fact::InvoiceDue(i) => invoice_due_message(i, base),
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
                    crate::format::fmt_unix(*at)
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
                    crate::format::fmt_unix(*at)
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

fn cancellations_message(
    key: u64,
    key_name: &str,
    day: chrono::NaiveDate,
    count: i64,
    average: f64,
    (threshold, percent): (i64, i64),
    base: &str,
) -> Message {
    let link = |path: &str| format!("{base}{path}");
    let mut why = Vec::new();
    if threshold > 0 && count > threshold {
        why.push(format!("above your threshold of {}", fmt_int(threshold)));
    }
    if percent > 0 && (count as f64) > average * (percent as f64) / 100.0 {
        why.push(format!(
            "above {percent} % of the 4-week daily average of {average:.1}"
        ));
    }
    let day_text = day.format("%-d %B %Y").to_string();
    let href = link(&format!(
        "/activations?key={key}&status=cancelled&cancelled_from={day}&cancelled_to={day}"
    ));
    Message {
        subject: format!(
            "{} cancellations on {day_text} ({key_name})",
            fmt_int(count)
        ),
        headline: format!(
            "{} activations of the {key_name} key were cancelled on {day_text}, {}.",
            fmt_int(count),
            if why.is_empty() {
                "above your threshold".to_owned()
            } else {
                why.join(" and ")
            }
        ),
        paragraphs: vec![format!(
            "The 4 weeks before it averaged {average:.1} cancellations a day."
        )],
        tables: Vec::new(),
        links: vec![("See the day's cancellations".into(), href)],
    }
}

fn invoice_new_message(i: &InvoiceFact, base: &str) -> Message {
    let amount = fmt_money(i.total, &i.currency);
    let period = match (i.period_start, i.period_end) {
        (Some(s), Some(e)) => format!(" for {}", crate::format::fmt_period(&s, &e)),
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

fn invoice_due_message(i: &InvoiceFact, base: &str) -> Message {
    Message {
        subject: format!(
            "{} ({})",
            match i.status.as_str() {
                "past_due" => format!("Invoice {} is past due", i.name()),
                _ => format!("Payment failed for invoice {}", i.name()),
            },
            i.key_name
        ),
        headline: match i.status.as_str() {
            "past_due" => format!(
                "Invoice {} of the {} key is past due.",
                i.name(),
                i.key_name
            ),
            _ => format!(
                "The payment for invoice {} of the {} key failed.",
                i.name(),
                i.key_name
            ),
        },
        paragraphs: i.due.iter().cloned().collect(),
        tables: Vec::new(),
        links: invoice_links(i, base),
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
    for k in &r.keys {
        tables.push(key_table(k, base, (r.from, r.to), &span, &before));
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

/// One key's table in a report: the period's figures, each linking to the list behind it.
fn key_table(
    k: &KeyDigest,
    base: &str,
    (from, to): (chrono::NaiveDate, chrono::NaiveDate),
    span: &str,
    before: &str,
) -> Table {
    let key = k.key;
    let list = |extra: &str| format!("{base}/activations?key={key}{extra}");
    let new_href = list(&format!("&from={from}&to={to}"));
    let cancelled_href = list(&format!(
        "&status=cancelled&cancelled_from={from}&cancelled_to={to}"
    ));
    let mut rows = vec![
        vec![
            Cell::plain("New"),
            Cell::link(fmt_int(k.current.new), new_href),
            Cell::plain(against(k.current.new, k.previous.new)),
        ],
        vec![
            Cell::plain("Cancelled"),
            Cell::link(fmt_int(k.current.cancelled), cancelled_href),
            Cell::plain(against(k.current.cancelled, k.previous.cancelled)),
        ],
        vec![
            Cell::plain("Net"),
            Cell::plain(signed(k.current.net)),
            Cell::plain(against(k.current.net, k.previous.net)),
        ],
        vec![
            Cell::plain("Active now"),
            Cell::link(fmt_int(k.active_now), list("&status=active")),
            Cell::plain(format!(
                "{} at the period's end",
                fmt_int(k.current.active_end)
            )),
        ],
    ];
    for p in &k.products {
        let (now, was) = (p.current, p.previous);
        rows.push(vec![
            Cell::plain(p.product.clone()),
            Cell::link(
                format!(
                    "{} new, {} cancelled",
                    fmt_int(now.new),
                    fmt_int(now.cancelled)
                ),
                list(&format!("&plan={}&from={from}&to={to}", p.product_id)),
            ),
            Cell::plain(format!(
                "before: {} new, {} cancelled",
                fmt_int(was.new),
                fmt_int(was.cancelled)
            )),
        ]);
    }
    Table {
        title: format!("{} key", k.name),
        head: vec!["".into(), span.to_owned(), format!("Against {before}")],
        rows,
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
