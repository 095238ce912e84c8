import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type Gateway } from '../../src/app/gateway.ts';
import { loadConfig } from '../../src/config/config.ts';
import { createDb } from '../../src/db/db.ts';
import { DEMO_TOOL_PATH } from '../../src/sandbox/demoTool.ts';
import { rotateSecrets } from '../../src/tenancy/rotateSecrets.ts';
import { freePort } from '../support/crash.ts';
import { freshDatabase, sqlClient } from '../support/db.ts';
import { api, TEST_ADMIN_KEY, TEST_SECRET_KEY } from '../support/gateway.ts';
import { eventually } from '../support/pipeline.ts';

describe("the sandbox's demo tool", () => {
  let gw: Gateway;
  let dbUrl: string;
  beforeAll(async () => {
    dbUrl = await freshDatabase();
    const config = loadConfig(
      {
        PORT: String(await freePort()),
        HOST: '127.0.0.1',
        DATABASE_URL: dbUrl,
        WAGATE_ADMIN_KEY: TEST_ADMIN_KEY,
        WAGATE_SECRET_KEY: TEST_SECRET_KEY,
        WAGATE_DATA_DIR: await mkdtemp(path.join(tmpdir(), 'wagate-demo-tool-')),
        LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
        WAGATE_SHUTDOWN_GRACE_MS: '2000',
      },
      { sandbox: true },
    );
    gw = await startGateway(config, { log: pino({ level: config.logLevel }) });
  });
  afterAll(async () => {
    await gw?.stop();
  });

  it('the demo agent answers an order question with a signed call to the order_status tool, shown under its answer', async () => {
    const demo = gw.sandbox!.demo!;
    const tools = await api(gw, 'GET', '/api/tools', undefined, demo.tenantKey);
    expect(tools.body.items).toMatchObject([{ name: 'order_status', hasSecret: true, enabled: true }]);
    const replies: string[] = [];
    const off = gw.sandbox!.simulator.on('send', (e) => replies.push(e.body));
    try {
      const r = await fetch(`${gw.url}/sandbox/api/chats/15550001234/messages`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ text: 'Hi, where is my order 1234?' }),
      });
      expect(r.status).toBe(201);
      await eventually(() => replies.length > 0, 15_000, 'the answer');
    } finally {
      off();
    }
    expect(replies[0]).toMatch(/^Order 1234: (being packed|shipped|out for delivery|delivered)/);
    const c = await sqlClient(dbUrl);
    try {
      const { rows } = await c.query(`SELECT conversation_id::text AS conv, name, status, arguments FROM tool_calls`);
      expect(rows).toMatchObject([{ name: 'order_status', status: 'ok', arguments: { orderId: '1234' } }]);
      const page = await api(gw, 'GET', `/api/conversations/${rows[0].conv}/messages`, undefined, demo.tenantKey);
      const reply = page.body.items.find((m: any) => m.direction === 'outbound');
      expect(reply.toolCalls).toMatchObject([{ name: 'order_status', status: 'ok' }]);
    } finally {
      await c.end();
    }
  });

  it('the endpoint refuses a call without a valid signature', async () => {
    const body = JSON.stringify({ tool: 'order_status', arguments: { orderId: '1234' } });
    const r = await fetch(gw.url + DEMO_TOOL_PATH, { method: 'POST', headers: { 'content-type': 'application/json', 'x-wagate-timestamp': String(Math.floor(Date.now() / 1000)), 'x-wagate-signature': 'sha256=00' }, body });
    expect(r.status).toBe(401);
  });

  it('only the demo tenant may point a tool at the sandbox itself', async () => {
    const t = await api(gw, 'POST', '/api/tenants', { name: 'Other', agent: { provider: 'demo' } });
    const r = await api(gw, 'POST', `/api/tools?tenantId=${t.body.id}`, { name: 'sneaky', parameters: { type: 'object' }, url: gw.url + DEMO_TOOL_PATH, secret: 'x' });
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe('egress_refused');
  });
});

describe("the sandbox's demo tool after a secret-key rotation", () => {
  it('is signed with the secret of the new key: the order question is still answered', async () => {
    const NEW_KEY = 'b'.repeat(64);
    const dbUrl = await freshDatabase();
    const env = {
      PORT: String(await freePort()),
      HOST: '127.0.0.1',
      DATABASE_URL: dbUrl,
      WAGATE_ADMIN_KEY: TEST_ADMIN_KEY,
      WAGATE_SECRET_KEY: TEST_SECRET_KEY,
      WAGATE_DATA_DIR: await mkdtemp(path.join(tmpdir(), 'wagate-demo-tool-rot-')),
      LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
      WAGATE_SHUTDOWN_GRACE_MS: '2000',
    };
    const start = (e: Record<string, string>) => {
      const config = loadConfig(e, { sandbox: true });
      return startGateway(config, { log: pino({ level: config.logLevel }) });
    };
    // A first start makes the demo tool under the old key; the rotation re-encrypts its stored secret, unchanged.
    await (await start(env)).stop();
    const db = createDb({ connectionString: dbUrl, max: 2 });
    try {
      await rotateSecrets(db, [Buffer.from(TEST_SECRET_KEY, 'hex')], Buffer.from(NEW_KEY, 'hex'));
    } finally {
      await db.close();
    }
    const gw = await start({ ...env, WAGATE_SECRET_KEY: NEW_KEY });
    const replies: string[] = [];
    const off = gw.sandbox!.simulator.on('send', (e) => replies.push(e.body));
    try {
      const r = await fetch(`${gw.url}/sandbox/api/chats/15550004321/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text: 'where is my order 5678?' }) });
      expect(r.status).toBe(201);
      await eventually(() => replies.length > 0, 15_000, 'the answer');
      expect(replies[0]).toMatch(/^Order 5678: (being packed|shipped|out for delivery|delivered)/);
    } finally {
      off();
      await gw.stop();
    }
  }, 60_000);
});
