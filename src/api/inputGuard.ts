import type { FastifyInstance } from 'fastify';
import { badRequest } from '../shared/errors.ts';
import { checkJson } from '../shared/jsonGuard.ts';

/**
 * Refuses, with 400 `invalid_text` naming the field, a request whose path
 * parameters, query string or parsed body hold a NUL character, a lone UTF-16
 * surrogate or nesting deeper than 64 levels (the webhook's rules, in
 * src/shared/jsonGuard.ts). PostgreSQL's text and jsonb cannot store the first
 * two, so without this a name, a system prompt or a manual send carrying one
 * reached the database and failed there as a 500.
 *
 * Runs once per request after the body is parsed and before any handler,
 * authentication included: what it refuses is malformed whoever sends it,
 * and nothing of the request has been looked at or stored yet.
 */
export function refuseMalformedText(app: FastifyInstance): void {
  app.addHook('preValidation', async (req) => {
    const reason = checkJson(req.params, 'params') ?? checkJson(req.query, 'query') ?? checkJson(req.body, 'body');
    if (reason) throw badRequest('invalid_text', reason);
  });
}
