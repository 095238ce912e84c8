import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, provisionTenant } from '../support/gateway.ts';
import { eventually, startPipeline, type PipelineHarness } from '../support/pipeline.ts';
import { postWebhook, textNotification } from '../support/webhooks.ts';
import { sqlClient } from '../support/db.ts';
import { startReceiver } from './receiver.ts';

const SECRET = 'receiver-secret-0123456789';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Every event id the database holds for a tenant, by conversation, oldest first. */
async function storedEvents(dbUrl: string, tenantId: string): Promise<Map<string, string[]>> {
  const c = await sqlClient(dbUrl);
  try {
    const r = await c.query('SELECT e.id::text AS id, e.conversation_id::text AS conv FROM events e WHERE e.tenant_id = $1 ORDER BY e.id', [tenantId]);
    const out = new Map<string, string[]>();
    for (const row of r.rows) out.set(row.conv, [...(out.get(row.conv) ?? []), row.id]);
    return out;
  } finally {
    await c.end();
  }
}

describe('event webhooks: a receiver down for a minute', () => {
  let h: PipelineHarness;
  let rx: Awaited<ReturnType<typeof startReceiver>>;
  beforeAll(async () => {
    rx = await startReceiver(SECRET);
    // Retries from 250 ms, at most 3 s apart: the production curve (10 s … 1 h) made short.
    h = await startPipeline({ env: { WAGATE_EGRESS_ALLOW: rx.host }, pipeline: { events: { pollIntervalMs: 200, retryBaseMs: 250, retryMaxMs: 3_000 } } });
  });
  afterAll(async () => {
    await h?.close();
    await rx?.close().catch(() => {});
  });

  it('answers are not held back, and once it is back every event arrives, in order per conversation, duplicates only with the same id', async () => {
    const p = await provisionTenant(h.gw, { agent: { provider: 'openai' } });
    expect((await api(h.gw, 'POST', '/api/event-subscriptions', { url: rx.url, secret: SECRET, events: ['*'] }, p.key)).status).toBe(201);
    // Down: first answering 503, then not listening at all.
    rx.state.status = 503;
    const downAt = Date.now();
    const customers = ['15550004001', '15550004002', '15550004003', '15550004004', '15550004005'];
    let answered = 0;
    const off = h.cloud.on('send', () => answered++);
    for (let round = 0; round < 3; round++) {
      for (const wa of customers) {
        const sent = h.cloud.once('send', (e) => e.to === wa && e.body === `echo: round ${round}`);
        await postWebhook(h.gw.url, textNotification(p.phoneNumberId, wa, `round ${round}`).body);
        await sent;
      }
      if (round === 1) await rx.close();
      await sleep(2_000);
    }
    off();
    // Every answer went out while the receiver was down.
    expect(rx.received.filter((e) => e.tenantId === p.tenant.id)).toEqual([]);
    const left = 60_000 - (Date.now() - downAt);
    if (left > 0) await sleep(left);
    rx.state.status = 200;
    await rx.up();

    const stored = await storedEvents(h.gw.dbUrl, p.tenant.id);
    const all = [...stored.values()].flat();
    expect(all.length).toBe(customers.length * 3 * 3);
    await eventually(() => {
      const got = new Set(rx.received.filter((e) => e.tenantId === p.tenant.id).map((e) => e.id));
      return all.every((id) => got.has(id));
    }, 45_000, 'every event delivered');
    const mine = rx.received.filter((e) => e.tenantId === p.tenant.id);
    for (const [conv, ids] of stored) {
      // First arrivals in id order; any repeat is an id already seen (at least once, marked by id).
      const firsts: string[] = [];
      for (const e of mine.filter((x) => x.conversationId === conv)) if (!firsts.includes(e.id)) firsts.push(e.id);
      expect(firsts).toEqual(ids);
    }
    const c = await sqlClient(h.gw.dbUrl);
    try {
      const r = await c.query(`SELECT status, count(*)::int AS n, max(attempts) AS max FROM event_deliveries WHERE tenant_id = $1 GROUP BY status`, [p.tenant.id]);
      expect(r.rows).toEqual([{ status: 'delivered', n: all.length, max: expect.any(Number) }]);
      expect(r.rows[0].max).toBeGreaterThan(3);
    } finally {
      await c.end();
    }
    // The endpoint failed for a minute, not for the auto-pause's 24 hours: still active.
    const subs = await api(h.gw, 'GET', '/api/event-subscriptions', undefined, p.key);
    expect(subs.body.items[0]).toMatchObject({ paused: false, consecutiveFailures: 0, failingSince: null });
    expect(answered).toBe(customers.length * 3);
  }, 150_000);
});

