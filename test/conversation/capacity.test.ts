import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { provisionTenant } from '../support/gateway.ts';
import { eventually, type PipelineHarness } from '../support/pipeline.ts';
import { ConversationRows } from './conversationRows.ts';
import { Customers, newWaId, SendLog } from './customers.ts';
import { closeConversationTest, openConversationTest } from './harness.ts';

describe('memory stays bounded under a flood', () => {
  let h: PipelineHarness;
  let rows: ConversationRows;
  let sends: SendLog;
  beforeAll(async () => {
    // At most 5 conversations in memory; the rest must wait as rows for the sweep.
    ({ h, rows, sends } = await openConversationTest({ pipeline: { runner: { maxConversations: 5 } } }));
  });
  afterAll(() => closeConversationTest({ h, rows, sends }));

  it('40 conversations at once with room for 5 in memory: never more than 5 held, every message answered once', async () => {
    const t = await provisionTenant(h.gw, { agent: { provider: 'openai' } });
    const customers = new Customers(h.gw.url, t.phoneNumberId);
    const was = Array.from({ length: 40 }, () => newWaId());
    let peak = 0;
    const sample = setInterval(() => (peak = Math.max(peak, h.gw.runner!.activeConversations)), 5);
    h.model.setLatency(100);
    try {
      await Promise.all(was.map((wa) => customers.say(wa, 'hello')));
      await eventually(() => was.every((wa) => sends.to(wa).length === 1), 30_000, 'every customer answered');
    } finally {
      clearInterval(sample);
      h.model.setLatency(0);
    }
    expect(peak).toBeLessThanOrEqual(5);
    expect(peak).toBeGreaterThan(0);
    for (const wa of was) {
      expect(sends.to(wa)).toEqual(['echo: hello']);
      expect(await rows.dispositions(wa)).toEqual(['answered']);
    }
  });
});
