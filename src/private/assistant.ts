/**
 * The assistant worker's shared table, defined once: its Graph tools and the delegated scope each needs, its
 * environment variable names and the limits of its settings. The construct (src/) validates `assistant` props and adds
 * the enabled tools' scopes to the sign-in scopes from it; the runtime (lambda/assistant/) reads its settings and
 * declares its tools from it. Pure TypeScript (no CDK, no AWS SDK, no Node API): lambda/ may import src/private/, never
 * the reverse. docs/assistant.md documents every entry.
 */

/** One Graph tool of the assistant: the delegated scope it needs and whether that scope needs an admin's consent. */
export interface AssistantToolScope {
  /** The delegated Microsoft Graph permission the tool's calls need. */
  readonly scope: string;
  /** True when a tenant admin must consent to the scope (users cannot consent to it themselves). */
  readonly adminConsent: boolean;
}

/**
 * The tools there are, and their scopes (least privilege for the Graph call each makes; docs/assistant.md, "Tools"):
 * - `profile`: `GET /me`, User.Read.
 * - `calendar`: `GET /me/calendarView`, Calendars.Read.
 * - `mail`: `GET /me/messages?$search`, Mail.Read.
 * - `files`: Microsoft Search `POST /search/query` over `driveItem` (OneDrive and the SharePoint sites the user can
 *   open), Files.Read.All. `GET /me/drive/root/search` would need only Files.Read but sees the user's own OneDrive
 *   alone, not files shared with them in Teams or SharePoint.
 * - `chat`: the messages of the current 1:1 or group chat, `GET /chats/{id}/messages`, Chat.Read.
 * - `channel`: the current channel thread (root post and replies), `GET /teams/{team}/channels/{channel}/messages/{id}`
 *   (+ `/replies`), ChannelMessage.Read.All, which needs an admin's consent: off unless enabled on purpose.
 */
export const ASSISTANT_TOOLS = {
  profile: { scope: 'User.Read', adminConsent: false },
  calendar: { scope: 'Calendars.Read', adminConsent: false },
  mail: { scope: 'Mail.Read', adminConsent: false },
  files: { scope: 'Files.Read.All', adminConsent: false },
  chat: { scope: 'Chat.Read', adminConsent: false },
  channel: { scope: 'ChannelMessage.Read.All', adminConsent: true },
} as const satisfies Record<string, AssistantToolScope>;

/** A tool name. */
export type AssistantToolName = keyof typeof ASSISTANT_TOOLS;

/** Every tool name, in the table's order. */
export const ASSISTANT_TOOL_NAMES = Object.keys(ASSISTANT_TOOLS) as AssistantToolName[];

/** The tools on when none are configured (all need only user consent). */
export const DEFAULT_ASSISTANT_TOOLS: readonly AssistantToolName[] = ['profile', 'calendar', 'mail'];

/** True for a tool name of {@link ASSISTANT_TOOLS}. */
export function isAssistantToolName(value: string): value is AssistantToolName {
  return Object.prototype.hasOwnProperty.call(ASSISTANT_TOOLS, value);
}

/** The delegated Graph scopes the given tools need, each once, in the order of the tools. */
export function assistantToolScopes(names: readonly AssistantToolName[]): string[] {
  return [...new Set(names.map((n) => ASSISTANT_TOOLS[n].scope))];
}

/**
 * The sign-in scopes of a bot with the assistant: `scopes` plus the `extra` ones (the tools' scopes) not in it yet,
 * compared without case and without a Microsoft Graph URI prefix (so `https://graph.microsoft.com/Mail.Read` already
 * has `Mail.Read`). The construct (resolve-props.ts) and the playground's `--assistant` both add them with this.
 */
