/**
 * Test identity provider shaped like Microsoft Entra ID v2, backed by a real `oidc-provider` v9.
 *
 * `oidc-provider` is ESM-only and the tests run as CommonJS (ts-jest), so the provider runs in a child Node process
 * (`test/support/oidc-idp/server.mjs`), controlled over the IPC channel. The signing key is generated HERE and handed to
 * the child, so the tests can mint tokens the IdP would accept (Teams SSO tokens, crafted id_tokens) without a round trip.
 *
 * What it serves on `http://127.0.0.1:PORT` for the one `tenantId`:
 * - `/{tenantId}/oauth2/v2.0/authorize` — code flow only, PKCE S256 required, `prompt=select_account` accepted.
 *   {@link IdentityProvider.signIn} drives the interaction (login + consent) programmatically and returns the redirect
 *   to the client's callback (`?code&state`, or `?error=access_denied&state` when asked to deny).
 * - `/{tenantId}/oauth2/v2.0/token` — `client_secret_post`; `authorization_code` (oidc-provider itself answers
 *   `invalid_grant` for a wrong verifier, a reused or garbage code), `refresh_token` (rotated on EVERY use; a reused
 *   refresh token gets `invalid_grant` and revokes the grant, as reuse detection should), `client_credentials`, and
 *   `urn:ietf:params:oauth:grant-type:jwt-bearer` (on-behalf-of, see below).
 * - `/{tenantId}/discovery/v2.0/keys` — the JWKS (one RS256 key).
 * - `/{tenantId}/v2.0/.well-known/openid-configuration` — discovery.
 * - issuer `http://127.0.0.1:PORT/{tenantId}/v2.0`, i.e. `${authority}/${tenantId}/v2.0` with `authority` = origin.
 *
 * Tokens: id_token (RS256) with `nonce`, `oid`, `tid`, `name`, `preferred_username`, `aud` = the client id. Access
 * tokens are RS256 JWTs (`aud` = the resource, e.g. `https://graph.microsoft.com`, plus `oid`, `tid`, `scp`, `azp`),
 * with the TTL from `accessTokenTtlSeconds` (changeable at run time with {@link IdentityProvider.setAccessTokenTtl}).
 * Graph-style scopes (`https://graph.microsoft.com/User.Read`) select the resource, as Entra does: one resource per
 * request. Known resources: `graphResource` with `graphScopes`, and `https://api.botframework.com` with `.default`.
 *
 * On-behalf-of (Teams SSO): the jwt-bearer grant accepts an `assertion` signed by this IdP (see
 * {@link IdentityProvider.mintSsoToken}) with `aud` = the calling client id or `api://botid-{clientId}` and `scp`
 * containing `access_as_user`, for a known `oid`. A user with `oboFailure: 'consent_required'` gets Entra's answer
 * `400 {error: 'invalid_grant', suberror: 'consent_required', error_codes: [65001]}`; `'interaction_required'` gets
 * `400 {error: 'interaction_required', error_codes: [50076], claims}`. Otherwise: access token (+ refresh token when
 * `offline_access` was asked), refreshable like any other.
 *
 * Bot Connector stand-ins: the bot's app token is a real client-credentials grant here —
 * `POST {tokenEndpoint}` with `grant_type=client_credentials`, `client_id`, `client_secret`,
 * `scope=https://api.botframework.com/.default` returns a JWT with `iss` = {@link IdentityProvider.issuer},
 * `aud` = `https://api.botframework.com`, `appid`/`azp` = the client id. A stand-in that wants to check the bot's
 * `Authorization` header verifies it against {@link IdentityProvider.jwksUri} (or {@link IdentityProvider.publicJwk})
 * with that issuer and audience. Point `BotAppTokenProvider` at it with `authority` = {@link IdentityProvider.authority}
 * and `tenantId` = the IdP's tenant.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import * as path from 'node:path';
import { exportJWK, generateKeyPair, SignJWT, type JWK, type JWTHeaderParameters, type KeyLike } from 'jose';

/** A user the IdP knows. `login` doubles as `preferred_username`. */
export interface IdpUser {
  login: string;
  oid: string;
  tid: string;
  name: string;
  /** Make the on-behalf-of grant fail for this user the way Entra does. */
  oboFailure?: 'consent_required' | 'interaction_required';
  /** The user declines at sign-in: {@link IdentityProvider.signIn} yields `error=access_denied`. */
  denySignIn?: boolean;
}

