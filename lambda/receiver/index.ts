// Handler dependencies are devDependencies: esbuild inlines them into the bundle.
/* eslint-disable import/no-extraneous-dependencies */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { KMSClient } from '@aws-sdk/client-kms';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SSMClient } from '@aws-sdk/client-ssm';
/* eslint-enable import/no-extraneous-dependencies */
import { header, parseActivityBody, RequestError, requireTeamsChannel, validateActivity, type FunctionUrlEvent } from './activity';
import { handleCallback } from './callback';
import { ConfigurationError, createReceiverContext, type AwsClients, type ReceiverContext } from './context';
import { handleInvoke } from './invoke';
import { handleMessage } from './messages';
import type { HttpResult } from './pages';
import { continueResume, isResumeContinuation, type ResumeContinuationEvent } from './resume';
import { normalizeGuid } from '../../src/private/shared-data';
import { AWS_SDK_CLIENT_OPTIONS } from '../shared/aws-sdk-options';
import { AuthError } from '../shared/botframework-auth';
import { loadConfig, type ResolvedConfig } from '../shared/config';
import { errorName, log, resetLogKeys } from '../shared/log';
import { countMetric, flushMetrics, METRIC, startMetrics } from '../shared/metrics';

/**
 * The receiver: one Lambda function URL, two routes.
 * - `POST {messagingPath}`: Bot Framework activities from Teams (messages.ts, invoke.ts)
 * - `GET {callbackPath}`: the OAuth redirect from Entra ID (callback.ts)
 * Anything else: 404 (unknown path) or 405 (known path, wrong method). See docs/receiver.md for the status codes.
 * Besides function URL requests, the receiver takes one other event: the resume continuation it sends itself
 * (resume.ts; no `requestContext`, so no HTTP request can have its shape).
 */

// Per container: the SDK clients, created once at module scope, with the handlers' timeouts and attempts.
const clients: AwsClients = {
  ddb: new DynamoDBClient(AWS_SDK_CLIENT_OPTIONS),
  kms: new KMSClient(AWS_SDK_CLIENT_OPTIONS),
  lambda: new LambdaClient(AWS_SDK_CLIENT_OPTIONS),
  secrets: new SecretsManagerClient(AWS_SDK_CLIENT_OPTIONS),
  ssm: new SSMClient(AWS_SDK_CLIENT_OPTIONS),
};

// Per container: the configuration and the context, built on the first request (a bad configuration is then logged
// and answered 503 instead of failing the container's init).
let context: ReceiverContext | undefined;
function containerContext(): ReceiverContext {
  if (!context) context = createReceiverContext(loadConfig(process.env), clients);
  return context;
}

