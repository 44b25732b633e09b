//! Portal API tokens: a named, scoped, expiring bearer token a person makes for a script, shown
//! once, stored only as a hash, revocable, with its last use on record.
//!
//! A token acts for its owner, through the partner's team connection, with the owner's role as
//! it is at each request and no more than the token's scopes. It is accepted on `/api/v1/*` and
//! on CSV downloads (GET only), and nowhere else: never on a page or a form, so a token cannot
//! become a browser session or carry a cross-site request (`auth::bearer`).

pub mod cli;
mod request;
pub mod secret;

use serde::{Deserialize, Serialize};

use crate::{
    db::{Bind, Db, Sql, batch::Queue},
    secret::{Secret, random_token},
    team::Role,
    versions::{Remembered, Versions},
};

/// The token in `Authorization`, when it is a portal API token (`Bearer ppt_…`). Other bearer
/// values (a proxy's own) are left alone.
pub fn portal_token(headers: &axum::http::HeaderMap) -> Option<&str> {
    let value = headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, rest) = value.split_once(' ')?;
    let token = rest.trim();
    (scheme.eq_ignore_ascii_case("bearer") && token.starts_with(secret::PREFIX)).then_some(token)
}

/// What a token may read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Scope {
    /// Keys, activations, counts and their CSV (every token has it).
    #[serde(rename = "activations:read")]
    Activations,
    /// Invoices and amounts, and their CSVs (finance and admin).
    #[serde(rename = "invoices:read")]
    Invoices,
    /// The audit log's CSV (admin).
    #[serde(rename = "audit:read")]
    Audit,
}

impl Scope {
    /// Every scope.
    pub const ALL: [Scope; 3] = [Scope::Activations, Scope::Invoices, Scope::Audit];

    /// The stored and written name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Activations => "activations:read",
            Self::Invoices => "invoices:read",
            Self::Audit => "audit:read",
        }
    }

    /// The name read back.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text.trim())
    }

    /// What the scope lets a script read, in a few words.
    pub fn label(self) -> &'static str {
        match self {
            Self::Activations => "Read keys, activations and counts",
            Self::Invoices => "Read invoices and amounts",
            Self::Audit => "Read the audit log",
        }
    }

    /// What a role without it lacks, as a refusal says it ("invoices or amounts").
    pub fn what(self) -> &'static str {
        match self {
            Self::Activations => "activations",
            Self::Invoices => "invoices or amounts",
            Self::Audit => "the audit log",
        }
    }

    /// Whether `role` may hold it: a token is never wider than its owner's role.
    pub fn allowed_for(self, role: Role) -> bool {
        match self {
            Self::Activations => true,
            Self::Invoices => role.sees_money(),
            Self::Audit => role.is_admin(),
        }
    }
}

/// A token's scopes: activations always, the others as chosen.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Scopes(Vec<Scope>);

impl Scopes {
    /// `list`, with activations added, sorted and without repeats.
    pub fn new(list: impl IntoIterator<Item = Scope>) -> Self {
        let mut v: Vec<Scope> = list.into_iter().collect();
        v.push(Scope::Activations);
        v.sort_unstable();
        v.dedup();
        Self(v)
    }

    /// Reads `activations:read invoices:read` (spaces or commas); `None` for an unknown name.
    pub fn parse(text: &str) -> Option<Self> {
        let mut v = Vec::new();
        for part in text.split([' ', ',']).filter(|p| !p.trim().is_empty()) {
            v.push(Scope::parse(part)?);
        }
        Some(Self::new(v))
    }

    /// Whether it includes `scope`.
    pub fn has(&self, scope: Scope) -> bool {
        self.0.contains(&scope)
    }

    /// The scopes.
    pub fn iter(&self) -> impl Iterator<Item = Scope> + '_ {
        self.0.iter().copied()
    }

    /// The stored form: names separated by spaces (as OAuth writes scopes).
    pub fn to_text(&self) -> String {
        self.0
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The first scope `role` may not hold, if any.
    pub fn wider_than(&self, role: Role) -> Option<Scope> {
        self.iter().find(|s| !s.allowed_for(role))
    }
}

