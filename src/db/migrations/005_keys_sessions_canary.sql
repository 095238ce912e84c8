-- Keys with a life cycle, server-side dashboard sessions, and the secret-key
-- canary (docs/security.md).

-- When a key last authenticated a request, written at most once a minute per
-- key per process (not per request).
ALTER TABLE api_keys ADD COLUMN last_used_at timestamptz;
CREATE INDEX api_keys_tenant_idx ON api_keys (tenant_id, id);

-- A dashboard session: the cookie holds a random token, this table only its
-- hash. A tenant session names the key it was opened with (revoking the key
-- ends it); an admin session names a hash of the admin key it was opened with
-- (changing WAGATE_ADMIN_KEY ends it).
CREATE TABLE sessions (
  id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  token_hash     text NOT NULL UNIQUE,
  api_key_id     bigint REFERENCES api_keys (id),
  tenant_id      bigint REFERENCES tenants (id),
  admin_key_hash text,
  created_at     timestamptz NOT NULL DEFAULT now(),
  expires_at     timestamptz NOT NULL,
  CHECK ((api_key_id IS NOT NULL AND tenant_id IS NOT NULL AND admin_key_hash IS NULL)
      OR (api_key_id IS NULL AND tenant_id IS NULL AND admin_key_hash IS NOT NULL))
);
CREATE INDEX sessions_key_idx ON sessions (api_key_id) WHERE api_key_id IS NOT NULL;
CREATE INDEX sessions_expires_idx ON sessions (expires_at);

-- A known text encrypted with WAGATE_SECRET_KEY the first time a gateway
-- starts: a later start with a key that cannot decrypt it refuses to run
-- instead of failing on every stored secret. One row.
CREATE TABLE secret_canary (
  id         smallint PRIMARY KEY DEFAULT 1 CHECK (id = 1),
  value_enc  text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
