/**
 * entra-oauth against a real oidc-provider shaped like Entra ID v2 (test/support/oidc-idp.ts), plus raw local HTTP
 * servers for the failure modes an IdP cannot be asked to produce (no answer, 5xx, 429, garbage).
 */
import { createHash } from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createLocalJWKSet, createRemoteJWKSet, decodeJwt, generateKeyPair, jwtVerify, SignJWT } from 'jose';
import { RequestError } from '../../lambda/receiver/activity';
import { parseCallbackQuery } from '../../lambda/receiver/callback';
import { BotAppTokenProvider } from '../../lambda/shared/bot-connector';
import {
  createEntraOAuthClient,
  createPkce,
  EntraOAuthClient,
  OAuthError,
  OAuthUnavailableError,
  pkceChallenge,
  randomUrlSafe,
  sanitizeDescription,
  ssoAudiences,
  TokenValidationError,
} from '../../lambda/shared/entra-oauth';
import { setLogLevel, setLogSink, type LogSink } from '../../lambda/shared/log';
import { startIdentityProvider, type IdentityProvider } from '../support/oidc-idp';

const TENANT = '8a1c2d3e-0000-4000-8000-00000000a11c';
const OTHER_TENANT = '8a1c2d3e-0000-4000-8000-0000000b0b00';
const APP_ID = '3f0e2b1a-1111-4222-8333-444455556666';
const SECRET = 'test-client-secret-value-0123456789';
const REDIRECT = 'http://127.0.0.1:9/auth/callback';
const GRAPH = 'https://graph.microsoft.com';

const ADA = { login: 'ada@contoso.test', oid: '00000000-0000-4000-8000-0000000000a1', tid: TENANT, name: 'Ada Lovelace' };
const BOB = { login: 'bob@contoso.test', oid: '00000000-0000-4000-8000-0000000000b2', tid: TENANT, name: 'Bob', oboFailure: 'consent_required' as const };
const CAROL = { login: 'carol@contoso.test', oid: '00000000-0000-4000-8000-0000000000c3', tid: TENANT, name: 'Carol', oboFailure: 'interaction_required' as const };
const GUEST = { login: 'eve@fabrikam.test', oid: '00000000-0000-4000-8000-0000000000e4', tid: OTHER_TENANT, name: 'Eve' };

let idp: IdentityProvider;
let client: EntraOAuthClient;
/** Every log line the module writes during the suite, and every credential the suite saw: checked at the end. */
const logLines: string[] = [];
const credentials = new Set<string>([SECRET]);
let previousSink: LogSink | undefined;
function remember<T extends { accessToken: string; refreshToken?: string; idToken?: string }>(t: T): T {
  for (const v of [t.accessToken, t.refreshToken, t.idToken]) if (v) credentials.add(v);
  return t;
}

function newClient(overrides: Partial<ConstructorParameters<typeof EntraOAuthClient>[0]> = {}): EntraOAuthClient {
  return new EntraOAuthClient({
    authority: idp.authority,
    appId: APP_ID,
    getClientSecret: async () => SECRET,
    graphResource: GRAPH,
    timeoutMs: 3000,
    ...overrides,
  });
}

beforeAll(async () => {
  previousSink = setLogSink((line) => logLines.push(line));
  setLogLevel('debug');
  idp = await startIdentityProvider({
    tenantId: TENANT,
    clients: [{ appId: APP_ID, secret: SECRET, redirectUris: [REDIRECT] }],
    users: [ADA, BOB, CAROL, GUEST],
    accessTokenTtlSeconds: 3900,
  });
  client = newClient();
});

afterAll(async () => {
  setLogSink(previousSink);
  setLogLevel(undefined);
  await idp?.stop();
});

const scopes = () => client.scopesFor(['User.Read']);
const redeem = (code: string, codeVerifier: string) =>
  client.redeemCode({ tenantId: TENANT, code, codeVerifier, redirectUri: REDIRECT, scopes: scopes() });

/** Authorization request → programmatic sign-in → callback URL; returns what the callback would hold. */
async function signInFlow(login = ADA.login, opts: { deny?: boolean; loginHint?: string } = {}) {
  const pkce = createPkce();
  const state = randomUrlSafe();
  const nonce = randomUrlSafe();
  const url = client.authorizeUrl({
    tenantId: TENANT, state, nonce, codeChallenge: pkce.challenge, scopes: scopes(), redirectUri: REDIRECT, loginHint: opts.loginHint,
  });
  const callback = await idp.signIn(url, login, { deny: opts.deny });
  const code = callback.searchParams.get('code') ?? '';
  for (const v of [code, pkce.verifier, state, nonce]) if (v) credentials.add(v);
  return { callback, pkce, state, nonce, code };
}

async function expectOAuthError(p: Promise<unknown>, error: string): Promise<OAuthError> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(OAuthError);
  expect((err as OAuthError).error).toBe(error);
  return err as OAuthError;
}

