import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { provisionTenant } from '../support/gateway.ts';
import { eventually, type PipelineHarness } from '../support/pipeline.ts';
import { ConversationRows } from './conversationRows.ts';
import { Customers, newWaId, SendLog } from './customers.ts';
import { closeConversationTest, openConversationTest } from './harness.ts';

describe('conversations are keyed by tenant × channel × contact', () => {
  let h: PipelineHarness;
  let rows: ConversationRows;
  let sends: SendLog;
  beforeAll(async () => {
    ({ h, rows, sends } = await openConversationTest());
  });
  afterAll(() => closeConversationTest({ h, rows, sends }));

  it("the same customer writing to two tenants: two conversations, each agent call sees only its own tenant's history, each answer goes out through its own number and token", async () => {
    const a = await provisionTenant(h.gw, { name: 'A', agent: { provider: 'openai', systemPrompt: 'You are A.' } });
    const b = await provisionTenant(h.gw, { name: 'B', agent: { provider: 'openai', systemPrompt: 'You are B.' } });
    const wa = newWaId();
    const toA = new Customers(h.gw.url, a.phoneNumberId);
    const toB = new Customers(h.gw.url, b.phoneNumberId);
    await toA.say(wa, 'my order number for A is 4711');
    await eventually(() => sends.to(wa).length === 1, 10_000, "A's answer");
    const before = h.model.requests.length;
    await toB.say(wa, 'hello B');
    await eventually(() => sends.to(wa).length === 2, 10_000, "B's answer");
    await toA.say(wa, 'and again A');
    await eventually(() => sends.to(wa).length === 3, 10_000, "A's second answer");

    const [callB, callA2] = h.model.requests.slice(before);
    expect(callB.body.messages).toEqual([
      { role: 'system', content: 'You are B.' },
      { role: 'user', content: 'hello B' },
    ]);
    expect(callA2.body.messages).toEqual([
      { role: 'system', content: 'You are A.' },
      { role: 'user', content: 'my order number for A is 4711' },
      { role: 'assistant', content: 'echo: my order number for A is 4711' },
      { role: 'user', content: 'and again A' },
    ]);
    const texts = h.cloud.requests().filter((r) => (r.body as any)?.type === 'text' && (r.body as any)?.to === wa);
    expect(texts.map((r) => [r.phoneNumberId, r.headers.authorization, (r.body as any).text.body])).toEqual([
      [a.phoneNumberId, `Bearer token-${a.phoneNumberId}`, 'echo: my order number for A is 4711'],
      [b.phoneNumberId, `Bearer token-${b.phoneNumberId}`, 'echo: hello B'],
      [a.phoneNumberId, `Bearer token-${a.phoneNumberId}`, 'echo: and again A'],
    ]);
    const convs = await rows.query<{ tenant_id: string; n: number }>(
      `SELECT c.tenant_id, count(m.*)::int AS n FROM conversations c JOIN contacts k ON k.id = c.contact_id
       JOIN messages m ON m.conversation_id = c.id WHERE k.wa_id = $1 GROUP BY c.tenant_id ORDER BY c.tenant_id`,
      [wa],
    );
    expect(convs).toEqual([
      { tenant_id: a.tenant.id, n: 4 },
      { tenant_id: b.tenant.id, n: 2 },
    ]);
  });

  it('pausing the conversation with one tenant leaves the same customer\'s conversation with another tenant running', async () => {
    const a = await provisionTenant(h.gw, { agent: { provider: 'openai', handoffKeywords: ['human'] } });
    const b = await provisionTenant(h.gw, { agent: { provider: 'openai' } });
    const wa = newWaId();
    await new Customers(h.gw.url, a.phoneNumberId).say(wa, 'human please');
    await eventually(async () => (await rows.query(`SELECT 1 FROM conversations c JOIN contacts k ON k.id = c.contact_id WHERE k.wa_id = $1 AND c.paused`, [wa])).length === 1);
    await new Customers(h.gw.url, b.phoneNumberId).say(wa, 'hi B');
    await eventually(() => sends.to(wa).includes('echo: hi B'), 10_000, "B's answer");
  });
});
