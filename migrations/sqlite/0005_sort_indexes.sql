-- SQLite reads an index in either direction and places NULLs itself; its sort indexes from
-- 0003 serve every page already. This migration exists so both databases keep the same
-- numbering (PostgreSQL's 0005 adds direction-specific sort indexes).
SELECT 1;
