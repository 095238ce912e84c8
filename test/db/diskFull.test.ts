import { execFile } from 'node:child_process';
import { chmod, mkdtemp, open, readFile, realpath, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { runningEmbeddedUrl, socketUrl } from '../../src/db/embedded.ts';
import { SUPERUSER } from '../../src/db/embeddedBootstrap.ts';
import { drainAndAccount, figures, logLines, startLoadedGateway, untilAcked, type LoadedGateway } from '../support/outage.ts';
import { eventually } from '../support/pipeline.ts';

const run = (file: string, args: string[]) =>
  new Promise<void>((resolve, reject) => execFile(file, args, (err, _out, stderr) => (err ? reject(new Error(String(stderr).trim() || err.message)) : resolve())));

/** Writes zeros to `file` until the filesystem refuses (ENOSPC); returns the bytes written. */
async function fill(file: string): Promise<number> {
  const f = await open(file, 'w');
  let written = 0;
  try {
    for (const size of [1 << 20, 4096]) {
      const chunk = Buffer.alloc(size);
      for (;;) {
        try {
          written += (await f.write(chunk)).bytesWritten;
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
          break;
        }
      }
    }
  } finally {
    await f.close();
  }
  return written;
}

/** The embedded server's superuser URL, from its postmaster.pid and credentials file. */
async function superuserUrl(dataDir: string): Promise<string> {
  const lines = (await readFile(path.join(dataDir, 'postgres', 'postmaster.pid'), 'utf8')).split('\n');
  const creds = JSON.parse(await readFile(path.join(dataDir, 'postgres-credentials.json'), 'utf8')) as { superuser: string };
  return socketUrl(SUPERUSER, creds.superuser, 'postgres', lines[4].trim(), Number(lines[3]));
}

/**
 * Makes PostgreSQL need a new WAL segment, which a full disk cannot hold: it
 * switches segments (as its superuser) until the server fails (the
 * connection breaks: a PANIC, and the postmaster restarts or exits).
 */
async function exhaustWal(url: string, deadline: number): Promise<void> {
  const c = new pg.Client({ connectionString: url });
  c.on('error', () => {});
  await c.connect();
  try {
    while (Date.now() < deadline) {
      await c.query('SELECT pg_switch_wal()');
      // Each switch needs some WAL written since the last one: the gateway's statements write it.
      await new Promise((r) => setTimeout(r, 200));
    }
  } catch {
    return;
  } finally {
    await c.end().catch(() => {});
  }
  throw new Error('PostgreSQL kept writing WAL on a full disk');
}

/**
 * Issue 10, case 3: the disk fills up. The embedded cluster lives on a small
 * tmpfs mounted for the test (so it needs root); a filler file takes the last
 * free byte while 40 customers write. Webhooks then answer 503 (PostgreSQL's
 * disk_full, or the server down while it crash-restarts), never 200 for a
 * message that was not stored, and the gateway does not crash; once the
 * filler is deleted it serves again, and every message it acknowledged is
 * stored and answered. Figures: npx vitest run test/db/diskFull.test.ts
 */
describe('the embedded PostgreSQL runs out of disk under load', () => {
  let mnt: string | null = null;
  let mounted = false;
  let systemDir: string | null = null;
  let g: LoadedGateway | null = null;

  afterAll(async () => {
    await g?.close();
    if (mounted) await run('umount', [mnt!]).catch(() => run('umount', ['-l', mnt!]));
    for (const d of [mnt, systemDir]) if (d) await rm(d, { recursive: true, force: true });
  });

  it('answers 503 while the disk is full, stays up, and once space is freed serves again with nothing lost', async (ctx) => {
    if (process.getuid?.() !== 0) {
      console.warn('skipped: the disk-full test mounts a small tmpfs, which needs root');
      ctx.skip();
    }
    mnt = await mkdtemp(path.join(tmpdir(), 'wagate-diskfull-'));
    await chmod(mnt, 0o755);
    try {
      await run('mount', ['-t', 'tmpfs', '-o', 'size=96m,mode=0755', 'tmpfs', mnt]);
      mounted = true;
    } catch (err) {
      console.warn(`skipped: mounting a tmpfs for the disk-full test is not allowed here (${(err as Error).message})`);
      ctx.skip();
    }
    // As root the server's binaries may be copied to WAGATE_EMBEDDED_PG_DIR: not onto the small filesystem.
    systemDir = await mkdtemp(path.join(tmpdir(), 'wagate-diskfull-system-'));
    const dataDir = path.join(mnt, 'data');
    g = await startLoadedGateway({ env: { WAGATE_DATA_DIR: dataDir, WAGATE_EMBEDDED_PG_DIR: systemDir }, customers: 40, pauseMs: 500 });
    const dbUrl = async () => (await runningEmbeddedUrl(dataDir))!;
    expect((await realpath(path.join(dataDir, 'postgres'))).startsWith(mnt + path.sep)).toBe(true);

    g.customers.start();
    await untilAcked(g.customers, 120, 60_000);
    const ackedAtFull = g.customers.acked.length;
    const filler = path.join(mnt, 'filler');
    const fullAt = Date.now();
    const filled = await fill(filler);
    // Held full until the customers have met the refusals for a while.
    await eventually(() => g!.customers.attempts.filter((a) => a.at >= fullAt && a.status !== 200).length >= 50, 60_000, '50 refusals while the disk is full');
    const first503 = g.customers.attempts.find((a) => a.at >= fullAt && a.status === 503);
    // Statements that fail write little WAL; once a new WAL segment is needed, PostgreSQL PANICs and,
    // unable to finish its recovery, exits: the gateway's supervision takes over.
    const suUrl = await superuserUrl(dataDir);
    const walAt = Date.now();
    await exhaustWal(suUrl, walAt + 30_000);
    await eventually(() => g!.log.some((l) => l.includes('embedded PostgreSQL exited')), 30_000, 'the server exited');
    await eventually(() => g!.log.filter((l) => l.includes('embedded PostgreSQL did not start again')).length >= 1, 30_000, 'a restart failed on the full disk');
    expect(g.child.process.exitCode).toBeNull();

    await rm(filler);
    const freedAt = Date.now();
    await untilAcked(g.customers, g.customers.acked.length + 120, 60_000);
    const { account, drainedAt } = await drainAndAccount(g, dbUrl, 45_000);
    const outage = g.customers.outage(fullAt);
    const exitedAt = () => JSON.parse(g!.log.find((l) => l.includes('embedded PostgreSQL exited'))!).time as number;
    console.log(
      figures('embedded PostgreSQL out of disk under load (40 customers, 96 MiB tmpfs)', {
        'filler, MiB': (filled / 2 ** 20).toFixed(1),
        'disk full to first 503, s': first503 && ((first503.at - fullAt) / 1000).toFixed(2),
        'full for (filled to freed), s': ((freedAt - fullAt) / 1000).toFixed(2),
        'WAL exhausted to server exit (PANIC), s': ((exitedAt() - walAt) / 1000).toFixed(2),
        'answers while full by status and code': g.customers.failures(fullAt),
        'answers since full by status': g.customers.statuses(fullAt),
        'freed to serving again, s': outage.servingAgainAt && ((outage.servingAgainAt - freedAt) / 1000).toFixed(2),
        'acknowledged (when full / in all)': `${ackedAtFull} / ${account.acknowledged}`,
        dispositions: account.dispositions,
        'answers sent': account.answers,
        'duplicated sends': account.duplicates.length,
        'freed to every message answered, s': ((drainedAt - freedAt) / 1000).toFixed(2),
        'gateway log lines (warn and up) by message': logLines(g.log),
      }),
    );

    // Refused with 503, never a 500, and never a 200 for a message that was not stored.
    const statuses = g.customers.statuses(fullAt);
    expect(statuses['503'] ?? 0).toBeGreaterThan(0);
    expect(Object.keys(statuses).sort()).toEqual(['200', '503']);
    expect(account.lost).toEqual([]);
    expect(g.child.process.exitCode).toBeNull();
    expect(g.log.some((l) => /embedded PostgreSQL is back after \d+ ms/.test(l))).toBe(true);
    // Nothing lost: every acknowledged message answered, once.
    expect(Object.keys(account.dispositions).filter((d) => d !== 'answered' && d !== 'coalesced')).toEqual([]);
    expect(account.unsent).toEqual([]);
    expect(account.doubleAnswers).toBe(0);
    for (const d of account.duplicates) expect(d.sends).toBe(2);
  });
});
