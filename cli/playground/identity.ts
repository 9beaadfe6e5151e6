/**
 * The playground's identities, all with RS256 keys generated at start (or kept by `--data`):
 *
 * - **Bot Framework issuer**: OpenID metadata + JWKS (keys endorsed for `msteams`) at `/botframework/v1/...`; signs
 *   the JWT of every activity the local Bot Connector posts to the receiver (`iss` https://api.botframework.com, `aud`
 *   the bot's app id, `serviceurl`), like the Bot Connector Service.
 * - **Local OpenID provider** (`--idp local`), an Entra stand-in at `/entra/{tenant}/...`: authorization code flow
 *   with PKCE S256 only (`/oauth2/v2.0/authorize` shows a "pick a test user" page), token endpoint
 *   (`authorization_code`, `refresh_token` with rotation, `client_credentials` for the bot's app token, on-behalf-of
 *   `urn:ietf:params:oauth:grant-type:jwt-bearer` for Teams SSO), JWKS at `/discovery/v2.0/keys`, discovery document.
 *   id_tokens carry `nonce`, `oid`, `tid`, `name`, `preferred_username`; access tokens are JWTs for Graph
 *   (`aud` https://graph.microsoft.com, `scp`), verified by the Graph stand-in.
 */
import { createHash, createPublicKey, generateKeyPairSync, KeyObject, randomBytes, randomUUID, sign as rsaSign, verify as rsaVerify, createPrivateKey } from 'node:crypto';

/** An RS256 signing key. */
export interface SigningKey {
  kid: string;
  privateKey: KeyObject;
}

export function newSigningKey(prefix: string): SigningKey {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { kid: `${prefix}-${randomBytes(6).toString('hex')}`, privateKey };
}

export function exportSigningKey(k: SigningKey): { kid: string; pem: string } {
  return { kid: k.kid, pem: k.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString() };
}

export function importSigningKey(k: { kid: string; pem: string }): SigningKey {
  return { kid: k.kid, privateKey: createPrivateKey(k.pem) };
}

/** The public JWK of a key (with extra members such as `endorsements`). */
export function publicJwk(k: SigningKey, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const jwk = createPublicKey(k.privateKey).export({ format: 'jwk' }) as Record<string, unknown>;
  return { kty: 'RSA', use: 'sig', alg: 'RS256', kid: k.kid, n: jwk.n, e: jwk.e, ...extra };
}

/** Signs a JWT (RS256) with `iat`/`nbf` now and `exp` now + `ttlSeconds`. */
export function signJwt(k: SigningKey, claims: Record<string, unknown>, ttlSeconds = 3600): string {
  const now = Math.floor(Date.now() / 1000);
  const header = { alg: 'RS256', typ: 'JWT', kid: k.kid };
  const payload = { iat: now, nbf: now, exp: now + ttlSeconds, ...claims };
  const input = `${b64(JSON.stringify(header))}.${b64(JSON.stringify(payload))}`;
  return `${input}.${rsaSign('sha256', Buffer.from(input), k.privateKey).toString('base64url')}`;
}

/** Verifies an RS256 JWT signed by `k` (signature, `exp`, optional `aud`); the payload, or undefined. */
export function verifyJwt(k: SigningKey, token: string, audience?: string): Record<string, any> | undefined {
  const parts = token.split('.');
  if (parts.length !== 3) return undefined;
  try {
    const header = JSON.parse(Buffer.from(parts[0], 'base64url').toString());
    if (header.alg !== 'RS256' || header.kid !== k.kid) return undefined;
    const ok = rsaVerify('sha256', Buffer.from(`${parts[0]}.${parts[1]}`), createPublicKey(k.privateKey), Buffer.from(parts[2], 'base64url'));
    if (!ok) return undefined;
    const payload = JSON.parse(Buffer.from(parts[1], 'base64url').toString());
    if (typeof payload.exp !== 'number' || payload.exp < Date.now() / 1000) return undefined;
    if (audience !== undefined && payload.aud !== audience) return undefined;
    return payload;
  } catch {
    return undefined;
  }
}

