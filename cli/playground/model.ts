/**
 * The playground's scripted model (`--assistant`, `--bedrock local`): no AI, a deterministic stand-in for a Bedrock
 * model that behaves like one on the wire, so the assistant worker runs its whole path: keywords of the question pick
 * the Graph tools (calendar, mail, profile; only tools the request offers), one tool use per model call, then a text
 * answer built from the tool results, streamed word by word at a modest rate. Without a keyword it says what it can
 * do and what it remembers of the conversation (the earlier turns the assistant's memory gives it).
 */
import type { BedrockRequest, Model, ModelTurn } from './aws/bedrock';

/** Options of {@link scriptedModel}. */
export interface ScriptedModelOptions {
  /** Delay before each streamed word (default 60 ms: a modest token rate, so the chat shows the streaming). */
  chunkDelayMs?: number;
}

/** The tools the scripted model knows, the words that make it call them, and the input it passes. */
const TOOL_RULES: Array<{ name: string; words: RegExp; input: (question: string) => Record<string, unknown> }> = [
  {
    name: 'profile',
    words: /\b(profile|who am i|my name|my job|job title|my title|about me)\b/i,
    input: () => ({}),
  },
  {
    name: 'calendar',
    words: /\b(calendar|meetings?|events?|schedule|agenda|appointments?|busy|free)\b/i,
    input: (q) => ({ days: /\bweek\b/i.test(q) ? 7 : /\btoday\b/i.test(q) ? 1 : 2 }),
  },
  {
    name: 'mail',
    words: /\b(mail|e-?mails?|inbox|messages?)\b/i,
    // The topic after "about", "from" or "regarding", else every message ("*").
    input: (q) => ({ query: /\b(?:about|from|regarding)\s+([^?.!]{1,60})/i.exec(q)?.[1]?.trim() || '*' }),
  },
];

interface Block {
  text?: string;
  guardContent?: { text?: { text?: string } };
  toolUse?: { toolUseId?: string; name?: string };
  toolResult?: { toolUseId?: string; status?: string; content?: Array<{ text?: string; json?: unknown }> };
}
interface Message {
  role: 'user' | 'assistant';
  content: Block[];
}

const textOf = (b: Block): string | undefined => b.text ?? b.guardContent?.text?.text;

/** A tool result as the model got it: the tool's name, whether it worked, its JSON (or text). */
interface ToolOutcome {
  name: string;
  ok: boolean;
  value: any;
}

/** The scripted model: a {@link Model} for the Bedrock stand-in. */
export function scriptedModel(o: ScriptedModelOptions = {}): Model {
  const chunkDelayMs = o.chunkDelayMs ?? 60;
  return (request: BedrockRequest): ModelTurn => {
    const messages = (request.body?.messages ?? []) as Message[];
    // The user's message of this turn: the last one with text; after it come this turn's tool uses and results.
    const at = findLastIndex(messages, (m) => m.role === 'user' && m.content.some((b) => textOf(b) !== undefined));
    const question = at < 0 ? '' : lastText(messages[at]);
    const offered = new Set<string>((request.body?.toolConfig?.tools ?? []).map((t: any) => t?.toolSpec?.name));
    const outcomes = toolOutcomes(messages.slice(at + 1));
    const wanted = TOOL_RULES.filter((r) => offered.has(r.name) && r.words.test(question));
    const next = wanted.find((r) => !outcomes.some((x) => x.name === r.name));
    if (next) return { toolUse: { name: next.name, input: next.input(question) } };
    const text = outcomes.length > 0
      ? outcomes.map(describe).join('\n\n')
      : small(question, earlierQuestions(messages.slice(0, Math.max(at, 0))), [...offered]);
    return { text, chunkDelayMs };
  };
}

function findLastIndex<T>(items: T[], test: (item: T) => boolean): number {
  for (let i = items.length - 1; i >= 0; i--) if (test(items[i])) return i;
  return -1;
}

