import type { Logger } from 'pino';
import type { Db } from '../db/db.ts';
import type { IngestConsumer, IngestedConversation, IngestResult } from '../ingest/ingest.ts';
import type { Bus } from '../shared/bus.ts';
import { ConversationLoop } from './conversationLoop.ts';
import type { Delivery } from './delivery.ts';
import { EXPIRE_LEASE, RELEASE_ALL } from './lease.sql.ts';
import type { LeaseTerms } from './leaseBook.ts';
import { LeaseFence, type Liveness } from './leaseFence.ts';
import { LeaseUpkeep, type HeldLease, type LeaseHolder } from './leaseUpkeep.ts';
import type { FairLimiter } from './limiter.ts';
import { ENQUEUE_OUTBOUND, type EnqueueInput, type EnqueueResult } from './outbox.sql.ts';
import { QuotaNotices } from './quotaNotices.ts';
import { ConversationState, toPending } from './state.ts';
import type { TenantDirectory } from '../tenancy/tenantSettings.ts';
import type { TurnRunner } from './turn.ts';

/** How the runner paces its background work and bounds its memory. */
export interface RunnerOptions {
  /** How often abandoned work is looked for and pause timers run out. */
  sweepIntervalMs: number;
  /** How often held leases are renewed. */
  renewIntervalMs: number;
  /** Conversations taken per sweep. */
  sweepBatch: number;
  /**
   * Conversations this process keeps in memory at most (running or waiting
   * for a turn slot). Past it, new work is left as rows, with the lease given
   * back, for a sweep (this process's, once there is room, or another's):
   * memory stays bounded under any flood.
   */
  maxConversations: number;
}

/** The runner's pacing unless told otherwise. */
export const DEFAULT_RUNNER_OPTIONS: RunnerOptions = {
  sweepIntervalMs: 2_000,
  renewIntervalMs: 5_000,
  sweepBatch: 200,
  maxConversations: 8_000,
};

/**
 * The conversation runner (docs/architecture.md, "Turns"): one state per
 * conversation this process holds, driven by what ingest returned; turns of a
 * conversation one at a time and in order, conversations in parallel under
 * the limiter. It is the only writer of those states: the turn and delivery
 * read them and return what happened. The database stays the record: a sweep
 * takes over what a dead process left, and leases keep two processes off the
 * same conversation.
 */
export class ConversationRunner implements IngestConsumer, LeaseHolder {
  private readonly states = new Map<string, ConversationState>();
  private readonly running = new Set<Promise<void>>();
  private stopping = false;
  private readonly notices: QuotaNotices;
  private readonly work: ConversationLoop;
  private readonly upkeep: LeaseUpkeep;
  private readonly fence: LeaseFence;
  /** Bumped at each change of the liveness lock, so a stale re-validation does not open the fence. */
  private lockChanges = 0;

  constructor(
    private readonly db: Db,
    private readonly bus: Bus,
    private readonly log: Logger,
    private readonly lease: LeaseTerms,
    private readonly tenants: TenantDirectory,
    limiter: FairLimiter,
    turns: TurnRunner,
    private readonly delivery: Delivery,
    private readonly liveness: Liveness,
    private readonly opts: RunnerOptions = DEFAULT_RUNNER_OPTIONS,
  ) {
    this.fence = new LeaseFence(liveness.held);
    this.work = new ConversationLoop(db, bus, lease, tenants, limiter, turns, delivery, this.fence);
    this.notices = new QuotaNotices(db, tenants);
    this.upkeep = new LeaseUpkeep(db, bus, log, lease, opts, this, this.fence);
    liveness.onChange((held) => this.onLivenessChange(held));
    bus.on('conversation.paused', (e) => this.onPauseChange(e.conversationId, e.paused));
    bus.on('turn.budget_delayed', (e) => this.log.debug({ conversationId: e.conversationId, tenantId: e.tenantId, waitMs: Math.round(e.waitMs) }, 'answer budget used: the turn waits'));
    // Whether ingest found the limit reached or a reply commit did, the notice goes out once a month.
    bus.on('message.disposition', (e) => {
      if (e.disposition === 'over_quota') this.track(this.quotaNotice(e.tenantId, e.conversationId));
    });
  }

