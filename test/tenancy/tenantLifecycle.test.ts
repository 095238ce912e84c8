import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, provisionTenant } from '../support/gateway.ts';
import { eventually, type PipelineHarness } from '../support/pipeline.ts';
import { ConversationRows } from '../conversation/conversationRows.ts';
import { Customers, newWaId, SendLog, settle } from '../conversation/customers.ts';
import { closeConversationTest, openConversationTest } from '../conversation/harness.ts';

/** Every table with a tenant_id column but the audit log (which outlives a tenant by design): rows of `tenantId` in each. */
async function rowsOfTenant(rows: ConversationRows, tenantId: string): Promise<Record<string, number>> {
  const tables = await rows.query<{ table_name: string }>(
    `SELECT table_name FROM information_schema.columns WHERE table_schema = 'public' AND column_name = 'tenant_id' AND table_name <> 'audit_log' ORDER BY 1`,
  );
  const out: Record<string, number> = {};
  for (const { table_name } of tables) {
    const [r] = await rows.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table_name} WHERE tenant_id = $1`, [tenantId]);
    out[table_name] = r.n;
  }
  const [t] = await rows.query<{ n: number }>('SELECT count(*)::int AS n FROM tenants WHERE id = $1', [tenantId]);
  out.tenants = t.n;
  return out;
}

describe("a tenant's life: list, update, disable, enable, delete", () => {
  let h: PipelineHarness;
  let rows: ConversationRows;
  let sends: SendLog;
  beforeAll(async () => {
    // A batch of 7 rows, so that a deletion of a few dozen rows takes many batches.
    ({ h, rows, sends } = await openConversationTest({ pipeline: { housekeeping: { intervalMs: 60_000, batchSize: 7 } } }));
  });
  afterAll(() => closeConversationTest({ h, rows, sends }));

  const answered = (wa: string) => sends.to(wa).filter((b) => b.startsWith('echo: '));

  it('lists tenants with their usage, searches by name or id, filters by state and pages by cursor; admin only', async () => {
    const tag = 'Zeta' + Date.now();
    const made = [];
    for (let i = 0; i < 3; i++) made.push(await provisionTenant(h.gw, { name: `${tag} shop ${i}`, monthlyMessageLimit: 100, agent: { provider: 'openai' } }));
    const wa = newWaId();
    await new Customers(h.gw.url, made[0].phoneNumberId).say(wa, 'hello');
    await eventually(() => answered(wa).length === 1, 10_000, 'the answer');

    const first = await api(h.gw, 'GET', `/api/tenants?search=${tag}&limit=2`);
    expect(first.status).toBe(200);
    expect(first.body.items.map((t: any) => t.name)).toEqual([`${tag} shop 2`, `${tag} shop 1`]);
    expect(first.body.nextCursor).toEqual(expect.any(String));
    const second = await api(h.gw, 'GET', `/api/tenants?search=${tag}&limit=2&cursor=${first.body.nextCursor}`);
    expect(second.body.items).toHaveLength(1);
    expect(second.body.nextCursor).toBeNull();
    const month = new Date().toISOString().slice(0, 7);
    expect(second.body.items[0]).toEqual({
      id: made[0].tenant.id,
      name: `${tag} shop 0`,
      disabled: false,
      disabledAt: null,
      retentionDays: null,
      channels: 1,
      usage: { month, count: 1, limit: 100 },
      createdAt: expect.any(String),
    });
    expect((await api(h.gw, 'GET', `/api/tenants?search=${made[1].tenant.id}`)).body.items.map((t: any) => t.id)).toEqual([made[1].tenant.id]);
    // A search is text, not a pattern.
    expect((await api(h.gw, 'GET', `/api/tenants?search=${encodeURIComponent('%')}`)).body.items).toEqual([]);

    await api(h.gw, 'POST', `/api/tenants/${made[1].tenant.id}/disable`);
    const disabled = await api(h.gw, 'GET', `/api/tenants?search=${tag}&state=disabled`);
    expect(disabled.body.items.map((t: any) => t.id)).toEqual([made[1].tenant.id]);
    const active = await api(h.gw, 'GET', `/api/tenants?search=${tag}&state=active`);
    expect(active.body.items.map((t: any) => t.id)).toEqual([made[2].tenant.id, made[0].tenant.id]);

    const asTenant = await api(h.gw, 'GET', '/api/tenants', undefined, made[0].key);
    expect(asTenant.status).toBe(403);
    expect((await api(h.gw, 'GET', '/api/tenants?limit=0')).status).toBe(400);
  });

  it('PATCH renames (admin) and sets the retention period (admin or the tenant itself); a tenant key may not rename', async () => {
    const t = await provisionTenant(h.gw, { name: 'Old name' });
    const renamed = await api(h.gw, 'PATCH', `/api/tenants/${t.tenant.id}`, { name: 'New name', retentionDays: 30 });
    expect(renamed.status).toBe(200);
    expect(renamed.body).toMatchObject({ name: 'New name', retentionDays: 30, disabled: false });
    const own = await api(h.gw, 'PATCH', `/api/tenants/${t.tenant.id}`, { retentionDays: null }, t.key);
    expect(own.status).toBe(200);
    expect(own.body.retentionDays).toBeNull();
    expect((await api(h.gw, 'PATCH', `/api/tenants/${t.tenant.id}`, { name: 'Mine' }, t.key)).status).toBe(403);
    expect((await api(h.gw, 'PATCH', `/api/tenants/${t.tenant.id}`, { retentionDays: 0 })).status).toBe(400);
  });

  it('disabled: webhooks stored and acknowledged, disposition tenant_disabled, no agent call, keys refused with 403 tenant_disabled; enabled: answered again', async () => {
    const t = await provisionTenant(h.gw, { agent: { provider: 'openai' } });
    const customers = new Customers(h.gw.url, t.phoneNumberId);
    const wa = newWaId();
    await customers.say(wa, 'before');
    await eventually(() => answered(wa).length === 1, 10_000, 'the first answer');

    const off = await api(h.gw, 'POST', `/api/tenants/${t.tenant.id}/disable`);
    expect(off.status).toBe(200);
    expect(off.body).toMatchObject({ id: t.tenant.id, disabled: true, disabledAt: expect.any(String) });
    const calls = h.model.count;
    await customers.say(wa, 'while disabled 1');
    await customers.say(newWaId(), 'a new customer while disabled');
    await customers.say(wa, 'while disabled 2');
    expect(await rows.dispositions(wa)).toEqual(['answered', 'tenant_disabled', 'tenant_disabled']);
    await settle(300);
    expect(h.model.count).toBe(calls);
    expect(answered(wa)).toHaveLength(1);

    const refused = await api(h.gw, 'GET', '/api/conversations', undefined, t.key);
    expect(refused.status).toBe(403);
    expect(refused.body.error.code).toBe('tenant_disabled');
    // The admin still reads everything, and sees why nothing was answered.
    const conv = await api(h.gw, 'GET', `/api/conversations?tenantId=${t.tenant.id}&disposition=tenant_disabled`);
    expect(conv.status).toBe(200);
    expect(conv.body.items).toHaveLength(2);
    // Disabling twice changes nothing.
    expect((await api(h.gw, 'POST', `/api/tenants/${t.tenant.id}/disable`)).body.disabledAt).toBe(off.body.disabledAt);

    const on = await api(h.gw, 'POST', `/api/tenants/${t.tenant.id}/enable`);
    expect(on.status).toBe(200);
    expect(on.body).toMatchObject({ disabled: false, disabledAt: null });
    expect((await api(h.gw, 'GET', '/api/conversations', undefined, t.key)).status).toBe(200);
    await customers.say(wa, 'after');
    await eventually(() => answered(wa).length === 2, 10_000, 'the answer after enabling');
    expect(await rows.dispositions(wa)).toEqual(['answered', 'tenant_disabled', 'tenant_disabled', 'answered']);

    for (const path of ['disable', 'enable']) {
      expect((await api(h.gw, 'POST', `/api/tenants/${t.tenant.id}/${path}`, undefined, t.key)).status).toBe(403);
      expect((await api(h.gw, 'POST', `/api/tenants/999999/${path}`)).status).toBe(404);
    }
  });

  it('a turn already running when its tenant is disabled sends nothing: tenant_disabled', async () => {
    const t = await provisionTenant(h.gw, { agent: { provider: 'openai' } });
    const wa = newWaId();
    h.model.setLatency(1_000);
    try {
      const calls = h.model.count;
      await new Customers(h.gw.url, t.phoneNumberId).say(wa, 'slow question');
      await eventually(() => h.model.count > calls, 10_000, 'the agent call');
      expect((await api(h.gw, 'POST', `/api/tenants/${t.tenant.id}/disable`)).status).toBe(200);
      await eventually(() => rows.settled(wa), 15_000, 'the turn settled');
    } finally {
      h.model.setLatency(0);
    }
    expect(await rows.dispositions(wa)).toEqual(['tenant_disabled']);
    expect(sends.to(wa)).toEqual([]);
  });

  it('delete: 202, its number routes nothing from then on, its keys stop working, every row goes in batches while another tenant is answered', async () => {
    const doomed = await provisionTenant(h.gw, { agent: { provider: 'openai' } });
    const other = await provisionTenant(h.gw, { agent: { provider: 'openai' } });
    const customers = new Customers(h.gw.url, doomed.phoneNumberId);
    const was = Array.from({ length: 6 }, () => newWaId());
    for (const wa of was) for (let i = 0; i < 3; i++) await customers.say(wa, `message ${i}`);
    await eventually(async () => (await Promise.all(was.map((wa) => rows.settled(wa)))).every(Boolean), 15_000, 'the doomed tenant settled');
    const before = await rowsOfTenant(rows, doomed.tenant.id);
    // More rows than one batch in the big tables: the deletion takes several.
    expect(before.messages).toBeGreaterThan(14);

    const del = await api(h.gw, 'DELETE', `/api/tenants/${doomed.tenant.id}`);
    expect(del.status).toBe(202);
    expect(del.body).toEqual({ id: doomed.tenant.id, status: 'deleting' });
    expect((await api(h.gw, 'GET', '/api/usage', undefined, doomed.key)).status).toBe(401);
    expect((await api(h.gw, 'GET', `/api/tenants/${doomed.tenant.id}`)).status).toBe(404);

    // Meanwhile another tenant is answered as usual, and the doomed number is acknowledged but stores nothing.
    const wa = newWaId();
    await new Customers(h.gw.url, other.phoneNumberId).say(wa, 'still here?');
    await customers.say(newWaId(), 'too late');
    await eventually(() => answered(wa).length === 1, 10_000, "the other tenant's answer");

    await eventually(async () => Object.values(await rowsOfTenant(rows, doomed.tenant.id)).every((n) => n === 0), 15_000, 'every row gone');
    expect((await api(h.gw, 'GET', `/api/tenants?search=${doomed.tenant.id}`)).body.items).toEqual([]);
    expect((await api(h.gw, 'DELETE', `/api/tenants/${doomed.tenant.id}`)).status).toBe(404);
    // The record of the deletion stays.
    const audit = await api(h.gw, 'GET', `/api/audit?tenantId=${doomed.tenant.id}`);
    expect(audit.body.items[0]).toMatchObject({ action: 'tenant.deleted', actor: 'admin', via: 'api', target: { type: 'tenant', id: doomed.tenant.id } });
    // Its phone number id may be given to a new channel.
    const again = await provisionTenant(h.gw, { phoneNumberId: doomed.phoneNumberId });
    expect(again.channel.phoneNumberId).toBe(doomed.phoneNumberId);
  });
});
