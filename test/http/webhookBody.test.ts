import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { provisionTenant, startTestGateway, TEST_ADMIN_KEY, type TestGateway } from '../support/gateway.ts';
import { postWebhook, textNotification } from '../support/webhooks.ts';
import { firstStatus, jsonBody, rawConnect, within, type RawConnection } from './rawSocket.ts';

const MiB = 1024 * 1024;
const head = (extra: string, path = '/webhooks/whatsapp') => `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n${extra}\r\n`;

/** Writes `data` and resolves once the kernel took all of it (or the connection failed), with the error if any. */
const writeAll = (c: RawConnection, data: Buffer | string) =>
  new Promise<Error | null>((resolve) => c.socket.write(data, (err) => resolve(err ?? null)));

describe('bodies over 4 MiB: 413, and the client reads it', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startTestGateway();
  });
  afterAll(async () => {
    await gw?.stop();
  });

  it('answers 413 to an oversize Content-Length before the body is sent', async () => {
    const c = await rawConnect(gw.url);
    try {
      c.socket.write(head(`Content-Length: ${5 * MiB}\r\n`));
      const text = await c.waitFor(/\r\n\r\n\{.*\}$/);
      expect(firstStatus(text)).toBe(413);
      expect(jsonBody(text)).toEqual({ error: { code: 'payload_too_large', message: expect.any(String) } });
    } finally {
      c.close();
    }
  });

  // A client that writes its whole body before reading (as a blocking client does): if the
  // server closed the connection with the body unread, the reset would destroy the answer.
  it.each([
    ['Content-Length', () => [head(`Content-Length: ${6 * MiB}\r\n`), Buffer.alloc(6 * MiB, 'x')]],
    ['chunked', () => [head('Transfer-Encoding: chunked\r\n'), ...Array.from({ length: 6 }, () => `100000\r\n${'x'.repeat(MiB)}\r\n`), '0\r\n\r\n']],
  ] as const)('a client that sends a 6 MiB body (%s) without reading still gets its 413', async (_kind, parts) => {
    const c = await rawConnect(gw.url, { paused: true });
    try {
      let err: Error | null = null;
      for (const part of parts()) err ??= await writeAll(c, part);
      expect(err).toBeNull();
      c.socket.resume();
      const text = await c.waitFor(/\r\n\r\n\{.*\}$/);
      expect(firstStatus(text)).toBe(413);
      expect(jsonBody(text).error.code).toBe('payload_too_large');
    } finally {
      c.close();
    }
  });
});

