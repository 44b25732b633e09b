-- The counts behind every view (per product, active or not, the overview's active-at and
-- per-period figures, an invoice's active-during counts) from one narrow index instead of every
-- row, where the visibility map allows an index-only scan (issue 12). It replaces the product
-- index of 0002, which no query needed on its own. `activated_on` leads, so the overview's
-- "active at" and an invoice's "active during" counts read only the range before their date.
DROP INDEX IF EXISTS activations_by_product;
CREATE INDEX IF NOT EXISTS activations_counts
    ON activations (key_id, generation, activated_on, cancelled_on, current_product_id, product_id);

-- A product sort with a plan or date filter walked the product index testing each row, and the
-- plans it wants sit together in product order, so a page could walk most of the key first (58
-- pages a second under load). With the filter's columns included, the walk tests them in the
-- index (an index-only scan, as the copy ends with VACUUM).
DROP INDEX IF EXISTS activations_sort_product_asc;
DROP INDEX IF EXISTS activations_sort_product_desc;
CREATE INDEX IF NOT EXISTS activations_sort_product_asc
    ON activations (key_id, generation, product_sort ASC NULLS LAST, id ASC)
    INCLUDE (current_product_id, product_id, activated_on);
CREATE INDEX IF NOT EXISTS activations_sort_product_desc
    ON activations (key_id, generation, product_sort DESC NULLS LAST, id DESC)
    INCLUDE (current_product_id, product_id, activated_on);
