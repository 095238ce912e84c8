import { afterAll, describe, expect, it } from 'vitest';
import { DebianCluster, debianPostgresBin } from '../../bench/debianPostgres.ts';
import { eventually } from '../support/pipeline.ts';
import { drainAndAccount, figures, listeners, logLines, startLoadedGateway, untilAcked, watchReadiness, type LoadedGateway } from '../support/outage.ts';

const bin = debianPostgresBin();
if (!bin) console.warn('skipped: PostgreSQL restart with DATABASE_URL needs Debian\'s server binaries (apt-get install postgresql): none in /usr/lib/postgresql/*/bin');

/**
 * Issue 10, case 1 with DATABASE_URL: the server is not the gateway's to
 * restart. Debian's PostgreSQL crashes under load (`pg_ctl stop -m
 * immediate`: no checkpoint, recovery at the next start) and is started
 * again; the gateway answers 503 meanwhile, reconnects by itself (pool and
 * both LISTEN connections), and answers every acknowledged message once.
 * Figures: npx vitest run test/db/externalRestart.test.ts
 */
describe.skipIf(!bin)('an external PostgreSQL (DATABASE_URL) crashed under load and started again', () => {
  let cluster: DebianCluster | null = null;
  let g: LoadedGateway | null = null;

  afterAll(async () => {
    await g?.close();
    await cluster?.destroy();
  });

  it('503 while it is down; the gateway reconnects when it is back and answers every acknowledged message once', async () => {
    cluster = await DebianCluster.create(bin!);
    const dbUrl = async () => cluster!.url;
    g = await startLoadedGateway({ dbUrl: cluster.url, env: {}, customers: 40, pauseMs: 500 });
    expect(await listeners(cluster.url)).toBe(2);

    g.customers.start();
    await untilAcked(g.customers, 120, 60_000);
    const readiness = watchReadiness(g.child.url);
    const ackedAtKill = g.customers.acked.length;
    const killedAt = Date.now();
    await cluster.crash();
    // Down until the gateway has been seen refusing: customers get 503, not 200.
    await eventually(() => g!.customers.attempts.some((a) => a.at >= killedAt && a.status === 503), 30_000, 'a 503 while the server is down');
    await cluster.start();
    const backAt = Date.now();
    await untilAcked(g.customers, g.customers.acked.length + 120, 60_000);
    const ready = await readiness.stop();
    await eventually(async () => (await listeners(cluster!.url)) === 2, 20_000, 'work and key listeners listening again');

    const { account, drainedAt } = await drainAndAccount(g, dbUrl, 30_000);
    const statuses = g.customers.statuses(killedAt);
    const outage = g.customers.outage(killedAt);
    console.log(
      figures('Debian PostgreSQL (DATABASE_URL) crashed and restarted under load (40 customers)', {
        'server down (crash to started again), s': ((backAt - killedAt) / 1000).toFixed(2),
        'webhooks failing (first to last non-200), s': outage.firstFailureAt && ((outage.lastFailureAt! - outage.firstFailureAt) / 1000).toFixed(2),
        'server started to serving again, s': outage.servingAgainAt && ((outage.servingAgainAt - backAt) / 1000).toFixed(2),
        '/readyz not ready for, s': ready.notReadyAt && ready.readyAgainAt && ((ready.readyAgainAt - ready.notReadyAt) / 1000).toFixed(2),
        'answers since the crash by status': statuses,
        'failures after the server was back': g.customers.failures(backAt),
        'acknowledged (at the crash / in all)': `${ackedAtKill} / ${account.acknowledged}`,
        dispositions: account.dispositions,
        'answers sent': account.answers,
        'duplicated sends (in flight at the crash)': account.duplicates.length,
        'crash to every message answered, s': ((drainedAt - killedAt) / 1000).toFixed(2),
        'gateway log lines (warn and up) by message': logLines(g.log),
      }),
    );

    expect(statuses['503'] ?? 0).toBeGreaterThan(0);
    expect(Object.keys(statuses).sort()).toEqual(['200', '503']);
    expect(outage.servingAgainAt! - backAt).toBeLessThan(30_000);
    expect(ready.notReadyAt, ready.changes.join(' ')).not.toBeNull();
    expect(ready.readyAgainAt, ready.changes.join(' ')).not.toBeNull();
    expect(g.child.process.exitCode).toBeNull();
    expect(account.lost).toEqual([]);
    expect(Object.keys(account.dispositions).filter((d) => d !== 'answered' && d !== 'coalesced')).toEqual([]);
    expect(account.unsent).toEqual([]);
    expect(account.doubleAnswers).toBe(0);
    for (const d of account.duplicates) {
      expect(d.sends).toBe(2);
      expect(d.firstAt).toBeGreaterThanOrEqual(killedAt - 1_000);
      expect(d.firstAt).toBeLessThanOrEqual(backAt);
    }
  });
});
