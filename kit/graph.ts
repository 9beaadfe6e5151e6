/**
 * A small Microsoft Graph client that sends the user's delegated token ONLY to the configured Graph base URL (from
 * the cloud profile or `TDAB_GRAPH_BASE_URL`). Paths are relative (`/v1.0/me`); an absolute URL is accepted only when
 * its origin is the Graph base URL's (e.g. `@odata.nextLink`), so a URL taken from a message (`contentUrl`, links)
 * can never receive the token. Redirects are not followed. Every call has a timeout.
 */
import { HttpResponse, httpRequest } from '../lambda/shared/http';
import { log } from '../lambda/shared/log';
import { isHttpsOrLoopback } from '../src/private/shared-data';

/** Graph answered with an error status; `code` is Graph's `error.code` (e.g. `InvalidAuthenticationToken`). */
export class GraphError extends Error {
  /** HTTP status (0: no response). */
  readonly status: number;
  /** Graph's error code, when it sent one. */
  readonly code?: string;
  constructor(status: number, code?: string, detail?: string) {
    super(`Microsoft Graph request failed: ${status ? `status ${status}` : detail ?? 'no response'}${code ? ` (${code})` : ''}`);
    this.name = 'GraphError';
    this.status = status;
    this.code = code;
  }
}

/** The URL is not on the Graph host: the token is not sent. */
export class GraphUrlError extends Error {
  constructor(problem: string) {
    super(`refusing to call this URL with the user's token: ${problem}`);
    this.name = 'GraphUrlError';
  }
}

/** Options of {@link GraphClient}. */
export interface GraphClientOptions {
  /** Graph base URL without a trailing slash, e.g. `https://graph.microsoft.com`. */
  baseUrl: string;
  /** The user's delegated access token. */
  token: string;
  /** Timeout of each call (default 10000 ms). */
  timeoutMs?: number;
  /** Retries of 429 (any method) and 502/503/504 (idempotent methods only) (default 2). */
  maxRetries?: number;
  /** Cap on one wait honouring `Retry-After` (default 5000 ms). */
  maxRetryDelayMs?: number;
  /** Sleep function (tests). */
  sleep?: (ms: number) => Promise<void>;
}

/** Options of one Graph request. */
export interface GraphRequestOptions {
  /** JSON body. */
  body?: unknown;
  /** Query parameters, appended URL-encoded. */
  query?: Record<string, string>;
  /** Extra headers (`Authorization` cannot be overridden). */
  headers?: Record<string, string>;
}

/** The fields of `GET /v1.0/me` the default worker uses. */
export interface GraphUser {
  id: string;
  displayName?: string;
  userPrincipalName?: string;
  mail?: string;
  [key: string]: unknown;
}

/** True for an https URL on a host under one of `suffixes` (e.g. `.sharepoint.com`), or a loopback URL (tests). */
function isDownloadHost(url: URL, suffixes: readonly string[]): boolean {
  if (url.username || url.password || !isHttpsOrLoopback(url)) return false;
  if (url.protocol === 'http:') return true; // loopback only (isHttpsOrLoopback)
  const host = url.hostname.toLowerCase();
  return suffixes.some((s) => s.startsWith('.') && host.endsWith(s) && host.length > s.length);
}

const IDEMPOTENT = new Set(['GET', 'HEAD', 'PUT', 'DELETE', 'OPTIONS']);

/** Microsoft Graph as the user: `get`, `request`, `me`. */
export class GraphClient {
  /** The only origin this client sends the token to. */
  readonly baseUrl: string;
  private readonly origin: string;
  private readonly token: string;
  private readonly timeoutMs: number;
  private readonly maxRetries: number;
  private readonly maxRetryDelayMs: number;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(opts: GraphClientOptions) {
    const base = new URL(opts.baseUrl);
    if (!isHttpsOrLoopback(base)) {
      throw new GraphUrlError('the Graph base URL must use https');
    }
    this.baseUrl = opts.baseUrl.replace(/\/+$/, '');
    this.origin = base.origin;
    this.token = opts.token;
    this.timeoutMs = opts.timeoutMs ?? 10_000;
    this.maxRetries = Math.max(0, opts.maxRetries ?? 2);
    this.maxRetryDelayMs = opts.maxRetryDelayMs ?? 5000;
    this.sleep = opts.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
  }

  /**
   * Resolves a Graph path (`/v1.0/me`) or an absolute Graph URL to the URL that will be called; throws
   * {@link GraphUrlError} for anything not on the Graph base URL's origin.
   */
  resolve(pathOrUrl: string, query?: Record<string, string>): string {
    if (typeof pathOrUrl !== 'string' || pathOrUrl === '') throw new GraphUrlError('empty path');
    let url: URL;
    if (pathOrUrl.startsWith('/') && !pathOrUrl.startsWith('//')) {
      url = new URL(`${this.baseUrl}${pathOrUrl}`);
    } else if (/^[a-z][a-z0-9+.-]*:/i.test(pathOrUrl)) {
      try {
        url = new URL(pathOrUrl);
      } catch {
        throw new GraphUrlError('not a valid URL');
      }
    } else {
      throw new GraphUrlError('use a path starting with "/" (e.g. /v1.0/me) or a Graph URL');
    }
    if (url.origin !== this.origin || url.username || url.password) {
      throw new GraphUrlError('the host is not Microsoft Graph');
    }
    if (!url.pathname.startsWith(new URL(this.baseUrl).pathname.replace(/\/?$/, '/'))) {
      throw new GraphUrlError('the path is outside the Graph base URL');
    }
    for (const [k, v] of Object.entries(query ?? {})) url.searchParams.set(k, v);
    return url.toString();
  }

