import { CloudApiError } from './types.ts';
import { PAIR_RATE_LIMIT_CODE } from './errors.ts';

/** Raised to sends still waiting for their turn when the pacer is closed. */
export class PacerClosedError extends Error {
  readonly code = 'pacer_closed';
  constructor() {
    super('the send pacer was closed');
    this.name = 'PacerClosedError';
  }
}

/** Tuning of the Pacer; tests shrink the backoff unit to milliseconds. */
export interface PacerOptions {
  /** The unit of the pair backoff, 4^n of them (default 1,000 ms: 4^n seconds, docs/behaviour.md). */
  pairBackoffUnitMs?: number;
  /** The longest pair backoff (default 15 minutes). */
  maxPairBackoffMs?: number;
  /** A pair not limited again for this long after its backoff is forgotten (default 10 minutes). */
  pairIdleMs?: number;
  /** At most this many pairs are remembered; the longest untouched go first (default 100,000). */
  maxPairs?: number;
}

interface Waiter {
  resolve: () => void;
  reject: (err: unknown) => void;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
}

interface Bucket {
  rate: number;
  tokens: number;
  stamp: number;
  queue: Waiter[];
  timer: NodeJS.Timeout | null;
}

interface Pair {
  /** Consecutive 131056 answers. */
  n: number;
  /** Epoch ms before which nothing is sent to this pair. */
  until: number;
  /** Epoch ms of the last 131056; the map is kept in this order. */
  seen: number;
}

const RESOLVED: Promise<void> = Promise.resolve();
const SWEEP_EVERY = 4096;

/**
 * Paces sends per WhatsApp number and backs off per customer.
 *
 * Per number: a token bucket at the channel's `messagesPerSecond`, with a
 * burst of the same size, so a flood is spread out instead of refused with
 * 130429, while a send that finds a token goes at once (no timer: normal
 * conversation is never slowed). Waiting sends go in FIFO order.
 *
 * Per customer (number × recipient): after a 131056 (pair rate limit, about
 * one message per 6 s to one customer) that pair waits 4^n units, n being its
 * consecutive 131056 count, reset by a success. Other customers of the same
 * number are not affected.
 *
 * Memory stays bounded: a full, idle bucket is the same as none and is
 * dropped; pairs are forgotten when idle and capped in number.
 */
export class Pacer {
  private readonly buckets = new Map<string, Bucket>();
  private readonly pairs = new Map<string, Pair>();
  private readonly pairTimers = new Set<{ timer: NodeJS.Timeout; waiter: Waiter }>();
  private readonly unitMs: number;
  private readonly maxPairBackoffMs: number;
  private readonly pairIdleMs: number;
  private readonly maxPairs: number;
  private takes = 0;
  private closed = false;

  constructor(opts: PacerOptions = {}) {
    this.unitMs = positive('pairBackoffUnitMs', opts.pairBackoffUnitMs ?? 1000);
    this.maxPairBackoffMs = positive('maxPairBackoffMs', opts.maxPairBackoffMs ?? 15 * 60_000);
    this.pairIdleMs = positive('pairIdleMs', opts.pairIdleMs ?? 10 * 60_000);
    this.maxPairs = positive('maxPairs', opts.maxPairs ?? 100_000);
  }

