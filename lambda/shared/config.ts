/**
 * Handler configuration: every environment variable the handlers read, resolved once per container.
 *
 * Variable names come from `src/private/env.ts` (the construct sets them from the same list); endpoint defaults come
 * from the cloud profile (`src/private/cloud-profiles.ts`), each overridable by its own `TDAB_*` variable.
 * Documented in docs/configuration.md.
 */
import { CLOUD_PROFILES, CloudProfileValues } from '../../src/private/cloud-profiles';
import { ENV } from '../../src/private/env';
import { isHttpsOrLoopback, isPathSafeId, isRoutePath, isScope, isServiceUrlHost, normalizeGuid } from '../../src/private/shared-data';

/** A cloud profile name (`TDAB_CLOUD`). */
export type CloudName = CloudProfileValues['name'];

/** Log levels accepted by `TDAB_LOG_LEVEL`. */
export type LogLevelName = 'debug' | 'info' | 'warn' | 'error';

/** The resolved, validated configuration of a handler. */
export interface ResolvedConfig {
  /** The bot's Microsoft App ID (`TDAB_APP_ID`; a GUID in lower case). */
  appId: string;
  /** The bot's home tenant (`TDAB_TENANT_ID`; a GUID in lower case). */
  tenantId: string;
  /** Tenants whose users may talk to the bot (`TDAB_ALLOWED_TENANT_IDS`, default `[tenantId]`; GUIDs in lower case). */
  allowedTenantIds: string[];
  /** Cloud profile (`TDAB_CLOUD`, default `public`). */
  cloud: CloudName;
  /** Bot Framework OpenID metadata URL (rule 2). */
  botOpenIdMetadataUrl: string;
  /** Issuer of inbound Bot Connector JWTs (rule 3). */
  botTokenIssuer: string;
  /** Entra ID authority, no trailing slash. */
  entraAuthority: string;
  /** Scope of the bot's outbound app token. */
  botConnectorScope: string;
  /** Microsoft Graph base URL, no trailing slash. */
  graphBaseUrl: string;
  /** Resource prefix of delegated Graph scopes (from the cloud profile; not overridable). */
  graphResource: string;
  /** Allowed `serviceUrl` hosts / origins (see {@link isAllowedServiceUrl} in botframework-auth.ts). */
  serviceUrlHosts: string[];
  /** Secrets Manager secret ARN (`TDAB_SECRET_ARN`). */
  secretArn?: string;
  /** KMS key ARN (`TDAB_KMS_KEY_ARN`). */
  kmsKeyArn?: string;
  /** Token table name (`TDAB_TOKEN_TABLE`). */
  tokenTable?: string;
  /** Conversation table name (`TDAB_CONVERSATION_TABLE`). */
  conversationTable?: string;
  /** Worker function name or ARN (`TDAB_WORKER_FUNCTION`). */
  workerFunction?: string;
  /** SSM parameter name holding the public base URL (`TDAB_BASE_URL_PARAMETER`). */
  baseUrlParameter?: string;
  /** Public base URL, no trailing slash (`TDAB_PUBLIC_BASE_URL`); wins over `baseUrlParameter`. */
  publicBaseUrl?: string;
  /** Messaging endpoint path (default `/api/messages`). */
  messagingPath: string;
  /** OAuth callback path (default `/auth/callback`). */
  callbackPath: string;
  /** Delegated Graph scopes without the resource prefix (default `['User.Read']`). */
  graphScopes: string[];
  /** Seconds a waiting message is kept (default 86400). */
  pendingTtlSeconds: number;
  /** Seconds a sign-in state is valid (default 600). */
  signinTtlSeconds: number;
  /** Messages kept per user while they sign in (default 25). */
  maxPendingMessages: number;
  /** Teams SSO (token exchange) settings. */
  sso: { enabled: boolean; resource: string; scope: string };
  /** Log level (`TDAB_LOG_LEVEL`, default `info`). */
  logLevel: LogLevelName;
}

/**
 * A deployment problem an administrator must fix: a missing or invalid variable (then `variable` names it), a
 * placeholder secret, a missing parameter. The message is safe to log: it never echoes a secret value. The one
 * configuration error class of the handlers (config, bot secret, receiver context).
 */
