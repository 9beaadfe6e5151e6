import { RequestError, validateActivity } from './activity';
import type { ReceiverContext } from './context';
import { handleSsoInvoke, type SsoOptions } from './sso';

/**
 * Invoke activities, answered in the same HTTP response with InvokeResponse semantics: the HTTP status is `status`,
 * the HTTP body is `body` as JSON.
 *
 * - `signin/tokenExchange`, `signin/verifyState`, `signin/failure`: Teams SSO, see ./sso.ts and docs/sso.md;
 * - any other name: 501 Not Implemented, as botbuilder's ActivityHandler answers an unhandled invoke.
 *
 * `activity` is the authenticated, tenant-checked activity the receiver routed here (index.ts validated it already;
 * the validation is repeated to get its typed form, and a malformed one answers 400).
 */
export async function handleInvoke(
  activity: Record<string, unknown>,
  ctx: ReceiverContext,
  opts: SsoOptions = {},
): Promise<{ status: number; body?: unknown }> {
  let inbound;
  try {
    inbound = validateActivity(activity);
  } catch (err) {
    if (err instanceof RequestError) return { status: err.status, body: { error: err.reason } };
    throw err;
  }
  return (await handleSsoInvoke(inbound, ctx, opts)) ?? { status: 501 };
}
