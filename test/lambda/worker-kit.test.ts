/**
 * Worker kit against real local servers: DynamoDB Local (idempotency), moto_server (KMS, Secrets Manager),
 * oidc-provider (the bot's client-credentials token), plus the Bot Connector and Graph stand-ins.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { KMSClient } from '@aws-sdk/client-kms';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { build } from 'esbuild';
import { startCountingProxy } from './receiver-support';
import {
  defineWorker,
  GraphClient,
  GraphError,
  GraphUrlError,
  plainText,
  quote,
  WorkerArgs,
  WorkerError,
  WorkerHandler,
} from '../../kit';
import { AWS_SDK_CLIENT_OPTIONS } from '../../lambda/shared/aws-sdk-options';
import { ConversationReference, WorkerEvent } from '../../lambda/shared/contract';
import { TokenCipher } from '../../lambda/shared/crypto';
import { IdempotencyStore, idempotencyKey } from '../../lambda/shared/idempotency';
import { setLogSink } from '../../lambda/shared/log';
import { BotConnectorStub, GraphStandIn, startBotConnector } from '../support/bot-connector-stub';
import { applyTestAwsEnv, awsClientConfig, createSecret, LocalAws } from '../support/local-aws';
import { IdentityProvider } from '../support/oidc-idp';
import { signedInWorkerEvent, startWorkerWorld, WorkerWorld } from '../support/worker-world';

const APP_ID = '00000000-0000-0000-0000-00000000b07a';
const TENANT = '11111111-1111-1111-1111-111111111111';
const OID = '22222222-2222-2222-2222-222222222222';
const TABLE = 'conversations';
const CLIENT_SECRET = 'bot-client-secret-value';

let world: WorkerWorld;
let aws: LocalAws;
let idp: IdentityProvider;
let bc: BotConnectorStub;
let graph: GraphStandIn;
let keyArn: string;
let cipher: TokenCipher;
let kms: KMSClient;
let ddb: DynamoDBClient;
let restoreEnv: () => void;
let env: NodeJS.ProcessEnv;
const logs: string[] = [];
let n = 0;

beforeAll(async () => {
  world = await startWorkerWorld({
    appId: APP_ID, tenantId: TENANT, clientSecret: CLIENT_SECRET, secretName: 'bot-secret', tables: { tokenTable: 'tokens', conversationTable: TABLE },
  });
  ({ aws, idp, bc, graph, keyArn } = world);
  restoreEnv = applyTestAwsEnv(aws);
  kms = new KMSClient(awsClientConfig(aws.motoEndpoint));
  ddb = new DynamoDBClient(awsClientConfig(aws.dynamodbEndpoint));
  cipher = new TokenCipher({ kms, keyId: keyArn });
  env = { ...world.workerEnv, TDAB_KMS_KEY_ARN: keyArn, TDAB_LOG_LEVEL: 'debug' };
  setLogSink((line) => { logs.push(line); });
}, 180_000);

afterAll(async () => {
  setLogSink(undefined);
  restoreEnv?.();
  kms?.destroy();
  ddb?.destroy();
  await world?.stop();
});

function ref(overrides: Partial<ConversationReference> = {}): ConversationReference {
  return {
    serviceUrl: bc.serviceUrl,
    channelId: 'msteams',
    conversation: { id: `19:chan${n}@thread.tacv2;messageid=17000000${n}`, conversationType: 'channel', tenantId: TENANT },
    bot: { id: `28:${APP_ID}`, name: 'Bot' },
    user: { id: '29:1user', aadObjectId: OID, name: 'Ada (Teams)' },
    ...overrides,
  };
}

/** A user token (larger than 4096 bytes, KMS Encrypt's limit: one unit all the same), registered at the Graph stand-in with a display name. */
async function eventFor(displayName: string, text = 'what is my name?'): Promise<{ event: WorkerEvent; token: string }> {
  n++;
  const token = `user-graph-token-${n}-${'x'.repeat(5000)}`;
  graph.addUser(token, { id: OID, displayName });
  const event = await signedInWorkerEvent(cipher, { appId: APP_ID, token, text, activityId: `17000000${n}5`, conversation: ref() });
  return { event: JSON.parse(JSON.stringify(event)), token };
}

