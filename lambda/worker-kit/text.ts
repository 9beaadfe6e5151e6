/**
 * Text helpers for replies that quote the user.
 */

const ENTITIES: Record<string, string> = { 'amp': '&', 'lt': '<', 'gt': '>', 'quot': '"', 'apos': '\'', 'nbsp': ' ', '#39': '\'' };

/**
 * The plain text of a Teams message: `<at>…</at>` mentions removed, HTML tags stripped (Teams sends formatted
 * messages as HTML), basic entities decoded, control characters dropped, whitespace collapsed.
 */
export function plainText(text: string | undefined): string {
  if (!text) return '';
  return text
    .replace(/<at\b[^>]*>[\s\S]*?<\/at>/gi, ' ')
    .replace(/<(br|\/p|\/div|\/li)\b[^>]*>/gi, ' ')
    .replace(/<[^>]*>/g, '')
    .replace(/&(#\d{1,6}|#x[0-9a-f]{1,6}|[a-z]{2,6}|#39);/gi, (m, e: string) => {
      const lower = e.toLowerCase();
      if (ENTITIES[lower] !== undefined) return ENTITIES[lower];
      const cp = lower.startsWith('#x') ? parseInt(lower.slice(2), 16) : lower.startsWith('#') ? parseInt(lower.slice(1), 10) : NaN;
      return Number.isFinite(cp) && cp > 0 && cp <= 0x10ffff ? String.fromCodePoint(cp) : m;
    })
    // eslint-disable-next-line no-control-regex
    .replace(/[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2066-\u2069]/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
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
