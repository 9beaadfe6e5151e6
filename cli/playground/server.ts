/**
 * The playground: one HTTP server on localhost that is, at once, the chat page and its scripted API, the Bot
 * Framework issuer, the Bot Connector, the local OpenID provider (Entra stand-in), Microsoft Graph, the AWS endpoint
 * (DynamoDB, KMS, Secrets Manager, SSM, Lambda) and the receiver's function URL; the real receiver and worker
 * bundles run in this process against it. See docs/playground.md.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { startBedrockStandIn, type BedrockStandIn } from './aws/bedrock';
import { createBotTables, LocalDynamoDb, type DynamoSnapshot } from './aws/dynamodb';
import { LocalAws, LocalKms, LocalLambda, LocalParameters, type LocalFunction } from './aws/services';
import { Chat, ChatError, type Conversation } from './chat';
import { bundlePath, loadHandler, packageRoot, WorkerFile } from './functions';
import { FixtureStore } from './graph';
import { exportSigningKey, importSigningKey, LocalIdp, newSigningKey, publicJwk, type SigningKey, type TestUser } from './identity';
import { HandlerLogs } from './logs';
import { scriptedModel } from './model';
import { chatPage, escapeHtml } from './pages';
import { readBody, sendHtml, sendJson, standInRoute, type StandInContext } from './routes';
import { ASSISTANT_ENV, assistantToolScopes, DEFAULT_ASSISTANT_TOOLS, withAssistantScopes } from '../../src/private/assistant';
import { ENV } from '../../src/private/env';

/** Options of {@link startPlayground} (the command line's flags). */
export interface PlaygroundOptions {
  /** TCP port on 127.0.0.1 (0: any free port). Default 3978. */
  port?: number;
  /** Host name in the printed URL and the base URL (`localhost`). */
  host?: string;
  /** The user's worker file; default: the package's default worker. */
  worker?: string;
  /** `local` (default) or `entra`. */
  idp?: 'local' | 'entra';
  /** Directory that keeps state across restarts (tables, keys, transcripts, fixtures). */
  data?: string;
  /** Graph fixtures JSON file (default: `fixtures.json` in `data`, else built in). */
  fixtures?: string;
  /** Teams SSO simulation (TDAB_SSO_ENABLED=true and silent token exchange by the page). */
  sso?: boolean;
  /** Handler log level (TDAB_LOG_LEVEL), default `warn`. */
  logLevel?: string;
  /** Graph scopes the bot asks for (default `User.Read Mail.Read Calendars.Read Files.Read`). */
  graphScopes?: string;
  /** `--idp entra`: the app registration. */
  entra?: { clientId: string; tenantId: string; clientSecret: string; userOid: string; userName?: string };
  /** Seconds of the local IdP's access tokens (default 3600): short values exercise the refresh path. */
  accessTokenSeconds?: number;
  /** `--assistant`: the assistant worker (instead of `worker` or the default worker) and the Bedrock it talks to. */
  assistant?: AssistantMode;
}

/** The assistant worker's Bedrock: `local` (the scripted model on the local stand-in) or `aws` (real Bedrock). */
export interface AssistantMode {
  bedrock: 'local' | 'aws';
  /** The model id or inference profile (default for `local`: {@link LOCAL_MODEL_ID}; required for `aws`). */
  modelId?: string;
  /** `aws`: the Bedrock region (default `AWS_REGION`, `AWS_DEFAULT_REGION`, else us-east-1). */
  region?: string;
}

/** The model id the assistant sends to the local stand-in (any id is served by the scripted model). */
export const LOCAL_MODEL_ID = 'playground.scripted-model-v1';

/** The Graph scopes the bot asks for without `--scopes`. */
const DEFAULT_SCOPES = 'User.Read Mail.Read Calendars.Read Files.Read';