/** A registered application (client_secret_post). */
export interface IdpClient {
  appId: string;
  secret: string;
  redirectUris: string[];
}

/** Options of {@link startIdentityProvider}. */
export interface IdentityProviderOptions {
  tenantId: string;
  clients: IdpClient[];
  users: IdpUser[];
  /** Access token lifetime in seconds. @default 3600 */
  accessTokenTtlSeconds?: number;
  /** Resource of the delegated scopes. @default 'https://graph.microsoft.com' */
  graphResource?: string;
  /** Scope names the Graph-like resource accepts. @default User.Read, Mail.Read, Calendars.Read, Files.Read.All, Chat.Read, .default */
  graphScopes?: string[];
  /** Scope an SSO token must carry for on-behalf-of. @default 'access_as_user' */
  ssoScope?: string;
}

/** Options of {@link IdentityProvider.mintSsoToken}. */
export interface MintOptions {
  /** @default `api://botid-{first client's appId}` */
  audience?: string | string[];
  /** Space separated. @default 'access_as_user' */
  scp?: string | null;
  /** Lifetime from now; negative values give an expired token. @default 3600 */
  expiresInSeconds?: number;
  /** @default the IdP issuer */
  issuer?: string;
  /** Override or add claims (e.g. `oid`, `tid`); a value of `undefined` removes the claim. */
  claims?: Record<string, unknown>;
  /** Sign with another key (e.g. one the IdP does not publish). */
  key?: { privateKey: KeyLike; kid: string; alg?: string };
}

/** Handle of a running test IdP. */
export interface IdentityProvider {
  /** `http://127.0.0.1:PORT` — what EntraOAuthOptions.authority expects. */
  authority: string;
  tenantId: string;
  /** `${authority}/${tenantId}/v2.0` */
  issuer: string;
  authorizationEndpoint: string;
  tokenEndpoint: string;
  jwksUri: string;
  /** The IdP's public signing key (JWK with `kid`, `alg`). */
  publicJwk: JWK;
  /**
   * Drives the authorization request at `authorizeUrl` through login + consent for `login` and returns the redirect to
   * the client's callback (`code` + `state`), or `error=access_denied` when `opts.deny` (or the user's `denySignIn`).
   * Throws if the authorization endpoint itself refuses the request (the error JSON is in the message).
   */
  signIn(authorizeUrl: string, login: string, opts?: { deny?: boolean }): Promise<URL>;
  /** A Teams SSO token (v2 access token for the bot's API) for `login`, signed by the IdP key unless `opts.key`. */
  mintSsoToken(login: string, opts?: MintOptions): Promise<string>;
  /** Signs arbitrary claims with the IdP key (RS256, kid), e.g. to craft id_tokens for negative tests. */
  signJwt(claims: Record<string, unknown>, opts?: { key?: MintOptions['key']; header?: Record<string, unknown> }): Promise<string>;
  /** Access token lifetime of tokens issued from now on. */
  setAccessTokenTtl(seconds: number): Promise<void>;
  /** Changes a user at run time (e.g. `{ oboFailure: 'consent_required' }`, `{ oboFailure: undefined }` to clear). */
  updateUser(login: string, changes: Partial<Omit<IdpUser, 'login'>>): Promise<void>;
  addUser(user: IdpUser): Promise<void>;
  /**
   * Registers a client, or replaces one with the same `appId` (e.g. once the receiver's port, hence its redirect URI,
   * is known). Rejects when oidc-provider refuses the metadata.
   */
  upsertClient(client: IdpClient): Promise<void>;
  /** Requests seen per endpoint (to assert caching, e.g. JWKS fetches). */
  stats(): Promise<{ authorize: number; token: number; jwks: number; discovery: number; interaction: number }>;
  stop(): Promise<void>;
}

const DEFAULT_GRAPH_SCOPES = ['User.Read', 'Mail.Read', 'Calendars.Read', 'Files.Read.All', 'Chat.Read', '.default'];
const TEAMS_DESKTOP_CLIENT_ID = '1fec8e78-bce4-4aaf-ab1b-5451cc387264';

