-- The table the select-by-database example reads: which NAS each user is on.
-- Create the database with:
--   sqlite3 config/examples/select-by-database/sessions.sqlite < config/examples/select-by-database/schema.sql
CREATE TABLE IF NOT EXISTS users (
    username TEXT PRIMARY KEY,
    nas_identifier TEXT NOT NULL
);
INSERT OR REPLACE INTO users (username, nas_identifier) VALUES ('mikem', 'radiator-nas-simulator');
