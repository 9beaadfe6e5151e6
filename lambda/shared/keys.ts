/**
 * Composite DynamoDB keys built from ids that come from Teams (conversation and activity ids): each id is
 * percent-encoded (`encodeURIComponent`; Python: `urllib.parse.quote(s, safe="-_.!~*'()")`), so the `#` that joins
 * the parts never occurs inside one and two distinct id pairs never share a key (`a#b` + `c` and `a` + `b#c` differ).
 * The receiver refuses ids whose keys would exceed DynamoDB's key size (docs/receiver.md, step 4) with a 400.
 */

/** `{prefix}#{part 1}#{part 2}…` with every part percent-encoded. */
export function compositeKey(prefix: string, ...parts: string[]): string {
  for (const p of parts) {
    if (typeof p !== 'string' || p.length === 0) throw new TypeError(`compositeKey(${prefix}): every part must be a non-empty string`);
  }
  return [prefix, ...parts.map((p) => encodeURIComponent(p))].join('#');
}
