import { randomUUID } from 'node:crypto';
import {
  activitiesTo, decryptToken, invocationsFor, pendingItems, startInProcessReceiver, teamsMessage, testUser, tokenItem, withContext,
  type ReceiverEnv, type TestUser,
} from './receiver-support';
import { validateActivity } from '../../lambda/receiver/activity';
import type { ReceiverContext } from '../../lambda/receiver/context';
import { handleMessage, RecentActivities } from '../../lambda/receiver/messages';
import { putLegacyTokenItem } from '../support/legacy-token-item';
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

const newUser = (): TestUser => testUser('U');
const key = (u: TestUser) => ({ tenantId: env.tenantId, aadObjectId: u.oid });
const msg = (u: TestUser, text: string, over: Record<string, unknown> = {}) => validateActivity(teamsMessage(env, u, text, over));
const toUser = (u: TestUser) => activitiesTo(env, u);

describe('RecentActivities', () => {
  test('remembers ids for the TTL, bounded', () => {
    const r = new RecentActivities(2, 1000);
    expect(r.checkAndAdd('a', 0)).toBe(false);
    expect(r.checkAndAdd('a', 10)).toBe(true);
    expect(r.checkAndAdd('a', 2000)).toBe(false);
    r.checkAndAdd('b', 2001);
    r.checkAndAdd('c', 2002);
    expect(r.checkAndAdd('a', 2003)).toBe(false); // evicted
    r.forget('c');
    expect(r.checkAndAdd('c', 2004)).toBe(false);
  });
});

