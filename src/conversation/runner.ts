import type { Logger } from 'pino';
import type { Db } from '../db/db.ts';
import type { IngestConsumer, IngestedConversation, IngestResult } from '../ingest/ingest.ts';
import type { Bus } from '../shared/bus.ts';
import type { Delivery } from './delivery.ts';
import { CLAIM, EXPIRE_LEASE, RELEASE_ALL, RELEASE_IF_IDLE, RENEW, RESUME_DUE, SWEEP, type ClaimRow, type ResumedRow } from './lease.sql.ts';
import type { LeaseTerms } from './leaseBook.ts';
import type { FairLimiter } from './limiter.ts';
import { CLAIM_QUOTA_NOTICE, ENQUEUE_OUTBOUND, type EnqueueResult } from './outbox.sql.ts';
import { ConversationState, toPending } from './state.ts';
import type { TenantDirectory, TenantSettings } from './tenants.ts';
import type { TurnOutcome, TurnRunner } from './turn.ts';

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

/** How long a gap in inbound_seq may wait for this process's own ingest to close it. */
const GAP_WAIT_MS = 25;

/** The runner's pacing unless told otherwise. */
export const DEFAULT_RUNNER_OPTIONS: RunnerOptions = {
  sweepIntervalMs: 2_000,
  renewIntervalMs: 5_000,
  sweepBatch: 200,
  maxConversations: 8_000,
};

/** What to queue outside a turn (an operator's reply, the quota notice). */
export interface EnqueueInput {
  conversationId: string;
  /** The caller's tenant; null for the admin. */
  tenantId: string | null;
  author: 'operator' | 'agent';
  texts: string[];
  autoPause: boolean;
  requireWindow: boolean;
}

/**
 * The conversation runner (docs/architecture.md, "Turns"): one state per
 * conversation this process holds, driven by what ingest returned; turns of a
 * conversation one at a time and in order, conversations in parallel under
 * the limiter. It is the only writer of those states: the turn and delivery
 * read them and return what happened. The database stays the record: a sweep
 * takes over what a dead process left, and leases keep two processes off the
 * same conversation.
 */
export class ConversationRunner implements IngestConsumer {
  private readonly states = new Map<string, ConversationState>();
  private readonly running = new Set<Promise<void>>();
  private sweepTimer: NodeJS.Timeout | null = null;
  private renewTimer: NodeJS.Timeout | null = null;
  private stopping = false;
  private renewing = false;
  private readonly noticesSent = new Set<string>();

