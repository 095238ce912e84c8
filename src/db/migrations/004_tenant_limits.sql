-- What only the operator (the admin key) may set for a tenant, beside its
-- monthly limit (docs/security.md, "What a tenant may change"). NULL means the
-- process's default: WAGATE_ALLOWED_MODELS for the models a tenant may use on
-- the operator's model key, 50 history messages, 8,000 characters of system
-- prompt. A turn uses at most these ceilings even when the tenant saved more
-- before they were lowered.
ALTER TABLE tenants
  ADD COLUMN allowed_models          text[],
  ADD COLUMN max_history_length      integer CHECK (max_history_length BETWEEN 0 AND 200),
  ADD COLUMN max_system_prompt_chars integer CHECK (max_system_prompt_chars BETWEEN 0 AND 20000);
