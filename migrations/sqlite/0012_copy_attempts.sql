-- Copies that survive faults (`src/index/sync.rs`, `src/index/lease.rs`).
--
-- Every attempt at a copy gets a generation of its own, never reused: a replica that stalled
-- and woke after another took its key over can no longer write into, index or drop the other's
-- table. A copy that stops (a crash, a lost lease, a database or WordPress.com failure) keeps
-- what it stored, and whichever process holds the lease next resumes from it.

ALTER TABLE key_syncs ADD COLUMN next_generation INTEGER NOT NULL DEFAULT 1;
UPDATE key_syncs SET next_generation = MAX(generation, COALESCE(running_generation, 0)) + 1;
-- A stopped copy's table, kept to resume from.
ALTER TABLE key_syncs ADD COLUMN resume_generation INTEGER;
-- The pages the running (or stopped) copy stored, as ranges ("1-37,39").
ALTER TABLE key_syncs ADD COLUMN pages_stored TEXT;
-- Its plan: rows asked per page, rows per page WordPress.com honoured, pages planned, the
-- total of its first page, rows received (repeats included).
ALTER TABLE key_syncs ADD COLUMN copy_asked INTEGER;
ALTER TABLE key_syncs ADD COLUMN copy_per_page INTEGER;
ALTER TABLE key_syncs ADD COLUMN copy_planned INTEGER;
ALTER TABLE key_syncs ADD COLUMN copy_first_total INTEGER;
ALTER TABLE key_syncs ADD COLUMN copy_received INTEGER NOT NULL DEFAULT 0;
-- What the background schedule needs to resume it: the partner, and the token it reads with
-- (sealed under PORTAL_SESSION_KEY; deleted once the copy completes or is given up).
ALTER TABLE key_syncs ADD COLUMN copy_partner INTEGER;
ALTER TABLE key_syncs ADD COLUMN copy_token TEXT;
-- A paused copy resumes by itself after this, and pauses in a row space out.
ALTER TABLE key_syncs ADD COLUMN resume_after INTEGER;
ALTER TABLE key_syncs ADD COLUMN pauses INTEGER NOT NULL DEFAULT 0;
-- What the running copy is waiting for ("WordPress.com answered 503 for page 221; trying again").
ALTER TABLE key_syncs ADD COLUMN retry_note TEXT;
-- Earlier releases kept a driver's text here; only sentences for people are kept now.
UPDATE key_syncs SET last_error = NULL;
