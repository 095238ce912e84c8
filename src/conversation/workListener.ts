import pg from 'pg';
import type { Logger } from 'pino';
import type { Bus } from '../shared/bus.ts';
import { WORK_CHANNEL } from '../shared/notifyChannels.ts';


/**
 * One LISTEN connection per process: tells the runner when another process
 * ingested messages for a conversation this process holds, so a running turn
 * can coalesce them at once instead of at its next statement. It only speeds
 * things up: if it is down, the sequence check at the reply commit and the
 * sweep still find the work.
 */
export class WorkListener {
  private client: pg.Client | null = null;
  private stopped = false;
  private retryMs = 500;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly connectionString: string,
    private readonly leaseOwner: string,
    private readonly onWork: (conversationId: string) => void,
    private readonly log: Logger,
    private readonly bus: Bus,
  ) {}

  start(): void {
    void this.connect();
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
      const payload = n.payload ?? '';
      const i = payload.indexOf(':');
      if (i > 0 && payload.slice(0, i) === this.leaseOwner) this.onWork(payload.slice(i + 1));
    });
    try {
      await client.connect();
      this.bus.emit('db.connect', {});
      await client.query(`LISTEN ${WORK_CHANNEL}`);
      if (this.stopped) {
        await client.end();
        return;
      }
      this.client = client;
      this.retryMs = 500;
    } catch (err) {
      this.log.debug({ err }, 'work listener could not connect; retrying');
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
