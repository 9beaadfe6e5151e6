/**
 * Text helpers for replies that quote the user.
 */

import { plainText as plainTextOf } from '../lambda/shared/teams-text';

/**
 * The plain text of a Teams message: `<at>…</at>` mentions removed, HTML tags stripped (Teams sends formatted
 * messages as HTML), basic entities decoded, control characters dropped, whitespace collapsed. Linear in the length
 * of the text (lambda/shared/teams-text.ts).
 */
export function plainText(text: string | undefined): string {
  return plainTextOf(text);
}

/**
 * Quotes user text for a `textFormat: "plain"` reply: plain text (see {@link plainText}), cut to `maxLength` characters
 * (without splitting a surrogate pair) with an ellipsis, in typographic quotes.
 */
export function quote(text: string | undefined, maxLength = 200): string {
  const plain = plainText(text);
  const chars = Array.from(plain);
  const cut = chars.length > maxLength ? `${chars.slice(0, maxLength).join('').trimEnd()}…` : plain;
  return `“${cut}”`;
}
