/**
 * End to end: the BUNDLED receiver (esbuild, like the build) against DynamoDB Local + moto_server (behind counting
 * proxies), the oidc-provider IdP, the Bot Framework JWKS, and the Bot Connector / Lambda Invoke stand-ins.
 */
import { randomUUID } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { KMSClient } from '@aws-sdk/client-kms';
import { TokenCipher } from '../../lambda/shared/crypto';
import { TokenStore } from '../../lambda/shared/token-store';
import {
  activitiesTo,
  authorizeUrlOf,
  callbackEvent,
  decryptToken,
  messageEvent,
  pendingItems,
  scanAll,
  setTokenExpiry,
  invocationsFor,
  newTestUser,
  startBundledReceiver,
  teamsMessage,
  tokenItem,
  type BundledReceiver,
  type ReceiverEnv,
  type TestUser,
} from '../lambda/receiver-support';
import { awsClientConfig } from '../support/local-aws';

jest.setTimeout(120_000);

let receiver: BundledReceiver;
let env: ReceiverEnv;
let handler: (event: unknown) => Promise<{ statusCode: number; headers: Record<string, string>; body: string }>;

beforeAll(async () => {
  // The bundle runs in its own Node process, like a Lambda container, with only the receiver's environment.
  receiver = await startBundledReceiver({ hostEnv: { TDAB_LOG_LEVEL: 'debug' } });
  env = receiver.env;
  handler = (event) => receiver.host.invoke(event);
}, 240_000);

afterAll(async () => {
  await receiver?.stop();
});

/** Posts an activity with a valid JWT. */
async function send(activity: Record<string, unknown>, over: Parameters<typeof messageEvent>[2] = {}) {
  return handler(await messageEvent(env, activity, over));
}

/** A fresh user known to the IdP. */
const newUser = (name = 'User'): Promise<TestUser> => newTestUser(env, name);

const cardsTo = (user: TestUser): any[] => activitiesTo(env, user).filter((a) => Array.isArray(a.attachments) && a.attachments.length > 0);

const textsTo = (user: TestUser): string[] => activitiesTo(env, user).filter((a) => typeof a.text === 'string').map((a) => a.text as string);

function jwtPayload(jwt: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString('utf8'));
}

/** AWS calls (DynamoDB + moto + Lambda Invoke) made while `fn` runs. */
async function awsCalls<T>(fn: () => Promise<T>): Promise<{ result: T; calls: string[] }> {
  const d = env.ddbProxy.mark();
  const m = env.motoProxy.mark();
  const l = env.worker.records.length;
  const result = await fn();
  const calls = [
    ...env.ddbProxy.since(d).map((o) => `dynamodb:${o}`),
    ...env.motoProxy.since(m).map((o) => `moto:${o}`),
    ...env.worker.records.slice(l).map(() => 'lambda:Invoke'),
  ];
  return { result, calls };
}

/** Secrets seen during the run: none of them may appear in a log line. */
const secretsSeen = new Set<string>();

/** Message → card → sign in → callback; returns the callback response. */
async function signIn(user: TestUser, login = user.login) {
  const first = await send(teamsMessage(env, user, 'first question'));
  expect(first.statusCode).toBe(200);
  const card = cardsTo(user).at(-1);
  const redirect = remember(await env.idp.signIn(authorizeUrlOf(card), login));
  return handler(callbackEvent(redirect));
}

function remember(url: URL): URL {
  for (const k of ['code', 'state']) {
    const v = url.searchParams.get(k);
    if (v) secretsSeen.add(v);
  }
  return url;
}

