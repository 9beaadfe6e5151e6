/**
 * A counting, fault-injecting HTTP proxy for the local servers (DynamoDB Local, moto_server, oidc-provider, ...).
 *
 * Put it in front of an upstream on 127.0.0.1 and point the code under test at `proxy.endpoint`: every request is
 * recorded (method, path, `X-Amz-Target` operation, status) before it is forwarded, so benchmarks count round trips
 * per path "at the server", and tests can make the next N matching requests fail the way AWS or an IdP fails:
 * a status + body (e.g. DynamoDB `ProvisionedThroughputExceededException`), a delay longer than the caller's
 * timeout, or a dropped connection.
 *
 * Only 127.0.0.1: the upstream must be a local URL.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request seen by the proxy. */
export interface ProxiedRequest {
  readonly method: string;
  /** Path and query as received. */
  readonly path: string;
  /** AWS JSON protocol operation: the part of `X-Amz-Target` after the dot (`GetItem`, `Encrypt`, ...). */
  readonly operation?: string;
  /** Milliseconds since the proxy started. */
  readonly at: number;
  /** Status sent back to the client (filled when the response is sent). */
  status?: number;
  /** True when the response was produced by an injected fault, not by the upstream. */
  injected?: boolean;
  /** Request body (UTF-8, first 64 KiB), available to `match` and taps; dropped from `requests` after the response. */
  body?: string;
}

/** A fault to inject into the next `times` requests that `match` (default: every request). */
export interface Fault {
  /** Which requests the fault applies to (default: all). */
  readonly match?: (req: ProxiedRequest) => boolean;
  /** How many matching requests fail (default 1). */
  readonly times?: number;
  /** Status to answer with (default 500). Ignored when `reset` is set. */
  readonly status?: number;
  /** Response body (default empty). */
  readonly body?: string;
  /** Response headers. */
  readonly headers?: Record<string, string>;
  /** Wait this long before answering (a timeout test: longer than the caller's timeout). */
  readonly delayMs?: number;
  /** Destroy the connection instead of answering. */
  readonly reset?: boolean;
  /**
   * Forward the request to the upstream (which processes it) but hold its answer this long: "delivered, answered
   * late", the ambiguous outcome a client timeout produces. `status`, `body` and `delayMs` are ignored.
   */
  readonly delayResponseMs?: number;
}

/** A running proxy. */
export interface FaultProxy {
  /** `http://127.0.0.1:<port>`: use it as the endpoint of the code under test. */
  readonly endpoint: string;
  /** Every request in arrival order. */
  readonly requests: ProxiedRequest[];
  /** Adds a fault (faults are matched in the order they were added). */
  inject(fault: Fault): void;
  /** Removes every pending fault. */
  clearFaults(): void;
  /** Number of faults still armed (sum of remaining `times`). */
  pendingFaults(): number;
  /** Forgets the recorded requests (e.g. between benchmark phases). */
  reset(): void;
  /**
   * Calls `fn` for every request (body included) before faults are matched; returns a function removing the tap.
   * Lets a test act at an exact point of a flow (e.g. arm a failure elsewhere when a given write arrives).
   */
  tap(fn: (req: ProxiedRequest) => void): () => void;
  /** Number of recorded requests matching `pred` (default all). */
  count(pred?: (r: ProxiedRequest) => boolean): number;
  /** Recorded requests grouped by operation (or `METHOD path-without-query` for non-AWS requests). */
  summary(): Record<string, number>;
  /** Stops the proxy; closes kept-alive connections. */
  stop(): Promise<void>;
}

interface ArmedFault { fault: Fault; remaining: number }

/** Builds the body of an AWS JSON-protocol error (DynamoDB, KMS, Lambda-style `__type` + message). */
export function awsJsonError(type: string, message: string): string {
  return JSON.stringify({ __type: type, message });
}

/** DynamoDB throttling as DynamoDB sends it (400, retryable by the SDK). */
export function dynamoThrottle(times = 1, match?: (r: ProxiedRequest) => boolean): Fault {
  return {
    times,
    match,
    status: 400,
    headers: { 'content-type': 'application/x-amz-json-1.0', 'x-amzn-errortype': 'ProvisionedThroughputExceededException' },
    body: awsJsonError('com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException',
      'The level of configured provisioned throughput for the table was exceeded.'),
  };
}

/** A KMS failure (default `KMSInternalException`, 500). */
export function kmsError(times = 1, type = 'KMSInternalException', status = 500, match?: (r: ProxiedRequest) => boolean): Fault {
  return {
    times,
    match,
    status,
    headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-errortype': type },
    body: awsJsonError(type, 'injected KMS failure'),
  };
}

