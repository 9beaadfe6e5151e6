/**
 * The SSO invoke flows (lambda/receiver/sso.ts) in process, against the real local servers of the receiver tests:
 * DynamoDB Local + moto (KMS, Secrets Manager, SSM), oidc-provider issuing SSO tokens and answering the on-behalf-of
 * grant, the Bot Connector and Lambda Invoke stand-ins.
 */
import { randomUUID } from 'node:crypto';
import { generateKeyPair } from 'jose';
import {
  activitiesTo, inProcessContext, invocationsFor, newTestUser, startReceiverEnv, teamsMessage, type ReceiverEnv, type TestUser,
} from './receiver-support';
import { validateActivity, type InboundActivity } from '../../lambda/receiver/activity';
import { handleCallback } from '../../lambda/receiver/callback';
import { SSO_CONNECTION_NAME } from '../../lambda/receiver/cards';
import type { ReceiverContext } from '../../lambda/receiver/context';
import { handleInvoke, invokeHandlerFor } from '../../lambda/receiver/invoke';
import { handleMessage } from '../../lambda/receiver/messages';
import { failureDetailOf, ssoClaimKey, type InvokeResult } from '../../lambda/receiver/sso';
import { OAuthError, OAuthUnavailableError, TokenValidationError } from '../../lambda/shared/entra-oauth';
import { ENV } from '../../src/private/env';

jest.setTimeout(120_000);

let env: ReceiverEnv;
let ctx: ReceiverContext;
const sdkClients: Array<{ destroy(): void }> = [];

/** Short waits: the duplicate tests measure them. */
// The first caller now hands the waiting messages over before its one transaction stores the tokens: duplicates wait
// for that (production default 5000 ms).
const OPTS = { duplicateWaitMs: 4000, duplicatePollMs: 50 };

/** An in-process context over the environment with TDAB_* overrides (its SDK clients are destroyed after the suite). */
function buildContext(extraEnv: Record<string, string> = {}): ReceiverContext {
  const { ctx: built, destroy } = inProcessContext(env, extraEnv);
  sdkClients.push({ destroy });
  return built;
}

beforeAll(async () => {
  env = await startReceiverEnv({ extraEnv: { [ENV.SSO_ENABLED]: 'true' } });
  ctx = buildContext();
}, 240_000);

afterAll(async () => {
  for (const c of sdkClients) c.destroy();
  await env?.stop();
});

function invoke(user: TestUser, name: string, value: unknown, over: Record<string, unknown> = {}): InboundActivity {
  return validateActivity(teamsMessage(env, user, '', { type: 'invoke', name, value, text: undefined, ...over }));
}

function exchange(user: TestUser, value: Record<string, unknown>, over: Record<string, unknown> = {}): InboundActivity {
  return invoke(user, 'signin/tokenExchange', { connectionName: SSO_CONNECTION_NAME, ...value }, over);
}

async function run(activity: InboundActivity, c: ReceiverContext = ctx): Promise<InvokeResult> {
  const handler = invokeHandlerFor(activity.raw.name);
  if (!handler) throw new Error('not an SSO invoke');
  return handler(activity, c, OPTS);
}

const userKey = (u: TestUser) => ({ tenantId: env.tenantId, aadObjectId: u.oid });

/** A `tokenExchangeResource.id` as the bot posts it for `u` (bound to the user). */
const idFor = (u: TestUser): Promise<string> => ctx.signInStates.exchangeId(userKey(u));

async function oboCount(): Promise<number> {
  return (await env.idp.stats()).token;
}

/** Sends `n` messages while signed out: they wait, one card is posted, the prompt marker is taken. */
async function pendingMessages(user: TestUser, n: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const m = validateActivity(teamsMessage(env, user, `question ${i}`));
    ids.push(m.id as string);
    await handleMessage(m, ctx);
  }
  return ids;
}

