//! Our domain types for what WordPress.com returns, and their tolerant parsers.
//!
//! The parsers walk `serde_json::Value` so that every variant `WPCOM_API.md` lists (numeric
//! strings, Stripe list objects or bare arrays, legacy Stripe invoices, several date formats) is
//! accepted and unknown fields are ignored.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::lenient;

/// The logged-in WordPress.com user (`/rest/v1.1/me`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Me {
    /// WordPress.com user id.
    pub id: u64,
    /// Login name.
    pub username: String,
    /// Name to show.
    pub display_name: String,
    /// The account's email, when WordPress.com gives it (invites may name it).
    #[serde(default)]
    pub email: Option<String>,
}

impl Me {
    /// Reads a `/me` body.
    pub fn from_value(v: &Value) -> Option<Self> {
        let id = lenient::id(&v["ID"])?;
        let username = lenient::string(&v["username"]).unwrap_or_else(|| format!("user {id}"));
        let display_name = lenient::text(&v["display_name"]).unwrap_or_else(|| username.clone());
        let email = lenient::string(&v["email"]).filter(|e| e.contains('@'));
        Some(Self {
            id,
            username,
            display_name,
            email,
        })
    }
}

/// A hosting partner and its keys (`/wpcom/v2/jetpack-partners`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Partner {
    /// Partner id.
    pub id: u64,
    /// Display name.
    pub name: String,
    /// `reseller`, `agency`, ...
    pub partner_type: Option<String>,
    /// The partner's keys.
    pub keys: Vec<PartnerKey>,
}

/// One partner key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartnerKey {
    /// Key id.
    pub id: u64,
    /// Display name.
    pub name: String,
    /// When the key was disabled, if it is.
    pub disabled_on: Option<DateTime<Utc>>,
}

impl PartnerKey {
    /// Whether the key is disabled.
    pub fn is_disabled(&self) -> bool {
        self.disabled_on.is_some()
    }
}

impl Partner {
    /// Reads the partners body: an array of partners (the first is used) or one object.
    pub fn from_value(v: &Value) -> Option<Self> {
        let obj = match v {
            Value::Array(items) => items.first()?,
            Value::Object(_) => v,
            _ => return None,
        };
        let id = lenient::id(&obj["id"])?;
        let name = lenient::text(&obj["name"])
            .or_else(|| lenient::string(&obj["slug"]))
            .unwrap_or_else(|| format!("Partner #{id}"));
        let keys = obj["keys"]
            .as_array()
            .map(|keys| keys.iter().filter_map(PartnerKey::from_value).collect())
            .unwrap_or_default();
        Some(Self {
            id,
            name,
            partner_type: lenient::string(&obj["partner_type"]),
            keys,
        })
    }

    /// The key to show when none is chosen: the first enabled one, else the first.
    pub fn default_key(&self) -> Option<&PartnerKey> {
        self.keys
            .iter()
            .find(|k| !k.is_disabled())
            .or_else(|| self.keys.first())
    }

    /// The key with this id.
    pub fn key(&self, id: u64) -> Option<&PartnerKey> {
        self.keys.iter().find(|k| k.id == id)
    }
}

impl PartnerKey {
    fn from_value(v: &Value) -> Option<Self> {
        let id = lenient::id(&v["id"])?;
        let name = lenient::text(&v["name"]).unwrap_or_else(|| format!("Key #{id}"));
        // `disabled_on` is documented; a boolean `disabled` is tolerated too.
        let disabled_on = lenient::datetime(&v["disabled_on"]).or_else(|| {
            lenient::boolean(&v["disabled"])
                .filter(|d| *d)
                .map(|_| DateTime::<Utc>::UNIX_EPOCH)
        });
        Some(Self {
            id,
            name,
            disabled_on,
        })
    }
}

