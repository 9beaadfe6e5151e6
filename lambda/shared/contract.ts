/**
 * The worker contract, version 2: the JSON event the receiver sends to the worker Lambda (asynchronous invoke).
 *
 * Language-neutral and small: the conversation reference, the user's message and the user's delegated access token
 * (envelope-encrypted: a KMS-encrypted data key, AES-256-GCM ciphertext, and the encryption context needed to decrypt
 * them). Never the raw HTTP event, the inbound Bot Framework JWT, or a refresh token. docs/worker-contract.md is the
 * normative description of every field; schemas/worker-contract/v2.schema.json its JSON Schema.
 *
 * Versioning: additive optional fields keep the version (parsers ignore fields they do not know); removing or renaming
 * a field, or changing its meaning, bumps the version. Version 2 replaced version 1's `token.ciphertexts` (KMS
 * ciphertexts of 4096-byte parts, nothing binding their order or count) with one envelope; the rest is unchanged, so a
 * pending event (no token) kept under version 1 is still read, as version 2.
 */
import { isHttpsOrLoopback, normalizeGuid } from '../../src/private/shared-data';

/** Value of `type` in every worker event. */
export const WORKER_EVENT_TYPE = 'teams-delegated-auth-bot.message';
/** The contract version this module builds and understands. */
export const WORKER_EVENT_VERSION = '2';
/** Versions of a pending event (no token) that {@link parsePendingEvent} still reads: they differ only in the token. */
const PENDING_EVENT_VERSIONS: readonly string[] = ['1', WORKER_EVENT_VERSION];

/** Where to reply: the parts of a Bot Framework conversation reference the worker needs. */
export interface ConversationReference {
  /** Bot Connector base URL of the conversation (allow-listed per cloud before any token is sent to it). */
  serviceUrl: string;
  /** Channel id, `msteams` for Teams. */
  channelId: string;
  /** The conversation: Teams channel thread ids contain `;messageid=` and must be URL-encoded in paths. */
  conversation: { id: string; conversationType?: string; tenantId?: string; isGroup?: boolean };
  /** The bot's channel account (`28:{appId}`). */
  bot: { id: string; name?: string };
  /** The user's channel account (`29:…`) with their Entra object id. */
  user: { id: string; aadObjectId?: string; name?: string };
  /** Id of the user's activity (for threaded replies). */
  activityId?: string;
  /** Locale of the user's client, e.g. `en-US`. */
  locale?: string;
}

/** Attachment metadata only (never the content; `contentUrl` must never receive the user's token). */
export interface WorkerAttachment {
  contentType: string;
  name?: string;
  contentUrl?: string;
}

/** The user's message. */
export interface WorkerMessage {
  /** Activity id of the message (the idempotency key, with the conversation id). */
  id: string;
  text?: string;
  textFormat?: string;
  locale?: string;
  timestamp?: string;
  replyToId?: string;
  attachments: WorkerAttachment[];
  /** `activity.value` (Adaptive Card submits), passed through as JSON. */
  value?: unknown;
}

/**
 * The user's delegated access token, envelope-encrypted (structurally the `EncryptedToken` of crypto.ts): KMS `Decrypt`
 * of `encryptedKey` with `encryptionContext` and `keyId` gives the AES-256 data key; AES-256-GCM open of `ciphertext`
 * (ciphertext then 16-byte tag) with `iv` and the canonical encryption context as additional data gives the token.
 */
export interface WorkerToken {
  /** ARN of the KMS key (pass it as `KeyId` to `Decrypt`). */
  keyId: string;
  /** Base64 KMS ciphertext blob of the data key. */
  encryptedKey: string;
  /** Base64 of the 12-byte AES-GCM IV. */
  iv: string;
  /** Base64 of the AES-256-GCM ciphertext followed by its 16-byte tag. */
  ciphertext: string;
  /** The KMS encryption context: `{appId, tenantId, aadObjectId, purpose: "access_token"}`. */
  encryptionContext: Record<string, string>;
  /** Expiry of the access token (ISO 8601, UTC). */
  expiresAt: string;
  /** Granted scopes, space separated. */
  scopes: string;
}

