import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeModel, type FakeModel } from '../../bench/fakeModel.ts';
import { startCloudApiSimulator, type CloudApiSimulator } from '../../src/sandbox/cloudApiSimulator.ts';
import type { Events } from '../../src/shared/bus.ts';
import { api, provisionTenant } from '../support/gateway.ts';
import { eventually, startPipeline, type PipelineHarness } from '../support/pipeline.ts';
import { ConversationRows } from './conversationRows.ts';
import { Customers, newWaId, SendLog } from './customers.ts';
import { closeConversationTest, openConversationTest } from './harness.ts';

/** The customer messages of one model request: the user messages after the last assistant message. */
function turnMessages(body: any): string[] {
  const messages = body.messages as { role: string; content: string }[];
  const i = messages.map((m) => m.role).lastIndexOf('assistant');
  return messages.slice(i + 1).filter((m) => m.role === 'user').map((m) => m.content);
}

/** The commit times (epoch ms, the database's clock) of the agent's replies to one customer, one per turn. */
async function replyTimes(rows: ConversationRows, waId: string): Promise<number[]> {
  const r = await rows.query<{ at: number }>(
    `SELECT (extract(epoch FROM min(m.created_at)) * 1000)::float8 AS at
     FROM messages m JOIN conversations c ON c.id = m.conversation_id JOIN contacts k ON k.id = c.contact_id
     WHERE k.wa_id = $1 AND m.direction = 'outbound' AND m.author = 'agent'
     GROUP BY m.turn_id ORDER BY 1`,
    [waId],
  );
  return r.map((x) => x.at);
}

async function usageCount(rows: ConversationRows, tenantId: string): Promise<number> {
  const [u] = await rows.query<{ count: number }>(`SELECT coalesce(sum(count), 0)::int AS count FROM usage WHERE tenant_id = $1`, [tenantId]);
  return u.count;
}

/** Records the budget delays the gateway reports, per conversation. */
function delaysOf(h: PipelineHarness): { events: Events['turn.budget_delayed'][]; off: () => void } {
  const events: Events['turn.budget_delayed'][] = [];
  const off = h.gw.bus.on('turn.budget_delayed', (e) => events.push(e));
  return { events, off };
}

