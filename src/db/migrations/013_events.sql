-- Event webhooks (docs/events.md): a tenant's subscriptions, the events written
-- in the same transaction as what they describe (an outbox), and one delivery
-- row per subscription and event.

-- A URL a tenant subscribed to some event types ('*': all). The secret signs
-- each delivery and is stored encrypted (WAGATE_SECRET_KEY). paused_at: no new
-- deliveries are made and none is sent, either because the tenant paused it or
-- because its endpoint kept failing (pause_reason says which).
CREATE TABLE event_subscriptions (
  id                   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  tenant_id            bigint NOT NULL REFERENCES tenants (id),
  url                  text NOT NULL,
  secret_enc           text NOT NULL,
  events               text[] NOT NULL CHECK (cardinality(events) > 0),
  paused_at            timestamptz,
  pause_reason         text,
  -- Since when every attempt failed (NULL after a success), and how many in a row.
  failing_since        timestamptz,
  consecutive_failures integer NOT NULL DEFAULT 0,
  created_at           timestamptz NOT NULL DEFAULT now(),
  updated_at           timestamptz NOT NULL DEFAULT now()
);
-- The triggers' question, asked for each changed message of a tenant: does
-- the tenant have an active subscription at all? An index-only probe.
CREATE INDEX event_subscriptions_active_idx ON event_subscriptions (tenant_id) INCLUDE (events) WHERE paused_at IS NULL;

-- One event: what happened, with the data a receiver needs, as it was then.
-- No foreign keys to messages or conversations: an event outlives neither
-- (tenant deletion, channel removal, contact erasure and retention remove
-- them) but must not slow down their deletion either.
CREATE TABLE events (
  id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  tenant_id       bigint NOT NULL,
  type            text NOT NULL,
  conversation_id bigint,
  message_id      bigint,
  data            jsonb NOT NULL,
  created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX events_conversation_idx ON events (conversation_id);
CREATE INDEX events_tenant_idx ON events (tenant_id, id);

-- One event for one subscription. status: pending (due at next_at; while a
-- process posts it, claimed_until hides it from the others), delivered, or
-- failed (retried for the whole retry window).
-- log: the latest attempts, newest last: {at, status (HTTP), ms, error}.
CREATE TABLE event_deliveries (
  id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  tenant_id       bigint NOT NULL,
  subscription_id bigint NOT NULL REFERENCES event_subscriptions (id) ON DELETE CASCADE,
  event_id        bigint NOT NULL REFERENCES events (id) ON DELETE CASCADE,
  -- The event's conversation, 0 for none: deliveries of one (subscription,
  -- conversation) line go out one at a time, oldest first.
  conversation_id bigint NOT NULL DEFAULT 0,
  status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
  attempts        integer NOT NULL DEFAULT 0,
  next_at         timestamptz NOT NULL DEFAULT now(),
  -- Not indexed, so the claim that sets it is a HOT update (room left by the fillfactor).
  claimed_until   timestamptz,
  last_status     integer,
  last_error      text,
  log             jsonb NOT NULL DEFAULT '[]'::jsonb,
  created_at      timestamptz NOT NULL DEFAULT now(),
  finished_at     timestamptz
) WITH (fillfactor = 80);
-- The delivery worker's queue: pending rows by due time, and the head of each
-- (subscription, conversation) line (deliveries go out in order per conversation).
CREATE INDEX event_deliveries_due_idx ON event_deliveries (next_at) WHERE status = 'pending';
CREATE INDEX event_deliveries_line_idx ON event_deliveries (subscription_id, conversation_id, id) WHERE status = 'pending';
CREATE INDEX event_deliveries_subscription_idx ON event_deliveries (subscription_id, id DESC);
-- For the cascade when events are pruned or removed.
CREATE INDEX event_deliveries_event_idx ON event_deliveries (event_id);

-- Writes an event and its deliveries, for each active subscription of the
-- tenant that wants `type`. Generic, so any table's trigger can call it.
-- A tenant without a matching subscription costs one index probe and writes
-- nothing.
CREATE FUNCTION wagate_emit_event(p_tenant bigint, p_type text, p_conversation bigint, p_message bigint, p_data jsonb)
RETURNS void LANGUAGE sql AS $$
  WITH subs AS (
    SELECT id FROM event_subscriptions
    WHERE tenant_id = p_tenant AND paused_at IS NULL AND (p_type = ANY(events) OR '*' = ANY(events))
  ),
  e AS (
    INSERT INTO events (tenant_id, type, conversation_id, message_id, data)
    SELECT p_tenant, p_type, p_conversation, p_message, p_data WHERE EXISTS (SELECT 1 FROM subs)
    RETURNING id
  )
  INSERT INTO event_deliveries (tenant_id, subscription_id, event_id, conversation_id)
  SELECT p_tenant, subs.id, e.id, coalesce(p_conversation, 0) FROM e, subs ORDER BY subs.id
$$;

