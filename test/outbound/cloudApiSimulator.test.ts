import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createInterface } from 'node:readline';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createCloudApi } from '../../src/outbound/cloudApi.ts';
import { startCloudApiSimulator, type CloudApiSimulator, type SimulatorOptions } from '../../src/sandbox/cloudApiSimulator.ts';
import { normalize } from '../../src/webhook/normalize.ts';
import { verifySignature } from '../../src/webhook/signature.ts';

const SECRET = 'sim-app-secret';
const channel = { phoneNumberId: '3000001', accessToken: 'tok' };
const customer = { waId: '15550002222', userId: null };

interface Received {
  raw: Buffer;
  signature: string | undefined;
  body: any;
}

/** A webhook receiver on loopback that keeps the raw bytes, answering `status`. */
async function receiver(status = 200) {
  const got: Received[] = [];
  const waiters: (() => void)[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      got.push({ raw, signature: req.headers['x-hub-signature-256'] as string | undefined, body: JSON.parse(raw.toString('utf8')) });
      res.writeHead(status).end();
      for (const w of waiters.splice(0)) w();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/webhooks/whatsapp`;
  return {
    url,
    got,
    /** Resolves once `n` posts have arrived. */
    async until(n: number, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      while (got.length < n) {
        if (Date.now() > deadline) throw new Error(`only ${got.length} of ${n} webhooks arrived`);
        await new Promise<void>((r) => {
          waiters.push(r);
          setTimeout(r, 50);
        });
      }
    },
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

async function simulator(opts: SimulatorOptions = {}): Promise<CloudApiSimulator> {
  const sim = await startCloudApiSimulator(opts);
  cleanup.push(() => sim.close());
  return sim;
}

async function postRaw(sim: CloudApiSimulator, path: string, body: string, headers: Record<string, string> = {}) {
  const res = await fetch(sim.url + path, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
  return { status: res.status, json: (await res.json().catch(() => null)) as any };
}

describe('status webhooks', () => {
  it('posts sent, delivered and read, signed over the exact bytes, with the callback data', async () => {
    const hook = await receiver();
    cleanup.push(hook.close);
    const sim = await simulator({ webhookUrl: hook.url, appSecret: SECRET, statusDelaysMs: { sent: 0, delivered: 10, read: 20 } });
    const api = createCloudApi(`${sim.url}/v25.0`);
    cleanup.push(() => api.close());

    // Non-ASCII and "/" in what comes back: Meta escapes them in the bytes it signs.
    const callbackData = 'wg:123/é';
    const { wamid } = await api.sendText(channel, customer, 'Olá', { callbackData });
    await hook.until(3);

    for (const post of hook.got) {
      expect(verifySignature(post.raw, post.signature, SECRET)).toBe(true);
      expect(verifySignature(post.raw, post.signature, 'another-secret')).toBe(false);
      const text = post.raw.toString('utf8');
      expect(text).toContain('wg:123\\/\\u00e9');
      expect(text).not.toContain('é');
      // Re-serialising changes the bytes, so only the raw body verifies.
      expect(verifySignature(Buffer.from(JSON.stringify(post.body)), post.signature, SECRET)).toBe(false);
      expect(post.body.object).toBe('whatsapp_business_account');
      const change = post.body.entry[0].changes[0];
      expect(change.field).toBe('messages');
      expect(change.value.metadata.phone_number_id).toBe(channel.phoneNumberId);
      const [status] = change.value.statuses;
      expect(status.id).toBe(wamid);
      expect(status.recipient_id).toBe(customer.waId);
      expect(status.biz_opaque_callback_data).toBe(callbackData);
      expect(status.timestamp).toMatch(/^\d{10}$/);
    }
    const statuses = hook.got.map((p) => p.body.entry[0].changes[0].value.statuses[0].status);
    expect(statuses.sort()).toEqual(['delivered', 'read', 'sent']);
    // Counted once the simulator has read the receiver's answer, a moment after it arrived.
    await vi.waitFor(() => expect(sim.stats().statusesPosted).toBe(3));
  });

  it('posts what the gateway’s webhook parser reads, callback id included', async () => {
    const hook = await receiver();
    cleanup.push(hook.close);
    const sim = await simulator({ webhookUrl: hook.url, appSecret: SECRET, statusDelaysMs: { sent: 0, delivered: null, read: null } });
    const api = createCloudApi(sim.url);
    cleanup.push(() => api.close());
    const { wamid } = await api.sendText(channel, customer, 'hi', { callbackData: 'wg:987654' });
    await hook.until(1);
    const n = normalize(hook.got[0].body);
    expect(n.statuses).toHaveLength(1);
    expect(n.statuses[0]).toMatchObject({ phoneNumberId: channel.phoneNumberId, wamid, status: 'sent', callbackMessageId: '987654', errorCode: null });
  });

  it('posts a failed status with its error for a scripted asynchronous failure', async () => {
    const hook = await receiver();
    cleanup.push(hook.close);
    const sim = await simulator({ webhookUrl: hook.url, appSecret: SECRET, statusDelaysMs: { sent: 0, delivered: 5, read: 10 } });
    const api = createCloudApi(sim.url);
    cleanup.push(() => api.close());
    sim.script({ asyncFailure: { code: 131026, title: 'Message undeliverable' } });
    const { wamid } = await api.sendText(channel, customer, 'hi', { callbackData: 'wg:5' });
    await hook.until(1);
    await new Promise((r) => setTimeout(r, 50));
    expect(hook.got).toHaveLength(1);
    const n = normalize(hook.got[0].body);
    expect(n.statuses[0]).toMatchObject({ wamid, status: 'failed', errorCode: 131026, errorTitle: 'Message undeliverable', callbackMessageId: '5' });
  });

  it('posts nothing when status delays are null, and only the statuses that have a delay', async () => {
    const hook = await receiver();
    cleanup.push(hook.close);
    const none = await simulator({ webhookUrl: hook.url, appSecret: SECRET, statusDelaysMs: null });
    const some = await simulator({ webhookUrl: hook.url, appSecret: SECRET, statusDelaysMs: { sent: null, delivered: 0, read: null } });
    const a = createCloudApi(none.url);
    const b = createCloudApi(some.url);
    cleanup.push(() => a.close(), () => b.close());
    await a.sendText(channel, customer, 'one', { callbackData: 'wg:1' });
    await b.sendText(channel, customer, 'two', { callbackData: 'wg:2' });
    await hook.until(1);
    await new Promise((r) => setTimeout(r, 100));
    expect(hook.got.map((p) => p.body.entry[0].changes[0].value.statuses[0].status)).toEqual(['delivered']);
  });

  it('retries a failing webhook for statusRetryForMs, then reports the failure', async () => {
    const hook = await receiver(500);
    cleanup.push(hook.close);
    // Tries at 0, +200 and +600 ms fit in 700 ms; the next (+1,400 ms) does not.
    const sim = await simulator({ webhookUrl: hook.url, appSecret: SECRET, statusDelaysMs: { sent: 0, delivered: null, read: null }, statusRetryForMs: 700 });
    const api = createCloudApi(sim.url);
    cleanup.push(() => api.close());
    const failed = sim.once('statusError');
    await api.sendText(channel, customer, 'hi', { callbackData: 'wg:1' });
    const e = await failed;
    expect(e.status).toBe('sent');
    expect(e.error.message).toMatch(/500/);
    expect(hook.got.length).toBe(3);
    expect(sim.stats().statusFailures).toBe(1);
  });

  it('needs an app secret to post statuses', async () => {
    await expect(startCloudApiSimulator({ webhookUrl: 'http://127.0.0.1:9/x' })).rejects.toThrow(/appSecret/);
  });
});

describe('requests like Meta would', () => {
  it('accepts the path with and without the version segment, and refuses other routes', async () => {
    const sim = await simulator({ statusDelaysMs: null });
    const body = JSON.stringify({ messaging_product: 'whatsapp', to: '1555', type: 'text', text: { body: 'hi' } });
    expect((await postRaw(sim, '/v25.0/123/messages', body)).status).toBe(200);
    const plain = await postRaw(sim, '/123/messages', body);
    expect(plain.status).toBe(200);
    expect(plain.json.messages[0].id).toMatch(/^wamid\./);
    expect(plain.json.contacts[0]).toEqual({ input: '1555', wa_id: '1555' });
    const other = await postRaw(sim, '/v25.0/123/calls', body);
    expect(other.status).toBe(404);
    expect(other.json.error.code).toBe(100);
  });

  it('answers a bad body with 400 and code 100', async () => {
    const sim = await simulator({ statusDelaysMs: null });
    const cases = [
      'not json',
      JSON.stringify({ to: '1', type: 'text', text: { body: 'x' } }),
      JSON.stringify({ messaging_product: 'whatsapp', type: 'text', text: { body: 'x' } }),
      JSON.stringify({ messaging_product: 'whatsapp', to: '1', recipient: 'US.1', type: 'text', text: { body: 'x' } }),
      JSON.stringify({ messaging_product: 'whatsapp', to: '1', type: 'text', text: {} }),
      JSON.stringify({ messaging_product: 'whatsapp', to: '1', type: 'text', text: { body: 'x'.repeat(4097) } }),
      JSON.stringify({ messaging_product: 'whatsapp', to: '1', type: 'text', text: { body: 'x' }, biz_opaque_callback_data: 'x'.repeat(513) }),
      JSON.stringify({ messaging_product: 'whatsapp', status: 'read' }),
      JSON.stringify({ messaging_product: 'whatsapp', status: 'read', message_id: 'w', typing_indicator: { type: 'audio' } }),
    ];
    for (const body of cases) {
      const res = await postRaw(sim, '/v25.0/123/messages', body);
      expect(res.status, body.slice(0, 60)).toBe(400);
      expect(res.json.error.code).toBe(100);
      expect(res.json.error.message).toMatch(/^\(#100\) /);
      expect(res.json.error.fbtrace_id).toEqual(expect.any(String));
    }
    expect(sim.stats()).toMatchObject({ sends: 0, reads: 0, errors: cases.length });
  });

  it('checks the bearer token per number when tokens are configured', async () => {
    const sim = await simulator({ statusDelaysMs: null, tokens: new Map([['123', 'secret-token']]) });
    const body = JSON.stringify({ messaging_product: 'whatsapp', to: '1', type: 'text', text: { body: 'x' } });
    const missing = await postRaw(sim, '/v25.0/123/messages', body);
    expect([missing.status, missing.json.error.code]).toEqual([401, 190]);
    const wrong = await postRaw(sim, '/v25.0/123/messages', body, { authorization: 'Bearer nope' });
    expect([wrong.status, wrong.json.error.code]).toEqual([401, 190]);
    const unknown = await postRaw(sim, '/v25.0/999/messages', body, { authorization: 'Bearer secret-token' });
    expect([unknown.status, unknown.json.error.code, unknown.json.error.error_subcode]).toEqual([400, 100, 33]);
    const ok = await postRaw(sim, '/v25.0/123/messages', body, { authorization: 'Bearer secret-token' });
    expect(ok.status).toBe(200);
    expect(sim.requests().map((r) => r.headers.authorization)).toEqual([undefined, 'Bearer nope', 'Bearer secret-token', 'Bearer secret-token']);
  });
});

describe('scripting and recording', () => {
  it('applies scripted answers in order, to the kind of request named', async () => {
    const sim = await simulator({ statusDelaysMs: null });
    const api = createCloudApi(sim.url);
    cleanup.push(() => api.close());
    sim.script({ on: 'send', status: 400, code: 131047, title: 'Re-engagement message' }, { status: 500 });
    // The read skips the send-only answer and takes the next one.
    await expect(api.markRead(channel, 'wamid.X', true)).rejects.toMatchObject({ code: 500 });
    await expect(api.sendText(channel, customer, 'hi', { callbackData: 'wg:1' })).rejects.toMatchObject({ code: 131047 });
    expect(sim.scripted).toBe(0);
    await api.sendText(channel, customer, 'hi', { callbackData: 'wg:1' });
    expect(sim.requests().map((r) => r.status)).toEqual([500, 400, 200]);
  });

  it('delays an answer and adds a standing latency', async () => {
    const sim = await simulator({ statusDelaysMs: null, latencyMs: 30 });
    const api = createCloudApi(sim.url);
    cleanup.push(() => api.close());
    sim.script({ delayMs: 100 });
    let t = performance.now();
    await api.sendText(channel, customer, 'a', { callbackData: 'wg:1' });
    expect(performance.now() - t).toBeGreaterThanOrEqual(120);
    t = performance.now();
    await api.sendText(channel, customer, 'b', { callbackData: 'wg:1' });
    expect(performance.now() - t).toBeGreaterThanOrEqual(25);
  });

  it('tracks requests in flight and their maximum', async () => {
    const sim = await simulator({ statusDelaysMs: null, latencyMs: 50 });
    const api = createCloudApi(sim.url, { connections: 10 });
    cleanup.push(() => api.close());
    await Promise.all(Array.from({ length: 10 }, (_, i) => api.sendText(channel, customer, `m${i}`, { callbackData: 'wg:1' })));
    const stats = sim.stats();
    expect(stats.maxInFlight).toBeGreaterThan(1);
    expect(stats.maxInFlight).toBeLessThanOrEqual(10);
    expect(stats.inFlight).toBe(0);
  });

  it('keeps a bounded record, newest last', async () => {
    const sim = await simulator({ statusDelaysMs: null, maxRecorded: 5 });
    const api = createCloudApi(sim.url);
    cleanup.push(() => api.close());
    for (let i = 0; i < 8; i++) await api.sendText(channel, customer, `m${i}`, { callbackData: 'wg:1' });
    expect(sim.requests().map((r) => (r.body as any).text.body)).toEqual(['m3', 'm4', 'm5', 'm6', 'm7']);
    expect(sim.stats().sends).toBe(8);
  });

  it('emits send and read events', async () => {
    const sim = await simulator({ statusDelaysMs: null });
    const api = createCloudApi(sim.url);
    cleanup.push(() => api.close());
    const sends: unknown[] = [];
    const off = sim.on('send', (e) => sends.push(e));
    const { wamid } = await api.sendText(channel, { waId: null, userId: 'US.42' }, 'hey', { callbackData: 'wg:7' });
    off();
    await api.sendText(channel, customer, 'unheard', { callbackData: 'wg:8' });
    expect(sends).toEqual([
      { phoneNumberId: channel.phoneNumberId, to: null, recipient: 'US.42', body: 'hey', wamid, callbackData: 'wg:7', type: 'text', contextWamid: null, template: null, message: { text: 'hey', options: null, listButton: null, media: null } },
    ]);
    const read = sim.once('read', (e) => e.messageId === 'wamid.B');
    await api.markRead(channel, 'wamid.A', false);
    await api.markRead(channel, 'wamid.B', false);
    expect(await read).toEqual({ phoneNumberId: channel.phoneNumberId, messageId: 'wamid.B', typing: false });
  });
});

describe('as a process of its own', () => {
  it('prints its URL, serves sends and stops on SIGTERM', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/sandbox/cloudApiSimulator.main.ts', '--port', '0', '--latency-ms', '1', '--status-delays', 'none'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    try {
      const line = await new Promise<string>((resolve, reject) => {
        createInterface({ input: child.stdout! }).once('line', resolve);
        child.once('exit', () => reject(new Error('the simulator exited before printing its URL')));
      });
      const { url } = JSON.parse(line) as { url: string };
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      const api = createCloudApi(`${url}/v25.0`);
      try {
        const { wamid } = await api.sendText(channel, customer, 'hi', { callbackData: 'wg:1' });
        expect(wamid).toMatch(/^wamid\./);
      } finally {
        await api.close();
      }
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
  });

  it('exits 1 with a clear message on bad arguments', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/sandbox/cloudApiSimulator.main.ts', '--status-delays', '1,2'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
    const code = await new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
    expect(code).toBe(1);
    expect(stderr).toMatch(/--status-delays needs three values/);
  });
});
