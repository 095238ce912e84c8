import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { provisionTenant } from '../support/gateway.ts';
import { eventually, type PipelineHarness } from '../support/pipeline.ts';
import { ConversationRows } from './conversationRows.ts';
import { Customers, newWaId, SendLog } from './customers.ts';
import { closeConversationTest, openConversationTest } from './harness.ts';

/** Runs `fn` over `items` with at most `limit` at once (the load stays bounded). */
async function pool<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) await fn(items[next++]);
    }),
  );
}

describe('conversations run in parallel up to WAGATE_MAX_INFLIGHT', () => {
  let h: PipelineHarness;
  let rows: ConversationRows;
  let sends: SendLog;
  beforeAll(async () => {
    ({ h, rows, sends } = await openConversationTest({ env: { WAGATE_MAX_INFLIGHT: '50', DB_POOL_MAX: '10' } }));
  });
  afterAll(() => closeConversationTest({ h, rows, sends }));

  it('200 conversations at once with a 500 ms model: all answered, never more than 50 agent calls at once, each conversation in order', async () => {
    // Four tenants, so the per-tenant cap (half of 50) is not what bounds the total.
    const tenants = await Promise.all([0, 1, 2, 3].map(() => provisionTenant(h.gw, { agent: { provider: 'openai', coalesce: 'queue' } })));
    const customers = tenants.map((t) => new Customers(h.gw.url, t.phoneNumberId));
    const convs = Array.from({ length: 200 }, (_, i) => ({ wa: newWaId(), customers: customers[i % 4] }));
    h.model.reset();
    // Calls overlap as many as start within one call's time: the first ones last 3 s, so that
    // more than 25 overlap even where a busy machine starts turns slowly; the rest 500 ms.
    h.model.setLatency(3_000);
    try {
      // Each customer writes three messages one after another (acknowledged before the next), all customers at once.
      await pool(convs, 200, async (c) => {
        for (const text of ['1', '2', '3']) await c.customers.say(c.wa, `${c.wa} #${text}`);
      });
      h.model.setLatency(500);
      await eventually(async () => {
        const [r] = await rows.query<{ open: number }>(
          `SELECT count(*)::int AS open FROM messages WHERE (direction = 'inbound' AND disposition IS NULL) OR (direction = 'outbound' AND status = 'queued')`,
        );
        return r.open === 0;
      }, 75_000, 'every conversation settled');
    } finally {
      h.model.setLatency(0);
    }
    expect(h.model.maxConcurrent).toBeLessThanOrEqual(50);
    // They did run in parallel, more than one tenant's share at once (a serial runner would need minutes here).
    expect(h.model.maxConcurrent).toBeGreaterThan(25);
    const byTo = sends.byRecipient();
    for (const c of convs) {
      const got = (byTo.get(c.wa) ?? []).map((s) => s.body);
      // One answer per turn, in the order written, the last message always answered, none twice.
      const numbers = got.map((b) => Number(/#(\d)$/.exec(b)?.[1]));
      expect(got.every((b) => b.startsWith(`echo: ${c.wa} #`)), `${c.wa}: ${got.join(' | ')}`).toBe(true);
      expect(numbers, `${c.wa}: ${got.join(' | ')}`).toEqual([...numbers].sort());
      expect(new Set(numbers).size).toBe(numbers.length);
      expect(numbers.at(-1)).toBe(3);
    }
    const [d] = await rows.query<{ answered: number; coalesced: number; other: number }>(
      `SELECT count(*) FILTER (WHERE disposition = 'answered')::int AS answered,
              count(*) FILTER (WHERE disposition = 'coalesced')::int AS coalesced,
              count(*) FILTER (WHERE disposition NOT IN ('answered', 'coalesced'))::int AS other
       FROM messages WHERE direction = 'inbound'`,
    );
    expect(d.other).toBe(0);
    expect(d.answered + d.coalesced).toBe(600);
    expect(d.answered).toBe(sends.all.length);
  }, 120_000);
});

describe('one tenant cannot starve the others', () => {
  let h: PipelineHarness;
  let rows: ConversationRows;
  let sends: SendLog;
  beforeAll(async () => {
    // 20 turns at once in all, at most half of them for one tenant.
    ({ h, rows, sends } = await openConversationTest({ env: { WAGATE_MAX_INFLIGHT: '20' }, pipeline: { perTenantShare: 0.5 } }));
  });
  afterAll(() => closeConversationTest({ h, rows, sends }));

  it('a tenant flooding with slow turns holds at most its share; another tenant is answered before any of the flood', async () => {
    const flood = await provisionTenant(h.gw, { name: 'Flood', agent: { provider: 'openai', systemPrompt: 'flood' } });
    const quiet = await provisionTenant(h.gw, { name: 'Quiet', agent: { provider: 'openai', systemPrompt: 'quiet' } });
    const floodCustomers = new Customers(h.gw.url, flood.phoneNumberId);
    const floodWa = Array.from({ length: 40 }, () => newWaId());
    h.model.reset();
    // Long enough that, even on a busy machine, the quiet tenant's answer comes before
    // the first of the flood's calls ends (the assertion below says which came first).
    h.model.setLatency(10_000);
    let quietAnsweredAt = 0;
    try {
      await Promise.all(floodWa.map((wa) => floodCustomers.say(wa, 'flood')));
      // The flood's calls are in flight: as many as its share allows, no more.
      await eventually(() => h.model.inflight >= 10, 8_000, 'the flood running');
      await new Promise((r) => setTimeout(r, 200));
      expect(h.model.inflight).toBe(10);
      // From here on the model answers at once: only the queue in front of a call can delay it.
      h.model.setLatency(0);
      const quietWa = newWaId();
      await new Customers(h.gw.url, quiet.phoneNumberId).say(quietWa, 'hello');
      await eventually(() => sends.to(quietWa).length === 1, 15_000, 'the quiet tenant answered');
      quietAnsweredAt = Date.now();
      // Not one of the flood's 40 had been answered yet: the quiet tenant did not wait behind them.
      expect(floodWa.filter((wa) => sends.to(wa).length > 0)).toEqual([]);
    } finally {
      h.model.setLatency(0);
    }
    await eventually(() => floodWa.every((wa) => sends.to(wa).length === 1), 30_000, 'the flood answered');
    expect(quietAnsweredAt).toBeGreaterThan(0);
    expect(h.model.maxConcurrent).toBeLessThanOrEqual(11);
  });
});
