-- PostgreSQL's sort indexes came in 0005; SQLite's 0006 catches up with them. This migration
-- keeps both databases' numbering the same.
SELECT 1;
