import { describe, expect, it } from 'vitest';
import { RollingWindow, SLOT_MS, SLOTS } from '../../src/metrics/rollingWindow.ts';

describe('RollingWindow', () => {
  it('reads an empty window as count 0 and null times', () => {
    const w = new RollingWindow(() => 0);
    expect(w.lastFiveMinutes()).toEqual({ count: 0, mean: null, p50: null, p95: null, p99: null });
    expect(w.sinceStart()).toEqual({ count: 0, mean: null, p50: null, p95: null, p99: null });
  });

  it('reads a single value back exactly', () => {
    const w = new RollingWindow(() => 1_000);
    w.record(123.4);
    expect(w.lastFiveMinutes()).toEqual({ count: 1, mean: 123.4, p50: 123.4, p95: 123.4, p99: 123.4 });
  });

  it('gives percentiles within 2.5% of the true values', () => {
    const w = new RollingWindow(() => 5_000);
    // 1..1000 ms: p50 = 500, p95 = 950, p99 = 990 by nearest rank.
    for (let v = 1; v <= 1000; v++) w.record(v);
    const s = w.sinceStart();
    expect(s.count).toBe(1000);
    expect(s.mean).toBeCloseTo(500.5, 3);
    expect(Math.abs(s.p50! - 500) / 500).toBeLessThan(0.025);
    expect(Math.abs(s.p95! - 950) / 950).toBeLessThan(0.025);
    expect(Math.abs(s.p99! - 990) / 990).toBeLessThan(0.025);
  });

  it('keeps sub-millisecond and very long values apart', () => {
    const w = new RollingWindow(() => 0);
    for (let i = 0; i < 98; i++) w.record(0.2);
    w.record(60_000);
    w.record(2_000_000);
    const s = w.sinceStart();
    expect(Math.abs(s.p50! - 0.2) / 0.2).toBeLessThan(0.025);
    expect(s.p99).toBeGreaterThan(50_000);
  });

  it('ignores negative and non-finite values', () => {
    const w = new RollingWindow(() => 0);
    w.record(-1);
    w.record(Number.NaN);
    w.record(Number.POSITIVE_INFINITY);
    expect(w.sinceStart().count).toBe(0);
  });

  it('forgets values older than five minutes but keeps them since start', () => {
    let now = 0;
    const w = new RollingWindow(() => now);
    w.record(1_000);
    now += 60_000;
    w.record(10);
    expect(w.lastFiveMinutes().count).toBe(2);
    now = SLOT_MS * SLOTS + 1;
    const recent = w.lastFiveMinutes();
    expect(recent.count).toBe(1);
    expect(recent.p99).toBe(10);
    expect(w.sinceStart().count).toBe(2);
    now += 10 * 60_000;
    expect(w.lastFiveMinutes().count).toBe(0);
    expect(w.sinceStart().count).toBe(2);
  });

  it('reuses a slot when its time comes round again, without keeping the old values', () => {
    let now = 0;
    const w = new RollingWindow(() => now);
    w.record(500);
    now = SLOT_MS * SLOTS; // same ring position, 5 minutes later
    w.record(5);
    expect(w.lastFiveMinutes()).toMatchObject({ count: 1, p50: 5 });
  });
});
