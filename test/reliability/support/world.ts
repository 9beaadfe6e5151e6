/**
 * The whole local world of the receiver, for the reliability suites and the benchmarks: DynamoDB Local + moto_server
 * (with counting / fault-injecting proxies in front), the Bot Framework JWKS, the oidc-provider IdP, and the Bot
 * Connector and Lambda Invoke stand-ins; the tables, the KMS key, the secret; Teams activities and function URL events.
 *
 * Everything listens on 127.0.0.1 and `stop()` ends every server this module started.
 */
import { randomUUID } from 'node:crypto';
import { DynamoDBClient, ScanCommand, UpdateItemCommand, type AttributeValue } from '@aws-sdk/client-dynamodb';
import { startFaultProxy, type FaultProxy } from './fault-proxy';
import { startBotConnector, type BotConnectorStub } from '../../support/bot-connector-stub';
import { startBotFrameworkIdentity, type BotFrameworkIdentity } from '../../support/botframework-jwks';
import { startLambdaInvoke, type LambdaInvokeStub, type StubHandler } from '../../support/lambda-invoke-stub';
import {
  awsClientConfig,
  createKey,
  createSecret,
  createTables,
  startLocalAws,
  testAwsEnv,
  type LocalAws,
} from '../../support/local-aws';
import { startIdentityProvider, type IdentityProvider, type IdpUser } from '../../support/oidc-idp';

/** A Teams user of the world. */
export interface WorldUser extends IdpUser {
  /** Teams user id (`29:…`). */
  teamsId: string;
  /** Personal conversation id with the bot. */
  conversationId: string;
}

/** Options of {@link startWorld}. */
export interface WorldOptions {
  /** Number of users registered at the IdP (default 3). */
  users?: number;
  /** Access token lifetime the IdP issues (default 3600). Below 300 s every message takes the refresh path. */
  accessTokenTtlSeconds?: number;
  /** Handler the Lambda Invoke stand-in runs for worker invocations (default: record only). */
  workerHandler?: StubHandler;
  /** Retries of failed async invocations at the Lambda stand-in (default 2). */
  lambdaRetries?: number;
  /**
   * The receiver's function name (default none): `env()` then sets `AWS_LAMBDA_FUNCTION_NAME` to it, so the receiver
   * schedules resume continuations (invokes itself) through the Lambda stand-in; route them with `routeInvocations`
   * (test/support/replying-worker.ts) in `workerHandler`.
   */
  receiverFunction?: string;
}

/** A running world. */
export interface World {
  readonly aws: LocalAws;
  /** Proxy in front of DynamoDB Local (count round trips, inject throttling). */
  readonly ddbProxy: FaultProxy;
  /** Proxy in front of moto_server (KMS, Secrets Manager, SSM). */
  readonly motoProxy: FaultProxy;
  /** Proxy in front of the IdP (5xx, timeouts). Its origin is NOT the IdP's issuer: use only where no id_token is validated. */
  readonly idpProxy: FaultProxy;
  readonly botFramework: BotFrameworkIdentity;
  readonly idp: IdentityProvider;
  readonly connector: BotConnectorStub;
  readonly lambda: LambdaInvokeStub;
  readonly appId: string;
  readonly tenantId: string;
  readonly clientSecret: string;
  readonly tokenTable: string;
  readonly conversationTable: string;
  readonly keyArn: string;
  readonly secretArn: string;
  readonly workerFunction: string;
  /** The receiver's public base URL (never called: the browser is simulated). */
  readonly baseUrl: string;
  readonly users: WorldUser[];
  /** A DynamoDB client straight to DynamoDB Local (inspection; not counted by the proxy). */
  readonly ddb: DynamoDBClient;
  /**
   * Environment of the receiver. `viaProxies` (default true) routes DynamoDB and moto through the proxies;
   * `idpViaProxy` (default false) points the Entra authority at the IdP proxy.
   */
  env(opts?: { viaProxies?: boolean; idpViaProxy?: boolean }): Record<string, string>;
  /** A valid Bot Connector JWT for the world's service URL (cached; valid 1 h). */
  jwt(): Promise<string>;
  /** Adds one more user at the IdP. */
  addUser(): Promise<WorldUser>;
  /** Every item of a table (direct, unproxied). */
  scan(table: string): Promise<Array<Record<string, AttributeValue>>>;
  stop(): Promise<void>;
}

/** Builds a Teams personal-chat message activity from `user` to the bot. */
export function messageActivity(world: Pick<World, 'appId' | 'tenantId' | 'connector'>, user: WorldUser, text: string,
  opts: { id?: string; serviceUrl?: string } = {}): Record<string, unknown> {
  const id = opts.id ?? `${Date.now()}${Math.floor(Math.random() * 1e6)}`;
  return {
    type: 'message',
    id,
    timestamp: new Date().toISOString(),
    localTimestamp: new Date().toISOString(),
    serviceUrl: opts.serviceUrl ?? world.connector.serviceUrl,
    channelId: 'msteams',
    from: { id: user.teamsId, name: user.name, aadObjectId: user.oid },
    recipient: { id: `28:${world.appId}`, name: 'Bench Bot' },
    conversation: { id: user.conversationId, conversationType: 'personal', tenantId: user.tid },
    channelData: { tenant: { id: user.tid } },
    text,
    textFormat: 'plain',
    locale: 'en-US',
    attachments: [],
    entities: [],
  };
}

