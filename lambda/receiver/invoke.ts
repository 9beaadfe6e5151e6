/**
 * Invoke activities, answered in the same HTTP response with InvokeResponse semantics: the HTTP status is `status`,
 * the HTTP body is `body` as JSON. One table maps each invoke name to its handler:
 *
 * - `signin/tokenExchange`, `signin/verifyState`, `signin/failure`: Teams SSO, see ./sso.ts and docs/sso.md;
 * - any other name: 501 Not Implemented, as botbuilder's ActivityHandler answers an unhandled invoke.
 *
 * The activity is the one index.ts validated (authenticated, tenant allowed, `validateActivity` passed: an invoke has
 * an id, a user and a tenant); it is not validated again here.
 */
import type { InboundActivity } from './activity';
import type { ReceiverContext } from './context';
import {
  handleSigninFailure,
  handleTokenExchange,
  handleVerifyState,
  SIGNIN_FAILURE,
  TOKEN_EXCHANGE,
  VERIFY_STATE,
  type InvokeResult,
  type SsoOptions,
} from './sso';

/** A handler of one invoke name. Never throws for a bad request (answers 4xx); a failing dependency may throw (503). */
export type InvokeHandler = (activity: InboundActivity, ctx: ReceiverContext, opts: SsoOptions) => Promise<InvokeResult>;

/** The invoke names this bot handles, and their handlers. */
export const INVOKE_HANDLERS: Readonly<Record<string, InvokeHandler>> = Object.freeze({
  [TOKEN_EXCHANGE]: handleTokenExchange,
  [VERIFY_STATE]: (activity: InboundActivity, ctx: ReceiverContext) => handleVerifyState(activity, ctx),
  [SIGNIN_FAILURE]: handleSigninFailure,
});

/** The handler of an invoke name, or `undefined` for a name this bot does not handle. */
export function invokeHandlerFor(name: unknown): InvokeHandler | undefined {
  return typeof name === 'string' && Object.prototype.hasOwnProperty.call(INVOKE_HANDLERS, name) ? INVOKE_HANDLERS[name] : undefined;
}

/** Answers a validated invoke activity: its handler's result, or 501 for a name without one. */
export async function handleInvoke(activity: InboundActivity, ctx: ReceiverContext, opts: SsoOptions = {}): Promise<InvokeResult> {
  const handler = invokeHandlerFor(activity.raw.name);
  return handler ? handler(activity, ctx, opts) : { status: 501 };
}