describe('the answer budget: at most `answers` agent replies to one conversation in any `perSeconds`', () => {
  let h: PipelineHarness;
  let rows: ConversationRows;
  let sends: SendLog;
  beforeAll(async () => {
    ({ h, rows, sends } = await openConversationTest());
  });
  afterAll(() => closeConversationTest({ h, rows, sends }));

  it('a burst of 40 messages: no window of 4 s holds more than 3 replies, usage counts only the replies, every message answered or coalesced', async () => {
    const t = await provisionTenant(h.gw, { agent: { provider: 'openai', coalesce: 'queue', answerBudget: { answers: 3, perSeconds: 4 } } });
    const customers = new Customers(h.gw.url, t.phoneNumberId);
    const wa = newWaId();
    const delays = delaysOf(h);
    try {
      // With `queue` and an instant model, nothing but the budget keeps each message from a turn of its own.
      for (let i = 1; i <= 40; i++) await customers.say(wa, `m${i}`);
      await eventually(() => rows.settled(wa), 30_000, 'all 40 settled');
    } finally {
      delays.off();
    }
    const ds = await rows.dispositions(wa);
    expect(ds).toHaveLength(40);
    expect(ds.every((d) => d === 'answered' || d === 'coalesced'), ds.join()).toBe(true);
    expect(ds.at(-1)).toBe('answered');

    const times = await replyTimes(rows, wa);
    for (let i = 0; i + 3 < times.length; i++) expect(times[i + 3] - times[i], `replies ${i + 1} and ${i + 4}`).toBeGreaterThanOrEqual(4_000);
    const answered = ds.filter((d) => d === 'answered').length;
    expect(times).toHaveLength(answered);
    expect(sends.to(wa)).toHaveLength(answered);
    expect(sends.to(wa).at(-1)).toBe('echo: m40');
    expect(await usageCount(rows, t.tenant.id)).toBe(answered);
    // The window must have turned at least once to answer all 40: a delayed turn took what came meanwhile.
    expect(answered).toBeGreaterThan(3);
    expect(answered).toBeLessThan(40);
    expect(delays.events.some((e) => e.tenantId === t.tenant.id)).toBe(true);
    const scrape = await h.gw.metrics.scrape();
    const line = scrape.split('\n').find((l) => l.startsWith(`wagate_turns_budget_delayed_total{tenant="${t.tenant.id}"}`));
    expect(Number(line?.split(' ').at(-1))).toBeGreaterThanOrEqual(1);
  });

  it("a second customer is not slowed by the first's wait; a raised budget frees the first at its next message; a pause settles a waiting turn at once", async () => {
    const t = await provisionTenant(h.gw, { agent: { provider: 'openai', coalesce: 'restart', answerBudget: { answers: 1, perSeconds: 600 } } });
    const customers = new Customers(h.gw.url, t.phoneNumberId);
    const [a, b] = [newWaId(), newWaId()];
    const delays = delaysOf(h);
    const before = h.model.requests.length;
    try {
      await customers.say(a, 'a1');
      await eventually(() => sends.to(a).length === 1, 10_000, "a's first answer");
      const conv = (await rows.conversation(a))!;
      for (const text of ['a2', 'a3', 'a4', 'a5']) await customers.say(a, text);
      await eventually(() => delays.events.some((e) => e.conversationId === conv.id), 10_000, "a's turn waiting for the budget");

      // b writes while a waits: answered as usual.
      await customers.say(b, 'b1');
      await eventually(() => sends.to(b).length === 1, 10_000, "b's answer");
      expect(sends.to(b)).toEqual(['echo: b1']);
      expect(await rows.dispositions(a)).toEqual(['answered', null, null, null, null]);
      expect(sends.to(a)).toEqual(['echo: a1']);

      // Raised to 2 per window: a's next message brings the new settings, and one turn answers all it wrote.
      const patched = await api(h.gw, 'PATCH', `/api/tenants/${t.tenant.id}`, { agent: { answerBudget: { answers: 2, perSeconds: 600 } } });
      expect(patched.status).toBe(200);
      expect(patched.body.agent.answerBudget).toEqual({ answers: 2, perSeconds: 600 });
      await customers.say(a, 'a6');
      await eventually(() => rows.settled(a), 10_000, 'a settled');
      expect(sends.to(a)).toEqual(['echo: a1', 'echo: a6']);
      expect(await rows.dispositions(a)).toEqual(['answered', 'coalesced', 'coalesced', 'coalesced', 'coalesced', 'answered']);
      const lastCall = h.model.requests.slice(before).filter((r) => JSON.stringify(r.body).includes('a6')).at(-1)!;
      expect(turnMessages(lastCall.body)).toEqual(['a2', 'a3', 'a4', 'a5', 'a6']);
      expect(await usageCount(rows, t.tenant.id)).toBe(3);

      // The budget is used again: a7 waits, until a pause settles it without an answer or a quota unit.
      const waited = delays.events.filter((e) => e.conversationId === conv.id).length;
      await customers.say(a, 'a7');
      await eventually(() => delays.events.filter((e) => e.conversationId === conv.id).length > waited, 10_000, 'a7 waiting for the budget');
      expect((await api(h.gw, 'POST', `/api/conversations/${conv.id}/pause`, {}, t.key)).status).toBe(200);
      await eventually(() => rows.settled(a), 10_000, 'a7 settled by the pause');
      expect((await rows.dispositions(a)).at(-1)).toBe('paused');
      expect(sends.to(a)).toEqual(['echo: a1', 'echo: a6']);
      expect(await usageCount(rows, t.tenant.id)).toBe(3);
    } finally {
      delays.off();
    }
  });

  it('answerBudget: default 10 per 60 s, set and read back, bad values answer 400 naming the field and change nothing', async () => {
    const t = await provisionTenant(h.gw);
    const got = await api(h.gw, 'GET', '/api/settings', undefined, t.key);
    expect(got.body.agent.answerBudget).toEqual({ answers: 10, perSeconds: 60 });
    const set = await api(h.gw, 'PATCH', '/api/settings', { agent: { answerBudget: { answers: 4, perSeconds: 30 } } }, t.key);
    expect(set.status).toBe(200);
    expect(set.body.agent.answerBudget).toEqual({ answers: 4, perSeconds: 30 });
    for (const [budget, field] of [
      [{ answers: 0, perSeconds: 60 }, 'agent.answerBudget.answers'],
      [{ answers: 101, perSeconds: 60 }, 'agent.answerBudget.answers'],
      [{ answers: 2.5, perSeconds: 60 }, 'agent.answerBudget.answers'],
      [{ answers: 5, perSeconds: 0 }, 'agent.answerBudget.perSeconds'],
      [{ answers: 5, perSeconds: 3_601 }, 'agent.answerBudget.perSeconds'],
      [{ answers: 5 }, 'agent.answerBudget.perSeconds'],
      [{ answers: 5, perSeconds: 60, burst: 2 }, 'agent.answerBudget'],
      [null, 'agent.answerBudget'],
      ['5/60', 'agent.answerBudget'],
    ] as const) {
      const r = await api(h.gw, 'PATCH', '/api/settings', { agent: { answerBudget: budget } }, t.key);
      expect(r.status, JSON.stringify(budget)).toBe(400);
      expect(r.body.error.code).toBe('invalid_request');
      expect(r.body.error.message.startsWith(field), r.body.error.message).toBe(true);
    }
    expect((await api(h.gw, 'GET', '/api/settings', undefined, t.key)).body.agent.answerBudget).toEqual({ answers: 4, perSeconds: 30 });
  });
});