/** A Lambda function URL event (payload format 2.0) for a request to the receiver. */
export function functionUrlEvent(p: {
  method: string;
  path: string;
  query?: string;
  headers?: Record<string, string>;
  body?: string;
  isBase64Encoded?: boolean;
}): Record<string, unknown> {
  const headers: Record<string, string> = { 'host': 'receiver.lambda-url.us-east-1.on.aws', 'x-forwarded-proto': 'https' };
  for (const [k, v] of Object.entries(p.headers ?? {})) headers[k.toLowerCase()] = v;
  const query = p.query ?? '';
  const queryStringParameters = query ? Object.fromEntries(new URLSearchParams(query)) : undefined;
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath: p.path,
    rawQueryString: query,
    headers,
    queryStringParameters,
    requestContext: {
      accountId: 'anonymous',
      apiId: 'receiver',
      domainName: 'receiver.lambda-url.us-east-1.on.aws',
      domainPrefix: 'receiver',
      http: { method: p.method, path: p.path, protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: 'bench' },
      requestId: randomUUID(),
      routeKey: '$default',
      stage: '$default',
      time: new Date().toUTCString(),
      timeEpoch: Date.now(),
    },
    body: p.body,
    isBase64Encoded: p.isBase64Encoded ?? false,
  };
}

/** The function URL event Teams' POST of `activity` becomes. */
export function messageEvent(activity: unknown, jwt: string | undefined, extraHeaders: Record<string, string> = {}): Record<string, unknown> {
  const headers: Record<string, string> = { 'content-type': 'application/json; charset=utf-8', ...extraHeaders };
  if (jwt !== undefined) headers.authorization = `Bearer ${jwt}`;
  return functionUrlEvent({ method: 'POST', path: '/api/messages', headers, body: JSON.stringify(activity) });
}

/** The function URL event of the browser arriving at the OAuth callback with `redirect`'s query. */
export function callbackEvent(redirect: URL | string): Record<string, unknown> {
  const url = typeof redirect === 'string' ? new URL(redirect) : redirect;
  return functionUrlEvent({
    method: 'GET',
    path: url.pathname,
    query: url.search.replace(/^\?/, ''),
    headers: { 'accept': 'text/html', 'user-agent': 'Mozilla/5.0 (bench)' },
  });
}

function makeUser(tenantId: string, n: number): WorldUser {
  const oid = randomUUID();
  return {
    login: `user${n}@contoso.example`,
    oid,
    tid: tenantId,
    name: `User ${n}`,
    teamsId: `29:1${oid.replace(/-/g, '')}`,
    conversationId: `a:1${oid.replace(/-/g, '')}personal`,
  };
}

