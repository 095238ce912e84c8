import type { HistoryMessage, StoredMessage } from '../ingest/ingest.ts';
import { MAX_BUDGET_ANSWERS, type AnswerBudget } from '../tenancy/agentConfig.ts';
import type { ClaimRow } from './lease.sql.ts';
import { LeaseBook, type LeaseView } from './leaseBook.ts';
import type { CommittedTurn, FailedTurn, OutgoingMessage, PendingMessage, SendOutcome, TurnTiming } from './outcomes.ts';

/** Who the conversation is with, as the Cloud API addresses them. */
export interface Contact {
  waId: string | null;
  userId: string | null;
  name: string | null;
}

/**
 * The part of a conversation's state that the turn and delivery read. They
 * never change it: they return what happened and the runner applies it.
 */
export interface ConversationView {
  readonly id: string;
  readonly tenantId: string;
  readonly channelId: string;
  readonly contact: Contact;
  readonly pending: readonly PendingMessage[];
  readonly history: readonly HistoryMessage[];
  readonly outbox: readonly OutgoingMessage[];
  readonly paused: boolean;
  /** New messages asked the running agent call to start again with them. */
  readonly restartRequested: boolean;
  readonly failedTurn: FailedTurn | null;
  readonly lease: LeaseView;
  readonly answeredAt: readonly number[];
}

/** How many messages of history a state keeps for the agent. */
const HISTORY_KEPT = 200;

/**
 * What this process knows of one conversation it holds the lease of. Lives
 * only while there is work; the database row is the record. Only the runner
 * changes it; the turn and delivery see it as a ConversationView.
 */
export class ConversationState implements ConversationView {
  pending: PendingMessage[] = [];
  history: HistoryMessage[] = [];
  outbox: OutgoingMessage[] = [];
  readonly lease = new LeaseBook();
  running = false;
  paused = false;
  failedTurn: FailedTurn | null = null;
  /** Aborts the running turn's agent call (coalescing restart, pause, lease lost). */
  agentCall: AbortController | null = null;
  restartRequested = false;
  /** The tenant's coalescing mode, as of the last turn. */
  coalesce: 'restart' | 'queue' = 'restart';
  /** When the first still-pending message arrived (bounds the debounce window). */
  firstPendingAt = 0;
  /** performance.now() after which new messages no longer restart the running agent call. */
  restartUntil = 0;
  lastPendingAt = 0;
  /** Ends the loop's current wait early (new messages, shutdown). */
  wake: (() => void) | null = null;
  /**
   * When the conversation's latest answers were committed (epoch ms, by the
   * database's clock, oldest first), as the row's answered_at had them at the
   * last statement that read or wrote it: the answer budget's window.
   */
  answeredAt: number[] = [];

  constructor(
    readonly id: string,
    public tenantId: string,
    public channelId: string,
    public contact: Contact,
    public configVersion: number,
  ) {}

  /**
   * How long, from `now` (epoch ms), until the answer budget lets this
   * conversation answer again: 0 when fewer than `answers` answers fall in the
   * last `perSeconds`, else until the oldest of the latest `answers` leaves
   * the window.
   */
  budgetWaitMs(budget: AnswerBudget, now: number): number {
    const span = budget.perSeconds * 1000;
    const inWindow = this.answeredAt.filter((t) => t > now - span);
    if (inWindow.length < budget.answers) return 0;
    return Math.max(0, inWindow[inWindow.length - budget.answers] + span - now);
  }

  /**
   * Adds answer times a statement returned. A union, not a replacement: the
   * answers of two statements may be applied out of order (ingest answers on
   * another connection), and times are only ever appended to the row.
   */
  noteAnswers(times: readonly number[]): void {
    if (times.length === 0) return;
    const all = [...new Set([...this.answeredAt, ...times])].sort((a, b) => a - b);
    this.answeredAt = all.length > MAX_BUDGET_ANSWERS ? all.slice(-MAX_BUDGET_ANSWERS) : all;
  }

  get idle(): boolean {
    return this.pending.length === 0 && this.outbox.length === 0 && !this.lease.hasGap;
  }