describe('the answer budget holds when the conversation moves to another process', () => {
  let model: FakeModel;
  let cloud: CloudApiSimulator;
  let first: PipelineHarness | undefined;
  let second: PipelineHarness | undefined;
  let rows: ConversationRows;
  let sends: SendLog;
  beforeAll(async () => {
    model = await startFakeModel();
    cloud = await startCloudApiSimulator({ statusDelaysMs: null });
    sends = new SendLog(cloud);
  });
  afterAll(async () => {
    sends?.stop();
    await rows?.close();
    await first?.close();
    await second?.close();
    await cloud?.close();
    await model?.close();
  });

  it('a turn waiting for the budget at shutdown is answered by the next process only once the window frees a slot', async () => {
    first = await startPipeline({ cloud, model });
    rows = await ConversationRows.open(first.gw.dbUrl);
    const t = await provisionTenant(first.gw, { agent: { provider: 'openai', answerBudget: { answers: 1, perSeconds: 6 } } });
    const wa = newWaId();
    const delays = delaysOf(first);
    try {
      await new Customers(first.gw.url, t.phoneNumberId).say(wa, 'before');
      await eventually(() => sends.to(wa).length === 1, 10_000, 'the first answer');
      await new Customers(first.gw.url, t.phoneNumberId).say(wa, 'waiting');
      await eventually(() => delays.events.length > 0, 10_000, 'the turn waiting for the budget');
    } finally {
      delays.off();
    }
    // The first process stops while the turn waits: the message is a row with no disposition, the lease given back.
    await first.gw.stop();
    expect(await rows.dispositions(wa)).toEqual(['answered', null]);
    second = await startPipeline({ cloud, model, dbUrl: first.gw.dbUrl });
    await eventually(() => rows.settled(wa), 20_000, 'the second process answered');
    expect(sends.to(wa)).toEqual(['echo: before', 'echo: waiting']);
    const times = await replyTimes(rows, wa);
    // The second process read the first answer's time from the conversation row: it waited out the window.
    expect(times[1] - times[0]).toBeGreaterThanOrEqual(6_000);
  });
});
