import { randomUUID } from 'node:crypto';
import {
  newTestUser, rawTokenItem, scanAll, startInProcessReceiver, teamsMessage, withContext, type ReceiverEnv, type TestUser,
} from './receiver-support';
import { pendingEventOf, RequestError, validateActivity } from '../../lambda/receiver/activity';
import { handleCallback, identityMismatch, parseCallbackQuery } from '../../lambda/receiver/callback';
import type { ReceiverContext } from '../../lambda/receiver/context';
import { pkceChallenge, randomUrlSafe } from '../../lambda/shared/entra-oauth';
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

/** A sign-in state as the messaging flow issues it, and the matching authorize URL (nonce and expiry overridable). */
async function startSignIn(c: ReceiverContext, user: TestUser, opts: { authorizeNonce?: string; expiresAt?: number } = {}) {
  const issued = await c.signInStates.issue({ tenantId: env.tenantId, aadObjectId: user.oid }, {
    personal: true,
    expiresAt: opts.expiresAt ?? Math.floor(Date.now() / 1000) + 600,
  });
  const url = c.oauth.authorizeUrl({
    tenantId: env.tenantId,
    state: issued.state,
    nonce: opts.authorizeNonce ?? issued.nonce,
    codeChallenge: pkceChallenge(issued.codeVerifier),
    scopes: c.oauth.scopesFor(c.config.graphScopes),
    redirectUri: await c.redirectUri(),
  });
  return { state: issued.state, url };
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
    // GUIDs in any spelling are the same ids (normalizeGuid)
    const t = 'abcdef01-aaaa-bbbb-cccc-0123456789ab';
    const o = 'fedcba98-aaaa-bbbb-cccc-0123456789ab';
    const x = 'ffffffff-aaaa-bbbb-cccc-0123456789ab';
    const user = { tenantId: t.toUpperCase(), aadObjectId: o.toUpperCase() };
    expect(identityMismatch({ tid: t, oid: o }, user)).toBeUndefined();
    expect(identityMismatch({ tid: x, oid: o }, user)).toBe('tenant');
    expect(identityMismatch({ tid: t, oid: x }, user)).toBe('user');
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

  test('a state without code: 400, nothing written (the state stays usable)', async () => {
    const user = await newUser();
    const { state } = await startSignIn(ctx, user);
    const mark = env.ddbProxy.mark();
    expect((await handleCallback(`state=${state}`, ctx)).page.statusCode).toBe(400);
    expect(env.ddbProxy.since(mark)).toHaveLength(1); // the prompt marker's release only: no state is read or written
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

  test('the IdP is unreachable: a 503 page (never a 500), the prompt released', async () => {
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
      const { url, state } = await startSignIn(ctx, user); // the state's key needs the secret: issued by a set-up bot
      const redirect = await env.idp.signIn(url, user.login);
      expect(redirect.searchParams.get('state')).toBe(state);
      const r = await handleCallback(redirect.search.slice(1), unset.ctx);
      expect(r.page.statusCode).toBe(503);
      expect(r.page.body).toContain('not set up yet');
    });
  });

  test('the sign-in cannot be stored (DynamoDB fails): 503, nothing stored, and the same link works again', async () => {
    const user = await newUser();
    const activity = teamsMessage(env, user, 'kept through a failure');
    await ctx.conversations.addPendingMessage(userKey(user), activity.id as string, pendingEventOf(validateActivity(activity), Date.now()));
    const { url } = await startSignIn(ctx, user);
    env.ddbProxy.failNext('TransactWriteItems', 5);
    const r = await handleCallback((await env.idp.signIn(url, user.login)).search.slice(1), ctx);
    env.ddbProxy.failNext('TransactWriteItems', 0);
    expect(r.page.statusCode).toBe(503);
    expect(r.page.body).toContain('press the sign-in button again');
    expect(await ctx.tokens.get(userKey(user))).toBeUndefined();
    expect(await ctx.conversations.listPendingMessages(userKey(user))).toHaveLength(1);
    // No new message needed: the card's link (same state) signs the user in, and the message is released.
    const again = await handleCallback((await env.idp.signIn(url, user.login)).search.slice(1), ctx);
    expect(again.reason).toBe('signed_in');
    expect(await ctx.tokens.get(userKey(user))).toBeDefined();
    expect(await ctx.conversations.listPendingMessages(userKey(user))).toEqual([]);
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

    // The next sign-in starts after the sign-out (its prompt is issued in a later second than the sign-out): it stores.
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const again = await startSignIn(ctx, user);
    const ok = await handleCallback((await env.idp.signIn(again.url, user.login)).search.slice(1), ctx);
    expect(ok.page.statusCode).toBe(200);
    expect((await rawTokenItem(env, user))?.at).toBeDefined();
    expect((await rawTokenItem(env, user))?.gen).toEqual({ N: '1' });
  });
});

