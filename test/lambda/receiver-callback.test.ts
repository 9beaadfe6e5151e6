import { randomUUID } from 'node:crypto';
import {
  newTestUser, rawTokenItem, scanAll, startInProcessReceiver, teamsMessage, withContext, type ReceiverEnv, type TestUser,
} from './receiver-support';
import { pendingEventOf, RequestError, validateActivity } from '../../lambda/receiver/activity';
import { handleCallback, identityMismatch, parseCallbackQuery } from '../../lambda/receiver/callback';
import type { ReceiverContext } from '../../lambda/receiver/context';
import { createPkce, randomUrlSafe } from '../../lambda/shared/entra-oauth';
import { createSecret, freePort } from '../support/local-aws';

jest.setTimeout(60_000);

let env: ReceiverEnv;
let ctx: ReceiverContext;
let stop: () => Promise<void>;
beforeAll(async () => {
  ({ env, ctx, stop } = await startInProcessReceiver());
}, 180_000);
afterAll(async () => {
  await stop?.();
});

const newUser = (): Promise<TestUser> => newTestUser(env, 'U');

/** A sign-in state as the messaging flow creates it, and the matching authorize URL (nonce overridable). */
async function startSignIn(c: ReceiverContext, user: TestUser, opts: { authorizeNonce?: string } = {}) {
  const pkce = createPkce();
  const nonce = randomUrlSafe();
  const ref = { serviceUrl: env.connector.serviceUrl, channelId: 'msteams', conversation: { id: `a:1${user.oid}`, conversationType: 'personal' }, bot: { id: `28:${env.appId}` }, user: { id: user.teamsId, aadObjectId: user.oid } };
  const state = await c.conversations.createSignInState({
    user: { tenantId: env.tenantId, aadObjectId: user.oid, teamsUserId: user.teamsId },
    conversation: ref,
    codeVerifier: pkce.verifier,
    nonce,
  });
  const url = c.oauth.authorizeUrl({
    tenantId: env.tenantId,
    state: state.state,
    nonce: opts.authorizeNonce ?? nonce,
    codeChallenge: pkce.challenge,
    scopes: c.oauth.scopesFor(c.config.graphScopes),
    redirectUri: await c.redirectUri(),
  });
  return { state: state.state, url };
}

const userKey = (u: TestUser) => ({ tenantId: env.tenantId, aadObjectId: u.oid });

