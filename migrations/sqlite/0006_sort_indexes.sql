-- Every sort of the list served by one index in its own order, the `id` tie-break included, so
-- a page at any depth walks an index and reads only its own rows (before, each sort index
-- lacked `id`, and SQLite sorted the whole key for "right part of ORDER BY"; a page 200 deep
-- fetched 4,000 rows to show 20).
--
-- SQLite reads `col DESC NULLS LAST` backwards from these and `col ASC NULLS LAST` forwards (the
-- non-NULL part, then the NULLs), so five indexes serve both directions of every sort.
DROP INDEX IF EXISTS activations_by_activated;
DROP INDEX IF EXISTS activations_by_search;
DROP INDEX IF EXISTS activations_by_product_sort;
DROP INDEX IF EXISTS activations_by_created;
DROP INDEX IF EXISTS activations_by_cancelled;
CREATE INDEX IF NOT EXISTS activations_sort_activated ON activations (key_id, generation, activated_on, id);
CREATE INDEX IF NOT EXISTS activations_sort_created ON activations (key_id, generation, created_on, id);
CREATE INDEX IF NOT EXISTS activations_sort_cancelled ON activations (key_id, generation, cancelled_on, id);
CREATE INDEX IF NOT EXISTS activations_sort_search ON activations (key_id, generation, search, id);
CREATE INDEX IF NOT EXISTS activations_sort_product ON activations (key_id, generation, product_sort, id);
