/**
 * Teams citations for an answer: the `[n]` markers in the text become a schema.org `Message` entity with one `Claim`
 * per cited source (Microsoft's "Bot messages with AI-generated content": position n, appearance a `DigitalDocument`
 * with a name of at most 80 characters, an abstract of at most 160 and an optional url). Only sources the text cites
 * are listed; the message is also labelled AI-generated.
 */
import type { Source } from './knowledge-base';

/** Teams shows at most this many citations per message. */
export const MAX_CITATIONS = 20;

function cut(text: string, max: number): string {
  const chars = Array.from(text.replace(/\s+/g, ' ').trim());
  return chars.length <= max ? chars.join('') : `${chars.slice(0, max - 1).join('')}…`;
}

/** The numbers the text cites (`[1]`, `[2][3]`, `[1, 2]`), each once, ascending. */
export function citedNumbers(text: string): number[] {
  const found = new Set<number>();
  for (const m of text.matchAll(/\[(\d{1,2}(?:\s*,\s*\d{1,2})*)\]/g)) {
    for (const n of m[1].split(',')) found.add(Number(n.trim()));
  }
  return [...found].sort((a, b) => a - b);
}

/** The citation entity for `text` (undefined when it cites none of the sources). */
export function citationEntity(text: string, sources: readonly Source[]): Record<string, unknown> | undefined {
  const byNumber = new Map(sources.map((s) => [s.n, s]));
  const cited = citedNumbers(text).map((n) => byNumber.get(n)).filter((s): s is Source => s !== undefined).slice(0, MAX_CITATIONS);
  if (cited.length === 0) return undefined;
  return {
    'type': 'https://schema.org/Message',
    '@type': 'Message',
    '@context': 'https://schema.org',
    '@id': '',
    'additionalType': ['AIGeneratedContent'],
    'citation': cited.map((s) => ({
      '@type': 'Claim',
      'position': s.n,
      'appearance': {
        '@type': 'DigitalDocument',
        'name': cut(s.title, 80),
        ...(s.url ? { url: s.url } : {}),
        'abstract': cut(s.text, 160),
      },
    })),
  };
}
