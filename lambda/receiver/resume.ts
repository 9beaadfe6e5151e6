/**
 * Resuming a user's waiting messages, bounded per request: one hand-over loop ({@link handOver}) for the completion of
 * a sign-in (sign-in.ts), the resume on refresh (messages.ts) and the resume continuation (below).
 *
 * A request hands over at most {@link RESUME_BUDGET} (a number of messages and a time): what is left is handed over by a
 * **resume continuation**, an asynchronous invoke of the receiver itself ({@link scheduleResume}) with an event no
 * function URL request can have ({@link ResumeContinuationEvent}: no `requestContext`), so a sign-in with the maximum
 * number of kept messages answers in bounded time. A continuation reads the user's token and waiting messages again,
 * hands over within the same budget, and schedules the next one while something is left. Lambda's asynchronous invoke
 * is at-least-once: a second continuation hands a message over twice at worst, and the worker kit's idempotency record
 * answers it once. When the continuation cannot be scheduled (or a worker invoke fails), the user's access token is
 * marked as expiring now ({@link markForResume}, `TokenStore.expireAccessToken`): the user's next message takes the
 * refresh path, which resumes what is left before itself.
 */
import type { ReceiverContext } from './context';
import { toWorkerEvent } from '../shared/contract';
import type { PendingMessage } from '../shared/conversation-store';
import { errorName, log } from '../shared/log';
import { countMetric, METRIC, timingMetric } from '../shared/metrics';
import { isUsable, normalizeUserKey, type StoredToken, type TokenBasis, type TokenSet, type UsableToken, type UserKey } from '../shared/token-store';

/**
 * What one request (or one continuation) hands over at most: `messages` worker invokes, and no new invoke once `ms`
 * have passed since the hand-over started (the first message is always attempted, so every continuation progresses).
 */
export const RESUME_BUDGET: Readonly<{ messages: number; ms: number }> = Object.freeze({ messages: 10, ms: 5000 });

/** `type` of the resume continuation event. */
export const RESUME_EVENT_TYPE = 'teams-delegated-auth-bot.resume';

/** Continuations of one chain at most (a chain stops earlier when nothing is left; this bounds a defect, not load). */
const MAX_HOPS = 50;

/**
 * The event of a resume continuation: the receiver invokes itself (InvocationType Event) with it. It carries only the
 * user: tokens and messages are read from the tables. A function URL event always has `requestContext` (and
 * `version: "2.0"`), which this shape never has, so no HTTP request can be taken for a continuation; invoking the
 * receiver directly needs `lambda:InvokeFunction` on it (IAM), which only the receiver's own role has.
 */
export interface ResumeContinuationEvent {
  readonly type: typeof RESUME_EVENT_TYPE;
  readonly version: '1';
  readonly user: UserKey;
  /** 1 for the first continuation of a chain. */
  readonly hop: number;
}

/** True if `event` is a resume continuation (and not a function URL request). */
export function isResumeContinuation(event: unknown): event is ResumeContinuationEvent {
  if (!event || typeof event !== 'object') return false;
  const e = event as Record<string, unknown>;
  return e.type === RESUME_EVENT_TYPE && !('requestContext' in e) && !('rawPath' in e);
}

/** Invokes the receiver itself asynchronously (the resume continuation). */
export interface ResumeScheduler {
  /** Resolves once Lambda accepted the event (HTTP 202); rejects otherwise. One AWS call. */
  schedule(event: ResumeContinuationEvent): Promise<void>;
}

/** Outcome of resuming a user's pending messages. */
export interface ResumeResult {
  /** Messages handed to the worker (and deleted from the pending list). */
  readonly resumed: number;
  /** Messages still pending (-1: the list could not be read). */
  readonly remaining: number;
  /** Why the hand-over stopped before the end: the budget ran out, or a worker invoke failed. */
  readonly stopped?: 'budget' | 'failed';
}

/**
 * Resumes the pending messages of a user, in arrival order, within {@link RESUME_BUDGET}: invokes the worker (Event)
 * with `resumed: true` and the stored token, and deletes each pending message only after its invoke succeeded. Stops
 * at the first failed invoke, so the order is kept. The caller decides what happens to the rest (`stopped`). Never
 * throws.
 */
export async function resumePending(ctx: ReceiverContext, user: UserKey, stored: UsableToken): Promise<ResumeResult> {
  let pending;
  try {
    pending = await ctx.conversations.listPendingMessages(user);
  } catch (err) {
    log.error('resume_list_failed', { reason: errorName(err) });
    return { resumed: 0, remaining: -1, stopped: 'failed' };
  }
  const { handed, stopped } = await handOver(ctx, pending, stored);
  for (const msg of handed) {
    try {
      await ctx.conversations.deletePendingMessage(user, msg.key);
    } catch (err) {
      // The worker has it; a second resume of this message is absorbed by the worker's idempotency record.
      log.warn('resume_delete_failed', { reason: errorName(err) });
    }
  }
  const resumed = handed.length;
  if (resumed > 0) log.info('resumed', { count: resumed });
  return { resumed, remaining: pending.length - resumed, ...(stopped ? { stopped } : {}) };
}

/**
 * Hands waiting messages to the worker (Event invoke, `resumed: true`, the stored token) in arrival order, counting
 * each (Resumed, ResumeLatency), within `budget`; stops at the first failed invoke so the order is kept. Returns the
 * messages handed over and why it stopped early, if it did. Never throws.
 */
