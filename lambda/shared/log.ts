/**
 * Structured JSON logging that refuses to print secrets.
 *
 * One JSON line per entry: `{"level","event","time",...fields}`. Every field is sanitized recursively before it is
 * serialized:
 * - a key naming a credential or content (token, secret, password, authorization, code, assertion, id_token, text,
 *   body, cookie, verifier, nonce, jwt, credential, …) has its value replaced by `"[redacted]"`; measurement keys
 *   such as `textLength`, `bodyBytes` or `statusCode` keep numeric/boolean values;
 * - any string that looks like a JWT (`eyJ….….…`) or a long opaque credential (40+ characters of base64/base64url
 *   without spaces) is masked wherever it appears, as are `Bearer`/`Basic` credentials and the values of query or
 *   form parameters such as `code=`, `state=`, `client_secret=`, `refresh_token=`;
 * - errors become `{name, message, code}` (message sanitized, no stack, no cause bodies).
 *
 * Persistent keys ({@link appendLogKeys}, {@link resetLogKeys}) go into every line after `level`, `event` and `time`:
 * the handlers set the Lambda request id (`requestId`) at the start of each invocation; a worker may add its own. They
 * are sanitized like fields. Lines go straight to stdout (warn and error to stderr), not through `console`: with
 * Lambda's JSON log format each line then stays the one JSON object Logs Insights queries by field.
 */
import { ENV } from '../../src/private/env';
import { isGuid } from '../../src/private/shared-data';

/** A log level. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/** Receives every formatted line (already sanitized) with its level. */
export type LogSink = (line: string, level: LogLevel) => void;

/** Replacement for a value that must not be logged. */
export const REDACTED = '[redacted]';

const LEVEL_ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/** Words (after splitting camelCase / snake_case / kebab-case keys) whose values are never logged. */
const SENSITIVE_WORDS = new Set([
  'token', 'tokens', 'secret', 'secrets', 'password', 'passwd', 'passphrase', 'authorization', 'code', 'codes',
  'assertion', 'text', 'body', 'cookie', 'cookies', 'verifier', 'nonce', 'jwt', 'jwts', 'credential', 'credentials',
  'bearer', 'signature', 'ciphertext', 'ciphertexts', 'plaintext', 'apikey', 'otp', 'content', 'attachment',
  'attachments', 'message', 'messages', 'value', 'html', 'card', 'headers', 'state',
]);
/** Whole keys (normalized: lower case, no separators) that are sensitive although no single word is. */
const SENSITIVE_KEYS = new Set(['apikey', 'privatekey', 'setcookie', 'idtoken', 'xapikey', 'sessionid', 'sas']);
/** Last words that make a key a measurement about a sensitive thing; numbers, booleans and short words are kept. */
const MEASUREMENT_SUFFIXES = new Set([
  'length', 'len', 'count', 'bytes', 'size', 'present', 'type', 'expiry', 'expires', 'at', 'ms', 'seconds', 'status',
  'kind', 'format', 'parts',
]);
/** Keys that are safe although they contain a sensitive word. */
const SAFE_KEYS = new Set([
  'statuscode', 'errorcode', 'httpstatuscode', 'reasoncode', 'messageid', 'tokentype', 'contenttype', 'textformat',
]);
/** Strings a measurement key may keep (`"plain"`, `"Bearer"`, `"application/json"`): short, no spaces. */
const MEASUREMENT_STRING_RE = /^[A-Za-z0-9._/+:-]{0,40}$/;

