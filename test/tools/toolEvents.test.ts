import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, provisionTenant } from '../support/gateway.ts';
import { eventually, startPipeline, type PipelineHarness } from '../support/pipeline.ts';
import { Customers, newWaId } from '../conversation/customers.ts';
import { startReceiver } from '../events/receiver.ts';
import { ToolServer } from './toolServer.ts';

const TOOL_SECRET = 'tool-secret-0123';
const EVENT_SECRET = 'receiver-secret-0123456789';
const orderSchema = { type: 'object', properties: { orderId: { type: 'string', pattern: '^[0-9]+$' } }, required: ['orderId'], additionalProperties: false };
const call = (orderId: unknown) => ({ kind: 'tool_calls' as const, calls: [{ name: 'order_status', arguments: { orderId } }] });

describe('tool.called events', () => {
  let h: PipelineHarness;
  let tool: ToolServer;
  let rx: Awaited<ReturnType<typeof startReceiver>>;
  beforeAll(async () => {
    tool = await ToolServer.start(TOOL_SECRET);
    rx = await startReceiver(EVENT_SECRET);
    h = await startPipeline({ env: { WAGATE_EGRESS_ALLOW: `${tool.host},${rx.host}` }, pipeline: { events: { pollIntervalMs: 200 } } });
  });
  afterAll(async () => {
    await h?.close();
    await rx?.close();
    await tool?.close();
  });

  it('a call made and a call refused for its arguments are each one signed event, in order with the answer that used them', async () => {
    const t = await provisionTenant(h.gw, { agent: { provider: 'openai' } });
    expect((await api(h.gw, 'POST', '/api/tools', { name: 'order_status', description: 'Looks up an order', parameters: orderSchema, url: tool.url + '/order', secret: TOOL_SECRET }, t.key)).status).toBe(201);
    expect((await api(h.gw, 'POST', '/api/event-subscriptions', { url: rx.url, secret: EVENT_SECRET, events: ['tool.called', 'message.sent'] }, t.key)).status).toBe(201);
    const customers = new Customers(h.gw.url, t.phoneNumberId);
    const wa = newWaId();
    // First a call with bad arguments (refused, the endpoint never called), then a good one, then the answer.
    h.model.script(call('12x'), call('1234'), { kind: 'tool_echo' });
    await customers.say(wa, 'where is my order 1234?');
    const mine = () => rx.received.filter((e) => e.tenantId === t.tenant.id);
    await eventually(() => mine().some((e) => e.type === 'message.sent'), 20_000, 'the answer sent');
    const events = mine();
    expect(events.map((e) => e.type)).toEqual(['tool.called', 'tool.called', 'message.sent']);
    expect(events.every((e) => e.signed)).toBe(true);
    const [refused, made] = events;
    expect(refused).toMatchObject({ messageId: null, data: { toolCall: { name: 'order_status', arguments: { orderId: '12x' }, status: 'invalid_arguments' } } });
    expect(made).toMatchObject({ data: { toolCall: { name: 'order_status', arguments: { orderId: '1234' }, status: 'ok', durationMs: expect.any(Number) } } });
    expect(made.data.toolCall.excerpt).toContain('1234');
    expect(made.conversationId).toBe(events[2].conversationId);
    expect(tool.requests.filter((r) => r.body.arguments.orderId === '1234')).toHaveLength(1);
  });
});
