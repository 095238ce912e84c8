import type { Logger } from 'pino';
import type { Config } from '../config/config.ts';
import { createDb, type Db } from '../db/db.ts';
import { startEmbeddedPostgres, type EmbeddedServer } from '../db/embedded.ts';
import { checkDirectUrl } from '../db/directUrlCheck.ts';
import { migrate } from '../db/migrate.ts';
import type { Bus } from '../shared/bus.ts';

/** The gateway's database: the pool, and the embedded server when there is no DATABASE_URL. */
export interface OpenDatabase {
  readonly db: Db;
  /** The PostgreSQL URL of the pool (maybe a pooler's). */
  readonly databaseUrl: string;
  /** A URL that reaches PostgreSQL itself: LISTEN and the process lock (DATABASE_DIRECT_URL, or the pool's URL). */
  readonly directUrl: string;
  /** Closes the pool, then stops the embedded server if there is one. */
  close(): Promise<void>;
}

/**
 * Starts the embedded PostgreSQL unless DATABASE_URL names a server, applies
 * the migrations and opens the pool (its connections are opened now, not on
 * the first webhook).
 */
export async function openDatabase(config: Config, log: Logger, bus: Bus): Promise<OpenDatabase> {
  let embedded: EmbeddedServer | null = null;
  let databaseUrl = config.databaseUrl;
  if (!databaseUrl) {
    embedded = await startEmbeddedPostgres(config.dataDir, {
      ...config.embeddedPostgres,
      log: (l) => log.debug({ pg: l }, 'postgres'),
      // Meanwhile webhooks answer 503 and /readyz is not ready; the pool and the listeners reconnect by themselves.
      supervise: {
        exited: ({ code, signal, restartInMs }) => {
          bus.emit('db.server_exited', { code, signal });
          log.error({ code, signal, restartInMs }, `embedded PostgreSQL exited (${signal ? `signal ${signal}` : `exit code ${code}`}); restarting`);
        },
        restartFailed: ({ error, attempt, retryInMs }) => log.error({ err: error, attempt, retryInMs }, 'embedded PostgreSQL did not start again; retrying'),
        back: ({ downMs, attempts }) => log.warn({ downMs, attempts }, `embedded PostgreSQL is back after ${downMs} ms`),
      },
    });
    databaseUrl = embedded.url;
  }
  // The embedded server has no pooler in front (the configuration allows no direct URL without DATABASE_URL).
  const directUrl = config.databaseDirectUrl ?? databaseUrl;
  let db: Db | null = null;
  const close = async () => {
    await db?.close();
    await embedded?.stop();
  };
  try {
    // The migration lock is a session lock: never through a transaction-mode pooler.
    const applied = await migrate(directUrl);
    if (applied.length) log.info({ applied }, 'migrations applied');
    db = createDb({
      connectionString: databaseUrl,
      max: config.dbPoolMax,
      bus,
      ingestStatementTimeoutMs: config.ingestStatementTimeoutMs,
      preparedStatements: config.preparedStatements,
    });
    await db.warm();
    if (directUrl !== databaseUrl) await checkDirectUrl(db, directUrl);
    return { db, databaseUrl, directUrl, close };
  } catch (err) {
    await close().catch(() => {});
    throw err;
  }
}