/// One activation (a site with a provisioned plan).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Activation {
    /// Activation id.
    pub id: u64,
    /// Key id.
    pub key_id: Option<u64>,
    /// WordPress.com blog id.
    pub blog_id: Option<u64>,
    /// Owner's WordPress.com user id.
    pub user_id: Option<u64>,
    /// The host's own user id, as given at provisioning.
    pub external_user_id: Option<String>,
    /// Product provisioned.
    pub product_id: Option<u64>,
    /// Product now (differs after an upgrade).
    pub current_product_id: Option<u64>,
    /// Row created.
    pub created_on: Option<DateTime<Utc>>,
    /// Plan activated.
    pub activated_on: Option<DateTime<Utc>>,
    /// Plan cancelled.
    pub cancelled_on: Option<DateTime<Utc>>,
    /// Payment disputed.
    pub disputed_on: Option<DateTime<Utc>>,
    /// Site registered with WordPress.com.
    pub site_registered: Option<DateTime<Utc>>,
    /// Site URL as sent (untrusted).
    pub site_url: Option<String>,
    /// Site name (untrusted).
    pub site_name: Option<String>,
}

impl Activation {
    /// Reads one activation row.
    pub fn from_value(v: &Value) -> Option<Self> {
        Some(Self {
            id: lenient::id(&v["id"])?,
            key_id: lenient::id(&v["jetpack_partner_key_id"]),
            blog_id: lenient::id(&v["wpcom_blog_id"]),
            user_id: lenient::id(&v["wpcom_user_id"]),
            external_user_id: lenient::string(&v["external_user_id"]),
            product_id: lenient::id(&v["product_id"]),
            current_product_id: lenient::id(&v["current_product_id"]),
            created_on: lenient::datetime(&v["created_on"]),
            activated_on: lenient::datetime(&v["activated_on"]),
            cancelled_on: lenient::datetime(&v["cancelled_on"]),
            disputed_on: lenient::datetime(&v["disputed_on"]),
            site_registered: lenient::datetime(&v["site_registered"]),
            site_url: lenient::string(&v["site_url"]),
            site_name: lenient::text(&v["site_name"]),
        })
    }
}

/// One page of the activations list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivationsPage {
    /// Rows matching the filters, over all pages.
    pub total: u64,
    /// This page's rows.
    pub activations: Vec<Activation>,
}

impl ActivationsPage {
    /// Reads `{total, activations}` (or a bare array, whose length is the total).
    pub fn from_value(v: &Value) -> Option<Self> {
        let rows = lenient::list(v)?;
        let activations: Vec<Activation> = rows.iter().filter_map(Activation::from_value).collect();
        let total = lenient::id(&v["total"]).unwrap_or(activations.len() as u64);
        Some(Self { total, activations })
    }
}

/// One period of the activations summary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SummaryPoint {
    /// Start of the period.
    pub date: NaiveDate,
    /// Activations that began in the period.
    pub new: i64,
    /// Activations active at the period's end.
    pub total: i64,
}

/// Reads the summary array; rows whose date cannot be read are skipped.
pub fn summary_from_value(v: &Value) -> Option<Vec<SummaryPoint>> {
    let rows = lenient::list(v)?;
    let mut points: Vec<SummaryPoint> = rows
        .iter()
        .filter_map(|r| {
            let date = match &r["date"] {
                Value::String(s) => lenient::parse_date(s),
                other => lenient::datetime(other).map(|d| d.date_naive()),
            }?;
            Some(SummaryPoint {
                date,
                new: lenient::int(&r["new"]).unwrap_or(0),
                total: lenient::int(&r["total"]).unwrap_or(0),
            })
        })
        .collect();
    points.sort_by_key(|p| p.date);
    Some(points)
}

/// An invoice's display status, derived from Stripe's fields the way Stripe's own dashboard
/// does: from `status` (or the legacy `paid`/`closed`/`forgiven` flags), the due date and the
/// payment attempts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub enum InvoiceStatus {
    /// Not finalised (previews are drafts).
    Draft,
    /// Finalised, awaiting payment.
    Open,
    /// Open, and its due date has passed.
    PastDue,
    /// Open; a payment attempt failed and another is scheduled.
    Retrying {
        /// When the next attempt is due.
        next: DateTime<Utc>,
    },
    /// Open; a payment attempt failed and none is scheduled.
    PaymentFailed,
    /// Paid.
    Paid,
    /// Written off.
    Uncollectible,
    /// Cancelled.
    Void,
    /// Anything else.
    #[default]
    Unknown,
}

