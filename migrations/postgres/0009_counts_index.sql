-- The counts behind every view (per product, active or not, the overview's active-at and
-- per-period figures, an invoice's active-during counts) from one narrow index instead of every
-- row, where the visibility map allows an index-only scan (issue 12). It replaces the product
-- index of 0002, which no query needed on its own. `activated_on` leads, so the overview's
-- "active at" and an invoice's "active during" counts read only the range before their date.
DROP INDEX IF EXISTS activations_by_product;
CREATE INDEX IF NOT EXISTS activations_counts
    ON activations (key_id, generation, activated_on, cancelled_on, current_product_id, product_id);
