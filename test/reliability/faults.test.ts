/**
 * Fault injection at the local servers (issue 6, item 9): DynamoDB throttling (a proxy in front of DynamoDB Local
 * answering ProvisionedThroughputExceededException), KMS errors (proxy in front of moto), IdP 5xx and timeouts (proxy
 * in front of the IdP), Bot Connector 429 / 5xx and Lambda Invoke failures (the stand-ins' `failNext`).
 *
 * Every scenario ends the same way: after the fault is gone, the user's messages have all reached the worker exactly
 * once and in order, the user was told what happened (card, notice or page), and the tables hold no leftovers.
 * Teams redelivers an activity it got a 5xx for; the tests do the same (same activity, same id).
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { KMSClient } from '@aws-sdk/client-kms';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SSMClient } from '@aws-sdk/client-ssm';
import { dynamoThrottle, kmsError, operation, pathStartsWith, startFaultProxy } from './support/fault-proxy';
import { captureLogs, scanLogLines, type LogCapture } from './support/log-scan';
import { applyEnv, loadReceiver, type ReceiverHandler, type ReceiverResult } from './support/receiver';
import {
  callbackEvent,
  expireToken as expireWorldToken,
  findOpenUrl,
  lastSignInUrl,
  messageActivity,
  messageEvent,
  startWorld,
  type World,
  type WorldUser,
} from './support/world';
import { loadConfig } from '../../lambda/shared/config';
import { setLogSink } from '../../lambda/shared/log';

jest.setTimeout(180_000);

let world: World;
let handler: ReceiverHandler;
/** A second receiver whose Entra authority is the IdP proxy (only for refresh / redemption faults). */
let proxiedIdpHandler: ReceiverHandler;
let restoreEnv: () => void;
let logs: LogCapture;
let jwt: string;
const secrets = new Set<string>();
let userIndex = 0;

beforeAll(async () => {
  world = await startWorld({ users: 20, lambdaRetries: 0 });
  secrets.add(world.clientSecret);
  const env = world.env({ viaProxies: true });
  restoreEnv = applyEnv(env);
  logs = captureLogs(setLogSink);
  handler = await loadReceiver();
  /* eslint-disable @typescript-eslint/no-require-imports */
  const { createHandler } = require('../../lambda/receiver/index') as typeof import('../../lambda/receiver/index');
  const { createReceiverContext } = require('../../lambda/receiver/context') as typeof import('../../lambda/receiver/context');
  /* eslint-enable @typescript-eslint/no-require-imports */
  const opts = { maxAttempts: 3, requestHandler: { connectionTimeout: 3000, requestTimeout: 5000 } };
  const ctx = createReceiverContext(loadConfig({ ...process.env, TDAB_ENTRA_AUTHORITY: world.idpProxy.endpoint }), {
    ddb: new DynamoDBClient(opts),
    kms: new KMSClient(opts),
    lambda: new LambdaClient(opts),
    secrets: new SecretsManagerClient(opts),
    ssm: new SSMClient(opts),
  });
  proxiedIdpHandler = createHandler(() => ctx) as unknown as ReceiverHandler;
  jwt = await world.botFramework.sign({ aud: world.appId, serviceurl: world.connector.serviceUrl });
  secrets.add(jwt);
});

afterAll(async () => {
  logs?.restore();
  restoreEnv?.();
  await world?.stop();
});

afterEach(() => {
  world.ddbProxy.clearFaults();
  world.motoProxy.clearFaults();
  world.idpProxy.clearFaults();
});

function nextUser(): WorldUser {
  return world.users[userIndex++];
}

/** Sends a message; on a 5xx, redelivers the same activity (as Teams does) up to `attempts` times. */
async function send(u: WorldUser, text: string, h: ReceiverHandler = handler, attempts = 5): Promise<{ id: string; statuses: number[] }> {
  secrets.add(text);
  const a = messageActivity(world, u, text);
  const statuses: number[] = [];
  for (let i = 0; i < attempts; i++) {
    const res = await h(messageEvent(a, jwt));
    statuses.push(res.statusCode);
    if (res.statusCode < 500) break;
  }
  return { id: a.id as string, statuses };
}

