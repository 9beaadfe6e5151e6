/**
 * Test helpers of the receiver tests (owner: RECEIVER).
 *
 * - {@link startCountingProxy}: an HTTP proxy in front of a local AWS endpoint (DynamoDB Local, moto_server) that
 *   records the AWS operation of every request (`X-Amz-Target`, e.g. `DynamoDB_20120810.GetItem`,
 *   `TrentService.Encrypt`), so a test can count the AWS calls a request made.
 * - {@link bundleReceiver}: esbuild the receiver like the build does, into a temp dir.
 */
import { fork } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { DeleteItemCommand, DynamoDBClient, GetItemCommand, QueryCommand, ScanCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { KMSClient } from '@aws-sdk/client-kms';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SSMClient } from '@aws-sdk/client-ssm';
import { createReceiverContext, type AwsClients, type ReceiverContext } from '../../lambda/receiver/context';
import { loadConfig } from '../../lambda/shared/config';
import { type EncryptedToken, TokenCipher } from '../../lambda/shared/crypto';
import { ENV } from '../../src/private/env';
import { startBotConnector, type BotConnectorStub } from '../support/bot-connector-stub';
import { startBotFrameworkIdentity, type BotFrameworkIdentity } from '../support/botframework-jwks';
import { bundleHandler } from '../support/handler-bundle';
import { startLambdaInvoke, type LambdaInvokeStub } from '../support/lambda-invoke-stub';
import {
  awsClientConfig, createKey, createSecret, createTables, putParameter, startLocalAws, testAwsEnv, type LocalAws,
} from '../support/local-aws';
import { startIdentityProvider, type IdentityProvider } from '../support/oidc-idp';

/** One proxied AWS request. */
export interface ProxiedCall {
  /** `X-Amz-Target` without the version prefix, e.g. `GetItem`, `Encrypt`, `GetSecretValue`; else `METHOD path`. */
  operation: string;
  target: string;
  status: number;
}

/** A running counting proxy. */
export interface CountingProxy {
  endpoint: string;
  calls: ProxiedCall[];
  /** Operations since `mark`, e.g. `['GetItem']`. */
  since(mark: number): string[];
  /** Current position (pass to `since`). */
  mark(): number;
  /** Makes the next `times` requests of `operation` hang without an answer (until the proxy stops). */
  hangNext(operation: string, times?: number): void;
  /** Makes the next `times` requests of `operation` fail with a 500 (replaces an earlier injection; 0 clears it). */
  failNext(operation: string, times?: number, status?: number): void;
  stop(): Promise<void>;
}

