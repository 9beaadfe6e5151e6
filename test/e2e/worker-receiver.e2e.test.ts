/**
 * The whole chain with both BUNDLED handlers, each in its own Node process: Teams message → bundled receiver (Bot
 * Framework JWT, sign-in card) → oidc-provider sign-in → callback → tokens stored with KMS → Lambda Invoke stand-in →
 * bundled default worker → Graph stand-in (answers only for the IdP-issued access token the worker decrypted) → reply
 * at the Bot Connector stand-in. Uses the receiver's test environment (test/lambda/receiver-support.ts).
 */
import { rmSync } from 'node:fs';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import {
  activitiesTo,
  authorizeUrlOf,
  callbackEvent,
  messageEvent,
  newTestUser,
  startBundledReceiver,
  startReceiverHost,
  teamsMessage,
  type BundledReceiver,
  type ReceiverEnv,
  type ReceiverHost,
  type TestUser,
} from '../lambda/receiver-support';
import { GraphStandIn, startGraphStandIn } from '../support/bot-connector-stub';
import { bundleHandler } from '../support/handler-bundle';
import { BundledHandler, startBundledHandler } from '../support/lambda-invoke-stub';

jest.setTimeout(120_000);

const APOLOGY = 'Sorry, something went wrong while I was working on your message. Please try again later.';

let bundled: BundledReceiver;
let env: ReceiverEnv;
let receiver: ReceiverHost;
let worker: BundledHandler;
let graph: GraphStandIn;
let workerDir: string;
let workerFile: string;
/** Display names the Graph stand-in returns, by Entra object id (different from the Teams names on purpose). */
const graphNames = new Map<string, string>();

beforeAll(async () => {
  const workerBundle = bundleHandler('lambda/worker/index.ts', 'tdab-worker-chain-');
  workerDir = workerBundle.dir;
  workerFile = workerBundle.file;
  bundled = await startBundledReceiver();
  ({ env, host: receiver } = bundled);
  const jwks = createRemoteJWKSet(new URL(env.idp.jwksUri));
  graph = await startGraphStandIn({
    // Microsoft Graph accepts the access token the IdP issued for it; the profile is looked up by the token's oid.
    resolveToken: async (token) => {
      const { payload } = await jwtVerify(token, jwks, { issuer: env.idp.issuer, audience: 'https://graph.microsoft.com' });
      const name = graphNames.get(String(payload.oid));
      return name === undefined ? undefined : { id: payload.oid, displayName: name };
    },
  });
  worker = await startBundledHandler(workerBundle.file, { ...env.env, TDAB_GRAPH_BASE_URL: graph.baseUrl, TDAB_LOG_LEVEL: 'info' });
  env.worker.setHandler(worker.handler);
}, 240_000);

afterAll(async () => {
  await env?.worker.idle();
  await Promise.all([worker?.stop(), graph?.stop()]);
  await bundled?.stop();
  if (workerDir) rmSync(workerDir, { recursive: true, force: true });
});

async function newUser(teamsName: string, graphName: string): Promise<TestUser> {
  const user = await newTestUser(env, teamsName);
  graphNames.set(user.oid, graphName);
  return user;
}

async function send(activity: Record<string, unknown>): Promise<void> {
  const res = await receiver.invoke(await messageEvent(env, activity));
  expect(res.statusCode).toBe(200);
}

/** Worker replies (not sign-in cards or notices) in the user's conversation. */
function workerReplies(user: TestUser) {
  return env.connector.messages()
    .filter((m) => m.conversationId === `a:1conv-${user.oid}`)
    .filter((m) => typeof m.activity.text === 'string' && (m.activity.text.startsWith('Hi ') || m.activity.text === APOLOGY));
}

async function signIn(user: TestUser, firstText: string): Promise<Record<string, unknown>> {
  const first = teamsMessage(env, user, firstText);
  await send(first);
  const card = activitiesTo(env, user).filter((a) => a.attachments?.length).at(-1);
  expect(card).toBeDefined();
  const redirect = await env.idp.signIn(authorizeUrlOf(card), user.login);
  const res = await receiver.invoke(callbackEvent(redirect));
  expect(res.statusCode).toBe(200);
  return first;
}

test('after sign-in every waiting message gets exactly one reply with the display name Graph returned for the user\'s token', async () => {
  const ada = await newUser('Ada (Teams)', 'Ada Lovelace');
  const first = teamsMessage(env, ada, 'what is my name?');
  await send(first);
  const second = teamsMessage(env, ada, 'and my <b>title</b>?');
  await send(second);
  expect(workerReplies(ada)).toHaveLength(0);
  const card = env.connector.messages().find((m) => m.conversationId === `a:1conv-${ada.oid}` && m.activity.attachments?.length);
  const redirect = await env.idp.signIn(authorizeUrlOf(card!.activity), ada.login);
  expect((await receiver.invoke(callbackEvent(redirect))).statusCode).toBe(200);
  await env.worker.idle();

  // The receiver invokes the worker in arrival order; the asynchronous invocations run concurrently, so the replies
  // (each threaded to its own message) may arrive in any order.
  const replies = workerReplies(ada);
  expect(replies.map((r) => r.activityId).sort()).toEqual([first.id, second.id].sort());
  const replyTo = (id: unknown) => replies.find((r) => r.activityId === id)!.activity.text;
  expect(replyTo(first.id)).toBe('Hi Ada Lovelace! I read your Microsoft Graph profile as you, so delegated access works.\nYou asked: “what is my name?”');
  expect(replyTo(second.id)).toBe('Hi Ada Lovelace! I read your Microsoft Graph profile as you, so delegated access works.\nYou asked: “and my title?”');
  // Graph saw the IdP's access token for Ada (verified by the stand-in), nothing else
  expect(graph.requests.filter((r) => r.status === 200).length).toBeGreaterThanOrEqual(2);

  // hot path: the next message is answered directly, once
  const third = teamsMessage(env, ada, 'again');
  await send(third);
  await env.worker.idle();
  expect(workerReplies(ada).map((r) => r.activityId).sort()).toEqual([first.id, second.id, third.id].sort());
  expect(env.worker.failures).toHaveLength(0);
});

