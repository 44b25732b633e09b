//! The keys, and the activations and counts from the portal's copy: the same filters as the
//! Activations page and the overview, with cursor paging instead of page numbers.

use axum::{
    Json, Router,
    extract::{Path, RawQuery, State},
    response::{IntoResponse as _, Response},
    routing::get,
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{
    CopyState, copy_of, key_scope,
    paging::{ActivationsPage, decode_cursor, json_error},
    utc,
};
use crate::{
    auth::session::ApiAuthed,
    error::AppError,
    index::query::{Filter, Row},
    pages::activations::View,
    products,
    rendered::Part,
    state::AppState,
    web::query::Pairs,
};

/// The routes.
pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/keys", get(keys))
        .route("/api/v1/keys/{key}/activations", get(activations))
        .route("/api/v1/keys/{key}/activations/{id}", get(activation))
        .route("/api/v1/keys/{key}/counts", get(super::counts::counts))
}

/// The partner.
#[derive(Debug, Serialize, ToSchema)]
pub struct PartnerRef {
    /// WordPress.com's partner id.
    pub id: u64,
    /// Its name.
    pub name: String,
}

/// A partner key.
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyRef {
    /// Key id (the `{key}` of the other routes).
    pub id: u64,
    /// Its name.
    pub name: String,
    /// When WordPress.com disabled it, if it did.
    pub disabled_at: Option<DateTime<Utc>>,
    /// Its activations in this API.
    pub activations: String,
}

/// The keys this login may see.
#[derive(Debug, Serialize, ToSchema)]
pub struct KeysAnswer {
    /// The partner, as WordPress.com last listed it.
    pub partner: PartnerRef,
    /// The caller's role: `admin`, `finance` or `support`.
    pub role: String,
    /// The token's scopes (every scope of the role for a browser session).
    pub scopes: Vec<String>,
    /// The partner's keys.
    pub keys: Vec<KeyRef>,
}

/// `GET /api/v1/keys`: the keys this login may see.
#[utoipa::path(
    get,
    path = "/api/v1/keys",
    operation_id = "list_keys",
    tag = "copy",
    responses(
        (status = 200, description = "The partner and its keys", body = KeysAnswer),
        (status = 401, description = "No token, or a token that is not accepted", body = super::ApiError),
        (status = 403, description = "This login is not a partner's", body = super::ApiError),
        (status = 429, description = "Too many requests with this token", body = super::ApiError),
        (status = 503, description = "The team connection is broken or missing", body = super::ApiError),
    ),
    security(("token" = []), ("session" = []))
)]
pub async fn keys(
    State(state): State<AppState>,
    ApiAuthed(authed): ApiAuthed,
) -> Result<Json<KeysAnswer>, AppError> {
    let access = authed.access()?;
    if access.paused {
        return Err(AppError::Paused {
            owner: access.connection_owner.clone().unwrap_or_default(),
        });
    }
    let base = state.config.base_path();
    let scopes = match &authed.grant {
        Some(g) => g.scopes.iter().map(|s| s.as_str().to_owned()).collect(),
        None => crate::tokens::Scope::ALL
            .into_iter()
            .filter(|s| s.allowed_for(access.role))
            .map(|s| s.as_str().to_owned())
            .collect(),
    };
    Ok(Json(KeysAnswer {
        partner: PartnerRef {
            id: access.partner.id,
            name: access.partner.name.clone(),
        },
        role: access.role.as_str().to_owned(),
        scopes,
        keys: access
            .partner
            .keys
            .iter()
            .map(|k| KeyRef {
                id: k.id,
                name: k.name.clone(),
                disabled_at: k.disabled_on,
                activations: format!("{base}/api/v1/keys/{}/activations", k.id),
            })
            .collect(),
    }))
}

/// Whether an activation is cancelled.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ActivationStatus {
    /// Not cancelled.
    Active,
    /// Cancelled.
    Cancelled,
}