  constructor(
    private readonly db: Db,
    private readonly bus: Bus,
    private readonly log: Logger,
    private readonly lease: LeaseTerms,
    private readonly tenants: TenantDirectory,
    private readonly limiter: FairLimiter,
    private readonly turns: TurnRunner,
    private readonly delivery: Delivery,
    private readonly opts: RunnerOptions = DEFAULT_RUNNER_OPTIONS,
  ) {
    bus.on('conversation.paused', (e) => this.onPauseChange(e.conversationId, e.paused));
    // Whether ingest found the limit reached or a reply commit did, the notice goes out once a month.
    bus.on('message.disposition', (e) => {
      if (e.disposition === 'over_quota') this.track(this.quotaNotice(e.tenantId, e.conversationId));
    });
  }

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
        this.track(this.releaseIfIdle(conv.id, conv.inboundSeq));
        return;
      }
      if (this.states.size >= this.opts.maxConversations) {
        // Full: the messages wait as rows (already acknowledged) for a sweep.
        this.track(this.releaseIfIdle(conv.id, conv.inboundSeq));
        this.log.debug({ conversationId: conv.id }, 'at capacity: conversation left to the sweep');
        return;
      }
      state = new ConversationState(conv.id, conv.tenantId, conv.channelId, conv.contact, conv.configVersion);
      state.history = (conv.history ?? []).filter((h) => !(h.direction === 'inbound' && h.disposition === null));
      this.states.set(conv.id, state);
    }
    state.configVersion = Math.max(state.configVersion, conv.configVersion);
    state.paused = conv.paused;
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
    if (added > 0) this.onNewMessages(state);
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
      this.loop(state)
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

  /** Sends the outbox in order, then runs a turn over all pending messages, then claims if the database knows more. */
  private async loop(state: ConversationState): Promise<void> {
    let claims = 0;
    while (!state.lease.lost) {
      // Committed replies go out even while stopping: a turn that finished within the grace is answered.
      if (state.outbox.length > 0) {
        await this.sendNext(state);
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
    const tenant = await this.tenants.get(state.tenantId, state.configVersion);
    state.coalesce = tenant.agent.coalesce;
    await this.debounce(state, tenant);
    if (state.lease.lost || state.pending.length === 0) return;
    const release = await this.limiter.acquire(state.tenantId);
    const startedAt = performance.now();
    state.restartUntil = (state.firstPendingAt || startedAt) + tenant.agent.maxDebounceMs;
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

  /** One attempt at the turn, with an agent call this runner can abort. */
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

  /** Sends the outbox's first message and applies the result; reports the turn once its last part went out. */
  private async sendNext(state: ConversationState): Promise<void> {
    const sent = await this.delivery.sendNext(state);
    const turn = state.applySend(sent);
    if (!turn) return;
    this.bus.emit('turn.done', {
      tenantId: turn.tenantId,
      conversationId: state.id,
      disposition: sent.result === 'sent' ? turn.disposition : 'send_failed',
      queueMs: turn.startedAt - turn.arrivedAt,
      agentMs: turn.agentMs,
      sendMs: turn.sendMs,
      totalMs: sent.sentAt - turn.arrivedAt,
    });
  }

  /** New messages reached a conversation: restart its agent call if it coalesces that way. */
  private onNewMessages(state: ConversationState): void {
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

  private async releaseIfIdle(conversationId: string, seq: number): Promise<boolean> {
    const rows = await this.db.query(RELEASE_IF_IDLE, [conversationId, this.lease.owner, seq]);
    return rows.length > 0;
  }

  /**
   * Queues messages outside a turn (operator replies, notices) and, when this
   * process holds the conversation, sends them in order with its turns.
   */
  async enqueue(input: EnqueueInput): Promise<EnqueueResult> {
    const { conversationId, tenantId, author, texts, autoPause, requireWindow } = input;
    const [row] = await this.db.query<EnqueueResult>(ENQUEUE_OUTBOUND, [conversationId, tenantId, author, texts, this.lease.owner, this.lease.seconds, autoPause, requireWindow]);
    const conv = row.conv;
    if (!conv) return row;
    if (conv.newlyPaused) {
      this.bus.emit('conversation.paused', { tenantId: conv.tenantId, conversationId: conv.id, paused: true, pausedUntil: conv.pausedUntil, by: conv.pausedBy ?? 'operator' });
    }
    if (conv.held && !this.stopping) {
      let state = this.states.get(conv.id);
      if (state && !state.lease.lost) {
        state.lease.heardTake(conv.inboundSeq);
        for (const m of row.messages) state.outbox.push({ id: m.id, body: m.body, turnId: null, turn: null });
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

  /** Sends the tenant's monthly quota notice, once per month (remembered here to spare the statement). */
  private async quotaNotice(tenantId: string, conversationId: string): Promise<void> {
    const month = new Date().toISOString().slice(0, 7);
    const key = `${tenantId}:${month}`;
    if (this.noticesSent.has(key)) return;
    const tenant = await this.tenants.get(tenantId);
    const notice = tenant.agent.quotaNotice;
    if (!notice) return;
    this.noticesSent.add(key);
    if (this.noticesSent.size > 10_000) this.noticesSent.clear();
    const claimed = await this.db.query(CLAIM_QUOTA_NOTICE, [tenantId]);
    if (claimed.length === 0) return;
    await this.enqueue({ conversationId, tenantId, author: 'agent', texts: [notice], autoPause: false, requireWindow: false });
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
    if (paused) state.agentCall?.abort(new Error('paused'));
  }

  /** Takes over abandoned work and ends pauses whose timer ran out. */
  async sweep(): Promise<void> {
    if (this.stopping) return;
    const resumed = await this.db.query<ResumedRow>(RESUME_DUE);
    for (const r of resumed) {
      this.bus.emit('conversation.paused', { tenantId: r.tenantId, conversationId: r.id, paused: false, pausedUntil: null, by: 'timer' });
    }
    const room = Math.min(this.opts.sweepBatch, this.opts.maxConversations - this.states.size);
    if (room <= 0) return;
    const taken = await this.db.query<{ id: string }>(SWEEP, [this.lease.owner, this.lease.seconds, room]);
    for (const { id } of taken) {
      if (this.stopping) break;
      let state = this.states.get(id);
      if (state?.lease.lost) {
        state.lease.markRetake();
        continue;
      }
      if (!state) {
        state = new ConversationState(id, '', '', { waId: null, userId: null, name: null }, 0);
        this.states.set(id, state);
      }
      state.lease.tookNow();
      state.lease.heardOfWork();
      this.drive(state);
    }
    if (taken.length > 0) this.log.info({ conversations: taken.length }, 'took over conversations with work left');
  }

  /** Renews every lease held; a conversation whose lease was lost is dropped at once. */
  private async renew(): Promise<void> {
    // A renewal slower than the interval must not pile up behind itself.
    if (this.renewing) return;
    this.renewing = true;
    try {
      await this.renewOnce();
    } finally {
      this.renewing = false;
    }
  }

  private async renewOnce(): Promise<void> {
    const asked = [...this.states.values()].filter((s) => s.lease.held).map((s) => ({ state: s, epoch: s.lease.epoch }));
    if (asked.length === 0) return;
    const rows = await this.db.query<{ id: string }>(RENEW, [asked.map((a) => a.state.id), this.lease.owner, this.lease.seconds]);
    const gone = new Set(rows.map((r) => r.id));
    for (const { state, epoch } of asked) {
      const id = state.id;
      if (gone.has(id) && state.lease.heldSince(epoch) && this.states.get(id) === state) {
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
    if (this.sweepTimer) clearTimeout(this.sweepTimer);
    if (this.renewTimer) clearInterval(this.renewTimer);
    for (const s of this.states.values()) s.wake?.();
    const deadline = new Promise((r) => setTimeout(r, graceMs).unref());
    await Promise.race([Promise.allSettled([...this.running]), deadline]);
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
