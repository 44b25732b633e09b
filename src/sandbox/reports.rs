//! The activations list and the activations summary, from the seed data.

use std::collections::BTreeMap;

use axum::{
    Json,
    response::{IntoResponse, Response},
};
use chrono::{DateTime, Datelike as _, Utc};
use serde_json::{Value, json};

use super::{
    Sandbox,
    data::{self, Activation, SeedData},
    options::SummaryDateStyle,
    params::{DATETIME, date_param, int_param, invalid_param, numeric, plan_id},
    wpcom::forbidden,
};

pub(super) fn activations(
    sb: &Sandbox,
    key_id: u64,
    query: &BTreeMap<String, Vec<String>>,
) -> Response {
    let parsed = (|| {
        let page = int_param(query, "page", 1, 1, i64::MAX)?;
        let per_page = int_param(query, "per_page", 20, 1, 1000)?;
        let after = date_param(query, "activated_after")?;
        let before = date_param(query, "activated_before")?;
        Ok::<_, Response>((page, per_page, after, before))
    })();
    let (page, per_page, after, before) = match parsed {
        Ok(p) => p,
        Err(r) => return r,
    };
    let plans: Vec<u64> = query
        .get("plans")
        .into_iter()
        .flatten()
        .flat_map(|v| v.split([',', ' ']))
        .filter(|s| !s.trim().is_empty())
        .map(|s| plan_id(s).unwrap_or(u64::MAX))
        .collect();
    let derived = sb.data();
    let of_key = derived.by_key.get(&key_id).map_or(&[][..], Vec::as_slice);
    let unfiltered = plans.is_empty() && after.is_none() && before.is_none();
    let matches = |a: &&Activation| {
        (plans.is_empty() || plans.contains(&a.product_id) || plans.contains(&a.current_product_id))
            && after.is_none_or(|t| a.activated_on > t)
            && before.is_none_or(|t| a.activated_on < t)
    };
    let rows_of_key = || {
        of_key
            .iter()
            .filter_map(|&i| derived.seed.activations.get(i))
    };
    let total = if unfiltered {
        of_key.len()
    } else {
        rows_of_key().filter(matches).count()
    };
    let quirks = &sb.options().paging;
    let per_page = quirks
        .per_page_cap
        .map_or(per_page, |cap| per_page.min(i64::from(cap.max(1))));
    let mut skip = (page - 1).saturating_mul(per_page);
    let mut take = per_page;
    if page > 1 {
        skip = skip.saturating_sub(i64::from(quirks.repeat_rows)).max(0);
    }
    if quirks.short_page == u32::try_from(page).ok() {
        take = per_page / 2;
    }
    let strings = sb.options().numeric_strings;
    let (skip, take) = (
        usize::try_from(skip).unwrap_or(usize::MAX),
        usize::try_from(take).unwrap_or(0),
    );
    let rows: Vec<Value> = if unfiltered {
        // A slice of the key's rows: the page, not the partner.
        of_key
            .iter()
            .skip(skip)
            .take(take)
            .filter_map(|&i| derived.seed.activations.get(i))
            .map(|a| activation_json(a, strings))
            .collect()
    } else {
        rows_of_key()
            .filter(matches)
            .skip(skip)
            .take(take)
            .map(|a| activation_json(a, strings))
            .collect()
    };
    let reported = if page > 1 {
        (total as i64).saturating_add(quirks.total_drift).max(0)
    } else {
        total as i64
    };
    Json(json!({ "total": reported, "activations": rows })).into_response()
}

pub(super) fn num(n: u64, strings: bool) -> Value {
    if strings {
        Value::String(n.to_string())
    } else {
        json!(n)
    }
}

pub(super) fn activation_json(a: &Activation, strings: bool) -> Value {
    let dt = |d: &DateTime<Utc>| d.format(DATETIME).to_string();
    json!({
        "id": num(a.id, strings),
        "jetpack_partner_key_id": num(a.key_id, strings),
        "wpcom_blog_id": num(a.blog_id, strings),
        "wpcom_user_id": num(a.user_id, strings),
        "external_user_id": a.external_user_id,
        "product_id": num(a.product_id, strings),
        "created_on": dt(&a.created_on),
        "activated_on": dt(&a.activated_on),
        "cancelled_on": a.cancelled_on.as_ref().map(dt),
        "disputed_on": a.disputed_on.as_ref().map(dt),
        "site_registered": dt(&a.site_registered),
        "site_url": a.site_url,
        "site_name": data::wp_text(&a.site_name),
        "site_icon": null,
        "current_product_id": num(a.current_product_id, strings),
    })
}

