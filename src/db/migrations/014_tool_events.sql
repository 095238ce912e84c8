-- tool.called (docs/events.md): a tenant tool's call finished (ok, error,
-- timeout) or was refused for invalid arguments, written by the statement
-- that records it, like every other event. A call reused by a restarted turn
-- was called once: it is not an event again.
CREATE FUNCTION wagate_tool_call_events() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NOT wagate_events_wanted(NEW.tenant_id) THEN RETURN NULL; END IF;
  PERFORM wagate_emit_event(NEW.tenant_id, 'tool.called', NEW.conversation_id, NULL, jsonb_build_object(
    'toolCall', jsonb_build_object(
      'id', NEW.id::text, 'name', NEW.name, 'arguments', NEW.arguments, 'status', NEW.status,
      'durationMs', NEW.duration_ms, 'excerpt', NEW.result_excerpt, 'turnId', NEW.turn_id::text,
      'createdAt', to_char(NEW.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'))));
  RETURN NULL;
END
$$;

CREATE TRIGGER tool_calls_events_insert AFTER INSERT ON tool_calls
  FOR EACH ROW WHEN (NEW.status <> 'running')
  EXECUTE FUNCTION wagate_tool_call_events();
CREATE TRIGGER tool_calls_events_update AFTER UPDATE OF status ON tool_calls
  FOR EACH ROW WHEN (OLD.status = 'running' AND NEW.status <> 'running')
  EXECUTE FUNCTION wagate_tool_call_events();
