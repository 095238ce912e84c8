import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { callAgent } from '../agent/call.ts';
import type { AgentRegistry } from '../agent/registry.ts';
import { toAgentMessage } from '../agent/textForm.ts';
import type { AgentMessage, AgentOutput } from '../agent/types.ts';
import type { Db } from '../db/db.ts';
import type { HistoryMessage } from '../ingest/ingest.ts';
import type { CloudApi } from '../outbound/types.ts';
import { splitText } from '../outbound/split.ts';
import type { Bus } from '../shared/bus.ts';
import type { ChannelDirectory } from '../tenancy/channels.ts';
import type { FairLimiter } from './limiter.ts';
import type { ConversationState, PendingMessage } from './state.ts';
import type { TenantDirectory, TenantSettings } from '../tenancy/tenantSettings.ts';
import { Batcher } from '../shared/batcher.ts';
import { REPLY_COMMITS } from './turn.sql.ts';

const DAY_MS = 24 * 60 * 60 * 1000;

type Kind = 'answer' | 'fallback' | 'handoff' | 'none' | 'paused' | 'window_closed';

interface CommitRow {
  conv: string;
  held: boolean;
  was_paused: boolean | null;
  inbound_seq: string | null;
  usage_count: number | null;
  conv_state: { paused: boolean; paused_until: string | null; released: boolean } | null;
  replies: { id: string; body: string; created_at: string }[];
  settled: { id: string; disposition: string }[];
}

/** One turn's reply commit, as REPLY_COMMITS takes it. */
interface CommitInput {
  conv: string;
  seq: number;
  ids: string[];
  answered: string;
  turn: string;
  parts: string[];
  kind: Kind;
  pause: boolean;
}

/** Reply-commit statements running at once; turns finishing meanwhile share the next one. */
const COMMIT_STATEMENTS_IN_FLIGHT = 3;

export interface TurnOptions {
  leaseSeconds: number;
  /** Pause between agent attempts (tests shorten it). */
  agentBackoffMs?: number;
}

/**
 * One turn: the agent's answer to the pending customer messages of one
 * conversation, committed with its quota unit in one statement. Coalescing:
 * with `restart`, messages arriving during the agent call cancel it and it
 * starts again with all of them; with `queue` they make the next turn.
 */
export class TurnRunner {
  private readonly commits = new Batcher<CommitInput, CommitRow>((items) => this.commitMany(items), COMMIT_STATEMENTS_IN_FLIGHT, 200);

  constructor(
    private readonly db: Db,
    private readonly bus: Bus,
    private readonly log: Logger,
    private readonly leaseOwner: string,
    private readonly tenants: TenantDirectory,
    private readonly channels: ChannelDirectory,
    private readonly agents: AgentRegistry,
    private readonly cloudApi: CloudApi,
    private readonly limiter: FairLimiter,
    private readonly opts: TurnOptions,
  ) {}

  /** Loads work another process ingested for a conversation this one holds (set by the runner). */
  refresh: (state: ConversationState) => Promise<void> = async () => {};

  /** New messages reached a conversation: restart its agent call if it coalesces that way. */
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

  /** Runs one turn over the conversation's pending messages (the loop calls it again while any remain). */
  async run(state: ConversationState): Promise<void> {
    const tenant = await this.tenants.get(state.tenantId, state.configVersion);
    state.coalesce = tenant.agent.coalesce;
    await this.debounce(state, tenant);
    if (state.lost || state.pending.length === 0) return;
    const release = await this.limiter.acquire(state.tenantId);
    const startedAt = performance.now();
    state.restartUntil = (state.firstPendingAt || startedAt) + tenant.agent.maxDebounceMs;
    try {
      await this.turn(state, tenant, startedAt);
    } finally {
      release();
    }
  }

  /** With `debounceMs`, waits for a quiet window, bounded by `maxDebounceMs` from the first message. */
  private async debounce(state: ConversationState, tenant: TenantSettings): Promise<void> {
    const { debounceMs, maxDebounceMs } = tenant.agent;
    if (debounceMs <= 0) return;
    for (;;) {
      const now = performance.now();
      const quietAt = state.lastPendingAt + debounceMs;
      const capAt = state.firstPendingAt + maxDebounceMs;
      const wakeAt = Math.min(quietAt, capAt);
      if (now >= wakeAt || state.lost) return;
      await new Promise<void>((resolve) => {
        const t = setTimeout(done, wakeAt - now);
        function done() {
          clearTimeout(t);
          resolve();
        }
        state.wake = done;
      });
      state.wake = null;
    }
  }