describe('signin/tokenExchange', () => {
  test('valid SSO token: one on-behalf-of exchange, tokens stored, marker released, pending messages resumed in order, 200', async () => {
    const user = await newTestUser(env);
    const ids = await pendingMessages(user, 3);
    expect(activitiesTo(env, user)).toHaveLength(1); // one card for three messages
    const oauthCard = activitiesTo(env, user)[0].attachments.find((a: any) => a.contentType === 'application/vnd.microsoft.card.oauth');
    expect(oauthCard.content.tokenExchangeResource.uri).toBe(`api://botid-${env.appId}`);
    const id = oauthCard.content.tokenExchangeResource.id;
    const before = await oboCount();

    const res = await run(exchange(user, { id, token: await env.idp.mintSsoToken(user.login) }));

    expect(res).toEqual({ status: 200, body: { id, connectionName: SSO_CONNECTION_NAME } });
    expect(await oboCount()).toBe(before + 1);
    const stored = await ctx.tokens.get(userKey(user));
    expect(stored).toBeDefined();
    expect(stored!.refreshToken).toBeDefined(); // offline_access was requested
    expect(stored!.scopes).toMatch(/User\.Read/);
    await env.worker.idle();
    expect(invocationsFor(env, user).map((e) => e.message.id)).toEqual(ids);
    expect(invocationsFor(env, user).every((e) => e.resumed === true)).toBe(true);
    expect(await ctx.conversations.listPendingMessages(userKey(user))).toEqual([]);
    // The marker is gone: the next card could be posted.
    expect(await ctx.conversations.claimSignInPrompt(userKey(user))).toBe(true);
  });

  test('the token reaches the worker decryptable and equal to what the IdP issued on-behalf-of', async () => {
    const user = await newTestUser(env);
    await pendingMessages(user, 1);
    const res = await run(exchange(user, { id: await idFor(user), token: await env.idp.mintSsoToken(user.login) }));
    expect(res.status).toBe(200);
    await env.worker.idle();
    const [event] = invocationsFor(env, user);
    const stored = await ctx.tokens.get(userKey(user));
    expect(event.token.ciphertext).toEqual(stored!.accessToken!.ciphertext);
    expect(event.token.encryptionContext).toMatchObject({ tenantId: env.tenantId, aadObjectId: user.oid, purpose: 'access_token' });
  });

  test.each([
    ['wrong audience', { audience: 'api://botid-00000000-0000-0000-0000-000000000000' }, /wrong_audience/],
    ['missing scope', { scp: 'User.Read' }, /missing_scope/],
    ['no scope at all', { scp: null }, /missing_scope/],
    ['expired', { expiresInSeconds: -600 }, /expired/],
    ['foreign issuer', { issuer: 'https://login.microsoftonline.com/other/v2.0' }, /wrong_issuer/],
  ])('%s → 412 with failureDetail, no exchange, nothing stored', async (_label, mint, detail) => {
    const user = await newTestUser(env);
    await pendingMessages(user, 1);
    const before = await oboCount();
    const id = await idFor(user);
    const res = await run(exchange(user, { id, token: await env.idp.mintSsoToken(user.login, mint as any) }));
    expect(res.status).toBe(412);
    expect(res.body).toMatchObject({ id, connectionName: SSO_CONNECTION_NAME, failureDetail: expect.stringMatching(detail) });
    expect(await oboCount()).toBe(before);
    expect(await ctx.tokens.get(userKey(user))).toBeUndefined();
    expect(await ctx.conversations.listPendingMessages(userKey(user))).toHaveLength(1);
    // A failed validation leaves no claim behind: a valid token with the same id still works.
    const ok = await run(exchange(user, { id, token: await env.idp.mintSsoToken(user.login) }));
    expect(ok.status).toBe(200);
  });

  test('the app id as audience is accepted too', async () => {
    const user = await newTestUser(env);
    const res = await run(exchange(user, { id: await idFor(user), token: await env.idp.mintSsoToken(user.login, { audience: env.appId }) }));
    expect(res.status).toBe(200);
  });

  test('token signed by a key the tenant does not publish → 412', async () => {
    const user = await newTestUser(env);
    const { privateKey } = await generateKeyPair('RS256');
    const token = await env.idp.mintSsoToken(user.login, { key: { privateKey, kid: 'forged' } });
    const res = await run(exchange(user, { id: await idFor(user), token }));
    expect(res.status).toBe(412);
    expect(await ctx.tokens.get(userKey(user))).toBeUndefined();
  });

  test("another user's SSO token → 412, nothing stored for either user", async () => {
    const victim = await newTestUser(env);
    const other = await newTestUser(env);
    await pendingMessages(victim, 1);
    const before = await oboCount();
    const res = await run(exchange(victim, { id: await idFor(victim), token: await env.idp.mintSsoToken(other.login) }));
    expect(res.status).toBe(412);
    expect((res.body as any).failureDetail).toMatch(/another user/);
    expect(await oboCount()).toBe(before);
    expect(await ctx.tokens.get(userKey(victim))).toBeUndefined();
    expect(await ctx.tokens.get(userKey(other))).toBeUndefined();
    await env.worker.idle();
    expect(invocationsFor(env, victim)).toEqual([]);
  });

  test('a token whose tid is another tenant → 412', async () => {
    const user = await newTestUser(env);
    const token = await env.idp.mintSsoToken(user.login, { claims: { tid: randomUUID() } });
    const res = await run(exchange(user, { id: await idFor(user), token }));
    expect(res.status).toBe(412);
  });

  test('consent required → 412 consent_required, nothing stored; after consent the same id exchanges again', async () => {
    const user = await newTestUser(env, 'User', { oboFailure: 'consent_required' });
    await pendingMessages(user, 2);
    const id = await idFor(user);
    const before = await oboCount();
    const res = await run(exchange(user, { id, token: await env.idp.mintSsoToken(user.login) }));
    expect(res).toEqual({ status: 412, body: { id, connectionName: SSO_CONNECTION_NAME, failureDetail: expect.stringMatching(/^consent_required/) } });
    expect(await oboCount()).toBe(before + 1);
    expect(await ctx.tokens.get(userKey(user))).toBeUndefined();
    expect(await ctx.conversations.listPendingMessages(userKey(user))).toHaveLength(2);

    await env.idp.updateUser(user.login, { oboFailure: undefined });
    const ok = await run(exchange(user, { id, token: await env.idp.mintSsoToken(user.login) }));
    expect(ok.status).toBe(200);
    await env.worker.idle();
    expect(invocationsFor(env, user)).toHaveLength(2);
  });

  test('interaction required (MFA, conditional access) → 412 interaction_required', async () => {
    const user = await newTestUser(env, 'User', { oboFailure: 'interaction_required' });
    const res = await run(exchange(user, { id: await idFor(user), token: await env.idp.mintSsoToken(user.login) }));
    expect(res.status).toBe(412);
    expect((res.body as any).failureDetail).toMatch(/^interaction_required/);
    expect(await ctx.tokens.get(userKey(user))).toBeUndefined();
  });

  test('the same id from three Teams clients at once: one exchange, one resume, every caller 200', async () => {
    const user = await newTestUser(env);
    const ids = await pendingMessages(user, 2);
    const id = await idFor(user);
    const before = await oboCount();
    // Each client has its own SSO token (same user).
    const tokens = await Promise.all([1, 2, 3].map(() => env.idp.mintSsoToken(user.login)));
    const results = await Promise.all(tokens.map((token) => run(exchange(user, { id, token }))));
    expect(results).toEqual(results.map(() => ({ status: 200, body: { id, connectionName: SSO_CONNECTION_NAME } })));
    expect(await oboCount()).toBe(before + 1);
    await env.worker.idle();
    expect(invocationsFor(env, user).map((e) => e.message.id)).toEqual(ids);
    // A late duplicate: answered at once, no exchange, no resume.
    const started = Date.now();
    const late = await run(exchange(user, { id, token: tokens[0] }));
    expect(late.status).toBe(200);
    expect(Date.now() - started).toBeLessThan(1000);
    expect(await oboCount()).toBe(before + 1);
    await env.worker.idle();
    expect(invocationsFor(env, user)).toHaveLength(2);
  });

  test('duplicates while the first exchange fails (consent): every caller 412, quickly, one exchange', async () => {
    const user = await newTestUser(env, 'User', { oboFailure: 'consent_required' });
    const id = await idFor(user);
    const before = await oboCount();
    const tokens = await Promise.all([1, 2, 3].map(() => env.idp.mintSsoToken(user.login)));
    const started = Date.now();
    const results = await Promise.all(tokens.map((token) => run(exchange(user, { id, token }))));
    expect(results.map((r) => r.status)).toEqual([412, 412, 412]);
    expect(results.every((r) => (r.body as any).id === id && (r.body as any).connectionName === SSO_CONNECTION_NAME)).toBe(true);
    expect(await oboCount()).toBe(before + 1);
    expect(Date.now() - started).toBeLessThan(OPTS.duplicateWaitMs);
  });

  test('a duplicate whose own token is foreign is refused even though the first caller succeeds', async () => {
    const user = await newTestUser(env);
    const other = await newTestUser(env);
    const id = await idFor(user);
    const [good, bad] = await Promise.all([
      run(exchange(user, { id, token: await env.idp.mintSsoToken(user.login) })),
      run(exchange(user, { id, token: await env.idp.mintSsoToken(other.login) })),
    ]);
    expect(good.status).toBe(200);
    expect(bad.status).toBe(412);
  });

  test('a refresh token left from an earlier sign-in does not make a duplicate succeed', async () => {
    const user = await newTestUser(env);
    const id = await idFor(user);
    await ctx.tokens.put(userKey(user), { accessToken: 'old', refreshToken: 'old-rt', expiresIn: 1 }, { generation: 0 });
    expect(await ctx.conversations.claim(ssoClaimKey(id, userKey(user)), 600)).toBe(true);
    const res = await run(exchange(user, { id, token: await env.idp.mintSsoToken(user.login) }));
    expect(res.status).toBe(412);
  });

  test('a duplicate whose first exchange never finishes gives up after the wait with 412', async () => {
    const user = await newTestUser(env);
    const id = await idFor(user);
    // Another container holds the claim and has not finished (it is still exchanging).
    expect(await ctx.conversations.claim(ssoClaimKey(id, { tenantId: env.tenantId, aadObjectId: user.oid }), 600)).toBe(true);
    const before = await oboCount();
    const started = Date.now();
    const res = await run(exchange(user, { id, token: await env.idp.mintSsoToken(user.login) }));
    const waited = Date.now() - started;
    expect(res.status).toBe(412);
    expect(waited).toBeGreaterThanOrEqual(OPTS.duplicateWaitMs - 100);
    expect(waited).toBeLessThan(OPTS.duplicateWaitMs + 1500);
    expect(await oboCount()).toBe(before);
  });

  test('a card in a group chat is bound to the user it was posted for: another member is refused, nothing stored, the asker still exchanges', async () => {
    const a = await newTestUser(env);
    const b = await newTestUser(env);
    const id = await idFor(a); // the card was posted for a
    const conversation = { id: '19:group@thread.v2', conversationType: 'groupChat', tenantId: env.tenantId, isGroup: true };
    const before = await oboCount();
    const rb = await run(exchange(b, { id, token: await env.idp.mintSsoToken(b.login) }, { conversation }));
    expect(rb).toEqual({ status: 412, body: { id, connectionName: SSO_CONNECTION_NAME, failureDetail: expect.stringMatching(/another user/) } });
    expect(await oboCount()).toBe(before);
    expect(await ctx.tokens.get(userKey(b))).toBeUndefined();
    const ra = await run(exchange(a, { id, token: await env.idp.mintSsoToken(a.login) }, { conversation }));
    expect(ra).toEqual({ status: 200, body: { id, connectionName: SSO_CONNECTION_NAME } });
    expect(await ctx.tokens.get(userKey(a))).toBeDefined();
    expect(await ctx.tokens.get(userKey(b))).toBeUndefined();
  });

  test.each([
    ['no value', undefined],
    ['no id', { connectionName: SSO_CONNECTION_NAME, token: 'x' }],
    ['no token', { connectionName: SSO_CONNECTION_NAME, id: 'abc' }],
    ['id with a #', { connectionName: SSO_CONNECTION_NAME, id: 'a#b', token: 'x' }],
    ['token not a string', { connectionName: SSO_CONNECTION_NAME, id: 'abc', token: 42 }],
    ['oversized token', { connectionName: SSO_CONNECTION_NAME, id: 'abc', token: 'x'.repeat(20000) }],
  ])('malformed request (%s) → 400, nothing stored', async (_label, value) => {
    const user = await newTestUser(env);
    const res = await run(invoke(user, 'signin/tokenExchange', value));
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ connectionName: SSO_CONNECTION_NAME, failureDetail: expect.any(String) });
    expect(await ctx.tokens.get(userKey(user))).toBeUndefined();
  });

  test('a connection name the bot never sent → 400', async () => {
    const user = await newTestUser(env);
    const res = await run(exchange(user, { id: await idFor(user), token: await env.idp.mintSsoToken(user.login), connectionName: 'GraphConnection' }));
    expect(res.status).toBe(400);
    expect(await ctx.tokens.get(userKey(user))).toBeUndefined();
  });

  test('SSO disabled → 412, no exchange', async () => {
    const noSso = buildContext({ [ENV.SSO_ENABLED]: 'false' });
    const user = await newTestUser(env);
    const before = await oboCount();
    const res = await run(exchange(user, { id: await idFor(user), token: await env.idp.mintSsoToken(user.login) }), noSso);
    expect(res.status).toBe(412);
    expect(await oboCount()).toBe(before);
    expect(await ctx.tokens.get(userKey(user))).toBeUndefined();
  });

  test('identity provider unreachable → 412, nothing stored', async () => {
    const down = buildContext({ [ENV.ENTRA_AUTHORITY]: 'http://127.0.0.1:9' });
    const user = await newTestUser(env);
    const res = await run(exchange(user, { id: await idFor(user), token: await env.idp.mintSsoToken(user.login) }), down);
    expect(res.status).toBe(412);
    expect(await ctx.tokens.get(userKey(user))).toBeUndefined();
  });
});