  /** Adds messages not already known, keeping the order of their ids. */
  addPending(messages: PendingMessage[]): number {
    let added = 0;
    for (const m of messages) {
      if (this.pending.some((p) => p.id === m.id) || this.history.some((h) => h.id === m.id)) continue;
      this.pending.push(m);
      added++;
    }
    if (added > 0) {
      this.pending.sort((a, b) => Number(BigInt(a.id) - BigInt(b.id)));
      const now = performance.now();
      if (this.firstPendingAt === 0) this.firstPendingAt = now;
      this.lastPendingAt = now;
    }
    return added;
  }

  /**
   * Applies what a claim loaded: the conversation as the row has it, the
   * pending messages and queued replies not known yet. Returns how many
   * messages were new.
   */
  applyClaim(row: ClaimRow): number {
    this.lease.heardTake(row.inboundSeq);
    this.tenantId = row.tenantId;
    this.channelId = row.channelId;
    this.contact = row.contact;
    this.configVersion = Math.max(this.configVersion, row.configVersion);
    this.paused = row.paused;
    this.noteAnswers(row.answeredAt);
    if (this.history.length === 0) this.history = row.history;
    const added = this.addPending(row.pending.map(toPending));
    for (const q of row.queued) {
      if (!this.outbox.some((o) => o.id === q.id)) this.outbox.push({ id: q.id, body: q.body, type: q.type, payload: q.payload, contextWamid: q.contextWamid, turnId: q.turnId, turn: null });
    }
    this.outbox.sort((a, b) => Number(BigInt(a.id) - BigInt(b.id)));
    // The lists come from the statement's snapshot (snapSeq); the lease update
    // saw the newest row (inboundSeq). Work between the two is claimed again.
    this.lease.knowsUpTo(row.snapSeq);
    this.lease.sawSeq(row.inboundSeq);
    return added;
  }

  /** Applies a committed turn: its messages leave the pending list for the history, its reply parts join the outbox. */
  applyCommit(turn: CommittedTurn): void {
    const ids = new Set(turn.covered);
    this.pending = this.pending.filter((m) => !ids.has(m.id));
    if (this.pending.length === 0) this.firstPendingAt = 0;
    this.history.push(...turn.history);
    if (this.history.length > HISTORY_KEPT) this.history.splice(0, this.history.length - HISTORY_KEPT);
    if (turn.inboundSeq !== null) this.lease.sawSeq(turn.inboundSeq);
    if (turn.paused) this.paused = true;
    this.noteAnswers(turn.answeredAt);
    this.outbox.push(...turn.replies);
    if (turn.releasedAt !== null) {
      this.lease.heardRelease(turn.releasedAt);
      if (this.pending.length === 0) this.lease.caughtUp();
    }
  }

  /**
   * Applies the result of sending the outbox's first message. Returns the
   * timing of the turn whose last part this was (to be reported), or null.
   */
  applySend(sent: SendOutcome): TurnTiming | null {
    const item = this.outbox.shift();
    if (sent.cutsTurn) this.failedTurn = sent.cutsTurn;
    const row = sent.recorded;
    if (!row) {
      this.lease.markLost();
      return null;
    }
    let finished: TurnTiming | null = null;
    const turn = item?.turn ?? null;
    if (turn) {
      turn.sendMs += sent.ms;
      if (--turn.partsLeft === 0) finished = turn;
    }
    if (!row.held) {
      this.lease.markLost();
      return finished;
    }
    if (row.inboundSeq !== null) this.lease.sawSeq(row.inboundSeq);
    if (row.releasedAt !== null) {
      this.lease.heardRelease(row.releasedAt);
      this.lease.caughtUp();
    }
    return finished;
  }
}

/** A stored message as the runner keeps it while it waits for its turn. */
export function toPending(m: Pick<StoredMessage, 'id' | 'type' | 'body' | 'media' | 'payload' | 'convSeq'> & { wamid?: string | null; waTimestamp?: string | null; requestId?: string }): PendingMessage {
  return {
    id: m.id,
    wamid: m.wamid ?? null,
    type: m.type,
    body: m.body,
    media: m.media,
    payload: m.payload ?? null,
    convSeq: m.convSeq,
    sentAt: m.waTimestamp ? Date.parse(m.waTimestamp) : null,
    arrivedAt: performance.now(),
    requestId: m.requestId ?? null,
  };
}
