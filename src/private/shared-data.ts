/**
 * Data and syntax rules shared by the construct (src/) and the handlers (lambda/), defined once here. Pure TypeScript:
 * no CDK, no AWS SDK, no Node API, so both sides import it (lambda/ may import src/private/, never the reverse; the
 * eslint rule `import/no-restricted-paths` in .projenrc.ts enforces the direction).
 *
 * The cloud endpoints live next door in `cloud-profiles.ts`, the environment variable names in `env.ts`.
 */

// ---------------------------------------------------------------------------------------------------------------
// Identifiers
// ---------------------------------------------------------------------------------------------------------------

/** A Microsoft GUID (Entra tenant, object and app ids): `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`, any case. */
export const GUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** True for a GUID ({@link GUID_PATTERN}). */
export function isGuid(value: unknown): value is string {
  return typeof value === 'string' && GUID_PATTERN.test(value);
}

/**
 * An identifier that ends up in a URL path (an app id; a tenant id, which Entra also accepts as a domain such as
 * `contoso.onmicrosoft.com`): letters, digits, `.`, `_`, `-`, starting with a letter or digit, at most 128 characters.
 * No `/`, so it can never leave its path segment.
 */
export const PATH_SAFE_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** True for an identifier that is safe in a URL path ({@link PATH_SAFE_ID_PATTERN}). */
export function isPathSafeId(value: unknown): value is string {
  return typeof value === 'string' && PATH_SAFE_ID_PATTERN.test(value);
}

// ---------------------------------------------------------------------------------------------------------------
// URLs
// ---------------------------------------------------------------------------------------------------------------

/** Host names on which plain `http:` is accepted (local tests and stand-ins only). */
export const LOOPBACK_HOSTS: readonly string[] = ['127.0.0.1', 'localhost', '[::1]'];

/** True for a loopback host name (`127.0.0.1`, `localhost`, `[::1]`; case-insensitive). */
export function isLoopbackHost(hostname: string): boolean {
  return LOOPBACK_HOSTS.includes(hostname.toLowerCase());
}

/**
 * The one transport rule of every URL the handlers call or hand out: `https:`, or `http:` on a loopback host (tests).
 * Takes a parsed URL (`new URL(...)`); checks the scheme only (callers add their own rules on credentials, query, path).
 */
export function isHttpsOrLoopback(url: { protocol: string; hostname: string }): boolean {
  return url.protocol === 'https:' || (url.protocol === 'http:' && isLoopbackHost(url.hostname));
}