impl InvoiceStatus {
    /// A stable code for CSVs and scripts: Stripe's status, or the state the portal derives
    /// from it (`past_due`, `retrying`, `payment_failed`).
    pub fn code(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Open => "open",
            Self::PastDue => "past_due",
            Self::Retrying { .. } => "retrying",
            Self::PaymentFailed => "payment_failed",
            Self::Paid => "paid",
            Self::Uncollectible => "uncollectible",
            Self::Void => "void",
            Self::Unknown => "unknown",
        }
    }

    /// Whether money is owed and a payment has failed or is late: finance should act.
    pub fn needs_action(self) -> bool {
        matches!(
            self,
            Self::PastDue | Self::Retrying { .. } | Self::PaymentFailed
        )
    }

    /// Human label: "Paid", "Past due", "Payment failed, retrying on 4 Dec".
    pub fn label(self) -> String {
        match self {
            Self::Draft => "Draft".into(),
            Self::Open => "Open".into(),
            Self::PastDue => "Past due".into(),
            Self::Retrying { next } => {
                format!("Payment failed, retrying on {}", next.format("%-d %b"))
            }
            Self::PaymentFailed => "Payment failed".into(),
            Self::Paid => "Paid".into(),
            Self::Uncollectible => "Uncollectible".into(),
            Self::Void => "Void".into(),
            Self::Unknown => "Unknown".into(),
        }
    }

    /// CSS class suffix.
    pub fn css(self) -> &'static str {
        match self {
            Self::Paid => "ok",
            Self::Open | Self::Draft => "info",
            Self::Retrying { .. } => "warn",
            Self::PastDue | Self::PaymentFailed | Self::Uncollectible => "bad",
            Self::Void | Self::Unknown => "muted",
        }
    }
}

/// A Stripe invoice as WordPress.com relays it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Invoice {
    /// Stripe id (absent on previews).
    pub id: Option<String>,
    /// Human number.
    pub number: Option<String>,
    /// Display status.
    pub status: InvoiceStatus,
    /// Lowercase ISO currency.
    pub currency: String,
    /// Total in minor units.
    pub total: i64,
    /// Amount due in minor units.
    pub amount_due: Option<i64>,
    /// Amount paid in minor units.
    pub amount_paid: Option<i64>,
    /// Amount still to pay in minor units.
    pub amount_remaining: Option<i64>,
    /// Total before tax in minor units.
    pub subtotal: Option<i64>,
    /// Tax in minor units (`tax`, or the sum of `total_tax_amounts`).
    pub tax: Option<i64>,
    /// When it was paid (`status_transitions.paid_at`).
    pub paid_at: Option<DateTime<Utc>>,
    /// Payment attempts so far.
    pub attempt_count: Option<i64>,
    /// Creation time (`created`, or legacy `date`).
    pub created: Option<DateTime<Utc>>,
    /// Billing period start.
    pub period_start: Option<DateTime<Utc>>,
    /// Billing period end.
    pub period_end: Option<DateTime<Utc>>,
    /// Due date (send-invoice collection only).
    pub due_date: Option<DateTime<Utc>>,
    /// Next payment attempt.
    pub next_payment_attempt: Option<DateTime<Utc>>,
    /// Hosted page (untrusted URL).
    pub hosted_invoice_url: Option<String>,
    /// PDF (untrusted URL).
    pub invoice_pdf: Option<String>,
    /// Line items, as many as WordPress.com sent.
    pub lines: Vec<InvoiceLine>,
    /// How many lines the invoice has (`lines.total_count`), when WordPress.com says.
    pub lines_total: Option<u64>,
    /// WordPress.com says there are more lines than it sent (`lines.has_more`).
    pub lines_has_more: bool,
}

impl Invoice {
    /// `(sent, total)` when the invoice has more lines than WordPress.com sent: totals computed
    /// from its lines are then partial.
    pub fn missing_lines(&self) -> Option<(usize, Option<u64>)> {
        let sent = self.lines.len();
        let short = self.lines_total.is_some_and(|t| t > sent as u64);
        (self.lines_has_more || short).then_some((sent, self.lines_total))
    }
}

/// The past invoices of a key, newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InvoiceList {
    /// The invoices WordPress.com sent.
    pub invoices: Vec<Invoice>,
    /// WordPress.com says there are more (`has_more` of a Stripe list).
    pub has_more: bool,
}