/// The expiries a token may be given, in days (the page's choices; 90 is the default).
pub const EXPIRY_DAYS: [i64; 4] = [7, 30, 90, 365];
/// The default expiry.
pub const DEFAULT_EXPIRY_DAYS: i64 = 90;

/// A stored token (never its secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiToken {
    /// Public id (revoke forms name it).
    pub id: String,
    /// `ppt_` and the first characters of the secret.
    pub prefix: String,
    /// The partner.
    pub partner_id: u64,
    /// The owner's WordPress.com user id.
    pub user_id: u64,
    /// The owner's WordPress.com username (the allow-list file may name them by it).
    pub username: String,
    /// The owner's name.
    pub user_name: String,
    /// The owner's name for the token.
    pub name: String,
    /// What it may read.
    pub scopes: Scopes,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds; refused from then on.
    pub expires_at: i64,
    /// When and by whom it was revoked.
    pub revoked: Option<(i64, String)>,
    /// Unix seconds of the last use (recorded at most once a minute).
    pub last_used_at: Option<i64>,
    /// The client address of the last use.
    pub last_used_from: Option<String>,
    /// When a request with it was first refused after it expired.
    pub refused_at: Option<i64>,
}

impl ApiToken {
    /// What it is now.
    pub fn status(&self, now: i64) -> TokenStatus {
        if self.revoked.is_some() {
            TokenStatus::Revoked
        } else if now >= self.expires_at {
            TokenStatus::Expired
        } else {
            TokenStatus::Active
        }
    }
}

/// Whether a token is accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenStatus {
    /// Accepted.
    Active,
    /// Past its expiry.
    Expired,
    /// Revoked.
    Revoked,
}

impl TokenStatus {
    /// The page's word.
    pub fn label(self) -> &'static str {
        match self {
            Self::Active => "Active",
            Self::Expired => "Expired",
            Self::Revoked => "Revoked",
        }
    }
}

/// What a new token is for.
#[derive(Debug, Clone)]
pub struct NewToken {
    /// The partner.
    pub partner_id: u64,
    /// The owner's user id.
    pub user_id: u64,
    /// The owner's username.
    pub username: String,
    /// The owner's name.
    pub user_name: String,
    /// The token's name.
    pub name: String,
    /// Its scopes.
    pub scopes: Scopes,
    /// Days until it expires.
    pub days: i64,
}

/// The longest token name kept.
pub const MAX_NAME: usize = 80;

type TokenRow = (
    String,
    String,
    i64,
    i64,
    String,
    String,
    String,
    String,
    i64,
    i64,
    Option<i64>,
    Option<String>,
    Option<i64>,
    Option<String>,
    Option<i64>,
);

const COLUMNS: &str = "id, prefix, partner_id, user_id, username, user_name, name, scopes, created_at, expires_at, revoked_at, revoked_by, last_used_at, last_used_from, refused_at";

fn from_row(r: TokenRow) -> ApiToken {
    let (
        id,
        prefix,
        partner_id,
        user_id,
        username,
        user_name,
        name,
        scopes,
        created_at,
        expires_at,
        revoked_at,
        revoked_by,
        last_used_at,
        last_used_from,
        refused_at,
    ) = r;
    ApiToken {
        id,
        prefix,
        partner_id: partner_id as u64,
        user_id: user_id as u64,
        username,
        user_name,
        name,
        // A scope this binary does not know is dropped, never widened.
        scopes: Scopes::new(scopes.split(' ').filter_map(Scope::parse)),
        created_at,
        expires_at,
        revoked: revoked_at.map(|t| (t, revoked_by.unwrap_or_default())),
        last_used_at,
        last_used_from,
        refused_at,
    }
}

/// The token store: cheap to clone.
#[derive(Debug, Clone)]
pub struct Tokens {
    db: Db,
    /// Takes in the versions a request's token read carries (see [`crate::versions`]).
    versions: Versions,
    /// Tokens as this process last read them for a request: used only while
    /// [`Versions::current`] says nothing else can have written them.
    kept: Remembered<String, ApiToken>,
    /// Token reads waiting to go to the database together ([`crate::db::batch`]).
    queue: Queue<Tokens>,
}

