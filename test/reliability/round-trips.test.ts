/**
 * Round trips per path, counted at the local servers (issue 6, item 4), as a regression test: the benchmark reports
 * them, this test fails the build when they change. A warm container (JWKS, client secret, bot token, base URL
 * cached) on the hot path makes exactly two AWS calls — GetItem on the token table and Invoke of the worker — and
 * nothing else: no KMS, no Secrets Manager, no SSM, no IdP, no Bot Connector, no JWKS fetch. The refresh makes 6 (its
 * floor) and reads the pending messages only when the token item flags leftovers (issue 12, point 3).
 */
import { captureLogs, scanLogLines, type LogCapture } from './support/log-scan';
import { applyEnv, loadReceiver, type ReceiverHandler } from './support/receiver';
import { callbackEvent, expireToken, lastSignInUrl, messageActivity, messageEvent, startWorld, type World } from './support/world';
import { setLogSink } from '../../lambda/shared/log';

jest.setTimeout(120_000);

let world: World;
let handler: ReceiverHandler;
let restoreEnv: () => void;
let logs: LogCapture;
let jwt: string;
const secrets = new Set<string>();

beforeAll(async () => {
  world = await startWorld({ users: 4 });
  secrets.add(world.clientSecret);
  restoreEnv = applyEnv(world.env({ viaProxies: true }));
  logs = captureLogs(setLogSink);
  handler = await loadReceiver();
  jwt = await world.botFramework.sign({ aud: world.appId, serviceurl: world.connector.serviceUrl });
  secrets.add(jwt);
});

afterAll(async () => {
  logs?.restore();
  restoreEnv?.();
  await world?.stop();
});

interface Counts { aws: Record<string, number>; moto: Record<string, number>; invokes: number; connector: number; idpToken: number; jwks: number }

async function counted(run: () => Promise<void>): Promise<Counts> {
  world.ddbProxy.reset();
  world.motoProxy.reset();
  const invokes = world.lambda.records.length;
  const connector = world.connector.requests.length;
  const idp = (await world.idp.stats()).token;
  const jwks = world.botFramework.requests.metadata + world.botFramework.requests.jwks;
  await run();
  await world.lambda.idle();
  return {
    aws: world.ddbProxy.summary(),
    moto: world.motoProxy.summary(),
    invokes: world.lambda.records.length - invokes,
    connector: world.connector.requests.length - connector,
    idpToken: (await world.idp.stats()).token - idp,
    jwks: world.botFramework.requests.metadata + world.botFramework.requests.jwks - jwks,
  };
}

async function send(userIndex: number, text: string): Promise<void> {
  secrets.add(text);
  const res = await handler(messageEvent(messageActivity(world, world.users[userIndex], text), jwt));
  expect(res.statusCode).toBe(200);
}

test('first contact, callback and hot path make exactly the documented calls', async () => {
  // Warm the container: first contact of another user fetches the JWKS, the secret and the bot token once.
  await send(3, 'warm-up of the container');

  const first = await counted(() => send(0, 'first contact message'));
  expect(first).toEqual({
    aws: { GetItem: 1, TransactWriteItems: 1 }, // token; message + dedupe + prompt (the state is self-authenticating: not stored)
    moto: {},
    invokes: 0,
    connector: 1,
    idpToken: 0,
    jwks: 0,
  });

  const u = world.users[0];
  const redirect = await world.idp.signIn(lastSignInUrl(world.connector, u.conversationId)!, u.login);
  secrets.add(redirect.searchParams.get('code') ?? '');
  const callback = await counted(async () => {
    expect((await handler(callbackEvent(redirect))).statusCode).toBe(200);
  });
  // The callback's floor (issue 12, point 2): 5 AWS calls for one waiting message. The state verifies itself (no
  // read); two KMS encryptions; one read of what is waiting; the worker invoke; one transaction that stores the
  // tokens, marks the state used and releases the prompt and the message.
  expect(callback.aws).toEqual({ Query: 1, TransactWriteItems: 1 });
  expect(callback.moto).toEqual({ GenerateDataKey: 2 }); // one data key per token (envelope encryption), whatever its size
  expect(callback.invokes).toBe(1);
  expect(Object.values(callback.aws).reduce((a, b) => a + b, 0) + Object.values(callback.moto).reduce((a, b) => a + b, 0) + callback.invokes).toBe(5);
  expect(callback.idpToken).toBe(1);
  expect(callback.connector).toBe(0);

  const hot = await counted(async () => {
    for (let i = 0; i < 5; i++) await send(0, `hot path message ${i}`);
  });
  expect(hot).toEqual({ aws: { GetItem: 5 }, moto: {}, invokes: 5, connector: 0, idpToken: 0, jwks: 0 });
});

/** Makes user `i`'s access token expire (straight to DynamoDB Local: not counted), so the next message refreshes. */
const expire = (i: number) => expireToken(world, world.users[i]);

/** Message ids the worker stand-in received for user `i`, in order. */
function workerIds(i: number): string[] {
  return world.lambda.records
    .map((r) => r.payload as { conversation: { user: { aadObjectId: string } }; message: { id: string } })
    .filter((p) => p.conversation.user.aadObjectId === world.users[i].oid)
    .map((p) => p.message.id);
}

/** The refresh's floor (issue 12, point 3): GetItem token, Decrypt refresh token, GenerateDataKey ×2, UpdateItem token, Invoke. */
const ORDINARY_REFRESH = {
  aws: { GetItem: 1, UpdateItem: 1 }, moto: { Decrypt: 1, GenerateDataKey: 2 }, invokes: 1, connector: 0, idpToken: 1, jwks: 0,
};

