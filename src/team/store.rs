//! Connections and memberships in the database (`team_connections`, `team_members`), with the
//! allow-list file's members merged in.

use super::{FileMember, Role, Team};
use crate::{
    db::{Bind, Dialect, Sql, Tx},
    upstream::{BearerToken, Me, Partner},
};

/// A partner shared with its team.
#[derive(Debug, Clone)]
pub struct Connection {
    /// The partner as the connection's token last listed it (its keys).
    pub partner: Partner,
    /// The owner's token.
    pub token: BearerToken,
    /// Who connected it (or last reconnected it).
    pub owner_id: u64,
    /// Their name.
    pub owner_name: String,
    /// Unix seconds.
    pub connected_at: i64,
    /// Unix seconds of the last successful check.
    pub checked_at: i64,
    /// Unix seconds when WordPress.com rejected the token, if it did.
    pub broken_at: Option<i64>,
    /// Why it is broken.
    pub broken_reason: Option<String>,
}

impl Connection {
    /// Whether reports can be read through it.
    pub fn is_live(&self) -> bool {
        self.broken_at.is_none()
    }
}

/// Where a membership comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberSource {
    /// An accepted invite (the Team page can change it).
    Invite,
    /// The allow-list file (managed by configuration).
    File,
}

/// One member of a partner's team.
#[derive(Debug, Clone)]
pub struct Member {
    /// WordPress.com user id (file lines that name a username have none until we know it).
    pub user_id: Option<u64>,
    /// WordPress.com username, or the file's name for them.
    pub username: String,
    /// Display name.
    pub display_name: String,
    /// Role.
    pub role: Role,
    /// Unix seconds.
    pub added_at: i64,
    /// Who added them.
    pub added_by: String,
    /// Invite or file.
    pub source: MemberSource,
}

/// A team change that is not allowed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TeamError {
    /// No such member (or one managed by the file).
    #[error("no such member")]
    NoMember,
    /// The change would leave the team without an admin.
    #[error("the last admin cannot be removed")]
    LastAdmin,
    /// The database failed.
    #[error("database: {0}")]
    Db(String),
}

impl From<sqlx::Error> for TeamError {
    fn from(e: sqlx::Error) -> Self {
        Self::Db(e.to_string())
    }
}

type ConnectionRow = (
    i64,
    String,
    String,
    i64,
    String,
    i64,
    i64,
    Option<i64>,
    Option<String>,
);
type MemberRow = (i64, String, String, String, i64, String);

const CONNECTION_COLUMNS: &str = "partner_id, token_sealed, partner_json, owner_id, owner_name, connected_at, checked_at, broken_at, broken_reason";

fn aad(partner_id: u64) -> Vec<u8> {
    format!("team-connection:{partner_id}").into_bytes()
}

impl Team {
    fn connection_from(&self, row: ConnectionRow) -> Option<Connection> {
        let (
            partner_id,
            sealed,
            json,
            owner_id,
            owner_name,
            connected_at,
            checked_at,
            broken_at,
            broken_reason,
        ) = row;
        let partner_id = partner_id as u64;
        let token = self
            .sealer
            .open(&sealed, &aad(partner_id))
            .and_then(|b| String::from_utf8(b).ok());
        let Some(token) = token else {
            tracing::error!(
                partner_id,
                "a team connection could not be decrypted (was PORTAL_SESSION_KEY changed?)"
            );
            return None;
        };
        let partner: Partner = serde_json::from_str(&json).ok()?;
        Some(Connection {
            partner,
            token: BearerToken::new(token),
            owner_id: owner_id as u64,
            owner_name,
            connected_at,
            checked_at,
            broken_at,
            broken_reason,
        })
    }