describe('main flow: message → card → sign in → resume → hot path → refresh → sign out → card again', () => {
  let ada: TestUser;
  let firstActivity: Record<string, unknown>;
  let callbackUrl: URL;

  beforeAll(async () => {
    ada = await newUser('Ada');
  });

  test('1. first message: kept pending, one sign-in card', async () => {
    firstActivity = teamsMessage(env, ada, 'what is on my calendar?');
    const res = await send(firstActivity);
    expect(res.statusCode).toBe(200);
    const cards = cardsTo(ada);
    expect(cards).toHaveLength(1);
    const url = new URL(authorizeUrlOf(cards[0]));
    expect(url.origin + url.pathname).toBe(`${env.idp.authority}/${env.tenantId}/oauth2/v2.0/authorize`);
    expect(url.searchParams.get('redirect_uri')).toBe(`${env.baseUrl}/auth/callback`);
    expect(url.searchParams.get('code_challenge_method')).toBe('S256');
    expect(url.searchParams.get('state')!.length).toBeGreaterThanOrEqual(22);
    expect(url.searchParams.get('nonce')).toBeTruthy();
    expect(url.searchParams.get('scope')!.split(' ')).toEqual(expect.arrayContaining(['openid', 'profile', 'offline_access']));
    expect(JSON.stringify(cards[0])).toContain('as soon as you have signed in');
    // posted as a reply to the user's message, with the bot's app token (client credentials in the bot's own tenant)
    const posted = env.connector.messages().filter((m) => m.conversationId === `a:1conv-${ada.oid}`).at(-1)!;
    expect(posted.activityId).toBe(firstActivity.id);
    expect(posted.authorization).toMatch(/^Bearer /);
    const appToken = jwtPayload(posted.authorization!.slice(7));
    expect(appToken.aud).toBe('https://api.botframework.com');
    expect(appToken.iss).toBe(`${env.idp.authority}/${env.tenantId}/v2.0`);
    expect([appToken.appid, appToken.azp]).toContain(env.appId);
    expect(await pendingItems(env, ada)).toHaveLength(1);
    expect(invocationsFor(env, ada)).toHaveLength(0);
  });

  test('2. second message while the sign-in is pending: kept, no second card', async () => {
    const res = await send(teamsMessage(env, ada, 'and my mail?'));
    expect(res.statusCode).toBe(200);
    expect(cardsTo(ada)).toHaveLength(1);
    expect(await pendingItems(env, ada)).toHaveLength(2);
  });

  test('3. Teams retry of the first message (same activity id): no second pending message, card or invoke', async () => {
    const res = await send(firstActivity);
    expect(res.statusCode).toBe(200);
    expect(cardsTo(ada)).toHaveLength(1);
    expect(await pendingItems(env, ada)).toHaveLength(2);
    expect(invocationsFor(env, ada)).toHaveLength(0);
  });

  test('4. sign in → callback: success page, tokens stored, both messages resumed in order with a token that decrypts', async () => {
    callbackUrl = remember(await env.idp.signIn(authorizeUrlOf(cardsTo(ada)[0]), ada.login));
    expect(callbackUrl.origin + callbackUrl.pathname).toBe(`${env.baseUrl}/auth/callback`);
    const res = await handler(callbackEvent(callbackUrl));
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(res.headers['content-security-policy']).toContain("default-src 'none'");
    expect(res.headers['referrer-policy']).toBe('no-referrer');
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.body).toContain('msteams:');
    expect(res.body).not.toMatch(/<script/i);
    expect(res.body).not.toContain('postMessage');

    await env.worker.idle();
    const events = invocationsFor(env, ada);
    expect(events.map((e) => e.message.text)).toEqual(['what is on my calendar?', 'and my mail?']);
    expect(events.every((e) => e.resumed === true && e.type === 'teams-delegated-auth-bot.message' && e.version === '2')).toBe(true);
    expect(JSON.stringify(events)).not.toMatch(/refresh/i);
    const token = await decryptToken(env.kms, events[0].token);
    const claims = jwtPayload(token);
    expect(claims.oid).toBe(ada.oid);
    expect(claims.tid).toBe(env.tenantId);
    expect(events[0].token.encryptionContext).toEqual({ appId: env.appId, tenantId: env.tenantId, aadObjectId: ada.oid, purpose: 'access_token' });
    expect(await pendingItems(env, ada)).toHaveLength(0);
    const item = await tokenItem(env, ada);
    expect(item?.rt).toBeDefined();
    expect(Number(item?.ttl?.N)).toBeGreaterThan(Date.now() / 1000 + 80 * 86400);
  });

  test('5. the same callback again (replayed state): 400 page, nothing changes', async () => {
    const before = await tokenItem(env, ada);
    const res = await handler(callbackEvent(callbackUrl));
    expect(res.statusCode).toBe(400);
    expect(res.body).toContain('expired or has already been used');
    expect(await tokenItem(env, ada)).toEqual(before);
  });

  test('6. next message takes the hot path: exactly two AWS calls (GetItem + Invoke)', async () => {
    const { result, calls } = await awsCalls(() => send(teamsMessage(env, ada, 'hot path please')));
    expect(result.statusCode).toBe(200);
    expect(calls).toEqual(['dynamodb:GetItem', 'lambda:Invoke']);
    const e = invocationsFor(env, ada).at(-1);
    expect(e.message.text).toBe('hot path please');
    expect(e.resumed).toBe(false);
    expect(jwtPayload(await decryptToken(env.kms, e.token)).oid).toBe(ada.oid);
  });

  test('7. a Teams retry of a hot-path message is not invoked again (same container)', async () => {
    const activity = teamsMessage(env, ada, 'only once');
    await send(activity);
    const n = invocationsFor(env, ada).length;
    const { result, calls } = await awsCalls(() => send(activity));
    expect(result.statusCode).toBe(200);
    expect(calls).toEqual([]);
    expect(invocationsFor(env, ada)).toHaveLength(n);
  });

  test('8. the access token reaches its expiry skew: silent refresh (rotated refresh token), then the worker', async () => {
    const before = await tokenItem(env, ada);
    const oldEvent = invocationsFor(env, ada).at(-1);
    const oldToken = await decryptToken(env.kms, oldEvent.token);
    await setTokenExpiry(env, ada, Math.floor(Date.now() / 1000) + 60);
    const cardsBefore = cardsTo(ada).length;
    const res = await send(teamsMessage(env, ada, 'after an hour'));
    expect(res.statusCode).toBe(200);
    expect(cardsTo(ada)).toHaveLength(cardsBefore);
    const after = await tokenItem(env, ada);
    expect(after?.rt).toBeDefined();
    expect(after?.rt).not.toEqual(before?.rt);
    expect(Number(after?.exp?.N)).toBeGreaterThan(Date.now() / 1000 + 3000);
    const e = invocationsFor(env, ada).at(-1);
    expect(e.message.text).toBe('after an hour');
    const fresh = await decryptToken(env.kms, e.token);
    expect(fresh).not.toBe(oldToken);
    expect(jwtPayload(fresh).oid).toBe(ada.oid);
    // and the next message is on the hot path again
    const { calls } = await awsCalls(() => send(teamsMessage(env, ada, 'fast again')));
    expect(calls).toEqual(['dynamodb:GetItem', 'lambda:Invoke']);
  });

  test('9. "sign out" (with the bot @mention) deletes the tokens and confirms', async () => {
    const res = await send(teamsMessage(env, ada, '<at>Bot</at> Sign Out ', {
      entities: [{ type: 'mention', text: '<at>Bot</at>', mentioned: { id: `28:${env.appId}`, name: 'Bot' } }],
    }));
    expect(res.statusCode).toBe(200);
    expect(await tokenItem(env, ada)).toBeUndefined();
    expect(textsTo(ada).at(-1)).toContain('signed out');
  });

  test('10. after signing out, the next message gets a card again', async () => {
    const n = invocationsFor(env, ada).length;
    const cards = cardsTo(ada).length;
    await send(teamsMessage(env, ada, 'hello again'));
    expect(cardsTo(ada)).toHaveLength(cards + 1);
    expect(invocationsFor(env, ada)).toHaveLength(n);
    expect(await pendingItems(env, ada)).toHaveLength(1);
  });
});

