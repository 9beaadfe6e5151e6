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
 * Clients, configuration and the bot's app token are created or fetched once per container (setup.ts); the client
 * secret is read by the shared reader (lambda/shared/bot-secret.ts: cached for one hour, failures not cached,
 * placeholders refused). Each event runs the phases of lifecycle.ts: validate, claim, decrypt, run, finish.
 *
 * This file is the kit's one public entry: the package publishes it as `cdk-teams-delegated-auth-bot/worker` with a
 * single bundled declaration file (assets/kit/index.d.ts).
 */
export { defineWorker } from './define-worker';
export { GraphClient, GraphError, GraphUrlError } from './graph';
export { plainText, quote } from './text';
export { TokenBindingError, WorkerError } from './errors';
export { DEFAULT_APOLOGY } from './types';
export type {
  LambdaContextLike,
  OutgoingActivity,
  WorkerArgs,
  WorkerClients,
  WorkerFunction,
  WorkerHandler,
  WorkerOptions,
  WorkerResult,
  WorkerUser,
} from './types';
export type { GraphClientOptions, GraphRequestOptions, GraphUser } from './graph';
export { BotConnectorError, BotTokenError } from '../lambda/shared/bot-connector';
export { ContractError, parseWorkerEvent } from '../lambda/shared/contract';
export type { ConversationReference, WorkerEvent, WorkerMessage, WorkerToken, WorkerAttachment } from '../lambda/shared/contract';