    /// Seals again with the current key every connection token a previous key sealed (after a
    /// rotation of `PORTAL_SESSION_KEY`). Returns how many were.
    pub async fn reseal_connections(&self) -> Result<usize, sqlx::Error> {
        if !self.sealer.is_rotating() {
            return Ok(0);
        }
        let rows: Vec<(i64, String)> = self
            .db
            .fetch_all(&Sql::new(
                "SELECT partner_id, token_sealed FROM team_connections",
            ))
            .await?;
        let mut resealed = 0;
        for (partner_id, sealed) in rows {
            let aad = aad(partner_id as u64);
            let Some((plain, false)) = self.sealer.open_with(&sealed, &aad) else {
                continue;
            };
            let Some(again) = self.sealer.seal(&plain, &aad) else {
                continue;
            };
            let mut sql = Sql::new("UPDATE team_connections SET token_sealed = ");
            sql.bind(Bind::Text(again))
                .push(" WHERE partner_id = ")
                .bind(Bind::Int(partner_id))
                .push(" AND token_sealed = ")
                .bind(Bind::Text(sealed));
            resealed += usize::try_from(self.db.execute(&sql).await?).unwrap_or(0);
        }
        Ok(resealed)
    }

    /// The partner's connection, if there is one (a connection sealed under another key counts
    /// as none, and is logged).
    pub async fn connection(&self, partner_id: u64) -> Result<Option<Connection>, sqlx::Error> {
        let mut sql = Sql::new(&format!(
            "SELECT {CONNECTION_COLUMNS} FROM team_connections WHERE partner_id = "
        ));
        sql.bind(Bind::Int(partner_id as i64));
        let row: Option<ConnectionRow> = self.db.fetch_optional(&sql).await?;
        Ok(row.and_then(|r| self.connection_from(r)))
    }

    /// Every connection (the checker and the refresher walk them).
    pub async fn connections(&self) -> Result<Vec<Connection>, sqlx::Error> {
        let sql = Sql::new(&format!(
            "SELECT {CONNECTION_COLUMNS} FROM team_connections ORDER BY partner_id"
        ));
        let rows: Vec<ConnectionRow> = self.db.fetch_all(&sql).await?;
        Ok(rows
            .into_iter()
            .filter_map(|r| self.connection_from(r))
            .collect())
    }

    /// `(connections, broken ones)`, counted without opening any token (for `/metrics`).
    pub async fn connection_counts(&self) -> Result<(i64, i64), sqlx::Error> {
        let sql = Sql::new(
            "SELECT COUNT(*), COUNT(*) FILTER (WHERE broken_at IS NOT NULL) FROM team_connections",
        );
        let n = self.db.fetch_ints(&sql, 2).await?;
        Ok((
            n.first().copied().unwrap_or(0),
            n.get(1).copied().unwrap_or(0),
        ))
    }

    /// Stores (or replaces) the connection of `partner` with `token`, made by `by`. Returns
    /// whether one was replaced.
    pub async fn connect(
        &self,
        partner: &Partner,
        token: &BearerToken,
        by: &Me,
        now: i64,
    ) -> Result<bool, sqlx::Error> {
        let replaced = self.connection(partner.id).await?.is_some();
        let sealed = self
            .sealer
            .seal(token.expose().as_bytes(), &aad(partner.id))
            .ok_or_else(|| sqlx::Error::Protocol("sealing the token failed".into()))?;
        let json =
            serde_json::to_string(partner).map_err(|e| sqlx::Error::Protocol(e.to_string()))?;
        let mut sql = Sql::new(&format!(
            "INSERT INTO team_connections ({CONNECTION_COLUMNS}) VALUES ("
        ));
        sql.bind(Bind::Int(partner.id as i64)).push(", ");
        sql.bind(Bind::Text(sealed)).push(", ");
        sql.bind(Bind::Text(json)).push(", ");
        sql.bind(Bind::Int(by.id as i64)).push(", ");
        sql.bind(Bind::Text(by.display_name.clone())).push(", ");
        sql.bind(Bind::Int(now)).push(", ");
        sql.bind(Bind::Int(now)).push(
            ", NULL, NULL) ON CONFLICT (partner_id) DO UPDATE SET token_sealed = excluded.token_sealed, \
             partner_json = excluded.partner_json, owner_id = excluded.owner_id, owner_name = excluded.owner_name, \
             connected_at = excluded.connected_at, checked_at = excluded.checked_at, broken_at = NULL, broken_reason = NULL",
        );
        self.db.execute(&sql).await?;
        Ok(replaced)
    }

