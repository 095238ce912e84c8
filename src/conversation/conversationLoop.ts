import type { Db } from '../db/db.ts';
import type { Bus } from '../shared/bus.ts';
import type { Delivery } from './delivery.ts';
import { CLAIM, RELEASE_IF_IDLE, type ClaimRow } from './lease.sql.ts';
import type { LeaseTerms } from './leaseBook.ts';
import type { LeaseFence } from './leaseFence.ts';
import type { FairLimiter } from './limiter.ts';
import type { ConversationState } from './state.ts';
import type { TenantDirectory, TenantSettings } from '../tenancy/tenantSettings.ts';
import type { TurnOutcome } from './outcomes.ts';
import { matchesHandoff, type TurnRunner } from './turn.ts';

/** How long a gap in inbound_seq may wait for this process's own ingest to close it. */
const GAP_WAIT_MS = 25;

/**
 * The longest single wait for the answer budget before the tenant's settings
 * are read again: the settings cache's own age, so a budget raised in any
 * process frees a waiting conversation within about a minute even if the
 * customer writes nothing more (a new message brings the new version at once).
 */
const BUDGET_RECHECK_MS = 60_000;

/**
 * The work on one conversation while this process holds its lease: the half
 * of the runner that applies what a turn, a send or a claim came to. The
 * ConversationRunner decides which conversations run; this loop runs one.
 * Between them they are the only writers of a ConversationState: the turn
 * and delivery read it and return what happened.
 */
export class ConversationLoop {
  private stopping = false;

  constructor(
    private readonly db: Db,
    private readonly bus: Bus,
    private readonly lease: LeaseTerms,
    private readonly tenants: TenantDirectory,
    private readonly limiter: FairLimiter,
    private readonly turns: TurnRunner,
    private readonly delivery: Delivery,
    private readonly fence: LeaseFence,
  ) {}

  /** Shutdown: loops send what is committed and start no new turn. */
  stop(): void {
    this.stopping = true;
  }

  /**
   * Sends the outbox in order, then runs a turn over all pending messages,
   * then claims if the database knows more. Each step waits while the lease
   * fence is closed (see LeaseFence).
   */
  async run(state: ConversationState): Promise<void> {
    let claims = 0;
    while (!state.lease.lost) {
      if (!this.fence.open) {
        if (this.stopping) return;
        await this.fence.whenOpen();
        continue;
      }
      // Committed replies go out even while stopping: a turn that finished within the grace is answered.
      if (state.outbox.length > 0) {
        // Shutdown stopped a send between attempts: its row stays queued for the next process.
        if (!(await this.sendNext(state))) return;
        claims = 0;
        continue;
      }
      if (this.stopping) return;
      if (state.pending.length > 0) {
        await this.runTurn(state);
        claims = 0;
        continue;
      }
      if (state.lease.hasGap) {
        // Most gaps are this process's own ingest whose answer is still on its way
        // (it travels on another connection): give it a moment before a claim.
        await this.waitFor(state, GAP_WAIT_MS);
        if (!state.lease.hasGap || state.pending.length > 0 || state.outbox.length > 0) continue;
        // Work that another process ingested or queued while this one held the lease.
        if (++claims > 20) throw new Error('conversation keeps changing; leaving it to the sweep');
        await this.claim(state);
        continue;
      }
      return;
    }
  }

