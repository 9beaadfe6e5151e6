/**
 * Outbound HTTP: the global `fetch` with a timeout on every call (default 5 s, covering the body too), no redirects
 * followed by default, typed errors. Never logs or echoes request or response bodies; error messages carry only the
 * URL's origin and path (query strings can hold codes and states).
 */
import { sanitizeUrl } from './log';

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

function isAbort(err: unknown): boolean {
  const name = (err as { name?: unknown } | undefined)?.name;
  return name === 'TimeoutError' || name === 'AbortError';
}

async function readBody(res: Response, url: string, maxBytes: number): Promise<string> {
  const declared = Number(res.headers.get('content-length'));
  if (Number.isFinite(declared) && declared > maxBytes) {
    await res.body?.cancel().catch(() => undefined);
    throw new HttpBodyError(url, res.status, `is larger than ${maxBytes} bytes`);
  }
  if (!res.body) return '';
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      await reader.cancel().catch(() => undefined);
      throw new HttpBodyError(url, res.status, `is larger than ${maxBytes} bytes`);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * Performs one HTTP request and reads the whole response. Throws {@link HttpTimeoutError} after `timeoutMs`
 * (default 5 s) and {@link HttpNetworkError} when no response arrives; any status is returned (callers decide).
 */
export async function httpRequest(url: string, init: HttpRequestInit = {}): Promise<HttpResponse> {
  const timeoutMs = init.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const safeUrl = sanitizeUrl(url);
  const signal = AbortSignal.timeout(timeoutMs);
  let res: Response;
  try {
    res = await fetch(url, {
      method: init.method ?? 'GET',
      headers: init.headers,
      body: init.body,
      redirect: init.redirect ?? 'manual',
      signal,
    });
  } catch (err) {
    if (isAbort(err) || signal.aborted) throw new HttpTimeoutError(safeUrl, timeoutMs);
    throw new HttpNetworkError(safeUrl, causeCode(err));
  }
  let text: string;
  try {
    text = await readBody(res, safeUrl, init.maxResponseBytes ?? 5 * 1024 * 1024);
  } catch (err) {
    if (err instanceof HttpBodyError) throw err;
    if (isAbort(err) || signal.aborted) throw new HttpTimeoutError(safeUrl, timeoutMs);
    throw new HttpNetworkError(safeUrl, causeCode(err));
  }
  const status = res.status;
  return {
    status,
    headers: res.headers,
    text,
    json<T = unknown>(): T {
      try {
        return JSON.parse(text) as T;
      } catch {
        throw new HttpBodyError(safeUrl, status, 'is not valid JSON');
      }
    },
  };
}

/** Encodes fields as `application/x-www-form-urlencoded`, skipping undefined values. */
export function formBody(fields: Record<string, string | undefined>): string {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(fields)) {
    if (v !== undefined) p.append(k, v);
  }
  return p.toString();
}
