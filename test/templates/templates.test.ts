import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, provisionTenant } from '../support/gateway.ts';
import { sqlClient } from '../support/db.ts';
import { eventually } from '../support/pipeline.ts';
import { messagesValue, notification, postWebhook, wamid } from '../support/webhooks.ts';
import { startApiGateway, type ApiHarness } from '../api/harness.ts';
import { testTemplates } from './fixtures.ts';

const WABA = '880001';

/** A tenant whose channel belongs to WABA, its templates synced, and a conversation whose customer last wrote `hoursAgo` ago. */
async function tenantWithTemplates(h: ApiHarness, hoursAgo = 0, agent: Record<string, unknown> = { provider: 'demo' }, body = 'hello') {
  const t = await provisionTenant(h.gw, { channel: { wabaId: WABA }, agent });
  h.cloud.setTemplates(WABA, testTemplates(), [t.phoneNumberId]);
  const sync = await api(h.gw, 'POST', '/api/templates/sync', {}, t.key);
  expect(sync.status).toBe(200);
  const from = '1555' + Math.floor(1e6 + Math.random() * 9e6);
  const m = { from, id: wamid(), timestamp: String(Math.floor(Date.now() / 1000) - hoursAgo * 3600), type: 'text', text: { body } };
  expect((await postWebhook(h.gw.url, notification({ value: messagesValue(t.phoneNumberId, [m]) }))).status).toBe(200);
  const list = await api(h.gw, 'GET', '/api/conversations', undefined, t.key);
  const conversationId = list.body.items.find((c: any) => c.contact.waId === from).id as string;
  return { ...t, from, conversationId, inboundWamid: m.id };
}

