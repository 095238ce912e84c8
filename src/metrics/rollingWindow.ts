/**
 * Bounded summaries of a timed series: percentiles over the last five minutes
 * and since start, in fixed memory whatever the rate.
 *
 * Values (milliseconds) fall into log-scale buckets that grow by 5% each, from
 * 10 µs to about ten minutes (anything larger lands in the last bucket): a
 * percentile read back from a bucket is within 2.5% of the true value, and is
 * clamped to the observed minimum and maximum; the lowest and highest ranks
 * read back exactly. The last five minutes are a ring of 30 slots of 10 s; a slot is
 * cleared lazily when its time comes round again, so nothing runs on a timer.
 */

const MIN_MS = 0.01;
const GROWTH = 1.05;
const LOG_GROWTH = Math.log(GROWTH);
/** Buckets from MIN_MS to MIN_MS × 1.05^367 ≈ 6.2e5 ms. */
const BUCKETS = 368;

/** Width of one slot of the ring. */
export const SLOT_MS = 10_000;
/** Slots in the ring: 30 × 10 s = the last five minutes. */
export const SLOTS = 30;

/** Count, mean and percentiles of a set of durations, in milliseconds; null when empty. */
export interface Summary {
  count: number;
  mean: number | null;
  p50: number | null;
  p95: number | null;
  p99: number | null;
}

/** A histogram of log-scale buckets with count, sum, minimum and maximum. */
class Buckets {
  readonly counts = new Uint32Array(BUCKETS);
  count = 0;
  sum = 0;
  min = Infinity;
  max = -Infinity;

  add(index: number, value: number): void {
    this.counts[index]++;
    this.count++;
    this.sum += value;
    if (value < this.min) this.min = value;
    if (value > this.max) this.max = value;
  }

  clear(): void {
    this.counts.fill(0);
    this.count = 0;
    this.sum = 0;
    this.min = Infinity;
    this.max = -Infinity;
  }

  mergeInto(target: Buckets): void {
    if (this.count === 0) return;
    for (let i = 0; i < BUCKETS; i++) target.counts[i] += this.counts[i];
    target.count += this.count;
    target.sum += this.sum;
    if (this.min < target.min) target.min = this.min;
    if (this.max > target.max) target.max = this.max;
  }

  summary(): Summary {
    if (this.count === 0) return { count: 0, mean: null, p50: null, p95: null, p99: null };
    return {
      count: this.count,
      mean: round(this.sum / this.count),
      p50: round(this.quantile(0.5)),
      p95: round(this.quantile(0.95)),
      p99: round(this.quantile(0.99)),
    };
  }

  private quantile(q: number): number {
    // The rank of the q-quantile among `count` sorted values (nearest rank).
    const rank = Math.max(1, Math.ceil(q * this.count));
    // The extremes are known exactly.
    if (rank === 1) return this.min;
    if (rank === this.count) return this.max;
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i];
      if (seen >= rank) return clamp(bucketMidpoint(i), this.min, this.max);
    }
    return this.max;
  }
}

function bucketIndex(ms: number): number {
  if (!(ms > MIN_MS)) return 0;
  const i = Math.floor(Math.log(ms / MIN_MS) / LOG_GROWTH);
  return i >= BUCKETS ? BUCKETS - 1 : i;
}

// The geometric middle of bucket i, whose bounds are MIN_MS × 1.05^i and MIN_MS × 1.05^(i+1).
function bucketMidpoint(i: number): number {
  return MIN_MS * Math.pow(GROWTH, i + 0.5);
}

function clamp(v: number, lo: number, hi: number): number {
  return v < lo ? lo : v > hi ? hi : v;
}

function round(v: number): number {
  return Math.round(v * 1000) / 1000;
}

/** One timed series: what `/performance-metrics` reports for it. */
export class RollingWindow {
  private readonly slots: Buckets[] = Array.from({ length: SLOTS }, () => new Buckets());
  /** The 10 s epoch each slot currently holds; -1 when never used. */
  private readonly epochs = new Array<number>(SLOTS).fill(-1);
  private readonly total = new Buckets();

  /** `now` is injectable so tests can move time. */
  constructor(private readonly now: () => number = Date.now) {}

  /** Records one duration in milliseconds. Negative and non-finite values are ignored. */
  record(ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) return;
    const epoch = Math.floor(this.now() / SLOT_MS);
    const i = epoch % SLOTS;
    if (this.epochs[i] !== epoch) {
      this.slots[i].clear();
      this.epochs[i] = epoch;
    }
    const b = bucketIndex(ms);
    this.slots[i].add(b, ms);
    this.total.add(b, ms);
  }

  /** Values recorded in the current 10 s slot and the 29 before it. */
  lastFiveMinutes(): Summary {
    const current = Math.floor(this.now() / SLOT_MS);
    const merged = new Buckets();
    for (let i = 0; i < SLOTS; i++) {
      const e = this.epochs[i];
      if (e >= 0 && e > current - SLOTS && e <= current) this.slots[i].mergeInto(merged);
    }
    return merged.summary();
  }

  /** Every value recorded since the window was created. */
  sinceStart(): Summary {
    return this.total.summary();
  }
}
