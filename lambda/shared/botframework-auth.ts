/**
 * Inbound Bot Framework authentication: every request from the Bot Connector Service carries a JWT that must pass
 * all nine rules of the design brief (section 2) before anything else happens.
 *
 * | # | rule | where |
 * |---|---|---|
 * | 1 | `Authorization: Bearer <JWT>` (scheme case-insensitive; one or more spaces, nothing around) | {@link parseAuthorization} |
 * | 2 | keys from the OpenID metadata's `jwks_uri` | {@link BotFrameworkAuthenticator} (key cache) |
 * | 3 | `iss` exactly the configured issuer | jose `issuer` |
 * | 4 | `aud` = the bot's App ID, a single string (an array is refused, as botframework-connector does) | jose `audience`, here |
 * | 5 | `exp` required, `exp`/`nbf` with 300 s skew | jose `requiredClaims`, `clockTolerance` |
 * | 6 | signature by a JWKS key, alg listed in the metadata (asymmetric only); unknown `crit` rejects | jose `algorithms`, `crit` |
 * | 7 | `serviceurl` claim equals the activity's `serviceUrl`, both present (exact, as botframework-connector compares) | here |
 * | 8 | the activity's `channelId` present and in the signing key's `endorsements` | here |
 * | 9 | keys cached 24 h; unknown `kid` refetches, at most once per `keyRefetchMinIntervalMs` (5 min) | key cache |
 *
 * The Bot Connector sends the same token with every activity until it renews it (its tokens live an hour), so the
 * container remembers the last {@link MAX_VERIFIED_TOKENS} tokens it verified, keyed by their exact text: a token
 * seen again skips the signature and the time-independent claims (rules 3, 4 and 6, which depend on nothing but the
 * token and its key) while its key is still the one the current metadata holds for its `kid` and the metadata has
 * not expired. Every other rule runs on every request: 1 and the allow-list, 5 (`exp`/`nbf` against the clock), 7 and
 * 8 (the activity's `serviceUrl` and `channelId`).
 *
 * On top of the rules, the activity's `serviceUrl` must be on the cloud's allow-list ({@link isAllowedServiceUrl}),
 * checked before any I/O. Every failure is an {@link AuthError} with a short machine `reason`; the token never
 * appears in an error or a log line.
 */
import { createPublicKey, KeyObject } from 'node:crypto';
// eslint-disable-next-line import/no-extraneous-dependencies -- esbuild bundles handler dependencies (devDependencies)
import { decodeProtectedHeader, errors as joseErrors, jwtVerify, JWTPayload } from 'jose';
import type { ResolvedConfig } from './config';
import { httpRequest } from './http';
import { log, sanitizeUrl } from './log';
import { isHttpsOrLoopback } from '../../src/private/shared-data';

/** Machine-readable reasons of an {@link AuthError}. */
export type AuthFailureReason =
  | 'missing_authorization'
  | 'bad_scheme'
  | 'malformed_token'
  | 'missing_service_url'
  | 'missing_channel_id'
  | 'serviceurl_not_allowed'
  | 'alg_not_allowed'
  | 'unknown_kid'
  | 'bad_signature'
  | 'crit_not_supported'
  | 'issuer'
  | 'audience'
  | 'expired'
  | 'not_yet_valid'
  | 'missing_exp'
  | 'invalid_claims'
  | 'serviceurl_mismatch'
  | 'channel_not_endorsed'
  | 'metadata_unavailable';

/** Authentication failed: the receiver answers 401. `reason` is safe to log; the message never holds the token. */
export class AuthError extends Error {
  /** Short machine reason, e.g. `bad_signature`. */
  readonly reason: AuthFailureReason;
  constructor(reason: AuthFailureReason, message?: string) {
    super(message ?? `Bot Framework authentication failed: ${reason}`);
    this.name = 'AuthError';
    this.reason = reason;
  }
}

