import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { textMessages, startBaseline, type BaselineServer } from '../../bench/baseline/server.ts';
import { createDb } from '../../src/db/db.ts';
import { startCloudApiSimulator, type CloudApiSimulator } from '../../src/sandbox/cloudApiSimulator.ts';
import { EgressPolicy } from '../../src/shared/egress.ts';
import { Provisioning } from '../../src/tenancy/provision.ts';
import { freshDatabase, sqlClient } from '../support/db.ts';
import { startFakeModel, type FakeModel } from '../../bench/fakeModel.ts';
import { TEST_APP_SECRET, TEST_SECRET_KEY } from '../support/gateway.ts';
import { eventually } from '../support/pipeline.ts';
import { postWebhook, textNotification } from '../support/webhooks.ts';

const SECRET = Buffer.from(TEST_SECRET_KEY, 'hex');

/** Sessions PostgreSQL has seen start on this database (its own count, not ours). */
async function sessions(c: pg.Client): Promise<number> {
  await c.query('SELECT pg_stat_clear_snapshot()');
  const r = await c.query<{ sessions: string }>('SELECT sessions FROM pg_stat_database WHERE datname = current_database()');
  return Number(r.rows[0].sessions);
}

describe('the re-created old pipeline (--baseline)', () => {
  let dbUrl: string;
  let cloud: CloudApiSimulator;
  let model: FakeModel;
  let baseline: BaselineServer;
  let phoneNumberId: string;

  beforeAll(async () => {
    dbUrl = await freshDatabase();
    const db = createDb({ connectionString: dbUrl, max: 1 });
    const p = new Provisioning(db, SECRET, 'openai', { defaultModel: 'gpt-4o-mini', allowedModels: [] }, new EgressPolicy());
    const t = await p.createTenant({ name: 'Old', agent: { provider: 'openai' } });
    phoneNumberId = 'pnbaseline1';
    await p.addChannel(t.id, { phoneNumberId, displayPhoneNumber: '+1 555 0100', accessToken: 'token-old' });
    await db.close();
    model = await startFakeModel({ record: false });
    cloud = await startCloudApiSimulator({ statusDelaysMs: null, tokens: new Map([[phoneNumberId, 'token-old']]) });
    baseline = await startBaseline({
      databaseUrl: dbUrl,
      whatsappApiUrl: cloud.url + '/v25.0',
      modelBaseUrl: model.openaiBaseUrl,
      modelApiKey: 'sk-test',
      model: 'old-model',
      appSecret: TEST_APP_SECRET,
      secretKey: SECRET,
    });
  });
  afterAll(async () => {
    await baseline?.close();
    await cloud?.close();
    await model?.close();
  });

  it('opens a new connection for each of its 8 operations per message, and answers', async () => {
    const c = await sqlClient(dbUrl);
    try {
      const sessionsBefore = await sessions(c);
      const customers = ['15550000001', '15550000002', '15550000003', '15550000004', '15550000005'];
      for (const from of customers) {
        const res = await postWebhook(baseline.url, textNotification(phoneNumberId, from, `hello from ${from}`).body);
        expect(res.status).toBe(200);
      }
      await eventually(() => cloud.stats().sends >= 5, 20_000, 'five answers');
      const sent = cloud.requests().filter((r) => r.phoneNumberId === phoneNumberId);
      expect(sent.map((r) => (r.body as { to: string }).to).sort()).toEqual(customers);
      expect(sent.every((r) => (r.body as { text: { body: string } }).text.body.startsWith('echo: hello from'))).toBe(true);
      // Its own count: 8 statements and 8 connections per message.
      await eventually(() => baseline.pipeline.counts.roundTrips >= 40, 5_000, 'the last operations');
      expect(baseline.pipeline.counts).toEqual({ roundTrips: 40, connectionsOpened: 40 });
      // PostgreSQL's count agrees: 40 sessions started on this database (plus this client's none: it was already open).
      await eventually(async () => (await sessions(c)) - sessionsBefore >= 40, 10_000, 'the server to count the sessions');
      expect((await sessions(c)) - sessionsBefore).toBe(40);
      const rows = await c.query<{ direction: string; n: string }>('SELECT direction, count(*) AS n FROM messages GROUP BY direction ORDER BY direction');
      expect(rows.rows).toEqual([
        { direction: 'inbound', n: '5' },
        { direction: 'outbound', n: '5' },
      ]);
      const usage = await c.query<{ count: number }>('SELECT count FROM usage');
      expect(usage.rows).toEqual([{ count: 5 }]);
    } finally {
      await c.end();
    }
  });

  it('serves its counts under the names the benchmark reads', async () => {
    const text = await (await fetch(baseline.url + '/metrics')).text();
    expect(text).toMatch(/^wagate_db_round_trips_total 40$/m);
    expect(text).toMatch(/^wagate_db_connections_opened_total 40$/m);
    expect(text).toMatch(/^wagate_turn_overhead_seconds_count 5$/m);
    expect(text).toMatch(/^wagate_webhook_ack_seconds_count\{status="200"\} 5$/m);
  });

  it('refuses a wrong signature and takes only text messages', async () => {
    const n = textNotification(phoneNumberId, '15550000009', 'x');
    expect((await postWebhook(baseline.url, n.body, { signature: 'sha256=' + '0'.repeat(64) })).status).toBe(401);
    expect(textMessages(n.body)).toEqual([{ phoneNumberId, from: '15550000009', profileName: 'Customer 15550000009', wamid: n.wamid, text: 'x' }]);
    expect(textMessages({ object: 'whatsapp_business_account', entry: [{ changes: [{ field: 'messages', value: { metadata: { phone_number_id: 'p' }, statuses: [{}] } }] }] })).toEqual([]);
  });
});
