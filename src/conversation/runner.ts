import type { Logger } from 'pino';
import type { Db } from '../db/db.ts';
import type { HistoryMessage, IngestConsumer, IngestedConversation, IngestResult, StoredMessage } from '../ingest/ingest.ts';
import type { Bus } from '../shared/bus.ts';
import { CLAIM, EXPIRE_LEASE, RELEASE_ALL, RELEASE_IF_IDLE, RENEW, RESUME_DUE, SWEEP } from './lease.sql.ts';
import { CLAIM_QUOTA_NOTICE, ENQUEUE_OUTBOUND } from './outbox.sql.ts';
import { ConversationState, type OutgoingMessage, type PendingMessage } from './state.ts';
import type { TenantDirectory } from '../tenancy/tenantSettings.ts';
import type { TurnRunner } from './turn.ts';
import type { Delivery } from './delivery.ts';

export interface RunnerOptions {
  /** How long a lease lasts without renewal. */
  leaseSeconds: number;
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

export const DEFAULT_RUNNER_OPTIONS: RunnerOptions = {
  leaseSeconds: 15,
  sweepIntervalMs: 2_000,
  renewIntervalMs: 5_000,
  sweepBatch: 200,
  maxConversations: 8_000,
};

interface ClaimRow {
  id: string;
  tenantId: string;
  channelId: string;
  paused: boolean;
  inboundSeq: string;
  snapSeq: string;
  configVersion: number;
  contact: { waId: string | null; userId: string | null; name: string | null };
  pending: StoredMessage[];
  queued: { id: string; body: string; turn_id: string | null }[];
  history: HistoryMessage[];
}

/** What enqueueing messages outside a turn returns (operator replies, notices). */
export interface EnqueueResult {
  found: boolean;
  windowOpen: boolean;
  messages: { id: string; body: string; author: string; created_at: string }[];
  conv: { id: string; tenant_id: string; paused: boolean; paused_until: string | null; paused_by: string | null; inbound_seq: string; held: boolean; newly_paused: boolean } | null;
}

export function toPending(m: StoredMessage | (HistoryMessage & { wamid?: string | null; wa_timestamp?: string | null })): PendingMessage {
  const ts = 'wa_timestamp' in m && m.wa_timestamp ? Date.parse(m.wa_timestamp) : null;
  return {
    id: m.id,
    wamid: ('wamid' in m ? m.wamid : null) ?? null,
    type: m.type,
    body: m.body,
    media: m.media,
    convSeq: Number(m.conv_seq),
    sentAt: ts,
    arrivedAt: performance.now(),
  };
}

/**
 * Records that the row's inbound_seq is now `seq` after one bump whose work
 * this process has in hand. Contiguous: all work known. A gap: some bump was
 * made elsewhere, so `dbSeq` runs ahead and the loop claims it. A new state
 * starts from the bump it was created by (the lease was free, so everything
 * before it was finished or is left over in the history it came with).
 */
function advanceSeq(state: ConversationState, seq: number, isNew: boolean): void {
  if (isNew || state.knownSeq === seq - 1) state.knownSeq = Math.max(state.knownSeq, seq);
  state.dbSeq = Math.max(state.dbSeq, seq);
}

/**
 * The conversation runner (DESIGN steps 3–6): one state per conversation this
 * process holds, driven by what ingest returned; turns of a conversation one at
 * a time and in order, conversations in parallel under the limiter. The
 * database stays the record: a sweep takes over what a dead process left, and
 * leases keep two processes off the same conversation.
 */
export class ConversationRunner implements IngestConsumer {
  private readonly states = new Map<string, ConversationState>();
  private readonly running = new Set<Promise<void>>();
  private sweepTimer: NodeJS.Timeout | null = null;
  private renewTimer: NodeJS.Timeout | null = null;
  private stopping = false;
  private readonly noticesSent = new Set<string>();

