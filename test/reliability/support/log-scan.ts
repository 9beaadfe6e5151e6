/**
 * Captures every log line written while a suite runs and scans them for things that must never be logged: JWTs,
 * bearer credentials, OAuth codes / states / tokens in URLs or JSON, PEM keys, and the exact secret values the suite
 * planted or saw (client secret, access and refresh tokens, authorization codes, PKCE verifiers, message text).
 *
 * Capture covers both ways a handler can write: the structured logger's sink (`setLogSink` of lambda/shared/log.ts,
 * passed in by the caller so the same module instance as the handler's is used) and the console / process streams
 * (a bundled handler or a stray `console.log`).
 */

/** One finding: which line, which detector, and a masked excerpt (the scanner never echoes a whole secret). */
export interface LeakFinding {
  readonly line: number;
  readonly kind: string;
  readonly excerpt: string;
}

/** What to look for besides the generic detectors. */
export interface ScanOptions {
  /** Exact values that must not appear (tokens, codes, client secret, message text, ...). Values under 6 chars are ignored. */
  readonly secrets?: Iterable<string>;
}

const DETECTORS: ReadonlyArray<{ kind: string; re: RegExp }> = [
  // A compact JWS / JWT: base64url header starting with {" , a payload, and a signature part.
  { kind: 'jwt', re: /eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*/ },
  // A JWT header or payload on its own (someone logged a split token).
  { kind: 'jwt-part', re: /eyJ(?:hbGciOi|0eXAiOi|raWQiOi|pc3Mi|hdWQi|zdWIi)[A-Za-z0-9_-]{10,}/ },
  { kind: 'bearer', re: /\bBearer\s+[A-Za-z0-9._~+/=-]{8,}/i },
  { kind: 'basic-auth', re: /\bBasic\s+[A-Za-z0-9+/=]{12,}/ },
  // Credentials in a query string or form body.
  { kind: 'url-credential', re: /[?&#](?:code|state|access_token|refresh_token|id_token|client_secret|assertion|code_verifier)=[^&\s"'[\]]{6,}/i },
  // Credentials as JSON fields with a real-looking value (the logger replaces them with "[redacted]").
  {
    kind: 'json-credential',
    re: /"(?:access_?token|refresh_?token|id_?token|client_?secret|clientSecret|code_?verifier|codeVerifier|password|assertion|authorization)"\s*:\s*"(?!\[redacted\]|\[jwt\])[^"]{6,}"/i,
  },
  { kind: 'pem', re: /-----BEGIN [A-Z ]*PRIVATE KEY-----/ },
];

function variants(secret: string): string[] {
  const out = new Set<string>([secret]);
  out.add(encodeURIComponent(secret));
  out.add(JSON.stringify(secret).slice(1, -1));
  // A long secret may be cut by a truncating logger: also look for its first 24 characters.
  if (secret.length > 32) out.add(secret.slice(0, 24));
  return [...out].filter((v) => v.length >= 6);
}

function mask(s: string): string {
  if (s.length <= 8) return '***';
  return `${s.slice(0, 4)}…(${s.length} chars)`;
}

/** Scans `lines`; returns every finding (empty = clean). */
export function scanLogLines(lines: readonly string[], opts: ScanOptions = {}): LeakFinding[] {
  const secretVariants: Array<{ v: string; kind: string }> = [];
  for (const s of opts.secrets ?? []) {
    if (typeof s !== 'string' || s.length < 6) continue;
    for (const v of variants(s)) secretVariants.push({ v, kind: 'planted-secret' });
  }
  const findings: LeakFinding[] = [];
  lines.forEach((line, i) => {
    for (const d of DETECTORS) {
      const m = d.re.exec(line);
      if (m) findings.push({ line: i, kind: d.kind, excerpt: mask(m[0]) });
    }
    for (const { v, kind } of secretVariants) {
      if (line.includes(v)) {
        findings.push({ line: i, kind, excerpt: mask(v) });
        break; // one finding per line is enough for planted values
      }
    }
  });
  return findings;
}

/** Lines captured so far and a way to stop capturing. */
export interface LogCapture {
  readonly lines: string[];
  /** Stops capturing and restores the console, the streams and the previous log sink. */
  restore(): void;
}

type SinkSetter = (fn: ((line: string, level: 'debug' | 'info' | 'warn' | 'error') => void) | undefined) => unknown;

/**
 * Starts capturing. `setLogSink` is the function of the log module instance the handler under test uses (import it
 * from lambda/shared/log in the test). With `passThrough` false (default) captured lines are not printed.
 */
export function captureLogs(setLogSink?: SinkSetter, passThrough = false): LogCapture {
  const lines: string[] = [];
  const push = (s: unknown) => {
    for (const l of String(s).split('\n')) if (l.trim() !== '') lines.push(l);
  };
  const prevSink = setLogSink ? setLogSink((line) => push(line)) : undefined;
  const methods = ['log', 'info', 'warn', 'error', 'debug', 'trace'] as const;
  const saved = methods.map((m) => console[m]);
  for (const m of methods) {
    const orig = console[m];
    console[m] = (...args: unknown[]) => {
      push(args.map((a) => (typeof a === 'string' ? a : safeStringify(a))).join(' '));
      if (passThrough) orig.apply(console, args);
    };
  }
  const outWrite = process.stdout.write.bind(process.stdout);
  const errWrite = process.stderr.write.bind(process.stderr);
  const wrap = (orig: typeof process.stdout.write) =>
    ((chunk: unknown, ...rest: unknown[]) => {
      push(typeof chunk === 'string' ? chunk : Buffer.isBuffer(chunk) ? chunk.toString('utf8') : String(chunk));
      return passThrough ? (orig as (...a: unknown[]) => boolean)(chunk, ...rest) : true;
    }) as typeof process.stdout.write;
  process.stdout.write = wrap(outWrite);
  process.stderr.write = wrap(errWrite);
  let restored = false;
  return {
    lines,
    restore() {
      if (restored) return;
      restored = true;
      methods.forEach((m, i) => { console[m] = saved[i]; });
      process.stdout.write = outWrite;
      process.stderr.write = errWrite;
      if (setLogSink) setLogSink(prevSink as Parameters<SinkSetter>[0]);
    },
  };
}

function safeStringify(v: unknown): string {
  if (v instanceof Error) return `${v.name}: ${v.message}\n${v.stack ?? ''}`;
  try {
    return JSON.stringify(v);
  } catch {
    return String(v);
  }
}
