import { sql } from '../../db/db.ts';

/**
 * The start of a tool call (docs/tools.md, "A call is not repeated"): unless
 * $9 (the tool is safe to repeat), an earlier call of the same tool with the
 * same arguments ($6 name, $8 hash) for the same unanswered messages ($2
 * conversation, $3 opened_by) is claimed for this turn ($4) and returned
 * instead; else a `running` row is inserted and its id returned. Calls
 * refused for invalid arguments never reached the endpoint: they are not reused.
 */
export const TOOL_CALL_BEGIN = sql(
  'tool_call_begin',
  `WITH prior AS (
     SELECT id FROM tool_calls
     WHERE conversation_id = $2 AND opened_by = $3 AND name = $6 AND args_hash = $8
       AND status <> 'invalid_arguments' AND NOT $9::boolean
     ORDER BY id LIMIT 1),
   claimed AS (
     UPDATE tool_calls t SET turn_id = $4 FROM prior WHERE t.id = prior.id
     RETURNING t.id::text AS id, t.status, t.result),
   ins AS (
     INSERT INTO tool_calls (tenant_id, conversation_id, opened_by, turn_id, tool_id, name, arguments, args_hash, status)
     SELECT $1, $2, $3, $4, $5, $6, $7::jsonb, $8, 'running' WHERE NOT EXISTS (SELECT 1 FROM prior)
     RETURNING id::text AS id)
   SELECT (SELECT id FROM ins) AS new_id, c.id AS prior_id, c.status AS prior_status, c.result AS prior_result
   FROM (SELECT 1) one LEFT JOIN claimed c ON true`,
);

/** What a call came to, recorded before the model is given it. */
export const TOOL_CALL_FINISH = sql(
  'tool_call_finish',
  `UPDATE tool_calls SET status = $2, duration_ms = $3, result_excerpt = $4, result = $5, finished_at = now() WHERE id = $1`,
);

/** A call refused for arguments that do not fit the schema: the endpoint was not called. */
export const TOOL_CALL_INVALID = sql(
  'tool_call_invalid',
  `INSERT INTO tool_calls (tenant_id, conversation_id, opened_by, turn_id, tool_id, name, arguments, args_hash, status,
                           duration_ms, result_excerpt, result, finished_at)
   VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8, 'invalid_arguments', 0, $9, $9, now())`,
);

/** The turn ($2) that uses the result of call $1, awaited in this process, last. */
export const TOOL_CALL_CLAIM = sql('tool_call_claim', `UPDATE tool_calls SET turn_id = $2 WHERE id = $1`);
