import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { provisionTenant } from '../support/gateway.ts';
import { eventually, type PipelineHarness } from '../support/pipeline.ts';
import { ConversationRows } from './conversationRows.ts';
import { Customers, newWaId, SendLog } from './customers.ts';
import { closeConversationTest, openConversationTest } from './harness.ts';

describe('coalesce restart is bounded by maxDebounceMs', () => {
  let h: PipelineHarness;
  let rows: ConversationRows;
  let sends: SendLog;
  beforeAll(async () => {
    ({ h, rows, sends } = await openConversationTest());
  });
  afterAll(() => closeConversationTest({ h, rows, sends }));

  it('a customer writing faster than the model answers still gets an answer before they stop; nothing is left unanswered', async () => {
    const t = await provisionTenant(h.gw, { agent: { provider: 'openai', coalesce: 'restart', maxDebounceMs: 400 } });
    const customers = new Customers(h.gw.url, t.phoneNumberId);
    const wa = newWaId();
    h.model.setLatency(300);
    let answeredWhileWriting = false;
    try {
      // 16 messages, one every 100 ms: without a bound every one would restart the 300 ms call.
      for (let i = 1; i <= 16; i++) {
        await customers.say(wa, `m${i}`);
        if (sends.to(wa).length > 0) answeredWhileWriting = true;
        await new Promise((r) => setTimeout(r, 100));
      }
      await eventually(() => rows.settled(wa), 15_000, 'every message settled');
    } finally {
      h.model.setLatency(0);
    }
    expect(answeredWhileWriting).toBe(true);
    const ds = await rows.dispositions(wa);
    expect(ds).toHaveLength(16);
    expect(ds.every((d) => d === 'answered' || d === 'coalesced')).toBe(true);
    // The last message is answered by the last turn.
    expect(sends.to(wa).at(-1)).toBe('echo: m16');
  });
});