/** Worker contract event, version 2. */
export interface WorkerEvent {
  type: 'teams-delegated-auth-bot.message';
  version: '2';
  /** True when the message waited for the user's sign-in and is being resumed. */
  resumed: boolean;
  /** When the receiver received the message (ISO 8601, UTC). */
  receivedAt: string;
  conversation: ConversationReference;
  message: WorkerMessage;
  token: WorkerToken;
}

/** A worker event before a token is attached: what the receiver keeps while the user signs in. */
export type PendingEvent = Omit<WorkerEvent, 'token'>;

/** The event does not follow the contract; `path` names the offending field (e.g. `conversation.serviceUrl`). */
export class ContractError extends Error {
  /** Dotted path of the offending field, or `''` for the event itself. */
  readonly path: string;
  constructor(path: string, problem: string) {
    super(path ? `worker event: ${path} ${problem}` : `worker event: ${problem}`);
    this.name = 'ContractError';
    this.path = path;
  }
}

/** The encrypted access token as stored (structurally the `EncryptedToken` of crypto.ts). */
export interface EncryptedTokenLike {
  keyId: string;
  encryptedKey: string;
  iv: string;
  ciphertext: string;
  encryptionContext: Record<string, string>;
}

/** The parts of a stored token (token-store.ts `StoredToken`) that go into a worker event. */
export interface StoredTokenLike {
  accessToken: EncryptedTokenLike;
  /** Epoch seconds. */
  expiresAt: number;
  scopes: string;
}

// ---------------------------------------------------------------------------------------------------------------
// Validation
// ---------------------------------------------------------------------------------------------------------------

const MAX_ID = 1024;
const MAX_TEXT = 100_000;
/** Base64 of at most 6144 bytes, KMS's largest ciphertext blob. */
const MAX_ENCRYPTED_KEY = 8192;
/** Base64 of a token ciphertext: at most 256 KiB of characters, the asynchronous invoke payload limit. */
const MAX_CIPHERTEXT = 262_144;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
/** Base64 of exactly 12 bytes (the AES-GCM IV). */
const IV_BASE64 = /^[A-Za-z0-9+/]{16}$/;
const ISO_DATE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  const t = typeof v;
  return t === 'object' || t === 'undefined' ? `an ${t}` : `a ${t}`;
}

function obj(v: unknown, path: string): Record<string, unknown> {
  if (v === undefined && path !== '') throw new ContractError(path, 'is required');
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    throw new ContractError(path, `must be an object, got ${describe(v)}`);
  }
  return v as Record<string, unknown>;
}

function str(o: Record<string, unknown>, key: string, path: string, max = MAX_ID): string {
  const v = o[key];
  const p = path ? `${path}.${key}` : key;
  if (v === undefined || v === null) throw new ContractError(p, 'is required');
  if (typeof v !== 'string') throw new ContractError(p, `must be a string, got ${describe(v)}`);
  if (v.length === 0) throw new ContractError(p, 'must not be empty');
  if (v.length > max) throw new ContractError(p, `is longer than ${max} characters`);
  return v;
}

function optStr(o: Record<string, unknown>, key: string, path: string, max = MAX_ID): string | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  const p = `${path}.${key}`;
  if (typeof v !== 'string') throw new ContractError(p, `must be a string, got ${describe(v)}`);
  if (v.length > max) throw new ContractError(p, `is longer than ${max} characters`);
  return v;
}

/** An optional Entra id (tenant, object id): a GUID comes out in its one spelling, lower case (`normalizeGuid`). */
function optId(o: Record<string, unknown>, key: string, path: string): string | undefined {
  const v = optStr(o, key, path, 64);
  return v === undefined ? undefined : normalizeGuid(v);
}

function optBool(o: Record<string, unknown>, key: string, path: string): boolean | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') throw new ContractError(`${path}.${key}`, `must be a boolean, got ${describe(v)}`);
  return v;
}

