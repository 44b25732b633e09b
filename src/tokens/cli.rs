//! `partner-portal token create|revoke|list`: tokens for deployments configured as code. The
//! command reads the portal's database as `serve` does; `create` prints the secret once, on
//! standard output, and everything else on standard error.

use anyhow::{Context as _, anyhow, bail};

use super::{ApiToken, NewToken, Scopes, Tokens};
use crate::{
    db::{Bind, Db, Purpose, Sql},
    secret::Secret,
    team::{Role, Team, audit::Actor},
};

/// Someone a token can be made for: a team member, or the owner who connected the partner.
#[derive(Debug, Clone)]
pub struct Holder {
    /// The partner.
    pub partner_id: u64,
    /// WordPress.com user id.
    pub user_id: u64,
    /// Username (the owner's display name when only that is stored).
    pub username: String,
    /// Display name.
    pub display_name: String,
    /// Role now.
    pub role: Role,
}

/// Opens the portal's database (running its migrations) and the team store on it.
pub async fn open(
    database_url: &str,
    team: &crate::config::Config,
) -> anyhow::Result<(Tokens, Team)> {
    let db = Db::open(database_url, 2, Purpose::Index)
        .await
        .map_err(|e| anyhow!("PORTAL_DATABASE_URL: {e}"))?;
    // A command reads the database afresh each time: nothing is kept between its requests.
    let versions = crate::versions::Versions::default();
    // A portal running on the same SQLite file sees this command's writes through the file's
    // WAL index (see `crate::versions`), as it sees any other process's.
    let team = Team::new(
        db.clone(),
        team.sealer(),
        team.team_file.clone(),
        versions.clone(),
    );
    Ok((Tokens::new(db, versions), team))
}

/// Who `user` (a WordPress.com user id or username) is, per partner: members of a team and
/// owners who connected a partner.
pub async fn holders(team: &Team, user: &str) -> anyhow::Result<Vec<Holder>> {
    let id: Option<i64> = user.trim().parse().ok();
    let mut out = Vec::new();
    let mut sql = Sql::new(
        "SELECT partner_id, user_id, username, display_name, role FROM team_members WHERE lower(username) = ",
    );
    sql.bind(Bind::Text(user.trim().to_lowercase()));
    if let Some(id) = id {
        sql.push(" OR user_id = ").bind(Bind::Int(id));
    }
    let rows: Vec<(i64, i64, String, String, String)> = team.db().fetch_all(&sql).await?;
    for (partner, uid, username, display, role) in rows {
        if let Some(role) = Role::parse(&role) {
            out.push(Holder {
                partner_id: partner as u64,
                user_id: uid as u64,
                username,
                display_name: display,
                role,
            });
        }
    }
    // The allow-list file's lines that name the user by id, for their partner or every
    // connected one (a line naming a username has no user id to give a token).
    let connected: Vec<(i64,)> = team
        .db()
        .fetch_all(&Sql::new("SELECT partner_id FROM team_connections"))
        .await?;
    for line in team.file_members() {
        let crate::team::UserRef::Id(uid) = line.user else {
            continue;
        };
        if id != Some(uid as i64) {
            continue;
        }
        for (partner,) in &connected {
            let partner = *partner as u64;
            if line.partner_id.is_some_and(|p| p != partner)
                || out
                    .iter()
                    .any(|h| h.partner_id == partner && h.user_id == uid)
            {
                continue;
            }
            out.push(Holder {
                partner_id: partner,
                user_id: uid,
                username: format!("user {uid}"),
                display_name: format!("user {uid}"),
                role: line.role,
            });
        }
    }
    let mut sql = Sql::new(
        "SELECT partner_id, owner_id, owner_name FROM team_connections WHERE owner_name = ",
    );
    sql.bind(Bind::Text(user.trim().to_owned()));
    if let Some(id) = id {
        sql.push(" OR owner_id = ").bind(Bind::Int(id));
    }
    let owners: Vec<(i64, i64, String)> = team.db().fetch_all(&sql).await?;
    for (partner, uid, name) in owners {
        out.retain(|h| !(h.partner_id == partner as u64 && h.user_id == uid as u64));
        out.push(Holder {
            partner_id: partner as u64,
            user_id: uid as u64,
            username: name.clone(),
            display_name: name,
            role: Role::Admin,
        });
    }
    Ok(out)
}

