/**
 * Loads the receiver (lambda/receiver, the TypeScript source through ts-jest) against a {@link World}: applies the
 * world's environment to `process.env` first (the handler creates its SDK clients at module scope and reads its
 * configuration on the first request), then imports it. One receiver per test file (jest's module registry).
 */
import { applyEnv } from '../../support/local-aws';

/** What the receiver answers (a function URL result). */
export interface ReceiverResult {
  statusCode: number;
  headers?: Record<string, string>;
  body?: string;
}

/** The receiver's Lambda entry point. */
export type ReceiverHandler = (event: Record<string, unknown>) => Promise<ReceiverResult>;

/** Sets `env` on `process.env` (clearing variables that would redirect the SDK); returns a restore function. */
export { applyEnv };

/** Imports the receiver after `applyEnv`. */
export async function loadReceiver(): Promise<ReceiverHandler> {
  // require, not import(): ts-jest runs CommonJS, and the module must load only now (after the environment is set).
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const mod = require('../../../lambda/receiver/index') as { handler: ReceiverHandler };
  return mod.handler;
}