describe('messaging flow', () => {
  test('SSO enabled: the card also carries an OAuthCard with tokenExchangeResource', async () => {
    await withContext(env, { TDAB_SSO_ENABLED: 'true' }, async (sso) => {
      const u = newUser();
      expect(await handleMessage(msg(u, 'hi'), sso.ctx)).toBe('pending_prompted');
      const card = toUser(u).at(-1);
      expect(card.attachments.map((a: any) => a.contentType)).toEqual(['application/vnd.microsoft.card.adaptive', 'application/vnd.microsoft.card.oauth']);
      expect(card.attachments[1].content.tokenExchangeResource.uri).toBe(`api://botid-${env.appId}`);
      expect(card.attachments[1].content.buttons[0].value).toBe(card.attachments[0].content.actions[0].url);
    });
  });

  test('refresh answered invalid_grant: tokens deleted, treated as no token (pending + card)', async () => {
    const u = newUser();
    await ctx.tokens.put(key(u), { accessToken: 'old-access', refreshToken: 'revoked-refresh-token', expiresIn: 10 }, { generation: 0 });
    expect(await handleMessage(msg(u, 'hi'), ctx)).toBe('pending_prompted');
    expect(await tokenItem(env, u)).toBeUndefined();
    expect(await pendingItems(env, u)).toHaveLength(1);
    expect(toUser(u)).toHaveLength(1);
    expect(invocationsFor(env, u)).toHaveLength(0);
  });

  test('invalid_grant because a concurrent request already rotated the refresh token: the newer tokens are used, not deleted', async () => {
    const u = newUser();
    await ctx.tokens.put(key(u), { accessToken: 'old-access', refreshToken: 'rotated-away', expiresIn: 10 }, { generation: 0 });
    const oauth = Object.create(ctx.oauth);
    oauth.refresh = async (p: Parameters<typeof ctx.oauth.refresh>[0]) => {
      // the other request wins the race and stores the rotated tokens first
      await ctx.tokens.put(key(u), { accessToken: 'fresh-access', refreshToken: 'new-refresh', expiresIn: 3600 }, { generation: 0 });
      return ctx.oauth.refresh(p); // the IdP rejects the old refresh token: invalid_grant
    };
    const racing: ReceiverContext = { ...ctx, oauth };
    expect(await handleMessage(msg(u, 'racing'), racing)).toBe('refreshed');
    expect(await tokenItem(env, u)).toBeDefined();
    await env.worker.idle();
    const e = invocationsFor(env, u).at(-1);
    expect(e.message.text).toBe('racing');
    expect(await decryptToken(env.kms, e.token)).toBe('fresh-access');
    expect(toUser(u)).toHaveLength(0);
  });

  test('tokens stored before envelope encryption, one-part refresh token: the next message refreshes (never sends the old access token) and stores the new format', async () => {
    const u = newUser();
    const nowS = Math.floor(Date.now() / 1000);
    const legacy = { ddb: env.ddb, kms: env.kms, tableName: env.tables.tokenTable, keyArn: env.keyArn, appId: env.appId };
    // an access token still valid for an hour, of three parts: it must not reach the worker
    await putLegacyTokenItem(legacy, key(u), { at: 'a'.repeat(9000), rt: 'legacy-refresh', expiresAt: nowS + 3600, updatedAt: nowS });
    let refreshedWith: string | undefined;
    const oauth = Object.create(ctx.oauth);
    oauth.refresh = async (p: Parameters<typeof ctx.oauth.refresh>[0]) => {
      refreshedWith = p.refreshToken;
      return { accessToken: 'fresh-access', refreshToken: 'fresh-refresh', expiresIn: 3600 };
    };
    expect(await handleMessage(msg(u, 'after the upgrade'), { ...ctx, oauth })).toBe('refreshed');
    expect(refreshedWith).toBe('legacy-refresh');
    await env.worker.idle();
    const events = invocationsFor(env, u);
    expect(events).toHaveLength(1);
    expect(events[0].version).toBe('2');
    expect(await decryptToken(env.kms, events[0].token)).toBe('fresh-access');
    const item = (await tokenItem(env, u))!;
    expect(item.v).toEqual({ N: '2' });
    expect(item.at.M).toBeDefined();
    expect(item.rt.M).toBeDefined();
  });

  test('tokens stored before envelope encryption, refresh token of several parts (reordered or not): no refresh, the user signs in again', async () => {
    const nowS = Math.floor(Date.now() / 1000);
    const legacy = { ddb: env.ddb, kms: env.kms, tableName: env.tables.tokenTable, keyArn: env.keyArn, appId: env.appId };
    for (const order of [undefined, [1, 0]]) {
      const u = newUser();
      await putLegacyTokenItem(legacy, key(u), { at: 'legacy-access', rt: `${'r'.repeat(4096)}${'s'.repeat(100)}`, expiresAt: nowS + 3600, updatedAt: nowS }, { rt: order });
      const oauth = Object.create(ctx.oauth);
      oauth.refresh = async () => { throw new Error('a multi-part legacy refresh token must not be used'); };
      expect(await handleMessage(msg(u, 'after the upgrade'), { ...ctx, oauth })).toBe('pending_prompted');
      expect(invocationsFor(env, u)).toHaveLength(0);
      expect(toUser(u).map((a) => a.attachments?.[0]?.contentType)).toEqual(['application/vnd.microsoft.card.adaptive']);
      expect(await pendingItems(env, u)).toHaveLength(1);
    }
  });

  test('a refresh that finishes after a sign-out stores nothing: the user gets the sign-in card, not a fresh refresh token', async () => {
    const u = newUser();
    await ctx.tokens.put(key(u), { accessToken: 'old-access', refreshToken: 'rt-before-sign-out', expiresIn: 10 }, { generation: 0 });
    const oauth = Object.create(ctx.oauth);
    oauth.refresh = async () => {
      // Entra answers with new tokens, but the user's "sign out" is handled before this request stores them.
      expect(await handleMessage(msg(u, 'sign out'), ctx)).toBe('signed_out');
      return { accessToken: 'new-access', refreshToken: 'new-90-day-refresh-token', expiresIn: 3600 };
    };
    expect(await handleMessage(msg(u, 'racing the sign-out'), { ...ctx, oauth })).toBe('pending_prompted');
    expect(await tokenItem(env, u)).toBeUndefined(); // no access or refresh token came back
    expect(await ctx.tokens.get(key(u))).toBeUndefined();
    expect(invocationsFor(env, u)).toHaveLength(0);
    const sent = toUser(u);
    expect(sent.map((a) => a.text ?? a.attachments?.[0]?.contentType)).toEqual([
      expect.stringContaining('signed out'), 'application/vnd.microsoft.card.adaptive',
    ]);
    expect(await pendingItems(env, u)).toHaveLength(1);
  });

  test('Entra unreachable during refresh, token not yet expired: the current token is used', async () => {
    const port = await freePort();
    await withContext(env, { TDAB_ENTRA_AUTHORITY: `http://127.0.0.1:${port}` }, async (down) => {
      const u = newUser();
      await down.ctx.tokens.put(key(u), { accessToken: 'still-valid', refreshToken: 'rt', expiresIn: 200 }, { generation: 0 });
      expect(await handleMessage(msg(u, 'hi'), down.ctx)).toBe('hot_path');
      await env.worker.idle();
      expect(invocationsFor(env, u)).toHaveLength(1);
    });
  });

  test('Entra unreachable during refresh, token expired: message kept pending, tokens kept, no card', async () => {
    const port = await freePort();
    await withContext(env, { TDAB_ENTRA_AUTHORITY: `http://127.0.0.1:${port}` }, async (down) => {
      const u = newUser();
      await down.ctx.tokens.put(key(u), { accessToken: 'expired', refreshToken: 'rt', expiresIn: 1 }, { generation: 0 });
      expect(await handleMessage(msg(u, 'hi'), down.ctx)).toBe('pending_refresh_unavailable');
      expect(await pendingItems(env, u)).toHaveLength(1);
      expect(await tokenItem(env, u)).toBeDefined();
      expect(invocationsFor(env, u)).toHaveLength(0);
    });
  });

  test('hot path, the worker invoke fails: kept, the user told once, and resumed before their next message', async () => {
    const u = newUser();
    await ctx.tokens.put(key(u), { accessToken: 'at', refreshToken: 'rt', expiresIn: 3600 }, { generation: 0 });
    env.worker.failNext(500, 2);
    const first = msg(u, 'keep me');
    expect(await handleMessage(first, ctx)).toBe('pending_invoke_failed');
    expect(await pendingItems(env, u)).toHaveLength(1);
    expect(toUser(u).map((a) => a.text)).toEqual([expect.stringContaining('It is kept')]);
    // The access token was marked as expiring: the next message refreshes and hands the kept message over first.
    expect((await ctx.tokens.get(key(u)))!.expiresAt).toBeLessThanOrEqual(Math.floor(Date.now() / 1000) + 1);
    const oauth = Object.create(ctx.oauth);
    oauth.refresh = async () => ({ accessToken: 'fresh-at', refreshToken: 'fresh-rt', expiresIn: 3600 });
    // A Teams retry while the worker still fails: the message stays kept once, nothing more is said.
    env.worker.failNext(500, 2);
    expect(await handleMessage(first, { ...ctx, oauth })).toBe('pending_invoke_failed');
    expect(toUser(u)).toHaveLength(1);
    expect(await pendingItems(env, u)).toHaveLength(1);
    expect(await handleMessage(msg(u, 'next one'), { ...ctx, oauth })).toBe('refreshed');
    await env.worker.idle();
    expect(invocationsFor(env, u).map((e) => [e.message.text, e.resumed])).toEqual([['keep me', true], ['next one', false]]);
    expect(await pendingItems(env, u)).toHaveLength(0);
  });

  test('the conversation table fails on the no-token path: the error propagates (503) and a retry is processed', async () => {
    const u = newUser();
    const a = msg(u, 'retry me');
    env.ddbProxy.failNext('TransactWriteItems', 2);
    await expect(handleMessage(a, ctx)).rejects.toThrow();
    env.ddbProxy.failNext('TransactWriteItems', 0);
    expect(await handleMessage(a, ctx)).toBe('pending_prompted');
  });

  test('sign out twice with the same activity id: one confirmation; not signed in: says so', async () => {
    const u = newUser();
    await ctx.tokens.put(key(u), { accessToken: 'at', expiresIn: 3600 }, { generation: 0 });
    const a = msg(u, 'logout');
    expect(await handleMessage(a, ctx)).toBe('signed_out');
    expect(await handleMessage(a, ctx)).toBe('sign_out_duplicate');
    expect(toUser(u).map((x) => x.text)).toEqual([expect.stringContaining('signed out')]);
    expect(await handleMessage(msg(u, 'sign out'), ctx)).toBe('signed_out');
    expect(toUser(u).at(-1).text).toContain('not signed in');
  });

  test('ids are encoded in composite keys: messages whose ids would join to the same key are each handled', async () => {
    const u = newUser();
    const conv = `a:1conv-${u.oid}`;
    // "sign out" twice, distinct activities whose unencoded claim keys were both `signout#{conv}#1#2`.
    const first = msg(u, 'sign out', { id: '1#2', conversation: { id: conv, conversationType: 'personal', tenantId: env.tenantId } });
    const second = msg(u, 'sign out', { id: '2', conversation: { id: `${conv}#1`, conversationType: 'personal', tenantId: env.tenantId } });
    expect(await handleMessage(first, ctx)).toBe('signed_out');
    expect(await handleMessage(second, ctx)).toBe('signed_out');
    // Two hot-path messages whose unencoded per-container keys were both `{conv}|x|y`: both reach the worker.
    await ctx.tokens.put(key(u), { accessToken: 'at', expiresIn: 3600 }, { generation: (await ctx.tokens.basis(key(u))).generation });
    const a = msg(u, 'first', { id: 'x|y', conversation: { id: conv, conversationType: 'personal', tenantId: env.tenantId } });
    const b = msg(u, 'second', { id: 'y', conversation: { id: `${conv}|x`, conversationType: 'personal', tenantId: env.tenantId } });
    expect(await handleMessage(a, ctx)).toBe('hot_path');
    expect(await handleMessage(b, ctx)).toBe('hot_path');
    await env.worker.idle();
    expect(invocationsFor(env, u).map((e) => e.message.text)).toEqual(['first', 'second']);
  });

  test('sign out releases a pending prompt: the next message gets a new card', async () => {
    const u = newUser();
    expect(await handleMessage(msg(u, 'one'), ctx)).toBe('pending_prompted');
    expect(await handleMessage(msg(u, 'two'), ctx)).toBe('pending_quiet');
    expect(await handleMessage(msg(u, 'sign out'), ctx)).toBe('signed_out');
    expect(await handleMessage(msg(u, 'three'), ctx)).toBe('pending_prompted');
    expect(await pendingItems(env, u)).toHaveLength(3);
  });

  test('card POST timed out (outcome unknown): the prompt is kept, the next message gets no second card', async () => {
    const u = newUser();
    env.connector.hangNext(1);
    expect(await handleMessage(msg(u, 'one'), ctx)).toBe('pending_prompted');
    expect(await handleMessage(msg(u, 'two'), ctx)).toBe('pending_quiet');
    expect(await pendingItems(env, u)).toHaveLength(2);
    expect(await ctx.conversations.claimSignInPrompt(key(u))).toBe(false);
  });

  test('at most maxPendingMessages are kept while the user signs in; the user is told once; a card is posted if none is live', async () => {
    await withContext(env, { TDAB_MAX_PENDING_MESSAGES: '3' }, async (capped) => {
      const u = newUser();
      const outcomes = [];
      for (const text of ['one', 'two', 'three', 'four', 'five']) outcomes.push(await handleMessage(msg(u, text), capped.ctx));
      expect(outcomes).toEqual(['pending_prompted', 'pending_quiet', 'pending_quiet', 'pending_full', 'pending_full']);
      expect((await pendingItems(env, u)).length).toBe(3);
      const told = toUser(u).filter((a) => typeof a.text === 'string');
      expect(told.map((a) => a.text)).toEqual([expect.stringContaining('first 3 messages')]);
      // The card is released (e.g. the sign-in failed): the next message is not kept but brings a new card.
      await capped.ctx.conversations.releaseSignInPrompt(key(u));
      expect(await handleMessage(msg(u, 'six'), capped.ctx)).toBe('pending_full');
      expect(toUser(u).filter((a) => Array.isArray(a.attachments) && a.attachments.length > 0)).toHaveLength(2);
      expect((await pendingItems(env, u)).length).toBe(3);
    });
  });

  test('placeholder secret: no card can be posted, the prompt is released, the message stays pending', async () => {
    const arn = await createSecret(env.aws.motoEndpoint, `ph-${randomUUID().slice(0, 8)}`, JSON.stringify({ clientSecret: '' }));
    await withContext(env, { TDAB_SECRET_ARN: arn }, async (unset) => {
      const u = newUser();
      expect(await handleMessage(msg(u, 'one'), unset.ctx)).toBe('pending_card_failed');
      expect(await handleMessage(msg(u, 'two'), unset.ctx)).toBe('pending_card_failed');
      expect(await pendingItems(env, u)).toHaveLength(2);
      expect(await unset.ctx.conversations.claimSignInPrompt(key(u))).toBe(true);
    });
  });
});
