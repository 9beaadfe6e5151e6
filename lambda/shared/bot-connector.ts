/**
 * Outbound calls to the Bot Connector service (Teams): the bot's own app token and the REST API v3 client.
 *
 * - App token: OAuth 2.0 client credentials against the bot's OWN tenant
 *   (`{authority}/{tenantId}/oauth2/v2.0/token`, never the legacy `botframework.com` tenant), scope from the cloud
 *   profile; cached until shortly before `expires_in`, concurrent callers share one request.
 * - REST client: the conversation's `serviceUrl` must pass the cloud's host allow-list before the bot token is sent
 *   anywhere; ids are URL-encoded (Teams channel thread ids contain `;messageid=`); base URL and path joined without
 *   `//`; 429 and 5xx retried a bounded number of times honouring `Retry-After` (capped); 403
 *   `BotNotInConversationRoster` / `MessageWritesBlocked` logged (code only) and not retried; a timeout on every call.
 */
import { isAllowedServiceUrl } from './botframework-auth';
import type { ConversationReference } from './contract';
import { formBody, HttpNetworkError, HttpResponse, httpRequest, HttpTimeoutError } from './http';
import { log } from './log';

/** Refresh the app token this long before it expires. */
const TOKEN_REFRESH_MARGIN_S = 300;

/** Options of {@link BotAppTokenProvider}. */
export interface BotAppTokenProviderOptions {
  /** The bot's Microsoft App ID (client id). */
  appId: string;
  /** The bot's home tenant (the token is requested there). */
  tenantId: string;
  /** Entra authority, e.g. `https://login.microsoftonline.com` (no tenant). */
  authority: string;
  /** Scope, e.g. `https://api.botframework.com/.default`. */
  scope: string;
  /** Returns the client secret (cached by the caller). */
  getClientSecret: () => Promise<string>;
  /** Timeout of the token request (default 5000 ms). */
  timeoutMs?: number;
  /** Clock in milliseconds (tests). */
  now?: () => number;
}

/** The token endpoint refused or failed; `error` is the OAuth error code (e.g. `invalid_client`), never the secret. */
export class BotTokenError extends Error {
  /** HTTP status of the token endpoint (0: no response). */
  readonly status: number;
  /** OAuth error code when the endpoint sent one. */
  readonly error?: string;
  constructor(status: number, error?: string, detail?: string) {
    super(`bot app token request failed: ${status ? `status ${status}` : detail ?? 'no response'}${error ? ` (${error})` : ''}`);
    this.name = 'BotTokenError';
    this.status = status;
    this.error = error;
  }
}

/**
 * The bot's app token for the Bot Connector (client credentials in the bot's own tenant). One instance per container:
 * the token is cached until 5 minutes before `expires_in` (half the lifetime for very short-lived tokens), and
 * concurrent callers share a single request.
 */
export class BotAppTokenProvider {
  private readonly opts: BotAppTokenProviderOptions;
  private readonly now: () => number;
  private cached?: { token: string; refreshAt: number };
  private inflight?: Promise<string>;

  constructor(opts: BotAppTokenProviderOptions) {
    if (!opts.tenantId) throw new Error('BotAppTokenProvider: tenantId is required (the bot\'s own tenant)');
    if (opts.tenantId.toLowerCase() === 'botframework.com') {
      // Works only for legacy multi-tenant registrations; single-tenant bots get AADSTS700016 there.
      log.warn('bot_token_legacy_tenant', { tenant: 'botframework.com' });
    }
    this.opts = opts;
    this.now = opts.now ?? Date.now;
  }

  /** The token endpoint: `{authority}/{tenantId}/oauth2/v2.0/token`. */
  get tokenEndpoint(): string {
    return `${this.opts.authority.replace(/\/+$/, '')}/${encodeURIComponent(this.opts.tenantId)}/oauth2/v2.0/token`;
  }

  /** Returns a valid app token, from the cache when it is not within 5 minutes of expiry. */
  getToken(): Promise<string> {
    if (this.cached && this.now() < this.cached.refreshAt) return Promise.resolve(this.cached.token);
    if (!this.inflight) {
      this.inflight = this.fetchToken().finally(() => {
        this.inflight = undefined;
      });
    }
    return this.inflight;
  }

  /** Drops the cached token (e.g. after the Bot Connector answered 401). */
  invalidate(): void {
    this.cached = undefined;
  }