async function signIn(u: WorldUser, h: ReceiverHandler = handler): Promise<ReceiverResult> {
  const url = lastSignInUrl(world.connector, u.conversationId);
  expect(url).toBeDefined();
  const redirect = await world.idp.signIn(url!, u.login);
  secrets.add(redirect.searchParams.get('code') ?? '');
  return h(callbackEvent(redirect));
}

/** Activity ids handed to the worker for `u`, in order. */
function workerIds(u: WorldUser): string[] {
  return world.lambda.records
    .map((r) => r.payload as { conversation: { user: { aadObjectId: string } }; message: { id: string } })
    .filter((p) => p.conversation.user.aadObjectId === u.oid)
    .map((p) => p.message.id);
}

function cardsFor(u: WorldUser): number {
  return world.connector.activities.filter((a) => a.conversationId === u.conversationId && findOpenUrl(a.activity)).length;
}

function notesFor(u: WorldUser): string[] {
  return world.connector.activities
    .filter((a) => a.conversationId === u.conversationId && !findOpenUrl(a.activity) && a.activity?.type === 'message')
    .map((a) => JSON.stringify(a.activity));
}

async function pendingOf(u: WorldUser): Promise<number> {
  return (await world.scan(world.conversationTable)).filter((i) => i.pk?.S === `pending#${u.tid}#${u.oid}` && i.sk?.S?.startsWith('msg#')).length;
}

async function expireToken(u: WorldUser): Promise<void> {
  await expireWorldToken(world, u);
}

async function signedInUser(): Promise<WorldUser> {
  const u = nextUser();
  const first = await send(u, `first message of ${u.login}`);
  expect(first.statuses).toEqual([200]);
  expect((await signIn(u)).statusCode).toBe(200);
  await world.lambda.idle();
  return u;
}

describe('DynamoDB throttling', () => {
  test('short throttling is absorbed by the SDK retries: the message is kept and the card posted once', async () => {
    const u = nextUser();
    world.ddbProxy.inject(dynamoThrottle(2));
    const m = await send(u, 'throttled first contact');
    expect(m.statuses).toEqual([200]);
    expect(world.ddbProxy.count((r) => r.injected === true)).toBeGreaterThanOrEqual(2);
    expect(cardsFor(u)).toBe(1);
    expect(await pendingOf(u)).toBe(1);
  });

  test('long throttling: 503 (Teams redelivers), then exactly one pending message and one card; sign-in resumes it once', async () => {
    const u = nextUser();
    world.ddbProxy.inject(dynamoThrottle(30, operation('TransactWriteItems', 'GetItem')));
    const first = await handler(messageEvent(messageActivity(world, u, 'throttled hard', { id: '1700000000001' }), jwt));
    expect(first.statusCode).toBe(503);
    world.ddbProxy.clearFaults();
    const again = await handler(messageEvent(messageActivity(world, u, 'throttled hard', { id: '1700000000001' }), jwt));
    expect(again.statusCode).toBe(200);
    const again2 = await handler(messageEvent(messageActivity(world, u, 'throttled hard', { id: '1700000000001' }), jwt));
    expect(again2.statusCode).toBe(200);
    expect(await pendingOf(u)).toBe(1);
    expect(cardsFor(u)).toBe(1);
    expect((await signIn(u)).statusCode).toBe(200);
    await world.lambda.idle();
    expect(workerIds(u)).toEqual(['1700000000001']);
    expect(await pendingOf(u)).toBe(0);
  });

  test('throttling on the hot path: 503, the redelivery reaches the worker once', async () => {
    const u = await signedInUser();
    const before = workerIds(u).length;
    world.ddbProxy.inject(dynamoThrottle(30, operation('GetItem')));
    const a = messageActivity(world, u, 'hot path under throttling');
    expect((await handler(messageEvent(a, jwt))).statusCode).toBe(503);
    world.ddbProxy.clearFaults();
    expect((await handler(messageEvent(a, jwt))).statusCode).toBe(200);
    await world.lambda.idle();
    expect(workerIds(u).slice(before)).toEqual([a.id]);
  });
});

