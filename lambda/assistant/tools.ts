/**
 * Read-only Microsoft Graph tools the model may call, acting as the user with their delegated token (through the
 * kit's GraphClient, which only ever calls the configured Graph host). Each tool has its scope, a timeout and a cap on
 * the size of what goes back to the model. Tool output is data: it is returned as a JSON tool result, never as
 * instructions (docs/assistant.md). No tool writes anything.
 */
import type { GraphClient } from '../../kit';
import { ASSISTANT_TOOLS, AssistantToolName } from '../../src/private/assistant';

/** A tool name (the names and scopes live in src/private/assistant.ts, shared with the construct). */
export type ToolName = AssistantToolName;

/** Largest tool result handed to the model, in characters. */
export const TOOL_RESULT_MAX_CHARS = 8000;
/** Timeout of one tool call. */
export const TOOL_TIMEOUT_MS = 8000;

interface ToolDef {
  description: string;
  inputSchema: Record<string, unknown>;
  run(graph: GraphClient, input: Record<string, unknown>, now: Date): Promise<unknown>;
}

const SELECT_EVENT = 'subject,start,end,location,organizer,isAllDay,isOnlineMeeting';

/**
 * The tools this runtime implements (name → description, JSON schema of the input, run); their scopes are in
 * ASSISTANT_TOOLS. A name of the shared table not implemented here is refused by loadAssistantConfig.
 */
export const TOOLS: Partial<Record<ToolName, ToolDef>> = {
  profile: {
    description: 'The signed-in user\'s profile: name, mail, job title, office.',
    inputSchema: { type: 'object', properties: {} },
    run: (graph) => graph.request('GET', '/v1.0/me', { query: { $select: 'displayName,mail,jobTitle,officeLocation,preferredLanguage' } }),
  },
  calendar: {
    description: 'The user\'s calendar events from now for the next `days` days (1 to 14).',
    inputSchema: { type: 'object', properties: { days: { type: 'integer', minimum: 1, maximum: 14 } } },
    run: (graph, input, now) => {
      const days = Math.min(14, Math.max(1, Math.floor(Number(input.days) || 2)));
      const end = new Date(now.getTime() + days * 86_400_000);
      return graph.request('GET', '/v1.0/me/calendarView', {
        query: { startDateTime: now.toISOString(), endDateTime: end.toISOString(), $select: SELECT_EVENT, $orderby: 'start/dateTime', $top: '25' },
      });
    },
  },
  mail: {
    description: 'Searches the user\'s mailbox; returns up to 10 messages (subject, sender, date, preview).',
    inputSchema: { type: 'object', properties: { query: { type: 'string', maxLength: 200 } }, required: ['query'] },
    run: (graph, input) => {
      const q = String(input.query ?? '').replace(/["\\]/g, ' ').slice(0, 200);
      return graph.request('GET', '/v1.0/me/messages', {
        query: { $search: `"${q}"`, $top: '10', $select: 'subject,from,receivedDateTime,bodyPreview' },
      });
    },
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
export async function runTool(graph: GraphClient, name: string, input: unknown, now = new Date()): Promise<{ ok: boolean; text: string }> {
  const def = (TOOLS as Record<string, ToolDef | undefined>)[name];
  if (!def) return { ok: false, text: JSON.stringify({ error: 'unknown tool' }) };
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(Object.assign(new Error('tool timed out'), { name: 'ToolTimeout' })), TOOL_TIMEOUT_MS);
  });
  try {
    const value = await Promise.race([def.run(graph, (input ?? {}) as Record<string, unknown>, now), timeout]);
    return { ok: true, text: capResult(value) };
  } catch (err) {
    const e = err as { name?: string; status?: number; code?: string };
    return { ok: false, text: JSON.stringify({ error: e.name ?? 'Error', status: e.status, code: e.code }) };
  } finally {
    clearTimeout(timer);
  }
}
