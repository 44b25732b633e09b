//! The sandbox's `/rest/v1.1/me` and `/wpcom/v2/jetpack-partners` family (`WPCOM_API.md` §9.4,
//! §9.5), error envelopes and Stripe-shaped invoices.

use std::collections::BTreeMap;

use axum::{
    Json,
    body::Body,
    extract::{Path, Request, State},
    http::{HeaderMap, Method, StatusCode, Uri, header},
    middleware::Next,
    response::{Html, IntoResponse, Response},
};
use chrono::{DateTime, Datelike as _, Utc};
use serde_json::{Value, json};

use super::options::{InvoicesStyle, SandboxOptions, SummaryDateStyle};
use super::{
    Sandbox,
    data::{self, Activation, KEY_PRODUCTION, PARTNER_ID, SeedData},
    oauth::{TokenInfo, token_info_for},
};
use crate::{products, upstream::lenient};

const DATETIME: &str = "%Y-%m-%d %H:%M:%S";

/// The number of the past invoice whose first line bills one site too many.
pub const DISCREPANT_INVOICE: u32 = 8;

/// The error body of the namespace `path` belongs to.
pub fn error_body(path: &str, code: &str, message: &str, status: StatusCode) -> Value {
    if path.starts_with("/wpcom/") {
        json!({ "code": code, "message": message, "data": { "status": status.as_u16() } })
    } else if path.starts_with("/oauth2/") {
        json!({ "error": code, "error_description": message })
    } else {
        json!({ "error": code, "message": message })
    }
}

fn v2_error(status: StatusCode, code: &str, message: &str) -> Response {
    (status, Json(error_body("/wpcom/", code, message, status))).into_response()
}

fn v1_error(status: StatusCode, code: &str, message: &str) -> Response {
    (status, Json(error_body("/rest/", code, message, status))).into_response()
}

fn no_route() -> Response {
    v2_error(
        StatusCode::NOT_FOUND,
        "rest_no_route",
        "No route was found matching the URL and request method.",
    )
}

fn forbidden() -> Response {
    v2_error(
        StatusCode::FORBIDDEN,
        "rest_forbidden",
        "Sorry, you are not allowed to do that.",
    )
}

fn not_found(what: &str) -> Response {
    v2_error(
        StatusCode::NOT_FOUND,
        "not_found",
        &format!("{what} not found."),
    )
}