describe('a sign-in that fails after the state was checked', () => {
  test('DynamoDB answers 503 on the commit: 503 page, nothing stored; the same card link signs in, no new message needed', async () => {
    const u = nextUser();
    const m1 = await send(u, 'kept through a failed commit');
    expect(m1.statuses).toEqual([200]);
    const url = lastSignInUrl(world.connector, u.conversationId)!;
    // More 503s than the SDK's attempts, only on the sign-in's transaction (the state was verified, the code redeemed).
    world.ddbProxy.inject({
      match: operation('TransactWriteItems'),
      times: 5,
      status: 503,
      headers: { 'content-type': 'application/x-amz-json-1.0', 'x-amzn-errortype': 'ServiceUnavailable' },
      body: JSON.stringify({ __type: 'com.amazon.coral.availability#ServiceUnavailableException', message: 'injected' }),
    });
    const first = await world.idp.signIn(url, u.login);
    secrets.add(first.searchParams.get('code') ?? '');
    const page = await handler(callbackEvent(first));
    world.ddbProxy.clearFaults();
    expect(page.statusCode).toBe(503);
    expect(page.body).toContain('press the sign-in button again');
    expect((await world.scan(world.tokenTable)).filter((i) => i.pk?.S === `${u.tid}#${u.oid}`)).toEqual([]);
    expect(await pendingOf(u)).toBe(1);
    // The user presses the same button again (same state, a new code): signed in, the kept message resumed.
    const again = await world.idp.signIn(url, u.login);
    secrets.add(again.searchParams.get('code') ?? '');
    expect((await handler(callbackEvent(again))).statusCode).toBe(200);
    await world.lambda.idle();
    expect(new Set(workerIds(u))).toEqual(new Set([m1.id])); // handed over at least once (twice: the worker answers once)
    expect(await pendingOf(u)).toBe(0);
    expect(cardsFor(u)).toBe(1);
  });
});

describe('KMS errors', () => {
  test('GenerateDataKey (the tokens\' data keys) fails at the callback: error page, nothing stored, the next message gets a new card, then everything resumes', async () => {
    const u = nextUser();
    const m1 = await send(u, 'before kms failure');
    expect(m1.statuses).toEqual([200]);
    world.motoProxy.inject(kmsError(10, 'KMSInternalException', 500, operation('GenerateDataKey')));
    const page = await signIn(u);
    expect(page.statusCode).toBeGreaterThanOrEqual(500);
    expect(page.statusCode).toBeLessThan(600);
    expect(page.headers?.['content-type']).toMatch(/text\/html/);
    world.motoProxy.clearFaults();
    expect((await world.scan(world.tokenTable)).some((i) => i.pk?.S === `${u.tid}#${u.oid}`)).toBe(false);
    expect(await pendingOf(u)).toBe(1);
    // The user is told again: the next message posts a new card.
    const m2 = await send(u, 'after kms failure');
    expect(m2.statuses).toEqual([200]);
    expect(cardsFor(u)).toBe(2);
    expect((await signIn(u)).statusCode).toBe(200);
    await world.lambda.idle();
    expect(workerIds(u)).toEqual([m1.id, m2.id]);
    expect(await pendingOf(u)).toBe(0);
  });

  test('Decrypt of the refresh token fails: 503, the redelivery refreshes and reaches the worker once', async () => {
    const u = await signedInUser();
    const before = workerIds(u).length;
    await expireToken(u);
    world.motoProxy.inject(kmsError(10, 'KMSInternalException', 500, operation('Decrypt')));
    const m = await send(u, 'refresh with kms down', handler, 1);
    expect(m.statuses[0]).toBe(503);
    world.motoProxy.clearFaults();
    const a = messageActivity(world, u, 'refresh with kms down', { id: m.id });
    expect((await handler(messageEvent(a, jwt))).statusCode).toBe(200);
    await world.lambda.idle();
    expect(workerIds(u).slice(before)).toEqual([m.id]);
  });
});

