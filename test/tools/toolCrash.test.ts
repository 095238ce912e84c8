import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gateway } from '../../src/app/gateway.ts';
import { startCloudApiSimulator, type CloudApiSimulator } from '../../src/sandbox/cloudApiSimulator.ts';
import { startFakeModel, type FakeModel } from '../../bench/fakeModel.ts';
import { startGatewayChild, type GatewayChild } from '../support/crash.ts';
import { freshDatabase } from '../support/db.ts';
import { api, provisionTenant } from '../support/gateway.ts';
import { eventually } from '../support/pipeline.ts';
import { postWebhook, textNotification } from '../support/webhooks.ts';
import { ConversationRows } from '../conversation/conversationRows.ts';
import { newWaId, SendLog, settle } from '../conversation/customers.ts';
import { ToolServer } from './toolServer.ts';

const SECRET = 'crash-tool-secret';
const call = (orderId: string) => ({ kind: 'tool_calls' as const, calls: [{ name: 'order_status', arguments: { orderId } }] });

/**
 * A process killed with SIGKILL in the middle of a turn that called a tool:
 * the process that takes the conversation over answers the same messages and
 * does not call the tool again (docs/tools.md, "A call is not repeated").
 */
describe('a takeover after a crash does not repeat a tool call', () => {
  let dbUrl: string;
  let model: FakeModel;
  let cloud: CloudApiSimulator;
  let tool: ToolServer;
  let rows: ConversationRows;
  let sends: SendLog;
  const children: GatewayChild[] = [];

  beforeAll(async () => {
    dbUrl = await freshDatabase();
    model = await startFakeModel();
    cloud = await startCloudApiSimulator({ statusDelaysMs: null });
    tool = await ToolServer.start(SECRET);
    rows = await ConversationRows.open(dbUrl);
    sends = new SendLog(cloud);
  });
  afterAll(async () => {
    sends?.stop();
    for (const c of children) c.kill('SIGKILL');
    await Promise.all(children.map((c) => c.exited));
    await rows?.close();
    await tool?.close();
    await cloud?.close();
    await model?.close();
  });

  async function start(): Promise<GatewayChild> {
    const c = await startGatewayChild({
      dbUrl,
      whatsappApiUrl: cloud.url + '/v25.0',
      openaiBaseUrl: model.openaiBaseUrl,
      env: { WAGATE_EGRESS_ALLOW: tool.host, WAGATE_TEST_LEASE_SECONDS: '3', WAGATE_TEST_RENEW_MS: '500', WAGATE_TEST_SWEEP_MS: '200' },
    });
    children.push(c);
    return c;
  }
  async function kill(c: GatewayChild): Promise<void> {
    c.kill('SIGKILL');
    expect((await c.exited).signal).toBe('SIGKILL');
  }
  async function tenantOn(c: GatewayChild) {
    const t = await provisionTenant({ url: c.url } as Gateway, { agent: { provider: 'openai' } });
    const r = await api({ url: c.url } as Gateway, 'POST', '/api/tools', { name: 'order_status', parameters: { type: 'object', properties: { orderId: { type: 'string' } } }, url: tool.url + '/order', secret: SECRET }, t.key);
    expect(r.status).toBe(201);
    return t;
  }
  const calls = (wa: string) =>
    rows.query(`SELECT t.status, t.turn_id::text AS turn_id FROM tool_calls t JOIN conversations c ON c.id = t.conversation_id JOIN contacts k ON k.id = c.contact_id WHERE k.wa_id = $1`, [wa]);

  it('killed after the call was recorded: the new process reuses its result', async () => {
    const a = await start();
    const t = await tenantOn(a);
    const wa = newWaId();
    tool.requests.length = 0;
    model.reset();
    // A: the tool call, then a model call that never answers (A dies there). B: the same call, then the answer.
    model.script(call('900'), 'hang', call('900'), { kind: 'tool_echo' });
    expect((await postWebhook(a.url, textNotification(t.phoneNumberId, wa, 'where is order 900?').body)).status).toBe(200);
    await eventually(async () => (await calls(wa))[0]?.status === 'ok', 15_000, 'the call recorded');
    await eventually(() => model.requests.length === 2, 15_000, 'A asked the model again');
    await kill(a);
    const b = await start();
    await eventually(() => sends.to(wa).length === 1, 30_000, 'the answer from B');
    expect(sends.to(wa)).toEqual(['tool: {"ok":true,"echo":{"orderId":"900"}}']);
    expect(tool.requests).toHaveLength(1);
    const recorded = await calls(wa);
    expect(recorded).toHaveLength(1);
    expect(recorded[0].turn_id).toBe((await rows.outbound(wa))[0].turn_id);
    await kill(b);
  });

  it('killed while the call ran: the new process does not call again, and tells the model the result is unknown', async () => {
    const a = await start();
    const t = await tenantOn(a);
    const wa = newWaId();
    tool.requests.length = 0;
    model.reset();
    let release!: () => void;
    tool.hold = new Promise<void>((r) => (release = r));
    model.script(call('901'), call('901'), { kind: 'tool_echo' });
    try {
      expect((await postWebhook(a.url, textNotification(t.phoneNumberId, wa, 'and order 901?').body)).status).toBe(200);
      await eventually(() => tool.requests.length === 1, 15_000, 'the tool call');
      await kill(a);
    } finally {
      tool.hold = null;
      release();
    }
    await start();
    await eventually(() => sends.to(wa).length === 1, 30_000, 'the answer from B');
    expect(JSON.parse(sends.to(wa)[0].replace(/^tool: /, '')).error).toMatch(/interrupted.*not repeated/);
    await settle(300);
    expect(tool.requests).toHaveLength(1);
    expect(await calls(wa)).toHaveLength(1);
  });
});
