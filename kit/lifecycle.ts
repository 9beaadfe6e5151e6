/**
 * The per-event lifecycle of a worker, one named phase each (docs/worker-kit.md has the state machine):
 *
 * 1. **validate**: the input is a worker contract event (docs/worker-contract.md), or it is rethrown;
 * 2. **claim**: the idempotency record of (conversation, activity) is acquired, or the event is a duplicate (skipped);
 * 3. **decrypt**: the token is checked to belong to this bot, key and user, then decrypted with KMS;
 * 4. **run**: the worker function runs with reply / send / update / typing helpers and a Graph client;
 * 5. **finish**: the record says `replied` or `done`; on failure before a reply, `failed` and the one apology.
 */
import { errorInfo, TokenBindingError, WorkerError } from './errors';
import { GraphClient } from './graph';
import type { KitRuntime } from './setup';
import { plainText } from './text';
import { Turn } from './turn';
import { DEFAULT_APOLOGY, LambdaContextLike, WorkerArgs, WorkerFunction, WorkerResult } from './types';
import { BotConnectorError } from '../lambda/shared/bot-connector';
import { ResolvedConfig } from '../lambda/shared/config';
import { ContractError, parseWorkerEvent, WorkerEvent } from '../lambda/shared/contract';
import { TokenCipher } from '../lambda/shared/crypto';
import { idempotencyKey } from '../lambda/shared/idempotency';
import { log } from '../lambda/shared/log';
import { countMetric, METRIC } from '../lambda/shared/metrics';
import { normalizeGuid } from '../src/private/shared-data';

/** Phase 1: the input as a contract event. Not a contract event: nothing can be answered safely, so it is rethrown. */
export function validate(input: unknown): WorkerEvent {
  try {
    return parseWorkerEvent(input);
  } catch (err) {
    log.error('worker_invalid_event', { reason: err instanceof ContractError ? err.path || 'event' : 'unknown', error: err });
    countMetric(METRIC.WORKER_FAILURES, 1, 'invalid_event');
    throw err;
  }
}

/** Phase 2: acquires the message's idempotency record; a duplicate gives the `skipped` result instead of a turn. */
export async function claim(rt: KitRuntime, event: WorkerEvent, context?: LambdaContextLike): Promise<Turn | WorkerResult> {
  const ref = event.conversation;
  const activityId = event.message.id;
  const key = idempotencyKey(ref.conversation.id, activityId);
  const remaining = context?.getRemainingTimeInMillis?.();
  const leaseMs = rt.options.leaseMs ?? (typeof remaining === 'number' && remaining > 0 ? remaining + 5000 : 15 * 60_000 + 5000);
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
  return new Turn(rt, event, key, begin.owner, begin.attempt);
}

/** The decrypted token and what is known about it. */
export interface DecryptedToken {
  graphToken: string;
  expiresAt: Date;
  expired: boolean;
  scopes: string[];
}

/** Phase 3: checks the token's binding (key, app, user, tenant) and decrypts it. */
export async function decrypt(rt: KitRuntime, turn: Turn): Promise<DecryptedToken> {
  const event = turn.event;
  checkTokenBinding(event, rt.config);
  const cipher = new TokenCipher({ kms: rt.kms, keyId: rt.config.kmsKeyArn ?? event.token.keyId });
  const graphToken = await cipher.decrypt(event.token);
  const expiresAt = new Date(event.token.expiresAt);
  const expired = expiresAt.getTime() <= Date.now();
  if (expired) log.warn('worker_token_expired', { activityId: turn.activityId, attempt: turn.attempt });
  return { graphToken, expiresAt, expired, scopes: event.token.scopes.split(/\s+/).filter((s) => s !== '') };
}

/** Phase 4: runs the worker function with its arguments. */
export async function run(rt: KitRuntime, fn: WorkerFunction, turn: Turn, token: DecryptedToken, context?: LambdaContextLike): Promise<void> {
  const { event } = turn;
  const ref = event.conversation;
  const args: WorkerArgs = {
    event,
    message: event.message,
    text: plainText(event.message.text),
    user: { ...ref.user, tenantId: ref.conversation.tenantId ?? optGuid(event.token.encryptionContext.tenantId) },
    conversation: ref,
    graphToken: token.graphToken,
    token: { expiresAt: token.expiresAt, scopes: token.scopes, expired: token.expired },
    graph: new GraphClient({ baseUrl: rt.config.graphBaseUrl, token: token.graphToken, timeoutMs: rt.options.timeoutMs }),
    resumed: event.resumed,
    attempt: turn.attempt,
    reply: (a) => turn.reply(a),
    send: (a) => turn.send(a),
    update: (id, a) => turn.update(id, a),
    typing: () => turn.typing(),
    downloadAttachment: (url, maxBytes) => rt.connector.downloadAttachment(url, maxBytes),
    log,
    context,
  };
  await fn(args);
}