function messagesFor(event: WorkerEvent) {
  return bc.activities.filter((a) => a.conversationId === event.conversation.conversation.id && a.activity.type !== 'typing');
}

function kit(fn: (args: WorkerArgs) => Promise<void>, extra: Parameters<typeof defineWorker>[1] = {}): WorkerHandler {
  const secretsManager = new SecretsManagerClient(awsClientConfig(aws.motoEndpoint));
  return defineWorker(fn, { env, clients: { dynamodb: ddb, kms, secretsManager }, ...extra });
}

const meReply = async ({ graph: g, reply, typing, text }: WorkerArgs): Promise<void> => {
  await typing();
  const me = await g.me();
  await reply(`Hello ${me.displayName}, you asked ${quote(text)}`);
};

describe('defineWorker', () => {
  test('decrypts the token, calls Graph with it, replies once in the thread with the bot token', async () => {
    const handler = kit(meReply);
    const { event, token } = await eventFor('Ada Lovelace');
    const graphBefore = graph.requests.length;
    const result = await handler(event, { awsRequestId: 'r1', getRemainingTimeInMillis: () => 30_000 });
    expect(result).toEqual({ status: 'replied' });
    const msgs = messagesFor(event);
    expect(msgs).toHaveLength(1);
    expect(msgs[0].method).toBe('POST');
    expect(msgs[0].activityId).toBe(event.message.id);
    expect(msgs[0].activity).toMatchObject({ type: 'message', textFormat: 'plain', text: 'Hello Ada Lovelace, you asked “what is my name?”', replyToId: event.message.id });
    const typing = bc.activities.filter((a) => a.conversationId === event.conversation.conversation.id && a.activity.type === 'typing');
    expect(typing).toHaveLength(1);
    // the decrypted token (not the ciphertext) reached Graph, and only Graph
    const g = graph.requests.slice(graphBefore);
    expect(g).toEqual([expect.objectContaining({ method: 'GET', path: '/v1.0/me', token, status: 200 })]);
    expect(msgs[0].authorization).not.toContain(token);
    const rec = await new IdempotencyStore({ ddb, tableName: TABLE }).get(idempotencyKey(event.conversation.conversation.id, event.message.id));
    expect(rec).toMatchObject({ state: 'replied', attempts: 1, replyId: msgs[0].id });
    // no token, secret or message text in the logs
    const all = logs.join('\n');
    expect(all).not.toContain(token.slice(0, 30));
    expect(all).not.toContain(CLIENT_SECRET);
    expect(all).not.toContain('what is my name');
  });

  test('a retried or duplicated event does not reply again; concurrent duplicates give one reply', async () => {
    const handler = kit(meReply);
    const { event } = await eventFor('Grace Hopper');
    await handler(event);
    expect(await handler(JSON.parse(JSON.stringify(event)))).toEqual({ status: 'skipped', reason: 'already-replied' });
    expect(messagesFor(event)).toHaveLength(1);

    const second = await eventFor('Katherine Johnson');
    const results = await Promise.all([handler(second.event), handler(second.event), handler(second.event)]);
    expect(results.filter((r) => r.status === 'replied')).toHaveLength(1);
    expect(results.filter((r) => r.status === 'skipped')).toHaveLength(2);
    expect(messagesFor(second.event)).toHaveLength(1);
  });

  test('the secret and the bot token are fetched once per container', async () => {
    const handler = kit(meReply);
    const before = (await idp.stats()).token;
    for (let i = 0; i < 3; i++) await handler((await eventFor(`User ${i}`)).event);
    expect((await idp.stats()).token - before).toBe(1);
  });

  test('an error before the reply: one apology, WorkerError (no user data) rethrown; retries never apologise again', async () => {
    const handler = kit(meReply);
    const { event } = await eventFor('Alan Turing', 'secret question text');
    graph.failNext(500, 3, 'generalException'); // three attempts (500 is not retried by the Graph client)
    const err1 = await handler(event).catch((e) => e);
    expect(err1).toBeInstanceOf(WorkerError);
    expect(err1.message).toBe(`worker failed before replying to activity ${event.message.id}: GraphError status 500 (generalException)`);
    expect(err1.message).not.toContain('secret question');
    let msgs = messagesFor(event);
    expect(msgs).toHaveLength(1);
    expect(msgs[0].activity).toMatchObject({ text: 'Sorry, something went wrong while I was working on your message. Please try again later.', replyToId: event.message.id });
    // Lambda's two retries fail too: no second apology
    await expect(handler(event)).rejects.toBeInstanceOf(WorkerError);
    await expect(handler(event)).rejects.toBeInstanceOf(WorkerError);
    expect(messagesFor(event)).toHaveLength(1);
    const rec = await new IdempotencyStore({ ddb, tableName: TABLE }).get(idempotencyKey(event.conversation.conversation.id, event.message.id));
    expect(rec).toMatchObject({ state: 'failed', attempts: 3, apologized: true, lastError: 'GraphError' });
    // a later replay (Graph healthy again) answers once
    expect(await handler(event)).toEqual({ status: 'replied' });
    msgs = messagesFor(event);
    expect(msgs).toHaveLength(2);
    expect(msgs[1].activity.text).toContain('Alan Turing');
  });

  test('an error after the reply is logged, not rethrown: no retry can reply twice', async () => {
    const handler = kit(async ({ reply }) => {
      await reply('first and only answer');
      throw new Error('boom after reply');
    });
    const { event } = await eventFor('Edsger');
    expect(await handler(event)).toEqual({ status: 'replied', errorAfterReply: true });
    expect(await handler(event)).toEqual({ status: 'skipped', reason: 'already-replied' });
    expect(messagesFor(event).map((m) => m.activity.text)).toEqual(['first and only answer']);
    expect(logs.some((l) => l.includes('worker_failed_after_reply'))).toBe(true);
  });

  test('a reply whose outcome is unknown (timeout after posting) counts as replied: never a second message', async () => {
    const handler = kit(async ({ reply }) => { await reply('maybe delivered'); }, { timeoutMs: 500 });
    const { event } = await eventFor('Timeout');
    bc.hangNext(1);
    expect(await handler(event)).toEqual({ status: 'replied', errorAfterReply: true });
    expect(await handler(event)).toEqual({ status: 'skipped', reason: 'already-replied' });
    expect(messagesFor(event).map((m) => m.activity.text)).toEqual(['maybe delivered']);
    expect(logs.some((l) => l.includes('worker_reply_outcome_unknown'))).toBe(true);
  });

  test('a worker that does not reply is done; a repeat is skipped', async () => {
    const handler = kit(async () => undefined);
    const { event } = await eventFor('Quiet');
    expect(await handler(event)).toEqual({ status: 'done' });
    expect(await handler(event)).toEqual({ status: 'skipped', reason: 'already-done' });
    expect(messagesFor(event)).toHaveLength(0);
  });

  test('update and send helpers', async () => {
    const handler = kit(async ({ send, update }) => {
      const progress = await send('working…');
      await update(progress.id!, 'done!');
    });
    const { event } = await eventFor('Barbara');
    expect(await handler(event)).toEqual({ status: 'replied' });
    const msgs = messagesFor(event);
    expect(msgs.map((m) => [m.method, m.activity.text])).toEqual([['POST', 'working…'], ['PUT', 'done!']]);
    expect(msgs[1].activityId).toBe(msgs[0].id);
  });

  test('an invalid event throws ContractError and sends nothing', async () => {
    const handler = kit(meReply);
    const before = bc.requests.length;
    await expect(handler({ type: 'teams-delegated-auth-bot.message', version: '1' })).rejects.toThrow(/version "1" is not supported/);
    await expect(handler({ hello: 'world' })).rejects.toThrow(/type must be/);
    expect(bc.requests.length).toBe(before);
  });

  test('a token bound to another user is refused before decrypting (apology, WorkerError)', async () => {
    const handler = kit(meReply);
    const { event } = await eventFor('Mallory');
    event.conversation.user.aadObjectId = '33333333-3333-3333-3333-333333333333';
    const graphBefore = graph.requests.length;
    const err = await handler(event).catch((e) => e);
    expect(err).toBeInstanceOf(WorkerError);
    expect(err.causeName).toBe('TokenBindingError');
    expect(graph.requests.length).toBe(graphBefore);
    expect(messagesFor(event).map((m) => m.activity.text)).toEqual(['Sorry, something went wrong while I was working on your message. Please try again later.']);
  });

  test('a long token whose ciphertext was cut is refused by the decrypt (GCM tag), never sent to Graph (apology, WorkerError)', async () => {
    const handler = kit(meReply);
    n++;
    const token = `user-graph-token-${n}-${'z'.repeat(9000)}`; // beyond KMS Encrypt's 4 KB: one unit all the same
    graph.addUser(token, { id: '22222222-2222-2222-2222-222222222222', displayName: 'Cut' });
    const event: WorkerEvent = JSON.parse(JSON.stringify(await signedInWorkerEvent(cipher, { appId: APP_ID, token, text: 'hi', activityId: `17000000${n}6`, conversation: ref() })));
    const sealed = Buffer.from(event.token.ciphertext, 'base64');
    event.token.ciphertext = Buffer.concat([sealed.subarray(0, 4096), sealed.subarray(sealed.length - 16)]).toString('base64');
    const graphBefore = graph.requests.length;
    const err = await handler(event).catch((e) => e);
    expect(err).toBeInstanceOf(WorkerError);
    expect(err.causeName).toBe('TokenIntegrityError');
    expect(graph.requests.length).toBe(graphBefore);
    expect(messagesFor(event).map((m) => m.activity.text)).toEqual(['Sorry, something went wrong while I was working on your message. Please try again later.']);
  });

  test('ids in another spelling: upper-case user, tenant and app ids are the same ids (a reply, not an apology)', async () => {
    // The receiver writes ids in lower case, but an older receiver, a pending event stored before the fix or a
    // hand-written environment may not: the kit compares every id in its one spelling (normalizeGuid).
    const tenant = 'abcdef01-aaaa-bbbb-cccc-ddddeeeeffff';
    const oid = 'fedcba98-7654-4321-abcd-0123456789ab';
    let seen: WorkerArgs['user'] | undefined;
    const handler = defineWorker(async (args) => { seen = args.user; await meReply(args); }, {
      env: { ...env, TDAB_APP_ID: APP_ID.toUpperCase() },
      clients: { dynamodb: ddb, kms, secretsManager: new SecretsManagerClient(awsClientConfig(aws.motoEndpoint)) },
    });
    n++;
    const token = `user-graph-token-${n}-upper`;
    graph.addUser(token, { id: oid, displayName: 'Ada Upper' });
    const base = ref();
    const event: WorkerEvent = JSON.parse(JSON.stringify(await signedInWorkerEvent(cipher, {
      appId: APP_ID,
      token,
      text: 'what is my name?',
      activityId: `17000000${n}7`,
      conversation: { ...base, conversation: { ...base.conversation, tenantId: tenant }, user: { ...base.user, aadObjectId: oid } },
    })));
    event.conversation.user.aadObjectId = oid.toUpperCase();
    event.conversation.conversation.tenantId = tenant.toUpperCase();
    expect(event.token.encryptionContext).toMatchObject({ appId: APP_ID, tenantId: tenant, aadObjectId: oid });
    expect(await handler(event)).toEqual({ status: 'replied' });
    expect(messagesFor(event).map((m) => m.activity.text)).toEqual(['Hello Ada Upper, you asked “what is my name?”']);
    // the worker function sees the ids in their one spelling
    expect(seen).toMatchObject({ aadObjectId: oid, tenantId: tenant });
  });

  test('a token of another KMS key is refused before decrypting', async () => {
    const handler = kit(meReply, { apology: false });
    const { event } = await eventFor('Other key');
    event.token.keyId = keyArn.replace(/key\/.*$/, 'key/00000000-0000-0000-0000-000000000000');
    const err = await handler(event).catch((e) => e);
    expect(err).toMatchObject({ name: 'WorkerError', causeName: 'TokenBindingError' });
  });

  test('KMS refuses a tampered encryption context', async () => {
    const handler = kit(meReply, { apology: false });
    const { event } = await eventFor('Eve');
    event.token.encryptionContext.purpose = 'access_token';
    event.token.encryptionContext.aadObjectId = OID;
    event.token.encryptionContext.extra = 'x';
    const err = await handler(event).catch((e) => e);
    expect(err).toBeInstanceOf(WorkerError);
    expect(err.causeName).toMatch(/InvalidCiphertext|AccessDenied/);
    expect(messagesFor(event)).toHaveLength(0); // apology: false
  });

  test('a serviceUrl outside the allow-list never gets the bot token or an apology', async () => {
    const other = await startBotConnector();
    try {
      const handler = kit(meReply);
      const { event } = await eventFor('Trudy');
      event.conversation.serviceUrl = other.serviceUrl;
      const err = await handler(event).catch((e) => e);
      expect(err).toBeInstanceOf(WorkerError);
      expect(err.code).toBe('ServiceUrlNotAllowed');
      expect(other.requests).toHaveLength(0);
    } finally {
      await other.stop();
    }
  });

  test('403 BotNotInConversationRoster on the reply: WorkerError, no apology attempt', async () => {
    const handler = kit(async ({ reply }) => { await reply('hi'); });
    const { event } = await eventFor('Removed');
    const before = bc.requests.length;
    bc.failNext(403, 1, {}, 'BotNotInConversationRoster');
    const err = await handler(event).catch((e) => e);
    expect(err).toMatchObject({ name: 'WorkerError', status: 403, code: 'BotNotInConversationRoster' });
    expect(bc.requests.length - before).toBe(1);
  });

  test('the Graph helper never sends the token to a URL from a message', async () => {
    let hits = 0;
    const evil = createServer((_req, res) => { hits++; res.end('{}'); });
    await new Promise<void>((r) => evil.listen(0, '127.0.0.1', r));
    const evilUrl = `http://127.0.0.1:${(evil.address() as AddressInfo).port}/steal`;
    try {
      const seen: unknown[] = [];
      const handler = kit(async ({ graph: g, reply }) => {
        for (const u of [evilUrl, '//127.0.0.1/x', 'v1.0/me', `${graph.baseUrl}@127.0.0.1/x`]) {
          seen.push(await g.get(u).catch((e) => e));
        }
        await reply('checked');
      });
      const { event } = await eventFor('Careful');
      event.message.attachments = [{ contentType: 'application/octet-stream', contentUrl: evilUrl }];
      await handler(event);
      expect(seen.every((e) => e instanceof GraphUrlError)).toBe(true);
      expect(hits).toBe(0);
    } finally {
      evil.closeAllConnections();
      await new Promise<void>((r) => evil.close(() => r()));
    }
  });

  test('the construct\'s placeholder secret is refused (no token request, nothing sent)', async () => {
    const placeholderArn = await createSecret(aws.motoEndpoint, `placeholder-${Date.now()}`,
      JSON.stringify({ clientSecret: 'REPLACE_ME: aws secretsmanager put-secret-value --secret-id <TDAB_SECRET_ARN> --secret-string ...' }));
    const handler = defineWorker(meReply, {
      env: { ...env, TDAB_SECRET_ARN: placeholderArn },
      clients: { dynamodb: ddb, kms, secretsManager: new SecretsManagerClient(awsClientConfig(aws.motoEndpoint)) },
    });
    const { event } = await eventFor('Placeholder');
    const tokensBefore = (await idp.stats()).token;
    await expect(handler(event)).rejects.toBeInstanceOf(WorkerError);
    expect((await idp.stats()).token).toBe(tokensBefore);
    expect(bc.activities.filter((a) => a.conversationId === event.conversation.conversation.id)).toHaveLength(0);
    expect(logs.some((l) => l.includes('"event":"client_secret_placeholder"'))).toBe(true);
  });

  test('default SDK clients carry the handlers\' timeouts: a hung DynamoDB call is abandoned and retried', async () => {
    const proxy = await startCountingProxy(aws.dynamodbEndpoint);
    const saved = process.env.AWS_ENDPOINT_URL_DYNAMODB;
    process.env.AWS_ENDPOINT_URL_DYNAMODB = proxy.endpoint;
    try {
      const handler = defineWorker(meReply, { env }); // no `clients`: the kit creates them
      const { event } = await eventFor('Patient');
      proxy.hangNext('UpdateItem', 1);
      const t0 = Date.now();
      // Bounded here so that a client without a request timeout fails this test instead of hanging the suite.
      let deadline: NodeJS.Timeout | undefined;
      const result = await Promise.race([
        handler(event),
        new Promise<never>((_, reject) => {
          deadline = setTimeout(() => reject(new Error('the hung DynamoDB call was never abandoned')), 15_000);
        }),
      ]).finally(() => clearTimeout(deadline));
      expect(result).toEqual({ status: 'replied' });
      expect(Date.now() - t0).toBeGreaterThanOrEqual(AWS_SDK_CLIENT_OPTIONS.requestHandler.requestTimeout - 100);
      const updates = proxy.calls.filter((c) => c.operation === 'UpdateItem');
      expect(updates[0].status).toBe(0); // the hung attempt
      expect(updates[1].status).toBe(200); // its retry
      expect(messagesFor(event)).toHaveLength(1);
    } finally {
      if (saved === undefined) delete process.env.AWS_ENDPOINT_URL_DYNAMODB;
      else process.env.AWS_ENDPOINT_URL_DYNAMODB = saved;
      await proxy.stop();
    }
  });

  test('configuration errors name the variable', async () => {
    const handler = defineWorker(meReply, { env: { ...env, TDAB_CONVERSATION_TABLE: '' } });
    await expect(handler((await eventFor('x')).event)).rejects.toThrow(/TDAB_CONVERSATION_TABLE/);
  });
});

