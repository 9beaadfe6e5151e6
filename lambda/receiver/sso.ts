/**
 * The Teams SSO invoke handlers (invoke.ts maps the names to them), answered with InvokeResponse semantics (`status`
 * becomes the HTTP status, `body` the JSON body). See docs/sso.md for the protocol and the choices made here.
 *
 * - `signin/tokenExchange` `{id, connectionName, token}`: validate the SSO token (tenant JWKS, iss, aud, exp, scp, and
 *   oid/tid = the activity's user), check that `id` was issued for that user (./sign-in-state.ts), claim `sso#{id}#{tid}#{oid}` (one exchange per id and user), exchange it
 *   on-behalf-of, store the tokens, release the prompt marker, resume the pending messages, answer
 *   `200 {id, connectionName}`. Every failure answers `412 {id, connectionName, failureDetail}` (Teams then shows the
 *   sign-in card) and stores nothing. A duplicate (same id and user, from another Teams client) waits briefly for the
 *   first caller's result: 200 once a usable access token is stored, 412 when the first exchange failed or the wait ends.
 * - `signin/verifyState` `{state}`: 404 without a state, 200 if the user is signed in, 412 otherwise.
 * - `signin/failure` `{code, message}`: logs the code and posts one sign-in card with an explanation; answers 200.
 */
import { conversationReferenceOf, userKeyOf, type InboundActivity } from './activity';
import { SSO_CONNECTION_NAME } from './cards';
import type { ReceiverContext } from './context';
import { completeSignIn, promptSignIn, tokenSetOf } from './sign-in';
import type { ConversationReference } from '../shared/contract';
import { OAuthError, OAuthUnavailableError, ssoAudiences, TokenValidationError } from '../shared/entra-oauth';
import { errorName, log } from '../shared/log';
import { countMetric, METRIC } from '../shared/metrics';
import { SignedOutError, isUsable, type StoredToken, type TokenBasis, type TokenSet, type UserKey } from '../shared/token-store';

/** An InvokeResponse: HTTP status and JSON body. */
export interface InvokeResult {
  readonly status: number;
  readonly body?: unknown;
}

/** Body of a tokenExchange answer (Bot Framework `TokenExchangeInvokeResponse`). */
export interface TokenExchangeInvokeResponse {
  readonly id?: string;
  readonly connectionName: string;
  readonly failureDetail?: string;
}

/** Tuning of the SSO flows (tests shorten the waits). */
export interface SsoOptions {
  /** How long a duplicate tokenExchange waits for the first caller's result. @default 5000 */
  readonly duplicateWaitMs?: number;
  /** Poll interval of that wait. @default 250 */
  readonly duplicatePollMs?: number;
  /** How long one `signin/failure` message per user and conversation suppresses the next ones. @default 600 */
  readonly failureMessageIntervalSeconds?: number;
}

/** The invoke names of the SSO handlers. */
export const TOKEN_EXCHANGE = 'signin/tokenExchange';
/** `signin/verifyState` */
export const VERIFY_STATE = 'signin/verifyState';
/** `signin/failure` */
export const SIGNIN_FAILURE = 'signin/failure';

/** Default of {@link SsoOptions.duplicateWaitMs}: below Teams' invoke timeout (about 15 s) with room for the winner. */
export const DUPLICATE_WAIT_MS = 5000;

const MAX_EXCHANGE_ID = 256;
const MAX_SSO_TOKEN = 16384;
// Exchange ids are Teams/OAuthCard ids (UUIDs, or `{uuid}-{connection}`): printable ASCII without spaces or `#`.
const EXCHANGE_ID = /^[\x21-\x22\x24-\x7e]{1,256}$/;

function obj(v: unknown): Record<string, unknown> | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** True if the stored tokens sign the user in: a usable access token, or a refresh token to get one. */
export function isSignedIn(stored: StoredToken | undefined, nowMs: number): boolean {
  if (!stored) return false;
  return isUsable(stored, undefined, Math.floor(nowMs / 1000)) || stored.refreshToken !== undefined;
}

