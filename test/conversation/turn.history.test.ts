import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { provisionTenant } from '../support/gateway.ts';
import { eventually, type PipelineHarness } from '../support/pipeline.ts';
import { ConversationRows } from './conversationRows.ts';
import { Customers, newWaId, SendLog } from './customers.ts';
import { closeConversationTest, openConversationTest } from './harness.ts';

describe('the agent sees the conversation in order, and a turn starts at once', () => {
  let h: PipelineHarness;
  let rows: ConversationRows;
  let sends: SendLog;
  beforeAll(async () => {
    ({ h, rows, sends } = await openConversationTest());
  });
  afterAll(() => closeConversationTest({ h, rows, sends }));

  /** The customer messages of a turn: the user messages after the last assistant message. */
  const turnMessages = (messages: { role: string; content: string }[]) => {
    const i = messages.map((m) => m.role).lastIndexOf('assistant');
    return messages.slice(i + 1).filter((m) => m.role === 'user').map((m) => m.content);
  };
  const userTurns = (from: number) =>
    h.model.requests.slice(from).map((r) => (r.body.messages as { role: string; content: string }[]).filter((m) => m.role === 'user').map((m) => m.content));

  it('three messages one after another: one agent call and one send each, the 3rd call with the whole history in order', async () => {
    const { phoneNumberId } = await provisionTenant(h.gw, { agent: { provider: 'openai', systemPrompt: 'You sell bikes.' } });
    const customers = new Customers(h.gw.url, phoneNumberId);
    const wa = newWaId();
    const before = h.model.requests.length;
    for (const [i, text] of ['Hi, do you have bikes?', 'A red one', 'How much is it?'].entries()) {
      await customers.say(wa, text);
      await eventually(() => sends.to(wa).length === i + 1, 10_000, `answer ${i + 1}`);
    }
    await eventually(() => rows.settled(wa));
    expect(sends.to(wa)).toEqual(['echo: Hi, do you have bikes?', 'echo: A red one', 'echo: How much is it?']);
    const calls = h.model.requests.slice(before);
    expect(calls).toHaveLength(3);
    expect(calls[2].body.messages).toEqual([
      { role: 'system', content: 'You sell bikes.' },
      { role: 'user', content: 'Hi, do you have bikes?' },
      { role: 'assistant', content: 'echo: Hi, do you have bikes?' },
      { role: 'user', content: 'A red one' },
      { role: 'assistant', content: 'echo: A red one' },
      { role: 'user', content: 'How much is it?' },
    ]);
    expect(await rows.dispositions(wa)).toEqual(['answered', 'answered', 'answered']);
    expect((await rows.outbound(wa)).map((m) => [m.body, m.status])).toEqual([
      ['echo: Hi, do you have bikes?', 'sent'],
      ['echo: A red one', 'sent'],
      ['echo: How much is it?', 'sent'],
    ]);
  });

  it('the history the agent sees is cut to historyLength, newest kept', async () => {
    const { phoneNumberId } = await provisionTenant(h.gw, { agent: { provider: 'openai', systemPrompt: 'S', historyLength: 2 } });
    const customers = new Customers(h.gw.url, phoneNumberId);
    const wa = newWaId();
    const before = h.model.requests.length;
    for (const [i, text] of ['one', 'two', 'three'].entries()) {
      await customers.say(wa, text);
      await eventually(() => sends.to(wa).length === i + 1, 10_000, `answer ${i + 1}`);
    }
    expect(h.model.requests.slice(before)[2].body.messages).toEqual([
      { role: 'system', content: 'S' },
      { role: 'user', content: 'two' },
      { role: 'assistant', content: 'echo: two' },
      { role: 'user', content: 'three' },
    ]);
  });

  it('without debounceMs the agent call starts at once: a message written during the call is not in its first request', async () => {
    const { phoneNumberId } = await provisionTenant(h.gw, { agent: { provider: 'openai', coalesce: 'queue' } });
    const customers = new Customers(h.gw.url, phoneNumberId);
    const wa = newWaId();
    const before = h.model.requests.length;
    h.model.script({ kind: 'echo', latencyMs: 400 });
    await customers.say(wa, 'first');
    // The model request arrives without anything else happening: no quiet window is awaited.
    await eventually(() => h.model.requests.length > before, 5_000, 'the agent call');
    await customers.say(wa, 'second');
    await eventually(() => sends.to(wa).length === 2, 10_000, 'two answers');
    expect(userTurns(before)).toEqual([['first'], ['first', 'second']]);
    expect(sends.to(wa)).toEqual(['echo: first', 'echo: second']);
  });

  it('with debounceMs the turn waits for a quiet window: a burst inside it makes one agent call with every message', async () => {
    const { phoneNumberId } = await provisionTenant(h.gw, { agent: { provider: 'openai', debounceMs: 700 } });
    const customers = new Customers(h.gw.url, phoneNumberId);
    const wa = newWaId();
    const before = h.model.requests.length;
    const started = Date.now();
    for (const text of ['a', 'b', 'c']) {
      await customers.say(wa, text);
      await new Promise((r) => setTimeout(r, 100));
    }
    const lastAt = Date.now();
    await eventually(() => sends.to(wa).length === 1, 10_000, 'the answer');
    const calls = h.model.requests.slice(before);
    expect(calls).toHaveLength(1);
    expect(userTurns(before)).toEqual([['a', 'b', 'c']]);
    // The window is measured from the last message (a lower bound only: never a tight duration).
    expect(calls[0].at - started).toBeGreaterThanOrEqual(700);
    expect(calls[0].at).toBeGreaterThanOrEqual(lastAt);
    expect(await rows.dispositions(wa)).toEqual(['coalesced', 'coalesced', 'answered']);
  });

  it('with debounceMs, maxDebounceMs bounds the wait: the turn starts while messages keep coming', async () => {
    const { phoneNumberId } = await provisionTenant(h.gw, { agent: { provider: 'openai', coalesce: 'queue', debounceMs: 500, maxDebounceMs: 800 } });
    const customers = new Customers(h.gw.url, phoneNumberId);
    const wa = newWaId();
    const before = h.model.requests.length;
    // A message every 150 ms for about 2.5 s: never a 500 ms quiet window.
    let firstCallWhileWriting = false;
    for (let i = 1; i <= 16; i++) {
      await customers.say(wa, `m${i}`);
      if (h.model.requests.length > before) firstCallWhileWriting = true;
      await new Promise((r) => setTimeout(r, 150));
    }
    expect(firstCallWhileWriting).toBe(true);
    await eventually(() => rows.settled(wa), 15_000, 'every message settled');
    const ds = await rows.dispositions(wa);
    expect(ds.every((d) => d === 'answered' || d === 'coalesced')).toBe(true);
    expect(ds.at(-1)).toBe('answered');
    // Every message reached the agent exactly once as a turn's own message, in order.
    const turns = h.model.requests.slice(before).map((r) => turnMessages(r.body.messages));
    expect(turns.length).toBeGreaterThan(1);
    expect(turns.flat()).toEqual(Array.from({ length: 16 }, (_, i) => `m${i + 1}`));
    expect(sends.to(wa)).toEqual(turns.map((t) => `echo: ${t.at(-1)}`));
  });
});