  /** `GET` a Graph resource as JSON. */
  get<T = unknown>(pathOrUrl: string, query?: Record<string, string>): Promise<T> {
    return this.request<T>('GET', pathOrUrl, { query });
  }

  /** The signed-in user (`GET /v1.0/me`). */
  me(select: string[] = ['id', 'displayName', 'userPrincipalName', 'mail']): Promise<GraphUser> {
    return this.get<GraphUser>('/v1.0/me', { $select: select.join(',') });
  }

  /**
   * Downloads binary content (`…/content`, `…/hostedContents/{id}/$value`) as the user, at most `maxBytes`. Graph
   * answers file content with a redirect to a pre-authenticated download URL: it is followed only to a host of
   * `redirectHostSuffixes` (https; loopback for tests) and gets no credential (no `Authorization`, no cookie).
   */
  async download(
    pathOrUrl: string, opts: { maxBytes: number; redirectHostSuffixes?: readonly string[] },
  ): Promise<{ bytes: Buffer; contentType?: string }> {
    const url = this.resolve(pathOrUrl);
    let res = await this.fetchBytes(url, { authorization: `Bearer ${this.token}` }, opts.maxBytes);
    if (res.status >= 300 && res.status < 400) {
      const location = res.headers.get('location');
      const target = location ? new URL(location, url) : undefined;
      if (!target || !isDownloadHost(target, opts.redirectHostSuffixes ?? [])) throw new GraphUrlError('the download redirect is not to an allowed host');
      res = await this.fetchBytes(target.toString(), {}, opts.maxBytes);
    }
    if (res.status < 200 || res.status >= 300) {
      log.warn('graph_error', { method: 'GET', status: res.status });
      throw new GraphError(res.status);
    }
    return { bytes: res.bytes, contentType: res.headers.get('content-type') ?? undefined };
  }

  private async fetchBytes(url: string, headers: Record<string, string>, maxBytes: number): Promise<HttpResponse> {
    try {
      return await httpRequest(url, { headers, timeoutMs: this.timeoutMs, maxResponseBytes: maxBytes });
    } catch (err) {
      const name = (err as Error).name;
      log.warn('graph_request_failed', { method: 'GET', error: err });
      throw new GraphError(0, name === 'HttpBodyError' ? 'TooLarge' : undefined, name === 'HttpTimeoutError' ? 'timeout' : 'network error');
    }
  }

  /** Any Graph call; returns the parsed JSON (undefined for 204 / an empty body). */
  async request<T = unknown>(method: string, pathOrUrl: string, opts: GraphRequestOptions = {}): Promise<T> {
    const url = this.resolve(pathOrUrl, opts.query);
    const m = method.toUpperCase();
    const headers: Record<string, string> = { accept: 'application/json' };
    for (const [k, v] of Object.entries(opts.headers ?? {})) {
      if (k.toLowerCase() !== 'authorization') headers[k] = v;
    }
    headers.authorization = `Bearer ${this.token}`;
    let body: string | undefined;
    if (opts.body !== undefined) {
      body = typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body);
      headers['content-type'] ??= 'application/json';
    }
    for (let attempt = 0; ; attempt++) {
      let res: HttpResponse;
      try {
        res = await httpRequest(url, { method: m, headers, body, timeoutMs: this.timeoutMs });
      } catch (err) {
        log.warn('graph_request_failed', { method: m, error: err });
        throw new GraphError(0, undefined, (err as Error).name === 'HttpTimeoutError' ? 'timeout' : 'network error');
      }
      if (res.status >= 200 && res.status < 300) {
        if (res.status === 204 || res.text === '') return undefined as T;
        return res.json<T>();
      }
      let code: string | undefined;
      try {
        const c = res.json<{ error?: { code?: unknown } }>()?.error?.code;
        if (typeof c === 'string' && /^[A-Za-z0-9_.-]{1,80}$/.test(c)) code = c;
      } catch {
        code = undefined;
      }
      const retryable = res.status === 429 || ([502, 503, 504].includes(res.status) && IDEMPOTENT.has(m));
      if (retryable && attempt < this.maxRetries) {
        const raHeader = res.headers.get('retry-after');
        const ra = raHeader === null || raHeader.trim() === '' ? Number.NaN : Number(raHeader);
        const delayMs = Math.min(this.maxRetryDelayMs, Number.isFinite(ra) && ra >= 0 ? ra * 1000 : 200 * 2 ** attempt);
        log.warn('graph_retry', { method: m, status: res.status, errorCode: code, attempt: attempt + 1, delayMs });
        await this.sleep(delayMs);
        continue;
      }
      log.warn('graph_error', { method: m, status: res.status, errorCode: code });
      throw new GraphError(res.status, code);
    }
  }
}
