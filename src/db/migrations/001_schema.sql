-- The whole schema (docs/schema.md). Every table that holds tenant data carries
-- tenant_id, so the schema can later be distributed by tenant.

CREATE TABLE tenants (
  id                    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name                  text NOT NULL,
  monthly_message_limit integer CHECK (monthly_message_limit >= 0),
  -- The agent configuration, camelCase as in the API. Secrets (apiKey, secret)
  -- are stored encrypted in agent_secrets, never here.
  agent                 jsonb NOT NULL DEFAULT '{}'::jsonb,
  agent_secrets         jsonb NOT NULL DEFAULT '{}'::jsonb,
  -- Bumped on every change so processes can tell their cached copy is stale.
  config_version        integer NOT NULL DEFAULT 1,
  created_at            timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE channels (
  id                   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  tenant_id            bigint NOT NULL REFERENCES tenants (id),
  phone_number_id      text NOT NULL UNIQUE,
  display_phone_number text NOT NULL,
  access_token_enc     text NOT NULL,
  app_secret_enc       text,
  verify_token_enc     text,
  messages_per_second  integer NOT NULL DEFAULT 80 CHECK (messages_per_second BETWEEN 1 AND 1000),
  created_at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX channels_tenant_idx ON channels (tenant_id);

CREATE TABLE api_keys (
  id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  tenant_id  bigint NOT NULL REFERENCES tenants (id),
  key_hash   text NOT NULL UNIQUE,
  prefix     text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  revoked_at timestamptz
);

CREATE TABLE contacts (
  id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  tenant_id       bigint NOT NULL,
  channel_id      bigint NOT NULL REFERENCES channels (id),
  -- wa_id, or 'u:' || user_id for customers Meta names only by their business-scoped id.
  contact_key     text NOT NULL,
  wa_id           text,
  user_id         text,
  profile_name    text,
  last_inbound_at timestamptz,
  created_at      timestamptz NOT NULL DEFAULT now(),
  UNIQUE (channel_id, contact_key)
);

CREATE TABLE conversations (
  id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  tenant_id       bigint NOT NULL,
  channel_id      bigint NOT NULL REFERENCES channels (id),
  contact_id      bigint NOT NULL REFERENCES contacts (id),
  paused          boolean NOT NULL DEFAULT false,
  paused_until    timestamptz,
  paused_by       text,
  bot_state       jsonb NOT NULL DEFAULT '{}'::jsonb,
  -- Bumped by every ingest that brings customer messages needing an answer; a
  -- turn that handled up to seq S keeps the lease when inbound_seq > S.
  inbound_seq     bigint NOT NULL DEFAULT 0,
  lease_owner     uuid,
  lease_until     timestamptz,
  last_message_at timestamptz NOT NULL DEFAULT now(),
  last_inbound_at timestamptz,
  operator_read_at timestamptz,
  created_at      timestamptz NOT NULL DEFAULT now(),
  UNIQUE (channel_id, contact_id)
);
CREATE INDEX conversations_list_idx ON conversations (tenant_id, last_message_at DESC, id DESC);
CREATE INDEX conversations_resume_idx ON conversations (paused_until) WHERE paused AND paused_until IS NOT NULL;

CREATE TABLE messages (
  id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  tenant_id       bigint NOT NULL,
  channel_id      bigint NOT NULL,
  conversation_id bigint NOT NULL REFERENCES conversations (id),
  direction       text NOT NULL CHECK (direction IN ('inbound', 'outbound')),
  author          text NOT NULL CHECK (author IN ('customer', 'agent', 'operator')),
  wamid           text,
  type            text NOT NULL,
  body            text,
  -- media id, mime type, sha256, caption, filename
  media           jsonb,
  -- the raw JSON of types kept as they came (location, contacts, order, unknown …)
  payload         jsonb,
  -- the message this one answers or reacts to
  context_wamid   text,
  -- inbound: received; outbound: queued, sent, delivered, read, failed
  status          text NOT NULL,
  error_code      integer,
  error_title     text,
  errors          jsonb,
  -- why an inbound message was or was not answered; null while its turn is pending
  disposition     text CHECK (disposition IN ('answered', 'coalesced', 'paused', 'over_quota', 'no_answer_needed',
                                              'window_closed', 'duplicate', 'agent_failed', 'send_failed', 'unroutable')),
  turn_id         uuid,
  conv_seq        bigint NOT NULL DEFAULT 0,
  attempts        integer NOT NULL DEFAULT 0,
  wa_timestamp    timestamptz,
  created_at      timestamptz NOT NULL DEFAULT now(),
  updated_at      timestamptz NOT NULL DEFAULT now()
);
-- One row per WhatsApp id and channel: Meta delivers at least once.
CREATE UNIQUE INDEX messages_wamid_idx ON messages (channel_id, wamid) WHERE wamid IS NOT NULL;
-- History and the conversation view.
CREATE INDEX messages_conversation_idx ON messages (conversation_id, id DESC);
-- The queue of record: what a sweeper must still finish.
CREATE INDEX messages_pending_idx ON messages (conversation_id)
  WHERE (direction = 'inbound' AND disposition IS NULL) OR (direction = 'outbound' AND status = 'queued');
CREATE INDEX messages_turn_idx ON messages (turn_id) WHERE turn_id IS NOT NULL;

-- Agent answers per tenant per calendar month (UTC).
CREATE TABLE usage (
  tenant_id   bigint NOT NULL REFERENCES tenants (id),
  month       date NOT NULL,
  count       integer NOT NULL DEFAULT 0,
  notice_sent boolean NOT NULL DEFAULT false,
  PRIMARY KEY (tenant_id, month)
);
