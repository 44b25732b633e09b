-- Team access (issue 13). A partner's owner shares the partner's reports with a *connection*
-- (the owner's token, sealed with the session key); members sign in with their own
-- WordPress.com accounts and get a role; invites are one-time links stored only as hashes; the
-- audit log is append-only from the portal's point of view (only the retention purge deletes).
CREATE TABLE team_connections (
    partner_id      INTEGER PRIMARY KEY NOT NULL,
    token_sealed    TEXT NOT NULL,
    partner_json    TEXT NOT NULL,
    owner_id        INTEGER NOT NULL,
    owner_name      TEXT NOT NULL,
    connected_at    INTEGER NOT NULL,
    checked_at      INTEGER NOT NULL,
    broken_at       INTEGER,
    broken_reason   TEXT
);

CREATE TABLE team_members (
    partner_id      INTEGER NOT NULL,
    user_id         INTEGER NOT NULL,
    username        TEXT NOT NULL,
    display_name    TEXT NOT NULL,
    role            TEXT NOT NULL CHECK (role IN ('admin', 'finance', 'support')),
    added_at        INTEGER NOT NULL,
    added_by        TEXT NOT NULL,
    PRIMARY KEY (partner_id, user_id)
);
CREATE INDEX team_members_user ON team_members (user_id);

CREATE TABLE team_invites (
    id              TEXT PRIMARY KEY NOT NULL,
    partner_id      INTEGER NOT NULL,
    token_hash      TEXT NOT NULL UNIQUE,
    role            TEXT NOT NULL CHECK (role IN ('admin', 'finance', 'support')),
    for_whom        TEXT,
    created_by      TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL,
    accepted_by_id  INTEGER,
    accepted_by     TEXT,
    accepted_at     INTEGER,
    revoked_at      INTEGER,
    revoked_by      TEXT
);
CREATE INDEX team_invites_partner ON team_invites (partner_id, created_at);

CREATE TABLE audit_log (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    at              INTEGER NOT NULL,
    partner_id      INTEGER,
    actor_id        INTEGER,
    actor           TEXT NOT NULL,
    action          TEXT NOT NULL,
    detail          TEXT NOT NULL
);
CREATE INDEX audit_log_partner_at ON audit_log (partner_id, at);
CREATE INDEX audit_log_at ON audit_log (at);
