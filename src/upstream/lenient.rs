//! Lenient readers for WordPress.com JSON (`WPCOM_API.md` §3.5, §3.6).
//!
//! Names arrive HTML-entity-encoded ([`text`] decodes them once). Ids and counts arrive as
//! numbers or numeric strings; datetimes as `YYYY-MM-DD HH:MM:SS` (UTC),
//! ISO 8601, `YYYY-MM-DD`, `YYYY-MM`, `YYYY` or epoch seconds. Each reader returns `None` for
//! anything it cannot make sense of instead of failing the whole response.

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone as _, Utc};
use serde_json::Value;

/// An integer from a number, an integral float or a numeric string.
pub fn int(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64().or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
                .map(|f| f as i64)
        }),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A non-negative id.
pub fn id(v: &Value) -> Option<u64> {
    int(v).and_then(|n| u64::try_from(n).ok())
}

/// A non-empty string; numbers are turned into their decimal text.
pub fn string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Text a person wrote, as WordPress serves it: HTML entities (`&amp;`, `&#8217;`, `&eacute;`)
/// decoded once, here where it enters the portal (`WPCOM_API.md` §3.8). Templates escape it
/// again on output, so decoded text never becomes markup.
pub fn text(v: &Value) -> Option<String> {
    string(v).map(|s| html_escape::decode_html_entities(&s).into_owned())
}

/// A boolean from `true`/`false`, `1`/`0` or their string forms.
pub fn boolean(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => n.as_i64().map(|n| n != 0),
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" => Some(true),
            "0" | "false" | "no" | "" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// A point in time, in every format listed in `WPCOM_API.md` §3.5.
pub fn datetime(v: &Value) -> Option<DateTime<Utc>> {
    match v {
        Value::Number(_) => int(v).and_then(epoch),
        Value::String(s) => parse_datetime(s),
        _ => None,
    }
}

fn epoch(secs: i64) -> Option<DateTime<Utc>> {
    // Zero is how several PHP backends say "never".
    if secs <= 0 {
        None
    } else {
        Utc.timestamp_opt(secs, 0).single()
    }
}

/// Parses one datetime string; see [`datetime`].
pub fn parse_datetime(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if s.is_empty() || s.starts_with("0000-00-00") {
        return None;
    }
    if s.bytes().all(|b| b.is_ascii_digit()) && s.len() > 4 {
        return s.parse().ok().and_then(epoch);
    }
    if let Ok(dt) = DateTime::parse_from_rfc3339(s) {
        return Some(dt.with_timezone(&Utc));
    }
    for format in ["%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"] {
        if let Ok(naive) = NaiveDateTime::parse_from_str(s, format) {
            return Some(naive.and_utc());
        }
    }
    for format in ["%Y-%m-%d %H:%M:%S%z", "%Y-%m-%dT%H:%M:%S%z"] {
        if let Ok(dt) = DateTime::parse_from_str(s, format) {
            return Some(dt.with_timezone(&Utc));
        }
    }
    parse_date(s)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|n| n.and_utc())
}

/// Parses `YYYY-MM-DD`, `YYYY-MM` or `YYYY` (a period start).
pub fn parse_date(s: &str) -> Option<NaiveDate> {
    let s = s.trim();
    let head = s.get(..10).unwrap_or(s);
    if let Ok(d) = NaiveDate::parse_from_str(head, "%Y-%m-%d") {
        return Some(d);
    }
    let mut parts = s.splitn(2, '-');
    let year: i32 = parts.next()?.parse().ok()?;
    let month: u32 = match parts.next() {
        Some(m) => m.parse().ok()?,
        None if s.len() == 4 => 1,
        None => return None,
    };
    NaiveDate::from_ymd_opt(year, month, 1)
}