describe('failure details', () => {
  test('are short reasons without token contents', () => {
    expect(failureDetailOf(new TokenValidationError('expired')).detail).toMatch(/\(expired\)/);
    expect(failureDetailOf(new OAuthError('invalid_grant', { suberror: 'consent_required', errorCodes: [65001] })).reason).toBe('consent_required');
    expect(failureDetailOf(new OAuthError('invalid_grant', { errorCodes: [65001] })).reason).toBe('consent_required');
    expect(failureDetailOf(new OAuthError('interaction_required')).reason).toBe('interaction_required');
    expect(failureDetailOf(new OAuthError('invalid_grant')).reason).toBe('obo_invalid_grant');
    expect(failureDetailOf(new OAuthError('eyJhbGciOiJSUzI1NiJ9.x.y')).detail).not.toContain('eyJ');
    expect(failureDetailOf(new OAuthUnavailableError('timeout')).reason).toBe('idp_unavailable_timeout');
    expect(failureDetailOf(new Error('boom: eyJabc')).detail).not.toContain('eyJ');
  });
});

describe('signin/verifyState', () => {
  test('404 without a state, 412 while not signed in, 200 once signed in (also with only a refresh token left)', async () => {
    const user = await newTestUser(env);
    expect(await run(invoke(user, 'signin/verifyState', {}))).toEqual({ status: 404 });
    expect(await run(invoke(user, 'signin/verifyState', undefined))).toEqual({ status: 404 });
    expect(await run(invoke(user, 'signin/verifyState', { state: '123456' }))).toEqual({ status: 412 });
    await ctx.tokens.put(userKey(user), { accessToken: 'at', refreshToken: 'rt', expiresIn: 3600 }, { generation: 0 });
    expect(await run(invoke(user, 'signin/verifyState', { state: '123456' }))).toEqual({ status: 200 });
    await ctx.tokens.put(userKey(user), { accessToken: 'at', refreshToken: 'rt', expiresIn: 1 }, { generation: 0 });
    expect(await run(invoke(user, 'signin/verifyState', { state: '123456' }))).toEqual({ status: 200 });
    await ctx.tokens.delete(userKey(user));
    await ctx.tokens.put(userKey(user), { accessToken: 'at', expiresIn: 1 }, { generation: 0 });
    expect(await run(invoke(user, 'signin/verifyState', { state: '123456' }))).toEqual({ status: 412 });
  });

  test("another user's tokens do not count", async () => {
    const user = await newTestUser(env);
    const other = await newTestUser(env);
    await ctx.tokens.put(userKey(other), { accessToken: 'at', refreshToken: 'rt', expiresIn: 3600 }, { generation: 0 });
    expect(await run(invoke(user, 'signin/verifyState', { state: 'anything' }))).toEqual({ status: 412 });
  });
});

