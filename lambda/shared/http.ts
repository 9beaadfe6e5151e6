/**
 * Outbound HTTP: `node:http` / `node:https` (Node's keep-alive global agents) with a timeout on every call (default 5 s,
 * covering the body too), no redirects followed by default, typed errors. Not the global `fetch`: its lazy
 * initialization (undici, llhttp WebAssembly, web streams) cost ~25 ms on the receiver's cold first request
 * (BENCHMARKS.md). Never logs or echoes request or response bodies; error messages carry only the
 * URL's origin and path (query strings can hold codes and states).
 */
import * as http from 'node:http';
import * as https from 'node:https';
import { sanitizeUrl } from './log';

/** Default timeout of an outbound call, in milliseconds. */
export const DEFAULT_TIMEOUT_MS = 5000;

/** A fully read response. */
export interface HttpResponse {
  /** HTTP status code. */
  status: number;
  /** Response headers (case-insensitive `get`, multiple values joined with `, `). */
  headers: { get(name: string): string | null };
  /** The body as text. */
  text: string;
  /** The body as bytes (for binary content such as attachments). */
  bytes: Buffer;
  /** Parses the body as JSON; throws {@link HttpBodyError} (without the body) if it is not JSON. */
  json<T = unknown>(): T;
}

/** Options of {@link httpRequest}. */
export interface HttpRequestInit {
  /** Method (default GET). */
  method?: string;
  /** Request headers. */
  headers?: Record<string, string>;
  /** Request body. */
  body?: string;
  /** Timeout for the whole exchange, body included (default 5000 ms). */
  timeoutMs?: number;
  /** Redirect handling (default `manual`: a 3xx is returned as is, never followed with our headers). */
  redirect?: 'manual' | 'follow' | 'error';
  /** Largest response body read, in bytes (default 5 MiB); more fails with {@link HttpBodyError}. */
  maxResponseBytes?: number;
}

/** The call did not complete within its timeout. */
export class HttpTimeoutError extends Error {
  /** The timeout that elapsed, in milliseconds. */
  readonly timeoutMs: number;
  /** Origin and path of the URL. */
  readonly url: string;
  constructor(url: string, timeoutMs: number) {
    super(`HTTP request to ${url} timed out after ${timeoutMs} ms`);
    this.name = 'HttpTimeoutError';
    this.timeoutMs = timeoutMs;
    this.url = url;
  }
}

/** The call failed before a response arrived (DNS, connection refused, reset, TLS). */
export class HttpNetworkError extends Error {
  /** Origin and path of the URL. */
  readonly url: string;
  /** The low-level error code when known (`ECONNREFUSED`, …). */
  readonly code?: string;
  constructor(url: string, code?: string) {
    super(`HTTP request to ${url} failed${code ? ` (${code})` : ''}`);
    this.name = 'HttpNetworkError';
    this.url = url;
    this.code = code;
  }
}

/** The response body was not what was expected (not JSON, too large). Never contains the body. */
export class HttpBodyError extends Error {
  /** Origin and path of the URL. */
  readonly url: string;
  /** HTTP status of the response. */
  readonly status: number;
  constructor(url: string, status: number, problem: string) {
    super(`HTTP response from ${url} (status ${status}) ${problem}`);
    this.name = 'HttpBodyError';
    this.url = url;
    this.status = status;
  }
}

/** True for errors worth a retry: timeouts and network failures. */
export function isTransientHttpError(err: unknown): boolean {
  return err instanceof HttpTimeoutError || err instanceof HttpNetworkError;
}