/// Unknown paths anywhere else.
pub async fn fallback(uri: Uri) -> Response {
    if uri.path().starts_with("/rest/") {
        return v1_error(
            StatusCode::NOT_FOUND,
            "unknown_endpoint",
            "Unknown endpoint.",
        );
    }
    no_route()
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// `/rest/v1.1/*`: only `me` exists here.
pub async fn rest_v1(
    State(sb): State<Sandbox>,
    method: Method,
    Path(rest): Path<String>,
    headers: HeaderMap,
) -> Response {
    if rest.trim_end_matches('/') != "me" || method != Method::GET {
        return v1_error(
            StatusCode::NOT_FOUND,
            "unknown_endpoint",
            "Unknown endpoint.",
        );
    }
    let required = || {
        v1_error(
            StatusCode::FORBIDDEN,
            "authorization_required",
            "An active access token must be used to query information about the current user.",
        )
    };
    let Some(token) = bearer(&headers) else {
        return required();
    };
    let Some(info) = token_info_for(&sb, token) else {
        return v1_error(
            StatusCode::BAD_REQUEST,
            "invalid_token",
            "The OAuth2 token is invalid.",
        );
    };
    let Some(user) = data::USERS.iter().find(|u| u.id == info.user_id) else {
        return required();
    };
    Json(json!({
        "ID": user.id, "display_name": user.display_name, "username": user.username,
        "email": user.email, "avatar_URL": "", "profile_URL": format!("https://gravatar.example/{}", user.username),
        "primary_blog": 0, "primary_blog_url": null, "language": "en",
        "token_site_id": false, "token_scope": [info.scope], "token_client_id": super::CLIENT_ID.parse::<u64>().unwrap_or(0),
        "verified": true, "email_verified": true, "date": "2015-04-01T10:00:00+00:00", "site_count": 1,
        "has_jetpack_partner_access": user.partner,
        "jetpack_partner_types": if user.partner { json!(["reseller"]) } else { json!([]) },
    }))
    .into_response()
}

/// Authenticates a `/wpcom/v2` request (`WPCOM_API.md` §9.5 rules).
fn authenticate(sb: &Sandbox, headers: &HeaderMap) -> Result<TokenInfo, Response> {
    let Some(token) = bearer(headers) else {
        return Err(v2_error(
            StatusCode::UNAUTHORIZED,
            "rest_forbidden",
            "Sorry, you are not allowed to do that.",
        ));
    };
    let Some(info) = token_info_for(sb, token) else {
        return Err(v2_error(
            StatusCode::UNAUTHORIZED,
            "invalid_token",
            "The OAuth2 token is invalid.",
        ));
    };
    if info.scope != "global" {
        return Err(forbidden());
    }
    Ok(info)
}

fn owns_partner(info: &TokenInfo) -> bool {
    data::USERS
        .iter()
        .any(|u| u.id == info.user_id && u.partner)
}

fn numeric(s: &str) -> Option<u64> {
    (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

/// `/wpcom/v2/*`, dispatched by path segments so that the route regexes (`\d+`) and
/// `rest_no_route` behave as WordPress does.
pub async fn wpcom_v2(
    State(sb): State<Sandbox>,
    method: Method,
    Path(rest): Path<String>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let segments: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    let Some((&"jetpack-partners", tail)) = segments.split_first() else {
        return no_route();
    };
    let query = parse_query(uri.query().unwrap_or(""));
    let is_get = method == Method::GET;
    let is_edit = matches!(method, Method::POST | Method::PUT | Method::PATCH);
    // Route matching first: unknown routes are 404 whatever the token.
    let route = match tail {
        [] if is_get || is_edit => Route::Partners,
        ["activations"] if is_get => Route::Summary,
        ["capabilities"] if is_get => Route::Capabilities,
        [p] if is_get => Route::Partner(p),
        [p, "key"] if is_edit => Route::Admin(p),
        [p, "key", k] if is_get || is_edit => Route::Key(p, k),
        [p, "key", k, "activations"] if is_get => Route::Activations(p, k),
        [p, "key", k, action @ ("disable" | "enable")] if is_edit => Route::Toggle(p, k, action),
        [p, "key", k, "activation", a] if method == Method::DELETE => Route::Cancel(p, k, a),
        [
            p,
            "key",
            k,
            "stripe",
            what @ ("invoices" | "subscription" | "upcoming-invoice"),
        ] if is_get => Route::Stripe(p, k, what),
        [p, "stripe", "customer"] if is_get => Route::Customer(p),
        _ => return no_route(),
    };
    let info = match authenticate(&sb, &headers) {
        Ok(info) => info,
        Err(r) => return r,
    };
    if !owns_partner(&info) {
        return forbidden();
    }
    match route {
        Route::Partners if is_edit => {
            sb.record_write(format!("{method} /jetpack-partners"));
            forbidden()
        }
        Route::Partners => {
            if query
                .get("all")
                .and_then(|v| v.first())
                .and_then(|v| lenient::boolean(&json!(v)))
                == Some(true)
            {
                return forbidden();
            }
            Json(json!([partner_json(&sb)])).into_response()
        }
        Route::Capabilities => Json(json!({ "partner_ids": [PARTNER_ID] })).into_response(),
        Route::Summary => summary(&sb, &query),
        Route::Partner(p) => with_partner(p, || Json(partner_json(&sb)).into_response()),
        Route::Admin(p) => with_partner(p, || {
            sb.record_write(format!("{method} /jetpack-partners/{p}/key"));
            forbidden()
        }),
        Route::Key(p, k) => with_key(&sb, p, k, |key| {
            if is_edit {
                sb.record_write(format!("{method} /jetpack-partners/{p}/key/{k}"));
                return forbidden();
            }
            Json(key).into_response()
        }),
        Route::Activations(p, k) => with_key(&sb, p, k, |_| {
            activations(&sb, numeric(k).unwrap_or(0), &query)
        }),
        Route::Toggle(p, k, action) => with_key(&sb, p, k, |_| {
            sb.record_write(format!("{method} /jetpack-partners/{p}/key/{k}/{action}"));
            let id = numeric(k).unwrap_or(0);
            let mut derived = sb.data_mut();
            let now = Utc::now();
            if let Some(key) = derived.seed.keys.iter_mut().find(|key| key.id == id) {
                key.disabled_on = (action == "disable").then_some(now);
            }
            Json(derived.seed.key(id).map(key_json).unwrap_or(Value::Null)).into_response()
        }),
        Route::Cancel(p, k, a) => with_key(&sb, p, k, |_| {
            sb.record_write(format!(
                "DELETE /jetpack-partners/{p}/key/{k}/activation/{a}"
            ));
            let (Some(key), Some(id)) = (numeric(k), numeric(a)) else {
                return no_route();
            };
            let mut derived = sb.data_mut();
            match derived
                .seed
                .activations
                .iter_mut()
                .find(|x| x.id == id && x.key_id == key)
            {
                Some(row) => {
                    row.cancelled_on.get_or_insert(Utc::now());
                    Json(json!({ "success": true })).into_response()
                }
                None => not_found("Activation"),
            }
        }),
        Route::Stripe(p, k, what) => {
            with_key(&sb, p, k, |_| stripe(&sb, numeric(k).unwrap_or(0), what))
        }
        Route::Customer(p) => with_partner(p, || {
            Json(json!({ "id": "cus_FakeHost7", "object": "customer", "email": "billing@host.example",
                         "name": "Example Hosting", "currency": "usd" }))
            .into_response()
        }),
    }
}

enum Route<'a> {
    Partners,
    Summary,
    Capabilities,
    Partner(&'a str),
    Admin(&'a str),
    Key(&'a str, &'a str),
    Activations(&'a str, &'a str),
    Toggle(&'a str, &'a str, &'a str),
    Cancel(&'a str, &'a str, &'a str),
    Stripe(&'a str, &'a str, &'a str),
    Customer(&'a str),
}

fn with_partner(p: &str, f: impl FnOnce() -> Response) -> Response {
    match numeric(p) {
        None => no_route(),
        Some(PARTNER_ID) => f(),
        Some(_) => not_found("Partner"),
    }
}

fn with_key(sb: &Sandbox, p: &str, k: &str, f: impl FnOnce(Value) -> Response) -> Response {
    let Some(key_id) = numeric(k) else {
        return no_route();
    };
    if sb.key_hidden(key_id) {
        return forbidden();
    }
    with_partner(p, || {
        let key = sb.data().seed.key(key_id).map(key_json);
        match key {
            Some(key) => f(key),
            None => not_found("Key"),
        }
    })
}

fn key_json(k: &data::Key) -> Value {
    json!({ "id": k.id, "name": k.name, "oauth2_token": format!("sandbox-key-token-{}", k.id),
            "disabled_on": k.disabled_on.map(|d| d.format(DATETIME).to_string()) })
}

fn partner_json(sb: &Sandbox) -> Value {
    let keys: Vec<Value> = sb
        .data()
        .seed
        .keys
        .iter()
        .filter(|k| !sb.key_hidden(k.id))
        .map(key_json)
        .collect();
    json!({ "id": PARTNER_ID, "slug": "example-hosting", "name": "Example Hosting",
            "partner_type": "reseller", "keys": keys })
}

/// Query pairs with PHP array rules: `plans[]=a`, `plans[0]=a` and `plans=a,b` all collect
/// under `plans`.
fn parse_query(q: &str) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (k, v) in url::form_urlencoded::parse(q.as_bytes()) {
        let name = k.split('[').next().unwrap_or(&k).to_owned();
        out.entry(name).or_default().push(v.into_owned());
    }
    out
}

fn invalid_param(name: &str, reason: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({ "code": "rest_invalid_param", "message": format!("Invalid parameter(s): {name}"),
                     "data": { "status": 400, "params": { name: reason } } })),
    )
        .into_response()
}

fn int_param(
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

fn date_param(
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
        Some(s) => lenient::parse_datetime(s)
            .map(Some)
            .ok_or_else(|| invalid_param(name, &format!("{name} is not a valid date."))),
    }
}

fn activations(sb: &Sandbox, key_id: u64, query: &BTreeMap<String, Vec<String>>) -> Response {
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
        .map(|s| products::resolve(s).unwrap_or(u64::MAX))
        .collect();
    let derived = sb.data();
    let matches = |a: &&Activation| {
        a.key_id == key_id
            && (plans.is_empty()
                || plans.contains(&a.product_id)
                || plans.contains(&a.current_product_id))
            && after.is_none_or(|t| a.activated_on > t)
            && before.is_none_or(|t| a.activated_on < t)
    };
    let total = derived.seed.activations.iter().filter(matches).count();
    let skip = usize::try_from((page - 1).saturating_mul(per_page)).unwrap_or(usize::MAX);
    let strings = sb.options().numeric_strings;
    let rows: Vec<Value> = derived
        .seed
        .activations
        .iter()
        .filter(matches)
        .skip(skip)
        .take(per_page as usize)
        .map(|a| activation_json(a, strings))
        .collect();
    Json(json!({ "total": total, "activations": rows })).into_response()
}

fn num(n: u64, strings: bool) -> Value {
    if strings {
        Value::String(n.to_string())
    } else {
        json!(n)
    }
}

fn activation_json(a: &Activation, strings: bool) -> Value {
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
        "site_name": a.site_name,
        "site_icon": null,
        "current_product_id": num(a.current_product_id, strings),
    })
}

fn summary(sb: &Sandbox, query: &BTreeMap<String, Vec<String>>) -> Response {
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
    Json(Value::Array(summary_points(
        &derived.seed,
        key,
        scale,
        truncated,
    )))
    .into_response()
}

/// Index of the period containing `d`, counted from `origin` (both period starts).
fn period_index(scale: &str, origin: chrono::NaiveDate, d: chrono::NaiveDate) -> i64 {
    match scale {
        "day" => (d - origin).num_days(),
        "year" => i64::from(d.year() - origin.year()),
        _ => {
            i64::from(d.year() - origin.year()) * 12 + i64::from(d.month())
                - i64::from(origin.month())
        }
    }
}

fn period_start(scale: &str, d: chrono::NaiveDate) -> chrono::NaiveDate {
    match scale {
        "day" => d,
        "year" => chrono::NaiveDate::from_ymd_opt(d.year(), 1, 1).unwrap_or(d),
        _ => data::month_start(d),
    }
}

fn nth_period(scale: &str, origin: chrono::NaiveDate, n: i64) -> chrono::NaiveDate {
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

fn stripe(sb: &Sandbox, key_id: u64, what: &str) -> Response {
    let derived = sb.data();
    match what {
        "invoices" => {
            let list = derived.invoices.get(&key_id).cloned().unwrap_or_default();
            match sb.options().invoices_style {
                InvoicesStyle::Array => Json(Value::Array(list)).into_response(),
                InvoicesStyle::List => Json(json!({ "object": "list", "data": list, "has_more": false, "url": "/v1/invoices" })).into_response(),
            }
        }
        "upcoming-invoice" => match derived.upcoming.get(&key_id) {
            Some(inv) => Json(inv.clone()).into_response(),
            None => v2_error(
                StatusCode::NOT_FOUND,
                "invoice_upcoming_none",
                "No upcoming invoices for customer.",
            ),
        },
        _ => {
            let start = data::midnight(data::month_start(derived.seed.anchor.date_naive()));
            let end = data::midnight(data::next_month(start.date_naive()));
            Json(json!({ "id": format!("sub_FakeKey{key_id}"), "object": "subscription", "status": "active",
                         "current_period_start": start.timestamp(), "current_period_end": end.timestamp(),
                         "items": { "object": "list", "data": [] } }))
            .into_response()
        }
    }
}

/// Builds 12 past monthly invoices and one upcoming preview for the production key, with line
/// quantities equal to the activations active at each period's end.
pub fn generate_invoices(
    seed: &SeedData,
    options: &SandboxOptions,
    public_url: &str,
) -> (BTreeMap<u64, Vec<Value>>, BTreeMap<u64, Value>) {
    let this_month = data::month_start(seed.anchor.date_naive());
    let mut past = Vec::new();
    for back in 1..=12u32 {
        let Some(start) = this_month.checked_sub_months(chrono::Months::new(back)) else {
            continue;
        };
        let number = 13 - back;
        let status = match back {
            1 => "open",
            6 => "void",
            _ => "paid",
        };
        let id = format!("in_1Fake{:04}K70", number);
        past.push(invoice_json(
            seed,
            options,
            public_url,
            Some(&id),
            number,
            start,
            status,
        ));
    }
    let upcoming = invoice_json(seed, options, public_url, None, 0, this_month, "draft");
    let invoices = BTreeMap::from([(KEY_PRODUCTION, past), (data::KEY_STAGING, Vec::new())]);
    (invoices, BTreeMap::from([(KEY_PRODUCTION, upcoming)]))
}

fn invoice_json(
    seed: &SeedData,
    options: &SandboxOptions,
    public_url: &str,
    id: Option<&str>,
    number: u32,
    start: chrono::NaiveDate,
    status: &str,
) -> Value {
    let period_start = data::midnight(start);
    let period_end = data::midnight(data::next_month(start));
    // Past invoices bill every site active at some moment of the period; the upcoming one
    // bills what is active today.
    let billed = |a: &&Activation| match id {
        None => a.active_at(seed.anchor),
        Some(_) => a.activated_on < period_end && a.cancelled_on.is_none_or(|c| c >= period_start),
    };
    let mut counts: BTreeMap<u64, i64> = BTreeMap::new();
    for a in seed
        .activations
        .iter()
        .filter(|a| a.key_id == KEY_PRODUCTION)
        .filter(billed)
    {
        if data::unit_price(a.current_product_id) > 0 {
            *counts.entry(a.current_product_id).or_default() += 1;
        }
    }
    // One invoice over-bills one product by a site, so reconciliation has something to find.
    if number == DISCREPANT_INVOICE
        && let Some(q) = counts.values_mut().next()
    {
        *q += 1;
    }
    let mut lines: Vec<Value> = counts
        .iter()
        .enumerate()
        .map(|(i, (product, qty))| {
            let unit = data::unit_price(*product);
            let name = products::by_id(*product).map_or("Jetpack", |p| p.name);
            let description = if options.hostile && i == 0 {
                "<script>alert('invoice')</script>".to_owned()
            } else {
                format!("{qty} × Jetpack {name} (at ${}.{:02} / month)", unit / 100, unit % 100)
            };
            json!({ "id": format!("sli_{number}_{product}"), "object": "line_item", "type": "subscription",
                    "description": description, "amount": unit * qty, "currency": "usd", "quantity": qty,
                    "period": { "start": period_start.timestamp(), "end": period_end.timestamp() },
                    "proration": false,
                    "plan": { "id": format!("jetpack-partner-{product}-monthly"), "nickname": format!("Jetpack {name}"),
                              "amount": unit, "currency": "usd", "interval": "month", "interval_count": 1,
                              "product": format!("prod_Fake{product}") } })
        })
        .collect();
    lines.push(
        json!({ "id": format!("ii_{number}_credit"), "object": "line_item", "type": "invoiceitem",
                       "description": "Credit", "amount": 0, "currency": "usd", "quantity": 1,
                       "period": { "start": period_end.timestamp(), "end": period_end.timestamp() },
                       "proration": false, "plan": null }),
    );
    let total: i64 = lines.iter().filter_map(|l| l["amount"].as_i64()).sum();
    let paid = status == "paid";
    let open = status == "open";
    let created = period_end.timestamp();
    let mut inv = json!({
        "object": "invoice", "number": id.map(|_| format!("EXHOST-{number:04}")), "status": status, "paid": paid,
        "currency": "usd", "amount_due": if status == "void" { 0 } else { total },
        "amount_paid": if paid { total } else { 0 }, "amount_remaining": if paid || status == "void" { 0 } else { total },
        "subtotal": total, "total": total, "tax": null, "created": created,
        "period_start": period_start.timestamp(), "period_end": period_end.timestamp(), "due_date": null,
        "next_payment_attempt": if open { json!(created + 3 * 86_400) } else if id.is_none() { json!(created) } else { Value::Null },
        "hosted_invoice_url": id.map(|i| format!("{public_url}/__sandbox/stripe/i/{i}")),
        "invoice_pdf": id.map(|i| format!("{public_url}/__sandbox/stripe/i/{i}/pdf")),
        "customer": "cus_FakeHost7", "subscription": "sub_FakeKey70", "collection_method": "charge_automatically",
        "attempted": paid || open, "attempt_count": if paid || open { 1 } else { 0 },
        "lines": { "object": "list", "has_more": false, "total_count": lines.len(),
                   "url": format!("/v1/invoices/{}/lines", id.unwrap_or("upcoming")), "data": lines },
    });
    if let (Some(id), Some(obj)) = (id, inv.as_object_mut()) {
        obj.insert("id".into(), json!(id));
    }
    if options.stripe_legacy
        && let Some(obj) = inv.as_object_mut()
    {
        for gone in [
            "status",
            "number",
            "hosted_invoice_url",
            "invoice_pdf",
            "collection_method",
        ] {
            obj.remove(gone);
        }
        if let Some(created) = obj.remove("created") {
            obj.insert("date".into(), created);
        }
        obj.insert("closed".into(), json!(paid || status == "void"));
        obj.insert("forgiven".into(), json!(false));
    }
    inv
}

/// A hosted invoice page (stand-in for Stripe's).
pub async fn hosted_invoice(Path(id): Path<String>) -> Html<String> {
    let safe: String = id
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(40)
        .collect();
    Html(format!(
        "<!doctype html><title>Invoice {safe}</title><h1>Sandbox invoice {safe}</h1><p>Stand-in for Stripe's hosted invoice page.</p>"
    ))
}

/// A tiny PDF (stand-in for Stripe's invoice PDF).
pub async fn invoice_pdf(Path(id): Path<String>) -> Response {
    let safe: String = id
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(40)
        .collect();
    let body = format!("%PDF-1.4\n% Sandbox invoice {safe}\n%%EOF\n");
    ([(header::CONTENT_TYPE, "application/pdf")], body).into_response()
}

/// `_envelope` (wpcom/v2), `http_envelope` (rest/v1.x), `_pretty` / `pretty` (`WPCOM_API.md` §3.3).
pub async fn envelopes(req: Request, next: Next) -> Response {
    let path = req.uri().path().to_owned();
    let query = parse_query(req.uri().query().unwrap_or(""));
    let truthy = |k: &str| {
        query
            .get(k)
            .and_then(|v| v.last())
            .is_some_and(|v| v == "1" || v == "true")
    };
    let v2 = path.starts_with("/wpcom/v2");
    let v1 = path.starts_with("/rest/v1");
    let envelope = (v2 && query.contains_key("_envelope")) || (v1 && truthy("http_envelope"));
    let pretty = query.contains_key("_pretty") || truthy("pretty");
    let response = next.run(req).await;
    if !(envelope || pretty) || !(v1 || v2) {
        return response;
    }
    let (parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 64 * 1024 * 1024).await else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let Ok(mut value) = serde_json::from_slice::<Value>(&bytes) else {
        return Response::from_parts(parts, Body::from(bytes));
    };
    let mut status = parts.status;
    if envelope {
        let code = status.as_u16();
        value = if v2 {
            json!({ "body": value, "status": code, "headers": { "Content-Type": "application/json" } })
        } else {
            json!({ "code": code, "headers": [{ "name": "Content-Type", "value": "application/json" }], "body": value })
        };
        status = StatusCode::OK;
    }
    let text = if pretty {
        serde_json::to_string_pretty(&value)
    } else {
        serde_json::to_string(&value)
    };
    let mut response = Response::from_parts(parts, Body::from(text.unwrap_or_default()));
    *response.status_mut() = status;
    response.headers_mut().remove(header::CONTENT_LENGTH);
    response
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone as _;

    use super::*;

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
