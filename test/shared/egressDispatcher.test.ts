import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAgentDispatcher, postJson } from '../../src/agent/postJson.ts';
import { EgressPolicy, EgressRefusedError, parseEgressAllow } from '../../src/shared/egress.ts';
import { createEgressDispatcher } from '../../src/shared/egressDispatcher.ts';

/** An HTTP server on loopback that answers `{}` and counts the connections it accepted. */
async function countingServer(): Promise<{ server: Server; port: number; connections: () => number }> {
  let connections = 0;
  const server = createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{}'));
  server.on('connection', () => connections++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port, connections: () => connections };
}

describe('the egress dispatcher: the policy checked again as each connection opens', () => {
  let allowed: Awaited<ReturnType<typeof countingServer>>;
  let other: Awaited<ReturnType<typeof countingServer>>;
  beforeAll(async () => {
    allowed = await countingServer();
    other = await countingServer();
  });
  afterAll(async () => {
    allowed.server.closeAllConnections();
    other.server.closeAllConnections();
    await new Promise((r) => allowed.server.close(r));
    await new Promise((r) => other.server.close(r));
  });

  it('DNS rebinding: a name that was public when saved and points to loopback at connect time is refused, and nothing connects', async () => {
    let calls = 0;
    // The first answer (at save time) is public; every later one (at connect time) is loopback.
    const policy = new EgressPolicy({ lookup: async () => (calls++ === 0 ? ['93.184.215.14'] : ['127.0.0.1']) });
    const url = `https://rebind.example.com:${other.port}/v1`;
    await policy.checkUrl(url);
    const dispatcher = createEgressDispatcher(policy);
    try {
      const started = Date.now();
      const err = await request(url, { method: 'POST', dispatcher, body: '{}' }).then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(EgressRefusedError);
      expect((err as Error).message).toMatch(/^rebind\.example\.com resolves to a private address \(127\.0\.0\.1: loopback\)/);
      expect(Date.now() - started).toBeLessThan(5_000);
      expect(calls).toBe(2);
      expect(other.connections()).toBe(0);
    } finally {
      await dispatcher.close();
    }
  });

  it('connects to an allowed loopback port, by address or by a name resolving to it, and refuses another port', async () => {
    const policy = new EgressPolicy({ allow: parseEgressAllow(`127.0.0.1:${allowed.port}`), lookup: async () => ['127.0.0.1'] });
    const dispatcher = createEgressDispatcher(policy);
    try {
      const byAddress = await request(`http://127.0.0.1:${allowed.port}/`, { dispatcher });
      expect(byAddress.statusCode).toBe(200);
      await byAddress.body.text();
      const byName = await request(`http://models.test:${allowed.port}/`, { dispatcher });
      expect(byName.statusCode).toBe(200);
      await byName.body.text();
      await expect(request(`http://127.0.0.1:${other.port}/`, { dispatcher })).rejects.toThrow(EgressRefusedError);
      await expect(request(`http://models.test:${other.port}/`, { dispatcher })).rejects.toThrow(/models\.test resolves to a private address/);
      await expect(request(`http://[::ffff:127.0.0.1]:${other.port}/`, { dispatcher })).rejects.toThrow(/IPv4-mapped loopback/);
      expect(other.connections()).toBe(0);
    } finally {
      await dispatcher.close();
    }
  });

  it("is an agent's non-retryable failure, agent_egress_refused, at once", async () => {
    const dispatcher = createAgentDispatcher({ egress: new EgressPolicy() });
    try {
      const started = Date.now();
      await expect(postJson(dispatcher, `http://127.0.0.1:${other.port}/http-agent`, {}, '{}', new AbortController().signal)).rejects.toMatchObject({
        name: 'AgentError',
        code: 'agent_egress_refused',
        retryable: false,
        message: expect.stringMatching(/^agent endpoint http:\/\/127\.0\.0\.1:\d+ refused: 127\.0\.0\.1 is a private address \(loopback\)/),
      });
      expect(Date.now() - started).toBeLessThan(5_000);
      expect(other.connections()).toBe(0);
    } finally {
      await dispatcher.close();
    }
  });
});
