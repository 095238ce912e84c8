import pg from 'pg';
import type { Bus } from '../shared/bus.ts';

/**
 * Which connections a statement uses. `ingest` has connections of its own, so
 * that Meta's acknowledgements never queue behind turn writes when the
 * database is busy; everything else shares `work`.
 */
export type Lane = 'ingest' | 'work';

/** A SQL statement with a stable name: the name makes it a prepared statement on each connection. */
export interface Statement {
  readonly name: string;
  readonly text: string;
  readonly lane?: Lane;
}

/** Declares a named statement. Names are unique across the code base. */
export function sql(name: string, text: string, opts: { lane?: Lane } = {}): Statement {
  return Object.freeze({ name, text, lane: opts.lane ?? 'work' });
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
  /** Opens every connection of the pool now, so that serving traffic opens none. */
  warm(): Promise<void>;
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
// reset, terminated by the server, a Unix socket that is gone (the server stopped),
// or PostgreSQL's "cannot connect now" classes.
const UNAVAILABLE_CODES = new Set(['ECONNREFUSED', 'ENOENT', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ENOTFOUND', '57P01', '57P02', '57P03', '08000', '08001', '08003', '08006']);

/** True when PostgreSQL cancelled the statement (statement_timeout): worth trying again later, not a bug. */
export function isStatementTimeout(err: unknown): boolean {
  return (err as { code?: string } | undefined)?.code === '57014';
}

export function isUnavailable(err: unknown): boolean {
  if (err instanceof DatabaseUnavailableError) return true;
  const e = err as { code?: string; message?: string } | undefined;
  if (!e) return false;
  if (e.code && UNAVAILABLE_CODES.has(e.code)) return true;
  return /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error/i.test(e.message ?? '');
}

/**
 * True when PostgreSQL ran out of a resource: class 53 (53100 disk full, as
 * "could not extend file …: No space left on device"; out of memory; too
 * many connections), or a write the disk refused. The statement failed
 * whole, nothing of it is stored, and the same statement may succeed once
 * space is freed: callers answer 503, as for an unreachable database.
 */
export function isOutOfResources(err: unknown): boolean {
  const e = err as { code?: string; message?: string } | undefined;
  if (!e) return false;
  if (typeof e.code === 'string' && e.code.startsWith('53')) return true;
  return /No space left on device|could not extend file/i.test(e.message ?? '');
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
  /** statement_timeout of the ingest lane's connections (none when unset; never with `preparedStatements: false`). */
  ingestStatementTimeoutMs?: number;
  /**
   * True (the default): each statement is a named prepared statement on each
   * connection, and connections open with session parameters (the plan cache
   * mode, the ingest lane's statement_timeout). False, for a transaction-mode
   * pooler (PgBouncer) in front of PostgreSQL: statements go unnamed and
   * connections carry no startup parameters, since neither a prepared
   * statement nor a session setting survives the server connection changing
   * under the client at every transaction, and PgBouncer refuses startup
   * parameters it does not know.
   */
  preparedStatements?: boolean;
}

/** How many of `max` connections the ingest lane gets (the rest serve turns, API and sweeps). */
export function ingestLaneSize(max: number): number {
  return max < 4 ? Math.max(1, Math.floor(max / 2)) : Math.round(max * 0.4);
}

/**
 * Opens the process's pool: `max` connections in all, split in two lanes
 * (see Lane). No code path opens a connection per operation.
 */
export function createDb(opts: DbOptions): Db {
  const stats: DbStats = { roundTrips: 0, connectionsOpened: 0 };
  const bus = opts.bus;
  const ingestMax = ingestLaneSize(opts.max);
  const prepared = opts.preparedStatements ?? true;
  const open = (max: number, statementTimeoutMs?: number) => {
    const p = new pg.Pool({
      ...(prepared && statementTimeoutMs ? { statement_timeout: statementTimeoutMs } : {}),
      connectionString: opts.connectionString,
      max,
      idleTimeoutMillis: 0,
      connectionTimeoutMillis: opts.connectionTimeoutMs ?? 5_000,
      allowExitOnIdle: true,
      // Our statements are fixed CTEs over jsonb and array parameters: a custom
      // plan per execution costs more than the statement itself (measured: the
      // ingest statement 2.9 ms with the default plan choice, 1.6 ms generic).
      // Unnamed statements are planned at every execution anyway, and a pooler
      // refuses the parameter (docs/deploy.md, "Behind a connection pooler").
      ...(prepared ? { options: '-c plan_cache_mode=force_generic_plan' } : {}),
    });
    p.on('connect', () => {
      stats.connectionsOpened++;
      bus?.emit('db.connect', {});
    });
    // An idle client's error (server restarted) must not crash the process; the pool drops it.
    p.on('error', () => {});
    return p;
  };
  const pool = open(Math.max(1, opts.max - ingestMax));
  const ingestPool = ingestMax > 0 && opts.max > 1 ? open(ingestMax, opts.ingestStatementTimeoutMs) : pool;
  const poolFor = (stmt: Statement) => (stmt.lane === 'ingest' ? ingestPool : pool);

  async function run<R>(client: pg.Pool | pg.PoolClient, stmt: Statement, params: readonly unknown[] | undefined): Promise<R[]> {
    const started = performance.now();
    try {
      // Unnamed, a statement is parsed and planned on whatever server connection the pooler lends for it.
      const res = await client.query({ ...(prepared && stmt.name ? { name: stmt.name } : {}), text: stmt.text, values: params as unknown[] | undefined });
      return res.rows as R[];
    } catch (err) {
      throw wrap(err);
    } finally {
      // Counted when it ends, with its event: the metrics start from the count and then follow the events,
      // so a statement running when they start is counted once.
      stats.roundTrips++;
      bus?.emit('db.statement', { name: stmt.name, ms: performance.now() - started });
    }
  }

  return {
    stats,
    async query(stmt, params) {
      // A single statement that lost a deadlock (or a serialization check) was
      // rolled back whole: running it again is safe, and better than failing a
      // webhook or leaving a sent message recorded as queued.
      for (let attempt = 1; ; attempt++) {
        try {
          return await run(poolFor(stmt), stmt, params);
        } catch (err) {
          const code = (err as { code?: string }).code;
          if ((code !== '40P01' && code !== '40001') || attempt >= 3) throw err;
        }
      }
    },
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
    async warm() {
      const lanes = ingestPool === pool ? [pool] : [pool, ingestPool];
      await Promise.all(
        lanes.map(async (p) => {
          const clients = await Promise.all(Array.from({ length: p.options.max }, () => p.connect()));
          for (const c of clients) c.release();
        }),
      );
    },
    poolState: () => {
      const both = ingestPool === pool ? [pool] : [pool, ingestPool];
      return {
        total: both.reduce((n, p) => n + p.totalCount, 0),
        idle: both.reduce((n, p) => n + p.idleCount, 0),
        waiting: both.reduce((n, p) => n + p.waitingCount, 0),
      };
    },
    close: async () => {
      await pool.end();
      if (ingestPool !== pool) await ingestPool.end();
    },
  };
}

const BEGIN: Statement = { name: '', text: 'BEGIN' };
const COMMIT: Statement = { name: '', text: 'COMMIT' };
const ROLLBACK: Statement = { name: '', text: 'ROLLBACK' };
