//! A request's membership and team connection, kept in memory while the team's state version
//! stands (see [`crate::versions`]): a warm page reads neither from the database. Background
//! work (the connection checks, notifications) reads the database itself.

use super::{Connection, MemberSource, Role, Team};
use crate::versions::Of;

impl Team {
    /// [`Self::role_of`], for a request whose session (or token) read carried the state
    /// versions.
    pub async fn request_role_of(
        &self,
        partner_id: u64,
        user_id: u64,
        username: &str,
    ) -> Result<Option<(Role, MemberSource)>, sqlx::Error> {
        let version = self.versions.of(Of::Team);
        if let Some(role) = self.roles.get(&(partner_id, user_id), version) {
            return Ok(role);
        }
        let role = self.role_of(partner_id, user_id, username).await?;
        self.roles.put((partner_id, user_id), version, role);
        Ok(role)
    }

    /// [`Self::connection`], for a request whose session (or token) read carried the state
    /// versions.
    pub async fn request_connection(
        &self,
        partner_id: u64,
    ) -> Result<Option<Connection>, sqlx::Error> {
        let version = self.versions.of(Of::Team);
        if let Some(connection) = self.connections.get(&partner_id, version) {
            return Ok(connection);
        }
        let connection = self.connection(partner_id).await?;
        self.connections
            .put(partner_id, version, connection.clone());
        Ok(connection)
    }

    /// [`Self::acting_role`] for a request whose token read carried the state versions.
    pub async fn request_acting_role(
        &self,
        connection: &Connection,
        user_id: u64,
        username: &str,
    ) -> Result<Option<Role>, sqlx::Error> {
        if connection.owner_id == user_id {
            return Ok(Some(Role::Admin));
        }
        Ok(self
            .request_role_of(connection.partner.id, user_id, username)
            .await?
            .map(|(role, _)| role))
    }
}