describe('helpers', () => {
  test('createPkce: 43-char verifier and its S256 challenge', () => {
    const { verifier, challenge } = createPkce();
    expect(verifier).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(challenge).toBe(createHash('sha256').update(verifier).digest('base64url'));
    expect(pkceChallenge('dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk')).toBe('E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM'); // RFC 7636 B
    expect(createPkce().verifier).not.toBe(verifier);
  });

  test('randomUrlSafe: at least 128 bits', () => {
    expect(randomUrlSafe()).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(randomUrlSafe(16)).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(() => randomUrlSafe(8)).toThrow(RangeError);
  });

  test('scopesFor prefixes Graph scopes with the resource, once', () => {
    expect(client.scopesFor(['User.Read', 'Mail.Read', 'User.Read', 'offline_access']))
      .toEqual(['openid', 'profile', 'offline_access', `${GRAPH}/User.Read`, `${GRAPH}/Mail.Read`]);
    expect(newClient({ graphResource: 'https://graph.microsoft.us/' }).scopesFor(['User.Read']))
      .toEqual(['openid', 'profile', 'offline_access', 'https://graph.microsoft.us/User.Read']);
  });

  test('authorizeUrl: Entra v2 endpoint of the tenant, code + PKCE S256 + nonce + state, query response mode', () => {
    const { challenge } = createPkce();
    const url = new URL(client.authorizeUrl({
      tenantId: TENANT, state: 'st-1234567890', nonce: 'no-1234567890', codeChallenge: challenge, scopes: scopes(), redirectUri: REDIRECT,
    }));
    expect(`${url.origin}${url.pathname}`).toBe(`${idp.authority}/${TENANT}/oauth2/v2.0/authorize`);
    expect(Object.fromEntries(url.searchParams)).toEqual({
      client_id: APP_ID,
      response_type: 'code',
      redirect_uri: REDIRECT,
      response_mode: 'query',
      scope: `openid profile offline_access ${GRAPH}/User.Read`,
      state: 'st-1234567890',
      nonce: 'no-1234567890',
      code_challenge: challenge,
      code_challenge_method: 'S256',
      prompt: 'select_account',
    });
    const hinted = new URL(client.authorizeUrl({
      tenantId: TENANT, state: 's', nonce: 'n', codeChallenge: challenge, scopes: scopes(), redirectUri: REDIRECT, loginHint: 'ada@contoso.test',
    }));
    expect(hinted.searchParams.get('login_hint')).toBe('ada@contoso.test');
    expect(hinted.searchParams.has('prompt')).toBe(false);
    const base = { tenantId: TENANT, state: 's', nonce: 'n', codeChallenge: challenge, scopes: scopes(), redirectUri: REDIRECT };
    expect(new URL(client.authorizeUrl({ ...base, prompt: null })).searchParams.has('prompt')).toBe(false);
    expect(new URL(client.authorizeUrl({ ...base, prompt: 'consent' })).searchParams.get('prompt')).toBe('consent');
  });

  test('authorizeUrl rejects two resources, bad tenants and a non-S256 challenge', () => {
    const { challenge } = createPkce();
    const base = { tenantId: TENANT, state: 's', nonce: 'n', codeChallenge: challenge, redirectUri: REDIRECT };
    expect(() => client.authorizeUrl({ ...base, scopes: [...scopes(), 'https://outlook.office.com/Mail.Read'] }))
      .toThrow(/more than one resource/);
    expect(() => client.authorizeUrl({ ...base, scopes: ['openid', 'User.Read', 'Mail.Read'] })).not.toThrow();
    expect(() => client.authorizeUrl({ ...base, tenantId: '../evil', scopes: scopes() })).toThrow(OAuthError);
    expect(() => client.authorizeUrl({ ...base, tenantId: 'x/y', scopes: scopes() })).toThrow(OAuthError);
    expect(() => client.authorizeUrl({ ...base, codeChallenge: 'plain-verifier', scopes: scopes() })).toThrow(/S256/);
  });

  test('createEntraOAuthClient takes authority, app id and Graph resource from the configuration', () => {
    const c = createEntraOAuthClient(
      { appId: APP_ID, entraAuthority: 'https://login.microsoftonline.us/', graphResource: 'https://graph.microsoft.us' }, async () => SECRET);
    expect(c.tokenEndpoint(TENANT)).toBe(`https://login.microsoftonline.us/${TENANT}/oauth2/v2.0/token`);
    expect(c.jwksUri(TENANT)).toBe(`https://login.microsoftonline.us/${TENANT}/discovery/v2.0/keys`);
    expect(c.issuer(TENANT)).toBe(`https://login.microsoftonline.us/${TENANT}/v2.0`);
    expect(c.scopesFor(['User.Read'])).toContain('https://graph.microsoft.us/User.Read');
    expect(new URL(c.authorizeUrl({
      tenantId: TENANT, state: 's', nonce: 'n', codeChallenge: createPkce().challenge, scopes: c.scopesFor(['User.Read']), redirectUri: REDIRECT,
    })).searchParams.get('client_id')).toBe(APP_ID);
    expect(ssoAudiences(APP_ID)).toEqual([APP_ID, `api://botid-${APP_ID}`]);
    expect(ssoAudiences(APP_ID, 'api://bot.contoso.com/botid-x')).toEqual([APP_ID, 'api://bot.contoso.com/botid-x']);
  });

  test('sanitizeDescription drops JWTs, long opaque strings, secrets and control characters', () => {
    const jwt = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl';
    const code = 'M.C5_BAY.2.U.' + 'a'.repeat(60);
    const out = sanitizeDescription(`AADSTS70008: bad ${jwt} code ${code}\r\nTrace ID: 92f6c5fc-dd4c-47fc-a4ad-f88604000400 s3cr3t-value!`, ['s3cr3t-value!']);
    expect(out).toBe('AADSTS70008: bad [jwt] code [redacted] Trace ID: 92f6c5fc-dd4c-47fc-a4ad-f88604000400 [redacted]');
    expect(sanitizeDescription('x'.repeat(1000))).toBe('[redacted]');
    expect(sanitizeDescription('word '.repeat(100))!.length).toBeLessThanOrEqual(300);
    expect(sanitizeDescription(undefined)).toBeUndefined();
  });
});