describe('bad input: a clear 4xx, no AWS call, nothing sent, nothing stored', () => {
  let user: TestUser;
  beforeAll(async () => {
    user = await newUser('Mallory');
  });

  const cases: Array<[string, () => Promise<unknown>, number]> = [];
  const add = (name: string, status: number, make: () => Promise<unknown>) => cases.push([name, make, status]);
  const msg = () => teamsMessage(env, user, 'hi');
  add('GET on the messaging path', 405, async () => messageEvent(env, msg(), { method: 'GET' }));
  add('PUT on the messaging path', 405, async () => messageEvent(env, msg(), { method: 'PUT' }));
  add('POST on the callback path', 405, async () => messageEvent(env, msg(), { path: '/auth/callback' }));
  add('unknown path', 404, async () => messageEvent(env, msg(), { path: '/api/messages/' }));
  add('root path', 404, async () => messageEvent(env, msg(), { path: '/' }));
  add('no Authorization header', 401, async () => {
    const e = await messageEvent(env, msg());
    delete e.headers.authorization;
    return e;
  });
  add('garbage bearer token', 401, async () => messageEvent(env, msg(), { headers: { authorization: 'Bearer not-a-jwt' } }));
  add('Basic scheme', 401, async () => messageEvent(env, msg(), { headers: { authorization: 'Basic dXNlcjpwYXNz' } }));
  add('token for another bot (aud)', 401, async () => messageEvent(env, msg(), { claims: { aud: randomUUID() } }));
  add('expired token', 401, async () => messageEvent(env, msg(), { claims: { exp: Math.floor(Date.now() / 1000) - 3600, nbf: Math.floor(Date.now() / 1000) - 7200, iat: Math.floor(Date.now() / 1000) - 7200 } }));
  add('serviceurl claim differs from serviceUrl', 401, async () => messageEvent(env, msg(), { claims: { serviceurl: 'https://smba.trafficmanager.net/emea/' } }));
  add('serviceUrl host not allow-listed (claim matches)', 401, async () => {
    const a = { ...msg(), serviceUrl: 'https://evil.example.com/' };
    return messageEvent(env, a);
  });
  add('channel not endorsed by the key', 401, async () => messageEvent(env, { ...msg(), channelId: 'skype' }));
  add('base64 body', 415, async () => messageEvent(env, msg(), { isBase64Encoded: true, body: Buffer.from(JSON.stringify(msg())).toString('base64') }));
  add('text/plain body', 415, async () => messageEvent(env, msg(), { headers: { 'content-type': 'text/plain' } }));
  add('oversized body', 413, async () => messageEvent(env, { ...msg(), text: 'x'.repeat(300 * 1024) }));
  add('invalid JSON', 400, async () => messageEvent(env, msg(), { body: '{"type":"message",' }));
  add('JSON array', 400, async () => messageEvent(env, msg(), { body: '[]' }));
  add('message without id', 400, async () => messageEvent(env, { ...msg(), id: undefined }));
  add('message without from.aadObjectId', 400, async () => messageEvent(env, { ...msg(), from: { id: user.teamsId } }));
  add('aadObjectId with a key separator', 400, async () => messageEvent(env, { ...msg(), from: { id: user.teamsId, aadObjectId: `${user.oid}#x` } }));
  add('message without conversation', 400, async () => messageEvent(env, { ...msg(), conversation: undefined }));
  add('message without tenant', 400, async () => messageEvent(env, { ...msg(), channelData: {}, conversation: { id: 'a:1x' } }));
  add('tenant not in the allow-list', 403, async () => {
    const other = randomUUID();
    return messageEvent(env, { ...msg(), channelData: { tenant: { id: other } }, conversation: { id: 'a:1x', tenantId: other } });
  });

  test.each(cases.map(([name, make, status]) => [name, status, make] as const))('%s → %i', async (_name, status, make) => {
    const before = {
      tokens: (await scanAll(env.ddb, env.tables.tokenTable)).length,
      conversations: (await scanAll(env.ddb, env.tables.conversationTable)).length,
      connector: env.connector.requests.length,
    };
    const event = await make();
    const { result, calls } = await awsCalls(() => handler(event));
    expect(result.statusCode).toBe(status);
    expect(calls).toEqual([]);
    expect(env.connector.requests.length).toBe(before.connector);
    expect((await scanAll(env.ddb, env.tables.tokenTable)).length).toBe(before.tokens);
    expect((await scanAll(env.ddb, env.tables.conversationTable)).length).toBe(before.conversations);
    if (status !== 404 && status !== 405) expect(JSON.parse(result.body).error).toBeTruthy();
  });
});

