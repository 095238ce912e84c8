import { Writable } from 'node:stream';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sign } from '../../src/webhook/signature.ts';
import { api, provisionTenant, TEST_ADMIN_KEY, TEST_APP_SECRET, TEST_VERIFY_TOKEN } from '../support/gateway.ts';
import { eventually, startPipeline, type PipelineHarness } from '../support/pipeline.ts';
import { textNotification } from '../support/webhooks.ts';

type Line = Record<string, any>;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

describe('request ids and access log lines', () => {
  let h: PipelineHarness;
  const lines: Line[] = [];
  let raw = '';
  let tenant: Awaited<ReturnType<typeof provisionTenant>>;
  beforeAll(async () => {
    const sink = new Writable({
      write: (chunk, _enc, done) => {
        raw += String(chunk);
        for (const l of String(chunk).split('\n')) if (l.trim()) lines.push(JSON.parse(l));
        done();
      },
    });
    h = await startPipeline({ log: pino({ level: 'debug' }, sink) });
    tenant = await provisionTenant(h.gw, { agent: { provider: 'openai' } });
  });
  afterAll(async () => {
    await h?.close();
  });

  const accessLines = (reqId: string) => lines.filter((l) => l.msg === 'request' && l.reqId === reqId);

  it('takes the caller\'s X-Request-Id, echoes it and writes one access line at info without the query string or the key', async () => {
    const id = 'trace-4bf92f3577b34da6';
    const res = await fetch(`${h.gw.url}/api/conversations?limit=5&cursor=secret-cursor`, { headers: { authorization: `Bearer ${TEST_ADMIN_KEY}`, 'x-request-id': id } });
    // A made-up cursor: refused, and the refusal carries the id too.
    expect(res.status).toBe(400);
    expect(res.headers.get('x-request-id')).toBe(id);
    const [line] = await eventually(() => (accessLines(id).length === 1 ? accessLines(id) : null), 5_000, 'the access line');
    expect(line).toMatchObject({ level: 30, method: 'GET', path: '/api/conversations', status: 400, ip: '127.0.0.1' });
    expect(typeof line.ms).toBe('number');
    expect(raw).not.toContain('secret-cursor');
    expect(raw).not.toContain(TEST_ADMIN_KEY);
  });

  it('makes up an id when none is given, or when the given one is not fit for a log line', async () => {
    for (const given of [undefined, 'x'.repeat(129), 'two words', 'semi;colon']) {
      const headers: Record<string, string> = given === undefined ? {} : { 'x-request-id': given };
      const res = await fetch(`${h.gw.url}/healthz`, { headers });
      const id = res.headers.get('x-request-id')!;
      expect(id).toMatch(UUID);
      await eventually(() => accessLines(id).length === 1, 5_000, 'the access line');
    }
  });

  it('every answer carries an id: 404s and refusals too, and a handshake\'s verify token is not logged', async () => {
    const missing = await fetch(`${h.gw.url}/no/such/route`, { headers: { 'x-request-id': 'req-404' } });
    expect(missing.status).toBe(404);
    expect(missing.headers.get('x-request-id')).toBe('req-404');
    const hs = await fetch(`${h.gw.url}/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=${TEST_VERIFY_TOKEN}&hub.challenge=c`, { headers: { 'x-request-id': 'req-hs' } });
    expect(hs.status).toBe(200);
    const [line] = await eventually(() => (accessLines('req-hs').length ? accessLines('req-hs') : null), 5_000, 'the access line');
    expect(line.path).toBe('/webhooks/whatsapp');
    expect(raw).not.toContain(TEST_VERIFY_TOKEN);
    expect(raw).not.toContain(TEST_APP_SECRET);
  });

  it('carries a webhook\'s request id into the log lines of the turn that answers its message', async () => {
    const body = JSON.stringify(textNotification(tenant.phoneNumberId, '15550007001', 'hello there').body);
    const res = await fetch(`${h.gw.url}/webhooks/whatsapp`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-hub-signature-256': sign(body, TEST_APP_SECRET), 'x-request-id': 'req-webhook-1' },
      body,
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-request-id')).toBe('req-webhook-1');
    const turn = await eventually(() => lines.find((l) => l.msg === 'turn committed' && l.requestIds?.includes('req-webhook-1')), 15_000, 'the turn line');
    expect(turn).toMatchObject({ tenantId: tenant.tenant.id, disposition: 'answered', requestIds: ['req-webhook-1'] });
    // The customer's text stays out of the logs.
    expect(raw).not.toContain('hello there');
  });

  it('logs pause, resume and manual sends with the request id and who made them, not the text', async () => {
    const conv = await eventually(async () => (await api(h.gw, 'GET', `/api/conversations?tenantId=${tenant.tenant.id}`, undefined, tenant.key)).body.items[0], 10_000, 'the conversation');
    const call = async (method: string, path: string, body: unknown, reqId: string) => {
      const res = await fetch(h.gw.url + path, {
        method,
        headers: { authorization: `Bearer ${tenant.key}`, 'content-type': 'application/json', 'x-request-id': reqId },
        body: JSON.stringify(body),
      });
      expect(res.status, `${method} ${path}`).toBeLessThan(300);
    };
    await call('POST', `/api/conversations/${conv.id}/pause`, {}, 'req-pause');
    await call('POST', `/api/conversations/${conv.id}/messages`, { text: 'an operator wrote this' }, 'req-send');
    await call('POST', `/api/conversations/${conv.id}/resume`, {}, 'req-resume');
    for (const [reqId, msg] of [['req-pause', 'conversation paused'], ['req-send', 'operator message queued'], ['req-resume', 'conversation resumed']]) {
      const line = await eventually(() => lines.find((l) => l.reqId === reqId && l.msg === msg), 5_000, msg);
      expect(line).toMatchObject({ level: 30, conversationId: conv.id, tenantId: tenant.tenant.id });
      expect(line.by).toMatch(/^key:\d+$/);
    }
    expect(raw).not.toContain('an operator wrote this');
    expect(raw).not.toContain(tenant.key);
  });
});
