import { describe, expect, it } from 'vitest';
import {
  DEMO_HANDOFF_REPLY,
  DEMO_HELP_REPLY,
  DEMO_HOURS_REPLY,
  DEMO_PRICE_REPLY,
  DEMO_ORDER_TOOL,
  DEMO_BUTTONS,
  DemoAgent,
  firstSentence,
} from '../../src/agent/demo.ts';
import type { ToolSession } from '../../src/agent/types.ts';
import { agentInput, user } from './agentInput.ts';

const demo = new DemoAgent();
const ask = (turn: string[], systemPrompt = 'You are Ava from Acme Bikes. Be brief.') =>
  demo.run(agentInput({ config: { provider: 'demo', systemPrompt }, turn: turn.map(user) }));

describe('demo agent', () => {
  it.each(['hi', 'Hello!', 'hola', 'Good morning', 'hey there'])('greets %j quoting the first sentence of the system prompt', async (text) => {
    const out = await ask([text]);
    expect(out.handoff).toBe(false);
    expect(out.reply).toContain('You are Ava from Acme Bikes.');
    expect(out.reply).not.toContain('Be brief.');
    expect(out.reply).not.toContain('You said');
  });

  it('changes its greeting when the system prompt changes', async () => {
    const a = await ask(['hi'], 'You are Ava from Acme Bikes. Be brief.');
    const b = await ask(['hi'], 'You are Max, the concierge of Hotel Sol! Speak formally.');
    expect(b.reply).toContain('You are Max, the concierge of Hotel Sol!');
    expect(b.reply).not.toBe(a.reply);
  });

  it('greets without a quote when the system prompt is empty', async () => {
    const out = await ask(['hello'], '');
    expect(out.reply).toMatch(/^Hello!/);
    expect(out.reply).not.toContain('"');
  });

  it('offers its topics as buttons with a greeting or help, and a tapped button answers its topic', async () => {
    expect((await ask(['hello'])).choice).toEqual({ kind: 'buttons', buttons: [...DEMO_BUTTONS] });
    expect((await ask(['help'])).choice).toEqual({ kind: 'buttons', buttons: [...DEMO_BUTTONS] });
    expect((await ask(['price?'])).choice).toBeUndefined();
    expect(await ask(['[choice hours] Opening hours'])).toEqual({ reply: DEMO_HOURS_REPLY, handoff: false });
    expect(await ask(['[choice prices] Prices'])).toEqual({ reply: DEMO_PRICE_REPLY, handoff: false });
    expect(await ask(['[choice human] Talk to a person'])).toEqual({ reply: DEMO_HANDOFF_REPLY, handoff: true });
  });

  it('is deterministic', async () => {
    const turn = ['hi', 'what are your opening hours?', '[image] my bike', 'something else'];
    const first = await ask(turn);
    for (let i = 0; i < 5; i++) expect(await ask(turn)).toEqual(first);
  });

  it('answers keywords', async () => {
    expect((await ask(['What are your opening hours?'])).reply).toBe(DEMO_HOURS_REPLY);
    expect((await ask(['how much is it?'])).reply).toBe(DEMO_PRICE_REPLY);
    expect((await ask(['pricing please'])).reply).toBe(DEMO_PRICE_REPLY);
    expect((await ask(['help'])).reply).toBe(DEMO_HELP_REPLY);
  });

  it.each(['I want to talk to a human', 'can I speak with an agent', 'a real person please'])('hands off on %j', async (text) => {
    expect(await ask(['hi', text])).toEqual({ reply: DEMO_HANDOFF_REPLY, handoff: true });
  });

  it('thanks for media, with the caption', async () => {
    expect((await ask(['[image] my broken chain'])).reply).toMatch(/^Thanks for the image \("my broken chain"\)/);
    expect((await ask(['[audio]'])).reply).toMatch(/^Thanks for the audio message\./);
    expect((await ask(['[document invoice.pdf] March'])).reply).toMatch(/^Thanks for the document \("March"\)/);
    // Media never hands off, even when the caption says "agent".
    expect((await ask(['[image] for the agent'])).handoff).toBe(false);
  });

  it('echoes anything else', async () => {
    expect(await ask(['I need a new saddle'])).toEqual({ reply: 'You said: "I need a new saddle"', handoff: false });
    const greeted = (await ask(['Hello there, I need a new saddle'])).reply!.split('\n');
    expect(greeted).toHaveLength(2);
    expect(greeted[0]).toContain('You are Ava from Acme Bikes.');
    expect(greeted[1]).toBe('You said: "Hello there, I need a new saddle"');
  });

  it('answers every message of a turn in one reply, in order, greeting once first', async () => {
    const out = await ask(['hello', 'I need a new saddle', '[image] this one', 'price?', 'hi']);
    const lines = out.reply!.split('\n');
    expect(lines).toHaveLength(4);
    expect(lines[0]).toContain('You are Ava from Acme Bikes.');
    expect(lines[1]).toBe('You said: "I need a new saddle"');
    expect(lines[2]).toMatch(/^Thanks for the image/);
    expect(lines[3]).toBe(DEMO_PRICE_REPLY);
  });

  it('answers nothing to an empty turn and honours an aborted signal', async () => {
    expect(await ask([])).toEqual({ reply: null, handoff: false });
    const ac = new AbortController();
    ac.abort();
    await expect(demo.run(agentInput({ signal: ac.signal }))).rejects.toMatchObject({ name: 'AbortError' });
  });
});