function exchangeFailure(status: number, id: string | undefined, failureDetail: string): InvokeResult {
  const body: TokenExchangeInvokeResponse = { ...(id !== undefined ? { id } : {}), connectionName: SSO_CONNECTION_NAME, failureDetail };
  return { status, body };
}

function exchangeSuccess(id: string): InvokeResult {
  const body: TokenExchangeInvokeResponse = { id, connectionName: SSO_CONNECTION_NAME };
  return { status: 200, body };
}

/** Safe, short failure detail for an error of the validation or the on-behalf-of exchange (never token contents). */
export function failureDetailOf(err: unknown): { reason: string; detail: string } {
  if (err instanceof TokenValidationError) {
    return { reason: `sso_token_${err.reason}`, detail: `The SSO token was not accepted (${err.reason}). Proceed with the sign-in card.` };
  }
  if (err instanceof OAuthError) {
    if (err.consentRequired) {
      return { reason: 'consent_required', detail: 'consent_required: the delegated permissions have not been consented. Proceed with the sign-in card.' };
    }
    if (err.error === 'interaction_required' || err.suberror === 'interaction_required' || err.error === 'login_required') {
      return { reason: 'interaction_required', detail: 'interaction_required: an interactive sign-in is needed (e.g. MFA). Proceed with the sign-in card.' };
    }
    const code = /^[a-z_]{1,64}$/.test(err.error) ? err.error : 'oauth_error';
    return { reason: `obo_${code}`, detail: `${code}: the token could not be exchanged. Proceed with the sign-in card.` };
  }
  if (err instanceof OAuthUnavailableError) {
    return { reason: `idp_unavailable_${err.reason}`, detail: 'The identity provider is unavailable. Proceed with the sign-in card.' };
  }
  return { reason: `error_${errorName(err)}`, detail: 'The token could not be exchanged. Proceed with the sign-in card.' };
}

/** A well-formed `signin/tokenExchange` request of a Teams user, or the answer that refuses it. */
type ExchangeRequest = { id: string; token: string; user: UserKey } | { refused: InvokeResult };

/** Checks the request (400: malformed; 412: SSO disabled). No I/O. */
function exchangeRequestOf(activity: InboundActivity, ctx: ReceiverContext): ExchangeRequest {
  const value = obj(activity.raw.value);
  const id = typeof value?.id === 'string' && EXCHANGE_ID.test(value.id) && value.id.length <= MAX_EXCHANGE_ID ? value.id : undefined;
  const token = typeof value?.token === 'string' && value.token.length > 0 && value.token.length <= MAX_SSO_TOKEN ? value.token : undefined;
  if (!value || !id || !token) {
    log.warn('sso_exchange', { outcome: 'bad_request', reason: !value ? 'missing_value' : !id ? 'invalid_id' : 'invalid_token' });
    return { refused: exchangeFailure(400, id, 'The request is not a TokenExchangeInvokeRequest {id, connectionName, token}.') };
  }
  if (value.connectionName !== SSO_CONNECTION_NAME) {
    // As botbuilder's OAuthPrompt: a connection name the bot never sent is a bad request.
    log.warn('sso_exchange', { outcome: 'bad_request', reason: 'connection_name_mismatch' });
    return { refused: exchangeFailure(400, id, `The connectionName does not match the bot's (${SSO_CONNECTION_NAME}).`) };
  }
  if (!ctx.config.sso.enabled) {
    log.warn('sso_exchange', { outcome: 'failed', reason: 'sso_disabled' });
    return { refused: exchangeFailure(412, id, 'Single sign-on is not enabled for this bot. Proceed with the sign-in card.') };
  }
  try {
    return { id, token, user: userKeyOf(activity) };
  } catch {
    return { refused: exchangeFailure(400, id, 'The activity has no Entra user (from.aadObjectId and tenant).') };
  }
}