describe('authorization code flow with PKCE (real oidc-provider)', () => {
  test('sign in, redeem, validate the id_token', async () => {
    const { callback, pkce, state, nonce, code } = await signInFlow();
    expect(callback.origin + callback.pathname).toBe(REDIRECT);
    expect(callback.searchParams.get('state')).toBe(state);
    expect(code).not.toBe('');

    const tokens = remember(await redeem(code, pkce.verifier));
    expect(tokens.accessToken).toEqual(expect.any(String));
    expect(tokens.refreshToken).toEqual(expect.any(String));
    expect(tokens.expiresIn).toBe(3900);
    const at = decodeJwt(tokens.accessToken);
    expect(at.aud).toBe(GRAPH);
    expect(at.oid).toBe(ADA.oid);

    const who = await client.validateIdToken(tokens.idToken, { tenantId: TENANT, nonce });
    expect(who).toEqual({ oid: ADA.oid, tid: TENANT, name: ADA.name, preferredUsername: ADA.login });
  });

  test('login_hint flows through to the IdP', async () => {
    const { code, pkce } = await signInFlow(ADA.login, { loginHint: ADA.login });
    await expect(client.redeemCode({ tenantId: TENANT, code, codeVerifier: pkce.verifier, redirectUri: REDIRECT, scopes: scopes() }))
      .resolves.toMatchObject({ idToken: expect.any(String) });
  });

  test('the user declines: error=access_denied with the state', async () => {
    const { callback, state } = await signInFlow(ADA.login, { deny: true });
    expect(callback.searchParams.get('error')).toBe('access_denied');
    expect(callback.searchParams.get('state')).toBe(state);
    expect(callback.searchParams.has('code')).toBe(false);
    const parsed = parseCallbackQuery(callback.search.slice(1));
    expect(parsed).toMatchObject({ error: 'access_denied', state });
    expect(parsed.errorDescription).toMatch(/^AADSTS65004/);
  });

  test('the callback query parser (receiver/callback.ts) on a real callback, and what a browser gets a 400 for', async () => {
    const { callback, state, code } = await signInFlow();
    expect(parseCallbackQuery(callback.search.slice(1))).toEqual({ code, state });
    const st = randomUrlSafe();
    const query = (q: Record<string, string>) => new URLSearchParams(q).toString();
    expect(parseCallbackQuery(query({ error: 'consent_required', error_description: 'AADSTS65001: nope', state: st })))
      .toEqual({ error: 'consent_required', errorDescription: 'AADSTS65001: nope', state: st });
    const invalid = (q: string) => {
      try {
        return `not invalid: ${JSON.stringify(parseCallbackQuery(q))}`;
      } catch (err) {
        expect(err).toBeInstanceOf(RequestError);
        return (err as RequestError).reason;
      }
    };
    expect(invalid(query({ error: 'access_denied', error_subcode: 'cancel', state: 'short' }))).toBe('invalid_state');
    expect(invalid(query({ state: `${st},${st}`, code: 'abc' }))).toBe('invalid_state');
    expect(invalid(query({ state: st, code: 'a,b' }))).toBe('invalid_code');
    expect(invalid(query({ state: st, code: 'x'.repeat(5000) }))).toBe('invalid_code');
    expect(invalid(`state=${st}&state=${st}&code=abc`)).toBe('duplicate_state');
  });

  test('wrong PKCE verifier → invalid_grant, and the description holds no code or verifier', async () => {
    const { code } = await signInFlow();
    const wrong = createPkce().verifier;
    const err = await expectOAuthError(
      client.redeemCode({ tenantId: TENANT, code, codeVerifier: wrong, redirectUri: REDIRECT, scopes: scopes() }), 'invalid_grant');
    expect(err.status).toBe(400);
    expect(err.requiresSignIn).toBe(true);
    expect(`${err.message} ${err.description}`).not.toContain(code);
    expect(`${err.message} ${err.description}`).not.toContain(wrong);
    expect(`${err.message} ${err.description}`).not.toContain(SECRET);
  });

  test('a code redeemed twice → invalid_grant the second time', async () => {
    const { code, pkce } = await signInFlow();
    const p = { tenantId: TENANT, code, codeVerifier: pkce.verifier, redirectUri: REDIRECT, scopes: scopes() };
    remember(await client.redeemCode(p));
    await expectOAuthError(client.redeemCode(p), 'invalid_grant');
  });

  test('a garbage code → invalid_grant; a wrong redirect_uri → invalid_grant', async () => {
    await expectOAuthError(client.redeemCode({
      tenantId: TENANT, code: 'not-a-code', codeVerifier: createPkce().verifier, redirectUri: REDIRECT, scopes: scopes(),
    }), 'invalid_grant');
    const { code, pkce } = await signInFlow();
    await expectOAuthError(client.redeemCode({
      tenantId: TENANT, code, codeVerifier: pkce.verifier, redirectUri: 'http://127.0.0.1:9/other', scopes: scopes(),
    }), 'invalid_grant');
  });

  test('a wrong client secret → invalid_client (401), secret not echoed', async () => {
    const { code, pkce } = await signInFlow();
    const bad = newClient({ getClientSecret: async () => 'wrong-secret-value-123' });
    const err = await expectOAuthError(
      bad.redeemCode({ tenantId: TENANT, code, codeVerifier: pkce.verifier, redirectUri: REDIRECT, scopes: scopes() }), 'invalid_client');
    expect(err.status).toBe(401);
    expect(err.requiresSignIn).toBe(false);
    expect(err.message).not.toContain('wrong-secret-value-123');
  });

  test('another tenant in the path is not this IdP (URL derivation is real)', async () => {
    const { code, pkce } = await signInFlow();
    const err = await client.redeemCode({ tenantId: OTHER_TENANT, code, codeVerifier: pkce.verifier, redirectUri: REDIRECT, scopes: scopes() })
      .then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(OAuthUnavailableError); // 404 without an OAuth error body: not a sign-in problem
  });
});