/// One activation, as the copy holds it. Site names and URLs are WordPress.com's text, not
/// checked by the portal.
#[derive(Debug, Serialize, ToSchema)]
pub struct Activation {
    /// Activation id.
    pub id: i64,
    /// `active` or `cancelled`.
    pub status: ActivationStatus,
    /// The site's URL.
    pub site_url: String,
    /// The site's name.
    pub site_name: String,
    /// WordPress.com blog id.
    pub blog_id: Option<i64>,
    /// The site owner's WordPress.com user id.
    pub user_id: Option<i64>,
    /// The host's own id for the user.
    pub external_user_id: Option<String>,
    /// The product provisioned.
    pub product_id: Option<i64>,
    /// Its name.
    pub product: Option<String>,
    /// The product now (after upgrades).
    pub current_product_id: Option<i64>,
    /// Its name.
    pub current_product: Option<String>,
    /// Created.
    #[serde(serialize_with = "super::utc_text")]
    pub created_at: Option<DateTime<Utc>>,
    /// Activated.
    #[serde(serialize_with = "super::utc_text")]
    pub activated_at: Option<DateTime<Utc>>,
    /// Cancelled.
    #[serde(serialize_with = "super::utc_text")]
    pub cancelled_at: Option<DateTime<Utc>>,
    /// Disputed.
    #[serde(serialize_with = "super::utc_text")]
    pub disputed_at: Option<DateTime<Utc>>,
    /// When the site registered.
    #[serde(serialize_with = "super::utc_text")]
    pub site_registered_at: Option<DateTime<Utc>>,
    /// The activation's page in the portal.
    pub page: String,
}

pub(super) fn product_name(id: Option<i64>) -> Option<String> {
    id.and_then(|i| u64::try_from(i).ok())
        .map(products::display_name)
}

impl Activation {
    pub(super) fn new(r: &Row, key: u64, base: &str) -> Self {
        Self {
            id: r.id,
            status: if r.cancelled_on.is_some() {
                ActivationStatus::Cancelled
            } else {
                ActivationStatus::Active
            },
            site_url: r.site_url.clone(),
            site_name: r.site_name.clone(),
            blog_id: r.blog_id,
            user_id: r.user_id,
            external_user_id: r.external_user_id.clone(),
            product_id: r.product_id,
            product: product_name(r.product_id),
            current_product_id: r.current_product_id,
            current_product: product_name(r.current_product_id),
            created_at: utc(r.created_on),
            activated_at: utc(r.activated_on),
            cancelled_at: utc(r.cancelled_on),
            disputed_at: utc(r.disputed_on),
            site_registered_at: utc(r.site_registered),
            page: format!("{base}/activations/{}?key={key}", r.id),
        }
    }
}

/// One page of activations.
#[derive(Debug, Serialize, ToSchema)]
pub struct ActivationsAnswer {
    /// How fresh the copy is.
    pub copy: CopyState,
    /// The key.
    pub key: u64,
    /// Activations matching the filters, in the copy this page was read from.
    pub total: i64,
    /// This page's activations, in the asked order.
    pub activations: Vec<Activation>,
    /// The next page (the same query with a cursor), or `null` after the last.
    pub next: Option<String>,
}

/// One activation.
#[derive(Debug, Serialize, ToSchema)]
pub struct ActivationAnswer {
    /// How fresh the copy is.
    pub copy: CopyState,
    /// The activation.
    pub activation: Activation,
}

/// The order of a list.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SortParam {
    /// Site name.
    Site,
    /// Product name.
    Product,
    /// Activation date (the default).
    Activated,
    /// Creation date.
    Created,
    /// Cancellation date.
    Cancelled,
}

/// A status filter.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum StatusParam {
    /// Every activation (the default).
    All,
    /// Not cancelled.
    Active,
    /// Cancelled.
    Cancelled,
}

/// A sort direction.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DirParam {
    /// Ascending (the default for site and product).
    Asc,
    /// Descending (the default for dates).
    Desc,
}

