-- A tenant's whole life, data protection and the operator's audit log
-- (docs/operations.md, "A tenant's life"; docs/security.md).

-- disabled_at: webhooks are still stored and acknowledged, nothing is
-- answered (disposition tenant_disabled), the tenant's keys answer 403.
-- deleting_at: the tenant is being deleted; its channels no longer route and
-- housekeeping removes its rows in small batches, the tenants row last.
-- retention_days: messages older than this are removed by housekeeping; NULL
-- keeps them forever.
ALTER TABLE tenants
  ADD COLUMN disabled_at    timestamptz,
  ADD COLUMN deleting_at    timestamptz,
  ADD COLUMN retention_days integer CHECK (retention_days BETWEEN 1 AND 36500);

-- A removed channel stops routing at once; housekeeping then removes its
-- contacts, conversations and messages in batches, and the row last.
ALTER TABLE channels ADD COLUMN removed_at timestamptz;

ALTER TABLE messages DROP CONSTRAINT messages_disposition_check;
ALTER TABLE messages ADD CONSTRAINT messages_disposition_check
  CHECK (disposition IN ('answered', 'coalesced', 'paused', 'over_quota', 'no_answer_needed', 'window_closed',
                         'duplicate', 'agent_failed', 'send_failed', 'unroutable', 'tenant_disabled'));

-- Retention and tenant deletion walk a tenant's messages by age; contacts are
-- deleted by tenant.
CREATE INDEX messages_tenant_created_idx ON messages (tenant_id, created_at);
CREATE INDEX contacts_tenant_idx ON contacts (tenant_id);

-- Operator actions: who (the admin key, a tenant key, the command line), when,
-- on which tenant, what, on what, and a small detail that never holds a
-- secret or a customer's personal data. No foreign keys: the record of a
-- tenant's deletion outlives the tenant.
CREATE TABLE audit_log (
  id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  tenant_id    bigint,
  actor        text NOT NULL CHECK (actor IN ('admin', 'tenant_key', 'cli')),
  actor_key_id bigint,
  via          text NOT NULL CHECK (via IN ('api', 'dashboard', 'cli')),
  action       text NOT NULL,
  target_type  text,
  target_id    text,
  detail       jsonb NOT NULL DEFAULT '{}'::jsonb,
  created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX audit_log_tenant_idx ON audit_log (tenant_id, id DESC);