  /**
   * Resolves when this number may send one message (and, with `recipient`,
   * when that customer's pair backoff is over). Resolves at once, without a
   * timer, when a token is there and nobody waits before it.
   */
  take(phoneNumberId: string, mps: number, opts: { recipient?: string; signal?: AbortSignal } = {}): Promise<void> {
    if (!Number.isFinite(mps) || mps <= 0) return Promise.reject(new RangeError(`messagesPerSecond must be positive, got ${mps}`));
    if (this.closed) return Promise.reject(new PacerClosedError());
    if (opts.signal?.aborted) return Promise.reject(opts.signal.reason);
    if (opts.recipient !== undefined) {
      const wait = this.pairWaitMs(phoneNumberId, opts.recipient);
      // Checked again after the wait: a concurrent send may have been limited meanwhile.
      if (wait > 0) return this.afterPairBackoff(wait, opts.signal).then(() => this.take(phoneNumberId, mps, opts));
    }
    if (++this.takes % SWEEP_EVERY === 0) this.sweep();

    const now = performance.now();
    let b = this.buckets.get(phoneNumberId);
    if (!b) {
      b = { rate: mps, tokens: burst(mps), stamp: now, queue: [], timer: null };
      this.buckets.set(phoneNumberId, b);
    } else {
      refill(b, now);
      if (b.rate !== mps) {
        // The channel's rate was changed: the burst follows it.
        b.rate = mps;
        if (b.tokens > burst(mps)) b.tokens = burst(mps);
      }
    }
    if (b.queue.length === 0 && b.tokens >= 1) {
      b.tokens -= 1;
      return RESOLVED;
    }
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = { resolve, reject, signal: opts.signal, onAbort: undefined };
      if (opts.signal) {
        const signal = opts.signal;
        waiter.onAbort = () => {
          const i = b.queue.indexOf(waiter);
          if (i >= 0) b.queue.splice(i, 1);
          reject(signal.reason);
        };
        signal.addEventListener('abort', waiter.onAbort, { once: true });
      }
      b.queue.push(waiter);
      this.schedule(b);
    });
  }

  /**
   * Records a 131056 for this pair and returns how long to wait before
   * sending to it again: 4^n units, n = consecutive 131056s for the pair.
   */
  pairLimited(phoneNumberId: string, recipient: string): number {
    const key = pairKey(phoneNumberId, recipient);
    const now = Date.now();
    const prev = this.pairs.get(key);
    const n = Math.min((prev?.n ?? 0) + 1, 30);
    const delay = Math.min(this.maxPairBackoffMs, this.unitMs * 4 ** n);
    // Re-inserted so the map stays ordered by `seen`, which the sweep relies on.
    this.pairs.delete(key);
    this.pairs.set(key, { n, until: now + delay, seen: now });
    this.forgetPairs(now);
    return delay;
  }

  /** A send to this pair went through: its backoff starts again from the beginning. */
  pairSucceeded(phoneNumberId: string, recipient: string): void {
    if (this.pairs.size > 0) this.pairs.delete(pairKey(phoneNumberId, recipient));
  }

  /** Milliseconds before this pair may be sent to again (0 when it may now). */
  pairWaitMs(phoneNumberId: string, recipient: string): number {
    if (this.pairs.size === 0) return 0;
    const p = this.pairs.get(pairKey(phoneNumberId, recipient));
    return p ? Math.max(0, p.until - Date.now()) : 0;
  }

  /**
   * The `pairBackoff` option of sendWithRetry for one pair: a 131056 records
   * the limit and returns the pair's backoff; any other error returns null.
   */
  pairBackoff(phoneNumberId: string, recipient: string): (err: unknown) => number | null {
    return (err) => (err instanceof CloudApiError && err.code === PAIR_RATE_LIMIT_CODE ? this.pairLimited(phoneNumberId, recipient) : null);
  }

  /** Numbers and pairs held in memory now (for metrics and tests). */
  get size(): { buckets: number; pairs: number; waiting: number } {
    let waiting = this.pairTimers.size;
    for (const b of this.buckets.values()) waiting += b.queue.length;
    return { buckets: this.buckets.size, pairs: this.pairs.size, waiting };
  }

  /** Stops all timers; sends still waiting are rejected with PacerClosedError. */
  close(): void {
    this.closed = true;
    const err = new PacerClosedError();
    for (const b of this.buckets.values()) {
      if (b.timer) clearTimeout(b.timer);
      for (const w of b.queue.splice(0)) settle(w, err);
    }
    for (const t of this.pairTimers) {
      clearTimeout(t.timer);
      settle(t.waiter, err);
    }
    this.pairTimers.clear();
    this.buckets.clear();
    this.pairs.clear();
  }

  private afterPairBackoff(ms: number, signal: AbortSignal | undefined): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = { resolve, reject, signal, onAbort: undefined };
      const entry = {
        timer: setTimeout(() => {
          this.pairTimers.delete(entry);
          if (signal && waiter.onAbort) signal.removeEventListener('abort', waiter.onAbort);
          resolve();
        }, ms),
        waiter,
      };
      if (signal) {
        waiter.onAbort = () => {
          clearTimeout(entry.timer);
          this.pairTimers.delete(entry);
          reject(signal.reason);
        };
        signal.addEventListener('abort', waiter.onAbort, { once: true });
      }
      this.pairTimers.add(entry);
    });
  }

  private schedule(b: Bucket): void {
    if (b.timer) return;
    const ms = Math.max(1, Math.ceil(((1 - b.tokens) * 1000) / b.rate));
    b.timer = setTimeout(() => this.drain(b), ms);
  }

  private drain(b: Bucket): void {
    b.timer = null;
    refill(b, performance.now());
    while (b.queue.length > 0 && b.tokens >= 1) {
      const w = b.queue.shift()!;
      b.tokens -= 1;
      if (w.signal && w.onAbort) w.signal.removeEventListener('abort', w.onAbort);
      w.resolve();
    }
    if (b.queue.length > 0) this.schedule(b);
  }

  private sweep(): void {
    const now = performance.now();
    for (const [id, b] of this.buckets) {
      if (b.queue.length > 0 || b.timer) continue;
      refill(b, now);
      if (b.tokens >= burst(b.rate)) this.buckets.delete(id);
    }
    this.forgetPairs(Date.now());
  }

  private forgetPairs(now: number): void {
    const horizon = now - this.maxPairBackoffMs - this.pairIdleMs;
    for (const [key, p] of this.pairs) {
      if (this.pairs.size > this.maxPairs || p.seen < horizon) this.pairs.delete(key);
      else break;
    }
  }
}

function refill(b: Bucket, now: number): void {
  const elapsed = now - b.stamp;
  if (elapsed > 0) {
    b.tokens = Math.min(burst(b.rate), b.tokens + (elapsed * b.rate) / 1000);
    b.stamp = now;
  }
}

// A rate below one per second still needs room for one whole message.
function burst(rate: number): number {
  return rate < 1 ? 1 : rate;
}

function settle(w: Waiter, err: unknown): void {
  if (w.signal && w.onAbort) w.signal.removeEventListener('abort', w.onAbort);
  w.reject(err);
}

function pairKey(phoneNumberId: string, recipient: string): string {
  return `${phoneNumberId}\u0000${recipient}`;
}

function positive(name: string, v: number): number {
  if (!Number.isFinite(v) || v <= 0) throw new RangeError(`${name} must be positive, got ${v}`);
  return v;
}
