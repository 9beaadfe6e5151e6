/**
 * The public types of the worker kit: what a worker function gets, what it may send, what the handler returns and
 * the options of {@link defineWorker}.
 */
// Handler dependencies are devDependencies (esbuild inlines them into the bundles).
// eslint-disable-next-line import/no-extraneous-dependencies
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
// eslint-disable-next-line import/no-extraneous-dependencies
import type { KMSClient } from '@aws-sdk/client-kms';
// eslint-disable-next-line import/no-extraneous-dependencies
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { GraphClient } from './graph';
import type { ConversationReference, WorkerEvent, WorkerMessage } from '../lambda/shared/contract';
import type { log } from '../lambda/shared/log';

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
  /**
   * Downloads an attachment from a Bot Connector host of the allow-list (e.g. an inline image's `contentUrl`) with the
   * bot's token, at most `maxBytes`; any other host is refused before a token is sent (`ServiceUrlNotAllowed`).
   */
  downloadAttachment(url: string, maxBytes: number): Promise<{ bytes: Buffer; contentType?: string }>;
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

/** Default apology sent once when a message fails before it was answered. */
export const DEFAULT_APOLOGY = 'Sorry, something went wrong while I was working on your message. Please try again later.';
