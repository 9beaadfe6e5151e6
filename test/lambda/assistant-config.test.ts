/**
 * The assistant's shared table (src/private/assistant.ts): tool scopes, settings names and limits, read by the runtime
 * (lambda/assistant/config.ts) and documented in docs/assistant.md.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadAssistantConfig } from '../../lambda/assistant/config';
import { TOOL_NAMES } from '../../lambda/assistant/tools';
import { ASSISTANT_ENV, ASSISTANT_TOOL_NAMES, ASSISTANT_TOOLS, assistantToolScopes, isModelId } from '../../src/private/assistant';

const MODEL = 'anthropic.claude-3-5-haiku-20241022-v1:0';

describe('assistant tool table', () => {
  test('each tool names its least-privilege delegated scope; only the channel thread needs admin consent', () => {
    expect(Object.fromEntries(ASSISTANT_TOOL_NAMES.map((n) => [n, ASSISTANT_TOOLS[n].scope]))).toEqual({
      profile: 'User.Read', calendar: 'Calendars.Read', mail: 'Mail.Read', files: 'Files.Read.All', chat: 'Chat.Read', channel: 'ChannelMessage.Read.All',
    });
    expect(ASSISTANT_TOOL_NAMES.filter((n) => ASSISTANT_TOOLS[n].adminConsent)).toEqual(['channel']);
  });

  test('scopes of several tools come once each, in tool order', () => {
    expect(assistantToolScopes(['mail', 'profile', 'mail'])).toEqual(['Mail.Read', 'User.Read']);
    expect(assistantToolScopes([])).toEqual([]);
  });

  test('the runtime implements only names of the shared table', () => {
    for (const n of TOOL_NAMES) expect(ASSISTANT_TOOL_NAMES).toContain(n);
  });

  test('model ids, inference profile ids and ARNs are accepted; spaces, empty and leading punctuation are not', () => {
    for (const ok of [MODEL, 'us.anthropic.claude-3-5-haiku-20241022-v1:0', 'arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.x.y-v1:0']) expect(isModelId(ok)).toBe(true);
    for (const bad of ['', ' x', 'a b', '/model', 'x'.repeat(2049)]) expect(isModelId(bad)).toBe(false);
  });
});

describe('loadAssistantConfig', () => {
  test('defaults: profile, calendar and mail; limits from the shared table', () => {
    const cfg = loadAssistantConfig({ [ASSISTANT_ENV.MODEL_ID]: MODEL });
    expect(cfg).toMatchObject({ modelId: MODEL, tools: ['profile', 'calendar', 'mail'], maxTokens: 1024, maxToolCalls: 4, updateIntervalMs: 1000 });
    expect(cfg.temperature).toBeUndefined();
  });

  test('an empty tool list turns the tools off', () => {
    expect(loadAssistantConfig({ [ASSISTANT_ENV.MODEL_ID]: MODEL, [ASSISTANT_ENV.TOOLS]: '' }).tools).toEqual([]);
  });

  test('a wrong value names its variable', () => {
    expect(() => loadAssistantConfig({})).toThrow(ASSISTANT_ENV.MODEL_ID);
    expect(() => loadAssistantConfig({ [ASSISTANT_ENV.MODEL_ID]: MODEL, [ASSISTANT_ENV.TOOLS]: 'profile,shell' })).toThrow(`${ASSISTANT_ENV.TOOLS}: unknown tool shell`);
    expect(() => loadAssistantConfig({ [ASSISTANT_ENV.MODEL_ID]: MODEL, [ASSISTANT_ENV.MAX_TOKENS]: '0' })).toThrow(`${ASSISTANT_ENV.MAX_TOKENS} must be an integer from 1 to 8192`);
    expect(() => loadAssistantConfig({ [ASSISTANT_ENV.MODEL_ID]: MODEL, [ASSISTANT_ENV.TEMPERATURE]: '1.5' })).toThrow(`${ASSISTANT_ENV.TEMPERATURE} must be from 0 to 1`);
  });

  test('a tool of the table that this runtime does not implement is refused, not silently dropped', () => {
    const missing = ASSISTANT_TOOL_NAMES.filter((n) => !TOOL_NAMES.includes(n));
    for (const n of missing) {
      expect(() => loadAssistantConfig({ [ASSISTANT_ENV.MODEL_ID]: MODEL, [ASSISTANT_ENV.TOOLS]: n })).toThrow(`tool ${n} is not available`);
    }
  });
});

describe('docs/assistant.md', () => {
  const doc = readFileSync(join(__dirname, '../../docs/assistant.md'), 'utf8');
  test('documents every setting and every tool with its scope', () => {
    for (const name of Object.values(ASSISTANT_ENV)) expect(doc).toContain(`\`${name}\``);
    for (const n of ASSISTANT_TOOL_NAMES) expect(doc).toMatch(new RegExp(`\\| \`${n}\` \\|[^\\n]*\\| \`${ASSISTANT_TOOLS[n].scope.replace(/\./g, '\\.')}\``));
  });
});
