/**
 * {@link createTestBot}: everything a worker talks to, in this process, for a unit test: the playground's stand-ins
 * (cli/playground: DynamoDB, KMS and Secrets Manager over their wire protocols, the local OpenID provider that issues
 * the bot's app token and the users' Graph tokens, the Graph stand-in over fixtures, the recording Bot Connector)
 * behind one HTTP server on 127.0.0.1, and contract events built the way the receiver builds them: a Teams-shaped
 * activity of a test user (chat.ts) through the contract's builders (lambda/shared/contract.ts), with the user's
 * Graph token encrypted by the handlers' own TokenCipher under the user's encryption context.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
// The AWS SDK stays external in the bundle, as in the worker kit's (a kit user has these clients installed).
// eslint-disable-next-line import/no-extraneous-dependencies
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
// eslint-disable-next-line import/no-extraneous-dependencies
import { KMSClient } from '@aws-sdk/client-kms';
// eslint-disable-next-line import/no-extraneous-dependencies
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { createBotTables, LocalDynamoDb } from '../cli/playground/aws/dynamodb';
import { LocalAws, LocalKms, LocalLambda, LocalParameters } from '../cli/playground/aws/services';
import { Chat, type Entry } from '../cli/playground/chat';
import { FixtureStore, type Fixtures } from '../cli/playground/graph';
import { LocalIdp, newSigningKey, type TestUser } from '../cli/playground/identity';
import { readBody, sendJson, standInRoute, type StandInContext } from '../cli/playground/routes';
import type { WorkerClients, WorkerHandler, WorkerOptions, WorkerResult } from '../kit/types';
import { pendingEventFromActivity, toWorkerEvent, type WorkerEvent } from '../lambda/shared/contract';
import { TokenCipher, tokenEncryptionContext } from '../lambda/shared/crypto';
import { ENV } from '../src/private/env';
import { normalizeGuid, TOKEN_PURPOSE } from '../src/private/shared-data';

/** Options of {@link createTestBot}. */
export interface TestBotOptions {
  /**
   * The tenant and its users with their Graph data, in the playground's fixtures format (docs/playground.md,
   * "Fixtures"). Default: the playground's tenant with Ada (`ada`), Grace (`grace`) and Alan (`alan`).
   */
  fixtures?: Fixtures;
  /** Delegated Graph scopes of the users' tokens, space separated (default `User.Read Mail.Read Calendars.Read Files.Read`). */
  scopes?: string;
  /** The bot's Microsoft App ID (default a fixed test GUID; a GUID is used in lower case, as the handlers do). */
  appId?: string;
  /**
   * More `TDAB_*` settings for the worker; they win over the test bot's own (e.g. `{ TDAB_LOG_LEVEL: 'debug' }`; the
   * default log level is `warn`).
   */
  env?: Record<string, string>;
}

/** A message of a test user to the bot. */
export interface TestMessage {
  /** Handle of the user who sends it (`ada`). */
  from: string;
  text?: string;
  /** An Adaptive Card submit's `value`. */
  value?: unknown;
  /** Attachments of the activity (the event carries their metadata only: `contentType`, `name`, `contentUrl`). */
  attachments?: Array<{ contentType: string; name?: string; contentUrl?: string; content?: unknown }>;
  /** Id of the activity this message answers. */
  replyToId?: string;
  /** The conversation: the user's personal chat with the bot (default) or a group chat's id ({@link TestBot.groupChat}). */
  conversation?: string;
  /** True: the message waited for the user's sign-in (`resumed` in the event). Default false. */
  resumed?: boolean;
  /** Seconds until the user's Graph token expires (default 3600; 0 or less: an expired token). */
  tokenExpiresIn?: number;
  /** Scopes of the user's Graph token (default the bot's {@link TestBotOptions.scopes}). */
  scopes?: string;
}

/** One call the worker made to the Bot Connector, as recorded. */
export interface RecordedActivity {
  /** `activity`: a new activity (message, typing); `update`: the bot replaced activity `activity.id`; `delete`: it deleted it. */
  kind: 'activity' | 'update' | 'delete';
  /** The activity as the Bot Connector received it (with the `id` it was given). */
  activity: Record<string, any>;
  /** The activity it replies to (`reply()` threads under the user's message). */
  replyToId?: string;
}

/** What a worker did with one event. */
export interface TestTurn {
  /** The contract event the worker got. */
  event: WorkerEvent;
  /** The handler's result. */
  result: WorkerResult;
  /** Every Bot Connector call of the turn, in order. */
  activities: RecordedActivity[];
  /** The messages the bot sent in the turn (new activities of type `message`), in order. */
  replies: Array<Record<string, any>>;
}

/** A test user (from the fixtures). */
export interface TestBotUser {
  handle: string;
  /** Entra object id (the Teams `aadObjectId`). */
  oid: string;
  /** Teams user id (`29:1…`). */
  teamsId: string;
  name: string;
  upn: string;
}