function b64(s: string): string {
  return Buffer.from(s).toString('base64url');
}

/** A test user of the local IdP (and of the chat page). */
export interface TestUser {
  /** Short handle: `ada`. */
  handle: string;
  /** Entra object id (GUID), the Teams `aadObjectId`. */
  oid: string;
  /** Teams user id `29:1…`. */
  teamsId: string;
  name: string;
  upn: string;
}

/** Public-cloud Bot Framework token issuer (the receiver's default `TDAB_BOT_TOKEN_ISSUER`). */
export const BOT_FRAMEWORK_ISSUER = 'https://api.botframework.com';
/** Audience of Graph access tokens. */
export const GRAPH_AUDIENCE = 'https://graph.microsoft.com';

/** An OAuth error answer (`{error, error_description}`, status 400 or 401). */
export class OAuthError extends Error {
  constructor(readonly error: string, readonly description: string, readonly status = 400) {
    super(description);
  }
}

interface CodeGrant { user: TestUser; clientId: string; redirectUri: string; challenge: string; nonce?: string; scope: string; expires: number }
interface RefreshGrant { user: TestUser; scope: string; expires: number }

/** Settings of {@link LocalIdp}. */
export interface LocalIdpOptions {
  /** `http://localhost:PORT/entra` (the receiver's `TDAB_ENTRA_AUTHORITY`). */
  authority: string;
  tenantId: string;
  appId: string;
  clientSecret: string;
  /** Redirect URIs registered for the app (the receiver's callback). */
  redirectUris: string[];
  /** Teams SSO: the application ID URI (`api://botid-{appId}`) and scope. */
  ssoResource: string;
  ssoScope: string;
  users: () => TestUser[];
  /** Access token lifetime, seconds (default 3600). */
  accessTokenSeconds?: number;
}

/** The local OpenID provider. */
export class LocalIdp {
  private readonly codes = new Map<string, CodeGrant>();
  private readonly refreshTokens = new Map<string, RefreshGrant>();

  constructor(readonly key: SigningKey, readonly o: LocalIdpOptions) {}

  get issuer(): string {
    return `${this.o.authority}/${this.o.tenantId}/v2.0`;
  }

  discovery(): Record<string, unknown> {
    const base = `${this.o.authority}/${this.o.tenantId}`;
    return {
      issuer: this.issuer,
      authorization_endpoint: `${base}/oauth2/v2.0/authorize`,
      token_endpoint: `${base}/oauth2/v2.0/token`,
      jwks_uri: `${base}/discovery/v2.0/keys`,
      response_types_supported: ['code'],
      subject_types_supported: ['pairwise'],
      id_token_signing_alg_values_supported: ['RS256'],
      code_challenge_methods_supported: ['S256'],
      grant_types_supported: ['authorization_code', 'refresh_token', 'client_credentials', 'urn:ietf:params:oauth:grant-type:jwt-bearer'],
      token_endpoint_auth_methods_supported: ['client_secret_post', 'client_secret_basic'],
      scopes_supported: ['openid', 'profile', 'offline_access', 'email'],
    };
  }

  jwks(): Record<string, unknown> {
    return { keys: [publicJwk(this.key)] };
  }

  /** Checks an authorize request; returns the parameters the login page carries on, or throws OAuthError. */
  checkAuthorize(q: URLSearchParams): Record<string, string> {
    const p = Object.fromEntries(q.entries());
    if (p.client_id !== this.o.appId) throw new OAuthError('unauthorized_client', `AADSTS700016: Application with identifier '${p.client_id ?? ''}' was not found in the directory`);
    if (!this.o.redirectUris.includes(p.redirect_uri)) throw new OAuthError('invalid_request', 'AADSTS50011: The redirect URI specified in the request does not match the redirect URIs configured for the application');
    if (p.response_type !== 'code') throw new OAuthError('unsupported_response_type', 'response_type must be code');
    if (!p.code_challenge || p.code_challenge_method !== 'S256') throw new OAuthError('invalid_request', 'PKCE with code_challenge_method=S256 is required');
    if (!p.state) throw new OAuthError('invalid_request', 'state is required');
    return p;
  }

