//! Invites: one-time links with a role, valid for [`INVITE_TTL_SECS`], stored only as a SHA-256
//! of the link's secret. Accepting one is a single conditional UPDATE, so two tabs (or two
//! replicas) cannot both use it.

use sha2::{Digest as _, Sha256};

use super::{INVITE_TTL_SECS, Role, Team};
use crate::{
    db::{Bind, Sql},
    secret::{Secret, random_token},
    upstream::Me,
};

/// An invite as the Team page lists it (never its secret).
#[derive(Debug, Clone)]
pub struct Invite {
    /// Public id (for the Revoke button).
    pub id: String,
    /// The partner it joins.
    pub partner_id: u64,
    /// The role it grants.
    pub role: Role,
    /// The WordPress.com username or email it is for, if it names one.
    pub for_whom: Option<String>,
    /// Who created it.
    pub created_by: String,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub expires_at: i64,
    /// Who accepted it, and when.
    pub accepted: Option<(String, i64)>,
    /// Who revoked it, and when.
    pub revoked: Option<(String, i64)>,
}

/// Where an invite stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InviteStatus {
    /// Can be accepted.
    Pending,
    /// Used.
    Accepted,
    /// Revoked by an admin.
    Revoked,
    /// Past its seven days.
    Expired,
}

impl InviteStatus {
    /// Word for people.
    pub fn label(self) -> &'static str {
        match self {
            Self::Pending => "Pending",
            Self::Accepted => "Accepted",
            Self::Revoked => "Revoked",
            Self::Expired => "Expired",
        }
    }
}

impl Invite {
    /// Its status at `now`.
    pub fn status(&self, now: i64) -> InviteStatus {
        if self.accepted.is_some() {
            InviteStatus::Accepted
        } else if self.revoked.is_some() {
            InviteStatus::Revoked
        } else if now >= self.expires_at {
            InviteStatus::Expired
        } else {
            InviteStatus::Pending
        }
    }

    /// Whether `user` may accept it (an invite naming a username or email is for that account
    /// only).
    pub fn is_for(&self, user: &Me) -> bool {
        self.for_whom.as_deref().is_none_or(|w| {
            w.eq_ignore_ascii_case(&user.username)
                || user
                    .email
                    .as_deref()
                    .is_some_and(|e| w.eq_ignore_ascii_case(e))
        })
    }
}

/// Why an invite could not be accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AcceptError {
    /// No invite has that link.
    #[error("unknown invite")]
    Unknown,
    /// Used, revoked or expired.
    #[error("invite no longer valid: {0:?}")]
    Spent(InviteStatus),
    /// It names another account.
    #[error("invite for another account")]
    NotForYou,
}

