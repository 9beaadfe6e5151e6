import {
  conversationReferenceOf,
  isSignOutCommand,
  pendingEventOf,
  userKeyOf,
  type InboundActivity,
} from './activity';
import { signedOutActivity, textActivity } from './cards';
import type { ReceiverContext } from './context';
import { clearLeftovers, markForResume, resumePending, scheduleResume, type ResumeResult } from './resume';
import { promptSignIn } from './sign-in';
import type { ConversationReference, PendingEvent } from '../shared/contract';
import { toWorkerEvent } from '../shared/contract';
import { sameCiphertext } from '../shared/crypto';
import { OAuthError } from '../shared/entra-oauth';
import { compositeKey } from '../shared/keys';
import { errorName, log } from '../shared/log';
import { countMetric, METRIC } from '../shared/metrics';
import { SignedOutError, isUsable, type StoredToken, type TokenSet, type UsableToken, type UserKey } from '../shared/token-store';

/** Seconds before `exp` at which an access token counts as expired (refreshed first). */
export const EXPIRY_SKEW_SECONDS = 300;

/** What the messaging flow did (for the request log line and tests). */
export type MessageOutcome =
  | 'hot_path' | 'refreshed' | 'duplicate' | 'pending_prompted' | 'pending_quiet' | 'pending_card_failed'
  | 'pending_refresh_unavailable' | 'pending_invoke_failed' | 'pending_resume_continued' | 'pending_full' | 'signed_out'
  | 'sign_out_duplicate';

/**
 * Recently seen activity ids of this container: a Teams retry that reaches the same warm container is not invoked
 * twice, without a third AWS call on the hot path. Retries that land on another container are absorbed by the worker's
 * idempotency record (keyed on the activity id).
 */
export class RecentActivities {
  private readonly seen = new Map<string, number>();
  constructor(private readonly max = 2000, private readonly ttlMs = 10 * 60 * 1000) {}

  /** True if the id was seen within the TTL; otherwise remembers it and returns false. */
  checkAndAdd(id: string, nowMs: number): boolean {
    const at = this.seen.get(id);
    if (at !== undefined && nowMs - at < this.ttlMs) return true;
    this.seen.delete(id);
    this.seen.set(id, nowMs);
    while (this.seen.size > this.max) {
      const oldest = this.seen.keys().next().value as string;
      this.seen.delete(oldest);
    }
    return false;
  }

  /** Forgets an id (the invoke failed: a retry must be processed again). */
  forget(id: string): void {
    this.seen.delete(id);
  }
}

const recent = new RecentActivities();

/**
 * The messaging flow for an authenticated, tenant-checked `message` activity. Always answers (the caller returns 200):
 * - "sign out" / "logout": delete the tokens, release the prompt marker, confirm;
 * - usable token: invoke the worker (hot path: one GetItem + one Invoke);
 * - token within the skew and a refresh token: refresh, store (rotated refresh token), resume leftovers (only when the
 *   token item flags them), invoke;
 * - otherwise: keep the message pending and, once per pending sign-in, post the sign-in card.
 */
export async function handleMessage(activity: InboundActivity, ctx: ReceiverContext): Promise<MessageOutcome> {
  const user = userKeyOf(activity);
  if (isSignOutCommand(activity)) return signOut(activity, user, ctx);
  const nowMs = ctx.now();
  const recentKey = compositeKey('recent', activity.conversation.id, activity.id as string);
  if (recent.checkAndAdd(recentKey, nowMs)) return 'duplicate';
  try {
    const outcome = await messageFlow(activity, user, ctx, nowMs);
    // A message that is only pending because of a failure must be processed again if Teams retries it.
    if (outcome === 'pending_invoke_failed' || outcome === 'pending_refresh_unavailable') recent.forget(recentKey);
    return outcome;
  } catch (err) {
    recent.forget(recentKey);
    throw err;
  }
}

