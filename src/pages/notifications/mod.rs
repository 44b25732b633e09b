//! The Notifications page (every role): a person's own channels and what each follows; admins
//! also the partner's shared channels. The Deliveries page lists what was sent, tried and
//! given up. The one-click unsubscribe of a mail needs no login.
//!
//! - `GET /notifications`; `POST /notifications` adds a channel (a webhook's signing secret is
//!   shown once); `POST /notifications/{id}` changes what it follows; `.../test` sends a test
//!   now; `.../remove` removes it.
//! - `GET /notifications/deliveries`: each event, its attempts, answers and next retry.
//! - `GET /unsubscribe/{token}` asks, `POST` does it (RFC 8058: the mail client POSTs
//!   `List-Unsubscribe=One-Click`; a GET never changes anything, so link scanners do no harm).
//! - `GET /demo/mail`: the demo's mailbox, when the demo has no SMTP server.

use askama::Template;
use axum::{
    Form, Router,
    extract::{Path, Query, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
};
use serde::Deserialize;

use crate::{
    auth::{check_csrf, csrf::CsrfForm, session::Authed},
    error::AppError,
    notify::{Channel, ChannelDraft, Format, Kind, Rule, RuleSetting, mail::valid_address},
    pages::team::{Standing, team_standing, when},
    state::AppState,
    team::Role,
    web::{Layout, render},
};

mod deliveries;
mod links;

use self::{
    deliveries::deliveries_get,
    links::{mailbox_get, unsubscribe_get, unsubscribe_post},
};

/// The notification routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/notifications", get(page_get).post(create_post))
        .route("/notifications/deliveries", get(deliveries_get))
        .route("/notifications/{id}", post(rules_post))
        .route("/notifications/{id}/test", post(test_post))
        .route("/notifications/{id}/remove", post(remove_post))
        .route(
            "/unsubscribe/{token}",
            get(unsubscribe_get).post(unsubscribe_post),
        )
        .route("/demo/mail", get(mailbox_get))
}

/// The alert damping choices: seconds and words.
const DAMPING: [(i64, &str); 4] = [
    (3600, "1 hour"),
    (6 * 3600, "6 hours"),
    (86_400, "1 day"),
    (7 * 86_400, "1 week"),
];
const DEFAULT_DAMP: i64 = 3600;
const DEFAULT_THRESHOLD: i64 = 10;
const DEFAULT_PERCENT: i64 = 200;

struct RuleField {
    value: &'static str,
    label: &'static str,
    checked: bool,
}