    /// Marks the connection broken; `true` if it was live until now (so the caller records it
    /// once, however many requests saw the 401).
    pub async fn mark_broken(
        &self,
        partner_id: u64,
        reason: &str,
        now: i64,
    ) -> Result<bool, sqlx::Error> {
        let mut sql = Sql::new("UPDATE team_connections SET broken_at = ");
        sql.bind(Bind::Int(now)).push(", broken_reason = ");
        sql.bind(Bind::Text(reason.to_owned()))
            .push(" WHERE broken_at IS NULL AND partner_id = ");
        sql.bind(Bind::Int(partner_id as i64));
        Ok(self.db.execute(&sql).await? == 1)
    }

    /// Records a successful check, with the keys the token lists now.
    pub async fn mark_checked(&self, partner: &Partner, now: i64) -> Result<(), sqlx::Error> {
        let json =
            serde_json::to_string(partner).map_err(|e| sqlx::Error::Protocol(e.to_string()))?;
        let mut sql = Sql::new("UPDATE team_connections SET checked_at = ");
        sql.bind(Bind::Int(now)).push(", partner_json = ");
        sql.bind(Bind::Text(json))
            .push(" WHERE broken_at IS NULL AND partner_id = ");
        sql.bind(Bind::Int(partner.id as i64));
        self.db.execute(&sql).await.map(drop)
    }

    /// Deletes the connection (its token with it); `true` if there was one.
    pub async fn disconnect(&self, partner_id: u64) -> Result<bool, sqlx::Error> {
        let mut sql = Sql::new("DELETE FROM team_connections WHERE partner_id = ");
        sql.bind(Bind::Int(partner_id as i64));
        Ok(self.db.execute(&sql).await? > 0)
    }

    /// The role of `user` in `partner_id`'s team: their database membership, else the file's.
    pub async fn role_of(
        &self,
        partner_id: u64,
        user_id: u64,
        username: &str,
    ) -> Result<Option<(Role, MemberSource)>, sqlx::Error> {
        let mut sql = Sql::new("SELECT role FROM team_members WHERE partner_id = ");
        sql.bind(Bind::Int(partner_id as i64))
            .push(" AND user_id = ");
        sql.bind(Bind::Int(user_id as i64));
        let row: Option<(String,)> = self.db.fetch_optional(&sql).await?;
        if let Some(role) = row.and_then(|(r,)| Role::parse(&r)) {
            return Ok(Some((role, MemberSource::Invite)));
        }
        Ok(self
            .file
            .iter()
            .find(|f| f.grants(partner_id, user_id, username))
            .map(|f| (f.role, MemberSource::File)))
    }

    /// The role `user_id` acts with through `connection` (an API token does): the owner who
    /// made the connection is an admin, anyone else a member by their membership, or no one.
    pub async fn acting_role(
        &self,
        connection: &Connection,
        user_id: u64,
        username: &str,
    ) -> Result<Option<Role>, sqlx::Error> {
        if connection.owner_id == user_id {
            return Ok(Some(Role::Admin));
        }
        Ok(self
            .role_of(connection.partner.id, user_id, username)
            .await?
            .map(|(role, _)| role))
    }

