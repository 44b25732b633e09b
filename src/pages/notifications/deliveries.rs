//! `GET /notifications/deliveries`: each event, its attempts, answers and next retry; a
//! person's own channels', or, for admins, the partner's.

use askama::Template;
use axum::{extract::State, http::StatusCode, response::Response};

use crate::{
    auth::session::Authed,
    error::AppError,
    notify::{Channel, Delivery, Rule},
    pages::team::when,
    state::AppState,
    web::{Layout, render},
};

struct DeliveryView {
    id: String,
    created: String,
    rule: &'static str,
    summary: String,
    channel: String,
    status: &'static str,
    status_class: &'static str,
    attempts: i64,
    answer: String,
    next: String,
    tries: Vec<(String, bool, String)>,
}

impl DeliveryView {
    fn new(d: Delivery, channels: &[Channel], now: i64, sees_money: bool) -> Self {
        let channel = channels.iter().find(|c| c.id == d.channel_id).map_or_else(
            || format!("a removed channel ({})", d.channel_id),
            |c| format!("{} {}", c.kind.as_str(), c.target),
        );
        let (status, status_class) = match d.status.as_str() {
            "sent" => ("Sent", "ok"),
            "pending" if d.attempts == 0 => ("Waiting to be sent", "wait"),
            "pending" => ("Retrying", "warn"),
            "failed" => ("Failed", "bad"),
            "damped" => ("Not sent (damped)", "muted"),
            _ => ("Not sent", "muted"),
        };
        DeliveryView {
            created: when(d.created_at),
            rule: Rule::parse(&d.rule).map_or("", Rule::label),
            summary: if sees_money || !matches!(d.rule.as_str(), "invoice_new" | "invoice_due") {
                d.summary.clone()
            } else {
                String::new()
            },
            channel,
            status,
            status_class,
            attempts: d.attempts,
            answer: d.last_answer.clone().unwrap_or_default(),
            next: if d.status == "pending" {
                if d.next_at <= now {
                    "now".to_owned()
                } else {
                    when(d.next_at)
                }
            } else if let Some(at) = d.sent_at {
                format!("sent {}", when(at))
            } else {
                String::new()
            },
            tries: d
                .tries
                .iter()
                .map(|(at, ok, a)| (when(*at), *ok, a.clone()))
                .collect(),
            id: d.id,
        }
    }
}

#[derive(Template)]
#[template(path = "deliveries.html")]
struct DeliveriesPage {
    layout: Layout,
    admin: bool,
    rows: Vec<DeliveryView>,
    failed: i64,
}

pub(super) async fn deliveries_get(
    State(state): State<AppState>,
    authed: Authed,
) -> Result<Response, AppError> {
    let access = authed.access()?;
    let channels = state.notify.channels(access.partner.id).await?;
    let mine: Vec<String> = channels
        .iter()
        .filter(|c| c.user_id == Some(authed.data.user.id))
        .map(|c| c.id.clone())
        .collect();
    let only = (!access.role.is_admin()).then_some(mine.as_slice());
    let rows = state
        .notify
        .deliveries(access.partner.id, only, 200)
        .await?;
    let now = state.clock.now();
    let rows = rows
        .into_iter()
        .map(|d| DeliveryView::new(d, &channels, now, access.role.sees_money()))
        .collect();
    let failed = if access.role.is_admin() {
        state.notify.failed_count(access.partner.id).await?
    } else {
        0
    };
    let mut layout = Layout::for_user(
        &state,
        authed.viewer(),
        "Deliveries",
        "notifications",
        "/notifications/deliveries",
        None,
    );
    layout.here = "/notifications/deliveries".to_owned();
    render(
        StatusCode::OK,
        &DeliveriesPage {
            layout,
            admin: access.role.is_admin(),
            rows,
            failed,
        },
    )
}
