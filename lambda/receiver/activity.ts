import { isGuid, normalizeGuid } from '../../src/private/shared-data';
import { ContractError, pendingEventFromActivity, type ConversationReference, type PendingEvent } from '../shared/contract';
import { collapseWhitespace, stripMentions, trimEndChars } from '../shared/teams-text';
import type { UserKey } from '../shared/token-store';

/**
 * Request and activity validation for the messaging endpoint. Pure functions, no I/O.
 *
 * Order of checks on `POST {messagingPath}` (documented in docs/receiver.md):
 * 1. route and method (404 / 405)
 * 2. `Authorization` header present (401), body not base64 (415), `Content-Type` JSON (415), size (413),
 *    JSON object (400): {@link parseActivityBody}
 * 3. Bot Framework JWT (401; needs `serviceUrl` and `channelId` from the body): the only I/O before this point is none
 * 3a. Microsoft Teams only (403): {@link requireTeamsChannel}
 * 4. activity fields (400): {@link validateActivity}
 * 5. tenant allow-list (403): `isAllowedTenant` in index.ts
 */

/** Largest accepted request body, in bytes (Teams activities are far smaller). */
export const MAX_BODY_BYTES = 256 * 1024;

/** A rejected request: HTTP status and a short, safe reason (logged and returned to the caller). */
export class RequestError extends Error {
  /** @param status HTTP status; @param reason short machine-readable reason, safe to log */
  constructor(readonly status: number, readonly reason: string) {
    super(reason);
    this.name = 'RequestError';
  }
}

/** The parts of the Lambda function URL event (APIGatewayProxyEventV2) the receiver reads. */
export interface FunctionUrlEvent {
  rawPath?: string;
  rawQueryString?: string;
  headers?: Record<string, string | undefined>;
  body?: string;
  isBase64Encoded?: boolean;
  requestContext?: { http?: { method?: string } };
}

/** Reads a header case-insensitively (function URLs lower-case header names, but be tolerant). */
export function header(event: FunctionUrlEvent, name: string): string | undefined {
  const headers = event.headers ?? {};
  const wanted = name.toLowerCase();
  for (const [k, v] of Object.entries(headers)) {
    if (k.toLowerCase() === wanted) return v;
  }
  return undefined;
}

/**
 * Cheap syntactic checks of the messaging request and JSON parsing. Throws {@link RequestError}.
 * Returns the parsed JSON object (not yet validated as an activity).
 */
export function parseActivityBody(event: FunctionUrlEvent): Record<string, unknown> {
  if (event.isBase64Encoded) {
    // Function URLs base64-encode bodies whose content type is not text-like: Teams always sends JSON.
    throw new RequestError(415, 'base64_body');
  }
  const contentType = (header(event, 'content-type') ?? '').toLowerCase();
  const mediaType = contentType.split(';')[0].trim();
  if (mediaType !== 'application/json' && !/^application\/[a-z0-9.+-]+\+json$/.test(mediaType)) {
    throw new RequestError(415, 'content_type');
  }
  const body = event.body ?? '';
  if (Buffer.byteLength(body, 'utf8') > MAX_BODY_BYTES) throw new RequestError(413, 'body_too_large');
  if (body.trim() === '') throw new RequestError(400, 'empty_body');
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    throw new RequestError(400, 'invalid_json');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new RequestError(400, 'not_an_object');
  return parsed as Record<string, unknown>;
}

/** The one Bot Framework channel the bot serves: Microsoft Teams. */
export const TEAMS_CHANNEL_ID = 'msteams';

/**
 * Refuses every channel but Microsoft Teams with 403 `channel_not_teams`, after authentication and before any lookup.
 * Another channel of the same Azure Bot (Web Chat, Direct Line, the Emulator) is endorsed by the same signing keys,
 * but its client writes `from` itself: its `from.aadObjectId` and tenant prove nothing, so such activities never reach
 * a token. Exact, case-sensitive comparison (Teams sends `msteams`; botframework-connector's Channels.Msteams).
 */
export function requireTeamsChannel(body: Record<string, unknown>): void {
  if (body.channelId !== TEAMS_CHANNEL_ID) throw new RequestError(403, 'channel_not_teams');
}

/** A validated inbound activity: the fields the receiver relies on are present and well-formed. */
export interface InboundActivity {
  readonly raw: Record<string, unknown>;
  readonly type: string;
  readonly id?: string;
  readonly serviceUrl: string;
  readonly channelId: string;
  readonly conversation: { id: string; conversationType?: string; tenantId?: string; isGroup?: boolean };
  readonly from: { id: string; aadObjectId?: string; name?: string };
  readonly recipient: { id: string; name?: string };
  readonly tenantId?: string;
  readonly text?: string;
  readonly locale?: string;
}