const JSON_HEADERS = { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' };

function jsonResult(statusCode: number, body?: unknown, extraHeaders: Record<string, string> = {}): HttpResult {
  return { statusCode, headers: { ...JSON_HEADERS, ...extraHeaders }, body: body === undefined ? '' : JSON.stringify(body) };
}

/** Fields of the one log line per request. */
interface RequestLog {
  route: string;
  method: string;
  status?: number;
  reason?: string;
  activityType?: string;
  activityId?: string;
  outcome?: string;
}

/** The part of Lambda's context the receiver reads. */
export interface ReceiverInvocation {
  readonly awsRequestId?: string;
}

/** True until the container's first request has been answered. */
let coldStart = true;

/** The X-Ray trace id (`Root=` of `_X_AMZN_TRACE_ID`) when Lambda traces this invocation; undefined otherwise. */
export function traceIdOf(traceHeader: string | undefined): string | undefined {
  const root = /(?:^|;)Root=([0-9A-Za-z-]{1,64})(?:;|$)/.exec(traceHeader ?? '');
  return root ? root[1] : undefined;
}

/** The request's counts, derived from its log entry (the flows count sign-ins, refreshes and resumes themselves). */
function countRequest(entry: RequestLog): void {
  const status = entry.status ?? 0;
  if (entry.outcome === 'hot_path') countMetric(METRIC.HOT_PATH);
  else if (entry.outcome === 'pending_prompted') countMetric(METRIC.PROMPTED);
  if (entry.route === 'callback') {
    if (!entry.reason?.startsWith('signed_in')) countMetric(METRIC.SIGN_IN_FAILURES, 1, entry.reason);
  } else if (entry.reason === 'missing_authorization' || entry.reason?.startsWith('auth:')) {
    countMetric(METRIC.AUTH_REFUSALS, 1, entry.reason.startsWith('auth:') ? entry.reason.slice(5) : entry.reason);
  } else if (status >= 500) {
    countMetric(METRIC.REQUESTS_FAILED, 1, entry.reason);
  } else if (status >= 400) {
    countMetric(METRIC.REQUESTS_REFUSED, 1, entry.reason);
  }
}

/**
 * Builds the function URL handler over a context provider (the Lambda entry point uses the container's context; tests
 * may pass their own).
 */
export function createHandler(getContext: () => ReceiverContext): (event: FunctionUrlEvent, invocation?: ReceiverInvocation) => Promise<HttpResult> {
  return async (event, invocation) => {
    const started = Date.now();
    startMetrics('Receiver');
    resetLogKeys(invocation?.awsRequestId === undefined ? {} : { requestId: invocation.awsRequestId });
    if (isResumeContinuation(event)) return continuation(event, getContext, started);
    const method = (event.requestContext?.http?.method ?? 'GET').toUpperCase();
    const entry: RequestLog = { route: 'unknown', method };
    let result: HttpResult;
    try {
      result = await route(event, method, getContext, entry);
    } catch (err) {
      // Never an unhandled 500: a failing dependency (DynamoDB, KMS, Lambda...) is a 503 the caller may retry.
      const configuration = err instanceof ConfigurationError;
      entry.reason = configuration ? 'configuration' : `unavailable:${errorName(err)}`;
      log.error('request_failed', { route: entry.route, reason: entry.reason, error: err });
      result = jsonResult(503, { error: configuration ? 'configuration' : 'unavailable' });
    }
    entry.status = result.statusCode;
    countRequest(entry);
    const traceId = traceIdOf(process.env._X_AMZN_TRACE_ID);
    log.info('request', { ...entry, coldStart, ...(traceId === undefined ? {} : { traceId }), durationMs: Date.now() - started });
    coldStart = false;
    flushMetrics();
    return result;
  };
}

/**
 * A resume continuation (an asynchronous invoke of the receiver by itself): hands over what a request's resume budget
 * left. Rethrows only when nothing could be done or marked, so Lambda retries the event.
 */
async function continuation(event: ResumeContinuationEvent, getContext: () => ReceiverContext, started: number): Promise<HttpResult> {
  let result;
  try {
    result = await continueResume(getContext(), event);
  } finally {
    log.info('request', { route: 'resume', hop: event.hop, coldStart, durationMs: Date.now() - started });
    coldStart = false;
    flushMetrics();
  }
  return jsonResult(200, { resumed: result?.resumed ?? 0, remaining: result?.remaining ?? 0 });
}

async function route(event: FunctionUrlEvent, method: string, getContext: () => ReceiverContext, entry: RequestLog): Promise<HttpResult> {
  const path = event.rawPath ?? '/';
  let ctx: ReceiverContext;
  try {
    ctx = getContext();
  } catch (err) {
    log.error('config_invalid', { reason: err instanceof Error ? err.message.slice(0, 300) : 'unknown' });
    throw new ConfigurationError('configuration');
  }
  const config = ctx.config;
  if (path === config.messagingPath) {
    entry.route = 'messages';
    if (method !== 'POST') {
      entry.reason = 'method_not_allowed';
      return jsonResult(405, { error: 'method_not_allowed' }, { allow: 'POST' });
    }
    return messaging(event, ctx, entry);
  }
  if (path === config.callbackPath) {
    entry.route = 'callback';
    if (method !== 'GET') {
      entry.reason = 'method_not_allowed';
      return jsonResult(405, { error: 'method_not_allowed' }, { allow: 'GET' });
    }
    const { page, reason } = await handleCallback(event.rawQueryString, ctx);
    entry.reason = reason;
    return page;
  }
  entry.reason = 'not_found';
  return jsonResult(404, { error: 'not_found' });
}

async function messaging(event: FunctionUrlEvent, ctx: ReceiverContext, entry: RequestLog): Promise<HttpResult> {
  const authorization = header(event, 'authorization');
  if (!authorization) {
    entry.reason = 'missing_authorization';
    return jsonResult(401, { error: 'unauthorized' });
  }
  let body: Record<string, unknown>;
  try {
    body = parseActivityBody(event);
  } catch (err) {
    return rejected(err, entry);
  }
  // Authentication before any other I/O (the JWKS fetch is the only I/O it may do).
  try {
    await ctx.authenticator.authenticate(authorization, { serviceUrl: body.serviceUrl, channelId: body.channelId });
  } catch (err) {
    if (err instanceof AuthError && err.reason !== 'metadata_unavailable') {
      entry.reason = `auth:${err.reason}`;
      return jsonResult(401, { error: 'unauthorized' });
    }
    // No signing keys at all (a cold container during a Bot Framework metadata outage): nothing was judged, so answer
    // 503 and let the Bot Connector retry, rather than a 401 that drops the message.
    entry.reason = `auth_unavailable:${errorName(err)}`;
    log.error('auth_unavailable', { reason: errorName(err) });
    return jsonResult(503, { error: 'unavailable' });
  }
  let activity;
  try {
    requireTeamsChannel(body);
    activity = validateActivity(body);
  } catch (err) {
    return rejected(err, entry);
  }
  entry.activityType = activity.type;
  entry.activityId = activity.id;
  if (!activity.tenantId || !isAllowedTenant(ctx.config, activity.tenantId)) {
    entry.reason = activity.tenantId ? 'tenant_not_allowed' : 'tenant_missing';
    return jsonResult(403, { error: 'forbidden' });
  }
  switch (activity.type) {
    case 'message': {
      countMetric(METRIC.MESSAGES_RECEIVED);
      entry.outcome = await handleMessage(activity, ctx);
      return jsonResult(200);
    }
    case 'invoke': {
      const res = await handleInvoke(activity, ctx);
      entry.reason = typeof activity.raw.name === 'string' ? `invoke:${activity.raw.name.slice(0, 64)}` : 'invoke';
      return jsonResult(res.status, res.body);
    }
    default:
      // conversationUpdate, installationUpdate, messageReaction, typing...: acknowledged, no side effects.
      entry.outcome = 'ignored';
      return jsonResult(200);
  }
}

function rejected(err: unknown, entry: RequestLog): HttpResult {
  if (err instanceof RequestError) {
    entry.reason = err.reason;
    return jsonResult(err.status, { error: err.reason });
  }
  throw err;
}

/** True if the tenant is in the allow-list (GUIDs compared in their one spelling, `normalizeGuid`). */
export function isAllowedTenant(config: Pick<ResolvedConfig, 'allowedTenantIds'>, tenantId: string): boolean {
  const t = normalizeGuid(tenantId);
  return config.allowedTenantIds.some((allowed) => normalizeGuid(allowed) === t);
}

/** The Lambda entry point (function URL event → response). */
export const handler = createHandler(containerContext);
