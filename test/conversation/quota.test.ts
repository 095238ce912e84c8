import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { provisionTenant } from '../support/gateway.ts';
import { eventually, type PipelineHarness } from '../support/pipeline.ts';
import { ConversationRows } from './conversationRows.ts';
import { Customers, newWaId, SendLog, settle } from './customers.ts';
import { closeConversationTest, openConversationTest } from './harness.ts';

const NOTICE = 'Our assistant is resting until next month. A person will answer you.';

describe('the monthly message limit', () => {
  let h: PipelineHarness;
  let rows: ConversationRows;
  let sends: SendLog;
  beforeAll(async () => {
    ({ h, rows, sends } = await openConversationTest());
  });
  afterAll(() => closeConversationTest({ h, rows, sends }));

  async function tenantRows(tenantId: string) {
    return rows.query<{ disposition: string | null; n: number }>(
      `SELECT disposition, count(*)::int AS n FROM messages WHERE tenant_id = $1 AND direction = 'inbound' GROUP BY disposition`,
      [tenantId],
    );
  }
  async function settledTenant(tenantId: string): Promise<boolean> {
    const [r] = await rows.query<{ open: number }>(
      `SELECT count(*)::int AS open FROM messages WHERE tenant_id = $1
         AND ((direction = 'inbound' AND disposition IS NULL) OR (direction = 'outbound' AND status = 'queued'))`,
      [tenantId],
    );
    return r.open === 0;
  }
  const answersTo = (was: string[]) => was.flatMap((wa) => sends.to(wa)).filter((b) => b.startsWith('echo: '));
  const noticesTo = (was: string[]) => was.flatMap((wa) => sends.to(wa)).filter((b) => b === NOTICE);

  it('limit 5 with 50 conversations at once: exactly 5 answers, the rest over_quota; later messages get no agent call; the notice goes out once', async () => {
    const t = await provisionTenant(h.gw, { monthlyMessageLimit: 5, agent: { provider: 'openai', quotaNotice: NOTICE } });
    const customers = new Customers(h.gw.url, t.phoneNumberId);
    const first = Array.from({ length: 50 }, () => newWaId());
    h.model.reset();
    h.model.setLatency(300);
    try {
      await Promise.all(first.map((wa) => customers.say(wa, `question from ${wa}`)));
      await eventually(() => settledTenant(t.tenant.id), 15_000, 'the 50 settled');
    } finally {
      h.model.setLatency(0);
    }
    // A turn that started before the limit was reached may have called the agent in vain, never more than once per message.
    expect(h.model.count).toBeLessThanOrEqual(50);
    const calledBefore = h.model.count;
    expect(answersTo(first)).toHaveLength(5);
    const ds = Object.fromEntries((await tenantRows(t.tenant.id)).map((r) => [r.disposition, r.n]));
    expect(ds).toEqual({ answered: 5, over_quota: 45 });
    const [u] = await rows.query<{ count: number }>('SELECT count FROM usage WHERE tenant_id = $1', [t.tenant.id]);
    expect(u.count).toBe(5);

    // Customers arriving after the limit: no turn, no agent call.
    const later = Array.from({ length: 10 }, () => newWaId());
    await Promise.all(later.map((wa) => customers.say(wa, 'anyone?')));
    await eventually(() => settledTenant(t.tenant.id), 10_000, 'the 10 settled');
    await settle(300);
    expect(h.model.count).toBe(calledBefore);
    for (const wa of later) expect(await rows.dispositions(wa)).toEqual(['over_quota']);
    expect(answersTo([...first, ...later])).toHaveLength(5);
    // Once a month, whoever hit the limit first.
    expect(noticesTo([...first, ...later])).toHaveLength(1);
  });

  // Turns refused by the reply commit are over the limit too: their customers hear the notice,
  // not only customers whose messages ingest already found over it.
  it('the quota notice goes out when turns are refused at the reply commit, not only when a later message arrives', async () => {
    const t = await provisionTenant(h.gw, { monthlyMessageLimit: 2, agent: { provider: 'openai', quotaNotice: NOTICE } });
    const customers = new Customers(h.gw.url, t.phoneNumberId);
    const was = Array.from({ length: 10 }, () => newWaId());
    h.model.setLatency(300);
    try {
      await Promise.all(was.map((wa) => customers.say(wa, 'hello')));
      await eventually(() => settledTenant(t.tenant.id), 10_000, 'the 10 settled');
    } finally {
      h.model.setLatency(0);
    }
    expect(answersTo(was)).toHaveLength(2);
    await eventually(() => noticesTo(was).length === 1, 10_000, 'the quota notice');
  });

  // docs/behaviour.md: "a turn that starts after [the limit is reached] never calls [the agent]":
  // the queued second turn starts after the first answer took the last unit.
  it('coalesce queue, limit 1: the queued turn starts after the first answer took the last unit and calls no agent', async () => {
    const t = await provisionTenant(h.gw, { monthlyMessageLimit: 1, agent: { provider: 'openai', coalesce: 'queue' } });
    const customers = new Customers(h.gw.url, t.phoneNumberId);
    const wa = newWaId();
    const before = h.model.count;
    h.model.script({ kind: 'echo', latencyMs: 500 });
    await customers.say(wa, 'one');
    await eventually(() => h.model.count > before, 5_000, 'the first agent call');
    await customers.say(wa, 'two');
    await eventually(() => rows.settled(wa), 10_000, 'settled');
    await settle(300);
    expect(await rows.dispositions(wa)).toEqual(['answered', 'over_quota']);
    expect(sends.to(wa)).toEqual(['echo: one']);
    expect(h.model.count - before).toBe(1);
  });

  it('limit 0: the bot never answers and never calls the agent; the notice goes out once', async () => {
    const t = await provisionTenant(h.gw, { monthlyMessageLimit: 0, agent: { provider: 'openai', quotaNotice: NOTICE } });
    const customers = new Customers(h.gw.url, t.phoneNumberId);
    const was = [newWaId(), newWaId(), newWaId()];
    const before = h.model.count;
    for (const wa of was) {
      await customers.say(wa, 'hello');
      await customers.say(wa, 'hello again');
    }
    await eventually(() => settledTenant(t.tenant.id), 10_000, 'settled');
    await settle(400);
    expect(h.model.count).toBe(before);
    for (const wa of was) expect(await rows.dispositions(wa)).toEqual(['over_quota', 'over_quota']);
    expect(answersTo(was)).toEqual([]);
    expect(noticesTo(was)).toHaveLength(1);
    const [u] = await rows.query<{ count: number }>('SELECT coalesce(sum(count), 0)::int AS count FROM usage WHERE tenant_id = $1', [t.tenant.id]);
    expect(u.count).toBe(0);
  });

  it('no limit: answers are counted in usage', async () => {
    const t = await provisionTenant(h.gw, { monthlyMessageLimit: null, agent: { provider: 'openai' } });
    const customers = new Customers(h.gw.url, t.phoneNumberId);
    const wa = newWaId();
    await customers.say(wa, 'one');
    await eventually(() => sends.to(wa).length === 1);
    await customers.say(wa, 'two');
    await eventually(() => sends.to(wa).length === 2);
    const [u] = await rows.query<{ count: number }>('SELECT count FROM usage WHERE tenant_id = $1', [t.tenant.id]);
    expect(u.count).toBe(2);
  });
});

