/**
 * Microsoft Entra ID v2 for the receiver: the authorization code flow with PKCE (RFC 7636, RFC 9700), code redemption,
 * refresh-token rotation, the on-behalf-of exchange of a Teams SSO token, and validation of id_tokens and SSO tokens
 * against the tenant's JWKS.
 *
 * Endpoints for tenant T (authority e.g. `https://login.microsoftonline.com`, no trailing slash needed):
 * `${authority}/${T}/oauth2/v2.0/authorize`, `${authority}/${T}/oauth2/v2.0/token`,
 * JWKS `${authority}/${T}/discovery/v2.0/keys`, issuer `${authority}/${T}/v2.0`.
 *
 * Errors callers map to pages / invoke responses:
 * - {@link OAuthError}: the IdP refused (`invalid_grant` → sign in again; `consent_required` / `interaction_required`
 *   → interactive sign-in). `description` is sanitized: never a token, code, assertion or secret.
 * - {@link TokenValidationError} (an OAuthError with `error = 'invalid_token'`): an id_token / SSO token failed a check;
 *   `reason` says which.
 * - {@link OAuthUnavailableError}: timeout, connection failure, 5xx / 429 or an unusable answer from the IdP or its
 *   JWKS: a friendly "try again" page (502/503), never "sign in again".
 *
 * No AWS SDK client and no network call at module scope; every outbound call has a timeout.
 */
import { createHash, randomBytes } from 'node:crypto';
// eslint-disable-next-line import/no-extraneous-dependencies -- inlined into the handler bundles by esbuild
import { createRemoteJWKSet, decodeJwt, errors as joseErrors, jwtVerify, type JWTPayload } from 'jose';
import type { ResolvedConfig } from './config';
import { formBody, HttpBodyError, httpRequest, HttpTimeoutError, type HttpResponse } from './http';
import { log } from './log';
import type { TokenSet } from './token-store';
import { V1_ISSUER_HOSTS } from '../../src/private/cloud-profiles';
import { isPathSafeId, normalizeGuid } from '../../src/private/shared-data';

/** Tokens from the token endpoint: the shape `TokenStore.put` takes (`./token-store`, owner STORE). */
export type { TokenSet };

/** Options of {@link EntraOAuthClient}. */
export interface EntraOAuthOptions {
  /** Authority host, e.g. `https://login.microsoftonline.com` (trailing slashes are ignored). */
  authority: string;
  /** The bot's Microsoft App ID (client id, id_token audience). */
  appId: string;
  /** The client secret, read when a token request is made (cache it in the caller). */
  getClientSecret: () => Promise<string>;
  /** Resource of the delegated scopes, e.g. `https://graph.microsoft.com`. */
  graphResource: string;
  /** Timeout of every call to the token endpoint and to the JWKS, in ms. @default 5000 */
  timeoutMs?: number;
  /** Clock skew accepted on `exp`/`nbf`/`iat`, in seconds. @default 300 */
  clockToleranceSec?: number;
  /** Clock for token validation (ms since epoch). @default Date.now */
  now?: () => number;
  /** Minimum time between two JWKS fetches of one tenant (an unknown `kid` refetches at most this often). @default 300000 */
  jwksCooldownMs?: number;
  /** How long fetched JWKS keys are used before they are refetched. @default 86400000 (24 h) */
  jwksCacheMaxAgeMs?: number;
}

/**
 * The client for the handler's configuration (`entraAuthority`, `appId`, `graphResource` of the cloud profile or its
 * overrides). Create it once per container; `getClientSecret` should serve a cached secret.
 */
export function createEntraOAuthClient(
  config: Pick<ResolvedConfig, 'appId' | 'entraAuthority' | 'graphResource'>,
  getClientSecret: () => Promise<string>,
  opts: Omit<EntraOAuthOptions, 'authority' | 'appId' | 'graphResource' | 'getClientSecret'> = {},
): EntraOAuthClient {
  return new EntraOAuthClient({
    ...opts,
    authority: config.entraAuthority,
    appId: config.appId,
    graphResource: config.graphResource,
    getClientSecret,
  });
}

