import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { OpenAiAgent } from '../../src/agent/openai.ts';
import type { ToolSession } from '../../src/agent/types.ts';
import { startFakeModel, type FakeModel } from '../../bench/fakeModel.ts';
import { agentInput, user } from './agentInput.ts';

/** A session with the tools `names` that answers `result:<name>:<arguments>` and records the calls. */
function session(...names: string[]): ToolSession & { calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    definitions: names.map((name) => ({ type: 'function', function: { name, description: `the ${name} tool`, parameters: { type: 'object' } } })),
    has: (name) => names.includes(name),
    call: async (name, args) => {
      calls.push(`${name}:${args}`);
      return `result:${name}:${args}`;
    },
  };
}

describe('openai provider: tool rounds', () => {
  let model: FakeModel;
  let agent: OpenAiAgent;
  beforeAll(async () => {
    model = await startFakeModel();
    agent = new OpenAiAgent({ baseUrl: model.openaiBaseUrl, apiKey: 'sk-process', model: 'gpt-default' });
  });
  afterEach(() => model.reset());
  afterAll(async () => {
    await agent.close();
    await model.close();
  });

  const run = (tools: ToolSession | null, maxToolRounds = 3) => agent.run(agentInput({ config: { maxToolRounds }, turn: [user('where is 1234?')], tools }));

  it('runs several calls of one answer in order, each answered by its own tool message, and uses the results', async () => {
    const s = session('a', 'b');
    model.script({ kind: 'tool_calls', calls: [{ name: 'a', arguments: { x: 1 } }, { name: 'b', arguments: '{"y":2}' }] }, { kind: 'tool_echo' });
    expect(await run(s)).toEqual({ reply: 'tool: result:b:{"y":2}', handoff: false });
    expect(s.calls).toEqual(['a:{"x":1}', 'b:{"y":2}']);
    const second = model.requests[1].body.messages;
    expect(second.slice(-3).map((m: any) => m.role)).toEqual(['assistant', 'tool', 'tool']);
    expect(second.at(-2)).toEqual({ role: 'tool', tool_call_id: second.at(-3).tool_calls[0].id, content: 'result:a:{"x":1}' });
    expect(second.at(-1).tool_call_id).toBe(second.at(-3).tool_calls[1].id);
  });

  it('a handoff among the calls is a handoff: no tool is called', async () => {
    const s = session('a');
    model.script({ kind: 'tool_calls', calls: [{ name: 'a', arguments: {} }, { name: 'handoff_to_human', arguments: {} }] });
    expect(await run(s)).toEqual({ reply: null, handoff: true });
    expect(s.calls).toEqual([]);
    expect(model.requests).toHaveLength(1);
  });

  it('a call to a name the tenant has no tool for ends the rounds: nothing is called', async () => {
    const s = session('a');
    model.script({ kind: 'tool_calls', calls: [{ name: 'a', arguments: {} }, { name: 'reply_with_buttons', arguments: {} }] });
    expect(await run(s)).toEqual({ reply: null, handoff: false });
    expect(s.calls).toEqual([]);
  });

  it('without tools, or with maxToolRounds 0, only the agent\'s own tools are offered (handoff and the reply tools)', async () => {
    for (const [tools, rounds] of [[null, 3], [session('a'), 0]] as const) {
      model.reset();
      await run(tools, rounds);
      expect(model.requests[0].body.tools.map((t: any) => t.function.name)).toEqual(['handoff_to_human', 'reply_with_buttons', 'reply_with_list', 'reply_with_media']);
    }
  });

  it('an image turn keeps its content parts in every round, the rounds after them; a reply tool answers the last round', async () => {
    const s = session('a');
    const image = 'data:image/jpeg;base64,AAAA';
    model.script(
      { kind: 'tool_calls', calls: [{ name: 'a', arguments: { q: 1 } }] },
      { kind: 'tool_calls', calls: [{ name: 'reply_with_buttons', arguments: { text: 'Which size?', buttons: [{ id: 's', title: 'Small' }, { id: 'l', title: 'Large' }] } }] },
    );
    const out = await agent.run(agentInput({ config: { maxToolRounds: 3 }, turn: [user('hi'), { role: 'user', content: '[image] this one?', images: [image] }], tools: s }));
    expect(out).toEqual({ reply: 'Which size?', handoff: false, choice: { kind: 'buttons', buttons: [{ id: 's', title: 'Small' }, { id: 'l', title: 'Large' }] } });
    expect(s.calls).toEqual(['a:{"q":1}']);
    const second = model.requests[1].body.messages;
    expect(second.slice(-4).map((m: any) => m.role)).toEqual(['user', 'user', 'assistant', 'tool']);
    expect(second.at(-3).content).toEqual([{ type: 'text', text: '[image] this one?' }, { type: 'image_url', image_url: { url: image, detail: 'auto' } }]);
    // The tenant tool is still offered beside the agent's own in the second round.
    expect(model.requests[1].body.tools.map((t: any) => t.function.name)).toEqual(['handoff_to_human', 'reply_with_buttons', 'reply_with_list', 'reply_with_media', 'a']);
  });

  it('a turn aborted while its tools run asks the model nothing more', async () => {
    const controller = new AbortController();
    const s: ToolSession = { ...session('a'), call: async () => { controller.abort(new Error('restart')); return 'late'; } };
    model.script({ kind: 'tool_calls', calls: [{ name: 'a', arguments: {} }] }, { kind: 'tool_echo' });
    await expect(agent.run(agentInput({ turn: [user('x')], tools: s, signal: controller.signal }))).rejects.toThrow('restart');
    expect(model.requests).toHaveLength(1);
  });
});
