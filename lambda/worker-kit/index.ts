/**
 * Worker kit: write a Teams worker for `cdk-teams-delegated-auth-bot` as one async function.
 *
 * ```ts
 * import { defineWorker } from 'cdk-teams-delegated-auth-bot/worker';
 *
 * export const handler = defineWorker(async ({ message, user, graph, reply, typing }) => {
 *   await typing();
 *   const me = await graph.me();
 *   await reply(`Hello ${me.displayName}, you said ${quote(message.text)}`);
 * });
 * ```
 *
 * The returned Lambda handler validates the worker contract event (docs/worker-contract.md), makes sure each user
 * message is answered at most once (idempotency records in the conversation table; see docs/worker-kit.md for the
 * state machine), decrypts the user's Graph token with KMS (encryption context from the event, key and user checked),
 * and gives the function reply / send / update / typing helpers (Bot Connector with the bot's app token) and a Graph
 * client that only ever sends the token to the configured Graph base URL. An error before the first reply gives the
 * user one short apology and is rethrown (Lambda retries, then the failure destination); an error after a reply is
 * logged and not rethrown, so no retry can reply twice.
 *
 * Clients, configuration and the bot's app token are created or fetched once per container; the client secret is read
 * by the shared reader (lambda/shared/bot-secret.ts: cached for one hour, failures not cached, placeholders refused).
 */
// Handler dependencies are devDependencies (esbuild inlines them into the bundles).
// eslint-disable-next-line import/no-extraneous-dependencies
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
// eslint-disable-next-line import/no-extraneous-dependencies
import { KMSClient } from '@aws-sdk/client-kms';
// eslint-disable-next-line import/no-extraneous-dependencies
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { GraphClient, GraphError, GraphUrlError } from './graph';
import { plainText, quote } from './text';
import { AWS_SDK_CLIENT_OPTIONS } from '../shared/aws-sdk-options';
import { BotAppTokenProvider, BotConnectorClient, BotConnectorError, BotTokenError } from '../shared/bot-connector';
import { botSecretReader } from '../shared/bot-secret';
import { loadConfig, requireConfigValue, ResolvedConfig } from '../shared/config';
import {
  ContractError,
  ConversationReference,
  parseWorkerEvent,
  WorkerEvent,
  WorkerMessage,
} from '../shared/contract';
import { TokenCipher } from '../shared/crypto';
import { IdempotencyStore, idempotencyKey } from '../shared/idempotency';
import { log, setLogLevel } from '../shared/log';

export { GraphClient, GraphError, GraphUrlError, plainText, quote, ContractError, parseWorkerEvent, BotConnectorError };
export type { GraphClientOptions, GraphRequestOptions, GraphUser } from './graph';
export type { ConversationReference, WorkerEvent, WorkerMessage, WorkerToken, WorkerAttachment } from '../shared/contract';

/** Default apology sent once when a message fails before it was answered. */
export const DEFAULT_APOLOGY = 'Sorry, something went wrong while I was working on your message. Please try again later.';

/** What a worker can send: a text (a plain-text message) or a Bot Framework activity (`type` defaults to `message`). */
export type OutgoingActivity = string | Record<string, unknown>;

/** The Teams user who sent the message. */
export interface WorkerUser {
  /** Teams user id (`29:…`). */
  id: string;
  /** Entra object id. */
  aadObjectId?: string;
  /** Display name as Teams sent it. */
  name?: string;
  /** Entra tenant id. */
  tenantId?: string;
}

/** The part of Lambda's context object the kit uses. */
export interface LambdaContextLike {
  awsRequestId?: string;
  getRemainingTimeInMillis?(): number;
}

/** Everything a worker function gets. */
export interface WorkerArgs {
  /** The validated contract event. */
  event: WorkerEvent;
  /** The user's message. */
  message: WorkerMessage;
  /** The message as plain text (mentions and HTML removed). */
  text: string;
  /** Who sent it. */
  user: WorkerUser;
  /** Where to answer. */
  conversation: ConversationReference;
  /** The user's decrypted delegated access token for Microsoft Graph. Send it nowhere else. */
  graphToken: string;
  /** Expiry and scopes of `graphToken`. */
  token: { expiresAt: Date; scopes: string[]; expired: boolean };
  /** Microsoft Graph as the user (only ever calls the configured Graph base URL). */
  graph: GraphClient;
  /** True when the message waited for the user's sign-in. */
  resumed: boolean;
  /** 1 for the first attempt at this message; higher for Lambda retries, take-overs and replays. */
  attempt: number;
  /** The structured logger (sanitizes tokens and message text). */
  log: typeof log;
  /** Lambda's context, when the runtime passed one. */
  context?: LambdaContextLike;
  /** Replies in the thread of the user's message. The first accepted reply marks the message answered. */
  reply(activity: OutgoingActivity): Promise<{ id?: string }>;
  /** Posts to the conversation without threading. Also marks the message answered. */
  send(activity: OutgoingActivity): Promise<{ id?: string }>;
  /** Replaces an activity the bot sent (e.g. a progress message). */
  update(activityId: string, activity: OutgoingActivity): Promise<void>;
  /** Sends a typing indicator (best effort: failures are logged, never thrown). */
  typing(): Promise<void>;
}

