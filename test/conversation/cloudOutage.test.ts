import { Writable } from 'node:stream';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { provisionTenant, TEST_ADMIN_KEY } from '../support/gateway.ts';
import { eventually, FAST, type PipelineHarness } from '../support/pipeline.ts';
import { ConversationRows } from './conversationRows.ts';
import { Customers, newWaId, type SendLog } from './customers.ts';
import { closeConversationTest, openConversationTest } from './harness.ts';

/** How long the Cloud API refuses connections (a minute, as in a real outage). */
const OUTAGE_MS = 60_000;
const CUSTOMERS = 8;

describe('the Cloud API refuses connections for a minute', () => {
  let h: PipelineHarness;
  let rows: ConversationRows;
  let sends: SendLog;
  let customers: Customers;
  const logLines: { level: number; msg: string }[] = [];

  beforeAll(async () => {
    const sink = new Writable({
      write(chunk, _enc, done) {
        for (const line of String(chunk).split('\n').filter(Boolean)) logLines.push(JSON.parse(line));
        done();
      },
    });
    ({ h, rows, sends } = await openConversationTest({
      log: pino({ level: 'info' }, sink),
      // Sends are retried as in production (on and off, waits of at most 1 s here), well past the outage.
      pipeline: { retry: { ...FAST.retry, maxMs: 1_000, retryForMs: 5 * 60_000 } },
    }));
    const t = await provisionTenant(h.gw, { agent: { provider: 'openai', markReadWithTyping: false } });
    customers = new Customers(h.gw.url, t.phoneNumberId);
  });
  afterAll(() => closeConversationTest({ h, rows, sends }));

  const metric = async (name: string) => {
    const text = await (await fetch(h.gw.url + '/metrics', { headers: { authorization: `Bearer ${TEST_ADMIN_KEY}` } })).text();
    return [...text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'gm'))].reduce((sum, m) => sum + Number(m[1]), 0);
  };

  it('keeps replies queued, stays ready, says sends are failing, then sends every reply once, in order per customer', async () => {
    const waIds = Array.from({ length: CUSTOMERS }, newWaId);
    await h.cloud.goDown();
    const downAt = Date.now();

    // Every customer writes; each reply is committed and waits as a queued row.
    for (const wa of waIds) await customers.say(wa, `first from ${wa}`);
    await eventually(async () => {
      const out = await Promise.all(waIds.map((wa) => rows.outbound(wa)));
      return out.every((o) => o.length === 1 && o[0].status === 'queued');
    }, 30_000, 'a queued reply for every customer');
    // They write again while the outage lasts: their messages wait behind the queued replies.
    for (const wa of waIds) await customers.say(wa, `second from ${wa}`);

    // The gateway still accepts: ready, and webhooks answered 200 (above).
    expect((await fetch(h.gw.url + '/readyz')).status).toBe(200);
    await eventually(async () => (await metric('wagate_sends_waiting')) === CUSTOMERS, 30_000, 'every send waiting');
    expect(await metric('wagate_send_retries_total')).toBeGreaterThan(0);
    expect(logLines.some((l) => l.level === 40 && /Cloud API sends are failing/.test(l.msg))).toBe(true);
    expect(sends.all).toHaveLength(0);

    // The rest of the minute.
    await new Promise((r) => setTimeout(r, Math.max(0, OUTAGE_MS - (Date.now() - downAt))));
    for (const wa of waIds) expect((await rows.outbound(wa)).map((m) => m.status)).toEqual(['queued']);
    await h.cloud.comeBack();

    // Every customer gets both answers, first then second, each once.
    await eventually(() => waIds.every((wa) => sends.to(wa).length >= 2), 60_000, 'both answers for every customer');
    await eventually(() => waIds.every((wa) => rows.settled(wa)), 30_000, 'every message settled');
    for (const wa of waIds) {
      expect(sends.to(wa)).toEqual([`echo: first from ${wa}`, `echo: second from ${wa}`]);
      expect(await rows.dispositions(wa)).toEqual(['answered', 'answered']);
    }
    await eventually(async () => (await metric('wagate_sends_waiting')) === 0, 10_000, 'no send waiting');
    expect(logLines.some((l) => l.level === 30 && /Cloud API sends succeed again/.test(l.msg))).toBe(true);
  }, 240_000);
});
