/**
 * The OAuth callback (`GET {callbackPath}?state=…&code=…` or `?state=…&error=…`).
 *
 * 1. query syntax (400 page, no I/O): each parameter at most once, `state` well-formed; an identity-provider error
 *    without a state gets a fixed page (at most an `AADSTS` code of the description, never the query's text)
 * 2. the state proves itself (./sign-in-state.ts), before any AWS call: expiry, then its MAC (which binds the user it
 *    was issued for); forged or expired: 400 page, nothing read or written (an error with such a state: the fixed page)
 * 3. identity-provider error with a valid state: explanation page with the (escaped, bounded) description; pending
 *    messages stay, the prompt marker is released (next message → new card)
 * 4. one Query of the user's partition: the waiting messages and the state's used marker (used: 400, Entra is not
 *    called); redeem the code with the state's PKCE verifier (derived on the server); validate the id_token (signature, iss,
 *    aud, exp, nonce) and that its tid/oid are the user the state was issued for; mismatch (another member of a group
 *    chat, another account): 403 page naming it, nothing stored, and the state stays usable by the user it is for
 * 5. complete the sign-in (./sign-in.ts: one transaction stores the tokens, marks the state used, releases the prompt
 *    and the messages handed to the worker within the resume budget; a resume continuation hands over the rest); a
 *    state used meanwhile (a double click): 400 page; answer the page that sends the user back to Teams
 */
import { RequestError } from './activity';
import { ConfigurationError, type ReceiverContext } from './context';
import { errorPage, idpErrorPage, signedInPage, teamsDeepLink, unverifiedIdpErrorPage, type HttpResult } from './pages';
import { completeSignIn, releasePrompt, tokenSetOf } from './sign-in';
import type { VerifiedState } from './sign-in-state';
import { normalizeGuid } from '../../src/private/shared-data';
import { SIGN_IN_STATE_PATTERN, type PendingMessage } from '../shared/conversation-store';
import { OAuthError, OAuthUnavailableError, TokenValidationError } from '../shared/entra-oauth';
import { HttpTimeoutError } from '../shared/http';
import { errorName, log } from '../shared/log';
import { SignedOutError, type TokenSet, type UserKey } from '../shared/token-store';

/** OAuth error codes are ASCII tokens; anything else is shown as "unknown". */
const ERROR_CODE = /^[a-z0-9_.-]{1,64}$/i;
const MAX_CODE_LENGTH = 4096;

/** The callback's query parameters, validated. */
export interface CallbackQuery {
  state?: string;
  code?: string;
  error?: string;
  errorDescription?: string;
}

/**
 * The one parser of the OAuth redirect's query (response_mode=query): each parameter at most once, `state` of the
 * sign-in state syntax, `code` 1–4096 characters without whitespace, control characters or commas (a repeated
 * parameter joined by commas is refused). Throws {@link RequestError} (400).
 */
export function parseCallbackQuery(rawQueryString: string | undefined): CallbackQuery {
  if ((rawQueryString ?? '').length > 16 * 1024) throw new RequestError(400, 'query_too_long');
  const params = new URLSearchParams(rawQueryString ?? '');
  const one = (name: string): string | undefined => {
    const values = params.getAll(name);
    if (values.length > 1) throw new RequestError(400, `duplicate_${name}`);
    return values.length === 1 ? values[0] : undefined;
  };
  const q: CallbackQuery = {
    state: one('state'),
    code: one('code'),
    error: one('error'),
    errorDescription: one('error_description'),
  };
  if (q.state !== undefined && !SIGN_IN_STATE_PATTERN.test(q.state)) throw new RequestError(400, 'invalid_state');
  if (q.code !== undefined && (q.code.length === 0 || q.code.length > MAX_CODE_LENGTH || /[\s\u0000-\u001f,]/.test(q.code))) {
    throw new RequestError(400, 'invalid_code');
  }
  if (q.error !== undefined && !ERROR_CODE.test(q.error)) q.error = 'unknown_error';
  return q;
}

/** Result of the callback: the page and a short reason for the request log. */
export interface CallbackResult {
  readonly page: HttpResult;
  readonly reason: string;
}

const GENERIC_LINK_LABEL = 'Back to Teams';

/** The "back to Teams" link of a page. */
type Link = { href: string; label: string };