/// One invoice line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InvoiceLine {
    /// Description (untrusted).
    pub description: Option<String>,
    /// Amount in minor units.
    pub amount: i64,
    /// Quantity.
    pub quantity: Option<i64>,
    /// Price of one unit in minor units (`price.unit_amount`, or the legacy `plan.amount`).
    pub unit_amount: Option<i64>,
    /// Plan or price nickname.
    pub plan: Option<String>,
    /// Period start.
    pub period_start: Option<DateTime<Utc>>,
    /// Period end.
    pub period_end: Option<DateTime<Utc>>,
    /// A proration (a change within a period).
    pub proration: bool,
    /// Stripe's line type: `subscription` or `invoiceitem`.
    pub kind: Option<String>,
}

/// Decimal places of a currency's minor unit (Stripe's zero- and three-decimal lists).
pub fn currency_exponent(currency: &str) -> u32 {
    match currency.to_ascii_lowercase().as_str() {
        "bif" | "clp" | "djf" | "gnf" | "jpy" | "kmf" | "krw" | "mga" | "pyg" | "rwf" | "ugx"
        | "vnd" | "vuv" | "xaf" | "xof" | "xpf" => 0,
        "bhd" | "jod" | "kwd" | "omr" | "tnd" => 3,
        _ => 2,
    }
}

/// An amount: integers are Stripe minor units; decimals are major units (licensing shape).
fn money(v: &Value, currency: &str) -> Option<i64> {
    let scale = 10f64.powi(currency_exponent(currency) as i32);
    match v {
        Value::Number(n) if n.is_f64() => n.as_f64().map(|f| (f * scale).round() as i64),
        Value::String(s) if s.contains('.') => s
            .trim()
            .parse::<f64>()
            .ok()
            .map(|f| (f * scale).round() as i64),
        _ => lenient::int(v),
    }
}

impl Invoice {
    /// Reads one invoice, modern or legacy (`WPCOM_API.md` §5).
    pub fn from_value(v: &Value, now: DateTime<Utc>) -> Option<Self> {
        if !v.is_object() {
            return None;
        }
        let currency = lenient::string(&v["currency"])
            .unwrap_or_else(|| "usd".into())
            .to_lowercase();
        let total = money(&v["total"], &currency)
            .or_else(|| money(&v["amount_due"], &currency))
            .or_else(|| money(&v["subtotal"], &currency))?;
        let due_date = lenient::datetime(&v["due_date"]);
        let attempted = lenient::boolean(&v["attempted"]).unwrap_or(false);
        let status = derive_status(v, due_date, attempted, now);
        let lines = v
            .get("lines")
            .and_then(lenient::list)
            .map(|l| {
                l.iter()
                    .filter_map(|line| InvoiceLine::from_value(line, &currency))
                    .collect()
            })
            .unwrap_or_default();
        let lines_total = lenient::id(&v["lines"]["total_count"]);
        let lines_has_more = lenient::boolean(&v["lines"]["has_more"]).unwrap_or(false);
        Some(Self {
            id: lenient::string(&v["id"]),
            number: lenient::string(&v["number"]).or_else(|| lenient::string(&v["receipt_number"])),
            status,
            total,
            amount_due: money(&v["amount_due"], &currency),
            amount_paid: money(&v["amount_paid"], &currency),
            amount_remaining: money(&v["amount_remaining"], &currency),
            subtotal: money(&v["subtotal"], &currency),
            tax: money(&v["tax"], &currency)
                .or_else(|| tax_amounts(&v["total_tax_amounts"], &currency)),
            paid_at: lenient::datetime(&v["status_transitions"]["paid_at"]),
            attempt_count: lenient::int(&v["attempt_count"]),
            created: lenient::datetime(&v["created"]).or_else(|| lenient::datetime(&v["date"])),
            period_start: lenient::datetime(&v["period_start"]),
            period_end: lenient::datetime(&v["period_end"]),
            due_date,
            next_payment_attempt: lenient::datetime(&v["next_payment_attempt"]),
            hosted_invoice_url: lenient::string(&v["hosted_invoice_url"]),
            invoice_pdf: lenient::string(&v["invoice_pdf"])
                .or_else(|| lenient::string(&v["pdfUrl"])),
            currency,
            lines,
            lines_total,
            lines_has_more,
        })
    }
}