describe('GraphClient', () => {
  test('resolve: paths and same-origin URLs only', () => {
    const g = new GraphClient({ baseUrl: 'https://graph.microsoft.com/', token: 't' });
    expect(g.resolve('/v1.0/me', { $select: 'displayName' })).toBe('https://graph.microsoft.com/v1.0/me?%24select=displayName');
    expect(g.resolve('https://graph.microsoft.com/v1.0/users?$skiptoken=abc')).toBe('https://graph.microsoft.com/v1.0/users?$skiptoken=abc');
    for (const bad of ['https://graph.microsoft.com.evil.com/v1.0/me', 'https://evil.com/v1.0/me', '//evil.com/x', 'v1.0/me',
      'http://graph.microsoft.com/v1.0/me', 'https://user:pw@graph.microsoft.com/v1.0/me', 'https://contoso.sharepoint.com/f.txt', '']) {
      expect(() => g.resolve(bad)).toThrow(GraphUrlError);
    }
    expect(() => new GraphClient({ baseUrl: 'http://graph.microsoft.com', token: 't' })).toThrow(GraphUrlError);
  });

  test('429 honoured with Retry-After, 5xx not retried for POST, errors carry Graph codes', async () => {
    const sleeps: number[] = [];
    const token = `gc-token-${Date.now()}`;
    graph.addUser(token, { id: 'x', displayName: 'Retry Person' });
    const g = new GraphClient({ baseUrl: graph.baseUrl, token, sleep: async (ms) => { sleeps.push(ms); } });
    graph.failNext(429, 1);
    expect((await g.me()).displayName).toBe('Retry Person');
    expect(sleeps).toHaveLength(1);
    const before = graph.requests.length;
    graph.failNext(503, 1);
    const err = (await g.request('POST', '/v1.0/me/sendMail', { body: {} }).catch((e: unknown) => e)) as GraphError;
    expect(err).toBeInstanceOf(GraphError);
    expect(err.status).toBe(503);
    expect(graph.requests.length - before).toBe(1);
    const unauth = new GraphClient({ baseUrl: graph.baseUrl, token: 'unknown' });
    await expect(unauth.me()).rejects.toMatchObject({ status: 401, code: 'InvalidAuthenticationToken' });
  });

  test('redirects are not followed with the token', async () => {
    let hits = 0;
    const target = createServer((_req, res) => { hits++; res.end('{}'); });
    await new Promise<void>((r) => target.listen(0, '127.0.0.1', r));
    const redirector = createServer((_req, res) => {
      res.writeHead(302, { location: `http://127.0.0.1:${(target.address() as AddressInfo).port}/x` });
      res.end();
    });
    await new Promise<void>((r) => redirector.listen(0, '127.0.0.1', r));
    try {
      const g = new GraphClient({ baseUrl: `http://127.0.0.1:${(redirector.address() as AddressInfo).port}`, token: 't' });
      await expect(g.get('/v1.0/me')).rejects.toMatchObject({ status: 302 });
      expect(hits).toBe(0);
    } finally {
      for (const s of [target, redirector]) {
        s.closeAllConnections();
        await new Promise<void>((r) => s.close(() => r()));
      }
    }
  });
});

