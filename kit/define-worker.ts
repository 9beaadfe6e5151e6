/**
 * `defineWorker`: a once-per-container setup (kit/setup.ts) and a per-event lifecycle of named phases
 * (kit/lifecycle.ts: validate, claim, decrypt, run, finish).
 */
import { claim, decrypt, fail, finish, run, validate } from './lifecycle';
import { once } from './setup';
import { Turn } from './turn';
import type { LambdaContextLike, WorkerFunction, WorkerHandler, WorkerOptions, WorkerResult } from './types';

/**
 * Wraps a worker function into a Lambda handler for worker contract events (see the kit's module documentation).
 * Configuration comes from the `TDAB_*` environment variables the construct sets (docs/configuration.md): app id,
 * tenant id, secret ARN, conversation table, cloud profile and endpoint overrides.
 */
export function defineWorker(fn: WorkerFunction, options: WorkerOptions = {}): WorkerHandler {
  const runtime = once(options);
  return async (input: unknown, context?: LambdaContextLike): Promise<WorkerResult> => {
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
}
