import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { provisionTenant } from '../support/gateway.ts';
import { eventually, type PipelineHarness } from '../support/pipeline.ts';
import { notification } from '../support/webhooks.ts';
import { ConversationRows } from './conversationRows.ts';
import { Customers, newWaId, SendLog, settle } from './customers.ts';
import { echoValue } from './messages.ts';
import { closeConversationTest, openConversationTest } from './harness.ts';

describe('human takeover: a paused bot never answers', () => {
  let h: PipelineHarness;
  let rows: ConversationRows;
  let sends: SendLog;
  beforeAll(async () => {
    ({ h, rows, sends } = await openConversationTest());
  });
  afterAll(() => closeConversationTest({ h, rows, sends }));

  async function tenant(agent: Record<string, unknown> = {}) {
    const t = await provisionTenant(h.gw, { agent: { provider: 'openai', ...agent } });
    return { ...t, customers: new Customers(h.gw.url, t.phoneNumberId) };
  }

  /** Writes one message and waits for its answer; returns the conversation id. */
  async function answered(customers: Customers, wa: string, text = 'hi'): Promise<string> {
    const n = sends.to(wa).length;
    await customers.say(wa, text);
    await eventually(() => sends.to(wa).length === n + 1, 10_000, 'the answer');
    await eventually(() => rows.settled(wa));
    return (await rows.conversation(wa))!.id;
  }

  async function usage(tenantId: string): Promise<number> {
    const [r] = await rows.query<{ count: number }>('SELECT coalesce(sum(count), 0)::int AS count FROM usage WHERE tenant_id = $1', [tenantId]);
    return r.count;
  }

  it('a pause committed while the agent call runs stops that reply: disposition paused, nothing sent, no quota used', async () => {
    const { customers, tenant: t } = await tenant();
    const wa = newWaId();
    const before = h.model.requests.length;
    h.model.script({ kind: 'echo', latencyMs: 1_000 });
    await customers.say(wa, 'are you there?');
    await eventually(() => h.model.requests.length > before, 5_000, 'the agent call');
    const conv = (await rows.conversation(wa))!;
    // Committed from outside this process (no event reaches its runner): only the reply commit's guard can stop the reply.
    await rows.query(`UPDATE conversations SET paused = true, paused_by = 'operator' WHERE id = $1`, [conv.id]);
    await eventually(() => rows.settled(wa), 10_000, 'the turn settled');
    await settle(200);
    expect(h.model.requests.length - before).toBe(1);
    expect(sends.to(wa)).toEqual([]);
    expect(await rows.dispositions(wa)).toEqual(['paused']);
    expect(await rows.outbound(wa)).toEqual([]);
    expect(await usage(t.id)).toBe(0);
  });

  it('paused during the agent call by pauseConversation: no reply; the customer writes again: still paused, no agent call; the resume timer resumes it', async () => {
    const { customers } = await tenant();
    const wa = newWaId();
    const before = h.model.requests.length;
    h.model.script({ kind: 'echo', latencyMs: 1_000 });
    await customers.say(wa, 'first');
    await eventually(() => h.model.requests.length > before, 5_000, 'the agent call');
    const convId = (await rows.conversation(wa))!.id;
    const paused = await h.gw.takeover.pause(convId, null, { minutes: 60 });
    expect(paused.paused).toBe(true);
    await eventually(() => rows.settled(wa), 10_000, 'the turn settled');
    expect(await rows.dispositions(wa)).toEqual(['paused']);

    // A customer's message never un-pauses the bot.
    await customers.say(wa, 'hello?');
    await customers.say(wa, 'anyone?');
    await settle(400);
    expect(await rows.dispositions(wa)).toEqual(['paused', 'paused', 'paused']);
    expect(h.model.requests.length - before).toBe(1);
    expect(sends.to(wa)).toEqual([]);
    expect((await rows.conversation(wa))!.paused).toBe(true);

    // The resume timer runs out without any message from the customer.
    await rows.query(`UPDATE conversations SET paused_until = now() + interval '1 second' WHERE id = $1`, [convId]);
    await eventually(async () => !(await rows.conversation(wa))!.paused, 5_000, 'resumed by the timer');
    const conv = (await rows.conversation(wa))!;
    expect(conv.paused_until).toBeNull();
    // Messages that arrived while paused stay unanswered on resume.
    await settle(300);
    expect(sends.to(wa)).toEqual([]);
    // The next message starts a turn as usual.
    await customers.say(wa, 'back again');
    await eventually(() => sends.to(wa).length === 1, 10_000, 'the answer after resume');
    expect(sends.to(wa)).toEqual(['echo: back again']);
    expect(await rows.dispositions(wa)).toEqual(['paused', 'paused', 'paused', 'answered']);
  });

  // The turn stopped by the pause is settled for what stopped it; a text message always needs an answer.
  it('a pause undone while the agent call runs: the message is answered or settled paused, never no_answer_needed', async () => {
    const { customers } = await tenant();
    const wa = newWaId();
    const before = h.model.requests.length;
    h.model.script({ kind: 'echo', latencyMs: 800 });
    await customers.say(wa, 'hello');
    await eventually(() => h.model.requests.length > before, 5_000, 'the agent call');
    const convId = (await rows.conversation(wa))!.id;
    await h.gw.takeover.pause(convId, null);
    await h.gw.takeover.resume(convId, null);
    await eventually(() => rows.settled(wa), 10_000, 'settled');
    await settle(1_000);
    expect(['answered', 'paused']).toContain((await rows.dispositions(wa))[0]);
  });

  it("an operator's manual send is sent and pauses the bot; the customer's next message gets no agent call", async () => {
    const { customers } = await tenant();
    const wa = newWaId();
    const convId = await answered(customers, wa);
    const before = h.model.requests.length;
    const r = await h.gw.takeover.sendManual(convId, null, 'Hi, this is Anna from the shop.');
    expect(r.paused).toBe(true);
    expect(r.messages).toHaveLength(1);
    await eventually(() => sends.to(wa).length === 2, 10_000, 'the manual send');
    expect(sends.to(wa)).toEqual(['echo: hi', 'Hi, this is Anna from the shop.']);
    await eventually(async () => (await rows.outbound(wa)).at(-1)?.status === 'sent');
    expect((await rows.outbound(wa)).at(-1)).toMatchObject({ author: 'operator', body: 'Hi, this is Anna from the shop.', status: 'sent' });
    expect((await rows.conversation(wa))!).toMatchObject({ paused: true, paused_by: 'operator' });
    await customers.say(wa, 'thanks Anna');
    await settle(400);
    expect(h.model.requests.length).toBe(before);
    expect(await rows.dispositions(wa)).toEqual(['answered', 'paused']);
    expect(sends.to(wa)).toHaveLength(2);
  });

  it("an operator's manual send while the agent call runs: the operator's message goes out, the bot's reply does not", async () => {
    const { customers } = await tenant();
    const wa = newWaId();
    const convId = await answered(customers, wa);
    const before = h.model.requests.length;
    h.model.script({ kind: 'echo', latencyMs: 1_000 });
    await customers.say(wa, 'what about my order?');
    await eventually(() => h.model.requests.length > before, 5_000, 'the agent call');
    await h.gw.takeover.sendManual(convId, null, 'Let me check that for you personally.');
    await eventually(() => rows.settled(wa), 10_000, 'settled');
    await settle(1_200);
    expect(sends.to(wa)).toEqual(['echo: hi', 'Let me check that for you personally.']);
    expect(await rows.dispositions(wa)).toEqual(['answered', 'paused']);
  });

  it('a message echo while the agent call runs: the reply commit sees the pause and the reply is not sent', async () => {
    const { customers, phoneNumberId } = await tenant();
    const wa = newWaId();
    await answered(customers, wa);
    const before = h.model.requests.length;
    h.model.script({ kind: 'echo', latencyMs: 800 });
    await customers.say(wa, 'hello?');
    await eventually(() => h.model.requests.length > before, 5_000, 'the agent call');
    await customers.post(notification({ field: 'smb_message_echoes', value: echoValue(phoneNumberId, wa, 'Answering from my phone') }));
    await eventually(() => rows.settled(wa), 10_000, 'settled');
    await settle(1_000);
    expect(sends.to(wa)).toEqual(['echo: hi']);
    expect(await rows.dispositions(wa)).toEqual(['answered', 'paused']);
  });

  it('an explicit resume: messages that arrived while paused stay unanswered, the next one is answered', async () => {
    const { customers } = await tenant();
    const wa = newWaId();
    const convId = await answered(customers, wa);
    await h.gw.takeover.pause(convId, null);
    await customers.say(wa, 'while paused');
    await eventually(async () => (await rows.dispositions(wa))[1] === 'paused');
    const r = await h.gw.takeover.resume(convId, null);
    expect(r.paused).toBe(false);
    await settle(400);
    expect(sends.to(wa)).toEqual(['echo: hi']);
    await answered(customers, wa, 'after resume');
    expect(sends.to(wa)).toEqual(['echo: hi', 'echo: after resume']);
    expect(await rows.dispositions(wa)).toEqual(['answered', 'paused', 'answered']);
  });

  it("after a takeover the agent sees the operator's and the business app's messages as the assistant's", async () => {
    const { customers, phoneNumberId } = await tenant({ systemPrompt: 'S' });
    const wa = newWaId();
    const convId = await answered(customers, wa, 'hi');
    await h.gw.takeover.sendManual(convId, null, 'Anna here, from the shop.');
    await eventually(() => sends.to(wa).length === 2, 10_000, 'the manual send');
    await customers.post(notification({ field: 'smb_message_echoes', value: echoValue(phoneNumberId, wa, 'Sent from my phone') }));
    await customers.say(wa, 'while paused');
    await eventually(async () => (await rows.dispositions(wa)).at(-1) === 'paused');
    await h.gw.takeover.resume(convId, null);
    const before = h.model.requests.length;
    await answered(customers, wa, 'thanks');
    expect(h.model.requests[before].body.messages).toEqual([
      { role: 'system', content: 'S' },
      { role: 'user', content: 'hi' },
      { role: 'assistant', content: 'echo: hi' },
      { role: 'assistant', content: 'Anna here, from the shop.' },
      { role: 'assistant', content: 'Sent from my phone' },
      { role: 'user', content: 'while paused' },
      { role: 'user', content: 'thanks' },
    ]);
  });

  it('with resumeAfterMinutes, a takeover by manual send, echo or handoff sets the resume timer', async () => {
    const { customers, phoneNumberId } = await tenant({ resumeAfterMinutes: 30, handoffKeywords: ['human'], handoffMessage: 'A person will answer.' });
    const inWindow = async (wa: string) => {
      const c = (await rows.conversation(wa))!;
      expect(c.paused).toBe(true);
      const ms = c.paused_until!.getTime() - Date.now();
      expect(ms).toBeGreaterThan(25 * 60_000);
      expect(ms).toBeLessThan(35 * 60_000);
    };
    const byOperator = newWaId();
    await h.gw.takeover.sendManual(await answered(customers, byOperator), null, 'Operator here');
    await inWindow(byOperator);
    const byEcho = newWaId();
    await answered(customers, byEcho);
    await customers.post(notification({ field: 'smb_message_echoes', value: echoValue(phoneNumberId, byEcho, 'from the app') }));
    await inWindow(byEcho);
    const byKeyword = newWaId();
    await answered(customers, byKeyword, 'a human please');
    await inWindow(byKeyword);
  });

  it('a manual send does not pause a tenant that turned autoPauseOnOperatorReply off', async () => {
    const { customers } = await tenant({ autoPauseOnOperatorReply: false });
    const wa = newWaId();
    const convId = await answered(customers, wa);
    const r = await h.gw.takeover.sendManual(convId, null, 'A note from a person.');
    expect(r.paused).toBe(false);
    await eventually(() => sends.to(wa).length === 2, 10_000, 'the manual send');
    await answered(customers, wa, 'and the bot?');
    expect(sends.to(wa)).toEqual(['echo: hi', 'A note from a person.', 'echo: and the bot?']);
  });

  it('a manual send outside the 24-hour window is refused with 409 outside_customer_service_window and queues nothing', async () => {
    const { customers } = await tenant();
    const wa = newWaId();
    const convId = await answered(customers, wa);
    await rows.query(
      `UPDATE contacts SET last_inbound_at = now() - interval '25 hours' WHERE id = (SELECT contact_id FROM conversations WHERE id = $1)`,
      [convId],
    );
    const outBefore = (await rows.outbound(wa)).length;
    await expect(h.gw.takeover.sendManual(convId, null, 'too late')).rejects.toMatchObject({ status: 409, code: 'outside_customer_service_window' });
    await settle(200);
    expect((await rows.outbound(wa)).length).toBe(outBefore);
    expect(sends.to(wa)).toEqual(['echo: hi']);
    expect((await rows.conversation(wa))!.paused).toBe(false);
  });

  it('a message echo (the business answered from its own app) pauses the bot', async () => {
    const { customers, phoneNumberId } = await tenant();
    const wa = newWaId();
    await answered(customers, wa);
    const before = h.model.requests.length;
    await customers.post(notification({ field: 'smb_message_echoes', value: echoValue(phoneNumberId, wa, 'I will take it from here') }));
    expect((await rows.conversation(wa))!).toMatchObject({ paused: true, paused_by: 'business_app' });
    expect((await rows.outbound(wa)).at(-1)).toMatchObject({ author: 'operator', body: 'I will take it from here' });
    await customers.say(wa, 'ok');
    await settle(400);
    expect(h.model.requests.length).toBe(before);
    expect(await rows.dispositions(wa)).toEqual(['answered', 'paused']);
    // The echo is the business's own message: the gateway sends nothing for it.
    expect(sends.to(wa)).toEqual(['echo: hi']);
  });

  it('a message echo does not pause a tenant that turned autoPauseOnOperatorReply off', async () => {
    const { customers, phoneNumberId } = await tenant({ autoPauseOnOperatorReply: false });
    const wa = newWaId();
    await answered(customers, wa);
    await customers.post(notification({ field: 'smb_message_echoes', value: echoValue(phoneNumberId, wa, 'a word from the owner') }));
    expect((await rows.conversation(wa))!.paused).toBe(false);
    await answered(customers, wa, 'still there?');
    expect(sends.to(wa)).toEqual(['echo: hi', 'echo: still there?']);
  });
});

