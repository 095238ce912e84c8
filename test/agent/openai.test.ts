import type { Dispatcher } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { completionsUrl, OpenAiAgent } from '../../src/agent/openai.ts';
import { createAgentDispatcher } from '../../src/agent/postJson.ts';
import { AgentError } from '../../src/agent/types.ts';
import { startFakeModel, type FakeModel } from '../../bench/fakeModel.ts';
import { agentInput, allowOnly, assistant, user } from './agentInput.ts';

describe('openai provider', () => {
  let model: FakeModel;
  let tenantModel: FakeModel;
  let agent: OpenAiAgent;
  let tenantDispatcher: Dispatcher;

  beforeAll(async () => {
    model = await startFakeModel();
    tenantModel = await startFakeModel();
    // A tenant's own base URL goes through the egress policy, which allows the tenant model's one loopback port.
    tenantDispatcher = createAgentDispatcher({ egress: allowOnly(tenantModel.url) });
    agent = new OpenAiAgent({ baseUrl: model.openaiBaseUrl, apiKey: 'sk-process', model: 'gpt-default' }, { tenantDispatcher });
  });
  afterEach(() => {
    model.reset();
    tenantModel.reset();
  });
  afterAll(async () => {
    await agent.close();
    await tenantDispatcher.close();
    await model.close();
    await tenantModel.close();
  });

  it('sends system, history in order, then each turn message as its own user message, nothing after the last', async () => {
    const out = await agent.run(
      agentInput({
        config: { systemPrompt: 'You are Ava from Acme Bikes. Be brief.' },
        history: [user('hi'), assistant('Hello! How can I help?'), user('[image] my bike'), assistant('Nice bike.')],
        turn: [user('is it fixable?'), user('the chain is broken'), user('[location] Main St 1')],
      }),
    );
    expect(out).toEqual({ reply: 'echo: [location] Main St 1', handoff: false });
    expect(model.requests).toHaveLength(1);
    const req = model.requests[0];
    expect(req.method).toBe('POST');
    expect(req.path).toBe('/v1/chat/completions');
    expect(req.headers.authorization).toBe('Bearer sk-process');
    expect(req.headers['content-type']).toBe('application/json');
    expect(req.body.model).toBe('gpt-default');
    expect(req.body.stream).toBe(false);
    expect(req.body.messages).toEqual([
      { role: 'system', content: 'You are Ava from Acme Bikes. Be brief.' },
      { role: 'user', content: 'hi' },
      { role: 'assistant', content: 'Hello! How can I help?' },
      { role: 'user', content: '[image] my bike' },
      { role: 'assistant', content: 'Nice bike.' },
      { role: 'user', content: 'is it fixable?' },
      { role: 'user', content: 'the chain is broken' },
      { role: 'user', content: '[location] Main St 1' },
    ]);
    expect(req.body.tools.map((t: any) => t.function.name)).toEqual(['handoff_to_human', 'reply_with_buttons', 'reply_with_list', 'reply_with_media']);
    const tool = req.body.tools[0];
    expect(tool.type).toBe('function');
    expect(tool.function.name).toBe('handoff_to_human');
    expect(tool.function.parameters.properties.reason.type).toBe('string');
    expect(tool.function.parameters.required ?? []).not.toContain('reason');
  });

  it('leaves a blank system prompt out and uses the tenant model when set', async () => {
    await agent.run(agentInput({ config: { systemPrompt: '  ', model: 'llama3.1' }, turn: [user('a')] }));
    expect(model.requests[0].body.model).toBe('llama3.1');
    expect(model.requests[0].body.messages).toEqual([{ role: 'user', content: 'a' }]);
  });

  it("uses the tenant's own base URL and key only when set", async () => {
    await agent.run(agentInput({ config: { baseUrl: tenantModel.openaiBaseUrl }, apiKey: 'sk-tenant' }));
    expect(model.requests).toHaveLength(0);
    expect(tenantModel.requests).toHaveLength(1);
    expect(tenantModel.requests[0].headers.authorization).toBe('Bearer sk-tenant');

    // The tenant's key on the default endpoint.
    await agent.run(agentInput({ apiKey: 'sk-tenant-2' }));
    expect(model.requests.at(-1)!.headers.authorization).toBe('Bearer sk-tenant-2');

    // Neither set: the process defaults.
    await agent.run(agentInput());
    expect(model.requests.at(-1)!.headers.authorization).toBe('Bearer sk-process');
  });

  it("never sends the process key to a tenant's own base URL", async () => {
    await agent.run(agentInput({ config: { baseUrl: tenantModel.openaiBaseUrl + '/' }, apiKey: null }));
    expect(tenantModel.requests).toHaveLength(1);
    expect(tenantModel.requests[0].path).toBe('/v1/chat/completions');
    expect(tenantModel.requests[0].headers.authorization).toBeUndefined();
  });

  it('sends no Authorization header when no key exists at all', async () => {
    const keyless = new OpenAiAgent({ baseUrl: model.openaiBaseUrl, apiKey: null, model: 'm' });
    try {
      await keyless.run(agentInput());
      expect(model.requests[0].headers.authorization).toBeUndefined();
    } finally {
      await keyless.close();
    }
  });

  it('reads a handoff_to_human tool call as a handoff, with or without text', async () => {
    model.script({ kind: 'handoff', reply: 'Let me get a colleague.', reason: 'angry customer' }, { kind: 'handoff', reply: null });
    expect(await agent.run(agentInput())).toEqual({ reply: 'Let me get a colleague.', handoff: true });
    expect(await agent.run(agentInput())).toEqual({ reply: null, handoff: true });
  });

  it('reads reply_with_buttons, reply_with_list and reply_with_media calls; arguments of the wrong shape are ignored', async () => {
    const buttons = [{ id: 'hours', title: 'Opening hours' }, { id: 'prices', title: 'Prices' }];
    const sections = [{ title: 'Bikes', rows: [{ id: 'road', title: 'Road', description: 'fast' }] }];
    model.script(
      { kind: 'tool', name: 'reply_with_buttons', args: { text: 'What do you need?', buttons } },
      { kind: 'tool', name: 'reply_with_list', args: { text: 'Pick one', button: 'Bikes', sections } },
      { kind: 'tool', name: 'reply_with_media', args: { text: 'Our menu', type: 'document', url: 'https://example.com/menu.pdf', filename: 'menu.pdf', quote: true } },
      { kind: 'tool', name: 'reply_with_buttons', args: { text: 'no buttons here' }, reply: 'plain answer' },
    );
    expect(await agent.run(agentInput())).toEqual({ reply: 'What do you need?', handoff: false, choice: { kind: 'buttons', buttons } });
    expect(await agent.run(agentInput())).toEqual({ reply: 'Pick one', handoff: false, choice: { kind: 'list', list: { button: 'Bikes', sections } } });
    expect(await agent.run(agentInput())).toEqual({ reply: 'Our menu', handoff: false, media: { type: 'document', url: 'https://example.com/menu.pdf', filename: 'menu.pdf' }, quote: true });
    expect(await agent.run(agentInput())).toEqual({ reply: 'plain answer', handoff: false });
  });

  it('returns null for an empty answer', async () => {
    model.script({ kind: 'reply', reply: '' }, { kind: 'reply', reply: null });
    expect(await agent.run(agentInput())).toEqual({ reply: null, handoff: false });
    expect(await agent.run(agentInput())).toEqual({ reply: null, handoff: false });
  });

  it.each([
    [500, 'agent_http_500', true],
    [503, 'agent_http_503', true],
    [429, 'agent_http_429', true],
    [401, 'agent_http_401', false],
    [404, 'agent_http_404', false],
    [400, 'agent_http_400', false],
  ])('classifies HTTP %i as %s (retryable: %s)', async (status, code, retryable) => {
    model.script(status);
    const err = await agent.run(agentInput()).catch((e) => e);
    expect(err).toBeInstanceOf(AgentError);
    expect(err).toMatchObject({ code, retryable });
  });

  it('classifies a body that is not JSON, or not a chat completion, as a retryable invalid answer', async () => {
    model.script('garbage', { kind: 'status', status: 200, body: '{"choices":[]}' }, { kind: 'status', status: 200, body: '[1,2]' });
    for (let i = 0; i < 3; i++) {
      await expect(agent.run(agentInput())).rejects.toMatchObject({ name: 'AgentError', code: 'agent_invalid_answer', retryable: true });
    }
  });

  it('classifies an unreachable endpoint as a retryable network error', async () => {
    const gone = await startFakeModel();
    const url = gone.openaiBaseUrl;
    await gone.close();
    const unreachable = new OpenAiAgent({ baseUrl: url, apiKey: null, model: 'm' });
    try {
      await expect(unreachable.run(agentInput())).rejects.toMatchObject({ code: 'agent_network', retryable: true });
    } finally {
      await unreachable.close();
    }
  });

  it('aborts the request when the signal aborts', async () => {
    model.script('hang');
    const ac = new AbortController();
    const p = agent.run(agentInput({ signal: ac.signal }));
    await expect.poll(() => model.inflight).toBe(1);
    const reason = new Error('restart');
    ac.abort(reason);
    await expect(p).rejects.toBe(reason);
    await expect.poll(() => model.inflight).toBe(0);
  });

  it('refuses an empty turn without calling the model', async () => {
    await expect(agent.run(agentInput({ turn: [] }))).rejects.toMatchObject({ code: 'agent_empty_turn', retryable: false });
    expect(model.count).toBe(0);
  });

  it('keeps a query of the base URL after the path', async () => {
    expect(completionsUrl('https://x.example/openai/v1/?api-version=2024-10-21')).toBe('https://x.example/openai/v1/chat/completions?api-version=2024-10-21');
    expect(completionsUrl('http://127.0.0.1:11434/v1')).toBe('http://127.0.0.1:11434/v1/chat/completions');
    await agent.run(agentInput({ config: { baseUrl: tenantModel.openaiBaseUrl + '?api-version=1' } }));
    expect(tenantModel.requests[0].path).toBe('/v1/chat/completions');
  });

  it('keeps connections alive across calls', async () => {
    for (let i = 0; i < 10; i++) await agent.run(agentInput({ turn: [user(`m${i}`)] }));
    expect(model.count).toBe(10);
    // undici may open a second connection while the first is being released; never one per call.
    expect(model.connections).toBeLessThanOrEqual(2);
  });
});
