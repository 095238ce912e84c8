-- The transcription models a tenant may choose on the operator's model key
-- (docs/security.md, "What a tenant may change"), set by the admin key only,
-- like allowed_models. NULL: the process's WAGATE_ALLOWED_TRANSCRIPTION_MODELS;
-- OPENAI_TRANSCRIPTION_MODEL is always allowed.
ALTER TABLE tenants ADD COLUMN allowed_transcription_models text[];
