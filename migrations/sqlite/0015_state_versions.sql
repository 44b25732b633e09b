-- What the portal keeps in memory between requests (memberships, team connections, each key's
-- copy state) is worth keeping only while its row here has not moved. Every request reads these
-- rows in the statement that reads its session (or its API token), so a change made by another
-- replica, or by the `token` command beside a running portal, is seen at the next request. The
-- triggers move a row in the same transaction as the change, whoever makes it.
CREATE TABLE state_versions (
    name TEXT PRIMARY KEY NOT NULL,
    n    INTEGER NOT NULL
);
INSERT INTO state_versions (name, n) VALUES ('team', 0);

CREATE TRIGGER team_members_inserted AFTER INSERT ON team_members
BEGIN UPDATE state_versions SET n = n + 1 WHERE name = 'team'; END;
CREATE TRIGGER team_members_updated AFTER UPDATE ON team_members
BEGIN UPDATE state_versions SET n = n + 1 WHERE name = 'team'; END;
CREATE TRIGGER team_members_deleted AFTER DELETE ON team_members
BEGIN UPDATE state_versions SET n = n + 1 WHERE name = 'team'; END;
CREATE TRIGGER team_connections_inserted AFTER INSERT ON team_connections
BEGIN UPDATE state_versions SET n = n + 1 WHERE name = 'team'; END;
CREATE TRIGGER team_connections_updated AFTER UPDATE ON team_connections
BEGIN UPDATE state_versions SET n = n + 1 WHERE name = 'team'; END;
CREATE TRIGGER team_connections_deleted AFTER DELETE ON team_connections
BEGIN UPDATE state_versions SET n = n + 1 WHERE name = 'team'; END;

-- One row per key: a copy's progress moves its own key's row only.
CREATE TRIGGER key_syncs_inserted AFTER INSERT ON key_syncs
BEGIN
    INSERT OR IGNORE INTO state_versions (name, n) VALUES ('key:' || NEW.key_id, 0);
    UPDATE state_versions SET n = n + 1 WHERE name = 'key:' || NEW.key_id;
END;
CREATE TRIGGER key_syncs_updated AFTER UPDATE ON key_syncs
BEGIN
    INSERT OR IGNORE INTO state_versions (name, n) VALUES ('key:' || NEW.key_id, 0);
    UPDATE state_versions SET n = n + 1 WHERE name = 'key:' || NEW.key_id;
END;
CREATE TRIGGER key_syncs_deleted AFTER DELETE ON key_syncs
BEGIN
    INSERT OR IGNORE INTO state_versions (name, n) VALUES ('key:' || OLD.key_id, 0);
    UPDATE state_versions SET n = n + 1 WHERE name = 'key:' || OLD.key_id;
END;
