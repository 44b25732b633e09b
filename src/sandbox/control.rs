//! Test controls of the sandbox, all under `/__sandbox/` (`WPCOM_API.md` §9.1): inject failures,
//! add latency, revoke tokens, read per-route request counts, reset. Not part of WordPress.com.

use std::{collections::BTreeMap, time::Duration};

use axum::{
    Json, Router,
    extract::{Request, State},
    http::{HeaderValue, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Sandbox, lock};

/// Faults, latency, counts and recorded writes.
#[derive(Debug, Default)]
pub struct ControlState {
    faults: Vec<Fault>,
    latency: Vec<Latency>,
    counts: BTreeMap<String, u64>,
    writes: Vec<String>,
    /// Keys the partner listing leaves out and the key routes refuse (access removed).
    hidden_keys: Vec<u64>,
    /// Random failures, for load tests.
    chaos: Option<Chaos>,
}

/// Fail a share of the requests under `path_prefix` at random: 500, 503, 429 or a hang, in
/// equal parts (for the load-and-fault command).
#[derive(Debug, Clone, Deserialize)]
pub struct Chaos {
    /// Path prefix to match.
    pub path_prefix: String,
    /// Share of matching requests that fail, in percent (0 turns it off).
    pub percent: u8,
    /// How long a hang lasts before the answer, in milliseconds.
    #[serde(default = "hang_ms")]
    pub hang_ms: u64,
}

fn hang_ms() -> u64 {
    15_000
}

#[derive(Debug, Deserialize)]
struct HideKeys {
    hide: Vec<u64>,
}

/// Make the next `count` requests under `path_prefix` fail.
#[derive(Debug, Clone, Deserialize)]
pub struct Fault {
    /// Path prefix to match.
    pub path_prefix: String,
    /// Status to answer with.
    pub status: u16,
    /// How many requests to fail.
    #[serde(default = "one")]
    pub count: u64,
    /// `Retry-After` seconds to send.
    #[serde(default)]
    pub retry_after: Option<u64>,
    /// Let this many matching requests through before failing.
    #[serde(default)]
    pub skip: u64,
    /// Only requests whose query string contains this (`page=200&`: one page of a list).
    #[serde(default)]
    pub query_contains: Option<String>,
}

fn one() -> u64 {
    1
}

/// Delay requests under `path_prefix`.
#[derive(Debug, Clone, Deserialize)]
pub struct Latency {
    /// Path prefix to match.
    pub path_prefix: String,
    /// Only requests whose query string contains this (`per_page=1000`: a copy's pages, not
    /// a page a person asked for).
    #[serde(default)]
    pub query_contains: Option<String>,
    /// Delay in milliseconds (0 removes the rule).
    pub ms: u64,
}

#[derive(Debug, Deserialize)]
struct Revoke {
    token: Option<String>,
    user_id: Option<u64>,
    #[serde(default)]
    all: bool,
    /// The most recently issued token (for a load test that cannot see tokens).
    #[serde(default)]
    newest: bool,
}

pub(super) fn router() -> Router<Sandbox> {
    Router::new()
        .route("/__sandbox/faults", post(add_fault).delete(clear_faults))
        .route("/__sandbox/latency", post(set_latency))
        .route("/__sandbox/tokens/revoke", post(revoke))
        .route("/__sandbox/state", get(state))
        .route("/__sandbox/reset", post(reset))
        .route("/__sandbox/chaos", post(set_chaos))
        .route("/__sandbox/partner/keys", post(hide_keys))
        .route("/__sandbox/invoices", post(change_invoices))
        .route("/__sandbox/activations/cancel", post(cancel_activations))
}

/// What WordPress.com does over time to a key's invoices: issue a new one (open, for the
/// month after the newest), or change one's fields (`{"status": "open", "due_date": …}`).
#[derive(Debug, Deserialize)]
struct ChangeInvoices {
    key: u64,
    #[serde(default)]
    issue: bool,
    id: Option<String>,
    #[serde(default)]
    set: serde_json::Map<String, Value>,
}

async fn change_invoices(
    State(sb): State<Sandbox>,
    Json(c): Json<ChangeInvoices>,
) -> (StatusCode, Json<Value>) {
    let mut data = sb.data_mut();
    let Some(list) = data.invoices.get_mut(&c.key) else {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({ "error": "no such key" })),
        );
    };
    if c.issue {
        let Some(mut next) = list.first().cloned() else {
            return (
                StatusCode::CONFLICT,
                Json(json!({ "error": "the key has no invoice to follow" })),
            );
        };
        let n = list.len() + 1;
        let month = 31 * 86_400;
        let shift = |v: &Value| v.as_i64().map(|t| json!(t + month));
        let id = format!("in_1Fake{n:04}K{}", c.key);
        if let Some(obj) = next.as_object_mut() {
            for field in ["created", "period_start", "period_end"] {
                if let Some(v) = obj.get(field).and_then(shift) {
                    obj.insert(field.into(), v);
                }
            }
            obj.insert("id".into(), json!(id));
            obj.insert("number".into(), json!(format!("EXHOST-{n:04}")));
            obj.insert("status".into(), json!("open"));
            obj.insert("paid".into(), json!(false));
            obj.insert("amount_paid".into(), json!(0));
            // Just finalised: Stripe has not tried the card yet.
            obj.insert("attempted".into(), json!(false));
            obj.insert("attempt_count".into(), json!(0));
            obj.insert(
                "amount_remaining".into(),
                obj.get("total").cloned().unwrap_or(json!(0)),
            );
        }
        list.insert(0, next);
        return (StatusCode::OK, Json(json!({ "id": id })));
    }
    let Some(invoice) = list
        .iter_mut()
        .find(|i| i["id"].as_str() == c.id.as_deref())
        .and_then(Value::as_object_mut)
    else {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({ "error": "no such invoice" })),
        );
    };
    for (k, v) in c.set {
        invoice.insert(k, v);
    }
    (StatusCode::OK, Json(json!({ "id": c.id })))
}