  private async fetchToken(): Promise<string> {
    const secret = await this.opts.getClientSecret();
    let res: HttpResponse;
    try {
      res = await httpRequest(this.tokenEndpoint, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'accept': 'application/json' },
        body: formBody({ grant_type: 'client_credentials', client_id: this.opts.appId, client_secret: secret, scope: this.opts.scope }),
        timeoutMs: this.opts.timeoutMs ?? 5000,
      });
    } catch (err) {
      log.warn('bot_token_request_failed', { error: err });
      throw new BotTokenError(0, undefined, err instanceof HttpTimeoutError ? 'timeout' : 'network error');
    }
    let body: Record<string, unknown> = {};
    try {
      const parsed = res.json();
      if (parsed && typeof parsed === 'object') body = parsed as Record<string, unknown>;
    } catch {
      body = {};
    }
    if (res.status !== 200 || typeof body.access_token !== 'string' || body.access_token === '') {
      const error = typeof body.error === 'string' ? body.error.slice(0, 64) : undefined;
      log.warn('bot_token_request_rejected', { status: res.status, errorCode: error });
      throw new BotTokenError(res.status, error ?? (res.status === 200 ? 'no_access_token' : undefined));
    }
    const expiresIn = Number(body.expires_in);
    const lifetime = Number.isFinite(expiresIn) && expiresIn > 0 ? expiresIn : 3600;
    const margin = Math.min(TOKEN_REFRESH_MARGIN_S, lifetime / 2);
    this.cached = { token: body.access_token, refreshAt: this.now() + (lifetime - margin) * 1000 };
    return body.access_token;
  }
}

/** Error codes of a 403 that no retry can fix (the bot was removed, or the conversation is read-only). */
export const NON_RETRYABLE_403_CODES: readonly string[] = ['BotNotInConversationRoster', 'MessageWritesBlocked'];

/** A Bot Connector call failed. `code` is the service's error code (e.g. `BotNotInConversationRoster`). */
export class BotConnectorError extends Error {
  /** HTTP status (0: no response: timeout, network, or the service URL was refused locally). */
  readonly status: number;
  /** Error code of the service, or a local one: `ServiceUrlNotAllowed`, `Timeout`, `NetworkError`. */
  readonly code?: string;
  /** Whether a later retry (e.g. Lambda's) could succeed. */
  readonly retryable: boolean;
  /**
   * True when the request may have been processed although no success was seen (timeout or connection lost after
   * sending): a retry could post the activity twice.
   */
  readonly outcomeUnknown: boolean;
  constructor(message: string, opts: { status: number; code?: string; retryable: boolean; outcomeUnknown?: boolean }) {
    super(message);
    this.name = 'BotConnectorError';
    this.status = opts.status;
    this.code = opts.code;
    this.retryable = opts.retryable;
    this.outcomeUnknown = opts.outcomeUnknown ?? false;
  }
}

/** Options of {@link BotConnectorClient}. */
export interface BotConnectorClientOptions {
  /** The app token provider (one per container). */
  tokens: BotAppTokenProvider;
  /** Allowed service URL hosts of the cloud profile (and test origins). */
  serviceUrlHosts: readonly string[];
  /** Timeout of each HTTP call (default 10000 ms). */
  timeoutMs?: number;
  /** Retries of a 429 / 5xx / refused connection (default 3). */
  maxRetries?: number;
  /** Cap on one wait between attempts, `Retry-After` included (default 10000 ms). */
  maxRetryDelayMs?: number;
  /** First backoff delay when there is no `Retry-After` (default 250 ms, doubled per attempt, with jitter). */
  baseRetryDelayMs?: number;
  /** Sleep function (tests). */
  sleep?: (ms: number) => Promise<void>;
}

type Operation = 'send' | 'reply' | 'update' | 'typing';

/** Parses `Retry-After` (seconds or an HTTP date) into milliseconds. */
export function parseRetryAfter(value: string | null | undefined, now: number = Date.now()): number | undefined {
  if (!value) return undefined;
  const trimmed = value.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.round(Number(trimmed) * 1000);
  const date = Date.parse(trimmed);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - now);
}

/** Joins a service URL and a path with exactly one `/` between them. */
export function joinServiceUrl(serviceUrl: string, path: string): string {
  return `${serviceUrl.replace(/\/+$/, '')}/${path.replace(/^\/+/, '')}`;
}

