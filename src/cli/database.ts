import path from 'node:path';
import type { Config } from '../config/config.ts';
import { createDb, isUnavailable, type Db } from '../db/db.ts';
import { EmbeddedPostgresError, runningEmbeddedUrl, startEmbeddedPostgres, type EmbeddedServer } from '../db/embedded.ts';
import { migrate } from '../db/migrate.ts';
import { CommandError } from './errors.ts';
import { note } from './output.ts';

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
 * WAGATE_DATA_DIR: the one a running gateway already started there (its socket
 * and port read from postmaster.pid, so there is never a second server on one
 * data directory), or else one started for this command and stopped after it.
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
      embedded = await startEmbedded(config);
      url = embedded.url;
      source = 'started';
    }
    let migrated: string[];
    try {
      // The migration lock is a session lock: through DATABASE_DIRECT_URL when the URL is a pooler's.
      migrated = await migrate(source === 'url' ? (config.databaseDirectUrl ?? url) : url);
    } catch (err) {
      throw unreachable(err, source);
    }
    const db = createDb({ connectionString: url, max: 2, preparedStatements: config.preparedStatements });
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

async function startEmbedded(config: Config): Promise<EmbeddedServer> {
  const dir = path.resolve(config.dataDir, 'postgres');
  note(`wagate: starting the embedded PostgreSQL in ${dir}`);
  try {
    return await startEmbeddedPostgres(config.dataDir, config.embeddedPostgres);
  } catch (err) {
    // EmbeddedPostgresError's message names the cause and the setting; anything else gets the folder.
    if (err instanceof EmbeddedPostgresError) throw err;
    throw new CommandError(`could not start the embedded PostgreSQL in ${dir}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
}

function unreachable(err: unknown, source: CommandDatabase['source']): unknown {
  if (!isUnavailable(err)) return err;
  const where = source === 'url' ? 'DATABASE_URL' : 'the embedded PostgreSQL';
  const cause = err instanceof Error ? err.message.replace(/^database unavailable: /, '') : String(err);
  return new CommandError(`cannot reach the database (${where}): ${cause}`, { cause: err });
}
