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
    // The list this detail was opened from (`list=` holds its query), rebuilt from a parsed view
    // so that the link can only ever be an activations list of this key.
    let back = Pairs::parse(raw.as_deref())
        .get("list")
        .and_then(|list| View::parse(&Pairs::parse(Some(list))).ok())
        .map_or_else(
            || format!("/activations?key={}", key.id),
            |v| v.href("/activations", key.id, |x| x.page = v.page),
        );
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
    let dt = |t: Option<i64>| ts(t).map_or_else(|| "–".to_owned(), |d| fmt_datetime(&d));
    let opt = |v: Option<i64>| v.map_or_else(|| "–".to_owned(), |n| n.to_string());
    let mut fields = vec![
        Field {
            label: "Product",
            value: product_name(r.product_id),
        },
        Field {
            label: "Current product",
            value: product_name(r.current_product_id.or(r.product_id)),
        },
        Field {
            label: "Activation id",
            value: r.id.to_string(),
        },
        Field {
            label: "WordPress.com blog id",
            value: opt(r.blog_id),
        },
        Field {
            label: "Owner's WordPress.com user id",
            value: opt(r.user_id),
        },
        Field {
            label: "External user id",
            value: r.external_user_id.clone().unwrap_or_else(|| "–".into()),
        },
        Field {
            label: "Site registered",
            value: dt(r.site_registered),
        },
        Field {
            label: "Created",
            value: dt(r.created_on),
        },
        Field {
            label: "Activated",
            value: dt(r.activated_on),
        },
        Field {
            label: "Cancelled",
            value: dt(r.cancelled_on),
        },
        Field {
            label: "Disputed",
            value: dt(r.disputed_on),
        },
    ];
    if r.current_product_id == r.product_id || r.current_product_id.is_none() {
        fields.remove(1);
    }
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
        fields,
        back,
        copy: CopyNotice::of(&sync),
        as_of: sync
            .synced_at
            .map_or_else(String::new, crate::web::fmt_as_of),
    };
    render(StatusCode::OK, &page)
}