/**
 * Audiences a Teams SSO token may carry: the app id (v2 tokens, `accessTokenAcceptedVersion: 2`) and the Application
 * ID URI (`api://botid-{appId}` unless configured otherwise).
 */
export function ssoAudiences(appId: string, resource: string = `api://botid-${appId}`): string[] {
  return [...new Set([appId, resource])];
}

/** The IdP refused a request (error JSON of the token endpoint), or a caller passed an invalid argument. */
export class OAuthError extends Error {
  /** OAuth error code, e.g. `invalid_grant`, `invalid_client`, `interaction_required`. */
  readonly error: string;
  /** Sanitized `error_description` (no tokens, codes, assertions or secrets; at most 300 characters). */
  readonly description?: string;
  /** HTTP status of the token endpoint's answer, when there was one. */
  readonly status?: number;
  /** Entra's `suberror`, e.g. `consent_required` (OBO) or `bad_token`. */
  readonly suberror?: string;
  /** Entra's `error_codes` (AADSTS numbers), e.g. `[65001]`. */
  readonly errorCodes?: number[];
  /** Entra's `claims` challenge (conditional access), to pass on to an interactive sign-in. */
  readonly claims?: string;

  constructor(error: string, opts: { description?: string; status?: number; suberror?: string; errorCodes?: number[]; claims?: string } = {}) {
    super(opts.description ? `${error}: ${opts.description}` : error);
    this.name = 'OAuthError';
    this.error = error;
    this.description = opts.description;
    this.status = opts.status;
    this.suberror = opts.suberror;
    this.errorCodes = opts.errorCodes;
    this.claims = opts.claims;
  }

  /**
   * True when only an interactive sign-in can fix this: `invalid_grant` (expired/revoked/rotated refresh token,
   * consent withdrawn), `interaction_required`, `consent_required`, `login_required`.
   */
  get requiresSignIn(): boolean {
    return ['invalid_grant', 'interaction_required', 'consent_required', 'login_required'].includes(this.error)
      || this.suberror === 'consent_required';
  }

  /** True for Entra's "consent required" answers: `consent_required`, or `invalid_grant` + suberror / AADSTS65001. */
  get consentRequired(): boolean {
    return this.error === 'consent_required' || this.suberror === 'consent_required'
      || (this.errorCodes?.includes(65001) ?? false);
  }
}

/** Why a token failed validation. */
export type TokenValidationReason =
  | 'malformed' | 'algorithm_not_allowed' | 'unknown_key' | 'bad_signature' | 'expired' | 'not_yet_valid'
  | 'wrong_issuer' | 'wrong_audience' | 'missing_claim' | 'nonce_mismatch' | 'tenant_mismatch' | 'missing_scope'
  | 'invalid';

/** An id_token or SSO token failed validation. `reason` is safe to log; the token never appears in the message. */
export class TokenValidationError extends OAuthError {
  readonly reason: TokenValidationReason;
  constructor(reason: TokenValidationReason, detail?: string) {
    super('invalid_token', { description: detail ? `${reason}: ${detail}` : reason });
    this.name = 'TokenValidationError';
    this.reason = reason;
  }
}

/** Why the IdP could not be used. */
export type UnavailableReason = 'timeout' | 'network' | 'server_error' | 'throttled' | 'invalid_response';

/**
 * The IdP (token endpoint or JWKS) did not answer usefully: timeout, connection failure, 5xx, 429, or a body that is
 * not a token response. Deliberately NOT an {@link OAuthError}: it means "try again later", never "sign in again".
 */
export class OAuthUnavailableError extends Error {
  readonly reason: UnavailableReason;
  /** HTTP status, when the IdP answered. */
  readonly status?: number;
  /** Seconds from a `Retry-After` header, when present. */
  readonly retryAfterSeconds?: number;
  constructor(reason: UnavailableReason, opts: { status?: number; retryAfterSeconds?: number; detail?: string } = {}) {
    super(`identity provider unavailable (${reason}${opts.status ? `, HTTP ${opts.status}` : ''})${opts.detail ? `: ${opts.detail}` : ''}`);
    this.name = 'OAuthUnavailableError';
    this.reason = reason;
    this.status = opts.status;
    this.retryAfterSeconds = opts.retryAfterSeconds;
  }
}