fn hash(secret: &str) -> String {
    Sha256::digest(secret.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

type InviteRow = (
    String,
    i64,
    String,
    Option<String>,
    String,
    i64,
    i64,
    Option<String>,
    Option<i64>,
    Option<String>,
    Option<i64>,
);

const COLUMNS: &str = "id, partner_id, role, for_whom, created_by, created_at, expires_at, accepted_by, accepted_at, revoked_by, revoked_at";

fn from_row(r: InviteRow) -> Option<Invite> {
    let (
        id,
        partner_id,
        role,
        for_whom,
        created_by,
        created_at,
        expires_at,
        accepted_by,
        accepted_at,
        revoked_by,
        revoked_at,
    ) = r;
    Some(Invite {
        id,
        partner_id: partner_id as u64,
        role: Role::parse(&role)?,
        for_whom,
        created_by,
        created_at,
        expires_at,
        accepted: accepted_by.zip(accepted_at),
        revoked: revoked_by.zip(revoked_at),
    })
}

impl Team {
    /// Creates an invite; returns it and the link's secret, which is shown once and never
    /// stored.
    pub async fn create_invite(
        &self,
        partner_id: u64,
        role: Role,
        for_whom: Option<String>,
        by: &str,
        now: i64,
    ) -> Result<(Invite, Secret<String>), sqlx::Error> {
        let secret = random_token(32);
        let id = random_token(9);
        let mut sql = Sql::new(
            "INSERT INTO team_invites (id, partner_id, token_hash, role, for_whom, created_by, created_at, expires_at) VALUES (",
        );
        sql.bind(Bind::Text(id.clone())).push(", ");
        sql.bind(Bind::Int(partner_id as i64)).push(", ");
        sql.bind(Bind::Text(hash(&secret))).push(", ");
        sql.bind(Bind::Text(role.as_str().to_owned())).push(", ");
        sql.bind(Bind::OptText(for_whom.clone())).push(", ");
        sql.bind(Bind::Text(by.to_owned())).push(", ");
        sql.bind(Bind::Int(now)).push(", ");
        sql.bind(Bind::Int(now + INVITE_TTL_SECS)).push(")");
        self.db.execute(&sql).await?;
        let invite = Invite {
            id,
            partner_id,
            role,
            for_whom,
            created_by: by.to_owned(),
            created_at: now,
            expires_at: now + INVITE_TTL_SECS,
            accepted: None,
            revoked: None,
        };
        Ok((invite, Secret::new(secret)))
    }

    /// The partner's invites, newest first.
    pub async fn invites(&self, partner_id: u64) -> Result<Vec<Invite>, sqlx::Error> {
        let mut sql = Sql::new(&format!(
            "SELECT {COLUMNS} FROM team_invites WHERE partner_id = "
        ));
        sql.bind(Bind::Int(partner_id as i64))
            .push(" ORDER BY created_at DESC, id");
        let rows: Vec<InviteRow> = self.db.fetch_all(&sql).await?;
        Ok(rows.into_iter().filter_map(from_row).collect())
    }

    /// The invite a link's secret belongs to.
    pub async fn invite_by_secret(
        &self,
        secret: &Secret<String>,
    ) -> Result<Option<Invite>, sqlx::Error> {
        let mut sql = Sql::new(&format!(
            "SELECT {COLUMNS} FROM team_invites WHERE token_hash = "
        ));
        sql.bind(Bind::Text(hash(secret.expose())));
        let row: Option<InviteRow> = self.db.fetch_optional(&sql).await?;
        Ok(row.and_then(from_row))
    }

    /// Accepts the invite for `user`: exactly one request can, and the membership binds to the
    /// WordPress.com user id. Returns the invite as it was.
    pub async fn accept_invite(
        &self,
        secret: &Secret<String>,
        user: &Me,
        now: i64,
    ) -> Result<Result<Invite, AcceptError>, sqlx::Error> {
        let Some(invite) = self.invite_by_secret(secret).await? else {
            return Ok(Err(AcceptError::Unknown));
        };
        match invite.status(now) {
            InviteStatus::Pending => {}
            spent => return Ok(Err(AcceptError::Spent(spent))),
        }
        if !invite.is_for(user) {
            return Ok(Err(AcceptError::NotForYou));
        }
        let mut sql = Sql::new("UPDATE team_invites SET accepted_by_id = ");
        sql.bind(Bind::Int(user.id as i64)).push(", accepted_by = ");
        sql.bind(Bind::Text(user.display_name.clone()))
            .push(", accepted_at = ");
        sql.bind(Bind::Int(now)).push(" WHERE token_hash = ");
        sql.bind(Bind::Text(hash(secret.expose())))
            .push(" AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > ");
        sql.bind(Bind::Int(now));
        if self.db.execute(&sql).await? != 1 {
            // Another request used it between the read and the update.
            return Ok(Err(AcceptError::Spent(InviteStatus::Accepted)));
        }
        self.add_member(
            invite.partner_id,
            user,
            invite.role,
            &invite.created_by,
            now,
        )
        .await?;
        Ok(Ok(invite))
    }

    /// Revokes a pending invite of `partner_id`; `true` if it was pending.
    pub async fn revoke_invite(
        &self,
        partner_id: u64,
        id: &str,
        by: &str,
        now: i64,
    ) -> Result<Option<Invite>, sqlx::Error> {
        let mut sql = Sql::new("UPDATE team_invites SET revoked_at = ");
        sql.bind(Bind::Int(now)).push(", revoked_by = ");
        sql.bind(Bind::Text(by.to_owned()))
            .push(" WHERE accepted_at IS NULL AND revoked_at IS NULL AND partner_id = ");
        sql.bind(Bind::Int(partner_id as i64)).push(" AND id = ");
        sql.bind(Bind::Text(id.to_owned()));
        if self.db.execute(&sql).await? != 1 {
            return Ok(None);
        }
        Ok(self
            .invites(partner_id)
            .await?
            .into_iter()
            .find(|i| i.id == id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn me(username: &str, email: Option<&str>) -> Me {
        Me {
            id: 1,
            username: username.into(),
            display_name: username.into(),
            email: email.map(Into::into),
        }
    }

    #[test]
    fn an_invite_naming_someone_is_for_them_only() {
        let mut invite = Invite {
            id: "i".into(),
            partner_id: 1,
            role: Role::Support,
            for_whom: None,
            created_by: "a".into(),
            created_at: 0,
            expires_at: 10,
            accepted: None,
            revoked: None,
        };
        assert!(invite.is_for(&me("anyone", None)));
        invite.for_whom = Some("Sam@Host.example".into());
        assert!(invite.is_for(&me("sam", Some("sam@host.example"))));
        assert!(!invite.is_for(&me("sam", Some("other@host.example"))));
        invite.for_whom = Some("fiona".into());
        assert!(invite.is_for(&me("Fiona", None)));
        assert_eq!(invite.status(9), InviteStatus::Pending);
        assert_eq!(invite.status(10), InviteStatus::Expired);
    }
}