impl Tokens {
    /// The store on `db`; a request's token read also reads the state versions, into
    /// `versions`.
    pub fn new(db: Db, versions: Versions) -> Self {
        Self {
            db,
            versions,
            kept: Remembered::default(),
            queue: Queue::default(),
        }
    }

    /// Runs the write `sql`, forgetting the kept tokens before and after it.
    async fn write(&self, sql: &Sql) -> Result<u64, sqlx::Error> {
        self.kept.writing_any();
        let done = self.db.execute(sql).await;
        self.kept.writing_any();
        done
    }

    /// Makes a token; returns it and its secret, which is shown once and never stored.
    pub async fn create(
        &self,
        new: &NewToken,
        now: i64,
    ) -> Result<(ApiToken, Secret<String>), sqlx::Error> {
        let secret = secret::generate();
        let token = ApiToken {
            id: random_token(9),
            prefix: secret::shown(secret.expose()),
            partner_id: new.partner_id,
            user_id: new.user_id,
            username: new.username.clone(),
            user_name: new.user_name.clone(),
            name: new.name.chars().take(MAX_NAME).collect(),
            scopes: new.scopes.clone(),
            created_at: now,
            expires_at: now + new.days * 86_400,
            revoked: None,
            last_used_at: None,
            last_used_from: None,
            refused_at: None,
        };
        let mut sql = Sql::new(
            "INSERT INTO api_tokens (id, token_hash, prefix, partner_id, user_id, username, user_name, name, scopes, created_at, expires_at) VALUES (",
        );
        for (i, b) in [
            Bind::Text(token.id.clone()),
            Bind::Text(secret::hash(secret.expose())),
            Bind::Text(token.prefix.clone()),
            Bind::Int(token.partner_id as i64),
            Bind::Int(token.user_id as i64),
            Bind::Text(token.username.clone()),
            Bind::Text(token.user_name.clone()),
            Bind::Text(token.name.clone()),
            Bind::Text(token.scopes.to_text()),
            Bind::Int(token.created_at),
            Bind::Int(token.expires_at),
        ]
        .into_iter()
        .enumerate()
        {
            if i > 0 {
                sql.push(", ");
            }
            sql.bind(b);
        }
        sql.push(")");
        self.write(&sql).await?;
        Ok((token, secret))
    }

    /// The token whose secret hashes to `hash`.
    pub async fn by_hash(&self, hash: &str) -> Result<Option<ApiToken>, sqlx::Error> {
        let mut sql = Sql::new(&format!(
            "SELECT {COLUMNS} FROM api_tokens WHERE token_hash = "
        ));
        sql.bind(Bind::Text(hash.to_owned()));
        let row: Option<TokenRow> = self.db.fetch_optional(&sql).await?;
        Ok(row.map(from_row))
    }

    /// A partner's tokens (all of them, or `user`'s only), newest first.
    pub async fn list(
        &self,
        partner_id: u64,
        user: Option<u64>,
    ) -> Result<Vec<ApiToken>, sqlx::Error> {
        let mut sql = Sql::new(&format!(
            "SELECT {COLUMNS} FROM api_tokens WHERE partner_id = "
        ));
        sql.bind(Bind::Int(partner_id as i64));
        if let Some(u) = user {
            sql.push(" AND user_id = ").bind(Bind::Int(u as i64));
        }
        sql.push(" ORDER BY created_at DESC, id");
        let rows: Vec<TokenRow> = self.db.fetch_all(&sql).await?;
        Ok(rows.into_iter().map(from_row).collect())
    }

    /// Every token of every partner, newest first (the command line's list).
    pub async fn all(&self) -> Result<Vec<ApiToken>, sqlx::Error> {
        let sql = Sql::new(&format!(
            "SELECT {COLUMNS} FROM api_tokens ORDER BY created_at DESC, id"
        ));
        let rows: Vec<TokenRow> = self.db.fetch_all(&sql).await?;
        Ok(rows.into_iter().map(from_row).collect())
    }