describe('text helpers', () => {
  test('plainText strips mentions, tags, entities and control characters', () => {
    expect(plainText('<at>Bot</at> what&#39;s <b>my</b> name?<br>thanks &amp; bye\u0007')).toBe('what\'s my name? thanks & bye');
    expect(plainText(undefined)).toBe('');
  });
  test('quote cuts long text without splitting characters', () => {
    expect(quote('hi')).toBe('“hi”');
    const q = quote('😀'.repeat(300), 10);
    expect(q).toBe(`“${'😀'.repeat(10)}…”`);
  });
});

describe('the kit as a package entry point and its documentation', () => {
  const root = path.join(__dirname, '../..');

  test('bundles standalone with esbuild (CommonJS) and exports defineWorker', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'tdab-kit-'));
    try {
      const outfile = path.join(dir, 'worker.js');
      await build({
        entryPoints: [path.join(root, 'kit/index.ts')],
        outfile,
        bundle: true,
        platform: 'node',
        target: 'node20',
        format: 'cjs',
        mainFields: ['module', 'main'],
        tsconfig: path.join(root, 'lambda/tsconfig.json'),
        logLevel: 'silent',
      });
      // Loads in a bare Node process without any configuration (nothing happens at module scope).
      const res = spawnSync(process.execPath, ['-e', `const k = require(${JSON.stringify(outfile)});
        console.log(typeof k.defineWorker, typeof k.GraphClient, typeof k.quote, typeof k.defineWorker(async () => {}))`],
      { encoding: 'utf8', env: { PATH: process.env.PATH ?? '' } });
      expect(res.stderr).toBe('');
      expect(res.stdout.trim()).toBe('function function function function');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('the complete example of docs/worker-kit.md type-checks against the kit', () => {
    const doc = readFileSync(path.join(root, 'docs/worker-kit.md'), 'utf8');
    const example = /```ts\n(import \{ defineWorker[\s\S]*?)```/.exec(doc)?.[1];
    expect(example).toBeDefined();
    const dir = path.join(root, '.tmp', `kit-doc-${process.pid}`);
    mkdirSync(dir, { recursive: true });
    try {
      const file = path.join(dir, 'my-worker.ts');
      writeFileSync(file, example!.replace("'cdk-teams-delegated-auth-bot/worker'", `'${path.join(root, 'kit')}'`));
      const res = spawnSync(process.execPath, [require.resolve('typescript/bin/tsc'), '--ignoreConfig', '--noEmit', '--strict', '--skipLibCheck',
        '--target', 'es2022', '--module', 'preserve', '--moduleResolution', 'bundler', '--lib', 'es2022,dom', '--types', 'node', file],
      { encoding: 'utf8', cwd: dir, timeout: 120_000 });
      expect(res.stdout + res.stderr).toBe('');
      expect(res.status).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
