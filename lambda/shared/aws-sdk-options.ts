/**
 * Options of every AWS SDK client the handlers create (receiver, worker kit). Only the options: each handler constructs
 * its clients itself, once per container (shared modules never construct clients).
 *
 * Every call has a connection timeout and a request timeout (`throwOnRequestTimeout`: without it the SDK only logs a
 * warning and keeps waiting), and up to 3 attempts.
 */
export const AWS_SDK_CLIENT_OPTIONS = {
  /** Attempts per call, the first included (the SDK's standard retry strategy). */
  maxAttempts: 3,
  requestHandler: {
    /** Milliseconds to establish the connection. */
    connectionTimeout: 1000,
    /** Milliseconds of socket inactivity before the request is abandoned. */
    requestTimeout: 3000,
    /** Fail the attempt when `requestTimeout` passes (retried within `maxAttempts`). */
    throwOnRequestTimeout: true,
  },
};
