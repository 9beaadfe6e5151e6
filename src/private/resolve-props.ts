import { Annotations, Duration, RemovalPolicy, Token } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cloudwatchActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { IConstruct } from 'constructs';
import { withAssistantScopes } from './assistant';
import { ResolvedAssistant, resolveAssistant } from './assistant-worker';
import { ENDPOINT_ENV } from './env';
import { DEFAULT_METRICS_NAMESPACE } from './metric-names';
import { normalizeGuid } from './shared-data';
import {
  TeamsBotValidationError,
  WARNING_PREFIX,
  durationSeconds,
  normalizeBaseUrl,
  validateGuid,
  validateHost,
  validateHttpsUrl,
  validateInteger,
  validatePath,
  validateScope,
} from './validation';
import { BotCloud, BotCloudEndpoints } from '../bot-cloud';
import { BotLogLevel } from '../log-level';
import type { BotAlarmOptions } from '../monitoring';
import type { TeamsDelegatedAuthBotProps } from '../teams-delegated-auth-bot';

/** Teams SSO settings with their defaults applied. */
export interface ResolvedSso {
  readonly enabled: boolean;
  /** Application ID URI (`tokenExchangeResource.uri`). */
  readonly resource: string;
  readonly scope: string;
}

/** Memory and timeout of one function, validated. */
export interface ResolvedFunctionSize {
  readonly memorySize: number;
  readonly timeout: Duration;
}

/**
 * Every prop of `TeamsDelegatedAuthBot`, validated once with its default applied: the builders read only this.
 * Values may still be tokens where the props allow them (ids, tenant lists, scopes). GUIDs (app and tenant ids) are in
 * their one spelling, lower case (`normalizeGuid`): the IAM conditions, the environment and the outputs carry it.
 */
export interface ResolvedBotProps {
  readonly appId: string;
  readonly tenantId: string;
  readonly allowedTenantIds: string[];
  /** The allowed tenants when every id is a literal (KMS conditions name them); undefined otherwise. */
  readonly literalTenantIds?: string[];
  readonly graphScopes: string[];
  readonly messagingPath: string;
  readonly callbackPath: string;
  /** The custom-domain base URL, normalized without a trailing slash. */
  readonly publicBaseUrl?: string;
  readonly cloud: BotCloud;
  readonly endpoints: BotCloudEndpoints;
  readonly pendingTtlSeconds: number;
  readonly signInTtlSeconds: number;
  readonly maxPendingMessages: number;
  readonly sso: ResolvedSso;
  readonly receiver: ResolvedFunctionSize;
  /** Size of the default or assistant worker (validated even when `props.worker` replaces it). */
  readonly worker: ResolvedFunctionSize;
  /** The assistant worker's settings (undefined: the default worker or `props.worker`). */
  readonly assistant?: ResolvedAssistant;
  readonly workerMaxEventAge: Duration;
  readonly workerRetryAttempts: number;
  readonly removalPolicy: RemovalPolicy;
  readonly logRetention: logs.RetentionDays;
  readonly logLevel: BotLogLevel;
  readonly tracing: lambda.Tracing;
  readonly metricsNamespace: string;
  readonly alarms: ResolvedAlarms;
  readonly dashboard: boolean;
  readonly receiverReservedConcurrency?: number;
  readonly workerReservedConcurrency?: number;
}

/** Alarm settings with their defaults; a threshold of 0 means no alarm. */
export interface ResolvedAlarms {
  readonly enabled: boolean;
  readonly actions: cloudwatch.IAlarmAction[];
  readonly failedMessages: number;
  readonly receiverErrors: number;
  readonly workerErrors: number;
  readonly throttles: number;
  readonly authRefusals: number;
}

