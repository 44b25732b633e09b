//! The overview's figures and the list's counts from the copy: the tabs and products under the
//! Activations page's filters, and the overview's period against the span before it.

use axum::{
    Json,
    extract::{Path, RawQuery, State},
};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::copy::{FilterParams, product_name, read_filter};
use super::{CopyState, copy_of, key_scope};
use crate::{
    auth::session::ApiAuthed, error::AppError, index::Change, pages::overview::periods::periods,
    state::AppState, web::query::Pairs,
};

/// Activations per status under the filters.
#[derive(Debug, Serialize, ToSchema)]
pub struct StatusCountsOut {
    /// Every matching activation.
    pub all: i64,
    /// Not cancelled.
    pub active: i64,
    /// Cancelled.
    pub cancelled: i64,
}

/// Matching activations of one current product.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProductCount {
    /// Product id (the current product).
    pub product_id: i64,
    /// Its name.
    pub product: Option<String>,
    /// Every matching activation.
    pub all: i64,
    /// Not cancelled.
    pub active: i64,
    /// Cancelled.
    pub cancelled: i64,
}

/// What changed over some days.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChangeOut {
    /// Activated in the days.
    pub new: i64,
    /// Cancelled in the days.
    pub cancelled: i64,
    /// New less cancelled.
    pub net: i64,
    /// Active at the start of the first day.
    pub active_start: i64,
    /// Active at the end of the last day.
    pub active_end: i64,
}

impl From<Change> for ChangeOut {
    fn from(c: Change) -> Self {
        Self {
            new: c.new,
            cancelled: c.cancelled,
            net: c.net(),
            active_start: c.active_start,
            active_end: c.active_end,
        }
    }
}

/// One product's change over the period and the span it is compared with.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProductChange {
    /// Product id (the current product).
    pub product_id: i64,
    /// Its name.
    pub product: Option<String>,
    /// Over the period.
    pub current: ChangeOut,
    /// Over the span it is compared with.
    pub previous: ChangeOut,
}

/// The overview's period, compared like with like.
#[derive(Debug, Serialize, ToSchema)]
pub struct PeriodOut {
    /// `month`, `30d` or `year`.
    pub name: String,
    /// Its first day.
    pub from: chrono::NaiveDate,
    /// Its last day (today).
    pub to: chrono::NaiveDate,
    /// The first day of the span it is compared with.
    pub previous_from: chrono::NaiveDate,
    /// That span's last day.
    pub previous_to: chrono::NaiveDate,
    /// Over the period (the `plan` filter's products only, when given).
    pub current: ChangeOut,
    /// Over the span it is compared with.
    pub previous: ChangeOut,
    /// Per current product.
    pub by_product: Vec<ProductChange>,
}

/// The overview's figures and the list's counts.
#[derive(Debug, Serialize, ToSchema)]
pub struct CountsAnswer {
    /// How fresh the copy is.
    pub copy: CopyState,
    /// The key.
    pub key: u64,
    /// Matching activations per status (the list's tabs).
    pub statuses: StatusCountsOut,
    /// Matching activations per current product, most first.
    pub products: Vec<ProductCount>,
    /// The overview's period.
    pub period: PeriodOut,
}

/// The overview's period choice.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(
    dead_code,
    reason = "documents the query; the handler reads it by hand"
)]
pub struct PeriodParams {
    /// The overview's period: this month so far (the default), the last 30 days, or this
    /// year so far, each against the span before it.
    period: Option<PeriodParam>,
}

/// A period of the overview.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
pub enum PeriodParam {
    /// This month so far.
    #[serde(rename = "month")]
    Month,
    /// The last 30 days.
    #[serde(rename = "30d")]
    Days30,
    /// This year so far.
    #[serde(rename = "year")]
    Year,
}

/// `GET /api/v1/keys/{key}/counts`: the list's tabs and products under the filters, and the
/// overview's period figures.
#[utoipa::path(
    get,
    path = "/api/v1/keys/{key}/counts",
    operation_id = "get_counts",
    tag = "copy",
    params(("key" = u64, Path, description = "A key of the partner", example = 70), FilterParams, PeriodParams),
    responses(
        (status = 200, description = "Counts from the copy", body = CountsAnswer),
        (status = 400, description = "A parameter cannot be read", body = super::ApiError),
        (status = 401, description = "No token, or a token that is not accepted", body = super::ApiError),
        (status = 403, description = "This login is not a partner's", body = super::ApiError),
        (status = 404, description = "The partner has no such key", body = super::ApiError),
        (status = 414, description = "The address is longer than the portal takes", body = super::ApiError),
        (status = 429, description = "Too many requests with this token", body = super::ApiError),
        (status = 503, description = "The copy is being made, or the team connection is broken", body = super::ApiError),
    ),
    security(("token" = []), ("session" = []))
)]
pub async fn counts(
    State(state): State<AppState>,
    authed: ApiAuthed,
    Path(key): Path<u64>,
    RawQuery(raw): RawQuery,
) -> Result<Json<CountsAnswer>, AppError> {
    let q = Pairs::parse(raw.as_deref());
    let today = Utc::now().date_naive();
    let filter = read_filter(&q, today)?;
    let period = q.get("period").unwrap_or("month");
    let spans = periods(period, today)
        .ok_or_else(|| AppError::BadRequest("period must be month, 30d or year.".into()))?;
    let scope = key_scope(authed, key)?;
    let sync = copy_of(&state, &scope).await?;
    let (current, previous) = spans.days();
    let both = [current, previous];
    let (facets, changes) = tokio::join!(
        state.index.facets(key, sync.generation, &filter),
        state.index.changes(key, sync.generation, &both),
    );
    let (facets, changes) = (facets?, changes?);
    let only = (!filter.plans.is_empty()).then_some(filter.plans.as_slice());
    let sum = changes.sum(only, 2);
    let [now, before] = [sum[0], sum[1]];
    let last = |d: chrono::NaiveDate| d.pred_opt().unwrap_or(d);
    let mut products: Vec<ProductCount> = facets
        .products
        .iter()
        .map(|(p, all, active)| ProductCount {
            product_id: *p,
            product: product_name(Some(*p)),
            all: *all,
            active: *active,
            cancelled: all - active,
        })
        .collect();
    products.sort_by(|a, b| b.all.cmp(&a.all).then(a.product_id.cmp(&b.product_id)));
    Ok(Json(CountsAnswer {
        copy: CopyState::of(&sync),
        key,
        statuses: StatusCountsOut {
            all: facets.counts.all,
            active: facets.counts.active,
            cancelled: facets.counts.cancelled,
        },
        products,
        period: PeriodOut {
            name: period.to_owned(),
            from: current.0,
            to: last(current.1),
            previous_from: previous.0,
            previous_to: last(previous.1),
            current: now.into(),
            previous: before.into(),
            by_product: changes
                .products
                .iter()
                .filter(|(p, _)| only.is_none_or(|o| o.contains(p)))
                .filter_map(|(p, c)| {
                    let (a, b) = (c.first()?, c.get(1)?);
                    Some(ProductChange {
                        product_id: *p,
                        product: product_name(Some(*p)),
                        current: (*a).into(),
                        previous: (*b).into(),
                    })
                })
                .collect(),
        },
    }))
}