/** What the status, the startup line and the logs call the worker. */
export function workerName(o: PlaygroundOptions): string {
  if (o.worker) return o.worker;
  if (!o.assistant) return 'default';
  return `assistant (${o.assistant.bedrock === 'aws' ? 'Bedrock' : 'local scripted model'}, model ${o.assistant.modelId ?? LOCAL_MODEL_ID})`;
}

/** A running playground. */
export interface Playground {
  url: string;
  port: number;
  chat: Chat;
  idp?: LocalIdp;
  lambda: LocalLambda;
  fixtures: FixtureStore;
  /** Worker reload outcomes (`--worker`). */
  reloads: Array<{ at: string; error?: string }>;
  /** Signs a user in through the local IdP with the sign-in URL of a card (what the browser does); the callback's answer. */
  signIn(handle: string, authorizeUrl: string): Promise<{ status: number; title: string }>;
  stop(): Promise<void>;
}

const APP_ID = '00000000-0000-4000-8000-00000000b07a';
const BOT_NAME = 'Playground Bot';
/** The assistant's tools in the playground: the construct's default ones (profile, calendar, mail), which the Graph stand-in serves. */
const ASSISTANT_TOOLS = DEFAULT_ASSISTANT_TOOLS;
const TABLES = { tokens: 'playground-tokens', conversations: 'playground-conversations' };
const WORKER_FUNCTION = 'playground-worker';
const SECRET_NAME = 'playground/bot-client-secret';

interface SavedState {
  version: 1;
  dynamodb: DynamoSnapshot;
  kms: Array<[string, string]>;
  keys: { botFramework: { kid: string; pem: string }; idp: { kid: string; pem: string } };
  clientSecret: string;
  conversations: Conversation[];
}

/** The state a `--data` directory holds (`state.json`), and where. */
interface Persisted {
  file?: string;
  saved?: SavedState;
}

/** Step 1: the `--data` directory (created 0700) and what it kept from the last run. */
function loadState(o: PlaygroundOptions): Persisted {
  if (!o.data) return {};
  mkdirSync(o.data, { recursive: true, mode: 0o700 });
  const file = join(o.data, 'state.json');
  return { file, saved: existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) as SavedState : undefined };
}

/** The in-process AWS services and the keys and secret the construct and Azure would hold. */
interface LocalServices {
  dynamodb: LocalDynamoDb;
  kms: LocalKms;
  params: LocalParameters;
  lambda: LocalLambda;
  aws: LocalAws;
  botFrameworkKey: SigningKey;
  idpKey: SigningKey;
  clientSecret: string;
}

/** Step 2: DynamoDB, KMS, Secrets Manager, SSM and Lambda in process, and the signing keys (restored or new). */
function localServices(saved?: SavedState): LocalServices {
  const dynamodb = new LocalDynamoDb();
  const kms = new LocalKms();
  const params = new LocalParameters();
  const lambda = new LocalLambda();
  if (saved) {
    dynamodb.restore(saved.dynamodb);
    for (const [id, k] of saved.kms) kms.keys.set(id, Buffer.from(k, 'base64'));
  }
  return {
    dynamodb,
    kms,
    params,
    lambda,
    aws: new LocalAws(dynamodb, kms, params, lambda),
    botFrameworkKey: saved ? importSigningKey(saved.keys.botFramework) : newSigningKey('playground-bf'),
    idpKey: saved ? importSigningKey(saved.keys.idp) : newSigningKey('playground-idp'),
    clientSecret: saved?.clientSecret ?? randomBytes(24).toString('base64url'),
  };
}

/** Step 3: listens on 127.0.0.1 (`--port`, 0 for any free port); the port it got. */
async function listen(server: Server, port: number): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  return (server.address() as AddressInfo).port;
}

/** Who the bot is and who talks to it: the local fixtures' tenant and users, or the `--idp entra` registration. */
interface Identity {
  base: string;
  entra?: NonNullable<PlaygroundOptions['entra']>;
  tenantId: string;
  appId: string;
  users: () => TestUser[];
}