/** A worker function. */
export type WorkerFunction = (args: WorkerArgs) => Promise<void>;

/** What the handler returns (Lambda ignores it for asynchronous invocations; useful in tests). */
export interface WorkerResult {
  /** `replied`: answered; `done`: finished without a reply; `skipped`: duplicate or already answered. */
  status: 'replied' | 'done' | 'skipped';
  /** For `skipped`: why. */
  reason?: 'already-replied' | 'already-done' | 'in-progress';
  /** True when an error happened after the reply (logged, not rethrown). */
  errorAfterReply?: boolean;
}

/** SDK clients the kit uses; pass your own to share them or for tests. */
export interface WorkerClients {
  dynamodb?: DynamoDBClient;
  kms?: KMSClient;
  secretsManager?: SecretsManagerClient;
}

/** The Lambda handler {@link defineWorker} returns. */
export type WorkerHandler = (event: unknown, context?: LambdaContextLike) => Promise<WorkerResult>;

/** Options of {@link defineWorker}. */
export interface WorkerOptions {
  /** Apology text, or `false` for none. Default {@link DEFAULT_APOLOGY}. */
  apology?: string | false;
  /** Environment to read the configuration from (default `process.env`). */
  env?: NodeJS.ProcessEnv;
  /**
   * SDK clients (default: created once per container with the handlers' timeouts and attempts,
   * lambda/shared/aws-sdk-options.ts: 1 s to connect, 3 s per request, 3 attempts).
   */
  clients?: WorkerClients;
  /** Lease of an attempt on a message, in ms (default: the invocation's remaining time + 5 s, or 15 min). */
  leaseMs?: number;
  /** Lifetime of idempotency records, in seconds (default 24 h). */
  idempotencyTtlSeconds?: number;
  /** Timeout of each Bot Connector / Graph call, in ms (default 10000). */
  timeoutMs?: number;
  /** Bot Connector retries of 429 / 5xx (default 3). */
  maxRetries?: number;
}

/** Thrown (to Lambda) when a message failed before it was answered. Carries no message text or token. */
export class WorkerError extends Error {
  /** Name of the underlying error (e.g. `GraphError`). */
  readonly causeName: string;
  /** HTTP status of the underlying error, when it had one. */
  readonly status?: number;
  /** Service error code of the underlying error, when it had one. */
  readonly code?: string;
  constructor(activityId: string, err: unknown) {
    const info = errorInfo(err);
    super(`worker failed before replying to activity ${activityId}: ${info.name}${info.status !== undefined ? ` status ${info.status}` : ''}${info.code ? ` (${info.code})` : ''}`);
    this.name = 'WorkerError';
    this.causeName = info.name;
    this.status = info.status;
    this.code = info.code;
  }
}

/** The event does not belong to this bot or user (wrong KMS key, app id or user in the encryption context). */
export class TokenBindingError extends Error {
  constructor(problem: string) {
    super(`worker event token refused: ${problem}`);
    this.name = 'TokenBindingError';
  }
}

function errorInfo(err: unknown): { name: string; status?: number; code?: string } {
  const e = err as { name?: unknown; status?: unknown; code?: unknown; $metadata?: { httpStatusCode?: unknown } } | undefined;
  const name = typeof e?.name === 'string' && /^[A-Za-z0-9_.]{1,64}$/.test(e.name) ? e.name : 'Error';
  const status = typeof e?.status === 'number' ? e.status
    : typeof e?.$metadata?.httpStatusCode === 'number' ? e.$metadata.httpStatusCode : undefined;
  const code = typeof e?.code === 'string' && /^[A-Za-z0-9_.-]{1,64}$/.test(e.code) ? e.code : undefined;
  return { name, status, code };
}

function toActivity(a: OutgoingActivity): Record<string, unknown> {
  if (typeof a === 'string') return { type: 'message', text: a, textFormat: 'plain' };
  if (typeof a !== 'object' || a === null) throw new TypeError('activity must be a string or an object');
  return { type: 'message', ...a };
}

interface Runtime {
  config: ResolvedConfig;
  kms: KMSClient;
  connector: BotConnectorClient;
  idempotency: IdempotencyStore;
}