describe('handoff to a human', () => {
  let h: PipelineHarness;
  let rows: ConversationRows;
  let sends: SendLog;
  beforeAll(async () => {
    // The http agent's URL is the fake model's, on loopback: allowed for this port only.
    ({ h, rows, sends } = await openConversationTest({ allowModelEgress: true }));
  });
  afterAll(() => closeConversationTest({ h, rows, sends }));

  const HANDOFF = 'A person from our team will answer you here.';

  it('a handoff keyword pauses the conversation and sends the handoff message, with no agent call', async () => {
    const t = await provisionTenant(h.gw, { agent: { provider: 'openai', handoffKeywords: ['human', 'real person'], handoffMessage: HANDOFF } });
    const customers = new Customers(h.gw.url, t.phoneNumberId);
    const wa = newWaId();
    const before = h.model.requests.length;
    await customers.say(wa, 'Can I talk to a HUMAN, please?');
    await eventually(() => sends.to(wa).length === 1, 10_000, 'the handoff message');
    await eventually(() => rows.settled(wa));
    expect(sends.to(wa)).toEqual([HANDOFF]);
    expect(h.model.requests.length).toBe(before);
    expect((await rows.conversation(wa))!.paused).toBe(true);
    expect(await rows.dispositions(wa)).toEqual(['paused']);
    await customers.say(wa, 'hello?');
    await settle(400);
    expect(h.model.requests.length).toBe(before);
    expect(sends.to(wa)).toEqual([HANDOFF]);
    expect(await rows.dispositions(wa)).toEqual(['paused', 'paused']);
  });

  it('a keyword inside another word is not a handoff', async () => {
    const t = await provisionTenant(h.gw, { agent: { provider: 'openai', handoffKeywords: ['human'], handoffMessage: HANDOFF } });
    const customers = new Customers(h.gw.url, t.phoneNumberId);
    const wa = newWaId();
    await customers.say(wa, 'Is this product humane?');
    await eventually(() => sends.to(wa).length === 1, 10_000, 'the answer');
    expect(sends.to(wa)).toEqual(['echo: Is this product humane?']);
    expect((await rows.conversation(wa))!.paused).toBe(false);
  });

  it('the agent asking for a handoff (openai tool call) pauses the conversation and sends the handoff message', async () => {
    const t = await provisionTenant(h.gw, { agent: { provider: 'openai', handoffMessage: HANDOFF } });
    const customers = new Customers(h.gw.url, t.phoneNumberId);
    const wa = newWaId();
    h.model.script({ kind: 'handoff', reply: null, reason: 'refund request' });
    await customers.say(wa, 'I want my money back');
    await eventually(() => sends.to(wa).length === 1, 10_000, 'the handoff message');
    await eventually(() => rows.settled(wa));
    expect(sends.to(wa)).toEqual([HANDOFF]);
    expect((await rows.conversation(wa))!).toMatchObject({ paused: true, paused_by: 'agent' });
    expect(await rows.dispositions(wa)).toEqual(['paused']);
    const before = h.model.requests.length;
    await customers.say(wa, 'so?');
    await settle(400);
    expect(h.model.requests.length).toBe(before);
    expect(sends.to(wa)).toEqual([HANDOFF]);
  });

  it('the http agent asking for a handoff ("handoff": true in its answer) pauses the conversation', async () => {
    const t = await provisionTenant(h.gw, { agent: { provider: 'http', url: h.model.httpAgentUrl, secret: 'http-agent-secret', handoffMessage: HANDOFF } });
    const customers = new Customers(h.gw.url, t.phoneNumberId);
    const wa = newWaId();
    h.model.script({ kind: 'handoff', reply: null });
    await customers.say(wa, 'I need a person');
    await eventually(() => sends.to(wa).length === 1, 10_000, 'the handoff message');
    await eventually(() => rows.settled(wa));
    expect(h.model.requests.at(-1)!.path).toBe('/http-agent');
    expect(sends.to(wa)).toEqual([HANDOFF]);
    expect((await rows.conversation(wa))!).toMatchObject({ paused: true, paused_by: 'agent' });
  });

  it('an agent answer with a handoff tool call sends the answer and pauses', async () => {
    const t = await provisionTenant(h.gw, { agent: { provider: 'openai', handoffMessage: HANDOFF } });
    const customers = new Customers(h.gw.url, t.phoneNumberId);
    const wa = newWaId();
    h.model.script({ kind: 'handoff', reply: 'Let me get a colleague for you.' });
    await customers.say(wa, 'This is complicated');
    await eventually(() => sends.to(wa).length === 1, 10_000, 'the answer');
    await eventually(() => rows.settled(wa));
    await settle(200);
    expect(sends.to(wa)).toEqual(['Let me get a colleague for you.']);
    expect((await rows.conversation(wa))!.paused).toBe(true);
  });
});