/** Starts every local server and prepares the tables, key and secret. */
export async function startWorld(opts: WorldOptions = {}): Promise<World> {
  const started: Array<{ stop(): Promise<void> }> = [];
  try {
    const appId = randomUUID();
    const tenantId = randomUUID();
    const clientSecret = `bench-secret-${randomUUID()}`;
    const baseUrl = 'http://127.0.0.1:9';
    const users = Array.from({ length: opts.users ?? 3 }, (_, i) => makeUser(tenantId, i));

    const aws = await startLocalAws();
    started.push(aws);
    const ddbProxy = await startFaultProxy(aws.dynamodbEndpoint);
    started.push(ddbProxy);
    const motoProxy = await startFaultProxy(aws.motoEndpoint);
    started.push(motoProxy);
    const botFramework = await startBotFrameworkIdentity();
    started.push(botFramework);
    const idp = await startIdentityProvider({
      tenantId,
      clients: [{ appId, secret: clientSecret, redirectUris: [`${baseUrl}/auth/callback`] }],
      users,
      accessTokenTtlSeconds: opts.accessTokenTtlSeconds,
    });
    started.push(idp);
    const idpProxy = await startFaultProxy(idp.authority);
    started.push(idpProxy);
    const connector = await startBotConnector();
    started.push(connector);
    const lambda = await startLambdaInvoke({ handler: opts.workerHandler ?? (async () => undefined), retries: opts.lambdaRetries });
    started.push(lambda);

    const tokenTable = `tokens-${randomUUID().slice(0, 8)}`;
    const conversationTable = `conversations-${randomUUID().slice(0, 8)}`;
    await createTables(aws.dynamodbEndpoint, { tokenTable, conversationTable });
    const keyArn = await createKey(aws.motoEndpoint);
    const secretArn = await createSecret(aws.motoEndpoint, `bot-secret-${randomUUID().slice(0, 8)}`, JSON.stringify({ clientSecret }));
    const workerFunction = 'bench-worker';
    const ddb = new DynamoDBClient(awsClientConfig(aws.dynamodbEndpoint));

    let cachedJwt: { token: string; at: number } | undefined;
    const world: World = {
      aws,
      ddbProxy,
      motoProxy,
      idpProxy,
      botFramework,
      idp,
      connector,
      lambda,
      appId,
      tenantId,
      clientSecret,
      tokenTable,
      conversationTable,
      keyArn,
      secretArn,
      workerFunction,
      baseUrl,
      users,
      ddb,
      env(o = {}) {
        const viaProxies = o.viaProxies ?? true;
        const endpoints = viaProxies
          ? { dynamodbEndpoint: ddbProxy.endpoint, motoEndpoint: motoProxy.endpoint }
          : { dynamodbEndpoint: aws.dynamodbEndpoint, motoEndpoint: aws.motoEndpoint };
        return {
          ...testAwsEnv(endpoints, { lambdaEndpoint: lambda.endpoint }),
          TDAB_APP_ID: appId,
          TDAB_TENANT_ID: tenantId,
          TDAB_SECRET_ARN: secretArn,
          TDAB_KMS_KEY_ARN: keyArn,
          TDAB_TOKEN_TABLE: tokenTable,
          TDAB_CONVERSATION_TABLE: conversationTable,
          TDAB_WORKER_FUNCTION: workerFunction,
          TDAB_PUBLIC_BASE_URL: baseUrl,
          TDAB_BOT_OPENID_METADATA_URL: botFramework.metadataUrl,
          TDAB_BOT_TOKEN_ISSUER: botFramework.issuer,
          TDAB_ENTRA_AUTHORITY: o.idpViaProxy ? idpProxy.endpoint : idp.authority,
          TDAB_SERVICE_URL_HOSTS: connector.origin,
          TDAB_GRAPH_SCOPES: 'User.Read',
          TDAB_SIGNIN_TTL_SECONDS: '3600',
          TDAB_LOG_LEVEL: 'info',
          ...(opts.receiverFunction ? { AWS_LAMBDA_FUNCTION_NAME: opts.receiverFunction } : {}),
        };
      },
      async jwt() {
        if (!cachedJwt || Date.now() - cachedJwt.at > 30 * 60 * 1000) {
          cachedJwt = { token: await botFramework.sign({ aud: appId, serviceurl: connector.serviceUrl }), at: Date.now() };
        }
        return cachedJwt.token;
      },
      async addUser() {
        const u = makeUser(tenantId, users.length);
        await idp.addUser(u);
        users.push(u);
        return u;
      },
      async scan(table) {
        const items: Array<Record<string, AttributeValue>> = [];
        let start: Record<string, AttributeValue> | undefined;
        do {
          const out = await ddb.send(new ScanCommand({ TableName: table, ExclusiveStartKey: start, ConsistentRead: true }));
          items.push(...(out.Items ?? []));
          start = out.LastEvaluatedKey;
        } while (start);
        return items;
      },
      async stop() {
        ddb.destroy();
        for (const s of started.reverse()) {
          try {
            await s.stop();
          } catch {
            // keep stopping the others
          }
        }
      },
    };
    return world;
  } catch (err) {
    for (const s of started.reverse()) {
      try {
        await s.stop();
      } catch {
        // ignore
      }
    }
    throw err;
  }
}

/**
 * Makes `user`'s stored access token expired (`exp` 10 s ago; straight to DynamoDB Local, so a counting proxy does not
 * see it): their next message takes the refresh path.
 */
export async function expireToken(world: Pick<World, 'ddb' | 'tokenTable'>, user: Pick<WorldUser, 'tid' | 'oid'>): Promise<void> {
  await world.ddb.send(new UpdateItemCommand({
    TableName: world.tokenTable,
    Key: { pk: { S: `${user.tid}#${user.oid}` } },
    UpdateExpression: 'SET #exp = :e',
    ExpressionAttributeNames: { '#exp': 'exp' },
    ExpressionAttributeValues: { ':e': { N: String(Math.floor(Date.now() / 1000) - 10) } },
  }));
}

/** The `Action.OpenUrl` target (Entra authorize URL) of the last sign-in card posted into `conversationId`. */
export function lastSignInUrl(connector: BotConnectorStub, conversationId: string): string | undefined {
  for (let i = connector.activities.length - 1; i >= 0; i--) {
    const a = connector.activities[i];
    if (a.conversationId !== conversationId) continue;
    const url = findOpenUrl(a.activity);
    if (url) return url;
  }
  return undefined;
}

/** Finds the first URL of an `Action.OpenUrl` / `openUrl` / `signin` action anywhere in an activity. */
export function findOpenUrl(node: unknown): string | undefined {
  if (!node || typeof node !== 'object') return undefined;
  const rec = node as Record<string, unknown>;
  if ((rec.type === 'Action.OpenUrl' || rec.type === 'openUrl' || rec.type === 'signin') && typeof (rec.url ?? rec.value) === 'string') {
    const u = String(rec.url ?? rec.value);
    if (u.includes('/oauth2/v2.0/authorize')) return u;
  }
  for (const v of Object.values(rec)) {
    const found = Array.isArray(v) ? v.map(findOpenUrl).find(Boolean) : findOpenUrl(v);
    if (found) return found;
  }
  return undefined;
}
