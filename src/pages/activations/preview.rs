//! While the first copy of a key's activations is made, the list shows WordPress.com's own
//! pages: one upstream call per page, read-only, newest first as WordPress.com sends them, with
//! a line saying that search, filters and sorting arrive with the copy (and the page fills in
//! by itself then). A partner with 100,000 activations sees a table after one upstream call
//! instead of after the whole copy.

use askama::Template;
use axum::{http::StatusCode, response::Response};

use super::{row::RowView, view::View};
use crate::{
    auth::scope::KeyScope,
    error::AppError,
    index::{SyncState, query::Row},
    pages::index_ready::{progress, status_href},
    state::AppState,
    upstream::{ActivationQuery, ActivationsPage, UpstreamError},
    web::{Layout, fmt_int, render},
};

#[derive(Template)]
#[template(path = "activations_preview.html")]
struct PreviewPage {
    layout: Layout,
    progress: String,
    status_href: String,
    summary: String,
    rows: Vec<RowView>,
    page: String,
    pages: String,
    prev_href: Option<String>,
    next_href: Option<String>,
}

/// WordPress.com's own page for `view`, or `None` when WordPress.com did not answer (the
/// caller shows the building page instead; the failure is logged). A revoked token is an error.
pub(super) async fn fetch_preview(
    state: &AppState,
    scope: &KeyScope,
    view: &View,
) -> Result<Option<ActivationsPage>, AppError> {
    let query = ActivationQuery {
        page: view.page,
        per_page: view.per_page,
        ..ActivationQuery::default()
    };
    match state
        .wpcom
        .activations(scope.token(), scope.partner.id, scope.key.id, &query)
        .await
    {
        Ok(a) => Ok(Some(a)),
        Err(UpstreamError::Unauthorized) => Err(scope
            .upstream_failed(state, UpstreamError::Unauthorized)
            .await),
        Err(e) => {
            tracing::warn!(error = %e, "the list preview from WordPress.com failed; showing the copy's progress");
            Ok(None)
        }
    }
}

/// The page showing `answer`, WordPress.com's own page for `view`, while `sync` makes the copy.
pub(super) fn preview_page(
    state: &AppState,
    scope: &KeyScope,
    view: &View,
    sync: &SyncState,
    answer: &ActivationsPage,
) -> Result<Response, AppError> {
    let k = scope.key.id;
    let total = answer.total;
    let pages = total.div_ceil(u64::from(view.per_page)).max(1);
    let first = u64::from(view.page.saturating_sub(1)) * u64::from(view.per_page) + 1;
    let shown = answer.activations.len() as u64;
    let list = view.href("", k, |v| v.page = view.page);
    // WordPress.com's pages carry only the page and its size: no filter applies yet.
    let plain = View {
        per_page: view.per_page,
        ..View::read(&crate::web::query::Pairs::default()).0
    };
    let page_href = |n: u32| plain.href("/activations", k, |v| v.page = n);
    let page = PreviewPage {
        layout: scope.layout(state, "Activations", "activations", "/activations"),
        progress: progress(sync),
        status_href: status_href(k),
        summary: if shown == 0 {
            "WordPress.com lists no activations on this page.".to_owned()
        } else {
            format!(
                "Showing {}–{} of {}, from WordPress.com",
                fmt_int(first as i64),
                fmt_int((first + shown - 1) as i64),
                fmt_int(total as i64)
            )
        },
        rows: answer
            .activations
            .iter()
            .map(|a| RowView::new(&Row::from_upstream(a), k, &list))
            .collect(),
        page: fmt_int(i64::from(view.page)),
        pages: fmt_int(pages as i64),
        prev_href: (view.page > 1).then(|| page_href(view.page - 1)),
        next_href: (u64::from(view.page) < pages).then(|| page_href(view.page + 1)),
    };
    render(StatusCode::OK, &page)
}
