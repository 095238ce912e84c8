import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encrypt } from '../../src/shared/secrets.ts';
import { api, provisionTenant, TEST_SECRET_KEY } from '../support/gateway.ts';
import { eventually, startPipeline, type PipelineHarness } from '../support/pipeline.ts';
import { now, postWebhook, statusNotification, textNotification } from '../support/webhooks.ts';
import { sqlClient } from '../support/db.ts';
import { startReceiver } from './receiver.ts';

const SECRET = 'receiver-secret-0123456789';
const LEASE = ['lease_reap_dead_owners', 'lease_sweep', 'lease_resume_due', 'lease_renew'];

describe('event webhooks: the message path emits signed events', () => {
  let h: PipelineHarness;
  let rx: Awaited<ReturnType<typeof startReceiver>>;
  beforeAll(async () => {
    rx = await startReceiver(SECRET);
    h = await startPipeline({ env: { WAGATE_EGRESS_ALLOW: rx.host }, pipeline: { events: { pollIntervalMs: 200 } } });
  });
  afterAll(async () => {
    await h?.close();
    await rx?.close();
  });

  const of = (conversationId: string) => rx.received.filter((e) => e.conversationId === conversationId);

  it('received, disposition, sent and status events, with the documented shape, signed; pause, resume and handoff', async () => {
    const p = await provisionTenant(h.gw, { agent: { provider: 'openai', handoffKeywords: ['human'] } });
    const sub = await api(h.gw, 'POST', '/api/event-subscriptions', { url: rx.url, secret: SECRET, events: ['*'] }, p.key);
    expect(sub.status).toBe(201);
    expect(sub.body).toMatchObject({ tenantId: p.tenant.id, url: rx.url, events: ['*'], paused: false });
    expect(JSON.stringify(sub.body)).not.toContain(SECRET);

    const n = textNotification(p.phoneNumberId, '15550003001', 'hello events');
    const sent = h.cloud.once('send', (e) => e.to === '15550003001');
    await postWebhook(h.gw.url, n.body);
    const s = await sent;
    const received = await eventually(() => rx.received.find((e) => e.type === 'message.received' && e.data.message.wamid === n.wamid), 15_000, 'message.received');
    const conv = received.conversationId!;
    await eventually(() => of(conv).some((e) => e.type === 'message.sent'), 15_000, 'message.sent');
    expect(await postWebhook(h.gw.url, statusNotification(p.phoneNumberId, [{ id: s.wamid, status: 'delivered', timestamp: now(), recipient_id: '15550003001' }]))).toMatchObject({ status: 200 });
    await eventually(() => of(conv).some((e) => e.type === 'message.status'), 15_000, 'message.status');

    expect(received).toMatchObject({
      type: 'message.received',
      tenantId: p.tenant.id,
      messageId: expect.stringMatching(/^\d+$/),
      signed: true,
      data: {
        message: { direction: 'inbound', author: 'customer', type: 'text', text: 'hello events', wamid: n.wamid, status: 'received' },
        contact: { waId: '15550003001', name: 'Customer 15550003001' },
      },
    });
    expect(received.id).toMatch(/^\d+$/);
    expect(new Date(received.time).toISOString()).toBe(received.time);
    const disposition = of(conv).find((e) => e.type === 'message.disposition')!;
    expect(disposition).toMatchObject({ messageId: received.messageId, data: { disposition: 'answered' } });
    const sentEvent = of(conv).find((e) => e.type === 'message.sent')!;
    expect(sentEvent.data.message).toMatchObject({ direction: 'outbound', author: 'agent', text: 'echo: hello events', wamid: s.wamid, status: 'sent' });
    const status = of(conv).find((e) => e.type === 'message.status')!;
    expect(status).toMatchObject({ messageId: sentEvent.messageId, data: { status: 'delivered', previousStatus: 'sent' } });
    // In the order they happened, each once.
    expect(of(conv).map((e) => e.type)).toEqual(['message.received', 'message.disposition', 'message.sent', 'message.status']);
    expect(rx.state.badSignatures).toBe(0);

    // An operator's pause and resume.
    expect((await api(h.gw, 'POST', `/api/conversations/${conv}/pause`, {}, p.key)).status).toBe(200);
    expect((await api(h.gw, 'POST', `/api/conversations/${conv}/resume`, undefined, p.key)).status).toBe(200);
    await eventually(() => of(conv).some((e) => e.type === 'conversation.resumed'), 15_000, 'conversation.resumed');
    const paused = of(conv).find((e) => e.type === 'conversation.paused')!;
    expect(paused).toMatchObject({ messageId: null, data: { conversation: { id: conv, paused: true }, contact: { waId: '15550003001' } } });

    // A handoff keyword: the agent pauses the conversation and asks for a person.
    await postWebhook(h.gw.url, textNotification(p.phoneNumberId, '15550003001', 'a human please').body);
    const handoff = await eventually(() => of(conv).find((e) => e.type === 'handoff.requested'), 15_000, 'handoff.requested');
    expect(handoff.data.conversation).toMatchObject({ paused: true, pausedBy: 'agent' });
    const types = of(conv).map((e) => e.type);
    expect(types.slice(-2)).toEqual(['conversation.paused', 'handoff.requested']);
    // Ids only grow within a conversation: delivered in order.
    const ids = of(conv).map((e) => Number(e.id));
    expect([...ids].sort((a, b) => a - b)).toEqual(ids);

    // The delivery log.
    const log = await api(h.gw, 'GET', `/api/event-subscriptions/${sub.body.id}/deliveries?limit=200`, undefined, p.key);
    expect(log.status).toBe(200);
    expect(log.body.items.length).toBeGreaterThanOrEqual(of(conv).length);
    expect(log.body.items[0]).toMatchObject({ subscriptionId: sub.body.id, status: 'delivered', attempts: 1, lastStatus: 200, log: [{ status: 200, error: null }] });

    // Erasing the contact erases the events about them.
    const contactId = received.data.contact.id;
    expect((await api(h.gw, 'DELETE', `/api/contacts/${contactId}`, undefined, p.key)).status).toBe(200);
    const c = await sqlClient(h.gw.dbUrl);
    try {
      expect((await c.query('SELECT count(*)::int AS n FROM events WHERE conversation_id = $1', [conv])).rows[0].n).toBe(0);
    } finally {
      await c.end();
    }
  });

  it('an answered text message still costs the same 3 statements with a subscription', async () => {
    const p = await provisionTenant(h.gw, { agent: { provider: 'openai' } });
    expect((await api(h.gw, 'POST', '/api/event-subscriptions', { url: rx.url, secret: SECRET, events: ['*'] }, p.key)).status).toBe(201);
    // Warm the per-process caches with a first customer, and let its events go out.
    const warm = h.cloud.once('send', (e) => e.to === '15550003100');
    await postWebhook(h.gw.url, textNotification(p.phoneNumberId, '15550003100', 'warm up').body);
    await warm;
    await eventually(() => rx.received.some((e) => e.tenantId === p.tenant.id && e.type === 'message.sent'), 15_000, 'the warm-up sent event');
    const statements: string[] = [];
    const off = h.gw.bus.on('db.statement', (e) => {
      // The event worker's own statements are not the message's: they run beside it, on rows already written.
      if (!LEASE.includes(e.name) && !e.name.startsWith('event_')) statements.push(e.name);
    });
    const n = textNotification(p.phoneNumberId, '15550003101', 'count me');
    await postWebhook(h.gw.url, n.body);
    const conv = await eventually(() => rx.received.find((e) => e.type === 'message.sent' && e.data.message.text === 'echo: count me')?.conversationId, 15_000, 'the sent event');
    off();
    expect(statements).toEqual(['ingest_notification', 'turn_reply_commits', 'turn_send_results']);
    expect(of(conv).map((e) => e.type)).toEqual(['message.received', 'message.disposition', 'message.sent']);
  });

  it('refuses a URL to the host, an unknown event type and a short secret with 400, storing nothing; other tenants see 404', async () => {
    const p = await provisionTenant(h.gw);
    const other = await provisionTenant(h.gw);
    const loopback = await api(h.gw, 'POST', '/api/event-subscriptions', { url: 'http://127.0.0.1:9/x', secret: SECRET, events: ['*'] }, p.key);
    expect(loopback.status).toBe(400);
    expect(loopback.body.error.code).toBe('egress_refused');
    const metadata = await api(h.gw, 'POST', '/api/event-subscriptions', { url: 'https://169.254.169.254/latest', secret: SECRET, events: ['*'] }, p.key);
    expect(metadata.status).toBe(400);
    const unknown = await api(h.gw, 'POST', '/api/event-subscriptions', { url: rx.url, secret: SECRET, events: ['message.deleted'] }, p.key);
    expect(unknown.status).toBe(400);
    expect(unknown.body.error.code).toBe('invalid_request');
    expect((await api(h.gw, 'POST', '/api/event-subscriptions', { url: rx.url, secret: 'short', events: ['*'] }, p.key)).status).toBe(400);
    expect((await api(h.gw, 'GET', '/api/event-subscriptions', undefined, p.key)).body.items).toEqual([]);

    const ok = await api(h.gw, 'POST', '/api/event-subscriptions', { url: rx.url, secret: SECRET, events: ['message.received'] }, p.key);
    expect(ok.status).toBe(201);
    expect((await api(h.gw, 'GET', `/api/event-subscriptions/${ok.body.id}`, undefined, other.key)).status).toBe(404);
    expect((await api(h.gw, 'PATCH', `/api/event-subscriptions/${ok.body.id}`, { paused: true }, other.key)).status).toBe(404);
    expect((await api(h.gw, 'GET', `/api/event-subscriptions/${ok.body.id}/deliveries`, undefined, other.key)).status).toBe(404);
    const badPatch = await api(h.gw, 'PATCH', `/api/event-subscriptions/${ok.body.id}`, { url: 'http://10.0.0.1/' }, p.key);
    expect(badPatch.status).toBe(400);
    expect((await api(h.gw, 'GET', `/api/event-subscriptions/${ok.body.id}`, undefined, p.key)).body.url).toBe(rx.url);
    const paused = await api(h.gw, 'PATCH', `/api/event-subscriptions/${ok.body.id}`, { paused: true }, p.key);
    expect(paused.body).toMatchObject({ paused: true, pauseReason: 'paused by the tenant' });
    expect((await api(h.gw, 'DELETE', `/api/event-subscriptions/${ok.body.id}`, undefined, other.key)).status).toBe(404);
    expect((await api(h.gw, 'DELETE', `/api/event-subscriptions/${ok.body.id}`, undefined, p.key)).status).toBe(200);
    expect((await api(h.gw, 'GET', `/api/event-subscriptions/${ok.body.id}`, undefined, p.key)).status).toBe(404);
  });

  it('a removed channel, a deleted tenant and old events take their event rows with them', async () => {
    const count = async (tenantId: string) => {
      const c = await sqlClient(h.gw.dbUrl);
      try {
        const r = await c.query(
          `SELECT (SELECT count(*)::int FROM events WHERE tenant_id = $1) AS events, (SELECT count(*)::int FROM event_deliveries WHERE tenant_id = $1) AS deliveries,
                  (SELECT count(*)::int FROM event_subscriptions WHERE tenant_id = $1) AS subscriptions`,
          [tenantId],
        );
        return r.rows[0];
      } finally {
        await c.end();
      }
    };
    const p = await provisionTenant(h.gw, { agent: { provider: 'openai' } });
    expect((await api(h.gw, 'POST', '/api/event-subscriptions', { url: rx.url, secret: SECRET, events: ['message.received'] }, p.key)).status).toBe(201);
    await postWebhook(h.gw.url, textNotification(p.phoneNumberId, '15550003201', 'on the first number').body);
    await eventually(() => rx.received.some((e) => e.tenantId === p.tenant.id), 15_000, 'the event');
    expect(await count(p.tenant.id)).toEqual({ events: 1, deliveries: 1, subscriptions: 1 });

    // Old events whose deliveries are settled are pruned; a channel's removal takes its conversations' events.
    const c = await sqlClient(h.gw.dbUrl);
    try {
      await c.query(`UPDATE events SET created_at = now() - interval '8 days' WHERE tenant_id = $1`, [p.tenant.id]);
    } finally {
      await c.end();
    }
    const pruned = await h.gw.housekeeping.run();
    expect(pruned.eventsPruned).toBeGreaterThanOrEqual(1);
    expect(await count(p.tenant.id)).toEqual({ events: 0, deliveries: 0, subscriptions: 1 });
    // A tenant's retention period shorter than the events' 7 days holds for its events too.
    expect((await api(h.gw, 'PATCH', `/api/tenants/${p.tenant.id}`, { retentionDays: 1 })).status).toBe(200);
    await postWebhook(h.gw.url, textNotification(p.phoneNumberId, '15550003203', 'kept a day').body);
    await eventually(() => rx.received.some((e) => e.data.message?.text === 'kept a day'), 15_000, 'the event delivered');
    const c2 = await sqlClient(h.gw.dbUrl);
    try {
      await c2.query(`UPDATE events SET created_at = now() - interval '2 days' WHERE tenant_id = $1`, [p.tenant.id]);
    } finally {
      await c2.end();
    }
    await h.gw.housekeeping.run();
    expect((await count(p.tenant.id)).events).toBe(0);
    await postWebhook(h.gw.url, textNotification(p.phoneNumberId, '15550003202', 'again').body);
    await eventually(async () => (await count(p.tenant.id)).events === 1, 15_000, 'a new event');
    expect((await api(h.gw, 'DELETE', `/api/channels/${p.channel.id}`)).status).toBe(202);
    await eventually(async () => {
      await h.gw.housekeeping.run();
      return (await count(p.tenant.id)).events === 0;
    }, 15_000, 'the channel removed');

    // Deleting the tenant removes its subscriptions too.
    expect((await api(h.gw, 'DELETE', `/api/tenants/${p.tenant.id}`)).status).toBeLessThan(300);
    await eventually(async () => {
      await h.gw.housekeeping.run();
      return (await count(p.tenant.id)).subscriptions === 0;
    }, 15_000, 'the tenant deleted');
    expect(await count(p.tenant.id)).toEqual({ events: 0, deliveries: 0, subscriptions: 0 });
  });

});

