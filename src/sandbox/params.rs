//! Query parameters as WordPress.com reads them (`WPCOM_API.md` §9.5): PHP array spellings,
//! integers in range, datetimes in the documented formats, plan items, booleans. The sandbox
//! parses with its own code, never the client's, so a parsing bug cannot hide on both sides.

use std::collections::BTreeMap;

use axum::{
    Json,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use chrono::{DateTime, Utc};
use serde_json::json;

use crate::products;

/// The datetime format of the API's fields.
pub(super) const DATETIME: &str = "%Y-%m-%d %H:%M:%S";

/// Query pairs with PHP array rules: `plans[]=a`, `plans[0]=a` and `plans=a,b` all collect
/// under `plans`.
pub(super) fn parse_query(q: &str) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (k, v) in url::form_urlencoded::parse(q.as_bytes()) {
        let name = k.split('[').next().unwrap_or(&k).to_owned();
        out.entry(name).or_default().push(v.into_owned());
    }
    out
}

pub(super) fn invalid_param(name: &str, reason: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({ "code": "rest_invalid_param", "message": format!("Invalid parameter(s): {name}"),
                     "data": { "status": 400, "params": { name: reason } } })),
    )
        .into_response()
}

pub(super) fn int_param(
    query: &BTreeMap<String, Vec<String>>,
    name: &str,
    default: i64,
    min: i64,
    max: i64,
) -> Result<i64, Response> {
    let Some(raw) = query
        .get(name)
        .and_then(|v| v.last())
        .filter(|v| !v.is_empty())
    else {
        return Ok(default);
    };
    match raw.trim().parse::<i64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        Ok(_) if max == i64::MAX => Err(invalid_param(
            name,
            &format!("{name} must be greater than or equal to {min}"),
        )),
        Ok(_) => Err(invalid_param(
            name,
            &format!("{name} must be between {min} (inclusive) and {max} (inclusive)"),
        )),
        Err(_) => Err(invalid_param(
            name,
            &format!("{name} is not of type integer."),
        )),
    }
}

pub(super) fn date_param(
    query: &BTreeMap<String, Vec<String>>,
    name: &str,
) -> Result<Option<DateTime<Utc>>, Response> {
    match query
        .get(name)
        .and_then(|v| v.last())
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
    {
        None => Ok(None),
        Some(s) => parse_datetime(s)
            .map(Some)
            .ok_or_else(|| invalid_param(name, &format!("{name} is not a valid date."))),
    }
}

pub(super) fn numeric(s: &str) -> Option<u64> {
    (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

/// A datetime parameter in one of the documented spellings (`WPCOM_API.md` §9.5): `YYYY-MM-DD
/// HH:MM:SS`, `YYYY-MM-DD` or ISO 8601, all UTC unless an offset is given.
pub(super) fn parse_datetime(s: &str) -> Option<DateTime<Utc>> {
    if let Ok(dt) = DateTime::parse_from_rfc3339(s) {
        return Some(dt.with_timezone(&Utc));
    }
    for format in [DATETIME, "%Y-%m-%dT%H:%M:%S"] {
        if let Ok(naive) = chrono::NaiveDateTime::parse_from_str(s, format) {
            return Some(naive.and_utc());
        }
    }
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|n| n.and_utc())
}

/// A plan filter item: a product id, a store slug or a provisioning name (`WPCOM_API.md` §7).
/// Unknown items match nothing.
pub(super) fn plan_id(item: &str) -> Option<u64> {
    let item = item.trim();
    if let Some(id) = numeric(item) {
        return Some(id);
    }
    let by_slug = products::PRODUCTS.iter().find(|p| p.slug == item);
    by_slug.map(|p| p.id).or_else(|| {
        products::PROVISIONING_NAMES
            .iter()
            .find(|(name, _)| *name == item)
            .map(|(_, id)| *id)
    })
}

/// A boolean parameter as WordPress's `rest_sanitize_boolean` reads it: `false` (any case),
/// `0` and the empty string are false; anything else is true.
pub(super) fn truthy(v: &str) -> bool {
    !matches!(v.trim().to_ascii_lowercase().as_str(), "" | "0" | "false")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datetimes_parse_in_every_documented_spelling() {
        let want = chrono::NaiveDate::from_ymd_opt(2026, 3, 1)
            .and_then(|d| d.and_hms_opt(12, 30, 0))
            .map(|n| n.and_utc());
        assert_eq!(parse_datetime("2026-03-01 12:30:00"), want);
        assert_eq!(parse_datetime("2026-03-01T12:30:00"), want);
        assert_eq!(parse_datetime("2026-03-01T12:30:00Z"), want);
        assert_eq!(parse_datetime("2026-03-01T14:30:00+02:00"), want);
        assert!(parse_datetime("2026-03-01").is_some());
        assert_eq!(parse_datetime("yesterday"), None);
    }

    #[test]
    fn plan_items_match_ids_slugs_and_provisioning_names() {
        assert_eq!(plan_id("2005"), Some(2005));
        assert_eq!(plan_id("jetpack_personal"), Some(2005));
        assert_eq!(plan_id("personal"), Some(2005));
        assert_eq!(plan_id("nonsense"), None);
        assert!(truthy("true") && truthy("1") && !truthy("false") && !truthy("0"));
    }
}