    /// The partner a user who is not an owner signs in to: their newest membership whose
    /// partner is connected, else a file line's.
    pub async fn partner_of(&self, user: &Me) -> Result<Option<u64>, sqlx::Error> {
        let mut sql = Sql::new(
            "SELECT m.partner_id FROM team_members m JOIN team_connections c ON c.partner_id = m.partner_id WHERE m.user_id = ",
        );
        sql.bind(Bind::Int(user.id as i64))
            .push(" ORDER BY m.added_at DESC LIMIT 1");
        let row: Option<(i64,)> = self.db.fetch_optional(&sql).await?;
        if let Some((p,)) = row {
            return Ok(Some(p as u64));
        }
        if self
            .file
            .iter()
            .all(|f| !f.user.matches(user.id, &user.username))
        {
            return Ok(None);
        }
        let connected: Vec<(i64,)> = self
            .db
            .fetch_all(&Sql::new(
                "SELECT partner_id FROM team_connections ORDER BY partner_id",
            ))
            .await?;
        Ok(connected.into_iter().map(|(p,)| p as u64).find(|p| {
            self.file
                .iter()
                .any(|f| f.grants(*p, user.id, &user.username))
        }))
    }

    /// Adds `user` to the team (or changes their role), as an accepted invite does.
    pub async fn add_member(
        &self,
        partner_id: u64,
        user: &Me,
        role: Role,
        by: &str,
        now: i64,
    ) -> Result<(), sqlx::Error> {
        let mut sql = Sql::new(
            "INSERT INTO team_members (partner_id, user_id, username, display_name, role, added_at, added_by) VALUES (",
        );
        sql.bind(Bind::Int(partner_id as i64)).push(", ");
        sql.bind(Bind::Int(user.id as i64)).push(", ");
        sql.bind(Bind::Text(user.username.clone())).push(", ");
        sql.bind(Bind::Text(user.display_name.clone())).push(", ");
        sql.bind(Bind::Text(role.as_str().to_owned())).push(", ");
        sql.bind(Bind::Int(now)).push(", ");
        sql.bind(Bind::Text(by.to_owned())).push(
            ") ON CONFLICT (partner_id, user_id) DO UPDATE SET role = excluded.role, username = excluded.username, \
             display_name = excluded.display_name, added_at = excluded.added_at, added_by = excluded.added_by",
        );
        self.db.execute(&sql).await.map(drop)
    }

    /// The team: database members first (by name), then the file's lines for this partner.
    pub async fn members(&self, partner_id: u64) -> Result<Vec<Member>, sqlx::Error> {
        let mut sql = Sql::new(
            "SELECT user_id, username, display_name, role, added_at, added_by FROM team_members WHERE partner_id = ",
        );
        sql.bind(Bind::Int(partner_id as i64))
            .push(" ORDER BY display_name, user_id");
        let rows: Vec<MemberRow> = self.db.fetch_all(&sql).await?;
        let mut out: Vec<Member> = rows
            .into_iter()
            .filter_map(|(id, username, display_name, role, added_at, added_by)| {
                Some(Member {
                    user_id: Some(id as u64),
                    username,
                    display_name,
                    role: Role::parse(&role)?,
                    added_at,
                    added_by,
                    source: MemberSource::Invite,
                })
            })
            .collect();
        out.extend(
            self.file
                .iter()
                .filter(|f| f.partner_id.is_none_or(|p| p == partner_id))
                .map(|f: &FileMember| {
                    let (user_id, username) = match &f.user {
                        super::UserRef::Id(i) => (Some(*i), format!("user {i}")),
                        super::UserRef::Name(n) => (None, n.clone()),
                    };
                    Member {
                        user_id,
                        display_name: username.clone(),
                        username,
                        role: f.role,
                        added_at: 0,
                        added_by: "PORTAL_TEAM_FILE".to_owned(),
                        source: MemberSource::File,
                    }
                }),
        );
        Ok(out)
    }

    /// Starts a transaction in which the team of `partner_id` changes one decision at a time:
    /// on PostgreSQL its member rows are locked (`FOR UPDATE`), and SQLite's `BEGIN IMMEDIATE`
    /// already holds the database's one write lock. Two admins demoting each other at once then
    /// decide one after the other, and the last-admin rule holds.
    async fn team_transaction(&self, partner_id: u64) -> Result<Tx, sqlx::Error> {
        let mut tx = self.db.begin().await?;
        if tx.dialect() == Dialect::Postgres {
            let mut lock = Sql::new("SELECT user_id FROM team_members WHERE partner_id = ");
            lock.bind(Bind::Int(partner_id as i64))
                .push(" ORDER BY user_id FOR UPDATE");
            tx.execute(&lock).await?;
        }
        Ok(tx)
    }