async function messageFlow(activity: InboundActivity, user: UserKey, ctx: ReceiverContext, nowMs: number): Promise<MessageOutcome> {
  const activityId = activity.id as string;
  const pending = pendingEventOf(activity, nowMs); // validated (400) before any I/O
  const stored = await ctx.tokens.get(user);
  const invokeOrKeep = async (token: UsableToken, outcome: MessageOutcome): Promise<MessageOutcome> => {
    try {
      await ctx.worker.invoke(toWorkerEvent(pending, token, { resumed: false }));
      return outcome;
    } catch (err) {
      log.error('worker_invoke_failed', { reason: errorName(err) });
      return keepAfterFailedInvoke(ctx, activity, user, pending, token);
    }
  };
  if (stored && isUsable(stored, EXPIRY_SKEW_SECONDS, Math.floor(nowMs / 1000))) {
    return invokeOrKeep(stored, 'hot_path');
  }

  if (stored?.refreshToken) {
    const refreshed = await refresh(ctx, user, stored);
    if (refreshed === 'unavailable') {
      // The token service did not answer. A token that has not expired yet still works for this message.
      if (isUsable(stored, 30, Math.floor(nowMs / 1000))) return invokeOrKeep(stored, 'hot_path');
      await ctx.conversations.addPendingMessage(user, activityId, pending);
      await flagKept(ctx, stored); // the next message refreshes again and resumes this one first
      await notify(ctx, conversationReferenceOf(activity), activityId,
        'I could not renew your sign-in just now because Microsoft sign-in did not answer. Your message is kept: '
        + 'send me another message in a minute and I will answer both.');
      return 'pending_refresh_unavailable';
    }
    if (refreshed) {
      const { stored: fresh, tokens } = refreshed;
      // Leftovers of an earlier failed hand-over go first, so the order is kept. They can exist only while the token
      // item is flagged (`lo`, read with the token): otherwise no read of the pending messages.
      const before: ResumeResult = fresh.leftovers === undefined ? { resumed: 0, remaining: 0 } : await resumePending(ctx, user, fresh);
      if (before.remaining !== 0) {
        // This message waits behind the leftovers: a resume continuation hands them over (then this one) when the
        // request's resume budget ran out; after a failure, the next message resumes them.
        await ctx.conversations.addPendingMessage(user, activityId, pending);
        if (before.stopped === 'budget') return (await scheduleResume(ctx, user)) ? 'pending_resume_continued' : 'pending_invoke_failed';
        if (tokens) await markForResume(ctx, user, tokens, fresh);
        return 'pending_invoke_failed';
      }
      await clearLeftovers(ctx, fresh);
      try {
        await ctx.worker.invoke(toWorkerEvent(pending, fresh, { resumed: false }));
      } catch (err) {
        log.error('worker_invoke_failed', { reason: errorName(err) });
        await ctx.conversations.addPendingMessage(user, activityId, pending);
        if (tokens) await markForResume(ctx, user, tokens, fresh);
        return 'pending_invoke_failed';
      }
      return 'refreshed';
    }
    // refresh token rejected (tokens deleted) or the user signed out meanwhile: continue as a user without a token
  }

  return keepAndPrompt(activity, user, ctx, pending);
}

/** What the user is told once when their message could not be handed to the worker. */
const KEPT_AFTER_FAILURE = 'I could not pass your message on just now. It is kept: I will answer it when you send me your next message.';

/** A message was kept while the user has tokens: flag leftovers so the next refresh resumes it (best effort, logged). */
async function flagKept(ctx: ReceiverContext, stored: StoredToken): Promise<void> {
  try {
    await ctx.tokens.expireAccessToken(stored);
  } catch (err) {
    log.error('mark_for_resume_failed', { reason: errorName(err) });
  }
}

/**
 * The worker invoke failed on the hot path: keep the message, mark the access token as expiring now (when there is a
 * refresh token) so the user's next message takes the refresh path, which resumes this message before itself, and
 * tell the user once (a Teams retry of the same message finds it kept and says nothing more). Without a refresh token
 * the message waits for the next sign-in, which resumes everything.
 */
async function keepAfterFailedInvoke(ctx: ReceiverContext, activity: InboundActivity, user: UserKey, pending: PendingEvent,
  token: StoredToken): Promise<MessageOutcome> {
  const kept = await ctx.conversations.addPendingMessage(user, activity.id as string, pending);
  if (kept === 'duplicate') return 'pending_invoke_failed';
  if (token.refreshToken) await flagKept(ctx, token);
  await notify(ctx, conversationReferenceOf(activity), activity.id as string, KEPT_AFTER_FAILURE);
  return 'pending_invoke_failed';
}

/**
 * Refreshes the user's tokens. Returns the new stored token (with the plaintext token set, unless a concurrent request
 * refreshed first), `undefined` when the user must sign in again (tokens deleted, or a sign-out came first: nothing
 * stored), or 'unavailable' when the token service failed for another reason.
 */
