/**
 * Test kit for workers: run a worker handler in a unit test, with no AWS and no network.
 *
 * ```ts
 * import { defineWorker } from 'cdk-teams-delegated-auth-bot/worker';
 * import { createTestBot } from 'cdk-teams-delegated-auth-bot/testing';
 *
 * const bot = await createTestBot();
 * const handler = defineWorker(async ({ graph, reply }) => {
 *   await reply(`Hello ${(await graph.me()).displayName}`);
 * }, bot.workerOptions);
 * const turn = await bot.send(handler, { from: 'ada', text: 'hello' });
 * // turn.result.status === 'replied'; turn.replies[0].text === 'Hello Ada Lovelace'
 * await bot.close();
 * ```
 *
 * `createTestBot` starts the playground's stand-ins in this process (DynamoDB, KMS, Secrets Manager, the Entra
 * token endpoint, Microsoft Graph over fixtures, a recording Bot Connector) on 127.0.0.1, and builds each message's
 * worker contract event as the receiver does: the test user's Teams activity, the user's Graph token encrypted with the
 * stand-in KMS key under the user's encryption context. The worker runs unchanged: its real KMS decrypt, idempotency
 * records, bot app token, Graph calls and Bot Connector replies. docs/worker-kit.md, "Testing a worker".
 *
 * This file is the test kit's one public entry: the package publishes it as `cdk-teams-delegated-auth-bot/testing`
 * with a single bundled declaration file (assets/testing/index.d.ts).
 */
export { createTestBot } from './test-bot';
export type { RecordedActivity, TestBot, TestBotOptions, TestBotUser, TestMessage, TestTurn } from './test-bot';
export type { Fixtures, FixtureUser } from '../cli/playground/graph';
export type { WorkerEvent } from '../lambda/shared/contract';
export type { WorkerHandler, WorkerResult } from '../kit/types';
