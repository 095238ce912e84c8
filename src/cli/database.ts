import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Config } from '../config/config.ts';
import { createDb, isUnavailable, type Db } from '../db/db.ts';
import { freePort, startEmbeddedPostgres, type EmbeddedServer } from '../db/embedded.ts';
import { migrate } from '../db/migrate.ts';
import { CommandError } from './errors.ts';
import { note } from './output.ts';

// The embedded server's layout and credentials, as src/db/embedded.ts sets them up.
const EMBEDDED_SUBDIR = 'postgres';
const EMBEDDED_CREDENTIALS = 'postgres:wagate';

/** The database a command works on: migrated, with a small pool. */
export interface CommandDatabase {
  readonly db: Db;
  /** Where it came from, for messages: DATABASE_URL, a running gateway's server, or one started for this command. */
  readonly source: 'url' | 'running' | 'started';
  /** The migrations applied on the way in (none when it was up to date). */
  readonly migrated: string[];
}

/**
 * Runs `fn` on the configured database, migrated first, and cleans up after.
 * With DATABASE_URL, that server. Without it, the embedded server in
 * WAGATE_DATA_DIR: the one a running gateway already started there (its port
 * read from postmaster.pid, so there is never a second server on one data
 * directory), or else one started for this command and stopped after it.
 */
export async function withDatabase<T>(config: Config, fn: (d: CommandDatabase) => Promise<T>): Promise<T> {
  let url = config.databaseUrl;
  let source: CommandDatabase['source'] = 'url';
  let embedded: EmbeddedServer | null = null;
  if (!url) {
    url = await runningEmbeddedUrl(config.dataDir);
    source = 'running';
  }
  try {
    if (!url) {
      embedded = await startEmbedded(config.dataDir);
      url = embedded.url;
      source = 'started';
    }
    let migrated: string[];
    try {
      migrated = await migrate(url);
    } catch (err) {
      throw unreachable(err, source);
    }
    const db = createDb({ connectionString: url, max: 2 });
    try {
      return await fn({ db, source, migrated });
    } catch (err) {
      throw isUnavailable(err) ? unreachable(err, source) : err;
    } finally {
      await db.close();
    }
  } finally {
    await embedded?.stop();
  }
}

/**
 * The URL of the embedded server a live process runs on this data directory,
 * or null. postmaster.pid holds the postmaster's pid on line 1 and its port on line 4.
 */
export async function runningEmbeddedUrl(dataDir: string): Promise<string | null> {
  let lines: string[];
  try {
    lines = (await readFile(path.resolve(dataDir, EMBEDDED_SUBDIR, 'postmaster.pid'), 'utf8')).split('\n');
  } catch {
    return null;
  }
  const pid = Number(lines[0]);
  const port = Number(lines[3]);
  if (!Number.isInteger(pid) || pid <= 0 || !Number.isInteger(port) || port <= 0 || port > 65535) return null;
  if (!alive(pid)) return null;
  return `postgres://${EMBEDDED_CREDENTIALS}@127.0.0.1:${port}/postgres`;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: the process exists but belongs to another user (the server runs as `postgres` under root).
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function startEmbedded(dataDir: string): Promise<EmbeddedServer> {
  const dir = path.resolve(dataDir, EMBEDDED_SUBDIR);
  note(`wagate: starting the embedded PostgreSQL in ${dir}`);
  const lines: string[] = [];
  try {
    return await startEmbeddedPostgres(dataDir, { port: await freePort(), log: (l) => lines.push(l) });
  } catch (err) {
    // The package rejects without a reason when the server exits early; its last log line says why.
    const last = lines.join('').trim().split('\n').filter(Boolean).at(-1);
    const why = err instanceof Error && err.message ? err.message : (last ?? 'it exited at start');
    throw new CommandError(`could not start the embedded PostgreSQL in ${dir}: ${why}`, { cause: err });
  }
}

function unreachable(err: unknown, source: CommandDatabase['source']): unknown {
  if (!isUnavailable(err)) return err;
  const where = source === 'url' ? 'DATABASE_URL' : 'the embedded PostgreSQL';
  const cause = err instanceof Error ? err.message.replace(/^database unavailable: /, '') : String(err);
  return new CommandError(`cannot reach the database (${where}): ${cause}`, { cause: err });
}