describe('event webhooks: subscriptions made elsewhere', () => {
  let h: PipelineHarness;
  let rx: Awaited<ReturnType<typeof startReceiver>>;
  beforeAll(async () => {
    rx = await startReceiver(SECRET);
    h = await startPipeline({ env: { WAGATE_EGRESS_ALLOW: rx.host }, pipeline: { events: { pollIntervalMs: 200 } } });
  });
  afterAll(async () => {
    await h?.close();
    await rx?.close();
  });

  it('with no subscription it polls nothing; one made by another process is heard through its announcement, and its events delivered', async () => {
    const p = await provisionTenant(h.gw, { agent: { provider: 'openai' } });
    // No tenant subscribes: the worker runs no statement (and so would never find a subscription by polling).
    const statements: string[] = [];
    const off = h.gw.bus.on('db.statement', (e) => (e.name.startsWith('event_') ? statements.push(e.name) : undefined));
    const quiet = h.cloud.once('send', (e) => e.to === '15550003300');
    await postWebhook(h.gw.url, textNotification(p.phoneNumberId, '15550003300', 'nobody listens').body);
    await quiet;
    await new Promise((r) => setTimeout(r, 500));
    off();
    expect(statements).toEqual([]);
    // What another process's POST /api/event-subscriptions commits: the row and the announcement, in one transaction.
    const c = await sqlClient(h.gw.dbUrl);
    try {
      await c.query('BEGIN');
      await c.query(`INSERT INTO event_subscriptions (tenant_id, url, secret_enc, events) VALUES ($1, $2, $3, '{message.received}')`, [
        p.tenant.id,
        rx.url,
        encrypt(Buffer.from(TEST_SECRET_KEY, 'hex'), SECRET),
      ]);
      await c.query(`SELECT pg_notify('wagate_keys', 'events:' || $1::text)`, [p.tenant.id]);
      await c.query('COMMIT');
    } finally {
      await c.end();
    }
    await postWebhook(h.gw.url, textNotification(p.phoneNumberId, '15550003301', 'from afar').body);
    const e = await eventually(() => rx.received.find((x) => x.tenantId === p.tenant.id), 15_000, 'the event');
    expect(e).toMatchObject({ type: 'message.received', signed: true, data: { message: { text: 'from afar' } } });

    // The tenant is deleted: its subscription goes, every process hears it, and the worker stops polling again.
    let lastPoll = Date.now();
    const offPoll = h.gw.bus.on('db.statement', (ev) => (ev.name.startsWith('event_') ? (lastPoll = Date.now()) : undefined));
    try {
      expect((await api(h.gw, 'DELETE', `/api/tenants/${p.tenant.id}`)).status).toBeLessThan(300);
      await eventually(async () => {
        await h.gw.housekeeping.run();
        const c2 = await sqlClient(h.gw.dbUrl);
        try {
          return (await c2.query('SELECT count(*)::int AS n FROM tenants WHERE id = $1', [p.tenant.id])).rows[0].n === 0;
        } finally {
          await c2.end();
        }
      }, 15_000, 'the tenant deleted');
      // Polls come every 200 ms while a tenant subscribes: a quiet second means none is left.
      await eventually(() => Date.now() - lastPoll > 1_000, 15_000, 'the worker to stop polling');
    } finally {
      offPoll();
    }
  });
});
