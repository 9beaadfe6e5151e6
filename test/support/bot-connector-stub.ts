/**
 * A local stand-in for the Bot Connector REST API v3 (the Teams side of outbound bot calls), on 127.0.0.1.
 *
 * Routes (under the service URL's path prefix, `/amer/` by default, like Teams' regional service URLs):
 * - `POST v3/conversations/{conversationId}/activities` (send to conversation, typing)
 * - `POST v3/conversations/{conversationId}/activities/{replyToId}` (reply to activity)
 * - `PUT  v3/conversations/{conversationId}/activities/{activityId}` (update activity)
 *
 * Every accepted call is recorded with its Authorization header. `failNext` makes the next calls fail like the real
 * service (`{"error":{"code","message"}}`), `verifyToken` can reject bearer tokens with 401. A path containing `//`
 * (naive URL joining) gets 404, like a wrong route would.
 */
import { randomBytes } from 'node:crypto';
import { createServer, IncomingMessage, ServerResponse } from 'node:http';
import { AddressInfo } from 'node:net';

/** One call the stub accepted. */
export interface RecordedActivity {
  method: string;
  /** Raw request path (still URL-encoded). */
  path: string;
  /** The decoded conversation id of the path. */
  conversationId: string;
  /** `replyToId` (POST …/activities/{id}) or the updated activity id (PUT). */
  activityId?: string;
  /** The JSON body. */
  activity: any;
  authorization?: string;
  /** The id the stub answered with. */
  id: string;
  /** When the stub accepted the call: `performance.now()` of the stub's process (benchmarks time the first text). */
  at: number;
}

/** Options of the stub. */
export interface BotConnectorStubOptions {
  /** Path prefix of the service URL (default `/amer/`). */
  pathPrefix?: string;
  /** Called with the Authorization header of every call; false (or a throw) → 401. */
  verifyToken?: (authorization: string | undefined) => boolean | Promise<boolean>;
}

/** A running stub. */
export interface BotConnectorStub {
  /** `http://127.0.0.1:{port}/amer/` (ends with `/`, like Teams'). */
  serviceUrl: string;
  /** `http://127.0.0.1:{port}` (an allow-list entry for tests). */
  origin: string;
  /** Accepted calls, in order (typing activities included). */
  activities: RecordedActivity[];
  /** Attachment downloads seen (path and the Authorization header presented). */
  downloads: Array<{ path: string; authorization?: string; status: number }>;
  /** Every request received, accepted or not. */
  requests: Array<{ method: string; path: string; status: number }>;
  /**
   * The next `times` (default 1) calls fail with `status` and body `{"error":{"code"}}`; `headers` (e.g.
   * `{"Retry-After": "1"}`) are sent with each failure. Default codes: 403 `BotNotInConversationRoster`, 429
   * `Throttled`, 401 `Unauthorized`, 404 `ConversationNotFound`, others `ServiceError`.
   */
  failNext(status: number, times?: number, headers?: Record<string, string>, code?: string): void;
  /**
   * The next `times` (default 1) calls are recorded as accepted but never answered (the connection stays open until
   * `stop()`): a reply that was posted although the caller timed out.
   */
  hangNext(times?: number): void;
  /** Accepted non-typing activities (replies and sends). */
  messages(): RecordedActivity[];
  /** Serves bytes at `GET {serviceUrl}v3/attachments/{id}/views/{view}` (an inline image the user sent); returns that URL. */
  addAttachment(id: string, bytes: Buffer, contentType: string): string;

  /** Resolves when at least `count` non-typing activities were accepted (rejects after `timeoutMs`). */
  waitForMessages(count: number, timeoutMs?: number): Promise<RecordedActivity[]>;
  stop(): Promise<void>;
}

const DEFAULT_CODES: Record<number, string> = {
  401: 'Unauthorized',
  403: 'BotNotInConversationRoster',
  404: 'ConversationNotFound',
  429: 'Throttled',
};

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = body === undefined ? '' : JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers });
  res.end(text);
}

