import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DemoAgent } from '../../src/agent/demo.ts';
import { HttpAgent } from '../../src/agent/http.ts';
import { OpenAiAgent } from '../../src/agent/openai.ts';
import { createAgentRegistry } from '../../src/agent/registry.ts';
import { startFakeModel, type FakeModel } from '../../bench/fakeModel.ts';
import { agentInput, allowOnly } from './agentInput.ts';

describe('agent registry', () => {
  let model: FakeModel;
  beforeAll(async () => {
    model = await startFakeModel();
  });
  afterAll(async () => {
    await model.close();
  });

  it('gives one instance per provider, wired to the process defaults', async () => {
    const registry = createAgentRegistry({ openai: { baseUrl: model.openaiBaseUrl, apiKey: 'sk-default', model: 'gpt-x' } }, { egress: allowOnly(model.url) });
    try {
      expect(registry.agentFor('openai')).toBeInstanceOf(OpenAiAgent);
      expect(registry.agentFor('http')).toBeInstanceOf(HttpAgent);
      expect(registry.agentFor('demo')).toBeInstanceOf(DemoAgent);
      expect(registry.agentFor('openai')).toBe(registry.agentFor('openai'));
      expect(() => registry.agentFor('gpt' as never)).toThrow(expect.objectContaining({ code: 'agent_unknown_provider' }));
      expect(() => registry.agentFor('toString' as never)).toThrow(expect.objectContaining({ code: 'agent_unknown_provider' }));

      await registry.agentFor('openai').run(agentInput());
      await registry.agentFor('http').run(agentInput({ config: { provider: 'http', url: model.httpAgentUrl } }));
      expect(model.requests.map((r) => r.path)).toEqual(['/v1/chat/completions', '/http-agent']);
      expect(model.requests[0].body.model).toBe('gpt-x');
      expect(model.requests[0].headers.authorization).toBe('Bearer sk-default');
      // Keep-alive: ten more calls reuse the connections already open (undici may open a
      // second one while the first is being released, never one per call).
      for (let i = 0; i < 5; i++) {
        await registry.agentFor('openai').run(agentInput());
        await registry.agentFor('http').run(agentInput({ config: { provider: 'http', url: model.httpAgentUrl } }));
      }
      expect(model.count).toBe(12);
      expect(model.connections).toBeLessThanOrEqual(2);
    } finally {
      await registry.close();
    }
  });

  it('closes the dispatcher both providers share: new calls fail at once, without retry', async () => {
    const registry = createAgentRegistry({ openai: { baseUrl: model.openaiBaseUrl, apiKey: null, model: 'm' } }, { egress: allowOnly(model.url) });
    await registry.close();
    await registry.close();
    const before = model.count;
    await expect(registry.agentFor('openai').run(agentInput())).rejects.toMatchObject({ code: 'agent_closed', retryable: false });
    await expect(registry.agentFor('http').run(agentInput({ config: { provider: 'http', url: model.httpAgentUrl } }))).rejects.toMatchObject({
      code: 'agent_closed',
      retryable: false,
    });
    expect(model.count).toBe(before);
    // The demo agent needs no connection.
    expect((await registry.agentFor('demo').run(agentInput())).reply).toContain('Hello!');
  });
});