/** Options of {@link BotFrameworkAuthenticator}. */
export interface BotFrameworkAuthOptions {
  /** The bot's Microsoft App ID: the required `aud`. */
  appId: string;
  /** OpenID metadata URL (rule 2). */
  openIdMetadataUrl: string;
  /** Required `iss`, compared exactly (rule 3). */
  issuer: string;
  /** Allowed `serviceUrl` hosts / origins (see {@link isAllowedServiceUrl}). */
  serviceUrlHosts: readonly string[];
  /** Least time between two key refetches caused by unknown `kid`s (default 5 minutes). */
  keyRefetchMinIntervalMs?: number;
  /** How long fetched metadata and keys are used before a refresh (default 24 hours). */
  cacheTtlMs?: number;
  /** Clock skew allowed for `exp`/`nbf`, in seconds (default 300). */
  clockToleranceSec?: number;
  /** Clock in epoch milliseconds (tests). */
  now?: () => number;
  /** Timeout of each metadata/JWKS request (default 5000 ms). */
  timeoutMs?: number;
  /**
   * Least time between two fetch attempts while no keys have ever been loaded (default 10 s, capped by
   * `keyRefetchMinIntervalMs`): a cold container recovers quickly from one failed fetch without hammering an
   * endpoint that is down.
   */
  coldRetryIntervalMs?: number;
}

/** Algorithms the validator will ever accept (asymmetric only: never `none`, never HS*). */
export const ASYMMETRIC_ALGORITHMS: readonly string[] = [
  'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512',
];

const DEFAULT_REFETCH_MS = 5 * 60 * 1000;
const DEFAULT_CACHE_TTL_MS = 24 * 60 * 60 * 1000;
const DEFAULT_COLD_RETRY_MS = 10 * 1000;

interface CachedKey {
  key: KeyObject;
  endorsements: readonly string[];
  alg?: string;
}

interface KeyCache {
  keys: Map<string, CachedKey>;
  algorithms: string[];
  fetchedAt: number;
}

/** A token this container verified: its claims and the key that verified it. */
interface VerifiedToken {
  payload: JWTPayload;
  kid: string;
  key: CachedKey;
}

/** How many verified tokens a container remembers (the Bot Connector renews its token hourly; one per cloud). */
export const MAX_VERIFIED_TOKENS = 32;

/**
 * Parses `Authorization: <scheme> <token>`; the scheme must be Bearer in any case, separated from the token by one or
 * more spaces (RFC 7235 `1*SP`: no tab), with no whitespace before the scheme or after the token (botframework-connector
 * refuses both); the token a compact JWS (three base64url segments). Returns the token.
 */
export function parseAuthorization(authorization: string | undefined): string {
  if (typeof authorization !== 'string' || authorization.trim() === '') throw new AuthError('missing_authorization');
  const m = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+) +(\S+)$/.exec(authorization);
  if (!m || m[1].toLowerCase() !== 'bearer') throw new AuthError('bad_scheme');
  const token = m[2];
  if (!/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/.test(token) || token.length > 16384) {
    throw new AuthError('malformed_token');
  }
  return token;
}

/**
 * True when `serviceUrl` may be trusted as a Bot Connector endpoint: it parses, carries no credentials, and its
 * host matches an entry of `hosts`:
 * - `host.example.com`: https on the default port, exact host;
 * - `*.example.com`: https on the default port, any subdomain of example.com (not example.com itself);
 * - `https://host:port` or `http://127.0.0.1:PORT` (tests): the same origin exactly (plain http only for loopback).
 */
export function isAllowedServiceUrl(serviceUrl: string, hosts: readonly string[]): boolean {
  if (typeof serviceUrl !== 'string' || serviceUrl === '' || serviceUrl.length > 2048) return false;
  // A container sees a handful of service URLs (one per region), each checked twice per request (authentication and
  // the Bot Connector client): the allowed ones are remembered per allow-list. A refusal is never remembered.
  const listKey = JSON.stringify(hosts);
  let allowed = allowedServiceUrls.get(listKey);
  if (allowed?.has(serviceUrl)) return true;
  if (!checkServiceUrl(serviceUrl, hosts)) return false;
  if (!allowed) {
    if (allowedServiceUrls.size >= MAX_ALLOW_LISTS) allowedServiceUrls.clear();
    allowedServiceUrls.set(listKey, (allowed = new Set()));
  }
  allowed.add(serviceUrl);
  if (allowed.size > MAX_ALLOWED_SERVICE_URLS) allowed.delete(allowed.values().next().value as string);
  return true;
}

/** Service URLs found allowed, per allow-list (JSON of the list), oldest first. */
const allowedServiceUrls = new Map<string, Set<string>>();
const MAX_ALLOWED_SERVICE_URLS = 64;
const MAX_ALLOW_LISTS = 8;

