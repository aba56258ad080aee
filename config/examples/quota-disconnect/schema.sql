-- The table the quota-disconnect example reads: each user's traffic quota in octets.
-- Create the database with:
--   sqlite3 config/examples/quota-disconnect/sessions.sqlite < config/examples/quota-disconnect/schema.sql
CREATE TABLE IF NOT EXISTS quotas (
    username TEXT PRIMARY KEY,
    quota INTEGER NOT NULL
);
INSERT OR REPLACE INTO quotas (username, quota) VALUES ('mikem', 1000000);