describe('other activity types and invokes', () => {
  let user: TestUser;
  beforeAll(async () => {
    user = await newUser('Olga');
  });

  test.each(['conversationUpdate', 'installationUpdate', 'messageReaction', 'typing', 'messageUpdate', 'endOfConversation'])('%s: 200, no side effects', async (type) => {
    const connectorBefore = env.connector.requests.length;
    const { result, calls } = await awsCalls(() => send(teamsMessage(env, user, 'x', { type })));
    expect(result.statusCode).toBe(200);
    expect(calls).toEqual([]);
    expect(env.connector.requests.length).toBe(connectorBefore);
  });

  test('an invoke nobody implements: 501 (InvokeResponse status as the HTTP status), no side effects', async () => {
    const { result, calls } = await awsCalls(() => send(teamsMessage(env, user, '', {
      type: 'invoke', name: 'composeExtension/query', value: { commandId: 'search' }, text: undefined,
    })));
    expect(result.statusCode).toBe(501);
    expect(calls).toEqual([]);
  });

  test('the InvokeResponse body is the HTTP body (signin/tokenExchange with a bad token: 412 with failureDetail)', async () => {
    const { result, calls } = await awsCalls(() => send(teamsMessage(env, user, '', {
      type: 'invoke', name: 'signin/tokenExchange', value: { id: randomUUID(), connectionName: 'TeamsDelegatedAuthBot', token: 'not-a-jwt' }, text: undefined,
    })));
    expect(result.statusCode).toBe(412);
    expect(JSON.parse(result.body)).toMatchObject({ failureDetail: expect.any(String) });
    expect(calls).not.toContain('lambda:Invoke');
  });
});