/** Parameters of {@link EntraOAuthClient.redeemCode}. */
export interface RedeemCodeParams {
  tenantId: string;
  /** The `code` of the callback. */
  code: string;
  /** The PKCE verifier kept with the sign-in state. */
  codeVerifier: string;
  /** Exactly the redirect URI of the authorization request. */
  redirectUri: string;
  /** The scopes of the authorization request. */
  scopes: string[];
}

/** Who signed in, from a validated id_token. */
export interface IdTokenIdentity {
  oid: string;
  tid: string;
  name?: string;
  preferredUsername?: string;
}

/** `bytes` random bytes (at least 16, i.e. 128 bits), base64url without padding. */
export function randomUrlSafe(bytes = 32): string {
  if (!Number.isInteger(bytes) || bytes < 16 || bytes > 1024) {
    throw new RangeError('randomUrlSafe: bytes must be an integer between 16 and 1024');
  }
  return randomBytes(bytes).toString('base64url');
}

/** A PKCE pair (RFC 7636): a 43-character verifier (256 bits) and its S256 challenge. */
export function createPkce(): { verifier: string; challenge: string } {
  const verifier = randomUrlSafe(32);
  return { verifier, challenge: pkceChallenge(verifier) };
}

/** The S256 code challenge of a verifier: base64url(SHA-256(verifier)). */
export function pkceChallenge(verifier: string): string {
  return createHash('sha256').update(verifier, 'ascii').digest('base64url');
}

/** OpenID Connect scopes every request carries. */
export const OIDC_SCOPES: readonly string[] = ['openid', 'profile', 'offline_access'];
const OIDC_SCOPE_SET = new Set(['openid', 'profile', 'offline_access', 'email']);
const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
const MAX_JWKS_TENANTS = 50;

/**
 * Removes anything token-like from an IdP `error_description`: JWTs, long opaque strings (codes, refresh tokens),
 * the given secret values, control characters; collapses whitespace and cuts at 300 characters.
 */