/** Starts a proxy on 127.0.0.1 that forwards every request to `upstream` and records it. */
export async function startCountingProxy(upstream: string): Promise<CountingProxy> {
  const up = new URL(upstream);
  const calls: ProxiedCall[] = [];
  const failures: Array<{ operation: string; times: number; status: number }> = [];
  const hangs: Array<{ operation: string; times: number }> = [];
  const hanging: http.ServerResponse[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const target = String(req.headers['x-amz-target'] ?? '');
      const operation = target ? target.split('.').pop() ?? target : `${req.method} ${req.url}`;
      const hang = hangs.find((h) => h.operation === operation && h.times > 0);
      if (hang) {
        hang.times--;
        calls.push({ operation, target, status: 0 });
        hanging.push(res);
        return;
      }
      const failure = failures.find((f) => f.operation === operation && f.times > 0);
      if (failure) {
        failure.times--;
        calls.push({ operation, target, status: failure.status });
        res.writeHead(failure.status, { 'content-type': 'application/x-amz-json-1.0' });
        res.end(JSON.stringify({ __type: 'com.amazonaws.dynamodb.v20120810#InternalServerError', message: 'injected failure' }));
        return;
      }
      const body = Buffer.concat(chunks);
      const forward = http.request({
        host: up.hostname,
        port: up.port,
        method: req.method,
        path: req.url,
        headers: { ...req.headers, host: up.host },
      }, (upRes) => {
        calls.push({ operation, target, status: upRes.statusCode ?? 0 });
        res.writeHead(upRes.statusCode ?? 502, upRes.headers);
        upRes.pipe(res);
      });
      forward.on('error', () => {
        calls.push({ operation, target, status: 502 });
        res.writeHead(502);
        res.end();
      });
      forward.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    calls,
    mark: () => calls.length,
    since: (m) => calls.slice(m).map((c) => c.operation),
    hangNext: (operation, times = 1) => {
      hangs.push({ operation, times });
    },
    failNext: (operation, times = 1, status = 500) => {
      // Replaces any earlier injection for the operation (times 0 clears it).
      for (let i = failures.length - 1; i >= 0; i--) if (failures[i].operation === operation) failures.splice(i, 1);
      if (times > 0) failures.push({ operation, times, status });
    },
    stop: () => new Promise<void>((resolve) => {
      for (const res of hanging) res.destroy();
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

/**
 * Bundles `lambda/receiver/index.ts` with the build's own esbuild arguments (read from .projen/tasks.json) into a fresh
 * temp dir; returns the bundle's path.
 */
export function bundleReceiver(): { file: string; dir: string } {
  return bundleHandler('lambda/receiver/index.ts', 'receiver-bundle-');
}

// ---------------------------------------------------------------------------------------------------------------
// The whole local environment of the receiver
// ---------------------------------------------------------------------------------------------------------------

/** A user of the test tenant. */
export interface TestUser { login: string; oid: string; teamsId: string; name: string }

/** Everything a receiver test talks to, on 127.0.0.1. */
export interface ReceiverEnv {
  appId: string;
  tenantId: string;
  clientSecret: string;
  baseUrl: string;
  secretArn: string;
  keyArn: string;
  tables: { tokenTable: string; conversationTable: string };
  ada: TestUser;
  eve: TestUser;
  aws: LocalAws;
  ddbProxy: CountingProxy;
  motoProxy: CountingProxy;
  idp: IdentityProvider;
  bf: BotFrameworkIdentity;
  connector: BotConnectorStub;
  worker: LambdaInvokeStub;
  /** Environment variables of the receiver (TDAB_* and AWS_*). */
  env: Record<string, string>;
  /** Direct clients (not through the proxies) for assertions. */
  ddb: DynamoDBClient;
  kms: KMSClient;
  stop(): Promise<void>;
}

/** Options of {@link startReceiverEnv}. */
export interface ReceiverEnvOptions {
  accessTokenTtlSeconds?: number;
  extraEnv?: Record<string, string>;
}

/** Starts DynamoDB Local + moto (behind counting proxies), the IdP, the Bot Framework JWKS and the two stand-ins. */
export async function startReceiverEnv(opts: ReceiverEnvOptions = {}): Promise<ReceiverEnv> {
  const appId = randomUUID();
  const tenantId = randomUUID();
  const clientSecret = `secret-${randomUUID()}`;
  const baseUrl = 'https://bot.example.test';
  const ada: TestUser = { login: 'ada@contoso.test', oid: randomUUID(), teamsId: `29:1ada-${randomUUID()}`, name: 'Ada' };
  const eve: TestUser = { login: 'eve@contoso.test', oid: randomUUID(), teamsId: `29:1eve-${randomUUID()}`, name: 'Eve' };
  const tables = { tokenTable: 'tokens', conversationTable: 'conversations' };
  const started: Array<{ stop(): Promise<void> }> = [];
  try {
    const aws = await startLocalAws();
    started.push(aws);
    await createTables(aws.dynamodbEndpoint, tables);
    const keyArn = await createKey(aws.motoEndpoint);
    const secretArn = await createSecret(aws.motoEndpoint, 'bot-secret', JSON.stringify({ clientSecret }));
    await putParameter(aws.motoEndpoint, '/tdab/test/base-url', `${baseUrl}/`);
    const ddbProxy = await startCountingProxy(aws.dynamodbEndpoint);
    started.push(ddbProxy);
    const motoProxy = await startCountingProxy(aws.motoEndpoint);
    started.push(motoProxy);
    const idp = await startIdentityProvider({
      tenantId,
      clients: [{ appId, secret: clientSecret, redirectUris: [`${baseUrl}/auth/callback`] }],
      users: [
        { login: ada.login, oid: ada.oid, tid: tenantId, name: ada.name },
        { login: eve.login, oid: eve.oid, tid: tenantId, name: eve.name },
      ],
      accessTokenTtlSeconds: opts.accessTokenTtlSeconds ?? 3600,
    });
    started.push(idp);
    const bf = await startBotFrameworkIdentity();
    started.push(bf);
    const connector = await startBotConnector();
    started.push(connector);
    const worker = await startLambdaInvoke({ handler: async () => undefined });
    started.push(worker);
    const env: Record<string, string> = {
      ...testAwsEnv({ dynamodbEndpoint: ddbProxy.endpoint, motoEndpoint: motoProxy.endpoint }, { lambdaEndpoint: worker.endpoint }),
      [ENV.APP_ID]: appId,
      [ENV.TENANT_ID]: tenantId,
      [ENV.SECRET_ARN]: secretArn,
      [ENV.KMS_KEY_ARN]: keyArn,
      [ENV.TOKEN_TABLE]: tables.tokenTable,
      [ENV.CONVERSATION_TABLE]: tables.conversationTable,
      [ENV.WORKER_FUNCTION]: 'tdab-worker',
      [ENV.BASE_URL_PARAMETER]: '/tdab/test/base-url',
      [ENV.BOT_OPENID_METADATA_URL]: bf.metadataUrl,
      [ENV.BOT_TOKEN_ISSUER]: bf.issuer,
      [ENV.ENTRA_AUTHORITY]: idp.authority,
      [ENV.SERVICE_URL_HOSTS]: connector.origin,
      [ENV.LOG_LEVEL]: 'warn',
      ...opts.extraEnv,
    };
    const ddb = new DynamoDBClient(awsClientConfig(aws.dynamodbEndpoint));
    const kms = new KMSClient(awsClientConfig(aws.motoEndpoint));
    return {
      appId,
      tenantId,
      clientSecret,
      baseUrl,
      secretArn,
      keyArn,
      tables,
      ada,
      eve,
      aws,
      ddbProxy,
      motoProxy,
      idp,
      bf,
      connector,
      worker,
      env,
      ddb,
      kms,
      stop: async () => {
        ddb.destroy();
        kms.destroy();
        for (const s of started.reverse()) await s.stop().catch(() => undefined);
      },
    };
  } catch (err) {
    for (const s of started.reverse()) await s.stop().catch(() => undefined);
    throw err;
  }
}

/** Applies env vars to process.env; returns a restore function. */
export function applyEnv(env: Record<string, string>): () => void {
  const saved = new Map(Object.keys(env).map((k) => [k, process.env[k]]));
  for (const k of ['AWS_PROFILE', 'AWS_SESSION_TOKEN', 'AWS_ENDPOINT_URL']) {
    saved.set(k, process.env[k]);
    delete process.env[k];
  }
  Object.assign(process.env, env);
  return () => {
    for (const [k, v] of saved) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  };
}

let activityCounter = 0;

/** A Teams message activity from `user` in a personal conversation. */
export function teamsMessage(env: ReceiverEnv, user: TestUser, text: string, over: Record<string, unknown> = {}): Record<string, unknown> {
  activityCounter++;
  return {
    type: 'message',
    id: `${Date.now()}${String(activityCounter).padStart(4, '0')}`,
    timestamp: new Date().toISOString(),
    serviceUrl: env.connector.serviceUrl,
    channelId: 'msteams',
    from: { id: user.teamsId, aadObjectId: user.oid, name: user.name },
    conversation: { id: `a:1conv-${user.oid}`, conversationType: 'personal', tenantId: env.tenantId },
    recipient: { id: `28:${env.appId}`, name: 'Bot' },
    channelData: { tenant: { id: env.tenantId } },
    text,
    textFormat: 'plain',
    locale: 'en-US',
    ...over,
  };
}

/** A function URL event for `POST /api/messages` with a valid Bot Framework JWT for the activity. */
export async function messageEvent(env: ReceiverEnv, activity: Record<string, unknown>, over: {
  claims?: Record<string, unknown>; headers?: Record<string, string>; body?: string; isBase64Encoded?: boolean; method?: string; path?: string;
} = {}): Promise<any> {
  const jwt = await env.bf.sign({ aud: env.appId, serviceurl: activity.serviceUrl, ...over.claims });
  return {
    version: '2.0',
    rawPath: over.path ?? '/api/messages',
    rawQueryString: '',
    headers: { 'authorization': `Bearer ${jwt}`, 'content-type': 'application/json; charset=utf-8', ...over.headers },
    requestContext: { http: { method: over.method ?? 'POST', path: over.path ?? '/api/messages' } },
    body: over.body ?? JSON.stringify(activity),
    isBase64Encoded: over.isBase64Encoded ?? false,
  };
}

/** A function URL event for `GET {path}?{query}` (the browser coming back from the IdP). */
export function callbackEvent(url: URL | string, method = 'GET'): any {
  const u = typeof url === 'string' ? new URL(url) : url;
  return {
    version: '2.0',
    rawPath: u.pathname,
    rawQueryString: u.search.replace(/^\?/, ''),
    headers: { accept: 'text/html' },
    requestContext: { http: { method, path: u.pathname } },
    isBase64Encoded: false,
  };
}

/** The authorize URL of the sign-in card in a recorded Bot Connector activity. */
export function authorizeUrlOf(activity: any): string {
  const card = activity.attachments?.find((a: any) => a.contentType === 'application/vnd.microsoft.card.adaptive');
  const action = card?.content?.actions?.find((a: any) => a.type === 'Action.OpenUrl');
  if (!action?.url) throw new Error('no sign-in card in this activity');
  return action.url;
}

/** Decrypts a contract token as a worker does (TokenCipher: the data key with the encryption context, then AES-GCM). */
export async function decryptToken(kms: KMSClient, token: EncryptedToken): Promise<string> {
  return new TokenCipher({ kms, keyId: token.keyId }).decrypt(token);
}

/** All items of a table (for "nothing stored" assertions). */
export async function scanAll(ddb: DynamoDBClient, table: string): Promise<Array<Record<string, any>>> {
  const out = await ddb.send(new ScanCommand({ TableName: table }));
  return out.Items ?? [];
}

/** Pending-message items of a user. */
export async function pendingItems(env: ReceiverEnv, user: TestUser): Promise<Array<Record<string, any>>> {
  const out = await env.ddb.send(new QueryCommand({
    TableName: env.tables.conversationTable,
    KeyConditionExpression: 'pk = :pk AND begins_with(sk, :msg)',
    ExpressionAttributeValues: { ':pk': { S: `pending#${env.tenantId}#${user.oid}` }, ':msg': { S: 'msg#' } },
  }));
  return out.Items ?? [];
}

/**
 * The token item of a user if it holds tokens (`at`); undefined when there is none or only a sign-out tombstone (the
 * sign-out generation without tokens, see token-store.ts). {@link rawTokenItem} returns the item as stored.
 */
export async function tokenItem(env: ReceiverEnv, user: TestUser): Promise<Record<string, any> | undefined> {
  const item = await rawTokenItem(env, user);
  return item?.at ? item : undefined;
}

/** The token table item of a user as stored (tokens or a sign-out tombstone), if any. */
export async function rawTokenItem(env: ReceiverEnv, user: TestUser): Promise<Record<string, any> | undefined> {
  const out = await env.ddb.send(new GetItemCommand({
    TableName: env.tables.tokenTable, Key: { pk: { S: `${env.tenantId}#${user.oid}` } }, ConsistentRead: true,
  }));
  return out.Item;
}

/** Moves a user's stored access-token expiry (simulates time passing). */
export async function setTokenExpiry(env: ReceiverEnv, user: TestUser, expEpochSeconds: number): Promise<void> {
  await env.ddb.send(new UpdateItemCommand({
    TableName: env.tables.tokenTable,
    Key: { pk: { S: `${env.tenantId}#${user.oid}` } },
    UpdateExpression: 'SET #exp = :exp',
    ExpressionAttributeNames: { '#exp': 'exp' },
    ExpressionAttributeValues: { ':exp': { N: String(expEpochSeconds) } },
  }));
}

/** Deletes a user's token item directly. */
export async function deleteTokenItem(env: ReceiverEnv, user: TestUser): Promise<void> {
  await env.ddb.send(new DeleteItemCommand({ TableName: env.tables.tokenTable, Key: { pk: { S: `${env.tenantId}#${user.oid}` } } }));
}

/** The bundled receiver running in its own Node process (like a Lambda container), driven over HTTP. */
export interface ReceiverHost {
  /** Log lines the handler printed (stdout + stderr). */
  logs: string[];
  /** Calls the handler with a function URL event; resolves with its result. */
  invoke(event: unknown): Promise<{ statusCode: number; headers: Record<string, string>; body: string }>;
  stop(): Promise<void>;
}

const HOST_SOURCE = `
const http = require('node:http');
const { handler } = require(process.env.RECEIVER_BUNDLE);
const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', async () => {
    try {
      // Lambda's context: the receiver reads only the request id.
      const out = await handler(JSON.parse(Buffer.concat(chunks).toString('utf8')), { awsRequestId: require('node:crypto').randomUUID() });
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(out));
    } catch (err) {
      res.writeHead(500, { 'content-type': 'text/plain' });
      res.end('handler threw: ' + (err && err.name));
    }
  });
});
server.listen(0, '127.0.0.1', () => process.send({ port: server.address().port }));
`;

/** Starts the bundle in a child Node process with exactly `env` (plus PATH). */
export async function startReceiverHost(bundleFile: string, env: Record<string, string>): Promise<ReceiverHost> {
  const hostFile = path.join(path.dirname(bundleFile), 'host.cjs');
  fs.writeFileSync(hostFile, HOST_SOURCE);
  const child = fork(hostFile, [], {
    env: { PATH: process.env.PATH ?? '', ...env, RECEIVER_BUNDLE: bundleFile },
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  const logs: string[] = [];
  const collector = () => {
    let partial = '';
    return (d: Buffer) => {
      const parts = (partial + d.toString('utf8')).split('\n');
      partial = parts.pop() ?? '';
      logs.push(...parts.filter((l) => l.trim() !== ''));
    };
  };
  child.stdout?.on('data', collector());
  child.stderr?.on('data', collector());
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`receiver host did not start: ${logs.join('\n')}`)), 30_000);
    child.once('message', (m: any) => {
      clearTimeout(timer);
      resolve(m.port);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`receiver host exited (${code}): ${logs.join('\n')}`));
    });
  });
  const agent = new http.Agent({ keepAlive: true });
  return {
    logs,
    invoke: (event) => new Promise((resolve, reject) => {
      const body = JSON.stringify(event);
      const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          if (res.statusCode !== 200) reject(new Error(text));
          else resolve(JSON.parse(text));
        });
      });
      req.on('error', reject);
      req.end(body);
    }),
    stop: async () => {
      agent.destroy();
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
    },
  };
}

