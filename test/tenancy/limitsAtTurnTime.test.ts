import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, provisionTenant } from '../support/gateway.ts';
import { eventually, startPipeline, type PipelineHarness } from '../support/pipeline.ts';
import { Customers, newWaId, SendLog } from '../conversation/customers.ts';

type ChatMessage = { role: string; content: string };

describe('a turn runs within the limits in force, even when the tenant saved more before they were lowered', () => {
  let h: PipelineHarness;
  let sends: SendLog;
  beforeAll(async () => {
    // OPENAI_MODEL is left at its default, gpt-4o-mini.
    h = await startPipeline();
    sends = new SendLog(h.cloud);
  });
  afterAll(async () => {
    sends?.stop();
    await h?.close();
  });

  it('lowered ceilings clamp the history and the system prompt, and a model no longer allowed gives way to the default: the customer is still answered', async () => {
    const prompt = 'P'.repeat(12_000);
    const { phoneNumberId, tenant } = await provisionTenant(h.gw, {
      agent: { provider: 'openai', model: 'gpt-4o', historyLength: 10, systemPrompt: prompt },
      limits: { allowedModels: ['gpt-4o'], maxHistoryLength: 10, maxSystemPromptChars: 12_000 },
    });
    const customers = new Customers(h.gw.url, phoneNumberId);
    const wa = newWaId();
    const before = h.model.requests.length;
    for (const [i, text] of ['one', 'two', 'three'].entries()) {
      await customers.say(wa, text);
      await eventually(() => sends.to(wa).length === i + 1, 20_000, `answer ${i + 1}`);
    }
    const third = h.model.requests[before + 2].body as { model: string; messages: ChatMessage[] };
    expect(third.model).toBe('gpt-4o');
    expect(third.messages[0]).toEqual({ role: 'system', content: prompt });
    expect(third.messages).toHaveLength(6);

    const lowered = await api(h.gw, 'PATCH', `/api/tenants/${tenant.id}`, { limits: { allowedModels: [], maxHistoryLength: 2, maxSystemPromptChars: 100 } });
    expect(lowered.status).toBe(200);
    // What the tenant saved is kept: only the turn is held to the ceilings.
    expect(lowered.body.agent).toMatchObject({ model: 'gpt-4o', historyLength: 10 });

    await customers.say(wa, 'four');
    await eventually(() => sends.to(wa).length === 4, 20_000, 'answer 4');
    expect(sends.to(wa)[3]).toBe('echo: four');
    const fourth = h.model.requests[before + 3].body as { model: string; messages: ChatMessage[] };
    expect(fourth.model).toBe('gpt-4o-mini');
    expect(fourth.messages).toEqual([
      { role: 'system', content: 'P'.repeat(100) },
      { role: 'user', content: 'three' },
      { role: 'assistant', content: 'echo: three' },
      { role: 'user', content: 'four' },
    ]);
  });
});
