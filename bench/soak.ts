import { writeFile } from 'node:fs/promises';
import { sumOf, type Sample } from './prometheus.ts';

/** One reading of the gateway processes during a run (every --sample-every seconds). */
export interface SoakSample {
  /** Seconds since the measured window began. */
  t: number;
  /** Resident memory of all wagate processes, MB. */
  rssMb: number;
  /** The worst event-loop delay p99 of the processes over the last interval, ms. */
  eventLoopLagP99Ms: number;
  /** Requests waiting for a pool connection, summed over the processes, at the reading. */
  poolWaiting: number;
  /** Answers per second since the previous reading. */
  answersPerSecond: number;
}

export interface SoakSources {
  /** Each process's /metrics. */
  scrape(): Promise<Sample[][]>;
  /** Resident memory of the processes, MB (null when unreadable). */
  rssMb(): Promise<number | null>;
  /** Answers counted so far in the window. */
  answered(): number;
}

/**
 * Reads the processes every `everyS` seconds from start() to stop(). The
 * event-loop p99 is prom-client's, which starts afresh at each scrape, so
 * each sample covers its own interval.
 */
export class SoakSampler {
  readonly samples: SoakSample[] = [];
  private timer: NodeJS.Timeout | null = null;
  private started = 0;
  private lastAnswered = 0;
  private lastAt = 0;
  private reading: Promise<void> = Promise.resolve();

  constructor(
    private readonly sources: SoakSources,
    private readonly everyS: number,
  ) {}

  start(): void {
    this.started = this.lastAt = performance.now();
    this.lastAnswered = this.sources.answered();
    // Resets the processes' event-loop histograms, so the first sample covers its interval only.
    this.reading = this.sources.scrape().then(() => {});
    this.timer = setInterval(() => {
      this.reading = this.reading.then(() => this.read()).catch(() => {});
    }, this.everyS * 1000);
  }

  async stop(): Promise<SoakSample[]> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.reading;
    return this.samples;
  }

  private async read(): Promise<void> {
    const [metrics, rss] = await Promise.all([this.sources.scrape(), this.sources.rssMb()]);
    const now = performance.now();
    const answered = this.sources.answered();
    this.samples.push({
      t: Math.round((now - this.started) / 1000),
      rssMb: round(rss ?? NaN),
      eventLoopLagP99Ms: round(Math.max(...metrics.map((m) => sumOf(m, 'nodejs_eventloop_lag_p99_seconds'))) * 1000),
      poolWaiting: metrics.reduce((n, m) => n + sumOf(m, 'wagate_db_pool_waiting'), 0),
      answersPerSecond: round((answered - this.lastAnswered) / ((now - this.lastAt) / 1000)),
    });
    this.lastAnswered = answered;
    this.lastAt = now;
  }
}

/** How a series moved from `fromS` on: the mean of its first and last fifth, and the change between them. */
export interface Drift {
  series: keyof Omit<SoakSample, 't'>;
  early: number;
  late: number;
  /** (late − early) / early, as a fraction; null when early is 0. */
  change: number | null;
  min: number;
  max: number;
}

export function drift(samples: SoakSample[], fromS: number): Drift[] {
  const tail = samples.filter((s) => s.t >= fromS);
  const fifth = Math.max(1, Math.floor(tail.length / 5));
  const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN);
  return (['rssMb', 'eventLoopLagP99Ms', 'poolWaiting', 'answersPerSecond'] as const).map((series) => {
    const values = tail.map((s) => s[series]);
    const early = mean(values.slice(0, fifth));
    const late = mean(values.slice(-fifth));
    return { series, early: round(early), late: round(late), change: early > 0 ? round((late - early) / early, 3) : null, min: Math.min(...values), max: Math.max(...values) };
  });
}

export function driftMarkdown(samples: SoakSample[], fromS: number): string {
  const rows = drift(samples, fromS).map(
    (d) => `| ${d.series} | ${d.early} | ${d.late} | ${d.change === null ? '—' : `${(d.change * 100).toFixed(1)}%`} | ${d.min} | ${d.max} |`,
  );
  return [
    `Soak: ${samples.length} samples; from ${fromS} s on, the first fifth against the last fifth:`,
    '',
    '| series | early mean | late mean | change | min | max |',
    '| --- | --- | --- | --- | --- | --- |',
    ...rows,
    '',
  ].join('\n');
}

/**
 * Draws the samples as a PNG: one panel per series over time (Vega-Lite,
 * rendered to SVG by Vega and to PNG by sharp). Both are development
 * dependencies: without them, the error says so.
 */
export async function plotSamples(samples: SoakSample[], file: string): Promise<void> {
  let vega: typeof import('vega');
  let vegaLite: typeof import('vega-lite');
  let sharp: typeof import('sharp');
  try {
    [vega, vegaLite, sharp] = await Promise.all([import('vega'), import('vega-lite'), import('sharp')]);
  } catch (err) {
    throw new Error(`--plot needs the development dependencies vega, vega-lite and sharp (npm ci without --omit=dev): ${(err as Error).message}`);
  }
  const titles: Record<keyof Omit<SoakSample, 't'>, string> = {
    rssMb: 'resident memory (MB)',
    eventLoopLagP99Ms: 'event-loop delay p99 (ms)',
    poolWaiting: 'requests waiting for a pool connection',
    answersPerSecond: 'answers per second',
  };
  const values = samples.flatMap((s) => (Object.keys(titles) as (keyof typeof titles)[]).map((k) => ({ minute: s.t / 60, value: s[k], series: titles[k] })));
  const spec = vegaLite.compile({
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    data: { values },
    facet: {
      row: { field: 'series', type: 'nominal', title: null, sort: Object.values(titles), header: { labelOrient: 'top', labelAngle: 0, labelAnchor: 'start', labelFontSize: 13 } },
    },
    spec: {
      width: 640,
      height: 120,
      mark: { type: 'line', point: false },
      encoding: {
        x: { field: 'minute', type: 'quantitative', title: 'minutes into the run' },
        y: { field: 'value', type: 'quantitative', title: null, scale: { zero: true } },
      },
    },
    resolve: { scale: { y: 'independent' } },
    config: { background: 'white' },
  }).spec;
  const view = new vega.View(vega.parse(spec), { renderer: 'none' });
  const svg = await view.toSVG();
  await writeFile(file, await sharp.default(Buffer.from(svg)).png().toBuffer());
}

function round(n: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}
