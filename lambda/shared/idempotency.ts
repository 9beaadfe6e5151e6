/**
 * Worker idempotency records: at most one reply per user message, whatever Lambda's retries or Teams' resends do.
 *
 * One item per (conversation, activity) in the conversation table: pk `worker#{conversationId}#{activityId}` (both
 * percent-encoded, shared/keys.ts, so distinct pairs never share a key),
 * sk `worker` (the worker's IAM policy is limited to the leading key `worker#`), with a TTL. The state machine
 * (docs/worker-kit.md has the full table):
 *
 * ```
 *   (none) ──begin──▶ started ──reply accepted──▶ replied            (terminal: later deliveries do nothing)
 *                       │ └──finished without reply──▶ done           (terminal)
 *                       └──error before reply──▶ failed ──begin──▶ started …   (Lambda retry / replay)
 *   started with an expired lease (crash, timeout) ──begin──▶ started (taken over)
 *   started with a live lease ──begin──▶ in-progress (a concurrent duplicate: do nothing)
 * ```
 *
 * `apologized` is claimed (conditional write) before the apology is sent and released if sending definitely
 * failed, so a user sees at most one apology per message however many attempts fail.
 */
import { randomBytes } from 'node:crypto';
// eslint-disable-next-line import/no-extraneous-dependencies
import {
  AttributeValue,
  ConditionalCheckFailedException,
  GetItemCommand,
  UpdateItemCommand,
  type DynamoDBClient,
} from '@aws-sdk/client-dynamodb';
import { compositeKey } from './keys';
import { WORKER_KEY_KIND } from '../../src/private/shared-data';

/** Sort key of worker idempotency items. */
export const WORKER_SK = 'worker';
/** Default lifetime of an idempotency item: Lambda keeps retrying an event for at most 6 hours. */
export const DEFAULT_IDEMPOTENCY_TTL_SECONDS = 24 * 3600;

/** States of an idempotency item. */
export type IdempotencyState = 'started' | 'failed' | 'replied' | 'done';

/** An idempotency item as stored. */
export interface IdempotencyRecord {
  key: string;
  state: IdempotencyState;
  /** Attempts that acquired the item (first delivery, retries, take-overs, replays). */
  attempts: number;
  /** True once an apology was claimed for this message. */
  apologized: boolean;
  /** Epoch ms until which a `started` attempt owns the item. */
  leaseUntil: number;
  /** Activity id of the bot's reply, when known. */
  replyId?: string;
  /** Name of the last error that failed an attempt (no message: it could contain user data). */
  lastError?: string;
  /** Epoch ms of the last change. */
  updatedAt: number;
}

/** What {@link IdempotencyStore.begin} decided. */
export type BeginResult =
  /** This attempt owns the message: do the work. `owner` must be passed to the later calls. */
  | { outcome: 'acquired'; owner: string; attempt: number; apologized: boolean }
  /** The message was already answered (`replied`) or handled (`done`): do nothing. */
  | { outcome: 'completed'; state: 'replied' | 'done' }
  /** Another attempt holds a live lease (a concurrent duplicate delivery): do nothing. */
  | { outcome: 'in-progress'; leaseUntil: number };

/** Options of {@link IdempotencyStore}. */
export interface IdempotencyStoreOptions {
  /** The handler's DynamoDB client. */
  ddb: DynamoDBClient;
  /** The conversation table. */
  tableName: string;
  /** Item lifetime (default 24 h). */
  ttlSeconds?: number;
  /** Clock in milliseconds (tests). */
  now?: () => number;
}

/** The pk of a worker idempotency item: `worker#{conversationId}#{activityId}`, both percent-encoded. */
export function idempotencyKey(conversationId: string, activityId: string): string {
  if (!conversationId || !activityId) throw new TypeError('idempotencyKey: conversationId and activityId are required');
  return compositeKey(WORKER_KEY_KIND, conversationId, activityId);
}

const NAMES = {
  '#state': 'state',
  '#lease': 'leaseUntil',
  '#owner': 'owner',
  '#attempts': 'attempts',
  '#updated': 'updatedAt',
  '#ttl': 'ttl',
  '#apologized': 'apologized',
  '#replyId': 'replyId',
  '#lastError': 'lastError',
};

function pick(names: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const n of names) out[n] = NAMES[n as keyof typeof NAMES];
  return out;
}

