import type { Logger } from 'pino';
import type { Db } from '../db/db.ts';
import type { MediaStore } from '../shared/mediaStore.ts';
import { applyRetention, purgeChannel, purgeTenant, removeOrphanMedia, REMOVAL_BATCH } from './removal.ts';
import { EVENT_PRUNE_BATCH, PENDING_REMOVALS, RETENTION_TENANTS } from './removal.sql.ts';

/** How often housekeeping runs, and its batch size (tests shorten the one and shrink the other). */
export interface HousekeepingOptions {
  intervalMs: number;
  batchSize: number;
  /** Days an event and its delivery log are kept once no delivery of it is pending. */
  eventDays: number;
}

export const DEFAULT_HOUSEKEEPING: HousekeepingOptions = { intervalMs: 60_000, batchSize: REMOVAL_BATCH, eventDays: 7 };

/** What one run did. */
export interface HousekeepingReport {
  tenantsDeleted: string[];
  channelsRemoved: string[];
  rowsRemoved: number;
  messagesExpired: number;
  eventsPruned: number;
  /** Media files (and rows) removed because their message is gone. */
  mediaRemoved: number;
}

/**
 * The periodic job of data removal: finishes the deletion of tenants and
 * channels marked for it (the marks are rows, so a deletion survives a
 * restart and any process may finish it), removes messages older than a
 * tenant's retention period, the media files of messages gone, and prunes old
 * events. Everything in batches, each its own short transaction. One run at a
 * time per process; several processes may run at
 * once (a batch that finds its rows gone removes fewer).
 */
export class Housekeeping {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<HousekeepingReport> | null = null;
  private again = false;
  private stopped = false;

  constructor(
    private readonly db: Db,
    private readonly log: Logger,
    private readonly opts: HousekeepingOptions = DEFAULT_HOUSEKEEPING,
    /** The media store: files of media whose message is gone are removed with their rows. */
    private readonly media: MediaStore | null = null,
  ) {}

  start(): void {
    this.schedule(0);
  }

  /** Runs now (a deletion was just asked for), or once more right after the run in progress. */
  kick(): Promise<HousekeepingReport> {
    if (this.running) this.again = true;
    return this.run();
  }

  /** One run; a call during a run waits for it. */
  run(): Promise<HousekeepingReport> {
    this.running ??= this.runOnce().finally(() => {
      this.running = null;
      if (this.again && !this.stopped) {
        this.again = false;
        void this.run();
      }
    });
    return this.running;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.running?.catch(() => {});
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.run()
        .catch((err) => this.log.warn({ err }, 'housekeeping failed; it runs again later'))
        .finally(() => this.schedule(this.opts.intervalMs));
    }, ms);
    this.timer.unref();
  }

  private async runOnce(): Promise<HousekeepingReport> {
    const report: HousekeepingReport = { tenantsDeleted: [], channelsRemoved: [], rowsRemoved: 0, messagesExpired: 0, eventsPruned: 0, mediaRemoved: 0 };
    const batch = this.opts.batchSize;
    for (const r of await this.db.query<{ kind: 'tenant' | 'channel'; id: string }>(PENDING_REMOVALS)) {
      if (this.stopped) return report;
      const done = r.kind === 'tenant' ? await purgeTenant(this.db, r.id, batch, this.media ?? undefined) : await purgeChannel(this.db, r.id, batch);
      report.rowsRemoved += done.rows;
      if (!done.done) continue;
      (r.kind === 'tenant' ? report.tenantsDeleted : report.channelsRemoved).push(r.id);
      this.log.info({ [r.kind === 'tenant' ? 'tenantId' : 'channelId']: r.id, rows: done.rows }, `${r.kind} ${r.kind === 'tenant' ? 'deleted' : 'removed'}`);
    }
    for (const t of await this.db.query<{ id: string }>(RETENTION_TENANTS)) {
      if (this.stopped) return report;
      const n = await applyRetention(this.db, t.id, batch);
      report.messagesExpired += n;
      if (n > 0) this.log.info({ tenantId: t.id, messages: n }, 'messages past the retention period removed');
    }
    // Delivered and failed events past their days, at most 100 batches a run.
    for (let i = 0; i < 100 && !this.stopped; i++) {
      const [r] = await this.db.query<{ n: number }>(EVENT_PRUNE_BATCH, [this.opts.eventDays, batch]);
      report.eventsPruned += r.n;
      if (r.n < batch) break;
    }
    // Media whose message went (retention, contact erasure, channel removal): files first, then rows.
    if (this.media && !this.stopped) {
      report.mediaRemoved = await removeOrphanMedia(this.db, this.media, null, batch);
      if (report.mediaRemoved > 0) this.log.info({ media: report.mediaRemoved }, 'media of removed messages removed');
    }
    return report;
  }
}
