-- The times of a conversation's latest agent answers (the reply commits that
-- queued a reply), for the per-customer answer budget (docs/behaviour.md,
-- "The answer budget"). The reply commit appends to it in the same update
-- that already writes the conversation row, and keeps only what the tenant's
-- budget can still count (at most `answers` entries, none older than its
-- window), so the array stays a few entries long. Kept on the row, not in one
-- process's memory, so the budget holds when the lease moves to another process.
ALTER TABLE conversations ADD COLUMN answered_at timestamptz[] NOT NULL DEFAULT '{}';
