import pg from 'pg';
import type { Logger } from 'pino';
import type { Bus } from '../shared/bus.ts';

/** What a direct connection is for, and what it does at each (re)connection. */
export interface DirectConnectionOptions {
  connectionString: string;
  /** What the connection is for, in log lines ("work listener", "process lock" …). */
  purpose: string;
  /**
   * Runs on every new connection before it counts as up (LISTEN, take a
   * lock …). Throwing ends that connection and tries again later.
   */
  setUp(client: pg.Client): Promise<void>;
  /** The connection is up, set up. */
  onUp?(): void;
  /** The connection that was up is gone; it is being set up again. */
  onDown?(): void;
  onNotification?(n: pg.Notification): void;
  /** The first wait before trying again (default 500 ms); it doubles up to 10 s. */
  firstRetryMs?: number;
  /** How loudly a failed attempt is logged (default 'warn'). */
  failureLevel?: 'debug' | 'warn';
  log: Logger;
  bus: Bus;
}

const MAX_RETRY_MS = 10_000;

/**
 * One connection of its own, outside the pool, kept up for the life of the
 * process: what LISTEN and a session-level advisory lock need, since both
 * belong to one server session. When it drops (server restart, the backend
 * terminated, a network error) it is set up again on a new connection,
 * trying again with a doubling wait.
 */
export class DirectConnection {
  private client: pg.Client | null = null;
  /** A connection being set up (its set-up may wait, for a lock). */
  private connecting: pg.Client | null = null;
  private stopped = false;
  private retryMs: number;
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly opts: DirectConnectionOptions) {
    this.retryMs = opts.firstRetryMs ?? 500;
  }

  /** Connects; resolves once the first attempt is done (up, or trying again in the background). */
  start(): Promise<void> {
    return this.connect();
  }

  /** Whether the connection is up and set up. */
  get up(): boolean {
    return this.client !== null;
  }

  /** Runs a statement on this connection while it is up; false when it is not. */
  async query(text: string, params: unknown[] = []): Promise<boolean> {
    const c = this.client;
    if (!c) return false;
    await c.query(text, params);
    return true;
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    const o = this.opts;
    const client = new pg.Client({ connectionString: o.connectionString });
    client.on('error', () => {});
    // Only the live connection's end calls for a new one: a failed attempt
    // tries again from its catch, and the late end of an old connection must
    // not open a second one beside the live one.
    client.on('end', () => {
      if (this.client !== client) return;
      this.client = null;
      o.log.warn({ purpose: o.purpose }, 'direct database connection lost; connecting again');
      o.onDown?.();
      this.retry();
    });
    if (o.onNotification) client.on('notification', o.onNotification);
    this.connecting = client;
    try {
      await client.connect();
      o.bus.emit('db.connect', {});
      await o.setUp(client);
      this.connecting = null;
      if (this.stopped) {
        await client.end();
        return;
      }
      this.client = client;
      this.retryMs = o.firstRetryMs ?? 500;
      o.onUp?.();
    } catch (err) {
      this.connecting = null;
      client.end().catch(() => {});
      if (this.stopped) return;
      o.log[o.failureLevel ?? 'warn']({ err, purpose: o.purpose }, 'direct database connection could not be set up; trying again');
      this.retry();
    }
  }

  private retry(): void {
    if (this.stopped || this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.connect();
    }, this.retryMs);
    this.timer.unref();
    this.retryMs = Math.min(this.retryMs * 2, MAX_RETRY_MS);
  }

  /** Closes the connection and stops setting it up again. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    const c = this.client;
    this.client = null;
    const pending = this.connecting;
    this.connecting = null;
    await Promise.all([c?.end().catch(() => {}), pending?.end().catch(() => {})]);
  }
}
