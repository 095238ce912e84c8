import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { provisionTenant } from '../support/gateway.ts';
import { eventually, type PipelineHarness } from '../support/pipeline.ts';
import { messagesValue, notification } from '../support/webhooks.ts';
import { ConversationRows } from './conversationRows.ts';
import { Customers, newWaId, SendLog, settle } from './customers.ts';
import { reactionMessage } from './messages.ts';
import { closeConversationTest, openConversationTest } from './harness.ts';

describe('messages the bot must not answer', () => {
  let h: PipelineHarness;
  let rows: ConversationRows;
  let sends: SendLog;
  beforeAll(async () => {
    ({ h, rows, sends } = await openConversationTest());
  });
  afterAll(() => closeConversationTest({ h, rows, sends }));

  it('a message older than 24 hours: window_closed, no agent call, nothing sent', async () => {
    const t = await provisionTenant(h.gw, { agent: { provider: 'openai' } });
    const customers = new Customers(h.gw.url, t.phoneNumberId);
    const wa = newWaId();
    const before = h.model.requests.length;
    const old = String(Math.floor(Date.now() / 1000) - 25 * 3600);
    await customers.say(wa, 'sent yesterday, delivered late', { timestamp: old });
    await eventually(async () => (await rows.dispositions(wa))[0] === 'window_closed', 5_000, 'window_closed');
    await settle(400);
    expect(h.model.requests.length).toBe(before);
    expect(sends.to(wa)).toEqual([]);
    // A fresh message from the same customer is answered as usual.
    await customers.say(wa, 'hello today');
    await eventually(() => sends.to(wa).length === 1, 10_000, 'the answer');
    expect(sends.to(wa)).toEqual(['echo: hello today']);
  });

  it('a message whose 24 hours run out before its turn starts (here: a debounce window): window_closed, no agent call', async () => {
    const t = await provisionTenant(h.gw, { agent: { provider: 'openai', debounceMs: 2_500 } });
    const customers = new Customers(h.gw.url, t.phoneNumberId);
    const wa = newWaId();
    const before = h.model.requests.length;
    // Sent 23 h 59 min 58 s ago: still inside the window when it arrives, outside when the turn starts.
    const almost = String(Math.floor(Date.now() / 1000) - 24 * 3600 + 2);
    await customers.say(wa, 'just in time?', { timestamp: almost });
    expect(await rows.dispositions(wa)).toEqual([null]);
    await eventually(async () => (await rows.dispositions(wa))[0] === 'window_closed', 10_000, 'window_closed');
    await settle(300);
    expect(h.model.requests.length).toBe(before);
    expect(sends.to(wa)).toEqual([]);
    expect(await rows.settled(wa)).toBe(true);
  });

  it('a reaction needs no answer: no_answer_needed, no agent call', async () => {
    const t = await provisionTenant(h.gw, { agent: { provider: 'openai' } });
    const customers = new Customers(h.gw.url, t.phoneNumberId);
    const wa = newWaId();
    const first = await customers.say(wa, 'hi');
    await eventually(() => sends.to(wa).length === 1);
    const before = h.model.requests.length;
    await customers.post(notification({ value: messagesValue(t.phoneNumberId, [reactionMessage(wa, first)]) }));
    await settle(400);
    expect(h.model.requests.length).toBe(before);
    expect(await rows.dispositions(wa)).toEqual(['answered', 'no_answer_needed']);
    expect(sends.to(wa)).toHaveLength(1);
  });
});