export function sanitizeDescription(value: unknown, secrets: ReadonlyArray<string | undefined> = []): string | undefined {
  if (typeof value !== 'string' || value.length === 0) return undefined;
  let out = value.slice(0, 4000);
  for (const s of secrets) {
    if (s && s.length >= 8) out = out.split(s).join('[redacted]');
  }
  out = out
    .replace(/eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*(\.[A-Za-z0-9_-]*)?/g, '[jwt]')
    .replace(/[A-Za-z0-9_\-+/=.~%]{40,}/g, '[redacted]')
    .replace(/[\u0000-\u001f\u007f]+/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
  if (out.length > 300) out = `${out.slice(0, 297)}...`;
  return out || undefined;
}

/** The resource part of a URI-shaped scope (`https://graph.microsoft.com/User.Read` → `https://graph.microsoft.com`). */
export function scopeResource(scope: string): string | undefined {
  const scheme = scope.indexOf('://');
  if (scheme < 0) {
    // `api://…` is covered above; a bare GUID-style resource (`{appId}/.default`) has a slash but no scheme.
    const slash = scope.lastIndexOf('/');
    return slash > 0 ? scope.slice(0, slash) : undefined;
  }
  const slash = scope.lastIndexOf('/');
  return slash > scheme + 2 ? scope.slice(0, slash) : undefined;
}

function assertTenant(tenantId: string): void {
  if (!isPathSafeId(tenantId)) {
    throw new OAuthError('invalid_request', { description: 'tenant id is not a valid Entra tenant id or domain' });
  }
}

/** Every requested scope must be an OIDC scope or belong to the same single resource (Entra: one resource per request). */
function checkScopes(scopes: readonly string[]): string {
  if (!Array.isArray(scopes) || scopes.length === 0) {
    throw new OAuthError('invalid_scope', { description: 'no scopes requested' });
  }
  const resources = new Set<string>();
  for (const s of scopes) {
    if (typeof s !== 'string' || s.length === 0 || /[\s"\\]/.test(s)) {
      throw new OAuthError('invalid_scope', { description: 'a scope is empty or contains whitespace or quotes' });
    }
    // A bare scope (`User.Read`) means Microsoft Graph to Entra.
    if (!OIDC_SCOPE_SET.has(s)) resources.add(scopeResource(s) ?? '(Microsoft Graph)');
  }
  if (resources.size > 1) {
    throw new OAuthError('invalid_scope', { description: `scopes name more than one resource (${[...resources].join(', ')}); Entra issues one resource per request` });
  }
  return [...new Set(scopes)].join(' ');
}

/**
 * Client of one Entra application (the bot's app registration). Create once per container; it caches each tenant's JWKS.
 */
export class EntraOAuthClient {
  private readonly authority: string;
  private readonly appId: string;
  private readonly getClientSecret: () => Promise<string>;
  private readonly graphResource: string;
  private readonly timeoutMs: number;
  private readonly clockToleranceSec: number;
  private readonly now: () => number;
  private readonly jwksCooldownMs: number;
  private readonly jwksCacheMaxAgeMs: number;
  private readonly jwks = new Map<string, ReturnType<typeof createRemoteJWKSet>>();

  constructor(opts: EntraOAuthOptions) {
    if (!opts.authority || !/^https?:\/\//.test(opts.authority)) {
      throw new TypeError('EntraOAuthClient: authority must be an http(s) URL');
    }
    if (!opts.appId) throw new TypeError('EntraOAuthClient: appId is required');
    if (!opts.graphResource) throw new TypeError('EntraOAuthClient: graphResource is required');
    this.authority = opts.authority.replace(/\/+$/, '');
    this.appId = opts.appId;
    this.getClientSecret = opts.getClientSecret;
    this.graphResource = opts.graphResource.replace(/\/+$/, '');
    this.timeoutMs = opts.timeoutMs ?? 5000;
    this.clockToleranceSec = opts.clockToleranceSec ?? 300;
    this.now = opts.now ?? Date.now;
    this.jwksCooldownMs = opts.jwksCooldownMs ?? 300_000;
    this.jwksCacheMaxAgeMs = opts.jwksCacheMaxAgeMs ?? 86_400_000;
  }

  /** `${authority}/${tenantId}/oauth2/v2.0/authorize` */
  authorizeEndpoint(tenantId: string): string {
    assertTenant(tenantId);
    return `${this.authority}/${tenantId}/oauth2/v2.0/authorize`;
  }

  /** `${authority}/${tenantId}/oauth2/v2.0/token` */
  tokenEndpoint(tenantId: string): string {
    assertTenant(tenantId);
    return `${this.authority}/${tenantId}/oauth2/v2.0/token`;
  }

  /** `${authority}/${tenantId}/discovery/v2.0/keys` */
  jwksUri(tenantId: string): string {
    assertTenant(tenantId);
    return `${this.authority}/${tenantId}/discovery/v2.0/keys`;
  }

  /** `${authority}/${tenantId}/v2.0` */
  issuer(tenantId: string): string {
    assertTenant(tenantId);
    return `${this.authority}/${tenantId}/v2.0`;
  }

  /**
   * `openid profile offline_access` plus each Graph scope prefixed with the Graph resource
   * (`User.Read` → `https://graph.microsoft.com/User.Read`). Scopes that already name a resource are kept as they are;
   * OIDC scopes in `graphScopes` are not prefixed; duplicates are dropped.
   */
  scopesFor(graphScopes: string[]): string[] {
    const out: string[] = [...OIDC_SCOPES];
    for (const raw of graphScopes) {
      const s = raw.trim();
      if (!s) continue;
      const full = OIDC_SCOPE_SET.has(s) || s.includes('://') ? s : `${this.graphResource}/${s.replace(/^\/+/, '')}`;
      if (!out.includes(full)) out.push(full);
    }
    return out;
  }

  /**
   * The authorization request URL (code flow, `response_mode=query`, PKCE S256). `prompt=select_account` is added when
   * there is no `loginHint` (so a browser signed in with another account lets the user choose); pass `prompt` to override
   * it, or `null` to send none.
   */
  authorizeUrl(p: {
    tenantId: string;
    state: string;
    nonce: string;
    codeChallenge: string;
    scopes: string[];
    redirectUri: string;
    loginHint?: string;
    prompt?: 'select_account' | 'login' | 'consent' | 'none' | null;
  }): string {
    const scope = checkScopes(p.scopes);
    for (const [name, value] of [['state', p.state], ['nonce', p.nonce], ['codeChallenge', p.codeChallenge], ['redirectUri', p.redirectUri]] as const) {
      if (typeof value !== 'string' || value.length === 0) throw new TypeError(`authorizeUrl: ${name} is required`);
    }
    if (!/^[A-Za-z0-9_-]{43}$/.test(p.codeChallenge)) {
      throw new TypeError('authorizeUrl: codeChallenge must be an S256 challenge (43 base64url characters)');
    }
    const q = new URLSearchParams({
      client_id: this.appId,
      response_type: 'code',
      redirect_uri: p.redirectUri,
      response_mode: 'query',
      scope,
      state: p.state,
      nonce: p.nonce,
      code_challenge: p.codeChallenge,
      code_challenge_method: 'S256',
    });
    if (p.loginHint) q.set('login_hint', p.loginHint);
    const prompt = p.prompt === undefined ? (p.loginHint ? undefined : 'select_account') : p.prompt;
    if (prompt) q.set('prompt', prompt);
    // One serialization of the query (each `url.searchParams.set` would serialize it again).
    const url = new URL(this.authorizeEndpoint(p.tenantId));
    url.search = q.toString();
    return url.toString();
  }

  /** Redeems an authorization code (with the PKCE verifier). The answer must carry an id_token; validate it next. */
  async redeemCode(p: RedeemCodeParams): Promise<TokenSet & { idToken: string }> {
    if (!p.code) throw new OAuthError('invalid_request', { description: 'authorization code is missing' });
    if (!p.codeVerifier) throw new TypeError('redeemCode: codeVerifier is required');
    const json = await this.tokenRequest(p.tenantId, 'authorization_code', {
      code: p.code,
      code_verifier: p.codeVerifier,
      redirect_uri: p.redirectUri,
      scope: checkScopes(p.scopes),
    }, [p.code, p.codeVerifier]);
    const tokens = toTokenSet(json);
    if (typeof json.id_token !== 'string' || json.id_token.length === 0) {
      throw new OAuthUnavailableError('invalid_response', { detail: 'token response has no id_token (was openid requested?)' });
    }
    return { ...tokens, idToken: json.id_token };
  }

  /**
   * Refreshes the access token. Returns the ROTATED refresh token (store it, the old one is spent); when the IdP sends
   * none, the given one is returned (RFC 6749 §6). `OAuthError('invalid_grant')` means: sign in again.
   */
  async refresh(p: { tenantId: string; refreshToken: string; scopes: string[] }): Promise<TokenSet> {
    if (!p.refreshToken) throw new OAuthError('invalid_grant', { description: 'no refresh token' });
    const json = await this.tokenRequest(p.tenantId, 'refresh_token', {
      refresh_token: p.refreshToken,
      scope: checkScopes(p.scopes),
    }, [p.refreshToken]);
    const tokens = toTokenSet(json);
    return { ...tokens, refreshToken: tokens.refreshToken ?? p.refreshToken };
  }

  /**
   * On-behalf-of: exchanges a (validated) Teams SSO token for delegated tokens of `scopes` (include `offline_access`
   * for a refresh token). Consent missing → `OAuthError` with `consentRequired` true; MFA / conditional access →
   * `error = 'interaction_required'` (with `claims`).
   */
  async onBehalfOf(p: { tenantId: string; assertion: string; scopes: string[] }): Promise<TokenSet> {
    if (!p.assertion) throw new OAuthError('invalid_request', { description: 'assertion is missing' });
    const json = await this.tokenRequest(p.tenantId, JWT_BEARER, {
      assertion: p.assertion,
      requested_token_use: 'on_behalf_of',
      scope: checkScopes(p.scopes),
    }, [p.assertion]);
    return toTokenSet(json);
  }

  /**
   * Validates an id_token from the token endpoint: RS256 signature by a key of the tenant's JWKS, `iss` =
   * `${authority}/${tenantId}/v2.0`, `aud` = appId (with `azp` = appId when there are several audiences), `exp` present
   * and not past (clock tolerance), `nonce` equal, `oid`/`tid` present and `tid` = tenantId.
   */
  async validateIdToken(idToken: string, p: { tenantId: string; nonce: string }): Promise<IdTokenIdentity> {
    if (typeof p.nonce !== 'string' || p.nonce.length === 0) throw new TypeError('validateIdToken: nonce is required');
    const payload = await this.verifyJwt(idToken, p.tenantId, [this.appId]);
    if (Array.isArray(payload.aud) && payload.aud.length > 1 && payload.azp !== this.appId) {
      throw new TokenValidationError('wrong_audience', 'several audiences and azp is not the app');
    }
    if (typeof payload.nonce !== 'string') throw new TokenValidationError('missing_claim', 'nonce');
    if (payload.nonce !== p.nonce) throw new TokenValidationError('nonce_mismatch');
    const { oid, tid } = userClaims(payload, p.tenantId);
    return {
      oid,
      tid,
      name: typeof payload.name === 'string' ? payload.name : undefined,
      preferredUsername: typeof payload.preferred_username === 'string' ? payload.preferred_username : undefined,
    };
  }

  /**
   * Validates a Teams SSO token (a v2 access token for the bot's API): RS256 by the tenant's JWKS, `iss` =
   * `${authority}/${tenantId}/v2.0`, `aud` ∈ `audiences` (the app id and/or `api://botid-{appId}`), `exp`, `scp`
   * containing `requiredScope`, `oid`/`tid` present and `tid` = tenantId. The caller compares oid/tid with the
   * activity's user.
   */
  async validateSsoToken(token: string, p: { tenantId: string; audiences: string[]; requiredScope: string }): Promise<{ oid: string; tid: string }> {
    if (!Array.isArray(p.audiences) || p.audiences.length === 0) throw new TypeError('validateSsoToken: audiences are required');
    if (!p.requiredScope) throw new TypeError('validateSsoToken: requiredScope is required');
    const payload = await this.verifyJwt(token, p.tenantId, p.audiences);
    const scp = typeof payload.scp === 'string' ? payload.scp.split(' ') : [];
    if (!scp.includes(p.requiredScope)) throw new TokenValidationError('missing_scope', p.requiredScope);
    return userClaims(payload, p.tenantId);
  }

  private jwksFor(tenantId: string): ReturnType<typeof createRemoteJWKSet> {
    let set = this.jwks.get(tenantId);
    if (!set) {
      if (this.jwks.size >= MAX_JWKS_TENANTS) {
        const oldest = this.jwks.keys().next().value;
        if (oldest !== undefined) this.jwks.delete(oldest);
      }
      set = createRemoteJWKSet(new URL(this.jwksUri(tenantId)), {
        timeoutDuration: this.timeoutMs,
        cooldownDuration: this.jwksCooldownMs,
        cacheMaxAge: this.jwksCacheMaxAgeMs,
      });
      this.jwks.set(tenantId, set);
    }
    return set;
  }

  private async verifyJwt(token: string, tenantId: string, audiences: string[]): Promise<JWTPayload> {
    assertTenant(tenantId);
    if (typeof token !== 'string' || token.length === 0 || token.length > 16384) {
      throw new TokenValidationError('malformed', 'not a token');
    }
    try {
      const { payload } = await jwtVerify(token, this.jwksFor(tenantId), {
        issuer: this.issuer(tenantId),
        audience: audiences,
        algorithms: ['RS256'],
        clockTolerance: this.clockToleranceSec,
        currentDate: new Date(this.now()),
        requiredClaims: ['exp'],
      });
      return payload;
    } catch (err) {
      const mapped = mapJoseError(err);
      if (mapped instanceof TokenValidationError && mapped.reason === 'wrong_issuer' && isV1Issuer(token)) {
        // Diagnostic only (the token is refused either way): an app registration still issuing v1 tokens.
        throw new TokenValidationError('wrong_issuer', 'v1 token (sts.windows.net); set accessTokenAcceptedVersion to 2 in the app manifest');
      }
      throw mapped;
    }
  }

  private async tokenRequest(
    tenantId: string, grantType: string, fields: Record<string, string>, secrets: string[],
  ): Promise<Record<string, unknown>> {
    const url = this.tokenEndpoint(tenantId);
    const clientSecret = await this.getClientSecret();
    const started = Date.now();
    let res: HttpResponse;
    try {
      res = await httpRequest(url, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'accept': 'application/json' },
        body: formBody({ client_id: this.appId, client_secret: clientSecret, grant_type: grantType, ...fields }),
        timeoutMs: this.timeoutMs,
      });
    } catch (err) {
      const reason: UnavailableReason = err instanceof HttpTimeoutError ? 'timeout' : err instanceof HttpBodyError ? 'invalid_response' : 'network';
      log.warn('entra.token_request_failed', { grantType, tenantId, reason, durationMs: Date.now() - started });
      throw new OAuthUnavailableError(reason, {
        detail: reason === 'timeout' ? `no answer within ${this.timeoutMs} ms` : reason === 'network' ? 'connection failed' : 'response too large',
      });
    }
    const body = parseJsonObject(res.text);
    if (res.status >= 200 && res.status < 300) {
      if (!body) throw new OAuthUnavailableError('invalid_response', { status: res.status, detail: 'token response is not a JSON object' });
      log.debug('entra.token_request', { grantType, tenantId, status: res.status, durationMs: Date.now() - started });
      return body;
    }
    const retryAfter = Number(res.headers.get('retry-after'));
    const retryAfterSeconds = Number.isFinite(retryAfter) && retryAfter >= 0 ? retryAfter : undefined;
    const error = body && typeof body.error === 'string' && /^[\x20-\x7e]{1,64}$/.test(body.error) ? body.error : undefined;
    log.warn('entra.token_request_refused', { grantType, tenantId, status: res.status, error: error ?? null, durationMs: Date.now() - started });
    if (res.status === 429) throw new OAuthUnavailableError('throttled', { status: res.status, retryAfterSeconds });
    if (res.status >= 500 || error === 'temporarily_unavailable' || error === 'server_error') {
      throw new OAuthUnavailableError('server_error', { status: res.status, retryAfterSeconds });
    }
    if (!error) throw new OAuthUnavailableError('invalid_response', { status: res.status, detail: 'error response without an OAuth error code' });
    const codes = Array.isArray(body?.error_codes) ? body.error_codes.filter((c): c is number => typeof c === 'number') : undefined;
    throw new OAuthError(error, {
      description: sanitizeDescription(body?.error_description, [clientSecret, ...secrets]),
      status: res.status,
      suberror: typeof body?.suberror === 'string' ? body.suberror.slice(0, 64) : undefined,
      errorCodes: codes && codes.length ? codes : undefined,
      claims: typeof body?.claims === 'string' && body.claims.length <= 4096 ? body.claims : undefined,
    });
  }
}

