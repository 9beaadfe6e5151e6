/**
 * End to end through the BUNDLED default worker (esbuild, the options of .projenrc.ts), invoked asynchronously through
 * the Lambda Invoke stand-in by a real AWS SDK LambdaClient, against DynamoDB Local, moto_server (KMS, Secrets
 * Manager), oidc-provider (the bot's client-credentials token, verified by the Bot Connector stand-in) and a Graph
 * stand-in that returns a display name only for the decrypted user token.
 */
import { rmSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { KMSClient } from '@aws-sdk/client-kms';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { WorkerEvent } from '../../lambda/shared/contract';
import { TokenCipher } from '../../lambda/shared/crypto';
import { IdempotencyStore, idempotencyKey } from '../../lambda/shared/idempotency';
import { BotConnectorStub, GraphStandIn } from '../support/bot-connector-stub';
import { bundleHandler } from '../support/handler-bundle';
import { BundledHandler, LambdaInvokeStub, startBundledHandler, startLambdaInvoke } from '../support/lambda-invoke-stub';
import { applyTestAwsEnv, awsClientConfig, testAwsEnv } from '../support/local-aws';
import { signedInWorkerEvent, startWorkerWorld, WorkerWorld } from '../support/worker-world';

const APP_ID = '00000000-0000-0000-0000-0000000e2e01';
const TENANT = '44444444-4444-4444-4444-444444444444';
const OID = '55555555-5555-5555-5555-555555555555';
const TABLE = 'e2e-conversations';
const CLIENT_SECRET = 'e2e-bot-client-secret';
const APOLOGY = 'Sorry, something went wrong while I was working on your message. Please try again later.';

let world: WorkerWorld;
let bc: BotConnectorStub;
let graph: GraphStandIn;
let invoke: LambdaInvokeStub;
let lambda: LambdaClient;
let kms: KMSClient;
let ddb: DynamoDBClient;
let cipher: TokenCipher;
let restoreEnv: () => void;
let outDir: string;
let worker: BundledHandler;
let n = 0;
const userTokens: string[] = [];

beforeAll(async () => {
  const starting = startWorkerWorld({
    appId: APP_ID, tenantId: TENANT, clientSecret: CLIENT_SECRET, secretName: 'e2e-bot-secret', tables: { tokenTable: 'e2e-tokens', conversationTable: TABLE },
  });
  let bundle: string;
  try {
    ({ file: bundle, dir: outDir } = bundleHandler('lambda/worker/index.ts', 'tdab-worker-'));
  } finally {
    world = await starting;
  }
  ({ bc, graph } = world);
  const aws = world.aws;
  invoke = await startLambdaInvoke({ retries: 2, retryDelayMs: 20 });
  restoreEnv = applyTestAwsEnv(aws, { lambdaEndpoint: invoke.endpoint });
  // The bundle runs in its own process (a Lambda "container") and creates its SDK clients from the environment
  // (AWS_ENDPOINT_URL_*), like in Lambda.
  worker = await startBundledHandler(bundle, { ...testAwsEnv(aws), ...world.workerEnv, TDAB_KMS_KEY_ARN: world.keyArn, TDAB_LOG_LEVEL: 'info' });
  invoke.setHandler(worker.handler);
  lambda = new LambdaClient(awsClientConfig(invoke.endpoint));
  kms = new KMSClient(awsClientConfig(aws.motoEndpoint));
  ddb = new DynamoDBClient(awsClientConfig(aws.dynamodbEndpoint));
  cipher = new TokenCipher({ kms, keyId: world.keyArn });
}, 180_000);

afterAll(async () => {
  await invoke?.idle();
  restoreEnv?.();
  lambda?.destroy();
  kms?.destroy();
  ddb?.destroy();
  await Promise.all([worker?.stop(), invoke?.stop(), world?.stop()]);
  if (outDir) rmSync(outDir, { recursive: true, force: true });
});

/** The event the receiver would send after sign-in: a user token registered at the Graph stand-in. */
async function signedInEvent(displayName: string, text: string): Promise<WorkerEvent> {
  n++;
  const token = `e2e-user-token-${n}-${Math.random().toString(36).slice(2)}`;
  graph.addUser(token, { id: OID, displayName });
  userTokens.push(token);
  return signedInWorkerEvent(cipher, {
    appId: APP_ID,
    token,
    text,
    activityId: `1732000000${n}00`,
    resumed: n % 2 === 0,
    conversation: {
      serviceUrl: bc.serviceUrl,
      channelId: 'msteams',
      conversation: { id: `a:1personal-chat-${n}`, conversationType: 'personal', tenantId: TENANT },
      bot: { id: `28:${APP_ID}`, name: 'Bot' },
      user: { id: '29:1e2euser', aadObjectId: OID, name: 'Teams Name' },
      locale: 'en-US',
    },
  });
}

async function invokeAsync(event: WorkerEvent): Promise<void> {
  const out = await lambda.send(new InvokeCommand({
    FunctionName: 'tdab-worker',
    InvocationType: 'Event',
    Payload: Buffer.from(JSON.stringify(event)),
  }));
  expect(out.StatusCode).toBe(202);
}

const repliesTo = (event: WorkerEvent) =>
  bc.activities.filter((a) => a.conversationId === event.conversation.conversation.id && a.activity.type === 'message');

test('the bundle is a standalone CommonJS file', () => {
  const size = statSync(path.join(outDir, 'index.js')).size;
  expect(size).toBeGreaterThan(10_000);
  expect(size).toBeLessThan(3_000_000);
});

test('each message gets exactly one threaded reply with the display name Graph returned for the decrypted token', async () => {
  const events = [await signedInEvent('Ada Lovelace', 'what is my name?'), await signedInEvent('Grace Hopper', '<at>Bot</at> who am **I**?')];
  for (const e of events) await invokeAsync(e);
  await invoke.idle();
  for (const [i, e] of events.entries()) {
    const replies = repliesTo(e);
    expect(replies).toHaveLength(1);
    expect(replies[0].activityId).toBe(e.message.id);
    expect(replies[0].activity.replyToId).toBe(e.message.id);
    expect(replies[0].activity.textFormat).toBe('plain');
    expect(replies[0].activity.text).toContain(i === 0 ? 'Hi Ada Lovelace!' : 'Hi Grace Hopper!');
    expect(replies[0].activity.text).toContain(i === 0 ? 'You asked: “what is my name?”' : 'You asked: “who am **I**?”');
    expect(bc.activities.some((a) => a.conversationId === e.conversation.conversation.id && a.activity.type === 'typing')).toBe(true);
  }
  expect(invoke.failures).toHaveLength(0);
});

test('a duplicate Teams delivery and a retried event produce no second reply', async () => {
  const e = await signedInEvent('Katherine Johnson', 'hello');
  await invokeAsync(e);
  await invokeAsync(e); // duplicate delivery (Teams resent, receiver invoked again)
  await invoke.idle();
  await invokeAsync(JSON.parse(JSON.stringify(e))); // a later retry of the same event
  await invoke.idle();
  expect(repliesTo(e)).toHaveLength(1);
  const rec = await new IdempotencyStore({ ddb, tableName: TABLE }).get(idempotencyKey(e.conversation.conversation.id, e.message.id));
  expect(rec?.state).toBe('replied');
});

test('a failing Graph call: one apology, Lambda retries without a second one, a replayable failure-destination record', async () => {
  const e = await signedInEvent('Alan Turing', 'this will fail');
  graph.failNext(500, 3, 'generalException'); // the first attempt and both retries
  const failuresBefore = invoke.failures.length;
  await invokeAsync(e);
  await invoke.idle();
  const replies = repliesTo(e);
  expect(replies).toHaveLength(1);
  expect(replies[0].activity.text).toBe(APOLOGY);
  expect(replies[0].activity.replyToId).toBe(e.message.id);
  const records = invoke.failures.slice(failuresBefore);
  expect(records).toHaveLength(1);
  const record = records[0];
  expect(record.requestContext).toMatchObject({ condition: 'RetriesExhausted', approximateInvokeCount: 3 });
  expect(record.requestPayload).toEqual(JSON.parse(JSON.stringify(e)));
  expect(record.responsePayload.errorType).toBe('WorkerError');
  expect(record.responsePayload.errorMessage).toBe(`worker failed before replying to activity ${e.message.id}: GraphError status 500 (generalException)`);
  expect(record.responsePayload.errorMessage).not.toContain('this will fail');

  // Replaying the destination record's payload once Graph works answers the message, still with one apology only.
  await invokeAsync(record.requestPayload as WorkerEvent);
  await invoke.idle();
  const after = repliesTo(e).map((r) => r.activity.text);
  expect(after).toHaveLength(2);
  expect(after.filter((t) => t === APOLOGY)).toHaveLength(1);
  expect(after[1]).toContain('Hi Alan Turing!');
});

test('a transient Graph failure is absorbed by a Lambda retry: apology then answer, no destination record', async () => {
  const e = await signedInEvent('Hedy Lamarr', 'retry me');
  graph.failNext(500, 1);
  const failuresBefore = invoke.failures.length;
  await invokeAsync(e);
  await invoke.idle();
  expect(repliesTo(e).map((r) => r.activity.text)).toEqual([APOLOGY, expect.stringContaining('Hi Hedy Lamarr!')]);
  expect(invoke.failures.length).toBe(failuresBefore);
});

test('the Lambda Invoke API failing (throttled) is retried by the SDK', async () => {
  const e = await signedInEvent('Margaret Hamilton', 'throttled');
  invoke.failNext(429, 1);
  await invokeAsync(e);
  await invoke.idle();
  expect(repliesTo(e)).toHaveLength(1);
});

test('the worker\'s logs are JSON lines without tokens, secrets or message text', () => {
  expect(worker.output.length).toBeGreaterThan(0);
  const all = worker.output.join('\n');
  for (const t of userTokens) expect(all).not.toContain(t);
  expect(all).not.toContain(CLIENT_SECRET);
  for (const text of ['what is my name?', 'this will fail', 'retry me', 'who am']) expect(all).not.toContain(text);
  expect(all).not.toMatch(/eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\./); // no JWT (the bot's app token)
  const json = worker.output.filter((l) => l.startsWith('{'));
  expect(json.map((l) => JSON.parse(l).event)).toEqual(expect.arrayContaining(['worker_started', 'worker_replied', 'worker_failed_before_reply', 'worker_apology_sent']));
});