/// Cancels `count` of the key's active activations now (a day of many cancellations).
#[derive(Debug, Deserialize)]
struct Cancel {
    key: u64,
    count: usize,
}

async fn cancel_activations(State(sb): State<Sandbox>, Json(c): Json<Cancel>) -> Json<Value> {
    let now = chrono::Utc::now();
    let mut data = sb.data_mut();
    let mut cancelled = 0;
    for a in data
        .seed
        .activations
        .iter_mut()
        .filter(|a| a.key_id == c.key && a.cancelled_on.is_none() && a.activated_on < now)
        .take(c.count)
    {
        a.cancelled_on = Some(now);
        cancelled += 1;
    }
    Json(json!({ "cancelled": cancelled }))
}

async fn add_fault(State(sb): State<Sandbox>, Json(fault): Json<Fault>) -> StatusCode {
    lock(&sb.inner.control).faults.push(fault);
    StatusCode::NO_CONTENT
}

/// `DELETE /__sandbox/faults`: every injected fault goes (latency and chaos stay).
async fn clear_faults(State(sb): State<Sandbox>) -> StatusCode {
    lock(&sb.inner.control).faults.clear();
    StatusCode::NO_CONTENT
}

async fn set_latency(State(sb): State<Sandbox>, Json(rule): Json<Latency>) -> StatusCode {
    let mut control = lock(&sb.inner.control);
    control
        .latency
        .retain(|l| l.path_prefix != rule.path_prefix || l.query_contains != rule.query_contains);
    if rule.ms > 0 {
        control.latency.push(rule);
    }
    StatusCode::NO_CONTENT
}

async fn revoke(State(sb): State<Sandbox>, Json(r): Json<Revoke>) -> Json<Value> {
    let mut tokens = lock(&sb.inner.tokens);
    let newest = r
        .newest
        .then(|| {
            tokens
                .iter()
                .max_by_key(|(_, info)| info.issued)
                .map(|(t, _)| t.clone())
        })
        .flatten();
    let mut revoked = 0;
    for (token, info) in tokens.iter_mut() {
        let hit = r.all
            || r.token.as_deref() == Some(token.as_str())
            || newest.as_deref() == Some(token.as_str())
            || r.user_id == Some(info.user_id);
        if hit && !info.revoked {
            info.revoked = true;
            revoked += 1;
        }
    }
    Json(json!({ "revoked": revoked }))
}

async fn state(State(sb): State<Sandbox>) -> Json<Value> {
    let control = lock(&sb.inner.control);
    let tokens = lock(&sb.inner.tokens);
    Json(json!({
        "counts": control.counts,
        "writes": control.writes,
        "pending_faults": control.faults.iter().map(|f| f.count).sum::<u64>(),
        "tokens_issued": tokens.len(),
        "tokens_revoked": tokens.values().filter(|t| t.revoked).count(),
        "codes_outstanding": lock(&sb.inner.codes).len(),
    }))
}

/// Whether this request fails by chance, and how: 500, 503, 429 (with `Retry-After`) or a
/// hang of `hang_ms`, in equal parts.
fn chaos_fault(chaos: &Chaos) -> Option<(Fault, u64)> {
    use rand::Rng as _;
    let mut rng = rand::rng();
    if rng.random_range(0..100u8) >= chaos.percent {
        return None;
    }
    let (status, hang) = match rng.random_range(0..4u8) {
        0 => (500, 0),
        1 => (503, 0),
        2 => (429, 0),
        _ => (503, chaos.hang_ms),
    };
    let fault = Fault {
        path_prefix: chaos.path_prefix.clone(),
        status,
        count: 1,
        retry_after: (status == 429).then_some(1),
        skip: 0,
        query_contains: None,
    };
    Some((fault, hang))
}

