-- Portal API tokens (`src/tokens/`): named, scoped, expiring, revocable bearer tokens for
-- scripts, accepted on /api/v1 and on CSV downloads only. The secret is shown once and never
-- stored: only its SHA-256 (the secret holds 256 random bits, so an unkeyed hash cannot be
-- reversed) and its first characters, which tell tokens apart on the page.
CREATE TABLE api_tokens (
    id              TEXT PRIMARY KEY NOT NULL,
    token_hash      TEXT NOT NULL UNIQUE,
    prefix          TEXT NOT NULL,
    partner_id      BIGINT NOT NULL,
    user_id         BIGINT NOT NULL,
    username        TEXT NOT NULL,
    user_name       TEXT NOT NULL,
    name            TEXT NOT NULL,
    scopes          TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    expires_at      BIGINT NOT NULL,
    revoked_at      BIGINT,
    revoked_by      TEXT,
    last_used_at    BIGINT,
    last_used_from  TEXT,
    refused_at      BIGINT
);
CREATE INDEX api_tokens_partner ON api_tokens (partner_id, created_at);
CREATE INDEX api_tokens_user ON api_tokens (user_id, created_at);