test('refresh makes 6 AWS calls; it reads the pending messages only when the token item flags leftovers', async () => {
  // User 0 signed in above. A sign-in flags leftovers (a message kept while it completed is found later), so the
  // first refresh after it also reads the pending messages (none) and removes the flag.
  await expire(0);
  const afterSignIn = await counted(() => send(0, 'first refresh after the sign-in'));
  expect(afterSignIn).toEqual({ ...ORDINARY_REFRESH, aws: { GetItem: 1, UpdateItem: 2, Query: 1 } });

  for (let i = 0; i < 2; i++) {
    await expire(0);
    const ordinary = await counted(() => send(0, `ordinary refresh ${i}`));
    expect(ordinary).toEqual(ORDINARY_REFRESH);
    const total = Object.values(ordinary.aws).reduce((a, b) => a + b, 0) + Object.values(ordinary.moto).reduce((a, b) => a + b, 0) + ordinary.invokes;
    expect(total).toBe(6);
  }
});

test('a failed hand-over flags the token item: the next message refreshes and resumes the leftover exactly once, first', async () => {
  const before = workerIds(0).length;
  // The Invoke API fails for longer than the SDK retries: the hot-path message is kept and the token item flagged.
  world.lambda.failNext(500, 3);
  const kept = messageActivity(world, world.users[0], 'kept after a failed hand-over');
  secrets.add('kept after a failed hand-over');
  expect((await handler(messageEvent(kept, jwt))).statusCode).toBe(200);
  await world.lambda.idle();
  expect(workerIds(0).slice(before)).toEqual([]);

  const next = messageActivity(world, world.users[0], 'the next message');
  secrets.add('the next message');
  const resumed = await counted(async () => {
    expect((await handler(messageEvent(next, jwt))).statusCode).toBe(200);
  });
  // The ordinary refresh + reading the pending messages, deleting the one handed over, removing the flag; 2 invokes.
  expect(resumed).toEqual({ ...ORDINARY_REFRESH, aws: { GetItem: 1, UpdateItem: 2, Query: 1, DeleteItem: 1 }, invokes: 2 });
  expect(workerIds(0).slice(before)).toEqual([kept.id, next.id]);

  // The flag is gone: the next refresh is ordinary again, and the leftover is not handed over a second time.
  await expire(0);
  expect(await counted(() => send(0, 'after the leftover'))).toEqual(ORDINARY_REFRESH);
  const ids = workerIds(0).slice(before);
  expect(ids.filter((id) => id === kept.id)).toHaveLength(1);
  expect(ids).toHaveLength(3);
});

test('a message kept while a sign-in completes (after its read of what is waiting) is answered once, at the latest by the first refresh', async () => {
  await send(2, 'first contact of user 2');
  const u = world.users[2];
  const redirect = await world.idp.signIn(lastSignInUrl(world.connector, u.conversationId)!, u.login);
  secrets.add(redirect.searchParams.get('code') ?? '');
  const during = messageActivity(world, u, 'sent while the sign-in completes');
  secrets.add('sent while the sign-in completes');
  // The message arrives once the callback has read what is waiting. Whether it is kept before the callback commits
  // (then only the leftovers flag of the sign-in leads a later read to it) or takes the hot path after the commit,
  // it must reach the worker exactly once.
  let inFlight: Promise<{ statusCode: number }> | undefined;
  const untap = world.ddbProxy.tap((r) => {
    if (!inFlight && r.operation === 'Query') inFlight = handler(messageEvent(during, jwt));
  });
  try {
    expect((await handler(callbackEvent(redirect))).statusCode).toBe(200);
  } finally {
    untap();
  }
  expect((await inFlight)?.statusCode).toBe(200);
  await expire(2);
  await send(2, 'first refresh after that sign-in');
  await world.lambda.idle();
  expect(workerIds(2).filter((id) => id === during.id)).toHaveLength(1);
  const waiting = (await world.scan(world.conversationTable)).filter((i) => i.pk?.S === `pending#${u.tid}#${u.oid}` && i.sk?.S?.startsWith('msg#'));
  expect(waiting).toEqual([]);
});

test('a forged or expired state on the callback costs no AWS call at all (issue 11, point 3)', async () => {
  await send(1, 'first contact of user 1');
  const u = world.users[1];
  const url = new URL(lastSignInUrl(world.connector, u.conversationId)!);
  const state = url.searchParams.get('state')!;
  const raw = Buffer.from(state, 'base64url');
  const forgedMac = Buffer.from(raw);
  forgedMac[80] = forgedMac[80] === 0 ? 1 : 0;
  const expired = Buffer.from(raw);
  expired.writeUInt32BE(Math.floor(Date.now() / 1000) - 5, 2);
  for (const bad of [forgedMac, expired]) {
    const redirect = new URL(`${url.searchParams.get('redirect_uri')}?state=${bad.toString('base64url')}&code=abc`);
    const counts = await counted(async () => {
      expect((await handler(callbackEvent(redirect))).statusCode).toBe(400);
    });
    expect(counts).toEqual({ aws: {}, moto: {}, invokes: 0, connector: 0, idpToken: 0, jwks: 0 });
  }
});

test('no log line carries a secret', () => {
  expect(scanLogLines(logs.lines, { secrets })).toEqual([]);
});
