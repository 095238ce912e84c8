import { describe, expect, it } from 'vitest';
import { bucketDelta, bucketQuantile, histogramBuckets, parsePrometheus, sumOf } from '../../bench/prometheus.ts';

const TEXT = `# HELP x_seconds a histogram
# TYPE x_seconds histogram
x_seconds_bucket{le="0.001",tenant="1"} 10
x_seconds_bucket{le="0.002",tenant="1"} 30
x_seconds_bucket{le="0.005",tenant="1"} 40
x_seconds_bucket{le="+Inf",tenant="1"} 40
x_seconds_bucket{le="0.001",tenant="2"} 0
x_seconds_bucket{le="0.002",tenant="2"} 10
x_seconds_bucket{le="0.005",tenant="2"} 60
x_seconds_bucket{le="+Inf",tenant="2"} 60
x_seconds_sum{tenant="1"} 0.05
x_seconds_count{tenant="1"} 40
c_total{name="a \\"quoted\\" one"} 3
c_total{name="b"} 4
g 1.5
`;

describe('reading /metrics', () => {
  it('parses samples with labels, escapes and +Inf', () => {
    const s = parsePrometheus(TEXT);
    expect(sumOf(s, 'c_total')).toBe(7);
    expect(sumOf(s, 'c_total', { name: 'a "quoted" one' })).toBe(3);
    expect(sumOf(s, 'g')).toBe(1.5);
    expect(sumOf(s, 'x_seconds_count', { tenant: '1' })).toBe(40);
  });

  it('merges a histogram over its label sets and interpolates quantiles inside a bucket', () => {
    const s = parsePrometheus(TEXT);
    const b = histogramBuckets(s, 'x_seconds');
    expect(b).toEqual([
      { le: 0.001, count: 10 },
      { le: 0.002, count: 40 },
      { le: 0.005, count: 100 },
      { le: Infinity, count: 100 },
    ]);
    // rank 50 lies 10 of 60 into the (0.002, 0.005] bucket.
    expect(bucketQuantile(b, 0.5)).toBeCloseTo(0.0025, 9);
    // rank 5 lies halfway into the first bucket, which starts at 0.
    expect(bucketQuantile(b, 0.05)).toBeCloseTo(0.0005, 9);
    expect(bucketQuantile(histogramBuckets(s, 'x_seconds', { tenant: '1' }), 1)).toBeCloseTo(0.005, 9);
  });

  it('takes the difference of two scrapes, and reads an empty one as null', () => {
    const before = [{ le: 0.001, count: 5 }, { le: 0.002, count: 5 }, { le: Infinity, count: 5 }];
    const after = [{ le: 0.001, count: 5 }, { le: 0.002, count: 15 }, { le: Infinity, count: 15 }];
    const d = bucketDelta(after, before);
    expect(d).toEqual([{ le: 0.001, count: 0 }, { le: 0.002, count: 10 }, { le: Infinity, count: 10 }]);
    expect(bucketQuantile(d, 0.5)).toBeCloseTo(0.0015, 9);
    expect(bucketQuantile(bucketDelta(before, before), 0.5)).toBeNull();
    expect(bucketQuantile([], 0.5)).toBeNull();
  });

  it('says which line it cannot read', () => {
    expect(() => parsePrometheus('this is not a sample')).toThrow(/not a Prometheus sample line: this is not a sample/);
  });
});