describe('the state proves itself before any I/O (issue 11, point 3)', () => {
  const flip = (state: string, at: number): string => {
    const raw = Buffer.from(state, 'base64url');
    raw[at] = raw[at] === 0 ? 1 : raw[at] - 1;
    return raw.toString('base64url');
  };

  test.each([
    ['a MAC byte changed', (s: string) => flip(s, 70), ['forged_state']],
    ['the user changed', (s: string) => flip(s, 40), ['forged_state']],
    ['the expiry moved', (s: string) => flip(s, 5), ['forged_state']],
    ['random bytes of the right length', () => randomUrlSafe(86), ['malformed_state', 'forged_state']],
    ['an old random state (43 characters)', () => randomUrlSafe(32), ['malformed_state']],
  ])('%s: 400, no DynamoDB, KMS or Secrets Manager call (warm container)', async (_label, forge, reason) => {
    const user = await newUser();
    const { state } = await startSignIn(ctx, user);
    const forged = forge(state);
    const ddb = env.ddbProxy.mark();
    const moto = env.motoProxy.mark();
    const r = await handleCallback(`state=${forged}&code=abc`, ctx);
    expect(r.page.statusCode).toBe(400);
    expect(reason).toContain(r.reason);
    expect(env.ddbProxy.since(ddb)).toEqual([]);
    expect(env.motoProxy.since(moto)).toEqual([]);
  });

  test('an expired state: 400 "expired", no AWS call', async () => {
    const user = await newUser();
    const { state } = await startSignIn(ctx, user, { expiresAt: Math.floor(Date.now() / 1000) - 1 });
    const ddb = env.ddbProxy.mark();
    const moto = env.motoProxy.mark();
    const r = await handleCallback(`state=${state}&code=abc`, ctx);
    expect([r.page.statusCode, r.reason]).toEqual([400, 'expired_state']);
    expect(env.ddbProxy.since(ddb)).toEqual([]);
    expect(env.motoProxy.since(moto)).toEqual([]);
  });

  test('single use: the same redirect twice gives one success', async () => {
    const user = await newUser();
    const { url } = await startSignIn(ctx, user);
    const query = (await env.idp.signIn(url, user.login)).search.slice(1);
    const first = await handleCallback(query, ctx);
    const second = await handleCallback(query, ctx);
    expect([first.page.statusCode, second.page.statusCode]).toEqual([200, 400]);
  });

  test('a used state is refused by the transaction even with a fresh code (signed in once per state)', async () => {
    const user = await newUser();
    const { url } = await startSignIn(ctx, user);
    expect((await handleCallback((await env.idp.signIn(url, user.login)).search.slice(1), ctx)).reason).toBe('signed_in');
    const again = await handleCallback((await env.idp.signIn(url, user.login)).search.slice(1), ctx);
    expect([again.page.statusCode, again.reason]).toEqual([400, 'state_used']);
  });
});

describe('wrong account and group chats (issue 11, point 5)', () => {
  test('another account signs in with the asker\'s link: 403, nothing stored for anyone, the asker\'s link still works', async () => {
    const asker = await newUser();
    const bystander = await newUser();
    const { url } = await startSignIn(ctx, asker);
    const r = await handleCallback((await env.idp.signIn(url, bystander.login)).search.slice(1), ctx);
    expect([r.page.statusCode, r.reason]).toEqual([403, 'identity_mismatch:user']);
    expect(await ctx.tokens.get(userKey(bystander))).toBeUndefined();
    expect(await ctx.tokens.get(userKey(asker))).toBeUndefined();
    const mine = await handleCallback((await env.idp.signIn(url, asker.login)).search.slice(1), ctx);
    expect(mine.reason).toBe('signed_in');
    expect(await ctx.tokens.get(userKey(asker))).toBeDefined();
  });
});

describe('no attacker text on the bot\'s origin (issue 11, point 4)', () => {
  const evil = 'Your account is locked. Call +1-555-0100 now <b>urgently</b>';

  test.each([
    ['no state', ''],
    ['a forged state', `state=${randomUrlSafe(86)}&`],
  ])('error with %s: a fixed page, at most the AADSTS code, no query text', async (_label, prefix) => {
    const q = `${prefix}error=access_denied&error_description=${encodeURIComponent(`AADSTS50105: ${evil}`)}`;
    const mark = env.ddbProxy.mark();
    const r = await handleCallback(q, ctx);
    expect(r.page.statusCode).toBe(400);
    expect(r.page.body).toContain('AADSTS50105');
    expect(r.page.body).not.toContain('locked');
    expect(r.page.body).not.toContain('555');
    expect(r.page.body).not.toContain('access_denied');
    expect(r.page.body).not.toContain('cancelled'); // not even the known code's explanation: the code is not verified
    expect(env.ddbProxy.since(mark)).toEqual([]);
  });

  test('error with a valid state: the identity provider\'s text, escaped and bounded', async () => {
    const user = await newUser();
    const { state } = await startSignIn(ctx, user);
    const long = `${evil} ${'x'.repeat(1000)}`;
    const r = await handleCallback(`state=${state}&error=access_denied&error_description=${encodeURIComponent(long)}`, ctx);
    expect(r.page.statusCode).toBe(400);
    expect(r.page.body).toContain('Your account is locked');
    expect(r.page.body).toContain('&#60;b&#62;urgently');
    expect(r.page.body).not.toContain('<b>');
    expect(r.page.body).not.toContain('x'.repeat(500));
  });
});
