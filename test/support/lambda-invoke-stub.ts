/**
 * A local stand-in for the Lambda Invoke REST API (`POST /2015-03-31/functions/{name}/invocations`) on 127.0.0.1.
 * Point the AWS SDK at it with `AWS_ENDPOINT_URL_LAMBDA` (or the client's `endpoint`).
 *
 * - `X-Amz-Invocation-Type: Event` → 202 at once, then the handler runs asynchronously; an error (throw/reject) is
 *   retried up to `retries` times (Lambda's default: 2), and when every attempt failed an on-failure destination record
 *   shaped like Lambda's is appended to `failures`. A handler that returns normally is a success.
 * - `RequestResponse` (the default) → 200 with the JSON result, or 200 with `X-Amz-Function-Error: Unhandled` and
 *   `{errorMessage, errorType}` when the handler throws.
 * - `DryRun` → 204.
 * - `failNext(status)` makes the next Invoke API calls themselves fail (429 → TooManyRequestsException, 5xx →
 *   ServiceException, 4xx → InvalidRequestContentException) before any handler runs.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createServer, IncomingMessage, ServerResponse } from 'node:http';
import { AddressInfo } from 'node:net';

/** The handler the stub runs: `(event, context)` like Lambda's Node.js runtime. */
export type StubHandler = (event: unknown, context: StubContext) => Promise<unknown>;

/** The part of Lambda's context object the stub provides. */
export interface StubContext {
  awsRequestId: string;
  functionName: string;
  invokedFunctionArn: string;
  getRemainingTimeInMillis(): number;
}

/** An on-failure destination record (what Lambda sends to SQS/SNS/EventBridge/Lambda destinations). */
export interface FailureRecord {
  version: '1.0';
  timestamp: string;
  requestContext: { requestId: string; functionArn: string; condition: 'RetriesExhausted' | 'EventAgeExceeded'; approximateInvokeCount: number };
  requestPayload: unknown;
  responseContext: { statusCode: number; executedVersion: string; functionError: 'Unhandled' };
  responsePayload: { errorMessage: string; errorType: string };
}

/** One accepted Invoke call. */
export interface InvocationRecord {
  functionName: string;
  invocationType: 'Event' | 'RequestResponse' | 'DryRun';
  payload: unknown;
  requestId: string;
}

/** One run of the handler. */
export interface AttemptRecord {
  requestId: string;
  attempt: number;
  ok: boolean;
  error?: string;
}

/** Options of the stub. */
export interface LambdaInvokeStubOptions {
  handler?: StubHandler;
  /** Retries of a failed asynchronous invocation (default 2, like Lambda). */
  retries?: number;
  /** Delay before each retry (default 20 ms; Lambda waits about 1 and 2 minutes). */
  retryDelayMs?: number;
  /** Remaining time the context reports at the start of each attempt (default 30 s). */
  timeoutMs?: number;
}

/** A running stub. */
export interface LambdaInvokeStub {
  endpoint: string;
  /** Payloads of accepted Invoke calls, in order. */
  invocations: unknown[];
  /** Details of accepted Invoke calls. */
  records: InvocationRecord[];
  /** Every handler run (first attempts and retries). */
  attempts: AttemptRecord[];
  /** On-failure destination records. */
  failures: FailureRecord[];
  /** The next `times` Invoke calls fail with `status`, after `after` more calls succeed (default 0). */
  failNext(status: number, times?: number, after?: number): void;
  /** Replaces the handler (e.g. after the bundle is loaded). */
  setHandler(handler: StubHandler): void;
  /** Resolves when no asynchronous invocation is running or waiting for a retry. */
  idle(): Promise<void>;
  stop(): Promise<void>;
}

const ERROR_TYPES: Record<number, string> = {
  400: 'InvalidRequestContentException',
  403: 'AccessDeniedException',
  404: 'ResourceNotFoundException',
  413: 'RequestTooLargeException',
  429: 'TooManyRequestsException',
};

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function errorOf(e: unknown): { errorMessage: string; errorType: string } {
  if (e instanceof Error) return { errorMessage: e.message, errorType: e.name || 'Error' };
  return { errorMessage: String(e), errorType: 'Error' };
}