describe('IdP failures', () => {
  test('token endpoint 5xx on refresh with an expired token: kept, the user is told, the next message delivers both', async () => {
    const u = await signedInUser();
    const before = workerIds(u).length;
    // A warm container has the bot's app token cached (it posted a card before): that is what lets it tell the user
    // about an outage of the token endpoint.
    expect((await send(nextUser(), 'warm the bot token', proxiedIdpHandler)).statuses).toEqual([200]);
    await expireToken(u);
    world.idpProxy.inject({ status: 503, body: '{"error":"temporarily_unavailable"}', headers: { 'content-type': 'application/json' }, times: 5, match: pathStartsWith(`/${world.tenantId}/oauth2/v2.0/token`) });
    const notes0 = notesFor(u).length;
    const m1 = await send(u, 'refresh while idp is down', proxiedIdpHandler);
    expect(m1.statuses).toEqual([200]);
    expect(notesFor(u).length).toBe(notes0 + 1);
    expect(workerIds(u).length).toBe(before);
    world.idpProxy.clearFaults();
    const m2 = await send(u, 'idp is back', proxiedIdpHandler);
    expect(m2.statuses).toEqual([200]);
    await world.lambda.idle();
    expect(workerIds(u).slice(before)).toEqual([m1.id, m2.id]);
    expect(await pendingOf(u)).toBe(0);
  });

  test('token endpoint timeout at the callback: a page (not a 502 from Lambda), the message stays, a new card, then resumed', async () => {
    const u = nextUser();
    const m1 = await send(u, 'before idp timeout');
    const url = lastSignInUrl(world.connector, u.conversationId)!;
    const redirect = await world.idp.signIn(url, u.login);
    world.idpProxy.inject({ delayMs: 7000, times: 1, match: pathStartsWith(`/${world.tenantId}/oauth2/v2.0/token`) });
    const page = await proxiedIdpHandler(callbackEvent(redirect));
    expect([502, 503, 504]).toContain(page.statusCode);
    expect(page.headers?.['content-type']).toMatch(/text\/html/);
    expect(await pendingOf(u)).toBe(1);
    world.idpProxy.clearFaults();
    const m2 = await send(u, 'after idp timeout');
    expect(cardsFor(u)).toBe(2);
    expect((await signIn(u)).statusCode).toBe(200);
    await world.lambda.idle();
    expect(workerIds(u)).toEqual([m1.id, m2.id]);
  });
});

describe('Bot Connector failures', () => {
  test('429 with Retry-After while posting the card: retried, one card', async () => {
    const u = nextUser();
    world.connector.failNext(429, 2, { 'Retry-After': '0' });
    const m = await send(u, 'card under 429');
    expect(m.statuses).toEqual([200]);
    expect(cardsFor(u)).toBe(1);
  });

  test('persistent 5xx while posting the card: the message is kept, the next message posts the card', async () => {
    const u = nextUser();
    // One attempt plus the client's 3 retries, all failing.
    const requests0 = world.connector.requests.length;
    world.connector.failNext(500, 4);
    const m1 = await send(u, 'card under 500');
    expect(m1.statuses).toEqual([200]);
    expect(world.connector.requests.length - requests0).toBe(4);
    expect(cardsFor(u)).toBe(0);
    expect(await pendingOf(u)).toBe(1);
    const m2 = await send(u, 'card after 500');
    expect(cardsFor(u)).toBe(1);
    expect((await signIn(u)).statusCode).toBe(200);
    await world.lambda.idle();
    expect(workerIds(u)).toEqual([m1.id, m2.id]);
  });
});