/// A date preset, as the Activations page offers them.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PresetParam {
    /// This month so far.
    ThisMonth,
    /// Last month.
    LastMonth,
    /// The last 30 days.
    #[serde(rename = "last_30_days")]
    Last30Days,
    /// This year so far.
    ThisYear,
}

/// The filters of the Activations page. Dates are inclusive UTC days; a date range the wrong
/// way round is refused.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(
    dead_code,
    reason = "documents the query; the handlers read it with the pages' View"
)]
pub(super) struct FilterParams {
    /// Part of the site name or URL, any case.
    q: Option<String>,
    /// `all`, `active` or `cancelled`.
    status: Option<StatusParam>,
    /// Product ids (provisioned or current); repeat for more than one. Product slugs and
    /// provisioning names (`jetpack-security-daily`) work too.
    #[param(value_type = Option<Vec<u64>>, style = Form, explode)]
    plan: Option<Vec<u64>>,
    /// A date preset (dates, when given, win).
    preset: Option<PresetParam>,
    /// Activated on or after this day.
    #[param(value_type = Option<String>, format = Date)]
    from: Option<String>,
    /// Activated on or before this day.
    #[param(value_type = Option<String>, format = Date)]
    to: Option<String>,
    /// Cancelled on or after this day.
    #[param(value_type = Option<String>, format = Date)]
    cancelled_from: Option<String>,
    /// Cancelled on or before this day.
    #[param(value_type = Option<String>, format = Date)]
    cancelled_to: Option<String>,
}

/// The list's order and paging.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(
    dead_code,
    reason = "documents the query; the handler reads it with the pages' View"
)]
pub struct ListParams {
    /// The column to sort by.
    sort: Option<SortParam>,
    /// The direction.
    dir: Option<DirParam>,
    /// Activations per page (1 to 1000; 100 by default).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
    /// The `next` link's cursor; the other parameters must be the same as on the first page.
    cursor: Option<String>,
}

/// Rows per page by default, and at most.
const LIMIT: (u32, u32) = (100, 1000);

/// The pages' view of `q` (strictly: the first thing that cannot be read is a 400), and the
/// filter it makes today.
pub(super) fn read_filter(q: &Pairs, today: chrono::NaiveDate) -> Result<Filter, AppError> {
    super::no_empty(
        q,
        &[
            "status",
            "plan",
            "preset",
            "from",
            "to",
            "cancelled_from",
            "cancelled_to",
            "sort",
            "dir",
            "limit",
            "period",
        ],
    )?;
    super::once(
        q,
        &[
            "key",
            "q",
            "status",
            "preset",
            "from",
            "to",
            "cancelled_from",
            "cancelled_to",
            "sort",
            "dir",
            "limit",
            "cursor",
            "period",
        ],
    )?;
    let view = View::parse(q)?;
    Ok(view.filter(today))
}