async function refresh(ctx: ReceiverContext, user: UserKey, stored: StoredToken):
Promise<{ stored: UsableToken; tokens?: TokenSet } | undefined | 'unavailable'> {
  const refreshToken = await ctx.tokens.decryptRefreshToken(stored);
  if (!refreshToken) return undefined;
  let tokens: TokenSet;
  try {
    tokens = await ctx.oauth.refresh({ tenantId: user.tenantId, refreshToken, scopes: ctx.oauth.scopesFor(ctx.config.graphScopes) });
  } catch (err) {
    if (err instanceof OAuthError && err.requiresSignIn) {
      // A concurrent request may have refreshed (and rotated) the token a moment ago, which makes the one we read
      // stale: use the newer tokens rather than deleting them.
      const current = await ctx.tokens.get(user);
      if (current && !sameCiphertext(current.refreshToken, stored.refreshToken)
        && isUsable(current, EXPIRY_SKEW_SECONDS, Math.floor(ctx.now() / 1000))) {
        log.info('refresh_raced', { reason: err.error });
        return { stored: current };
      }
      log.info('refresh_rejected', { reason: err.error });
      countMetric(METRIC.REFRESH_FAILURES, 1, 'rejected');
      await ctx.tokens.delete(user);
      return undefined;
    }
    log.warn('refresh_unavailable', { reason: errorName(err) });
    countMetric(METRIC.REFRESH_FAILURES, 1, 'unavailable');
    return 'unavailable';
  }
  // Refresh tokens rotate: the new one replaces the stored one; without one, TokenStore.put keeps the stored one.
  // Conditioned on what we read: if the user signed out meanwhile, the new tokens are dropped and they sign in again.
  let fresh: UsableToken;
  try {
    fresh = await ctx.tokens.put(user, tokens, stored);
  } catch (err) {
    if (!(err instanceof SignedOutError)) throw err;
    log.info('refresh_after_sign_out', {});
    return undefined;
  }
  log.info('refreshed', {});
  countMetric(METRIC.REFRESHES);
  return { stored: fresh, tokens };
}

/**
 * No usable token: keep the message and, once per pending sign-in, post the sign-in card (first contact: the token
 * read and one transaction, then the card). When the user has `maxPendingMessages` waiting, the message is not kept
 * and they are told once.
 */
async function keepAndPrompt(activity: InboundActivity, user: UserKey, ctx: ReceiverContext, pending: PendingEvent): Promise<MessageOutcome> {
  const activityId = activity.id as string;
  const kept = await ctx.conversations.keepForSignIn(user, activityId, pending);
  if (kept === 'duplicate') return 'duplicate';
  if (kept === 'kept') return 'pending_quiet';
  const conversation = conversationReferenceOf(activity);
  if (kept !== 'prompt') {
    if (kept.notify) await notify(ctx, conversation, activityId, fullText(ctx.config.maxPendingMessages));
    if (kept.prompt) await promptSignIn(ctx, { user: { ...user, teamsUserId: activity.from.id }, conversation });
    return 'pending_full';
  }
  const ok = await promptSignIn(ctx, { user: { ...user, teamsUserId: activity.from.id }, conversation, replyToId: activityId });
  return ok ? 'pending_prompted' : 'pending_card_failed';
}

/** What a user is told (once per sign-in) when their waiting messages reached the cap. */
function fullText(max: number): string {
  return `I am keeping your first ${max} messages until you sign in, and will answer them then. `
    + 'I did not keep this one or any later ones: please sign in with the card above, then send them again.';
}

/** "sign out": delete the tokens, release the prompt marker, confirm once per activity id. */
async function signOut(activity: InboundActivity, user: UserKey, ctx: ReceiverContext): Promise<MessageOutcome> {
  const activityId = activity.id as string;
  if (!(await ctx.conversations.claim(compositeKey('signout', activity.conversation.id, activityId), 24 * 3600))) return 'sign_out_duplicate';
  const hadTokens = await ctx.tokens.signOut(user);
  await ctx.conversations.releaseSignInPrompt(user);
  log.info('signed_out', { deleted: hadTokens });
  await notify(ctx, conversationReferenceOf(activity), activityId, signedOutActivity(hadTokens));
  return 'signed_out';
}

/** Posts a short message into the conversation, best effort (logged, never thrown). */
async function notify(ctx: ReceiverContext, ref: ConversationReference, replyToId: string, message: string | Record<string, unknown>): Promise<void> {
  try {
    await ctx.connector.replyToActivity(ref, replyToId, typeof message === 'string' ? textActivity(message) : message);
  } catch (err) {
    log.warn('notify_failed', { reason: errorName(err) });
  }
}
