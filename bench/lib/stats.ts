/** Small statistics helpers for the benchmarks (no dependencies). */

/** Value at quantile `q` (0..1) of `values`, nearest-rank on the sorted copy. */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank];
}

/** Median (nearest rank below the middle for even sizes averaged with the next one). */
export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** Summary of a latency sample, in ms, rounded to 0.01 ms. */
export interface LatencySummary {
  n: number;
  p50: number;
  p90: number;
  p99: number;
  min: number;
  max: number;
  mean: number;
}

/** Summarizes a latency sample (ms). */
export function summarize(values: readonly number[]): LatencySummary {
  const r = (x: number) => Math.round(x * 100) / 100;
  const mean = values.reduce((a, b) => a + b, 0) / Math.max(1, values.length);
  return {
    n: values.length,
    p50: r(quantile(values, 0.5)),
    p90: r(quantile(values, 0.9)),
    p99: r(quantile(values, 0.99)),
    min: r(Math.min(...values)),
    max: r(Math.max(...values)),
    mean: r(mean),
  };
}

/** a / b rounded to 3 decimals. */
export function ratio(a: number, b: number): number {
  return Math.round((a / b) * 1000) / 1000;
}
