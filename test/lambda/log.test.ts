import {
  classifyKey, formatLine, log, REDACTED, sanitize, sanitizeString, sanitizeUrl, serializeError, setLogLevel, setLogSink,
} from '../../lambda/shared/log';
import { ENV } from '../../src/private/env';

const JWT = 'eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.eyJzdWIiOiIxMjMiLCJhdWQiOiJhcHAifQ.c2lnbmF0dXJlLXNpZ25hdHVyZS1zaWduYXR1cmU';
const OPAQUE = 'AXoAabcdEFGH1234ijklMNOP5678qrstUVWX90_-yzABCDefgh';
const REFRESH = `0.${OPAQUE}`;
const CIPHERTEXT = 'AQICAHh2nq+3ZqHt6JpYl0Z7cD9h4xqGmQ8wYVdXKp1LR2vJ7wE0yHj9Hk0Q3sZ2mE5fZr7mA6s8Kp2Yw1xNq0VbA==';

function capture(): { lines: Array<{ line: string; level: string }>; restore: () => void } {
  const lines: Array<{ line: string; level: string }> = [];
  const prev = setLogSink((line, level) => lines.push({ line, level }));
  return { lines, restore: () => setLogSink(prev) };
}

afterEach(() => setLogLevel(undefined));

describe('key classification', () => {
  test.each([
    'token', 'accessToken', 'refresh_token', 'id_token', 'idToken', 'clientSecret', 'client_secret', 'password',
    'authorization', 'Authorization', 'code', 'authCode', 'codeVerifier', 'code_verifier', 'assertion', 'text',
    'messageText', 'body', 'requestBody', 'cookie', 'set-cookie', 'Set-Cookie', 'nonce', 'apiKey', 'x-api-key',
    'privateKey', 'headers', 'state', 'value', 'jwt',
  ])('%s is sensitive', (k) => {
    expect(classifyKey(k)).toBe('sensitive');
  });

  test.each([
    'status', 'reason', 'statusCode', 'errorCode', 'event', 'tenantId', 'aadObjectId', 'activityId', 'conversationId',
    'durationMs', 'attempt', 'kid', 'serviceUrlHost', 'contentType', 'textFormat', 'messageId', 'channelId', 'err',
    'error', 'path', 'method',
  ])('%s is safe', (k) => {
    expect(classifyKey(k)).toBe('safe');
  });

  test.each(['textLength', 'bodyBytes', 'tokenExpiresAt', 'tokenCount', 'refreshTokenPresent'])('%s is a measurement', (k) => {
    expect(classifyKey(k)).toBe('measurement');
  });
});

