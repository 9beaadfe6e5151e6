/**
 * Round trips per path, counted at the local servers (issue 6, item 4), as a regression test: the benchmark reports
 * them, this test fails the build when they change. A warm container (JWKS, client secret, bot token, base URL
 * cached) on the hot path makes exactly two AWS calls — GetItem on the token table and Invoke of the worker — and
 * nothing else: no KMS, no Secrets Manager, no SSM, no IdP, no Bot Connector, no JWKS fetch.
 */
import { captureLogs, scanLogLines, type LogCapture } from './support/log-scan';
import { applyEnv, loadReceiver, type ReceiverHandler } from './support/receiver';
import { callbackEvent, lastSignInUrl, messageActivity, messageEvent, startWorld, type World } from './support/world';
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
  expect(callback.moto).toEqual({ Encrypt: 2 });
  expect(callback.invokes).toBe(1);
  expect(Object.values(callback.aws).reduce((a, b) => a + b, 0) + Object.values(callback.moto).reduce((a, b) => a + b, 0) + callback.invokes).toBe(5);
  expect(callback.idpToken).toBe(1);
  expect(callback.connector).toBe(0);

  const hot = await counted(async () => {
    for (let i = 0; i < 5; i++) await send(0, `hot path message ${i}`);
  });
  expect(hot).toEqual({ aws: { GetItem: 5 }, moto: {}, invokes: 5, connector: 0, idpToken: 0, jwks: 0 });
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