/** Validates the SSO token for the activity's user: undefined if it is theirs, else the 412 answer. */
async function refuseForeignToken(id: string, token: string, user: UserKey, ctx: ReceiverContext): Promise<InvokeResult | undefined> {
  try {
    const who = await ctx.oauth.validateSsoToken(token, {
      tenantId: user.tenantId,
      audiences: ssoAudiences(ctx.config.appId, ctx.config.sso.resource),
      requiredScope: ctx.config.sso.scope,
    });
    // Both sides in their one spelling: the claims (entra-oauth.ts) and the activity's user (activity.ts).
    if (who.oid !== user.aadObjectId || who.tid !== user.tenantId) {
      log.warn('sso_exchange', { outcome: 'failed', reason: who.tid !== user.tenantId ? 'tenant_mismatch' : 'user_mismatch' });
      return exchangeFailure(412, id, 'The SSO token belongs to another user than the Teams user. Proceed with the sign-in card.');
    }
    return undefined;
  } catch (err) {
    const f = failureDetailOf(err);
    log.warn('sso_exchange', { outcome: 'failed', reason: f.reason });
    countMetric(METRIC.SIGN_IN_FAILURES, 1, 'sso_exchange_failed');
    return exchangeFailure(412, id, f.detail);
  }
}

/**
 * `signin/tokenExchange`. Never throws: every failure is a 412 (or 400 for a malformed request), nothing stored.
 */
export async function handleTokenExchange(activity: InboundActivity, ctx: ReceiverContext, opts: SsoOptions = {}): Promise<InvokeResult> {
  const request = exchangeRequestOf(activity, ctx);
  if ('refused' in request) return request.refused;
  const { id, token, user } = request;

  // 1. Validate the token (every caller: a duplicate with a foreign or expired token is refused on its own merits).
  const foreign = await refuseForeignToken(id, token, user, ctx);
  if (foreign) return foreign;
  // The card's exchange id is bound to the user it was posted for: another member of a group chat is refused before
  // anything is claimed or stored (the asker's exchange is not burnt).
  if (!(await ctx.signInStates.isExchangeIdOf(id, user))) {
    log.warn('sso_exchange', { outcome: 'failed', reason: 'exchange_id_not_for_user' });
    return exchangeFailure(412, id, 'This sign-in card was posted for another user. Proceed with the sign-in card.');
  }

  // 2. One exchange per id and user: the conditional write decides who performs it.
  const claimKey = ssoClaimKey(id, user);
  let first: boolean;
  try {
    first = await ctx.conversations.claim(claimKey, ctx.config.signinTtlSeconds);
  } catch (err) {
    log.error('sso_exchange', { outcome: 'failed', reason: `claim_failed:${errorName(err)}` });
    return exchangeFailure(412, id, 'The bot could not record the exchange. Proceed with the sign-in card.');
  }
  if (!first) return awaitFirstExchange(id, user, claimKey, ctx, opts);

  // 3. On-behalf-of, then complete the sign-in (store, release the prompt, resume). The sign-out generation is read
  // first: a sign-out from here on wins.
  let tokenSet: TokenSet;
  let basis: TokenBasis;
  try {
    basis = await ctx.tokens.basis(user);
    const scopes = ctx.oauth.scopesFor(ctx.config.graphScopes);
    tokenSet = tokenSetOf(await ctx.oauth.onBehalfOf({ tenantId: user.tenantId, assertion: token, scopes }));
  } catch (err) {
    const f = failureDetailOf(err);
    log.warn('sso_exchange', { outcome: 'failed', reason: f.reason });
    await releaseClaim(ctx, claimKey);
    return exchangeFailure(412, id, f.detail);
  }
  let result;
  try {
    result = await completeSignIn(ctx, user, tokenSet, { basis });
    if (result === 'state_used') throw new Error('no state'); // without a state this cannot happen
  } catch (err) {
    const reason = err instanceof SignedOutError ? 'signed_out_during_exchange' : `token_store_failed:${errorName(err)}`;
    log.error('sso_exchange', { outcome: 'failed', reason });
    countMetric(METRIC.SIGN_IN_FAILURES, 1, 'sso_store_failed');
    await releaseClaim(ctx, claimKey);
    return exchangeFailure(412, id, 'The bot could not store the sign-in. Proceed with the sign-in card.');
  }
  log.info('sso_exchange', { outcome: 'signed_in', resumed: result.resumed, continued: result.continued, remaining: result.remaining });
  countMetric(METRIC.SSO_EXCHANGES);
  return exchangeSuccess(id);
}