/// The sum of Stripe's `total_tax_amounts[].amount`, when there is such a list.
fn tax_amounts(v: &Value, currency: &str) -> Option<i64> {
    let list = v.as_array()?;
    Some(
        list.iter()
            .filter_map(|t| money(&t["amount"], currency))
            .sum(),
    )
}

fn derive_status(
    v: &Value,
    due_date: Option<DateTime<Utc>>,
    attempted: bool,
    now: DateTime<Utc>,
) -> InvoiceStatus {
    let flag = |k: &str| lenient::boolean(&v[k]).unwrap_or(false);
    let status = match v["status"].as_str() {
        Some("draft") => InvoiceStatus::Draft,
        Some("open") => InvoiceStatus::Open,
        Some("paid") => InvoiceStatus::Paid,
        Some("uncollectible") => InvoiceStatus::Uncollectible,
        Some("void") => InvoiceStatus::Void,
        Some(_) => InvoiceStatus::Unknown,
        // Legacy (2017) invoices: paid / forgiven / closed flags.
        None if flag("paid") => InvoiceStatus::Paid,
        None if flag("forgiven") => InvoiceStatus::Uncollectible,
        None if flag("closed") => InvoiceStatus::Void,
        None => InvoiceStatus::Open,
    };
    if status != InvoiceStatus::Open {
        return status;
    }
    // Past due only once a due date has passed (send-invoice collection); an automatic charge
    // that failed is "payment failed", retrying when Stripe has scheduled another attempt.
    if due_date.is_some_and(|d| d < now) {
        return InvoiceStatus::PastDue;
    }
    let failed = attempted && lenient::int(&v["attempt_count"]).unwrap_or(1) > 0;
    match (failed, lenient::datetime(&v["next_payment_attempt"])) {
        (true, Some(next)) => InvoiceStatus::Retrying { next },
        (true, None) => InvoiceStatus::PaymentFailed,
        (false, _) => InvoiceStatus::Open,
    }
}

impl InvoiceLine {
    fn from_value(v: &Value, currency: &str) -> Option<Self> {
        if !v.is_object() {
            return None;
        }
        let plan = &v["plan"];
        let price = &v["price"];
        Some(Self {
            description: lenient::string(&v["description"]),
            amount: money(&v["amount"], currency).unwrap_or(0),
            quantity: lenient::int(&v["quantity"]),
            unit_amount: money(&price["unit_amount"], currency)
                .or_else(|| money(&plan["amount"], currency)),
            plan: lenient::string(&plan["nickname"])
                .or_else(|| lenient::string(&price["nickname"]))
                .or_else(|| lenient::string(&plan["id"])),
            period_start: lenient::datetime(&v["period"]["start"]),
            period_end: lenient::datetime(&v["period"]["end"]),
            proration: lenient::boolean(&v["proration"]).unwrap_or(false),
            kind: lenient::string(&v["type"]),
        })
    }
}

