-- Substring search without a scan (issue 12): a pg_trgm GIN index serves `search LIKE '%term%'`
-- for terms of three or more characters. pg_trgm is a trusted extension (PostgreSQL 13+), so a
-- database owner may create it; where it is not installed or not allowed, the migration still
-- succeeds, searches keep scanning, and the notice below says so in the server log.
DO $$
BEGIN
    CREATE EXTENSION IF NOT EXISTS pg_trgm;
    CREATE INDEX IF NOT EXISTS activations_search_trgm ON activations USING gin (search gin_trgm_ops);
EXCEPTION WHEN OTHERS THEN
    RAISE NOTICE 'pg_trgm is unavailable (%): activations searches scan the key', SQLERRM;
END
$$;
