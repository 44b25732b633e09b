//! Deterministic seed data for the sandbox (`WPCOM_API.md` §9.2).
//!
//! A small splitmix64 generator seeded with a constant makes the same partner every run; dates
//! are laid out backwards from the anchor day (today, in UTC) so the demo always looks current.

use chrono::{DateTime, Datelike as _, Duration, NaiveDate, TimeZone as _, Utc};

/// Partner id of the seed partner.
pub const PARTNER_ID: u64 = 7;
/// Production key.
pub const KEY_PRODUCTION: u64 = 70;
/// Disabled staging key.
pub const KEY_STAGING: u64 = 71;
/// The partner owner.
pub const USER_PARTNER: u64 = 1001;
/// A user without a partner.
pub const USER_VISITOR: u64 = 1002;
/// A finance person of the hosting company (no partner access of their own).
pub const USER_FINANCE: u64 = 1003;
/// A support person of the hosting company (no partner access of their own).
pub const USER_SUPPORT: u64 = 1004;

/// Products spread over the seed activations, with weights.
const PRODUCT_MIX: &[(u64, u32)] = &[
    (2005, 30),
    (2000, 14),
    (2001, 6),
    (2002, 12),
    (2100, 10),
    (2106, 8),
    (2110, 8),
    (2010, 7),
    (2014, 5),
];

/// Monthly unit price in cents per product, for the generated invoices.
pub fn unit_price(product: u64) -> i64 {
    match product {
        2005 => 350,
        2000 => 900,
        2001 => 2900,
        2100 => 500,
        2106 => 500,
        2110 => 300,
        2010 => 1200,
        2014 => 3500,
        _ => 0,
    }
}

/// A sandbox user.
#[derive(Debug, Clone)]
pub struct User {
    /// WordPress.com user id.
    pub id: u64,
    /// Login.
    pub username: &'static str,
    /// Display name.
    pub display_name: &'static str,
    /// Email.
    pub email: &'static str,
    /// Whether the user owns the partner.
    pub partner: bool,
}

/// The seed users.
pub const USERS: &[User] = &[
    User {
        id: USER_PARTNER,
        username: "hostadmin",
        display_name: "Host Admin",
        email: "admin@host.example",
        partner: true,
    },
    User {
        id: USER_VISITOR,
        username: "visitor",
        display_name: "Site Visitor",
        email: "visitor@customer.example",
        partner: false,
    },
    User {
        id: USER_FINANCE,
        username: "fiona",
        display_name: "Fiona Finance",
        email: "fiona@host.example",
        partner: false,
    },
    User {
        id: USER_SUPPORT,
        username: "sam",
        display_name: "Sam Support",
        email: "sam@host.example",
        partner: false,
    },
];

/// One key of the partner.
#[derive(Debug, Clone)]
pub struct Key {
    /// Id.
    pub id: u64,
    /// Name.
    pub name: &'static str,
    /// Disabled at.
    pub disabled_on: Option<DateTime<Utc>>,
}

/// One activation row.
#[derive(Debug, Clone)]
pub struct Activation {
    /// Id.
    pub id: u64,
    /// Key.
    pub key_id: u64,
    /// Blog id.
    pub blog_id: u64,
    /// Owner user id.
    pub user_id: u64,
    /// External user id.
    pub external_user_id: String,
    /// Product provisioned.
    pub product_id: u64,
    /// Product now.
    pub current_product_id: u64,
    /// Created.
    pub created_on: DateTime<Utc>,
    /// Activated.
    pub activated_on: DateTime<Utc>,
    /// Cancelled.
    pub cancelled_on: Option<DateTime<Utc>>,
    /// Disputed.
    pub disputed_on: Option<DateTime<Utc>>,
    /// Registered.
    pub site_registered: DateTime<Utc>,
    /// URL.
    pub site_url: String,
    /// Name.
    pub site_name: String,
}