// Activity ids: Teams uses digits or `f:…`/`1:…` forms. Bounded printable ASCII without spaces.
const ACTIVITY_ID = /^[\x21-\x7e]{1,256}$/;
/**
 * Conversation ids: Teams uses printable ASCII (`a:1…`, `19:…@thread.tacv2;messageid=…`, about 100 characters). At most
 * 400 characters, so a composite key of a conversation and an activity id stays under DynamoDB's 2048-byte key limit
 * even when every character is percent-encoded (shared/keys.ts): longer ids are a 400, not a DynamoDB error (503).
 */
const CONVERSATION_ID = /^[\x20-\x7e]{1,400}$/;
const MAX_FIELD = 1024;

function obj(v: unknown): Record<string, unknown> | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}

function str(v: unknown, max = MAX_FIELD): string | undefined {
  return typeof v === 'string' && v.length > 0 && v.length <= max ? v : undefined;
}

function optStr(v: unknown, field: string, max = MAX_FIELD): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string' || v.length > max) throw new RequestError(400, `invalid_${field}`);
  return v;
}

/** Re-exported: the GUID rule lives in src/private/shared-data.ts. */
export { isGuid };

/**
 * Validates the activity fields every route needs (after authentication). Messages and invokes additionally need an
 * activity id and the user's Entra object id. Throws {@link RequestError} (400).
 */
export function validateActivity(raw: Record<string, unknown>): InboundActivity {
  const type = str(raw.type, 64);
  if (!type) throw new RequestError(400, 'missing_type');
  const serviceUrl = str(raw.serviceUrl, 2048);
  if (!serviceUrl) throw new RequestError(400, 'missing_serviceUrl');
  const channelId = str(raw.channelId, 64);
  if (!channelId) throw new RequestError(400, 'missing_channelId');
  const conv = obj(raw.conversation);
  const conversationId = str(conv?.id);
  if (!conv || !conversationId) throw new RequestError(400, 'missing_conversation');
  if (!CONVERSATION_ID.test(conversationId)) throw new RequestError(400, 'invalid_conversation_id');
  const from = obj(raw.from);
  const fromId = str(from?.id);
  if (!from || !fromId) throw new RequestError(400, 'missing_from');
  const recipient = obj(raw.recipient);
  const recipientId = str(recipient?.id);
  if (!recipient || !recipientId) throw new RequestError(400, 'missing_recipient');

  let id: string | undefined;
  if (raw.id !== undefined && raw.id !== null) {
    if (typeof raw.id !== 'string' || !ACTIVITY_ID.test(raw.id)) throw new RequestError(400, 'invalid_id');
    id = raw.id;
  }
  const aadObjectId = from.aadObjectId === undefined || from.aadObjectId === null ? undefined : from.aadObjectId;
  if (aadObjectId !== undefined && !isGuid(aadObjectId)) throw new RequestError(400, 'invalid_aadObjectId');

  const channelData = obj(raw.channelData);
  const channelTenant = obj(channelData?.tenant)?.id;
  const convTenant = conv.tenantId;
  if (channelTenant !== undefined && !isGuid(channelTenant)) throw new RequestError(400, 'invalid_tenant');
  if (convTenant !== undefined && convTenant !== null && !isGuid(convTenant)) throw new RequestError(400, 'invalid_tenant');
  if (isGuid(channelTenant) && isGuid(convTenant) && normalizeGuid(channelTenant) !== normalizeGuid(convTenant)) {
    throw new RequestError(400, 'tenant_mismatch');
  }
  // Ids in their one spelling (lower case) from here on: keys, comparisons, the worker event.
  const tenantId = isGuid(channelTenant) ? normalizeGuid(channelTenant) : isGuid(convTenant) ? normalizeGuid(convTenant) : undefined;

  if (type === 'message' || type === 'invoke') {
    if (!id) throw new RequestError(400, 'missing_id');
    if (!aadObjectId) throw new RequestError(400, 'missing_aadObjectId');
    if (!tenantId) throw new RequestError(400, 'missing_tenant');
  }
  const text = optStr(raw.text, 'text', 64 * 1024);
  const locale = optStr(raw.locale, 'locale', 64);
  const conversationType = optStr(conv.conversationType, 'conversationType', 64);
  const isGroup = typeof conv.isGroup === 'boolean' ? conv.isGroup : undefined;

  return {
    raw,
    type,
    id,
    serviceUrl,
    channelId,
    conversation: { id: conversationId, conversationType, tenantId, isGroup },
    from: { id: fromId, aadObjectId: aadObjectId === undefined ? undefined : normalizeGuid(aadObjectId), name: optStr(from.name, 'from_name') },
    recipient: { id: recipientId, name: optStr(recipient.name, 'recipient_name') },
    tenantId,
    text,
    locale,
  };
}