function isoDate(o: Record<string, unknown>, key: string, path: string): string {
  const v = str(o, key, path, 64);
  if (!ISO_DATE.test(v) || Number.isNaN(Date.parse(v))) {
    throw new ContractError(path ? `${path}.${key}` : key, 'must be an ISO 8601 date-time with a time zone');
  }
  return v;
}

/** Copy only the defined values (so optional fields stay absent rather than `undefined`). */
function compact<T extends Record<string, unknown>>(o: T): T {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) out[k] = v;
  return out as T;
}

/**
 * Checks a service URL's shape: an absolute `https:` URL without credentials, or `http:` on a loopback host (local
 * tests). The host allow-list of the cloud profile is checked by the Bot Connector client before any token is sent.
 */
export function checkServiceUrlShape(serviceUrl: string, path = 'conversation.serviceUrl'): void {
  let url: URL;
  try {
    url = new URL(serviceUrl);
  } catch {
    throw new ContractError(path, 'must be an absolute URL');
  }
  if (url.username || url.password) throw new ContractError(path, 'must not contain credentials');
  if (url.search || url.hash) throw new ContractError(path, 'must not contain a query or fragment');
  if (isHttpsOrLoopback(url)) return;
  throw new ContractError(path, `must use https (got ${url.protocol.replace(':', '')})`);
}

function parseConversation(v: unknown): ConversationReference {
  const P = 'conversation';
  const c = obj(v, P);
  const serviceUrl = str(c, 'serviceUrl', P, 2048);
  checkServiceUrlShape(serviceUrl);
  const conv = obj(c.conversation, `${P}.conversation`);
  const bot = obj(c.bot, `${P}.bot`);
  const user = obj(c.user, `${P}.user`);
  return compact({
    serviceUrl,
    channelId: str(c, 'channelId', P, 64),
    conversation: compact({
      id: str(conv, 'id', `${P}.conversation`),
      conversationType: optStr(conv, 'conversationType', `${P}.conversation`, 64),
      tenantId: optId(conv, 'tenantId', `${P}.conversation`),
      isGroup: optBool(conv, 'isGroup', `${P}.conversation`),
    }),
    bot: compact({ id: str(bot, 'id', `${P}.bot`), name: optStr(bot, 'name', `${P}.bot`) }),
    user: compact({
      id: str(user, 'id', `${P}.user`),
      aadObjectId: optId(user, 'aadObjectId', `${P}.user`),
      name: optStr(user, 'name', `${P}.user`),
    }),
    activityId: optStr(c, 'activityId', P),
    locale: optStr(c, 'locale', P, 64),
  });
}

function parseMessage(v: unknown): WorkerMessage {
  const P = 'message';
  const m = obj(v, P);
  const rawAttachments = m.attachments;
  if (!Array.isArray(rawAttachments)) {
    throw new ContractError(`${P}.attachments`, rawAttachments === undefined ? 'is required' : `must be an array, got ${describe(rawAttachments)}`);
  }
  const attachments = rawAttachments.map((a, i) => {
    const ap = `${P}.attachments[${i}]`;
    const ao = obj(a, ap);
    return compact({
      contentType: str(ao, 'contentType', ap, 256),
      name: optStr(ao, 'name', ap),
      contentUrl: optStr(ao, 'contentUrl', ap, 4096),
    });
  });
  const out: WorkerMessage = compact({
    id: str(m, 'id', P),
    text: optStr(m, 'text', P, MAX_TEXT),
    textFormat: optStr(m, 'textFormat', P, 32),
    locale: optStr(m, 'locale', P, 64),
    timestamp: optStr(m, 'timestamp', P, 64),
    replyToId: optStr(m, 'replyToId', P),
    attachments,
  });
  if (m.value !== undefined) out.value = m.value;
  return out;
}

