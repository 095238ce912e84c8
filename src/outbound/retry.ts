import { CloudApiError } from './types.ts';

/** How sendWithRetry retries. */
export interface RetryOptions {
  /** Attempts in all, the first included (default 6). */
  maxAttempts?: number;
  /**
   * Past maxAttempts, retryable errors are still retried until this many
   * milliseconds have passed since the first attempt (default 0: attempts
   * alone decide): a Cloud API outage is waited out rather than failing
   * every reply queued behind it.
   */
  retryForMs?: number;
  /** The backoff before the second attempt is up to this (default 500 ms); it doubles each time. */
  baseMs?: number;
  /** No wait is longer than this (default 60 s). */
  maxMs?: number;
  /** Stops the waiting and the attempts; the promise rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Called before each wait: the error, the attempt that failed (1-based) and the wait. */
  onRetry?: (err: CloudApiError, attemptNo: number, delayMs: number) => void;
  /**
   * A wait of its own for some errors, null for the others: the pacer's
   * 4^n pair backoff for 131056 (Pacer.pairBackoff).
   */
  pairBackoff?: (err: CloudApiError) => number | null;
  /** The random source of the jitter, in [0, 1) (default Math.random). */
  random?: () => number;
}

/**
 * Runs `attempt` until it succeeds, retrying retryable CloudApiErrors
 * (network errors, 5xx, Meta's temporary codes) with exponential backoff and
 * full jitter — a random wait between 0 and min(maxMs, baseMs·2^(n-1)), so
 * many senders hit by the same outage do not come back in step. Permanent
 * errors and anything that is not a CloudApiError are thrown at once; after
 * the last attempt (and once retryForMs has passed) its error is thrown.
 */
export async function sendWithRetry<T>(attempt: (attemptNo: number) => Promise<T>, opts: RetryOptions = {}): Promise<T> {
  const maxAttempts = opts.maxAttempts ?? 6;
  const retryForMs = opts.retryForMs ?? 0;
  const started = performance.now();
  const baseMs = opts.baseMs ?? 500;
  const maxMs = opts.maxMs ?? 60_000;
  if (!Number.isInteger(maxAttempts) || maxAttempts < 1) throw new RangeError(`maxAttempts must be a positive integer, got ${maxAttempts}`);
  if (!Number.isFinite(baseMs) || baseMs < 0) throw new RangeError(`baseMs must be a non-negative number, got ${baseMs}`);
  if (!Number.isFinite(maxMs) || maxMs < 0) throw new RangeError(`maxMs must be a non-negative number, got ${maxMs}`);
  const random = opts.random ?? Math.random;
  const { signal } = opts;

  for (let n = 1; ; n++) {
    if (signal?.aborted) throw signal.reason;
    try {
      return await attempt(n);
    } catch (err) {
      if (!(err instanceof CloudApiError) || !err.retryable) throw err;
      if (n >= maxAttempts && performance.now() - started >= retryForMs) throw err;
      if (signal?.aborted) throw signal.reason;
      const own = opts.pairBackoff?.(err) ?? null;
      const delay = own !== null ? Math.min(own, maxMs) : Math.floor(random() * Math.min(maxMs, baseMs * 2 ** (n - 1)));
      opts.onRetry?.(err, n, delay);
      await sleep(delay, signal);
    }
  }
}

/** Waits `ms`, or rejects with the signal's reason as soon as it aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.reject(signal.reason);
  return new Promise<void>((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
