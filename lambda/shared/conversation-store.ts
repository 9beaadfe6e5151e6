/**
 * The conversation table (docs/design.md, "Data model"): partition key `pk` (S), sort key `sk` (S), TTL attribute
 * `ttl` (epoch seconds) on every item this module writes.
 *
 * | item | `pk` | `sk` | other attributes |
 * |---|---|---|---|
 * | pending message | `pending#{tid}#{oid}` | `msg#{receivedAt ms, 13 digits}#{activityId}` | `event` (JSON of the pending event), `ttl` |
 * | activity dedupe | `activity#{conversationId}#{activityId}` | `activity` | `ttl` (same transaction as the message) |
 * | sign-in prompt marker | `pending#{tid}#{oid}` | `prompt` | `expiresAt` (the card is live until; absent once released), `kept` (messages kept for this sign-in), `fullNotified`, `ttl` (as long as a kept message); `claimedBy`, `notifiedBy` (the owner of the last claim and of the cap notice, see below) |
 * | used sign-in state | `pending#{tid}#{oid}` | `state#{id}` (the random id of a self-authenticating state) | `expiresAt`, `ttl` (the state's expiry) |
 * | generic claim | `{key}` (e.g. `sso#{value.id}`) | `claim` | `expiresAt`, `ttl`, `owner` |
 *
 * Key components that come from Teams (activity and conversation ids) are percent-encoded (`encodeURIComponent`), so
 * a `#` inside an id cannot make two keys collide; tenant and object ids are validated and lower-cased.
 * The dedupe record is scoped by conversation: Teams activity ids are unique within a conversation only.
 *
 * TTL deletion is lazy (DynamoDB may keep an expired item for a while), so every read that matters also checks the
 * expiry: expired pending messages are not listed, expired states and markers do not count.
 *
 * The handlers' client times out and retries (lambda/shared/aws-sdk-options.ts), so a conditional write may be sent
 * twice after DynamoDB applied the first one. The transactions are idempotent (the SDK reuses their
 * `ClientRequestToken`); the single conditional writes that pick one caller (a claim, the prompt claim, the cap notice)
 * store a random owner drawn per call (`owner`, `claimedBy`, `notifiedBy`) and accept it in their condition, so the
 * retry is still that caller's.
 *
 * No SDK client is created here: the handler passes its `DynamoDBClient` in.
 */
/* eslint-disable import/no-extraneous-dependencies */ // handler deps are devDependencies (bundled by esbuild)
import { randomBytes } from 'node:crypto';
import {
  type AttributeValue,
  DeleteItemCommand,
  type DynamoDBClient,
  PutItemCommand,
  QueryCommand,
  type TransactWriteItem,
  TransactWriteItemsCommand,
  UpdateItemCommand,
  type Update,
} from '@aws-sdk/client-dynamodb';
/* eslint-enable import/no-extraneous-dependencies */
import type { PendingEvent } from './contract';
import { compositeKey } from './keys';
import { log } from './log';
import { SignedOutError, type UserKey, normalizeUserKey } from './token-store';

/** A waiting message. */
export interface PendingMessage {
  /** The item's sort key (`msg#…`): pass it to {@link ConversationStore.deletePendingMessage}. */
  key: string;
  event: PendingEvent;
}

/** Options of {@link ConversationStore}. */
export interface ConversationStoreOptions {
  ddb: DynamoDBClient;
  tableName: string;
  /** Seconds a pending message (and its dedupe record) is kept (default 86400). */
  pendingTtlSeconds?: number;
  /** Seconds a sign-in state and the prompt marker are valid (default 600). */
  signinTtlSeconds?: number;
  /** Clock in epoch **milliseconds** (default `Date.now`). */
  now?: () => number;
  /** Query page size for {@link ConversationStore.listPendingMessages} (default: DynamoDB's 1 MB pages). */
  queryPageSize?: number;
  /** Attempts of the pending-message transaction when DynamoDB reports a TransactionConflict (default 6). */
  maxTransactionAttempts?: number;
  /** Messages kept per user while they sign in ({@link ConversationStore.keepForSignIn}; default 25). */
  maxPendingMessages?: number;
}

