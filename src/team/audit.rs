//! The audit log: who did what, when, to which key. Entries are only ever inserted; the portal
//! has no route that edits or deletes one, and only the retention purge removes old ones.
//! Details are built by the caller from known fields (a key id, a view's filters), never from
//! a raw query string, a token or an invite link.

use super::Team;
use crate::db::{Bind, Sql};

/// The actions recorded, with their labels.
pub const ACTIONS: &[(&str, &str)] = &[
    ("sign_in", "Signed in"),
    ("sign_in_failed", "Sign-in failed"),
    ("invite_created", "Invite created"),
    ("invite_accepted", "Invite accepted"),
    ("invite_revoked", "Invite revoked"),
    ("role_changed", "Role changed"),
    ("member_removed", "Member removed"),
    ("connection_made", "Connection made"),
    ("connection_broken", "Connection broken"),
    ("connection_replaced", "Connection replaced"),
    ("connection_removed", "Connection removed"),
    ("csv_download", "CSV downloaded"),
    ("invoice_view", "Invoice viewed"),
    ("api_token_created", "API token created"),
    ("api_token_revoked", "API token revoked"),
    ("api_token_refused", "Expired API token refused"),
    ("api_token_used", "API token used"),
    ("notification_channel_added", "Notification channel added"),
    (
        "notification_channel_changed",
        "Notification channel changed",
    ),
    (
        "notification_channel_removed",
        "Notification channel removed",
    ),
    ("notification_unsubscribed", "Unsubscribed from a mail"),
    ("notification_failed", "Notification failed"),
];

/// The label of an action.
pub fn label(action: &str) -> &str {
    ACTIONS
        .iter()
        .find(|(a, _)| *a == action)
        .map_or(action, |(_, l)| l)
}

/// Who did something.
#[derive(Debug, Clone)]
pub struct Actor {
    /// WordPress.com user id, when known.
    pub id: Option<u64>,
    /// Name.
    pub name: String,
}

impl Actor {
    /// The portal itself (the connection checker).
    pub fn portal() -> Self {
        Self {
            id: None,
            name: "partner-portal".to_owned(),
        }
    }
}

/// One entry.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Row id.
    pub id: i64,
    /// Unix seconds.
    pub at: i64,
    /// Partner, when known.
    pub partner_id: Option<u64>,
    /// Actor's user id.
    pub actor_id: Option<u64>,
    /// Actor's name.
    pub actor: String,
    /// Action (one of [`ACTIONS`]).
    pub action: String,
    /// What it was about.
    pub detail: String,
}

/// The Audit page's filters.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// One action.
    pub action: Option<String>,
    /// Actor name contains.
    pub actor: Option<String>,
    /// From (unix seconds, inclusive).
    pub from: Option<i64>,
    /// Until (unix seconds, exclusive).
    pub until: Option<i64>,
}

type EntryRow = (i64, i64, Option<i64>, Option<i64>, String, String, String);

fn filtered(select: &str, partner_id: u64, f: &Filter) -> Sql {
    // A partner's admins see its entries, and the sign-in failures nobody could be tied to
    // (they name no one: the actor is "unknown" and the detail a fixed heading). A sign-in by
    // someone with no partner is recorded without one and shown to no partner: on a portal
    // serving several partners it would give their names and user ids to every one of them.
    let mut sql = Sql::new(select);
    sql.push(" FROM audit_log WHERE (partner_id = ");
    sql.bind(Bind::Int(partner_id as i64))
        .push(" OR (partner_id IS NULL AND actor_id IS NULL AND action = 'sign_in_failed'))");
    if let Some(a) = &f.action {
        sql.push(" AND action = ").bind(Bind::Text(a.clone()));
    }
    if let Some(a) = &f.actor {
        let pattern = format!(
            "%{}%",
            a.to_lowercase()
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_")
        );
        sql.push(" AND LOWER(actor) LIKE ")
            .bind(Bind::Text(pattern))
            .push(" ESCAPE '\\'");
    }
    if let Some(t) = f.from {
        sql.push(" AND at >= ").bind(Bind::Int(t));
    }
    if let Some(t) = f.until {
        sql.push(" AND at < ").bind(Bind::Int(t));
    }
    sql
}

impl Team {
    /// Records an entry. A failure is logged, and does not fail the action it records.
    pub async fn audit(
        &self,
        now: i64,
        partner_id: Option<u64>,
        actor: &Actor,
        action: &'static str,
        detail: impl Into<String>,
    ) {
        let detail: String = detail.into();
        let mut sql = Sql::new(
            "INSERT INTO audit_log (at, partner_id, actor_id, actor, action, detail) VALUES (",
        );
        sql.bind(Bind::Int(now)).push(", ");
        sql.bind(Bind::OptInt(partner_id.map(|p| p as i64)))
            .push(", ");
        sql.bind(Bind::OptInt(actor.id.map(|p| p as i64)))
            .push(", ");
        sql.bind(Bind::Text(actor.name.clone())).push(", ");
        sql.bind(Bind::Text(action.to_owned())).push(", ");
        sql.bind(Bind::Text(detail)).push(")");
        if let Err(e) = self.db.execute(&sql).await {
            tracing::error!(error = %e, action, "the audit entry could not be written");
        }
    }

    /// One page of entries (newest first) and the number matching.
    pub async fn audit_page(
        &self,
        partner_id: u64,
        f: &Filter,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<Entry>, i64), sqlx::Error> {
        let mut sql = filtered(
            "SELECT id, at, partner_id, actor_id, actor, action, detail",
            partner_id,
            f,
        );
        sql.push(" ORDER BY at DESC, id DESC LIMIT ")
            .bind(Bind::Int(limit));
        sql.push(" OFFSET ").bind(Bind::Int(offset));
        let rows: Vec<EntryRow> = self.db.fetch_all(&sql).await?;
        let total: Option<(i64,)> = self
            .db
            .fetch_optional(&filtered("SELECT COUNT(*)", partner_id, f))
            .await?;
        let entries = rows
            .into_iter()
            .map(
                |(id, at, partner_id, actor_id, actor, action, detail)| Entry {
                    id,
                    at,
                    partner_id: partner_id.map(|p| p as u64),
                    actor_id: actor_id.map(|p| p as u64),
                    actor,
                    action,
                    detail,
                },
            )
            .collect();
        Ok((entries, total.map_or(0, |t| t.0)))
    }

    /// Deletes entries older than `before`; the number deleted.
    pub async fn purge_audit(&self, before: i64) -> Result<u64, sqlx::Error> {
        let mut sql = Sql::new("DELETE FROM audit_log WHERE at < ");
        sql.bind(Bind::Int(before));
        self.db.execute(&sql).await
    }
}
