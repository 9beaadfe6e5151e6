/**
 * One assistant turn on Bedrock `ConverseStream`: streams text deltas to `onText`, runs the tools the model asks for
 * (at most `maxToolCalls` per turn; over the limit the model gets an error result) and loops until the model ends.
 * Throttling is retried with backoff by the SDK (`maxAttempts`, standard retry mode).
 *
 * With a guardrail configured, every call carries `guardrailConfig` (stream processing `sync`: each chunk is checked
 * before it is streamed, so blocked text never reaches Teams). An intervention (stop reason `guardrail_intervened`) ends
 * the turn: its text (the guardrail's blocked-input or blocked-output message) becomes the whole answer, once.
 */
// Handler dependencies are devDependencies (esbuild inlines them into the bundles).
// eslint-disable-next-line import/no-extraneous-dependencies
import { BedrockRuntimeClient, ContentBlock, ConverseStreamCommand, Message, Tool } from '@aws-sdk/client-bedrock-runtime';
import type { AssistantConfig } from './config';
import { TOOLS, ToolName } from './tools';

/** The outcome of a turn. */
export interface TurnResult {
  text: string;
  /** True when the guardrail intervened: `text` is the guardrail's message. */
  guardrailIntervened: boolean;
  stopReason?: string;
  toolCalls: number;
  usage: { inputTokens: number; outputTokens: number };
}

/** What a turn needs besides the model. */
export interface TurnIo {
  onText(delta: string): Promise<void>;
  onToolUse(name: string): Promise<void>;
  runTool(name: string, input: unknown): Promise<{ ok: boolean; text: string }>;
}

function toolConfig(names: readonly ToolName[]): { tools: Tool[] } | undefined {
  if (names.length === 0) return undefined;
  return {
    tools: names.flatMap((name) => {
      const def = TOOLS[name];
      return def ? [{ toolSpec: { name, description: def.description, inputSchema: { json: def.inputSchema as never } } }] : [];
    }),
  };
}

/** Said when a guardrail intervened without a message of its own. */
export const GUARDRAIL_FALLBACK = 'I cannot help with that request.';

interface Round {
  content: ContentBlock[];
  text: string;
  stopReason?: string;
  inputTokens: number;
  outputTokens: number;
}

/** Streams one model call; collects the assistant message (text and tool-use blocks). */
async function streamRound(client: BedrockRuntimeClient, cfg: AssistantConfig, messages: Message[], io: TurnIo): Promise<Round> {
  const res = await client.send(new ConverseStreamCommand({
    modelId: cfg.modelId,
    system: [{ text: cfg.systemPrompt }],
    messages,
    inferenceConfig: { maxTokens: cfg.maxTokens, temperature: cfg.temperature },
    toolConfig: toolConfig(cfg.tools),
    guardrailConfig: cfg.guardrail ? { guardrailIdentifier: cfg.guardrail.id, guardrailVersion: cfg.guardrail.version, streamProcessingMode: 'sync' } : undefined,
  }));
  const round: Round = { content: [], text: '', inputTokens: 0, outputTokens: 0 };
  const tools = new Map<number, { toolUseId: string; name: string; json: string }>();
  for await (const ev of res.stream ?? []) {
    if (ev.contentBlockStart?.start?.toolUse) {
      const t = ev.contentBlockStart.start.toolUse;
      tools.set(ev.contentBlockStart.contentBlockIndex ?? 0, { toolUseId: t.toolUseId ?? '', name: t.name ?? '', json: '' });
    } else if (ev.contentBlockDelta?.delta?.text !== undefined) {
      round.text += ev.contentBlockDelta.delta.text;
      await io.onText(ev.contentBlockDelta.delta.text);
    } else if (ev.contentBlockDelta?.delta?.toolUse) {
      const t = tools.get(ev.contentBlockDelta.contentBlockIndex ?? 0);
      if (t) t.json += ev.contentBlockDelta.delta.toolUse.input ?? '';
    } else if (ev.messageStop) {
      round.stopReason = ev.messageStop.stopReason;
    } else if (ev.metadata?.usage) {
      round.inputTokens += ev.metadata.usage.inputTokens ?? 0;
      round.outputTokens += ev.metadata.usage.outputTokens ?? 0;
    }
  }
  // A stream cut short (connection reset) can end without an error: no messageStop means no complete answer.
  if (round.stopReason === undefined) throw Object.assign(new Error('ConverseStream ended without messageStop'), { name: 'StreamTruncated' });
  if (round.text !== '') round.content.push({ text: round.text });
  for (const t of tools.values()) {
    let input: unknown = {};
    try {
      input = t.json === '' ? {} : JSON.parse(t.json);
    } catch { /* a malformed input is passed as {} */ }
    round.content.push({ toolUse: { toolUseId: t.toolUseId, name: t.name, input: input as never } });
  }
  return round;
}

/** Runs a whole turn: model, tools, model… until it stops for another reason than tool use. */
export async function converseTurn(client: BedrockRuntimeClient, cfg: AssistantConfig, messages: Message[], io: TurnIo): Promise<TurnResult> {
  const result: TurnResult = { text: '', guardrailIntervened: false, toolCalls: 0, usage: { inputTokens: 0, outputTokens: 0 } };
  for (let round = 0; round <= cfg.maxToolCalls + 1; round++) {
    const r = await streamRound(client, cfg, messages, io);
    result.stopReason = r.stopReason;
    result.usage.inputTokens += r.inputTokens;
    result.usage.outputTokens += r.outputTokens;
    if (r.stopReason === 'guardrail_intervened') {
      // The guardrail's message replaces anything said before it in this turn (given once, never appended).
      return { ...result, text: r.text.trim() === '' ? GUARDRAIL_FALLBACK : r.text, guardrailIntervened: true };
    }
    result.text += r.text;
    const uses = r.content.filter((c) => c.toolUse).map((c) => c.toolUse!);
    if (r.stopReason !== 'tool_use' || uses.length === 0) return result;
    messages.push({ role: 'assistant', content: r.content });
    const results: ContentBlock[] = [];
    for (const use of uses) {
      const allowed = result.toolCalls < cfg.maxToolCalls && (cfg.tools as string[]).includes(use.name ?? '');
      result.toolCalls++;
      if (allowed) await io.onToolUse(use.name ?? '');
      const out = allowed ? await io.runTool(use.name ?? '', use.input) : { ok: false, text: JSON.stringify({ error: 'tool call limit reached or tool not enabled' }) };
      results.push({ toolResult: { toolUseId: use.toolUseId, status: out.ok ? 'success' : 'error', content: [{ text: out.text }] } });
    }
    messages.push({ role: 'user', content: results });
  }
  return result;
}