describe('sanitize', () => {
  test('redacts sensitive keys recursively, keeps status and reason', () => {
    const out = sanitize({
      status: 401,
      reason: 'bad_signature',
      request: { headers: { authorization: `Bearer ${JWT}` }, body: '{"text":"secret plans"}' },
      nested: [{ accessToken: 'abc', refresh_token: 'def', keep: 'visible' }],
      tokens: { access: 'x' },
      textLength: 12,
      bodyBytes: 'oops a string with spaces',
      tokenType: 'Bearer',
    });
    expect(out).toEqual({
      status: 401,
      reason: 'bad_signature',
      request: { headers: REDACTED, body: REDACTED },
      nested: [{ accessToken: REDACTED, refresh_token: REDACTED, keep: 'visible' }],
      tokens: REDACTED,
      textLength: 12,
      bodyBytes: REDACTED,
      tokenType: 'Bearer',
    });
  });

  test('masks JWTs and long opaque strings inside any value', () => {
    expect(sanitizeString(`failed for ${JWT} at x`)).toBe('failed for [jwt] at x');
    expect(sanitizeString(`refresh ${OPAQUE} done`)).toBe(`refresh ${REDACTED} done`);
    expect(sanitizeString(CIPHERTEXT)).toBe(REDACTED);
    expect(sanitizeString(REFRESH)).toBe(`0.${REDACTED}`);
    expect(sanitize({ info: [JWT, { deep: { deeper: OPAQUE } }] })).toEqual({ info: ['[jwt]', { deep: { deeper: REDACTED } }] });
    // header.payload without signature, and JWTs in URLs
    expect(sanitizeString('eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0.')).toBe('[jwt]');
    expect(sanitizeString(`https://x.test/cb?id_token=${JWT}`)).not.toContain('eyJ');
  });

  test('masks credentials in query strings, form bodies and authorization values embedded in text', () => {
    expect(sanitizeString('GET /auth/callback?code=abc123&state=s1&session_state=x'))
      .toBe(`GET /auth/callback?code=${REDACTED}&state=${REDACTED}&session_state=x`);
    expect(sanitizeString('grant_type=refresh_token&refresh_token=0.short&client_secret=abc~1&scope=User.Read'))
      .toBe(`grant_type=refresh_token&refresh_token=${REDACTED}&client_secret=${REDACTED}&scope=User.Read`);
    expect(sanitizeString('header was Bearer abc.def, then Basic dXNlcjpwdw==')).toBe(`header was Bearer ${REDACTED}, then Basic ${REDACTED}`);
    expect(sanitizeString('status=401 reason=expired')).toBe('status=401 reason=expired');
  });

  test('huge strings are bounded and still masked', () => {
    const huge = `${JWT} ${'word '.repeat(100000)}`;
    const out = sanitizeString(huge);
    expect(out.length).toBeLessThan(2100);
    expect(out.startsWith('[jwt] word')).toBe(true);
    expect(out.endsWith('[truncated]')).toBe(true);
  });

  test('short strings (the fast path) are masked exactly as the full rules mask them', () => {
    // The full rules, forced: 40 trailing spaces make any string long and give it whitespace; no rule's match crosses
    // whitespace, so the rules' output for s is their output for s + pad without the pad.
    const pad = ' '.repeat(40);
    const byFullRules = (s: string): string => sanitizeString(s + pad).slice(0, -pad.length);
    const pieces = ['a', 'Z', '0', '-', '_', '.', '/', '=', ' ', '?', '&', 'eyJ', 'code', 'state', 'Bearer', 'basic', 'x'.repeat(8)];
    let seed = 12345;
    const next = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    let masked = 0;
    for (let i = 0; i < 5000; i++) {
      let s = '';
      const parts = 1 + next(12);
      for (let k = 0; k < parts; k++) s += pieces[next(pieces.length)];
      s = s.slice(0, 39);
      const expected = byFullRules(s);
      expect(sanitizeString(s)).toBe(expected);
      if (expected !== s) masked++;
    }
    expect(masked).toBeGreaterThan(100); // the sample holds strings the rules change
    expect(sanitizeString('?code=abc')).toBe(`?code=${REDACTED}`);
    expect(sanitizeString('eyJhbGciOi.eyJzdWIiOi.sig')).toBe('[jwt]');
    expect(sanitizeString('Bearer abc')).toBe(`Bearer ${REDACTED}`);
  });

  test('a key is classified the same however often it is seen (classes are remembered per key)', () => {
    for (let i = 0; i < 3; i++) {
      expect(classifyKey('accessToken')).toBe('sensitive');
      expect(classifyKey('textLength')).toBe('measurement');
      expect(classifyKey('activityId')).toBe('safe');
    }
  });

  test('keeps readable identifiers: GUIDs, ARNs, URLs, short ids', () => {
    const keep = [
      '11111111-2222-3333-4444-555555555555',
      'arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab',
      'https://login.botframework.com/v1/.well-known/openidconfiguration',
      'https://smba.trafficmanager.net/amer/v3/conversations',
      '1700000000000',
      'msteams',
    ];
    for (const s of keep) expect(sanitizeString(s)).toBe(s);
  });

  test('errors become {name, message, code} without stack or data', () => {
    const err = Object.assign(new Error(`token ${JWT} rejected`), { code: 'E_AUTH', body: 'secret body', reason: 'expired' });
    const out = serializeError(err);
    expect(out).toEqual({ name: 'Error', message: 'token [jwt] rejected', code: 'E_AUTH', reason: 'expired' });
    expect(JSON.stringify(sanitize({ err }))).not.toMatch(/stack|secret body|eyJ/);
    expect(serializeError('plain')).toEqual({ name: 'NonError', message: 'plain' });
  });

  test('handles cycles, depth, buffers, dates, URLs, maps', () => {
    const a: Record<string, unknown> = { n: 1 };
    a.self = a;
    expect(sanitize(a)).toEqual({ n: 1, self: '[circular]' });
    expect(sanitize({ b: Buffer.from('secret') })).toEqual({ b: REDACTED });
    expect(sanitize({ d: new Date(0) })).toEqual({ d: '1970-01-01T00:00:00.000Z' });
    expect(sanitize({ u: new URL('https://h.test/p?code=abc#x') })).toEqual({ u: 'https://h.test/p' });
    expect(sanitize({ m: new Map([['password', 'x'], ['ok', 'y']]) })).toEqual({ m: { password: REDACTED, ok: 'y' } });
    let deep: Record<string, unknown> = { leaf: 1 };
    for (let i = 0; i < 10; i++) deep = { d: deep };
    expect(JSON.stringify(sanitize(deep))).toContain('[depth]');
  });

  test('sanitizeUrl drops query, fragment and credentials', () => {
    expect(sanitizeUrl('https://user:pw@h.test/auth/callback?code=SECRET&state=S#f')).toBe('https://h.test/auth/callback');
    expect(sanitizeUrl('not a url')).toBe('[invalid url]');
  });
});