export async function handOver(ctx: ReceiverContext, pending: readonly PendingMessage[], stored: UsableToken,
  budget: { messages: number; ms: number } = RESUME_BUDGET): Promise<{ handed: PendingMessage[]; stopped?: 'budget' | 'failed' }> {
  const handed: PendingMessage[] = [];
  const started = ctx.now();
  for (const msg of pending) {
    if (handed.length >= budget.messages || (handed.length > 0 && ctx.now() - started >= budget.ms)) {
      return { handed, stopped: 'budget' };
    }
    try {
      await ctx.worker.invoke(toWorkerEvent(msg.event, stored, { resumed: true }));
    } catch (err) {
      log.error('resume_invoke_failed', { reason: errorName(err), resumed: handed.length, remaining: pending.length - handed.length });
      return { handed, stopped: 'failed' };
    }
    handed.push(msg);
    countMetric(METRIC.RESUMED);
    timingMetric(METRIC.RESUME_LATENCY, Date.now() - Date.parse(msg.event.receivedAt));
  }
  return { handed };
}

/**
 * Continues a resume outside this request: invokes the receiver itself (Event) with a continuation for `user`. When
 * that fails (or no continuation is configured), marks the user's token for resume instead (the next message resumes
 * the rest). Returns true if a continuation was scheduled. Never throws.
 */
export async function scheduleResume(ctx: ReceiverContext, user: UserKey, hop = 1): Promise<boolean> {
  const u = normalizeUserKey(user);
  try {
    if (!ctx.resumeScheduler) throw new Error('no resume continuation configured');
    if (hop > MAX_HOPS) throw new Error('resume chain too long');
    await ctx.resumeScheduler.schedule({ type: RESUME_EVENT_TYPE, version: '1', user: { tenantId: u.tenantId, aadObjectId: u.aadObjectId }, hop });
    log.info('resume_continued', { hop });
    return true;
  } catch (err) {
    log.error('resume_continue_failed', { reason: errorName(err), hop });
    await markStoredForResume(ctx, u);
    return false;
  }
}

/**
 * A resume continuation: reads the user's token (a signed-out user, or a token about to expire, ends the chain: the
 * next sign-in or refresh resumes what is left) and hands over within {@link RESUME_BUDGET}; schedules the next
 * continuation while something is left. When a worker invoke failed, the token is marked for resume. Throws only when
 * the tables cannot be read and the token could not be marked either (Lambda then retries the continuation).
 */
export async function continueResume(ctx: ReceiverContext, event: ResumeContinuationEvent): Promise<ResumeResult | undefined> {
  let user: UserKey;
  try {
    user = normalizeUserKey(event.user);
  } catch {
    log.warn('resume_continuation_invalid', {});
    return undefined;
  }
  const hop = Number.isInteger(event.hop) && event.hop > 0 ? event.hop : 1;
  let stored: StoredToken | undefined;
  try {
    stored = await ctx.tokens.get(user);
  } catch (err) {
    log.error('resume_continuation_failed', { reason: errorName(err), hop });
    if (!(await markStoredForResume(ctx, user))) throw err;
    return undefined;
  }
  if (!stored || !isUsable(stored, 60, Math.floor(ctx.now() / 1000))) {
    log.info('resume_continuation_ended', { reason: stored ? 'token_expiring' : 'signed_out', hop });
    return undefined;
  }
  const result = await resumePending(ctx, user, stored);
  if (result.stopped === 'budget') await scheduleResume(ctx, user, hop + 1);
  else if (result.stopped === 'failed') await markStoredForResume(ctx, user, stored);
  else await clearLeftovers(ctx, stored);
  return result;
}

/**
 * After a failed resume, stores the user's access token again with an expiry of one second from now (the stored
 * refresh token is kept) and flags leftovers (`lo`): the next message then takes the refresh path, which resumes the
 * leftover messages (in order) before itself. The hot path stays at two AWS calls because it never looks for pending messages. `basis` is what the
 * caller stored (or read): if the user signed out since, nothing is written. Never throws; returns false if the write
 * failed (the messages then wait for the token's natural expiry or the next sign-in).
 */
export async function markForResume(ctx: ReceiverContext, user: UserKey, tokens: TokenSet, basis: TokenBasis): Promise<boolean> {
  try {
    const stale: TokenSet = { accessToken: tokens.accessToken, expiresIn: 1 };
    if (tokens.scope !== undefined) stale.scope = tokens.scope;
    await ctx.tokens.put(user, stale, basis, { flagLeftovers: true });
    log.info('marked_for_resume', {});
    return true;
  } catch (err) {
    log.error('mark_for_resume_failed', { reason: errorName(err) });
    return false;
  }
}

/**
 * Every leftover was handed over (refresh path, resume continuation): removes the token's leftovers flag (`lo`,
 * conditioned on the value read, so a flag set since stays), so the next refresh does not read the pending messages.
 * Best effort: a kept flag costs one read.
 */
export async function clearLeftovers(ctx: ReceiverContext, stored: StoredToken): Promise<void> {
  try {
    await ctx.tokens.clearLeftovers(stored);
  } catch (err) {
    log.warn('clear_leftovers_failed', { reason: errorName(err) });
  }
}

/**
 * {@link markForResume} without the plaintext tokens: marks the stored access token as expiring now
 * (`TokenStore.expireAccessToken`, conditioned on the sign-out generation of `stored`, read first when not given).
 * Never throws; false if nothing could be marked.
 */
async function markStoredForResume(ctx: ReceiverContext, user: UserKey, stored?: StoredToken): Promise<boolean> {
  try {
    const current = stored ?? await ctx.tokens.get(user);
    const marked = current !== undefined && await ctx.tokens.expireAccessToken(current);
    if (marked) log.info('marked_for_resume', {});
    return marked;
  } catch (err) {
    log.error('mark_for_resume_failed', { reason: errorName(err) });
    return false;
  }
}
