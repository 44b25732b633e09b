-- What the portal keeps in memory between requests (memberships, team connections, each key's
-- copy state) is worth keeping only while its row here has not moved. Every request reads these
-- rows in the statement that reads its session (or its API token), so a change made by another
-- replica is seen at the next request. The triggers move a row in the same transaction as the
-- change, whoever makes it.
CREATE TABLE state_versions (
    name TEXT PRIMARY KEY NOT NULL,
    n    BIGINT NOT NULL
);
INSERT INTO state_versions (name, n) VALUES ('team', 0);

CREATE FUNCTION state_versions_team() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE state_versions SET n = n + 1 WHERE name = 'team';
    RETURN NULL;
END
$$;

CREATE TRIGGER team_members_changed AFTER INSERT OR UPDATE OR DELETE ON team_members
    FOR EACH STATEMENT EXECUTE FUNCTION state_versions_team();
CREATE TRIGGER team_connections_changed AFTER INSERT OR UPDATE OR DELETE ON team_connections
    FOR EACH STATEMENT EXECUTE FUNCTION state_versions_team();

-- One row per key: a copy's progress moves (and locks) its own key's row only, beside the
-- key_syncs row its transaction holds anyway.
CREATE FUNCTION state_versions_key() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    k BIGINT;
BEGIN
    IF TG_OP = 'DELETE' THEN
        k := OLD.key_id;
    ELSE
        k := NEW.key_id;
    END IF;
    INSERT INTO state_versions (name, n) VALUES ('key:' || k, 1)
        ON CONFLICT (name) DO UPDATE SET n = state_versions.n + 1;
    RETURN NULL;
END
$$;

CREATE TRIGGER key_syncs_changed AFTER INSERT OR UPDATE OR DELETE ON key_syncs
    FOR EACH ROW EXECUTE FUNCTION state_versions_key();