/** What {@link ConversationStore.keepForSignIn} did. */
export type KeepOutcome =
  /** Kept, and this caller claimed the prompt: post the sign-in card. */
  | 'prompt'
  /** Kept; a card is live already. */
  | 'kept'
  /** A Teams retry of an activity already kept: nothing written. */
  | 'duplicate'
  /** Not kept: the user has `maxPendingMessages` waiting. `notify` is true for the one caller that tells them. */
  | { full: true; notify: boolean; prompt: boolean };

/** Default lifetime of a pending message: 24 hours. */
export const DEFAULT_PENDING_TTL_SECONDS = 86400;
/** Default lifetime of a sign-in state: 10 minutes. */
export const DEFAULT_SIGNIN_TTL_SECONDS = 600;
/** Default number of messages kept per user while they sign in (docs/configuration.md, `maxPendingMessages`). */
export const DEFAULT_MAX_PENDING_MESSAGES = 25;

/**
 * The syntax of a sign-in `state` (the one rule: the callback refuses anything else before any I/O): base64url, 22
 * (128 bits) to 128 characters. States are issued as 43 characters (256 random bits).
 */
export const SIGN_IN_STATE_PATTERN = /^[A-Za-z0-9_-]{22,128}$/;
const MAX_KEY_LENGTH = 1024;
/** DynamoDB's limit of a partition key (bytes; the keys here are ASCII once percent-encoded). */
const MAX_PARTITION_KEY_LENGTH = 2048;
/** Items per `TransactWriteItems` (DynamoDB's limit). */
const MAX_TRANSACTION_ITEMS = 100;
/** Items above this size are refused before DynamoDB's 400 KB item limit is reached. */
const MAX_EVENT_BYTES = 350 * 1024;

function isConditionalCheckFailed(err: unknown): boolean {
  return (err as { name?: string } | undefined)?.name === 'ConditionalCheckFailedException';
}

function checkId(name: string, value: unknown, max = MAX_KEY_LENGTH): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > max || /\p{Cc}/u.test(value)) {
    throw new TypeError(`${name} must be a non-empty string without control characters (at most ${max})`);
  }
  return value;
}

function positiveInt(name: string, value: number): number {
  if (!Number.isInteger(value) || value <= 0) throw new TypeError(`ConversationStore: ${name} must be a positive integer`);
  return value;
}

/** Partition key of a user's pending messages and prompt marker: `pending#{tid}#{oid}`. */
export function pendingKey(user: UserKey): string {
  const u = normalizeUserKey(user);
  return `pending#${u.tenantId}#${u.aadObjectId}`;
}

/** Sort key of the marker of a used sign-in state, in the user's partition (read by the sign-in's one Query). */
export function usedStateKey(stateId: string): string {
  if (typeof stateId !== 'string' || !SIGN_IN_STATE_PATTERN.test(stateId)) throw new TypeError('stateId must be base64url');
  return `state#${stateId}`;
}

/** Partition key of the dedupe record of an activity: `activity#{conversationId}#{activityId}` (percent-encoded). */
export function activityKey(conversationId: string, activityId: string): string {
  return compositeKey('activity', checkId('conversationId', conversationId), checkId('activityId', activityId));
}

/** Sort key of a pending message: `msg#{13-digit ms}#{activityId}` (percent-encoded). */
export function pendingMessageKey(receivedAtMs: number, activityId: string): string {
  if (!Number.isInteger(receivedAtMs) || receivedAtMs < 0 || receivedAtMs > 9_999_999_999_999) {
    throw new RangeError('receivedAtMs must be an integer epoch millisecond value of at most 13 digits');
  }
  return `msg#${String(receivedAtMs).padStart(13, '0')}#${encodeURIComponent(checkId('activityId', activityId))}`;
}

/** Pending messages, the sign-in prompt marker, single-use sign-in states and generic claims. */
export class ConversationStore {
  private readonly ddb: DynamoDBClient;
  private readonly tableName: string;
  private readonly pendingTtlSeconds: number;
  private readonly signinTtlSeconds: number;
  private readonly now: () => number;
  private readonly queryPageSize?: number;
  private readonly maxTransactionAttempts: number;
  private readonly maxPendingMessages: number;

