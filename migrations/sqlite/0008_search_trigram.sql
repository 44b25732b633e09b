-- Substring search without a scan (issue 12): an FTS5 trigram index over `search` (the lowercased
-- site name and URL), kept in step with `activations` by triggers. It is an external-content
-- table with `detail = none` (no positions: a smaller index that is quicker to write), so it
-- stores postings only and reads the text back from `activations` to confirm a match. Queries
-- use it through `search LIKE` on this table for terms of three or more characters
-- (index::search); shorter terms still scan, as a trigram cannot serve them.
CREATE VIRTUAL TABLE activations_search USING fts5(
    search,
    content = 'activations',
    content_rowid = 'rowid',
    tokenize = 'trigram',
    detail = 'none'
);
INSERT INTO activations_search (rowid, search) SELECT rowid, search FROM activations;
CREATE TRIGGER activations_search_insert AFTER INSERT ON activations BEGIN
    INSERT INTO activations_search (rowid, search) VALUES (new.rowid, new.search);
END;
CREATE TRIGGER activations_search_delete AFTER DELETE ON activations BEGIN
    INSERT INTO activations_search (activations_search, rowid, search) VALUES ('delete', old.rowid, old.search);
END;
CREATE TRIGGER activations_search_update AFTER UPDATE OF search ON activations BEGIN
    INSERT INTO activations_search (activations_search, rowid, search) VALUES ('delete', old.rowid, old.search);
    INSERT INTO activations_search (rowid, search) VALUES (new.rowid, new.search);
END;
