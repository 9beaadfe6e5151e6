/**
 * Prompting and completing a sign-in: the one owner of these steps for every flow that signs a user in (the message
 * flow and `signin/failure` prompt; the OAuth callback and the SSO token exchange complete).
 *
 * - {@link promptSignIn}: issue a self-authenticating sign-in state for the user (./sign-in-state.ts: nothing stored;
 *   the PKCE verifier and the nonce are derived from it on the server) and post the sign-in card, whose SSO exchange
 *   id is bound to the same user;
 * - {@link completeSignIn}: encrypt the tokens, read what is waiting, hand it to the worker in order within the resume
 *   budget (./resume.ts), then one transaction stores the tokens, marks the state used, releases the prompt marker and
 *   deletes what was handed over; what the budget left is handed over by a resume continuation after the commit (the
 *   token is stored as about to expire when a hand-over failed: the next message resumes the rest);
 * - {@link releasePrompt}: the one spelling of "the next message gets a new card" (best effort, logged, never thrown).
 */
import type { SignInCardOptions } from './cards';
import { signInActivity } from './cards';
import type { ReceiverContext } from './context';
import { handOver, scheduleResume } from './resume';
import { BotConnectorError } from '../shared/bot-connector';
import type { ConversationReference } from '../shared/contract';
import type { PendingMessage } from '../shared/conversation-store';
import { pkceChallenge } from '../shared/entra-oauth';
import { errorName, log } from '../shared/log';
import { countMetric, METRIC } from '../shared/metrics';
import type { TokenBasis, TokenSet, UserKey } from '../shared/token-store';

/** Who a prompt is for and where it goes. */
export interface SignInPrompt {
  readonly user: UserKey & { teamsUserId: string };
  readonly conversation: ConversationReference;
  /** Answer this activity (a thread reply); otherwise a new message in the conversation. */
  readonly replyToId?: string;
  readonly card?: Pick<SignInCardOptions, 'title' | 'text'>;
  /**
   * Leave out the SSO OAuthCard even when SSO is enabled (after `signin/failure`: another token exchange would fail
   * the same way, and loop). Default false: the OAuthCard is attached whenever SSO is enabled.
   */
  readonly omitSsoCard?: boolean;
}

/**
 * Issues a sign-in state for the user (no I/O but the cached secret) and posts the sign-in card. The caller holds the
 * prompt marker; on a failure the marker is released (the next message retries) and false is returned, except when
 * the card's fate is unknown (a timeout after the POST was sent): then the marker stays (true). Never throws.
 */
export async function promptSignIn(ctx: ReceiverContext, p: SignInPrompt): Promise<boolean> {
  try {
    const redirectUri = await ctx.redirectUri();
    const personal = (p.conversation.conversation.conversationType ?? 'personal') === 'personal';
    const expiresAt = Math.floor(ctx.now() / 1000) + ctx.config.signinTtlSeconds;
    const issued = await ctx.signInStates.issue(p.user, { personal, expiresAt });
    const authorizeUrl = ctx.oauth.authorizeUrl({
      tenantId: p.user.tenantId,
      state: issued.state,
      nonce: issued.nonce,
      codeChallenge: pkceChallenge(issued.codeVerifier),
      scopes: ctx.oauth.scopesFor(ctx.config.graphScopes),
      redirectUri,
    });
    const sso = ctx.config.sso.enabled && !p.omitSsoCard;
    const exchangeId = sso ? await ctx.signInStates.exchangeId(p.user) : undefined;
    const card = signInActivity({ authorizeUrl, sso: sso ? ctx.config.sso : undefined, exchangeId, ...p.card });
    if (p.replyToId) await ctx.connector.replyToActivity(p.conversation, p.replyToId, card);
    else await ctx.connector.sendToConversation(p.conversation, card);
    log.info('signin_card_sent', { sso });
    return true;
  } catch (err) {
    if (err instanceof BotConnectorError && err.outcomeUnknown) {
      // The POST may have reached Teams (a timeout after sending): keep the prompt marker rather than risk a second
      // card. If the card was lost, the marker expires with the sign-in state and the next message prompts again.
      log.warn('signin_card_outcome_unknown', { reason: errorName(err) });
      return true;
    }
    log.error('signin_card_failed', { reason: errorName(err) });
    await releasePrompt(ctx, p.user);
    return false;
  }
}

/**
 * Releases the user's sign-in prompt marker, so that the next message posts a new card (a sign-in finished or
 * failed). Best effort: a failure is logged (the marker then expires with the sign-in state), never thrown.
 */