function toRecord(key: string, item: Record<string, AttributeValue> | undefined): IdempotencyRecord | undefined {
  if (!item) return undefined;
  return {
    key,
    state: (item.state?.S ?? 'started') as IdempotencyState,
    attempts: Number(item.attempts?.N ?? '0'),
    apologized: item.apologized?.BOOL === true,
    leaseUntil: Number(item.leaseUntil?.N ?? '0'),
    replyId: item.replyId?.S,
    lastError: item.lastError?.S,
    updatedAt: Number(item.updatedAt?.N ?? '0'),
  };
}

function isConditionFailed(err: unknown): boolean {
  return err instanceof ConditionalCheckFailedException || (err as { name?: string } | undefined)?.name === 'ConditionalCheckFailedException';
}

/** Reads and advances worker idempotency items (one DynamoDB call per step, all conditional). */
export class IdempotencyStore {
  private readonly ddb: DynamoDBClient;
  private readonly tableName: string;
  private readonly ttlSeconds: number;
  private readonly now: () => number;

  constructor(opts: IdempotencyStoreOptions) {
    this.ddb = opts.ddb;
    this.tableName = opts.tableName;
    this.ttlSeconds = opts.ttlSeconds ?? DEFAULT_IDEMPOTENCY_TTL_SECONDS;
    this.now = opts.now ?? Date.now;
  }

  private keyAttrs(key: string): Record<string, AttributeValue> {
    return { pk: { S: key }, sk: { S: WORKER_SK } };
  }

  /** Reads an item (consistent read). */
  async get(key: string): Promise<IdempotencyRecord | undefined> {
    const res = await this.ddb.send(new GetItemCommand({ TableName: this.tableName, Key: this.keyAttrs(key), ConsistentRead: true }));
    return toRecord(key, res.Item);
  }

  /**
   * Starts an attempt: one conditional update that succeeds when the item is new, `failed`, or `started` with an
   * expired lease or by this very call (`owner` is drawn once per call, so when the SDK retries the update after a
   * timeout whose request had in fact been applied, the retry finds its own record and acquires instead of reporting
   * `in-progress`, which would leave the message unanswered). `leaseMs` should cover the invocation's remaining time, so a crashed attempt's lease has expired by
   * the time Lambda retries (at least a minute later).
   */
  async begin(key: string, leaseMs: number): Promise<BeginResult> {
    const now = this.now();
    const owner = randomBytes(12).toString('base64url');
    try {
      const res = await this.ddb.send(new UpdateItemCommand({
        TableName: this.tableName,
        Key: this.keyAttrs(key),
        ConditionExpression: 'attribute_not_exists(pk) OR #state = :failed OR (#state = :started AND (#lease < :now OR #owner = :owner))',
        UpdateExpression: 'SET #state = :started, #lease = :lease, #owner = :owner, #updated = :now, #ttl = :ttl ADD #attempts :one',
        ExpressionAttributeNames: pick(['#state', '#lease', '#owner', '#updated', '#ttl', '#attempts']),
        ExpressionAttributeValues: {
          ':failed': { S: 'failed' },
          ':started': { S: 'started' },
          ':now': { N: String(now) },
          ':lease': { N: String(now + Math.max(1000, leaseMs)) },
          ':owner': { S: owner },
          ':ttl': { N: String(Math.floor(now / 1000) + this.ttlSeconds) },
          ':one': { N: '1' },
        },
        ReturnValues: 'ALL_NEW',
        ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
      }));
      const rec = toRecord(key, res.Attributes)!;
      return { outcome: 'acquired', owner, attempt: rec.attempts, apologized: rec.apologized };
    } catch (err) {
      if (!isConditionFailed(err)) throw err;
      const oldItem = (err as { Item?: Record<string, AttributeValue> }).Item;
      const rec = toRecord(key, oldItem) ?? (await this.get(key));
      if (!rec) return this.begin(key, leaseMs); // deleted (TTL) in between: try again
      if (rec.state === 'replied' || rec.state === 'done') return { outcome: 'completed', state: rec.state };
      return { outcome: 'in-progress', leaseUntil: rec.leaseUntil };
    }
  }

