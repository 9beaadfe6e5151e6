import type { ReceiverContext } from '../../lambda/receiver/context';
import { createHandler, isAllowedTenant } from '../../lambda/receiver/index';
import { AuthError } from '../../lambda/shared/botframework-auth';
import { ConfigurationError, loadConfig } from '../../lambda/shared/config';
import { setLogSink } from '../../lambda/shared/log';

const ev = (method: string, rawPath: string, extra: Record<string, unknown> = {}) => ({
  rawPath,
  requestContext: { http: { method } },
  headers: {},
  ...extra,
});

describe('receiver handler (routing and configuration)', () => {
  test('a configuration error answers 503 and logs the variable, not a 500', async () => {
    const lines: string[] = [];
    const prev = setLogSink((l) => lines.push(l));
    try {
      const handler = createHandler(() => loadConfig({}) as unknown as ReceiverContext);
      const res = await handler(ev('POST', '/api/messages'));
      expect(res.statusCode).toBe(503);
      expect(JSON.parse(res.body)).toEqual({ error: 'configuration' });
    } finally {
      setLogSink(prev);
    }
    const entry = lines.map((l) => JSON.parse(l)).find((l) => l.event === 'config_invalid');
    expect(entry.reason).toContain('TDAB_APP_ID');
    expect(loadConfig.bind(null, {})).toThrow(ConfigurationError);
  });

  // A context whose every member throws: routing decisions must not touch it.
  const untouchable = new Proxy({ config: { messagingPath: '/api/messages', callbackPath: '/auth/callback' } }, {
    get(target, prop) {
      if (prop === 'config') return target.config;
      if (prop === 'then') return undefined;
      throw new Error(`context.${String(prop)} used`);
    },
  }) as unknown as ReceiverContext;
  const handler = createHandler(() => untouchable);

  test.each([
    ['GET', '/api/messages', 405, 'POST'],
    ['HEAD', '/api/messages', 405, 'POST'],
    ['DELETE', '/auth/callback', 405, 'GET'],
    ['POST', '/auth/callback', 405, 'GET'],
    ['POST', '/api/messages/x', 404, undefined],
    ['GET', '/', 404, undefined],
    ['GET', '/API/MESSAGES', 404, undefined],
  ])('%s %s → %i', async (method, path, status, allow) => {
    const res = await handler(ev(method, path));
    expect(res.statusCode).toBe(status);
    expect(res.headers.allow).toBe(allow);
  });

  test('signing keys unavailable (cold container, metadata outage): 503 so Teams retries; a failed check stays 401', async () => {
    const withAuth = (err: Error) => createHandler(() => ({
      config: { messagingPath: '/api/messages', callbackPath: '/auth/callback' },
      authenticator: { authenticate: () => Promise.reject(err) },
    }) as unknown as ReceiverContext);
    const post = ev('POST', '/api/messages', { headers: { 'authorization': 'Bearer x', 'content-type': 'application/json' }, body: JSON.stringify({ type: 'message', serviceUrl: 'https://smba.trafficmanager.net/amer/', channelId: 'msteams' }) });
    expect((await withAuth(new AuthError('metadata_unavailable'))(post)).statusCode).toBe(503);
    expect((await withAuth(new AuthError('unknown_kid'))(post)).statusCode).toBe(401);
  });

  test('no Authorization header: 401 before the body is even read', async () => {
    const res = await handler(ev('POST', '/api/messages', { body: 'not json', isBase64Encoded: true }));
    expect(res.statusCode).toBe(401);
  });

  test('tenant allow-list compares GUIDs case-insensitively', () => {
    expect(isAllowedTenant({ allowedTenantIds: ['AAAAAAAA-0000-0000-0000-000000000000'] }, 'aaaaaaaa-0000-0000-0000-000000000000')).toBe(true);
    expect(isAllowedTenant({ allowedTenantIds: ['a'] }, 'b')).toBe(false);
  });
});