  private async turn(state: ConversationState, tenant: TenantSettings, startedAt: number): Promise<void> {
    const cfg = tenant.agent;
    for (;;) {
      const batch = state.pending.slice();
      const last = batch[batch.length - 1];
      const turnId = randomUUID();
      let kind: Kind;
      let texts: string[] = [];
      let pause = false;
      let agentMs = 0;
      if (state.paused) {
        kind = 'paused';
      } else if (last.sentAt !== null && Date.now() - last.sentAt > DAY_MS) {
        // The Cloud API would refuse a free-form reply (131047): no agent call.
        kind = 'window_closed';
      } else if (this.tenants.limitReached(state.tenantId, tenant.monthlyMessageLimit)) {
        // Over the monthly limit: no agent call; the commit settles over_quota.
        kind = 'answer';
      } else if (matchesHandoff(batch, cfg.handoffKeywords)) {
        kind = 'handoff';
        pause = true;
        texts = cfg.handoffMessage ? [cfg.handoffMessage] : [];
      } else {
        this.markRead(state, tenant, last);
        const ctrl = new AbortController();
        state.agentCall = ctrl;
        state.restartRequested = false;
        const agentStarted = performance.now();
        let out: AgentOutput | null = null;
        let failed = false;
        let stoppedByPause = false;
        try {
          out = await callAgent(this.agents.agentFor(cfg.provider), {
            tenantId: state.tenantId,
            conversationId: state.id,
            config: cfg,
            apiKey: tenant.apiKey,
            secret: tenant.secret,
            contact: state.contact,
            history: toAgentMessages(state.history.slice(-cfg.historyLength)),
            turn: toAgentMessages(batch),
            signal: ctrl.signal,
          }, { backoffMs: this.opts.agentBackoffMs });
        } catch (err) {
          if (ctrl.signal.aborted) {
            state.agentCall = null;
            if (state.lost) return;
            if (state.restartRequested && !state.paused) {
              // Coalesce: start again with every pending message, fetching first what another process ingested.
              if (state.dbSeq > state.knownSeq) await this.refresh(state);
              if (state.lost) return;
              continue;
            }
            stoppedByPause = true;
          } else {
            failed = true;
            this.log.warn({ err, conversationId: state.id, tenantId: state.tenantId }, 'agent failed');
          }
        } finally {
          agentMs = performance.now() - agentStarted;
          state.agentCall = null;
        }
        if (state.paused || stoppedByPause) {
          kind = 'paused';
        } else if (failed || !out) {
          kind = 'fallback';
          texts = cfg.fallbackMessage ? [cfg.fallbackMessage] : [];
          pause = cfg.handoffOnAgentFailure;
        } else {
          const reply = out.reply?.trim() ?? '';
          pause = out.handoff;
          if (reply) {
            kind = 'answer';
            texts = [reply];
          } else if (out.handoff) {
            kind = 'handoff';
            texts = cfg.handoffMessage ? [cfg.handoffMessage] : [];
          } else {
            kind = 'none';
          }
        }
      }
      await this.commit(state, batch, turnId, kind, texts.flatMap((t) => splitText(t)), pause, { startedAt, agentMs, tenantId: state.tenantId });
      return;
    }
  }

