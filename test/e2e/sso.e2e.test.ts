/**
 * End to end, Teams SSO: the BUNDLED receiver (in its own Node process, like a Lambda container) with SSO enabled,
 * against DynamoDB Local + moto, the oidc-provider IdP issuing the SSO tokens and answering the on-behalf-of
 * (jwt-bearer) grant, the Bot Framework JWKS signing the inbound JWTs, and the Bot Connector / Lambda Invoke
 * stand-ins. Setup helpers are the receiver's (test/lambda/receiver-support.ts).
 */
import { randomUUID } from 'node:crypto';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { ENV } from '../../src/private/env';
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
  startReceiverHost,
  teamsMessage,
  tokenItem,
  type BundledReceiver,
  type ReceiverEnv,
  type ReceiverHost,
  type TestUser,
} from '../lambda/receiver-support';

jest.setTimeout(120_000);

const CONNECTION = 'TeamsDelegatedAuthBot';
const OAUTH_CARD = 'application/vnd.microsoft.card.oauth';

let receiver: BundledReceiver;
let env: ReceiverEnv;
let host: ReceiverHost;

beforeAll(async () => {
  receiver = await startBundledReceiver({ extraEnv: { [ENV.SSO_ENABLED]: 'true' } });
  ({ env, host } = receiver);
}, 240_000);

afterAll(async () => {
  await receiver?.stop();
});

async function send(activity: Record<string, unknown>) {
  return host.invoke(await messageEvent(env, activity));
}

function invokeActivity(user: TestUser, name: string, value: unknown): Record<string, unknown> {
  return teamsMessage(env, user, '', { type: 'invoke', name, value, text: undefined });
}

async function oboCalls(): Promise<number> {
  return (await env.idp.stats()).token;
}

/** Sends a message while signed out; returns the tokenExchangeResource of the card it gets (the first one). */
async function askWhileSignedOut(user: TestUser, text: string): Promise<{ id: string; uri: string }> {
  const res = await send(teamsMessage(env, user, text));
  expect(res.statusCode).toBe(200);
  const card = activitiesTo(env, user)[0];
  const oauth = card.attachments.find((a: any) => a.contentType === OAUTH_CARD);
  expect(oauth.content.connectionName).toBe(CONNECTION);
  return oauth.content.tokenExchangeResource;
}

async function exchange(user: TestUser, id: string, token: string) {
  const res = await send(invokeActivity(user, 'signin/tokenExchange', { id, connectionName: CONNECTION, token }));
  return { status: res.statusCode, body: res.body ? JSON.parse(res.body) : undefined };
}

async function nothingStoredFor(user: TestUser): Promise<void> {
  expect(await tokenItem(env, user)).toBeUndefined();
  const items = await scanAll(env.ddb, env.tables.tokenTable);
  expect(items.filter((i) => i.pk.S === `${env.tenantId}#${user.oid}`)).toEqual([]);
}