export class ConfigurationError extends Error {
  /** The environment variable at fault, when there is one. */
  readonly variable?: string;
  constructor(message: string, variable?: string) {
    super(message);
    this.name = 'ConfigurationError';
    this.variable = variable;
  }
}

/** The error for an invalid or missing variable: `Invalid configuration: {variable} {problem}`. */
function invalid(variable: string, problem: string): ConfigurationError {
  return new ConfigurationError(`Invalid configuration: ${variable} ${problem}`, variable);
}

const LOG_LEVELS: readonly LogLevelName[] = ['debug', 'info', 'warn', 'error'];

function raw(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const v = env[name];
  if (v === undefined) return undefined;
  const t = v.trim();
  return t === '' ? undefined : t;
}

function required(env: NodeJS.ProcessEnv, name: string): string {
  const v = raw(env, name);
  if (v === undefined) throw invalid(name, 'is required but not set');
  return v;
}

/** An app or tenant id; a GUID in its one spelling, lower case (`normalizeGuid`), however the variable spells it. */
function id(name: string, value: string): string {
  if (!isPathSafeId(value)) {
    throw invalid(name, 'must be an identifier (letters, digits, ".", "_", "-"; e.g. a GUID)');
  }
  return normalizeGuid(value);
}

/**
 * Validates an endpoint URL: https, or http on a loopback host (tests). No credentials, query or fragment.
 * Returns it without a trailing slash.
 */
function endpointUrl(name: string, value: string): string {
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    throw invalid(name, 'must be an absolute URL');
  }
  if (!isHttpsOrLoopback(u)) {
    throw invalid(name, 'must use https (plain http only for 127.0.0.1/localhost)');
  }
  if (u.username || u.password) throw invalid(name, 'must not contain credentials');
  if (u.search || u.hash) throw invalid(name, 'must not contain a query or fragment');
  return u.href.replace(/\/+$/, '');
}

/**
 * Validates one serviceUrl allow-list entry: a host name (`smba.trafficmanager.net`), a wildcard (`*.botframework.com`)
 * or an origin (`https://host[:port]`, or `http://127.0.0.1:PORT` for tests). Returns it normalized (lower case).
 */
export function normalizeServiceUrlHostEntry(entry: string, variable: string = ENV.SERVICE_URL_HOSTS): string {
  const e = entry.trim().toLowerCase();
  if (e.includes('://')) {
    let u: URL;
    try {
      u = new URL(e);
    } catch {
      throw invalid(variable, `has an invalid origin entry "${e}"`);
    }
    if (!isHttpsOrLoopback(u)) {
      throw invalid(variable, `entry "${e}" must use https (http only for 127.0.0.1/localhost)`);
    }
    if (u.username || u.password || u.search || u.hash || (u.pathname !== '/' && u.pathname !== '')) {
      throw invalid(variable, `entry "${e}" must be an origin (scheme, host, optional port) only`);
    }
    return u.origin;
  }
  if (!isServiceUrlHost(e)) {
    throw invalid(variable, `has an invalid host entry "${e}" (use host, *.domain or https://host:port)`);
  }
  return e;
}

function list(value: string | undefined, sep: RegExp): string[] {
  if (value === undefined) return [];
  return value.split(sep).map((s) => s.trim()).filter((s) => s !== '');
}

function positiveInt(env: NodeJS.ProcessEnv, name: string, def: number): number {
  const v = raw(env, name);
  if (v === undefined) return def;
  if (!/^[0-9]{1,10}$/.test(v) || Number(v) <= 0) throw invalid(name, 'must be a positive integer (seconds)');
  return Number(v);
}

function bool(env: NodeJS.ProcessEnv, name: string, def: boolean): boolean {
  const v = raw(env, name);
  if (v === undefined) return def;
  const l = v.toLowerCase();
  if (l === 'true') return true;
  if (l === 'false') return false;
  throw invalid(name, 'must be "true" or "false"');
}

function path(env: NodeJS.ProcessEnv, name: string, def: string): string {
  const given = raw(env, name) ?? def;
  const v = given.length > 1 ? given.replace(/\/$/, '') : given;
  if (!isRoutePath(v)) {
    throw invalid(name, 'must be a URL path such as "/api/messages" (segments of letters, digits, "._~-", no "//")');
  }
  return v;
}

