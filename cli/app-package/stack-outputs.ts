/**
 * Reads a bot's app id and messaging endpoint from the file `cdk deploy --outputs-file` writes
 * (`{"<stack>": {"<output logical id>": "<value>"}}`), matching output keys exactly.
 */
import { readFileSync } from 'node:fs';
import { UsageError } from './manifest';

/** What the outputs file gave us for one bot. */
export interface StackOutputValues {
  appId?: string;
  endpoint?: string;
}

/** Which bot to read: the stack's name and the bot's output prefix (its construct path without separators). */
export interface BotSelector {
  readonly stack?: string;
  readonly bot?: string;
}

/**
 * The construct's output ids, as CloudFormation output keys: `<construct path>` + id + the 8-hex-digit hash CDK adds
 * to a nested path (`BotMessagingEndpoint1A2B3C4D`), or the id alone for a top-level output.
 */
const OUTPUT_KEY = /^([A-Za-z0-9]*?)(MessagingEndpoint|AppId)([0-9A-F]{8})?$/;

interface FoundBot { readonly stack: string; readonly bot: string; readonly values: StackOutputValues }

function botsOfStack(stack: string, outputs: Record<string, unknown>): FoundBot[] {
  const byPrefix = new Map<string, StackOutputValues>();
  for (const [key, value] of Object.entries(outputs)) {
    const m = OUTPUT_KEY.exec(key);
    if (m === null || typeof value !== 'string') {
      continue;
    }
    const values = byPrefix.get(m[1]) ?? {};
    if (m[2] === 'MessagingEndpoint') {
      values.endpoint = value;
    } else {
      values.appId = value;
    }
    byPrefix.set(m[1], values);
  }
  return [...byPrefix.entries()]
    .filter(([, v]) => v.endpoint !== undefined)
    .map(([bot, values]) => ({ stack, bot, values }));
}

function readJsonObject(file: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new UsageError(`--stack-outputs ${file}: cannot read JSON (${(e as Error).message})`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new UsageError(`--stack-outputs ${file}: expected an object {"<stack>": {"<output>": "<value>"}}`);
  }
  return parsed as Record<string, unknown>;
}

const describe = (b: FoundBot): string => `--stack ${b.stack} --bot ${b.bot === '' ? '""' : b.bot}`;

/**
 * Finds the one bot the selector names: an output `<prefix>MessagingEndpoint<hash>` and, with the same prefix,
 * `<prefix>AppId<hash>`. With several bots in the file, `--stack` and/or `--bot` choose one.
 */
export function readStackOutputs(file: string, selector: BotSelector = {}): StackOutputValues {
  const stacks = Object.entries(readJsonObject(file)).filter(
    (entry): entry is [string, Record<string, unknown>] => typeof entry[1] === 'object' && entry[1] !== null && !Array.isArray(entry[1]),
  );
  if (selector.stack !== undefined && !stacks.some(([name]) => name === selector.stack)) {
    throw new UsageError(`--stack-outputs ${file}: no stack named ${JSON.stringify(selector.stack)} (found: ${stacks.map(([n]) => n).join(', ') || 'none'})`);
  }
  const all = stacks.flatMap(([name, outputs]) => botsOfStack(name, outputs));
  const chosen = all.filter((b) =>
    (selector.stack === undefined || b.stack === selector.stack) && (selector.bot === undefined || b.bot === selector.bot));
  if (chosen.length === 0) {
    const which = selector.bot !== undefined ? ` named ${JSON.stringify(selector.bot)}` : '';
    const where = selector.stack !== undefined ? `stack ${selector.stack} has no bot${which}` : `no stack has a bot${which}`;
    const found = all.length > 0 ? ` (found: ${all.map(describe).join('; ')})` : '';
    throw new UsageError(`--stack-outputs ${file}: ${where} (an output key <bot>MessagingEndpoint<hash>)${found}`);
  }
  if (chosen.length > 1) {
    throw new UsageError(`--stack-outputs ${file}: several bots (${chosen.map((b) => `${b.stack}/${b.bot}`).join(', ')}); choose one with ${chosen.map(describe).join(' or ')}`);
  }
  return { ...chosen[0].values };
}
