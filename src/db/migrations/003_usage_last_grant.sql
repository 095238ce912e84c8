-- The quota units the last reply commit took for a tenant in a month. Reply
-- commits of many turns share one statement; the usage row's upsert records
-- how many of the requested units it could grant, under the row's lock, so the
-- statement can tell which turns got one.
ALTER TABLE usage ADD COLUMN last_grant integer NOT NULL DEFAULT 0;
