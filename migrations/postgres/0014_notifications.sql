-- Notifications (`src/notify/`): channels a person (or, for the whole partner, an admin) sets
-- up, the rules each channel follows, and a durable outbox the background sender delivers from.
-- An outbox row is written with an idempotency key (`fact`: "weekly:2026-W48",
-- "invoice_new:in_123", ...) unique per channel, so a rule that sees the same fact twice, on one
-- replica or two, writes it once; its id is the event id a webhook receiver deduplicates by.
CREATE TABLE notify_channels (
    id              TEXT PRIMARY KEY NOT NULL,
    partner_id      BIGINT NOT NULL,
    -- The person it belongs to; NULL for a channel the partner's admins share.
    user_id         BIGINT,
    username        TEXT NOT NULL,
    created_by      TEXT NOT NULL,
    -- For a shared channel, the role whose view its messages take (a personal channel takes its
    -- owner's role at each send).
    audience        TEXT NOT NULL CHECK (audience IN ('admin', 'finance', 'support')),
    kind            TEXT NOT NULL CHECK (kind IN ('email', 'webhook')),
    target          TEXT NOT NULL,
    format          TEXT NOT NULL CHECK (format IN ('email', 'json', 'slack')),
    -- The webhook's signing secret, sealed with the session key.
    secret_sealed   TEXT,
    created_at      BIGINT NOT NULL
);
CREATE INDEX notify_channels_partner ON notify_channels (partner_id, created_at);

CREATE TABLE notify_rules (
    channel_id      TEXT NOT NULL,
    rule            TEXT NOT NULL,
    -- Cancellations in a day above this many (0: not used).
    threshold       BIGINT NOT NULL DEFAULT 0,
    -- Cancellations in a day above this percentage of the 4-week daily average (0: not used).
    percent         BIGINT NOT NULL DEFAULT 0,
    -- At most one alert of this rule per this many seconds (a flapping condition is damped).
    damp_secs       BIGINT NOT NULL DEFAULT 0,
    last_fired_at   BIGINT,
    PRIMARY KEY (channel_id, rule)
);

CREATE TABLE notify_outbox (
    id              TEXT PRIMARY KEY NOT NULL,
    channel_id      TEXT NOT NULL,
    partner_id      BIGINT NOT NULL,
    rule            TEXT NOT NULL,
    fact            TEXT NOT NULL,
    payload         TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    -- pending, sent, failed (gave up after 3 days), cancelled (channel removed, member gone)
    status          TEXT NOT NULL,
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_at         BIGINT NOT NULL,
    lease_until     BIGINT,
    sent_at         BIGINT,
    last_answer     TEXT,
    UNIQUE (channel_id, fact)
);
CREATE INDEX notify_outbox_due ON notify_outbox (status, next_at);
CREATE INDEX notify_outbox_partner ON notify_outbox (partner_id, created_at);

CREATE TABLE notify_attempts (
    id              BIGSERIAL PRIMARY KEY,
    event_id        TEXT NOT NULL,
    at              BIGINT NOT NULL,
    ok              BIGINT NOT NULL,
    answer          TEXT NOT NULL
);
CREATE INDEX notify_attempts_event ON notify_attempts (event_id, at);

-- What the rules remember between rounds: the invoices already seen per key (so that the first
-- look sets a baseline instead of announcing every past invoice).
CREATE TABLE notify_state (
    partner_id      BIGINT NOT NULL,
    name            TEXT NOT NULL,
    value           TEXT NOT NULL,
    PRIMARY KEY (partner_id, name)
);