/** Starts the IdP child process on a free port of 127.0.0.1. Always call `stop()` (e.g. in `afterAll`). */
export async function startIdentityProvider(opts: IdentityProviderOptions): Promise<IdentityProvider> {
  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
  const kid = randomUUID();
  const privateJwk = { ...(await exportJWK(privateKey)), kid, alg: 'RS256', use: 'sig' };
  const publicJwk: JWK = { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' };
  const graphResource = opts.graphResource ?? 'https://graph.microsoft.com';
  const ssoScope = opts.ssoScope ?? 'access_as_user';

  const child: ChildProcess = fork(path.join(__dirname, 'oidc-idp', 'server.mjs'), [], {
    execArgv: ['--no-warnings'],
    stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
    env: { PATH: process.env.PATH ?? '', NODE_ENV: 'test' },
  });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });

  let nextId = 1;
  const pending = new Map<number, { resolve: (v: any) => void; reject: (e: Error) => void }>();
  child.on('message', (msg: any) => {
    const p = pending.get(msg?.id);
    if (!p) return;
    pending.delete(msg.id);
    if (msg.ok) p.resolve(msg.result);
    else p.reject(new Error(`oidc-idp: ${msg.error}`));
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => {
    for (const p of pending.values()) p.reject(new Error(`oidc-idp child exited. stderr: ${stderr}`));
    pending.clear();
    resolve();
  }));
  const call = <T = any>(cmd: string, args?: unknown): Promise<T> => new Promise<T>((resolve, reject) => {
    if (child.exitCode !== null || !child.connected) {
      reject(new Error(`oidc-idp child is not running. stderr: ${stderr}`));
      return;
    }
    const id = nextId++;
    pending.set(id, { resolve, reject });
    child.send({ id, cmd, args });
  });

  let port: number;
  let issuer: string;
  try {
    ({ port, issuer } = await withTimeout(call<{ port: number; issuer: string }>('init', {
      tenantId: opts.tenantId,
      clients: opts.clients,
      users: opts.users,
      privateJwk,
      publicJwk,
      ssoScope,
      resources: {
        [graphResource]: opts.graphScopes ?? DEFAULT_GRAPH_SCOPES,
        'https://api.botframework.com': ['.default'],
      },
    }), 15000, () => `oidc-idp did not start. stderr: ${stderr}`));
    if (opts.accessTokenTtlSeconds !== undefined) {
      await call('setAccessTokenTtl', { seconds: opts.accessTokenTtlSeconds });
    }
  } catch (err) {
    child.kill('SIGKILL');
    await exited;
    throw err;
  }

  const authority = `http://127.0.0.1:${port}`;
  const tenantBase = `${authority}/${opts.tenantId}`;
  const users = opts.users.map((u) => ({ ...u }));
  const defaultKey = { privateKey, kid, alg: 'RS256' };

  const signJwt: IdentityProvider['signJwt'] = async (claims, o = {}) => {
    const key = o.key ?? defaultKey;
    const payload = Object.fromEntries(Object.entries(claims).filter(([, v]) => v !== undefined));
    const header: Record<string, unknown> = { typ: 'JWT', ...(o.header ?? {}), alg: key.alg ?? 'RS256', kid: key.kid };
    // jose refuses to sign a `crit` it does not know unless told: tests use that to forge unknown critical headers.
    const crit = Array.isArray(header.crit) ? Object.fromEntries((header.crit as string[]).map((c) => [c, true])) : undefined;
    return new SignJWT(payload as any).setProtectedHeader(header as JWTHeaderParameters).sign(key.privateKey, crit ? { crit } : undefined);
  };

  return {
    authority,
    tenantId: opts.tenantId,
    issuer,
    authorizationEndpoint: `${tenantBase}/oauth2/v2.0/authorize`,
    tokenEndpoint: `${tenantBase}/oauth2/v2.0/token`,
    jwksUri: `${tenantBase}/discovery/v2.0/keys`,
    publicJwk,
    signIn: (authorizeUrl, login, o) => signIn(authority, authorizeUrl, login, o?.deny === true),
    signJwt,
    async mintSsoToken(login, o = {}) {
      const user = users.find((u) => u.login === login);
      if (!user) throw new Error(`oidc-idp: unknown user ${login}`);
      const now = Math.floor(Date.now() / 1000);
      const exp = now + (o.expiresInSeconds ?? 3600);
      const appId = opts.clients[0]?.appId;
      return signJwt({
        iss: o.issuer ?? issuer,
        aud: o.audience ?? `api://botid-${appId}`,
        iat: Math.min(now, exp - 60),
        nbf: Math.min(now, exp - 60),
        exp,
        azp: TEAMS_DESKTOP_CLIENT_ID,
        azpacr: '0',
        name: user.name,
        oid: user.oid,
        preferred_username: user.login,
        scp: o.scp === null ? undefined : (o.scp ?? ssoScope),
        sub: `sub-${user.oid}`,
        tid: user.tid,
        ver: '2.0',
        ...(o.claims ?? {}),
      }, { key: o.key });
    },
    async setAccessTokenTtl(seconds) {
      await call('setAccessTokenTtl', { seconds });
    },
    async updateUser(login, changes) {
      // IPC is JSON (undefined vanishes): send null for "remove".
      const wire = Object.fromEntries(Object.entries(changes).map(([k, v]) => [k, v === undefined ? null : v]));
      await call('setUser', { login, changes: wire });
      const u = users.find((x) => x.login === login) as Record<string, unknown> | undefined;
      if (u) {
        for (const [k, v] of Object.entries(changes)) {
          if (v === undefined) delete u[k];
          else u[k] = v;
        }
      }
    },
    async addUser(user) {
      await call('addUser', { user });
      users.push({ ...user });
    },
    async upsertClient(c) {
      await call('upsertClient', { client: c });
    },
    stats: () => call('stats'),
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
        await exited;
        clearTimeout(timer);
      }
    },
  };
}