describe('signin/failure', () => {
  test('logs, posts one sign-in card (no OAuthCard) with an explanation, answers 200; a second report is not posted again', async () => {
    const user = await newTestUser(env);
    const res = await run(invoke(user, 'signin/failure', { code: 'resourcematchfailed', message: 'Resource match failed' }));
    expect(res).toEqual({ status: 200 });
    const msgs = activitiesTo(env, user);
    expect(msgs).toHaveLength(1);
    const types = msgs[0].attachments.map((a: any) => a.contentType);
    expect(types).toEqual(['application/vnd.microsoft.card.adaptive']);
    const card = msgs[0].attachments[0].content;
    expect(JSON.stringify(card.body)).toMatch(/Automatic sign-in is not available/);
    const url = new URL(card.actions[0].url);
    expect(url.origin).toBe(env.idp.authority);
    expect(url.searchParams.get('state')).toBeTruthy();
    // A second client reports the same failure: no second message.
    expect(await run(invoke(user, 'signin/failure', { code: 'resourcematchfailed' }))).toEqual({ status: 200 });
    expect(activitiesTo(env, user)).toHaveLength(1);
  });

  test('the card it posts works: signing in through it stores the tokens', async () => {
    const user = await newTestUser(env);
    await run(invoke(user, 'signin/failure', { code: 'usercancelled' }));
    const card = activitiesTo(env, user)[0].attachments[0].content;
    expect(JSON.stringify(card.body)).toMatch(/cancelled/);
    const redirect = await env.idp.signIn(card.actions[0].url, user.login);
    expect(redirect.searchParams.get('code')).toBeTruthy();
    const done = await handleCallback(redirect.search.slice(1), ctx);
    expect(done.reason).toBe('signed_in');
    expect(await ctx.tokens.get(userKey(user))).toBeDefined();
  });

  test('when the card cannot be posted, the next report tries again', async () => {
    const user = await newTestUser(env);
    env.connector.failNext(403, 1);
    expect(await run(invoke(user, 'signin/failure', { code: 'authrequestfailed' }))).toEqual({ status: 200 });
    expect(activitiesTo(env, user)).toHaveLength(0);
    expect(await run(invoke(user, 'signin/failure', { code: 'authrequestfailed' }))).toEqual({ status: 200 });
    expect(activitiesTo(env, user)).toHaveLength(1);
  });

  test('unknown or odd codes still get the message', async () => {
    const user = await newTestUser(env);
    expect(await run(invoke(user, 'signin/failure', { code: '<script>' }))).toEqual({ status: 200 });
    expect(activitiesTo(env, user)).toHaveLength(1);
  });
});

test('other invoke names have no handler (the receiver answers 501)', async () => {
  const user = await newTestUser(env);
  expect(invokeHandlerFor(invoke(user, 'composeExtension/query', {}).raw.name)).toBeUndefined();
  expect(invokeHandlerFor('toString')).toBeUndefined();
});

test('invoke.ts: SSO names dispatched, other names 501; a malformed activity is refused 400 by validateActivity first', async () => {
  const user = await newTestUser(env);
  const raw = (name: string, value: unknown, over: Record<string, unknown> = {}) =>
    teamsMessage(env, user, '', { type: 'invoke', name, value, text: undefined, ...over });
  expect(await handleInvoke(validateActivity(raw('composeExtension/query', {})), ctx)).toEqual({ status: 501 });
  expect(await handleInvoke(validateActivity(raw('signin/verifyState', {})), ctx)).toEqual({ status: 404 });
  const noUser = raw('signin/tokenExchange', { id: 'x', connectionName: SSO_CONNECTION_NAME, token: 'x' }, { from: { id: user.teamsId } });
  expect(() => validateActivity(noUser)).toThrow(expect.objectContaining({ status: 400, reason: 'missing_aadObjectId' }));
});