describe('refresh token rotation', () => {
  test('each refresh returns a new refresh token; a spent one → invalid_grant', async () => {
    const { code, pkce } = await signInFlow();
    const first = remember(await redeem(code, pkce.verifier));
    const second = remember(await client.refresh({ tenantId: TENANT, refreshToken: first.refreshToken!, scopes: scopes() }));
    expect(second.refreshToken).toEqual(expect.any(String));
    expect(second.refreshToken).not.toBe(first.refreshToken);
    expect(second.accessToken).not.toBe(first.accessToken);
    expect(second.expiresIn).toBe(3900);
    const third = remember(await client.refresh({ tenantId: TENANT, refreshToken: second.refreshToken!, scopes: scopes() }));
    expect(third.refreshToken).not.toBe(second.refreshToken);

    const err = await expectOAuthError(client.refresh({ tenantId: TENANT, refreshToken: first.refreshToken!, scopes: scopes() }), 'invalid_grant');
    expect(err.requiresSignIn).toBe(true);
    expect(err.message).not.toContain(first.refreshToken!);
    // reuse detection (RFC 9700 §4.14.2): replaying a spent token revokes the whole grant, the newest one included
    await expectOAuthError(client.refresh({ tenantId: TENANT, refreshToken: third.refreshToken!, scopes: scopes() }), 'invalid_grant');
  });

  test('an unknown refresh token → invalid_grant', async () => {
    await expectOAuthError(client.refresh({ tenantId: TENANT, refreshToken: 'garbage-refresh-token', scopes: scopes() }), 'invalid_grant');
  });

  test('the access token TTL follows the IdP (expiry + silent refresh scenario)', async () => {
    await idp.setAccessTokenTtl(2);
    try {
      const { code, pkce } = await signInFlow();
      const t = remember(await redeem(code, pkce.verifier));
      expect(t.expiresIn).toBe(2);
      await new Promise((r) => setTimeout(r, 2100));
      const jwks = createRemoteJWKSet(new URL(idp.jwksUri));
      await expect(jwtVerify(t.accessToken, jwks, { issuer: idp.issuer, audience: GRAPH })).rejects.toThrow(/exp/);
      await idp.setAccessTokenTtl(3900);
      const r = remember(await client.refresh({ tenantId: TENANT, refreshToken: t.refreshToken!, scopes: scopes() }));
      expect(r.expiresIn).toBe(3900);
      await expect(jwtVerify(r.accessToken, jwks, { issuer: idp.issuer, audience: GRAPH })).resolves.toBeDefined();
    } finally {
      await idp.setAccessTokenTtl(3900);
    }
  });
});