async function withTimeout<T>(p: Promise<T>, ms: number, message: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(message())), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * A browser in miniature: follows the IdP's redirects with a cookie jar, finishes each interaction through the test
 * route `/interaction/{uid}/auto`, and stops at the first redirect that leaves the IdP (the client's callback).
 */
async function signIn(authority: string, authorizeUrl: string, login: string, deny: boolean): Promise<URL> {
  const jar = new Map<string, string>();
  const origin = new URL(authority).origin;
  let next = new URL(authorizeUrl);
  if (next.origin !== origin) throw new Error(`signIn: ${authorizeUrl} is not on this IdP (${origin})`);
  for (let hop = 0; hop < 12; hop++) {
    const res = await fetch(next, {
      redirect: 'manual',
      headers: jar.size ? { cookie: [...jar].map(([k, v]) => `${k}=${v}`).join('; ') } : {},
      signal: AbortSignal.timeout(5000),
    });
    for (const c of res.headers.getSetCookie()) {
      const [pair, ...attrs] = c.split(';');
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      const expired = attrs.some((a) => /^\s*expires=Thu, 01 Jan 1970/i.test(a)) || attrs.some((a) => /^\s*max-age=0\s*$/i.test(a));
      if (expired || value === '') jar.delete(name);
      else jar.set(name, value);
    }
    const location = res.headers.get('location');
    if (res.status < 300 || res.status >= 400 || !location) {
      const body = await res.text();
      throw new Error(`signIn: the IdP answered ${res.status} at ${next.pathname}: ${body.slice(0, 500)}`);
    }
    await res.arrayBuffer().catch(() => undefined);
    const target = new URL(location, next);
    if (target.origin !== origin) return target;
    if (/^\/interaction\/[^/]+$/.test(target.pathname)) {
      target.pathname += '/auto';
      target.searchParams.set('login', login);
      if (deny) target.searchParams.set('deny', '1');
    }
    // A redirect to a callback on the same origin (tests may host both on 127.0.0.1) ends the walk too.
    if (!target.pathname.startsWith('/interaction/') && !isIdpPath(target.pathname)) return target;
    next = target;
  }
  throw new Error('signIn: too many redirects');
}

function isIdpPath(pathname: string): boolean {
  return /^\/[^/]+\/(oauth2|discovery|v2\.0|oidc)\//.test(pathname);
}