/** The question: the last text block of the user's message (sources and attachment notes come before it). */
function lastText(m: Message): string {
  const texts = m.content.map(textOf).filter((t): t is string => t !== undefined);
  return texts[texts.length - 1] ?? '';
}

/** This turn's tool results, each with the name of the tool use it answers. */
function toolOutcomes(turn: Message[]): ToolOutcome[] {
  const names = new Map<string, string>();
  const out: ToolOutcome[] = [];
  for (const m of turn) {
    for (const b of m.content) {
      if (b.toolUse?.toolUseId) names.set(b.toolUse.toolUseId, b.toolUse.name ?? '');
      if (b.toolResult) {
        const raw = b.toolResult.content?.[0];
        let value: unknown = raw?.json;
        if (raw?.text !== undefined) {
          try {
            value = JSON.parse(raw.text);
          } catch {
            value = raw.text;
          }
        }
        out.push({ name: names.get(b.toolResult.toolUseId ?? '') ?? 'tool', ok: b.toolResult.status !== 'error', value });
      }
    }
  }
  return out;
}

/** The user's questions of the earlier turns (the assistant's memory), oldest first. */
function earlierQuestions(before: Message[]): string[] {
  return before.filter((m) => m.role === 'user').map(lastText).filter((t) => t !== '');
}

const when = (t: any): string => String(t?.dateTime ?? t ?? '').replace('T', ' ').slice(0, 16);

/** An answer made from one tool result. */
function describe(x: ToolOutcome): string {
  if (!x.ok) {
    const why = [x.value?.status, x.value?.code ?? x.value?.error, x.value?.reason].filter((v) => v !== undefined).join(' ');
    return `I could not read your ${x.name}${why ? ` (${why})` : ''}.`;
  }
  const v = x.value ?? {};
  if (x.name === 'profile') {
    const parts = [v.jobTitle, v.officeLocation].filter(Boolean).join(', ');
    return `You are **${v.displayName ?? 'unknown'}**${parts ? `, ${parts}` : ''}${v.mail ? ` (${v.mail})` : ''}.`;
  }
  const items: any[] = Array.isArray(v.value) ? v.value : [];
  if (x.name === 'calendar') {
    if (items.length === 0) return 'Your calendar has nothing in that time.';
    const lines = items.map((e) => `- **${e.subject ?? '(no subject)'}**, ${when(e.start)} to ${when(e.end).slice(11)}${e.location?.displayName ? ` (${e.location.displayName})` : ''}`);
    return `You have ${items.length === 1 ? 'one event' : `${items.length} events`} coming up:\n\n${lines.join('\n')}`;
  }
  if (x.name === 'mail') {
    if (items.length === 0) return 'I found no mail about that.';
    const lines = items.map((m) => `- **${m.subject ?? '(no subject)'}** from ${m.from?.emailAddress?.name ?? m.from?.emailAddress?.address ?? 'someone'}${m.bodyPreview ? `: ${m.bodyPreview}` : ''}`);
    return `${items.length === 1 ? 'One message' : `${items.length} messages`} in your mailbox:\n\n${lines.join('\n')}`;
  }
  return `The ${x.name} tool answered: ${JSON.stringify(v).slice(0, 300)}`;
}

/** The answer without a tool: what it can do, and what it remembers of this conversation. */
function small(question: string, earlier: string[], offered: string[]): string {
  const tools = TOOL_RULES.map((r) => r.name).filter((n) => offered.includes(n));
  const can = tools.length > 0
    ? `Ask me about your ${tools.map((t) => `**${t}**`).join(', ').replace(/, ([^,]*)$/, ' or $1')} and I will look it up as you.`
    : 'No tools are enabled, so I can only talk.';
  const memory = earlier.length > 0
    ? ` I remember ${earlier.length === 1 ? 'one earlier question' : `${earlier.length} earlier questions`} of yours here; the last was “${earlier[earlier.length - 1]}”.`
    : '';
  return `I am the playground's scripted model, not a real one. You said “${question}”. ${can}${memory}`;
}
