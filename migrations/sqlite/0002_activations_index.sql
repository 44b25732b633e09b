-- A per-key copy of the activations list. A sync writes generation N+1 beside the visible
-- generation N and switches over only when complete, so a failed sync leaves N in place.
-- Times are Unix seconds (UTC); `search` is the lowercased site name and URL.
CREATE TABLE IF NOT EXISTS activations (
    key_id             INTEGER NOT NULL,
    generation         INTEGER NOT NULL,
    id                 INTEGER NOT NULL,
    blog_id            INTEGER,
    user_id            INTEGER,
    external_user_id   TEXT,
    product_id         INTEGER,
    current_product_id INTEGER,
    created_on         INTEGER,
    activated_on       INTEGER,
    cancelled_on       INTEGER,
    disputed_on        INTEGER,
    site_registered    INTEGER,
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
    key_id             INTEGER PRIMARY KEY NOT NULL,
    generation         INTEGER NOT NULL DEFAULT 0,
    synced_at          INTEGER,
    running_generation INTEGER,
    lease_owner        TEXT,
    lease_until        INTEGER,
    started_at         INTEGER,
    pages_done         INTEGER NOT NULL DEFAULT 0,
    pages_total        INTEGER,
    rows_done          INTEGER NOT NULL DEFAULT 0,
    rows_total         INTEGER,
    last_error         TEXT,
    failed_at          INTEGER
);