  /** Waits `ms`, or less if new messages (or shutdown) wake the conversation. */
  private waitFor(state: ConversationState, ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(t);
        if (state.wake === done) state.wake = null;
        resolve();
      };
      const t = setTimeout(done, ms);
      state.wake = done;
    });
  }

  /**
   * One turn over the conversation's pending messages, in a slot of the fair
   * limiter held until it commits: a coalescing restart keeps the slot and
   * starts again with every pending message.
   */
  private async runTurn(state: ConversationState): Promise<void> {
    let tenant = await this.tenants.get(state.tenantId, state.configVersion);
    state.coalesce = tenant.agent.coalesce;
    await this.debounce(state, tenant);
    if (state.lease.lost || state.pending.length === 0) return;
    const budget = await this.awaitBudget(state, tenant);
    if (!budget) return;
    tenant = budget.tenant;
    // Another process's messages that came while the turn waited join it too.
    if (budget.delayed && state.lease.hasGap) await this.claim(state);
    if (state.lease.lost || state.pending.length === 0) return;
    const release = await this.limiter.acquire(state.tenantId);
    const startedAt = performance.now();
    // After a wait for the budget, restarts count from when the turn could start, not from the burst's first message.
    state.restartUntil = (budget.delayed ? startedAt : state.firstPendingAt || startedAt) + tenant.agent.maxDebounceMs;
    try {
      for (;;) {
        const outcome = await this.attempt(state, tenant, startedAt);
        if (outcome.kind === 'committed') return state.applyCommit(outcome);
        if (outcome.kind === 'lost') return state.lease.markLost();
        // Restart: fetch first what another process ingested, then start again with every pending message.
        if (state.lease.hasGap) await this.claim(state);
        if (state.lease.lost) return;
      }
    } finally {
      release();
    }
  }

  /**
   * One attempt at the turn. Its AbortController lives in the state while the
   * attempt runs, so new messages, a pause or a lost lease can cancel the agent
   * call; aborting it once the call has ended changes nothing.
   */
  private async attempt(state: ConversationState, tenant: TenantSettings, startedAt: number): Promise<TurnOutcome> {
    const call = new AbortController();
    state.agentCall = call;
    state.restartRequested = false;
    try {
      return await this.turns.attempt(state, tenant, startedAt, call.signal);
    } finally {
      state.agentCall = null;
    }
  }

  /** With `debounceMs`, waits for a quiet window, bounded by `maxDebounceMs` from the first message. */
  private async debounce(state: ConversationState, tenant: TenantSettings): Promise<void> {
    const { debounceMs, maxDebounceMs } = tenant.agent;
    if (debounceMs <= 0) return;
    for (;;) {
      const now = performance.now();
      const wakeAt = Math.min(state.lastPendingAt + debounceMs, state.firstPendingAt + maxDebounceMs);
      if (now >= wakeAt || state.lease.lost) return;
      await this.waitFor(state, wakeAt - now);
    }
  }

  /**
   * The answer budget (docs/behaviour.md): while the conversation's latest
   * answers fill the tenant's window, the turn waits, on the conversation's one
   * timer, until the oldest of them leaves it; every message arriving meanwhile
   * joins the turn. No wait when no answer can come of the turn (paused, or the
   * monthly limit reached: it settles at once) or for a handoff keyword (a
   * person takes over). Returns the tenant's settings as of the end of the wait
   * and whether there was one, or null when the lease was lost or the process
   * stops (the messages stay rows for whoever runs the conversation next).
   */
  private async awaitBudget(state: ConversationState, tenant: TenantSettings): Promise<{ tenant: TenantSettings; delayed: boolean } | null> {
    let delayed = false;
    for (;;) {
      if (state.lease.lost || this.stopping) return null;
      if (state.paused || this.tenants.limitReached(state.tenantId, tenant.monthlyMessageLimit)) return { tenant, delayed };
      if (matchesHandoff(state.pending, tenant.agent.handoffKeywords)) return { tenant, delayed };
      const ms = state.budgetWaitMs(tenant.agent.answerBudget, Date.now());
      if (ms <= 0) return { tenant, delayed };
      if (!delayed) {
        delayed = true;
        this.bus.emit('turn.budget_delayed', { tenantId: state.tenantId, conversationId: state.id, waitMs: ms, pending: state.pending.length });
      }
      await this.waitFor(state, Math.min(ms, BUDGET_RECHECK_MS));
      tenant = await this.tenants.get(state.tenantId, state.configVersion);
    }
  }

  /**
   * Sends the outbox's first message and applies the result; reports the
   * turn once its last part went out. False when shutdown stopped the send.
   */
  private async sendNext(state: ConversationState): Promise<boolean> {
    const sent = await this.delivery.sendNext(state);
    if (!sent) return false;
    const turn = state.applySend(sent);
    if (!turn) return true;
    this.bus.emit('turn.done', {
      tenantId: turn.tenantId,
      conversationId: state.id,
      disposition: sent.result === 'sent' ? turn.disposition : 'send_failed',
      queueMs: turn.startedAt - turn.arrivedAt,
      agentMs: turn.agentMs,
      sendMs: turn.sendMs,
      totalMs: sent.sentAt - turn.arrivedAt,
    });
    return true;
  }

  /** New messages reached a conversation: restart its agent call if it coalesces that way, and wake its wait. */
  onNewMessages(state: ConversationState): void {
    // Restarts stop once the burst is older than maxDebounceMs: a customer who
    // keeps writing faster than the model answers still gets an answer, and the
    // rest make the next turn.
    if (state.agentCall && state.coalesce === 'restart' && performance.now() < state.restartUntil) {
      state.restartRequested = true;
      state.agentCall.abort(new Error('restart'));
    }
    state.wake?.();
  }

  /** Loads what the database says is still to do, and gives the lease back when nothing is. */
  private async claim(state: ConversationState): Promise<void> {
    const [row] = await this.db.query<ClaimRow>(CLAIM, [state.id, this.lease.owner, this.lease.seconds]);
    if (!row) return state.lease.markLost();
    const added = state.applyClaim(row);
    if (added > 0) this.onNewMessages(state);
    if (state.pending.length === 0 && state.outbox.length === 0 && row.snapSeq >= row.inboundSeq) {
      const released = await this.releaseIfIdle(state.id, row.inboundSeq);
      if (released) state.lease.heardRelease(row.inboundSeq);
      else state.lease.releaseRefused(row.inboundSeq);
    }
  }

  /** Gives the lease back unless something newer than `seq` came in; true when it did. */
  async releaseIfIdle(conversationId: string, seq: number): Promise<boolean> {
    const rows = await this.db.query(RELEASE_IF_IDLE, [conversationId, this.lease.owner, seq]);
    return rows.length > 0;
  }
}
