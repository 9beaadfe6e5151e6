/**
 * Read-only Microsoft Graph tools the model may call, acting as the user with their delegated token (through the
 * kit's GraphClient, which only ever calls the configured Graph host). Each tool has its scope, a timeout and a cap on
 * the size of what goes back to the model. Tool output is data: it is returned as a JSON tool result, never as
 * instructions (docs/assistant.md). No tool writes anything.
 */
import { GraphClient, plainText } from '../../kit';
import { ASSISTANT_TOOLS, AssistantToolName } from '../../src/private/assistant';

/** A tool name (the names and scopes live in src/private/assistant.ts, shared with the construct). */
export type ToolName = AssistantToolName;

/** Largest tool result handed to the model, in characters. */
export const TOOL_RESULT_MAX_CHARS = 8000;
/** Timeout of one tool call. */
export const TOOL_TIMEOUT_MS = 8000;

/** What a tool call runs with. */
export interface ToolContext {
  /** Graph as the user. */
  graph: GraphClient;
  /** The model's input (not trusted: each tool bounds what it uses). */
  input: Record<string, unknown>;
  now: Date;
  /** The Teams conversation id of the user's message (the `chat` tool reads that chat). */
  conversationId: string;
}

interface ToolDef {
  /** What the informative update says while it runs ("Looking at {label}…"). */
  label: string;
  description: string;
  inputSchema: Record<string, unknown>;
  run(ctx: ToolContext): Promise<unknown>;
}

/** A tool cannot run in this conversation (e.g. `chat` in the 1:1 chat with the bot); the model is told why. */
export class ToolUnavailableError extends Error {
  constructor(readonly reason: string) {
    super(reason);
    this.name = 'ToolUnavailable';
  }
}

/** Messages the `chat` tool returns at most, and the characters kept of each. */
export const CHAT_MESSAGES = 20;
const CHAT_MESSAGE_MAX_CHARS = 600;

/** Microsoft Search over files (OneDrive and the SharePoint sites the user can open): name, link, date, snippet. */
async function searchFiles({ graph, input }: ToolContext): Promise<unknown> {
  const q = String(input.query ?? '').replace(/[\u0000-\u001f]/g, ' ').trim().slice(0, 200);
  if (q === '') throw new ToolUnavailableError('query is empty');
  const res = await graph.request<{ value?: Array<{ hitsContainers?: Array<{ hits?: any[] }> }> }>('POST', '/v1.0/search/query', {
    body: { requests: [{ entityTypes: ['driveItem'], query: { queryString: q }, from: 0, size: 10 }] },
  });
  const hits = res?.value?.[0]?.hitsContainers?.[0]?.hits ?? [];
  return hits.slice(0, 10).map((h) => ({
    name: h?.resource?.name,
    webUrl: h?.resource?.webUrl,
    lastModified: h?.resource?.lastModifiedDateTime,
    modifiedBy: h?.resource?.lastModifiedBy?.user?.displayName,
    summary: typeof h?.summary === 'string' ? plainText(h.summary).slice(0, 300) : undefined,
  }));
}

/**
 * The Graph chat id of a Teams conversation, or why there is none: group and meeting chats are Graph chats (`19:…`);
 * the 1:1 chat with the bot (`a:…`) and channel threads (`…;messageid=…`) are not addressable as a chat.
 */
export function graphChatId(conversationId: string): string {
  if (conversationId.includes(';messageid=')) throw new ToolUnavailableError('this is a channel thread; the chat tool reads group chats');
  if (!/^19:[A-Za-z0-9_.@:-]{1,500}$/.test(conversationId)) throw new ToolUnavailableError('the 1:1 chat with the assistant has no chat history to read (earlier turns are given to you already)');
  return conversationId;
}

/** The latest messages of the current chat (`GET /chats/{id}/messages`), oldest first, as plain text. */
async function readChat({ graph, conversationId }: ToolContext): Promise<unknown> {
  const id = graphChatId(conversationId);
  const res = await graph.request<{ value?: any[] }>('GET', `/v1.0/chats/${encodeURIComponent(id)}/messages`, {
    query: { $top: String(CHAT_MESSAGES), $orderby: 'createdDateTime desc' },
  });
  return (res?.value ?? [])
    .filter((m) => m?.messageType === 'message' && !m?.deletedDateTime)
    .map((m) => ({
      from: m?.from?.user?.displayName ?? m?.from?.application?.displayName,
      at: m?.createdDateTime,
      text: plainText(typeof m?.body?.content === 'string' ? m.body.content : '').slice(0, CHAT_MESSAGE_MAX_CHARS),
    }))
    .reverse();
}

