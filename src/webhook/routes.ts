import type { IncomingMessage } from 'node:http';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { isOutOfResources, isStatementTimeout, isUnavailable } from '../db/db.ts';
import type { IngestQueue } from '../ingest/queue.ts';
import type { Bus } from '../shared/bus.ts';
import type { ChannelDirectory } from '../tenancy/channels.ts';
import { safeEqual } from '../shared/secrets.ts';
import { InvalidNotificationError, normalize, TooManyUpdatesError, type TemplateEvent } from './normalize.ts';
import { verifySignature } from './signature.ts';
import { checkJson } from '../shared/jsonGuard.ts';
import { BUSY, isRefusal, readBody, TOO_LARGE, WEBHOOK_BODY_LIMIT, type BodyHold, type ByteBudget, type Refusal } from './body.ts';

type Secrets = { appSecret: string; verifyToken: string; channelId: string | null };

/** What the webhook uses: the gateway's own app secret and verify token, the channels, and ingest. */
export interface WebhookDeps {
  appSecret: string | null;
  verifyToken: string | null;
  channels: ChannelDirectory;
  ingest: IngestQueue;
  bus: Bus;
  /** The bytes of webhook bodies that may be read at once, shared by every webhook request. */
  budget: ByteBudget;
  /** False once shutdown began: webhooks answer 503 so Meta delivers them again. */
  accepting: () => boolean;
  /** Template status, quality and category webhooks (docs/templates.md); left out, they are acknowledged only. */
  onTemplateEvents?: (events: TemplateEvent[], onlyTenantOfChannel: string | null) => Promise<void>;
}

/**
 * `GET|POST /webhooks/whatsapp` (the gateway's own Meta app) and
 * `GET|POST /webhooks/whatsapp/:channelId` (a channel whose tenant brings its own app).
 */
export async function webhookRoutes(app: FastifyInstance, deps: WebhookDeps): Promise<void> {
  // Before a byte of the body is read: a declared length over the limit, or
  // past what the budget has free, is answered at once (Node then reads and
  // drops the body, keeping the connection). Otherwise the request gets its
  // share of the budget, given back when its answer is done or it is aborted.
  const holds = new WeakMap<IncomingMessage, BodyHold>();
  app.addHook('onRequest', async (req, reply) => {
    if (req.method !== 'POST') return;
    // A channel's own URL draws on its own share of the budget (a quarter):
    // one channel's uploads cannot leave none for everyone else.
    const share = (req.params as { channelId?: string }).channelId ?? null;
    const declared = Number(req.headers['content-length']);
    const refusal = declared > WEBHOOK_BODY_LIMIT ? TOO_LARGE : declared > deps.budget.freeFor(share) ? BUSY : null;
    if (refusal) {
      deps.bus.emit('webhook.ack', { status: refusal.status, ms: 0 });
      return refuse(reply, refusal);
    }
    const hold = deps.budget.hold(share);
    holds.set(req.raw, hold);
    reply.raw.once('close', () => hold.releaseAll());
  });
  // The signature is over the bytes as received: keep them raw, whatever the content type.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', async (req: FastifyRequest, payload: IncomingMessage) => {
    const hold = holds.get(req.raw);
    if (!hold) throw new Error('webhook body without its budget hold');
    return readBody(payload, WEBHOOK_BODY_LIMIT, hold);
  });

  const global = async (): Promise<Secrets | null> =>
    deps.appSecret && deps.verifyToken ? { appSecret: deps.appSecret, verifyToken: deps.verifyToken, channelId: null }
      : null;

  const perChannel = async (req: FastifyRequest): Promise<Secrets | null> => {
    const { channelId } = req.params as { channelId: string };
    const channel = await deps.channels.get(channelId);
    if (!channel) return null;
    const appSecret = channel.appSecret ?? deps.appSecret;
    const verifyToken = channel.verifyToken ?? deps.verifyToken;
    return appSecret && verifyToken ? { appSecret, verifyToken, channelId: channel.id } : null;
  };

  for (const [path, secrets] of [
    ['/webhooks/whatsapp', global],
    ['/webhooks/whatsapp/:channelId', perChannel],
  ] as const) {
    app.get(path, async (req, reply) => handshake(req, reply, await secrets(req)));
    app.post(path, async (req, reply) => {
      const started = performance.now();
      let status = 500;
      try {
        if (isRefusal(req.body)) {
          status = refuse(reply, req.body).statusCode;
          return reply;
        }
        const s = await secrets(req);
        status = s ? await receive(deps, req, reply, s) : fail(reply, 404, 'not_found', 'no such webhook');
        return reply;
      } catch (err) {
        if (isUnavailable(err)) status = fail(reply, 503, 'unavailable', 'database unavailable, deliver again');
        else if (isOutOfResources(err)) status = fail(reply, 503, 'database_full', 'the database cannot store now (out of disk or other resources), deliver again');
        else if (isStatementTimeout(err)) status = fail(reply, 503, 'ingest_timeout', 'storing the notification took too long; deliver again');
        else throw err;
        return reply;
      } finally {
        deps.bus.emit('webhook.ack', { status, ms: performance.now() - started });
      }
    });
  }
}

