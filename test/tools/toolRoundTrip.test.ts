import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, provisionTenant } from '../support/gateway.ts';
import { eventually, type PipelineHarness } from '../support/pipeline.ts';
import { ConversationRows } from '../conversation/conversationRows.ts';
import { Customers, newWaId, SendLog, settle } from '../conversation/customers.ts';
import { closeConversationTest, openConversationTest } from '../conversation/harness.ts';
import { ToolServer } from './toolServer.ts';

/** The agent's own tools, offered before the tenant's. */
const OWN = ['handoff_to_human', 'reply_with_buttons', 'reply_with_list', 'reply_with_media'];

const SECRET = 'tool-secret-0123';
const orderSchema = { type: 'object', properties: { orderId: { type: 'string', pattern: '^[0-9]+$' } }, required: ['orderId'], additionalProperties: false };
const call = (orderId: unknown) => ({ kind: 'tool_calls' as const, calls: [{ name: 'order_status', arguments: { orderId } }] });

describe('tool calls of the openai agent', () => {
  let h: PipelineHarness;
  let rows: ConversationRows;
  let sends: SendLog;
  let tool: ToolServer;
  beforeAll(async () => {
    tool = await ToolServer.start(SECRET);
    ({ h, rows, sends } = await openConversationTest({ env: { WAGATE_EGRESS_ALLOW: tool.host } }));
  });
  afterAll(async () => {
    await closeConversationTest({ h, rows, sends });
    await tool?.close();
  });

  /** A tenant on the fake model with the order_status tool; returns a customer to write with. */
  async function tenantWithTool(agent: Record<string, unknown> = {}, toolFields: Record<string, unknown> = {}) {
    // Each test scripts its own answers: none left over from the one before.
    h.model.reset();
    const t = await provisionTenant(h.gw, { agent: { provider: 'openai', ...agent } });
    const r = await api(h.gw, 'POST', '/api/tools', { name: 'order_status', description: 'Looks up an order', parameters: orderSchema, url: tool.url + '/order', secret: SECRET, ...toolFields }, t.key);
    expect(r.status).toBe(201);
    return { ...t, customers: new Customers(h.gw.url, t.phoneNumberId), wa: newWaId() };
  }

  const toolCalls = (wa: string) =>
    rows.query(
      `SELECT t.name, t.status, t.arguments, t.turn_id::text AS turn_id, t.result_excerpt FROM tool_calls t
       JOIN conversations c ON c.id = t.conversation_id JOIN contacts k ON k.id = c.contact_id WHERE k.wa_id = $1 ORDER BY t.id`,
      [wa],
    );

  it('calls the tool signed, gives its result to the model, and the answer that used it shows the call', async () => {
    const { customers, wa, key, tenant } = await tenantWithTool();
    tool.requests.length = 0;
    const before = h.model.requests.length;
    h.model.script(call('1234'), { kind: 'tool_echo' });
    await customers.say(wa, 'where is my order 1234?');
    await eventually(() => sends.to(wa).length === 1, 15_000, 'the answer');
    expect(sends.to(wa)).toEqual(['tool: {"ok":true,"echo":{"orderId":"1234"}}']);
    // The endpoint got one signed call with the tool, its arguments and who asks.
    expect(tool.requests).toHaveLength(1);
    const req = tool.requests[0];
    expect(req.signed).toBe(true);
    expect(req.body).toMatchObject({ tool: 'order_status', arguments: { orderId: '1234' }, tenantId: tenant.id, contact: { waId: wa } });
    expect(req.body.conversationId).toEqual(expect.any(String));
    // The model was offered the tool, then given its result after its own call.
    const calls = h.model.requests.slice(before);
    expect(calls).toHaveLength(2);
    expect(calls[0].body.tools.map((t: any) => t.function.name)).toEqual([...OWN, 'order_status']);
    expect(calls[0].body.tools.find((t: any) => t.function.name === 'order_status').function.parameters).toEqual(orderSchema);
    const msgs = calls[1].body.messages;
    expect(msgs.at(-2)).toMatchObject({ role: 'assistant', tool_calls: [{ type: 'function', function: { name: 'order_status', arguments: '{"orderId":"1234"}' } }] });
    expect(msgs.at(-1)).toMatchObject({ role: 'tool', tool_call_id: msgs.at(-2).tool_calls[0].id, content: '{"ok":true,"echo":{"orderId":"1234"}}' });
    // Recorded with the reply's turn, and shown under the reply in the API.
    const out = await rows.outbound(wa);
    const recorded = await toolCalls(wa);
    expect(recorded).toMatchObject([{ name: 'order_status', status: 'ok', arguments: { orderId: '1234' }, turn_id: out[0].turn_id }]);
    const conv = await rows.conversation(wa);
    const page = await api(h.gw, 'GET', `/api/conversations/${conv!.id}/messages`, undefined, key);
    expect(page.status).toBe(200);
    const reply = page.body.items.find((m: any) => m.direction === 'outbound');
    expect(reply.toolCalls).toMatchObject([{ name: 'order_status', status: 'ok', arguments: { orderId: '1234' }, excerpt: '{"ok":true,"echo":{"orderId":"1234"}}' }]);
    expect(reply.toolCalls[0].durationMs).toEqual(expect.any(Number));
    expect(page.body.items.find((m: any) => m.direction === 'inbound').toolCalls).toEqual([]);
  });

  it('arguments that do not fit the schema: the endpoint is not called, the model is told why', async () => {
    const { customers, wa } = await tenantWithTool();
    tool.requests.length = 0;
    h.model.script(call(1234), { kind: 'tool_echo' });
    await customers.say(wa, 'order 1234?');
    await eventually(() => sends.to(wa).length === 1, 15_000, 'the answer');
    expect(tool.requests).toHaveLength(0);
    expect(sends.to(wa)[0]).toMatch(/^tool: \{"error":"invalid arguments: arguments\/orderId must be string.*not called/);
    expect(await toolCalls(wa)).toMatchObject([{ status: 'invalid_arguments', arguments: { orderId: 1234 } }]);
  });

  it('at most maxToolRounds rounds: the last request offers no tenant tool', async () => {
    const { customers, wa } = await tenantWithTool({ maxToolRounds: 2 });
    tool.requests.length = 0;
    const before = h.model.requests.length;
    h.model.script(call('111'), call('222'), { kind: 'reply', reply: 'final' });
    await customers.say(wa, 'two orders');
    await eventually(() => sends.to(wa).length === 1, 15_000, 'the answer');
    expect(sends.to(wa)).toEqual(['final']);
    expect(tool.requests.map((r) => r.body.arguments.orderId)).toEqual(['111', '222']);
    const calls = h.model.requests.slice(before);
    expect(calls.map((c) => c.body.tools.map((t: any) => t.function.name))).toEqual([
      [...OWN, 'order_status'],
      [...OWN, 'order_status'],
      OWN,
    ]);
  });

  it('maxToolRounds 0 and a disabled tool: nothing offered', async () => {
    const { customers, wa } = await tenantWithTool({ maxToolRounds: 0 });
    const before = h.model.requests.length;
    await customers.say(wa, 'hi');
    await eventually(() => sends.to(wa).length === 1, 15_000, 'the answer');
    expect(h.model.requests.slice(before)[0].body.tools.map((t: any) => t.function.name)).toEqual(OWN);
    const off = await tenantWithTool({}, { enabled: false });
    const before2 = h.model.requests.length;
    await off.customers.say(off.wa, 'hi');
    await eventually(() => sends.to(off.wa).length === 1, 15_000, 'the answer');
    expect(h.model.requests.slice(before2)[0].body.tools.map((t: any) => t.function.name)).toEqual(OWN);
  });

  it('a tool added, disabled or changed reaches the next turn (the cached settings are read again)', async () => {
    h.model.reset();
    const t = await provisionTenant(h.gw, { agent: { provider: 'openai' } });
    const customers = new Customers(h.gw.url, t.phoneNumberId);
    const wa = newWaId();
    const offered = async (text: string, n: number) => {
      const before = h.model.requests.length;
      await customers.say(wa, text);
      await eventually(() => sends.to(wa).length === n, 15_000, 'the answer');
      return h.model.requests.slice(before).at(-1)!.body.tools.map((x: any) => `${x.function.name}:${x.function.description}`);
    };
    expect((await offered('one', 1)).map((x: string) => x.split(':')[0])).toEqual(OWN);
    const r = await api(h.gw, 'POST', '/api/tools', { name: 'order_status', description: 'v1', parameters: orderSchema, url: tool.url + '/order', secret: SECRET }, t.key);
    expect(r.status).toBe(201);
    expect((await offered('two', 2)).slice(OWN.length)).toEqual(['order_status:v1']);
    expect((await api(h.gw, 'PATCH', `/api/tools/${r.body.id}`, { description: 'v2' }, t.key)).status).toBe(200);
    expect((await offered('three', 3)).slice(OWN.length)).toEqual(['order_status:v2']);
    expect((await api(h.gw, 'PATCH', `/api/tools/${r.body.id}`, { enabled: false }, t.key)).status).toBe(200);
    expect(await offered('four', 4)).toHaveLength(OWN.length);
  });

  it('a pause committed while a tool runs stops the reply; the call is still recorded', async () => {
    const { customers, wa, key } = await tenantWithTool();
    tool.requests.length = 0;
    let release!: () => void;
    tool.hold = new Promise<void>((r) => (release = r));
    try {
      h.model.script(call('555'));
      await customers.say(wa, 'order 555?');
      await eventually(() => tool.requests.length === 1, 15_000, 'the tool call');
      const conv = await rows.conversation(wa);
      expect((await api(h.gw, 'POST', `/api/conversations/${conv!.id}/pause`, {}, key)).status).toBe(200);
    } finally {
      tool.hold = null;
      release();
    }
    await eventually(async () => (await rows.dispositions(wa))[0] === 'paused', 15_000, 'the message settled as paused');
    await eventually(async () => (await toolCalls(wa))[0]?.status === 'ok', 15_000, 'the call recorded');
    await settle(300);
    expect(sends.to(wa)).toEqual([]);
    expect(await rows.outbound(wa)).toEqual([]);
  });

  it('a pause committed by another process while a tool runs (this one never hears of it): the reply commit refuses the reply', async () => {
    const { customers, wa } = await tenantWithTool();
    tool.requests.length = 0;
    let release!: () => void;
    tool.hold = new Promise<void>((r) => (release = r));
    try {
      h.model.script(call('556'), { kind: 'tool_echo' });
      await customers.say(wa, 'order 556?');
      await eventually(() => tool.requests.length === 1, 15_000, 'the tool call');
      // What a pause through another gateway process commits: the row only, no signal to this one.
      const conv = await rows.conversation(wa);
      await rows.query(`UPDATE conversations SET paused = true, paused_by = 'operator' WHERE id = $1`, [conv!.id]);
    } finally {
      tool.hold = null;
      release();
    }
    // The model was asked again with the tool's result, and answered; the commit found the pause.
    await eventually(async () => (await rows.dispositions(wa))[0] === 'paused', 15_000, 'the message settled as paused');
    expect(h.model.requests.at(-1)!.body.messages.at(-1)).toMatchObject({ role: 'tool' });
    await settle(300);
    expect(sends.to(wa)).toEqual([]);
    expect(await rows.outbound(wa)).toEqual([]);
    expect(await toolCalls(wa)).toMatchObject([{ status: 'ok' }]);
  });

  it('a newer message restarts the turn while the tool runs: the endpoint is called once, its result answers', async () => {
    const { customers, wa, tenant } = await tenantWithTool({ coalesce: 'restart' });
    tool.requests.length = 0;
    let release!: () => void;
    tool.hold = new Promise<void>((r) => (release = r));
    const before = h.model.requests.length;
    try {
      // The first turn calls the tool; the restarted turn asks for the same call, then answers with its result.
      h.model.script(call('777'), call('777'), { kind: 'tool_echo' });
      await customers.say(wa, 'order 777?');
      await eventually(() => tool.requests.length === 1, 15_000, 'the tool call');
      await customers.say(wa, 'any news?');
      await eventually(() => h.model.requests.length - before >= 2, 15_000, 'the restarted turn asked the model');
    } finally {
      tool.hold = null;
      release();
    }
    await eventually(() => sends.to(wa).length === 1, 15_000, 'the answer');
    await eventually(() => rows.settled(wa), 15_000, 'settled');
    expect(sends.to(wa)).toEqual(['tool: {"ok":true,"echo":{"orderId":"777"}}']);
    expect(tool.requests).toHaveLength(1);
    expect(await rows.dispositions(wa)).toEqual(['coalesced', 'answered']);
    const out = await rows.outbound(wa);
    expect(await toolCalls(wa)).toMatchObject([{ status: 'ok', turn_id: out[0].turn_id }]);
    await settle(300);
    expect(tool.requests).toHaveLength(1);
    // The metrics count one call made and one answered from it.
    const scrape = await h.gw.metrics.scrape();
    const count = (status: string) => Number(scrape.split('\n').find((l) => l.startsWith(`wagate_tool_calls_total{tenant="${tenant.id}",status="${status}"}`))?.split(' ').at(-1));
    expect([count('ok'), count('reused')]).toEqual([1, 1]);
    expect(scrape).toMatch(/^wagate_tool_call_seconds_count\{status="ok"\} [1-9]/m);
  });
});
