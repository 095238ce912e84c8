import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AgentAbortedError, callAgent } from '../../src/agent/call.ts';
import { OpenAiAgent } from '../../src/agent/openai.ts';
import { AgentError, type Agent } from '../../src/agent/types.ts';
import { startFakeModel, type FakeModel } from '../../bench/fakeModel.ts';
import { agentInput } from './agentInput.ts';

describe('callAgent', () => {
  let model: FakeModel;
  let agent: OpenAiAgent;

  beforeAll(async () => {
    model = await startFakeModel();
    agent = new OpenAiAgent({ baseUrl: model.openaiBaseUrl, apiKey: null, model: 'm' });
  });
  afterEach(() => model.reset());
  afterAll(async () => {
    await agent.close();
    await model.close();
  });

  const fast = { backoffMs: 5 };

  it('answers on the first try when the model answers', async () => {
    expect(await callAgent(agent, agentInput(), fast)).toEqual({ reply: 'echo: hello', handoff: false });
    expect(model.count).toBe(1);
  });

  it('times out each attempt, tries 3 times in all, then fails with agent_timeout', async () => {
    model.setMode('hang');
    const err = await callAgent(agent, agentInput({ config: { timeoutMs: 300 } }), fast).catch((e) => e);
    expect(err).toBeInstanceOf(AgentError);
    expect(err).toMatchObject({ code: 'agent_timeout', retryable: true });
    expect(model.count).toBe(3);
    // Each timed-out attempt's request was aborted, not left open.
    await expect.poll(() => model.inflight).toBe(0);
  });

  it('succeeds when a 500 is followed by an answer', async () => {
    model.script(500);
    expect(await callAgent(agent, agentInput(), fast)).toEqual({ reply: 'echo: hello', handoff: false });
    expect(model.count).toBe(2);
  });

  it('retries a garbage body and a 429', async () => {
    model.script('garbage', 429);
    expect(await callAgent(agent, agentInput(), fast)).toEqual({ reply: 'echo: hello', handoff: false });
    expect(model.count).toBe(3);
  });

  it('throws the last error after the last attempt', async () => {
    model.script('garbage', 503, 500);
    await expect(callAgent(agent, agentInput(), fast)).rejects.toMatchObject({ code: 'agent_http_500', retryable: true });
    expect(model.count).toBe(3);
  });

  it('does not retry a non-retryable error', async () => {
    model.script(401);
    await expect(callAgent(agent, agentInput(), fast)).rejects.toMatchObject({ code: 'agent_http_401', retryable: false });
    expect(model.count).toBe(1);
  });

  it('honours the attempts option', async () => {
    model.setMode(500);
    await expect(callAgent(agent, agentInput(), { attempts: 5, backoffMs: 1 })).rejects.toMatchObject({ code: 'agent_http_500' });
    expect(model.count).toBe(5);
  });

  it("stops at once without retrying when the turn's own signal aborts during a call", async () => {
    model.setMode('hang');
    const ac = new AbortController();
    const p = callAgent(agent, agentInput({ signal: ac.signal, config: { timeoutMs: 60_000 } }), fast);
    await expect.poll(() => model.inflight).toBe(1);
    ac.abort(new Error('restart'));
    const err = await p.catch((e) => e);
    expect(err).toBeInstanceOf(AgentAbortedError);
    expect(err.name).toBe('AbortError');
    expect(err.cause).toEqual(new Error('restart'));
    expect(model.count).toBe(1);
    await expect.poll(() => model.inflight).toBe(0);
  });

  it('stops during the pause between attempts when the turn aborts', async () => {
    model.setMode(500);
    const ac = new AbortController();
    const p = callAgent(agent, agentInput({ signal: ac.signal }), { backoffMs: 60_000 });
    await expect.poll(() => model.count).toBe(1);
    ac.abort();
    await expect(p).rejects.toMatchObject({ name: 'AbortError', code: 'agent_aborted' });
    expect(model.count).toBe(1);
  });

  it('does not call the agent when the turn is already aborted', async () => {
    const ac = new AbortController();
    ac.abort();
    await expect(callAgent(agent, agentInput({ signal: ac.signal }), fast)).rejects.toMatchObject({ name: 'AbortError' });
    expect(model.count).toBe(0);
  });

  it('ends an attempt on time even when a provider ignores its signal', async () => {
    let calls = 0;
    const deaf: Agent = {
      run: () => {
        calls++;
        return new Promise(() => {});
      },
    };
    await expect(callAgent(deaf, agentInput({ config: { timeoutMs: 100 } }), { attempts: 2, backoffMs: 1 })).rejects.toMatchObject({
      code: 'agent_timeout',
    });
    expect(calls).toBe(2);
  });

  it('turns anything else a provider throws into a non-retryable agent_error', async () => {
    let calls = 0;
    const broken: Agent = {
      run: async () => {
        calls++;
        throw new TypeError('boom');
      },
    };
    const err = await callAgent(broken, agentInput(), fast).catch((e) => e);
    expect(err).toBeInstanceOf(AgentError);
    expect(err).toMatchObject({ code: 'agent_error', retryable: false });
    expect(err.cause).toBeInstanceOf(TypeError);
    expect(calls).toBe(1);
  });

  it('refuses nonsense options', async () => {
    await expect(callAgent(agent, agentInput(), { attempts: 0 })).rejects.toBeInstanceOf(RangeError);
    await expect(callAgent(agent, agentInput(), { timeoutMs: 0 })).rejects.toBeInstanceOf(RangeError);
    expect(model.count).toBe(0);
  });
});