const SELECT_EVENT = 'subject,start,end,location,organizer,isAllDay,isOnlineMeeting';

/**
 * The tools this runtime implements (name → description, JSON schema of the input, run); their scopes are in
 * ASSISTANT_TOOLS. A name of the shared table not implemented here is refused by loadAssistantConfig.
 */
export const TOOLS: Partial<Record<ToolName, ToolDef>> = {
  profile: {
    label: 'your profile',
    description: 'The signed-in user\'s profile: name, mail, job title, office.',
    inputSchema: { type: 'object', properties: {} },
    run: ({ graph }) => graph.request('GET', '/v1.0/me', { query: { $select: 'displayName,mail,jobTitle,officeLocation,preferredLanguage' } }),
  },
  calendar: {
    label: 'your calendar',
    description: 'The user\'s calendar events from now for the next `days` days (1 to 14).',
    inputSchema: { type: 'object', properties: { days: { type: 'integer', minimum: 1, maximum: 14 } } },
    run: ({ graph, input, now }) => {
      const days = Math.min(14, Math.max(1, Math.floor(Number(input.days) || 2)));
      const end = new Date(now.getTime() + days * 86_400_000);
      return graph.request('GET', '/v1.0/me/calendarView', {
        query: { startDateTime: now.toISOString(), endDateTime: end.toISOString(), $select: SELECT_EVENT, $orderby: 'start/dateTime', $top: '25' },
      });
    },
  },
  mail: {
    label: 'your mail',
    description: 'Searches the user\'s mailbox; returns up to 10 messages (subject, sender, date, preview).',
    inputSchema: { type: 'object', properties: { query: { type: 'string', maxLength: 200 } }, required: ['query'] },
    run: ({ graph, input }) => {
      const q = String(input.query ?? '').replace(/["\\]/g, ' ').slice(0, 200);
      return graph.request('GET', '/v1.0/me/messages', {
        query: { $search: `"${q}"`, $top: '10', $select: 'subject,from,receivedDateTime,bodyPreview' },
      });
    },
  },
  files: {
    label: 'your files',
    description: 'Searches the files the user can open (OneDrive, SharePoint, files shared in Teams); returns up to 10 (name, link, date, snippet).',
    inputSchema: { type: 'object', properties: { query: { type: 'string', maxLength: 200 } }, required: ['query'] },
    run: searchFiles,
  },
  chat: {
    label: 'this chat',
    description: `The latest ${CHAT_MESSAGES} messages of the current group chat (sender, time, text), oldest first.`,
    inputSchema: { type: 'object', properties: {} },
    run: readChat,
  },
};

/** The names of the tools this runtime implements. */
export const TOOL_NAMES = (Object.keys(ASSISTANT_TOOLS) as ToolName[]).filter((n) => TOOLS[n] !== undefined);

/** Drops OData annotations and cuts the JSON to {@link TOOL_RESULT_MAX_CHARS}. */
export function capResult(value: unknown): string {
  const json = JSON.stringify(value, (k, v: unknown) => (k.startsWith('@odata') ? undefined : v)) ?? 'null';
  return json.length <= TOOL_RESULT_MAX_CHARS ? json : `${json.slice(0, TOOL_RESULT_MAX_CHARS)}…(truncated)`;
}

/**
 * Runs one tool call with a timeout; the result is `{ ok, text }` with `text` capped JSON. A failure is reported to
 * the model as an error result (status and code only), so it can answer without the data.
 */
export async function runTool(
  graph: GraphClient, name: string, input: unknown, conversationId: string, now = new Date(),
): Promise<{ ok: boolean; text: string }> {
  const def = (TOOLS as Record<string, ToolDef | undefined>)[name];
  if (!def) return { ok: false, text: JSON.stringify({ error: 'unknown tool' }) };
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(Object.assign(new Error('tool timed out'), { name: 'ToolTimeout' })), TOOL_TIMEOUT_MS);
  });
  try {
    const args = typeof input === 'object' && input !== null ? input as Record<string, unknown> : {};
    const value = await Promise.race([def.run({ graph, input: args, now, conversationId }), timeout]);
    return { ok: true, text: capResult(value) };
  } catch (err) {
    if (err instanceof ToolUnavailableError) return { ok: false, text: JSON.stringify({ error: 'unavailable', reason: err.reason }) };
    const e = err as { name?: string; status?: number; code?: string };
    return { ok: false, text: JSON.stringify({ error: e.name ?? 'Error', status: e.status, code: e.code }) };
  } finally {
    clearTimeout(timer);
  }
}
