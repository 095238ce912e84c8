import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.ts';
import { histogramBuckets, parsePrometheus, sumOf, type Sample } from '../../bench/prometheus.ts';
import { api, provisionTenant, startTestGateway, TEST_ADMIN_KEY, type TestGateway } from '../support/gateway.ts';
import { postWebhook, textNotification } from '../support/webhooks.ts';

async function scrape(gw: TestGateway): Promise<Sample[]> {
  const res = await fetch(gw.url + '/metrics', { headers: { authorization: `Bearer ${TEST_ADMIN_KEY}` } });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return parsePrometheus(await res.text());
}

describe('GET /metrics and GET /performance-metrics', () => {
  let gw: TestGateway;
  let tenantKey: string;
  let tenantId: string;
  let phoneNumberId: string;
  beforeAll(async () => {
    gw = await startTestGateway();
    const t = await provisionTenant(gw);
    tenantKey = t.key;
    tenantId = t.tenant.id;
    phoneNumberId = t.phoneNumberId;
  });
  afterAll(async () => {
    await gw?.stop();
  });

  it('answers 401 without a key and 403 with a tenant key', async () => {
    for (const path of ['/metrics', '/performance-metrics']) {
      expect((await api(gw, 'GET', path, undefined, null)).status).toBe(401);
      expect((await api(gw, 'GET', path, undefined, 'wgk_not-a-key')).status).toBe(401);
      const forbidden = await api(gw, 'GET', path, undefined, tenantKey);
      expect(forbidden.status).toBe(403);
      expect(forbidden.body.error.code).toBe('forbidden');
    }
  });

  it('serves the fields of the old analysis, times in milliseconds over two windows', async () => {
    const res = await api(gw, 'GET', '/performance-metrics');
    expect(res.status).toBe(200);
    expect(Object.keys(res.body).sort()).toEqual(
      ['ai_processing_time', 'avg_message_processing_time', 'concurrent_messages', 'database_connection_count', 'database_operation_time', 'queue_wait_time'].sort(),
    );
    for (const f of ['avg_message_processing_time', 'database_operation_time', 'queue_wait_time', 'ai_processing_time']) {
      expect(res.body[f].unit).toBe('ms');
      for (const w of ['last_5_minutes', 'since_start']) {
        expect(Object.keys(res.body[f][w]).sort()).toEqual(['count', 'mean', 'p50', 'p95', 'p99']);
      }
    }
    expect(Object.keys(res.body.database_connection_count).sort()).toEqual(['idle', 'opened_since_start', 'total', 'waiting']);
    expect(res.body.database_connection_count.opened_since_start).toBeGreaterThanOrEqual(1);
    expect(res.body.database_connection_count.total).toBeGreaterThanOrEqual(1);
    expect(Object.keys(res.body.concurrent_messages).sort()).toEqual(['current', 'peak']);
  });

  it('counts webhook acknowledgements, round trips and statement times as webhooks flow', async () => {
    const before = await scrape(gw);
    const perfBefore = (await api(gw, 'GET', '/performance-metrics')).body;
    for (let i = 0; i < 5; i++) {
      const res = await postWebhook(gw.url, textNotification(phoneNumberId, `1555000${i}`, `hello ${i}`).body);
      expect(res.status).toBe(200);
    }
    expect((await postWebhook(gw.url, textNotification(phoneNumberId, '15550009', 'x').body, { signature: 'sha256=00' })).status).toBe(401);
    // Background work (housekeeping, the media lane, the sweep) may run a statement while the scrape is read.
    const roundTripsBefore = gw.db.stats.roundTrips;
    const opensBefore = gw.db.stats.connectionsOpened;
    const after = await scrape(gw);
    const roundTripsAfter = gw.db.stats.roundTrips;
    const opensAfter = gw.db.stats.connectionsOpened;
    const perfAfter = (await api(gw, 'GET', '/performance-metrics')).body;

    const acks = (s: Sample[], status: string) => sumOf(s, 'wagate_webhook_ack_seconds_count', { status });
    expect(acks(after, '200') - acks(before, '200')).toBe(5);
    expect(acks(after, '401') - acks(before, '401')).toBe(1);
    // Each stored notification is one statement, and the two scrapes' reads add a few more.
    expect(sumOf(after, 'wagate_db_round_trips_total') - sumOf(before, 'wagate_db_round_trips_total')).toBeGreaterThanOrEqual(5);
    expect(sumOf(after, 'wagate_db_round_trips_total')).toBeGreaterThanOrEqual(roundTripsBefore);
    expect(sumOf(after, 'wagate_db_round_trips_total')).toBeLessThanOrEqual(roundTripsAfter);
    expect(sumOf(after, 'wagate_db_connections_opened_total')).toBeGreaterThanOrEqual(opensBefore);
    expect(sumOf(after, 'wagate_db_connections_opened_total')).toBeLessThanOrEqual(opensAfter);
    const statements = new Set(after.filter((s) => s.name === 'wagate_db_statement_seconds_count').map((s) => s.labels.statement));
    expect(statements.size).toBeGreaterThanOrEqual(1);
    const ingestCount = after
      .filter((s) => s.name === 'wagate_db_statement_seconds_count')
      .reduce((n, s) => n + s.value, 0);
    expect(ingestCount).toBeGreaterThanOrEqual(5);
    expect(perfAfter.database_operation_time.since_start.count - perfBefore.database_operation_time.since_start.count).toBeGreaterThanOrEqual(5);
    expect(perfAfter.database_operation_time.last_5_minutes.p50).toBeGreaterThan(0);
    for (const g of ['wagate_db_pool_connections', 'wagate_db_pool_idle', 'wagate_db_pool_waiting']) {
      expect(after.some((s) => s.name === g)).toBe(true);
    }
    expect(sumOf(after, 'wagate_db_pool_connections')).toBeGreaterThanOrEqual(1);
    // A gauge never carries a counter's suffix (promtool check metrics flags it).
    expect(after.some((s) => s.name === 'wagate_db_pool_total')).toBe(false);
  });

  it('counts notifications for a number no channel has', async () => {
    const before = sumOf(await scrape(gw), 'wagate_webhook_unroutable_total');
    expect((await postWebhook(gw.url, textNotification('pn-nobody-has-this', '15550001', 'hi').body)).status).toBe(200);
    expect(sumOf(await scrape(gw), 'wagate_webhook_unroutable_total') - before).toBe(1);
  });

  it('moves the turn series (one global series each, no tenant label) and the performance windows on turn events', async () => {
    const perfBefore = (await api(gw, 'GET', '/performance-metrics')).body;
    const bus = gw.bus;
    bus.emit('turn.inflight', { count: 3 });
    bus.emit('turn.inflight', { count: 1 });
    bus.emit('turn.done', { tenantId, conversationId: '1', disposition: 'answered', queueMs: 1, agentMs: 40, sendMs: 8, totalMs: 50 });
    bus.emit('turn.done', { tenantId, conversationId: '2', disposition: 'answered', queueMs: 2, agentMs: 90, sendMs: 5, totalMs: 100 });
    bus.emit('message.out', { tenantId, conversationId: '2', messageId: '9', author: 'agent', result: 'failed', errorCode: 131047, ms: 3 });
    bus.emit('message.in', { tenantId, conversationId: '2', messageId: '10', type: 'text', direction: 'inbound', disposition: null });
    bus.emit('message.in', { tenantId, conversationId: '2', messageId: '11', type: 'made_up_type', direction: 'inbound', disposition: null });
    bus.emit('message.disposition', { tenantId, conversationId: '2', disposition: 'answered', count: 2 });
    bus.emit('message.status', { tenantId, conversationId: '2', messageId: '9', status: 'failed', errorCode: 131026 });

    const s = await scrape(gw);
    expect(sumOf(s, 'wagate_turn_seconds_count')).toBe(2);
    expect(sumOf(s, 'wagate_turn_seconds_sum')).toBeCloseTo(0.15, 6);
    expect(sumOf(s, 'wagate_turn_agent_seconds_sum')).toBeCloseTo(0.13, 6);
    expect(sumOf(s, 'wagate_turn_send_seconds_sum')).toBeCloseTo(0.013, 6);
    expect(sumOf(s, 'wagate_turn_queue_wait_seconds_count')).toBe(2);
    // Overhead: (50 - 40 - 8) + (100 - 90 - 5) = 7 ms.
    expect(sumOf(s, 'wagate_turn_overhead_seconds_sum')).toBeCloseTo(0.007, 6);
    const overhead = histogramBuckets(s, 'wagate_turn_overhead_seconds');
    expect(overhead.find((b) => b.le === 0.002)?.count).toBe(1);
    expect(overhead.find((b) => b.le === 0.005)?.count).toBe(2);
    // Histograms are global by default: none carries a tenant label; the per-tenant counters do.
    const histograms = s.filter((x) => x.name.endsWith('_bucket'));
    expect(histograms.length).toBeGreaterThan(0);
    expect(histograms.filter((x) => 'tenant' in x.labels)).toEqual([]);
    expect(sumOf(s, 'wagate_turns_total', { tenant: tenantId, disposition: 'answered' })).toBe(2);
    expect(sumOf(s, 'wagate_messages_out_total', { tenant: tenantId, author: 'agent', result: 'failed', error_code: '131047' })).toBe(1);
    expect(sumOf(s, 'wagate_messages_in_total', { tenant: tenantId, type: 'text', direction: 'inbound' })).toBe(1);
    expect(sumOf(s, 'wagate_messages_in_total', { tenant: tenantId, type: 'other' })).toBe(1);
    expect(sumOf(s, 'wagate_message_dispositions_total', { tenant: tenantId, disposition: 'answered' })).toBe(2);
    expect(sumOf(s, 'wagate_message_statuses_total', { tenant: tenantId, status: 'failed', error_code: '131026' })).toBe(1);
    expect(sumOf(s, 'wagate_turns_inflight')).toBe(1);
    expect(sumOf(s, 'wagate_turns_inflight_peak')).toBe(3);
    // Never a message or conversation id as a label.
    expect(s.some((x) => 'conversation' in x.labels || 'message' in x.labels || 'conversationId' in x.labels)).toBe(false);

    const perf = (await api(gw, 'GET', '/performance-metrics')).body;
    const turns = perf.avg_message_processing_time;
    expect(turns.since_start.count - perfBefore.avg_message_processing_time.since_start.count).toBe(2);
    expect(turns.last_5_minutes.count).toBe(2);
    expect(turns.last_5_minutes.mean).toBe(75);
    expect(turns.last_5_minutes.p99).toBe(100);
    expect(perf.ai_processing_time.last_5_minutes.p50).toBe(40);
    expect(perf.queue_wait_time.last_5_minutes.p99).toBe(2);
    expect(perf.concurrent_messages).toEqual({ current: 1, peak: 3 });
  });

  it('one set of series per gateway: what the routes serve is the gateway\'s metrics', () => {
    expect(gw.metrics.performance().concurrent_messages.peak).toBe(3);
  });

  it('reports the running version in wagate_build_info', async () => {
    const pkg = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8'));
    const info = (await scrape(gw)).filter((x) => x.name === 'wagate_build_info');
    expect(info).toEqual([{ name: 'wagate_build_info', labels: { version: pkg.version, node_version: process.versions.node }, value: 1 }]);
  });
});

