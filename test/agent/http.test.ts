import { createHmac } from 'node:crypto';
import type { Dispatcher } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { HttpAgent, signAgentRequest } from '../../src/agent/http.ts';
import { createAgentDispatcher } from '../../src/agent/postJson.ts';
import { startFakeModel, type FakeModel } from '../../bench/fakeModel.ts';
import { agentInput, allowOnly, assistant, user } from './agentInput.ts';

describe('http provider', () => {
  let endpoint: FakeModel;
  let agent: HttpAgent;
  let dispatcher: Dispatcher;

  beforeAll(async () => {
    endpoint = await startFakeModel();
    // The endpoint is on loopback: the egress policy allows its one port, as WAGATE_EGRESS_ALLOW would.
    dispatcher = createAgentDispatcher({ egress: allowOnly(endpoint.url) });
    agent = new HttpAgent({ dispatcher });
  });
  afterEach(() => endpoint.reset());
  afterAll(async () => {
    await agent.close();
    await dispatcher.close();
    await endpoint.close();
  });

  const input = (over: Parameters<typeof agentInput>[0] = {}) =>
    agentInput({ ...over, config: { provider: 'http', url: endpoint.httpAgentUrl, systemPrompt: 'Be kind.', ...over.config } });

  it('posts the conversation as docs/behaviour.md says, signed over timestamp and exact body', async () => {
    const before = Math.floor(Date.now() / 1000);
    const out = await agent.run(
      input({
        tenantId: 'tenant-9',
        conversationId: 'conv-7',
        contact: { waId: '34600000000', userId: 'US.1', name: 'Luz' },
        secret: 's3cret',
        history: [user('hola'), assistant('¡Hola! ¿En qué te ayudo?')],
        turn: [user('precio?'), user('[image] bici')],
      }),
    );
    expect(out).toEqual({ reply: 'echo: [image] bici', handoff: false });
    const req = endpoint.requests[0];
    expect(req.method).toBe('POST');
    expect(req.path).toBe('/http-agent');
    expect(req.headers['content-type']).toBe('application/json');
    expect(req.body).toEqual({
      tenantId: 'tenant-9',
      conversationId: 'conv-7',
      contact: { waId: '34600000000', userId: 'US.1', name: 'Luz' },
      systemPrompt: 'Be kind.',
      history: [
        { role: 'user', content: 'hola' },
        { role: 'assistant', content: '¡Hola! ¿En qué te ayudo?' },
      ],
      messages: [
        { role: 'user', content: 'precio?' },
        { role: 'user', content: '[image] bici' },
      ],
    });
    const ts = req.headers['x-wagate-timestamp'] as string;
    expect(ts).toMatch(/^\d+$/);
    expect(Number(ts)).toBeGreaterThanOrEqual(before);
    expect(Number(ts)).toBeLessThanOrEqual(Math.floor(Date.now() / 1000));
    const expected = 'sha256=' + createHmac('sha256', 's3cret').update(Buffer.from(`${ts}.${req.rawBody}`, 'utf8')).digest('hex');
    expect(req.headers['x-wagate-signature']).toBe(expected);
    expect(signAgentRequest('s3cret', ts, req.rawBody)).toBe(expected);
    expect(signAgentRequest('other', ts, req.rawBody)).not.toBe(expected);
  });

  it('sends no signature without a secret', async () => {
    await agent.run(input({ secret: null }));
    expect(endpoint.requests[0].headers['x-wagate-signature']).toBeUndefined();
    expect(endpoint.requests[0].headers['x-wagate-timestamp']).toMatch(/^\d+$/);
  });

  it('reads handoff and a null reply', async () => {
    endpoint.script({ kind: 'handoff', reply: 'A person will answer.' }, { kind: 'reply', reply: null });
    expect(await agent.run(input())).toEqual({ reply: 'A person will answer.', handoff: true });
    expect(await agent.run(input())).toEqual({ reply: null, handoff: false });
  });

  it('reads buttons, a list, media and quote in the documented shapes', async () => {
    const buttons = [{ id: 'a', title: 'A' }];
    const list = { button: 'Open', sections: [{ title: 'S', rows: [{ id: 'r', title: 'R', description: 'd' }] }] };
    const media = { type: 'image', url: 'https://example.com/p.png' };
    endpoint.script(
      { kind: 'tool', name: 'x', args: {}, http: { reply: 'Pick', buttons } },
      { kind: 'tool', name: 'x', args: {}, http: { reply: 'Pick', list } },
      { kind: 'tool', name: 'x', args: {}, http: { reply: 'Look', media, quote: true } },
    );
    expect(await agent.run(input())).toEqual({ reply: 'Pick', handoff: false, choice: { kind: 'buttons', buttons } });
    expect(await agent.run(input())).toEqual({ reply: 'Pick', handoff: false, choice: { kind: 'list', list } });
    expect(await agent.run(input())).toEqual({ reply: 'Look', handoff: false, media, quote: true });
  });

  it.each([
    ['buttons of the wrong shape', '{"reply": "x", "buttons": [{"label": "A"}]}'],
    ['media of an unknown type', '{"reply": "x", "media": {"type": "sticker", "url": "https://e.com/s"}}'],
    ['a reply of the wrong type', '{"reply": 5}'],
    ['no reply field', '{"text": "hi"}'],
    ['a handoff that is not a boolean', '{"reply": "x", "handoff": "yes"}'],
    ['an array', '[]'],
    ['not JSON', 'Internal error<br>'],
  ])('refuses %s as a retryable invalid answer', async (_what, body) => {
    endpoint.script({ kind: 'status', status: 200, body });
    await expect(agent.run(input())).rejects.toMatchObject({ name: 'AgentError', code: 'agent_invalid_answer', retryable: true });
  });

  it('classifies HTTP errors like the openai provider', async () => {
    endpoint.script(502, 429, 403);
    await expect(agent.run(input())).rejects.toMatchObject({ code: 'agent_http_502', retryable: true });
    await expect(agent.run(input())).rejects.toMatchObject({ code: 'agent_http_429', retryable: true });
    await expect(agent.run(input())).rejects.toMatchObject({ code: 'agent_http_403', retryable: false });
  });

  it('fails without a url, without calling anything', async () => {
    await expect(agent.run(input({ config: { url: null } }))).rejects.toMatchObject({ code: 'agent_not_configured', retryable: false });
    expect(endpoint.count).toBe(0);
  });

  it('aborts the request when the signal aborts', async () => {
    endpoint.script('hang');
    const ac = new AbortController();
    const p = agent.run(input({ signal: ac.signal }));
    await expect.poll(() => endpoint.inflight).toBe(1);
    ac.abort();
    await expect(p).rejects.toMatchObject({ name: 'AbortError' });
    await expect.poll(() => endpoint.inflight).toBe(0);
  });
});
