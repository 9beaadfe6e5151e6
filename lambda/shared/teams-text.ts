/**
 * Teams message text, read in linear time: the one home of "strip the `<at>…</at>` mentions and the HTML tags" for the
 * receiver (the sign-out command) and the worker kit (`plainText`, `quote`).
 *
 * The text comes from any member of a conversation (up to 64 KiB in the receiver, 100,000 characters in the worker
 * contract), so no step may backtrack: the regular expressions this replaced (`<at[^>]*>[\s\S]*?<\/at>`, `<[^>]*>`,
 * `[.!]+$`) cost O(n²) on inputs such as 64 KB of `<at` or 65,000 `<` (seconds per message). Here every search starts
 * where the previous one ended, and a search that found nothing is never repeated (nothing can appear later), so each
 * function reads its input a bounded number of times. `work` (tests) counts the characters the searches passed over.
 */

/** Counts characters scanned (tests assert a bound on it); optional everywhere. */
export interface TextWork {
  chars: number;
}

/** Tag names (lower case) whose tag becomes a space in plain text: line breaks and block ends. */
const BREAKING_TAGS = new Set(['br', '/p', '/div', '/li']);
const ENTITIES: Record<string, string> = { 'amp': '&', 'lt': '<', 'gt': '>', 'quot': '"', 'apos': '\'', 'nbsp': ' ', '#39': '\'' };
/** Entities have a bounded length, so this expression cannot backtrack more than a few characters per position. */
const ENTITY_RE = /&(#\d{1,6}|#x[0-9a-f]{1,6}|[a-z]{2,6}|#39);/gi;
// eslint-disable-next-line no-control-regex
const INVISIBLE_RE = /[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2066-\u2069]/g;

function isWordChar(c: string | undefined): boolean {
  return c !== undefined && /[A-Za-z0-9_]/.test(c);
}

/** ASCII-only lower case: same length and indexes as the input (unlike `toLowerCase`, which can change lengths). */
function asciiLower(s: string): string {
  return s.replace(/[A-Z]+/g, (m) => m.toLowerCase());
}

/**
 * A forward-only `indexOf` over the lower-cased text: a needle missing after p is missing after any q > p, and a needle
 * found at a after p is, for any q in (p, a], found at a again; neither search is repeated.
 */
class Finder {
  private readonly last = new Map<string, { from: number; at: number }>();
  constructor(private readonly lower: string, private readonly work?: TextWork) {}

  next(needle: string, from: number): number {
    const prev = this.last.get(needle);
    if (prev && from >= prev.from && (prev.at < 0 || from <= prev.at)) return prev.at;
    const at = this.lower.indexOf(needle, from);
    if (this.work) this.work.chars += (at < 0 ? this.lower.length : at + needle.length) - from;
    this.last.set(needle, { from, at });
    return at;
  }
}

/**
 * Walks `text` and replaces markup: `<at…>…</at>` (a mention: `<at` followed by a non-word character, up to the first
 * `>`, then up to the first `</at>`) by `mention`, and, if `tags` is given, every other `<…>` tag by `tags(name)`
 * (`name`: the lower-case text after `<` up to a space, `/` or `>`, a leading `/` kept). A `<` without a later `>` is
 * text, and so is a mention without its `</at>` when `tags` is not given.
 */
function replaceMarkup(text: string, mention: string, tags: ((name: string) => string) | undefined, work?: TextWork): string {
  const lower = asciiLower(text);
  const find = new Finder(lower, work);
  const out: string[] = [];
  let copied = 0;
  let pos = 0;
  for (;;) {
    const lt = find.next(tags ? '<' : '<at', pos);
    if (lt < 0) break;
    const gt = find.next('>', lt + 1);
    if (gt < 0) break; // no tag can be closed after this point: the rest is text
    if (lower.startsWith('<at', lt) && !isWordChar(lower[lt + 3])) {
      const close = find.next('</at>', gt + 1);
      if (close >= 0) {
        out.push(text.slice(copied, lt), mention);
        copied = pos = close + 5;
        continue;
      }
    }
    if (!tags) {
      pos = lt + 1;
      continue;
    }
    const name = /^\/?[^\s/>]*/.exec(lower.slice(lt + 1, Math.min(gt, lt + 16)))?.[0] ?? '';
    out.push(text.slice(copied, lt), tags(name));
    copied = pos = gt + 1;
  }
  out.push(text.slice(copied));
  return out.join('');
}

/** Collapses runs of whitespace to one space and trims (linear). */
export function collapseWhitespace(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}

/** The text with every `<at…>…</at>` mention replaced by a space (the rest untouched). */
export function stripMentions(text: string, work?: TextWork): string {
  return replaceMarkup(text, ' ', undefined, work);
}

/**
 * The plain text of a Teams message: `<at>…</at>` mentions removed, HTML tags stripped (line breaks and block ends
 * become spaces), basic entities decoded, control and bidi characters dropped, whitespace collapsed. Linear in the
 * length of the text.
 */
export function plainText(text: string | undefined, work?: TextWork): string {
  if (!text) return '';
  const stripped = replaceMarkup(text, ' ', (name) => (BREAKING_TAGS.has(name) ? ' ' : ''), work);
  const decoded = stripped.replace(ENTITY_RE, (m, e: string) => {
    const lower = e.toLowerCase();
    if (ENTITIES[lower] !== undefined) return ENTITIES[lower];
    const cp = lower.startsWith('#x') ? parseInt(lower.slice(2), 16) : lower.startsWith('#') ? parseInt(lower.slice(1), 10) : NaN;
    return Number.isFinite(cp) && cp > 0 && cp <= 0x10ffff ? String.fromCodePoint(cp) : m;
  });
  return collapseWhitespace(decoded.replace(INVISIBLE_RE, ' '));
}

/** The text without trailing characters from `chars` (linear, unlike `/[.!]+$/`, which is quadratic on "...x"). */
export function trimEndChars(text: string, chars: string): string {
  let end = text.length;
  while (end > 0 && chars.includes(text[end - 1])) end--;
  return text.slice(0, end);
}