test('success: the card offers SSO, the exchange signs the user in silently and the waiting messages are answered', async () => {
  const user = await newTestUser(env);
  const resource = await askWhileSignedOut(user, 'what is on my calendar?');
  await send(teamsMessage(env, user, 'and my mail?'));
  expect(resource.uri).toBe(`api://botid-${env.appId}`);
  expect(activitiesTo(env, user).filter((m) => Array.isArray(m.attachments))).toHaveLength(1); // one card for two messages
  expect(await pendingItems(env, user)).toHaveLength(2);
  const before = await oboCalls();

  const res = await exchange(user, resource.id, await env.idp.mintSsoToken(user.login));

  expect(res).toEqual({ status: 200, body: { id: resource.id, connectionName: CONNECTION } });
  expect(await oboCalls()).toBe(before + 1);
  await env.worker.idle();
  const events = invocationsFor(env, user);
  expect(events.map((e) => e.message.text)).toEqual(['what is on my calendar?', 'and my mail?']);
  expect(events.every((e) => e.resumed)).toBe(true);
  expect(await pendingItems(env, user)).toEqual([]);
  // The worker's token is the IdP's on-behalf-of token for this user and Graph, and it decrypts.
  const accessToken = await decryptToken(env.kms, events[0].token);
  const { payload } = await jwtVerify(accessToken, createLocalJWKSet({ keys: [env.idp.publicJwk] }), { issuer: env.idp.issuer });
  expect(payload).toMatchObject({ oid: user.oid, tid: env.tenantId, aud: 'https://graph.microsoft.com' });
  expect(String(payload.scp)).toContain('User.Read');
  const item = await tokenItem(env, user);
  expect(item?.rt).toBeDefined(); // offline_access: a refresh token was stored

  // Signed in: the next message takes the hot path (no card).
  const cards = activitiesTo(env, user).length;
  expect((await send(teamsMessage(env, user, 'thanks'))).statusCode).toBe(200);
  await env.worker.idle();
  expect(invocationsFor(env, user).at(-1)).toMatchObject({ resumed: false, message: { text: 'thanks' } });
  expect(activitiesTo(env, user)).toHaveLength(cards);

  // The refresh token from the exchange works: an expired access token is refreshed silently.
  await setTokenExpiry(env, user, Math.floor(Date.now() / 1000) - 10);
  expect((await send(teamsMessage(env, user, 'still there?'))).statusCode).toBe(200);
  await env.worker.idle();
  expect(invocationsFor(env, user).at(-1)).toMatchObject({ message: { text: 'still there?' } });
  expect(activitiesTo(env, user)).toHaveLength(cards);
});

test('consent required: 412 with failureDetail, nothing stored, the messages wait; the sign-in card still works', async () => {
  const user = await newTestUser(env, 'User', { oboFailure: 'consent_required' });
  const resource = await askWhileSignedOut(user, 'hello');
  const before = await oboCalls();

  const res = await exchange(user, resource.id, await env.idp.mintSsoToken(user.login));

  expect(res.status).toBe(412);
  expect(res.body).toEqual({ id: resource.id, connectionName: CONNECTION, failureDetail: expect.stringMatching(/^consent_required/) });
  expect(await oboCalls()).toBe(before + 1);
  await nothingStoredFor(user);
  expect(await pendingItems(env, user)).toHaveLength(1);
  await env.worker.idle();
  expect(invocationsFor(env, user)).toEqual([]);

  // The fallback Teams shows: the card's sign-in link, through the browser and the callback.
  const redirect = await env.idp.signIn(authorizeUrlOf(activitiesTo(env, user)[0]), user.login);
  const page = await host.invoke(callbackEvent(`${env.baseUrl}${redirect.pathname}${redirect.search}`));
  expect(page.statusCode).toBe(200);
  await env.worker.idle();
  expect(invocationsFor(env, user).map((e) => e.message.text)).toEqual(['hello']);
});

test('the same value.id from three Teams clients: one exchange, one resume, every client 200', async () => {
  const user = await newTestUser(env);
  const resource = await askWhileSignedOut(user, 'one');
  await send(teamsMessage(env, user, 'two'));
  const tokens = await Promise.all([1, 2, 3].map(() => env.idp.mintSsoToken(user.login)));
  const before = await oboCalls();

  const results = await Promise.all(tokens.map((t) => exchange(user, resource.id, t)));

  expect(results).toEqual(results.map(() => ({ status: 200, body: { id: resource.id, connectionName: CONNECTION } })));
  expect(await oboCalls()).toBe(before + 1);
  await env.worker.idle();
  expect(invocationsFor(env, user).map((e) => e.message.text)).toEqual(['one', 'two']);

  // Teams retries one of them later: still 200, still one exchange and one resume.
  expect((await exchange(user, resource.id, tokens[2])).status).toBe(200);
  expect(await oboCalls()).toBe(before + 1);
  await env.worker.idle();
  expect(invocationsFor(env, user)).toHaveLength(2);
});