/// What `token create` asks for.
#[derive(Debug, Clone)]
pub struct CreateRequest {
    /// User id or username.
    pub user: String,
    /// The partner, when the user is on more than one team.
    pub partner: Option<u64>,
    /// The token's name.
    pub name: String,
    /// Scopes, as written (`activations:read,invoices:read`).
    pub scopes: String,
    /// Days until it expires.
    pub days: i64,
}

/// Makes a token as `request` says, audits it, and returns it with its secret.
pub async fn create(
    tokens: &Tokens,
    team: &Team,
    request: &CreateRequest,
    now: i64,
) -> anyhow::Result<(ApiToken, Secret<String>)> {
    let scopes = Scopes::parse(&request.scopes).ok_or_else(|| {
        anyhow!("--scope: use activations:read, invoices:read and audit:read, separated by commas")
    })?;
    if !super::EXPIRY_DAYS.contains(&request.days) {
        bail!("--expires: use 7, 30, 90 or 365 days");
    }
    let name = request.name.trim();
    if name.is_empty() || name.chars().count() > super::MAX_NAME {
        bail!("--name: 1 to {} characters", super::MAX_NAME);
    }
    let mut found = holders(team, &request.user).await?;
    if let Some(p) = request.partner {
        found.retain(|h| h.partner_id == p);
    }
    let holder = match found.as_slice() {
        [one] => one.clone(),
        [] => bail!(
            "--user: {} is not a member of a team, nor the owner who connected one",
            request.user
        ),
        many => bail!(
            "--user: {} is on the teams of partners {}; name one with --partner",
            request.user,
            many.iter()
                .map(|h| h.partner_id.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    if let Some(wider) = scopes.wider_than(holder.role) {
        bail!(
            "--scope: {} is wider than {}'s role ({})",
            wider.as_str(),
            holder.display_name,
            holder.role.label()
        );
    }
    let (token, secret) = tokens
        .create(
            &NewToken {
                partner_id: holder.partner_id,
                user_id: holder.user_id,
                username: holder.username.clone(),
                user_name: holder.display_name.clone(),
                name: name.to_owned(),
                scopes,
                days: request.days,
            },
            now,
        )
        .await
        .context("storing the token")?;
    team.audit(
        now,
        Some(holder.partner_id),
        &command_line(),
        "api_token_created",
        format!(
            "“{}” ({}…) for {}, {}, from the command line",
            token.name,
            token.prefix,
            token.user_name,
            token.scopes.to_text()
        ),
    )
    .await;
    Ok((token, secret))
}

/// Revokes the token whose id or shown prefix is `which`.
pub async fn revoke(
    tokens: &Tokens,
    team: &Team,
    which: &str,
    now: i64,
) -> anyhow::Result<ApiToken> {
    let all = all_tokens(tokens).await?;
    let matching: Vec<&ApiToken> = all
        .iter()
        .filter(|t| {
            t.revoked.is_none() && (t.id == which || t.prefix == which.trim_end_matches('…'))
        })
        .collect();
    let token = match matching.as_slice() {
        [one] => *one,
        [] => bail!("no active token has the id or prefix {which}"),
        _ => bail!("more than one token starts with {which}; use its id (token list)"),
    };
    let revoked = tokens
        .revoke(token.partner_id, &token.id, None, "the command line", now)
        .await?
        .ok_or_else(|| anyhow!("the token was revoked meanwhile"))?;
    team.audit(
        now,
        Some(revoked.partner_id),
        &command_line(),
        "api_token_revoked",
        format!(
            "“{}” ({}…) of {}, from the command line",
            revoked.name, revoked.prefix, revoked.user_name
        ),
    )
    .await;
    Ok(revoked)
}

/// Every token of every partner, newest first.
pub async fn all_tokens(tokens: &Tokens) -> anyhow::Result<Vec<ApiToken>> {
    Ok(tokens.all().await?)
}

fn command_line() -> Actor {
    Actor {
        id: None,
        name: "partner-portal command line".to_owned(),
    }
}
