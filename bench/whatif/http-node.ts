/**
 * WHAT-IF, benchmark only (not shipped): lambda/shared/http.ts with `node:http`/`node:https` (keep-alive agents)
 * instead of the global `fetch`. Same exports and errors. The benchmark builds a second receiver bundle with this
 * module swapped in, to measure how much of the receiver's cold first request is the lazy initialization of Node's
 * built-in fetch (undici, its llhttp WebAssembly, web streams). Redirects are never followed (`redirect` ignored).
 */
import * as http from 'node:http';
import * as https from 'node:https';
import { sanitizeUrl } from '../../lambda/shared/log';

/** Default timeout of an outbound call, in milliseconds. */
export const DEFAULT_TIMEOUT_MS = 5000;

/** A fully read response. */
export interface HttpResponse {
  /** HTTP status code. */
  status: number;
  /** Response headers. */
  headers: Headers;
  /** The body as text. */
  text: string;
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


const agents = { http: new http.Agent({ keepAlive: true }), https: new https.Agent({ keepAlive: true }) };

/** node:http variant of httpRequest (what-if experiment for the cold start). */
export async function httpRequest(url: string, init: HttpRequestInit = {}): Promise<HttpResponse> {
  const timeoutMs = init.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const safeUrl = sanitizeUrl(url);
  const maxBytes = init.maxResponseBytes ?? 5 * 1024 * 1024;
  const u = new URL(url);
  const mod = u.protocol === 'https:' ? https : http;
  return new Promise<HttpResponse>((resolve, reject) => {
    const req = mod.request(u, { method: init.method ?? 'GET', headers: init.headers, agent: u.protocol === 'https:' ? agents.https : agents.http }, (res) => {
      const chunks: Buffer[] = [];
      let total = 0;
      res.on('data', (c: Buffer) => {
        total += c.length;
        if (total > maxBytes) { req.destroy(); reject(new HttpBodyError(safeUrl, res.statusCode ?? 0, `is larger than ${maxBytes} bytes`)); return; }
        chunks.push(c);
      });
      res.on('end', () => {
        clearTimeout(timer);
        const text = Buffer.concat(chunks).toString('utf8');
        const status = res.statusCode ?? 0;
        const hdrs = res.headers;
        const headers = { get: (n: string) => { const v = hdrs[n.toLowerCase()]; return v === undefined ? null : Array.isArray(v) ? v.join(', ') : v; } } as unknown as Headers;
        resolve({ status, headers, text, json<T = unknown>(): T { try { return JSON.parse(text) as T; } catch { throw new HttpBodyError(safeUrl, status, 'is not valid JSON'); } } });
      });
      res.on('error', (e) => { clearTimeout(timer); reject(new HttpNetworkError(safeUrl, causeCode(e))); });
    });
    const timer = setTimeout(() => { req.destroy(); reject(new HttpTimeoutError(safeUrl, timeoutMs)); }, timeoutMs);
    req.on('error', (e) => { clearTimeout(timer); reject(new HttpNetworkError(safeUrl, causeCode(e))); });
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
