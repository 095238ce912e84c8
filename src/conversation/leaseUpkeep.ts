import type { Logger } from 'pino';
import type { Db } from '../db/db.ts';
import type { Bus } from '../shared/bus.ts';
import { REAP_DEAD_OWNERS, RENEW, RESUME_DUE, SWEEP, type ReapRow, type ResumedRow } from './lease.sql.ts';
import { DEAD_OWNER_GRACE_SECONDS, SEND_SETTLE_SECONDS, type LeaseTerms } from './leaseBook.ts';
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

/** A sweep that cut a dead process's leases comes again this long after, when they have run out. */
const AFTER_GRACE_MS = DEAD_OWNER_GRACE_SECONDS * 1_000 + 50;

/**
 * The periodic statements over every lease: the sweep (dead processes'
 * leases cut short, abandoned work taken over, pause timers run out) and the
 * renewal of the leases held. Both wait while the lease fence is closed. It
 * tells the runner what they found; the runner applies it.
 */
export class LeaseUpkeep {
  private sweepTimer: NodeJS.Timeout | null = null;
  private renewTimer: NodeJS.Timeout | null = null;
  private stopping = false;
  private renewing: Promise<void> | null = null;

  constructor(
    private readonly db: Db,
    private readonly bus: Bus,
    private readonly log: Logger,
    private readonly lease: LeaseTerms,
    private readonly opts: UpkeepOptions,
    private readonly holder: LeaseHolder,
    private readonly fence: { readonly open: boolean },
  ) {}

  /** Starts the sweep (at once, then periodically) and lease renewal. */
  start(): void {
    const sweep = () => {
      this.sweep()
        .catch((err) => {
          this.log.warn({ err }, 'sweep failed');
          return this.opts.sweepIntervalMs;
        })
        .then((nextMs) => {
          if (!this.stopping) this.sweepTimer = setTimeout(sweep, nextMs);
        });
    };
    sweep();
    this.renewTimer = setInterval(() => {
      // A renewal slower than the interval must not pile up behind itself; none while the fence is closed.
      if (this.renewing || !this.fence.open) return;
      this.renew().catch((err) => this.log.warn({ err }, 'lease renewal failed'));
    }, this.opts.renewIntervalMs);
    this.renewTimer.unref();
  }

  /** Stops both timers (a sweep already running still ends). */
  stop(): void {
    this.stopping = true;
    if (this.sweepTimer) clearTimeout(this.sweepTimer);
    if (this.renewTimer) clearInterval(this.renewTimer);
  }

  /**
   * Cuts the leases of dead processes short, takes over abandoned work and
   * ends pauses whose timer ran out. Returns when to sweep next: sooner when
   * leases were cut, so they are taken as soon as they run out.
   */
  async sweep(): Promise<number> {
    if (this.stopping || !this.fence.open) return this.opts.sweepIntervalMs;
    const [reaped] = await this.db.query<ReapRow>(REAP_DEAD_OWNERS, [DEAD_OWNER_GRACE_SECONDS, SEND_SETTLE_SECONDS]);
    if (reaped.owners > 0) {
      this.log.info({ processes: reaped.owners, conversations: reaped.conversations, unsettled: reaped.unsettled }, 'processes found dead: their leases cut short');
    }
    const nextMs = reaped.conversations > 0 ? Math.min(AFTER_GRACE_MS, this.opts.sweepIntervalMs) : this.opts.sweepIntervalMs;
    const resumed = await this.db.query<ResumedRow>(RESUME_DUE);
    for (const r of resumed) {
      this.bus.emit('conversation.paused', { tenantId: r.tenantId, conversationId: r.id, paused: false, pausedUntil: null, by: 'timer' });
    }
    const room = Math.min(this.opts.sweepBatch, this.holder.room);
    if (room <= 0) return nextMs;
    const taken = await this.db.query<{ id: string }>(SWEEP, [this.lease.owner, this.lease.seconds, room]);
    this.holder.tookOver(taken.map((t) => t.id));
    if (taken.length > 0) this.log.info({ conversations: taken.length }, 'took over conversations with work left');
    return nextMs;
  }

  /**
   * After the liveness lock was taken again: one renewal that starts now
   * (after any still running), so its answer tells which leases are still
   * this process's. Throws when the database fails.
   */
  async revalidate(): Promise<void> {
    await this.renewing?.catch(() => {});
    await this.renew();
  }

  /** Renews every lease held; the runner drops a conversation whose lease was lost at once. */
  private renew(): Promise<void> {
    const run = (async () => {
      const asked = this.holder.heldLeases();
      if (asked.length === 0) return;
      const rows = await this.db.query<{ id: string }>(RENEW, [asked.map((a) => a.id), this.lease.owner, this.lease.seconds]);
      const gone = new Set(rows.map((r) => r.id));
      this.holder.leasesGone(asked.filter((a) => gone.has(a.id)));
    })();
    this.renewing = run;
    return run.finally(() => {
      if (this.renewing === run) this.renewing = null;
    });
  }
}