/// `GET /api/v1/keys/{key}/activations`: a page of the key's activations from the copy.
#[utoipa::path(
    get,
    path = "/api/v1/keys/{key}/activations",
    operation_id = "list_activations",
    tag = "copy",
    params(("key" = u64, Path, description = "A key of the partner (`GET /api/v1/keys`)", example = 70), FilterParams, ListParams),
    responses(
        (status = 200, description = "A page of activations, with the copy's freshness and the next page's link", body = ActivationsAnswer),
        (status = 400, description = "A parameter cannot be read, or the cursor belongs to another query", body = super::ApiError),
        (status = 401, description = "No token, or a token that is not accepted", body = super::ApiError),
        (status = 403, description = "This login is not a partner's", body = super::ApiError),
        (status = 404, description = "The partner has no such key", body = super::ApiError),
        (status = 414, description = "The address is longer than the portal takes", body = super::ApiError),
        (status = 429, description = "Too many requests with this token", body = super::ApiError),
        (status = 503, description = "The copy is being made, or the team connection is broken", body = super::ApiError),
    ),
    security(("token" = []), ("session" = []))
)]
pub async fn activations(
    State(state): State<AppState>,
    authed: ApiAuthed,
    Path(key): Path<u64>,
    RawQuery(raw): RawQuery,
) -> Result<Response, AppError> {
    let q = Pairs::parse(raw.as_deref());
    let today = Utc::now().date_naive();
    let filter = read_filter(&q, today)?;
    let limit = match q.get("limit") {
        None => LIMIT.0,
        Some(t) => t
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=LIMIT.1).contains(n))
            .ok_or_else(|| {
                AppError::BadRequest(format!("limit must be a number from 1 to {}.", LIMIT.1))
            })?,
    };
    let after = q
        .get("cursor")
        .map(|c| decode_cursor(c, &filter))
        .transpose()?;
    let scope = key_scope(authed, key)?;
    let sync = copy_of(&state, &scope).await?;
    // Everything after the copy's state depends only on the copy, the day and the address:
    // written once per copy generation, day and address, then kept (as the list page's part).
    let name = format!(
        "api-activations:{key}:{}:{today}:{}",
        sync.generation,
        raw.as_deref().unwrap_or("")
    );
    let page = state
        .rendered
        .get_or_render(name, async {
            let (facets, rows) = tokio::join!(
                state.index.facets(key, sync.generation, &filter),
                // One more than asked says whether there is a next page.
                state
                    .index
                    .keyed_page(key, sync.generation, &filter, after.as_ref(), limit + 1),
            );
            let page = ActivationsPage::new(&state, key, &q, &filter, facets?, rows?, limit);
            Ok::<_, AppError>(Part::of_json(
                serde_json::to_string(&page).map_err(json_error)?,
            ))
        })
        .await?;
    let copy = serde_json::to_string(&CopyState::of(&sync)).map_err(json_error)?;
    // The answer is an `ActivationsAnswer`: the copy's state and the key, then the kept page's
    // fields, in the order the struct declares them.
    let fields = page.html.strip_prefix('{').unwrap_or(&page.html);
    let body = format!("{{\"copy\":{copy},\"key\":{key},{fields}");
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            axum::http::HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response())
}

/// `GET /api/v1/keys/{key}/activations/{id}`: one activation from the copy.
#[utoipa::path(
    get,
    path = "/api/v1/keys/{key}/activations/{id}",
    operation_id = "get_activation",
    tag = "copy",
    params(
        ("key" = u64, Path, description = "A key of the partner", example = 70),
        ("id" = i64, Path, description = "The activation's id", example = 100001),
    ),
    responses(
        (status = 200, description = "The activation", body = ActivationAnswer),
        (status = 400, description = "The id is not a number", body = super::ApiError),
        (status = 401, description = "No token, or a token that is not accepted", body = super::ApiError),
        (status = 403, description = "This login is not a partner's", body = super::ApiError),
        (status = 404, description = "No such key, or no such activation in the copy", body = super::ApiError),
        (status = 429, description = "Too many requests with this token", body = super::ApiError),
        (status = 503, description = "The copy is being made, or the team connection is broken", body = super::ApiError),
    ),
    security(("token" = []), ("session" = []))
)]
pub async fn activation(
    State(state): State<AppState>,
    authed: ApiAuthed,
    Path((key, id)): Path<(u64, i64)>,
) -> Result<Json<ActivationAnswer>, AppError> {
    let scope = key_scope(authed, key)?;
    let sync = copy_of(&state, &scope).await?;
    let row = state
        .index
        .activation(key, sync.generation, id)
        .await?
        .ok_or_else(|| {
            AppError::not_found(
                "Activation not found",
                "The copy of this key has no activation with that id.",
            )
        })?;
    Ok(Json(ActivationAnswer {
        copy: CopyState::of(&sync),
        activation: Activation::new(&row, key, state.config.base_path()),
    }))
}