function errorCodeOf(res: HttpResponse): string | undefined {
  try {
    const body = res.json<{ error?: { code?: unknown } }>();
    const code = body?.error?.code;
    return typeof code === 'string' && /^[A-Za-z0-9_.-]{1,64}$/.test(code) ? code : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Bot Connector REST API v3 client (send, reply, update, typing) with the bot's app token. Create one per container.
 * Activities get `from` (the bot), `recipient` (the user) and `conversation` from the reference unless given.
 */
export class BotConnectorClient {
  private readonly tokens: BotAppTokenProvider;
  private readonly hosts: readonly string[];
  private readonly timeoutMs: number;
  private readonly maxRetries: number;
  private readonly maxRetryDelayMs: number;
  private readonly baseRetryDelayMs: number;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(opts: BotConnectorClientOptions) {
    this.tokens = opts.tokens;
    this.hosts = opts.serviceUrlHosts;
    this.timeoutMs = opts.timeoutMs ?? 10_000;
    this.maxRetries = Math.max(0, opts.maxRetries ?? 3);
    this.maxRetryDelayMs = opts.maxRetryDelayMs ?? 10_000;
    this.baseRetryDelayMs = opts.baseRetryDelayMs ?? 250;
    this.sleep = opts.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
  }

  /** Posts an activity to the conversation (`POST v3/conversations/{id}/activities`). */
  async sendToConversation(ref: ConversationReference, activity: Record<string, unknown>): Promise<{ id?: string }> {
    return this.call('send', ref, 'POST', undefined, this.address(ref, activity));
  }

  /** Replies in the thread of `replyToId` (`POST v3/conversations/{id}/activities/{replyToId}`). */
  async replyToActivity(ref: ConversationReference, replyToId: string, activity: Record<string, unknown>): Promise<{ id?: string }> {
    if (!replyToId) throw new BotConnectorError('replyToActivity: replyToId is required', { status: 0, code: 'BadArgument', retryable: false });
    return this.call('reply', ref, 'POST', replyToId, { ...this.address(ref, activity), replyToId });
  }

  /** Replaces an activity the bot sent (`PUT v3/conversations/{id}/activities/{activityId}`). */
  async updateActivity(ref: ConversationReference, activityId: string, activity: Record<string, unknown>): Promise<void> {
    if (!activityId) throw new BotConnectorError('updateActivity: activityId is required', { status: 0, code: 'BadArgument', retryable: false });
    await this.call('update', ref, 'PUT', activityId, { ...this.address(ref, activity), id: activityId });
  }

  /**
   * Downloads an attachment the user sent (e.g. an inline image, `…/v3/attachments/{id}/views/original`) with the
   * bot's token. The URL must pass the same host allow-list as a `serviceUrl` (checked before the token is fetched):
   * the bot token goes to Bot Connector hosts only. No redirect is followed; at most `maxBytes` are read.
   */
  async downloadAttachment(url: string, maxBytes: number): Promise<{ bytes: Buffer; contentType?: string }> {
    if (!isAllowedServiceUrl(url, this.hosts)) {
      log.warn('bot_connector_service_url_refused', { operation: 'download' });
      throw new BotConnectorError('attachment URL is not an allowed Bot Connector host', { status: 0, code: 'ServiceUrlNotAllowed', retryable: false });
    }
    for (let renewed = false; ; renewed = true) {
      const token = await this.tokens.getToken();
      let res: HttpResponse;
      try {
        res = await httpRequest(url, { headers: { authorization: `Bearer ${token}` }, timeoutMs: this.timeoutMs, maxResponseBytes: maxBytes });
      } catch (err) {
        const code = err instanceof HttpTimeoutError ? 'Timeout' : (err as Error).name === 'HttpBodyError' ? 'TooLarge' : 'NetworkError';
        throw new BotConnectorError(`Bot Connector download failed: ${code}`, { status: 0, code, retryable: code !== 'TooLarge' });
      }
      if (res.status >= 200 && res.status < 300) return { bytes: res.bytes, contentType: res.headers.get('content-type') ?? undefined };
      if (res.status === 401 && !renewed) {
        this.tokens.invalidate();
        continue;
      }
      log.warn('bot_connector_failed', { operation: 'download', status: res.status, errorCode: errorCodeOf(res) });
      throw new BotConnectorError(`Bot Connector download failed: status ${res.status}`, { status: res.status, code: errorCodeOf(res), retryable: res.status === 429 || res.status >= 500 });
    }
  }

  /** Sends a typing indicator. */
  async sendTyping(ref: ConversationReference): Promise<void> {
    await this.call('typing', ref, 'POST', undefined, this.address(ref, { type: 'typing' }));
  }

  private address(ref: ConversationReference, activity: Record<string, unknown>): Record<string, unknown> {
    const conversation: Record<string, unknown> = { id: ref.conversation.id };
    if (ref.conversation.conversationType) conversation.conversationType = ref.conversation.conversationType;
    if (ref.conversation.tenantId) conversation.tenantId = ref.conversation.tenantId;
    return {
      type: 'message',
      channelId: ref.channelId,
      serviceUrl: ref.serviceUrl,
      from: { id: ref.bot.id, ...(ref.bot.name ? { name: ref.bot.name } : {}) },
      recipient: { id: ref.user.id, ...(ref.user.aadObjectId ? { aadObjectId: ref.user.aadObjectId } : {}) },
      conversation,
      ...(ref.locale ? { locale: ref.locale } : {}),
      ...activity,
    };
  }

  private async call(op: Operation, ref: ConversationReference, method: 'POST' | 'PUT', activityId: string | undefined,
    activity: Record<string, unknown>): Promise<{ id?: string }> {
    // The allow-list check comes before anything else: a foreign serviceUrl never sees the bot's token.
    if (typeof ref.serviceUrl !== 'string' || !isAllowedServiceUrl(ref.serviceUrl, this.hosts)) {
      log.warn('bot_connector_service_url_refused', { operation: op });
      throw new BotConnectorError('serviceUrl is not an allowed Bot Connector host', { status: 0, code: 'ServiceUrlNotAllowed', retryable: false });
    }
    let path = `v3/conversations/${encodeURIComponent(ref.conversation.id)}/activities`;
    if (activityId !== undefined) path += `/${encodeURIComponent(activityId)}`;
    const url = joinServiceUrl(ref.serviceUrl, path);
    const body = JSON.stringify(activity);
    // Only a PUT (idempotent) or a typing indicator may be repeated when the outcome of an attempt is unknown.
    const repeatable = method === 'PUT' || op === 'typing';
    let renewedToken = false;

    for (let attempt = 0; ; attempt++) {
      const token = await this.tokens.getToken();
      let res: HttpResponse;
      try {
        res = await httpRequest(url, {
          method,
          headers: { 'authorization': `Bearer ${token}`, 'content-type': 'application/json; charset=utf-8', 'accept': 'application/json' },
          body,
          timeoutMs: this.timeoutMs,
        });
      } catch (err) {
        // Connection refused / DNS: nothing was sent, a retry is safe. A timeout or a reset: maybe processed.
        const notSent = err instanceof HttpNetworkError && ['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN'].includes(err.code ?? '');
        const code = err instanceof HttpTimeoutError ? 'Timeout' : 'NetworkError';
        if ((notSent || repeatable) && attempt < this.maxRetries) {
          const delayMs = this.backoff(attempt);
          log.warn('bot_connector_retry', { operation: op, errorCode: code, attempt: attempt + 1, delayMs });
          await this.sleep(delayMs);
          continue;
        }
        log.warn('bot_connector_failed', { operation: op, errorCode: code, attempts: attempt + 1 });
        throw new BotConnectorError(`Bot Connector ${op} failed: ${code}`, { status: 0, code, retryable: true, outcomeUnknown: !notSent });
      }

      if (res.status >= 200 && res.status < 300) {
        let id: string | undefined;
        try {
          const parsed = res.text ? res.json<{ id?: unknown }>() : undefined;
          if (parsed && typeof parsed.id === 'string') id = parsed.id;
        } catch {
          id = undefined;
        }
        if (attempt > 0) log.info('bot_connector_succeeded_after_retry', { operation: op, attempts: attempt + 1 });
        return id === undefined ? {} : { id };
      }

      const code = errorCodeOf(res);
      if (res.status === 401 && !renewedToken) {
        // The cached app token may have been revoked or rotated: fetch a new one once.
        renewedToken = true;
        this.tokens.invalidate();
        log.warn('bot_connector_unauthorized_renewing_token', { operation: op });
        continue;
      }
      if (res.status === 403 && code !== undefined && NON_RETRYABLE_403_CODES.includes(code)) {
        log.warn('bot_connector_forbidden', { operation: op, status: 403, errorCode: code });
        throw new BotConnectorError(`Bot Connector ${op} refused: ${code}`, { status: 403, code, retryable: false });
      }
      const retryable = res.status === 429 || res.status >= 500;
      if (retryable && attempt < this.maxRetries) {
        const retryAfter = parseRetryAfter(res.headers.get('retry-after'));
        const delayMs = Math.min(this.maxRetryDelayMs, retryAfter ?? this.backoff(attempt));
        log.warn('bot_connector_retry', { operation: op, status: res.status, errorCode: code, attempt: attempt + 1, delayMs });
        await this.sleep(delayMs);
        continue;
      }
      log.warn('bot_connector_failed', { operation: op, status: res.status, errorCode: code, attempts: attempt + 1 });
      throw new BotConnectorError(`Bot Connector ${op} failed: status ${res.status}${code ? ` (${code})` : ''}`, {
        status: res.status,
        code,
        retryable,
      });
    }
  }

  private backoff(attempt: number): number {
    const base = this.baseRetryDelayMs * 2 ** attempt;
    return Math.min(this.maxRetryDelayMs, Math.round(base / 2 + Math.random() * (base / 2)));
  }
}
