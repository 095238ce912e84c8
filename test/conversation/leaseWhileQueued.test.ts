import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { provisionTenant } from '../support/gateway.ts';
import { eventually, type PipelineHarness } from '../support/pipeline.ts';
import { ConversationRows } from './conversationRows.ts';
import { Customers, newWaId, SendLog } from './customers.ts';
import { closeConversationTest, openConversationTest } from './harness.ts';

describe('the lease is kept while a message waits to be sent', () => {
  let h: PipelineHarness;
  let rows: ConversationRows;
  let sends: SendLog;
  beforeAll(async () => {
    ({ h, rows, sends } = await openConversationTest());
  });
  afterAll(() => closeConversationTest({ h, rows, sends }));

  // An operator answers while the agent call runs: the turn ends paused with no
  // reply, but the operator's message is still on its way. Were the lease
  // released then, any other process's sweep would find a queued message with
  // a free lease and send it a second time.
  it("an operator's message queued during a turn keeps the conversation leased until it is sent", async () => {
    const t = await provisionTenant(h.gw, { agent: { provider: 'openai' } });
    const customers = new Customers(h.gw.url, t.phoneNumberId);
    const wa = newWaId();
    h.model.script({ kind: 'echo', latencyMs: 600 });
    const calls = h.model.count;
    await customers.say(wa, 'is anyone there?');
    await eventually(() => h.model.count > calls, 5_000, 'the agent call');
    const conv = (await rows.conversation(wa))!;
    // The operator's send is held at the Cloud API for a while.
    h.cloud.script({ on: 'send', delayMs: 1_500 });
    await h.gw.takeover.sendManual(conv.id, null, 'Hi, a person here.');
    // The turn ends (paused) while the operator's message is still being sent.
    await eventually(async () => (await rows.dispositions(wa))[0] === 'paused', 5_000, 'the turn settled');
    const [during] = await rows.query<{ lease_owner: string | null; queued: number }>(
      `SELECT c.lease_owner, (SELECT count(*)::int FROM messages m WHERE m.conversation_id = c.id AND m.status = 'queued') AS queued
       FROM conversations c WHERE c.id = $1`,
      [conv.id],
    );
    expect(during.queued).toBe(1);
    expect(during.lease_owner).toBe(h.gw.leaseOwner);
    await eventually(() => sends.to(wa).length === 1, 10_000, 'the operator message');
    await eventually(async () => (await rows.outbound(wa)).at(-1)?.status === 'sent', 5_000, 'recorded');
    expect(sends.to(wa)).toEqual(['Hi, a person here.']);
    const [after] = await rows.query<{ lease_owner: string | null }>('SELECT lease_owner FROM conversations WHERE id = $1', [conv.id]);
    expect(after.lease_owner).toBeNull();
  });
});