  private async commit(
    state: ConversationState,
    batch: PendingMessage[],
    turnId: string,
    kind: Kind,
    parts: string[],
    pause: boolean,
    timing: { startedAt: number; agentMs: number; tenantId: string },
  ): Promise<void> {
    const last = batch[batch.length - 1];
    // Release the lease only when nothing else waits in memory; -1 always keeps it.
    const ids = new Set(batch.map((m) => m.id));
    const seq = state.outbox.length === 0 && state.pending.every((m) => ids.has(m.id)) ? state.knownSeq : -1;
    const row = await this.commits.submit({ conv: state.id, seq, ids: batch.map((m) => m.id), answered: last.id, turn: turnId, parts, kind, pause });
    if (row.usage_count !== null) this.tenants.noteUsage(state.tenantId, Number(row.usage_count));
    if (!row.held) {
      // Another process took the conversation (our lease expired): it will answer.
      state.lost = true;
      return;
    }
    state.pending = state.pending.filter((m) => !ids.has(m.id));
    if (state.pending.length === 0) state.firstPendingAt = 0;
    const settled = new Map(row.settled.map((s) => [s.id, s.disposition]));
    const counts = new Map<string, number>();
    for (const d of settled.values()) counts.set(d, (counts.get(d) ?? 0) + 1);
    for (const [disposition, count] of counts) this.bus.emit('message.disposition', { tenantId: state.tenantId, conversationId: state.id, disposition, count });
    for (const m of batch) state.history.push(historyOf(m, settled.get(m.id) ?? null));
    for (const r of row.replies) state.history.push({ id: r.id, direction: 'outbound', author: 'agent', type: 'text', body: r.body, media: null, disposition: null, conv_seq: 0, created_at: r.created_at });
    if (state.history.length > 200) state.history.splice(0, state.history.length - 200);
    if (row.inbound_seq !== null) state.dbSeq = Math.max(state.dbSeq, Number(row.inbound_seq));
    if (row.conv_state && row.conv_state.paused && !row.was_paused) {
      state.paused = true;
      this.bus.emit('conversation.paused', { tenantId: state.tenantId, conversationId: state.id, paused: true, pausedUntil: row.conv_state.paused_until, by: 'agent' });
    }
    if (row.was_paused) state.paused = true;
    const disposition = settled.get(last.id) ?? 'answered';
    const turn = {
      tenantId: timing.tenantId,
      disposition,
      arrivedAt: Math.min(...batch.map((m) => m.arrivedAt)),
      startedAt: timing.startedAt,
      agentMs: timing.agentMs,
      partsLeft: row.replies.length,
      sendMs: 0,
    };
    for (const r of row.replies) state.outbox.push({ id: r.id, body: r.body, turnId, turn });
    if (row.replies.length === 0) {
      const total = performance.now() - turn.arrivedAt;
      this.bus.emit('turn.done', { tenantId: turn.tenantId, conversationId: state.id, disposition, queueMs: turn.startedAt - turn.arrivedAt, agentMs: turn.agentMs, sendMs: 0, totalMs: total });
    }
    if (row.conv_state?.released) state.setLease(false, Number(row.inbound_seq));
    if (row.conv_state?.released && state.pending.length === 0) state.dbSeq = state.knownSeq;
  }

  /** One statement for every turn waiting to commit. */
  private async commitMany(items: CommitInput[]): Promise<PromiseSettledResult<CommitRow>[]> {
    const rows = await this.db.query<CommitRow>(REPLY_COMMITS, [JSON.stringify(items.map((it, ord) => ({ ...it, ord }))), this.leaseOwner, this.opts.leaseSeconds]);
    const byConv = new Map(rows.map((r) => [r.conv, r]));
    return items.map((it) => {
      const value = byConv.get(it.conv);
      return value ? { status: 'fulfilled', value } : { status: 'rejected', reason: new Error(`no reply-commit row for conversation ${it.conv}`) };
    });
  }

  /** Marks the customer's last message read with a typing indicator; never delays the turn. */
  private markRead(state: ConversationState, tenant: TenantSettings, last: PendingMessage): void {
    if (!tenant.agent.markReadWithTyping || !last.wamid) return;
    const wamid = last.wamid;
    this.channels
      .get(state.channelId)
      .then((ch) => (ch ? this.cloudApi.markRead(ch, wamid, true) : undefined))
      .catch((err) => this.log.debug({ err, conversationId: state.id }, 'mark as read failed'));
  }
}

function matchesHandoff(batch: PendingMessage[], keywords: string[]): boolean {
  if (keywords.length === 0) return false;
  return batch.some((m) => {
    const text = (m.body ?? '').toLocaleLowerCase();
    return keywords.some((k) => {
      const kw = k.toLocaleLowerCase().trim();
      if (!kw) return false;
      const i = text.indexOf(kw);
      if (i < 0) return false;
      const before = i === 0 ? '' : text[i - 1];
      const after = text[i + kw.length] ?? '';
      return !/[\p{L}\p{N}]/u.test(before) && !/[\p{L}\p{N}]/u.test(after);
    });
  });
}

function toAgentMessages(rows: (HistoryMessage | PendingMessage)[]): AgentMessage[] {
  const out: AgentMessage[] = [];
  for (const r of rows) {
    const m = toAgentMessage(
      'direction' in r ? r : { direction: 'inbound', author: 'customer', type: r.type, body: r.body, media: r.media },
    );
    if (m) out.push(m);
  }
  return out;
}

function historyOf(m: PendingMessage, disposition: string | null): HistoryMessage {
  return { id: m.id, direction: 'inbound', author: 'customer', type: m.type, body: m.body, media: m.media, disposition, conv_seq: m.convSeq, created_at: new Date().toISOString() };
}