/** Step 4: the base URL, the app id, the tenant and the test users. */
function identityOf(o: PlaygroundOptions, port: number, fixtures: FixtureStore): Identity {
  const entra = o.idp === 'entra' ? o.entra : undefined;
  if (o.idp === 'entra' && !entra) throw new Error('--idp entra needs --client-id, --tenant-id, --user-oid and TEAMS_BOT_PLAYGROUND_CLIENT_SECRET');
  return {
    base: `http://${o.host ?? 'localhost'}:${port}`,
    entra,
    tenantId: entra?.tenantId ?? fixtures.get().tenantId,
    appId: entra?.clientId ?? APP_ID,
    users: () => (entra
      ? [{ handle: 'me', oid: entra.userOid, teamsId: `29:1${entra.userOid.replace(/-/g, '')}`, name: entra.userName ?? 'Me', upn: '' }]
      : fixtures.users()),
  };
}

/** Step 5: the resources the construct would create (the KMS key, the client secret, the two tables with TTL); the key's ARN. */
function provision(s: LocalServices, id: Identity, saved?: SavedState): string {
  const keyArn = s.kms.createKey(saved ? [...s.kms.keys.keys()][0] : undefined);
  s.params.secrets.set(SECRET_NAME, JSON.stringify({ clientSecret: id.entra?.clientSecret ?? s.clientSecret }));
  createBotTables(s.dynamodb, TABLES);
  return keyArn;
}

/** Step 6: the local OpenID provider (`--idp local`) and the chat (conversations, the Bot Connector), restored. */
function idpAndChat(
  o: PlaygroundOptions, s: LocalServices, id: Identity, port: number, outcomes: RouteContext['outcomes'], saved?: SavedState,
): { idp?: LocalIdp; chat: Chat } {
  const idp = id.entra ? undefined : new LocalIdp(s.idpKey, {
    authority: `${id.base}/entra`,
    tenantId: id.tenantId,
    appId: id.appId,
    clientSecret: s.clientSecret,
    redirectUris: [`${id.base}/auth/callback`],
    ssoResource: `api://botid-${id.appId}`,
    ssoScope: 'access_as_user',
    users: id.users,
    accessTokenSeconds: o.accessTokenSeconds,
  });
  const chat = new Chat({
    appId: id.appId,
    botName: BOT_NAME,
    tenantId: id.tenantId,
    serviceUrl: `${id.base}/connector/amer/`,
    messagingEndpoint: `http://127.0.0.1:${port}/api/messages`,
    botFrameworkKey: s.botFrameworkKey,
    users: id.users,
    outcomeOf: (activityId) => outcomes.get(activityId),
  });
  for (const c of saved?.conversations ?? []) chat.conversations.set(c.id, c);
  return { idp, chat };
}

/** Step 7: the worker the local Lambda runs: the user's file (rebuilt on change) or the default worker bundle. */
async function loadWorker(o: PlaygroundOptions, root: string, lambda: LocalLambda, reloads: Playground['reloads']): Promise<WorkerFile | undefined> {
  let worker: () => LocalFunction;
  let workerFile: WorkerFile | undefined;
  if (o.worker) {
    const wf = new WorkerFile(o.worker, join(root, 'assets', 'kit', 'index', 'index.js'));
    await wf.start();
    wf.onReload = (error) => {
      reloads.push({ at: new Date().toISOString(), error });
      process.stderr.write(error ? `playground: ${o.worker} did not build, the previous version stays:\n${error}\n` : `playground: ${o.worker} reloaded\n`);
    };
    workerFile = wf;
    worker = () => wf.handler();
  } else {
    const h = loadHandler(bundlePath(root, o.assistant ? 'assistant' : 'worker'));
    worker = () => h;
  }
  lambda.functions.set(WORKER_FUNCTION, worker);
  lambda.onOutcome = (out) => {
    if (!out.ok) process.stderr.write(`playground: the worker failed ${out.attempts} times (${out.error ?? 'error'}); Lambda would now send the event to the on-failure destination\n`);
  };
  return workerFile;
}

