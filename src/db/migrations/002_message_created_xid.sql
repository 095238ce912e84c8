-- The transaction that inserted each message. The operator API pages the
-- conversation list over the snapshot of its first page (docs/api.md: a walk
-- neither skips nor repeats a conversation while messages keep arriving), and
-- needs to tell which messages that snapshot saw. xmin cannot serve: status
-- and disposition updates replace it. Rows that exist before this migration
-- get the migration's own id, visible to every later snapshot.
ALTER TABLE messages ADD COLUMN created_xid xid8 NOT NULL DEFAULT pg_current_xact_id();
