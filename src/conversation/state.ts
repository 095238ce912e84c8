import type { HistoryMessage } from '../ingest/ingest.ts';

/** A customer message waiting for (or inside) a turn. */
export interface PendingMessage {
  id: string;
  wamid: string | null;
  type: string;
  body: string | null;
  media: Record<string, unknown> | null;
  convSeq: number;
  /** When the customer sent it (Meta's timestamp). */
  sentAt: number | null;
  /** performance.now() when this process learned of it: the start of its end-to-end time. */
  arrivedAt: number;
}

/** A message committed as `queued`, to be sent in order. */
export interface OutgoingMessage {
  id: string;
  body: string;
  turnId: string | null;
  /** The time of the turn that produced it (for the turn.done event), or null. */
  turn: TurnTiming | null;
}

export interface TurnTiming {
  tenantId: string;
  disposition: string;
  arrivedAt: number;
  startedAt: number;
  agentMs: number;
  /** Parts of the reply not yet sent; the timing is reported when the last one is. */
  partsLeft: number;
  sendMs: number;
}

/**
 * What this process knows of one conversation it holds the lease of. Lives
 * only while there is work; the database row is the record.
 */
export class ConversationState {
  pending: PendingMessage[] = [];
  history: HistoryMessage[] = [];
  outbox: OutgoingMessage[] = [];
  /**
   * inbound_seq up to which this process knows all the work. Every ingest
   * statement that brings new messages (or queues one) bumps the row's inbound_seq by one, so a gap between
   * knownSeq and a newly seen value means work arrived elsewhere: claim it.
   */
  knownSeq = 0;
  /** inbound_seq as last read from the database: more than knownSeq means work from elsewhere. */
  dbSeq = 0;
  running = false;
  paused = false;
  /** A message of this conversation is on its way to the Cloud API right now. */
  sending = false;
  /** A turn whose reply part failed for good: its later parts are not sent (the answer would arrive cut). */
  failedTurn: { turnId: string; code: number | null; title: string | null } | null = null;
  /** Whether this process holds the lease now (as the last statement about it said). */
  leaseHeld = false;
  /** Bumped at every take or release, so a renewal can tell its answer is stale. */
  leaseEpoch = 0;
  /** Aborts the running agent call (coalescing restart, pause, lease lost). */
  agentCall: AbortController | null = null;
  restartRequested = false;
  /** The tenant's coalescing mode, as of the last turn. */
  coalesce: 'restart' | 'queue' = 'restart';
  /** The lease was lost to another process: stop at once, touch nothing. */
  lost = false;
  /** This process took the lease again while a lost state's loop unwound: start afresh after it. */
  retake = false;
  /** When the first still-pending message arrived (bounds the debounce window). */
  firstPendingAt = 0;
  /** performance.now() after which new messages no longer restart the running agent call. */
  restartUntil = 0;
  lastPendingAt = 0;
  wake: (() => void) | null = null;

  constructor(
    readonly id: string,
    public tenantId: string,
    public channelId: string,
    public contact: { waId: string | null; userId: string | null; name: string | null },
    public configVersion: number,
  ) {}

  /** inbound_seq as of the statement that last said who holds the lease. */
  private leaseSeq = -1;

  /**
   * Records what a statement said of the lease, at the conversation's
   * inbound_seq as that statement saw it. Answers on different connections can
   * be handled out of commit order; a take that came with a newer message
   * (a higher seq) outranks a release the process hears of later.
   */
  setLease(held: boolean, seq: number): void {
    if (seq < this.leaseSeq) return;
    this.leaseSeq = seq;
    this.leaseEpoch++;
    this.leaseHeld = held;
  }

  /** The sweep just took the lease: true now, whatever was heard before. */
  leaseTakenNow(): void {
    this.leaseEpoch++;
    this.leaseHeld = true;
  }

  get idle(): boolean {
    return this.pending.length === 0 && this.outbox.length === 0 && this.dbSeq <= this.knownSeq;
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
}