function checkServiceUrl(serviceUrl: string, hosts: readonly string[]): boolean {
  let u: URL;
  try {
    u = new URL(serviceUrl);
  } catch {
    return false;
  }
  if (u.username || u.password) return false;
  const host = u.hostname.toLowerCase();
  for (const raw of hosts) {
    const entry = raw.trim().toLowerCase();
    if (entry === '') continue;
    if (entry.includes('://')) {
      let e: URL;
      try {
        e = new URL(entry);
      } catch {
        continue;
      }
      if (isHttpsOrLoopback(e) && u.origin === e.origin) return true;
      continue;
    }
    if (u.protocol !== 'https:' || u.port !== '') continue;
    if (entry.startsWith('*.')) {
      const suffix = entry.slice(1); // ".example.com"
      if (host.endsWith(suffix) && host.length > suffix.length) return true;
    } else if (host === entry) {
      return true;
    }
  }
  return false;
}

function fail(reason: AuthFailureReason): never {
  throw new AuthError(reason);
}

/** Maps a jose error to a reason (never its message: jose messages can quote claim values). */
function reasonFromJose(err: unknown): AuthFailureReason {
  if (err instanceof AuthError) return err.reason;
  if (err instanceof joseErrors.JWTExpired) return 'expired';
  if (err instanceof joseErrors.JWTClaimValidationFailed) {
    if (err.claim === 'iss') return 'issuer';
    if (err.claim === 'aud') return 'audience';
    if (err.claim === 'nbf') return 'not_yet_valid';
    if (err.claim === 'exp') return err.reason === 'missing' ? 'missing_exp' : 'invalid_claims';
    return 'invalid_claims';
  }
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) return 'bad_signature';
  if (err instanceof joseErrors.JOSEAlgNotAllowed) return 'alg_not_allowed';
  if (err instanceof joseErrors.JOSENotSupported) return 'crit_not_supported';
  // jose throws a TypeError when the key type does not fit the algorithm (an RSA key for ES256, …).
  if (err instanceof TypeError) return 'alg_not_allowed';
  return 'malformed_token';
}

/**
 * Validates inbound Bot Connector requests (rules 1–9). One instance per container: it caches the OpenID metadata
 * and the signing keys.
 */
export class BotFrameworkAuthenticator {
  private readonly opts: Required<Omit<BotFrameworkAuthOptions, 'now'>> & { now: () => number };
  private cache: KeyCache | undefined;
  private lastAttemptAt = Number.NEGATIVE_INFINITY;
  private inflight: Promise<void> | undefined;
  /** Tokens verified by this container, oldest first (see the module comment). */
  private readonly verified = new Map<string, VerifiedToken>();

  constructor(opts: BotFrameworkAuthOptions) {
    if (!opts.appId) throw new Error('BotFrameworkAuthenticator: appId is required');
    if (!opts.issuer) throw new Error('BotFrameworkAuthenticator: issuer is required');
    if (!opts.openIdMetadataUrl) throw new Error('BotFrameworkAuthenticator: openIdMetadataUrl is required');
    const keyRefetchMinIntervalMs = opts.keyRefetchMinIntervalMs ?? DEFAULT_REFETCH_MS;
    this.opts = {
      appId: opts.appId,
      openIdMetadataUrl: opts.openIdMetadataUrl,
      issuer: opts.issuer,
      serviceUrlHosts: [...opts.serviceUrlHosts],
      keyRefetchMinIntervalMs,
      cacheTtlMs: opts.cacheTtlMs ?? DEFAULT_CACHE_TTL_MS,
      clockToleranceSec: opts.clockToleranceSec ?? 300,
      now: opts.now ?? Date.now,
      timeoutMs: opts.timeoutMs ?? 5000,
      coldRetryIntervalMs: Math.min(opts.coldRetryIntervalMs ?? DEFAULT_COLD_RETRY_MS, keyRefetchMinIntervalMs),
    };
  }

  /**
   * Authenticates one request. `authorization` is the raw header; `activity` the parsed body (only `serviceUrl`
   * and `channelId` are read). Resolves with the verified claims or rejects with {@link AuthError}.
   */
  async authenticate(
    authorization: string | undefined,
    activity: { serviceUrl?: unknown; channelId?: unknown },
  ): Promise<{ claims: Record<string, unknown> }> {
    // Rule 1 and every check that needs no I/O come first, so junk never reaches the metadata endpoint.
    const token = parseAuthorization(authorization);
    const serviceUrl = activity?.serviceUrl;
    const channelId = activity?.channelId;
    if (typeof serviceUrl !== 'string' || serviceUrl === '') fail('missing_service_url');
    if (typeof channelId !== 'string' || channelId === '') fail('missing_channel_id');
    if (!isAllowedServiceUrl(serviceUrl, this.opts.serviceUrlHosts)) fail('serviceurl_not_allowed');

    const { payload, key } = this.verifiedBefore(token) ?? await this.verify(token);
    // Rule 4: one audience, a string (jose accepts an array that contains the app id; botframework-connector does not).
    if (typeof payload.aud !== 'string') fail('audience');
    // Rule 7: exact comparison, as botframework-connector's ChannelValidation does (no trailing-slash tolerance).
    if (typeof payload.serviceurl !== 'string' || payload.serviceurl !== serviceUrl) fail('serviceurl_mismatch');
    // Rule 8.
    if (!key.endorsements.includes(channelId)) fail('channel_not_endorsed');

    return { claims: { ...payload } };
  }

