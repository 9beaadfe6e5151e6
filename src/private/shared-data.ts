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
 * The one spelling of a GUID: lower case. Entra ID issues tenant, object and app ids in lower case, but Teams, an
 * operator's props or a hand-written environment may spell them in upper case; every boundary (construct props, the
 * handlers' configuration, inbound activities and JWT claims, the worker contract) normalizes with this, so ids are
 * compared, stored and put in IAM conditions in one spelling. Anything that is not a GUID (a tenant domain such as
 * `contoso.onmicrosoft.com`, an unresolved CDK token) is returned unchanged.
 */
export function normalizeGuid(value: string): string {
  return isGuid(value) ? value.toLowerCase() : value;
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

// ---------------------------------------------------------------------------------------------------------------
// Routes, scopes and hosts (construct props and handler variables follow the same rules)
// ---------------------------------------------------------------------------------------------------------------

/** A route path of the receiver: `/segment[/segment...]` of `A-Z a-z 0-9 . _ ~ -`; no trailing `/`, no `//`, no query. */
export const ROUTE_PATH_PATTERN = /^(\/[A-Za-z0-9._~-]+)+$/;

/** True for a receiver route path ({@link ROUTE_PATH_PATTERN}). */
export function isRoutePath(value: string): boolean {
  return ROUTE_PATH_PATTERN.test(value);
}

/** One delegated scope: `User.Read`, `https://graph.microsoft.com/Mail.Read`, `access_as_user` (no spaces or commas). */
export const SCOPE_PATTERN = /^[A-Za-z0-9._\-/:]+$/;

/** True for one delegated scope ({@link SCOPE_PATTERN}). */
export function isScope(value: string): boolean {
  return SCOPE_PATTERN.test(value);
}

/**
 * A `serviceUrl` allow-list host: a DNS name (labels of letters, digits and inner `-`, any case), optionally with a
 * leading `*.` (any subdomain). No scheme, port or path.
 */
export const SERVICE_URL_HOST_PATTERN = /^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/i;

/** True for a `serviceUrl` allow-list host ({@link SERVICE_URL_HOST_PATTERN}). */
export function isServiceUrlHost(value: string): boolean {
  return SERVICE_URL_HOST_PATTERN.test(value);
}

// ---------------------------------------------------------------------------------------------------------------
// Tables (docs/design.md, "Data model")
// ---------------------------------------------------------------------------------------------------------------

/** Key and TTL attribute names of both tables: the construct creates the tables, the handlers read and write them. */
export const TABLE_KEYS = {
  /** Partition key (S) of both tables. */
  partitionKey: 'pk',
  /** Sort key (S) of the conversation table (the token table has none). */
  sortKey: 'sk',
  /** TTL attribute (epoch seconds) of both tables. */
  ttl: 'ttl',
} as const;

/** Kind (first part of the composite partition key) of the worker's idempotency records. */
export const WORKER_KEY_KIND = 'worker';

/** Leading partition key of the worker's idempotency records: the worker's IAM is limited to `worker#*`. */
export const WORKER_KEY_PREFIX = `${WORKER_KEY_KIND}#`;

// ---------------------------------------------------------------------------------------------------------------
// Token encryption context (docs/design.md, "Encryption")
// ---------------------------------------------------------------------------------------------------------------

/** The keys of every token's KMS encryption context, exactly these: IAM allows no other key. */
export const ENCRYPTION_CONTEXT_KEYS = ['appId', 'tenantId', 'aadObjectId', 'purpose'] as const;

/** The `purpose` of a token's encryption context: the worker may decrypt access tokens only. */
export const TOKEN_PURPOSE = { access: 'access_token', refresh: 'refresh_token' } as const;
