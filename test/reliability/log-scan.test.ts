/**
 * The log scanner used by every reliability suite must itself be able to fail: planted secrets of each kind are
 * found, and the structured logger's sanitized output of the same secrets is clean.
 */
import { captureLogs, scanLogLines } from './support/log-scan';
import { formatLine, log, setLogSink } from '../../lambda/shared/log';

const JWT = 'eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.eyJpc3MiOiJodHRwczovL2FwaS5ib3RmcmFtZXdvcmsuY29tIiwiYXVkIjoiYXBwIn0.c2lnbmF0dXJlLXBhcnQtb2YtdGhlLXRva2Vu';
const CLIENT_SECRET = 'Xq8~planted.client.secret-value_0123';
const AUTH_CODE = 'M.C123_BAY.2.U.planted-auth-code-0b8f';
const MESSAGE = 'please summarise my confidential merger notes';

describe('log scanner', () => {
  test.each([
    ['a JWT in free text', `{"level":"info","event":"x","note":"got ${JWT}"}`, 'jwt'],
    ['a bearer header', '{"level":"info","authorization":"Bearer abcdefghijklmnop.qrs"}', 'bearer'],
    ['a code in a redirect URL', '{"event":"cb","url":"https://bot/auth/callback?code=0.AAAAbbbbCCCC&state=xyz"}', 'url-credential'],
    ['a refresh token JSON field', '{"refresh_token":"0.ARoAv4j5cvGGr0GRqy180BHbR-opaque"}', 'json-credential'],
    ['a private key', 'oops -----BEGIN RSA PRIVATE KEY----- MIIE', 'pem'],
  ])('finds %s', (_name, line, kind) => {
    const findings = scanLogLines([line]);
    expect(findings.map((f) => f.kind)).toContain(kind);
    // The finding never echoes the whole secret.
    for (const f of findings) expect(line.includes(f.excerpt) && f.excerpt.length > 12).toBe(false);
  });

  test('finds planted exact values (client secret, code, message text), also URL-encoded and truncated', () => {
    const lines = [
      `{"level":"error","event":"token.failed","detail":"secret was ${CLIENT_SECRET}"}`,
      `{"level":"info","event":"redirect","q":"${encodeURIComponent(AUTH_CODE)}"}`,
      `{"level":"info","event":"msg","t":"${MESSAGE.slice(0, 30)}"}`,
      '{"level":"info","event":"clean","status":200}',
    ];
    const findings = scanLogLines(lines, { secrets: [CLIENT_SECRET, AUTH_CODE, MESSAGE] });
    expect([...new Set(findings.filter((f) => f.kind === 'planted-secret').map((f) => f.line))].sort()).toEqual([0, 1, 2]);
    expect(findings.some((f) => f.line === 3)).toBe(false);
  });

  test('the structured logger output of the same secrets is clean', () => {
    const line = formatLine('info', 'callback.received', {
      code: AUTH_CODE,
      clientSecret: CLIENT_SECRET,
      authorization: `Bearer ${JWT}`,
      text: MESSAGE,
      note: `token ${JWT}`,
      status: 200,
    });
    expect(scanLogLines([line], { secrets: [CLIENT_SECRET, AUTH_CODE, MESSAGE, JWT] })).toEqual([]);
  });

  test('captureLogs records the logger sink and console writes, and restores them', () => {
    const cap = captureLogs(setLogSink);
    log.info('planted.event', { note: 'hello' });
    console.log(`stray console line with ${JWT}`);
    cap.restore();
    expect(cap.lines.some((l) => l.includes('planted.event'))).toBe(true);
    const findings = scanLogLines(cap.lines);
    expect(findings.map((f) => f.kind)).toContain('jwt');
    // After restore nothing is captured any more.
    const before = cap.lines.length;
    log.info('after.restore');
    expect(cap.lines.length).toBe(before);
  });
});
