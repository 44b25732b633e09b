-- PostgreSQL's 0010 makes `product_sort` compare byte by byte, so that a product sort's page can
-- seek to the product it falls in. SQLite's TEXT columns already compare that way (BINARY), so
-- this migration only keeps the two lists in step.
SELECT 1;