/// The items of a list that may be a bare array, a Stripe list object (`data`) or a
/// licensing-era wrapper (`items`).
pub fn list(v: &Value) -> Option<&Vec<Value>> {
    match v {
        Value::Array(items) => Some(items),
        Value::Object(map) => ["data", "items", "activations"]
            .iter()
            .find_map(|k| map.get(*k).and_then(Value::as_array)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use crate::fuzzing::{CASES, text as any_text};
    use serde_json::json;

    use super::*;

    #[test]
    fn entity_encoded_text_is_decoded_exactly_once() {
        assert_eq!(
            text(&json!("Smith &amp; Sons")).as_deref(),
            Some("Smith & Sons")
        );
        assert_eq!(
            text(&json!("Children&#8217;s Caf&eacute;")).as_deref(),
            Some("Children’s Café")
        );
        // Once: an encoded entity stays one level encoded, and markup stays text.
        assert_eq!(text(&json!("&amp;amp;")).as_deref(), Some("&amp;"));
        assert_eq!(
            text(&json!("&lt;b&gt;bold&lt;/b&gt;")).as_deref(),
            Some("<b>bold</b>")
        );
        assert_eq!(text(&json!("AT&T")).as_deref(), Some("AT&T"));
    }

    #[test]
    fn ids_are_read_from_numbers_and_strings() {
        assert_eq!(id(&json!(78618526)), Some(78618526));
        assert_eq!(id(&json!("78618526")), Some(78618526));
        assert_eq!(id(&json!(" 7 ")), Some(7));
        assert_eq!(id(&json!(-1)), None);
        assert_eq!(id(&json!("abc")), None);
        assert_eq!(id(&json!(null)), None);
        assert_eq!(int(&json!(12.0)), Some(12));
    }

    #[test]
    fn every_documented_datetime_format_parses() {
        let expect = Utc.with_ymd_and_hms(2019, 3, 1, 12, 5, 10).single();
        assert_eq!(datetime(&json!("2019-03-01 12:05:10")), expect);
        assert_eq!(datetime(&json!("2019-03-01T12:05:10+00:00")), expect);
        assert_eq!(datetime(&json!("2019-03-01T05:05:10-07:00")), expect);
        assert_eq!(datetime(&json!("2019-03-01T12:05:10Z")), expect);
        assert_eq!(datetime(&json!(1551441910)), expect);
        assert_eq!(datetime(&json!("1551441910")), expect);
        let day = Utc.with_ymd_and_hms(2019, 3, 1, 0, 0, 0).single();
        assert_eq!(datetime(&json!("2019-03-01")), day);
        assert_eq!(datetime(&json!("2019-03")), day);
        assert_eq!(
            datetime(&json!("2019")),
            Utc.with_ymd_and_hms(2019, 1, 1, 0, 0, 0).single()
        );
        assert_eq!(datetime(&json!(null)), None);
        assert_eq!(datetime(&json!("")), None);
        assert_eq!(datetime(&json!("0000-00-00 00:00:00")), None);
        assert_eq!(datetime(&json!(0)), None);
        assert_eq!(datetime(&json!("next tuesday")), None);
    }

    #[test]
    fn lists_come_in_three_wrappers() {
        assert_eq!(list(&json!([1, 2])).map(Vec::len), Some(2));
        assert_eq!(
            list(&json!({"object": "list", "data": [1]})).map(Vec::len),
            Some(1)
        );
        assert_eq!(list(&json!({"items": [1, 2, 3]})).map(Vec::len), Some(3));
        assert!(list(&json!({"other": 1})).is_none());
    }

    #[test]
    fn booleans_accept_php_spellings() {
        assert_eq!(boolean(&json!("1")), Some(true));
        assert_eq!(boolean(&json!(0)), Some(false));
        assert_eq!(boolean(&json!(true)), Some(true));
    }

    /// JSON of every shape, with the seeds among its strings.
    fn json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            any::<u64>().prop_map(|n| json!(n)),
            any::<f64>().prop_map(|f| json!(f)),
            any_text().prop_map(Value::String),
        ];
        leaf.prop_recursive(3, 32, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::btree_map(
                    prop::sample::select(vec![
                        "id",
                        "ID",
                        "total",
                        "activations",
                        "data",
                        "items",
                        "created",
                        "date",
                        "activated_on",
                        "cancelled_on",
                        "amount_due",
                        "currency",
                        "lines",
                        "period_start",
                        "period_end",
                        "status",
                        "site_url",
                        "site_name",
                        "new",
                    ])
                    .prop_map(str::to_owned),
                    inner,
                    0..8,
                )
                .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(CASES))]

        #[test]
        fn no_json_makes_a_reader_or_a_model_panic(v in json()) {
            let _ = (int(&v), id(&v), string(&v), text(&v), boolean(&v), datetime(&v), list(&v));
            let now = chrono::Utc::now();
            let _ = crate::upstream::models::Me::from_value(&v);
            let _ = crate::upstream::models::Partner::from_value(&v);
            let _ = crate::upstream::models::ActivationsPage::from_value(&v);
            let _ = crate::upstream::models::summary_from_value(&v);
            let _ = crate::upstream::models::invoices_from_value(&v, now);
            let _ = crate::upstream::models::Invoice::from_value(&v, now);
        }

        #[test]
        fn integers_read_back_from_numbers_and_their_text(n in any::<i64>()) {
            prop_assert_eq!(int(&json!(n)), Some(n));
            prop_assert_eq!(int(&json!(n.to_string())), Some(n));
            prop_assert_eq!(id(&json!(n)), u64::try_from(n).ok());
        }

        #[test]
        fn datetimes_read_back_in_every_format_they_print_in(secs in 1i64..253_402_300_799) {
            let at = Utc.timestamp_opt(secs, 0).single().unwrap();
            for printed in [
                at.format("%Y-%m-%d %H:%M:%S").to_string(),
                at.to_rfc3339(),
                at.format("%Y-%m-%dT%H:%M:%S").to_string(),
            ] {
                prop_assert_eq!(parse_datetime(&printed), Some(at), "{}", printed);
            }
            prop_assert_eq!(datetime(&json!(secs)), Some(at));
            prop_assert_eq!(parse_date(&at.format("%Y-%m-%d").to_string()), Some(at.date_naive()));
        }

        #[test]
        fn entity_encoded_text_decodes_once_to_what_was_written(s in any_text()) {
            prop_assume!(!s.is_empty());
            let encoded = html_escape::encode_text(&s).into_owned();
            prop_assert_eq!(text(&json!(encoded)), Some(s));
        }

        #[test]
        fn any_string_is_read_or_refused_without_a_panic(s in any_text()) {
            let _ = (parse_datetime(&s), parse_date(&s), boolean(&json!(s)), int(&json!(s)));
        }
    }
}