describe('Bot Connector answers late (delivered, but after the client timeout)', () => {
  // The card post times out although the Bot Connector processed it (the outcome is unknown): the receiver must not
  // release the prompt marker then, or the next message posts a second card. (Found by this test; fixed.)
  test('at most one card when the card post times out after delivery', async () => {
    const proxy = await startFaultProxy(world.connector.origin);
    try {
      /* eslint-disable @typescript-eslint/no-require-imports */
      const { createHandler } = require('../../lambda/receiver/index') as typeof import('../../lambda/receiver/index');
      const { createReceiverContext } = require('../../lambda/receiver/context') as typeof import('../../lambda/receiver/context');
      /* eslint-enable @typescript-eslint/no-require-imports */
      const opts = { maxAttempts: 3, requestHandler: { connectionTimeout: 3000, requestTimeout: 5000 } };
      const ctx = createReceiverContext(loadConfig({ ...process.env, TDAB_SERVICE_URL_HOSTS: `${world.connector.origin},${proxy.endpoint}` }), {
        ddb: new DynamoDBClient(opts),
        kms: new KMSClient(opts),
        lambda: new LambdaClient(opts),
        secrets: new SecretsManagerClient(opts),
        ssm: new SSMClient(opts),
      });
      const slowHandler = createHandler(() => ctx) as unknown as ReceiverHandler;
      const serviceUrl = `${proxy.endpoint}/amer/`;
      const token = await world.botFramework.sign({ aud: world.appId, serviceurl: serviceUrl });
      secrets.add(token);
      const u = nextUser();
      proxy.inject({ delayResponseMs: 11_000, times: 1 });
      const m1 = await slowHandler(messageEvent(messageActivity(world, u, 'slow connector one', { serviceUrl }), token));
      expect(m1.statusCode).toBe(200);
      expect(cardsFor(u)).toBe(1); // the stand-in got the card
      const m2 = await slowHandler(messageEvent(messageActivity(world, u, 'slow connector two', { serviceUrl }), token));
      expect(m2.statusCode).toBe(200);
      expect(cardsFor(u)).toBe(1);
    } finally {
      await proxy.stop();
    }
  }, 60_000);
});

describe('Lambda Invoke failures', () => {
  test('worker invoke fails on the hot path: kept, then resumed before the next refreshed message, in order', async () => {
    const u = await signedInUser();
    const before = workerIds(u).length;
    world.lambda.failNext(500, 3);
    const m1 = await send(u, 'invoke fails');
    expect(m1.statuses).toEqual([200]);
    expect(await pendingOf(u)).toBe(1);
    await expireToken(u);
    const m2 = await send(u, 'after invoke failure');
    expect(m2.statuses).toEqual([200]);
    await world.lambda.idle();
    expect(workerIds(u).slice(before)).toEqual([m1.id, m2.id]);
    expect(await pendingOf(u)).toBe(0);
  });

  test('invoke fails in the middle of a resume: order kept, the rest delivered with the next message', async () => {
    const u = nextUser();
    const m1 = await send(u, 'resume one');
    const m2 = await send(u, 'resume two');
    const m3 = await send(u, 'resume three');
    const url = lastSignInUrl(world.connector, u.conversationId)!;
    const redirect = await world.idp.signIn(url, u.login);
    // The first resumed invoke succeeds, then the Invoke API fails for longer than the SDK retries, so the second
    // resumed invoke fails (armed when the callback's one Query reads what is waiting: no other call comes between).
    let armed = false;
    const untap = world.ddbProxy.tap((r) => {
      if (!armed && r.operation === 'Query') {
        armed = true;
        world.lambda.failNext(500, 3, 1);
      }
    });
    const page = await handler(callbackEvent(redirect));
    untap();
    expect(armed).toBe(true);
    expect(page.statusCode).toBe(200);
    await world.lambda.idle();
    const delivered = workerIds(u);
    expect(delivered[0]).toBe(m1.id);
    expect(delivered.length).toBeLessThan(3);
    const m4 = await send(u, 'next message');
    expect(m4.statuses).toEqual([200]);
    await world.lambda.idle();
    expect(workerIds(u)).toEqual([m1.id, m2.id, m3.id, m4.id]);
    expect(await pendingOf(u)).toBe(0);
  });
});

describe('log scan (runs last)', () => {
  test('no log line written during the fault scenarios carries a secret', () => {
    expect(scanLogLines(logs.lines, { secrets })).toEqual([]);
    expect(logs.lines.length).toBeGreaterThan(20);
  });
});