describe('log', () => {
  test('one JSON line per call with level, event, time and sanitized fields', () => {
    const c = capture();
    try {
      log.info('auth.rejected', { reason: 'expired', authorization: `Bearer ${JWT}`, status: 401 });
      log.error('boom', { err: new Error(`bad ${OPAQUE}`) });
    } finally {
      c.restore();
    }
    expect(c.lines).toHaveLength(2);
    const first = JSON.parse(c.lines[0].line);
    expect(first).toEqual({ level: 'info', event: 'auth.rejected', time: expect.any(String), reason: 'expired', authorization: REDACTED, status: 401 });
    expect(c.lines[1].level).toBe('error');
    expect(JSON.parse(c.lines[1].line).err).toEqual({ name: 'Error', message: `bad ${REDACTED}` });
    for (const { line } of c.lines) {
      expect(line).not.toContain('\n');
      expect(line).not.toContain('eyJ');
    }
  });

  test('fields cannot overwrite level, event or time', () => {
    const line = JSON.parse(formatLine('warn', 'e', { level: 'debug', event: 'x', time: 'y', ok: true }, new Date(0)));
    expect(line).toEqual({ level: 'warn', event: 'e', time: '1970-01-01T00:00:00.000Z', ok: true });
  });

  test('threshold from TDAB_LOG_LEVEL (default info)', () => {
    const saved = process.env[ENV.LOG_LEVEL];
    const c = capture();
    try {
      delete process.env[ENV.LOG_LEVEL];
      log.debug('hidden');
      log.info('shown1');
      process.env[ENV.LOG_LEVEL] = 'warn';
      log.info('hidden');
      log.warn('shown2');
      process.env[ENV.LOG_LEVEL] = 'debug';
      log.debug('shown3');
      setLogLevel('error');
      log.warn('hidden');
      log.error('shown4');
    } finally {
      c.restore();
      if (saved === undefined) delete process.env[ENV.LOG_LEVEL];
      else process.env[ENV.LOG_LEVEL] = saved;
    }
    expect(c.lines.map((l) => JSON.parse(l.line).event)).toEqual(['shown1', 'shown2', 'shown3', 'shown4']);
  });

  test('writes to stdout / stderr without a sink (not through console): info to stdout, warn/error to stderr', () => {
    const out = jest.spyOn(process.stdout, 'write').mockImplementation(() => true);
    const err = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
    const consoleLog = jest.spyOn(console, 'log');
    try {
      log.info('i');
      log.warn('w');
      log.error('e');
      expect(out).toHaveBeenCalledTimes(1);
      expect(err).toHaveBeenCalledTimes(2);
      expect(consoleLog).not.toHaveBeenCalled();
      const line = out.mock.calls[0][0] as string;
      expect(line.endsWith('\n')).toBe(true);
      expect(JSON.parse(line).event).toBe('i');
    } finally {
      out.mockRestore();
      err.mockRestore();
      consoleLog.mockRestore();
    }
  });
});
