-- Each copy in a table of its own (issue 12; `src/index/copies.rs`): `activations_{key}_{n}`,
-- made by the copy that fills it, indexed once full, dropped after it is replaced. Rows in one
-- shared table landed in eight B-trees and the trigram index among every other copy's rows, and
-- a copy of 1,000,000 activations took 75 s here (63-89 s on SQLite), mostly in index upkeep.
--
-- The copies are caches of WordPress.com, so the shared table goes with what it holds: every
-- key shows WordPress.com's own first page on its next view while a new copy is made, as on a
-- first visit. Generation numbers start again at 1 (the new tables are named after them).

DROP TABLE IF EXISTS activations CASCADE;
UPDATE key_syncs SET generation = 0, synced_at = NULL, running_generation = NULL,
    lease_owner = NULL, lease_until = NULL, started_at = NULL, pages_done = 0,
    pages_total = NULL, rows_done = 0, rows_total = NULL, reported_total = NULL,
    copied_rows = NULL, copy_note = NULL;