describe('the budget of webhook bytes being read at once', () => {
  const BUDGET = 64 * 1024;
  let gw: TestGateway;
  let p: Awaited<ReturnType<typeof provisionTenant>>;
  beforeAll(async () => {
    gw = await startTestGateway({ env: { WAGATE_WEBHOOK_INFLIGHT_BYTES: String(BUDGET) } });
    p = await provisionTenant(gw);
  });
  afterAll(async () => {
    await gw?.stop();
  });

  /** A signed, valid notification padded to `size` bytes (JSON allows trailing spaces). */
  const padded = (size: number) => {
    const json = JSON.stringify(textNotification(p.phoneNumberId, '15550002000', 'padded').body);
    return json + ' '.repeat(size - json.length);
  };

  /** The gauge of webhook body bytes being read, from /metrics. */
  const bodyBytes = async () => {
    const res = await fetch(gw.url + '/metrics', { headers: { authorization: `Bearer ${TEST_ADMIN_KEY}` } });
    const m = /^wagate_webhook_body_bytes_in_flight (\d+)$/m.exec(await res.text());
    return m ? Number(m[1]) : 0;
  };
  /** Polls the gauge until it reads `bytes`. */
  const untilBodyBytes = async (bytes: number) => {
    const deadline = Date.now() + 15_000;
    let seen = await bodyBytes();
    while (seen !== bytes && Date.now() < deadline) seen = await bodyBytes();
    expect(seen).toBe(bytes);
  };

  it('answers 503 to further webhooks while stalled unsigned uploads hold it, whatever their number, and 200 once they are gone', async () => {
    // Two unsigned uploads send 32,000 of their 33,000 bytes and stall: 64,000 of 65,536 bytes held.
    const stalled: RawConnection[] = [];
    const others: RawConnection[] = [];
    try {
      for (let i = 1; i <= 2; i++) {
        const c = await rawConnect(gw.url);
        stalled.push(c);
        c.socket.write(head('Content-Length: 33000\r\n') + 'x'.repeat(32_000));
        await untilBodyBytes(i * 32_000);
      }
      // A signed 4 KiB webhook does not fit: 503, so Meta delivers it again.
      const res = await postWebhook(gw.url, null, { raw: padded(4096) });
      expect(res.status).toBe(503);
      expect(JSON.parse(res.text)).toEqual({ error: { code: 'busy', message: expect.any(String) } });

      // Twenty more uploads take nothing: each is answered 503 at once, none is held.
      for (let i = 0; i < 20; i++) {
        const c = await rawConnect(gw.url);
        others.push(c);
        c.socket.write(head('Content-Length: 33000\r\n') + 'x'.repeat(100));
      }
      for (const c of others) expect(firstStatus(await c.waitFor(/\r\n\r\n\{.*\}$/))).toBe(503);
      // A chunked upload (no length to check up front) is refused at the chunk that passes the budget.
      const chunked = await rawConnect(gw.url);
      others.push(chunked);
      chunked.socket.write(head('Transfer-Encoding: chunked\r\n') + `1000\r\n${'x'.repeat(4096)}\r\n`);
      expect(firstStatus(await chunked.waitFor(/\r\n\r\n\{.*\}$/))).toBe(503);
      expect(await bodyBytes()).toBe(64_000);

      // The stalled uploads give up: their bytes come back to the budget and webhooks are taken again.
      for (const c of stalled) c.close();
      await untilBodyBytes(0);
      expect((await postWebhook(gw.url, null, { raw: padded(4096) })).status).toBe(200);
    } finally {
      for (const c of [...stalled, ...others]) c.close();
    }
  });

  it('a stalled upload that completes is answered as usual (401 unsigned) and frees its bytes', async () => {
    const c = await rawConnect(gw.url);
    try {
      c.socket.write(head('Content-Length: 60000\r\n') + '{' + ' '.repeat(59_000));
      c.socket.write(' '.repeat(998) + '}');
      const text = await c.waitFor(/\r\n\r\n\{.*\}$/);
      expect(firstStatus(text)).toBe(401);
      // Its 60,000 bytes were given back with its answer.
      expect(await bodyBytes()).toBe(0);
      expect((await postWebhook(gw.url, null, { raw: padded(20_000) })).status).toBe(200);
    } finally {
      c.close();
    }
  });

  it("one channel's own URL holds at most a quarter of the budget; the others keep taking webhooks", async () => {
    const own = await provisionTenant(gw, { channel: { appSecret: 'own-app-secret', verifyToken: 'own-app-token' } });
    const ownPath = `/webhooks/whatsapp/${own.channel.id}`;
    const stalled: RawConnection[] = [];
    try {
      // Two uploads to the channel's URL send 8,000 bytes each and stall: 16,000 of its 16,384.
      for (let i = 1; i <= 2; i++) {
        const c = await rawConnect(gw.url);
        stalled.push(c);
        c.socket.write(head('Content-Length: 8100\r\n', ownPath) + 'x'.repeat(8_000));
        await untilBodyBytes(i * 8_000);
      }
      // The channel's next webhook does not fit its share: 503.
      const json = JSON.stringify(textNotification(own.phoneNumberId, '15550002001', 'own').body);
      const ownRes = await postWebhook(gw.url, null, { raw: json + ' '.repeat(1024), secret: 'own-app-secret', path: ownPath });
      expect(ownRes.status).toBe(503);
      expect(JSON.parse(ownRes.text)).toEqual({ error: { code: 'busy', message: expect.any(String) } });
      // Everyone else's still fit the budget.
      expect((await postWebhook(gw.url, null, { raw: padded(4096) })).status).toBe(200);
      // Once the channel's uploads are gone, its own webhooks are taken again.
      for (const c of stalled) c.close();
      await untilBodyBytes(0);
      expect((await postWebhook(gw.url, null, { raw: json, secret: 'own-app-secret', path: ownPath })).status).toBe(200);
    } finally {
      for (const c of stalled) c.close();
    }
  });
});
