import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { parsePrometheus, sumOf } from '../../bench/prometheus.ts';
import { LabelledHistogram } from '../../src/metrics/histogram.ts';

describe('LabelledHistogram', () => {
  it('exposes cumulative buckets, sum and count per label value in the Prometheus text format', async () => {
    const registry = new Registry();
    const h = new LabelledHistogram(registry, 'x_seconds', 'test histogram', 'tenant', [0.001, 0.01, 0.1]);
    const a = h.child('a');
    for (const v of [0.0005, 0.001, 0.005, 0.05, 5]) a.observe(v);
    h.child('b').observe(0.02);
    a.observe(Number.NaN);
    const text = await registry.metrics();
    expect(text).toContain('# HELP x_seconds test histogram\n# TYPE x_seconds histogram');
    const s = parsePrometheus(text);
    // A value equal to a bound counts in that bound's bucket (le = "less than or equal").
    expect(sumOf(s, 'x_seconds_bucket', { tenant: 'a', le: '0.001' })).toBe(2);
    expect(sumOf(s, 'x_seconds_bucket', { tenant: 'a', le: '0.01' })).toBe(3);
    expect(sumOf(s, 'x_seconds_bucket', { tenant: 'a', le: '0.1' })).toBe(4);
    expect(sumOf(s, 'x_seconds_bucket', { tenant: 'a', le: '+Inf' })).toBe(5);
    expect(sumOf(s, 'x_seconds_count', { tenant: 'a' })).toBe(5);
    expect(sumOf(s, 'x_seconds_sum', { tenant: 'a' })).toBeCloseTo(5.0565, 9);
    expect(sumOf(s, 'x_seconds_bucket', { tenant: 'b', le: '0.01' })).toBe(0);
    expect(sumOf(s, 'x_seconds_bucket', { tenant: 'b', le: '0.1' })).toBe(1);
    expect(h.child('a')).toBe(a);
  });

  it('works without a label, and refuses bounds that do not increase', async () => {
    const registry = new Registry();
    const h = new LabelledHistogram(registry, 'y_seconds', 'no label', null, [1, 2]);
    h.child().observe(1.5);
    expect(await registry.metrics()).toContain('y_seconds_bucket{le="2"} 1');
    expect(() => new LabelledHistogram(new Registry(), 'z', 'bad', null, [1, 1])).toThrow(/must increase/);
  });
});