function causeCode(err: unknown): string | undefined {
  let e: unknown = err;
  for (let i = 0; i < 4 && e && typeof e === 'object'; i++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && /^[A-Z0-9_]{2,40}$/.test(code)) return code;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

const MAX_REDIRECTS = 5;

/**
 * Performs one HTTP request and reads the whole response. Throws {@link HttpTimeoutError} after `timeoutMs`
 * (default 5 s, body and followed redirects included) and {@link HttpNetworkError} when no response arrives; any status
 * is returned (callers decide).
 */
export async function httpRequest(url: string, init: HttpRequestInit = {}): Promise<HttpResponse> {
  const timeoutMs = init.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const deadline = Date.now() + timeoutMs;
  let target = url;
  for (let hop = 0; ; hop++) {
    const res = await requestOnce(target, init, timeoutMs, deadline);
    const location = res.headers.get('location');
    if ((init.redirect ?? 'manual') === 'manual' || res.status < 300 || res.status >= 400 || !location) return res;
    if (init.redirect === 'error' || hop >= MAX_REDIRECTS) throw new HttpNetworkError(sanitizeUrl(target), 'REDIRECT');
    target = new URL(location, target).toString();
  }
}

function requestOnce(url: string, init: HttpRequestInit, timeoutMs: number, deadline: number): Promise<HttpResponse> {
  // The URL as errors name it (origin and path), computed only for an error.
  let safe: string | undefined;
  const safeUrl = (): string => (safe ??= sanitizeUrl(url));
  const maxBytes = init.maxResponseBytes ?? 5 * 1024 * 1024;
  return new Promise<HttpResponse>((resolve, reject) => {
    let settled = false;
    const settle = (fn: () => void): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      fn();
    };
    let target: URL;
    try {
      target = new URL(url);
      if (target.protocol !== 'https:' && target.protocol !== 'http:') throw new Error('unsupported protocol');
    } catch {
      reject(new HttpNetworkError(safeUrl(), 'BAD_URL'));
      return;
    }
    const client = target.protocol === 'https:' ? https : http;
    const req = client.request(target, { method: init.method ?? 'GET', headers: init.headers }, (res) => {
      const status = res.statusCode ?? 0;
      const declared = Number(res.headers['content-length']);
      if (Number.isFinite(declared) && declared > maxBytes) {
        settle(() => reject(new HttpBodyError(safeUrl(), status, `is larger than ${maxBytes} bytes`)));
        res.destroy();
        return;
      }
      const chunks: Buffer[] = [];
      let total = 0;
      res.on('data', (chunk: Buffer) => {
        total += chunk.length;
        if (total > maxBytes) {
          settle(() => reject(new HttpBodyError(safeUrl(), status, `is larger than ${maxBytes} bytes`)));
          res.destroy();
          return;
        }
        chunks.push(chunk);
      });
      res.on('end', () => {
        const bytes = Buffer.concat(chunks);
        const text = bytes.toString('utf8');
        const raw = res.headers;
        const headers = {
          get(name: string): string | null {
            const v = raw[name.toLowerCase()];
            return v === undefined ? null : Array.isArray(v) ? v.join(', ') : String(v);
          },
        };
        settle(() => resolve({
          status,
          headers,
          text,
          bytes,
          json<T = unknown>(): T {
            try {
              return JSON.parse(text) as T;
            } catch {
              throw new HttpBodyError(safeUrl(), status, 'is not valid JSON');
            }
          },
        }));
      });
      res.on('error', (err) => settle(() => reject(new HttpNetworkError(safeUrl(), causeCode(err)))));
      res.on('aborted', () => settle(() => reject(new HttpNetworkError(safeUrl(), 'ECONNRESET'))));
    });
    const timer = setTimeout(() => {
      settle(() => reject(new HttpTimeoutError(safeUrl(), timeoutMs)));
      req.destroy();
    }, Math.max(0, deadline - Date.now()));
    req.on('error', (err) => settle(() => reject(new HttpNetworkError(safeUrl(), causeCode(err)))));
    req.end(init.body);
  });
}

/** Encodes fields as `application/x-www-form-urlencoded`, skipping undefined values. */
export function formBody(fields: Record<string, string | undefined>): string {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(fields)) {
    if (v !== undefined) p.append(k, v);
  }
  return p.toString();
}