impl Activation {
    /// Whether the plan was active at `t`.
    pub fn active_at(&self, t: DateTime<Utc>) -> bool {
        self.activated_on <= t && self.cancelled_on.is_none_or(|c| c > t)
    }
}

/// Everything the sandbox serves.
#[derive(Debug, Clone)]
pub struct SeedData {
    /// The day the data is laid out from.
    pub anchor: DateTime<Utc>,
    /// Keys of partner 7.
    pub keys: Vec<Key>,
    /// All activations, sorted by `activated_on` then `id`, both descending.
    pub activations: Vec<Activation>,
}

/// The splitmix64 generator: tiny, fast and the same everywhere.
#[derive(Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator with this seed.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// True with probability `percent`/100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

const NAMES_A: &[&str] = &[
    "Sunny", "Blue", "Maple", "Urban", "Quiet", "Golden", "Northern", "Little", "Green", "Rapid",
    "Café", "Bright", "Harbour", "Summit", "Wild",
];
const NAMES_B: &[&str] = &[
    "Bakery",
    "Studio",
    "Garden",
    "Photography",
    "Children’s Books",
    "Cycles",
    "Dental",
    "Yoga",
    "Coffee",
    "Travel",
    "Smith & Sons",
    "Music School",
    "Pottery",
    "Brewery",
    "Vet Clinic",
];
const TLDS: &[&str] = &["com", "net", "org", "co.uk", "de", "example"];

/// Strings every page must render as text (`SECURITY.md` §4.2 D).
pub const HOSTILE_NAMES: &[&str] = &[
    "<script>alert(1)</script>",
    "=HYPERLINK(\"http://evil.example\",\"click\")",
    "\"><img src=x onerror=alert(1)>",
    "\u{202e}evil\u{202c} name",
];
/// URLs that must never become links.
pub const HOSTILE_URLS: &[&str] = &[
    "javascript:alert(1)",
    "JaVaScRiPt:alert(1)",
    " javascript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "//evil.example",
];

impl SeedData {
    /// Generates the seed with `n` activations on the production key.
    pub fn generate(n: usize, hostile: bool, anchor: DateTime<Utc>) -> Self {
        let mut rng = Rng::new(0x5EED_0007);
        let keys = vec![
            Key {
                id: KEY_PRODUCTION,
                name: "Production",
                disabled_on: None,
            },
            Key {
                id: KEY_STAGING,
                name: "Staging & QA",
                disabled_on: Utc.with_ymd_and_hms(2020, 6, 1, 0, 0, 0).single(),
            },
        ];
        let weight_sum: u32 = PRODUCT_MIX.iter().map(|(_, w)| w).sum();
        let span_secs = 730 * 86_400;
        let staging = 6;
        let mut activations = Vec::with_capacity(n + staging);
        for i in 0..n + staging {
            let key_id = if i < n { KEY_PRODUCTION } else { KEY_STAGING };
            let mut pick = rng.below(u64::from(weight_sum)) as u32;
            let mut product = PRODUCT_MIX[0].0;
            for (id, w) in PRODUCT_MIX {
                if pick < *w {
                    product = *id;
                    break;
                }
                pick -= w;
            }
            let ago = rng.below(span_secs) as i64 + 3600;
            let activated_on = anchor - Duration::seconds(ago);
            let created_on = activated_on - Duration::seconds(rng.below(300) as i64 + 5);
            let site_registered = created_on - Duration::seconds(rng.below(900) as i64 + 15);
            if i == 5 {
                product = 2005;
            }
            // Row 5 is always an upgrade, so every seed has one to show.
            let current_product_id = if i == 5 || rng.chance(5) {
                match product {
                    2005 => 2000,
                    2000 => 2001,
                    2100 => 2010,
                    2010 => 2014,
                    other => other,
                }
            } else {
                product
            };
            let cancelled_on = if rng.chance(16) {
                let lived = ago - 60;
                Some(activated_on + Duration::seconds(rng.below(lived.max(61) as u64) as i64 + 60))
            } else {
                None
            };
            let disputed_on = (i == 7).then(|| activated_on + Duration::days(20));
            let a = NAMES_A[rng.below(NAMES_A.len() as u64) as usize];
            let b = NAMES_B[rng.below(NAMES_B.len() as u64) as usize];
            let tld = TLDS[rng.below(TLDS.len() as u64) as usize];
            let slug: String = format!("{a}-{b}")
                .to_lowercase()
                .replace("é", "e")
                .replace(" & ", "-and-")
                .chars()
                .filter_map(|c| match c {
                    ' ' => Some('-'),
                    c if c.is_ascii_alphanumeric() || c == '-' => Some(c),
                    _ => None,
                })
                .collect();
            let scheme = if rng.chance(10) { "http" } else { "https" };
            let mut site_url = format!("{scheme}://{slug}-{i}.{tld}");
            let mut site_name = format!("{a} {b} {i}");
            if hostile && i < HOSTILE_NAMES.len() {
                site_name = HOSTILE_NAMES[i].to_owned();
            }
            if hostile && i < HOSTILE_URLS.len() {
                site_url = HOSTILE_URLS[i].to_owned();
            }
            activations.push(Activation {
                id: 100_000 + i as u64,
                key_id,
                blog_id: 150_000_000 + (i as u64) * 37 + rng.below(30),
                user_id: 2_000_000 + rng.below(900_000),
                external_user_id: (10 + rng.below(99_990)).to_string(),
                product_id: product,
                current_product_id,
                created_on,
                activated_on,
                cancelled_on,
                disputed_on,
                site_registered,
                site_url,
                site_name,
            });
        }
        activations.sort_by(|x, y| {
            y.activated_on
                .cmp(&x.activated_on)
                .then_with(|| y.id.cmp(&x.id))
        });
        Self {
            anchor,
            keys,
            activations,
        }
    }

