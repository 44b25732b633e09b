-- Pages sort by `<column> <dir> NULLS LAST, id <dir>`. PostgreSQL walks an index backwards only
-- as `DESC NULLS FIRST`, and the single-column sort indexes lacked `id`, so every page sorted the
-- whole key. One index per sort column and direction, ending in `id`, matches each sort exactly:
-- a page reads its own rows and stops.
CREATE INDEX IF NOT EXISTS activations_sort_activated_asc ON activations (key_id, generation, activated_on ASC NULLS LAST, id ASC);
CREATE INDEX IF NOT EXISTS activations_sort_activated_desc ON activations (key_id, generation, activated_on DESC NULLS LAST, id DESC);
CREATE INDEX IF NOT EXISTS activations_sort_created_asc ON activations (key_id, generation, created_on ASC NULLS LAST, id ASC);
CREATE INDEX IF NOT EXISTS activations_sort_created_desc ON activations (key_id, generation, created_on DESC NULLS LAST, id DESC);
CREATE INDEX IF NOT EXISTS activations_sort_cancelled_asc ON activations (key_id, generation, cancelled_on ASC NULLS LAST, id ASC);
CREATE INDEX IF NOT EXISTS activations_sort_cancelled_desc ON activations (key_id, generation, cancelled_on DESC NULLS LAST, id DESC);
CREATE INDEX IF NOT EXISTS activations_sort_search_asc ON activations (key_id, generation, search ASC NULLS LAST, id ASC);
CREATE INDEX IF NOT EXISTS activations_sort_search_desc ON activations (key_id, generation, search DESC NULLS LAST, id DESC);
CREATE INDEX IF NOT EXISTS activations_sort_product_asc ON activations (key_id, generation, product_sort ASC NULLS LAST, id ASC);
CREATE INDEX IF NOT EXISTS activations_sort_product_desc ON activations (key_id, generation, product_sort DESC NULLS LAST, id DESC);
-- The ascending ones serve every lookup the single-column indexes did.
DROP INDEX IF EXISTS activations_by_search;
DROP INDEX IF EXISTS activations_by_product_sort;
DROP INDEX IF EXISTS activations_by_created;
DROP INDEX IF EXISTS activations_by_cancelled;
