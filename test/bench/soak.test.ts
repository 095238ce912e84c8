import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { drift, plotSamples, type SoakSample } from '../../bench/soak.ts';
import { parseBenchOptions } from '../../bench/options.ts';

const sample = (t: number, rssMb: number, lag = 10): SoakSample => ({ t, rssMb, eventLoopLagP99Ms: lag, poolWaiting: 0, answersPerSecond: 50 });

describe('soak samples', () => {
  it('measures drift from a point on: a leak shows, a flat series does not', () => {
    const flat = Array.from({ length: 120 }, (_, i) => sample(i * 10, 100 + (i % 3)));
    const leaking = Array.from({ length: 120 }, (_, i) => sample(i * 10, 100 + i));
    const rss = (s: SoakSample[]) => drift(s, 300).find((d) => d.series === 'rssMb')!;
    expect(Math.abs(rss(flat).change!)).toBeLessThan(0.02);
    expect(rss(leaking).change!).toBeGreaterThan(0.3);
    // The warm-up before 300 s is left out.
    expect(rss(leaking).min).toBe(130);
  });

  it('draws them as a PNG', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'wagate-plot-'));
    try {
      const file = path.join(dir, 'soak.png');
      await plotSamples(Array.from({ length: 30 }, (_, i) => sample(i * 10, 100 + Math.sin(i), 5 + (i % 4))), file);
      const png = await readFile(file);
      expect(png.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
      expect(png.length).toBeGreaterThan(5_000);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('takes --sample-every and --plot, and refuses a plot without samples', () => {
    expect(parseBenchOptions(['--sample-every', '10', '--plot', 'x.png'])).toMatchObject({ sampleEveryS: 10, plot: 'x.png' });
    expect(() => parseBenchOptions(['--plot', 'x.png'])).toThrow(/--sample-every/);
    expect(() => parseBenchOptions(['--sample-every', 'soon'])).toThrow(/--sample-every: must be a whole number/);
  });
});