  /** Issues a code for `user` after the login page; returns the redirect URL. */
  issueCode(p: Record<string, string>, user: TestUser): string {
    const code = randomBytes(32).toString('base64url');
    this.codes.set(code, { user, clientId: p.client_id, redirectUri: p.redirect_uri, challenge: p.code_challenge, nonce: p.nonce, scope: p.scope ?? 'openid', expires: Date.now() + 10 * 60_000 });
    const u = new URL(p.redirect_uri);
    u.searchParams.set('code', code);
    u.searchParams.set('state', p.state);
    return u.href;
  }

  /** The redirect for a user who pressed "Cancel" on the login page (`error=access_denied`). */
  denied(p: Record<string, string>): string {
    const u = new URL(p.redirect_uri);
    u.searchParams.set('error', 'access_denied');
    u.searchParams.set('error_description', 'AADSTS65004: User declined to consent to access the app.');
    u.searchParams.set('state', p.state);
    return u.href;
  }

  /** The token endpoint (form fields), or throws OAuthError. */
  token(form: URLSearchParams, basicAuth?: string): Record<string, unknown> {
    const [basicId, basicSecret] = basicAuth ? Buffer.from(basicAuth, 'base64').toString().split(':') : [];
    const clientId = form.get('client_id') ?? decodeURIComponent(basicId ?? '');
    const secret = form.get('client_secret') ?? decodeURIComponent(basicSecret ?? '');
    if (clientId !== this.o.appId) throw new OAuthError('unauthorized_client', `AADSTS700016: Application '${clientId}' not found`);
    if (secret !== this.o.clientSecret) throw new OAuthError('invalid_client', 'AADSTS7000215: Invalid client secret provided.', 401);
    switch (form.get('grant_type')) {
      case 'authorization_code': return this.redeemCode(form);
      case 'refresh_token': return this.refresh(form);
      case 'client_credentials': return this.clientCredentials(form);
      case 'urn:ietf:params:oauth:grant-type:jwt-bearer': return this.onBehalfOf(form);
      default: throw new OAuthError('unsupported_grant_type', 'AADSTS70003: unsupported grant type');
    }
  }

  private redeemCode(form: URLSearchParams): Record<string, unknown> {
    const code = form.get('code') ?? '';
    const grant = this.codes.get(code);
    this.codes.delete(code); // single use
    if (!grant || grant.expires < Date.now()) throw new OAuthError('invalid_grant', 'AADSTS54005: OAuth2 Authorization code was already redeemed or has expired.');
    if (form.get('redirect_uri') !== grant.redirectUri) throw new OAuthError('invalid_grant', 'AADSTS50148: The redirect_uri does not match the authorization request.');
    const verifier = form.get('code_verifier') ?? '';
    if (createHash('sha256').update(verifier).digest('base64url') !== grant.challenge) {
      throw new OAuthError('invalid_grant', 'AADSTS501481: The Code_Verifier does not match the code_challenge supplied in the authorization request.');
    }
    return this.userTokens(grant.user, grant.scope, grant.nonce);
  }

  private refresh(form: URLSearchParams): Record<string, unknown> {
    const rt = form.get('refresh_token') ?? '';
    const grant = this.refreshTokens.get(rt);
    this.refreshTokens.delete(rt); // rotation: a refresh token is used once
    if (!grant || grant.expires < Date.now()) throw new OAuthError('invalid_grant', 'AADSTS70008: The refresh token has expired or is invalid.');
    return this.userTokens(grant.user, form.get('scope') ?? grant.scope);
  }

  /** Revokes every refresh token of a user (the page's "revoke sessions": the next refresh fails with invalid_grant). */
  revoke(oid: string): number {
    let n = 0;
    for (const [rt, g] of this.refreshTokens) {
      if (g.user.oid === oid) {
        this.refreshTokens.delete(rt);
        n++;
      }
    }
    return n;
  }

