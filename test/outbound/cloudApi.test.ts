import { createServer } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createCloudApi } from '../../src/outbound/cloudApi.ts';
import { CloudApiError, type CloudApi } from '../../src/outbound/types.ts';
import { startCloudApiSimulator, type CloudApiSimulator } from '../../src/sandbox/cloudApiSimulator.ts';

const channel = { phoneNumberId: '1065403522', accessToken: 'EAAtoken-1' };
const customer = { waId: '15551234567', userId: null };

let sim: CloudApiSimulator;
let api: CloudApi;

beforeAll(async () => {
  sim = await startCloudApiSimulator({ statusDelaysMs: null });
  api = createCloudApi(`${sim.url}/v25.0`, { connections: 8 });
});
afterAll(async () => {
  await api.close();
  await sim.close();
});
afterEach(() => sim.reset());

/** The error a call rejected with, failing the test when it resolved. */
async function failure(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('expected the call to fail');
}

async function cloudError(p: Promise<unknown>): Promise<CloudApiError> {
  const err = await failure(p);
  expect(err).toBeInstanceOf(CloudApiError);
  return err as CloudApiError;
}

describe('sendText', () => {
  it('posts exactly the Cloud API text message with the bearer token and returns the wamid', async () => {
    const sent = sim.once('send');
    const { wamid } = await api.sendText(channel, customer, 'Hello there', { callbackData: 'wg:42' });
    expect(wamid).toBe((await sent).wamid);
    expect(wamid).toMatch(/^wamid\./);
    const [req] = sim.requests();
    expect(req.method).toBe('POST');
    expect(req.path).toBe(`/v25.0/${channel.phoneNumberId}/messages`);
    expect(req.headers.authorization).toBe('Bearer EAAtoken-1');
    expect(req.headers['content-type']).toBe('application/json');
    expect(req.body).toStrictEqual({
      messaging_product: 'whatsapp',
      recipient_type: 'individual',
      to: '15551234567',
      type: 'text',
      text: { preview_url: false, body: 'Hello there' },
      biz_opaque_callback_data: 'wg:42',
    });
  });

  it('addresses a customer known only by business-scoped user id with `recipient`', async () => {
    const sent = sim.once('send');
    await api.sendText(channel, { waId: null, userId: 'US.13491208655302741918' }, 'Hi', { callbackData: 'wg:1' });
    const body = sim.requests()[0].body as Record<string, unknown>;
    expect(body.recipient).toBe('US.13491208655302741918');
    expect(body).not.toHaveProperty('to');
    expect(await sent).toMatchObject({ to: null, recipient: 'US.13491208655302741918', body: 'Hi', callbackData: 'wg:1' });
  });

  it('sends unicode text unchanged', async () => {
    const text = 'Grüße 👋🏽 — ¿qué tal? / @home';
    const sent = sim.once('send');
    await api.sendText(channel, customer, text, { callbackData: 'wg:2' });
    expect((await sent).body).toBe(text);
  });

  it('keeps connections alive and within the pool size', async () => {
    const pooled = createCloudApi(`${sim.url}/v25.0`, { connections: 3 });
    try {
      sim.setLatency(20);
      const results = await Promise.all(Array.from({ length: 30 }, (_, i) => pooled.sendText(channel, customer, `m${i}`, { callbackData: `wg:${i}` })));
      expect(new Set(results.map((r) => r.wamid)).size).toBe(30);
      const stats = sim.stats();
      expect(stats.sends).toBe(30);
      expect(stats.maxInFlight).toBeLessThanOrEqual(3);
      expect(stats.connections).toBeLessThanOrEqual(3);
    } finally {
      sim.setLatency(0);
      await pooled.close();
    }
  });

  it('rejects a body over 4,096 characters, a blank body and a recipient without ids before any request', async () => {
    for (const [to, body] of [
      [customer, 'x'.repeat(4097)],
      [customer, '  \n '],
      [{ waId: null, userId: null }, 'hi'],
    ] as const) {
      const err = await cloudError(api.sendText(channel, to, body, { callbackData: 'wg:3' }));
      expect(err.code).toBe(100);
      expect(err.retryable).toBe(false);
    }
    // 4,096 emoji are 8,192 UTF-16 units but 4,096 characters: allowed.
    await api.sendText(channel, customer, '😀'.repeat(4096), { callbackData: 'wg:4' });
    expect(sim.requests()).toHaveLength(1);
  });
});

describe('markRead', () => {
  it('marks read with a typing indicator', async () => {
    const read = sim.once('read');
    await api.markRead(channel, 'wamid.IN1', true);
    expect(sim.requests()[0].body).toStrictEqual({
      messaging_product: 'whatsapp',
      status: 'read',
      message_id: 'wamid.IN1',
      typing_indicator: { type: 'text' },
    });
    expect(sim.requests()[0].headers.authorization).toBe('Bearer EAAtoken-1');
    expect(await read).toEqual({ phoneNumberId: channel.phoneNumberId, messageId: 'wamid.IN1', typing: true });
  });

  it('marks read without the typing indicator when typing is off', async () => {
    await api.markRead(channel, 'wamid.IN2', false);
    expect(sim.requests()[0].body).toStrictEqual({ messaging_product: 'whatsapp', status: 'read', message_id: 'wamid.IN2' });
  });

  it('throws a classified error when Meta refuses', async () => {
    sim.script({ status: 400, code: 100, title: 'Invalid parameter' });
    const err = await cloudError(api.markRead(channel, 'wamid.unknown', true));
    expect([err.code, err.retryable]).toEqual([100, false]);
  });
});