/** A running test bot (see {@link createTestBot}). */
export interface TestBot {
  /** `env` and `clients` for `defineWorker(fn, bot.workerOptions)`: the worker reaches the stand-ins, never AWS. */
  readonly workerOptions: Required<Pick<WorkerOptions, 'env' | 'clients'>>;
  /**
   * The whole environment of a worker that reads `process.env` (a module whose `defineWorker(fn)` has no options):
   * the `TDAB_*` settings plus the AWS region, test credentials and `AWS_ENDPOINT_URL_*` of the stand-ins. Assign it
   * to `process.env` before the handler's first event.
   */
  readonly env: Record<string, string>;
  /** The bot's Microsoft App ID and the tenant. */
  readonly appId: string;
  readonly tenantId: string;
  /** The test users of the fixtures. */
  readonly users: TestBotUser[];
  /** Builds the contract event of a message, as the receiver would send it to the worker, without running anything. */
  event(message: TestMessage): Promise<WorkerEvent>;
  /**
   * Sends a message: builds its event and runs `handler` on it. Rejects with the handler's error when it throws (Lambda
   * would retry the event; the apology, if any, is in {@link replies}).
   */
  send(handler: WorkerHandler, message: TestMessage): Promise<TestTurn>;
  /** Runs `handler` on an event again (a Lambda retry, a duplicate delivery) or on an event of your own. */
  deliver(handler: WorkerHandler, event: WorkerEvent): Promise<TestTurn>;
  /** Starts a group chat of the given users with the bot; its conversation id (for {@link TestMessage.conversation}). */
  groupChat(handles: string[], title?: string): Promise<string>;
  /** The messages the bot sent to a conversation so far (a user handle: their personal chat; or a conversation id). */
  replies(conversation: string): Array<Record<string, any>>;
  /** Every Bot Connector call of a conversation so far (a user handle or a conversation id). */
  activities(conversation: string): RecordedActivity[];
  /** Stops the stand-ins' server and the SDK clients. */
  close(): Promise<void>;
}

const DEFAULT_APP_ID = '00000000-0000-4000-8000-0000000075e7';
const DEFAULT_SCOPES = 'User.Read Mail.Read Calendars.Read Files.Read';
const CONVERSATION_TABLE = 'test-bot-conversations';
const SECRET_NAME = 'test-bot/bot-client-secret';
const REGION = 'us-east-1';
const CREDENTIALS = { accessKeyId: 'TESTBOTLOCAL', secretAccessKey: 'test-bot-local' };

/**
 * Starts a test bot: the stand-ins on a free port of 127.0.0.1, the KMS key, the bot's client secret and the
 * conversation table. Call {@link TestBot.close} when done (e.g. in `afterAll`).
 */
