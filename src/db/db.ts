import pg from 'pg';
import type { Bus } from '../shared/bus.ts';

/** A SQL statement with a stable name: the name makes it a prepared statement on each connection. */
export interface Statement {
  readonly name: string;
  readonly text: string;
}

/** Declares a named statement. Names are unique across the code base. */
export function sql(name: string, text: string): Statement {
  return Object.freeze({ name, text });
}

export interface Queryable {
  /** Runs one statement: exactly one round trip to the server. */
  query<R extends object = Record<string, unknown>>(stmt: Statement, params?: readonly unknown[]): Promise<R[]>;
}

/**
 * The one door to PostgreSQL. Every statement goes through it, so round trips,
 * statement time and connections opened are counted in one place.
 */
export interface Db extends Queryable {
  /** BEGIN … COMMIT on one connection; rolled back if `fn` throws. */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  /** Round trips and connections since start. */
  readonly stats: DbStats;
  /** The pool's current shape, for the gauges. */
  poolState(): { total: number; idle: number; waiting: number };
  close(): Promise<void>;
}

export interface DbStats {
  roundTrips: number;
  connectionsOpened: number;
}

/** Error raised when the database cannot be reached: callers answer 503. */
export class DatabaseUnavailableError extends Error {
  readonly code = 'database_unavailable';
  readonly retryable = true;
  constructor(cause: unknown) {
    super(`database unavailable: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.name = 'DatabaseUnavailableError';
  }
}

// Connection-level failures (as opposed to a statement's own error): refused,
// reset, terminated by the server, or PostgreSQL's "cannot connect now" classes.
const UNAVAILABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ENOTFOUND', '57P01', '57P02', '57P03', '08000', '08001', '08003', '08006']);

export function isUnavailable(err: unknown): boolean {
  if (err instanceof DatabaseUnavailableError) return true;
  const e = err as { code?: string; message?: string } | undefined;
  if (!e) return false;
  if (e.code && UNAVAILABLE_CODES.has(e.code)) return true;
  return /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error/i.test(e.message ?? '');
}

function wrap(err: unknown): unknown {
  return isUnavailable(err) ? new DatabaseUnavailableError(err) : err;
}

// int8 and numeric stay strings (ids are strings in the API); timestamps become Dates.
export interface DbOptions {
  connectionString: string;
  max: number;
  bus?: Bus;
  /** Milliseconds a request waits for a free connection before failing. */
  connectionTimeoutMs?: number;
}

/** Opens the process's single pool. No code path opens a connection per operation. */
export function createDb(opts: DbOptions): Db {
  const pool = new pg.Pool({
    connectionString: opts.connectionString,
    max: opts.max,
    idleTimeoutMillis: 0,
    connectionTimeoutMillis: opts.connectionTimeoutMs ?? 5_000,
    allowExitOnIdle: true,
  });
  const stats: DbStats = { roundTrips: 0, connectionsOpened: 0 };
  const bus = opts.bus;
  pool.on('connect', () => {
    stats.connectionsOpened++;
    bus?.emit('db.connect', {});
  });
  // An idle client's error (server restarted) must not crash the process; the pool drops it.
  pool.on('error', () => {});

  async function run<R>(client: pg.Pool | pg.PoolClient, stmt: Statement, params: readonly unknown[] | undefined): Promise<R[]> {
    const started = performance.now();
    stats.roundTrips++;
    try {
      const res = await client.query({ name: stmt.name, text: stmt.text, values: params as unknown[] | undefined });
      return res.rows as R[];
    } catch (err) {
      throw wrap(err);
    } finally {
      bus?.emit('db.statement', { name: stmt.name, ms: performance.now() - started });
    }
  }

  return {
    stats,
    query: (stmt, params) => run(pool, stmt, params),
    async transaction(fn) {
      let client: pg.PoolClient;
      try {
        client = await pool.connect();
      } catch (err) {
        throw wrap(err);
      }
      const tx: Queryable = { query: (stmt, params) => run(client, stmt, params) };
      try {
        await run(client, BEGIN, undefined);
        const result = await fn(tx);
        await run(client, COMMIT, undefined);
        client.release();
        return result;
      } catch (err) {
        try {
          await run(client, ROLLBACK, undefined);
          client.release();
        } catch {
          client.release(true);
        }
        throw wrap(err);
      }
    },
    poolState: () => ({ total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount }),
    close: () => pool.end(),
  };
}

const BEGIN: Statement = { name: '', text: 'BEGIN' };
const COMMIT: Statement = { name: '', text: 'COMMIT' };
const ROLLBACK: Statement = { name: '', text: 'ROLLBACK' };