  /** Starts the sweep (at once, then periodically) and lease renewal. */
  start(): void {
    this.upkeep.start();
  }

  /**
   * The liveness lock was lost or taken again. Lost: the fence closes, since
   * the other processes may take this one's leases. Taken again: a renewal
   * tells which leases are still this process's (the others are dropped),
   * and only then does the fence open.
   */
  private onLivenessChange(held: boolean): void {
    const change = ++this.lockChanges;
    if (this.stopping) return;
    if (!held) {
      this.fence.close();
      this.log.warn('liveness lock lost: no turn or send starts until it is taken again and the leases are checked');
      return;
    }
    void (async () => {
      for (let delayMs = 100; ; delayMs = Math.min(delayMs * 2, 2_000)) {
        if (this.stopping || change !== this.lockChanges) return;
        try {
          await this.upkeep.revalidate();
          break;
        } catch (err) {
          this.log.warn({ err }, 'checking the leases after the liveness lock came back failed; trying again');
          await new Promise((r) => setTimeout(r, delayMs).unref());
        }
      }
      if (this.stopping || change !== this.lockChanges || !this.liveness.held) return;
      this.fence.reopen();
      this.log.info('liveness lock taken again; leases checked');
    })();
  }

  /** Conversations this process is working on now. */
  get activeConversations(): number {
    return this.states.size;
  }

  /** The hand-off from ingest: never blocks the webhook's answer. */
  onIngested(result: IngestResult): void {
    for (const conv of result.conversations) {
      for (const m of conv.messages) {
        this.bus.emit('message.in', { tenantId: conv.tenantId, conversationId: conv.id, messageId: m.id, type: m.type, direction: m.direction, disposition: m.disposition });
        if (m.disposition) this.bus.emit('message.disposition', { tenantId: conv.tenantId, conversationId: conv.id, disposition: m.disposition, count: 1 });
      }
      this.tenants.noteUsage(conv.tenantId, conv.usageCount);
      if (conv.held) this.onHeld(conv);
    }
    for (const s of result.statuses) {
      this.bus.emit('message.status', { tenantId: s.tenantId, conversationId: s.conversationId, messageId: s.id, status: s.status, errorCode: s.errorCode });
    }
  }

  private onHeld(conv: IngestedConversation): void {
    if (this.stopping) return;
    let state = this.states.get(conv.id);
    if (state?.lease.lost) {
      // Its loop is still unwinding: a fresh state takes over once it has (see drive).
      state.lease.markRetake();
      return;
    }
    const isNew = !state;
    const fresh = conv.messages.filter((m) => m.direction === 'inbound' && m.disposition === null).map(toPending);
    // Older messages still without a disposition (a turn cut short elsewhere) belong to this turn too.
    const leftover = (conv.history ?? []).filter((h) => h.direction === 'inbound' && h.disposition === null).map(toPending);
    if (!state) {
      if (fresh.length === 0 && leftover.length === 0) {
        // A duplicate delivery took the free lease: give it back.
        this.track(this.work.releaseIfIdle(conv.id, conv.inboundSeq));
        return;
      }
      if (this.states.size >= this.opts.maxConversations) {
        // Full: the messages wait as rows (already acknowledged) for a sweep.
        this.track(this.work.releaseIfIdle(conv.id, conv.inboundSeq));
        this.log.debug({ conversationId: conv.id }, 'at capacity: conversation left to the sweep');
        return;
      }
      state = new ConversationState(conv.id, conv.tenantId, conv.channelId, conv.contact, conv.configVersion);
      state.history = (conv.history ?? []).filter((h) => !(h.direction === 'inbound' && h.disposition === null));
      this.states.set(conv.id, state);
    }
    state.configVersion = Math.max(state.configVersion, conv.configVersion);
    state.paused = conv.paused;
    state.noteAnswers(conv.answeredAt ?? []);
    state.lease.heardTake(conv.inboundSeq);
    if (isNew && leftover.length > 0) {
      // Messages left without a disposition come from a snapshot taken before
      // this statement waited for the row lock: a commit may have settled them
      // meanwhile. A claim reads them again, with everything else left to do.
      state.lease.sawSeq(conv.inboundSeq);
      this.drive(state);
      return;
    }
    // Held already: leftovers are messages another process ingested while this one held the lease.
    const added = state.addPending([...leftover, ...fresh]);
    if (conv.bumped) state.lease.advancedBy(conv.inboundSeq, isNew);
    else state.lease.sawSeq(conv.inboundSeq);
    if (added > 0) this.work.onNewMessages(state);
    this.drive(state);
  }