describe('firstSentence', () => {
  it.each([
    ['You are Ava from Acme Bikes. Be brief.', 'You are Ava from Acme Bikes.'],
    ['Hi! I am a bot.', 'Hi!'],
    ['Version 2.5 is here. Next.', 'Version 2.5 is here.'],
    ['No full stop at all', 'No full stop at all'],
    ['First line\nSecond line.', 'First line'],
    ['  ', ''],
  ])('%j → %j', (prompt, sentence) => {
    expect(firstSentence(prompt)).toBe(sentence);
  });

  it('cuts a very long first sentence', () => {
    const s = firstSentence('a'.repeat(500) + '.');
    expect(s).toHaveLength(201);
    expect(s.endsWith('…')).toBe(true);
  });

  it('says what it really received of media, and never makes up a transcript', async () => {
    expect((await ask(['[audio, 0:07, 9 KB] transcript: where is my parcel'])).reply).toBe('Thanks for the audio message. I received 0:07, 9 KB. I heard: "where is my parcel"');
    expect((await ask(['[audio, 9 KB]'])).reply).toBe('Thanks for the audio message. I received 9 KB. I have no transcript of it.');
    expect((await ask(['[document invoice.pdf, application/pdf, 13 KB, 3 pages] March\ntext: one two three four five six seven eight nine ten eleven twelve thirteen'])).reply).toBe(
      'Thanks for the document ("March"). I received invoice.pdf, application/pdf, 13 KB, 3 pages. It begins: "one two three four five six seven eight nine ten eleven twelve…"',
    );
    expect((await ask(['[image] my bike\nnot available: too_large'])).reply).toBe('Thanks for the image ("my bike"). I could not open it (too large), but a person can look into it.');
  });
});

describe('demo agent with the order_status tool', () => {
  /** A tool session that records the calls and answers `result`. */
  const tools = (result: string) => {
    const calls: { name: string; args: string }[] = [];
    const session: ToolSession = {
      definitions: [],
      has: (name) => name === DEMO_ORDER_TOOL,
      call: async (name, args) => {
        calls.push({ name, args });
        return result;
      },
    };
    return { calls, session };
  };
  const askWith = (turn: string[], session: ToolSession | null) => demo.run(agentInput({ config: { provider: 'demo' }, turn: turn.map(user), tools: session }));

  it('looks an order up with the tool and answers its status; the rest of the turn is answered as before', async () => {
    const t = tools('{"orderId":"1234","status":"shipped","eta":"tomorrow"}');
    const out = await askWith(['where is my order 1234?', 'what are your opening hours?'], t.session);
    expect(t.calls).toEqual([{ name: DEMO_ORDER_TOOL, args: '{"orderId":"1234"}' }]);
    expect(out).toEqual({ reply: `Order 1234: shipped, expected tomorrow.\n${DEMO_HOURS_REPLY}`, handoff: false });
  });

  it('a greeting in the same turn keeps its buttons beside the order status', async () => {
    const out = await askWith(['hello', 'where is my order 1234?'], tools('{"orderId":"1234","status":"shipped"}').session);
    expect(out.reply).toMatch(/^Order 1234: shipped\.\n/);
    expect(out.choice).toEqual({ kind: 'buttons', buttons: DEMO_BUTTONS.map((b) => ({ ...b })) });
  });

  it('says it could not look the order up when the tool failed', async () => {
    const out = await askWith(['order #98765'], tools('{"error":"the tool answered HTTP 500"}').session);
    expect(out.reply).toBe('I could not look up order 98765 right now; a person can check it for you.');
  });

  it('without the tool, an order question is echoed as any other text', async () => {
    expect((await askWith(['where is my order 1234?'], null)).reply).toBe('You said: "where is my order 1234?"');
  });
});