/** Step 8 (`--data`): saves the tables, keys and transcripts 200 ms after a change; `flush` writes a pending save now. */
function persistence(file: string | undefined, s: LocalServices, chat: Chat): { save: () => void; flush: () => Promise<void> } {
  let timer: NodeJS.Timeout | undefined;
  const write = (): void => {
    const state: SavedState = {
      version: 1,
      dynamodb: s.dynamodb.snapshot(),
      kms: [...s.kms.keys].map(([id, k]) => [id, k.toString('base64')]),
      keys: { botFramework: exportSigningKey(s.botFrameworkKey), idp: exportSigningKey(s.idpKey) },
      clientSecret: s.clientSecret,
      conversations: [...chat.conversations.values()],
    };
    writeFileSync(file!, JSON.stringify(state));
    chmodSync(file!, 0o600);
  };
  const save = (): void => {
    if (!file || timer) return;
    timer = setTimeout(() => {
      timer = undefined;
      write();
    }, 200);
  };
  const flush = async (): Promise<void> => {
    if (!timer) return;
    clearTimeout(timer);
    timer = undefined;
    write();
  };
  return { save, flush };
}

/** Starts the playground: the named steps above, then the HTTP server's routes. */
export async function startPlayground(o: PlaygroundOptions = {}): Promise<Playground> {
  const root = packageRoot();
  const state = loadState(o);
  const s = localServices(state.saved);
  const fixtures = new FixtureStore(o.fixtures ?? (o.data ? join(o.data, 'fixtures.json') : undefined));
  const server = createServer();
  const port = await listen(server, o.port ?? 3978);
  const id = identityOf(o, port, fixtures);
  const keyArn = provision(s, id, state.saved);

  const logs = new HandlerLogs(o.logLevel ?? 'warn');
  logs.install();
  const outcomes: RouteContext['outcomes'] = new Map();
  const secretArn = s.params.secretArn(SECRET_NAME);
  const bedrock = await startBedrock(o);
  applyHandlerEnv({ base: id.base, port, appId: id.appId, tenantId: id.tenantId, keyArn, secretArn, o, entra: !!id.entra, bedrock });
  const { idp, chat } = idpAndChat(o, s, id, port, outcomes, state.saved);
  // The handlers, unchanged. The environment is set before they load (their SDK clients read it at module scope).
  const receiver = loadHandler(bundlePath(root, 'receiver'));
  const reloads: Playground['reloads'] = [];
  const workerFile = await loadWorker(o, root, s.lambda, reloads);
  const { save, flush } = persistence(state.file, s, chat);
  s.dynamodb.onChange = save;
  const sweeper = setInterval(() => s.dynamodb.sweepExpired(), 30_000);
  sweeper.unref();

  const ctx: RouteContext = {
    logs,
    outcomes,
    base: id.base,
    aws: s.aws,
    idp,
    chat,
    fixtures,
    receiver,
    botFrameworkKey: s.botFrameworkKey,
    sso: !!o.sso,
    save,
    worker: workerName(o),
    idpMode: id.entra ? 'entra' : 'local',
    reloads,
    appId: id.appId,
  };
  server.on('request', (req, res) => {
    void handleRequest(ctx, req, res).catch((err) => {
      process.stderr.write(`playground: ${req.method} ${(req.url ?? '').split('?')[0]} failed: ${(err as Error)?.message}\n`);
      if (!res.headersSent) sendJson(res, 500, { error: 'internal_error' });
      else res.end();
    });
  });
  return {
    url: `${id.base}/`,
    port,
    chat,
    idp,
    lambda: s.lambda,
    fixtures,
    reloads,
    signIn: (handle, authorizeUrl) => scriptedSignIn(ctx, handle, authorizeUrl),
    async stop() {
      clearInterval(sweeper);
      workerFile?.stop();
      await s.lambda.idle();
      await bedrock?.stop();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await flush();
    },
  };
}