describe('query parsing (no I/O)', () => {
  test('valid', () => {
    expect(parseCallbackQuery(`state=${'a'.repeat(43)}&code=xyz`)).toEqual({ state: 'a'.repeat(43), code: 'xyz' });
    expect(parseCallbackQuery(`state=${'a'.repeat(43)}&error=access_denied&error_description=No%20thanks`)).toMatchObject({ error: 'access_denied', errorDescription: 'No thanks' });
  });
  test.each([
    ['two states', `state=${'a'.repeat(43)}&state=${'b'.repeat(43)}`, 'duplicate_state'],
    ['two codes', `state=${'a'.repeat(43)}&code=1&code=2`, 'duplicate_code'],
    ['short state', 'state=too-short', 'invalid_state'],
    ['state with padding', `state=${'a'.repeat(42)}%3D`, 'invalid_state'],
    ['empty code', `state=${'a'.repeat(43)}&code=`, 'invalid_code'],
    ['5000-character code', `state=${'a'.repeat(43)}&code=${'c'.repeat(5000)}`, 'invalid_code'],
  ])('%s → 400', (_name, q, reason) => {
    let err: unknown;
    try {
      parseCallbackQuery(q);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(RequestError);
    expect((err as RequestError).reason).toBe(reason);
  });
  test('an unusual error code is not echoed', () => {
    expect(parseCallbackQuery(`state=${'a'.repeat(43)}&error=%3Cscript%3E`).error).toBe('unknown_error');
  });
  test('identityMismatch', () => {
    const user = { tenantId: 'T', aadObjectId: 'O' };
    expect(identityMismatch({ tid: 't', oid: 'o' }, user)).toBeUndefined();
    expect(identityMismatch({ tid: 'x', oid: 'o' }, user)).toBe('tenant');
    expect(identityMismatch({ tid: 't', oid: 'x' }, user)).toBe('user');
  });
});

describe('callback failures', () => {
  test('an error without a state: 400 explanation, no I/O', async () => {
    const mark = env.ddbProxy.mark();
    const r = await handleCallback('error=access_denied', ctx);
    expect(r.page.statusCode).toBe(400);
    expect(env.ddbProxy.since(mark)).toEqual([]);
  });

  test('temporarily_unavailable from the IdP: 503 page, prompt released', async () => {
    const user = await newUser();
    expect(await ctx.conversations.claimSignInPrompt(userKey(user))).toBe(true);
    const { state } = await startSignIn(ctx, user);
    const r = await handleCallback(`state=${state}&error=temporarily_unavailable`, ctx);
    expect(r.page.statusCode).toBe(503);
    expect(await ctx.conversations.claimSignInPrompt(userKey(user))).toBe(true);
  });

  test('a state without code: 400, state consumed', async () => {
    const user = await newUser();
    const { state } = await startSignIn(ctx, user);
    expect((await handleCallback(`state=${state}`, ctx)).page.statusCode).toBe(400);
    expect(await ctx.conversations.consumeSignInState(state)).toBeUndefined();
  });

  test('nonce mismatch in the id_token: 403, nothing stored, prompt released', async () => {
    const user = await newUser();
    expect(await ctx.conversations.claimSignInPrompt(userKey(user))).toBe(true);
    const { url } = await startSignIn(ctx, user, { authorizeNonce: randomUrlSafe() });
    const redirect = await env.idp.signIn(url, user.login);
    const tokensBefore = (await scanAll(env.ddb, env.tables.tokenTable)).length;
    const r = await handleCallback(redirect.search.slice(1), ctx);
    expect(r.page.statusCode).toBe(403);
    expect(r.reason).toBe('id_token_invalid');
    expect((await scanAll(env.ddb, env.tables.tokenTable)).length).toBe(tokensBefore);
    expect(await ctx.conversations.claimSignInPrompt(userKey(user))).toBe(true);
  });

  test('the IdP is unreachable: a 503 page (never a 500), the state is consumed, the prompt released', async () => {
    const port = await freePort();
    await withContext(env, { TDAB_ENTRA_AUTHORITY: `http://127.0.0.1:${port}` }, async (down) => {
      const user = await newUser();
      expect(await down.ctx.conversations.claimSignInPrompt(userKey(user))).toBe(true);
      const { state } = await startSignIn(down.ctx, user);
      const r = await handleCallback(`state=${state}&code=abc`, down.ctx);
      expect([502, 503, 504]).toContain(r.page.statusCode);
      expect(r.page.body).toContain('did not answer');
      expect(await down.ctx.conversations.claimSignInPrompt(userKey(user))).toBe(true);
    });
  });

  test('the client secret is still the placeholder: 503 "not set up yet"', async () => {
    const arn = await createSecret(env.aws.motoEndpoint, `ph-${randomUUID().slice(0, 8)}`, JSON.stringify({ clientSecret: 'REPLACE_ME' }));
    await withContext(env, { TDAB_SECRET_ARN: arn }, async (unset) => {
      const user = await newUser();
      const { url, state } = await startSignIn(unset.ctx, user);
      const redirect = await env.idp.signIn(url, user.login);
      expect(redirect.searchParams.get('state')).toBe(state);
      const r = await handleCallback(redirect.search.slice(1), unset.ctx);
      expect(r.page.statusCode).toBe(503);
      expect(r.page.body).toContain('not set up yet');
    });
  });

  test('the conversation table is unavailable: 503 page', async () => {
    env.ddbProxy.failNext('DeleteItem', 5);
    const r = await handleCallback(`state=${'z'.repeat(43)}&code=abc`, ctx);
    expect(r.page.statusCode).toBe(503);
    env.ddbProxy.failNext('DeleteItem', 0);
  });

  test('a pending message is resumed with resumed: true and deleted after a successful sign-in', async () => {
    const user = await newUser();
    const activity = teamsMessage(env, user, 'waiting');
    await ctx.conversations.addPendingMessage(userKey(user), activity.id as string, pendingEventOf(validateActivity(activity), Date.now()));
    const { url } = await startSignIn(ctx, user);
    const before = env.worker.invocations.length;
    const r = await handleCallback((await env.idp.signIn(url, user.login)).search.slice(1), ctx);
    expect(r.page.statusCode).toBe(200);
    expect(r.reason).toBe('signed_in');
    await env.worker.idle();
    const events = env.worker.invocations.slice(before) as any[];
    expect(events.map((e) => [e.message.text, e.resumed])).toEqual([['waiting', true]]);
    expect(await ctx.conversations.listPendingMessages(userKey(user))).toEqual([]);
  });

  test('a sign-out while the code is redeemed wins: 409 page, no tokens stored; a sign-in after the sign-out works', async () => {
    const user = await newUser();
    const { url } = await startSignIn(ctx, user);
    const oauth = Object.create(ctx.oauth);
    oauth.redeemCode = async (p: Parameters<typeof ctx.oauth.redeemCode>[0]) => {
      const tokens = await ctx.oauth.redeemCode(p);
      expect(await ctx.tokens.signOut(userKey(user))).toBe(false); // the user says "sign out" meanwhile
      return tokens;
    };
    const r = await handleCallback((await env.idp.signIn(url, user.login)).search.slice(1), { ...ctx, oauth });
    expect(r.page.statusCode).toBe(409);
    expect(r.reason).toBe('signed_out_during_signin');
    expect(r.page.body).toContain('signed out');
    expect((await rawTokenItem(env, user))?.at).toBeUndefined();

    // The next sign-in starts after the sign-out: it stores.
    const again = await startSignIn(ctx, user);
    const ok = await handleCallback((await env.idp.signIn(again.url, user.login)).search.slice(1), ctx);
    expect(ok.page.statusCode).toBe(200);
    expect((await rawTokenItem(env, user))?.at).toBeDefined();
    expect((await rawTokenItem(env, user))?.gen).toEqual({ N: '1' });
  });
});