  constructor(
    private readonly db: Db,
    private readonly bus: Bus,
    private readonly log: Logger,
    private readonly leaseOwner: string,
    private readonly tenants: TenantDirectory,
    private readonly turns: TurnRunner,
    private readonly delivery: Delivery,
    private readonly opts: RunnerOptions = DEFAULT_RUNNER_OPTIONS,
  ) {
    bus.on('conversation.paused', (e) => this.onPauseChange(e.conversationId, e.paused));
    // Whether ingest found the limit reached or a reply commit did, the notice goes out once a month.
    bus.on('message.disposition', (e) => {
      if (e.disposition === 'over_quota') this.track(this.quotaNotice(e.tenantId, e.conversationId));
    });
    turns.refresh = (state) => this.claim(state);
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
        this.bus.emit('message.in', {
          tenantId: conv.tenantId,
          conversationId: conv.id,
          messageId: m.id,
          type: m.type,
          direction: m.direction,
          disposition: m.disposition,
        });
        if (m.disposition) this.bus.emit('message.disposition', { tenantId: conv.tenantId, conversationId: conv.id, disposition: m.disposition, count: 1 });
      }
      this.tenants.noteUsage(conv.tenantId, Number(conv.usageCount ?? 0));
      if (conv.held) this.onHeld(conv);
    }
    for (const s of result.statuses) {
      this.bus.emit('message.status', { tenantId: s.tenant_id, conversationId: s.conversation_id, messageId: s.id, status: s.status, errorCode: s.error_code });
    }
  }

  private onHeld(conv: IngestedConversation): void {
    if (this.stopping) return;
    let state = this.states.get(conv.id);
    if (state?.lost) {
      // Its loop is still unwinding: a fresh state takes over once it has (see drive).
      state.retake = true;
      return;
    }
    const isNew = !state;
    const fresh = conv.messages.filter((m) => m.direction === 'inbound' && m.disposition === null).map(toPending);
    // Older messages still without a disposition (a turn cut short elsewhere) belong to this turn too.
    const leftover = (conv.history ?? []).filter((h) => h.direction === 'inbound' && h.disposition === null).map((h) => toPending(h));
    if (!state) {
      if (fresh.length === 0 && leftover.length === 0) {
        // A duplicate delivery took the free lease: give it back.
        this.track(this.releaseIfIdle(conv.id, Number(conv.inboundSeq)));
        return;
      }
      if (this.states.size >= this.opts.maxConversations) {
        // Full: the messages wait as rows (already acknowledged) for a sweep.
        this.track(this.releaseIfIdle(conv.id, Number(conv.inboundSeq)));
        this.log.debug({ conversationId: conv.id }, 'at capacity: conversation left to the sweep');
        return;
      }
      state = new ConversationState(conv.id, conv.tenantId, conv.channelId, conv.contact, conv.configVersion);
      state.history = (conv.history ?? []).filter((h) => !(h.direction === 'inbound' && h.disposition === null));
      this.states.set(conv.id, state);
    }
    state.configVersion = Math.max(state.configVersion, conv.configVersion);
    state.paused = conv.paused;
    state.setLease(true, Number(conv.inboundSeq));
    if (isNew && leftover.length > 0) {
      // Messages left without a disposition come from a snapshot taken before
      // this statement waited for the row lock: a commit may have settled them
      // meanwhile. A claim reads them again, with everything else left to do.
      state.dbSeq = Math.max(state.dbSeq, Number(conv.inboundSeq));
      this.drive(state);
      return;
    }
    // Held already: leftovers are messages another process ingested while this one held the lease.
    const added = state.addPending([...leftover, ...fresh]);
    if (conv.bumped) advanceSeq(state, Number(conv.inboundSeq), isNew);
    else state.dbSeq = Math.max(state.dbSeq, Number(conv.inboundSeq));
    if (added > 0) this.turns.onNewMessages(state);
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
          state.lost = true;
          // Let the next sweep take it at once rather than after the lease runs out.
          this.track(this.db.query(EXPIRE_LEASE, [state.id, this.leaseOwner]));
        })
        .finally(() => {
          state.running = false;
          if (state.lost || state.idle || this.stopping) {
            if (this.states.get(state.id) === state) this.states.delete(state.id);
            if (state.lost && state.retake && !this.stopping) {
              // This process took the lease again while the old loop unwound: start afresh from the rows.
              const fresh = new ConversationState(state.id, state.tenantId, state.channelId, state.contact, state.configVersion);
              fresh.leaseTakenNow();
              fresh.dbSeq = 1;
              this.states.set(state.id, fresh);
              this.drive(fresh);
            }
          } else {
            this.drive(state);
          }
        }),
    );
  }

  private async loop(state: ConversationState): Promise<void> {
    let claims = 0;
    while (!state.lost) {
      // Committed replies go out even while stopping: a turn that finished within the grace is answered.
      if (state.outbox.length > 0) {
        await this.delivery.sendNext(state);
        claims = 0;
        continue;
      }
      if (this.stopping) return;
      if (state.pending.length > 0) {
        await this.turns.run(state);
        claims = 0;
        continue;
      }
      if (state.dbSeq > state.knownSeq) {
        // Most gaps are this process's own ingest whose answer is still on its way
        // (it travels on another connection): give it a moment before a claim.
        await this.waitForGap(state, GAP_WAIT_MS);
        if (state.dbSeq <= state.knownSeq || state.pending.length > 0 || state.outbox.length > 0) continue;
        // Work that another process ingested or queued while this one held the lease.
        if (++claims > 20) throw new Error('conversation keeps changing; leaving it to the sweep');
        await this.claim(state);
        continue;
      }
      return;
    }
  }

  private waitForGap(state: ConversationState, ms: number): Promise<void> {
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

  /** Loads what the database says is still to do, and gives the lease back when nothing is. */
  private async claim(state: ConversationState): Promise<void> {
    const [row] = await this.db.query<ClaimRow>(CLAIM, [state.id, this.leaseOwner, this.opts.leaseSeconds]);
    if (!row) {
      state.lost = true;
      return;
    }
    state.setLease(true, Number(row.inboundSeq));
    // The lists come from the statement's snapshot (snapSeq); the lease update
    // saw the newest row (inboundSeq). Work between the two is claimed again.
    const snap = Number(row.snapSeq);
    state.tenantId = row.tenantId;
    state.channelId = row.channelId;
    state.contact = row.contact;
    state.configVersion = Math.max(state.configVersion, row.configVersion);
    state.paused = row.paused;
    const seq = Number(row.inboundSeq);
    if (state.history.length === 0) state.history = row.history;
    const added = state.addPending(row.pending.map(toPending));
    for (const q of row.queued) {
      if (!state.outbox.some((o) => o.id === q.id)) state.outbox.push({ id: q.id, body: q.body, turnId: q.turn_id, turn: null });
    }
    state.outbox.sort((a, b) => Number(BigInt(a.id) - BigInt(b.id)));
    state.knownSeq = Math.max(state.knownSeq, snap);
    state.dbSeq = Math.max(state.dbSeq, seq);
    if (added > 0) this.turns.onNewMessages(state);
    if (state.pending.length === 0 && state.outbox.length === 0 && snap >= seq) {
      const released = await this.releaseIfIdle(state.id, seq);
      if (released) state.setLease(false, seq);
      else state.dbSeq = seq + 1; // something new came in meanwhile: claim again
    }
  }

  private async releaseIfIdle(conversationId: string, seq: number): Promise<boolean> {
    const rows = await this.db.query(RELEASE_IF_IDLE, [conversationId, this.leaseOwner, seq]);
    return rows.length > 0;
  }

  /**
   * Queues messages outside a turn (operator replies, notices) and, when this
   * process holds the conversation, sends them in order with its turns.
   */
  async enqueue(input: { conversationId: string; tenantId: string | null; author: 'operator' | 'agent'; texts: string[]; autoPause: boolean; requireWindow: boolean }): Promise<EnqueueResult> {
    const [row] = await this.db.query<{ found: boolean; window_open: boolean; messages: EnqueueResult['messages']; conv: EnqueueResult['conv'] }>(ENQUEUE_OUTBOUND, [
      input.conversationId,
      input.tenantId,
      input.author,
      input.texts,
      this.leaseOwner,
      this.opts.leaseSeconds,
      input.autoPause,
      input.requireWindow,
    ]);
    const result: EnqueueResult = { found: row.found, windowOpen: row.window_open, messages: row.messages, conv: row.conv };
    const conv = row.conv;
    if (!conv) return result;
    if (conv.newly_paused) {
      this.bus.emit('conversation.paused', { tenantId: conv.tenant_id, conversationId: conv.id, paused: true, pausedUntil: conv.paused_until, by: conv.paused_by ?? 'operator' });
    }
    if (conv.held && !this.stopping) {
      let state = this.states.get(conv.id);
      if (state && !state.lost) {
        state.setLease(true, Number(conv.inbound_seq));
        for (const m of row.messages) state.outbox.push({ id: m.id, body: m.body, turnId: null, turn: null } satisfies OutgoingMessage);
        advanceSeq(state, Number(conv.inbound_seq), false);
        this.drive(state);
      } else if (state?.lost) {
        state.retake = true;
      } else {
        // Not in memory: claim loads the queued messages (and anything else left) and sends them.
        state = new ConversationState(conv.id, conv.tenant_id, '', { waId: null, userId: null, name: null }, 0);
        state.setLease(true, Number(conv.inbound_seq));
        state.dbSeq = Number(conv.inbound_seq);
        this.states.set(conv.id, state);
        this.drive(state);
      }
    }
    return result;
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
    if (!state || state.lost) return;
    state.dbSeq = Math.max(state.dbSeq, state.knownSeq + 1);
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
    const resumed = await this.db.query<{ id: string; tenant_id: string }>(RESUME_DUE);
    for (const r of resumed) {
      this.bus.emit('conversation.paused', { tenantId: r.tenant_id, conversationId: r.id, paused: false, pausedUntil: null, by: 'timer' });
    }
    const room = Math.min(this.opts.sweepBatch, this.opts.maxConversations - this.states.size);
    if (room <= 0) return;
    const taken = await this.db.query<{ id: string }>(SWEEP, [this.leaseOwner, this.opts.leaseSeconds, room]);
    for (const { id } of taken) {
      if (this.stopping) break;
      let state = this.states.get(id);
      if (state?.lost) {
        state.retake = true;
        continue;
      }
      if (!state) {
        state = new ConversationState(id, '', '', { waId: null, userId: null, name: null }, 0);
        this.states.set(id, state);
      }
      state.leaseTakenNow();
      state.dbSeq = Math.max(state.dbSeq, state.knownSeq + 1);
      this.drive(state);
    }
    if (taken.length > 0) this.log.info({ conversations: taken.length }, 'took over conversations with work left');
  }

  /** Renews every lease held; a conversation whose lease was lost is dropped at once. */
  private renewing = false;

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
    const asked = [...this.states.values()].filter((s) => s.leaseHeld).map((s) => ({ state: s, epoch: s.leaseEpoch }));
    if (asked.length === 0) return;
    const rows = await this.db.query<{ id: string }>(RENEW, [asked.map((a) => a.state.id), this.leaseOwner, this.opts.leaseSeconds]);
    const gone = new Set(rows.map((r) => r.id));
    for (const { state, epoch } of asked) {
      const id = state.id;
      // Lost only if nothing this process did since asking explains it.
      if (gone.has(id) && state.leaseHeld && state.leaseEpoch === epoch && this.states.get(id) === state) {
        state.lost = true;
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
      s.lost = true;
      s.agentCall?.abort(new Error('shutting down'));
    }
    await Promise.race([Promise.allSettled([...this.running]), new Promise((r) => setTimeout(r, 1_000).unref())]);
    const sending = [...this.states.values()].filter((s) => s.sending).map((s) => s.id);
    await this.db.query(RELEASE_ALL, [this.leaseOwner, sending]).catch((err) => this.log.warn({ err }, 'releasing leases failed'));
    this.states.clear();
  }
}
