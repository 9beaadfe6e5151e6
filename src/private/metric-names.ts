/**
 * Names of the metrics the handlers publish (CloudWatch Embedded Metric Format, lambda/shared/metrics.ts) and the
 * construct's `metric*()` methods read: one list for both sides. Pure data, no CDK import (lambda/ imports it).
 * Meanings and runbooks: docs/operations.md.
 */
export const METRIC = {
  /** Receiver: message activities that passed authentication and the tenant check. */
  MESSAGES_RECEIVED: 'MessagesReceived',
  /** Receiver: messages handed straight to the worker with a stored token. */
  HOT_PATH: 'HotPath',
  /** Receiver: messages kept while the user was asked to sign in (a sign-in card sent). */
  PROMPTED: 'Prompted',
  /** Receiver: kept messages handed to the worker after a sign-in or a refresh. */
  RESUMED: 'Resumed',
  /** Receiver: milliseconds from receiving a kept message to handing it to the worker. */
  RESUME_LATENCY: 'ResumeLatency',
  /** Receiver: sign-ins completed (callback or Teams SSO). */
  SIGN_INS: 'SignIns',
  /** Receiver: callbacks that did not sign the user in, by reason. */
  SIGN_IN_FAILURES: 'SignInFailures',
  /** Receiver: access tokens refreshed with the stored refresh token. */
  REFRESHES: 'Refreshes',
  /** Receiver: refreshes that failed, by reason (`rejected`: sign in again; `unavailable`: the IdP failed). */
  REFRESH_FAILURES: 'RefreshFailures',
  /** Receiver: Teams SSO token exchanges that stored tokens. */
  SSO_EXCHANGES: 'SsoExchanges',
  /** Receiver: requests refused by Bot Framework authentication, by reason (a security signal). */
  AUTH_REFUSALS: 'AuthRefusals',
  /** Receiver: every other refused request (4xx), by reason. */
  REQUESTS_REFUSED: 'RequestsRefused',
  /** Receiver: requests answered 503 (a dependency failed), by reason. */
  REQUESTS_FAILED: 'RequestsFailed',
  /** Worker: messages answered. */
  WORKER_REPLIES: 'WorkerReplies',
  /** Worker: apologies sent after a failure before the reply. */
  WORKER_APOLOGIES: 'WorkerApologies',
  /** Worker: invocations that failed before replying (Lambda retries them), by reason. */
  WORKER_FAILURES: 'WorkerFailures',
} as const;

export type MetricName = (typeof METRIC)[keyof typeof METRIC];

/** Metrics published by `Service` and by `Service` + `Reason`. */
export const REASON_METRICS: ReadonlySet<MetricName> = new Set<MetricName>([
  METRIC.SIGN_IN_FAILURES, METRIC.REFRESH_FAILURES, METRIC.AUTH_REFUSALS, METRIC.REQUESTS_REFUSED,
  METRIC.REQUESTS_FAILED, METRIC.WORKER_FAILURES,
]);

/** Namespace when `metricsNamespace` is not set. */
export const DEFAULT_METRICS_NAMESPACE = 'TeamsDelegatedAuthBot';

/** Value of the `Service` dimension. */
export const METRIC_SERVICE = { RECEIVER: 'Receiver', WORKER: 'Worker' } as const;
