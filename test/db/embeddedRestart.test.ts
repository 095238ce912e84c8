import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runningEmbeddedUrl } from '../../src/db/embedded.ts';
import { eventually } from '../support/pipeline.ts';
import { drainAndAccount, figures, listeners, logLines, startLoadedGateway, untilAcked, watchReadiness, type LoadedGateway } from '../support/outage.ts';

/**
 * Issue 10, case 1: PostgreSQL dies under load. The gateway's embedded server
 * is killed with SIGKILL while 40 customers write; the gateway supervises it
 * and starts it again. Meanwhile webhooks answer 503 (Meta delivers them
 * again, same wamid) and /readyz is not ready; within 30 s it serves again,
 * and every message it acknowledged is answered exactly once. The only sends
 * that may go out twice are those in flight at the kill (accepted by the
 * Cloud API while their `sent` could not be recorded); they are counted and
 * printed. Figures: npx vitest run test/db/embeddedRestart.test.ts
 */
describe('the embedded PostgreSQL killed under load', () => {
  let dir: string;
  let g: LoadedGateway | null = null;

  afterAll(async () => {
    await g?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('is restarted by the gateway: 503 while down, serving again within 30 s, every acknowledged message answered once', async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'wagate-pgkill-'));
    g = await startLoadedGateway({ env: { WAGATE_DATA_DIR: dir }, customers: 40, pauseMs: 500 });
    const dbUrl = async () => (await runningEmbeddedUrl(dir))!;
    expect(await listeners(await dbUrl())).toBe(2);

    g.customers.start();
    await untilAcked(g.customers, 120, 60_000);

    const pid = Number((await readFile(path.join(dir, 'postgres', 'postmaster.pid'), 'utf8')).split('\n')[0]);
    const readiness = watchReadiness(g.child.url);
    const ackedAtKill = g.customers.acked.length;
    const killedAt = Date.now();
    process.kill(pid, 'SIGKILL');

    const exitLine = await eventually(() => g!.log.find((l) => l.includes('embedded PostgreSQL exited (signal SIGKILL); restarting')), 30_000, 'the exit logged');
    expect(JSON.parse(exitLine).level).toBe(50);
    const backLine = await eventually(() => g!.log.find((l) => /embedded PostgreSQL is back after \d+ ms/.test(l)), 30_000, 'the server back');
    const backAt = Date.now();
    expect(backAt - killedAt).toBeLessThan(30_000);
    // Customers are served again: fresh messages acknowledged after the restart.
    await untilAcked(g.customers, g.customers.acked.length + 120, 60_000);
    const ready = await readiness.stop();

    const newPid = Number((await readFile(path.join(dir, 'postgres', 'postmaster.pid'), 'utf8')).split('\n')[0]);
    expect(newPid).not.toBe(pid);
    // Both LISTEN connections came back.
    await eventually(async () => (await listeners(await dbUrl())) === 2, 15_000, 'work and key listeners listening again');

    const { account, drainedAt } = await drainAndAccount(g, dbUrl, 30_000);
    const statuses = g.customers.statuses(killedAt);
    const outage = g.customers.outage(killedAt);
    console.log(
      figures('embedded PostgreSQL SIGKILLed under load (40 customers)', {
        'restart logged': JSON.parse(backLine).msg,
        'webhooks failing (first to last non-200), s': outage.firstFailureAt && ((outage.lastFailureAt! - outage.firstFailureAt) / 1000).toFixed(2),
        'kill to serving again, s': outage.servingAgainAt && ((outage.servingAgainAt - killedAt) / 1000).toFixed(2),
        '/readyz not ready for, s': ready.notReadyAt && ready.readyAgainAt && ((ready.readyAgainAt - ready.notReadyAt) / 1000).toFixed(2),
        'answers since the kill by status': statuses,
        '/readyz answers (status@ms after the kill)': ready.changes.map((c) => c.replace(/@(\d+)/, (_, t) => `@${Number(t) - killedAt}`)),
        'failures after the server was back': g.customers.failures(backAt),
        'acknowledged (at the kill / in all)': `${ackedAtKill} / ${account.acknowledged}`,
        dispositions: account.dispositions,
        'answers sent': account.answers,
        'duplicated sends (in flight at the kill)': account.duplicates.length,
        'kill to every message answered, s': ((drainedAt - killedAt) / 1000).toFixed(2),
        'gateway log lines (warn and up) by message': logLines(g.log),
      }),
    );

    // 503 while down, never a 500; the gateway itself stayed up.
    expect(statuses['503'] ?? 0).toBeGreaterThan(0);
    expect(Object.keys(statuses).sort()).toEqual(['200', '503']);
    expect(outage.servingAgainAt! - killedAt).toBeLessThan(30_000);
    expect(ready.notReadyAt, ready.changes.join(' ')).not.toBeNull();
    expect(ready.readyAgainAt, ready.changes.join(' ')).not.toBeNull();
    expect(g.child.process.exitCode).toBeNull();
    // Every acknowledged message stored, settled, and its turn answered exactly once.
    expect(account.lost).toEqual([]);
    expect(Object.keys(account.dispositions).filter((d) => d !== 'answered' && d !== 'coalesced')).toEqual([]);
    expect(account.unsent).toEqual([]);
    expect(account.doubleAnswers).toBe(0);
    // A resend only for a reply the Cloud API accepted before the database was back.
    for (const d of account.duplicates) {
      expect(d.sends).toBe(2);
      expect(d.firstAt).toBeGreaterThanOrEqual(killedAt - 1_000);
      expect(d.firstAt).toBeLessThanOrEqual(backAt);
    }
  });
});
