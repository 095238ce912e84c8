import pg from 'pg';
import type { Logger } from 'pino';
import type { Bus } from '../shared/bus.ts';
import { KEYS_CHANNEL } from '../tenancy/apiKeys.sql.ts';

/**
 * One LISTEN connection per process on KEYS_CHANNEL (the pattern of
 * src/conversation/workListener.ts): a key revoked or a session ended by any
 * process is dropped from this process's caches as soon as the statement
 * commits. While it is down, the caches' short lifetime (AUTH_CACHE_MS) bounds
 * how long a revoked key still works; after it reconnects, the caches are
 * cleared, since announcements may have been missed.
 */
export class KeyListener {
  private client: pg.Client | null = null;
  private stopped = false;
  private retryMs = 500;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly connectionString: string,
    private readonly handlers: { onAnnouncement: (payload: string) => void; onConnected: () => void },
    private readonly log: Logger,
    private readonly bus: Bus,
  ) {}

  /** Connects; resolves once the first attempt is done (listening, or retrying in the background). */
  start(): Promise<void> {
    return this.connect();
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    const client = new pg.Client({ connectionString: this.connectionString });
    client.on('error', () => {});
    // Only the listening connection's end calls for a new one: a failed attempt retries from its catch.
    client.on('end', () => {
      if (this.client !== client) return;
      this.client = null;
      this.retry();
    });
    client.on('notification', (n) => {
      if (n.channel === KEYS_CHANNEL && n.payload) this.handlers.onAnnouncement(n.payload);
    });
    try {
      await client.connect();
      this.bus.emit('db.connect', {});
      await client.query(`LISTEN ${KEYS_CHANNEL}`);
      if (this.stopped) {
        await client.end();
        return;
      }
      this.client = client;
      this.retryMs = 500;
      this.handlers.onConnected();
    } catch (err) {
      this.log.warn({ err }, 'key listener could not connect; retrying (revoked keys stay cached up to a few seconds meanwhile)');
      client.end().catch(() => {});
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
    this.retryMs = Math.min(this.retryMs * 2, 10_000);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    const c = this.client;
    this.client = null;
    await c?.end().catch(() => {});
  }
}