describe('WAGATE_METRICS_KEY and WAGATE_METRICS_TENANT_HISTOGRAMS', () => {
  const METRICS_KEY = 'metrics-key-for-prometheus-0123456789';
  let gw: TestGateway;
  let tenantId: string;
  beforeAll(async () => {
    gw = await startTestGateway({ env: { WAGATE_METRICS_KEY: METRICS_KEY, WAGATE_METRICS_TENANT_HISTOGRAMS: 'true' } });
    tenantId = (await provisionTenant(gw)).tenant.id;
  });
  afterAll(async () => {
    await gw?.stop();
  });

  it('the metrics key reads /metrics and /performance-metrics', async () => {
    const m = await fetch(gw.url + '/metrics', { headers: { authorization: `Bearer ${METRICS_KEY}` } });
    expect(m.status).toBe(200);
    expect(await m.text()).toMatch(/^wagate_build_info\{/m);
    const p = await api(gw, 'GET', '/performance-metrics', undefined, METRICS_KEY);
    expect(p.status).toBe(200);
    expect(p.body.concurrent_messages).toBeDefined();
    // The admin key still reads them.
    expect((await api(gw, 'GET', '/metrics')).status).toBe(200);
  });

  it('the metrics key opens no /api route', async () => {
    const calls: [string, string, unknown?][] = [
      ['GET', '/api/conversations'],
      ['GET', '/api/performance'],
      ['GET', '/api/usage'],
      ['GET', '/api/session'],
      ['GET', '/api/settings'],
      ['GET', '/api/events'],
      ['GET', `/api/tenants/${tenantId}`],
      ['PATCH', `/api/tenants/${tenantId}`, { monthlyMessageLimit: 1 }],
      ['POST', '/api/tenants', { name: 'Sneaky', agent: { provider: 'demo' } }],
      ['POST', `/api/tenants/${tenantId}/api-keys`],
      ['POST', '/api/session', { key: METRICS_KEY }],
    ];
    for (const [method, path, body] of calls) {
      const res = await api(gw, method, path, body, method === 'POST' && path === '/api/session' ? null : METRICS_KEY);
      expect([401, 403], `${method} ${path}`).toContain(res.status);
    }
  });

  it('with the switch on, the turn histograms carry the tenant label', async () => {
    gw.bus.emit('turn.done', { tenantId, conversationId: '1', disposition: 'answered', queueMs: 1, agentMs: 40, sendMs: 8, totalMs: 50 });
    const s = await scrape(gw);
    expect(sumOf(s, 'wagate_turn_seconds_count', { tenant: tenantId })).toBe(1);
    for (const h of ['wagate_turn_queue_wait_seconds', 'wagate_turn_agent_seconds', 'wagate_turn_send_seconds', 'wagate_turn_overhead_seconds']) {
      expect(s.filter((x) => x.name === `${h}_count`).map((x) => x.labels)).toEqual([{ tenant: tenantId }]);
    }
  });

  it('refuses a metrics key that is the admin key or weak', () => {
    const base = { WAGATE_ADMIN_KEY: TEST_ADMIN_KEY, WAGATE_SECRET_KEY: 'a'.repeat(64), WHATSAPP_APP_SECRET: 's', WHATSAPP_VERIFY_TOKEN: 't' };
    expect(() => loadConfig({ ...base, WAGATE_METRICS_KEY: TEST_ADMIN_KEY })).toThrow(/WAGATE_METRICS_KEY: must differ from WAGATE_ADMIN_KEY/);
    expect(() => loadConfig({ ...base, WAGATE_METRICS_KEY: 'short' })).toThrow(/WAGATE_METRICS_KEY: must carry at least 128 bits/);
    expect(() => loadConfig({ ...base, WAGATE_METRICS_TENANT_HISTOGRAMS: 'yes' })).toThrow(/WAGATE_METRICS_TENANT_HISTOGRAMS: must be true or false/);
  });
});
