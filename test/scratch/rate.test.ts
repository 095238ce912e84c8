import { it } from 'vitest';
import { api, provisionTenant } from '../support/gateway.ts';
import { startPipeline } from '../support/pipeline.ts';
import { postWebhook, textNotification } from '../support/webhooks.ts';
import { sqlClient } from '../support/db.ts';
import { startReceiver } from '../events/receiver.ts';

it('rate', async () => {
  const rx = await startReceiver('receiver-secret-0123456789');
  const h = await startPipeline({ env: { WAGATE_EGRESS_ALLOW: rx.host } });
  const p = await provisionTenant(h.gw, { agent: { provider: 'openai' } });
  await api(h.gw, 'POST', '/api/event-subscriptions', { url: rx.url, secret: 'receiver-secret-0123456789', events: ['*'] }, p.key);
  const stmts = new Map<string, { n: number; ms: number }>();
  h.gw.bus.on('db.statement', (e) => { const s = stmts.get(e.name) ?? { n: 0, ms: 0 }; s.n++; s.ms += e.ms; stmts.set(e.name, s); });
  const t0 = Date.now();
  await Promise.all(Array.from({ length: 100 }, async (_, i) => {
    for (let k = 0; k < 10; k++) {
      const wa = String(15550010000 + i);
      const sent = h.cloud.once('send', (e) => e.to === wa && e.body === `echo: m${k}`, 30_000);
      await postWebhook(h.gw.url, textNotification(p.phoneNumberId, wa, `m${k}`).body);
      await sent;
    }
  }));
  const t1 = Date.now();
  const c = await sqlClient(h.gw.dbUrl);
  const ev = (await c.query('SELECT count(*)::int n FROM events')).rows[0].n;
  console.log('answers 1000 in', t1 - t0, 'ms; events', ev, 'received', rx.received.length);
  for (let i = 0; i < 20 && rx.received.length < ev; i++) await new Promise((r) => setTimeout(r, 500));
  console.log('after drain', Date.now() - t1, 'ms received', rx.received.length, [...stmts].filter(([k]) => k.startsWith('event')));
  const times = rx.received.map((e) => e.at - Date.parse(e.time)).sort((a, b) => a - b); console.log('lag p50', times[times.length >> 1], 'p99', times[Math.floor(times.length * 0.99)]);
  console.log((await c.query(`SELECT status, count(*), avg(attempts) FROM event_deliveries GROUP BY 1`)).rows);
  await c.end();
  await h.close();
  await rx.close();
}, 120_000);