  constructor(opts: ConversationStoreOptions) {
    if (!opts.tableName) throw new TypeError('ConversationStore: tableName is required');
    this.ddb = opts.ddb;
    this.tableName = opts.tableName;
    this.pendingTtlSeconds = positiveInt('pendingTtlSeconds', opts.pendingTtlSeconds ?? DEFAULT_PENDING_TTL_SECONDS);
    this.signinTtlSeconds = positiveInt('signinTtlSeconds', opts.signinTtlSeconds ?? DEFAULT_SIGNIN_TTL_SECONDS);
    this.now = opts.now ?? Date.now;
    if (opts.queryPageSize !== undefined) this.queryPageSize = positiveInt('queryPageSize', opts.queryPageSize);
    this.maxTransactionAttempts = positiveInt('maxTransactionAttempts', opts.maxTransactionAttempts ?? 6);
    this.maxPendingMessages = positiveInt('maxPendingMessages', opts.maxPendingMessages ?? DEFAULT_MAX_PENDING_MESSAGES);
  }

  private nowSeconds(): number {
    return Math.floor(this.now() / 1000);
  }

  /**
   * Keeps a message for the user (after a failed worker invoke or refresh). One `TransactWriteItems`: the dedupe record
   * `activity#{conversationId}#{activityId}` (condition `attribute_not_exists(pk)`) and the message under
   * `msg#{receivedAt ms}#{activityId}` (`receivedAt` of the event; the store's clock if it does not parse), both with
   * `ttl = now + pendingTtlSeconds`. Returns `'duplicate'` when the activity was already stored (a Teams retry):
   * nothing is written then. A TransactionConflict (a concurrent write of the same activity) is retried with backoff.
   */
  async addPendingMessage(user: UserKey, activityId: string, event: PendingEvent): Promise<'stored' | 'duplicate'> {
    const cancelled = await this.transactOrCancel(this.messageItems(user, activityId, event));
    if (!cancelled) return 'stored';
    if (cancelled.codes[0] === 'ConditionalCheckFailed') return 'duplicate';
    throw cancelled.error;
  }

  /**
   * Keeps a message of a user who has no usable token, in one `TransactWriteItems` with the dedupe record and the
   * message of {@link addPendingMessage} and an update of the user's prompt marker that counts the message (`kept`,
   * at most `maxPendingMessages`) and, when no card is live, claims the prompt (`expiresAt = now + signinTtlSeconds`).
   * First contact is therefore this one call. When a card is live the marker update's condition fails and a second
   * transaction keeps the message without claiming. When `maxPendingMessages` are waiting the message is not kept:
   * one conditional write (`fullNotified`) picks the one caller that tells the user, and, if no card is live, the
   * prompt is claimed for this caller (it posts the card). The count is reset when a sign-in completes (the marker is
   * deleted); releasing the prompt keeps it.
   */
  async keepForSignIn(user: UserKey, activityId: string, event: PendingEvent): Promise<KeepOutcome> {
    const message = this.messageItems(user, activityId, event);
    for (let attempt = 0; attempt < 3; attempt++) {
      const claim = attempt % 2 === 0;
      const cancelled = await this.transactOrCancel([...message, this.countUpdate(user, claim)]);
      if (!cancelled) return claim ? 'prompt' : 'kept';
      if (cancelled.codes[0] === 'ConditionalCheckFailed') return 'duplicate';
      if (cancelled.codes[2] !== 'ConditionalCheckFailed') throw cancelled.error;
      const marker = cancelled.items[2];
      if (Number(marker?.kept?.N ?? 0) >= this.maxPendingMessages) return this.full(user);
      // The prompt was live (claim) or was released meanwhile (no claim): try the other way.
    }
    throw new Error('keepForSignIn: the prompt marker kept changing');
  }