    /// The key with this id.
    pub fn key(&self, id: u64) -> Option<&Key> {
        self.keys.iter().find(|k| k.id == id)
    }
}

/// Text as WordPress stores and serves it (`WPCOM_API.md` §3.8): `&` as `&amp;`, typographic
/// quotes and accented letters as entities. The data holds what people wrote; the API sends
/// this encoding, which the client must decode exactly once.
pub fn wp_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '’' => out.push_str("&#8217;"),
            'é' => out.push_str("&eacute;"),
            c => out.push(c),
        }
    }
    out
}

/// First day of the month of `d`.
pub fn month_start(d: NaiveDate) -> NaiveDate {
    d.with_day(1).unwrap_or(d)
}

/// First day of the month after the one of `d`.
pub fn next_month(d: NaiveDate) -> NaiveDate {
    let (y, m) = if d.month() == 12 {
        (d.year() + 1, 1)
    } else {
        (d.year(), d.month() + 1)
    };
    NaiveDate::from_ymd_opt(y, m, 1).unwrap_or(d)
}

/// Midnight UTC of `d`.
pub fn midnight(d: NaiveDate) -> DateTime<Utc> {
    d.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generation_is_deterministic_and_sorted() {
        let anchor = Utc
            .with_ymd_and_hms(2026, 11, 28, 0, 0, 0)
            .single()
            .unwrap();
        let a = SeedData::generate(150, false, anchor);
        let b = SeedData::generate(150, false, anchor);
        assert_eq!(a.activations.len(), 156);
        assert_eq!(
            a.activations.iter().map(|x| x.id).collect::<Vec<_>>(),
            b.activations.iter().map(|x| x.id).collect::<Vec<_>>()
        );
        assert!(
            a.activations
                .windows(2)
                .all(|w| w[0].activated_on >= w[1].activated_on)
        );
        assert!(a.activations.iter().any(|x| x.cancelled_on.is_some()));
        assert!(a.activations.iter().any(|x| x.disputed_on.is_some()));
        assert!(
            a.activations
                .iter()
                .any(|x| x.current_product_id != x.product_id)
        );
    }
}
