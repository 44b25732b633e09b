//! Formatting for people: thousands separators, money in its currency's minor units, dates,
//! ages, and the one rule for which upstream URLs may become links (absolute http or https).

use std::fmt::Write as _;

use chrono::{DateTime, Datelike as _, NaiveDate, Timelike as _, Utc};

use crate::upstream::models::currency_exponent;

/// `12345` → `12,345`.
pub fn fmt_int(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

/// Minor units in `currency` → `$1,234.50`, `¥1,200`, `CHF 12.00`.
pub fn fmt_money(minor: i64, currency: &str) -> String {
    let exp = currency_exponent(currency);
    let scale = 10i64.pow(exp);
    let major = fmt_int((minor / scale).abs());
    let fraction = if exp == 0 {
        String::new()
    } else {
        format!(".{:0width$}", (minor % scale).abs(), width = exp as usize)
    };
    let code = currency.to_ascii_uppercase();
    let symbol = match code.as_str() {
        "USD" => "$",
        "EUR" => "€",
        "GBP" => "£",
        "JPY" => "¥",
        "CAD" => "CA$",
        "AUD" => "A$",
        "INR" => "₹",
        _ => "",
    };
    let sign = if minor < 0 { "-" } else { "" };
    if symbol.is_empty() {
        format!("{sign}{code} {major}{fraction}")
    } else {
        format!("{sign}{symbol}{major}{fraction}")
    }
}

/// `just now`, `3 minutes ago`, `2 hours ago`, `5 days ago`.
pub fn fmt_age(seconds: i64) -> String {
    let s = seconds.max(0);
    let (n, unit) = match s {
        0..=59 => return "just now".to_owned(),
        60..=3599 => (s / 60, "minute"),
        3600..=86_399 => (s / 3600, "hour"),
        _ => (s / 86_400, "day"),
    };
    format!("{n} {unit}{} ago", if n == 1 { "" } else { "s" })
}

/// `60 seconds`, `5 minutes`, `2 hours`: a configured interval in words.
pub fn fmt_duration(d: std::time::Duration) -> String {
    let s = d.as_secs();
    let (n, unit) = if s >= 3600 && s.is_multiple_of(3600) {
        (s / 3600, "hour")
    } else if s >= 60 && s.is_multiple_of(60) {
        (s / 60, "minute")
    } else {
        (s, "second")
    };
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}

/// "3 minutes ago" for a Unix time, for "data as of" lines.
pub fn fmt_as_of(unix: i64) -> String {
    fmt_age(chrono::Utc::now().timestamp() - unix)
}

/// `1 Dec 2026, 14:05 UTC` of Unix seconds.
pub fn fmt_unix(t: i64) -> String {
    DateTime::from_timestamp(t, 0).map_or_else(String::new, |d| fmt_datetime(&d))
}

/// English month abbreviations, as chrono's `%b` writes them.
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// `%b` of `d`: `Mar`. Dates are written out by hand rather than with chrono's `format`,
/// which parses its pattern again for every date: a list page writes a hundred of them.
pub fn month_abbr(d: &impl chrono::Datelike) -> &'static str {
    MONTHS.get(d.month0() as usize).copied().unwrap_or("")
}

/// `1 Mar` (`%-d %b`).
pub fn fmt_day_month(d: &impl chrono::Datelike) -> String {
    format!("{} {}", d.day(), month_abbr(d))
}

/// `1 Mar 2024` (`%-d %b %Y`) of a day.
pub fn fmt_day(d: &impl chrono::Datelike) -> String {
    format!("{} {} {}", d.day(), month_abbr(d), d.year())
}

/// `Mar 2024` (`%b %Y`).
pub fn fmt_month(d: &impl chrono::Datelike) -> String {
    format!("{} {}", month_abbr(d), d.year())
}

/// `1 Mar 2024`.
pub fn fmt_date(d: &DateTime<Utc>) -> String {
    fmt_day(d)
}

/// `1 Mar 2024, 12:05 UTC`.
pub fn fmt_datetime(d: &DateTime<Utc>) -> String {
    let mut out = fmt_day(d);
    let _ = write!(out, ", {:02}:{:02} UTC", d.hour(), d.minute());
    out
}

/// A billing period whose end is exclusive (Stripe's `period_end` is the start of the next
/// period), shown with its inclusive last day: `1–31 Jul 2026`, `15 Jun – 14 Jul 2026`,
/// `1 Dec 2025 – 31 Jan 2026`.
pub fn fmt_period(start: &DateTime<Utc>, end_exclusive: &DateTime<Utc>) -> String {
    let first = start.date_naive();
    let last = if end_exclusive > start {
        (*end_exclusive - chrono::Duration::seconds(1)).date_naive()
    } else {
        first
    };
    fmt_days(first, last, true)
}

