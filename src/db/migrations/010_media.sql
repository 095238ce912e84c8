-- Inbound media kept and understood (docs/media.md): one row per media
-- message, written by the media lane, never by the text path.
--
-- message_id is set to NULL when its message goes (retention, contact
-- erasure, channel or tenant removal): housekeeping then deletes the stored
-- file first and the row after, so a crash between the two leaves a row to
-- try again, never a file that nothing points to.
CREATE TABLE media (
  id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  tenant_id    bigint NOT NULL,
  message_id   bigint REFERENCES messages (id) ON DELETE SET NULL,
  -- audio, image, sticker, document, video
  kind         text NOT NULL,
  -- the media id Meta gave in the webhook
  wa_media_id  text NOT NULL,
  -- the type the bytes really are (sniffed), else the declared one
  mime         text,
  filename     text,
  size         bigint,
  -- lower-case hex SHA-256 of the stored bytes
  sha256       text,
  -- the key in the media store: <tenant id>/<media row id>; null until stored
  storage_key  text,
  status       text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'ready', 'failed')),
  error        text CHECK (error IN ('too_large', 'unsupported', 'download_failed', 'type_mismatch', 'hash_mismatch',
                                     'transcription_failed', 'timed_out')),
  transcript   text,
  language     text,
  -- the first characters of a PDF's text
  text_excerpt text,
  duration_s   real,
  pages        integer,
  attempts     integer NOT NULL DEFAULT 0,
  created_at   timestamptz NOT NULL DEFAULT now(),
  updated_at   timestamptz NOT NULL DEFAULT now()
);

CREATE UNIQUE INDEX media_message_idx ON media (message_id);
CREATE INDEX media_tenant_idx ON media (tenant_id);
-- Housekeeping's walk over media whose message is gone.
CREATE INDEX media_orphan_idx ON media (tenant_id) WHERE message_id IS NULL;
