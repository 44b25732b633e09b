//! A request's read of its API token: from memory when nothing can have changed it, else in
//! a statement shared with the token reads that wait beside it ([`crate::db::batch`]), which
//! also reads the state versions.

use std::{collections::HashMap, sync::Arc};

use super::{COLUMNS, Tokens, from_row};
use crate::{
    db::{
        Sql,
        batch::{Answer, ReadMany},
    },
    tokens::ApiToken,
    versions::Versions,
};

/// A row of the shared read: a token found (every column none when none was), its hash, and
/// the state versions.
#[derive(sqlx::FromRow)]
struct Found {
    token_hash: Option<String>,
    id: Option<String>,
    prefix: Option<String>,
    partner_id: Option<i64>,
    user_id: Option<i64>,
    username: Option<String>,
    user_name: Option<String>,
    name: Option<String>,
    scopes: Option<String>,
    created_at: Option<i64>,
    expires_at: Option<i64>,
    revoked_at: Option<i64>,
    revoked_by: Option<String>,
    last_used_at: Option<i64>,
    last_used_from: Option<String>,
    refused_at: Option<i64>,
    versions: Option<String>,
}

impl Found {
    /// The token's hash and the token, when the row holds one.
    fn token(self) -> Option<(String, ApiToken)> {
        let token = from_row((
            self.id?,
            self.prefix?,
            self.partner_id?,
            self.user_id?,
            self.username?,
            self.user_name?,
            self.name?,
            self.scopes?,
            self.created_at?,
            self.expires_at?,
            self.revoked_at,
            self.revoked_by,
            self.last_used_at,
            self.last_used_from,
            self.refused_at,
        ));
        Some((self.token_hash?, token))
    }
}

impl Tokens {
    /// [`Self::by_hash`] for a request: the same round trip reads the state versions, so the
    /// request's membership and connection can come from memory. The token itself comes from
    /// memory when nothing committed since it was read (on SQLite, in the process that holds
    /// the file: see [`Versions::current`]).
    pub async fn for_request(&self, hash: &str) -> Result<Option<ApiToken>, Arc<sqlx::Error>> {
        if let Some(stamp) = self.versions.current()
            && let Some(token) = self.kept.get(hash, stamp, |_| true)
        {
            return Ok(Some(token));
        }
        self.queue.read(self, hash.to_owned()).await
    }
}

impl ReadMany for Tokens {
    type Key = String;
    type Value = ApiToken;
    type Error = Arc<sqlx::Error>;

    /// One statement: the tokens whose hashes are `hashes`, and the state versions.
    async fn read_many(
        &self,
        hashes: &[String],
    ) -> Result<HashMap<String, Answer<Self>>, Arc<sqlx::Error>> {
        let before = self.versions.before();
        let epoch = self.kept.epoch();
        let columns: Vec<String> = COLUMNS.split(", ").map(|c| format!("t.{c}")).collect();
        let mut sql = Sql::new(&format!(
            "SELECT t.token_hash, {}, {} AS versions FROM (SELECT 1 AS one) AS one \
             LEFT JOIN api_tokens t ON t.token_hash IN (",
            columns.join(", "),
            Versions::select(self.db.dialect())
        ));
        sql.bind_texts(hashes).push(")");
        let rows: Vec<Found> = self.db.fetch_all(&sql).await.map_err(Arc::new)?;
        self.versions
            .read_after(before, rows.first().and_then(|r| r.versions.as_deref()));
        let mut found = HashMap::new();
        for (hash, token) in rows.into_iter().filter_map(Found::token) {
            self.kept
                .remember(epoch, before.stamp(), hash.clone(), token.clone());
            found.insert(hash, Ok(Some(token)));
        }
        Ok(found)
    }

    fn dropped() -> Arc<sqlx::Error> {
        Arc::new(sqlx::Error::Protocol("the token read was dropped".into()))
    }
}