function refuse(reply: FastifyReply, r: Refusal): FastifyReply {
  return reply.code(r.status).send({ error: { code: r.code, message: r.message } });
}

function fail(reply: FastifyReply, status: number, code: string, message: string): number {
  reply.code(status).send({ error: { code, message } });
  return status;
}

function handshake(req: FastifyRequest, reply: FastifyReply, s: Secrets | null) {
  const q = req.query as Record<string, string | undefined>;
  if (!s || q['hub.mode'] !== 'subscribe' || typeof q['hub.verify_token'] !== 'string' || !safeEqual(q['hub.verify_token'], s.verifyToken)) {
    return reply.code(403).send({ error: { code: 'forbidden', message: 'verification failed' } });
  }
  return reply.code(200).type('text/plain').send(String(q['hub.challenge'] ?? ''));
}

async function receive(deps: WebhookDeps, req: FastifyRequest, reply: FastifyReply, s: Secrets): Promise<number> {
  if (!deps.accepting()) return fail(reply, 503, 'shutting_down', 'shutting down, deliver again');
  const raw = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
  if (!verifySignature(raw, req.headers['x-hub-signature-256'] as string | undefined, s.appSecret)) {
    return fail(reply, 401, 'invalid_signature', 'missing or wrong X-Hub-Signature-256');
  }
  const type = String(req.headers['content-type'] ?? '');
  if (!/^application\/json\b/i.test(type)) return fail(reply, 415, 'unsupported_media_type', 'expected application/json');
  let body: unknown;
  try {
    body = JSON.parse(raw.toString('utf8'));
  } catch {
    return fail(reply, 400, 'invalid_json', 'body is not JSON');
  }
  const guard = checkJson(body);
  if (guard) return fail(reply, 400, 'invalid_notification', guard);
  let n;
  try {
    n = normalize(body);
  } catch (err) {
    if (err instanceof InvalidNotificationError) return fail(reply, 400, err.code, err.message);
    if (err instanceof TooManyUpdatesError) return fail(reply, 413, err.code, err.message);
    throw err;
  }
  for (const m of n.messages) m.requestId = req.id;
  if (n.messages.length > 0 || n.statuses.length > 0) await deps.ingest.submit(n, s.channelId);
  if (n.templates?.length && deps.onTemplateEvents) {
    // Acknowledged either way: the next sync reads every template again.
    await deps.onTemplateEvents(n.templates, s.channelId ?? null).catch((err) => req.log.warn({ err }, 'storing template webhooks failed'));
  }
  reply.code(200).send({ ok: true });
  return 200;
}
