import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, provisionTenant } from '../support/gateway.ts';
import { eventually, type PipelineHarness } from '../support/pipeline.ts';
import { ConversationRows } from '../conversation/conversationRows.ts';
import { Customers, newWaId, SendLog } from '../conversation/customers.ts';
import { closeConversationTest, openConversationTest } from '../conversation/harness.ts';

/** Every row of every table in the schema, as text, that contains `needle`: "table: row". */
async function rowsMentioning(rows: ConversationRows, needle: string): Promise<string[]> {
  const tables = await rows.query<{ table_name: string }>(
    `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY 1`,
  );
  const found: string[] = [];
  for (const { table_name } of tables) {
    const hits = await rows.query<{ row: string }>(`SELECT t::text AS row FROM ${table_name} t WHERE strpos(t::text, $1) > 0`, [needle]);
    for (const h of hits) found.push(`${table_name}: ${h.row}`);
  }
  return found;
}

describe('data protection: erasing a contact, retention, channels', () => {
  let h: PipelineHarness;
  let rows: ConversationRows;
  let sends: SendLog;
  // The Cloud API simulator accepts a send only with the number's current token.
  const tokens = new Map<string, string>();
  beforeAll(async () => {
    ({ h, rows, sends } = await openConversationTest({ simulator: { tokens }, pipeline: { housekeeping: { intervalMs: 60_000, batchSize: 5 } } }));
  });
  async function tenant(opts: Parameters<typeof provisionTenant>[1] = {}) {
    const t = await provisionTenant(h.gw, opts);
    tokens.set(t.phoneNumberId, 'token-' + t.phoneNumberId);
    return t;
  }
  afterAll(() => closeConversationTest({ h, rows, sends }));

  const answered = (wa: string) => sends.to(wa).filter((b) => b.startsWith('echo: '));

  it('DELETE /api/contacts/:id erases the customer on every number of the tenant: no row of any table names or quotes them; others stay', async () => {
    const t = await tenant({ agent: { provider: 'openai' } });
    // A second number of the same tenant.
    const second = await api(h.gw, 'POST', `/api/tenants/${t.tenant.id}/channels`, { phoneNumberId: t.phoneNumberId + 'b', displayPhoneNumber: '+1 555 0101', accessToken: 'tok' });
    expect(second.status).toBe(201);
    tokens.set(t.phoneNumberId + 'b', 'tok');
    const wa = newWaId();
    const bystander = newWaId();
    const secret = 'my-private-words-' + wa;
    for (let i = 0; i < 4; i++) await new Customers(h.gw.url, t.phoneNumberId).say(wa, `${secret} ${i}`, { profileName: 'Erin Erasable' });
    await new Customers(h.gw.url, t.phoneNumberId + 'b').say(wa, `${secret} on the other number`);
    await new Customers(h.gw.url, t.phoneNumberId).say(bystander, 'I stay');
    await eventually(async () => (await rows.settled(wa)) && (await rows.settled(bystander)) && answered(bystander).length === 1, 15_000, 'settled');
    expect((await rowsMentioning(rows, wa)).length).toBeGreaterThan(0);
    const [usageBefore] = await rows.query<{ count: number }>('SELECT count FROM usage WHERE tenant_id = $1', [t.tenant.id]);

    const list = await api(h.gw, 'GET', '/api/conversations', undefined, t.key);
    const conv = list.body.items.find((c: any) => c.contact.waId === wa);
    // Another tenant's key learns nothing.
    const stranger = await tenant();
    expect((await api(h.gw, 'DELETE', `/api/contacts/${conv.contact.id}`, undefined, stranger.key)).status).toBe(404);

    const erased = await api(h.gw, 'DELETE', `/api/contacts/${conv.contact.id}`, undefined, t.key);
    expect(erased.status).toBe(200);
    expect(erased.body).toMatchObject({ id: conv.contact.id, contacts: 2, conversations: expect.any(Array) });
    expect(erased.body.conversations).toHaveLength(2);
    expect(erased.body.messages).toBeGreaterThan(5);

    // Nothing of the customer anywhere: not their number, their name, or their words (the audit log included).
    expect(await rowsMentioning(rows, wa)).toEqual([]);
    expect(await rowsMentioning(rows, 'Erin Erasable')).toEqual([]);
    expect(await rowsMentioning(rows, 'my-private-words')).toEqual([]);
    for (const id of erased.body.conversations) {
      expect(await rows.query('SELECT 1 FROM messages WHERE conversation_id = $1', [id])).toEqual([]);
    }
    // Others stay; usage counts stay (they are not about anyone).
    expect(await rows.dispositions(bystander)).toEqual(['answered']);
    const [usageAfter] = await rows.query<{ count: number }>('SELECT count FROM usage WHERE tenant_id = $1', [t.tenant.id]);
    expect(usageAfter.count).toBe(usageBefore.count);
    const audit = await api(h.gw, 'GET', '/api/audit', undefined, t.key);
    expect(audit.body.items[0]).toMatchObject({ action: 'contact.erased', actor: 'tenant_key', target: { type: 'contact', id: conv.contact.id }, detail: { contacts: 2, conversations: 2 } });
    expect((await api(h.gw, 'DELETE', `/api/contacts/${conv.contact.id}`, undefined, t.key)).status).toBe(404);

    // Writing again starts afresh, and is answered.
    const answersBefore = answered(wa).length;
    await new Customers(h.gw.url, t.phoneNumberId).say(wa, 'hello again');
    await eventually(() => answered(wa).length === answersBefore + 1, 10_000, 'the answer to a new message');
    expect(await rows.dispositions(wa)).toEqual(['answered']);
  });

  it('retention: messages older than retentionDays are removed in batches by housekeeping; newer ones and other tenants stay', async () => {
    const kept = await tenant({ agent: { provider: 'openai' } });
    const t = await tenant({ agent: { provider: 'openai' } });
    const wa = newWaId();
    const other = newWaId();
    for (let i = 0; i < 6; i++) await new Customers(h.gw.url, t.phoneNumberId).say(wa, `old ${i}`);
    await new Customers(h.gw.url, kept.phoneNumberId).say(other, 'old too, but kept forever');
    await eventually(async () => (await rows.settled(wa)) && (await rows.settled(other)), 15_000, 'settled');
    // Age them: 10 days old.
    await rows.query(`UPDATE messages SET created_at = now() - interval '10 days' WHERE tenant_id IN ($1, $2)`, [t.tenant.id, kept.tenant.id]);
    await new Customers(h.gw.url, t.phoneNumberId).say(wa, 'new');
    await eventually(() => rows.settled(wa), 10_000, 'the new one settled');
    const count = async (tenantId: string) => (await rows.query<{ n: number }>('SELECT count(*)::int AS n FROM messages WHERE tenant_id = $1', [tenantId]))[0].n;
    const oldCount = await count(t.tenant.id);
    // Six inbound (a burst may be answered in fewer turns), their answers, and the new pair: more than a batch of 5.
    expect(oldCount).toBeGreaterThan(8);

    expect((await api(h.gw, 'PATCH', `/api/tenants/${t.tenant.id}`, { retentionDays: 7 }, t.key)).status).toBe(200);
    const report = await h.gw.housekeeping.run();
    expect(report.messagesExpired).toBe(oldCount - 2);
    const left = await rows.query<{ body: string }>('SELECT body FROM messages WHERE tenant_id = $1 ORDER BY id', [t.tenant.id]);
    expect(left.map((m) => m.body)).toEqual(['new', 'echo: new']);
    expect(await count(kept.tenant.id)).toBe(2);
  });

  it('channels: listed without secrets, the token rotated everywhere at once (write-only), a removed channel routes nothing and its rows go', async () => {
    const t = await tenant({ agent: { provider: 'openai' } });
    const listed = await api(h.gw, 'GET', `/api/tenants/${t.tenant.id}/channels`, undefined, t.key);
    expect(listed.status).toBe(200);
    expect(listed.body.items).toEqual([t.channel]);
    expect(JSON.stringify(listed.body)).not.toContain('token-');

    const wa = newWaId();
    const customers = new Customers(h.gw.url, t.phoneNumberId);
    await customers.say(wa, 'first');
    await eventually(() => answered(wa).length === 1, 10_000, 'first answer');
    expect((await api(h.gw, 'PATCH', `/api/channels/${t.channel.id}`, { accessToken: 'rotated-token' }, t.key)).status).toBe(403);
    tokens.set(t.phoneNumberId, 'rotated-token');
    const rotated = await api(h.gw, 'PATCH', `/api/channels/${t.channel.id}`, { accessToken: 'rotated-token' });
    expect(rotated.status).toBe(200);
    expect(rotated.body).toEqual(t.channel);
    const [enc] = await rows.query<{ access_token_enc: string }>('SELECT access_token_enc FROM channels WHERE id = $1', [t.channel.id]);
    expect(enc.access_token_enc).not.toContain('rotated-token');
    // The simulator now refuses the old token (190): the answer goes out only with the new one.
    await customers.say(wa, 'second');
    await eventually(() => answered(wa).length === 2, 10_000, 'second answer');
    expect((await rows.outbound(wa)).map((m) => m.status)).not.toContain('failed');

    const removed = await api(h.gw, 'DELETE', `/api/channels/${t.channel.id}`);
    expect(removed.status).toBe(202);
    expect(removed.body).toMatchObject({ id: t.channel.id, status: 'removing' });
    await customers.say(wa, 'anyone?');
    await eventually(async () => (await rows.query('SELECT 1 FROM channels WHERE id = $1', [t.channel.id])).length === 0, 15_000, 'the channel gone');
    expect(await rows.query('SELECT 1 FROM messages WHERE channel_id = $1 UNION ALL SELECT 1 FROM contacts WHERE channel_id = $1', [t.channel.id])).toEqual([]);
    expect((await api(h.gw, 'GET', `/api/tenants/${t.tenant.id}/channels`)).body.items).toEqual([]);
    const actions = (await api(h.gw, 'GET', `/api/audit?tenantId=${t.tenant.id}`)).body.items.map((a: any) => a.action);
    expect(actions.slice(0, 2)).toEqual(['channel.removed', 'channel.token_rotated']);
  });
});
