import type { Readable } from 'node:stream';

/** Meta's payloads reach 3 MB; anything over 4 MiB is refused with 413. */
export const WEBHOOK_BODY_LIMIT = 4 * 1024 * 1024;

/**
 * The bytes of webhook bodies being read at once, across every request of
 * the process. A body is read whole before its signature can be checked, so
 * without this bound unsigned uploads stalled near the size limit would hold
 * memory in proportion to their number.
 */
export class ByteBudget {
  private used = 0;
  /** Bytes held per share (a channel's own webhook URL), each at most shareCapacity. */
  private readonly shares = new Map<string, number>();

  /** `onChange` is told the bytes in use after each change (for the metrics). */
  constructor(
    readonly capacity: number,
    private readonly onChange: (inUse: number) => void = () => {},
  ) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`capacity must be a positive integer, got ${capacity}`);
  }

  /** Bytes held right now. */
  get inUse(): number {
    return this.used;
  }

  /** Bytes that may still be taken. */
  get free(): number {
    return this.capacity - this.used;
  }

  /** What one share may hold: a quarter of the budget, so one channel's bodies leave room for everyone else's. */
  get shareCapacity(): number {
    return Math.floor(this.capacity / 4);
  }

  /** Bytes `share` may still take (the whole budget's free bytes without one). */
  freeFor(share: string | null): number {
    return share === null ? this.free : Math.min(this.free, this.shareCapacity - (this.shares.get(share) ?? 0));
  }

  /** A new request's hold, empty until it takes bytes; with a share, bounded by it too. */
  hold(share: string | null = null): BodyHold {
    return new BodyHold(this, share);
  }

  /** Takes `n` bytes if they fit (in the share too, with one). */
  take(n: number, share: string | null = null): boolean {
    if (n > this.freeFor(share)) return false;
    this.used += n;
    if (share !== null) this.shares.set(share, (this.shares.get(share) ?? 0) + n);
    this.onChange(this.used);
    return true;
  }

  release(n: number, share: string | null = null): void {
    if (n === 0) return;
    this.used -= n;
    if (share !== null) {
      const left = (this.shares.get(share) ?? 0) - n;
      if (left > 0) this.shares.set(share, left);
      else this.shares.delete(share);
    }
    this.onChange(this.used);
  }
}

/** One request's bytes in a ByteBudget; given back at once when the request ends, however it ends. */
export class BodyHold {
  private held = 0;

  constructor(
    private readonly budget: ByteBudget,
    private readonly share: string | null,
  ) {}

  take(n: number): boolean {
    if (!this.budget.take(n, this.share)) return false;
    this.held += n;
    return true;
  }

  /** Gives back every byte this request holds (again is harmless). */
  releaseAll(): void {
    this.budget.release(this.held, this.share);
    this.held = 0;
  }
}

/** A body the webhook will not take: answered with this status, the rest of its bytes read and dropped. */
export interface Refusal {
  readonly refused: true;
  readonly status: 413 | 503;
  readonly code: string;
  readonly message: string;
}

export const TOO_LARGE: Refusal = Object.freeze({ refused: true, status: 413, code: 'payload_too_large', message: `the body is over ${WEBHOOK_BODY_LIMIT} bytes` });
export const BUSY: Refusal = Object.freeze({ refused: true, status: 503, code: 'busy', message: 'too many webhook bodies are being received at once; deliver again' });

/** True for a Refusal (the value the body parser gives instead of the bytes). */
export function isRefusal(body: unknown): body is Refusal {
  return typeof body === 'object' && body !== null && (body as Refusal).refused === true;
}

/**
 * Reads a body into one buffer, taking its bytes from `hold` as they arrive.
 * Over `limit` bytes, or past the budget, it stops keeping them: it resolves
 * with the Refusal at once (so the answer goes out while the client may
 * still be sending) and reads the rest without keeping it, so a client that
 * writes its whole body before reading still gets the answer instead of a
 * reset connection. The request timeout bounds how long that lasts.
 */
export function readBody(stream: Readable, limit: number, hold: BodyHold): Promise<Buffer | Refusal> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const stop = () => {
      stream.off('data', onData);
      stream.off('end', onEnd);
      stream.off('error', onError);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      const refusal = size > limit ? TOO_LARGE : hold.take(chunk.length) ? null : BUSY;
      if (!refusal) {
        chunks.push(chunk);
        return;
      }
      stop();
      chunks.length = 0;
      hold.releaseAll();
      stream.on('data', drop);
      stream.on('error', drop);
      resolve(refusal);
    };
    const onEnd = () => {
      stop();
      resolve(Buffer.concat(chunks, size));
    };
    const onError = (err: Error) => {
      stop();
      hold.releaseAll();
      reject(err);
    };
    stream.on('data', onData);
    stream.on('end', onEnd);
    stream.on('error', onError);
    stream.resume();
  });
}

function drop(): void {}