interface HandlerEnvInput {
  base: string;
  port: number;
  appId: string;
  tenantId: string;
  keyArn: string;
  secretArn: string;
  o: PlaygroundOptions;
  entra: boolean;
  /** `--assistant --bedrock local`: the stand-in the assistant's Bedrock client is pointed at. */
  bedrock?: BedrockStandIn;
}

/**
 * `--assistant --bedrock local`: the Bedrock Runtime stand-in with the scripted model. `--bedrock aws` needs the
 * developer's credentials in the environment (checked here: the handlers' clients read them from there).
 */
async function startBedrock(o: PlaygroundOptions): Promise<BedrockStandIn | undefined> {
  if (o.assistant?.bedrock === 'aws') {
    if (!process.env.AWS_ACCESS_KEY_ID || !process.env.AWS_SECRET_ACCESS_KEY) {
      throw new Error('--bedrock aws needs AWS credentials in the environment: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN), '
        + 'e.g. eval "$(aws configure export-credentials --format env)"');
    }
    if (!o.assistant.modelId) throw new Error('--bedrock aws needs --model');
    return undefined;
  }
  return o.assistant ? startBedrockStandIn({ model: scriptedModel(), keepRequests: 0 }) : undefined;
}

/** The assistant's settings (the names of src/private/assistant.ts, as the construct writes them). */
function assistantEnv(mode: AssistantMode, bedrock?: BedrockStandIn): Record<string, string> {
  const env: Record<string, string> = {
    [ASSISTANT_ENV.MODEL_ID]: mode.modelId ?? LOCAL_MODEL_ID,
    [ASSISTANT_ENV.TOOLS]: ASSISTANT_TOOLS.join(','),
  };
  if (bedrock) {
    env.AWS_ENDPOINT_URL_BEDROCK_RUNTIME = bedrock.endpoint;
  } else {
    // Real Bedrock: the region asked for, else the developer's own (read before the handlers' us-east-1 is set).
    env[ASSISTANT_ENV.MODEL_REGION] = mode.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? 'us-east-1';
  }
  return env;
}