/** Closing paragraphs shared by several pages. */
const RETRY_LATER = 'Go back to Teams and send a message in a few minutes to get a new sign-in link. Your messages are kept.';
const TELL_ADMIN = 'Please tell the administrator of this bot. Your messages are kept.';

/** A failed callback: the log reason and an error page. */
function failure(reason: string, status: number, title: string, paragraphs: string[], link: Link): CallbackResult {
  return { reason, page: errorPage(status, title, paragraphs, link) };
}

/** The query, the verified sign-in state and the link back to its conversation; or the page that ends the callback. */
type CheckedState = { query: CallbackQuery; state: VerifiedState; link: Link } | { done: CallbackResult };

const INVALID_LINK = ['This sign-in link is not valid. Go back to Teams and send a message to get a new one.'];
const EXPIRED_LINK = [
  'This sign-in link has expired or has already been used.',
  'Go back to Teams and send a message: you will get a new sign-in link. Your earlier messages are kept.',
];

/** Steps 1–2: the query's syntax, then the state proves itself (expiry and MAC). No AWS call. */
async function checkState(rawQueryString: string | undefined, ctx: ReceiverContext): Promise<CheckedState> {
  const genericLink = { href: teamsDeepLink({ cloud: ctx.config.cloud, appId: ctx.config.appId }), label: GENERIC_LINK_LABEL };
  let query: CallbackQuery;
  try {
    query = parseCallbackQuery(rawQueryString);
  } catch (err) {
    return { done: failure(err instanceof RequestError ? err.reason : 'bad_query', 400, 'Sign-in link not valid', INVALID_LINK, genericLink) };
  }
  let verified;
  try {
    verified = query.state ? await ctx.signInStates.verify(query.state, Math.floor(ctx.now() / 1000)) : undefined;
  } catch (err) {
    // The state's key comes from the bot's secret (cached per container): without it nothing can be verified.
    if (err instanceof ConfigurationError) return { done: redeemFailure(err, genericLink) };
    log.error('secret_unavailable', { reason: errorName(err) });
    return {
      done: failure('secret_unavailable', 503, 'Sign-in temporarily unavailable', [
        'The bot could not check this sign-in link because a service it depends on did not answer.', RETRY_LATER,
      ], genericLink),
    };
  }
  if (!verified || 'refused' in verified) {
    const refusal = verified ? verified.refused : 'missing';
    if (query.error) {
      // Without a valid state anyone could have written this query: no text of it on the bot's origin.
      return { done: { reason: `idp_error_without_state:${query.error}`, page: unverifiedIdpErrorPage({ description: query.errorDescription, deepLink: genericLink.href }) } };
    }
    if (refusal === 'missing') {
      return { done: failure('missing_state', 400, 'Sign-in link not valid', ['This page is only reached from a Microsoft sign-in. Go back to Teams and send a message to get a sign-in link.'], genericLink) };
    }
    log.warn('state_refused', { reason: refusal });
    if (refusal === 'expired') return { done: failure('expired_state', 400, 'Sign-in link expired', EXPIRED_LINK, genericLink) };
    return { done: failure(`${refusal}_state`, 400, 'Sign-in link not valid', INVALID_LINK, genericLink) };
  }
  const conversationType = verified.personal ? 'personal' : 'groupChat';
  const link = { href: teamsDeepLink({ cloud: ctx.config.cloud, appId: ctx.config.appId, conversationType }), label: GENERIC_LINK_LABEL };
  return { query, state: verified, link };
}

/**
 * Step 4: redeems the code with the state's PKCE verifier and verifies the id_token (nonce, and that it names the
 * Teams user who asked). Returns the token set, or the page that ends the callback (the caller releases the prompt).
 */
async function redeemAndVerify(code: string, state: VerifiedState, ctx: ReceiverContext, link: Link):
Promise<{ tokenSet: TokenSet } | { done: CallbackResult }> {
  const user = state.user;
  let tokens: TokenSet & { idToken: string };
  try {
    tokens = await ctx.oauth.redeemCode({
      tenantId: state.user.tenantId,
      code,
      codeVerifier: state.codeVerifier,
      redirectUri: await ctx.redirectUri(),
      scopes: ctx.oauth.scopesFor(ctx.config.graphScopes),
    });
  } catch (err) {
    return { done: redeemFailure(err, link) };
  }
  let identity: { oid: string; tid: string; name?: string; preferredUsername?: string };
  try {
    identity = await ctx.oauth.validateIdToken(tokens.idToken, { tenantId: state.user.tenantId, nonce: state.nonce });
  } catch (err) {
    return { done: idTokenFailure(err, link) };
  }
  const mismatch = identityMismatch(identity, user);
  if (mismatch) return { done: mismatchPage(mismatch, identity.preferredUsername, link) };
  return { tokenSet: tokenSetOf(tokens) };
}