  /**
   * Records that the reply was accepted. Unconditional: `replied` is terminal whoever holds the lease, so no later
   * attempt replies again. `replyId` is the activity id the Bot Connector returned.
   */
  async markReplied(key: string, replyId?: string): Promise<void> {
    const values: Record<string, AttributeValue> = {
      ':replied': { S: 'replied' },
      ':now': { N: String(this.now()) },
      ':zero': { N: '0' },
      ':ttl': { N: String(Math.floor(this.now() / 1000) + this.ttlSeconds) },
    };
    let expr = 'SET #state = :replied, #lease = :zero, #updated = :now, #ttl = :ttl';
    const names = ['#state', '#lease', '#updated', '#ttl'];
    if (replyId) {
      expr += ', #replyId = :replyId';
      values[':replyId'] = { S: replyId };
      names.push('#replyId');
    }
    await this.ddb.send(new UpdateItemCommand({
      TableName: this.tableName,
      Key: this.keyAttrs(key),
      UpdateExpression: expr,
      ExpressionAttributeNames: pick(names),
      ExpressionAttributeValues: values,
    }));
  }

  /** Records that the attempt finished without replying (the handler chose not to). Never downgrades `replied`. */
  async markDone(key: string, owner: string): Promise<void> {
    await this.transition(key, owner, 'done');
  }

  /**
   * Records that the attempt failed before replying and releases the lease, so a retry (or a replay) can start at once.
   * `errorName` is the error's class name only. Never downgrades `replied`.
   */
  async markFailed(key: string, owner: string, errorName: string): Promise<void> {
    await this.transition(key, owner, 'failed', errorName.replace(/[^A-Za-z0-9_.-]/g, '').slice(0, 64) || 'Error');
  }

  private async transition(key: string, owner: string, state: 'done' | 'failed', lastError?: string): Promise<void> {
    const values: Record<string, AttributeValue> = {
      ':state': { S: state },
      ':started': { S: 'started' },
      ':owner': { S: owner },
      ':now': { N: String(this.now()) },
      ':zero': { N: '0' },
    };
    let expr = 'SET #state = :state, #lease = :zero, #updated = :now';
    const names = ['#state', '#lease', '#updated', '#owner'];
    if (lastError) {
      expr += ', #lastError = :lastError';
      values[':lastError'] = { S: lastError };
      names.push('#lastError');
    }
    try {
      await this.ddb.send(new UpdateItemCommand({
        TableName: this.tableName,
        Key: this.keyAttrs(key),
        ConditionExpression: '#state = :started AND #owner = :owner',
        UpdateExpression: expr,
        ExpressionAttributeNames: pick(names),
        ExpressionAttributeValues: values,
      }));
    } catch (err) {
      if (!isConditionFailed(err)) throw err;
      // Another attempt took over, or the message was answered meanwhile: nothing to record.
    }
  }

  /**
   * Claims the one apology of this message: true if this caller should send it (no apology claimed before and no
   * reply recorded). Call {@link releaseApology} if sending it definitely failed.
   */
  async claimApology(key: string): Promise<boolean> {
    try {
      await this.ddb.send(new UpdateItemCommand({
        TableName: this.tableName,
        Key: this.keyAttrs(key),
        ConditionExpression: 'attribute_exists(pk) AND (attribute_not_exists(#apologized) OR #apologized = :false) AND #state <> :replied',
        UpdateExpression: 'SET #apologized = :true, #updated = :now',
        ExpressionAttributeNames: pick(['#apologized', '#state', '#updated']),
        ExpressionAttributeValues: {
          ':true': { BOOL: true },
          ':false': { BOOL: false },
          ':replied': { S: 'replied' },
          ':now': { N: String(this.now()) },
        },
      }));
      return true;
    } catch (err) {
      if (isConditionFailed(err)) return false;
      throw err;
    }
  }

  /** Gives the apology back after sending it definitely failed (so a later attempt may apologise). */
  async releaseApology(key: string): Promise<void> {
    await this.ddb.send(new UpdateItemCommand({
      TableName: this.tableName,
      Key: this.keyAttrs(key),
      ConditionExpression: 'attribute_exists(pk)',
      UpdateExpression: 'SET #apologized = :false, #updated = :now',
      ExpressionAttributeNames: pick(['#apologized', '#updated']),
      ExpressionAttributeValues: { ':false': { BOOL: false }, ':now': { N: String(this.now()) } },
    })).catch((err) => {
      if (!isConditionFailed(err)) throw err;
    });
  }
}
