import type { Logger } from 'pino';
import type { Db } from '../db/db.ts';
import type { Bus } from '../shared/bus.ts';
import { RENEW, RESUME_DUE, SWEEP, type ResumedRow } from './lease.sql.ts';
import type { LeaseTerms } from './leaseBook.ts';
import type { ConversationState } from './state.ts';

/** A lease asked to be renewed, with its book's epoch when asked (to tell a stale answer). */
export interface HeldLease {
  id: string;
  epoch: number;
  state: ConversationState;
}

/** What the upkeep needs of the runner, which alone changes the conversations' states. */
export interface LeaseHolder {
  /** How many more conversations fit in memory. */
  readonly room: number;
  /** The sweep took these conversations' leases. */
  tookOver(ids: string[]): void;
  heldLeases(): HeldLease[];
  /** A renewal found these leases no longer this process's. */
  leasesGone(gone: HeldLease[]): void;
}

/** How often and how much the upkeep does. */
export interface UpkeepOptions {
  sweepIntervalMs: number;
  renewIntervalMs: number;
  sweepBatch: number;
}

/**
 * The periodic statements over every lease: the sweep (abandoned work taken
 * over, pause timers run out) and the renewal of the leases held. It tells
 * the runner what they found; the runner applies it.
 */
export class LeaseUpkeep {
  private sweepTimer: NodeJS.Timeout | null = null;
  private renewTimer: NodeJS.Timeout | null = null;
  private stopping = false;
  private renewing = false;

  constructor(
    private readonly db: Db,
    private readonly bus: Bus,
    private readonly log: Logger,
    private readonly lease: LeaseTerms,
    private readonly opts: UpkeepOptions,
    private readonly holder: LeaseHolder,
  ) {}

  /** Starts the sweep (at once, then periodically) and lease renewal. */
  start(): void {
    const sweep = () => {
      this.sweep()
        .catch((err) => this.log.warn({ err }, 'sweep failed'))
        .finally(() => {
          if (!this.stopping) this.sweepTimer = setTimeout(sweep, this.opts.sweepIntervalMs);
        });
    };
    sweep();
    this.renewTimer = setInterval(() => this.renew().catch((err) => this.log.warn({ err }, 'lease renewal failed')), this.opts.renewIntervalMs);
    this.renewTimer.unref();
  }

  /** Stops both timers (a sweep already running still ends). */
  stop(): void {
    this.stopping = true;
    if (this.sweepTimer) clearTimeout(this.sweepTimer);
    if (this.renewTimer) clearInterval(this.renewTimer);
  }

  /** Takes over abandoned work and ends pauses whose timer ran out. */
  async sweep(): Promise<void> {
    if (this.stopping) return;
    const resumed = await this.db.query<ResumedRow>(RESUME_DUE);
    for (const r of resumed) {
      this.bus.emit('conversation.paused', { tenantId: r.tenantId, conversationId: r.id, paused: false, pausedUntil: null, by: 'timer' });
    }
    const room = Math.min(this.opts.sweepBatch, this.holder.room);
    if (room <= 0) return;
    const taken = await this.db.query<{ id: string }>(SWEEP, [this.lease.owner, this.lease.seconds, room]);
    this.holder.tookOver(taken.map((t) => t.id));
    if (taken.length > 0) this.log.info({ conversations: taken.length }, 'took over conversations with work left');
  }

  /** Renews every lease held; the runner drops a conversation whose lease was lost at once. */
  private async renew(): Promise<void> {
    // A renewal slower than the interval must not pile up behind itself.
    if (this.renewing) return;
    this.renewing = true;
    try {
      const asked = this.holder.heldLeases();
      if (asked.length === 0) return;
      const rows = await this.db.query<{ id: string }>(RENEW, [asked.map((a) => a.id), this.lease.owner, this.lease.seconds]);
      const gone = new Set(rows.map((r) => r.id));
      this.holder.leasesGone(asked.filter((a) => gone.has(a.id)));
    } finally {
      this.renewing = false;
    }
  }
}