-- Whether a tenant has an active subscription at all (the triggers' first, cheap question).
CREATE FUNCTION wagate_events_wanted(p_tenant bigint) RETURNS boolean LANGUAGE sql STABLE AS $$
  SELECT EXISTS (SELECT 1 FROM event_subscriptions WHERE tenant_id = p_tenant AND paused_at IS NULL)
$$;

-- A message as events show it (docs/events.md), with its conversation's contact.
CREATE FUNCTION wagate_event_message(m messages) RETURNS jsonb LANGUAGE sql STABLE AS $$
  SELECT jsonb_build_object(
    'message', jsonb_build_object(
      'id', m.id::text, 'direction', m.direction, 'author', m.author, 'wamid', m.wamid, 'type', m.type,
      'text', m.body, 'status', m.status, 'disposition', m.disposition,
      'error', CASE WHEN m.error_code IS NOT NULL OR m.error_title IS NOT NULL
                    THEN jsonb_build_object('code', m.error_code, 'title', m.error_title) END,
      'createdAt', to_char(m.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')),
    'contact', (SELECT jsonb_build_object('id', k.id::text, 'waId', k.wa_id, 'name', k.profile_name)
                FROM conversations v JOIN contacts k ON k.id = v.contact_id WHERE v.id = m.conversation_id))
$$;

-- messages: received (inbound insert), sent (outbound queued → sent, or an
-- echo stored sent), status (outbound → delivered, read, failed), disposition.
CREATE FUNCTION wagate_message_events() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  d jsonb;
BEGIN
  IF NOT wagate_events_wanted(NEW.tenant_id) THEN RETURN NULL; END IF;
  d := wagate_event_message(NEW);
  IF TG_OP = 'INSERT' THEN
    IF NEW.direction = 'inbound' THEN
      PERFORM wagate_emit_event(NEW.tenant_id, 'message.received', NEW.conversation_id, NEW.id, d);
      IF NEW.disposition IS NOT NULL THEN
        PERFORM wagate_emit_event(NEW.tenant_id, 'message.disposition', NEW.conversation_id, NEW.id,
                                  d || jsonb_build_object('disposition', NEW.disposition));
      END IF;
    ELSIF NEW.status = 'sent' THEN
      PERFORM wagate_emit_event(NEW.tenant_id, 'message.sent', NEW.conversation_id, NEW.id, d);
    END IF;
    RETURN NULL;
  END IF;
  IF NEW.direction = 'outbound' AND OLD.status IS DISTINCT FROM NEW.status THEN
    IF OLD.status = 'queued' AND NEW.status = 'sent' THEN
      PERFORM wagate_emit_event(NEW.tenant_id, 'message.sent', NEW.conversation_id, NEW.id, d);
    ELSE
      PERFORM wagate_emit_event(NEW.tenant_id, 'message.status', NEW.conversation_id, NEW.id,
                                d || jsonb_build_object('status', NEW.status, 'previousStatus', OLD.status));
    END IF;
  END IF;
  IF NEW.direction = 'inbound' AND NEW.disposition IS NOT NULL AND OLD.disposition IS DISTINCT FROM NEW.disposition THEN
    PERFORM wagate_emit_event(NEW.tenant_id, 'message.disposition', NEW.conversation_id, NEW.id,
                              d || jsonb_build_object('disposition', NEW.disposition));
  END IF;
  RETURN NULL;
END
$$;

-- Row-level, with WHEN clauses PostgreSQL evaluates without calling the
-- function: updates that change neither status nor disposition (an attempt
-- count, a turn id) never reach it.
CREATE TRIGGER messages_events_insert AFTER INSERT ON messages
  FOR EACH ROW WHEN (NEW.direction = 'inbound' OR NEW.status = 'sent')
  EXECUTE FUNCTION wagate_message_events();
CREATE TRIGGER messages_events_update AFTER UPDATE OF status, disposition ON messages
  FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status
                     OR (NEW.disposition IS NOT NULL AND OLD.disposition IS DISTINCT FROM NEW.disposition))
  EXECUTE FUNCTION wagate_message_events();

-- conversations: paused, resumed; a pause by the agent (a handoff keyword, the
-- agent's handoff, or a handoff on agent failure) is also handoff.requested.
CREATE FUNCTION wagate_conversation_events() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  d jsonb;
BEGIN
  IF NOT wagate_events_wanted(NEW.tenant_id) THEN RETURN NULL; END IF;
  d := jsonb_build_object(
    'conversation', jsonb_build_object(
      'id', NEW.id::text, 'channelId', NEW.channel_id::text, 'paused', NEW.paused, 'pausedBy', NEW.paused_by,
      'pausedUntil', to_char(NEW.paused_until AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')),
    'contact', (SELECT jsonb_build_object('id', k.id::text, 'waId', k.wa_id, 'name', k.profile_name)
                FROM contacts k WHERE k.id = NEW.contact_id));
  IF NEW.paused THEN
    PERFORM wagate_emit_event(NEW.tenant_id, 'conversation.paused', NEW.id, NULL, d);
    IF NEW.paused_by = 'agent' THEN
      PERFORM wagate_emit_event(NEW.tenant_id, 'handoff.requested', NEW.id, NULL, d);
    END IF;
  ELSE
    PERFORM wagate_emit_event(NEW.tenant_id, 'conversation.resumed', NEW.id, NULL, d);
  END IF;
  RETURN NULL;
END
$$;

CREATE TRIGGER conversations_events_insert AFTER INSERT ON conversations
  FOR EACH ROW WHEN (NEW.paused)
  EXECUTE FUNCTION wagate_conversation_events();
CREATE TRIGGER conversations_events_update AFTER UPDATE OF paused ON conversations
  FOR EACH ROW WHEN (OLD.paused IS DISTINCT FROM NEW.paused)
  EXECUTE FUNCTION wagate_conversation_events();
