/**
 * `teams-bot-playground test script.json`: runs a conversation script against a fresh playground (no browser) and
 * exits 0 when every expectation held, 1 otherwise. Format (docs/playground.md):
 *
 * ```json
 * { "user": "ada", "chat": "personal", "timeoutMs": 15000,
 *   "steps": [ { "send": "hello" }, { "expect": { "signInCard": true } }, { "signIn": "ada" },
 *              { "expect": { "text": "Ada Lovelace" } } ] }
 * ```
 */
import type { Entry } from './chat';
import type { Playground } from './server';

/** One step of a script. */
export interface ScriptStep {
  /** Sends a message (`as` a test user, default the script's user). */
  send?: string;
  as?: string;
  /** Submits an Adaptive Card (`Action.Submit` data) as a message with this `value`. */
  submit?: unknown;
  /** Signs this test user in with the last sign-in card's URL (local IdP). */
  signIn?: string;
  /** Waits for the next bot activity (new or updated) matching all given fields. */
  expect?: { text?: string; regex?: string; signInCard?: boolean; attachment?: string; timeoutMs?: number };
}

/** A script. */
export interface Script {
  user?: string;
  /** `personal` (default) or `groupChat` (all test users). */
  chat?: 'personal' | 'groupChat';
  timeoutMs?: number;
  steps: ScriptStep[];
}

/** The first local-IdP authorize URL in an activity (a sign-in card's button), if any. */
export function signInUrl(activity: unknown): string | undefined {
  const m = /"(https?:\/\/[^"\s]+\/oauth2\/v2\.0\/authorize\?[^"\s]+)"/.exec(JSON.stringify(activity ?? {}));
  return m?.[1];
}

function matches(e: Entry, x: NonNullable<ScriptStep['expect']>): boolean {
  if (e.from !== 'bot' || (e.kind !== 'activity' && e.kind !== 'update') || e.activity.type !== 'message') return false;
  const text = String(e.activity.text ?? '');
  if (x.text !== undefined && !text.toLowerCase().includes(x.text.toLowerCase())) return false;
  if (x.regex !== undefined && !new RegExp(x.regex).test(text)) return false;
  if (x.signInCard && !signInUrl(e.activity)) return false;
  if (x.attachment !== undefined && !(e.activity.attachments ?? []).some((a: any) => String(a?.contentType ?? '').includes(x.attachment!))) return false;
  return true;
}

/** Validates a parsed script file. */
export function parseScript(doc: unknown): Script {
  const s = doc as Script;
  if (!s || typeof s !== 'object' || !Array.isArray(s.steps) || s.steps.length === 0) throw new TypeError('a script is an object with a non-empty "steps" array');
  s.steps.forEach((step, i) => {
    const kinds = ['send', 'submit', 'signIn', 'expect'].filter((k) => (step as any)?.[k] !== undefined);
    if (kinds.length !== 1) throw new TypeError(`steps[${i}] must have exactly one of send, submit, signIn, expect`);
  });
  return s;
}

/** Runs a script; returns one line per step and whether all passed. */
export async function runScript(pg: Playground, script: Script, out: (line: string) => void): Promise<boolean> {
  const user = script.user ?? pg.chat.o.users()[0].handle;
  const c = script.chat === 'groupChat' ? await pg.chat.group(pg.chat.o.users().map((u) => u.handle)) : await pg.chat.personal(user);
  let cursor = c.entries.length;
  let lastSignIn: string | undefined;
  for (const [i, step] of script.steps.entries()) {
    const label = `step ${i + 1}: ${JSON.stringify(step)}`;
    try {
      if (step.send !== undefined || step.submit !== undefined) {
        const e = await pg.chat.sendMessage(c.id, step.as ?? user, step.submit !== undefined ? { value: step.submit } : { text: step.send });
        if (e.receiver?.status !== 200) throw new Error(`the receiver answered ${e.receiver?.status} ${JSON.stringify(e.receiver?.body ?? '')}`);
      } else if (step.signIn !== undefined) {
        if (!lastSignIn) throw new Error('no sign-in card seen yet (expect one with {"expect": {"signInCard": true}})');
        const r = await pg.signIn(step.signIn, lastSignIn);
        if (r.status !== 200) throw new Error(`the callback answered ${r.status} "${r.title}"`);
      } else if (step.expect) {
        const timeout = step.expect.timeoutMs ?? script.timeoutMs ?? 15_000;
        const deadline = Date.now() + timeout;
        let found: Entry | undefined;
        while (!found) {
          const entries = await pg.chat.entriesAfter(c.id, cursor, Math.max(0, deadline - Date.now()));
          const at = entries.findIndex((e) => matches(e, step.expect!));
          if (at >= 0) {
            found = entries[at];
            cursor += at + 1;
          } else if (Date.now() >= deadline) {
            const seen = entries.filter((e) => e.from === 'bot').map((e) => JSON.stringify(e.activity.text ?? e.activity.type)).join(', ');
            throw new Error(`nothing matched within ${timeout} ms (bot sent: ${seen || 'nothing'})`);
          } else {
            await new Promise((r) => setTimeout(r, 50));
          }
        }
        lastSignIn = signInUrl(found.activity) ?? lastSignIn;
      }
      out(`ok   ${label}`);
    } catch (err) {
      out(`FAIL ${label}\n     ${(err as Error).message}`);
      return false;
    }
  }
  return true;
}
