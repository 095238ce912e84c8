import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_FALLBACK } from '../../src/tenancy/agentConfig.ts';
import type { FakeModelScript } from '../../bench/fakeModel.ts';
import { provisionTenant } from '../support/gateway.ts';
import { eventually, type PipelineHarness } from '../support/pipeline.ts';
import { ConversationRows } from './conversationRows.ts';
import { Customers, newWaId, SendLog, settle } from './customers.ts';
import { closeConversationTest, openConversationTest } from './harness.ts';

describe('an agent that fails: three tries, then the fallback message, and the conversation is not stuck', () => {
  let h: PipelineHarness;
  let rows: ConversationRows;
  let sends: SendLog;
  beforeAll(async () => {
    ({ h, rows, sends } = await openConversationTest());
  });
  afterAll(() => closeConversationTest({ h, rows, sends }));

  const cases: [string, FakeModelScript][] = [
    ['timing out (no answer within timeoutMs)', 'hang'],
    ['answering 500', 500],
    ['answering garbage', 'garbage'],
  ];

  for (const [what, failure] of cases) {
    it(`a model ${what}: tried 3 times, the fallback message sent, disposition agent_failed; the next message is answered`, async () => {
      const t = await provisionTenant(h.gw, { agent: { provider: 'openai', timeoutMs: 300 } });
      const customers = new Customers(h.gw.url, t.phoneNumberId);
      const wa = newWaId();
      const before = h.model.requests.length;
      h.model.script(failure, failure, failure);
      await customers.say(wa, 'help me');
      await eventually(() => sends.to(wa).length === 1, 10_000, 'the fallback');
      await eventually(() => rows.settled(wa));
      expect(h.model.requests.length - before).toBe(3);
      expect(sends.to(wa)).toEqual([DEFAULT_FALLBACK]);
      expect(await rows.dispositions(wa)).toEqual(['agent_failed']);
      expect((await rows.conversation(wa))!.paused).toBe(false);
      // No raw error text reaches the customer, and the next message starts a turn as usual.
      await customers.say(wa, 'hello?');
      await eventually(() => sends.to(wa).length === 2, 10_000, 'the next answer');
      expect(sends.to(wa)).toEqual([DEFAULT_FALLBACK, 'echo: hello?']);
      expect(await rows.dispositions(wa)).toEqual(['agent_failed', 'answered']);
    });
  }

  it('a failure then a good answer within the 3 tries: answered, no fallback', async () => {
    const t = await provisionTenant(h.gw, { agent: { provider: 'openai', timeoutMs: 300 } });
    const customers = new Customers(h.gw.url, t.phoneNumberId);
    const wa = newWaId();
    h.model.script(503, 'garbage');
    await customers.say(wa, 'third time lucky');
    await eventually(() => sends.to(wa).length === 1, 10_000, 'the answer');
    await settle(200);
    expect(sends.to(wa)).toEqual(['echo: third time lucky']);
    expect(await rows.dispositions(wa)).toEqual(['answered']);
  });

  it("the tenant's own fallbackMessage; with handoffOnAgentFailure the conversation is paused", async () => {
    const t = await provisionTenant(h.gw, { agent: { provider: 'openai', timeoutMs: 300, fallbackMessage: 'One moment, a colleague will answer.', handoffOnAgentFailure: true } });
    const customers = new Customers(h.gw.url, t.phoneNumberId);
    const wa = newWaId();
    h.model.script(500, 500, 500);
    await customers.say(wa, 'help');
    await eventually(() => sends.to(wa).length === 1, 10_000, 'the fallback');
    await eventually(() => rows.settled(wa));
    expect(sends.to(wa)).toEqual(['One moment, a colleague will answer.']);
    expect(await rows.dispositions(wa)).toEqual(['agent_failed']);
    expect((await rows.conversation(wa))!.paused).toBe(true);
    const before = h.model.requests.length;
    await customers.say(wa, 'anyone?');
    await settle(400);
    expect(h.model.requests.length).toBe(before);
    expect(await rows.dispositions(wa)).toEqual(['agent_failed', 'paused']);
  });

  it('an empty fallbackMessage: nothing is sent, disposition agent_failed', async () => {
    const t = await provisionTenant(h.gw, { agent: { provider: 'openai', timeoutMs: 300, fallbackMessage: '' } });
    const customers = new Customers(h.gw.url, t.phoneNumberId);
    const wa = newWaId();
    h.model.script(500, 500, 500);
    await customers.say(wa, 'help');
    await eventually(async () => (await rows.dispositions(wa))[0] === 'agent_failed', 10_000, 'agent_failed');
    await settle(300);
    expect(sends.to(wa)).toEqual([]);
    expect(await rows.outbound(wa)).toEqual([]);
  });
});