/** Checks that the token in the event belongs to this bot, this key and the user being answered. */
function checkTokenBinding(event: WorkerEvent, config: ResolvedConfig): void {
  const ctx = event.token.encryptionContext;
  // Compared only when both are key ARNs (an alias ARN in the configuration cannot be compared with the key ARN that
  // KMS Encrypt reports; KMS and IAM still restrict what can be decrypted).
  const isKeyArn = (v: string): boolean => /^arn:aws[a-z-]*:kms:[^:]+:\d{12}:key\/.+$/.test(v);
  if (config.kmsKeyArn && isKeyArn(config.kmsKeyArn) && isKeyArn(event.token.keyId) && event.token.keyId !== config.kmsKeyArn) {
    throw new TokenBindingError('keyId is not the configured KMS key');
  }
  if (ctx.appId !== undefined && ctx.appId !== config.appId) throw new TokenBindingError('encryption context appId is not this bot');
  const user = event.conversation.user;
  if (user.aadObjectId && ctx.aadObjectId !== undefined && ctx.aadObjectId !== user.aadObjectId) {
    throw new TokenBindingError('encryption context aadObjectId is not the user of the conversation');
  }
  const tid = event.conversation.conversation.tenantId;
  if (tid && ctx.tenantId !== undefined && ctx.tenantId !== tid) {
    throw new TokenBindingError('encryption context tenantId is not the conversation tenant');
  }
}

/** 403 codes and local refusals where an apology cannot be delivered either. */
function cannotApologise(err: unknown): boolean {
  if (err instanceof BotConnectorError) {
    return err.code === 'ServiceUrlNotAllowed' || err.code === 'BotNotInConversationRoster' || err.code === 'MessageWritesBlocked';
  }
  return err instanceof ContractError;
}

/**
 * Wraps a worker function into a Lambda handler for worker contract events (see the module documentation).
 * Configuration comes from the `TDAB_*` environment variables the construct sets (docs/configuration.md): app id,
 * tenant id, secret ARN, conversation table, cloud profile and endpoint overrides.
 */