function cloudProfileOf(env: NodeJS.ProcessEnv): (typeof CLOUD_PROFILES)[CloudName] {
  const cloudName = (raw(env, ENV.CLOUD) ?? 'public').toLowerCase();
  if (!Object.prototype.hasOwnProperty.call(CLOUD_PROFILES, cloudName)) {
    throw invalid(ENV.CLOUD, `must be one of ${Object.keys(CLOUD_PROFILES).join(', ')}`);
  }
  return CLOUD_PROFILES[cloudName as CloudName];
}

function serviceUrlHostsOf(env: NodeJS.ProcessEnv, defaults: readonly string[]): string[] {
  const hostsRaw = raw(env, ENV.SERVICE_URL_HOSTS);
  const serviceUrlHosts = hostsRaw === undefined
    ? [...defaults]
    : list(hostsRaw, /,/).map((h) => normalizeServiceUrlHostEntry(h, ENV.SERVICE_URL_HOSTS));
  if (serviceUrlHosts.length === 0) throw invalid(ENV.SERVICE_URL_HOSTS, 'must list at least one host');
  return serviceUrlHosts;
}

function graphScopesOf(env: NodeJS.ProcessEnv): string[] {
  const graphScopes = list(raw(env, ENV.GRAPH_SCOPES), /[\s,]+/);
  for (const s of graphScopes) {
    if (!isScope(s)) throw invalid(ENV.GRAPH_SCOPES, `has an invalid scope "${s}"`);
  }
  return graphScopes.length > 0 ? graphScopes : ['User.Read'];
}

function ssoOf(env: NodeJS.ProcessEnv, appId: string): ResolvedConfig['sso'] {
  const ssoScope = raw(env, ENV.SSO_SCOPE) ?? 'access_as_user';
  if (/\s/.test(ssoScope)) throw invalid(ENV.SSO_SCOPE, 'must be a single scope');
  const ssoResource = raw(env, ENV.SSO_RESOURCE) ?? `api://botid-${appId}`;
  if (/\s/.test(ssoResource)) throw invalid(ENV.SSO_RESOURCE, 'must not contain spaces');
  return { enabled: bool(env, ENV.SSO_ENABLED, false), resource: ssoResource, scope: ssoScope };
}

function logLevelOf(env: NodeJS.ProcessEnv): LogLevelName {
  const level = (raw(env, ENV.LOG_LEVEL) ?? 'info').toLowerCase();
  if (!(LOG_LEVELS as readonly string[]).includes(level)) {
    throw invalid(ENV.LOG_LEVEL, `must be one of ${LOG_LEVELS.join(', ')}`);
  }
  return level as LogLevelName;
}

function routePathsOf(env: NodeJS.ProcessEnv): { messagingPath: string; callbackPath: string } {
  const messagingPath = path(env, ENV.MESSAGING_PATH, '/api/messages');
  const callbackPath = path(env, ENV.CALLBACK_PATH, '/auth/callback');
  if (messagingPath === callbackPath) {
    throw invalid(ENV.CALLBACK_PATH, `must differ from ${ENV.MESSAGING_PATH}`);
  }
  return { messagingPath, callbackPath };
}