describe('templates', () => {
  let h: ApiHarness;
  beforeAll(async () => {
    h = await startApiGateway();
  });
  afterAll(async () => {
    await h?.close();
  });

  it('syncs every page of the account\'s templates, and a second sync removes what Meta no longer lists', async () => {
    const t = await provisionTenant(h.gw, { channel: { wabaId: WABA } });
    expect(t.channel.wabaId).toBe(WABA);
    h.cloud.setTemplates(WABA, testTemplates(60), [t.phoneNumberId]);
    const before = h.cloud.requests().length;
    const sync = await api(h.gw, 'POST', '/api/templates/sync', {}, t.key);
    expect(sync.status).toBe(200);
    expect(sync.body.channels).toEqual([{ channelId: t.channel.id, synced: 64, removed: 0, error: null }]);
    // 64 templates at 25 a page: three pages, each after the previous one's cursor.
    const pages = h.cloud.requests().slice(before).filter((r) => r.path.includes('/message_templates'));
    expect(pages).toHaveLength(3);
    expect(pages[0].path).not.toContain('after=');
    expect(pages[1].path).toContain('after=');

    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const r = await api(h.gw, 'GET', `/api/templates?limit=40${cursor ? `&cursor=${cursor}` : ''}`, undefined, t.key);
      expect(r.status).toBe(200);
      seen.push(...r.body.items.map((x: any) => `${x.name}/${x.language}`));
      cursor = r.body.nextCursor;
    } while (cursor);
    expect(seen).toHaveLength(64);
    const order = (await api(h.gw, 'GET', '/api/templates?name=order_update', undefined, t.key)).body.items;
    expect(order).toEqual([
      expect.objectContaining({ name: 'order_update', language: 'en_US', category: 'UTILITY', status: 'APPROVED', parameterFormat: 'POSITIONAL', channelId: t.channel.id }),
    ]);
    expect(order[0].components[0]).toEqual({ type: 'BODY', text: 'Hi {{1}}, your order {{2}} is ready.' });

    h.cloud.setTemplates(WABA, testTemplates(0), [t.phoneNumberId]);
    const again = await api(h.gw, 'POST', '/api/templates/sync', { channelId: t.channel.id }, t.key);
    expect(again.body.channels).toEqual([{ channelId: t.channel.id, synced: 4, removed: 60, error: null }]);
    expect((await api(h.gw, 'GET', '/api/templates', undefined, t.key)).body.items).toHaveLength(4);
  });

  it('a channel without wabaId reports it; another tenant sees none of the templates', async () => {
    const a = await tenantWithTemplates(h);
    const b = await provisionTenant(h.gw);
    const sync = await api(h.gw, 'POST', '/api/templates/sync', {}, b.key);
    expect(sync.body.channels).toEqual([{ channelId: b.channel.id, synced: 0, removed: 0, error: { code: 'no_waba_id', message: expect.any(String) } }]);
    expect((await api(h.gw, 'GET', '/api/templates', undefined, b.key)).body.items).toEqual([]);
    expect((await api(h.gw, 'POST', '/api/templates/sync', { channelId: a.channel.id }, b.key)).status).toBe(404);
  });

  it('a template status webhook updates the stored status, and the account is synced again', async () => {
    const t = await tenantWithTemplates(h);
    await h.cloud.setTemplateStatus(WABA, 'order_update', 'en_US', 'PAUSED', 'Low quality');
    const paused = await eventually(async () => {
      const r = await api(h.gw, 'GET', '/api/templates?name=order_update', undefined, t.key);
      return r.body.items[0]?.status === 'PAUSED' ? r.body.items[0] : null;
    });
    expect(paused.status).toBe('PAUSED');
    // A paused template is refused before Meta is called.
    const send = await api(h.gw, 'POST', `/api/conversations/${t.conversationId}/template`, { name: 'order_update', language: 'en_US', parameters: ['Ana', 'A-1'] }, t.key);
    expect(send.status).toBe(409);
    expect(send.body.error.code).toBe('template_not_approved');
    await h.cloud.setTemplateStatus(WABA, 'order_update', 'en_US', 'APPROVED');
    await eventually(async () => (await api(h.gw, 'GET', '/api/templates?name=order_update', undefined, t.key)).body.items[0]?.status === 'APPROVED');
  });

  it('parameters are checked against the template before Meta is called, and nothing is queued', async () => {
    const t = await tenantWithTemplates(h);
    const sendsBefore = h.cloud.stats().sends;
    const cases: [unknown, number, string][] = [
      [{ name: 'no_such', language: 'en_US', parameters: [] }, 404, 'template_not_found'],
      [{ name: 'order_update', language: 'pt_BR', parameters: ['a', 'b'] }, 404, 'template_not_found'],
      [{ name: 'spring_sale', language: 'en_US' }, 409, 'template_not_approved'],
      [{ name: 'order_update', language: 'en_US', parameters: ['Ana'] }, 400, 'template_parameters_invalid'],
      [{ name: 'order_update', language: 'en_US', parameters: { first: 'Ana' } }, 400, 'template_parameters_invalid'],
      [{ name: 'welcome_back', language: 'en_US', parameters: { first_name: 'Ana' }, header: { text: 'Ana' } }, 400, 'template_parameters_invalid'],
      [{ name: 'welcome_back', language: 'en_US', parameters: { first_name: 'Ana', items: '3', extra: 'x' }, header: { text: 'Ana' } }, 400, 'template_parameters_invalid'],
      [{ name: 'welcome_back', language: 'en_US', parameters: { first_name: 'Ana', items: '3' } }, 400, 'template_parameters_invalid'],
      [{ name: 'invoice_ready', language: 'en_US', parameters: ['F-7'] }, 400, 'template_header_media_required'],
      [{ name: 'order_update', language: 'en_US', parameters: ['Ana', 'line\nbreak'] }, 400, 'template_parameters_invalid'],
      [{ name: 'order_update' }, 400, 'invalid_request'],
    ];
    for (const [body, status, code] of cases) {
      const r = await api(h.gw, 'POST', `/api/conversations/${t.conversationId}/template`, body, t.key);
      expect([JSON.stringify(body), r.status, r.body.error?.code]).toEqual([JSON.stringify(body), status, code]);
    }
    const msgs = await api(h.gw, 'GET', `/api/conversations/${t.conversationId}/messages`, undefined, t.key);
    expect(msgs.body.items.filter((m: any) => m.type === 'template')).toEqual([]);
    expect(h.cloud.stats().sends - sendsBefore).toBeLessThanOrEqual(1); // the demo agent's answer to "hello" at most
  });

  it('sends a template outside the window (where text is refused), positional and named, with its statuses and pricing category', async () => {
    const t = await tenantWithTemplates(h, 30);
    const text = await api(h.gw, 'POST', `/api/conversations/${t.conversationId}/messages`, { text: 'are you there?' }, t.key);
    expect(text.status).toBe(409);
    expect(text.body.error.code).toBe('outside_customer_service_window');

    const sent = h.cloud.once('send', (e) => e.type === 'template' && e.to === t.from);
    const r = await api(h.gw, 'POST', `/api/conversations/${t.conversationId}/template`, { name: 'order_update', language: 'en_US', parameters: ['Ana', 'A-17'] }, t.key);
    expect(r.status).toBe(201);
    expect(r.body.windowOpen).toBe(false);
    expect(r.body.messages).toEqual([expect.objectContaining({ type: 'template', author: 'operator', text: 'Hi Ana, your order A-17 is ready.', status: 'queued' })]);
    const e = await sent;
    expect(e.template).toBe('order_update');
    expect(e.body).toBe('Hi Ana, your order A-17 is ready.');
    const wire = h.cloud.requests().find((q) => (q.body as any)?.type === 'template' && (q.body as any).to === t.from)!.body as any;
    expect(wire.template).toEqual({ name: 'order_update', language: { code: 'en_US' }, components: [{ type: 'body', parameters: [{ type: 'text', text: 'Ana' }, { type: 'text', text: 'A-17' }] }] });

    const read = await eventually(async () => {
      const m = (await api(h.gw, 'GET', `/api/conversations/${t.conversationId}/messages`, undefined, t.key)).body.items.find((x: any) => x.id === r.body.messages[0].id);
      return m?.status === 'read' ? m : null;
    });
    expect(read.pricingCategory).toBe('utility');
    expect(read.wamid).toBe(e.wamid);

    const named = h.cloud.once('send', (x) => x.template === 'welcome_back' && x.to === t.from);
    const r2 = await api(
      h.gw, 'POST', `/api/conversations/${t.conversationId}/template`,
      { name: 'welcome_back', language: 'en_US', parameters: { first_name: 'Ana', items: '3' }, header: { text: 'Ana' } }, t.key,
    );
    expect(r2.status).toBe(201);
    expect((await named).body).toBe('We kept your cart, Ana: 3 items.');
    const wire2 = h.cloud.requests().find((q) => (q.body as any)?.template?.name === 'welcome_back')!.body as any;
    expect(wire2.template.components).toEqual([
      { type: 'header', parameters: [{ type: 'text', text: 'Ana', parameter_name: 'first_name' }] },
      { type: 'body', parameters: [{ type: 'text', text: 'Ana', parameter_name: 'first_name' }, { type: 'text', text: '3', parameter_name: 'items' }] },
    ]);
  });

  it('opt-in: when the window closed, the answer is replaced by the tenant\'s template; without a sendable one the disposition stays window_closed', async () => {
    const agent = { provider: 'demo', windowClosedTemplate: { name: 'order_update', language: 'en_US', parameters: ['there', 'B-2'] } };
    const sent = h.cloud.once('send', (e) => e.template === 'order_update' && e.body === 'Hi there, your order B-2 is ready.');
    const t = await tenantWithTemplates(h, 30, agent);
    const e = await sent;
    expect(e.to).toBe(t.from);
    const items = await eventually(async () => {
      const r = (await api(h.gw, 'GET', `/api/conversations/${t.conversationId}/messages`, undefined, t.key)).body.items;
      return r.length === 2 ? r : null;
    });
    expect(items.map((m: any) => [m.type, m.author, m.disposition])).toEqual([['text', 'customer', 'answered'], ['template', 'agent', null]]);
    expect((await api(h.gw, 'GET', '/api/settings', undefined, t.key)).body.agent.windowClosedTemplate).toEqual(agent.windowClosedTemplate);

    // A template the channel does not have: nothing goes out.
    const u = await tenantWithTemplates(h, 30, { provider: 'demo', windowClosedTemplate: { name: 'gone', language: 'en_US' } });
    const first = await eventually(async () => {
      const m = (await api(h.gw, 'GET', `/api/conversations/${u.conversationId}/messages`, undefined, u.key)).body.items[0];
      return m?.disposition ? m : null;
    });
    expect(first.disposition).toBe('window_closed');
  });

  it('past the window a handoff keyword still hands off (the bot pauses), but its free-form message is not sent', async () => {
    const agent = { provider: 'demo', handoffKeywords: ['human'], handoffMessage: 'A person will write to you.', windowClosedTemplate: { name: 'order_update', language: 'en_US', parameters: ['there', 'D-4'] } };
    const sends = h.cloud.requests().length;
    const t = await tenantWithTemplates(h, 30, agent, 'I want a human');
    const items = await eventually(async () => {
      const r = (await api(h.gw, 'GET', `/api/conversations/${t.conversationId}/messages`, undefined, t.key)).body.items;
      return r[0]?.disposition ? r : null;
    });
    expect(items.map((m: any) => [m.direction, m.disposition])).toEqual([['inbound', 'paused']]);
    expect((await api(h.gw, 'GET', `/api/conversations/${t.conversationId}`, undefined, t.key)).body).toMatchObject({ paused: true });
    expect(h.cloud.requests().slice(sends).filter((q) => (q.body as any)?.to === t.from && (q.body as any)?.type !== undefined && (q.body as any)?.status !== 'read')).toEqual([]);
  });

  it("a removed channel's and a deleted tenant's templates go with them", async () => {
    const client = await sqlClient(h.gw.dbUrl);
    try {
      const count = async (col: string, id: string) => (await client.query(`SELECT count(*)::int AS n FROM templates WHERE ${col} = $1`, [id])).rows[0].n as number;
      const a = await tenantWithTemplates(h);
      const extra = await api(h.gw, 'POST', `/api/tenants/${a.tenant.id}/channels`, { phoneNumberId: 'pn-tpl-extra', displayPhoneNumber: '+1', accessToken: 't', wabaId: WABA });
      h.cloud.setTemplates(WABA, testTemplates(), [a.phoneNumberId, 'pn-tpl-extra']);
      await api(h.gw, 'POST', '/api/templates/sync', { channelId: extra.body.id }, a.key);
      expect(await count('channel_id', extra.body.id)).toBe(4);
      expect((await api(h.gw, 'DELETE', `/api/channels/${extra.body.id}`)).status).toBe(202);
      await eventually(async () => (await h.gw.housekeeping.kick(), (await count('channel_id', extra.body.id)) === 0));
      expect(await count('tenant_id', a.tenant.id)).toBe(4);

      expect((await api(h.gw, 'DELETE', `/api/tenants/${a.tenant.id}`)).status).toBe(202);
      await eventually(async () => {
        await h.gw.housekeeping.kick();
        return (await client.query('SELECT count(*)::int AS n FROM tenants WHERE id = $1', [a.tenant.id])).rows[0].n === 0;
      });
      expect(await count('tenant_id', a.tenant.id)).toBe(0);
    } finally {
      await client.end();
    }
  });

  it("quality and category webhooks update the stored template; a tenant's own app cannot touch another tenant's templates", async () => {
    const t = await tenantWithTemplates(h);
    const change = (field: string, value: Record<string, unknown>) => ({ object: 'whatsapp_business_account', entry: [{ id: WABA, time: 1, changes: [{ field, value }] }] });
    const stored = async () => (await api(h.gw, 'GET', '/api/templates?name=order_update', undefined, t.key)).body.items[0];
    // The account has other templates at Meta by now: the webhook stores the change at once, the sync that follows keeps Meta's list.
    h.cloud.setTemplates(WABA, testTemplates().map((x) => (x.name === 'order_update' ? { ...x, category: 'MARKETING' } : x)), [t.phoneNumberId]);
    expect((await postWebhook(h.gw.url, change('message_template_quality_update', { previous_quality_score: 'GREEN', new_quality_score: 'YELLOW', message_template_id: 1001, message_template_name: 'order_update', message_template_language: 'en_US' }))).status).toBe(200);
    await eventually(async () => (await stored()).quality === 'YELLOW');
    expect((await postWebhook(h.gw.url, change('template_category_update', { message_template_id: 1001, message_template_name: 'order_update', message_template_language: 'en_US', previous_category: 'UTILITY', new_category: 'MARKETING' }))).status).toBe(200);
    await eventually(async () => (await stored()).category === 'MARKETING');
    expect((await postWebhook(h.gw.url, change('message_template_status_update', { event: 'APPROVED' }))).status).toBe(200);
    expect((await postWebhook(h.gw.url, change('message_template_status_update', { event: 42 }))).status).toBe(400);

    // Another tenant with its own Meta app names this tenant's account: nothing of this tenant changes.
    const other = await provisionTenant(h.gw, { channel: { appSecret: 'other-app-secret', verifyToken: 'other-verify' } });
    const forged = change('message_template_status_update', { event: 'DISABLED', message_template_id: 1001, message_template_name: 'order_update', message_template_language: 'en_US' });
    const r = await postWebhook(h.gw.url, forged, { secret: 'other-app-secret', path: `/webhooks/whatsapp/${other.channel.id}` });
    // The webhook is answered once its changes are stored: nothing to wait for.
    expect(r.status).toBe(200);
    expect((await stored()).status).toBe('APPROVED');
  });
});