export async function releasePrompt(ctx: ReceiverContext, user: UserKey): Promise<void> {
  try {
    await ctx.conversations.releaseSignInPrompt({ tenantId: user.tenantId, aadObjectId: user.aadObjectId });
  } catch (err) {
    log.error('release_prompt_failed', { reason: errorName(err) });
  }
}

/** The token set to store from the answer of a token endpoint (authorization code or on-behalf-of). */
export function tokenSetOf(answer: { accessToken: string; expiresIn: number; refreshToken?: string; scope?: string }): TokenSet {
  const tokenSet: TokenSet = { accessToken: answer.accessToken, expiresIn: answer.expiresIn };
  if (answer.refreshToken) tokenSet.refreshToken = answer.refreshToken;
  if (answer.scope) tokenSet.scope = answer.scope;
  return tokenSet;
}

/** What {@link completeSignIn} did with the waiting messages. */
export interface SignInCompletion {
  /** Messages handed to the worker by this request. */
  readonly resumed: number;
  /** Messages beyond this request's resume budget, handed over by a resume continuation scheduled after the commit. */
  readonly continued: number;
  /** Messages still waiting (0: none; -1: the list could not be read); they are resumed at the next message. */
  readonly remaining: number;
}

/** How {@link completeSignIn} is used: the OAuth callback passes its state and what it read already. */
export interface SignInCompletionOptions {
  /** The sign-in state to mark used (single use) in the same transaction. */
  readonly state?: { readonly id: string; readonly expiresAt: number };
  /** The waiting messages, read already (`readForSignIn`); `null`: that read failed; absent: read them now. */
  readonly waiting?: PendingMessage[] | null;
  /**
   * What a sign-out must not have happened after (else the transaction fails with `SignedOutError`): the generation
   * read before the sign-in started (SSO), or the second the sign-in's prompt was issued (the OAuth callback: from the
   * state, no read).
   */
  readonly basis: TokenBasis | { notSignedOutSince: number };
}

/**
 * Completes a sign-in whose identity the caller has verified, in as few AWS calls as its guarantees allow: the token
 * encryption (KMS), one read of the waiting messages (unless the caller read them), one worker invoke per message (in
 * order, within the resume budget, stopping at the first failure), and one `TransactWriteItems` that stores the tokens,
 * marks the state used (single use), releases the prompt marker and deletes the messages handed over. Handing over
 * before the commit loses nothing: if the commit fails the messages stay waiting, and a second hand-over is absorbed by
 * the worker's idempotency record. What the budget left is handed over by a resume continuation scheduled after the
 * commit (one more Invoke); a failed hand-over stores the token as about to expire instead, so the next message
 * resumes the rest. Returns `'state_used'` when the state was used meanwhile (nothing stored); throws when encrypting
 * or the commit failed (nothing stored, the state stays usable).
 */
export async function completeSignIn(ctx: ReceiverContext, user: UserKey, tokenSet: TokenSet, opts: SignInCompletionOptions):
Promise<SignInCompletion | 'state_used'> {
  const prepared = await ctx.tokens.prepareSignIn(user, tokenSet, opts.basis);
  let pending = opts.waiting;
  if (pending === undefined) {
    try {
      pending = await ctx.conversations.listPendingMessages(user);
    } catch (err) {
      log.error('resume_list_failed', { reason: errorName(err) });
      pending = null;
    }
  }
  const { handed, stopped } = await handOver(ctx, pending ?? [], prepared.stored);
  const released = handed.map((msg) => msg.key);
  const left = pending === null ? -1 : pending.length - released.length;
  // A failed hand-over (or an unreadable list): store the access token as about to expire, so the next message
  // refreshes and resumes the rest. The budget ran out: the token is stored as it is and a continuation goes on.
  const continues = stopped === 'budget';
  const expiresAt = left !== 0 && !continues ? Math.floor(ctx.now() / 1000) + 1 : undefined;
  const outcome = await ctx.conversations.commitSignIn({ user, tokenWrite: prepared.update(expiresAt), state: opts.state, released });
  if (outcome === 'state_used') return outcome;
  countMetric(METRIC.SIGN_INS);
  if (released.length > 0) log.info('resumed', { count: released.length });
  if (continues && await scheduleResume(ctx, user)) return { resumed: released.length, continued: left, remaining: 0 };
  return { resumed: released.length, continued: 0, remaining: left };
}