test('an SSO token of another user: 412, nothing stored for either user, no exchange', async () => {
  const user = await newTestUser(env);
  const intruder = await newTestUser(env);
  const resource = await askWhileSignedOut(user, 'private question');
  const before = await oboCalls();

  const res = await exchange(user, resource.id, await env.idp.mintSsoToken(intruder.login));

  expect(res.status).toBe(412);
  expect(res.body).toMatchObject({ id: resource.id, connectionName: CONNECTION, failureDetail: expect.stringMatching(/another user/) });
  expect(await oboCalls()).toBe(before);
  await nothingStoredFor(user);
  await nothingStoredFor(intruder);
  expect(await pendingItems(env, user)).toHaveLength(1);
  await env.worker.idle();
  expect(invocationsFor(env, user)).toEqual([]);
});

test('an expired SSO token: 412, nothing stored, no exchange', async () => {
  const user = await newTestUser(env);
  const resource = await askWhileSignedOut(user, 'late');
  const before = await oboCalls();

  const res = await exchange(user, resource.id, await env.idp.mintSsoToken(user.login, { expiresInSeconds: -600 }));

  expect(res.status).toBe(412);
  expect(res.body).toMatchObject({ id: resource.id, connectionName: CONNECTION, failureDetail: expect.stringMatching(/expired/) });
  expect(await oboCalls()).toBe(before);
  await nothingStoredFor(user);
  expect(await pendingItems(env, user)).toHaveLength(1);
});

test('signin/verifyState and signin/failure over HTTP; other invoke names 501', async () => {
  const user = await newTestUser(env);
  let res = await send(invokeActivity(user, 'signin/verifyState', { state: '123456' }));
  expect(res.statusCode).toBe(412);
  res = await send(invokeActivity(user, 'signin/verifyState', {}));
  expect(res.statusCode).toBe(404);

  res = await send(invokeActivity(user, 'signin/failure', { code: 'resourcematchfailed', message: 'Resource match failed' }));
  expect(res.statusCode).toBe(200);
  const [card] = activitiesTo(env, user);
  expect(card.attachments.map((a: any) => a.contentType)).toEqual(['application/vnd.microsoft.card.adaptive']);
  // The free-text failure message and no token reach the logs.
  expect(host.logs.join('\n')).not.toContain('Resource match failed');

  res = await send(invokeActivity(user, 'composeExtension/query', {}));
  expect(res.statusCode).toBe(501);
});

test('no token, JWT or SSO assertion in the receiver logs, even at debug level', async () => {
  const debugHost = await startReceiverHost(receiver.bundleFile, { ...env.env, [ENV.LOG_LEVEL]: 'debug' });
  try {
    const user = await newTestUser(env);
    const ask = await debugHost.invoke(await messageEvent(env, teamsMessage(env, user, 'log check')));
    expect(ask.statusCode).toBe(200);
    const oauth = activitiesTo(env, user)[0].attachments.find((a: any) => a.contentType === OAUTH_CARD);
    const id = oauth.content.tokenExchangeResource.id;
    const token = await env.idp.mintSsoToken(user.login);
    const res = await debugHost.invoke(await messageEvent(env, invokeActivity(user, 'signin/tokenExchange', { id, connectionName: CONNECTION, token })));
    expect(res.statusCode).toBe(200);
    const bad = await debugHost.invoke(await messageEvent(env, invokeActivity(user, 'signin/tokenExchange', {
      id: randomUUID(), connectionName: CONNECTION, token: await env.idp.mintSsoToken(user.login, { expiresInSeconds: -600 }),
    })));
    expect(bad.statusCode).toBe(412);
    await env.worker.idle();
    const logs = debugHost.logs.join('\n');
    expect(logs).toMatch(/sso_exchange/); // the debug host did log the exchanges
    expect(logs).not.toContain(token);
    expect(logs).not.toContain(token.split('.')[1]);
    expect(logs).not.toMatch(/eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}/);
  } finally {
    await debugHost.stop();
  }
});