/** Matches an AWS JSON operation by name (`GetItem`, `Encrypt`, ...). */
export function operation(...names: string[]): (r: ProxiedRequest) => boolean {
  return (r) => r.operation !== undefined && names.includes(r.operation);
}

/** Matches a path prefix (query ignored). */
export function pathStartsWith(prefix: string): (r: ProxiedRequest) => boolean {
  return (r) => r.path.split('?')[0].startsWith(prefix);
}

/** Starts a proxy on a free port of 127.0.0.1 forwarding to `upstream` (`http://127.0.0.1:<port>`). */
export async function startFaultProxy(upstream: string): Promise<FaultProxy> {
  const up = new URL(upstream);
  if (up.hostname !== '127.0.0.1' && up.hostname !== 'localhost') {
    throw new Error(`fault proxy: upstream must be local, got ${up.host}`);
  }
  const started = Date.now();
  const requests: ProxiedRequest[] = [];
  let faults: ArmedFault[] = [];
  let taps: Array<(req: ProxiedRequest) => void> = [];
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

  const takeFault = (r: ProxiedRequest): Fault | undefined => {
    for (const armed of faults) {
      if (armed.remaining > 0 && (armed.fault.match ?? (() => true))(r)) {
        armed.remaining -= 1;
        faults = faults.filter((f) => f.remaining > 0);
        return armed.fault;
      }
    }
    return undefined;
  };

  const server = http.createServer((req, res) => {
    const target = req.headers['x-amz-target'];
    const op = typeof target === 'string' && target.includes('.') ? target.slice(target.lastIndexOf('.') + 1) : undefined;
    const rec: ProxiedRequest = { method: req.method ?? 'GET', path: req.url ?? '/', operation: op, at: Date.now() - started };
    requests.push(rec);
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const payload = Buffer.concat(chunks);
      rec.body = payload.subarray(0, 65536).toString('utf8');
      for (const t of taps) t(rec);
      const fault = takeFault(rec);
      delete rec.body;
      if (fault && fault.delayResponseMs === undefined) {
        rec.injected = true;
        const answer = () => {
          if (fault.reset) {
            rec.status = 0;
            req.socket.destroy();
            return;
          }
          rec.status = fault.status ?? 500;
          if (res.destroyed) return;
          res.writeHead(rec.status, { 'content-type': 'application/json', ...fault.headers });
          res.end(fault.body ?? '');
        };
        if (fault.delayMs) {
          const t = setTimeout(answer, fault.delayMs);
          res.on('close', () => clearTimeout(t));
        } else {
          answer();
        }
        return;
      }
      const headers = { ...req.headers, host: up.host };
      const fwd = http.request({
        agent,
        host: up.hostname,
        port: up.port,
        method: req.method,
        path: req.url,
        headers,
        timeout: 30_000,
      }, (upRes) => {
        rec.status = upRes.statusCode;
        const send = () => {
          if (res.destroyed) return;
          res.writeHead(upRes.statusCode ?? 502, upRes.headers);
          upRes.pipe(res);
        };
        if (fault?.delayResponseMs !== undefined) {
          rec.injected = true;
          upRes.pause();
          const t = setTimeout(send, fault.delayResponseMs);
          res.on('close', () => clearTimeout(t));
        } else {
          send();
        }
      });
      fwd.on('timeout', () => fwd.destroy(new Error('upstream timeout')));
      fwd.on('error', () => {
        rec.status = 502;
        if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
        res.end('fault proxy: upstream error');
      });
      fwd.end(payload);
    });
  });
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  let stopped = false;

  return {
    endpoint: `http://127.0.0.1:${port}`,
    requests,
    inject(fault) {
      faults.push({ fault, remaining: fault.times ?? 1 });
    },
    clearFaults() {
      faults = [];
    },
    pendingFaults() {
      return faults.reduce((n, f) => n + f.remaining, 0);
    },
    reset() {
      requests.length = 0;
    },
    tap(fn) {
      taps.push(fn);
      return () => {
        taps = taps.filter((t) => t !== fn);
      };
    },
    count(pred) {
      return pred ? requests.filter(pred).length : requests.length;
    },
    summary() {
      const out: Record<string, number> = {};
      for (const r of requests) {
        const k = r.operation ?? `${r.method} ${r.path.split('?')[0]}`;
        out[k] = (out[k] ?? 0) + 1;
      }
      return out;
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      agent.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