    /// A member's stored role, read in `tx`.
    async fn role_in(
        tx: &mut Tx,
        partner_id: u64,
        user_id: u64,
    ) -> Result<Option<Role>, sqlx::Error> {
        let mut sql = Sql::new("SELECT role FROM team_members WHERE partner_id = ");
        sql.bind(Bind::Int(partner_id as i64))
            .push(" AND user_id = ");
        sql.bind(Bind::Int(user_id as i64));
        let row: Option<(String,)> = tx.fetch_optional(&sql).await?;
        Ok(row.and_then(|(r,)| Role::parse(&r)))
    }

    /// Admins of `partner_id`, read in `tx`: stored members and the file's lines.
    async fn admins_in(&self, tx: &mut Tx, partner_id: u64) -> Result<usize, sqlx::Error> {
        let mut sql = Sql::new("SELECT COUNT(*) FROM team_members WHERE partner_id = ");
        sql.bind(Bind::Int(partner_id as i64))
            .push(" AND role = ")
            .bind(Bind::Text(Role::Admin.as_str().to_owned()));
        let stored: Option<(i64,)> = tx.fetch_optional(&sql).await?;
        let in_file = self
            .file
            .iter()
            .filter(|f| f.partner_id.is_none_or(|p| p == partner_id) && f.role.is_admin())
            .count();
        Ok(usize::try_from(stored.map_or(0, |(n,)| n)).unwrap_or(0) + in_file)
    }

    /// Changes a member's role; the last admin cannot stop being one. Returns the old role.
    pub async fn set_role(
        &self,
        partner_id: u64,
        user_id: u64,
        role: Role,
    ) -> Result<Role, TeamError> {
        let mut tx = self.team_transaction(partner_id).await?;
        let old = Self::role_in(&mut tx, partner_id, user_id)
            .await?
            .ok_or(TeamError::NoMember)?;
        if old.is_admin() && !role.is_admin() && self.admins_in(&mut tx, partner_id).await? <= 1 {
            tx.rollback().await?;
            return Err(TeamError::LastAdmin);
        }
        let mut sql = Sql::new("UPDATE team_members SET role = ");
        sql.bind(Bind::Text(role.as_str().to_owned()))
            .push(" WHERE partner_id = ");
        sql.bind(Bind::Int(partner_id as i64))
            .push(" AND user_id = ");
        sql.bind(Bind::Int(user_id as i64));
        tx.execute(&sql).await?;
        tx.commit().await?;
        Ok(old)
    }

    /// Removes a member; the last admin cannot be removed. Returns the removed member's name.
    pub async fn remove_member(&self, partner_id: u64, user_id: u64) -> Result<String, TeamError> {
        let mut tx = self.team_transaction(partner_id).await?;
        let mut sql = Sql::new("SELECT display_name, role FROM team_members WHERE partner_id = ");
        sql.bind(Bind::Int(partner_id as i64))
            .push(" AND user_id = ");
        sql.bind(Bind::Int(user_id as i64));
        let row: Option<(String, String)> = tx.fetch_optional(&sql).await?;
        let (name, role) = row.ok_or(TeamError::NoMember)?;
        if Role::parse(&role).is_some_and(Role::is_admin)
            && self.admins_in(&mut tx, partner_id).await? <= 1
        {
            tx.rollback().await?;
            return Err(TeamError::LastAdmin);
        }
        let mut sql = Sql::new("DELETE FROM team_members WHERE partner_id = ");
        sql.bind(Bind::Int(partner_id as i64))
            .push(" AND user_id = ");
        sql.bind(Bind::Int(user_id as i64));
        tx.execute(&sql).await?;
        tx.commit().await?;
        Ok(name)
    }
}
