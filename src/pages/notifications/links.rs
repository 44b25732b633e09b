//! What needs no Notifications page: the one-click unsubscribe of a mail (no login: the link is
//! its own proof) and the demo's mailbox.

use askama::Template;
use axum::{
    extract::{Path, State},
    http::StatusCode,
    response::Response,
};

use crate::{
    auth::session::Authed,
    error::AppError,
    notify::{Channel, Rule},
    pages::team::when,
    state::AppState,
    web::{Layout, render},
};

#[derive(Template)]
#[template(path = "unsubscribe.html")]
struct UnsubscribePage {
    layout: Layout,
    token: String,
    what: String,
    target: String,
    done: bool,
}

async fn unsubscribe_target(state: &AppState, token: &str) -> Result<(Channel, Rule), AppError> {
    let gone = || {
        AppError::not_found(
            "Link not valid",
            "This unsubscribe link is not valid, or its channel was removed: nothing more is sent to it.",
        )
    };
    let (channel, rule) = state.notify.read_unsubscribe(token).ok_or_else(gone)?;
    let channel = state.notify.channel(&channel).await?.ok_or_else(gone)?;
    Ok((channel, rule))
}

pub(super) async fn unsubscribe_get(
    State(state): State<AppState>,
    Path(token): Path<String>,
) -> Result<Response, AppError> {
    let (channel, rule) = unsubscribe_target(&state, &token).await?;
    let page = UnsubscribePage {
        layout: Layout::anonymous(&state, "Unsubscribe"),
        what: rule.label().to_owned(),
        target: channel.target.clone(),
        done: channel.rule(rule).is_none(),
        token,
    };
    render(StatusCode::OK, &page)
}

/// RFC 8058: the mail client POSTs `List-Unsubscribe=One-Click` to the link, without cookies;
/// the page's own button POSTs the same. The link itself is the proof; no login.
pub(super) async fn unsubscribe_post(
    State(state): State<AppState>,
    Path(token): Path<String>,
) -> Result<Response, AppError> {
    let (channel, rule) = unsubscribe_target(&state, &token).await?;
    if state.notify.unsubscribe(&channel.id, rule).await? {
        state
            .team
            .audit(
                state.clock.now(),
                Some(channel.partner_id),
                &crate::team::audit::Actor {
                    id: channel.user_id,
                    name: channel.target.clone(),
                },
                "notification_unsubscribed",
                format!(
                    "{} ({}) stopped “{}” with the mail's one-click link",
                    channel.target,
                    channel.id,
                    rule.label()
                ),
            )
            .await;
    }
    let page = UnsubscribePage {
        layout: Layout::anonymous(&state, "Unsubscribed"),
        what: rule.label().to_owned(),
        target: channel.target.clone(),
        done: true,
        token,
    };
    render(StatusCode::OK, &page)
}

struct CaughtView {
    at: String,
    to: String,
    subject: String,
    text: String,
    raw: String,
}

#[derive(Template)]
#[template(path = "mailbox.html")]
struct MailboxPage {
    layout: Layout,
    mails: Vec<CaughtView>,
}

pub(super) async fn mailbox_get(
    State(state): State<AppState>,
    authed: Authed,
) -> Result<Response, AppError> {
    let Some(caught) = state.notify.mailer.caught() else {
        return Err(AppError::not_found(
            "No demo mailbox",
            "Mail goes to the SMTP server this portal is configured with; the demo's mailbox exists only in the demo without one.",
        ));
    };
    let mut layout = Layout::for_user(
        &state,
        authed.viewer(),
        "Demo mailbox",
        "notifications",
        "/demo/mail",
        None,
    );
    layout.here = "/demo/mail".to_owned();
    let mails = caught
        .into_iter()
        .map(|c| CaughtView {
            at: when(c.at),
            to: c.to,
            subject: c.subject,
            text: c.text,
            raw: c.raw,
        })
        .collect();
    render(StatusCode::OK, &MailboxPage { layout, mails })
}
