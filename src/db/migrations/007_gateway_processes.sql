-- The gateway processes alive now (docs/architecture.md, "Leases of a
-- killed process"). Each process holds, for its whole life, a session-level
-- advisory lock on lock_key on a connection of its own, and PostgreSQL
-- releases it when that session ends: a registered owner whose lock is gone
-- is a dead process, and its leases need not run out before another process
-- takes them. An owner not registered here (a process that gave its lock up
-- at shutdown) keeps the plain time-bounded lease.
CREATE TABLE gateway_processes (
  -- The lease owner id of conversations.lease_owner.
  owner      uuid PRIMARY KEY,
  -- The advisory lock (pg_advisory_lock(bigint)): the owner id's first 64 bits.
  lock_key   bigint NOT NULL,
  started_at timestamptz NOT NULL DEFAULT now(),
  -- When the lock was last taken (again, after its connection dropped): a
  -- sweep that saw the lock missing removes the row only if this is unchanged.
  locked_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);
