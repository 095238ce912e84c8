import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openEventStream } from '../api/sseClient.ts';
import { api, provisionTenant, startTestGateway, type TestGateway } from '../support/gateway.ts';
import { postWebhook, textNotification } from '../support/webhooks.ts';
import { firstStatus, jsonBody, rawConnect, within } from './rawSocket.ts';

const REQUEST_TIMEOUT_MS = 1000;
const KEEP_ALIVE_MS = 500;
// Far above the configured limits, far below the defaults (30 s, 72 s) and below "never".
const BOUND_MS = 12_000;

describe('time limits on one client', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startTestGateway({
      env: {
        WAGATE_HTTP_REQUEST_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS),
        WAGATE_HTTP_HEADERS_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS),
        WAGATE_HTTP_KEEP_ALIVE_TIMEOUT_MS: String(KEEP_ALIVE_MS),
      },
    });
  });
  afterAll(async () => {
    await gw?.stop();
  });

  it('cuts a body sent one byte every 200 ms with 408 request_timeout', async () => {
    const c = await rawConnect(gw.url);
    c.socket.write('POST /webhooks/whatsapp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n');
    const drip = setInterval(() => c.socket.writable && c.socket.write('x'), 200);
    try {
      const ms = await within(c.closed, BOUND_MS, 'the slow upload was not cut');
      expect(ms).toBeGreaterThanOrEqual(REQUEST_TIMEOUT_MS - 50);
      const text = c.received();
      // Either the answer made it out before the close, or the connection was simply closed.
      if (text) {
        expect(firstStatus(text)).toBe(408);
        expect(jsonBody(text)).toEqual({ error: { code: 'request_timeout', message: expect.any(String) } });
      }
    } finally {
      clearInterval(drip);
      c.close();
    }
  });

  it('keeps a connection for the next request, and closes it once idle for the keep-alive timeout', async () => {
    const c = await rawConnect(gw.url);
    try {
      c.socket.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
      await c.waitFor(/\{"ok":true\}/);
      // Reused at once: keep-alive works.
      c.socket.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
      await c.waitFor(/\{"ok":true\}[\s\S]*\{"ok":true\}/);
      const answered = Date.now();
      await within(c.closed, BOUND_MS, 'the idle connection stayed open');
      expect(Date.now() - answered).toBeGreaterThanOrEqual(KEEP_ALIVE_MS - 50);
    } finally {
      c.close();
    }
  });

  it('closes a connection that never sends a request', async () => {
    const c = await rawConnect(gw.url);
    try {
      await within(c.closed, BOUND_MS, 'the silent connection stayed open');
    } finally {
      c.close();
    }
  });

  it('does not cut a live event stream: it outlives several request timeouts and still delivers', async () => {
    const t = await provisionTenant(gw);
    expect((await postWebhook(gw.url, textNotification(t.phoneNumberId, '15550001000', 'hello').body)).status).toBe(200);
    const [conv] = (await api(gw, 'GET', '/api/conversations', undefined, t.key)).body.items;
    const s = await openEventStream(`${gw.url}/api/events`, { authorization: `Bearer ${t.key}` });
    try {
      expect(s.status).toBe(200);
      await s.next((e) => e.event === 'ready');
      const opened = Date.now();
      // Each round waits for its own event; the rounds go on past 3 request timeouts and 6 keep-alive timeouts.
      let rounds = 0;
      while (Date.now() - opened < 3 * REQUEST_TIMEOUT_MS + 500) {
        const paused = rounds % 2 === 0;
        expect((await api(gw, 'POST', `/api/conversations/${conv.id}/${paused ? 'pause' : 'resume'}`, paused ? {} : undefined, t.key)).status).toBe(200);
        rounds++;
        await s.next((e) => e.event === 'conversation' && s.events.filter((x) => x.event === 'conversation').length === rounds && e.data.paused === paused);
      }
      expect(rounds).toBeGreaterThan(1);
    } finally {
      s.close();
    }
  });
});

describe('the connection cap', () => {
  const CAP = 3;
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startTestGateway({ env: { WAGATE_MAX_CONNECTIONS: String(CAP) } });
  });
  afterAll(async () => {
    await gw?.stop();
  });

  const healthz = 'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n';

  it('closes connections past the cap at once, and takes new ones when one ends', async () => {
    const held = [];
    for (let i = 0; i < CAP; i++) {
      const c = await rawConnect(gw.url);
      c.socket.write(healthz);
      await c.waitFor(/\{"ok":true\}/);
      held.push(c);
    }
    try {
      const extra = await rawConnect(gw.url);
      extra.socket.write(healthz);
      await within(extra.closed, BOUND_MS, 'the connection past the cap was served');
      expect(extra.received()).toBe('');

      // One of the held connections ends: the server counts it out and takes a new one.
      held.shift()!.close();
      const deadline = Date.now() + BOUND_MS;
      for (;;) {
        const c = await rawConnect(gw.url);
        c.socket.write(healthz);
        const ok = await c.waitFor(/\{"ok":true\}/, 2000).then(
          () => true,
          () => false,
        );
        c.close();
        if (ok) break;
        if (Date.now() > deadline) throw new Error('no connection was taken after one ended');
      }
    } finally {
      for (const c of held) c.close();
    }
  });
});
