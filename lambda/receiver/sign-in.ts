/**
 * Prompting and completing a sign-in: the one owner of these steps for every flow that signs a user in (the message
 * flow and `signin/failure` prompt; the OAuth callback and the SSO token exchange complete).
 *
 * - {@link promptSignIn}: create a sign-in state (PKCE verifier, nonce, user, conversation) and post the sign-in card;
 * - {@link completeSignIn}: store the tokens, release the prompt marker, resume the waiting messages in order (and
 *   mark the token for a later resume when one could not be handed over);
 * - {@link releasePrompt}: the one spelling of "the next message gets a new card" (best effort, logged, never thrown).
 */
import type { SignInCardOptions } from './cards';
import { signInActivity } from './cards';
import type { ReceiverContext } from './context';
import { markForResume, resumePending } from './resume';
import { BotConnectorError } from '../shared/bot-connector';
import type { ConversationReference } from '../shared/contract';
import { createPkce, randomUrlSafe } from '../shared/entra-oauth';
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
 * Creates a sign-in state (PKCE verifier, nonce, user, conversation reference) and posts the sign-in card. The caller
 * holds the prompt marker; on a failure the marker is released (the next message retries) and false is returned,
 * except when the card's fate is unknown (a timeout after the POST was sent): then the marker stays (true).
 * Never throws.
 */
export async function promptSignIn(ctx: ReceiverContext, p: SignInPrompt): Promise<boolean> {
  try {
    const redirectUri = await ctx.redirectUri();
    const pkce = createPkce();
    const nonce = randomUrlSafe(32);
    const state = await ctx.conversations.createSignInState({
      user: p.user,
      conversation: p.conversation,
      codeVerifier: pkce.verifier,
      nonce,
    });
    const authorizeUrl = ctx.oauth.authorizeUrl({
      tenantId: p.user.tenantId,
      state: state.state,
      nonce,
      codeChallenge: pkce.challenge,
      scopes: ctx.oauth.scopesFor(ctx.config.graphScopes),
      redirectUri,
    });
    const sso = ctx.config.sso.enabled && !p.omitSsoCard;
    const card = signInActivity({ authorizeUrl, sso: sso ? ctx.config.sso : undefined, ...p.card });
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
  /** Messages handed to the worker. */
  readonly resumed: number;
  /** Messages still waiting (0: none; -1: the list could not be read); they are resumed at the next message. */
  readonly remaining: number;
}

/**
 * Completes a sign-in whose identity the caller has verified: stores the tokens if the user has not signed out since
 * `basis` was read (rejects if storing fails, with `SignedOutError` after such a sign-out: nothing else happened then),
 * deletes the prompt marker (and its count of kept messages), and resumes the waiting messages in order. If some could not be handed over, the stored
 * token is marked so that the next message resumes them first. Throws only when storing fails.
 */
export async function completeSignIn(ctx: ReceiverContext, user: UserKey, tokenSet: TokenSet, basis: TokenBasis): Promise<SignInCompletion> {
  const stored = await ctx.tokens.put(user, tokenSet, basis);
  countMetric(METRIC.SIGN_INS);
  try {
    await ctx.conversations.endSignInPrompt(user); // the prompt and the count of kept messages
  } catch (err) {
    log.error('release_prompt_failed', { reason: errorName(err) });
  }
  const result = await resumePending(ctx, user, stored);
  if (result.remaining !== 0) await markForResume(ctx, user, tokenSet, stored);
  return result;
}