const delay = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Starts the Lambda Invoke stand-in on a free port of 127.0.0.1. */
export async function startLambdaInvoke(opts: LambdaInvokeStubOptions = {}): Promise<LambdaInvokeStub> {
  let handler: StubHandler | undefined = opts.handler;
  const retries = opts.retries ?? 2;
  const retryDelayMs = opts.retryDelayMs ?? 20;
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const invocations: unknown[] = [];
  const records: InvocationRecord[] = [];
  const attempts: AttemptRecord[] = [];
  const failures: FailureRecord[] = [];
  const apiFailures: number[] = [];
  let running = 0;
  let idleWaiters: Array<() => void> = [];
  let port = 0;

  const arnOf = (name: string): string =>
    name.startsWith('arn:') ? name : `arn:aws:lambda:us-east-1:000000000000:function:${name}`;

  const contextFor = (functionName: string, requestId: string): StubContext => {
    const deadline = Date.now() + timeoutMs;
    return {
      awsRequestId: requestId,
      functionName,
      invokedFunctionArn: arnOf(functionName),
      getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    };
  };

  const runOnce = async (functionName: string, payload: unknown, requestId: string, attempt: number): Promise<unknown> => {
    if (!handler) throw new Error('lambda-invoke-stub: no handler');
    try {
      const result = await handler(payload, contextFor(functionName, requestId));
      attempts.push({ requestId, attempt, ok: true });
      return result;
    } catch (e) {
      attempts.push({ requestId, attempt, ok: false, error: errorOf(e).errorMessage });
      throw e;
    }
  };

  const runAsync = async (functionName: string, payload: unknown, requestId: string): Promise<void> => {
    let lastError: unknown;
    for (let attempt = 1; attempt <= retries + 1; attempt++) {
      if (attempt > 1) await delay(retryDelayMs);
      try {
        // Lambda hands every attempt a fresh copy of the payload.
        await runOnce(functionName, JSON.parse(JSON.stringify(payload)), requestId, attempt);
        return;
      } catch (e) {
        lastError = e;
      }
    }
    failures.push({
      version: '1.0',
      timestamp: new Date().toISOString(),
      requestContext: { requestId, functionArn: `${arnOf(functionName)}:$LATEST`, condition: 'RetriesExhausted', approximateInvokeCount: retries + 1 },
      requestPayload: payload,
      responseContext: { statusCode: 200, executedVersion: '$LATEST', functionError: 'Unhandled' },
      responsePayload: errorOf(lastError),
    });
  };

  const done = (): void => {
    running--;
    if (running === 0) {
      const ws = idleWaiters;
      idleWaiters = [];
      for (const w of ws) w();
    }
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', `http://127.0.0.1:${port}`);
    const body = await readBody(req);
    const m = /^\/2015-03-31\/functions\/([^/]+)\/invocations$/.exec(url.pathname);
    if (req.method !== 'POST' || !m) {
      res.writeHead(404, { 'content-type': 'application/json', 'x-amzn-errortype': 'ResourceNotFoundException' });
      res.end(JSON.stringify({ Type: 'User', message: `no route ${req.method} ${url.pathname}` }));
      return;
    }
    const failure = apiFailures.shift();
    if (failure !== undefined && failure !== 0) {
      const type = ERROR_TYPES[failure] ?? (failure >= 500 ? 'ServiceException' : 'InvalidRequestContentException');
      res.writeHead(failure, { 'content-type': 'application/json', 'x-amzn-errortype': type, 'x-amzn-requestid': randomUUID() });
      res.end(JSON.stringify({ Type: failure >= 500 ? 'Service' : 'User', message: `stub failure ${failure}` }));
      return;
    }
    const functionName = decodeURIComponent(m[1]);
    const invocationType = (req.headers['x-amz-invocation-type'] as string | undefined) ?? 'RequestResponse';
    if (!['Event', 'RequestResponse', 'DryRun'].includes(invocationType)) {
      res.writeHead(400, { 'content-type': 'application/json', 'x-amzn-errortype': 'InvalidParameterValueException' });
      res.end(JSON.stringify({ Type: 'User', message: `invalid invocation type ${invocationType}` }));
      return;
    }
    let payload: unknown;
    try {
      payload = body.length === 0 ? {} : JSON.parse(body.toString('utf8'));
    } catch {
      res.writeHead(400, { 'content-type': 'application/json', 'x-amzn-errortype': 'InvalidRequestContentException' });
      res.end(JSON.stringify({ Type: 'User', message: 'Could not parse request body into json' }));
      return;
    }
    const requestId = randomUUID();
    if (invocationType === 'DryRun') {
      res.writeHead(204, { 'x-amzn-requestid': requestId });
      res.end();
      return;
    }
    invocations.push(payload);
    records.push({ functionName, invocationType: invocationType as InvocationRecord['invocationType'], payload, requestId });
    if (invocationType === 'Event') {
      running++;
      res.writeHead(202, { 'x-amzn-requestid': requestId });
      res.end();
      setImmediate(() => {
        void runAsync(functionName, payload, requestId).finally(done);
      });
      return;
    }
    try {
      const result = await runOnce(functionName, payload, requestId, 1);
      res.writeHead(200, { 'content-type': 'application/json', 'x-amzn-requestid': requestId, 'x-amz-executed-version': '$LATEST' });
      res.end(result === undefined ? 'null' : JSON.stringify(result));
    } catch (e) {
      res.writeHead(200, {
        'content-type': 'application/json',
        'x-amzn-requestid': requestId,
        'x-amz-function-error': 'Unhandled',
        'x-amz-executed-version': '$LATEST',
      });
      res.end(JSON.stringify(errorOf(e)));
    }
  };

  const server = createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) {
        res.writeHead(500, { 'content-type': 'application/json', 'x-amzn-errortype': 'ServiceException' });
        res.end(JSON.stringify({ Type: 'Service', message: 'stub error' }));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;

  return {
    endpoint: `http://127.0.0.1:${port}`,
    invocations,
    records,
    attempts,
    failures,
    failNext(status, times = 1, after = 0) {
      for (let i = 0; i < after; i++) apiFailures.push(0); // 0: this call succeeds
      for (let i = 0; i < times; i++) apiFailures.push(status);
    },
    setHandler(h) {
      handler = h;
    },
    idle() {
      if (running === 0) return Promise.resolve();
      return new Promise<void>((resolve) => idleWaiters.push(resolve));
    },
    async stop() {
      await new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      });
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// A bundled handler in its own Node process (a "container"): the SDK's dynamic imports do not work inside jest's VM,
// and a separate process is closer to Lambda anyway (module-scope state lives as long as the process).
// ---------------------------------------------------------------------------------------------------------------

/** A bundled handler running in a child process. */
export interface BundledHandler {
  /** Runs the handler in the child; rejects with an Error carrying the handler error's name and message. */
  handler: StubHandler;
  /** Lines the child wrote to stdout / stderr (the structured logs). */
  output: string[];
  /** Ends the child process. */
  stop(): Promise<void>;
}

const RUNNER = `
const mod = require(process.env.TDAB_TEST_BUNDLE);
const fn = mod[process.env.TDAB_TEST_EXPORT || 'handler'];
process.on('disconnect', () => process.exit(0));
process.on('message', async (m) => {
  const deadline = Date.now() + m.remainingMs;
  const context = { awsRequestId: m.requestId, functionName: m.functionName, invokedFunctionArn: m.arn,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()) };
  try {
    const result = await fn(m.event, context);
    process.send({ id: m.id, ok: true, result: result === undefined ? null : result });
  } catch (e) {
    process.send({ id: m.id, ok: false, error: { name: (e && e.name) || 'Error', message: String((e && e.message) || e) } });
  }
});
process.send({ ready: true });
`;

/**
 * Starts `node` with the bundle at `bundlePath` (CommonJS, exporting `handler`) and `env` as its whole environment
 * (plus PATH), and returns a {@link StubHandler} that runs invocations in it.
 */
export async function startBundledHandler(bundlePath: string, env: Record<string, string>, exportName = 'handler'): Promise<BundledHandler> {
  const child = spawn(process.execPath, ['-e', RUNNER], {
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    env: { PATH: process.env.PATH ?? '', ...env, TDAB_TEST_BUNDLE: bundlePath, TDAB_TEST_EXPORT: exportName },
  });
  const output: string[] = [];
  for (const stream of [child.stdout, child.stderr]) {
    let buf = '';
    stream?.setEncoding('utf8');
    stream?.on('data', (d: string) => {
      buf += d;
      const lines = buf.split('\n');
      buf = lines.pop() ?? '';
      output.push(...lines.filter((l) => l !== ''));
    });
  }
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  let nextId = 0;
  let exited = false;
  const exitedPromise = new Promise<void>((resolve) => child.on('exit', () => {
    exited = true;
    for (const p of pending.values()) p.reject(new Error('bundled handler process exited'));
    pending.clear();
    resolve();
  }));
  await new Promise<void>((resolve, reject) => {
    const onMessage = (m: { ready?: boolean }): void => {
      if (m.ready) {
        child.off('message', onMessage);
        resolve();
      }
    };
    child.on('message', onMessage);
    child.once('exit', (code) => reject(new Error(`bundled handler exited during start (code ${code}): ${output.slice(-5).join(' | ')}`)));
  });
  child.on('message', (m: { id?: number; ok?: boolean; result?: unknown; error?: { name: string; message: string } }) => {
    if (m.id === undefined) return;
    const p = pending.get(m.id);
    if (!p) return;
    pending.delete(m.id);
    if (m.ok) {p.resolve(m.result);} else {
      const err = new Error(m.error?.message ?? 'error');
      err.name = m.error?.name ?? 'Error';
      p.reject(err);
    }
  });
  return {
    output,
    handler: (event, context) => new Promise((resolve, reject) => {
      if (exited) return reject(new Error('bundled handler process exited'));
      const id = ++nextId;
      pending.set(id, { resolve, reject });
      child.send({
        id,
        event,
        requestId: context.awsRequestId,
        functionName: context.functionName,
        arn: context.invokedFunctionArn,
        remainingMs: context.getRemainingTimeInMillis(),
      });
    }),
    async stop() {
      if (!exited) child.kill('SIGTERM');
      await exitedPromise;
    },
  };
}