  /**
   * A token this container verified before, when that still holds: its key is the one the current (unexpired) metadata
   * holds for its `kid`, and `exp`/`nbf` pass against the clock now (rule 5, as jose checks them). Otherwise undefined
   * (the token is verified again, which gives the precise reason of a refusal).
   */
  private verifiedBefore(token: string): VerifiedToken | undefined {
    const hit = this.verified.get(token);
    if (!hit) return undefined;
    const now = this.opts.now();
    const nowS = Math.floor(now / 1000);
    const tolerance = this.opts.clockToleranceSec;
    const { exp, nbf } = hit.payload;
    const cache = this.cache;
    if (!cache || now - cache.fetchedAt >= this.opts.cacheTtlMs || cache.keys.get(hit.kid) !== hit.key
      || typeof exp !== 'number' || exp <= nowS - tolerance || (typeof nbf === 'number' && nbf > nowS + tolerance)) {
      this.verified.delete(token);
      return undefined;
    }
    return hit;
  }

  /** Rules 2, 3, 5, 6 and 9 with the signature: the token's header, its key, then jose. Remembers the token. */
  private async verify(token: string): Promise<VerifiedToken> {
    let header: ReturnType<typeof decodeProtectedHeader>;
    try {
      header = decodeProtectedHeader(token);
    } catch {
      fail('malformed_token');
    }
    const alg = header.alg;
    if (typeof alg !== 'string' || !ASYMMETRIC_ALGORITHMS.includes(alg)) fail('alg_not_allowed');
    const kid = header.kid;
    if (typeof kid !== 'string' || kid === '' || kid.length > 256) fail('unknown_kid');

    // Rules 2, 6 and 9: the key and the algorithms the metadata allows.
    const { key, algorithms } = await this.resolveKey(kid);
    if (!algorithms.includes(alg)) fail('alg_not_allowed');
    if (key.alg !== undefined && key.alg !== alg) fail('alg_not_allowed');

    // Rules 3–6 (jose also rejects any `crit` parameter it does not understand).
    let payload: JWTPayload;
    try {
      const verified = await jwtVerify(token, key.key, {
        algorithms,
        issuer: this.opts.issuer,
        audience: this.opts.appId,
        requiredClaims: ['exp'],
        clockTolerance: this.opts.clockToleranceSec,
        currentDate: new Date(this.opts.now()),
      });
      payload = verified.payload;
    } catch (err) {
      fail(reasonFromJose(err));
    }
    const entry = { payload, kid, key };
    this.verified.set(token, entry);
    if (this.verified.size > MAX_VERIFIED_TOKENS) this.verified.delete(this.verified.keys().next().value as string);
    return entry;
  }

  /** The key for `kid`, refetching (rate-limited) when it is unknown or the cache has expired. */
  private async resolveKey(kid: string): Promise<{ key: CachedKey; algorithms: string[] }> {
    const now = this.opts.now();
    if (!this.cache) {
      if (now - this.lastAttemptAt >= this.opts.coldRetryIntervalMs || this.inflight) {
        await this.refresh().catch(() => undefined);
      }
      if (!this.cache) fail('metadata_unavailable');
    } else if (now - this.cache.fetchedAt >= this.opts.cacheTtlMs) {
      // Expired: refresh, but keep serving the old keys through an outage (rate-limited retries).
      if (now - this.lastAttemptAt >= this.opts.keyRefetchMinIntervalMs || this.inflight) {
        await this.refresh().catch(() => undefined);
      }
    }
    let cache = this.cache as KeyCache;
    let key = cache.keys.get(kid);
    if (!key && (this.inflight || this.opts.now() - this.lastAttemptAt >= this.opts.keyRefetchMinIntervalMs)) {
      // Rule 9: an unknown kid may mean a rotated key; refetch at most once per interval.
      await this.refresh().catch(() => undefined);
      cache = this.cache as KeyCache;
      key = cache.keys.get(kid);
    }
    if (!key) fail('unknown_kid');
    return { key, algorithms: cache.algorithms };
  }

