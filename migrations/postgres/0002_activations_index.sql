-- A per-key copy of the activations list. A sync writes generation N+1 beside the visible
-- generation N and switches over only when complete, so a failed sync leaves N in place.
-- Times are Unix seconds (UTC); `search` is the lowercased site name and URL.
CREATE TABLE IF NOT EXISTS activations (
    key_id             BIGINT NOT NULL,
    generation         BIGINT NOT NULL,
    id                 BIGINT NOT NULL,
    blog_id            BIGINT,
    user_id            BIGINT,
    external_user_id   TEXT,
    product_id         BIGINT,
    current_product_id BIGINT,
    created_on         BIGINT,
    activated_on       BIGINT,
    cancelled_on       BIGINT,
    disputed_on        BIGINT,
    site_registered    BIGINT,
    site_url           TEXT NOT NULL DEFAULT '',
    site_name          TEXT NOT NULL DEFAULT '',
    search             TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (key_id, generation, id)
);
CREATE INDEX IF NOT EXISTS activations_by_activated ON activations (key_id, generation, activated_on);
CREATE INDEX IF NOT EXISTS activations_by_product ON activations (key_id, generation, current_product_id);

-- One row per key: which generation is visible, and the state of the running sync. The lease
-- (owner, until) makes at most one sync run per key across every replica.
CREATE TABLE IF NOT EXISTS key_syncs (
    key_id             BIGINT PRIMARY KEY NOT NULL,
    generation         BIGINT NOT NULL DEFAULT 0,
    synced_at          BIGINT,
    running_generation BIGINT,
    lease_owner        TEXT,
    lease_until        BIGINT,
    started_at         BIGINT,
    pages_done         BIGINT NOT NULL DEFAULT 0,
    pages_total        BIGINT,
    rows_done          BIGINT NOT NULL DEFAULT 0,
    rows_total         BIGINT,
    last_error         TEXT,
    failed_at          BIGINT
);