/** A standard base64 field of at most `max` characters, decoding to at least `minBytes` bytes. */
function base64(o: Record<string, unknown>, key: string, path: string, max: number, minBytes = 1): string {
  const v = str(o, key, path, max);
  const p = `${path}.${key}`;
  if (v.length % 4 !== 0 || !BASE64.test(v)) throw new ContractError(p, 'must be standard base64');
  if (Buffer.byteLength(v, 'base64') < minBytes) throw new ContractError(p, `must decode to at least ${minBytes} bytes`);
  return v;
}

function parseToken(v: unknown): WorkerToken {
  const P = 'token';
  const t = obj(v, P);
  const keyId = str(t, 'keyId', P, 2048);
  const encryptedKey = base64(t, 'encryptedKey', P, MAX_ENCRYPTED_KEY);
  const iv = str(t, 'iv', P, 16);
  if (!IV_BASE64.test(iv)) throw new ContractError(`${P}.iv`, 'must be the standard base64 of 12 bytes');
  const ciphertext = base64(t, 'ciphertext', P, MAX_CIPHERTEXT, 17); // at least one byte and the 16-byte tag
  const ecRaw = obj(t.encryptionContext, `${P}.encryptionContext`);
  const encryptionContext: Record<string, string> = {};
  for (const [k, val] of Object.entries(ecRaw)) {
    if (typeof val !== 'string') {
      throw new ContractError(`${P}.encryptionContext.${k}`, `must be a string, got ${describe(val)}`);
    }
    encryptionContext[k] = val;
  }
  if (Object.keys(encryptionContext).length === 0) throw new ContractError(`${P}.encryptionContext`, 'must not be empty');
  if (encryptionContext.purpose !== 'access_token') {
    throw new ContractError(`${P}.encryptionContext.purpose`, encryptionContext.purpose === undefined ? 'is required' : 'must be "access_token"');
  }
  if (typeof t.scopes !== 'string') {
    throw new ContractError(`${P}.scopes`, t.scopes === undefined ? 'is required' : `must be a string, got ${describe(t.scopes)}`);
  }
  return { keyId, encryptedKey, iv, ciphertext, encryptionContext, expiresAt: isoDate(t, 'expiresAt', P), scopes: t.scopes };
}

function parseHeader(e: Record<string, unknown>, versions: readonly string[] = [WORKER_EVENT_VERSION]): void {
  if (e.type !== WORKER_EVENT_TYPE) {
    throw new ContractError('type', `must be "${WORKER_EVENT_TYPE}", got ${typeof e.type === 'string' ? JSON.stringify(e.type.slice(0, 80)) : describe(e.type)}`);
  }
  if (typeof e.version !== 'string' || !versions.includes(e.version)) {
    const got = typeof e.version === 'string' ? JSON.stringify(e.version.slice(0, 20)) : describe(e.version);
    throw new ContractError('version', `${got} is not supported: this worker understands version "${WORKER_EVENT_VERSION}"`);
  }
  if (typeof e.resumed !== 'boolean') {
    throw new ContractError('resumed', e.resumed === undefined ? 'is required' : `must be a boolean, got ${describe(e.resumed)}`);
  }
}

/**
 * Validates a worker event (version 2) and returns a clean copy holding only the fields of the contract.
 * Unknown fields are ignored (additive changes keep the version). Throws ContractError naming the offending field.
 * The error messages never contain the message text or the ciphertexts.
 */
export function parseWorkerEvent(input: unknown): WorkerEvent {
  const e = obj(input, '');
  return { ...parseEventWithoutToken(e), token: parseToken(e.token) };
}

/**
 * Validates a pending event (a worker event without `token`), e.g. one read back from the conversation table. A pending
 * event of version 1 (kept before the upgrade) is read too and comes out as version 2: the versions differ only in the
 * token, which a pending event does not have.
 */
export function parsePendingEvent(input: unknown): PendingEvent {
  const e = obj(input, '');
  if (e.token !== undefined) {
    parseHeader(e, PENDING_EVENT_VERSIONS); // a header error is reported first, as for any other event
    throw new ContractError('token', 'must not be present in a pending event');
  }
  return parseEventWithoutToken(e, PENDING_EVENT_VERSIONS);
}

