import type { Registry } from 'prom-client';

/** One label set's buckets. `observe` is all the hot path calls. */
export interface HistogramChild {
  observe(seconds: number): void;
}

interface Cell extends HistogramChild {
  readonly labels: Record<string, string>;
  /** Per-bucket counts (not cumulative); the last slot is +Inf. */
  readonly counts: Float64Array;
  sum: number;
  count: number;
}

/** The shape prom-client's Registry reads from a metric (`get()`), documented in its types. */
interface MetricObject {
  name: string;
  help: string;
  type: 'histogram';
  aggregator: 'sum';
  values: { value: number; labels: Record<string, string | number>; metricName: string }[];
}

/**
 * A Prometheus histogram with at most one label, registered in a prom-client
 * Registry. prom-client's own histogram hashes the label set and validates it
 * on every observation, even through a child; this one looks the child up
 * once and then only increments, because database statements and webhook
 * acknowledgements are observed thousands of times a second.
 */
export class LabelledHistogram {
  private readonly cells = new Map<string, Cell>();

  constructor(
    registry: Registry,
    readonly name: string,
    readonly help: string,
    private readonly labelName: string | null,
    private readonly bounds: readonly number[],
  ) {
    for (let i = 1; i < bounds.length; i++) if (!(bounds[i] > bounds[i - 1])) throw new RangeError(`${name}: bucket bounds must increase`);
    registry.registerMetric(this as unknown as Parameters<Registry['registerMetric']>[0]);
  }

  /** The series for one label value (or the only series, when there is no label). */
  child(labelValue = ''): HistogramChild {
    let cell = this.cells.get(labelValue);
    if (!cell) {
      const counts = new Float64Array(this.bounds.length + 1);
      const bounds = this.bounds;
      const c: Cell = {
        labels: this.labelName ? { [this.labelName]: labelValue } : {},
        counts,
        sum: 0,
        count: 0,
        observe(seconds) {
          if (!Number.isFinite(seconds)) return;
          // Binary search for the first bound ≥ seconds; past the last one, +Inf.
          let lo = 0;
          let hi = bounds.length;
          while (lo < hi) {
            const mid = (lo + hi) >>> 1;
            if (bounds[mid] < seconds) lo = mid + 1;
            else hi = mid;
          }
          counts[lo]++;
          c.sum += seconds;
          c.count++;
        },
      };
      cell = c;
      this.cells.set(labelValue, cell);
    }
    return cell;
  }

  /** For the registry: cumulative buckets, sum and count of every label set. */
  async get(): Promise<MetricObject> {
    const values: MetricObject['values'] = [];
    for (const cell of this.cells.values()) {
      let cumulative = 0;
      for (let i = 0; i <= this.bounds.length; i++) {
        cumulative += cell.counts[i];
        values.push({ value: cumulative, labels: { ...cell.labels, le: i < this.bounds.length ? this.bounds[i] : '+Inf' }, metricName: `${this.name}_bucket` });
      }
      values.push({ value: cell.sum, labels: cell.labels, metricName: `${this.name}_sum` });
      values.push({ value: cell.count, labels: cell.labels, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: 'histogram', aggregator: 'sum', values };
  }
}