function applyHandlerEnv(a: HandlerEnvInput): void {
  const aws = `http://127.0.0.1:${a.port}`;
  // With real Bedrock the handlers keep the developer's credentials (their local AWS calls, signed with them, stay here).
  const realAws = a.o.assistant?.bedrock === 'aws';
  const assistant = a.o.assistant ? assistantEnv(a.o.assistant, a.bedrock) : {};
  const scopes = (a.o.graphScopes ?? DEFAULT_SCOPES).split(' ').filter((x) => x !== '');
  const env: Record<string, string> = {
    ...(realAws ? {} : { AWS_ACCESS_KEY_ID: 'PLAYGROUNDLOCAL', AWS_SECRET_ACCESS_KEY: 'playground-local' }),
    ...assistant,
    AWS_REGION: 'us-east-1',
    AWS_DEFAULT_REGION: 'us-east-1',
    AWS_ENDPOINT_URL_DYNAMODB: aws,
    AWS_ENDPOINT_URL_KMS: aws,
    AWS_ENDPOINT_URL_SECRETS_MANAGER: aws,
    AWS_ENDPOINT_URL_SSM: aws,
    AWS_ENDPOINT_URL_LAMBDA: aws,
    AWS_LAMBDA_FUNCTION_NAME: 'playground',
    [ENV.APP_ID]: a.appId,
    [ENV.TENANT_ID]: a.tenantId,
    [ENV.SECRET_ARN]: a.secretArn,
    [ENV.KMS_KEY_ARN]: a.keyArn,
    [ENV.TOKEN_TABLE]: TABLES.tokens,
    [ENV.CONVERSATION_TABLE]: TABLES.conversations,
    [ENV.WORKER_FUNCTION]: WORKER_FUNCTION,
    [ENV.PUBLIC_BASE_URL]: a.base,
    [ENV.BOT_OPENID_METADATA_URL]: `${a.base}/botframework/v1/.well-known/openidconfiguration`,
    // Explicitly, not the cloud profile's Teams-only hosts: the playground's Bot Connector is this server.
    [ENV.SERVICE_URL_HOSTS]: new URL(a.base).origin,
    // With the assistant, its tools' scopes are added, as the construct adds them to graphScopes.
    [ENV.GRAPH_SCOPES]: (a.o.assistant ? withAssistantScopes(scopes, assistantToolScopes(ASSISTANT_TOOLS)) : scopes).join(' '),
    [ENV.SSO_ENABLED]: a.o.sso ? 'true' : 'false',
    // info at least: the receiver's request line carries each activity's outcome (the terminal shows --log-level up).
    [ENV.LOG_LEVEL]: a.o.logLevel === 'debug' ? 'debug' : 'info',
  };
  if (a.entra) {
    // The real Entra ID and Graph; the bot's outbound app token is asked for the app itself (any registration can).
    env[ENV.BOT_CONNECTOR_SCOPE] = `${a.appId}/.default`;
  } else {
    env[ENV.ENTRA_AUTHORITY] = `${a.base}/entra`;
    env[ENV.GRAPH_BASE_URL] = `${a.base}/graph`;
  }
  const drop = ['AWS_PROFILE', 'AWS_ENDPOINT_URL', 'AWS_ENDPOINT_URL_BEDROCK_RUNTIME', ...(realAws ? [] : ['AWS_SESSION_TOKEN'])];
  for (const k of [...drop, 'AWS_CONFIG_FILE', 'AWS_SHARED_CREDENTIALS_FILE', ENV.BASE_URL_PARAMETER, ENV.ALLOWED_TENANT_IDS, ENV.CLOUD, ENV.BOT_TOKEN_ISSUER]) delete process.env[k];
  Object.assign(process.env, env);
}

interface RouteContext extends StandInContext {
  logs: HandlerLogs;
  /** activity id → the receiver's outcome for it (from its request log line) */
  outcomes: Map<string, { outcome?: string; reason?: string }>;
  base: string;
  fixtures: FixtureStore;
  receiver: LocalFunction;
  botFrameworkKey: SigningKey;
  worker: string;
  idpMode: 'local' | 'entra';
  reloads: Playground['reloads'];
  appId: string;
}

async function handleRequest(ctx: RouteContext, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://localhost');
  const path = url.pathname;
  const method = req.method ?? 'GET';
  const body = await readBody(req);
  if (await standInRoute(ctx, req, res, url, body)) return;
  if (path === '/api/messages' || path === '/auth/callback') return functionUrl(ctx, req, res, url, body);
  if (path.startsWith('/botframework/v1/.well-known/')) return botFrameworkMetadata(ctx, res, path);
  if (path.startsWith('/playground/api/')) return apiRoute(ctx, req, res, url, body);
  if (path === '/playground/app.js' && method === 'GET') {
    res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8', 'cache-control': 'no-cache' });
    res.end(readFileSync(join(__dirname, '..', 'page', 'index', 'index.js')));
    return;
  }
  if (path === '/' && method === 'GET') return sendHtml(res, 200, chatPage());
  sendHtml(res, 404, '<!doctype html><title>Not found</title><p>Not found. The chat is at <a href="/">/</a>.</p>');
}

