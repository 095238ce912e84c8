import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { provisionTenant } from '../support/gateway.ts';
import { eventually, startPipeline, type PipelineHarness } from '../support/pipeline.ts';
import { ConversationRows } from './conversationRows.ts';
import { Customers, newWaId, SendLog, settle } from './customers.ts';

describe('replies reach the Cloud API: retried when Meta says so, split when long', () => {
  let h: PipelineHarness;
  let rows: ConversationRows;
  let sends: SendLog;
  let customers: Customers;
  beforeAll(async () => {
    h = await startPipeline();
    rows = await ConversationRows.open(h.gw.dbUrl);
    sends = new SendLog(h.cloud);
    const t = await provisionTenant(h.gw, { agent: { provider: 'openai', markReadWithTyping: false } });
    customers = new Customers(h.gw.url, t.phoneNumberId);
  });
  afterAll(async () => {
    sends?.stop();
    await rows?.close();
    await h?.close();
  });

  /** Text sends the simulator received for a customer, accepted or not. */
  const attemptsTo = (wa: string) => h.cloud.requests().filter((r) => (r.body as any)?.type === 'text' && (r.body as any)?.to === wa);

  it('429 with code 130429 (throughput limit), then 200: sent once after a backoff', async () => {
    const wa = newWaId();
    h.cloud.script({ on: 'send', status: 429, code: 130429, title: 'Rate limit hit' });
    await customers.say(wa, 'busy day?');
    await eventually(async () => (await rows.outbound(wa))[0]?.status === 'sent', 10_000, 'sent');
    await settle(200);
    expect(sends.to(wa)).toEqual(['echo: busy day?']);
    const attempts = attemptsTo(wa);
    expect(attempts.map((a) => a.status)).toEqual([429, 200]);
    expect(attempts[1].at).toBeGreaterThanOrEqual(attempts[0].at);
    expect(await rows.dispositions(wa)).toEqual(['answered']);
  });

  it('5xx three times, then 200: sent', async () => {
    const wa = newWaId();
    h.cloud.script({ on: 'send', status: 500, code: 1, title: 'An unknown error occurred' }, { on: 'send', status: 502 }, { on: 'send', status: 503 });
    await customers.say(wa, 'still up?');
    await eventually(async () => (await rows.outbound(wa))[0]?.status === 'sent', 10_000, 'sent');
    await settle(200);
    expect(attemptsTo(wa).map((a) => a.status)).toEqual([500, 502, 503, 200]);
    expect(sends.to(wa)).toEqual(['echo: still up?']);
    expect((await rows.outbound(wa))[0]).toMatchObject({ status: 'sent', error_code: null });
  });

  it('a dropped connection, then 200: retried and sent once', async () => {
    const wa = newWaId();
    h.cloud.script({ on: 'send', drop: true });
    await customers.say(wa, 'flaky network?');
    await eventually(async () => (await rows.outbound(wa))[0]?.status === 'sent', 10_000, 'sent');
    await settle(200);
    expect(attemptsTo(wa)).toHaveLength(2);
    expect(sends.to(wa)).toEqual(['echo: flaky network?']);
  });

  it('131056 (pair rate limit), then 200: that customer backs off, the reply is sent once', async () => {
    const wa = newWaId();
    h.cloud.script({ on: 'send', status: 400, code: 131056, title: '(Business Account, Consumer Account) pair rate limit hit' });
    await customers.say(wa, 'too fast?');
    await eventually(async () => (await rows.outbound(wa))[0]?.status === 'sent', 10_000, 'sent');
    await settle(200);
    expect(attemptsTo(wa).map((a) => a.status)).toEqual([400, 200]);
    expect(sends.to(wa)).toEqual(['echo: too fast?']);
  });

  it('5xx on every attempt: the reply ends failed, the message send_failed, and the conversation is not stuck', async () => {
    const wa = newWaId();
    h.cloud.script(...Array.from({ length: 6 }, () => ({ on: 'send' as const, status: 503, code: 2, title: 'Service temporarily unavailable' })));
    await customers.say(wa, 'anyone home?');
    await eventually(async () => (await rows.outbound(wa))[0]?.status === 'failed', 15_000, 'failed');
    expect(attemptsTo(wa).length).toBeGreaterThan(1);
    expect((await rows.outbound(wa))[0]).toMatchObject({ status: 'failed', error_code: 2 });
    expect(await rows.dispositions(wa)).toEqual(['send_failed']);
    expect(h.cloud.scripted).toBe(0);
    await customers.say(wa, 'hello?');
    await eventually(() => sends.to(wa).length === 1, 10_000, 'the next answer');
    expect(sends.to(wa)).toEqual(['echo: hello?']);
  });

  it('131047 (outside the 24-hour window): failed with its code, not retried, the message send_failed', async () => {
    const wa = newWaId();
    h.cloud.script({ on: 'send', status: 400, code: 131047, title: 'Re-engagement message' });
    await customers.say(wa, 'late reply');
    await eventually(async () => (await rows.outbound(wa))[0]?.status === 'failed', 10_000, 'failed');
    await settle(300);
    expect(attemptsTo(wa)).toHaveLength(1);
    expect(sends.to(wa)).toEqual([]);
    expect((await rows.outbound(wa))[0]).toMatchObject({ status: 'failed', error_code: 131047, error_title: 'Re-engagement message' });
    expect(await rows.dispositions(wa)).toEqual(['send_failed']);
    // The conversation is not stuck: the next message is answered.
    await customers.say(wa, 'hello again');
    await eventually(() => sends.to(wa).length === 1, 10_000, 'the next answer');
    expect(sends.to(wa)).toEqual(['echo: hello again']);
  });

  it('an answer over 4,096 characters is split into several sends, in order', async () => {
    const wa = newWaId();
    const paragraphs = Array.from({ length: 6 }, (_, i) => `Part ${i + 1}. ` + `word${i} `.repeat(230).trim() + '.');
    const long = paragraphs.join('\n\n');
    expect(long.length).toBeGreaterThan(8_192);
    h.model.script({ kind: 'reply', reply: long });
    await customers.say(wa, 'tell me everything');
    await eventually(() => rows.settled(wa), 10_000, 'all parts sent');
    await settle(200);
    const got = sends.to(wa);
    expect(got.length).toBeGreaterThanOrEqual(3);
    for (const part of got) expect(part.length).toBeLessThanOrEqual(4_096);
    // Nothing lost or reordered: the parts, joined again, are the answer (cuts only drop whitespace).
    expect(got.join('').replace(/\s+/g, '')).toBe(long.replace(/\s+/g, ''));
    expect(got[0].startsWith('Part 1.')).toBe(true);
    const out = await rows.outbound(wa);
    expect(out.map((m) => m.body)).toEqual(got);
    expect(out.every((m) => m.status === 'sent')).toBe(true);
    // One turn: every part carries its turn id; one quota unit.
    expect(new Set(out.map((m) => m.turn_id)).size).toBe(1);
  });

  it('a split answer whose first part fails for good sends none of the rest: the customer never gets it cut', async () => {
    const wa = newWaId();
    const long = Array.from({ length: 3 }, (_, i) => `Part ${i + 1}. ` + `word${i} `.repeat(700).trim() + '.').join('\n\n');
    h.model.script({ kind: 'reply', reply: long });
    h.cloud.script({ on: 'send', status: 400, code: 131026, title: 'Message undeliverable' });
    await customers.say(wa, 'tell me everything');
    await eventually(() => rows.settled(wa), 10_000, 'all parts settled');
    await settle(200);
    expect(sends.to(wa)).toEqual([]);
    const out = await rows.outbound(wa);
    expect(out.length).toBeGreaterThanOrEqual(2);
    expect(out.every((m) => m.status === 'failed' && m.error_code === 131026)).toBe(true);
    expect(await rows.dispositions(wa)).toEqual(['send_failed']);
  });

  it('the turn marks the last customer message read with a typing indicator (unless turned off)', async () => {
    const t = await provisionTenant(h.gw, { agent: { provider: 'openai' } });
    const c = new Customers(h.gw.url, t.phoneNumberId);
    const wa = newWaId();
    const read = h.cloud.once('read');
    const wamid = await c.say(wa, 'seen?');
    const r = await read;
    expect(r).toMatchObject({ phoneNumberId: t.phoneNumberId, messageId: wamid, typing: true });
    await eventually(() => sends.to(wa).length === 1);
    // The tenant of the other tests turned it off: none of their messages was marked read.
    const reads = h.cloud.requests().filter((q) => (q.body as any)?.status === 'read');
    expect(reads.map((q) => (q.body as any).message_id)).toEqual([wamid]);
  });
});
