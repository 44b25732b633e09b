//! The Audit page (admins): the team's audit log, newest first, with filters and a CSV. There is
//! no route that edits or deletes an entry; old ones go by `PORTAL_AUDIT_RETENTION`.

use askama::Template;
use axum::{
    Router,
    extract::{RawQuery, State},
    http::StatusCode,
    response::Response,
    routing::get,
};
use chrono::NaiveDate;

use crate::{
    auth::{gate::AdminOnly, session::Authed},
    error::AppError,
    export,
    state::AppState,
    team::audit::{self, ACTIONS, Entry, Filter},
    web::{Layout, query::Pairs, render},
};

const PER_PAGE: i64 = 50;
/// The highest page number read (as the activations list's): far past any log's last page,
/// and its offset far inside an `i64`.
const MAX_PAGE: u32 = 10_000_000;
/// The CSV holds at most this many entries (the newest).
const CSV_MAX: i64 = 100_000;

/// The Audit routes, admins only.
pub fn router(state: &AppState) -> Router<AppState> {
    Router::new()
        .route("/audit", get(audit_get))
        .route("/audit.csv", get(audit_csv))
        .route_layer(axum::middleware::from_extractor_with_state::<AdminOnly, _>(
            state.clone(),
        ))
}

/// The filters as read, and as typed (for the form).
#[derive(Debug, Default)]
struct Form {
    filter: Filter,
    action: String,
    actor: String,
    from: String,
    to: String,
    page: i64,
}

fn read(raw: Option<&str>) -> Result<Form, AppError> {
    let q = Pairs::parse(raw);
    let text = |k: &str| q.get(k).map(|v| v.trim().to_owned()).unwrap_or_default();
    let date = |k: &str| -> Result<Option<NaiveDate>, AppError> {
        let v = text(k);
        if v.is_empty() {
            return Ok(None);
        }
        NaiveDate::parse_from_str(&v, "%Y-%m-%d")
            .map(Some)
            .map_err(|_| AppError::BadRequest(format!("“{v}” is not a date; use YYYY-MM-DD.")))
    };
    let action = text("action");
    if !action.is_empty() && !ACTIONS.iter().any(|(a, _)| *a == action) {
        return Err(AppError::BadRequest("Pick an action from the list.".into()));
    }
    let secs = |d: NaiveDate| {
        d.and_hms_opt(0, 0, 0)
            .map_or(0, |t| t.and_utc().timestamp())
    };
    let from = date("from")?;
    let to = date("to")?;
    let actor = text("actor");
    Ok(Form {
        filter: Filter {
            action: (!action.is_empty()).then(|| action.clone()),
            actor: (!actor.is_empty()).then(|| actor.chars().take(100).collect()),
            from: from.map(secs),
            until: to.and_then(|d| d.succ_opt()).map(secs),
        },
        page: i64::from(q.int("page", 1, 1, MAX_PAGE)?),
        action,
        actor,
        from: text("from"),
        to: text("to"),
    })
}

struct EntryView {
    at: String,
    actor: String,
    action: String,
    detail: String,
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    layout: Layout,
    entries: Vec<EntryView>,
    total: i64,
    form: Form,
    actions: &'static [(&'static str, &'static str)],
    prev_href: Option<String>,
    next_href: Option<String>,
    csv_href: String,
    retention_days: u64,
}

fn href(path: &str, f: &Form, page: i64) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in [
        ("action", &f.action),
        ("actor", &f.actor),
        ("from", &f.from),
        ("to", &f.to),
    ] {
        if !v.is_empty() {
            s.append_pair(k, v);
        }
    }
    if page > 1 {
        s.append_pair("page", &page.to_string());
    }
    let q = s.finish();
    if q.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{q}")
    }
}

fn partner_of(authed: &Authed) -> Result<u64, AppError> {
    Ok(authed.access()?.partner.id)
}