describe('the monthly limit when turns wait for a slot', () => {
  let h: PipelineHarness;
  let rows: ConversationRows;
  let sends: SendLog;
  beforeAll(async () => {
    // Ten turns at once, all of them for one tenant if it has the work.
    ({ h, rows, sends } = await openConversationTest({ env: { WAGATE_MAX_INFLIGHT: '10' }, pipeline: { perTenantShare: 1 } }));
  });
  afterAll(() => closeConversationTest({ h, rows, sends }));

  // As above, across conversations: only the first 10 turns and those started before the
  // 5th answer was committed (at most 14) may call the agent in vain.
  it('limit 5, 40 conversations, 10 turns at a time: turns that start after the limit was reached call no agent', async () => {
    const t = await provisionTenant(h.gw, { monthlyMessageLimit: 5, agent: { provider: 'openai' } });
    const customers = new Customers(h.gw.url, t.phoneNumberId);
    const was = Array.from({ length: 40 }, () => newWaId());
    h.model.reset();
    h.model.setLatency(300);
    try {
      await Promise.all(was.map((wa) => customers.say(wa, 'question')));
      await eventually(async () => {
        const [r] = await rows.query<{ open: number }>(`SELECT count(*)::int AS open FROM messages WHERE direction = 'inbound' AND disposition IS NULL`);
        return r.open === 0;
      }, 20_000, 'all settled');
    } finally {
      h.model.setLatency(0);
    }
    expect(was.flatMap((wa) => sends.to(wa))).toHaveLength(5);
    expect(h.model.count).toBeLessThanOrEqual(14);
  });
});
