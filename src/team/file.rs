//! The allow-list file (`PORTAL_TEAM_FILE`), for deployments configured as code. One member per
//! line, `ROLE USER [PARTNER_ID]`; `#` starts a comment:
//!
//! ```text
//! # role    WordPress.com user id or username    partner id (optional)
//! finance   1003
//! support   sam-support
//! admin     42                                    77
//! ```
//!
//! Without a partner id a line applies to every partner connected on this deployment (one
//! company, usually one partner). A user id is the stronger form: a username can be changed on
//! WordPress.com, an id cannot.

use super::Role;

/// Who a line names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserRef {
    /// A WordPress.com user id.
    Id(u64),
    /// A WordPress.com username (compared without case).
    Name(String),
}

impl UserRef {
    /// Whether this names the user `id` / `username`.
    pub fn matches(&self, id: u64, username: &str) -> bool {
        match self {
            Self::Id(i) => *i == id,
            Self::Name(n) => n.eq_ignore_ascii_case(username),
        }
    }
}

impl std::fmt::Display for UserRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Id(i) => write!(f, "user {i}"),
            Self::Name(n) => f.write_str(n),
        }
    }
}

/// One line of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileMember {
    /// The role it grants.
    pub role: Role,
    /// Who.
    pub user: UserRef,
    /// For this partner only, or every connected partner.
    pub partner_id: Option<u64>,
}

impl FileMember {
    /// Whether this line makes `id` / `username` a member of `partner_id`.
    pub fn grants(&self, partner_id: u64, id: u64, username: &str) -> bool {
        self.partner_id.is_none_or(|p| p == partner_id) && self.user.matches(id, username)
    }
}

/// Reads the file's text; an error names the line.
pub fn parse(text: &str) -> Result<Vec<FileMember>, String> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let bad = |why: &str| format!("line {}: {why}", n + 1);
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (role, user, partner) = match fields.as_slice() {
            [role, user] => (role, user, None),
            [role, user, partner] => (role, user, Some(partner)),
            _ => return Err(bad("expected ROLE USER [PARTNER_ID]")),
        };
        let role =
            Role::parse(role).ok_or_else(|| bad("the role must be admin, finance or support"))?;
        let user = match user.parse::<u64>() {
            Ok(id) => UserRef::Id(id),
            Err(_)
                if user
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) =>
            {
                UserRef::Name(user.to_ascii_lowercase())
            }
            Err(_) => return Err(bad("the user must be a WordPress.com user id or username")),
        };
        let partner_id = match partner {
            None => None,
            Some(p) => Some(
                p.parse::<u64>()
                    .map_err(|_| bad("the partner id must be a number"))?,
            ),
        };
        out.push(FileMember {
            role,
            user,
            partner_id,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_ids_usernames_partners_and_comments() {
        let text = "# team\nfinance 1003\n\nsupport Sam-Support  # the desk\nadmin 42 77\n";
        let members = parse(text).unwrap();
        assert_eq!(members.len(), 3);
        assert_eq!(members[0].user, UserRef::Id(1003));
        assert_eq!(members[1].role, Role::Support);
        assert!(members[1].grants(5, 9, "sam-support"));
        assert!(members[2].grants(77, 42, "x"));
        assert!(!members[2].grants(78, 42, "x"));
    }

    #[test]
    fn names_the_bad_line() {
        assert_eq!(
            parse("finance 1\nowner 2\n").unwrap_err(),
            "line 2: the role must be admin, finance or support"
        );
        assert!(parse("finance a@b.c\n").unwrap_err().starts_with("line 1"));
        assert!(parse("finance 1 x\n").is_err());
        assert!(parse("finance\n").is_err());
    }
}