export function defineWorker(fn: WorkerFunction, options: WorkerOptions = {}): WorkerHandler {
  let runtime: Runtime | undefined;

  const init = (): Runtime => {
    if (runtime) return runtime;
    const config = loadConfig(options.env ?? process.env);
    setLogLevel(config.logLevel);
    const secretArn = requireConfigValue(config, 'secretArn');
    const tableName = requireConfigValue(config, 'conversationTable');
    const dynamodb = options.clients?.dynamodb ?? new DynamoDBClient(AWS_SDK_CLIENT_OPTIONS);
    const kms = options.clients?.kms ?? new KMSClient(AWS_SDK_CLIENT_OPTIONS);
    const secretsManager = options.clients?.secretsManager ?? new SecretsManagerClient(AWS_SDK_CLIENT_OPTIONS);
    const getClientSecret = botSecretReader(secretsManager, secretArn);
    const tokens = new BotAppTokenProvider({
      appId: config.appId,
      tenantId: config.tenantId,
      authority: config.entraAuthority,
      scope: config.botConnectorScope,
      getClientSecret,
      timeoutMs: options.timeoutMs,
    });
    const connector = new BotConnectorClient({
      tokens,
      serviceUrlHosts: config.serviceUrlHosts,
      timeoutMs: options.timeoutMs,
      maxRetries: options.maxRetries,
    });
    const idempotency = new IdempotencyStore({ ddb: dynamodb, tableName, ttlSeconds: options.idempotencyTtlSeconds });
    runtime = { config, kms, connector, idempotency };
    return runtime;
  };

  return async (input: unknown, context?: LambdaContextLike): Promise<WorkerResult> => {
    const rt = init();
    let event: WorkerEvent;
    try {
      event = parseWorkerEvent(input);
    } catch (err) {
      // Not a contract event: nothing can be answered safely. Rethrow so it ends in the failure destination.
      log.error('worker_invalid_event', { reason: err instanceof ContractError ? err.path || 'event' : 'unknown', error: err });
      throw err;
    }
    const ref = event.conversation;
    const activityId = event.message.id;
    const key = idempotencyKey(ref.conversation.id, activityId);
    const remaining = context?.getRemainingTimeInMillis?.();
    const leaseMs = options.leaseMs ?? (typeof remaining === 'number' && remaining > 0 ? remaining + 5000 : 15 * 60_000 + 5000);

    const begin = await rt.idempotency.begin(key, leaseMs);
    if (begin.outcome !== 'acquired') {
      const reason = begin.outcome === 'in-progress' ? 'in-progress' : begin.state === 'replied' ? 'already-replied' : 'already-done';
      log.info('worker_duplicate_skipped', { activityId, reason });
      return { status: 'skipped', reason };
    }
    log.info('worker_started', {
      activityId,
      attempt: begin.attempt,
      resumed: event.resumed,
      conversationType: ref.conversation.conversationType,
      requestId: context?.awsRequestId,
    });

    let replied = false;
    const markReplied = async (replyId?: string): Promise<void> => {
      if (replied) return;
      replied = true; // set first: from now on every error is "after the reply"
      try {
        await rt.idempotency.markReplied(key, replyId);
      } catch (err) {
        log.error('worker_mark_replied_failed', { activityId, error: err });
      }
    };
    const post = async (send: () => Promise<{ id?: string }>): Promise<{ id?: string }> => {
      try {
        const result = await send();
        await markReplied(result.id);
        return result;
      } catch (err) {
        if (err instanceof BotConnectorError && err.outcomeUnknown) {
          // The message may have been posted: never risk a second one (at most once).
          log.error('worker_reply_outcome_unknown', { activityId, errorCode: err.code });
          await markReplied();
        }
        throw err;
      }
    };

    try {
      checkTokenBinding(event, rt.config);
      const cipher = new TokenCipher({ kms: rt.kms, keyId: rt.config.kmsKeyArn ?? event.token.keyId });
      const graphToken = await cipher.decrypt(event.token);
      const expiresAt = new Date(event.token.expiresAt);
      const expired = expiresAt.getTime() <= Date.now();
      if (expired) log.warn('worker_token_expired', { activityId, attempt: begin.attempt });
      const graph = new GraphClient({ baseUrl: rt.config.graphBaseUrl, token: graphToken, timeoutMs: options.timeoutMs });

      await fn({
        event,
        message: event.message,
        text: plainText(event.message.text),
        user: { ...ref.user, tenantId: ref.conversation.tenantId ?? event.token.encryptionContext.tenantId },
        conversation: ref,
        graphToken,
        token: { expiresAt, scopes: event.token.scopes.split(/\s+/).filter((s) => s !== ''), expired },
        graph,
        resumed: event.resumed,
        attempt: begin.attempt,
        reply: (a) => post(() => rt.connector.replyToActivity(ref, activityId, toActivity(a))),
        send: (a) => post(() => rt.connector.sendToConversation(ref, toActivity(a))),
        update: (id, a) => rt.connector.updateActivity(ref, id, toActivity(a)),
        typing: async () => {
          try {
            await rt.connector.sendTyping(ref);
          } catch (err) {
            log.warn('worker_typing_failed', { activityId, error: err });
          }
        },
        log,
        context,
      });
    } catch (err) {
      if (replied) {
        // Never rethrow after a reply: a Lambda retry would answer twice.
        log.error('worker_failed_after_reply', { activityId, attempt: begin.attempt, error: err });
        return { status: 'replied', errorAfterReply: true };
      }
      log.error('worker_failed_before_reply', { activityId, attempt: begin.attempt, error: err });
      await rt.idempotency.markFailed(key, begin.owner, errorInfo(err).name).catch((e) => {
        log.error('worker_mark_failed_failed', { activityId, error: e });
      });
      if (options.apology !== false && !cannotApologise(err)) await apologise(rt, event, key, options.apology ?? DEFAULT_APOLOGY);
      throw new WorkerError(activityId, err);
    }

    if (replied) {
      log.info('worker_replied', { activityId, attempt: begin.attempt });
      return { status: 'replied' };
    }
    await rt.idempotency.markDone(key, begin.owner).catch((err) => {
      log.error('worker_mark_done_failed', { activityId, error: err });
    });
    log.info('worker_done_without_reply', { activityId, attempt: begin.attempt });
    return { status: 'done' };
  };
}

/** Sends the one apology of a message (claimed in the idempotency record first; released if sending definitely failed). */
async function apologise(rt: Runtime, event: WorkerEvent, key: string, text: string): Promise<void> {
  const activityId = event.message.id;
  let claimed = false;
  try {
    claimed = await rt.idempotency.claimApology(key);
  } catch (err) {
    log.error('worker_apology_claim_failed', { activityId, error: err });
    return;
  }
  if (!claimed) {
    log.info('worker_apology_already_sent', { activityId });
    return;
  }
  try {
    await rt.connector.replyToActivity(event.conversation, activityId, { type: 'message', text, textFormat: 'plain' });
    log.info('worker_apology_sent', { activityId });
  } catch (err) {
    log.error('worker_apology_failed', { activityId, error: err });
    if (!(err instanceof BotConnectorError && err.outcomeUnknown)) {
      await rt.idempotency.releaseApology(key).catch(() => undefined);
    }
  }
}

export { BotTokenError };
