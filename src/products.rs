//! Jetpack product ids, slugs and names (`WPCOM_API.md` §7), shipped as data.
//!
//! Unknown ids are shown as "Product #id"; monthly and yearly variants share a family name,
//! shown as invoices name it ("Jetpack Personal").

/// One product.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Product {
    /// Numeric id.
    pub id: u64,
    /// Store slug.
    pub slug: &'static str,
    /// Family name shown to people.
    pub name: &'static str,
    /// `yearly`, `monthly` or `` (free).
    pub term: &'static str,
}

const fn p(id: u64, slug: &'static str, name: &'static str, term: &'static str) -> Product {
    Product {
        id,
        slug,
        name,
        term,
    }
}

/// Every known product.
pub const PRODUCTS: &[Product] = &[
    p(2000, "jetpack_premium", "Premium", "yearly"),
    p(2001, "jetpack_business", "Professional", "yearly"),
    p(2002, "jetpack_free", "Free", ""),
    p(2003, "jetpack_premium_monthly", "Premium", "monthly"),
    p(2004, "jetpack_business_monthly", "Professional", "monthly"),
    p(2005, "jetpack_personal", "Personal", "yearly"),
    p(2006, "jetpack_personal_monthly", "Personal", "monthly"),
    p(2010, "jetpack_security_daily", "Security Daily", "yearly"),
    p(
        2011,
        "jetpack_security_daily_monthly",
        "Security Daily",
        "monthly",
    ),
    p(
        2012,
        "jetpack_security_realtime",
        "Security Real-time",
        "yearly",
    ),
    p(
        2013,
        "jetpack_security_realtime_monthly",
        "Security Real-time",
        "monthly",
    ),
    p(2014, "jetpack_complete", "Complete", "yearly"),
    p(2015, "jetpack_complete_monthly", "Complete", "monthly"),
    p(
        2016,
        "jetpack_security_t1_yearly",
        "Security (10 GB)",
        "yearly",
    ),
    p(
        2017,
        "jetpack_security_t1_monthly",
        "Security (10 GB)",
        "monthly",
    ),
    p(
        2019,
        "jetpack_security_t2_yearly",
        "Security (1 TB)",
        "yearly",
    ),
    p(
        2020,
        "jetpack_security_t2_monthly",
        "Security (1 TB)",
        "monthly",
    ),
    p(2100, "jetpack_backup_daily", "Backup Daily", "yearly"),
    p(
        2101,
        "jetpack_backup_daily_monthly",
        "Backup Daily",
        "monthly",
    ),
    p(
        2102,
        "jetpack_backup_realtime",
        "Backup Real-time",
        "yearly",
    ),
    p(
        2103,
        "jetpack_backup_realtime_monthly",
        "Backup Real-time",
        "monthly",
    ),
    p(2104, "jetpack_search", "Search", "yearly"),
    p(2105, "jetpack_search_monthly", "Search", "monthly"),
    p(2106, "jetpack_scan", "Scan", "yearly"),
    p(2107, "jetpack_scan_monthly", "Scan", "monthly"),
    p(2108, "jetpack_scan_realtime", "Scan Real-time", "yearly"),
    p(
        2109,
        "jetpack_scan_realtime_monthly",
        "Scan Real-time",
        "monthly",
    ),
    p(2110, "jetpack_anti_spam", "Anti-spam", "yearly"),
    p(2111, "jetpack_anti_spam_monthly", "Anti-spam", "monthly"),
    p(2112, "jetpack_backup_t1_yearly", "Backup (10 GB)", "yearly"),
    p(
        2113,
        "jetpack_backup_t1_monthly",
        "Backup (10 GB)",
        "monthly",
    ),
    p(2114, "jetpack_backup_t2_yearly", "Backup (1 TB)", "yearly"),
    p(
        2115,
        "jetpack_backup_t2_monthly",
        "Backup (1 TB)",
        "monthly",
    ),
    p(2116, "jetpack_videopress", "VideoPress", "yearly"),
    p(2117, "jetpack_videopress_monthly", "VideoPress", "monthly"),
    p(
        2140,
        "jetpack_backup_addon_storage_10gb_yearly",
        "Backup add-on 10 GB",
        "yearly",
    ),
    p(
        2141,
        "jetpack_backup_addon_storage_10gb_monthly",
        "Backup add-on 10 GB",
        "monthly",
    ),
    p(
        2144,
        "jetpack_backup_addon_storage_100gb_yearly",
        "Backup add-on 100 GB",
        "yearly",
    ),
    p(
        2145,
        "jetpack_backup_addon_storage_100gb_monthly",
        "Backup add-on 100 GB",
        "monthly",
    ),
    p(
        2148,
        "jetpack_backup_addon_storage_1tb_yearly",
        "Backup add-on 1 TB",
        "yearly",
    ),
    p(
        2149,
        "jetpack_backup_addon_storage_1tb_monthly",
        "Backup add-on 1 TB",
        "monthly",
    ),
    p(2400, "jetpack_boost_monthly", "Boost", "monthly"),
    p(2401, "jetpack_boost_yearly", "Boost", "yearly"),
    p(
        2503,
        "jetpack_social_basic_yearly",
        "Social Basic",
        "yearly",
    ),
    p(
        2504,
        "jetpack_social_basic_monthly",
        "Social Basic",
        "monthly",
    ),
];