/** Handles the OAuth callback. Never throws: every failure is a page with a 4xx/5xx status. */
export async function handleCallback(rawQueryString: string | undefined, ctx: ReceiverContext): Promise<CallbackResult> {
  const checked = await checkState(rawQueryString, ctx);
  if ('done' in checked) return checked.done;
  const { query, state, link } = checked;
  const user = state.user;

  // 3. The identity provider's answer: an error, or a code.
  if (query.error) {
    await releasePrompt(ctx, user);
    return { reason: `idp_error:${query.error}`, page: idpErrorPage({ error: query.error, description: query.errorDescription, deepLink: link.href }) };
  }
  if (!query.code) {
    await releasePrompt(ctx, user);
    return failure('missing_code', 400, 'Sign-in did not complete', ['The sign-in response had no authorization code. Send a message in Teams to get a new sign-in link.'], link);
  }

  // 4. What is waiting, and whether this state was used already (one Query: a replay never reaches Entra); then
  //    redeem and verify.
  let waiting: PendingMessage[] | null = null;
  try {
    const read = await ctx.conversations.readForSignIn(user, state.id);
    if (read.stateUsed) return failure('state_used', 400, 'Sign-in link expired', EXPIRED_LINK, link);
    waiting = read.pending;
  } catch (err) {
    // Not fatal: the transaction's condition still makes the state single use; the messages wait for the next message.
    log.error('resume_list_failed', { reason: errorName(err) });
  }
  const verified = await redeemAndVerify(query.code, state, ctx, link);
  if ('done' in verified) {
    await releasePrompt(ctx, user);
    return verified.done;
  }

  // 5. Complete: one transaction stores the tokens, marks the state used and releases what was handed over.
  let result;
  try {
    const notSignedOutSince = state.expiresAt - ctx.config.signinTtlSeconds; // when the prompt was issued
    const marker = { id: state.id, expiresAt: state.expiresAt };
    result = await completeSignIn(ctx, user, verified.tokenSet, { state: marker, waiting, basis: { notSignedOutSince } });
  } catch (err) {
    await releasePrompt(ctx, user);
    if (err instanceof SignedOutError) return signedOutPage(link);
    // Nothing stored and the state not used: the same sign-in link works again (the card's button), no new message
    // needed; the prompt is released too, so a next message also brings a new card.
    log.error('token_store_failed', { reason: errorName(err) });
    return {
      reason: 'token_store_failed',
      page: errorPage(503, 'Sign-in temporarily unavailable', [
        'The bot could not finish your sign-in because a service it depends on did not answer. Nothing was stored.',
        'Go back to Teams and press the sign-in button again in a minute (or send a message to get a new one). Your messages are kept.',
      ], link),
    };
  }
  if (result === 'state_used') return failure('state_used', 400, 'Sign-in link expired', EXPIRED_LINK, link);
  log.info('signed_in', { resumed: result.resumed, continued: result.continued, remaining: result.remaining });
  return {
    reason: result.remaining === 0 ? 'signed_in' : 'signed_in_partial_resume',
    page: signedInPage({
      deepLink: link.href,
      resumed: result.resumed + result.continued,
      remaining: result.remaining === 0 ? 0 : Math.max(result.remaining, 1),
    }),
  };
}

/** The user signed out while this sign-in was in progress: nothing was stored (409). */
/** The page for an id_token that could not be verified (tenant mismatch, bad signature or nonce, keys unavailable). */
function idTokenFailure(err: unknown, link: Link): CallbackResult {
  if (err instanceof TokenValidationError && err.reason === 'tenant_mismatch') return mismatchPage('tenant', undefined, link);
  if (err instanceof OAuthUnavailableError) {
    log.warn('id_token_keys_unavailable', { reason: err.reason });
    return { reason: `idp_unavailable:${err.reason}`, page: idpDownPage(503, link) };
  }
  log.warn('id_token_invalid', { reason: err instanceof TokenValidationError ? err.reason : errorName(err) });
  return failure('id_token_invalid', 403, 'Sign-in could not be verified', [
    'The sign-in response could not be verified, so nothing was stored.',
    'Go back to Teams and send a message to get a new sign-in link.',
  ], link);
}

