/** How long a conversation's lease lasts without renewal (the runner renews held leases every few seconds). */
export const LEASE_SECONDS = 15;

/**
 * How long the leases of a process found without its liveness lock still
 * last (docs/architecture.md, "Leases of a killed process"): long enough for
 * a live process whose lock connection merely dropped to take the lock again
 * (its first try comes 50 ms after the drop) and renew, and for a send it
 * had on its way to be recorded; far shorter than LEASE_SECONDS, which a
 * killed process's leases waited out before.
 */
export const DEAD_OWNER_GRACE_SECONDS = 1;

/**
 * How long the lease of a dead process's conversation lasts, from the sweep
 * that found the death, when a reply is still `queued` there: that reply may
 * have reached the Cloud API just before the process died, and its `sent`
 * status webhook, retried by Meta until a process is up to take it (two
 * seconds apart at most in the simulator), settles it before anyone sends it
 * again.
 */
export const SEND_SETTLE_SECONDS = 5;

/**
 * Whose lease and how long it lasts: the one value that every statement
 * taking, keeping or renewing a conversation's lease uses (claim, sweep,
 * renewal, enqueue, reply commit, send result).
 */
export interface LeaseTerms {
  readonly owner: string;
  readonly seconds: number;
}

/** What the turn and delivery may read of a conversation's lease book. */
export interface LeaseView {
  /** inbound_seq up to which this process holds all the work: a release may not go past it. */
  readonly knownSeq: number;
  /** The lease was lost (or the process is stopping): touch nothing more. */
  readonly lost: boolean;
}

/**
 * What this process knows of one conversation's lease and of its
 * inbound_seq (docs/architecture.md, "Knowing whether work arrived
 * elsewhere, without a race"). Every statement that brings work for a turn
 * bumps inbound_seq by one under the row lock; the book keeps the sequence
 * up to which this process has all the work (knownSeq) and the highest it
 * has seen (seenSeq). More seen than known is a gap: work arrived elsewhere
 * and must be claimed.
 */
export class LeaseBook implements LeaseView {
  private known = 0;
  private seen = 0;
  private isHeld = false;
  private epochNow = 0;
  /** inbound_seq as of the statement that last said who holds the lease. */
  private heardAt = -1;
  private isLost = false;
  private wantsRetake = false;

  get knownSeq(): number {
    return this.known;
  }

  /** inbound_seq as last read from the database. */
  get seenSeq(): number {
    return this.seen;
  }

  /** Whether this process holds the lease now (as the last statement about it said). */
  get held(): boolean {
    return this.isHeld;
  }

  /** Bumped at every take or release, so a renewal can tell its answer is stale. */
  get epoch(): number {
    return this.epochNow;
  }

  get lost(): boolean {
    return this.isLost;
  }

  /** This process took the lease again while a lost state's loop unwound: start afresh after it. */
  get retake(): boolean {
    return this.wantsRetake;
  }

  /** The database has work this process does not know of yet: claim it. */
  get hasGap(): boolean {
    return this.seen > this.known;
  }

  /**
   * A statement said this process holds the lease, at inbound_seq `seq` as
   * that statement saw it. Answers on different connections can be handled
   * out of commit order: a take that came with a newer message (a higher
   * seq) outranks a release heard of later.
   */
  heardTake(seq: number): void {
    this.heard(true, seq);
  }

  /** A statement gave the lease back at inbound_seq `seq` (ignored when a later take was heard already). */
  heardRelease(seq: number): void {
    this.heard(false, seq);
  }

  private heard(held: boolean, seq: number): void {
    if (seq < this.heardAt) return;
    this.heardAt = seq;
    this.epochNow++;
    this.isHeld = held;
  }

  /** The sweep just took the lease: held now, whatever was heard before. */
  tookNow(): void {
    this.epochNow++;
    this.isHeld = true;
  }

  /**
   * Whether the lease is still held as it was when `epoch` was read: a
   * renewal that found the lease gone means it was lost only if nothing this
   * process did since explains it.
   */
  heldSince(epoch: number): boolean {
    return this.isHeld && this.epochNow === epoch;
  }

  /** A statement read inbound_seq as `seq` (without bringing its work here). */
  sawSeq(seq: number): void {
    this.seen = Math.max(this.seen, seq);
  }

  /**
   * inbound_seq is now `seq` after one bump whose work this process has in
   * hand. Contiguous: all work known. A gap: some bump was made elsewhere, so
   * seenSeq runs ahead and the loop claims it. A new state starts from the
   * bump it was created by (the lease was free, so everything before it was
   * finished or is left over in the history it came with).
   */
  advancedBy(seq: number, isNew: boolean): void {
    if (isNew || this.known === seq - 1) this.known = Math.max(this.known, seq);
    this.seen = Math.max(this.seen, seq);
  }

  /** A claim loaded all the work up to `seq` (its snapshot). */
  knowsUpTo(seq: number): void {
    this.known = Math.max(this.known, seq);
  }

  /** Work is known to wait in the rows (a sweep took the conversation, another process ingested for it). */
  heardOfWork(): void {
    this.seen = Math.max(this.seen, this.known + 1);
  }

  /** A claim found nothing to do but could not give the lease back: something newer than `seq` came in. */
  releaseRefused(seq: number): void {
    this.seen = seq + 1;
  }

  /** The lease was given back with nothing left here: whatever the database had, this process finished. */
  caughtUp(): void {
    this.seen = this.known;
  }

  /** The lease was lost to another process (or the loop failed, or the process stops). */
  markLost(): void {
    this.isLost = true;
  }

  /** The lease was taken again while this lost state's loop still unwinds. */
  markRetake(): void {
    this.wantsRetake = true;
  }
}
