-- Templates, interactive and media replies (docs/templates.md).

-- The WhatsApp Business Account of a channel: its message templates are synced from it.
ALTER TABLE channels ADD COLUMN waba_id text;

-- The pricing category of an outbound message (service, utility, marketing,
-- authentication …) as its status webhooks report it.
ALTER TABLE messages ADD COLUMN pricing_category text;

-- A channel's message templates as the Cloud API last listed them (GET
-- /{waba-id}/message_templates), or as a template webhook changed them since.
-- components: Meta's component array, kept as it came; parameter_format:
-- POSITIONAL ({{1}}) or NAMED ({{first_name}}).
CREATE TABLE templates (
  id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  tenant_id        bigint NOT NULL,
  channel_id       bigint NOT NULL REFERENCES channels (id),
  meta_id          text,
  name             text NOT NULL,
  language         text NOT NULL,
  category         text,
  status           text NOT NULL,
  quality          text,
  parameter_format text NOT NULL DEFAULT 'POSITIONAL',
  components       jsonb NOT NULL DEFAULT '[]'::jsonb,
  synced_at        timestamptz NOT NULL DEFAULT now(),
  UNIQUE (channel_id, name, language)
);
CREATE INDEX templates_tenant_idx ON templates (tenant_id, name, language);
CREATE INDEX templates_meta_idx ON templates (meta_id) WHERE meta_id IS NOT NULL;
