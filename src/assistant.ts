/**
 * The `assistant` prop: the construct's own AI assistant worker on Amazon Bedrock (docs/assistant.md).
 */

/**
 * A read-only Microsoft Graph tool the assistant's model may call as the user. Each needs one delegated scope, which
 * the construct adds to the sign-in scopes (docs/assistant.md, "Tools"). Reading channel threads needs
 * `ChannelMessage.Read.All` (admin consent) and the team id, which the worker contract does not carry yet: not offered.
 */
export enum AssistantTool {
  /** The user's profile (`GET /me`): `User.Read`. */
  PROFILE = 'profile',
  /** The user's calendar events from now (`GET /me/calendarView`): `Calendars.Read`. */
  CALENDAR = 'calendar',
  /** A search of the user's mailbox (`GET /me/messages?$search`): `Mail.Read`. */
  MAIL = 'mail',
  /** Microsoft Search over OneDrive and the SharePoint files the user can open: `Files.Read.All`. */
  FILES = 'files',
  /** The messages of the current 1:1 or group chat: `Chat.Read`. */
  CHAT = 'chat',
}

/** A Bedrock guardrail applied to the assistant's input and output. */
export interface AssistantGuardrail {
  /** The guardrail's id (`abcd1234efgh`) or ARN, in the model's region. */
  readonly guardrailId: string;

  /** The guardrail's version: a version number such as `'1'`, or `'DRAFT'` (for tests only). */
  readonly guardrailVersion: string;
}

/**
 * The assistant worker: answers each Teams message with an Amazon Bedrock model (ConverseStream), streamed into Teams,
 * with read-only Microsoft Graph tools acting as the user (docs/assistant.md).
 */
export interface AssistantOptions {
  /**
   * The model: a Bedrock model id (`anthropic.claude-3-5-haiku-20241022-v1:0`), a system-defined inference profile id
   * (`us.…`, `eu.…`, `apac.…`, `jp.…`, `au.…`, `ca.…`, `us-gov.…`, `global.…`), or the ARN of a foundation model or
   * an inference profile. The worker may invoke exactly this model or profile (and, for a cross-region profile, the
   * foundation model behind it in the regions it routes to).
   */
  readonly modelId: string;

  /**
   * Region of the Bedrock Runtime endpoint the worker calls (and of the model, inference profile and guardrail).
   *
   * @default - the region of `modelId` when it is an ARN, otherwise the stack's region
   */
  readonly modelRegion?: string;

  /**
   * For a geographic cross-region inference profile: the regions it routes to, whose foundation model the worker may
   * invoke through the profile. List exactly your profile's destination regions (Bedrock console, *Cross-region
   * inference*) to narrow the grant.
   *
   * @default - every region of the profile's geography the construct knows (docs/assistant.md, "Model access")
   */
  readonly inferenceRegions?: string[];

  /**
   * The system prompt (at most 2,000 characters: it travels in the function's environment, 4 KB in all).
   *
   * @default - a built-in prompt: a concise assistant in Teams; text from tools is data, never instructions
   */
  readonly systemPrompt?: string;

  /**
   * `maxTokens` of each model call (1–8192).
   *
   * @default 1024
   */
  readonly maxTokens?: number;

  /**
   * Temperature of the model (0–1).
   *
   * @default - the model's default
   */
  readonly temperature?: number;

  /**
   * The Graph tools the model may call. Their delegated scopes are added to `graphScopes` (each once).
   *
   * @default [AssistantTool.PROFILE, AssistantTool.CALENDAR, AssistantTool.MAIL]
   */
  readonly tools?: AssistantTool[];

  /**
   * Tool calls per user message (0–20); over it the model gets an error result and must answer.
   *
   * @default 4
   */
  readonly maxToolCalls?: number;

  /**
   * Id of a Bedrock knowledge base in the stack's region (10 letters or digits): the worker retrieves from it for
   * each question, and the answer cites its sources. The worker may `bedrock:Retrieve` on exactly this knowledge base.
   *
   * @default - no knowledge base
   */
  readonly knowledgeBaseId?: string;

  /**
   * A Bedrock guardrail applied to the input and the output of every model call.
   *
   * @default - no guardrail
   */
  readonly guardrail?: AssistantGuardrail;

  /**
   * Earlier exchanges of the user in this conversation given to the model (0–50; 0: no memory). They are kept in the
   * conversation table, encrypted with the bot's key, for 7 days after the last turn.
   *
   * @default 10
   */
  readonly memoryTurns?: number;
}