function resolve(env: NodeJS.ProcessEnv): ResolvedConfig {
  const appId = id(ENV.APP_ID, required(env, ENV.APP_ID));
  const tenantId = id(ENV.TENANT_ID, required(env, ENV.TENANT_ID));
  const profile = cloudProfileOf(env);

  const allowed = list(raw(env, ENV.ALLOWED_TENANT_IDS), /[,\s]+/).map((t) => id(ENV.ALLOWED_TENANT_IDS, t));
  const allowedTenantIds = allowed.length > 0 ? [...new Set(allowed)] : [tenantId];

  const override = (name: string, def: string): string => endpointUrl(name, raw(env, name) ?? def);

  const botConnectorScope = raw(env, ENV.BOT_CONNECTOR_SCOPE) ?? profile.botConnectorScope;
  if (/\s/.test(botConnectorScope)) throw invalid(ENV.BOT_CONNECTOR_SCOPE, 'must be a single scope');

  // The issuer is compared exactly (rule 3): validate it as a URL but keep the string as given.
  const botTokenIssuer = raw(env, ENV.BOT_TOKEN_ISSUER) ?? profile.botTokenIssuer;
  endpointUrl(ENV.BOT_TOKEN_ISSUER, botTokenIssuer);

  const serviceUrlHosts = serviceUrlHostsOf(env, profile.serviceUrlHosts);
  const publicBaseUrlRaw = raw(env, ENV.PUBLIC_BASE_URL);
  const publicBaseUrl = publicBaseUrlRaw === undefined ? undefined : endpointUrl(ENV.PUBLIC_BASE_URL, publicBaseUrlRaw);
  const graphScopes = graphScopesOf(env);
  const sso = ssoOf(env, appId);
  const logLevel = logLevelOf(env);
  const { messagingPath, callbackPath } = routePathsOf(env);

  return {
    appId,
    tenantId,
    allowedTenantIds,
    cloud: profile.name,
    botOpenIdMetadataUrl: override(ENV.BOT_OPENID_METADATA_URL, profile.botOpenIdMetadataUrl),
    botTokenIssuer,
    entraAuthority: override(ENV.ENTRA_AUTHORITY, profile.entraAuthority),
    botConnectorScope,
    graphBaseUrl: override(ENV.GRAPH_BASE_URL, profile.graphBaseUrl),
    graphResource: profile.graphResource,
    serviceUrlHosts,
    secretArn: raw(env, ENV.SECRET_ARN),
    kmsKeyArn: raw(env, ENV.KMS_KEY_ARN),
    tokenTable: raw(env, ENV.TOKEN_TABLE),
    conversationTable: raw(env, ENV.CONVERSATION_TABLE),
    workerFunction: raw(env, ENV.WORKER_FUNCTION),
    baseUrlParameter: raw(env, ENV.BASE_URL_PARAMETER),
    publicBaseUrl,
    messagingPath,
    callbackPath,
    graphScopes,
    pendingTtlSeconds: positiveInt(env, ENV.PENDING_TTL_SECONDS, 86400),
    signinTtlSeconds: positiveInt(env, ENV.SIGNIN_TTL_SECONDS, 600),
    maxPendingMessages: positiveInt(env, ENV.MAX_PENDING_MESSAGES, 25),
    sso,
    logLevel,
  };
}

const ENV_NAMES: readonly string[] = Object.values(ENV);
const cache = new WeakMap<object, { fingerprint: string; config: ResolvedConfig }>();

/**
 * Reads and validates the configuration from `env` (default `process.env`). Throws {@link ConfigurationError} naming the
 * missing or invalid variable. Memoized per env object (re-resolved if any `TDAB_*` value changed); the returned
 * object is frozen, so callers cannot change each other's view.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): ResolvedConfig {
  const fingerprint = ENV_NAMES.map((n) => env[n] ?? '\u0000').join('\u0001');
  const hit = cache.get(env);
  if (hit && hit.fingerprint === fingerprint) return hit.config;
  const config = deepFreeze(resolve(env));
  cache.set(env, { fingerprint, config });
  return config;
}

/** The value of an optional config field, or a {@link ConfigurationError} naming its variable (for handler start-up). */
export function requireConfigValue<K extends keyof typeof OPTIONAL_VARS>(config: ResolvedConfig, key: K): string {
  const v = config[key];
  if (v === undefined || v === '') throw invalid(OPTIONAL_VARS[key], 'is required by this handler but not set');
  return v;
}

/** The environment variable behind each optional field of {@link ResolvedConfig}. */
export const OPTIONAL_VARS = {
  secretArn: ENV.SECRET_ARN,
  kmsKeyArn: ENV.KMS_KEY_ARN,
  tokenTable: ENV.TOKEN_TABLE,
  conversationTable: ENV.CONVERSATION_TABLE,
  workerFunction: ENV.WORKER_FUNCTION,
  baseUrlParameter: ENV.BASE_URL_PARAMETER,
  publicBaseUrl: ENV.PUBLIC_BASE_URL,
} as const;

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object' && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o as Record<string, unknown>)) deepFreeze(v);
  }
  return o;
}
