import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { verifySignature } from '../../src/webhook/signature.ts';
import { createBaselineMetrics, type BaselineMetrics } from './metrics.ts';
import { BaselinePipeline, type BaselineOptions, type InboundText } from './pipeline.ts';

/** A running baseline: its webhook server and pipeline. */
export interface BaselineServer {
  /** http://127.0.0.1:port */
  readonly url: string;
  readonly pipeline: BaselinePipeline;
  readonly metrics: BaselineMetrics;
  close(): Promise<void>;
}

const MAX_BODY = 4 * 1024 * 1024;

/**
 * The old service's webhook endpoint: checks the signature, puts each text
 * message on the in-memory queue (through the debounce) and answers 200 at
 * once, before anything is stored. `GET /metrics` serves its counts.
 */
export async function startBaseline(opts: BaselineOptions & { appSecret: string; port?: number }): Promise<BaselineServer> {
  const metrics = createBaselineMetrics();
  const pipeline = new BaselinePipeline(opts, metrics);
  pipeline.start();
  const server: Server = createServer((req, res) => {
    const started = performance.now();
    handle(req, res, opts.appSecret, pipeline, metrics).then(
      (status) => metrics.ack.labels(String(status)).observe((performance.now() - started) / 1000),
      () => {
        if (!res.headersSent) answer(res, 500, '{"error":"internal"}');
      },
    );
  });
  server.keepAliveTimeout = 72_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', () => resolve());
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    pipeline,
    metrics,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await pipeline.stop();
    },
  };
}

function answer(res: ServerResponse, status: number, body: string, type = 'application/json'): number {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
  res.end(body);
  return status;
}

function readBody(req: IncomingMessage): Promise<Buffer | null> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size <= MAX_BODY) chunks.push(c);
    });
    req.on('end', () => resolve(size > MAX_BODY ? null : Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

async function handle(req: IncomingMessage, res: ServerResponse, appSecret: string, pipeline: BaselinePipeline, metrics: BaselineMetrics): Promise<number> {
  const path = (req.url ?? '/').split('?', 1)[0];
  if (req.method === 'GET' && path === '/healthz') return answer(res, 200, '{"ok":true}');
  if (req.method === 'GET' && path === '/metrics') return answer(res, 200, await metrics.registry.metrics(), 'text/plain; version=0.0.4; charset=utf-8');
  if (req.method !== 'POST' || path !== '/webhooks/whatsapp') return answer(res, 404, '{"error":"not_found"}');
  const raw = await readBody(req);
  if (!raw) return answer(res, 413, '{"error":"payload_too_large"}');
  if (!verifySignature(raw, req.headers['x-hub-signature-256'] as string | undefined, appSecret)) return answer(res, 401, '{"error":"invalid_signature"}');
  let body: unknown;
  try {
    body = JSON.parse(raw.toString('utf8'));
  } catch {
    return answer(res, 400, '{"error":"invalid_json"}');
  }
  for (const m of textMessages(body)) pipeline.enqueue(m);
  return answer(res, 200, '{"ok":true}');
}

/** The text messages of a notification; statuses and other types are acknowledged and dropped. */
export function textMessages(body: unknown): InboundText[] {
  const out: InboundText[] = [];
  const entries = (body as { entry?: unknown })?.entry;
  if (!Array.isArray(entries)) return out;
  for (const e of entries) {
    for (const ch of Array.isArray(e?.changes) ? e.changes : []) {
      const v = ch?.value;
      const phoneNumberId = v?.metadata?.phone_number_id;
      if (ch?.field !== 'messages' || typeof phoneNumberId !== 'string' || !Array.isArray(v.messages)) continue;
      const names = new Map<string, string>();
      for (const c of Array.isArray(v.contacts) ? v.contacts : []) if (typeof c?.wa_id === 'string' && typeof c?.profile?.name === 'string') names.set(c.wa_id, c.profile.name);
      for (const m of v.messages) {
        if (m?.type !== 'text' || typeof m.from !== 'string' || typeof m.id !== 'string' || typeof m.text?.body !== 'string') continue;
        out.push({ phoneNumberId, from: m.from, profileName: names.get(m.from) ?? null, wamid: m.id, text: m.text.body });
      }
    }
  }
  return out;
}
