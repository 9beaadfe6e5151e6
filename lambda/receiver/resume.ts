import type { ReceiverContext } from './context';
import { toWorkerEvent } from '../shared/contract';
import type { PendingMessage } from '../shared/conversation-store';
import { errorName, log } from '../shared/log';
import { countMetric, METRIC, timingMetric } from '../shared/metrics';
import type { StoredToken, TokenBasis, TokenSet, UserKey } from '../shared/token-store';

/** Outcome of resuming a user's pending messages. */
export interface ResumeResult {
  /** Messages handed to the worker (and deleted from the pending list). */
  readonly resumed: number;
  /** Messages still pending (a worker invoke or a delete failed; they wait for the next trigger). */
  readonly remaining: number;
}

/**
 * Resumes every pending message of a user, in arrival order: invokes the worker (Event) with `resumed: true` and the
 * stored token, and deletes each pending message only after its invoke succeeded. Stops at the first failed invoke, so
 * the order is kept: that message and the later ones stay pending for the next trigger (see {@link markForResume}).
 * Never throws.
 */
export async function resumePending(ctx: ReceiverContext, user: UserKey, stored: StoredToken): Promise<ResumeResult> {
  let pending;
  try {
    pending = await ctx.conversations.listPendingMessages(user);
  } catch (err) {
    log.error('resume_list_failed', { reason: errorName(err) });
    return { resumed: 0, remaining: -1 };
  }
  const handed = await handOver(ctx, pending, stored);
  for (const msg of handed) {
    try {
      await ctx.conversations.deletePendingMessage(user, msg.key);
    } catch (err) {
      // The worker has it; a second resume of this message is absorbed by the worker's idempotency record.
      log.warn('resume_delete_failed', { reason: errorName(err) });
    }
  }
  const resumed = handed.length;
  if (resumed < pending.length) return { resumed, remaining: pending.length - resumed };
  if (resumed > 0) log.info('resumed', { count: resumed });
  return { resumed, remaining: 0 };
}

/**
 * Hands waiting messages to the worker (Event invoke, `resumed: true`, the stored token) in arrival order, counting
 * each (Resumed, ResumeLatency); stops at the first failed invoke so the order is kept. Returns the messages handed
 * over. The one hand-over loop of both the resume on refresh and the completion of a sign-in. Never throws.
 */
export async function handOver(ctx: ReceiverContext, pending: readonly PendingMessage[], stored: StoredToken): Promise<PendingMessage[]> {
  const handed: PendingMessage[] = [];
  for (const msg of pending) {
    try {
      await ctx.worker.invoke(toWorkerEvent(msg.event, stored, { resumed: true }));
    } catch (err) {
      log.error('resume_invoke_failed', { reason: errorName(err), resumed: handed.length, remaining: pending.length - handed.length });
      break;
    }
    handed.push(msg);
    countMetric(METRIC.RESUMED);
    timingMetric(METRIC.RESUME_LATENCY, Date.now() - Date.parse(msg.event.receivedAt));
  }
  return handed;
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
