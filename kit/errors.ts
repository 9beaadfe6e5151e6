/**
 * The kit's errors and the log-safe summary of any error (name, HTTP status, service code; never a message text).
 */

/** Log-safe facts of an error: its name, HTTP status and service error code when it had them. */
export function errorInfo(err: unknown): { name: string; status?: number; code?: string } {
  const e = err as { name?: unknown; status?: unknown; code?: unknown; $metadata?: { httpStatusCode?: unknown } } | undefined;
  const name = typeof e?.name === 'string' && /^[A-Za-z0-9_.]{1,64}$/.test(e.name) ? e.name : 'Error';
  const status = typeof e?.status === 'number' ? e.status
    : typeof e?.$metadata?.httpStatusCode === 'number' ? e.$metadata.httpStatusCode : undefined;
  const code = typeof e?.code === 'string' && /^[A-Za-z0-9_.-]{1,64}$/.test(e.code) ? e.code : undefined;
  return { name, status, code };
}

/** Thrown (to Lambda) when a message failed before it was answered. Carries no message text or token. */
export class WorkerError extends Error {
  /** Name of the underlying error (e.g. `GraphError`). */
  readonly causeName: string;
  /** HTTP status of the underlying error, when it had one. */
  readonly status?: number;
  /** Service error code of the underlying error, when it had one. */
  readonly code?: string;
  constructor(activityId: string, err: unknown) {
    const info = errorInfo(err);
    super(`worker failed before replying to activity ${activityId}: ${info.name}${info.status !== undefined ? ` status ${info.status}` : ''}${info.code ? ` (${info.code})` : ''}`);
    this.name = 'WorkerError';
    this.causeName = info.name;
    this.status = info.status;
    this.code = info.code;
  }
}

/** The event does not belong to this bot or user (wrong KMS key, app id or user in the encryption context). */
export class TokenBindingError extends Error {
  constructor(problem: string) {
    super(`worker event token refused: ${problem}`);
    this.name = 'TokenBindingError';
  }
}
