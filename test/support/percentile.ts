/** The q-th quantile (0 < q ≤ 1) of some timings, nearest rank. */
export function quantile(samples: number[], q: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(sorted.length * q) - 1))];
}

/** The 99th percentile of some timings (nearest rank). */
export const p99 = (samples: number[]): number => quantile(samples, 0.99);

/** The median of some timings (nearest rank). */
export const median = (samples: number[]): number => quantile(samples, 0.5);
