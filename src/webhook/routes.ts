import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { isUnavailable } from '../db/db.ts';
import type { IngestQueue } from '../ingest/queue.ts';
import type { Bus } from '../shared/bus.ts';
import type { ChannelDirectory } from '../tenancy/channels.ts';
import { safeEqual } from '../shared/secrets.ts';
import { InvalidNotificationError, normalize } from './normalize.ts';
import { verifySignature } from './signature.ts';
import { checkJson } from './jsonGuard.ts';

/** Meta's payloads reach 3 MB; anything over 4 MiB is refused with 413. */
export const WEBHOOK_BODY_LIMIT = 4 * 1024 * 1024;

type Secrets = { appSecret: string; verifyToken: string; channelId: string | null };

/** What the webhook uses: the gateway's own app secret and verify token, the channels, and ingest. */
export interface WebhookDeps {
  appSecret: string | null;
  verifyToken: string | null;
  channels: ChannelDirectory;
  ingest: IngestQueue;
  bus: Bus;
  /** False once shutdown began: webhooks answer 503 so Meta delivers them again. */
  accepting: () => boolean;
}

/**
 * `GET|POST /webhooks/whatsapp` (the gateway's own Meta app) and
 * `GET|POST /webhooks/whatsapp/:channelId` (a channel whose tenant brings its own app).
 */
export async function webhookRoutes(app: FastifyInstance, deps: WebhookDeps): Promise<void> {
  // The signature is over the bytes as received: keep them raw, whatever the content type.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: WEBHOOK_BODY_LIMIT }, (_req, body, done) => done(null, body));

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
    app.post(path, { bodyLimit: WEBHOOK_BODY_LIMIT }, async (req, reply) => {
      const started = performance.now();
      let status = 500;
      try {
        const s = await secrets(req);
        status = s ? await receive(deps, req, reply, s) : fail(reply, 404, 'not_found', 'no such webhook');
        return reply;
      } catch (err) {
        status = isUnavailable(err) ? fail(reply, 503, 'unavailable', 'database unavailable, deliver again') : 500;
        if (status === 500) throw err;
        return reply;
      } finally {
        deps.bus.emit('webhook.ack', { status, ms: performance.now() - started });
      }
    });
  }
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
    throw err;
  }
  if (n.messages.length > 0 || n.statuses.length > 0) await deps.ingest.submit(n, s.channelId);
  reply.code(200).send({ ok: true });
  return 200;
}