/** Phase 5 (success): `replied` when the function answered, otherwise the record is marked `done`. */
export async function finish(rt: KitRuntime, turn: Turn): Promise<WorkerResult> {
  if (turn.replied) {
    log.info('worker_replied', { activityId: turn.activityId, attempt: turn.attempt });
    return { status: 'replied' };
  }
  await rt.idempotency.markDone(turn.key, turn.owner).catch((err) => {
    log.error('worker_mark_done_failed', { activityId: turn.activityId, error: err });
  });
  log.info('worker_done_without_reply', { activityId: turn.activityId, attempt: turn.attempt });
  return { status: 'done' };
}

/**
 * Phase 5 (failure): after a reply the error is logged and not rethrown (a Lambda retry would answer twice); before
 * a reply the record is marked `failed`, the one apology is sent and a {@link WorkerError} is thrown.
 */
export async function fail(rt: KitRuntime, turn: Turn, err: unknown): Promise<WorkerResult> {
  const { activityId, attempt } = turn;
  if (turn.replied) {
    log.error('worker_failed_after_reply', { activityId, attempt, error: err });
    return { status: 'replied', errorAfterReply: true };
  }
  log.error('worker_failed_before_reply', { activityId, attempt, error: err });
  countMetric(METRIC.WORKER_FAILURES, 1, errorInfo(err).name);
  await rt.idempotency.markFailed(turn.key, turn.owner, errorInfo(err).name).catch((e) => {
    log.error('worker_mark_failed_failed', { activityId, error: e });
  });
  const apology = rt.options.apology;
  if (apology !== false && !cannotApologise(err)) await apologise(rt, turn, apology ?? DEFAULT_APOLOGY);
  throw new WorkerError(activityId, err);
}

/** An id of the encryption context in its one spelling (the context itself goes to KMS verbatim). */
function optGuid(value: string | undefined): string | undefined {
  return value === undefined ? undefined : normalizeGuid(value);
}

/**
 * Checks that the token in the event belongs to this bot, this key and the user being answered. The event's ids and
 * the configuration are already in their one spelling (contract parse, config); the encryption context is normalized
 * here for the comparison only.
 */
function checkTokenBinding(event: WorkerEvent, config: ResolvedConfig): void {
  const ctx = event.token.encryptionContext;
  // Compared only when both are key ARNs (an alias ARN in the configuration cannot be compared with the key ARN that
  // KMS reports; KMS and IAM still restrict what can be decrypted).
  const isKeyArn = (v: string): boolean => /^arn:aws[a-z-]*:kms:[^:]+:\d{12}:key\/.+$/.test(v);
  if (config.kmsKeyArn && isKeyArn(config.kmsKeyArn) && isKeyArn(event.token.keyId) && event.token.keyId !== config.kmsKeyArn) {
    throw new TokenBindingError('keyId is not the configured KMS key');
  }
  if (ctx.appId !== undefined && normalizeGuid(ctx.appId) !== config.appId) throw new TokenBindingError('encryption context appId is not this bot');
  const user = event.conversation.user;
  if (user.aadObjectId && ctx.aadObjectId !== undefined && normalizeGuid(ctx.aadObjectId) !== user.aadObjectId) {
    throw new TokenBindingError('encryption context aadObjectId is not the user of the conversation');
  }
  const tid = event.conversation.conversation.tenantId;
  if (tid && ctx.tenantId !== undefined && normalizeGuid(ctx.tenantId) !== tid) {
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

/** Sends the one apology of a message (claimed in the idempotency record first; released if sending definitely failed). */
async function apologise(rt: KitRuntime, turn: Turn, text: string): Promise<void> {
  const { activityId, key } = turn;
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
    await rt.connector.replyToActivity(turn.event.conversation, activityId, { type: 'message', text, textFormat: 'plain' });
    log.info('worker_apology_sent', { activityId });
    countMetric(METRIC.WORKER_APOLOGIES);
  } catch (err) {
    log.error('worker_apology_failed', { activityId, error: err });
    if (!(err instanceof BotConnectorError && err.outcomeUnknown)) {
      await rt.idempotency.releaseApology(key).catch(() => undefined);
    }
  }
}