  private userTokens(user: TestUser, scope: string, nonce?: string): Record<string, unknown> {
    const graphScopes = scope.split(/\s+/).filter((s) => s.startsWith(`${GRAPH_AUDIENCE}/`)).map((s) => s.slice(GRAPH_AUDIENCE.length + 1));
    const ttl = this.o.accessTokenSeconds ?? 3600;
    const out: Record<string, unknown> = {
      token_type: 'Bearer',
      scope: graphScopes.map((s) => `${GRAPH_AUDIENCE}/${s}`).join(' '),
      expires_in: ttl,
      ext_expires_in: ttl,
      access_token: this.graphAccessToken(user, graphScopes, ttl),
    };
    if (/\bopenid\b/.test(scope)) out.id_token = signJwt(this.key, { ...this.userClaims(user), aud: this.o.appId, ...(nonce ? { nonce } : {}) }, 3600);
    if (/\boffline_access\b/.test(scope)) {
      const rt = randomBytes(48).toString('base64url');
      this.refreshTokens.set(rt, { user, scope, expires: Date.now() + 90 * 86400_000 });
      out.refresh_token = rt;
    }
    return out;
  }

  private userClaims(user: TestUser): Record<string, unknown> {
    return { iss: this.issuer, tid: this.o.tenantId, oid: user.oid, sub: user.oid, name: user.name, preferred_username: user.upn };
  }

  /** A delegated access token of `user` for Graph (`scp`: the scopes without the Graph prefix), valid `ttlSeconds`. */
  graphAccessToken(user: TestUser, scopes: string[], ttlSeconds = this.o.accessTokenSeconds ?? 3600): string {
    return signJwt(this.key, { ...this.userClaims(user), aud: GRAPH_AUDIENCE, scp: scopes.join(' '), appid: this.o.appId, azp: this.o.appId }, ttlSeconds);
  }

  private clientCredentials(form: URLSearchParams): Record<string, unknown> {
    const scope = form.get('scope') ?? '';
    if (!scope.endsWith('/.default')) throw new OAuthError('invalid_scope', 'AADSTS1002012: The provided value for scope is not valid (client credentials need /.default).');
    const aud = scope.slice(0, -'/.default'.length);
    return { token_type: 'Bearer', expires_in: 3600, ext_expires_in: 3600, access_token: signJwt(this.key, { iss: this.issuer, aud, appid: this.o.appId, tid: this.o.tenantId, roles: [] }) };
  }

  /** Mints the token Teams would hand the bot for SSO (a v2 access token for `api://botid-{appId}`). */
  ssoToken(user: TestUser): string {
    return signJwt(this.key, { iss: this.issuer, aud: this.o.ssoResource, tid: this.o.tenantId, oid: user.oid, sub: user.oid, scp: this.o.ssoScope, name: user.name, preferred_username: user.upn, azp: '1fec8e78-bce4-4aaf-ab1b-5451cc387264', ver: '2.0' });
  }

  private onBehalfOf(form: URLSearchParams): Record<string, unknown> {
    const claims = verifyJwt(this.key, form.get('assertion') ?? '', this.o.ssoResource);
    const user = claims ? this.o.users().find((u) => u.oid === claims.oid) : undefined;
    if (!user || form.get('requested_token_use') !== 'on_behalf_of') throw new OAuthError('invalid_grant', 'AADSTS50013: Assertion failed signature validation or is not for this application.');
    return this.userTokens(user, form.get('scope') ?? '');
  }

  /** Verifies a Graph access token; the claims, or undefined. */
  verifyGraphToken(token: string): Record<string, any> | undefined {
    return verifyJwt(this.key, token, GRAPH_AUDIENCE);
  }

  /** Verifies the bot's app token for the Bot Connector. */
  verifyBotToken(token: string, audience: string): Record<string, any> | undefined {
    const c = verifyJwt(this.key, token, audience);
    return c && c.appid === this.o.appId ? c : undefined;
  }
}

/** A Teams-shaped id: `29:1` + 43 base64url-ish characters (user), `a:1…` (personal conversation). */
export function teamsId(prefix: string, seed?: string): string {
  const body = seed ? createHash('sha256').update(seed).digest('base64url').slice(0, 43) : randomBytes(32).toString('base64url').slice(0, 43);
  return `${prefix}${body}`;
}

export { randomUUID };
