-- Tenant tools (docs/tools.md): functions the OpenAI-compatible agent may
-- call, and a record of every call.

CREATE TABLE tools (
  id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  tenant_id       bigint NOT NULL,
  name            text NOT NULL CHECK (name ~ '^[a-zA-Z0-9_-]{1,64}$'),
  description     text NOT NULL DEFAULT '' CHECK (length(description) <= 1024),
  -- JSON Schema of the arguments, checked (compiled) when saved
  parameters      jsonb NOT NULL,
  url             text NOT NULL,
  -- the signing secret, encrypted with WAGATE_SECRET_KEY (src/shared/secrets.ts); null: calls go unsigned
  secret_enc      text,
  safe_to_repeat  boolean NOT NULL DEFAULT false,
  timeout_ms      integer NOT NULL DEFAULT 10000 CHECK (timeout_ms BETWEEN 100 AND 60000),
  enabled         boolean NOT NULL DEFAULT true,
  created_at      timestamptz NOT NULL DEFAULT now(),
  updated_at      timestamptz NOT NULL DEFAULT now(),
  UNIQUE (tenant_id, name)
);

-- One row per endpoint call (and per call refused for invalid arguments).
-- A restarted turn for the same unanswered messages (same opened_by) reuses
-- the row of an identical call (name + args_hash) instead of calling again.
CREATE TABLE tool_calls (
  id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  tenant_id       bigint NOT NULL,
  conversation_id bigint NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
  -- the turn that used the result last: the reply committed with this turn id shows the call
  turn_id         uuid NOT NULL,
  -- the oldest unanswered customer message of the turn: the same across restarts and takeovers of one turn
  opened_by       bigint NOT NULL,
  tool_id         bigint,
  name            text NOT NULL,
  arguments       jsonb,
  args_hash       text NOT NULL,
  status          text NOT NULL CHECK (status IN ('running', 'ok', 'error', 'invalid_arguments', 'timeout')),
  duration_ms     integer,
  -- the first ~2 KiB of the result, for people; `result` (bounded) is what the model is given again on reuse
  result_excerpt  text,
  result          text,
  created_at      timestamptz NOT NULL DEFAULT now(),
  finished_at     timestamptz
);
CREATE INDEX tool_calls_reuse_idx ON tool_calls (conversation_id, opened_by, name, args_hash);
CREATE INDEX tool_calls_turn_idx ON tool_calls (turn_id);
CREATE INDEX tool_calls_tenant_idx ON tool_calls (tenant_id, created_at);
