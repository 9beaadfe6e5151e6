import { Duration, Token } from 'aws-cdk-lib';
import { IConstruct } from 'constructs';
import { isGuid, isRoutePath, isScope, isServiceUrlHost } from './shared-data';

/** Prefix of the construct's warning ids (`Annotations.addWarningV2`), so users can acknowledge them one by one. */
export const WARNING_PREFIX = 'cdk-teams-delegated-auth-bot';

/** Thrown for an invalid prop: names the prop, the value, the fix and the construct path. */
export class TeamsBotValidationError extends Error {
  constructor(scope: IConstruct, prop: string, value: unknown, fix: string) {
    super(`${scope.node.path}: invalid ${prop} ${JSON.stringify(value)}: ${fix}`);
    this.name = 'TeamsBotValidationError';
  }
}


/** A Microsoft app or tenant id: a GUID (skipped for unresolved tokens). */
export function validateGuid(scope: IConstruct, prop: string, value: string, what: string): void {
  if (Token.isUnresolved(value)) return;
  if (!isGuid(value)) {
    throw new TeamsBotValidationError(scope, prop, value,
      `expected ${what} as a GUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx), as shown in the Entra app registration's Overview page`);
  }
}

/** A route path of the receiver: `/segment[/segment...]`, no trailing slash, no query. */
export function validatePath(scope: IConstruct, prop: string, value: string): void {
  if (Token.isUnresolved(value)) {
    throw new TeamsBotValidationError(scope, prop, value, 'must be a literal string (the route is fixed at synth time)');
  }
  if (!isRoutePath(value)) {
    throw new TeamsBotValidationError(scope, prop, value,
      'expected a path such as "/api/messages": leading "/", no trailing "/", no "//", no query or fragment, characters A-Z a-z 0-9 . _ ~ -');
  }
}

/**
 * A public base URL for a custom domain: `https://host[:port]`, normalized without a trailing slash.
 * Returns the normalized value (tokens are returned unchanged).
 */
export function normalizeBaseUrl(scope: IConstruct, prop: string, value: string): string {
  if (Token.isUnresolved(value)) return value;
  const trimmed = value.endsWith('/') ? value.slice(0, -1) : value;
  let url: URL;
  try {
    url = new URL(trimmed);
  } catch {
    throw new TeamsBotValidationError(scope, prop, value, 'expected an absolute URL such as "https://bot.example.com"');
  }
  if (url.protocol !== 'https:') {
    throw new TeamsBotValidationError(scope, prop, value, 'must use https: Entra ID and the Bot Connector only call https endpoints');
  }
  if (url.pathname !== '/' || url.search !== '' || url.hash !== '' || url.username !== '' || url.password !== '' || trimmed.endsWith('/')) {
    throw new TeamsBotValidationError(scope, prop, value,
      'expected an origin only ("https://host" or "https://host:port"): no path, query, fragment or credentials; the routes come from messagingPath and callbackPath');
  }
  return trimmed;
}

/** An https URL without a trailing slash (endpoint overrides). */
export function validateHttpsUrl(scope: IConstruct, prop: string, value: string): void {
  if (Token.isUnresolved(value)) return;
  let url: URL | undefined;
  try {
    url = new URL(value);
  } catch {
    url = undefined;
  }
  if (!url || url.protocol !== 'https:' || value.endsWith('/')) {
    throw new TeamsBotValidationError(scope, prop, value, 'expected an absolute https URL without a trailing "/"');
  }
}

/** A serviceUrl host pattern: a host name, optionally with a leading `*.`. */
export function validateHost(scope: IConstruct, prop: string, value: string): void {
  if (Token.isUnresolved(value)) return;
  if (!isServiceUrlHost(value)) {
    throw new TeamsBotValidationError(scope, prop, value,
      'expected a host name such as "smba.trafficmanager.net" or "*.botframework.com" (no scheme, port or path)');
  }
}

/**
 * A delegated scope: one scope per element, the characters the handlers' configuration accepts
 * (`User.Read`, `https://graph.microsoft.com/Mail.Read`, `access_as_user`).
 */
export function validateScope(scope: IConstruct, prop: string, value: string): void {
  if (Token.isUnresolved(value)) return;
  if (!isScope(value)) {
    throw new TeamsBotValidationError(scope, prop, value,
      'expected one scope per array element, such as "User.Read" or "Mail.Read" (no spaces or commas)');
  }
}

/** Duration within [min, max]; returns whole seconds. */
export function durationSeconds(scope: IConstruct, prop: string, value: Duration, min: Duration, max: Duration): number {
  if (value.isUnresolved()) {
    throw new TeamsBotValidationError(scope, prop, 'token', 'must be a literal Duration');
  }
  const seconds = value.toSeconds();
  if (seconds < min.toSeconds() || seconds > max.toSeconds()) {
    throw new TeamsBotValidationError(scope, prop, value.toHumanString(),
      `expected a duration between ${min.toHumanString()} and ${max.toHumanString()}`);
  }
  return seconds;
}

/** Integer within [min, max] (memory sizes). */
export function validateInteger(scope: IConstruct, prop: string, value: number, min: number, max: number): void {
  if (Token.isUnresolved(value)) return;
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new TeamsBotValidationError(scope, prop, value, `expected an integer between ${min} and ${max}`);
  }
}