/**
 * After a failed exchange the claim is released: a later attempt with the same id (e.g. after an administrator granted
 * consent) exchanges again instead of waiting for a result that will not come. Best effort.
 */
async function releaseClaim(ctx: ReceiverContext, key: string): Promise<void> {
  try {
    await ctx.conversations.releaseClaim(key);
  } catch (err) {
    log.warn('sso_claim_release_failed', { reason: errorName(err) });
  }
}

/** The claim key of one exchange: the id Teams sends, scoped to the user (a group chat shows one card to everyone). */
export function ssoClaimKey(id: string, user: UserKey): string {
  return `sso#${id}#${user.tenantId}#${user.aadObjectId}`;
}

/**
 * A duplicate exchange (another Teams client of the same user, same id): it does not exchange again. It waits up to
 * `duplicateWaitMs` for the first caller's result: 200 as soon as a usable access token is stored; 412 as soon as the first
 * caller released its claim (its exchange failed, e.g. consent required: its client shows the sign-in card, and so
 * does this one), or when the wait ends.
 */
async function awaitFirstExchange(id: string, user: UserKey, claimKey: string, ctx: ReceiverContext, opts: SsoOptions): Promise<InvokeResult> {
  const waitMs = opts.duplicateWaitMs ?? DUPLICATE_WAIT_MS;
  const pollMs = Math.max(10, opts.duplicatePollMs ?? 250);
  const deadline = Date.now() + waitMs;
  for (;;) {
    try {
      // A usable access token (not merely a refresh token left from an earlier sign-in): what the first caller stores.
      const stored = await ctx.tokens.get(user);
      if (stored && isUsable(stored, undefined, Math.floor(ctx.now() / 1000))) {
        log.info('sso_exchange', { outcome: 'duplicate_signed_in' });
        return exchangeSuccess(id);
      }
      if (await ctx.conversations.claim(claimKey, ctx.config.signinTtlSeconds)) {
        // The first caller gave up (failure) and released the claim: report the failure, leave the way free again.
        await releaseClaim(ctx, claimKey);
        log.info('sso_exchange', { outcome: 'duplicate_first_failed' });
        return exchangeFailure(412, id, 'The token exchange of another Teams client failed. Proceed with the sign-in card.');
      }
    } catch (err) {
      log.warn('sso_exchange', { outcome: 'duplicate_lookup_failed', reason: errorName(err) });
    }
    if (Date.now() + pollMs > deadline) break;
    await sleep(pollMs);
  }
  log.info('sso_exchange', { outcome: 'duplicate_not_signed_in' });
  return exchangeFailure(412, id, 'Another Teams client is exchanging this token and has not signed you in yet. Proceed with the sign-in card.');
}

/**
 * `signin/verifyState` `{state}`. This bot has no magic codes (no Azure Bot token service): the state is never a
 * credential. The answer says whether the authenticated Teams user is signed in now (for example through the sign-in
 * card in Teams' pop-up): 200 signed in; 404 no state in the request (nothing to verify, as botbuilder and teams.ts
 * answer); 412 not signed in (the sign-in did not complete; Teams keeps the sign-in card).
 */
export async function handleVerifyState(activity: InboundActivity, ctx: ReceiverContext): Promise<InvokeResult> {
  const state = obj(activity.raw.value)?.state;
  if (typeof state !== 'string' || state.length === 0) {
    log.info('sso_verify_state', { outcome: 'no_state' });
    return { status: 404 };
  }
  const user = userKeyOf(activity);
  const signedIn = isSignedIn(await ctx.tokens.get(user), ctx.now());
  log.info('sso_verify_state', { outcome: signedIn ? 'signed_in' : 'not_signed_in' });
  return { status: signedIn ? 200 : 412 };
}