/** Validates `props` eagerly (before any resource exists) and applies the documented defaults. */
export function resolveBotProps(scope: IConstruct, props: TeamsDelegatedAuthBotProps): ResolvedBotProps {
  validateGuid(scope, 'appId', props.appId, 'the Microsoft App ID (Application (client) ID)');
  validateGuid(scope, 'tenantId', props.tenantId, 'the Directory (tenant) ID');
  const appId = normalizeGuid(props.appId);
  const tenantId = normalizeGuid(props.tenantId);
  const allowedTenantIds = resolveTenants(scope, props.allowedTenantIds ?? [props.tenantId]);
  if (props.worker !== undefined && props.assistant !== undefined) {
    throw new TeamsBotValidationError(scope, 'assistant', { modelId: props.assistant.modelId },
      `worker and assistant are mutually exclusive (the assistant is the worker): keep your own worker (${props.worker.node.path}) or the assistant, not both`);
  }
  const assistant = props.assistant === undefined ? undefined : resolveAssistant(scope, props.assistant);
  const graphScopes = withScopes(scope, resolveGraphScopes(scope, props.graphScopes ?? ['User.Read']), assistant?.scopes ?? []);
  const { messagingPath, callbackPath } = resolvePaths(scope, props);
  const publicBaseUrl = props.publicBaseUrl !== undefined ? normalizeBaseUrl(scope, 'publicBaseUrl', props.publicBaseUrl) : undefined;
  const endpoints = resolveEndpoints(scope, props.endpoints ?? {});
  const pendingTtlSeconds = durationSeconds(scope, 'pendingMessageTtl', props.pendingMessageTtl ?? Duration.hours(24), Duration.minutes(1), Duration.days(14));
  const signInTtlSeconds = durationSeconds(scope, 'signInTimeout', props.signInTimeout ?? Duration.minutes(10), Duration.minutes(1), Duration.hours(1));
  const maxPendingMessages = props.maxPendingMessages ?? 25;
  validateInteger(scope, 'maxPendingMessages', maxPendingMessages, 1, 1000);
  const { receiver, worker } = resolveSizes(scope, props);
  const workerMaxEventAge = props.workerMaxEventAge ?? Duration.hours(1);
  durationSeconds(scope, 'workerMaxEventAge', workerMaxEventAge, Duration.minutes(1), Duration.hours(6));
  const workerRetryAttempts = props.workerRetryAttempts ?? 2;
  validateInteger(scope, 'workerRetryAttempts', workerRetryAttempts, 0, 2);
  const sso = resolveSso(scope, props, appId);
  const cloud = props.cloud ?? BotCloud.PUBLIC;
  validateOneScopeResource(scope, graphScopes, endpoints.graphBaseUrl ?? cloud.graphBaseUrl);
  warnAboutIgnoredOrSurprisingProps(scope, props);
  const operations = resolveOperations(scope, props);
  const literal = !Token.isUnresolved(allowedTenantIds) && allowedTenantIds.every((t) => !Token.isUnresolved(t));
  return {
    appId,
    tenantId,
    allowedTenantIds,
    literalTenantIds: literal ? [...allowedTenantIds] : undefined,
    graphScopes,
    messagingPath,
    callbackPath,
    publicBaseUrl,
    cloud,
    endpoints,
    pendingTtlSeconds,
    signInTtlSeconds,
    maxPendingMessages,
    sso,
    receiver,
    worker,
    assistant,
    workerMaxEventAge,
    workerRetryAttempts,
    removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
    logRetention: props.logRetention ?? logs.RetentionDays.ONE_MONTH,
    logLevel: props.logLevel ?? BotLogLevel.INFO,
    tracing: props.tracing ?? lambda.Tracing.DISABLED,
    ...operations,
  };
}

type Operations = Pick<ResolvedBotProps, 'metricsNamespace' | 'alarms' | 'dashboard' | 'receiverReservedConcurrency' | 'workerReservedConcurrency'>;