export async function createTestBot(options: TestBotOptions = {}): Promise<TestBot> {
  const fixtures = new FixtureStore();
  if (options.fixtures) fixtures.set(options.fixtures);
  // In its one spelling (lower-case GUID), as the handlers' configuration has it.
  const appId = normalizeGuid(options.appId ?? DEFAULT_APP_ID);
  const tenantId = fixtures.get().tenantId;
  const scopes = options.scopes ?? DEFAULT_SCOPES;

  const dynamodb = new LocalDynamoDb();
  const kms = new LocalKms();
  const params = new LocalParameters();
  const aws = new LocalAws(dynamodb, kms, params, new LocalLambda());
  const keyArn = kms.createKey();
  const clientSecret = randomBytes(24).toString('base64url');
  params.secrets.set(SECRET_NAME, JSON.stringify({ clientSecret }));
  createBotTables(dynamodb, { conversations: CONVERSATION_TABLE });

  let ctx: StandInContext | undefined;
  const server: Server = createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      const body = await readBody(req);
      if (!ctx || !(await standInRoute(ctx, req, res, url, body))) sendJson(res, 404, { error: 'not served by the test bot' });
    })().catch(() => {
      if (!res.headersSent) sendJson(res, 500, { error: 'internal_error' });
      else res.end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const users = (): TestUser[] => fixtures.users();
  const idp = new LocalIdp(newSigningKey('test-bot-idp'), {
    authority: `${base}/entra`,
    tenantId,
    appId,
    clientSecret,
    redirectUris: [],
    ssoResource: `api://botid-${appId}`,
    ssoScope: 'access_as_user',
    users,
  });
  const chat = new Chat({ appId, botName: 'Test Bot', tenantId, serviceUrl: `${base}/connector/amer/`, users });
  ctx = { aws, idp, chat, fixtures, sso: false, save: () => {} };

  const clientConfig = { endpoint: base, region: REGION, credentials: CREDENTIALS };
  const clients: Required<WorkerClients> = {
    dynamodb: new DynamoDBClient(clientConfig),
    kms: new KMSClient(clientConfig),
    secretsManager: new SecretsManagerClient(clientConfig),
  };
  const cipher = new TokenCipher({ kms: clients.kms, keyId: keyArn });
  const workerEnv: Record<string, string> = {
    [ENV.APP_ID]: appId,
    [ENV.TENANT_ID]: tenantId,
    [ENV.SECRET_ARN]: params.secretArn(SECRET_NAME),
    [ENV.KMS_KEY_ARN]: keyArn,
    [ENV.CONVERSATION_TABLE]: CONVERSATION_TABLE,
    [ENV.ENTRA_AUTHORITY]: `${base}/entra`,
    [ENV.GRAPH_BASE_URL]: `${base}/graph`,
    [ENV.SERVICE_URL_HOSTS]: base,
    [ENV.GRAPH_SCOPES]: scopes,
    [ENV.LOG_LEVEL]: 'warn',
    ...options.env,
  };
  const env: Record<string, string> = {
    ...workerEnv,
    AWS_REGION: REGION,
    AWS_DEFAULT_REGION: REGION,
    AWS_ACCESS_KEY_ID: CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: CREDENTIALS.secretAccessKey,
    AWS_ENDPOINT_URL_DYNAMODB: base,
    AWS_ENDPOINT_URL_KMS: base,
    AWS_ENDPOINT_URL_SECRETS_MANAGER: base,
  };

  /** A user handle's personal chat, or a conversation id. */
  const conversationOf = async (ref: string): Promise<string> => (chat.conversations.has(ref) ? ref : (await chat.personal(ref)).id);
  const recorded = (entries: Entry[]): RecordedActivity[] => entries
    .filter((e) => e.from === 'bot' && e.kind !== 'notice')
    .map((e) => ({ kind: e.kind as RecordedActivity['kind'], activity: e.activity, ...(e.replyToId === undefined ? {} : { replyToId: e.replyToId }) }));
  const messagesOf = (activities: RecordedActivity[]): Array<Record<string, any>> => activities
    .filter((a) => a.kind === 'activity' && a.activity.type === 'message').map((a) => a.activity);
  const transcript = (ref: string): Entry[] => {
    const c = chat.conversations.get(ref) ?? [...chat.conversations.values()].find((x) => x.type === 'personal' && x.members[0] === ref);
    return c?.entries ?? [];
  };

  /** The event of a message: the activity Teams would send, the receiver's pending event, the user's encrypted token. */
  const event = async (m: TestMessage): Promise<{ event: WorkerEvent; conversationId: string }> => {
    const user = chat.user(m.from);
    const conversationId = await conversationOf(m.conversation ?? m.from);
    const { text, value, attachments, replyToId } = m;
    const entry = await chat.sendMessage(conversationId, m.from, { text, value, attachments, replyToId });
    const resumed = m.resumed ?? false;
    const pending = pendingEventFromActivity(entry.activity, { receivedAt: new Date(), resumed });
    const tokenScopes = m.scopes ?? scopes;
    const expiresIn = m.tokenExpiresIn ?? 3600;
    // The JWT expires when the event says (an expired one is refused by the Graph stand-in, as by Graph).
    const plaintext = idp.graphAccessToken(user, tokenScopes.split(/\s+/).filter(Boolean), expiresIn);
    const accessToken = await cipher.encrypt(plaintext, tokenEncryptionContext(appId, { tenantId, aadObjectId: user.oid }, TOKEN_PURPOSE.access));
    const expiresAt = Math.floor(Date.now() / 1000) + expiresIn;
    return { event: toWorkerEvent(pending, { accessToken, expiresAt, scopes: tokenScopes }, { resumed }), conversationId };
  };

  const run = async (handler: WorkerHandler, e: WorkerEvent, conversationId: string): Promise<TestTurn> => {
    const before = transcript(conversationId).length;
    const deadline = Date.now() + 60_000;
    const result = await handler(structuredClone(e), {
      awsRequestId: randomUUID(),
      getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    });
    const activities = recorded(transcript(conversationId).slice(before));
    return { event: e, result, activities, replies: messagesOf(activities) };
  };

  return {
    workerOptions: { env: workerEnv, clients },
    env,
    appId,
    tenantId,
    get users() {
      return users().map((u) => ({ ...u }));
    },
    event: async (m) => (await event(m)).event,
    async send(handler, m) {
      const { event: e, conversationId } = await event(m);
      return run(handler, e, conversationId);
    },
    deliver: (handler, e) => run(handler, e, e.conversation.conversation.id),
    groupChat: async (handles, title) => (await chat.group(handles, title)).id,
    replies: (ref) => messagesOf(recorded(transcript(ref))),
    activities: (ref) => recorded(transcript(ref)),
    async close() {
      for (const c of Object.values(clients)) c.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
