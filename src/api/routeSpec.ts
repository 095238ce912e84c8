import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { z } from 'zod';
import { AppError, badRequest, notFound } from '../shared/errors.ts';

/** Who may call a route, as the OpenAPI document says it. */
export type RouteAuth = 'tenant' | 'admin' | 'admin_or_own_tenant' | 'metrics' | 'none';

/** One documented response of a route. */
export interface ResponseSpec {
  description: string;
  /** The JSON body; absent: no body (204) or not JSON. */
  schema?: z.ZodType;
  /** Default application/json. */
  contentType?: string;
}

/**
 * A route as data: its method, path, inputs and outputs. The operator API
 * registers its handlers from these, and `/api/openapi.json` is generated
 * from the same objects, so the document cannot drift from the code.
 */
export interface RouteSpec<P extends z.ZodType = z.ZodType, Q extends z.ZodType = z.ZodType, B extends z.ZodType = z.ZodType> {
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE';
  /** Fastify's form: `/api/conversations/:id`. */
  url: string;
  /** The OpenAPI operationId: a camelCase verb and noun (`listConversations`), what generated clients name the call. */
  operationId: string;
  summary: string;
  description?: string;
  tag: string;
  auth: RouteAuth;
  /** What a path id names, for the 404 message ("conversation not found"). */
  resource?: string;
  /** Path parameters; ids that do not parse answer 404, like ids that do not exist. */
  params?: P;
  query?: Q;
  body?: B;
  /** The body may be left out (it is parsed as `{}` then). */
  bodyOptional?: boolean;
  responses: Record<number, ResponseSpec>;
}

/** Declares a route spec with its types kept. */
export function route<P extends z.ZodType = z.ZodType, Q extends z.ZodType = z.ZodType, B extends z.ZodType = z.ZodType>(spec: RouteSpec<P, Q, B>): RouteSpec<P, Q, B> {
  return spec;
}

/** What a handler gets: the parsed inputs, after its authentication ran. */
export interface Inputs<P, Q, B> {
  params: P;
  query: Q;
  body: B;
  req: FastifyRequest;
  reply: FastifyReply;
}

type Infer<T> = T extends z.ZodType ? z.infer<T> : undefined;

/**
 * Registers `spec` on `app`. `authenticate` runs first (so a call without a
 * key is 401 whatever else is wrong with it), then params (→ 404), query and
 * body (→ 400 invalid_request naming the field) are parsed.
 */
export function handle<P extends z.ZodType, Q extends z.ZodType, B extends z.ZodType, A>(
  app: FastifyInstance,
  spec: RouteSpec<P, Q, B>,
  authenticate: (req: FastifyRequest) => Promise<A>,
  handler: (who: A, input: Inputs<Infer<P>, Infer<Q>, Infer<B>>) => Promise<unknown>,
): void {
  app.route({
    method: spec.method,
    url: spec.url,
    handler: async (req, reply) => {
      const who = await authenticate(req);
      const params = spec.params ? parseParams(spec.params, req.params, spec.resource ?? 'resource') : undefined;
      const query = spec.query ? parse(spec.query, req.query ?? {}, 'query') : undefined;
      let body: unknown;
      if (spec.body) {
        const raw = req.body === undefined || req.body === null ? (spec.bodyOptional ? {} : undefined) : req.body;
        if (raw === undefined) throw badRequest('invalid_request', 'a JSON body is required');
        body = parse(spec.body, raw, 'body');
      } else if (req.body !== undefined && req.body !== null && !(typeof req.body === 'object' && Object.keys(req.body).length === 0)) {
        throw badRequest('invalid_request', 'this request takes no body');
      }
      return handler(who, { params, query, body, req, reply } as Inputs<Infer<P>, Infer<Q>, Infer<B>>);
    },
  });
}

function parseParams(schema: z.ZodType, input: unknown, resource: string): unknown {
  const r = schema.safeParse(input);
  if (r.success) return r.data;
  // A malformed id is as unknown as a missing one: never a hint of what exists.
  throw notFound(resource);
}

function parse(schema: z.ZodType, input: unknown, where: string): unknown {
  const r = schema.safeParse(input);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const path = issue.path.length ? issue.path.join('.') : where;
  throw new AppError(400, 'invalid_request', `${path}: ${issue.message}`);
}
