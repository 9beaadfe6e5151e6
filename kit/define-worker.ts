/**
 * `defineWorker`: a once-per-container setup (kit/setup.ts) and a per-event lifecycle of named phases
 * (kit/lifecycle.ts: validate, claim, decrypt, run, finish).
 */
import { claim, decrypt, fail, finish, run, validate } from './lifecycle';
import { once } from './setup';
import { Turn } from './turn';
import type { LambdaContextLike, WorkerFunction, WorkerHandler, WorkerOptions, WorkerResult } from './types';
import { resetLogKeys } from '../lambda/shared/log';
import { flushMetrics, startMetrics } from '../lambda/shared/metrics';

/**
 * Wraps a worker function into a Lambda handler for worker contract events (see the kit's module documentation).
 * Configuration comes from the `TDAB_*` environment variables the construct sets (docs/configuration.md): app id,
 * tenant id, secret ARN, conversation table, cloud profile and endpoint overrides.
 */
export function defineWorker(fn: WorkerFunction, options: WorkerOptions = {}): WorkerHandler {
  const runtime = once(options);
  const handle = async (input: unknown, context?: LambdaContextLike): Promise<WorkerResult> => {
    const rt = runtime();
    const event = validate(input);
    const turn = await claim(rt, event, context);
    if (!(turn instanceof Turn)) return turn;
    try {
      const token = await decrypt(rt, turn);
      await run(rt, fn, turn, token, context);
    } catch (err) {
      return fail(rt, turn, err);
    }
    return finish(rt, turn);
  };
  // Per invocation: the request id on every log line, and one EMF line (replies, apologies, failures) at the end.
  return async (input: unknown, context?: LambdaContextLike): Promise<WorkerResult> => {
    startMetrics('Worker');
    resetLogKeys(context?.awsRequestId === undefined ? {} : { requestId: context.awsRequestId });
    try {
      return await handle(input, context);
    } finally {
      flushMetrics();
    }
  };
}