describe('callback failures', () => {
  test('unknown state: 400 page, nothing stored', async () => {
    const before = (await scanAll(env.ddb, env.tables.tokenTable)).length;
    const res = await handler(callbackEvent(`${env.baseUrl}/auth/callback?state=${'A'.repeat(43)}&code=abc`));
    expect(res.statusCode).toBe(400);
    expect(res.headers['content-security-policy']).toContain("default-src 'none'");
    expect((await scanAll(env.ddb, env.tables.tokenTable)).length).toBe(before);
  });

  test('malformed query: 400 page without I/O', async () => {
    for (const q of ['', 'state=short&code=x', `state=${'A'.repeat(43)}&state=${'B'.repeat(43)}&code=x`, 'code=x']) {
      const { result, calls } = await awsCalls(() => handler(callbackEvent(`${env.baseUrl}/auth/callback?${q}`)));
      expect(result.statusCode).toBe(400);
      expect(calls).toEqual([]);
    }
  });

  test('IdP error (access_denied): explanation page, messages stay pending, the next message gets a new card', async () => {
    const user = await newUser('Denise');
    await send(teamsMessage(env, user, 'please help'));
    const redirect = remember(await env.idp.signIn(authorizeUrlOf(cardsTo(user)[0]), user.login, { deny: true }));
    expect(redirect.searchParams.get('error')).toBe('access_denied');
    const res = await handler(callbackEvent(redirect));
    expect(res.statusCode).toBe(400);
    expect(res.body).toContain('cancelled');
    expect(res.body).toContain('Your messages are kept');
    expect(await tokenItem(env, user)).toBeUndefined();
    expect(await pendingItems(env, user)).toHaveLength(1);
    await send(teamsMessage(env, user, 'trying again'));
    expect(cardsTo(user)).toHaveLength(2);
    expect(await pendingItems(env, user)).toHaveLength(2);
    // and signing in with the new card resumes both
    const ok = await handler(callbackEvent(remember(await env.idp.signIn(authorizeUrlOf(cardsTo(user)[1]), user.login))));
    expect(ok.statusCode).toBe(200);
    await env.worker.idle();
    expect(invocationsFor(env, user).map((e) => e.message.text)).toEqual(['please help', 'trying again']);
  });

  test('signed in as someone else: 403 naming the mismatch, nothing stored for anyone', async () => {
    const user = await newUser('Victor');
    const other = await newUser('Eve');
    const res = await signIn(user, other.login);
    expect(res.statusCode).toBe(403);
    expect(res.body).toContain('different account');
    expect(await tokenItem(env, user)).toBeUndefined();
    expect(await tokenItem(env, other)).toBeUndefined();
    expect(await pendingItems(env, user)).toHaveLength(1);
    expect(invocationsFor(env, user)).toHaveLength(0);
  });

  test('invalid_grant (a code the IdP does not know): 400 page, nothing stored, next message gets a new card', async () => {
    const user = await newUser('Greta');
    await send(teamsMessage(env, user, 'q'));
    const state = new URL(authorizeUrlOf(cardsTo(user)[0])).searchParams.get('state')!;
    const res = await handler(callbackEvent(`${env.baseUrl}/auth/callback?state=${state}&code=not-a-real-code`));
    expect(res.statusCode).toBe(400);
    expect(res.body).toContain('Sign-in expired');
    expect(await tokenItem(env, user)).toBeUndefined();
    await send(teamsMessage(env, user, 'q2'));
    expect(cardsTo(user)).toHaveLength(2);
  });
});

