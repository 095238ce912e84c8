import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeModel, type FakeModel } from '../../bench/fakeModel.ts';
import { DEFAULT_FALLBACK } from '../../src/tenancy/agentConfig.ts';
import { sqlClient } from '../support/db.ts';
import { api, provisionTenant } from '../support/gateway.ts';
import { eventually, type PipelineHarness } from '../support/pipeline.ts';
import { ConversationRows } from './conversationRows.ts';
import { Customers, newWaId, SendLog } from './customers.ts';
import { closeConversationTest, openConversationTest } from './harness.ts';

/** A loopback server that answers every request with a redirect to `location`, counting them. */
async function redirector(location: () => string): Promise<{ server: Server; url: string; hits: () => number }> {
  let hits = 0;
  const server = createServer((_req, res) => {
    hits++;
    res.writeHead(302, { location: location() }).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, hits: () => hits };
}

describe('a tenant-set URL refused at turn time: an agent failure, quickly, never a hang', () => {
  let h: PipelineHarness;
  let rows: ConversationRows;
  let sends: SendLog;
  let model: FakeModel;
  /** A service inside the host that the operator did not allow. */
  let inside: FakeModel;
  let redirect: Awaited<ReturnType<typeof redirector>>;
  const lookups = new Map<string, number>();

  beforeAll(async () => {
    model = await startFakeModel();
    inside = await startFakeModel();
    redirect = await redirector(() => model.httpAgentUrl);
    ({ h, rows, sends } = await openConversationTest({
      model,
      // The operator allows the fake model's port and the redirector's, nothing else on loopback.
      env: { WAGATE_EGRESS_ALLOW: `${new URL(model.url).host},${new URL(redirect.url).host}` },
      // DNS rebinding: rebind.example.com is public when the tenant saves it, loopback ever after.
      egressLookup: async (host) => {
        const n = lookups.get(host) ?? 0;
        lookups.set(host, n + 1);
        if (host !== 'rebind.example.com') throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
        return n === 0 ? ['93.184.215.14'] : ['127.0.0.1'];
      },
    }));
  });
  afterAll(async () => {
    await closeConversationTest({ h, rows, sends });
    redirect?.server.closeAllConnections();
    await new Promise((r) => redirect?.server.close(r));
    await model?.close();
    await inside?.close();
  });

  /** Sends one customer message and waits for its one answer; returns it with the time it took and the model calls it made. */
  async function turn(phoneNumberId: string, text: string) {
    const customers = new Customers(h.gw.url, phoneNumberId);
    const wa = newWaId();
    const calls = model.requests.length;
    const started = Date.now();
    await customers.say(wa, text);
    await eventually(() => sends.to(wa).length === 1, 20_000, 'the answer');
    await eventually(() => rows.settled(wa));
    return { sent: sends.to(wa), ms: Date.now() - started, modelCalls: model.requests.length - calls, dispositions: await rows.dispositions(wa) };
  }

  it('DNS rebinding after save: the connection to loopback is refused, the fallback is sent, disposition agent_failed', async () => {
    const t = await provisionTenant(h.gw, { agent: { provider: 'openai', baseUrl: `https://rebind.example.com:${new URL(inside.url).port}/v1` } });
    expect(lookups.get('rebind.example.com')).toBe(1);
    const r = await turn(t.phoneNumberId, 'hello?');
    expect(r.sent).toEqual([DEFAULT_FALLBACK]);
    expect(r.dispositions).toEqual(['agent_failed']);
    expect(r.modelCalls).toBe(0);
    expect(inside.connections).toBe(0);
    // Refused at once, not retried: far less than one attempt's timeout (timeoutMs 30 s).
    expect(lookups.get('rebind.example.com')).toBe(2);
    expect(r.ms).toBeLessThan(10_000);
  });

  it('a 302 from an allowed agent is a failure: the redirect is not followed', async () => {
    const t = await provisionTenant(h.gw, { agent: { provider: 'http', url: redirect.url + '/agent' } });
    const before = redirect.hits();
    const r = await turn(t.phoneNumberId, 'where to?');
    expect(r.sent).toEqual([DEFAULT_FALLBACK]);
    expect(r.dispositions).toEqual(['agent_failed']);
    expect(redirect.hits() - before).toBe(1);
    expect(r.modelCalls).toBe(0);
  });

  it('WAGATE_EGRESS_ALLOW: the allowed loopback port answers; a URL to another port, stored before the policy, is refused when it connects', async () => {
    const allowed = await provisionTenant(h.gw, { agent: { provider: 'openai', baseUrl: model.openaiBaseUrl } });
    expect(await turn(allowed.phoneNumberId, 'hi')).toMatchObject({ sent: ['echo: hi'], dispositions: ['answered'], modelCalls: 1 });

    const t = await provisionTenant(h.gw, { agent: { provider: 'openai' } });
    expect((await api(h.gw, 'PATCH', '/api/settings', { agent: { baseUrl: inside.openaiBaseUrl } }, t.key)).status).toBe(400);
    // As if saved by an older version: straight into the row, past the save-time check.
    const c = await sqlClient(h.gw.dbUrl);
    try {
      await c.query(`UPDATE tenants SET agent = agent || jsonb_build_object('baseUrl', $2::text) WHERE id = $1`, [t.tenant.id, inside.openaiBaseUrl]);
    } finally {
      await c.end();
    }
    const r = await turn(t.phoneNumberId, 'hi');
    expect(r.sent).toEqual([DEFAULT_FALLBACK]);
    expect(r.dispositions).toEqual(['agent_failed']);
    expect(inside.connections).toBe(0);
    expect(r.ms).toBeLessThan(10_000);
  });
});