  /** One shared metadata + JWKS fetch; concurrent callers await the same promise. */
  private refresh(): Promise<void> {
    if (!this.inflight) {
      this.lastAttemptAt = this.opts.now();
      this.inflight = this.fetchKeys()
        .then((cache) => {
          this.cache = cache;
          log.info('botframework_auth.keys_loaded', { keyCount: cache.keys.size, algorithms: cache.algorithms });
        })
        .catch((err: unknown) => {
          log.warn('botframework_auth.keys_fetch_failed', {
            err,
            metadataUrl: sanitizeUrl(this.opts.openIdMetadataUrl),
            cachedKeys: this.cache ? this.cache.keys.size : 0,
          });
          throw err;
        })
        .finally(() => {
          this.inflight = undefined;
        });
    }
    return this.inflight;
  }

  private async fetchKeys(): Promise<KeyCache> {
    const timeoutMs = this.opts.timeoutMs;
    const metaRes = await httpRequest(this.opts.openIdMetadataUrl, {
      timeoutMs,
      headers: { accept: 'application/json' },
      maxResponseBytes: 256 * 1024,
    });
    if (metaRes.status !== 200) throw new Error(`OpenID metadata answered ${metaRes.status}`);
    const meta = metaRes.json<Record<string, unknown>>();
    const jwksUri = meta?.jwks_uri;
    if (typeof jwksUri !== 'string' || !isSafeFetchUrl(jwksUri)) throw new Error('OpenID metadata has no usable jwks_uri');
    const listed = meta.id_token_signing_alg_values_supported;
    const algorithms = (Array.isArray(listed) ? listed : ['RS256'])
      .filter((a): a is string => typeof a === 'string' && ASYMMETRIC_ALGORITHMS.includes(a));
    if (algorithms.length === 0) throw new Error('OpenID metadata lists no acceptable signing algorithm');

    const jwksRes = await httpRequest(jwksUri, { timeoutMs, headers: { accept: 'application/json' }, maxResponseBytes: 1024 * 1024 });
    if (jwksRes.status !== 200) throw new Error(`JWKS answered ${jwksRes.status}`);
    const jwks = jwksRes.json<{ keys?: unknown }>();
    if (!jwks || !Array.isArray(jwks.keys)) throw new Error('JWKS has no keys array');
    const keys = new Map<string, CachedKey>();
    for (const jwk of jwks.keys as Array<Record<string, unknown>>) {
      if (!jwk || typeof jwk !== 'object' || typeof jwk.kid !== 'string' || jwk.kid === '') continue;
      if (jwk.use !== undefined && jwk.use !== 'sig') continue;
      if (jwk.kty !== 'RSA' && jwk.kty !== 'EC') continue;
      let key: KeyObject;
      try {
        const { d: _private, ...publicPart } = jwk; // never treat a private JWK as anything but its public half
        key = createPublicKey({ key: publicPart as import('node:crypto').JsonWebKey, format: 'jwk' });
      } catch {
        continue;
      }
      const endorsements = Array.isArray(jwk.endorsements)
        ? jwk.endorsements.filter((e): e is string => typeof e === 'string')
        : [];
      keys.set(jwk.kid, { key, endorsements, alg: typeof jwk.alg === 'string' ? jwk.alg : undefined });
    }
    if (keys.size === 0) throw new Error('JWKS holds no usable signing key');
    return { keys, algorithms, fetchedAt: this.opts.now() };
  }
}

/**
 * The authenticator for a handler's configuration: App ID, the cloud profile's (or overridden) metadata URL,
 * issuer and serviceUrl allow-list. `overrides` sets the cache options (tests).
 */
export function createBotFrameworkAuthenticator(
  config: Pick<ResolvedConfig, 'appId' | 'botOpenIdMetadataUrl' | 'botTokenIssuer' | 'serviceUrlHosts'>,
  overrides: Partial<BotFrameworkAuthOptions> = {},
): BotFrameworkAuthenticator {
  return new BotFrameworkAuthenticator({
    appId: config.appId,
    openIdMetadataUrl: config.botOpenIdMetadataUrl,
    issuer: config.botTokenIssuer,
    serviceUrlHosts: config.serviceUrlHosts,
    ...overrides,
  });
}

function isSafeFetchUrl(url: string): boolean {
  try {
    const u = new URL(url);
    return !u.username && !u.password && isHttpsOrLoopback(u);
  } catch {
    return false;
  }
}