function parseJsonObject(text: string): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(text);
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? v as Record<string, unknown> : undefined;
  } catch {
    return undefined;
  }
}

function toTokenSet(json: Record<string, unknown>): TokenSet {
  const accessToken = json.access_token;
  if (typeof accessToken !== 'string' || accessToken.length === 0) {
    throw new OAuthUnavailableError('invalid_response', { detail: 'token response has no access_token' });
  }
  if (json.token_type !== undefined && (typeof json.token_type !== 'string' || json.token_type.toLowerCase() !== 'bearer')) {
    throw new OAuthUnavailableError('invalid_response', { detail: 'token_type is not Bearer' });
  }
  const expiresIn = typeof json.expires_in === 'string' ? Number(json.expires_in) : json.expires_in;
  if (typeof expiresIn !== 'number' || !Number.isFinite(expiresIn) || expiresIn <= 0) {
    throw new OAuthUnavailableError('invalid_response', { detail: 'token response has no valid expires_in' });
  }
  const refreshToken = typeof json.refresh_token === 'string' && json.refresh_token.length > 0 ? json.refresh_token : undefined;
  return {
    accessToken,
    refreshToken,
    expiresIn: Math.floor(expiresIn),
    scope: typeof json.scope === 'string' ? json.scope : undefined,
  };
}