/// An inclusive range of days, the one way every page writes one: `1 Jul 2026`,
/// `1–31 Jul 2026`, `15 Jun – 14 Jul 2026`, `1 Dec 2025 – 31 Jan 2026`. Without `with_year`
/// (a range in the current year) the year is left out: `1–15 Nov`, `15 Jun – 14 Jul`.
pub fn fmt_days(first: NaiveDate, last: NaiveDate, with_year: bool) -> String {
    let year = |d: NaiveDate| {
        if with_year {
            format!(" {}", d.year())
        } else {
            String::new()
        }
    };
    let day_month = |d: NaiveDate| fmt_day_month(&d);
    if first == last {
        format!("{}{}", day_month(last), year(last))
    } else if (first.year(), first.month()) == (last.year(), last.month()) {
        format!("{}–{}{}", first.day(), day_month(last), year(last))
    } else if first.year() == last.year() {
        format!("{} – {}{}", day_month(first), day_month(last), year(last))
    } else {
        format!(
            "{} {} – {}{}",
            day_month(first),
            first.year(),
            day_month(last),
            year(last)
        )
    }
}

/// An optional date, or an en dash.
pub fn fmt_opt_date(d: Option<&DateTime<Utc>>) -> String {
    d.map_or_else(|| "–".to_owned(), fmt_date)
}

/// The URL if it is an absolute http(s) URL with a host, else `None` (show it as text).
pub fn safe_href(raw: &str) -> Option<String> {
    let url = url::Url::parse(raw.trim()).ok()?;
    let ok =
        matches!(url.scheme(), "http" | "https") && url.host_str().is_some_and(|h| !h.is_empty());
    ok.then(|| url.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_written_by_hand_match_chrono_patterns() {
        let mut at = DateTime::from_timestamp(946_684_800 - 86_400 * 400, 0).unwrap_or_default();
        for _ in 0..12_000 {
            assert_eq!(fmt_date(&at), at.format("%-d %b %Y").to_string());
            assert_eq!(
                fmt_datetime(&at),
                at.format("%-d %b %Y, %H:%M UTC").to_string()
            );
            let day = at.date_naive();
            assert_eq!(fmt_day_month(&day), day.format("%-d %b").to_string());
            assert_eq!(fmt_month(&day), day.format("%b %Y").to_string());
            at += chrono::Duration::seconds(86_400 + 3_671);
        }
    }

    #[test]
    fn numbers_get_thousands_separators() {
        assert_eq!(fmt_int(0), "0");
        assert_eq!(fmt_int(999), "999");
        assert_eq!(fmt_int(1000), "1,000");
        assert_eq!(fmt_int(-1234567), "-1,234,567");
    }

    #[test]
    fn money_respects_the_currency_exponent() {
        assert_eq!(fmt_money(19950, "usd"), "$199.50");
        assert_eq!(fmt_money(123456789, "usd"), "$1,234,567.89");
        assert_eq!(fmt_money(1200, "jpy"), "¥1,200");
        assert_eq!(fmt_money(1234, "kwd"), "KWD 1.234");
        assert_eq!(fmt_money(-250, "eur"), "-€2.50");
        assert_eq!(fmt_money(5, "chf"), "CHF 0.05");
    }

    #[test]
    fn periods_show_their_inclusive_last_day() {
        let t = |s: &str| {
            chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M")
                .unwrap()
                .and_utc()
        };
        assert_eq!(
            fmt_period(&t("2026-07-01 00:00"), &t("2026-08-01 00:00")),
            "1–31 Jul 2026"
        );
        assert_eq!(
            fmt_period(&t("2026-06-15 00:00"), &t("2026-07-15 00:00")),
            "15 Jun – 14 Jul 2026"
        );
        assert_eq!(
            fmt_period(&t("2025-12-01 00:00"), &t("2026-02-01 00:00")),
            "1 Dec 2025 – 31 Jan 2026"
        );
        assert_eq!(
            fmt_period(&t("2026-07-01 00:00"), &t("2026-07-01 00:00")),
            "1 Jul 2026"
        );
    }

    #[test]
    fn only_http_urls_become_links() {
        assert_eq!(
            safe_href("https://example.com/a").as_deref(),
            Some("https://example.com/a")
        );
        assert!(safe_href("http://example.com").is_some());
        for bad in [
            "javascript:alert(1)",
            "JaVaScRiPt:alert(1)",
            " javascript:alert(1)",
            "java\tscript:alert(1)",
            "data:text/html,<script>alert(1)</script>",
            "vbscript:msgbox(1)",
            "//evil.example",
            "evil.example",
            "",
            "http://",
        ] {
            assert_eq!(safe_href(bad), None, "{bad:?}");
        }
        // Quotes are percent-encoded by the URL parser, so they cannot break out of an attribute.
        let href = safe_href("https://ok.example/\"onmouseover=\"alert(1)").unwrap();
        assert!(!href.contains('"'));
    }
}