/** AWS clients of an in-process receiver context (explicit local endpoints and credentials, through the proxies). */
export function localClients(env: ReceiverEnv): AwsClients & { destroy(): void } {
  const clients = {
    ddb: new DynamoDBClient(awsClientConfig(env.ddbProxy.endpoint)),
    kms: new KMSClient(awsClientConfig(env.motoProxy.endpoint)),
    lambda: new LambdaClient(awsClientConfig(env.worker.endpoint)),
    secrets: new SecretsManagerClient(awsClientConfig(env.motoProxy.endpoint)),
    ssm: new SSMClient(awsClientConfig(env.motoProxy.endpoint)),
  };
  return {
    ...clients,
    destroy: () => Object.values(clients).forEach((c) => c.destroy()),
  };
}

/** An in-process receiver context over the local environment, with optional TDAB_* overrides. */
export function inProcessContext(env: ReceiverEnv, over: Record<string, string | undefined> = {}): { ctx: ReceiverContext; destroy(): void } {
  const clients = localClients(env);
  const vars: Record<string, string | undefined> = { ...env.env, ...over };
  const config = loadConfig(vars as NodeJS.ProcessEnv);
  return { ctx: createReceiverContext(config, clients), destroy: clients.destroy };
}

/** The receiver environment with an in-process context over it (the in-process flow tests). Call `stop()` in afterAll. */
export async function startInProcessReceiver(
  opts: ReceiverEnvOptions = {},
): Promise<{ env: ReceiverEnv; ctx: ReceiverContext; stop(): Promise<void> }> {
  const env = await startReceiverEnv(opts);
  const { ctx, destroy } = inProcessContext(env);
  return {
    env,
    ctx,
    stop: async () => {
      destroy();
      await env.stop();
    },
  };
}