/** The receiver's function URL: the request as a Lambda function URL event (payload format 2.0). */
async function functionUrl(ctx: RouteContext, req: IncomingMessage, res: ServerResponse, url: URL, body: string): Promise<void> {
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers)) if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(',') : v;
  const event = {
    version: '2.0',
    rawPath: url.pathname,
    rawQueryString: url.search.slice(1),
    headers,
    body,
    isBase64Encoded: false,
    requestContext: { http: { method: req.method ?? 'GET', path: url.pathname, sourceIp: req.socket.remoteAddress ?? '' } },
  };
  const lambdaContext = { functionName: 'playground-receiver', awsRequestId: randomBytes(8).toString('hex'), getRemainingTimeInMillis: () => 30_000 };
  const { result, lines } = await ctx.logs.capture(() => ctx.receiver(event, lambdaContext));
  const out = result as { statusCode: number; headers?: Record<string, string>; body?: string };
  const request = lines.find((l) => l.event === 'request');
  const activityId = activityIdOf(body);
  if (request && activityId) {
    ctx.outcomes.set(activityId, { outcome: request.outcome as string | undefined, reason: request.reason as string | undefined });
    if (ctx.outcomes.size > 1000) ctx.outcomes.delete(ctx.outcomes.keys().next().value!);
  }
  res.writeHead(out.statusCode, out.headers ?? {});
  res.end(out.body ?? '');
}

function activityIdOf(body: string): string | undefined {
  try {
    const id = (JSON.parse(body) as { id?: unknown }).id;
    return typeof id === 'string' ? id : undefined;
  } catch {
    return undefined;
  }
}

function botFrameworkMetadata(ctx: RouteContext, res: ServerResponse, path: string): void {
  if (path.endsWith('/openidconfiguration')) {
    return sendJson(res, 200, {
      issuer: 'https://api.botframework.com',
      authorization_endpoint: `${ctx.base}/botframework/v1/authorize`,
      jwks_uri: `${ctx.base}/botframework/v1/.well-known/keys`,
      id_token_signing_alg_values_supported: ['RS256'],
      token_endpoint_auth_methods_supported: ['private_key_jwt'],
    });
  }
  if (path.endsWith('/keys')) return sendJson(res, 200, { keys: [publicJwk(ctx.botFrameworkKey, { endorsements: ['msteams'] })] });
  sendJson(res, 404, { error: 'not_found' });
}


/** Signs `handle` in at the local IdP with a card's authorize URL and follows the redirect to the receiver's callback. */
async function scriptedSignIn(ctx: RouteContext, handle: string, authorizeUrl: string): Promise<{ status: number; title: string }> {
  if (!ctx.idp) throw new ChatError(400, 'scripted sign-in needs --idp local');
  const u = new URL(authorizeUrl);
  if (`${u.origin}${u.pathname}` !== `${ctx.idp.o.authority}/${ctx.idp.o.tenantId}/oauth2/v2.0/authorize`) throw new ChatError(400, 'not a sign-in URL of the local IdP');
  let p: Record<string, string>;
  try {
    p = ctx.idp.checkAuthorize(u.searchParams);
  } catch (err) {
    throw new ChatError(400, (err as Error).message);
  }
  const callback = new URL(ctx.idp.issueCode(p, ctx.chat.user(handle)));
  const res = await fetch(`http://127.0.0.1:${new URL(ctx.base).port}${callback.pathname}${callback.search}`);
  const html = await res.text();
  return { status: res.status, title: (/<title>([^<]*)<\/title>/.exec(html)?.[1] ?? '').trim() };
}