  /** Runs a conversation's loop unless it is already running. */
  private drive(state: ConversationState): void {
    if (state.running) {
      state.wake?.();
      return;
    }
    state.running = true;
    this.track(
      this.work.run(state)
        .catch((err) => {
          this.log.error({ err, conversationId: state.id }, 'conversation loop failed; the sweep will take it over');
          state.lease.markLost();
          // Let the next sweep take it at once rather than after the lease runs out.
          this.track(this.db.query(EXPIRE_LEASE, [state.id, this.lease.owner]));
        })
        .finally(() => {
          state.running = false;
          if (state.lease.lost || state.idle || this.stopping) {
            if (this.states.get(state.id) === state) this.states.delete(state.id);
            if (state.lease.lost && state.lease.retake && !this.stopping) {
              // This process took the lease again while the old loop unwound: start afresh from the rows.
              const fresh = new ConversationState(state.id, state.tenantId, state.channelId, state.contact, state.configVersion);
              fresh.lease.tookNow();
              fresh.lease.heardOfWork();
              this.states.set(state.id, fresh);
              this.drive(fresh);
            }
          } else {
            this.drive(state);
          }
        }),
    );
  }

  /**
   * Queues messages outside a turn (operator replies, notices) and, when this
   * process holds the conversation, sends them in order with its turns.
   */
  async enqueue(input: EnqueueInput): Promise<EnqueueResult> {
    const { conversationId, tenantId, author, texts, autoPause, requireWindow } = input;
    const rich = input.rich && input.rich.some((r) => r !== null) ? JSON.stringify(input.rich) : null;
    const [row] = await this.db.query<EnqueueResult>(ENQUEUE_OUTBOUND, [conversationId, tenantId, author, texts, this.lease.owner, this.lease.seconds, autoPause, requireWindow, rich]);
    const conv = row.conv;
    if (!conv) return row;
    if (conv.newlyPaused) {
      this.bus.emit('conversation.paused', { tenantId: conv.tenantId, conversationId: conv.id, paused: true, pausedUntil: conv.pausedUntil, by: conv.pausedBy ?? 'operator' });
    }
    if (conv.held && !this.stopping) {
      let state = this.states.get(conv.id);
      if (state && !state.lease.lost) {
        state.lease.heardTake(conv.inboundSeq);
        for (const m of row.messages) state.outbox.push({ id: m.id, body: m.body, type: m.type, payload: m.payload, contextWamid: m.contextWamid, turnId: null, turn: null });
        state.lease.advancedBy(conv.inboundSeq, false);
        this.drive(state);
      } else if (state?.lease.lost) {
        state.lease.markRetake();
      } else {
        // Not in memory: claim loads the queued messages (and anything else left) and sends them.
        state = new ConversationState(conv.id, conv.tenantId, '', { waId: null, userId: null, name: null }, 0);
        state.lease.heardTake(conv.inboundSeq);
        state.lease.sawSeq(conv.inboundSeq);
        this.states.set(conv.id, state);
        this.drive(state);
      }
    }
    return row;
  }

  /** Sends the tenant's monthly quota notice unless this month's went out already. */
  private async quotaNotice(tenantId: string, conversationId: string): Promise<void> {
    const notice = await this.notices.due(tenantId);
    if (notice) await this.enqueue({ conversationId, tenantId, author: 'agent', texts: [notice], autoPause: false, requireWindow: false });
  }