async fn set_chaos(State(sb): State<Sandbox>, Json(c): Json<Chaos>) -> StatusCode {
    lock(&sb.inner.control).chaos = (c.percent > 0).then_some(c);
    StatusCode::NO_CONTENT
}

async fn hide_keys(State(sb): State<Sandbox>, Json(h): Json<HideKeys>) -> StatusCode {
    lock(&sb.inner.control).hidden_keys = h.hide;
    StatusCode::NO_CONTENT
}

impl Sandbox {
    /// Whether access to `key` was removed through the control API.
    pub(super) fn key_hidden(&self, key: u64) -> bool {
        lock(&self.inner.control).hidden_keys.contains(&key)
    }
}

async fn reset(State(sb): State<Sandbox>) -> StatusCode {
    sb.reset();
    StatusCode::NO_CONTENT
}

impl Sandbox {
    /// Records a write (disable, enable, delete, admin POST) so tests can assert none happened.
    pub(super) fn record_write(&self, what: String) {
        lock(&self.inner.control).writes.push(what);
    }
}

impl ControlState {
    /// Counts a request: by route, list pages also by their size (a test tells the portal's
    /// copy, pages of 1,000, from a page a person asked for, 20) and by page (which pages a
    /// copy fetched twice).
    fn count(&mut self, method: &str, path: &str, query: &str) {
        *self.counts.entry(format!("{method} {path}")).or_default() += 1;
        let Some(size) = query.split('&').find_map(|p| p.strip_prefix("per_page=")) else {
            return;
        };
        *self
            .counts
            .entry(format!("{method} {path}?per_page={size}"))
            .or_default() += 1;
        if let Some(page) = query.split('&').find_map(|p| p.strip_prefix("page=")) {
            *self
                .counts
                .entry(format!("{method} {path}?page={page}&per_page={size}"))
                .or_default() += 1;
        }
    }

    /// What happens to a request: its delay, the fault it gets (an injected one first, else
    /// maybe the chaos switch's), and how long a hang holds it.
    fn decide(&mut self, path: &str, query: &str) -> (u64, Option<Fault>, u64) {
        let delay: u64 = self
            .latency
            .iter()
            .filter(|l| {
                path.starts_with(&l.path_prefix)
                    && l.query_contains
                        .as_deref()
                        .is_none_or(|q| query.contains(q))
            })
            .map(|l| l.ms)
            .max()
            .unwrap_or(0);
        let fault = self
            .faults
            .iter_mut()
            .find(|f| {
                f.count > 0
                    && path.starts_with(&f.path_prefix)
                    && f.query_contains
                        .as_deref()
                        .is_none_or(|q| query.contains(q))
            })
            .and_then(|f| {
                if f.skip > 0 {
                    f.skip -= 1;
                    return None;
                }
                f.count -= 1;
                Some(f.clone())
            });
        self.faults.retain(|f| f.count > 0);
        let chaos = if fault.is_some() {
            None
        } else {
            self.chaos
                .as_ref()
                .filter(|c| path.starts_with(&c.path_prefix))
                .and_then(chaos_fault)
        };
        let hang = chaos.as_ref().map_or(0, |(_, hang)| *hang);
        (delay, fault.or(chaos.map(|(f, _)| f)), hang)
    }
}

/// An injected fault's answer, in the error shape of the path's namespace.
fn fault_response(path: &str, fault: &Fault) -> Response {
    let status = StatusCode::from_u16(fault.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let (code, message) = if status == StatusCode::TOO_MANY_REQUESTS {
        ("rate_limited", "Too many requests. Slow down.")
    } else {
        (
            "internal_server_error",
            "Something went wrong. Please try again later.",
        )
    };
    let mut response = (
        status,
        Json(super::wpcom::error_body(path, code, message, status)),
    )
        .into_response();
    let retry_after = fault
        .retry_after
        .or((status == StatusCode::TOO_MANY_REQUESTS).then_some(1));
    if let Some(secs) = retry_after
        && let Ok(v) = HeaderValue::from_str(&secs.to_string())
    {
        response.headers_mut().insert(header::RETRY_AFTER, v);
    }
    response
}

/// Counts every request, applies latency rules, and answers injected faults in the error shape
/// of the path's namespace.
pub(super) async fn faults_and_counts(
    State(sb): State<Sandbox>,
    req: Request,
    next: Next,
) -> Response {
    let path = req.uri().path().to_owned();
    let query = req.uri().query().unwrap_or("").to_owned();
    if path.starts_with("/__sandbox/") {
        return next.run(req).await;
    }
    let (delay, fault, hang) = {
        let mut control = lock(&sb.inner.control);
        control.count(req.method().as_str(), &path, &query);
        control.decide(&path, &query)
    };
    // A hang: the answer comes, but only after the client has long given up.
    if hang > 0 {
        tokio::time::sleep(Duration::from_millis(hang)).await;
    }
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    let Some(fault) = fault else {
        return next.run(req).await;
    };
    fault_response(&path, &fault)
}