  /** The dedupe record and the message of a pending message (two `Put`s), validated and sized. */
  private messageItems(user: UserKey, activityId: string, event: PendingEvent): TransactWriteItem[] {
    const pk = pendingKey(user);
    const dedupeKey = activityKey(event?.conversation?.conversation?.id, activityId);
    const parsed = Date.parse(event.receivedAt);
    const receivedAtMs = Number.isFinite(parsed) && parsed > 0 ? parsed : Math.floor(this.now());
    const sk = pendingMessageKey(receivedAtMs, activityId);
    const json = JSON.stringify(event);
    if (Buffer.byteLength(json) > MAX_EVENT_BYTES) {
      throw new RangeError(`pending event of ${Buffer.byteLength(json)} bytes exceeds ${MAX_EVENT_BYTES}`);
    }
    const ttl = { N: String(this.nowSeconds() + this.pendingTtlSeconds) };
    return [
      { Put: { TableName: this.tableName, Item: { pk: { S: dedupeKey }, sk: { S: 'activity' }, ttl }, ConditionExpression: 'attribute_not_exists(pk)' } },
      { Put: { TableName: this.tableName, Item: { pk: { S: pk }, sk: { S: sk }, v: { N: '1' }, event: { S: json }, ttl } } },
    ];
  }

  /** The prompt marker's update that counts one more kept message (and claims the prompt if `claim`). */
  private countUpdate(user: UserKey, claim: boolean): TransactWriteItem {
    const nowS = this.nowSeconds();
    const values: Record<string, AttributeValue> = {
      ':now': { N: String(nowS) },
      ':one': { N: '1' },
      ':max': { N: String(this.maxPendingMessages) },
      ':ttl': { N: String(nowS + Math.max(this.pendingTtlSeconds, this.signinTtlSeconds)) },
    };
    const live = 'attribute_exists(expiresAt) AND expiresAt >= :now';
    let set = '#ttl = :ttl';
    if (claim) {
      values[':exp'] = { N: String(nowS + this.signinTtlSeconds) };
      set += ', expiresAt = :exp';
    }
    return {
      Update: {
        TableName: this.tableName,
        Key: { pk: { S: pendingKey(user) }, sk: { S: 'prompt' } },
        UpdateExpression: `SET ${set} ADD kept :one`,
        ConditionExpression: `(attribute_not_exists(kept) OR kept < :max) AND ${claim ? `NOT (${live})` : live}`,
        ExpressionAttributeNames: { '#ttl': 'ttl' },
        ExpressionAttributeValues: values,
        ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
      },
    };
  }

  /** The user has `maxPendingMessages` waiting: pick the one caller that tells them, and claim a card if none is live. */
  private async full(user: UserKey): Promise<KeepOutcome> {
    let notify = true;
    // Drawn once per call, as in conditionalClaim: the SDK's retry of an update that was applied but whose response was
    // lost finds its own mark and still tells the user.
    const owner = newOwner();
    try {
      await this.ddb.send(new UpdateItemCommand({
        TableName: this.tableName,
        Key: { pk: { S: pendingKey(user) }, sk: { S: 'prompt' } },
        UpdateExpression: 'SET fullNotified = :true, #by = :owner',
        ConditionExpression: 'attribute_exists(pk) AND (attribute_not_exists(fullNotified) OR #by = :owner)',
        ExpressionAttributeNames: { '#by': 'notifiedBy' },
        ExpressionAttributeValues: { ':true': { BOOL: true }, ':owner': { S: owner } },
      }));
    } catch (err) {
      if (!isConditionalCheckFailed(err)) throw err;
      notify = false;
    }
    const prompt = await this.claimSignInPrompt(user);
    log.info('pending_full', { max: this.maxPendingMessages, notify, prompt });
    return { full: true, notify, prompt };
  }