/// Provisioning plan names and the yearly product they stand for.
pub const PROVISIONING_NAMES: &[(&str, u64)] = &[
    ("free", 2002),
    ("personal", 2005),
    ("premium", 2000),
    ("professional", 2001),
    ("jetpack-backup-daily", 2100),
    ("jetpack-backup-realtime", 2102),
    ("jetpack-scan", 2106),
    ("jetpack-anti-spam", 2110),
    ("jetpack-security-daily", 2010),
    ("jetpack-security-realtime", 2012),
    ("jetpack-complete", 2014),
];

/// The product with this id.
pub fn by_id(id: u64) -> Option<&'static Product> {
    PRODUCTS.iter().find(|p| p.id == id)
}

/// The text rows are sorted by for "Product": the lowercased name and term, unknown products
/// last (`~` sorts after every letter byte by byte, which is how both databases compare this
/// column). The copy stores it per row; a product sort's page finds its place from it too.
pub fn sort_key(id: Option<u64>) -> String {
    match id.and_then(by_id) {
        Some(p) => format!("{} {}", p.name, p.term).to_lowercase(),
        None => format!("~product {:020}", id.unwrap_or(0)),
    }
}

/// Resolves a plan filter item (id, store slug or provisioning name) to a product id.
pub fn resolve(item: &str) -> Option<u64> {
    let item = item.trim();
    if let Ok(id) = item.parse::<u64>() {
        return Some(id);
    }
    PRODUCTS
        .iter()
        .find(|p| p.slug == item)
        .map(|p| p.id)
        .or_else(|| {
            PROVISIONING_NAMES
                .iter()
                .find(|(n, _)| *n == item)
                .map(|(_, id)| *id)
        })
}

/// A product family as people and invoices name it: "Jetpack Personal". One naming everywhere:
/// the product list, the activations, the reconciliation and the CSVs.
pub fn family_name(name: &str) -> String {
    format!("Jetpack {name}")
}

/// The product lines, each the families that start with its name: "Security" holds Security
/// Daily, Security Real-time, Security (10 GB) and Security (1 TB), each yearly and monthly.
/// Longer names first, so that "Backup add-on" is not taken for "Backup".
const LINES: &[&str] = &["Backup add-on", "Backup", "Security", "Scan", "Social"];

/// The product line of a product family name ("Security" for "Security Daily"); a family that
/// belongs to no wider line is its own line.
pub fn line_of(name: &'static str) -> &'static str {
    LINES
        .iter()
        .find(|l| name == **l || name.starts_with(&format!("{l} ")))
        .copied()
        .unwrap_or(name)
}

/// The line of a product id, when the product is known.
pub fn line_of_id(id: u64) -> Option<&'static str> {
    by_id(id).map(|p| line_of(p.name))
}

/// A product line as a query value: "security", "backup-add-on".
pub fn line_slug(line: &str) -> String {
    line.to_lowercase().replace(' ', "-")
}

/// The line a query value names, if any.
pub fn line_by_slug(slug: &str) -> Option<&'static str> {
    PRODUCTS
        .iter()
        .map(|p| line_of(p.name))
        .find(|l| line_slug(l) == slug)
}

/// The product ids of a line.
pub fn line_ids(line: &str) -> Vec<u64> {
    PRODUCTS
        .iter()
        .filter(|p| line_of(p.name) == line)
        .map(|p| p.id)
        .collect()
}

/// The free product, which is never billed.
pub const FREE: u64 = 2002;

/// "Jetpack Personal (yearly)", or "Product #id" when unknown.
pub fn display_name(id: u64) -> String {
    static NAMES: std::sync::OnceLock<std::collections::HashMap<u64, String>> =
        std::sync::OnceLock::new();
    NAMES
        .get_or_init(|| PRODUCTS.iter().map(|p| (p.id, written_name(p))).collect())
        .get(&id)
        .cloned()
        .unwrap_or_else(|| format!("Product #{id}"))
}

/// [`display_name`] of a known product, written out (each is written once per process).
fn written_name(p: &Product) -> String {
    if p.term.is_empty() {
        family_name(p.name)
    } else {
        format!("{} ({})", family_name(p.name), p.term)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_gather_their_families_and_nothing_else() {
        assert_eq!(line_of("Security Daily"), "Security");
        assert_eq!(line_of("Security (1 TB)"), "Security");
        assert_eq!(line_of("Backup add-on 10 GB"), "Backup add-on");
        assert_eq!(line_of("Backup Daily"), "Backup");
        assert_eq!(line_of("Search"), "Search", "not Security, not Scan");
        assert_eq!(line_of("Personal"), "Personal");
        let security = line_ids("Security");
        for id in [2010, 2011, 2012, 2013, 2016, 2017, 2019, 2020] {
            assert!(security.contains(&id), "{id}");
        }
        assert!(!security.contains(&2106));
        assert_eq!(line_by_slug("backup-add-on"), Some("Backup add-on"));
        assert_eq!(line_by_slug("nonsense"), None);
    }

    #[test]
    fn plan_filters_resolve_every_spelling() {
        assert_eq!(resolve("2005"), Some(2005));
        assert_eq!(resolve("jetpack_personal"), Some(2005));
        assert_eq!(resolve("personal"), Some(2005));
        assert_eq!(resolve("jetpack-scan"), Some(2106));
        assert_eq!(resolve("nonsense"), None);
    }

    #[test]
    fn unknown_products_are_named_by_id() {
        assert_eq!(display_name(2005), "Jetpack Personal (yearly)");
        assert_eq!(display_name(2002), "Jetpack Free");
        assert_eq!(display_name(9999), "Product #9999");
    }
}
