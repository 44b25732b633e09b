-- A product sort's page now seeks to the product it falls in, from counts per product and the
-- order of their `product_sort` values as the portal computes it: byte by byte. The column had
-- the database's collation, which under a locale such as en_US.UTF-8 ignores punctuation at
-- first (so unknown products, "~product …", did not sort last either). "C" compares bytes, as
-- SQLite does; changing it rebuilds the indexes that hold the column.
ALTER TABLE activations ALTER COLUMN product_sort SET DATA TYPE TEXT COLLATE "C";