describe('failures on the way', () => {
  test('posting the card fails: the message stays pending and the next message posts the card', async () => {
    const user = await newUser('Carl');
    env.connector.failNext(403, 1); // BotNotInConversationRoster: not retried by the client
    const res = await send(teamsMessage(env, user, 'one'));
    expect(res.statusCode).toBe(200);
    expect(cardsTo(user)).toHaveLength(0);
    expect(await pendingItems(env, user)).toHaveLength(1);
    await send(teamsMessage(env, user, 'two'));
    expect(cardsTo(user)).toHaveLength(1);
    expect(await pendingItems(env, user)).toHaveLength(2);
  });

  test('a worker invoke fails during the resume: the rest stays pending and the next message resumes it first, in order', async () => {
    const user = await newUser('Rita');
    await send(teamsMessage(env, user, 'm1'));
    await send(teamsMessage(env, user, 'm2'));
    env.worker.failNext(500, 3); // the SDK tries 3 times: one invoke fails
    const res = await handler(callbackEvent(remember(await env.idp.signIn(authorizeUrlOf(cardsTo(user)[0]), user.login))));
    expect(res.statusCode).toBe(200);
    expect(res.body).toContain('could not be handed over yet');
    expect(invocationsFor(env, user)).toHaveLength(0);
    expect(await pendingItems(env, user)).toHaveLength(2);
    await send(teamsMessage(env, user, 'm3'));
    await env.worker.idle();
    expect(invocationsFor(env, user).map((e) => [e.message.text, e.resumed])).toEqual([['m1', true], ['m2', true], ['m3', false]]);
    expect(await pendingItems(env, user)).toHaveLength(0);
  });
});

describe('refresh with a short-lived access token from the IdP', () => {
  test('a token issued with expires_in inside the skew is refreshed on the next message (KMS decrypt + refresh + store)', async () => {
    const user = await newUser('Short');
    await env.idp.setAccessTokenTtl(120);
    try {
      expect((await signIn(user)).statusCode).toBe(200);
    } finally {
      await env.idp.setAccessTokenTtl(3600);
    }
    const before = await tokenItem(env, user);
    expect(Number(before?.exp?.N) - Date.now() / 1000).toBeLessThan(300);
    const { result, calls } = await awsCalls(() => send(teamsMessage(env, user, 'refresh me')));
    expect(result.statusCode).toBe(200);
    expect(calls).toEqual(expect.arrayContaining(['dynamodb:GetItem', 'moto:Decrypt', 'moto:GenerateDataKey', 'dynamodb:UpdateItem', 'lambda:Invoke']));
    const after = await tokenItem(env, user);
    expect(Number(after?.exp?.N) - Date.now() / 1000).toBeGreaterThan(3000);
    expect(after?.rt).not.toEqual(before?.rt);
    expect(invocationsFor(env, user).at(-1).message.text).toBe('refresh me');
  });
});

describe('concurrency', () => {
  test('five messages at once before sign-in: five pending messages, one card; sign-in resumes all five in order', async () => {
    const user = await newUser('Quick');
    const activities = Array.from({ length: 5 }, (_, i) => teamsMessage(env, user, `burst ${i}`, {
      timestamp: new Date(Date.now() + i).toISOString(),
    }));
    const results = await Promise.all(activities.map((a) => send(a)));
    expect(results.map((r) => r.statusCode)).toEqual([200, 200, 200, 200, 200]);
    expect(cardsTo(user)).toHaveLength(1);
    const pending = await pendingItems(env, user);
    expect(pending).toHaveLength(5);
    const ok = await handler(callbackEvent(remember(await env.idp.signIn(authorizeUrlOf(cardsTo(user)[0]), user.login))));
    expect(ok.statusCode).toBe(200);
    await env.worker.idle();
    const texts = invocationsFor(env, user).map((e) => e.message.text);
    expect([...texts].sort()).toEqual(activities.map((a) => a.text).sort());
    // resumed in the order the receiver stored them (arrival order)
    const stored = pending.map((p) => JSON.parse(p.event.S).message.text);
    expect(texts).toEqual(stored);
  });
});