  /**
   * One `TransactWriteItems`, retried with backoff while DynamoDB reports a TransactionConflict. Returns undefined when
   * it committed, or the cancellation (codes and, for `ReturnValuesOnConditionCheckFailure`, the items per entry).
   * Other errors propagate.
   */
  private async transactOrCancel(items: TransactWriteItem[]):
  Promise<undefined | { codes: string[]; items: Array<Record<string, AttributeValue> | undefined>; error: unknown }> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.ddb.send(new TransactWriteItemsCommand({ TransactItems: items }));
        return undefined;
      } catch (err) {
        const e = err as { name?: string; CancellationReasons?: Array<{ Code?: string; Item?: Record<string, AttributeValue> }> };
        if (e.name !== 'TransactionCanceledException') throw err;
        const codes = (e.CancellationReasons ?? []).map((r) => r.Code ?? 'None');
        if (codes.includes('TransactionConflict') && !codes.includes('ConditionalCheckFailed') && attempt < this.maxTransactionAttempts) {
          await new Promise((r) => setTimeout(r, 15 * 2 ** attempt + Math.random() * 25));
          continue;
        }
        if (!codes.includes('ConditionalCheckFailed')) log.warn('pending_message_transaction_cancelled', { reasons: codes.join(','), attempt });
        return { codes, items: (e.CancellationReasons ?? []).map((r) => r.Item), error: err };
      }
    }
  }

  /**
   * Every waiting message of the user that has not expired, in arrival order (`sk` ascending), reading all Query
   * pages with strong consistency. Unreadable items are skipped (logged by key).
   */
  async listPendingMessages(user: UserKey): Promise<PendingMessage[]> {
    return (await this.queryUser(user, 'msg#')).pending;
  }

  /**
   * What a sign-in needs to know, in one strongly consistent Query of the user's partition: the waiting messages (as
   * {@link listPendingMessages}) and whether the sign-in state `stateId` was used already (its marker is in the same
   * partition, written by {@link commitSignIn}).
   */
  async readForSignIn(user: UserKey, stateId: string): Promise<{ pending: PendingMessage[]; stateUsed: boolean }> {
    const { pending, keys } = await this.queryUser(user, undefined);
    return { pending, stateUsed: keys.has(usedStateKey(stateId)) };
  }

  private async queryUser(user: UserKey, prefix: string | undefined): Promise<{ pending: PendingMessage[]; keys: Set<string> }> {
    const pk = pendingKey(user);
    const nowS = this.nowSeconds();
    const pending: PendingMessage[] = [];
    const keys = new Set<string>();
    let startKey: Record<string, AttributeValue> | undefined;
    do {
      const page = await this.ddb.send(new QueryCommand({
        TableName: this.tableName,
        KeyConditionExpression: prefix ? 'pk = :pk AND begins_with(sk, :prefix)' : 'pk = :pk',
        ExpressionAttributeValues: prefix ? { ':pk': { S: pk }, ':prefix': { S: prefix } } : { ':pk': { S: pk } },
        ScanIndexForward: true,
        ConsistentRead: true,
        ExclusiveStartKey: startKey,
        Limit: this.queryPageSize,
      }));
      for (const item of page.Items ?? []) {
        const key = item.sk?.S;
        if (!key) continue;
        const ttl = Number(item.ttl?.N);
        if (Number.isFinite(ttl) && ttl <= nowS) continue; // expired, not yet removed by TTL
        keys.add(key);
        if (!key.startsWith('msg#')) continue;
        try {
          pending.push({ key, event: JSON.parse(item.event?.S ?? '') as PendingEvent });
        } catch {
          log.warn('pending_message_unreadable', { key });
        }
      }
      startKey = page.LastEvaluatedKey;
    } while (startKey);
    return { pending, keys };
  }

  /** Deletes one pending message (after its worker invocation succeeded). Deleting a missing message is not an error. */
  async deletePendingMessage(user: UserKey, key: string): Promise<void> {
    if (typeof key !== 'string' || !key.startsWith('msg#') || key.length > MAX_KEY_LENGTH) {
      throw new TypeError('deletePendingMessage: key must be a pending message key (msg#…)');
    }
    await this.ddb.send(new DeleteItemCommand({
      TableName: this.tableName,
      Key: { pk: { S: pendingKey(user) }, sk: { S: key } },
    }));
  }

  /**
   * Claims the user's sign-in prompt for `signinTtlSeconds`: true if no card was live (the caller posts the sign-in
   * card), false while another card is live. Conditional update of the marker
   * (`attribute_not_exists(expiresAt) OR expiresAt < now`) that keeps its count of kept messages.
   */
  async claimSignInPrompt(user: UserKey): Promise<boolean> {
    const nowS = this.nowSeconds();
    // Drawn once per call: the SDK's retry of a claim that was applied but whose response was lost is still this
    // caller's (otherwise nobody would post the card while the marker stays claimed).
    const owner = newOwner();
    try {
      await this.ddb.send(new UpdateItemCommand({
        TableName: this.tableName,
        Key: { pk: { S: pendingKey(user) }, sk: { S: 'prompt' } },
        UpdateExpression: 'SET expiresAt = :exp, #ttl = if_not_exists(#ttl, :exp), #by = :owner',
        ConditionExpression: 'attribute_not_exists(expiresAt) OR expiresAt < :now OR #by = :owner',
        ExpressionAttributeNames: { '#ttl': 'ttl', '#by': 'claimedBy' },
        ExpressionAttributeValues: { ':now': { N: String(nowS) }, ':exp': { N: String(nowS + this.signinTtlSeconds) }, ':owner': { S: owner } },
      }));
      return true;
    } catch (err) {
      if (isConditionalCheckFailed(err)) return false;
      throw err;
    }
  }

  /**
   * Releases the prompt (sign-in failed, card not posted, sign out): the next message gets a new card. The count of
   * kept messages stays (they are still waiting); a completed sign-in deletes the whole marker.
   */
  async releaseSignInPrompt(user: UserKey): Promise<void> {
    await this.ddb.send(new UpdateItemCommand({
      TableName: this.tableName,
      Key: { pk: { S: pendingKey(user) }, sk: { S: 'prompt' } },
      UpdateExpression: 'REMOVE expiresAt',
      ConditionExpression: 'attribute_exists(pk)',
    })).catch((err) => {
      if (!isConditionalCheckFailed(err)) throw err;
    });
  }

  /** Deletes the prompt marker with its count (a sign-in completed: what was kept has been handed over). */
  async endSignInPrompt(user: UserKey): Promise<void> {
    await this.ddb.send(new DeleteItemCommand({
      TableName: this.tableName,
      Key: { pk: { S: pendingKey(user) }, sk: { S: 'prompt' } },
    }));
  }

  /**
   * Completes a sign-in in one `TransactWriteItems`: the caller's token write (`tokenWrite`, from
   * `TokenStore.prepareSignIn`), the single-use marker of the sign-in state (`pending#{tid}#{oid}` / `state#{stateId}`, condition
   * `attribute_not_exists(pk)`, kept until the state expires) when `state` is given, the release of the prompt marker,
   * and the deletion of the pending messages in `released` (those handed to the worker). Pending messages beyond
   * what one transaction holds are deleted afterwards, one more `TransactWriteItems` per 100. Returns `'state_used'`
   * (nothing written) when the state was already used; a TransactionConflict is retried with backoff; other errors
   * propagate (nothing written).
   */
  async commitSignIn(p: {
    user: UserKey;
    tokenWrite: Update;
    state?: { id: string; expiresAt: number };
    released: readonly string[];
  }): Promise<'committed' | 'state_used'> {
    const pk = pendingKey(p.user);
    const items: TransactWriteItem[] = [{ Update: p.tokenWrite }];
    if (p.state) {
      const ttl = { N: String(Math.floor(p.state.expiresAt)) };
      items.push({
        Put: {
          TableName: this.tableName,
          Item: { pk: { S: pk }, sk: { S: usedStateKey(p.state.id) }, expiresAt: ttl, ttl },
          ConditionExpression: 'attribute_not_exists(pk)',
        },
      });
    }
    items.push({ Delete: { TableName: this.tableName, Key: { pk: { S: pk }, sk: { S: 'prompt' } } } });
    const deletes = p.released.map((key): TransactWriteItem => {
      if (typeof key !== 'string' || !key.startsWith('msg#') || key.length > MAX_KEY_LENGTH) throw new TypeError('commitSignIn: released keys are pending message keys');
      return { Delete: { TableName: this.tableName, Key: { pk: { S: pk }, sk: { S: key } } } };
    });
    const first = MAX_TRANSACTION_ITEMS - items.length;
    try {
      await this.transact([...items, ...deletes.slice(0, first)]);
    } catch (err) {
      const codes = ((err as { CancellationReasons?: Array<{ Code?: string }> }).CancellationReasons ?? []).map((r) => r.Code);
      if ((err as { name?: string }).name === 'TransactionCanceledException' && p.state && codes[1] === 'ConditionalCheckFailed') return 'state_used';
      // The token write's own condition (the sign-out generation): the user signed out meanwhile.
      if ((err as { name?: string }).name === 'TransactionCanceledException' && codes[0] === 'ConditionalCheckFailed') throw new SignedOutError();
      throw err;
    }
    for (let i = first; i < deletes.length; i += MAX_TRANSACTION_ITEMS) {
      try {
        await this.transact(deletes.slice(i, i + MAX_TRANSACTION_ITEMS));
      } catch (err) {
        // The sign-in is stored; these messages were handed over already: a second resume is absorbed by the worker's
        // idempotency record. Logged, not thrown.
        log.warn('released_delete_failed', { reason: (err as { name?: string }).name ?? 'Error', count: deletes.length - i });
        break;
      }
    }
    return 'committed';
  }

  /** One `TransactWriteItems`, retried with backoff while DynamoDB reports a TransactionConflict. */
  private async transact(items: TransactWriteItem[]): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.ddb.send(new TransactWriteItemsCommand({ TransactItems: items }));
        return;
      } catch (err) {
        const codes = ((err as { CancellationReasons?: Array<{ Code?: string }> }).CancellationReasons ?? []).map((r) => r.Code);
        const conflict = (err as { name?: string }).name === 'TransactionCanceledException' && codes.includes('TransactionConflict')
          && !codes.includes('ConditionalCheckFailed');
        if (!conflict || attempt >= this.maxTransactionAttempts) throw err;
        await new Promise((r) => setTimeout(r, 15 * 2 ** attempt + Math.random() * 25));
      }
    }
  }

  /**
   * Generic claim: conditional put of `{pk: key, sk: 'claim'}` that succeeds if no live claim exists
   * (`attribute_not_exists(pk) OR expiresAt < now`, or the claim is this call's own, written by a request the SDK
   * retried), valid for `ttlSeconds`. True for the one caller that claimed it.
   * SSO uses `sso#{value.id}`; the receiver `signout#{conversationId}#{activityId}`.
   */
  async claim(key: string, ttlSeconds: number): Promise<boolean> {
    checkId('key', key, MAX_PARTITION_KEY_LENGTH);
    return this.conditionalClaim(key, 'claim', positiveInt('ttlSeconds', ttlSeconds));
  }

  /** Deletes a claim made with {@link claim} (e.g. to let a retry through after a failure). */
  async releaseClaim(key: string): Promise<void> {
    checkId('key', key, MAX_PARTITION_KEY_LENGTH);
    await this.ddb.send(new DeleteItemCommand({ TableName: this.tableName, Key: { pk: { S: key }, sk: { S: 'claim' } } }));
  }

  private async conditionalClaim(pk: string, sk: string, ttlSeconds: number): Promise<boolean> {
    const nowS = this.nowSeconds();
    const expiresAt = nowS + ttlSeconds;
    // Drawn once per call: when the SDK retries the put after a timeout whose request had been applied, the retry
    // finds its own claim and succeeds (otherwise a sign out, say, would be taken for a duplicate and not done).
    const owner = newOwner();
    try {
      await this.ddb.send(new PutItemCommand({
        TableName: this.tableName,
        Item: { pk: { S: pk }, sk: { S: sk }, expiresAt: { N: String(expiresAt) }, ttl: { N: String(expiresAt) }, owner: { S: owner } },
        ConditionExpression: 'attribute_not_exists(pk) OR expiresAt < :now OR #owner = :owner',
        ExpressionAttributeNames: { '#owner': 'owner' },
        ExpressionAttributeValues: { ':now': { N: String(nowS) }, ':owner': { S: owner } },
      }));
      return true;
    } catch (err) {
      if (isConditionalCheckFailed(err)) return false;
      throw err;
    }
  }
}

/** A random owner of one conditional write (12 bytes, base64url): lets the SDK's retry of that write recognise it. */
function newOwner(): string {
  return randomBytes(12).toString('base64url');
}
