//! Notifications: the portal speaks first. People subscribe *channels* (an email address or a
//! webhook) to *rules* (a weekly digest, a monthly summary, alerts); the rules are evaluated when
//! their data changes, by the team's background round ([`crate::team::watch`]); what they find
//! is written to a durable outbox in the portal's database, and a background sender on every
//! replica delivers it from there.
//!
//! - Nothing lost: an outbox row stays `pending` until a send succeeds. A crash, a restart, a
//!   refusing mail server or a failing webhook only delays it; retries back off exponentially
//!   ([`deliver::backoff`]) for up to [`GIVE_UP_AFTER`], then the row is `failed` and the
//!   partner's admins see it on the Notifications page.
//! - Nothing repeated: each row is written with an idempotency key (the *fact*: `weekly:2026-W48`,
//!   `invoice_new:in_123`) unique per channel, so a rule that sees a fact again writes nothing;
//!   a row is sent under a lease taken with `FOR UPDATE SKIP LOCKED` on PostgreSQL (SQLite's
//!   write lock on SQLite), so one replica sends it; and its id is the event id a webhook
//!   receiver deduplicates by, should a process die between sending and recording the send.
//! - Roles hold in every channel: a personal channel's messages take its owner's role *at each
//!   send* (support never receives an amount; a member who left receives nothing), a shared
//!   channel the role its admin chose.

pub mod deliver;
mod deliveries;
pub mod evaluate;
pub mod facts;
pub mod mail;
mod render;
mod reports;
pub mod schedule;
pub mod store;
pub mod webhook;

use std::sync::Arc;

use crate::{clock::Clock, db::Db, index::Index, secret::Sealer, team::Team, upstream::WpClient};

pub use self::{
    deliveries::Delivery,
    facts::Fact,
    mail::{Mailer, MailerError, SmtpSettings},
    store::{Channel, ChannelDraft, RuleSetting},
    webhook::WebhookPolicy,
};

/// How long a delivery is retried before it is marked failed.
pub const GIVE_UP_AFTER: i64 = 3 * 86_400;

/// What a channel is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Mail over SMTP.
    Email,
    /// An HTTP POST of a signed JSON event.
    Webhook,
}

impl Kind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Email => "email",
            Self::Webhook => "webhook",
        }
    }

    /// The stored name, read back.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "email" => Some(Self::Email),
            "webhook" => Some(Self::Webhook),
            _ => None,
        }
    }
}

/// How a channel's messages are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A mail with a plain-text and an HTML part.
    Email,
    /// The portal's JSON event (`docs/notifications.md`).
    Json,
    /// Slack's incoming-webhook shape (`{"text": …}`), also taken by Mattermost and others.
    Slack,
}

impl Format {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Email => "email",
            Self::Json => "json",
            Self::Slack => "slack",
        }
    }

    /// The stored name, read back.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "email" => Some(Self::Email),
            "json" => Some(Self::Json),
            "slack" => Some(Self::Slack),
            _ => None,
        }
    }

    /// How the page names it.
    pub fn label(self) -> &'static str {
        match self {
            Self::Email => "Email",
            Self::Json => "Webhook (JSON, signed)",
            Self::Slack => "Webhook (Slack format, signed)",
        }
    }
}

/// What can be subscribed to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Rule {
    /// Monday's digest of the week just closed.
    Weekly,
    /// The 1st's summary of the month just closed.
    Monthly,
    /// Cancellations in a day above a number, or above a share of the 4-week daily average.
    Cancellations,
    /// WordPress.com issued a new invoice.
    InvoiceNew,
    /// An invoice is past due, or its payment failed.
    InvoiceDue,
    /// A key's copy holds fewer activations than WordPress.com's total.
    CopyIncomplete,
    /// The team connection broke, or was restored.
    Connection,
    /// A test from the page's Send test button.
    Test,
}

