import { afterEach, describe, expect, it } from 'vitest';
import { Pacer, PacerClosedError } from '../../src/outbound/pacer.ts';
import { CloudApiError } from '../../src/outbound/types.ts';

const pacers: Pacer[] = [];
const pacer = (opts?: ConstructorParameters<typeof Pacer>[0]) => {
  const p = new Pacer(opts);
  pacers.push(p);
  return p;
};
afterEach(() => {
  for (const p of pacers.splice(0)) p.close();
});

/** Lets pending promise callbacks run, without letting any timer fire. */
const microtasks = async () => {
  for (let i = 0; i < 5; i++) await Promise.resolve();
};

/** Tracks which of the promises have settled. */
function track(ps: Promise<void>[]) {
  const done: number[] = [];
  // Waiters left when the test ends are rejected by close(): expected, not unhandled.
  ps.forEach((p, i) => void p.then(() => done.push(i), () => undefined));
  return done;
}

describe('per-number token bucket', () => {
  it('lets the first `messagesPerSecond` sends go at once, without a timer', async () => {
    const p = pacer();
    const done = track(Array.from({ length: 11 }, () => p.take('pn1', 10)));
    await microtasks();
    expect(done).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(p.size.waiting).toBe(1);
  });

  it('spreads a burst beyond the rate over time, in FIFO order', async () => {
    const p = pacer();
    const start = performance.now();
    const at: number[] = [];
    const order: number[] = [];
    await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        p.take('pn1', 20).then(() => {
          at.push(performance.now() - start);
          order.push(i);
        }),
      ),
    );
    expect(order).toEqual(Array.from({ length: 30 }, (_, i) => i));
    // 20 go in the burst; the other 10 need 10 / 20 = 0.5 s of refill.
    expect(at[19]).toBeLessThan(400);
    expect(at[29]).toBeGreaterThanOrEqual(450);
    // Spread, not released in one lump at the end.
    expect(at[24]).toBeLessThan(at[29]);
  });

  it('keeps numbers apart: one number’s burst does not delay another', async () => {
    const p = pacer();
    for (let i = 0; i < 5; i++) await p.take('busy', 5);
    const busyNext = track([p.take('busy', 5)]);
    const other = track([p.take('quiet', 5)]);
    await microtasks();
    expect(busyNext).toEqual([]);
    expect(other).toEqual([0]);
  });

  it('serves a rate below one per second', async () => {
    const p = pacer();
    await p.take('slow', 0.9);
    const t = performance.now();
    await p.take('slow', 0.9);
    expect(performance.now() - t).toBeGreaterThanOrEqual(1000);
  });

  it('lets an aborted waiter go without holding up the others', async () => {
    const p = pacer();
    for (let i = 0; i < 4; i++) await p.take('pn', 4);
    const ac = new AbortController();
    const aborted = p.take('pn', 4, { signal: ac.signal });
    const next = p.take('pn', 4);
    ac.abort(new Error('cancelled'));
    await expect(aborted).rejects.toThrow('cancelled');
    await next;
    expect(p.size.waiting).toBe(0);
  });

  it('rejects waiters when closed, and a bad rate at once', async () => {
    const p = pacer();
    await p.take('pn', 1);
    const waiting = p.take('pn', 1);
    p.close();
    await expect(waiting).rejects.toBeInstanceOf(PacerClosedError);
    await expect(pacer().take('pn', 0)).rejects.toThrow(RangeError);
    await expect(pacer().take('pn', Number.NaN)).rejects.toThrow(RangeError);
  });

  it('forgets idle numbers', async () => {
    const p = pacer();
    for (let i = 0; i < 2000; i++) await p.take(`n${i}`, 1000);
    await new Promise((r) => setTimeout(r, 20));
    for (let i = 2000; i < 4096; i++) await p.take(`n${i}`, 1000);
    // The sweep every 4,096 sends dropped the first numbers, whose buckets had refilled.
    expect(p.size.buckets).toBeLessThan(4096);
    expect(p.size.buckets).toBeGreaterThan(0);
  });
});

describe('per-customer pair backoff (131056)', () => {
  it('backs off 4^n units for consecutive 131056s, reset by a success', () => {
    const p = pacer({ pairBackoffUnitMs: 10 });
    expect(p.pairLimited('pn', 'A')).toBe(40);
    expect(p.pairLimited('pn', 'A')).toBe(160);
    expect(p.pairLimited('pn', 'A')).toBe(640);
    p.pairSucceeded('pn', 'A');
    expect(p.pairLimited('pn', 'A')).toBe(40);
  });

  it('caps the backoff', () => {
    const p = pacer({ pairBackoffUnitMs: 1000, maxPairBackoffMs: 60_000 });
    for (let i = 0; i < 10; i++) p.pairLimited('pn', 'A');
    expect(p.pairLimited('pn', 'A')).toBe(60_000);
  });

  it('holds back only that customer; others of the same number go at once', async () => {
    const p = pacer({ pairBackoffUnitMs: 25 });
    const wait = p.pairLimited('pn', 'A');
    expect(wait).toBe(100);
    const t = performance.now();
    const a = p.take('pn', 80, { recipient: 'A' });
    const others = track([p.take('pn', 80, { recipient: 'B' }), p.take('other-number', 80, { recipient: 'A' })]);
    const held = track([a]);
    await microtasks();
    expect(others).toEqual([0, 1]);
    expect(held).toEqual([]);
    expect(p.pairWaitMs('pn', 'A')).toBeGreaterThan(0);
    expect(p.pairWaitMs('pn', 'B')).toBe(0);
    await a;
    expect(performance.now() - t).toBeGreaterThanOrEqual(90);
    expect(p.pairWaitMs('pn', 'A')).toBe(0);
  });

  it('pairBackoff answers 131056 only', () => {
    const p = pacer({ pairBackoffUnitMs: 1 });
    const backoff = p.pairBackoff('pn', 'A');
    expect(backoff(new CloudApiError(130429, 'throughput', 400, true))).toBeNull();
    expect(backoff(new Error('other'))).toBeNull();
    expect(backoff(new CloudApiError(131056, 'pair rate limit', 400, true))).toBe(4);
    expect(p.pairWaitMs('pn', 'A')).toBeGreaterThanOrEqual(0);
    expect(p.size.pairs).toBe(1);
  });

  it('an abort ends a pair wait', async () => {
    const p = pacer({ pairBackoffUnitMs: 10_000 });
    p.pairLimited('pn', 'A');
    const ac = new AbortController();
    const waiting = p.take('pn', 80, { recipient: 'A', signal: ac.signal });
    ac.abort(new Error('paused'));
    await expect(waiting).rejects.toThrow('paused');
    expect(p.size.waiting).toBe(0);
  });

  it('remembers a bounded number of pairs', () => {
    const p = pacer({ maxPairs: 100 });
    for (let i = 0; i < 1000; i++) p.pairLimited('pn', `c${i}`);
    expect(p.size.pairs).toBe(100);
    // The most recent are kept.
    expect(p.pairWaitMs('pn', 'c999')).toBeGreaterThan(0);
    expect(p.pairWaitMs('pn', 'c0')).toBe(0);
  });
});