describe('errors are classified by Meta code, not HTTP status', () => {
  const send = () => api.sendText(channel, customer, 'hi', { callbackData: 'wg:e' });

  it('131047 outside the 24-hour window: permanent, with its title', async () => {
    sim.script({ status: 400, code: 131047, title: 'Re-engagement message', details: 'Message failed to send because more than 24 hours have passed' });
    const err = await cloudError(send());
    expect(err.code).toBe(131047);
    expect(err.httpStatus).toBe(400);
    expect(err.retryable).toBe(false);
    expect(err.title).toContain('Re-engagement message');
    expect(err.title).not.toContain('(#131047)');
  });

  it('a 400 carrying a temporary code (130429 throughput) is retryable', async () => {
    sim.script({ status: 400, code: 130429, title: 'Rate limit hit' });
    const err = await cloudError(send());
    expect([err.code, err.httpStatus, err.retryable]).toEqual([130429, 400, true]);
  });

  it('131056 pair rate limit on a 429 is retryable', async () => {
    sim.script({ status: 429, code: 131056, title: '(Business Account, Consumer Account) pair rate limit hit' });
    const err = await cloudError(send());
    expect([err.code, err.retryable]).toEqual([131056, true]);
  });

  it('a 500 carrying a permanent code is permanent; 503 with 131016 is temporary', async () => {
    sim.script({ status: 500, code: 131026, title: 'Message undeliverable' }, { status: 503, code: 131016, title: 'Service unavailable' });
    const a = await cloudError(send());
    expect([a.code, a.httpStatus, a.retryable]).toEqual([131026, 500, false]);
    const b = await cloudError(send());
    expect([b.code, b.httpStatus, b.retryable]).toEqual([131016, 503, true]);
  });

  it('a non-JSON 5xx is retryable, with the HTTP status as its code', async () => {
    sim.script({ status: 502, body: '<html>Bad Gateway</html>' });
    const err = await cloudError(send());
    expect([err.code, err.httpStatus, err.retryable]).toEqual([502, 502, true]);
  });

  it('a non-JSON 4xx is permanent', async () => {
    sim.script({ status: 404, body: 'not here' });
    const err = await cloudError(send());
    expect([err.code, err.retryable]).toEqual([404, false]);
  });

  it('a 200 without a message id is an error that is not retried (the send may have happened)', async () => {
    sim.script({ status: 200, body: '{"messaging_product":"whatsapp","messages":[]}' }, { status: 200, body: 'OK' });
    for (let i = 0; i < 2; i++) {
      const err = await cloudError(send());
      expect(err.httpStatus).toBe(200);
      expect(err.retryable).toBe(false);
      expect(err.title).toMatch(/unexpected response/);
    }
  });

  it('an expired token (190) is permanent', async () => {
    const guarded = await startCloudApiSimulator({ statusDelaysMs: null, tokens: new Map([[channel.phoneNumberId, 'right-token']]) });
    const client = createCloudApi(guarded.url);
    try {
      const err = await cloudError(client.sendText(channel, customer, 'hi', { callbackData: 'wg:t' }));
      expect([err.code, err.httpStatus, err.retryable]).toEqual([190, 401, false]);
      const ok = await client.sendText({ ...channel, accessToken: 'right-token' }, customer, 'hi', { callbackData: 'wg:t' });
      expect(ok.wamid).toMatch(/^wamid\./);
    } finally {
      await client.close();
      await guarded.close();
    }
  });

  it('a dropped connection is a retryable network error (code 0)', async () => {
    sim.script({ drop: true });
    const err = await cloudError(send());
    expect([err.code, err.httpStatus, err.retryable]).toEqual([0, null, true]);
    expect(err.cause).toBeDefined();
  });

  it('a refused connection is a retryable network error', async () => {
    const port = await closedPort();
    const client = createCloudApi(`http://127.0.0.1:${port}/v25.0`);
    try {
      const err = await cloudError(client.sendText(channel, customer, 'hi', { callbackData: 'wg:r' }));
      expect([err.code, err.retryable]).toEqual([0, true]);
      expect(err.title).toMatch(/ECONNREFUSED/);
    } finally {
      await client.close();
    }
  });

  it('a timeout is a retryable network error', async () => {
    const client = createCloudApi(sim.url, { timeoutMs: 100 });
    try {
      sim.script({ delayMs: 1000 });
      const err = await cloudError(client.sendText(channel, customer, 'hi', { callbackData: 'wg:slow' }));
      expect([err.code, err.retryable]).toEqual([0, true]);
    } finally {
      await client.close();
    }
  });

  it('an aborted send rejects with the abort reason, not a CloudApiError', async () => {
    sim.script({ delayMs: 2000 });
    const ac = new AbortController();
    const p = api.sendText(channel, customer, 'hi', { callbackData: 'wg:a', signal: ac.signal });
    setTimeout(() => ac.abort(new Error('turn cancelled')), 20);
    const err = await failure(p);
    expect(err).not.toBeInstanceOf(CloudApiError);
    expect((err as Error).message).toBe('turn cancelled');
  });
});

it('refuses a base URL that is not http(s)', () => {
  expect(() => createCloudApi('graph.facebook.com')).toThrow(/not a URL/);
  expect(() => createCloudApi('ftp://example.com')).toThrow(/http/);
  expect(() => createCloudApi('http://127.0.0.1:1', { connections: 0 })).toThrow(RangeError);
});

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address() as { port: number };
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}
