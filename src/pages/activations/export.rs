//! `GET /activations.csv`: every row of the current view, streamed.

use axum::{
    extract::{RawQuery, State},
    response::Response,
};
use chrono::Utc;

use crate::{
    auth::scope::KeyScope, error::AppError, export, index::query::Row, products, state::AppState,
};

use super::{list::list_prelude, row::ts};

/// Columns of the activations export.
pub const CSV_COLUMNS: &[&str] = &[
    "activation_id",
    "site_name",
    "site_url",
    "product_id",
    "product",
    "current_product_id",
    "current_product",
    "status",
    "activated_on",
    "created_on",
    "cancelled_on",
    "disputed_on",
    "site_registered",
    "wpcom_blog_id",
    "wpcom_user_id",
    "external_user_id",
];

fn csv_row(r: Row) -> Vec<u8> {
    let iso = |t: Option<i64>| {
        ts(t)
            .map(|d| d.format("%Y-%m-%d %H:%M:%S").to_string())
            .unwrap_or_default()
    };
    let num = |n: Option<i64>| n.map(|n| n.to_string()).unwrap_or_default();
    let status = if r.disputed_on.is_some() {
        "disputed"
    } else if r.cancelled_on.is_some() {
        "cancelled"
    } else {
        "active"
    };
    export::record(&[
        r.id.to_string(),
        r.site_name,
        r.site_url,
        num(r.product_id),
        r.product_id
            .map(|p| products::display_name(p as u64))
            .unwrap_or_default(),
        num(r.current_product_id),
        r.current_product_id
            .map(|p| products::display_name(p as u64))
            .unwrap_or_default(),
        status.to_owned(),
        iso(r.activated_on),
        iso(r.created_on),
        iso(r.cancelled_on),
        iso(r.disputed_on),
        iso(r.site_registered),
        num(r.blog_id),
        num(r.user_id),
        r.external_user_id.unwrap_or_default(),
    ])
}

/// `GET /activations.csv`: every row of the current view, streamed.
pub async fn activations_csv(
    State(state): State<AppState>,
    scope: KeyScope,
    RawQuery(raw): RawQuery,
) -> Result<Response, AppError> {
    let (view, sync) = match list_prelude(&state, &scope, raw.as_deref()).await? {
        Ok(ready) => ready,
        Err(page) => return Ok(page),
    };
    let session = scope
        .authed
        .session
        .id()
        .map(|id| id.to_string())
        .unwrap_or_default();
    let permit = state
        .exports
        .try_start(&session)
        .map_err(AppError::ExportsBusy)?;
    let rows = state.index.stream(
        scope.key.id,
        sync.generation,
        &view.filter(Utc::now().date_naive()),
    );
    let body = export::spool(
        &state.config.spool_dir,
        export::header_record(CSV_COLUMNS),
        rows,
        csv_row,
        permit,
    )
    .await
    .map_err(|e| match e {
        export::SpoolError::Query(e) => AppError::from(e),
        export::SpoolError::File(e) => AppError::Internal(format!("export spool: {e}")),
    })?;
    // The view as the portal re-wrote it from the filters it read, never the raw query.
    let described: Vec<String> = view
        .pairs(scope.key.id, |_| {})
        .into_iter()
        .filter(|(k, _)| *k != "key")
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let described = if described.is_empty() {
        "all activations".to_owned()
    } else {
        described.join(" ")
    };
    scope
        .audit(
            &state,
            "csv_download",
            &format!("activations.csv, {described}"),
        )
        .await;
    Ok(export::response(
        &export::filename(&scope.partner.name, scope.key.id, "activations"),
        body,
    ))
}
