/**
 * Metrics in CloudWatch Embedded Metric Format (EMF): counts and timings are collected in memory during an invocation
 * and written as one JSON line on stdout when it ends ({@link flushMetrics}); CloudWatch Logs turns the line into
 * metrics. No API call, no SDK, nothing on the hot path but a few map updates and one `process.stdout.write`.
 *
 * - Namespace: `TDAB_METRICS_NAMESPACE` (set by the construct's `metricsNamespace`), default `TeamsDelegatedAuthBot`.
 * - Dimensions, a small fixed set: `Service` (`Receiver` or `Worker`) on every metric; the metrics that have a reason
 *   ({@link REASON_METRICS}) are published twice, by `Service` and by `Service` + `Reason`. A reason is a short code
 *   chosen by this code (its part before the first `:`, at most 48 of `[A-Za-z0-9_.-]`), never a user, tenant or
 *   conversation id.
 * - The line is written straight to stdout (not through `console`), so Lambda's JSON log format leaves it as it is.
 *
 * A Lambda container runs one invocation at a time: the collector is per container, started by {@link startMetrics}
 * and emptied by {@link flushMetrics}. The metric names are documented in docs/operations.md and used by the construct's
 * `metric*()` methods (src/private/metric-names.ts: one list for both sides).
 */
import { ENV } from '../../src/private/env';
import { DEFAULT_METRICS_NAMESPACE, METRIC, MetricName, REASON_METRICS } from '../../src/private/metric-names';

export { METRIC };
export type { MetricName };

/** Receives each EMF line (tests); the default writes it to stdout. */
export type MetricsSink = (line: string) => void;

const REASON_RE = /^[A-Za-z0-9_.-]{1,48}$/;

interface Collector {
  service: string;
  /** Counts without a reason. */
  counts: Map<MetricName, number>;
  timings: Map<MetricName, number[]>;
  /** Counts of {@link REASON_METRICS}, by reason code. */
  reasons: Map<string, Map<MetricName, number>>;
}

let current: Collector | undefined;
let sink: MetricsSink | undefined;

/** Sends EMF lines to `fn` instead of stdout (tests); `undefined` restores stdout. Returns the previous sink. */
export function setMetricsSink(fn: MetricsSink | undefined): MetricsSink | undefined {
  const prev = sink;
  sink = fn;
  return prev;
}

/** Starts collecting for one invocation of `service` (what was collected and not flushed is dropped). */
export function startMetrics(service: 'Receiver' | 'Worker'): void {
  current = { service, counts: new Map(), timings: new Map(), reasons: new Map() };
}

/** A bounded reason code: the part before the first `:`, or `other`. */
export function reasonCode(reason: string | undefined): string {
  const head = (reason ?? '').split(':')[0];
  return REASON_RE.test(head) ? head : 'other';
}

/**
 * Adds `value` (default 1) to a count. A metric of {@link REASON_METRICS} is counted under `reason` (`other` when
 * missing): published by `Service` and by `Service` + `Reason`. Outside an invocation ({@link startMetrics} not
 * called) it does nothing.
 */
export function countMetric(name: MetricName, value = 1, reason?: string): void {
  const c = current;
  if (c === undefined) return;
  let counts = c.counts;
  if (REASON_METRICS.has(name)) {
    const code = reasonCode(reason);
    counts = c.reasons.get(code) ?? new Map();
    c.reasons.set(code, counts);
  }
  counts.set(name, (counts.get(name) ?? 0) + value);
}

/** Records a duration in milliseconds (EMF keeps every value: CloudWatch computes the statistics). */
export function timingMetric(name: MetricName, ms: number): void {
  const c = current;
  if (c === undefined || !Number.isFinite(ms)) return;
  let values = c.timings.get(name);
  if (values === undefined) c.timings.set(name, (values = []));
  if (values.length < 100) values.push(Math.max(0, Math.round(ms)));
}

/** Writes what the invocation collected (one line, plus one per further reason) and stops collecting. */
export function flushMetrics(now: number = Date.now()): void {
  const c = current;
  current = undefined;
  if (c === undefined) return;
  const namespace = process.env[ENV.METRICS_NAMESPACE] || DEFAULT_METRICS_NAMESPACE;
  const plain: Array<[MetricName, number | number[], string]> = [];
  for (const [name, value] of c.counts) plain.push([name, value, 'Count']);
  for (const [name, values] of c.timings) plain.push([name, values.length === 1 ? values[0] : values, 'Milliseconds']);
  const reasons = [...c.reasons.entries()];
  // The first line carries the plain metrics and the first reason; each further reason (rare) gets a line of its own.
  for (let i = 0; i < Math.max(1, reasons.length); i++) {
    const directives: unknown[] = [];
    const root: Record<string, unknown> = { Service: c.service };
    if (i === 0 && plain.length > 0) {
      for (const [name, value] of plain) root[name] = value;
      directives.push({ Namespace: namespace, Dimensions: [['Service']], Metrics: plain.map(([n, , u]) => ({ Name: n, Unit: u })) });
    }
    if (i < reasons.length) {
      const [code, counts] = reasons[i];
      root.Reason = code;
      for (const [name, value] of counts) root[name] = value;
      directives.push({
        Namespace: namespace,
        Dimensions: [['Service'], ['Service', 'Reason']],
        Metrics: [...counts.keys()].map((n) => ({ Name: n, Unit: 'Count' })),
      });
    }
    if (directives.length === 0) continue;
    const line = JSON.stringify({ _aws: { Timestamp: now, CloudWatchMetrics: directives }, ...root });
    if (sink) sink(line);
    else process.stdout.write(line + '\n');
  }
}
