import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAgentDispatcher } from '../../src/agent/postJson.ts';
import { ToolCaller } from '../../src/agent/tools/toolCaller.ts';
import { EgressPolicy } from '../../src/shared/egress.ts';
import { toTenantTools } from '../../src/tenancy/tools.ts';
import { sqlClient } from '../support/db.ts';
import { api, provisionTenant, startTestGateway, TEST_SECRET_KEY, type TestGateway } from '../support/gateway.ts';
import { newWaId } from '../conversation/customers.ts';
import { postWebhook, textNotification } from '../support/webhooks.ts';

/** Tool calls hold what customers and tools said: they go with the contact, the tenant, and the retention period. */
describe('recorded tool calls are removed with what they are about', () => {
  let gw: TestGateway;
  const dispatcher = createAgentDispatcher({ egress: new EgressPolicy() });
  const never = new AbortController().signal;
  beforeAll(async () => {
    gw = await startTestGateway();
  });
  afterAll(async () => {
    await dispatcher.close();
    await gw?.stop();
  });

  const count = async (where: string, params: unknown[]) => {
    const c = await sqlClient(gw.dbUrl);
    try {
      return (await c.query(`SELECT count(*)::int AS n FROM tool_calls WHERE ${where}`, params)).rows[0].n as number;
    } finally {
      await c.end();
    }
  };

  /** A tenant with one customer message and `n` recorded calls (refused arguments: no endpoint needed). */
  async function withCalls(n: number) {
    const t = await provisionTenant(gw);
    const wa = newWaId();
    expect((await postWebhook(gw.url, textNotification(t.phoneNumberId, wa, 'hello').body)).status).toBe(200);
    const c = await sqlClient(gw.dbUrl);
    let m: { id: string; conversation_id: string; contact_id: string };
    try {
      [m] = (await c.query(`SELECT m.id::text, m.conversation_id::text, v.contact_id::text FROM messages m JOIN conversations v ON v.id = m.conversation_id WHERE m.tenant_id = $1`, [t.tenant.id])).rows;
    } finally {
      await c.end();
    }
    const tools = toTenantTools(
      [{ id: '1', name: 'lookup', description: '', parameters: { type: 'object', required: ['q'] }, url: 'https://8.8.8.8/', secret_enc: null, safe_to_repeat: false, timeout_ms: 1000 }],
      Buffer.from(TEST_SECRET_KEY, 'hex'),
    );
    const s = new ToolCaller(gw.db, () => dispatcher).session({ tenantId: t.tenant.id, conversationId: m.conversation_id, openedBy: m.id, turnId: randomUUID(), contact: { waId: wa, userId: null, name: null } }, tools)!;
    for (let i = 0; i < n; i++) await s.call('lookup', `{"wrong":${i}}`, never);
    expect(await count('tenant_id = $1', [t.tenant.id])).toBe(n);
    return { ...t, contactId: m.contact_id };
  }

  it('erasing the contact removes its tool calls', async () => {
    const t = await withCalls(2);
    const other = await withCalls(1);
    expect((await api(gw, 'DELETE', `/api/contacts/${t.contactId}`, undefined, t.key)).status).toBe(200);
    expect(await count('tenant_id = $1', [t.tenant.id])).toBe(0);
    expect(await count('tenant_id = $1', [other.tenant.id])).toBe(1);
  });

  it('retention removes tool calls older than the period', async () => {
    const t = await withCalls(3);
    const c = await sqlClient(gw.dbUrl);
    try {
      await c.query(`UPDATE tool_calls SET created_at = now() - interval '10 days' WHERE tenant_id = $1 AND id IN (SELECT min(id) FROM tool_calls WHERE tenant_id = $1)`, [t.tenant.id]);
    } finally {
      await c.end();
    }
    expect((await api(gw, 'PATCH', `/api/tenants/${t.tenant.id}`, { retentionDays: 7 }, t.key)).status).toBe(200);
    await gw.housekeeping.run();
    expect(await count('tenant_id = $1', [t.tenant.id])).toBe(2);
  });

  it('deleting the tenant removes its tool calls', async () => {
    const t = await withCalls(2);
    expect((await api(gw, 'DELETE', `/api/tenants/${t.tenant.id}`)).status).toBeLessThan(300);
    await gw.housekeeping.run();
    expect(await count('tenant_id = $1', [t.tenant.id])).toBe(0);
  });
});