const JWT_RE = /eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*\.?[A-Za-z0-9_-]*/g;
/** Length from which a run of base64/base64url characters counts as an opaque credential. */
const OPAQUE_MIN_LENGTH = 40;
const OPAQUE_RE = new RegExp(`[A-Za-z0-9_~+/=-]{${OPAQUE_MIN_LENGTH},}`, 'g');
/** Credentials in URL query strings / form bodies and in authorization values embedded in text. */
const QUERY_SECRET_RE = /([?&#;\s](?:code|state|token|access_token|id_token|refresh_token|client_secret|client_assertion|assertion|code_verifier|nonce|password|sig|signature)=)[^&#\s"']*/gi;
const AUTH_SCHEME_RE = /\b(Bearer|Basic)\s+[^\s"',;]+/gi;
const MAX_STRING = 2000;
const MAX_SCAN = 64 * 1024;
const MAX_DEPTH = 6;
const MAX_ITEMS = 50;

function words(key: string): string[] {
  return key
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1 $2')
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter((w) => w !== '');
}

type KeyClass = 'safe' | 'sensitive' | 'measurement';

/** Classes of the keys seen so far: the handlers log a small fixed set of field names (bounded all the same). */
const keyClasses = new Map<string, KeyClass>();
const MAX_KEY_CLASSES = 1000;

/** How a field name is treated: `sensitive` keys are redacted, `measurement` keys keep numbers/booleans only. */
export function classifyKey(key: string): KeyClass {
  let cls = keyClasses.get(key);
  if (cls === undefined) {
    cls = classifyKeyUncached(key);
    if (keyClasses.size < MAX_KEY_CLASSES) keyClasses.set(key, cls);
  }
  return cls;
}

function classifyKeyUncached(key: string): KeyClass {
  const normalized = key.toLowerCase().replace(/[^a-z0-9]/g, '');
  if (SAFE_KEYS.has(normalized)) return 'safe';
  if (SENSITIVE_KEYS.has(normalized)) return 'sensitive';
  const ws = words(key);
  if (!ws.some((w) => SENSITIVE_WORDS.has(w))) return 'safe';
  const last = ws[ws.length - 1];
  if (ws.length > 1 && MEASUREMENT_SUFFIXES.has(last)) return 'measurement';
  return 'sensitive';
}

/** A long opaque run is left alone when it is a path of short, readable segments (`key/<guid>`, `a/b/c`). */
function looksLikeReadablePath(run: string): boolean {
  if (!run.includes('/')) return false;
  return run.split('/').every((seg) => seg.length < 20 || isGuid(seg));
}

/**
 * What a string shorter than the opaque-run length needs before any rule below can match it: a `=` (a query or form
 * parameter), whitespace (an authorization scheme) or `eyJ` (a JWT). Most logged strings (reasons, ids, routes) have
 * none and are returned as they are.
 */
const SHORT_STRING_SUSPECT_RE = /[=\s]|eyJ/;

/** Masks JWT-looking substrings and long opaque credentials inside a string. */
export function sanitizeString(s: string): string {
  if (s.length < OPAQUE_MIN_LENGTH && !SHORT_STRING_SUSPECT_RE.test(s)) return s;
  // Bound the work on huge strings; the output is cut to MAX_STRING anyway.
  let out = s.length > MAX_SCAN ? s.slice(0, MAX_SCAN) : s;
  out = out.replace(QUERY_SECRET_RE, `$1${REDACTED}`).replace(AUTH_SCHEME_RE, `$1 ${REDACTED}`);
  out = out.replace(JWT_RE, (m) => (m.length >= 16 ? '[jwt]' : m));
  out = out.replace(OPAQUE_RE, (m) => (looksLikeReadablePath(m) ? m : REDACTED));
  if (out.length > MAX_STRING || s.length > MAX_SCAN) out = `${out.slice(0, MAX_STRING)}…[truncated]`;
  return out;
}

/** Serializes an error without its stack or any attached data: `{name, message, code}`. */
export function serializeError(err: unknown): Record<string, unknown> {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    const reason = (err as { reason?: unknown }).reason;
    const status = (err as { status?: unknown }).status;
    const out: Record<string, unknown> = { name: sanitizeString(err.name), message: sanitizeString(err.message) };
    if (typeof code === 'string' || typeof code === 'number') out.code = typeof code === 'string' ? sanitizeString(code) : code;
    if (typeof reason === 'string') out.reason = sanitizeString(reason);
    if (typeof status === 'number') out.status = status;
    const oauthError = (err as { error?: unknown }).error;
    if (typeof oauthError === 'string' && /^[A-Za-z0-9_.-]{1,64}$/.test(oauthError)) out.error = oauthError;
    return out;
  }
  return { name: 'NonError', message: typeof err === 'string' ? sanitizeString(err) : typeof err };
}

/**
 * A short, log-safe name of an error for a `reason` field: the class name and, for typed errors, their OAuth `error`,
 * `code` and HTTP `status` (`OAuthError:invalid_grant:400`). Never the message text. At most 120 characters.
 */
export function errorName(err: unknown): string {
  if (err && typeof err === 'object') {
    const e = err as { name?: unknown; error?: unknown; code?: unknown; status?: unknown };
    const parts = [typeof e.name === 'string' ? e.name : 'Error'];
    if (typeof e.error === 'string') parts.push(e.error);
    if (typeof e.code === 'string') parts.push(e.code);
    if (typeof e.status === 'number') parts.push(String(e.status));
    return parts.join(':').slice(0, 120);
  }
  return typeof err;
}

/** Returns a sanitized deep copy of `value` (see the module comment for the rules). */
export function sanitize(value: unknown, depth = 0, seen: WeakSet<object> = new WeakSet()): unknown {
  if (value === null || value === undefined) return value;
  if (typeof value === 'string') return sanitizeString(value);
  if (typeof value === 'number' || typeof value === 'boolean') return value;
  if (typeof value === 'bigint') return value.toString();
  if (typeof value === 'function' || typeof value === 'symbol') return undefined;
  if (value instanceof Error) return serializeError(value);
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? 'Invalid Date' : value.toISOString();
  if (value instanceof URL) return sanitizeUrl(value);
  if (typeof value !== 'object') return undefined;
  if (seen.has(value)) return '[circular]';
  if (depth >= MAX_DEPTH) return '[depth]';
  seen.add(value);
  if (Buffer.isBuffer(value) || ArrayBuffer.isView(value) || value instanceof ArrayBuffer) return REDACTED;
  if (Array.isArray(value)) {
    const arr = value.slice(0, MAX_ITEMS).map((v) => sanitize(v, depth + 1, seen));
    if (value.length > MAX_ITEMS) arr.push(`[+${value.length - MAX_ITEMS} more]`);
    return arr;
  }
  if (value instanceof Map) return sanitize(Object.fromEntries(value), depth, seen);
  if (value instanceof Set) return sanitize([...value], depth, seen);
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    const cls = classifyKey(k);
    if (cls === 'sensitive') {
      if (v !== undefined) out[k] = REDACTED;
    } else if (cls === 'measurement') {
      if (typeof v === 'number' || typeof v === 'boolean' || v === null) out[k] = v;
      else if (typeof v === 'string' && MEASUREMENT_STRING_RE.test(v)) out[k] = sanitizeString(v);
      else if (v !== undefined) out[k] = REDACTED;
    } else {
      const s = sanitize(v, depth + 1, seen);
      if (s !== undefined) out[k] = s;
    }
  }
  return out;
}

/** A URL without its query, fragment or credentials (query strings carry codes and states). */
export function sanitizeUrl(url: string | URL): string {
  try {
    const u = typeof url === 'string' ? new URL(url) : url;
    return sanitizeString(`${u.protocol}//${u.host}${u.pathname}`);
  } catch {
    return '[invalid url]';
  }
}

let sink: LogSink | undefined;
let levelOverride: LogLevel | undefined;
let persistentKeys: Record<string, unknown> = {};

/** Adds keys to every following line (until {@link resetLogKeys}); a later value replaces an earlier one. */
export function appendLogKeys(keys: Record<string, unknown>): void {
  persistentKeys = { ...persistentKeys, ...keys };
}

/** Replaces the persistent keys with `keys` (default none): called at the start of each invocation. */
export function resetLogKeys(keys: Record<string, unknown> = {}): void {
  persistentKeys = { ...keys };
}

/**
 * Sends every line to `fn` instead of the console (tests: capture and scan every line). `undefined` restores the
 * console. Returns the previous sink.
 */
export function setLogSink(fn: LogSink | undefined): LogSink | undefined {
  const prev = sink;
  sink = fn;
  return prev;
}

/** Overrides `TDAB_LOG_LEVEL` (tests); `undefined` goes back to the environment variable. */
export function setLogLevel(level: LogLevel | undefined): void {
  levelOverride = level;
}

function threshold(): number {
  if (levelOverride) return LEVEL_ORDER[levelOverride];
  // TDAB_LOG_LEVEL first; Lambda's application log level (JSON log format) when it is not set.
  const v = (process.env[ENV.LOG_LEVEL] || process.env.AWS_LAMBDA_LOG_LEVEL)?.trim().toLowerCase();
  return v && v in LEVEL_ORDER ? LEVEL_ORDER[v as LogLevel] : LEVEL_ORDER.info;
}

/** True when entries of `level` are written under the current threshold. */
export function isLevelEnabled(level: LogLevel): boolean {
  return LEVEL_ORDER[level] >= threshold();
}

/** Formats one sanitized JSON line (exported for tests). */
export function formatLine(level: LogLevel, event: string, fields?: Record<string, unknown>, now: Date = new Date()): string {
  const merged = fields === undefined ? persistentKeys : { ...persistentKeys, ...fields };
  const sanitized = sanitize(merged) as Record<string, unknown>;
  delete sanitized.level;
  delete sanitized.event;
  delete sanitized.time;
  return JSON.stringify({ level, event: sanitizeString(String(event)), time: now.toISOString(), ...sanitized });
}

function write(level: LogLevel, event: string, fields?: Record<string, unknown>): void {
  if (!isLevelEnabled(level)) return;
  let line: string;
  try {
    line = formatLine(level, event, fields);
  } catch {
    line = JSON.stringify({ level, event: sanitizeString(String(event)), time: new Date().toISOString(), logError: true });
  }
  if (sink) {
    sink(line, level);
    return;
  }
  if (level === 'error' || level === 'warn') process.stderr.write(line + '\n');
  else process.stdout.write(line + '\n');
}

/** The structured logger. `event` is a short constant name (`auth.rejected`); `fields` are explicit safe values. */
export const log = {
  debug(event: string, fields?: Record<string, unknown>): void {
    write('debug', event, fields);
  },
  info(event: string, fields?: Record<string, unknown>): void {
    write('info', event, fields);
  },
  warn(event: string, fields?: Record<string, unknown>): void {
    write('warn', event, fields);
  },
  error(event: string, fields?: Record<string, unknown>): void {
    write('error', event, fields);
  },
  /** Adds keys to every following line of this invocation (the handlers reset them at the start of each one). */
  appendKeys(keys: Record<string, unknown>): void {
    appendLogKeys(keys);
  },
};
