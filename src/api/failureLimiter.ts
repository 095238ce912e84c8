import { AppError } from '../shared/errors.ts';

/** Options of a FailureLimiter. */
export interface FailureLimiterOptions {
  /** Failures allowed within the window; the next attempt is refused. */
  max: number;
  windowMs: number;
  /** Sources remembered at most; the longest-quiet are forgotten first. */
  maxSources?: number;
  now?: () => number;
}

/**
 * Counts failed attempts (sign-ins, bearer keys) per source (the client's address) in a sliding window,
 * in memory: after `max` failures a source must wait until the oldest one
 * leaves the window. Memory is bounded by `maxSources`.
 */
export class FailureLimiter {
  private readonly failures = new Map<string, number[]>();
  private readonly maxSources: number;
  private readonly now: () => number;

  constructor(private readonly opts: FailureLimiterOptions) {
    if (!Number.isInteger(opts.max) || opts.max < 1) throw new RangeError(`max must be a positive integer, got ${opts.max}`);
    if (!(opts.windowMs > 0)) throw new RangeError(`windowMs must be positive, got ${opts.windowMs}`);
    this.maxSources = opts.maxSources ?? 10_000;
    this.now = opts.now ?? Date.now;
  }

  /** Seconds `source` must wait before its next attempt; 0 when it may try now. */
  retryAfter(source: string): number {
    const list = this.recent(source);
    if (list.length < this.opts.max) return 0;
    return Math.max(1, Math.ceil((list[0] + this.opts.windowMs - this.now()) / 1000));
  }

  /** Records a failure of `source`. */
  fail(source: string): void {
    const list = this.recent(source);
    list.push(this.now());
    if (list.length > this.opts.max) list.splice(0, list.length - this.opts.max);
    // Re-inserting moves the source to the end: the map's order is least recently failed first.
    this.failures.delete(source);
    this.failures.set(source, list);
    while (this.failures.size > this.maxSources) {
      const oldest = this.failures.keys().next().value as string;
      this.failures.delete(oldest);
    }
  }

  private recent(source: string): number[] {
    const list = this.failures.get(source);
    if (!list) return [];
    const since = this.now() - this.opts.windowMs;
    while (list.length > 0 && list[0] <= since) list.shift();
    if (list.length === 0) this.failures.delete(source);
    return list;
  }
}

/** 429 `too_many_attempts`; the error handler sets Retry-After to `retryAfterSeconds`. */
export class RateLimited extends AppError {
  constructor(
    readonly retryAfterSeconds: number,
    what: string,
  ) {
    super(429, 'too_many_attempts', `too many ${what} from this address; try again in ${retryAfterSeconds} s`);
  }
}