async fn audit_get(
    State(state): State<AppState>,
    authed: Authed,
    RawQuery(raw): RawQuery,
) -> Result<Response, AppError> {
    let partner_id = partner_of(&authed)?;
    let mut form = read(raw.as_deref())?;
    let page_of = |page: i64| {
        state
            .team
            .audit_page(partner_id, &form.filter, (page - 1) * PER_PAGE, PER_PAGE)
    };
    let (mut entries, total) = page_of(form.page).await?;
    // Past the last page: the last page, with its own links.
    let last = (total.max(1) - 1) / PER_PAGE + 1;
    if form.page > last {
        (entries, _) = page_of(last).await?;
        form.page = last;
    }
    let entries = entries
        .into_iter()
        .map(|e: Entry| EntryView {
            at: super::team::when(e.at),
            actor: e.actor,
            action: audit::label(&e.action).to_owned(),
            detail: e.detail,
        })
        .collect();
    let mut layout = Layout::for_user(
        &state,
        authed.viewer(),
        "Audit log",
        "audit",
        "/audit",
        None,
    );
    layout.here = href("/audit", &form, form.page);
    let page = AuditPage {
        layout,
        entries,
        total,
        prev_href: (form.page > 1).then(|| href("/audit", &form, form.page - 1)),
        next_href: (form.page * PER_PAGE < total).then(|| href("/audit", &form, form.page + 1)),
        csv_href: href("/audit.csv", &form, 1),
        retention_days: state.config.audit_retention.as_secs() / 86_400,
        actions: ACTIONS,
        form,
    };
    render(StatusCode::OK, &page)
}

async fn audit_csv(
    State(state): State<AppState>,
    authed: Authed,
    RawQuery(raw): RawQuery,
) -> Result<Response, AppError> {
    let partner_id = partner_of(&authed)?;
    let form = read(raw.as_deref())?;
    let (entries, _) = state
        .team
        .audit_page(partner_id, &form.filter, 0, CSV_MAX)
        .await?;
    let mut body = export::header_record(&["at_utc", "actor", "actor_user_id", "action", "detail"]);
    for e in entries {
        let at = chrono::DateTime::from_timestamp(e.at, 0)
            .map(|d| d.to_rfc3339())
            .unwrap_or_default();
        let id = e.actor_id.map(|i| i.to_string()).unwrap_or_default();
        body.extend(export::record(&[
            at.as_str(),
            &e.actor,
            &id,
            &e.action,
            &e.detail,
        ]));
    }
    let name = authed.access()?.partner.name.clone();
    Ok(export::response(
        &export::filename(&name, 0, "audit"),
        body.into(),
    ))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::fuzzing::{CASES, query};

    const NAMES: &[&str] = &["action", "actor", "from", "to", "page"];

    #[test]
    fn page_numbers_past_any_integer_are_refused_not_wrapped() {
        for page in [
            "9223372036854775807",
            "18446744073709551616",
            "-1",
            "0",
            "1e3",
        ] {
            assert!(read(Some(&format!("page={page}"))).is_err(), "{page}");
        }
        assert_eq!(read(Some("page=10000000")).unwrap().page, 10_000_000);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(CASES))]

        #[test]
        fn any_filter_reads_and_its_link_reads_back_as_the_same_filter(raw in query(NAMES)) {
            let Ok(form) = read(Some(&raw)) else { return Ok(()); };
            prop_assert!((1..=i64::from(MAX_PAGE)).contains(&form.page));
            prop_assert!((form.page - 1).checked_mul(PER_PAGE).is_some());
            let link = href("/audit", &form, form.page);
            let again = read(link.split_once('?').map(|(_, q)| q)).unwrap();
            prop_assert_eq!(
                (&again.action, &again.actor, &again.from, &again.to, again.page),
                (&form.action, &form.actor, &form.from, &form.to, form.page)
            );
            prop_assert_eq!(format!("{:?}", again.filter), format!("{:?}", form.filter));
            prop_assert_eq!(href("/audit", &again, again.page), link);
        }
    }
}