/** What the user reads after a `signin/failure`, by Teams' failure code. */
export function failureMessage(code: string): { title: string; text: string } {
  switch (code) {
    case 'usercancelled':
      return { title: 'Sign-in cancelled', text: 'The sign-in was cancelled. Whenever you are ready, sign in with the button below: I will then answer your messages.' };
    case 'resourcematchfailed':
    case 'resourcenotfound':
    case 'installedappnotfound':
    case 'installappfailed':
      return {
        title: 'Sign in to continue',
        text: 'Automatic sign-in is not available for this app right now (your administrator has been told why in the bot\'s logs). '
          + 'Please sign in with the button below: I will then answer your messages.',
      };
    default:
      return { title: 'Sign in to continue', text: 'Automatic sign-in did not work this time. Please sign in with the button below: I will then answer your messages.' };
  }
}

/** Hints for administrators, logged with the failure code (Teams' documented `signin/failure` codes). */
const FAILURE_HINTS: Record<string, string> = {
  resourcematchfailed: 'webApplicationInfo.resource in the Teams manifest must equal the app registration\'s Application ID URI and the SSO resource (api://botid-{appId})',
  resourcenotfound: 'the Application ID URI of the app registration does not exist or has no access_as_user scope',
  installedappnotfound: 'the Teams app is not installed for this user or the manifest has no webApplicationInfo',
  installappfailed: 'Teams could not install the app for the user',
  authrequestfailed: 'Entra refused the token request of the Teams client (pre-authorized client ids, consent, conditional access)',
  signinrequestfailed: 'the Teams client could not start the sign-in',
  invokeerror: 'the Teams client could not send the tokenExchange invoke',
  usercancelled: 'the user closed the sign-in',
};

/**
 * `signin/failure` `{code, message}`: Teams could not run SSO. Logs the code (with a hint for administrators; the
 * free-text message is not logged) and posts one sign-in card with an explanation, so the user is never left in
 * silence. At most one such message per user and conversation every `failureMessageIntervalSeconds` (several Teams
 * clients report the same failure). Answers 200.
 */
export async function handleSigninFailure(activity: InboundActivity, ctx: ReceiverContext, opts: SsoOptions = {}): Promise<InvokeResult> {
  const rawCode = obj(activity.raw.value)?.code;
  const code = typeof rawCode === 'string' && /^[A-Za-z_]{1,64}$/.test(rawCode) ? rawCode.toLowerCase() : 'unknown';
  log.warn('sso_signin_failure', { code, hint: FAILURE_HINTS[code] ?? 'unknown failure code' });
  const user = userKeyOf(activity);
  const interval = opts.failureMessageIntervalSeconds ?? 600;
  const failureKey = `ssofailure#${activity.conversation.id}#${user.tenantId}#${user.aadObjectId}`;
  let first: boolean;
  try {
    first = await ctx.conversations.claim(failureKey, interval);
  } catch (err) {
    log.error('sso_signin_failure_claim_failed', { reason: errorName(err) });
    first = true; // better a second message than silence
  }
  if (!first) {
    log.info('sso_signin_failure', { outcome: 'duplicate' });
    return { status: 200 };
  }
  const conversation: ConversationReference = conversationReferenceOf(activity);
  const message = failureMessage(code);
  const posted = await promptSignIn(ctx, {
    user: { ...user, teamsUserId: activity.from.id },
    conversation,
    card: message,
    omitSsoCard: true, // another token exchange would fail the same way (and loop)
  });
  if (!posted) await releaseClaim(ctx, failureKey); // the next report may try again
  log.info('sso_signin_failure', { outcome: posted ? 'card_sent' : 'card_failed' });
  return { status: 200 };
}
