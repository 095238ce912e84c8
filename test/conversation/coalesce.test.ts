import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { provisionTenant } from '../support/gateway.ts';
import { eventually, type PipelineHarness } from '../support/pipeline.ts';
import { imageMessage } from './messages.ts';
import { ConversationRows } from './conversationRows.ts';
import { Customers, newWaId, SendLog, settle } from './customers.ts';
import { messagesValue, notification, textNotification } from '../support/webhooks.ts';
import { closeConversationTest, openConversationTest } from './harness.ts';

/** The customer messages of one model request: the user messages after the last assistant message. */
function turnMessages(body: any): string[] {
  const messages = body.messages as { role: string; content: string }[];
  const i = messages.map((m) => m.role).lastIndexOf('assistant');
  return messages.slice(i + 1).filter((m) => m.role === 'user').map((m) => m.content);
}

describe('messages that arrive while a turn runs join it', () => {
  let h: PipelineHarness;
  let rows: ConversationRows;
  let sends: SendLog;
  beforeAll(async () => {
    ({ h, rows, sends } = await openConversationTest());
  });
  afterAll(() => closeConversationTest({ h, rows, sends }));

  /** Five messages within about 300 ms, each acknowledged before the next. */
  async function burst(customers: Customers, wa: string, texts: string[]): Promise<void> {
    for (const t of texts) {
      await customers.say(wa, t);
      await new Promise((r) => setTimeout(r, 60));
    }
  }

  it('coalesce restart: a burst of 5 in 300 ms gets one answer, the final agent call saw all 5 as separate user messages', async () => {
    const { phoneNumberId } = await provisionTenant(h.gw, { agent: { provider: 'openai', coalesce: 'restart' } });
    const customers = new Customers(h.gw.url, phoneNumberId);
    const wa = newWaId();
    // Each message restarts the call: it must outlast the gap between two of them, which
    // a busy machine stretches well past the 60 ms slept.
    h.model.setLatency(2_000);
    const before = h.model.requests.length;
    try {
      await burst(customers, wa, ['b1', 'b2', 'b3', 'b4', 'b5']);
      await eventually(() => rows.settled(wa), 10_000, 'the burst settled');
    } finally {
      h.model.setLatency(0);
    }
    await settle(300);
    expect(sends.to(wa)).toEqual(['echo: b5']);
    const calls = h.model.requests.slice(before);
    expect(turnMessages(calls.at(-1)!.body)).toEqual(['b1', 'b2', 'b3', 'b4', 'b5']);
    // Earlier calls were cancelled and started again: each saw a prefix of the burst.
    for (const c of calls.slice(0, -1)) expect(['b1', 'b2', 'b3', 'b4', 'b5'].slice(0, turnMessages(c.body).length)).toEqual(turnMessages(c.body));
    const inbound = await rows.inbound(wa);
    expect(inbound.map((m) => m.disposition)).toEqual(['coalesced', 'coalesced', 'coalesced', 'coalesced', 'answered']);
    expect(new Set(inbound.map((m) => m.turn_id)).size).toBe(1);
    expect(inbound[0].turn_id).not.toBeNull();
    const out = await rows.outbound(wa);
    expect(out).toHaveLength(1);
    expect(out[0]).toMatchObject({ body: 'echo: b5', status: 'sent', turn_id: inbound[0].turn_id });
  });

  it('coalesce restart: a media message in the burst reaches the agent in its text form', async () => {
    const { phoneNumberId } = await provisionTenant(h.gw, { agent: { provider: 'openai', coalesce: 'restart' } });
    const customers = new Customers(h.gw.url, phoneNumberId);
    const wa = newWaId();
    h.model.setLatency(2_000);
    const before = h.model.requests.length;
    try {
      await customers.say(wa, 'look at this');
      await customers.post(notification({ value: messagesValue(phoneNumberId, [imageMessage(wa, 'my broken bike')]) }));
      await customers.say(wa, 'can you fix it?');
      await eventually(() => rows.settled(wa), 10_000, 'the burst settled');
    } finally {
      h.model.setLatency(0);
    }
    expect(sends.to(wa)).toEqual(['echo: can you fix it?']);
    // The simulator has no file of that media id: the text form says the image is not available.
    expect(turnMessages(h.model.requests.slice(before).at(-1)!.body)).toEqual(['look at this', '[image] my broken bike\nnot available: download_failed', 'can you fix it?']);
  });

  it('Meta delivering the same message again while its turn runs: no restart, one agent call, one answer', async () => {
    const { phoneNumberId } = await provisionTenant(h.gw, { agent: { provider: 'openai', coalesce: 'restart' } });
    const customers = new Customers(h.gw.url, phoneNumberId);
    const wa = newWaId();
    const n = textNotification(phoneNumberId, wa, 'only once please');
    const before = h.model.requests.length;
    h.model.script({ kind: 'echo', latencyMs: 500 });
    await customers.post(n.body);
    await eventually(() => h.model.requests.length > before, 5_000, 'the agent call');
    await customers.post(n.body);
    await customers.post(n.body);
    await eventually(() => rows.settled(wa), 10_000, 'settled');
    await settle(300);
    expect(h.model.requests.length - before).toBe(1);
    expect(sends.to(wa)).toEqual(['echo: only once please']);
    expect(await rows.dispositions(wa)).toEqual(['answered']);
    // Delivered again after the answer: still nothing more.
    await customers.post(n.body);
    await settle(400);
    expect(h.model.requests.length - before).toBe(1);
    expect(sends.to(wa)).toEqual(['echo: only once please']);
  });

  it('coalesce queue: a burst of 5 is answered in order, every message answered or coalesced, none missing', async () => {
    const { phoneNumberId } = await provisionTenant(h.gw, { agent: { provider: 'openai', coalesce: 'queue' } });
    const customers = new Customers(h.gw.url, phoneNumberId);
    const wa = newWaId();
    h.model.setLatency(500);
    const before = h.model.requests.length;
    try {
      // The first turn is running before the rest arrive (60 ms is not a promise on a busy machine).
      await customers.say(wa, 'q1');
      await eventually(() => h.model.requests.length > before, 5_000, 'the first agent call');
      await burst(customers, wa, ['q2', 'q3', 'q4', 'q5']);
      await eventually(() => rows.settled(wa), 10_000, 'the burst settled');
    } finally {
      h.model.setLatency(0);
    }
    await settle(300);
    const calls = h.model.requests.slice(before);
    const turns = calls.map((c) => turnMessages(c.body));
    // No call was cancelled: each turn's messages follow the previous turn's, together exactly the burst.
    expect(turns.flat()).toEqual(['q1', 'q2', 'q3', 'q4', 'q5']);
    expect(turns.length).toBeGreaterThanOrEqual(2);
    expect(turns[0]).toEqual(['q1']);
    // One answer per turn, in order, to the last message of each.
    expect(sends.to(wa)).toEqual(turns.map((t) => `echo: ${t.at(-1)}`));
    const inbound = await rows.inbound(wa);
    const lastOfTurn = new Set(turns.map((t) => t.at(-1)));
    expect(inbound.map((m) => m.disposition)).toEqual(inbound.map((m) => (lastOfTurn.has(m.body ?? undefined) ? 'answered' : 'coalesced')));
    // Messages of one turn share its turn_id; different turns have different ones.
    expect(new Set(inbound.map((m) => m.turn_id)).size).toBe(turns.length);
    // The second turn's agent call saw the first turn's exchange as history.
    expect(calls[1].body.messages.slice(1, 3)).toEqual([
      { role: 'user', content: 'q1' },
      { role: 'assistant', content: 'echo: q1' },
    ]);
  });
});
