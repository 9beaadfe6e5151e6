import type { ReceiverContext } from './context';

/**
 * Invoke activities (`signin/tokenExchange`, `signin/verifyState`, `signin/failure`, ...), answered in the same HTTP
 * response with InvokeResponse semantics: the HTTP status is `status`, the HTTP body is `body` as JSON.
 *
 * First version (RECEIVER): no invoke is implemented yet, so every name answers 501 Not Implemented, as botbuilder's
 * ActivityHandler does for an unhandled invoke. The SSO flows replace this file (owner: SSO).
 */
export async function handleInvoke(activity: Record<string, unknown>, ctx: ReceiverContext): Promise<{ status: number; body?: unknown }> {
  void activity;
  void ctx;
  return { status: 501 };
}