/** The Entra identity (tenant + object id) of the activity's sender. Callers validated it for messages/invokes. */
export function userKeyOf(activity: InboundActivity): UserKey {
  if (!activity.tenantId || !activity.from.aadObjectId) throw new RequestError(400, 'missing_user');
  return { tenantId: activity.tenantId, aadObjectId: activity.from.aadObjectId };
}

/** The conversation reference (worker contract) of an inbound activity. */
export function conversationReferenceOf(activity: InboundActivity): ConversationReference {
  const conversation: ConversationReference['conversation'] = { id: activity.conversation.id };
  if (activity.conversation.conversationType) conversation.conversationType = activity.conversation.conversationType;
  if (activity.tenantId) conversation.tenantId = activity.tenantId;
  if (activity.conversation.isGroup !== undefined) conversation.isGroup = activity.conversation.isGroup;
  const ref: ConversationReference = {
    serviceUrl: activity.serviceUrl,
    channelId: activity.channelId,
    conversation,
    bot: { id: activity.recipient.id, ...(activity.recipient.name ? { name: activity.recipient.name } : {}) },
    user: {
      id: activity.from.id,
      ...(activity.from.aadObjectId ? { aadObjectId: activity.from.aadObjectId } : {}),
      ...(activity.from.name ? { name: activity.from.name } : {}),
    },
  };
  if (activity.id) ref.activityId = activity.id;
  if (activity.locale) ref.locale = activity.locale;
  return ref;
}

/**
 * The pending (token-less) worker event of an inbound message, built and validated by the contract module (only the
 * contract's fields: no channelData, no attachment content). A contract violation is the sender's mistake: 400.
 */
export function pendingEventOf(activity: InboundActivity, receivedAtMs: number): PendingEvent {
  try {
    return pendingEventFromActivity(activity.raw, { receivedAt: new Date(receivedAtMs) });
  } catch (err) {
    if (err instanceof ContractError) throw new RequestError(400, `invalid_${err.path || 'activity'}`.slice(0, 80));
    throw err;
  }
}

/** Mention entities whose text is removed from the message (a message naming the bot needs one or two). */
const MAX_MENTION_TEXTS = 8;

/**
 * The message text without the bot's @mention (`<at>Bot</at>` and mention entities naming the bot), whitespace
 * collapsed and trimmed. Linear in the text's length (lambda/shared/teams-text.ts): at most
 * {@link MAX_MENTION_TEXTS} distinct mention texts are removed.
 */
export function textWithoutMentions(activity: InboundActivity): string {
  let text = activity.text ?? '';
  const entities = Array.isArray(activity.raw.entities) ? activity.raw.entities : [];
  const mentionTexts = new Set<string>();
  for (const e of entities) {
    const ent = obj(e);
    if (ent?.type !== 'mention') continue;
    const mentioned = obj(ent.mentioned);
    const mentionText = str(ent.text);
    if (mentionText && (!mentioned || mentioned.id === activity.recipient.id)) mentionTexts.add(mentionText);
    if (mentionTexts.size >= MAX_MENTION_TEXTS) break;
  }
  for (const m of mentionTexts) text = text.split(m).join(' ');
  return collapseWhitespace(stripMentions(text).replace(/&nbsp;/gi, ' '));
}

const SIGN_OUT = new Set(['sign out', 'signout', 'sign-out', 'logout', 'log out', 'log-out']);
/** Longer than any sign-out command with its punctuation: such a text is not one (and is not lower-cased). */
const MAX_SIGN_OUT_LENGTH = 32;

/** True if the message is the sign-out command ("sign out" / "logout", case-insensitive, mention stripped). */
export function isSignOutCommand(activity: InboundActivity): boolean {
  const stripped = textWithoutMentions(activity);
  if (stripped.length > MAX_SIGN_OUT_LENGTH) return false;
  return SIGN_OUT.has(trimEndChars(stripped.toLowerCase(), '.!'));
}