/// Reads the past-invoices body (list object, bare array or `{items}`), newest first.
pub fn invoices_from_value(v: &Value, now: DateTime<Utc>) -> Option<InvoiceList> {
    let mut invoices: Vec<Invoice> = lenient::list(v)?
        .iter()
        .filter_map(|i| Invoice::from_value(i, now))
        .collect();
    invoices.sort_by_key(|i| std::cmp::Reverse(i.created));
    Some(InvoiceList {
        invoices,
        has_more: lenient::boolean(&v["has_more"]).unwrap_or(false),
    })
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone as _;
    use serde_json::json;

    use super::*;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).single().unwrap()
    }

    #[test]
    fn partner_keys_read_disabled_on_and_string_ids() {
        let p = Partner::from_value(&json!([{ "id": "7", "name": "Example Hosting",
            "keys": [{"id": 70, "name": "Production", "disabled_on": null},
                     {"id": "71", "name": "Staging", "disabled_on": "2020-06-01 00:00:00"}]}]))
        .unwrap();
        assert_eq!(p.id, 7);
        assert!(!p.keys[0].is_disabled());
        assert!(p.keys[1].is_disabled());
        assert_eq!(p.default_key().map(|k| k.id), Some(70));
    }

    #[test]
    fn legacy_invoices_get_a_status_from_their_flags() {
        let paid = json!({"paid": true, "closed": true, "total": 100, "currency": "usd", "date": 1551398400});
        let inv = Invoice::from_value(&paid, now()).unwrap();
        assert_eq!(inv.status, InvoiceStatus::Paid);
        assert!(inv.created.is_some());
        let forgiven = json!({"paid": false, "forgiven": true, "total": 100});
        assert_eq!(
            Invoice::from_value(&forgiven, now()).unwrap().status,
            InvoiceStatus::Uncollectible
        );
    }

    #[test]
    fn every_status_reads_as_stripes_dashboard_would_say_it() {
        let status = |v: Value| Invoice::from_value(&v, now()).unwrap().status;
        for (stripe, want) in [
            ("draft", InvoiceStatus::Draft),
            ("open", InvoiceStatus::Open),
            ("paid", InvoiceStatus::Paid),
            ("uncollectible", InvoiceStatus::Uncollectible),
            ("void", InvoiceStatus::Void),
            ("something_new", InvoiceStatus::Unknown),
        ] {
            assert_eq!(
                status(json!({"status": stripe, "total": 5})),
                want,
                "{stripe}"
            );
        }
        // Issued today, charged automatically, no due date, not yet attempted: open, not past due.
        assert_eq!(
            status(
                json!({"status": "open", "total": 5, "created": 1767225600, "due_date": null,
                          "attempted": false, "attempt_count": 0})
            ),
            InvoiceStatus::Open
        );
        // A failed automatic charge with a retry scheduled.
        let retrying = status(json!({"status": "open", "total": 5, "due_date": null,
            "attempted": true, "attempt_count": 1, "next_payment_attempt": 1764806400}));
        assert_eq!(retrying.label(), "Payment failed, retrying on 4 Dec");
        assert_eq!(retrying.css(), "warn");
        // ... and with none scheduled.
        assert_eq!(
            status(
                json!({"status": "open", "total": 5, "attempted": true, "attempt_count": 3,
                          "next_payment_attempt": null})
            ),
            InvoiceStatus::PaymentFailed
        );
        // Legacy shapes, without `status`.
        assert_eq!(
            status(json!({"paid": true, "total": 5})),
            InvoiceStatus::Paid
        );
        assert_eq!(
            status(json!({"paid": false, "forgiven": true, "total": 5})),
            InvoiceStatus::Uncollectible
        );
        assert_eq!(
            status(json!({"paid": false, "closed": true, "total": 5})),
            InvoiceStatus::Void
        );
        assert_eq!(
            status(json!({"paid": false, "closed": false, "total": 5})),
            InvoiceStatus::Open
        );
        assert_eq!(
            status(
                json!({"paid": false, "closed": false, "total": 5, "attempted": true,
                          "attempt_count": 1, "next_payment_attempt": 1764806400})
            ),
            InvoiceStatus::Retrying {
                next: Utc.timestamp_opt(1764806400, 0).single().unwrap()
            }
        );
    }

    #[test]
    fn open_invoices_past_their_due_date_are_past_due() {
        let v = json!({"status": "open", "total": 5, "due_date": "2025-12-01 00:00:00"});
        assert_eq!(
            Invoice::from_value(&v, now()).unwrap().status,
            InvoiceStatus::PastDue
        );
        let v = json!({"status": "open", "total": 5, "due_date": "2026-02-01 00:00:00"});
        assert_eq!(
            Invoice::from_value(&v, now()).unwrap().status,
            InvoiceStatus::Open
        );
    }

    #[test]
    fn licensing_totals_in_major_units_become_minor_units() {
        let v = json!({"items": [{"id": "in_1", "total": 12.34, "currency": "usd", "status": "paid"},
                                 {"id": "in_2", "total": 1200.0, "currency": "jpy", "status": "paid"}]});
        let list = invoices_from_value(&v, now()).unwrap().invoices;
        assert_eq!(list[0].total, 1234);
        assert_eq!(list[1].total, 1200);
    }

    #[test]
    fn summary_accepts_truncated_dates_and_sorts() {
        let v = json!([{"date": "2019-04", "new": "3", "total": 8}, {"date": "2019-03", "new": 5, "total": 5}]);
        let s = summary_from_value(&v).unwrap();
        assert_eq!(s[0].date, NaiveDate::from_ymd_opt(2019, 3, 1).unwrap());
        assert_eq!(s[1].new, 3);
    }
}