/**
 * Which part of the id_token's identity differs from the Teams user who asked, if any. Both sides are in their one
 * spelling (the claims from entra-oauth.ts, the user from the sign-in state); `normalizeGuid` keeps this true for any
 * caller.
 */
export function identityMismatch(identity: { oid: string; tid: string }, user: UserKey): 'tenant' | 'user' | undefined {
  if (normalizeGuid(identity.tid) !== normalizeGuid(user.tenantId)) return 'tenant';
  if (normalizeGuid(identity.oid) !== normalizeGuid(user.aadObjectId)) return 'user';
  return undefined;
}

function mismatchPage(mismatch: 'tenant' | 'user', preferredUsername: string | undefined, link: Link): CallbackResult {
  log.warn('identity_mismatch', { reason: mismatch });
  const who = preferredUsername ? ` (${preferredUsername})` : '';
  const paragraph = mismatch === 'tenant'
    ? `You signed in with an account${who} from a different organization (tenant) than the one you use in Teams.`
    : `You signed in with a different account${who} than the one you use in Teams.`;
  return failure(`identity_mismatch:${mismatch}`, 403, 'Wrong account', [
    paragraph,
    'Nothing was stored. Go back to Teams, send a message to get a new sign-in link, and sign in with your Teams account.',
  ], link);
}

/** A sign-out since the prompt was issued wins: nothing stored. */
function signedOutPage(link: Link): CallbackResult {
  log.info('signin_after_sign_out', {});
  return failure('signed_out_during_signin', 409, 'You signed out', [
    'You signed out of the bot after this sign-in link was sent, so nothing was stored.',
    'Go back to Teams and send a message to get a new sign-in link.',
  ], link);
}

function redeemFailure(err: unknown, link: Link): CallbackResult {
  if (err instanceof ConfigurationError) {
    return failure('configuration', 503, 'The bot is not set up yet', [
      'The bot cannot sign you in because its configuration is incomplete (its client secret has not been set).',
      TELL_ADMIN,
    ], link);
  }
  if (err instanceof OAuthError) {
    log.warn('redeem_failed', { reason: err.error, status: err.status });
    if (err.error === 'invalid_grant') {
      return failure('invalid_grant', 400, 'Sign-in expired', [
        'The sign-in took too long or this page was opened twice, so Microsoft did not accept it.',
        'Go back to Teams and send a message to get a new sign-in link. Your messages are kept.',
      ], link);
    }
    if (err.status !== undefined && err.status >= 500) return { reason: `idp_unavailable:${err.status}`, page: idpDownPage(502, link) };
    // invalid_client, unauthorized_client, invalid_scope...: the bot's registration, not the user.
    return failure(`redeem_rejected:${err.error}`, 502, 'Sign-in could not be completed', [
      'Microsoft did not accept the bot\'s sign-in request. This usually means the bot\'s app registration needs attention.',
      TELL_ADMIN,
    ], link);
  }
  if (err instanceof OAuthUnavailableError) {
    log.warn('redeem_failed', { reason: err.reason, status: err.status });
    return { reason: `idp_unavailable:${err.reason}`, page: idpDownPage(err.reason === 'timeout' ? 504 : err.reason === 'network' ? 503 : 502, link) };
  }
  if (err instanceof HttpTimeoutError) {
    log.warn('redeem_failed', { reason: 'timeout' });
    return { reason: 'idp_timeout', page: idpDownPage(504, link) };
  }
  log.warn('redeem_failed', { reason: errorName(err) });
  return { reason: 'idp_unreachable', page: idpDownPage(503, link) };
}

function idpDownPage(status: number, link: Link): HttpResult {
  return errorPage(status, 'Microsoft sign-in did not answer', [
    'The bot could not reach Microsoft sign-in to finish signing you in.',
    RETRY_LATER,
  ], link);
}