  /**
   * Another process ingested messages for a conversation this one holds
   * (LISTEN/NOTIFY): claim them, and with `coalesce: restart` cancel the
   * running agent call so the turn starts again with them.
   */
  onRemoteWork(conversationId: string): void {
    const state = this.states.get(conversationId);
    if (!state || state.lease.lost) return;
    state.lease.heardOfWork();
    if (state.agentCall && state.coalesce === 'restart') {
      state.restartRequested = true;
      state.agentCall.abort(new Error('restart'));
    }
    this.drive(state);
  }

  private onPauseChange(conversationId: string, paused: boolean): void {
    const state = this.states.get(conversationId);
    if (!state) return;
    state.paused = paused;
    // Pause wins: a running agent call is abandoned; the reply commit would refuse it anyway.
    // A turn waiting for its answer budget goes on at once, to settle its messages as paused.
    if (paused) {
      state.agentCall?.abort(new Error('paused'));
      state.wake?.();
    }
  }

  /** How many more conversations fit in memory. */
  get room(): number {
    return this.opts.maxConversations - this.states.size;
  }

  /** The sweep took these conversations' leases: claim what they have left to do. */
  tookOver(ids: string[]): void {
    for (const id of ids) {
      if (this.stopping) break;
      let state = this.states.get(id);
      if (state?.lease.lost) {
        state.lease.markRetake();
        continue;
      }
      if (!state) {
        if (this.states.size >= this.opts.maxConversations) {
          // Ingest filled the room while the sweep's statement ran: the lease runs out now, for a later sweep.
          this.track(this.db.query(EXPIRE_LEASE, [id, this.lease.owner]));
          continue;
        }
        state = new ConversationState(id, '', '', { waId: null, userId: null, name: null }, 0);
        this.states.set(id, state);
      }
      state.lease.tookNow();
      state.lease.heardOfWork();
      this.drive(state);
    }
  }

  /** The leases this process holds now, each with its book's epoch, for a renewal. */
  heldLeases(): HeldLease[] {
    return [...this.states.values()].filter((s) => s.lease.held).map((s) => ({ id: s.id, epoch: s.lease.epoch, state: s }));
  }

  /** A renewal found these leases no longer this process's: drop the conversations it explains. */
  leasesGone(gone: HeldLease[]): void {
    for (const { id, epoch, state } of gone) {
      // Lost only if nothing this process did since asking explains it.
      if (state.lease.heldSince(epoch) && this.states.get(id) === state) {
        state.lease.markLost();
        state.agentCall?.abort(new Error('lease lost'));
        this.log.warn({ conversationId: id }, 'lease lost to another process');
      }
    }
  }

  /** Tracks background work so shutdown can wait for it. */
  private track(p: Promise<unknown>): void {
    const t: Promise<void> = p.then(
      () => {},
      (err) => this.log.error({ err }, 'background work failed'),
    );
    this.running.add(t);
    t.finally(() => this.running.delete(t));
  }

  /**
   * Shutdown: stops taking work, lets running turns finish for up to
   * `graceMs`, then aborts the rest and gives back every lease.
   */
  async stop(graceMs: number): Promise<void> {
    this.stopping = true;
    this.work.stop();
    this.upkeep.stop();
    this.fence.wakeAll();
    for (const s of this.states.values()) s.wake?.();
    const deadline = new Promise((r) => setTimeout(r, graceMs).unref());
    await Promise.race([Promise.allSettled([...this.running]), deadline]);
    this.delivery.stopRetrying();
    for (const s of this.states.values()) {
      s.lease.markLost();
      s.agentCall?.abort(new Error('shutting down'));
    }
    await Promise.race([Promise.allSettled([...this.running]), new Promise((r) => setTimeout(r, 1_000).unref())]);
    // Conversations whose send is still on its way keep their lease until it runs out.
    await this.db.query(RELEASE_ALL, [this.lease.owner, this.delivery.sending]).catch((err) => this.log.warn({ err }, 'releasing leases failed'));
    this.states.clear();
  }
}