export function withAssistantScopes(scopes: readonly string[], extra: readonly string[]): string[] {
  const key = (s: string) => s.toLowerCase().replace(/^https:\/\/graph\.microsoft\.[a-z.]+\//, '');
  const have = new Set(scopes.map(key));
  return [...scopes, ...extra.filter((s) => !have.has(key(s)))];
}

/** The assistant's environment variables: the construct writes them, lambda/assistant/config.ts reads them. */
export const ASSISTANT_ENV = {
  /** Model id, inference profile id or ARN (required). */
  MODEL_ID: 'TDAB_ASSISTANT_MODEL_ID',
  /** Region of the Bedrock Runtime endpoint (default: the function's region). */
  MODEL_REGION: 'TDAB_ASSISTANT_MODEL_REGION',
  /** System prompt (default: built in; tool output is data). */
  SYSTEM_PROMPT: 'TDAB_ASSISTANT_SYSTEM_PROMPT',
  /** `maxTokens` of each model call. */
  MAX_TOKENS: 'TDAB_ASSISTANT_MAX_TOKENS',
  /** Temperature (default: the model's). */
  TEMPERATURE: 'TDAB_ASSISTANT_TEMPERATURE',
  /** Comma-separated tool names ({@link ASSISTANT_TOOLS}); empty: no tools. */
  TOOLS: 'TDAB_ASSISTANT_TOOLS',
  /** Tool calls per user message. */
  MAX_TOOL_CALLS: 'TDAB_ASSISTANT_MAX_TOOL_CALLS',
  /** Minimum milliseconds between two streamed updates to Teams. */
  STREAM_INTERVAL_MS: 'TDAB_ASSISTANT_STREAM_INTERVAL_MS',
  /** Bedrock knowledge base id: retrieval and citations when set. */
  KNOWLEDGE_BASE_ID: 'TDAB_ASSISTANT_KNOWLEDGE_BASE_ID',
  /** Bedrock guardrail id or ARN, applied to input and output when set (with GUARDRAIL_VERSION). */
  GUARDRAIL_ID: 'TDAB_ASSISTANT_GUARDRAIL_ID',
  /** Guardrail version: a number or `DRAFT`. */
  GUARDRAIL_VERSION: 'TDAB_ASSISTANT_GUARDRAIL_VERSION',
  /** Earlier turns of the conversation given to the model (0: none). */
  MEMORY_TURNS: 'TDAB_ASSISTANT_MEMORY_TURNS',
  /** The typing indicator is re-sent this often (ms) until the first update (runtime default; no prop needed). */
  TYPING_INTERVAL_MS: 'TDAB_ASSISTANT_TYPING_INTERVAL_MS',
} as const;

/** An inclusive integer or number range of a setting. */
export interface AssistantRange {
  readonly min: number;
  readonly max: number;
  readonly default: number;
}

/** The limits and defaults of the numeric settings (the construct validates props with them, the runtime its env). */
export const ASSISTANT_LIMITS = {
  maxTokens: { min: 1, max: 8192, default: 1024 },
  maxToolCalls: { min: 0, max: 20, default: 4 },
  streamIntervalMs: { min: 0, max: 10_000, default: 1000 },
  memoryTurns: { min: 0, max: 50, default: 10 },
  typingIntervalMs: { min: 100, max: 60_000, default: 3000 },
} as const satisfies Record<string, AssistantRange>;

/** Temperature range (Bedrock Converse `inferenceConfig.temperature`). */
export const ASSISTANT_TEMPERATURE = { min: 0, max: 1 } as const;

/**
 * A Bedrock model id (`anthropic.claude-3-5-haiku-20241022-v1:0`), inference profile id (`us.anthropic…`,
 * `global.anthropic…`) or ARN (`arn:aws:bedrock:…:foundation-model/…`, `…:inference-profile/…`,
 * `…:application-inference-profile/…`): what ConverseStream accepts as `modelId`.
 */
export const MODEL_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9:/._-]{0,2047}$/;

/** True for a model id, inference profile id or ARN ({@link MODEL_ID_PATTERN}). */
export function isModelId(value: string): boolean {
  return MODEL_ID_PATTERN.test(value);
}

/** An AWS region name (`us-east-1`, `eu-central-2`, `us-gov-west-1`): the model's region and inference routing regions. */
export const REGION_PATTERN = /^[a-z]{2}(-[a-z]+)+-[0-9]$/;

/** A guardrail version: a positive integer or `DRAFT`. */
export const GUARDRAIL_VERSION_PATTERN = /^([1-9][0-9]{0,7}|DRAFT)$/;

/** A knowledge base id: 10 letters or digits (Bedrock's `knowledgeBaseId` pattern). */
export const KNOWLEDGE_BASE_ID_PATTERN = /^[0-9A-Za-z]{10}$/;

/** A guardrail id (lower-case letters and digits) or guardrail ARN (Bedrock's `guardrailIdentifier` pattern). */
export const GUARDRAIL_ID_PATTERN = /^([a-z0-9]{1,64}|arn:aws(-[a-z-]+)?:bedrock:[a-z0-9-]{1,20}:[0-9]{12}:guardrail\/[a-z0-9]{1,64})$/;

/** `purpose` of the encryption context of the assistant's memory items (the worker may Encrypt and Decrypt them). */
export const ASSISTANT_MEMORY_PURPOSE = 'assistant_memory';