impl Rule {
    /// Every rule a person can subscribe to, in the page's order.
    pub const ALL: [Rule; 7] = [
        Rule::Weekly,
        Rule::Monthly,
        Rule::Cancellations,
        Rule::InvoiceNew,
        Rule::InvoiceDue,
        Rule::CopyIncomplete,
        Rule::Connection,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Weekly => "weekly",
            Self::Monthly => "monthly",
            Self::Cancellations => "cancellations",
            Self::InvoiceNew => "invoice_new",
            Self::InvoiceDue => "invoice_due",
            Self::CopyIncomplete => "copy_incomplete",
            Self::Connection => "connection",
            Self::Test => "test",
        }
    }

    /// The stored name, read back.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .chain([Self::Test])
            .find(|r| r.as_str() == s)
    }

    /// How the page names it.
    pub fn label(self) -> &'static str {
        match self {
            Self::Weekly => "Weekly activations digest (Mondays)",
            Self::Monthly => "Monthly summary (on the 1st)",
            Self::Cancellations => "Cancellations in a day above a threshold",
            Self::InvoiceNew => "A new invoice is issued",
            Self::InvoiceDue => "An invoice is past due, or its payment failed",
            Self::CopyIncomplete => "A key's copy is incomplete against WordPress.com",
            Self::Connection => "The team connection breaks or is restored",
            Self::Test => "Test",
        }
    }

    /// Whether it is about invoices, which support never receives.
    pub fn is_money(self) -> bool {
        matches!(self, Self::InvoiceNew | Self::InvoiceDue)
    }

    /// Whether it is an alert (damped), not a report (one per period by its nature).
    pub fn is_alert(self) -> bool {
        !matches!(self, Self::Weekly | Self::Monthly | Self::Test)
    }
}

/// Sends what the rules find: cheap to clone.
#[derive(Debug, Clone)]
pub struct Notifier(Arc<Inner>);

/// What [`Notifier`] holds.
#[derive(Debug)]
pub struct Inner {
    /// The portal's database (the outbox lives in it).
    pub db: Db,
    /// Connections and members (who a personal channel's owner is now).
    pub team: Team,
    /// The activations copies (the digests' figures).
    pub index: Index,
    /// WordPress.com (invoices, with the team connection's token).
    pub wpcom: WpClient,
    /// Seals webhook secrets at rest.
    pub sealer: Sealer,
    /// The clock.
    pub clock: Clock,
    /// Where mail goes.
    pub mailer: Mailer,
    /// Which webhook targets are allowed.
    pub webhooks: WebhookPolicy,
    /// The portal's public URL with its sub-path, without a trailing slash (links in messages).
    pub public_url: String,
    /// The demo: messages say the data is sandbox data.
    pub demo: bool,
    /// Keys the one-click unsubscribe links.
    pub link_key: [u8; 32],
    /// Woken when a row is written, so the sender does not wait for its next look.
    pub wake: tokio::sync::Notify,
    /// How often invoices are fetched for the invoice rules.
    pub invoice_every: i64,
}

impl std::ops::Deref for Notifier {
    type Target = Inner;

    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl Notifier {
    /// A notifier over `inner`.
    pub fn new(inner: Inner) -> Self {
        Self(Arc::new(inner))
    }
}

/// A key for unsubscribe links, derived from the session key so that it needs no setting of
/// its own and changes when the session key does.
pub fn link_key(session_key: &[u8; 32]) -> [u8; 32] {
    use sha2::Digest as _;
    let mut h = sha2::Sha256::new();
    h.update(b"partner-portal unsubscribe links\0");
    h.update(session_key);
    h.finalize().into()
}

impl Notifier {
    fn link_mac(&self, channel: &str, rule: Rule) -> String {
        use hmac::Mac as _;
        let Ok(mut mac) = hmac::Hmac::<sha2::Sha256>::new_from_slice(&self.link_key) else {
            return String::new();
        };
        mac.update(channel.as_bytes());
        mac.update(b".");
        mac.update(rule.as_str().as_bytes());
        mac.finalize().into_bytes()[..16]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// The one-click unsubscribe link of `channel` for `rule`: it needs no login, so it carries
    /// its own proof (an HMAC under a key derived from the session key).
    pub fn unsubscribe_url(&self, channel: &str, rule: Rule) -> String {
        format!(
            "{}/unsubscribe/{channel}.{}.{}",
            self.public_url,
            rule.as_str(),
            self.link_mac(channel, rule)
        )
    }

    /// The channel and rule of an unsubscribe link's last segment, when its proof holds.
    pub fn read_unsubscribe(&self, token: &str) -> Option<(String, Rule)> {
        let mut parts = token.splitn(3, '.');
        let (channel, rule, mac) = (parts.next()?, parts.next()?, parts.next()?);
        let rule = Rule::parse(rule)?;
        crate::secret::constant_time_eq(mac, &self.link_mac(channel, rule))
            .then(|| (channel.to_owned(), rule))
    }
}