pub(super) fn summary(sb: &Sandbox, query: &BTreeMap<String, Vec<String>>) -> Response {
    let scale = query
        .get("scale")
        .and_then(|v| v.last())
        .map(String::as_str)
        .unwrap_or("month");
    if !matches!(scale, "day" | "month" | "year") {
        return invalid_param("scale", "scale is not one of day, month, and year.");
    }
    let key = match query
        .get("key_id")
        .and_then(|v| v.last())
        .filter(|v| !v.is_empty())
    {
        None => None,
        Some(k) => match numeric(k) {
            Some(id) if sb.data().seed.key(id).is_some() => Some(id),
            _ => return forbidden(),
        },
    };
    let derived = sb.data();
    let truncated = sb.options().summary_date_style == SummaryDateStyle::Truncated;
    let mut points = summary_points(&derived.seed, key, scale, truncated);
    let offset = sb.options().summary_offset;
    if offset != 0 {
        for p in &mut points {
            if let Some(total) = p["total"].as_i64() {
                p["total"] = json!((total + offset).max(0));
            }
        }
    }
    Json(Value::Array(points)).into_response()
}

/// Index of the period containing `d`, counted from `origin` (both period starts).
pub(super) fn period_index(scale: &str, origin: chrono::NaiveDate, d: chrono::NaiveDate) -> i64 {
    match scale {
        "day" => (d - origin).num_days(),
        "year" => i64::from(d.year() - origin.year()),
        _ => {
            i64::from(d.year() - origin.year()) * 12 + i64::from(d.month())
                - i64::from(origin.month())
        }
    }
}

pub(super) fn period_start(scale: &str, d: chrono::NaiveDate) -> chrono::NaiveDate {
    match scale {
        "day" => d,
        "year" => chrono::NaiveDate::from_ymd_opt(d.year(), 1, 1).unwrap_or(d),
        _ => data::month_start(d),
    }
}

pub(super) fn nth_period(scale: &str, origin: chrono::NaiveDate, n: i64) -> chrono::NaiveDate {
    match scale {
        "day" => origin + chrono::Duration::days(n),
        "year" => chrono::NaiveDate::from_ymd_opt(origin.year() + n as i32, 1, 1).unwrap_or(origin),
        _ => origin
            .checked_add_months(chrono::Months::new(n as u32))
            .unwrap_or(origin),
    }
}

/// Summary rows: `new` activated in the period, `total` active at its end (`WPCOM_API.md` §9.5).
pub fn summary_points(
    seed: &SeedData,
    key: Option<u64>,
    scale: &str,
    truncated: bool,
) -> Vec<Value> {
    let rows: Vec<&Activation> = seed
        .activations
        .iter()
        .filter(|a| key.is_none_or(|k| a.key_id == k))
        .collect();
    let Some(first) = rows.iter().map(|a| a.activated_on.date_naive()).min() else {
        return Vec::new();
    };
    let origin = period_start(scale, first);
    let last = period_index(scale, origin, seed.anchor.date_naive());
    let len = usize::try_from(last + 1).unwrap_or(0);
    let mut new = vec![0i64; len];
    let mut delta = vec![0i64; len + 1];
    for a in rows {
        let i = period_index(scale, origin, a.activated_on.date_naive());
        let Ok(i) = usize::try_from(i) else { continue };
        if i >= len {
            continue;
        }
        new[i] += 1;
        delta[i] += 1;
        if let Some(c) = a.cancelled_on {
            // Cancelled before the end of period j: not active at the end of j.
            let j = period_index(scale, origin, c.date_naive());
            if let Ok(j) = usize::try_from(j) {
                delta[j.min(len)] -= 1;
            }
        }
    }
    let mut running = 0;
    (0..len)
        .map(|i| {
            running += delta[i];
            let start = nth_period(scale, origin, i as i64);
            let date = match (truncated, scale) {
                (true, "month") => start.format("%Y-%m").to_string(),
                (true, "year") => start.format("%Y").to_string(),
                _ => start.format("%Y-%m-%d").to_string(),
            };
            json!({ "date": date, "new": new[i], "total": running })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone as _;

    use crate::sandbox::{data::KEY_PRODUCTION, params::parse_query};

    #[test]
    fn php_array_query_forms_all_collect() {
        let q = parse_query("plans%5B%5D=a&plans[0]=b&plans=c,d&page=2");
        assert_eq!(q["plans"], vec!["a", "b", "c,d"]);
        assert_eq!(q["page"], vec!["2"]);
    }

    #[test]
    fn summary_totals_are_active_counts_at_period_end() {
        let anchor = Utc
            .with_ymd_and_hms(2026, 11, 28, 0, 0, 0)
            .single()
            .unwrap();
        let seed = SeedData::generate(300, false, anchor);
        let points = summary_points(&seed, Some(KEY_PRODUCTION), "month", false);
        let news: i64 = points.iter().map(|p| p["new"].as_i64().unwrap()).sum();
        assert_eq!(news, 300);
        let last = points.last().unwrap();
        let active_now = seed
            .activations
            .iter()
            .filter(|a| a.key_id == KEY_PRODUCTION && a.active_at(anchor))
            .count();
        // The last period ends after the anchor; only cancellations in the future could differ.
        assert_eq!(last["total"].as_i64().unwrap(), active_now as i64);
        assert_eq!(last["date"], "2026-11-01");
        let truncated = summary_points(&seed, Some(KEY_PRODUCTION), "year", true);
        assert_eq!(truncated.last().unwrap()["date"], "2026");
    }
}