    /// Revokes token `id` of `partner_id` (only `user`'s own when given); the token as it was
    /// when it was still active, or `None` when there was none to revoke.
    pub async fn revoke(
        &self,
        partner_id: u64,
        id: &str,
        user: Option<u64>,
        by: &str,
        now: i64,
    ) -> Result<Option<ApiToken>, sqlx::Error> {
        let mut sql = Sql::new("UPDATE api_tokens SET revoked_at = ");
        sql.bind(Bind::Int(now)).push(", revoked_by = ");
        sql.bind(Bind::Text(by.to_owned()))
            .push(" WHERE revoked_at IS NULL AND partner_id = ");
        sql.bind(Bind::Int(partner_id as i64)).push(" AND id = ");
        sql.bind(Bind::Text(id.to_owned()));
        if let Some(u) = user {
            sql.push(" AND user_id = ").bind(Bind::Int(u as i64));
        }
        if self.write(&sql).await? != 1 {
            return Ok(None);
        }
        Ok(self
            .list(partner_id, user)
            .await?
            .into_iter()
            .find(|t| t.id == id))
    }

    /// Records a use at `now` from `from`, at most once a minute per token; `Some(previous)`
    /// (the last use before it) when this call recorded it, so exactly one replica sees a
    /// day's first use.
    pub async fn record_use(
        &self,
        token: &ApiToken,
        from: Option<String>,
        now: i64,
    ) -> Result<Option<Option<i64>>, sqlx::Error> {
        if token.last_used_at.is_some_and(|t| now - t < 60) {
            return Ok(None);
        }
        let mut sql = Sql::new("UPDATE api_tokens SET last_used_at = ");
        sql.bind(Bind::Int(now)).push(", last_used_from = ");
        sql.bind(Bind::OptText(from)).push(" WHERE id = ");
        sql.bind(Bind::Text(token.id.clone()));
        match token.last_used_at {
            Some(t) => sql.push(" AND last_used_at = ").bind(Bind::Int(t)),
            None => sql.push(" AND last_used_at IS NULL"),
        };
        Ok((self.write(&sql).await? == 1).then_some(token.last_used_at))
    }

    /// Notes the first refusal of an expired token; `true` for the call that noted it.
    pub async fn note_refused(&self, id: &str, now: i64) -> Result<bool, sqlx::Error> {
        let mut sql = Sql::new("UPDATE api_tokens SET refused_at = ");
        sql.bind(Bind::Int(now))
            .push(" WHERE refused_at IS NULL AND id = ");
        sql.bind(Bind::Text(id.to_owned()));
        Ok(self.write(&sql).await? == 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_portal_bearer_token_is_read() {
        let mut h = axum::http::HeaderMap::new();
        assert_eq!(portal_token(&h), None);
        h.insert(
            axum::http::header::AUTHORIZATION,
            "Bearer ppt_abc".parse().unwrap(),
        );
        assert_eq!(portal_token(&h), Some("ppt_abc"));
        h.insert(
            axum::http::header::AUTHORIZATION,
            "bearer  ppt_abc ".parse().unwrap(),
        );
        assert_eq!(portal_token(&h), Some("ppt_abc"));
        h.insert(
            axum::http::header::AUTHORIZATION,
            "Bearer proxy-token".parse().unwrap(),
        );
        assert_eq!(portal_token(&h), None);
        h.insert(
            axum::http::header::AUTHORIZATION,
            "Basic cHB0Xzp4".parse().unwrap(),
        );
        assert_eq!(portal_token(&h), None);
    }

    #[test]
    fn scopes_always_hold_activations_and_are_never_wider_than_the_role() {
        let s = Scopes::parse("invoices:read").unwrap();
        assert!(s.has(Scope::Activations) && s.has(Scope::Invoices));
        assert_eq!(s.to_text(), "activations:read invoices:read");
        assert_eq!(s.wider_than(Role::Support), Some(Scope::Invoices));
        assert_eq!(s.wider_than(Role::Finance), None);
        assert_eq!(
            Scopes::parse("audit:read")
                .unwrap()
                .wider_than(Role::Finance),
            Some(Scope::Audit)
        );
        assert!(Scopes::parse("everything").is_none());
        assert_eq!(Scopes::parse("").unwrap().to_text(), "activations:read");
    }
}