/** Metrics namespace, alarms, dashboard and reserved concurrency. */
function resolveOperations(scope: IConstruct, props: TeamsDelegatedAuthBotProps): Operations {
  const metricsNamespace = props.metricsNamespace ?? DEFAULT_METRICS_NAMESPACE;
  if (!Token.isUnresolved(metricsNamespace) && (!/^[A-Za-z0-9._#:/ -]{1,255}$/.test(metricsNamespace) || metricsNamespace.startsWith('AWS/'))) {
    throw new TeamsBotValidationError(scope, 'metricsNamespace', metricsNamespace,
      'expected a CloudWatch namespace of 1-255 characters (letters, digits, . - _ / # : and spaces) not starting with "AWS/"');
  }
  for (const prop of ['receiverReservedConcurrency', 'workerReservedConcurrency'] as const) {
    if (props[prop] !== undefined) validateInteger(scope, prop, props[prop], 1, 100000);
  }
  const a = props.alarms ?? {};
  const threshold = (prop: keyof BotAlarmOptions, value: number | undefined, fallback: number): number => {
    const v = value ?? fallback;
    validateInteger(scope, `alarms.${prop}`, v, 0, 1000000);
    return v;
  };
  const actions = [...(a.topic ? [new cloudwatchActions.SnsAction(a.topic)] : []), ...(a.alarmActions ?? [])];
  return {
    metricsNamespace,
    alarms: {
      enabled: a.enabled ?? true,
      actions,
      failedMessages: threshold('failedMessagesThreshold', a.failedMessagesThreshold, 1),
      receiverErrors: threshold('receiverErrorsThreshold', a.receiverErrorsThreshold, 1),
      workerErrors: threshold('workerErrorsThreshold', a.workerErrorsThreshold, 3),
      throttles: threshold('throttlesThreshold', a.throttlesThreshold, 1),
      authRefusals: threshold('authRefusalsThreshold', a.authRefusalsThreshold, 0),
    },
    dashboard: props.dashboard ?? false,
    receiverReservedConcurrency: props.receiverReservedConcurrency,
    workerReservedConcurrency: props.workerReservedConcurrency,
  };
}

function resolveTenants(scope: IConstruct, allowedTenantIds: string[]): string[] {
  if (!Token.isUnresolved(allowedTenantIds)) {
    if (allowedTenantIds.length === 0) {
      throw new TeamsBotValidationError(scope, 'allowedTenantIds', allowedTenantIds,
        'list at least one tenant id (omit the prop to allow only tenantId)');
    }
    allowedTenantIds.forEach((t, i) => validateGuid(scope, `allowedTenantIds[${i}]`, t, 'a tenant id'));
    // One spelling, each tenant once (the IAM condition lists each value once).
    return [...new Set(allowedTenantIds.map(normalizeGuid))];
  }
  return allowedTenantIds;
}

function resolveGraphScopes(scope: IConstruct, graphScopes: string[]): string[] {
  if (!Token.isUnresolved(graphScopes)) {
    if (graphScopes.length === 0) {
      throw new TeamsBotValidationError(scope, 'graphScopes', graphScopes, "list at least one delegated permission, e.g. ['User.Read']");
    }
    graphScopes.forEach((s, i) => validateScope(scope, `graphScopes[${i}]`, s));
  }
  return graphScopes;
}

/**
 * `graphScopes` plus the scopes of the assistant's tools that are not in it yet (compared without case and without a
 * Microsoft Graph URI prefix, so `https://graph.microsoft.com/Mail.Read` already has `Mail.Read`).
 */
function withScopes(scope: IConstruct, graphScopes: string[], extra: string[]): string[] {
  if (extra.length === 0) return graphScopes;
  if (Token.isUnresolved(graphScopes)) {
    Annotations.of(scope).addWarningV2(`${WARNING_PREFIX}:assistantScopesNotAdded`,
      `graphScopes is a token list, so the scopes of the assistant's tools cannot be added to it at synth: include ${extra.join(', ')} in it yourself.`);
    return graphScopes;
  }
  const literal = graphScopes.filter((s) => !Token.isUnresolved(s));
  return [...graphScopes, ...withAssistantScopes(literal, extra).slice(literal.length)];
}

/** OpenID Connect scopes: they name no resource. */
const OIDC_SCOPES = ['openid', 'profile', 'offline_access', 'email'];

/**
 * The resource a delegated scope is for: a short name (`Mail.Read`) is Microsoft Graph's, a URI scope
 * (`https://graph.microsoft.com/Mail.Read`, `api://botid-…/access_as_user`) names its resource before the last `/`.
 */
function scopeResource(value: string, graphResource: string): string | undefined {
  if (OIDC_SCOPES.includes(value.toLowerCase())) return undefined;
  const slash = value.lastIndexOf('/');
  if (slash < 0 || !value.includes(':')) return graphResource;
  return value.slice(0, slash).replace(/\/+$/, '').toLowerCase();
}

/**
 * Entra ID issues an access token for one resource per request: scopes of two resources in one sign-in fail at
 * sign-in (AADSTS28000 / AADSTS70011). Fails at synth instead, naming both.
 */
function validateOneScopeResource(scope: IConstruct, graphScopes: string[], graphBaseUrl: string): void {
  if (Token.isUnresolved(graphScopes) || Token.isUnresolved(graphBaseUrl) || graphScopes.some((s) => Token.isUnresolved(s))) return;
  const graphResource = graphBaseUrl.replace(/\/+$/, '').toLowerCase();
  const byResource = new Map<string, string[]>();
  for (const s of graphScopes) {
    const resource = scopeResource(s, graphResource);
    if (resource !== undefined) byResource.set(resource, [...(byResource.get(resource) ?? []), s]);
  }
  if (byResource.size > 1) {
    const named = [...byResource.entries()].map(([r, scopes]) => `${r} (${scopes.join(', ')})`).join(' and ');
    throw new TeamsBotValidationError(scope, 'graphScopes', graphScopes,
      `the scopes name ${byResource.size} resources, ${named}; Entra ID issues a token for one resource per sign-in, ` +
      'so list the scopes of one resource (Microsoft Graph: short names such as "Mail.Read")');
  }
}

/** Warnings for props that are ignored in this combination, or that probably do not do what was meant. */
function warnAboutIgnoredOrSurprisingProps(scope: IConstruct, props: TeamsDelegatedAuthBotProps): void {
  if (props.worker !== undefined) {
    const ignored = (['workerTimeout', 'workerMemorySize'] as const).filter((p) => props[p] !== undefined);
    if (ignored.length > 0) {
      Annotations.of(scope).addWarningV2(`${WARNING_PREFIX}:workerSizeIgnored`,
        `${ignored.join(' and ')} size the default worker only and are ignored with your own worker ` +
        `(${props.worker.node.path}): set the timeout and memory size on that function.`);
    }
  }
  const tenants = props.allowedTenantIds;
  if (tenants !== undefined && !Token.isUnresolved(tenants) && !Token.isUnresolved(props.tenantId) &&
      tenants.every((t) => !Token.isUnresolved(t)) && !tenants.some((t) => normalizeGuid(t) === normalizeGuid(props.tenantId))) {
    Annotations.of(scope).addWarningV2(`${WARNING_PREFIX}:homeTenantNotAllowed`,
      `allowedTenantIds does not include the bot's own tenant (tenantId ${props.tenantId}): users of that tenant cannot ` +
      'talk to the bot. Add it to allowedTenantIds unless that is what you want.');
  }
}

function resolvePaths(scope: IConstruct, props: TeamsDelegatedAuthBotProps): { messagingPath: string; callbackPath: string } {
  const messagingPath = props.messagingPath ?? '/api/messages';
  const callbackPath = props.callbackPath ?? '/auth/callback';
  validatePath(scope, 'messagingPath', messagingPath);
  validatePath(scope, 'callbackPath', callbackPath);
  if (messagingPath === callbackPath) {
    throw new TeamsBotValidationError(scope, 'callbackPath', callbackPath, 'must differ from messagingPath');
  }
  return { messagingPath, callbackPath };
}

/** Each override is checked by its kind in the endpoint table. */
function resolveEndpoints(scope: IConstruct, endpoints: BotCloudEndpoints): BotCloudEndpoints {
  for (const { key, kind } of ENDPOINT_ENV) {
    const value = endpoints[key];
    if (value === undefined) continue;
    const prop = `endpoints.${key}`;
    if (kind === 'url') {
      validateHttpsUrl(scope, prop, value as string);
    } else if (!Token.isUnresolved(value)) {
      const hosts = value as string[];
      if (hosts.length === 0) {
        throw new TeamsBotValidationError(scope, prop, [], 'list at least one host, or omit it to use the cloud profile');
      }
      hosts.forEach((h, i) => validateHost(scope, `${prop}[${i}]`, h));
    }
  }
  return endpoints;
}

function resolveSizes(scope: IConstruct, props: TeamsDelegatedAuthBotProps): { receiver: ResolvedFunctionSize; worker: ResolvedFunctionSize } {
  const receiverMemorySize = props.receiverMemorySize ?? 512;
  // The assistant streams model answers with tool calls between them: more time, and more memory (hence CPU) to load it.
  const assistant = props.assistant !== undefined;
  const workerMemorySize = props.workerMemorySize ?? (assistant ? 1024 : 512);
  validateInteger(scope, 'receiverMemorySize', receiverMemorySize, 128, 10240);
  validateInteger(scope, 'workerMemorySize', workerMemorySize, 128, 10240);
  const receiverTimeout = props.receiverTimeout ?? Duration.seconds(30);
  const workerTimeout = props.workerTimeout ?? (assistant ? Duration.minutes(5) : Duration.minutes(1));
  durationSeconds(scope, 'receiverTimeout', receiverTimeout, Duration.seconds(3), Duration.minutes(15));
  durationSeconds(scope, 'workerTimeout', workerTimeout, Duration.seconds(3), Duration.minutes(15));
  return {
    receiver: { memorySize: receiverMemorySize, timeout: receiverTimeout },
    worker: { memorySize: workerMemorySize, timeout: workerTimeout },
  };
}

function resolveSso(scope: IConstruct, props: TeamsDelegatedAuthBotProps, appId: string): ResolvedSso {
  const sso = props.sso;
  const resource = sso?.applicationIdUri ?? `api://botid-${appId}`;
  const ssoScope = sso?.scope ?? 'access_as_user';
  if (!Token.isUnresolved(ssoScope)) validateScope(scope, 'sso.scope', ssoScope);
  if (sso?.applicationIdUri !== undefined && !Token.isUnresolved(sso.applicationIdUri) && !/^(api|https):\/\/\S+$/.test(sso.applicationIdUri)) {
    throw new TeamsBotValidationError(scope, 'sso.applicationIdUri', sso.applicationIdUri,
      'expected the Application ID URI of the app registration, e.g. "api://botid-<appId>"');
  }
  return { enabled: sso !== undefined && (sso.enabled ?? true), resource, scope: ssoScope };
}