/** The user's `oid` and `tid`, GUIDs in their one spelling (lower case, `normalizeGuid`); `tid` must be `tenantId`. */
function userClaims(payload: JWTPayload, tenantId: string): { oid: string; tid: string } {
  const { oid, tid } = payload;
  if (typeof oid !== 'string' || oid.length === 0) throw new TokenValidationError('missing_claim', 'oid');
  if (typeof tid !== 'string' || tid.length === 0) throw new TokenValidationError('missing_claim', 'tid');
  if (normalizeGuid(tid) !== normalizeGuid(tenantId)) throw new TokenValidationError('tenant_mismatch');
  return { oid: normalizeGuid(oid), tid: normalizeGuid(tid) };
}

/** True when the (unverified) token names a v1 issuer `https://{v1IssuerHost}/{tid}/` of any cloud profile. */
function isV1Issuer(token: string): boolean {
  try {
    const iss = decodeJwt(token).iss;
    return typeof iss === 'string' && V1_ISSUER_HOSTS.some((host) => iss.startsWith(`https://${host}/`));
  } catch {
    return false;
  }
}

function mapJoseError(err: unknown): Error {
  if (err instanceof TokenValidationError || err instanceof OAuthUnavailableError) return err;
  if (err instanceof joseErrors.JWKSTimeout) return new OAuthUnavailableError('timeout', { detail: 'JWKS' });
  if (err instanceof joseErrors.JWTExpired) return new TokenValidationError('expired');
  if (err instanceof joseErrors.JWTClaimValidationFailed) {
    switch (err.claim) {
      case 'iss': return new TokenValidationError('wrong_issuer');
      case 'aud': return new TokenValidationError('wrong_audience');
      case 'nbf': return new TokenValidationError('not_yet_valid');
      case 'iat': return new TokenValidationError(err.reason === 'check_failed' ? 'not_yet_valid' : 'malformed', 'iat');
      default: return new TokenValidationError(err.reason === 'missing' ? 'missing_claim' : 'invalid', err.claim);
    }
  }
  if (err instanceof joseErrors.JOSEAlgNotAllowed) return new TokenValidationError('algorithm_not_allowed');
  if (err instanceof joseErrors.JWKSNoMatchingKey) return new TokenValidationError('unknown_key');
  if (err instanceof joseErrors.JWSSignatureVerificationFailed || err instanceof joseErrors.JWKSMultipleMatchingKeys) {
    return new TokenValidationError('bad_signature');
  }
  if (err instanceof joseErrors.JWSInvalid || err instanceof joseErrors.JWTInvalid || err instanceof joseErrors.JOSENotSupported
    || err instanceof joseErrors.JWKInvalid) {
    return new TokenValidationError('malformed');
  }
  if (err instanceof joseErrors.JWKSInvalid) return new OAuthUnavailableError('invalid_response', { detail: 'JWKS' });
  if (err instanceof joseErrors.JOSEError) {
    // e.g. "Expected 200 OK from the JSON Web Key Set HTTP response"
    return /JSON Web Key Set/i.test(err.message)
      ? new OAuthUnavailableError('server_error', { detail: 'JWKS' })
      : new TokenValidationError('invalid');
  }
  // Not a jose error: the JWKS request itself failed (connection refused, reset, DNS: Node errors with an E… code).
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && /^E[A-Z_]+$/.test(code)) return new OAuthUnavailableError('network', { detail: 'JWKS' });
  return new TokenValidationError('invalid');
}