/** The fields a worker event and a pending event share, validated in document order (header first). */
function parseEventWithoutToken(e: Record<string, unknown>, versions?: readonly string[]): PendingEvent {
  parseHeader(e, versions);
  return {
    type: WORKER_EVENT_TYPE,
    version: WORKER_EVENT_VERSION,
    resumed: e.resumed as boolean,
    receivedAt: isoDate(e, 'receivedAt', ''),
    conversation: parseConversation(e.conversation),
    message: parseMessage(e.message),
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Builders
// ---------------------------------------------------------------------------------------------------------------

/**
 * Attaches the user's stored (encrypted) access token to a pending event. Only the access token goes to the worker:
 * never the refresh token.
 */
export function toWorkerEvent(pending: PendingEvent, token: StoredTokenLike, opts: { resumed: boolean }): WorkerEvent {
  if (!Number.isFinite(token.expiresAt)) throw new ContractError('token.expiresAt', 'must be epoch seconds');
  return {
    type: WORKER_EVENT_TYPE,
    version: WORKER_EVENT_VERSION,
    resumed: opts.resumed,
    receivedAt: pending.receivedAt,
    conversation: pending.conversation,
    message: pending.message,
    token: {
      keyId: token.accessToken.keyId,
      encryptedKey: token.accessToken.encryptedKey,
      iv: token.accessToken.iv,
      ciphertext: token.accessToken.ciphertext,
      encryptionContext: { ...token.accessToken.encryptionContext },
      expiresAt: new Date(token.expiresAt * 1000).toISOString(),
      scopes: token.scopes,
    },
  };
}

function pickStr(v: unknown): string | undefined {
  return typeof v === 'string' && v.length > 0 ? v : undefined;
}

function pickObj(v: unknown): Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
}

/**
 * Builds the pending event of an (already authenticated) Bot Framework message activity: copies only the fields of
 * the contract (no `channelData`, no attachment content, nothing of the HTTP request) and validates the result.
 * The tenant id is `conversation.tenantId`, else `channelData.tenant.id`.
 */
export function pendingEventFromActivity(activity: Record<string, unknown>, opts: { receivedAt: Date | string; resumed?: boolean }): PendingEvent {
  const conversation = pickObj(activity.conversation);
  const recipient = pickObj(activity.recipient);
  const from = pickObj(activity.from);
  const channelTenant = pickObj(pickObj(activity.channelData).tenant);
  const attachments = Array.isArray(activity.attachments) ? activity.attachments : [];
  const receivedAt = typeof opts.receivedAt === 'string' ? opts.receivedAt : opts.receivedAt.toISOString();
  const candidate = {
    type: WORKER_EVENT_TYPE,
    version: WORKER_EVENT_VERSION,
    resumed: opts.resumed ?? false,
    receivedAt,
    conversation: {
      serviceUrl: activity.serviceUrl,
      channelId: activity.channelId,
      conversation: {
        id: conversation.id,
        conversationType: pickStr(conversation.conversationType),
        tenantId: pickStr(conversation.tenantId) ?? pickStr(channelTenant.id),
        isGroup: typeof conversation.isGroup === 'boolean' ? conversation.isGroup : undefined,
      },
      bot: { id: recipient.id, name: pickStr(recipient.name) },
      user: { id: from.id, aadObjectId: pickStr(from.aadObjectId), name: pickStr(from.name) },
      activityId: pickStr(activity.id),
      locale: pickStr(activity.locale),
    },
    message: {
      id: activity.id,
      text: typeof activity.text === 'string' ? activity.text : undefined,
      textFormat: pickStr(activity.textFormat),
      locale: pickStr(activity.locale),
      timestamp: pickStr(activity.timestamp),
      replyToId: pickStr(activity.replyToId),
      attachments: attachments.map((a) => {
        const ao = pickObj(a);
        return { contentType: ao.contentType, name: pickStr(ao.name), contentUrl: pickStr(ao.contentUrl) };
      }),
      value: activity.value,
    },
  };
  return parsePendingEvent(candidate);
}
