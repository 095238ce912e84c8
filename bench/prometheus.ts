/** One sample of a Prometheus text exposition. */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

/** Parses the text format that `GET /metrics` serves (comments and blank lines skipped). */
export function parsePrometheus(text: string): Sample[] {
  const out: Sample[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const m = LINE.exec(line);
    if (!m) throw new Error(`not a Prometheus sample line: ${line}`);
    const labels: Record<string, string> = {};
    if (m[2]) {
      for (const l of m[2].matchAll(LABEL)) labels[l[1]] = l[2].replace(/\\(.)/g, (_s, c: string) => (c === 'n' ? '\n' : c));
    }
    out.push({ name: m[1], labels, value: m[3] === '+Inf' ? Infinity : m[3] === '-Inf' ? -Infinity : Number(m[3]) });
  }
  return out;
}

const matches = (s: Sample, name: string, where: Record<string, string>) =>
  s.name === name && Object.entries(where).every(([k, v]) => s.labels[k] === v);

/** The sum of a series' samples whose labels include `where`. */
export function sumOf(samples: Sample[], name: string, where: Record<string, string> = {}): number {
  let total = 0;
  for (const s of samples) if (matches(s, name, where)) total += s.value;
  return total;
}

/** A histogram's cumulative buckets, merged over the label sets that include `where`. */
export function histogramBuckets(samples: Sample[], name: string, where: Record<string, string> = {}): { le: number; count: number }[] {
  const byLe = new Map<number, number>();
  for (const s of samples) {
    if (!matches(s, `${name}_bucket`, where)) continue;
    const le = s.labels.le === '+Inf' ? Infinity : Number(s.labels.le);
    byLe.set(le, (byLe.get(le) ?? 0) + s.value);
  }
  return [...byLe.entries()].map(([le, count]) => ({ le, count })).sort((a, b) => a.le - b.le);
}

/** Per-bucket differences of two cumulative bucket lists (after minus before). */
export function bucketDelta(after: { le: number; count: number }[], before: { le: number; count: number }[]) {
  const prev = new Map(before.map((b) => [b.le, b.count]));
  return after.map((b) => ({ le: b.le, count: b.count - (prev.get(b.le) ?? 0) }));
}

/**
 * The q-quantile of cumulative buckets, interpolated linearly inside the
 * bucket that holds it, as Prometheus' histogram_quantile does. Null when empty.
 */
export function bucketQuantile(buckets: { le: number; count: number }[], q: number): number | null {
  if (buckets.length === 0) return null;
  const total = buckets[buckets.length - 1].count;
  if (total <= 0) return null;
  const rank = q * total;
  let prevLe = 0;
  let prevCount = 0;
  for (const b of buckets) {
    if (b.count >= rank) {
      // Past the last finite bound nothing is known but the bound itself.
      if (b.le === Infinity) return prevLe;
      const inBucket = b.count - prevCount;
      return inBucket <= 0 ? b.le : prevLe + (b.le - prevLe) * ((rank - prevCount) / inBucket);
    }
    prevLe = b.le;
    prevCount = b.count;
  }
  return prevLe;
}