test('a duplicate Teams delivery and a retried worker event produce no second reply', async () => {
  const grace = await newUser('Grace (Teams)', 'Grace Hopper');
  await signIn(grace, 'hello');
  await env.worker.idle();
  const message = teamsMessage(env, grace, 'only once please');
  await send(message);
  await send(message); // Teams resends the same activity
  await env.worker.idle();
  const forMessage = () => workerReplies(grace).filter((r) => r.activityId === message.id);
  expect(forMessage()).toHaveLength(1);
  // Lambda retrying the same event (e.g. after a timeout) is a no-op as well
  const event = env.worker.invocations.filter((e: any) => e?.message?.id === message.id).at(-1);
  expect(event).toBeDefined();
  await worker.handler(event, { awsRequestId: 'retry', functionName: 'tdab-worker', invokedFunctionArn: 'arn', getRemainingTimeInMillis: () => 30_000 });
  expect(forMessage()).toHaveLength(1);
  expect(forMessage()[0].activity.text).toContain('Hi Grace Hopper!');
});

test('a failing Graph call: one apology, and a failure-destination record holding the event', async () => {
  const alan = await newUser('Alan (Teams)', 'Alan Turing');
  await signIn(alan, 'warm up');
  await env.worker.idle();
  const failuresBefore = env.worker.failures.length;
  const message = teamsMessage(env, alan, 'this one fails');
  graph.failNext(500, 3, 'generalException'); // the attempt and Lambda's two retries
  await send(message);
  await env.worker.idle();
  const replies = workerReplies(alan).filter((r) => r.activityId === message.id);
  expect(replies.map((r) => r.activity.text)).toEqual([APOLOGY]);
  const records = env.worker.failures.slice(failuresBefore);
  expect(records).toHaveLength(1);
  expect(records[0].requestContext).toMatchObject({ condition: 'RetriesExhausted', approximateInvokeCount: 3 });
  expect((records[0].requestPayload as any).message).toMatchObject({ id: message.id, text: 'this one fails' });
  expect(records[0].responsePayload.errorType).toBe('WorkerError');
});

test('upper-case ids in the activity and in the configuration: the user gets the real reply, not the apology', async () => {
  const up = (v: string): string => v.toUpperCase();
  const upperEnv = { ...env.env, TDAB_APP_ID: up(env.appId), TDAB_TENANT_ID: up(env.tenantId), TDAB_ALLOWED_TENANT_IDS: up(env.tenantId) };
  const host = await startReceiverHost(bundled.bundleFile, upperEnv);
  const upperWorker = await startBundledHandler(workerFile, { ...upperEnv, TDAB_GRAPH_BASE_URL: graph.baseUrl, TDAB_LOG_LEVEL: 'info' });
  env.worker.setHandler(upperWorker.handler);
  try {
    const lin = await newUser('Lin (Teams)', 'Lin Upper');
    expect(up(lin.oid)).not.toBe(lin.oid);
    const message = teamsMessage(env, lin, 'who am I?', {
      from: { id: lin.teamsId, aadObjectId: up(lin.oid), name: lin.name },
      conversation: { id: `a:1conv-${lin.oid}`, conversationType: 'personal', tenantId: up(env.tenantId) },
      channelData: { tenant: { id: up(env.tenantId) } },
    });
    expect((await host.invoke(await messageEvent(env, message))).statusCode).toBe(200);
    const card = activitiesTo(env, lin).filter((a) => a.attachments?.length).at(-1);
    expect(card).toBeDefined();
    const redirect = await env.idp.signIn(authorizeUrlOf(card), lin.login);
    expect((await host.invoke(callbackEvent(redirect))).statusCode).toBe(200);
    await env.worker.idle();
    expect(workerReplies(lin).map((r) => [r.activityId, r.activity.text])).toEqual([[message.id,
      'Hi Lin Upper! I read your Microsoft Graph profile as you, so delegated access works.\nYou asked: “who am I?”']]);
  } finally {
    env.worker.setHandler(worker.handler);
    await Promise.all([host.stop(), upperWorker.stop()]);
  }
});

test('no token, secret or message text in the worker\'s logs', () => {
  const all = worker.output.join('\n');
  expect(all).not.toContain(env.clientSecret);
  expect(all).not.toMatch(/eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\./);
  for (const text of ['what is my name?', 'only once please', 'this one fails']) expect(all).not.toContain(text);
});
