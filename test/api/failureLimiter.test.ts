import { describe, expect, it } from 'vitest';
import { FailureLimiter } from '../../src/api/failureLimiter.ts';

describe('FailureLimiter: failed sign-ins per source in a sliding window', () => {
  it('refuses after max failures until the oldest leaves the window', () => {
    let now = 1_000_000;
    const l = new FailureLimiter({ max: 3, windowMs: 60_000, now: () => now });
    for (let i = 0; i < 3; i++) {
      expect(l.retryAfter('1.2.3.4')).toBe(0);
      l.fail('1.2.3.4');
      now += 1_000;
    }
    expect(l.retryAfter('1.2.3.4')).toBe(57);
    expect(l.retryAfter('5.6.7.8')).toBe(0);
    now += 57_000;
    expect(l.retryAfter('1.2.3.4')).toBe(0);
    l.fail('1.2.3.4');
    expect(l.retryAfter('1.2.3.4')).toBeGreaterThan(0);
  });

  it('forgets the longest-quiet sources past maxSources', () => {
    const l = new FailureLimiter({ max: 1, windowMs: 60_000, maxSources: 2 });
    l.fail('a');
    l.fail('b');
    l.fail('c');
    expect(l.retryAfter('a')).toBe(0);
    expect(l.retryAfter('b')).toBeGreaterThan(0);
    expect(l.retryAfter('c')).toBeGreaterThan(0);
  });

  it('rejects nonsense options', () => {
    expect(() => new FailureLimiter({ max: 0, windowMs: 1 })).toThrow(RangeError);
    expect(() => new FailureLimiter({ max: 1, windowMs: 0 })).toThrow(RangeError);
  });
});