async function apiRoute(ctx: RouteContext, req: IncomingMessage, res: ServerResponse, url: URL, body: string): Promise<void> {
  const route = url.pathname.slice('/playground/api/'.length);
  const method = req.method ?? 'GET';
  let input: any = {};
  try {
    if (body !== '') input = JSON.parse(body);
  } catch {
    return sendJson(res, 400, { error: 'invalid JSON body' });
  }
  try {
    const m = /^conversations\/([^/]+)\/(messages|invoke|activities|events)$/.exec(route);
    if (m) return await conversationRoute(ctx, req, res, decodeURIComponent(m[1]), m[2], url, input);
    if (route === 'status' && method === 'GET') return sendJson(res, 200, statusOf(ctx));
    if (route === 'logs' && method === 'GET') return sendJson(res, 200, { lines: ctx.logs.lines });
    if (route === 'users' && method === 'GET') return sendJson(res, 200, { users: ctx.chat.o.users() });
    if (route === 'conversations' && method === 'GET') return sendJson(res, 200, { conversations: [...ctx.chat.conversations.values()].map(summary) });
    if (route === 'conversations' && method === 'POST') {
      const c = input.type === 'groupChat' ? await ctx.chat.group(input.members ?? [], input.title) : await ctx.chat.personal(String(input.user ?? ''));
      return sendJson(res, 201, summary(c));
    }
    if (route === 'signin' && method === 'POST') return sendJson(res, 200, await scriptedSignIn(ctx, String(input.user ?? ''), String(input.url ?? '')));
    if (route === 'fixtures' && method === 'GET') return sendJson(res, 200, ctx.fixtures.get());
    if (route === 'fixtures' && method === 'PUT') {
      try {
        return sendJson(res, 200, ctx.fixtures.set(input));
      } catch (err) {
        return sendJson(res, 400, { error: (err as Error).message });
      }
    }
    if (route === 'revoke' && method === 'POST') return sendJson(res, 200, { revoked: ctx.idp?.revoke(ctx.chat.user(String(input.user ?? '')).oid) ?? 0 });
    sendJson(res, 404, { error: 'no such API route (see docs/playground.md)' });
  } catch (err) {
    if (err instanceof ChatError) return sendJson(res, err.status, { error: err.message });
    throw err;
  }
}

function summary(c: Conversation): Record<string, unknown> {
  return { id: c.id, type: c.type, members: c.members, title: c.title, entries: c.entries.length };
}

function statusOf(ctx: RouteContext): Record<string, unknown> {
  return {
    worker: ctx.worker,
    idp: ctx.idpMode,
    sso: ctx.sso,
    appId: ctx.appId,
    botName: BOT_NAME,
    reloads: ctx.reloads,
    invocations: ctx.aws.lambda.outcomes.slice(-20),
  };
}

async function conversationRoute(
  ctx: RouteContext, req: IncomingMessage, res: ServerResponse, id: string, what: string, url: URL, input: any,
): Promise<void> {
  const method = req.method ?? 'GET';
  if (what === 'messages' && method === 'POST') {
    const e = await ctx.chat.sendMessage(id, String(input.user ?? ''), { text: input.text, value: input.value, replyToId: input.replyToId, attachments: input.attachments });
    ctx.save();
    return sendJson(res, 200, e);
  }
  if (what === 'invoke' && method === 'POST') {
    const e = await ctx.chat.sendInvoke(id, String(input.user ?? ''), String(input.name ?? ''), input.value);
    return sendJson(res, 200, e);
  }
  if (what === 'activities' && method === 'GET') {
    const after = Math.max(0, Number(url.searchParams.get('after') ?? 0) || 0);
    const wait = Math.min(30_000, Math.max(0, Number(url.searchParams.get('wait') ?? 0) || 0));
    return sendJson(res, 200, { entries: await ctx.chat.entriesAfter(id, after, wait) });
  }
  if (what === 'events' && method === 'GET') return events(ctx, req, res, id, Number(url.searchParams.get('after') ?? 0) || 0);
  sendJson(res, 405, { error: 'method not allowed' });
}

/** Server-sent events: the transcript from `after`, then every new entry (and receiver status notices). */
function events(ctx: RouteContext, req: IncomingMessage, res: ServerResponse, id: string, after: number): void {
  const c = ctx.chat.get(id);
  res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', 'connection': 'keep-alive' });
  const write = (e: unknown): void => {
    res.write(`data: ${JSON.stringify(e)}\n\n`);
  };
  for (const e of c.entries.slice(after)) write(e);
  const off = ctx.chat.subscribe(id, write);
  const ping = setInterval(() => res.write(': ping\n\n'), 15_000);
  req.on('close', () => {
    off();
    clearInterval(ping);
  });
}

export { escapeHtml };