/** The BUNDLED receiver in its own Node process over a fresh environment (the e2e tests). Call `stop()` in afterAll. */
export interface BundledReceiver {
  env: ReceiverEnv;
  host: ReceiverHost;
  /** The bundle (to start more hosts, e.g. with other log levels). */
  bundleFile: string;
  /** Stops the host and the environment and removes the bundle. */
  stop(): Promise<void>;
}

/**
 * Bundles the receiver, starts its environment and a host running the bundle with the environment's variables plus
 * `hostEnv`. On failure, stops what was started and rethrows.
 */
export async function startBundledReceiver(opts: ReceiverEnvOptions & { hostEnv?: Record<string, string> } = {}): Promise<BundledReceiver> {
  const bundle = bundleReceiver();
  let env: ReceiverEnv | undefined;
  let host: ReceiverHost | undefined;
  const stop = async (): Promise<void> => {
    await host?.stop();
    await env?.stop();
    fs.rmSync(bundle.dir, { recursive: true, force: true });
  };
  try {
    env = await startReceiverEnv(opts);
    host = await startReceiverHost(bundle.file, { ...env.env, ...opts.hostEnv });
    return { env, host, bundleFile: bundle.file, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** A user of the test tenant with a fresh object id (not registered anywhere: see {@link newTestUser}). */
export function testUser(name = 'User'): TestUser {
  const oid = randomUUID();
  return { login: `${oid}@contoso.test`, oid, teamsId: `29:1${oid}`, name };
}

/** A fresh user, registered at the IdP (`over`: the IdP's per-user options, e.g. an on-behalf-of failure). */
export async function newTestUser(
  env: ReceiverEnv,
  name = 'User',
  over: Omit<Parameters<IdentityProvider['addUser']>[0], 'login' | 'oid' | 'tid' | 'name'> = {},
): Promise<TestUser> {
  const user = testUser(name);
  await env.idp.addUser({ login: user.login, oid: user.oid, tid: env.tenantId, name, ...over });
  return user;
}

/** The activities the bot posted in `user`'s personal conversation (the one {@link teamsMessage} uses), in order. */
export function activitiesTo(env: ReceiverEnv, user: TestUser): any[] {
  return env.connector.messages().filter((m) => m.conversationId === `a:1conv-${user.oid}`).map((m) => m.activity);
}

/** The contract events the worker stand-in received for `user`, in order. */
export function invocationsFor(env: ReceiverEnv, user: TestUser): any[] {
  return env.worker.invocations.filter((e: any) => e?.conversation?.user?.aadObjectId === user.oid);
}

/** Runs `fn` with an in-process context with TDAB_* overrides ({@link inProcessContext}), then destroys its clients. */
export async function withContext<T>(
  env: ReceiverEnv,
  over: Record<string, string | undefined>,
  fn: (c: { ctx: ReceiverContext }) => Promise<T>,
): Promise<T> {
  const c = inProcessContext(env, over);
  try {
    return await fn(c);
  } finally {
    c.destroy();
  }
}
