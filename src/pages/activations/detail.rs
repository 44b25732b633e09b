//! `GET /activations/{id}`: every field of one activation.

use askama::Template;
use axum::{
    extract::{Path, RawQuery, State},
    http::StatusCode,
    response::Response,
};

use crate::{
    auth::scope::KeyScope,
    error::AppError,
    index::query::Row,
    pages::index_ready::indexed,
    state::AppState,
    web::{Layout, fmt_datetime, query::Pairs, render, safe_href},
};

use super::View;

use super::row::{product_name, site_name, status_of, ts};
use crate::pages::index_ready::CopyNotice;

/// One field of the detail view.
#[derive(Debug, Clone)]
pub struct Field {
    /// Label.
    pub label: &'static str,
    /// Value (untrusted text is escaped by the template).
    pub value: String,
}

#[derive(Template)]
#[template(path = "activation.html")]
struct ActivationPage {
    layout: Layout,
    name: String,
    url: String,
    href: Option<String>,
    status: String,
    status_class: &'static str,
    fields: Vec<Field>,
    back: String,
    as_of: String,
    copy: Option<CopyNotice>,
}

/// `GET /activations/{id}`.
pub async fn activation_get(
    State(state): State<AppState>,
    scope: KeyScope,
    Path(id): Path<i64>,
    RawQuery(raw): RawQuery,
) -> Result<Response, AppError> {
    let key = &scope.key;
    let back = back_to_list(raw.as_deref(), key.id);
    let sync = match indexed(&state, &scope, "Activation", "activations", "/activations").await? {
        Ok(sync) => sync,
        Err(page) => return Ok(page),
    };
    let Some(r) = state.index.activation(key.id, sync.generation, id).await? else {
        return Err(AppError::not_found(
            "Activation not found",
            format!(
                "No activation with that id for the {} key. It may belong to another key.",
                key.name
            ),
        ));
    };
    let (status, status_class) = status_of(&r);
    let name = site_name(&r);
    let page = ActivationPage {
        layout: scope.layout(
            &state,
            &format!("{name} · Activation"),
            "activations",
            "/activations",
        ),
        name,
        href: safe_href(&r.site_url),
        url: r.site_url.clone(),
        status,
        status_class,
        fields: fields(&r),
        back,
        copy: CopyNotice::of(&sync),
        as_of: sync
            .synced_at
            .map_or_else(String::new, crate::web::fmt_as_of),
    };
    render(StatusCode::OK, &page)
}

/// The list this detail was opened from (`list=` holds its query), rebuilt from a parsed view
/// so that the link can only ever be an activations list of this key.
fn back_to_list(raw: Option<&str>, key: u64) -> String {
    Pairs::parse(raw)
        .get("list")
        .and_then(|list| View::parse(&Pairs::parse(Some(list))).ok())
        .map_or_else(
            || format!("/activations?key={key}"),
            |v| v.href("/activations", key, |x| x.page = v.page),
        )
}

/// Every field of the activation, in the order a support agent reads them.
fn fields(r: &Row) -> Vec<Field> {
    let dt = |t: Option<i64>| ts(t).map_or_else(|| "–".to_owned(), |d| fmt_datetime(&d));
    let opt = |v: Option<i64>| v.map_or_else(|| "–".to_owned(), |n| n.to_string());
    let field = |label, value| Field { label, value };
    let mut fields = vec![
        field("Product", product_name(r.product_id)),
        field(
            "Current product",
            product_name(r.current_product_id.or(r.product_id)),
        ),
        field("Activation id", r.id.to_string()),
        field("WordPress.com blog id", opt(r.blog_id)),
        field("Owner's WordPress.com user id", opt(r.user_id)),
        field(
            "External user id",
            r.external_user_id.clone().unwrap_or_else(|| "–".into()),
        ),
        field("Site registered", dt(r.site_registered)),
        field("Created", dt(r.created_on)),
        field("Activated", dt(r.activated_on)),
        field("Cancelled", dt(r.cancelled_on)),
        field("Disputed", dt(r.disputed_on)),
    ];
    if r.current_product_id == r.product_id || r.current_product_id.is_none() {
        fields.remove(1);
    }
    fields
}
