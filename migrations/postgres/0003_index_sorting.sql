-- Sorting by product name and the other sortable columns without sorting every row: a stored,
-- lowercased product name and one index per sort column (key, generation first, as every
-- query filters on them).
ALTER TABLE activations ADD COLUMN product_sort TEXT NOT NULL DEFAULT '';
CREATE INDEX IF NOT EXISTS activations_by_search ON activations (key_id, generation, search);
CREATE INDEX IF NOT EXISTS activations_by_product_sort ON activations (key_id, generation, product_sort);
CREATE INDEX IF NOT EXISTS activations_by_created ON activations (key_id, generation, created_on);
CREATE INDEX IF NOT EXISTS activations_by_cancelled ON activations (key_id, generation, cancelled_on);