/// The rule fields of one form; `prefix` keeps ids unique on the page.
struct RuleForm {
    prefix: String,
    rules: Vec<RuleField>,
    threshold: i64,
    percent: i64,
    damp: Vec<(i64, &'static str, bool)>,
}

impl RuleForm {
    fn new(prefix: &str, role: Role, channel: Option<&Channel>) -> Self {
        let setting = |r: Rule| channel.and_then(|c| c.rule(r));
        let cancel = setting(Rule::Cancellations);
        let damp = channel
            .and_then(|c| c.rules.iter().find(|r| r.rule.is_alert()))
            .map_or(DEFAULT_DAMP, |r| r.damp_secs);
        Self {
            prefix: prefix.to_owned(),
            rules: Rule::ALL
                .into_iter()
                .filter(|r| !r.is_money() || role.sees_money())
                .map(|r| RuleField {
                    value: r.as_str(),
                    label: r.label(),
                    checked: match channel {
                        Some(_) => setting(r).is_some(),
                        None => matches!(r, Rule::Weekly | Rule::Connection),
                    },
                })
                .collect(),
            threshold: cancel.map_or(DEFAULT_THRESHOLD, |c| c.threshold),
            percent: cancel.map_or(DEFAULT_PERCENT, |c| c.percent),
            damp: DAMPING.iter().map(|(s, l)| (*s, *l, *s == damp)).collect(),
        }
    }
}

struct ChannelView {
    id: String,
    kind: &'static str,
    target: String,
    format: &'static str,
    audience: Option<&'static str>,
    created: String,
    follows: String,
    form: RuleForm,
}

impl ChannelView {
    fn new(c: &Channel, role: Role) -> Self {
        let follows: Vec<&str> = c.rules.iter().map(|r| r.rule.label()).collect();
        Self {
            id: c.id.clone(),
            kind: c.kind.as_str(),
            target: c.target.clone(),
            format: c.format.label(),
            audience: c.user_id.is_none().then(|| c.audience.label()),
            created: format!("{}, by {}", when(c.created_at), c.created_by),
            follows: if follows.is_empty() {
                "nothing (every rule was unsubscribed)".to_owned()
            } else {
                follows.join("; ")
            },
            form: RuleForm::new(&c.id, role, Some(c)),
        }
    }
}

/// The secret of a webhook just made, shown once.
struct NewSecret {
    target: String,
    secret: String,
}

#[derive(Template)]
#[template(path = "notifications.html")]
struct NotificationsPage {
    layout: Layout,
    csrf: String,
    role: &'static str,
    cannot: Option<String>,
    mine: Vec<ChannelView>,
    shared: Option<Vec<ChannelView>>,
    new_form: RuleForm,
    shared_form: RuleForm,
    email: String,
    mail_on: bool,
    mailbox: bool,
    failed: i64,
    notice: Option<String>,
    secret: Option<NewSecret>,
    allow_http: bool,
}

async fn page(
    state: &AppState,
    authed: &Authed,
    notice: Option<String>,
    secret: Option<NewSecret>,
) -> Result<NotificationsPage, AppError> {
    let access = authed.access()?;
    let role = access.role;
    let user = authed.data.user.id;
    let channels = state.notify.channels(access.partner.id).await?;
    let mine = channels
        .iter()
        .filter(|c| c.user_id == Some(user))
        .map(|c| ChannelView::new(c, role))
        .collect();
    let shared = role.is_admin().then(|| {
        channels
            .iter()
            .filter(|c| c.user_id.is_none())
            .map(|c| ChannelView::new(c, c.audience))
            .collect()
    });
    let cannot = match team_standing(state, authed).await? {
        Standing::Member => None,
        Standing::NoConnection => Some(
            "Notifications read reports with nobody signed in, through the partner's team connection, and there is none yet. An admin whose own WordPress.com account lists the partner's keys connects it on the Team page.".to_owned(),
        ),
        Standing::NotMember { owner } => Some(format!(
            "Notifications go to members of the team, and your login is not one: the team connection was made by {owner}. Ask them to invite your account on the Team page."
        )),
    };
    let failed = if role.is_admin() {
        state.notify.failed_count(access.partner.id).await?
    } else {
        0
    };
    let mut layout = Layout::for_user(
        state,
        authed.viewer(),
        "Notifications",
        "notifications",
        "/notifications",
        None,
    );
    layout.here = "/notifications".to_owned();
    Ok(NotificationsPage {
        layout,
        csrf: authed.data.csrf.expose().clone(),
        role: role.label(),
        cannot,
        mine,
        shared,
        new_form: RuleForm::new("new", role, None),
        shared_form: RuleForm::new("shared", Role::Admin, None),
        email: authed.data.user.email.clone().unwrap_or_default(),
        mail_on: state.notify.mailer.is_on(),
        mailbox: state.notify.mailer.caught().is_some(),
        failed,
        notice,
        secret,
        allow_http: state.notify.webhooks.allow_http,
    })
}

#[derive(Debug, Deserialize)]
struct DoneQuery {
    done: Option<String>,
}

async fn page_get(
    State(state): State<AppState>,
    authed: Authed,
    Query(q): Query<DoneQuery>,
) -> Result<Response, AppError> {
    let notice = match q.done.as_deref() {
        Some("added") => Some("The channel is added."),
        Some("saved") => Some("Saved: the channel follows the rules checked below."),
        Some("test") => {
            Some("A test message is on its way; the Deliveries page says when it is sent.")
        }
        Some("removed") => Some("The channel is removed; nothing more is sent to it."),
        _ => None,
    };
    render(
        StatusCode::OK,
        &page(&state, &authed, notice.map(str::to_owned), None).await?,
    )
}

/// A channel form: `rule` repeats.
#[derive(Debug, Default)]
struct ChannelForm {
    csrf: Option<String>,
    kind: Option<String>,
    target: Option<String>,
    format: Option<String>,
    shared: bool,
    audience: Option<String>,
    rules: Vec<String>,
    threshold: Option<String>,
    percent: Option<String>,
    damp: Option<String>,
}

fn parse_form(body: &[u8]) -> ChannelForm {
    let mut f = ChannelForm::default();
    for (k, v) in url::form_urlencoded::parse(body) {
        let v = v.into_owned();
        match k.as_ref() {
            "csrf" => f.csrf = Some(v),
            "kind" => f.kind = Some(v),
            "target" => f.target = Some(v),
            "format" => f.format = Some(v),
            "shared" => f.shared = v == "1",
            "audience" => f.audience = Some(v),
            "rule" => f.rules.push(v),
            "threshold" => f.threshold = Some(v),
            "percent" => f.percent = Some(v),
            "damp" => f.damp = Some(v),
            _ => {}
        }
    }
    f
}

/// The rules of a form, checked against `role`.
fn read_rules(f: &ChannelForm, role: Role) -> Result<Vec<RuleSetting>, AppError> {
    let number = |v: &Option<String>, default: i64, what: &str| -> Result<i64, AppError> {
        match v.as_deref().map(str::trim) {
            None | Some("") => Ok(default),
            Some(t) => t
                .parse::<i64>()
                .ok()
                .filter(|n| (0..=1_000_000).contains(n))
                .ok_or_else(|| {
                    AppError::BadRequest(format!(
                        "{what} must be a whole number from 0 to 1,000,000."
                    ))
                }),
        }
    };
    let threshold = number(
        &f.threshold,
        DEFAULT_THRESHOLD,
        "The cancellations threshold",
    )?;
    let percent = number(&f.percent, DEFAULT_PERCENT, "The percentage of the average")?;
    let damp = number(&f.damp, DEFAULT_DAMP, "The wait between alerts")?;
    if !DAMPING.iter().any(|(s, _)| *s == damp) {
        return Err(AppError::BadRequest(
            "Pick a wait between alerts of 1 hour, 6 hours, 1 day or 1 week.".into(),
        ));
    }
    let mut out: Vec<RuleSetting> = Vec::new();
    for r in &f.rules {
        let rule = Rule::parse(r)
            .filter(|r| *r != Rule::Test)
            .ok_or_else(|| AppError::BadRequest(format!("There is no rule {r:?}.")))?;
        if rule.is_money() && !role.sees_money() {
            return Err(AppError::RoleForbidden {
                role: role.label(),
                what: "invoice notifications (invoices and amounts)",
            });
        }
        if out.iter().any(|s| s.rule == rule) {
            continue;
        }
        if rule == Rule::Cancellations && threshold == 0 && percent == 0 {
            return Err(AppError::BadRequest(
                "Give the cancellations alert a threshold, a percentage of the average, or both."
                    .into(),
            ));
        }
        out.push(RuleSetting {
            rule,
            threshold: if rule == Rule::Cancellations {
                threshold
            } else {
                0
            },
            percent: if rule == Rule::Cancellations {
                percent
            } else {
                0
            },
            damp_secs: if rule.is_alert() { damp } else { 0 },
            last_fired_at: None,
        });
    }
    out.sort_by_key(|r| r.rule);
    Ok(out)
}

async fn create_post(
    State(state): State<AppState>,
    authed: Authed,
    headers: HeaderMap,
    axum::extract::RawForm(body): axum::extract::RawForm,
) -> Result<Response, AppError> {
    let form = parse_form(&body);
    check_csrf(&state, &headers, &authed.data, form.csrf.as_deref())?;
    let access = authed.access()?;
    if let Standing::NoConnection | Standing::NotMember { .. } =
        team_standing(&state, &authed).await?
    {
        return Err(AppError::BadRequest(
            "Notifications need the partner's team connection and a membership; the Notifications page says which is missing.".into(),
        ));
    }
    if form.shared && !access.role.is_admin() {
        return Err(AppError::RoleForbidden {
            role: access.role.label(),
            what: "the partner's shared channels",
        });
    }
    let audience = if form.shared {
        form.audience
            .as_deref()
            .and_then(Role::parse)
            .ok_or_else(|| {
                AppError::BadRequest(
                    "Pick whose view the shared channel takes: admin, finance or support.".into(),
                )
            })?
    } else {
        access.role
    };
    let (kind, target, format) = read_target(&state, &form).await?;
    let rules = read_rules(&form, audience)?;
    let user = &authed.data.user;
    let draft = ChannelDraft {
        partner_id: access.partner.id,
        user_id: (!form.shared).then_some(user.id),
        username: user.username.clone(),
        created_by: user.display_name.clone(),
        audience,
        kind,
        target,
        format,
        rules,
    };
    let (channel, secret) = state.notify.create_channel(&draft).await?;
    authed
        .audit(
            &state,
            "notification_channel_added",
            format!(
                "{} {} {} ({}), following: {}",
                if form.shared { "shared" } else { "personal" },
                channel.kind.as_str(),
                channel.target,
                channel.id,
                rule_names(&channel.rules)
            ) + &if form.shared {
                format!(", as {}", audience.label())
            } else {
                String::new()
            },
        )
        .await;
    match secret {
        Some(secret) => {
            let shown = NewSecret {
                target: channel.target.clone(),
                secret: secret.expose().clone(),
            };
            let p = page(&state, &authed, None, Some(shown)).await?;
            render(StatusCode::CREATED, &p)
        }
        None => Ok(Redirect::to("/notifications?done=added").into_response()),
    }
}

/// The channel's kind, its checked address or URL, and its format.
async fn read_target(
    state: &AppState,
    form: &ChannelForm,
) -> Result<(Kind, String, Format), AppError> {
    let kind = form
        .kind
        .as_deref()
        .and_then(Kind::parse)
        .ok_or_else(|| AppError::BadRequest("Pick email or webhook.".into()))?;
    let raw = form.target.as_deref().unwrap_or("").trim().to_owned();
    let (target, format) = match kind {
        Kind::Email => {
            if !state.notify.mailer.is_on() {
                return Err(AppError::BadRequest(
                    "Mail is not configured on this portal (PORTAL_SMTP_URL); ask whoever runs it, or use a webhook.".into(),
                ));
            }
            if !valid_address(&raw) {
                return Err(AppError::BadRequest(format!(
                    "“{raw}” is not a mail address."
                )));
            }
            (raw, Format::Email)
        }
        Kind::Webhook => {
            let url = state
                .notify
                .webhooks
                .check_form(&raw)
                .map_err(AppError::BadRequest)?;
            state
                .notify
                .webhooks
                .resolve(&url)
                .await
                .map_err(|e| AppError::BadRequest(format!("The webhook URL is {e}.")))?;
            let format = match form.format.as_deref() {
                Some("slack") => Format::Slack,
                _ => Format::Json,
            };
            (url.to_string(), format)
        }
    };
    Ok((kind, target, format))
}

fn rule_names(rules: &[RuleSetting]) -> String {
    if rules.is_empty() {
        return "nothing".into();
    }
    rules
        .iter()
        .map(|r| match r.rule {
            Rule::Cancellations => {
                format!("cancellations (over {} or {} %)", r.threshold, r.percent)
            }
            other => other.as_str().to_owned(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The channel `id` if this person may change it: their own, or a shared one for admins.
async fn own_channel(state: &AppState, authed: &Authed, id: &str) -> Result<Channel, AppError> {
    let access = authed.access()?;
    let channel = state.notify.channel(id).await?.filter(|c| {
        c.partner_id == access.partner.id
            && match c.user_id {
                Some(u) => u == authed.data.user.id,
                None => access.role.is_admin(),
            }
    });
    channel.ok_or_else(|| {
        AppError::not_found(
            "Channel not found",
            "You have no notification channel with that id. It may have been removed.",
        )
    })
}

async fn rules_post(
    State(state): State<AppState>,
    authed: Authed,
    headers: HeaderMap,
    Path(id): Path<String>,
    axum::extract::RawForm(body): axum::extract::RawForm,
) -> Result<Response, AppError> {
    let form = parse_form(&body);
    check_csrf(&state, &headers, &authed.data, form.csrf.as_deref())?;
    let channel = own_channel(&state, &authed, &id).await?;
    let role = match channel.user_id {
        Some(_) => authed.access()?.role,
        None => channel.audience,
    };
    let rules = read_rules(&form, role)?;
    state.notify.set_rules(&channel, &rules).await?;
    authed
        .audit(
            &state,
            "notification_channel_changed",
            format!(
                "{} {}: now following {}",
                channel.kind.as_str(),
                channel.target,
                rule_names(&rules)
            ),
        )
        .await;
    Ok(Redirect::to("/notifications?done=saved").into_response())
}

async fn test_post(
    State(state): State<AppState>,
    authed: Authed,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, AppError> {
    check_csrf(&state, &headers, &authed.data, form.csrf.as_deref())?;
    let channel = own_channel(&state, &authed, &id).await?;
    let keys = authed.access()?.partner.keys.clone();
    state.notify.send_test(&channel, &keys).await?;
    Ok(Redirect::to("/notifications?done=test").into_response())
}

async fn remove_post(
    State(state): State<AppState>,
    authed: Authed,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, AppError> {
    check_csrf(&state, &headers, &authed.data, form.csrf.as_deref())?;
    let channel = own_channel(&state, &authed, &id).await?;
    state.notify.remove_channel(&channel.id).await?;
    authed
        .audit(
            &state,
            "notification_channel_removed",
            format!(
                "{} {} ({})",
                channel.kind.as_str(),
                channel.target,
                channel.id
            ),
        )
        .await;
    Ok(Redirect::to("/notifications?done=removed").into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn support_cannot_choose_invoice_rules_and_thresholds_are_checked() {
        let form = parse_form(b"rule=weekly&rule=invoice_new");
        assert!(matches!(
            read_rules(&form, Role::Support),
            Err(AppError::RoleForbidden { .. })
        ));
        assert_eq!(read_rules(&form, Role::Finance).unwrap().len(), 2);
        let form = parse_form(b"rule=cancellations&threshold=0&percent=0");
        assert!(read_rules(&form, Role::Admin).is_err());
        let form = parse_form(b"rule=cancellations&threshold=5&percent=0&damp=86400");
        let r = read_rules(&form, Role::Support).unwrap();
        assert_eq!(
            (r[0].threshold, r[0].percent, r[0].damp_secs),
            (5, 0, 86_400)
        );
        assert!(read_rules(&parse_form(b"rule=test"), Role::Admin).is_err());
        assert!(read_rules(&parse_form(b"rule=weekly&damp=5"), Role::Admin).is_err());
    }
}