describe('validateIdToken', () => {
  const now = () => Math.floor(Date.now() / 1000);
  const idClaims = (over: Record<string, unknown> = {}) => ({
    iss: idp.issuer, aud: APP_ID, iat: now(), exp: now() + 3600, nonce: 'n-1', oid: ADA.oid, tid: TENANT, sub: 'x', ...over,
  });

  test('a real id_token with the wrong nonce → nonce_mismatch', async () => {
    const { code, pkce } = await signInFlow();
    const t = remember(await redeem(code, pkce.verifier));
    const err = await client.validateIdToken(t.idToken, { tenantId: TENANT, nonce: 'another-nonce' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TokenValidationError);
    expect((err as TokenValidationError).reason).toBe('nonce_mismatch');
  });

  test.each([
    ['wrong audience', 'wrong_audience', { aud: 'some-other-app' }],
    ['several audiences without azp', 'wrong_audience', { aud: [APP_ID, 'other'] }],
    ['expired beyond the clock tolerance', 'expired', { exp: Math.floor(Date.now() / 1000) - 301 - 60, iat: Math.floor(Date.now() / 1000) - 4000 }],
    ['not yet valid', 'not_yet_valid', { nbf: Math.floor(Date.now() / 1000) + 600 }],
    ['wrong issuer (another tenant)', 'wrong_issuer', { iss: `http://127.0.0.1:1/${OTHER_TENANT}/v2.0` }],
    ['no exp', 'missing_claim', { exp: undefined }],
    ['no nonce', 'missing_claim', { nonce: undefined }],
    ['no oid', 'missing_claim', { oid: undefined }],
    ['tid of another tenant', 'tenant_mismatch', { tid: OTHER_TENANT }],
  ])('%s → %s', async (_name, reason, over) => {
    const token = await idp.signJwt(idClaims(over as Record<string, unknown>));
    const err = await client.validateIdToken(token, { tenantId: TENANT, nonce: 'n-1' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TokenValidationError);
    expect((err as TokenValidationError).reason).toBe(reason);
  });

  test('a crafted token with all claims right passes; expired within the tolerance passes', async () => {
    await expect(client.validateIdToken(await idp.signJwt(idClaims()), { tenantId: TENANT, nonce: 'n-1' }))
      .resolves.toMatchObject({ oid: ADA.oid, tid: TENANT });
    await expect(client.validateIdToken(await idp.signJwt(idClaims({ exp: now() - 100, iat: now() - 3700 })), { tenantId: TENANT, nonce: 'n-1' }))
      .resolves.toMatchObject({ oid: ADA.oid });
    const strict = newClient({ clockToleranceSec: 0 });
    await expect(strict.validateIdToken(await idp.signJwt(idClaims({ exp: now() - 100, iat: now() - 3700 })), { tenantId: TENANT, nonce: 'n-1' }))
      .rejects.toMatchObject({ reason: 'expired' });
  });

  test('the `now` option moves the clock', async () => {
    const token = await idp.signJwt(idClaims());
    const later = newClient({ now: () => Date.now() + 2 * 3600 * 1000 });
    await expect(later.validateIdToken(token, { tenantId: TENANT, nonce: 'n-1' })).rejects.toMatchObject({ reason: 'expired' });
  });

  test('signed by a key the tenant does not publish → unknown_key; same kid, other key → bad_signature', async () => {
    const other = await generateKeyPair('RS256');
    const unknownKid = await idp.signJwt(idClaims(), { key: { privateKey: other.privateKey, kid: 'not-published' } });
    await expect(client.validateIdToken(unknownKid, { tenantId: TENANT, nonce: 'n-1' })).rejects.toMatchObject({ reason: 'unknown_key' });
    const sameKid = await idp.signJwt(idClaims(), { key: { privateKey: other.privateKey, kid: idp.publicJwk.kid! } });
    await expect(client.validateIdToken(sameKid, { tenantId: TENANT, nonce: 'n-1' })).rejects.toMatchObject({ reason: 'bad_signature' });
  });

  test('HS256 (even keyed with something public) and alg none are refused', async () => {
    const hs = await new SignJWT(idClaims()).setProtectedHeader({ alg: 'HS256', kid: idp.publicJwk.kid! })
      .sign(new TextEncoder().encode(idp.publicJwk.n!));
    await expect(client.validateIdToken(hs, { tenantId: TENANT, nonce: 'n-1' })).rejects.toMatchObject({ reason: 'algorithm_not_allowed' });
    const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const none = `${b64({ alg: 'none' })}.${b64(idClaims())}.`;
    await expect(client.validateIdToken(none, { tenantId: TENANT, nonce: 'n-1' })).rejects.toBeInstanceOf(TokenValidationError);
    await expect(client.validateIdToken('not.a.jwt', { tenantId: TENANT, nonce: 'n-1' })).rejects.toMatchObject({ reason: 'malformed' });
  });

  test('an unknown critical header is refused', async () => {
    const token = await idp.signJwt(idClaims(), { header: { 'crit': ['x-unknown'], 'x-unknown': 1 } });
    await expect(client.validateIdToken(token, { tenantId: TENANT, nonce: 'n-1' })).rejects.toMatchObject({ reason: 'malformed' });
    // the same token without the crit header passes: the refusal is about `crit`
    await expect(client.validateIdToken(await idp.signJwt(idClaims(), { header: { 'x-unknown': 1 } }), { tenantId: TENANT, nonce: 'n-1' }))
      .resolves.toMatchObject({ oid: ADA.oid });
  });

  test('the tenant JWKS is fetched once and cached', async () => {
    const fresh = newClient();
    const before = (await idp.stats()).jwks;
    for (let i = 0; i < 3; i++) {
      await fresh.validateIdToken(await idp.signJwt(idClaims()), { tenantId: TENANT, nonce: 'n-1' });
    }
    expect((await idp.stats()).jwks - before).toBe(1);
  });
});

describe('Teams SSO token validation and on-behalf-of', () => {
  const sso = (token: string, audiences = [APP_ID, `api://botid-${APP_ID}`]) =>
    client.validateSsoToken(token, { tenantId: TENANT, audiences, requiredScope: 'access_as_user' });

  test('a good SSO token (aud api://botid-…, or the app id) gives oid/tid', async () => {
    await expect(sso(await idp.mintSsoToken(ADA.login))).resolves.toEqual({ oid: ADA.oid, tid: TENANT });
    await expect(sso(await idp.mintSsoToken(ADA.login, { audience: APP_ID }))).resolves.toEqual({ oid: ADA.oid, tid: TENANT });
  });

  test('a token for another user validates as THAT user (the caller compares with the activity)', async () => {
    await expect(sso(await idp.mintSsoToken(BOB.login))).resolves.toEqual({ oid: BOB.oid, tid: TENANT });
  });

  test.each([
    ['wrong audience', 'wrong_audience', { audience: 'api://botid-someone-else' }],
    ['missing scope', 'missing_scope', { scp: 'User.Read' }],
    ['no scp at all', 'missing_scope', { scp: null }],
    ['expired', 'expired', { expiresInSeconds: -600 }],
    ['wrong issuer', 'wrong_issuer', { issuer: `https://login.microsoftonline.com/${TENANT}/v2.0` }],
    ['foreign tenant', 'tenant_mismatch', { claims: { tid: OTHER_TENANT } }],
  ])('%s → %s', async (_name, reason, opts) => {
    const err = await sso(await idp.mintSsoToken(ADA.login, opts as never)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TokenValidationError);
    expect((err as TokenValidationError).reason).toBe(reason);
  });

  test('a v1 SSO token is refused with a hint at accessTokenAcceptedVersion', async () => {
    const err = await sso(await idp.mintSsoToken(ADA.login, { issuer: `https://sts.windows.net/${TENANT}/` })).catch((e: unknown) => e);
    expect(err).toMatchObject({ reason: 'wrong_issuer' });
    expect((err as Error).message).toMatch(/accessTokenAcceptedVersion/);
  });

  test('an id_token is not an SSO token (no scp)', async () => {
    const { code, pkce } = await signInFlow();
    const t = remember(await redeem(code, pkce.verifier));
    await expect(sso(t.idToken)).rejects.toMatchObject({ reason: 'missing_scope' });
  });

  test('on-behalf-of: Graph tokens with a refresh token that rotates', async () => {
    const assertion = await idp.mintSsoToken(ADA.login);
    const t = remember(await client.onBehalfOf({ tenantId: TENANT, assertion, scopes: scopes() }));
    expect(t.expiresIn).toBe(3900);
    expect(t.refreshToken).toEqual(expect.any(String));
    const at = await jwtVerify(t.accessToken, createLocalJWKSet({ keys: [idp.publicJwk] }), { issuer: idp.issuer, audience: GRAPH });
    expect(at.payload).toMatchObject({ oid: ADA.oid, tid: TENANT, azp: APP_ID, scp: 'User.Read' });
    const r = remember(await client.refresh({ tenantId: TENANT, refreshToken: t.refreshToken!, scopes: scopes() }));
    expect(r.refreshToken).not.toBe(t.refreshToken);
  });

  test('on-behalf-of: consent missing → invalid_grant + consent_required (65001)', async () => {
    const assertion = await idp.mintSsoToken(BOB.login);
    const err = await expectOAuthError(client.onBehalfOf({ tenantId: TENANT, assertion, scopes: scopes() }), 'invalid_grant');
    expect(err.suberror).toBe('consent_required');
    expect(err.errorCodes).toEqual([65001]);
    expect(err.consentRequired).toBe(true);
    expect(err.requiresSignIn).toBe(true);
    expect(err.description).toMatch(/^AADSTS65001/);
  });

  test('on-behalf-of: MFA required → interaction_required with the claims challenge', async () => {
    const assertion = await idp.mintSsoToken(CAROL.login);
    const err = await expectOAuthError(client.onBehalfOf({ tenantId: TENANT, assertion, scopes: scopes() }), 'interaction_required');
    expect(err.consentRequired).toBe(false);
    expect(JSON.parse(err.claims!)).toHaveProperty('access_token');
  });

  test('on-behalf-of: expired, foreign-key or garbage assertions → invalid_grant', async () => {
    const other = await generateKeyPair('RS256');
    for (const assertion of [
      await idp.mintSsoToken(ADA.login, { expiresInSeconds: -60 }),
      await idp.mintSsoToken(ADA.login, { key: { privateKey: other.privateKey, kid: idp.publicJwk.kid! } }),
      await idp.mintSsoToken(ADA.login, { scp: 'User.Read' }),
      'garbage',
    ]) {
      const err = await expectOAuthError(client.onBehalfOf({ tenantId: TENANT, assertion, scopes: scopes() }), 'invalid_grant');
      expect(err.message).not.toContain(assertion.slice(0, 40));
    }
  });

  test('consent granted later: the same user then succeeds', async () => {
    await idp.updateUser(BOB.login, { oboFailure: undefined });
    try {
      const t = remember(await client.onBehalfOf({ tenantId: TENANT, assertion: await idp.mintSsoToken(BOB.login), scopes: scopes() }));
      expect(decodeJwt(t.accessToken).oid).toBe(BOB.oid);
    } finally {
      await idp.updateUser(BOB.login, { oboFailure: 'consent_required' });
    }
  });
});

describe('harness: clients registered later', () => {
  test('upsertClient adds an app (and replaces its redirect URIs); unknown apps are refused', async () => {
    const appId = '3f0e2b1a-1111-4222-8333-777777777777';
    const other = newClient({ appId, getClientSecret: async () => 'second-secret-value-0123' });
    const run = async (redirectUri: string) => {
      const pkce = createPkce();
      const nonce = randomUrlSafe();
      const url = other.authorizeUrl({
        tenantId: TENANT, state: randomUrlSafe(), nonce, codeChallenge: pkce.challenge, scopes: scopes(), redirectUri,
      });
      const cb = await idp.signIn(url, ADA.login);
      const t = remember(await other.redeemCode({ tenantId: TENANT, code: cb.searchParams.get('code')!, codeVerifier: pkce.verifier, redirectUri, scopes: scopes() }));
      return other.validateIdToken(t.idToken, { tenantId: TENANT, nonce });
    };
    await expect(run('http://127.0.0.1:10/cb')).rejects.toThrow(/invalid_client|answered 400/);
    await idp.upsertClient({ appId, secret: 'second-secret-value-0123', redirectUris: ['http://127.0.0.1:10/cb'] });
    await expect(run('http://127.0.0.1:10/cb')).resolves.toMatchObject({ oid: ADA.oid });
    await idp.upsertClient({ appId, secret: 'second-secret-value-0123', redirectUris: ['http://127.0.0.1:11/cb'] });
    await expect(run('http://127.0.0.1:10/cb')).rejects.toThrow(/redirect_uri/);
    await expect(run('http://127.0.0.1:11/cb')).resolves.toMatchObject({ oid: ADA.oid });
  });
});

describe('the bot app token (client credentials) for Bot Connector stand-ins', () => {
  test('scope https://api.botframework.com/.default gives a JWT verifiable with the tenant JWKS', async () => {
    const res = await fetch(idp.tokenEndpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'client_credentials', client_id: APP_ID, client_secret: SECRET, scope: 'https://api.botframework.com/.default' }),
    });
    expect(res.status).toBe(200);
    const body = await res.json() as { access_token: string; expires_in: number; token_type: string };
    expect(body.token_type).toBe('Bearer');
    const { payload } = await jwtVerify(body.access_token, createRemoteJWKSet(new URL(idp.jwksUri)), {
      issuer: idp.issuer, audience: 'https://api.botframework.com',
    });
    expect(payload).toMatchObject({ appid: APP_ID, tid: TENANT });
  });

  test('BotAppTokenProvider (bot-connector.ts) gets its app token here, as the harness documents', async () => {
    const tokens = new BotAppTokenProvider({
      appId: APP_ID, tenantId: TENANT, authority: idp.authority, scope: 'https://api.botframework.com/.default', getClientSecret: async () => SECRET,
    });
    const token = await tokens.getToken();
    const { payload } = await jwtVerify(token, createLocalJWKSet({ keys: [idp.publicJwk] }), { issuer: idp.issuer, audience: 'https://api.botframework.com' });
    expect(payload.appid).toBe(APP_ID);
  });
});

