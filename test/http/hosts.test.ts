import { Writable } from 'node:stream';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sign } from '../../src/webhook/signature.ts';
import { provisionTenant, startTestGateway, TEST_APP_SECRET, type TestGateway } from '../support/gateway.ts';
import { textNotification } from '../support/webhooks.ts';
import { requestWith } from './rawSocket.ts';

const expect421 = (r: { status: number; body: any }) => {
  expect(r.status).toBe(421);
  expect(r.body).toEqual({ error: { code: 'misdirected_request', message: expect.any(String) } });
};

describe('Host allow-list, by default on a loopback address', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startTestGateway();
  });
  afterAll(async () => {
    await gw?.stop();
  });

  it('answers 421 to a page of another name pointed at this port (DNS rebinding), on every route', async () => {
    const port = new URL(gw.url).port;
    for (const path of ['/healthz', '/api/conversations', '/', '/webhooks/whatsapp']) {
      for (const host of ['evil.example', `evil.example:${port}`, `rebind.127.0.0.1.nip.io:${port}`]) {
        expect421(await requestWith(gw.url, { path, headers: { host } }));
      }
    }
    // An /api answer, even this one, carries the API's headers.
    const r = await requestWith(gw.url, { path: '/api/conversations', headers: { host: 'evil.example' } });
    expect(r.headers['cache-control']).toBe('no-store');
    expect(r.headers['x-content-type-options']).toBe('nosniff');
  });

  it('answers the loopback names, with any port', async () => {
    const port = new URL(gw.url).port;
    for (const host of ['localhost', `localhost:${port}`, `127.0.0.1:${port}`, `[::1]:${port}`, 'LOCALHOST:1234']) {
      expect((await requestWith(gw.url, { path: '/healthz', headers: { host } })).status, host).toBe(200);
    }
  });
});

describe('Host allow-list from WAGATE_PUBLIC_URL and WAGATE_ALLOWED_HOSTS, behind a trusted proxy', () => {
  let gw: TestGateway;
  let p: Awaited<ReturnType<typeof provisionTenant>>;
  beforeAll(async () => {
    gw = await startTestGateway({
      env: { WAGATE_PUBLIC_URL: 'https://hooks.example.com', WAGATE_ALLOWED_HOSTS: 'dash.example.com:8443, api.example.com', WAGATE_TRUST_PROXY: '127.0.0.1' },
    });
    p = await provisionTenant(gw);
  });
  afterAll(async () => {
    await gw?.stop();
  });

  const webhook = (headers: Record<string, string>) => {
    const raw = JSON.stringify(textNotification(p.phoneNumberId, '15550003000', 'via the public host').body);
    return requestWith(gw.url, {
      method: 'POST',
      path: '/webhooks/whatsapp',
      headers: { 'content-type': 'application/json', 'x-hub-signature-256': sign(raw, TEST_APP_SECRET), ...headers },
      body: raw,
    });
  };

  it("takes Meta's webhooks, which name the public URL's host", async () => {
    expect((await webhook({ host: 'hooks.example.com' })).status).toBe(200);
    expect((await webhook({ host: 'HOOKS.example.com:443' })).status).toBe(200);
    // Through the proxy: the host it forwards is the one checked.
    expect((await webhook({ host: '127.0.0.1:3000', 'x-forwarded-host': 'hooks.example.com' })).status).toBe(200);
  });

  it('answers the listed hosts (on the listed port when one is given) and refuses the others', async () => {
    for (const host of ['dash.example.com:8443', 'api.example.com', 'api.example.com:9000']) {
      expect((await requestWith(gw.url, { path: '/healthz', headers: { host } })).status, host).toBe(200);
    }
    for (const host of ['dash.example.com', 'dash.example.com:9000', 'example.com', 'hooks.example.com.evil.example', 'evil.example']) {
      expect421(await requestWith(gw.url, { path: '/healthz', headers: { host } }));
    }
    expect421(await webhook({ host: 'evil.example' }));
    expect421(await webhook({ host: 'hooks.example.com', 'x-forwarded-host': 'evil.example' }));
  });
});

describe('Host allow-list with no setting on a non-loopback address', () => {
  it('answers any host, and says so once at start', async () => {
    const lines: string[] = [];
    const sink = new Writable({ write: (chunk, _enc, done) => (lines.push(String(chunk)), done()) });
    const gw = await startTestGateway({ env: { HOST: '0.0.0.0' }, log: pino({ level: 'warn' }, sink) });
    try {
      const port = new URL(gw.url).port;
      expect((await requestWith(`http://127.0.0.1:${port}`, { path: '/healthz', headers: { host: 'anything.example' } })).status).toBe(200);
      const warnings = lines.map((l) => JSON.parse(l)).filter((l) => /WAGATE_ALLOWED_HOSTS/.test(l.msg));
      expect(warnings).toHaveLength(1);
      expect(warnings[0].level).toBe(40);
    } finally {
      await gw.stop();
    }
  });
});
