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
    pages::index_ready::{building_page, ensure_copy_from, progress, status_href},
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

/// The key's copy for the list of `view`, or the page shown instead while there is none yet:
///
/// - rows within the first page of a first copy running here come from that page (the
///   overview started the copy, so this is the usual first view of the list);
/// - otherwise WordPress.com's own page, asked for at once while the copy takes its lease and
///   starts; the copy's own first call waits until this page is back (`index::sync::Hold`), so the two do
///   not compete;
/// - after a failed first copy, a view that restarted it asks for the page then;
/// - when WordPress.com does not answer either, the building page.
pub(super) async fn copy_or_interim(
    state: &AppState,
    scope: &KeyScope,
    view: &View,
) -> Result<Result<SyncState, Response>, AppError> {
    let current = state.index.request_state(scope.key.id).await?;
    if !current.has_copy()
        && let Some(answer) = state
            .index
            .head_page(scope.key.id, view.page, view.per_page)
    {
        return preview_page(state, scope, view, &current, &answer).map(Err);
    }
    let first_copy = !current.has_copy() && current.last_error.is_none();
    let (sync, answer) = if first_copy {
        let (release, hold) = tokio::sync::oneshot::channel::<()>();
        let (sync, answer) =
            tokio::join!(ensure_copy_from(state, scope, current, Some(hold)), async {
                let answer = fetch_preview(state, scope, view).await;
                drop(release);
                answer
            });
        (sync?, answer?)
    } else {
        (ensure_copy_from(state, scope, current, None).await?, None)
    };
    if sync.has_copy() {
        return Ok(Ok(sync));
    }
    if sync.running {
        let answer = match answer {
            None if !first_copy => fetch_preview(state, scope, view).await?,
            answer => answer,
        };
        if let Some(answer) = answer {
            return preview_page(state, scope, view, &sync, &answer).map(Err);
        }
    }
    building_page(
        state,
        scope,
        &sync,
        "Activations",
        "activations",
        "/activations",
    )
    .map(Err)
}

/// WordPress.com's own page for `view`, or `None` when WordPress.com did not answer (the
/// caller shows the building page instead; the failure is logged). A revoked token is an error.
async fn fetch_preview(
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