describe('event webhooks: an endpoint that keeps failing', () => {
  let h: PipelineHarness;
  let rx: Awaited<ReturnType<typeof startReceiver>>;
  beforeAll(async () => {
    rx = await startReceiver(SECRET);
    await rx.close();
    h = await startPipeline({
      env: { WAGATE_EGRESS_ALLOW: rx.host },
      pipeline: { events: { pollIntervalMs: 100, retryBaseMs: 100, retryMaxMs: 200, retryForMs: 1_500, pauseAfterMs: 500, pauseAfterFailures: 3 } },
    });
  });
  afterAll(async () => {
    await h?.close();
    await rx?.close().catch(() => {});
  });

  it('fails its deliveries after the retry window, is paused with a reason, and a resume and a redelivery deliver', async () => {
    const p = await provisionTenant(h.gw, { agent: { provider: 'openai' } });
    const sub = (await api(h.gw, 'POST', '/api/event-subscriptions', { url: rx.url, secret: SECRET, events: ['message.received'] }, p.key)).body;
    await postWebhook(h.gw.url, textNotification(p.phoneNumberId, '15550005001', 'anyone there?').body);
    const paused = await eventually(async () => {
      const s = (await api(h.gw, 'GET', `/api/event-subscriptions/${sub.id}`, undefined, p.key)).body;
      return s.paused ? s : null;
    }, 20_000, 'the subscription paused');
    expect(paused.pauseReason).toMatch(/^every delivery failed since .* \(\d+ attempts in a row\); last error: unreachable/);
    expect(paused.consecutiveFailures).toBeGreaterThanOrEqual(3);
    const log = (await api(h.gw, 'GET', `/api/event-subscriptions/${sub.id}/deliveries`, undefined, p.key)).body.items;
    expect(log).toHaveLength(1);
    expect(log[0].attempts).toBeGreaterThanOrEqual(3);
    expect(log[0].log[0]).toMatchObject({ status: null, error: expect.stringMatching(/^unreachable/) });
    const first = log[0];

    // While paused, nothing new is written for it.
    const sent = h.cloud.once('send', (e) => e.to === '15550005002');
    await postWebhook(h.gw.url, textNotification(p.phoneNumberId, '15550005002', 'hello?').body);
    await sent;
    expect((await api(h.gw, 'GET', `/api/event-subscriptions/${sub.id}/deliveries`, undefined, p.key)).body.items).toHaveLength(1);

    // Resumed while still down, past the retry window: the next attempt fails it for good.
    await sleep(1_600);
    expect((await api(h.gw, 'PATCH', `/api/event-subscriptions/${sub.id}`, { paused: false }, p.key)).body).toMatchObject({ paused: false, pauseReason: null, consecutiveFailures: 0 });
    const failed = await eventually(async () => {
      const d = (await api(h.gw, 'GET', `/api/event-subscriptions/${sub.id}/deliveries`, undefined, p.key)).body.items[0];
      return d.status === 'failed' ? d : null;
    }, 20_000, 'the delivery failed');
    expect(failed.finishedAt).not.toBeNull();
    expect(failed.nextAt).toBeNull();

    // Back up: a redelivery on request carries the same event id.
    await rx.up();
    const again = await api(h.gw, 'POST', `/api/event-deliveries/${first.id}/redeliver`, undefined, p.key);
    expect(again.status).toBe(201);
    expect(again.body).toMatchObject({ eventId: first.eventId, status: 'pending', attempts: 0 });
    await eventually(() => rx.received.find((e) => e.id === first.eventId), 20_000, 'the event delivered');
    expect(rx.received.filter((e) => e.id === first.eventId)[0]).toMatchObject({ type: 'message.received', signed: true });
    const other = await provisionTenant(h.gw);
    expect((await api(h.gw, 'POST', `/api/event-deliveries/${first.id}/redeliver`, undefined, other.key)).status).toBe(404);
  });
});