describe('logs', () => {
  test('the module logged token requests, and no log line holds a credential the suite saw', () => {
    expect(logLines.some((l) => l.includes('entra.token_request_refused'))).toBe(true);
    expect(logLines.some((l) => l.includes('entra.token_request"'))).toBe(true);
    expect(credentials.size).toBeGreaterThan(20);
    const leaks = [...credentials].filter((c) => logLines.some((l) => l.includes(c)));
    expect(leaks).toEqual([]);
  });
});

describe('network failures are OAuthUnavailableError, never a sign-in error', () => {
  const servers: http.Server[] = [];
  afterAll(async () => {
    for (const s of servers) {
      s.closeAllConnections();
      await new Promise((r) => s.close(r));
    }
  });
  async function serve(handler: http.RequestListener): Promise<string> {
    const s = http.createServer(handler);
    servers.push(s);
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    return `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
  }
  const redeemAt = (c: EntraOAuthClient) => c.redeemCode({ tenantId: TENANT, code: 'c', codeVerifier: createPkce().verifier, redirectUri: REDIRECT, scopes: scopes() });

  test('a token endpoint that never answers → timeout within timeoutMs', async () => {
    const authority = await serve(() => { /* never answers */ });
    const c = newClient({ authority, timeoutMs: 300 });
    const started = Date.now();
    const err = await redeemAt(c).catch((e: unknown) => e);
    const elapsed = Date.now() - started;
    expect(err).toBeInstanceOf(OAuthUnavailableError);
    expect(err).not.toBeInstanceOf(OAuthError);
    expect((err as OAuthUnavailableError).reason).toBe('timeout');
    expect(elapsed).toBeGreaterThanOrEqual(250);
    expect(elapsed).toBeLessThan(2000);
  });

  test('a JWKS that never answers → timeout within timeoutMs', async () => {
    const authority = await serve(() => { /* never answers */ });
    const c = newClient({ authority, timeoutMs: 300 });
    const token = await idp.signJwt({ iss: `${authority}/${TENANT}/v2.0`, aud: APP_ID, exp: Math.floor(Date.now() / 1000) + 600, nonce: 'n', oid: 'o', tid: TENANT });
    const started = Date.now();
    const err = await c.validateIdToken(token, { tenantId: TENANT, nonce: 'n' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OAuthUnavailableError);
    expect((err as OAuthUnavailableError).reason).toBe('timeout');
    expect(Date.now() - started).toBeLessThan(2000);
  });

  test('connection refused → network (token endpoint and JWKS)', async () => {
    const authority = await serve(() => undefined);
    const s = servers.pop()!;
    await new Promise((r) => s.close(r));
    const c = newClient({ authority });
    await expect(redeemAt(c)).rejects.toMatchObject({ name: 'OAuthUnavailableError', reason: 'network' });
    const token = await idp.signJwt({ iss: `${authority}/${TENANT}/v2.0`, aud: APP_ID, exp: Math.floor(Date.now() / 1000) + 600, nonce: 'n', oid: 'o', tid: TENANT });
    await expect(c.validateIdToken(token, { tenantId: TENANT, nonce: 'n' })).rejects.toMatchObject({ name: 'OAuthUnavailableError', reason: 'network' });
  });

  test('5xx, 429 and garbage answers', async () => {
    const authority = await serve((req, res) => {
      const mode = req.url!.split('/')[1];
      if (mode === 't503') {
        res.writeHead(503, { 'content-type': 'text/html' }).end('<html>down</html>');
      } else if (mode === 't500json') {
        res.writeHead(500, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'server_error', error_description: 'boom' }));
      } else if (mode === 't429') {
        res.writeHead(429, { 'retry-after': '7' }).end();
      } else if (mode === 'tgarbage') {
        res.writeHead(200, { 'content-type': 'text/html' }).end('<html>captive portal</html>');
      } else if (mode === 'tnoat') {
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token_type: 'Bearer', expires_in: 3600 }));
      } else {
        res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({
          error: 'invalid_grant', error_description: 'AADSTS70000: code eyJhbGciOiJSUzI1NiJ9.eyJ4IjoxfQ.c2ln rejected', error_codes: [70000],
        }));
      }
    });
    const rw = (tenant: string) => newClient({ authority }).redeemCode({ tenantId: tenant, code: 'c', codeVerifier: 'v', redirectUri: REDIRECT, scopes: scopes() }).catch((e: unknown) => e);
    expect(await rw('t503')).toMatchObject({ name: 'OAuthUnavailableError', reason: 'server_error', status: 503 });
    expect(await rw('t500json')).toMatchObject({ name: 'OAuthUnavailableError', reason: 'server_error', status: 500 });
    expect(await rw('t429')).toMatchObject({ name: 'OAuthUnavailableError', reason: 'throttled', status: 429, retryAfterSeconds: 7 });
    expect(await rw('tgarbage')).toMatchObject({ name: 'OAuthUnavailableError', reason: 'invalid_response' });
    expect(await rw('tnoat')).toMatchObject({ name: 'OAuthUnavailableError', reason: 'invalid_response' });
    const err = await rw('t400') as OAuthError;
    expect(err).toBeInstanceOf(OAuthError);
    expect(err).toMatchObject({ error: 'invalid_grant', status: 400, errorCodes: [70000] });
    expect(err.description).toBe('AADSTS70000: code [jwt] rejected');
  });
});