/** Starts the Bot Connector stand-in on a free port of 127.0.0.1. */
export async function startBotConnector(opts: BotConnectorStubOptions = {}): Promise<BotConnectorStub> {
  let prefix = opts.pathPrefix ?? '/amer/';
  if (!prefix.startsWith('/')) prefix = `/${prefix}`;
  if (!prefix.endsWith('/')) prefix = `${prefix}/`;
  const activities: RecordedActivity[] = [];
  const requests: BotConnectorStub['requests'] = [];
  const failures: Array<{ status: number; headers: Record<string, string>; code: string }> = [];
  let hangs = 0;
  const waiters: Array<() => void> = [];

  const attachments = new Map<string, { bytes: Buffer; contentType: string }>();
  const downloads: BotConnectorStub['downloads'] = [];
  const attachmentRoute = new RegExp(`^${prefix.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}v3/attachments/([^/]+)/views/[a-z_]+$`);
  const route = new RegExp(`^${prefix.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}v3/conversations/([^/]+)/activities(?:/([^/]+))?$`);

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<number> => {
    const method = req.method ?? 'GET';
    const path = (req.url ?? '/').split('?')[0];
    const body = await readBody(req);
    if (path.includes('//')) {
      send(res, 404, { error: { code: 'NotFound', message: 'no route (double slash)' } });
      return 404;
    }
    const att = method === 'GET' ? attachmentRoute.exec(path) : null;
    if (att) {
      const authorization = req.headers.authorization;
      const ok = opts.verifyToken ? await Promise.resolve(opts.verifyToken(authorization)).catch(() => false) : true;
      const found = attachments.get(decodeURIComponent(att[1]));
      const status = !ok ? 401 : found ? 200 : 404;
      downloads.push({ path, authorization, status });
      if (status !== 200 || !found) {
        send(res, status, { error: { code: status === 401 ? 'Unauthorized' : 'NotFound', message: 'attachment' } });
      } else {
        res.writeHead(200, { 'content-type': found.contentType });
        res.end(found.bytes);
      }
      return status;
    }
    const m = route.exec(path);
    if (!m) {
      send(res, 404, { error: { code: 'NotFound', message: 'no route' } });
      return 404;
    }
    const failure = failures.shift();
    if (failure) {
      send(res, failure.status, { error: { code: failure.code, message: `stub failure ${failure.status}` } }, failure.headers);
      return failure.status;
    }
    const authorization = req.headers.authorization;
    if (opts.verifyToken) {
      let ok = false;
      try {
        ok = await opts.verifyToken(authorization);
      } catch {
        ok = false;
      }
      if (!ok) {
        send(res, 401, { error: { code: 'Unauthorized', message: 'token rejected' } });
        return 401;
      }
    }
    const [, rawConversation, rawActivityId] = m;
    const isUpdate = method === 'PUT' && rawActivityId !== undefined;
    const isPost = method === 'POST';
    if (!isUpdate && !isPost) {
      send(res, 405, { error: { code: 'MethodNotAllowed', message: method } });
      return 405;
    }
    if (!(req.headers['content-type'] ?? '').startsWith('application/json')) {
      send(res, 415, { error: { code: 'BadArgument', message: 'content-type must be application/json' } });
      return 415;
    }
    let activity: any;
    try {
      activity = JSON.parse(body);
    } catch {
      send(res, 400, { error: { code: 'BadSyntax', message: 'invalid JSON' } });
      return 400;
    }
    if (typeof activity !== 'object' || activity === null || typeof activity.type !== 'string') {
      send(res, 400, { error: { code: 'BadArgument', message: 'activity.type is required' } });
      return 400;
    }
    const id = isUpdate ? decodeURIComponent(rawActivityId) : `${Date.now()}${randomBytes(3).readUIntBE(0, 3)}`;
    activities.push({
      method,
      path,
      conversationId: decodeURIComponent(rawConversation),
      activityId: rawActivityId === undefined ? undefined : decodeURIComponent(rawActivityId),
      activity,
      authorization,
      id,
      at: performance.now(),
    });
    for (const w of waiters.splice(0)) w();
    if (hangs > 0) {
      hangs--;
      return 0; // never answered
    }
    send(res, isUpdate ? 200 : 201, { id });
    return isUpdate ? 200 : 201;
  };

  const server = createServer((req, res) => {
    handle(req, res).then(
      (status) => requests.push({ method: req.method ?? '', path: (req.url ?? '').split('?')[0], status }),
      () => {
        requests.push({ method: req.method ?? '', path: req.url ?? '', status: 500 });
        if (!res.headersSent) send(res, 500, { error: { code: 'ServiceError', message: 'stub error' } });
      },
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const origin = `http://127.0.0.1:${port}`;

  const messages = (): RecordedActivity[] => activities.filter((a) => a.activity?.type !== 'typing');

  return {
    serviceUrl: `${origin}${prefix}`,
    origin,
    activities,
    requests,
    messages,
    downloads,
    addAttachment(id, bytes, contentType) {
      attachments.set(id, { bytes, contentType });
      return `${origin}${prefix}v3/attachments/${encodeURIComponent(id)}/views/original`;
    },
    failNext(status, times = 1, headers = {}, code) {
      for (let i = 0; i < times; i++) {
        failures.push({ status, headers, code: code ?? DEFAULT_CODES[status] ?? 'ServiceError' });
      }
    },
    hangNext(times = 1) {
      hangs += times;
    },
    waitForMessages(count, timeoutMs = 10_000) {
      return new Promise((resolve, reject) => {
        const check = (): boolean => {
          if (messages().length >= count) {
            clearTimeout(timer);
            resolve(messages());
            return true;
          }
          return false;
        };
        const timer = setTimeout(() => reject(new Error(`waited ${timeoutMs} ms for ${count} messages, got ${messages().length}`)), timeoutMs);
        const loop = (): void => {
          if (!check()) waiters.push(loop);
        };
        loop();
      });
    },
    stop() {
      return new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      });
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Microsoft Graph stand-in (for workers): GET /v1.0/me answers with the profile registered for the bearer token.
// ---------------------------------------------------------------------------------------------------------------

/** One Graph request the stand-in saw. */
export interface GraphRequestRecord {
  method: string;
  path: string;
  /** Query parameters. */
  query: Record<string, string>;
  /** The JSON body, when one was sent. */
  body?: any;
  /** The bearer token presented (so tests can check which token reached Graph). */
  token?: string;
  status: number;
}

/** A running Graph stand-in. */
export interface GraphStandIn {
  /** `http://127.0.0.1:{port}` (set as `TDAB_GRAPH_BASE_URL`). */
  baseUrl: string;
  requests: GraphRequestRecord[];
  /** Registers the profile `GET /v1.0/me` returns for a bearer token. */
  addUser(token: string, profile: { id: string; displayName: string; userPrincipalName?: string }): void;
  /** The next `times` requests fail with `status` and `{"error":{"code"}}`. */
  failNext(status: number, times?: number, code?: string): void;
  /**
   * A fixture for a signed-in user: `GET path` (query ignored) answers `body` (e.g. `/v1.0/me/calendarView`); another
   * `method` (e.g. `POST /v1.0/search/query`); a Buffer body is sent as bytes with `contentType`.
   */
  addRoute(path: string, body: unknown, opts?: { method?: string; contentType?: string; status?: number; headers?: Record<string, string> }): void;
  stop(): Promise<void>;
}

/** Options of {@link startGraphStandIn}. */
export interface GraphStandInOptions {
  /**
   * Resolves a bearer token not registered with `addUser` (e.g. verifies an IdP-issued JWT and looks the user up by
   * `oid`); undefined or a throw → 401.
   */
  resolveToken?: (token: string) => Promise<Record<string, unknown> | undefined>;
}

/** Starts a Microsoft Graph stand-in on 127.0.0.1: `GET /v1.0/me` (401 `InvalidAuthenticationToken` for unknown tokens). */
export async function startGraphStandIn(opts: GraphStandInOptions = {}): Promise<GraphStandIn> {
  const users = new Map<string, Record<string, unknown>>();
  const requests: GraphRequestRecord[] = [];
  const failures: Array<{ status: number; code: string }> = [];
  const routes = new Map<string, { body: unknown; contentType?: string; status?: number; headers?: Record<string, string> }>();
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      const url = new URL(req.url ?? '/', 'http://graph.local');
      const path = url.pathname;
      const raw = Buffer.concat(chunks).toString('utf8');
      let reqBody: unknown;
      try {
        reqBody = raw === '' ? undefined : JSON.parse(raw);
      } catch {
        reqBody = raw;
      }
      const auth = req.headers.authorization ?? '';
      const token = /^Bearer (.+)$/.exec(auth)?.[1];
      const answer = (status: number, body: unknown, contentType?: string, headers: Record<string, string> = {}): void => {
        requests.push({ method: req.method ?? '', path, query: Object.fromEntries(url.searchParams), body: reqBody, token, status });
        if (Buffer.isBuffer(body) || (status >= 300 && status < 400)) {
          res.writeHead(status, { 'content-type': contentType ?? 'application/octet-stream', ...headers });
          res.end(Buffer.isBuffer(body) ? body : undefined);
        } else {
          send(res, status, body);
        }
      };
      const failure = failures.shift();
      if (failure) return answer(failure.status, { error: { code: failure.code, message: 'stand-in failure' } });
      let profile = token ? users.get(token) : undefined;
      if (!profile && token && opts.resolveToken) profile = await opts.resolveToken(token).catch(() => undefined);
      if (!profile) return answer(401, { error: { code: 'InvalidAuthenticationToken', message: 'Access token is empty or invalid.' } });
      if (req.method === 'GET' && path === '/v1.0/me') return answer(200, { '@odata.context': 'x', ...profile });
      const route = routes.get(`${req.method} ${path}`);
      if (route) return answer(route.status ?? 200, route.body, route.contentType, route.headers);
      return answer(404, { error: { code: 'Request_ResourceNotFound', message: 'not found' } });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}`,
    requests,
    addUser(token, profile) {
      users.set(token, profile);
    },
    addRoute(path, body, o = {}) {
      routes.set(`${o.method ?? 'GET'} ${path}`, { body, contentType: o.contentType, status: o.status, headers: o.headers });
    },
    failNext(status, times = 1, code) {
      for (let i = 0; i < times; i++) failures.push({ status, code: code ?? (status === 429 ? 'TooManyRequests' : status >= 500 ? 'generalException' : 'BadRequest') });
    },
    stop() {
      return new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      });
    },
  };
}