describe('timeouts', () => {
  test('a DynamoDB call that never answers times out (3 s) and is retried: the hot path still answers 200', async () => {
    const user = await newUser('Slow');
    await send(teamsMessage(env, user, 'prompt me'));
    const ok = await handler(callbackEvent(remember(await env.idp.signIn(authorizeUrlOf(cardsTo(user)[0]), user.login))));
    expect(ok.statusCode).toBe(200);
    env.ddbProxy.hangNext('GetItem', 1);
    const started = Date.now();
    const { result, calls } = await awsCalls(() => send(teamsMessage(env, user, 'after a hang')));
    const took = Date.now() - started;
    expect(result.statusCode).toBe(200);
    expect(calls).toEqual(['dynamodb:GetItem', 'dynamodb:GetItem', 'lambda:Invoke']);
    expect(took).toBeGreaterThanOrEqual(2900);
    expect(took).toBeLessThan(8000);
  });
});

describe('per container caching', () => {
  test('the bot app token, client secret and base URL are reused: a card costs no token request and no secret/SSM read', async () => {
    const a = await newUser('A');
    const b = await newUser('B');
    await send(teamsMessage(env, a, 'warm up'));
    const stats = await env.idp.stats();
    const m = env.motoProxy.mark();
    await send(teamsMessage(env, b, 'second card'));
    expect(cardsTo(b)).toHaveLength(1);
    expect((await env.idp.stats()).token).toBe(stats.token);
    expect(env.motoProxy.since(m)).toEqual([]);
  });
});

describe('tokens of any size', () => {
  test('an 8 KB access token plus a refresh token (beyond KMS Encrypt\'s 4 KB) reaches the worker intact', async () => {
    const user = await newUser('Big');
    const ddb = new DynamoDBClient(awsClientConfig(env.aws.dynamodbEndpoint));
    const kms = new KMSClient(awsClientConfig(env.aws.motoEndpoint));
    try {
      const store = new TokenStore({ ddb, cipher: new TokenCipher({ kms, keyId: env.keyArn }), tableName: env.tables.tokenTable, appId: env.appId });
      const big = `eyJhbGciOiJub25lIn0.${Buffer.from('x'.repeat(8 * 1024)).toString('base64url')}.sig`;
      await store.put({ tenantId: env.tenantId, aadObjectId: user.oid }, { accessToken: big, refreshToken: 'r'.repeat(6000), expiresIn: 3600, scope: 'User.Read' }, { generation: 0 });
      const { calls } = await awsCalls(() => send(teamsMessage(env, user, 'big token')));
      expect(calls).toEqual(['dynamodb:GetItem', 'lambda:Invoke']);
      const e = invocationsFor(env, user).at(-1);
      expect(Buffer.from(e.token.ciphertext, 'base64').length).toBe(Buffer.byteLength(big) + 16); // one unit, not parts
      expect(await decryptToken(env.kms, e.token)).toBe(big);
    } finally {
      ddb.destroy();
      kms.destroy();
    }
  });
});

describe('logs', () => {
  test('no log line contains a token, JWT, code, state, secret or message text', async () => {
    expect(receiver.host.logs.length).toBeGreaterThan(50);
    const texts = ['what is on my calendar?', 'and my mail?', 'hot path please', 'after an hour', 'please help', 'big token'];
    const forbidden = [...secretsSeen, env.clientSecret, ...texts];
    const lines = receiver.host.logs.filter((l) => l.startsWith('{'));
    for (const line of lines) {
      for (const f of forbidden) expect(line).not.toContain(f);
      expect(line).not.toMatch(/eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}/);
    }
    // the request log line carries the safe fields
    const requests = lines.map((l) => JSON.parse(l)).filter((l) => l.event === 'request');
    expect(requests.length).toBeGreaterThan(50);
    expect(requests.find((r) => r.outcome === 'hot_path')).toMatchObject({ route: 'messages', status: 200, activityType: 'message' });
    expect(requests.find((r) => r.reason === 'signed_in')).toMatchObject({ route: 'callback', status: 200 });
  });
});
