import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AUTH_CACHE_MS } from '../../src/api/auth.ts';
import { startCloudApiSimulator, type CloudApiSimulator } from '../../src/sandbox/cloudApiSimulator.ts';
import { startFakeModel, type FakeModel } from '../../bench/fakeModel.ts';
import { Customers, newWaId, SendLog } from '../conversation/customers.ts';
import { DebianCluster, debianPostgresBin } from '../../bench/debianPostgres.ts';
import { api, provisionTenant, startTestGateway } from '../support/gateway.ts';
import { listeners } from '../support/outage.ts';
import { cliWorkDir, runCli } from '../cli/runCli.ts';
import { PgBouncer, pgbouncerBin } from '../../bench/pgbouncer.ts';
import { eventually, startPipeline, type PipelineHarness } from '../support/pipeline.ts';

const pgBin = debianPostgresBin();
const bouncerBin = pgbouncerBin();
const missing = [!pgBin && "Debian's PostgreSQL server (apt-get install postgresql)", !bouncerBin && 'pgbouncer (apt-get install pgbouncer)'].filter(Boolean);
// CI installs both (.ci/run): there, a missing binary fails the test instead of skipping it.
const skip = missing.length > 0 && !process.env.CI;
if (skip) console.warn(`skipped: wagate through PgBouncer needs ${missing.join(' and ')}`);

/** Server connections PgBouncer opens to PostgreSQL, for the two gateways' 20 pool connections. */
const SERVER_POOL = 4;

/**
 * Issue 11, item 3: managed PostgreSQL behind a transaction-mode pooler.
 * Two gateways reach Debian's PostgreSQL through Debian's PgBouncer (pool_mode
 * = transaction, 4 server connections for their 20 pool connections, so each
 * transaction may run on another server session than the one before) with
 * DATABASE_PREPARED_STATEMENTS=false, and reach it directly
 * (DATABASE_DIRECT_URL) for LISTEN, the process lock and migrations.
 */
describe.skipIf(skip)('wagate through PgBouncer in transaction mode', () => {
  let cluster: DebianCluster;
  let bouncer: PgBouncer;
  let model: FakeModel;
  let cloud: CloudApiSimulator;
  let one: PipelineHarness;
  let two: PipelineHarness;
  let sends: SendLog;

  beforeAll(async () => {
    if (missing.length) throw new Error(`CI must install ${missing.join(' and ')} (.ci/run)`);
    cluster = await DebianCluster.create(pgBin!);
    bouncer = await PgBouncer.start(bouncerBin!, cluster.url, { poolSize: SERVER_POOL });
    model = await startFakeModel();
    cloud = await startCloudApiSimulator({ statusDelaysMs: null });
    sends = new SendLog(cloud);
    const env = { DATABASE_DIRECT_URL: cluster.url, DATABASE_PREPARED_STATEMENTS: 'false', DB_POOL_MAX: '10' };
    one = await startPipeline({ dbUrl: bouncer.url, env, cloud, model });
    two = await startPipeline({ dbUrl: bouncer.url, env, cloud, model });
  }, 120_000);

  afterAll(async () => {
    sends?.stop();
    await two?.close();
    await one?.close();
    await cloud?.close();
    await model?.close();
    await bouncer?.stop();
    await cluster?.destroy();
  });

  it('the pool goes through PgBouncer, many clients on few server connections; LISTEN and the process locks go direct', async () => {
    const pool = await bouncer.pool();
    expect(pool.clients).toBe(20);
    expect(pool.servers).toBeLessThanOrEqual(SERVER_POOL);
    // A key listener and a work listener per gateway, on the direct URL (PgBouncer would refuse none, but deliver nothing).
    await eventually(async () => (await listeners(cluster.url)) === 4, 20_000, 'four LISTEN sessions on the server');
    const direct = new pg.Client({ connectionString: cluster.url });
    await direct.connect();
    try {
      const { rows } = await direct.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM gateway_processes g JOIN pg_locks l
           ON l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
          AND ((l.classid::int8 << 32) | l.objid::int8) = g.lock_key`,
      );
      expect(rows[0].n).toBe(2);
    } finally {
      await direct.end();
    }
  });

  it('customer messages posted to either gateway are each answered once', async () => {
    const t = await provisionTenant(one.gw, { agent: { provider: 'openai' } });
    const customers = [new Customers(one.gw.url, t.phoneNumberId), new Customers(two.gw.url, t.phoneNumberId)];
    const was = Array.from({ length: 12 }, () => newWaId());
    await Promise.all(was.map((wa, i) => customers[i % 2].say(wa, `hello ${i}`)));
    await eventually(() => was.every((wa) => sends.to(wa).length >= 1), 60_000, 'every customer answered');
    for (const wa of was) expect(sends.to(wa)).toHaveLength(1);
  });

  it('a key revoked through one gateway is refused by the other before its cache would forget it (the LISTEN on the direct URL)', async () => {
    const t = await provisionTenant(one.gw, { name: 'Revoked' });
    const spare = (await api(one.gw, 'POST', `/api/tenants/${t.tenant.id}/api-keys`)).body;
    // The second gateway holds the key in its cache now: only the announcement can make it forget.
    expect((await api(two.gw, 'GET', '/api/usage', undefined, spare.key)).status).toBe(200);
    expect((await api(one.gw, 'DELETE', `/api/api-keys/${spare.id}`)).status).toBe(200);
    // Well inside the cache's lifetime (AUTH_CACHE_MS), so only the announcement can explain the refusal.
    await eventually(async () => (await api(two.gw, 'GET', '/api/usage', undefined, spare.key)).status === 401, AUTH_CACHE_MS / 2, 'the revoked key refused by the other gateway');
    expect((await api(two.gw, 'GET', '/api/usage', undefined, t.key)).status).toBe(200);
  });

  it('the commands work the same way: migrations over the direct URL, the rest through PgBouncer', async () => {
    const cwd = await cliWorkDir();
    const secret = { WAGATE_SECRET_KEY: 'b'.repeat(64) };
    // The pooler's address refuses: only the direct URL can have served the migration lock.
    const migrated = await runCli(['migrate'], { cwd, env: { ...secret, DATABASE_URL: 'postgres://u:pw@127.0.0.1:1/none', DATABASE_DIRECT_URL: cluster.url, DATABASE_PREPARED_STATEMENTS: 'false' } });
    expect(migrated).toMatchObject({ code: 0, stdout: 'the database is up to date\n' });
    const created = await runCli(['tenant', 'create', '--name', 'Through the pooler'], { cwd, env: { ...secret, DATABASE_URL: bouncer.url, DATABASE_DIRECT_URL: cluster.url, DATABASE_PREPARED_STATEMENTS: 'false' } });
    expect(created.code, created.stderr).toBe(0);
    expect(JSON.parse(created.stdout)).toMatchObject({ name: 'Through the pooler' });
  });

  it('refuses to start when the direct URL names another database than the pool (NOTIFY would not reach it)', async () => {
    const admin = new pg.Client({ connectionString: cluster.url });
    await admin.connect();
    await admin.query('CREATE DATABASE wagate_other');
    await admin.end();
    const other = new URL(cluster.url);
    other.pathname = '/wagate_other';
    const start = startTestGateway({ dbUrl: bouncer.url, env: { DATABASE_DIRECT_URL: other.toString(), DATABASE_PREPARED_STATEMENTS: 'false' } });
    await expect(start).rejects.toThrow(/^DATABASE_DIRECT_URL does not reach the database of DATABASE_URL: a notification sent through the pool did not arrive/);
  });
});
