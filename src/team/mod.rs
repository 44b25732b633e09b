//! Team access: a partner's owner *connects* the partner once (their token, sealed at rest with
//! the session key), and support and finance staff sign in with their own WordPress.com
//! accounts as *members* with a [`Role`]. Invites are one-time links stored only as hashes; an
//! optional allow-list file grants memberships as configuration; every team action and report
//! download lands in the [`audit`] log.
//!
//! This module is the model and its storage only: it knows the database and the sealer, never a
//! session or a route. The auth module decides who a request is from it; `pages::team` draws it.

pub mod audit;
pub mod file;
mod invites;
mod kept;
mod store;
pub mod watch;

use std::sync::Arc;

use serde::{Deserialize, Serialize};

pub use self::{
    file::{FileMember, UserRef},
    invites::{AcceptError, Invite, InviteStatus},
    store::{Connection, Member, MemberSource, TeamError},
};
use crate::{
    db::Db,
    secret::Sealer,
    versions::{Kept, Versions},
};

/// What a member may see and do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Everything, including the Team and Audit pages.
    Admin,
    /// Every report, invoices and amounts included, and all CSVs.
    Finance,
    /// Overview counts and activations; no invoices and no amounts.
    Support,
}

impl Role {
    /// Every role, most powerful first.
    pub const ALL: [Role; 3] = [Role::Admin, Role::Finance, Role::Support];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Finance => "finance",
            Self::Support => "support",
        }
    }

    /// The stored name, read back.
    pub fn parse(text: &str) -> Option<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "admin" => Some(Self::Admin),
            "finance" => Some(Self::Finance),
            "support" => Some(Self::Support),
            _ => None,
        }
    }

    /// The name shown to people.
    pub fn label(self) -> &'static str {
        match self {
            Self::Admin => "Admin",
            Self::Finance => "Finance",
            Self::Support => "Support",
        }
    }

    /// What the role may do, in a few words (the Team page and the invite page).
    pub fn summary(self) -> &'static str {
        match self {
            Self::Admin => "every report, the Team and Audit pages",
            Self::Finance => "every report, invoices and amounts included, and all CSVs",
            Self::Support => "the overview and the activations; no invoices or amounts",
        }
    }

    /// Invoices, amounts and invoice CSVs.
    pub fn sees_money(self) -> bool {
        matches!(self, Self::Admin | Self::Finance)
    }

    /// The Team and Audit pages.
    pub fn is_admin(self) -> bool {
        self == Self::Admin
    }
}

/// How long an invite link stays valid.
pub const INVITE_TTL_SECS: i64 = 7 * 24 * 3600;

/// The team store: cheap to clone.
#[derive(Debug, Clone)]
pub struct Team {
    db: Db,
    sealer: Sealer,
    file: Arc<Vec<FileMember>>,
    /// The newest state versions read (see [`crate::versions`]).
    versions: Versions,
    /// Requests' memberships, by partner and user, while the team's version stands.
    roles: Kept<(u64, u64), Option<(Role, MemberSource)>>,
    /// Requests' team connections, by partner, while the team's version stands.
    connections: Kept<u64, Option<Connection>>,
}

impl Team {
    /// The team store on `db`, sealing connection tokens with `sealer`, with the allow-list
    /// file's entries (`PORTAL_TEAM_FILE`, read at start-up); requests' memberships and
    /// connections are kept while `versions` says they stand.
    pub fn new(db: Db, sealer: Sealer, file: Vec<FileMember>, versions: Versions) -> Self {
        Self {
            db,
            sealer,
            file: Arc::new(file),
            versions,
            roles: Kept::default(),
            connections: Kept::default(),
        }
    }

    /// The database.
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// The allow-list file's entries.
    pub fn file_members(&self) -> &[FileMember] {
        &self.file
    }
}
