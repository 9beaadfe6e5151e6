import { createServer, Server } from 'node:http';
import { AddressInfo } from 'node:net';
import {
  BotAppTokenProvider,
  BotConnectorClient,
  BotConnectorError,
  BotTokenError,
  joinServiceUrl,
  parseRetryAfter,
} from '../../lambda/shared/bot-connector';
import type { ConversationReference } from '../../lambda/shared/contract';
import { setLogSink } from '../../lambda/shared/log';
import { BotConnectorStub, startBotConnector } from '../support/bot-connector-stub';

/**
 * A counting client-credentials endpoint for the cache / single-flight / error-mapping unit tests (the integration
 * with oidc-provider's client-credentials grant is in the worker e2e and Python tests).
 */
interface TokenServer {
  authority: string;
  requests: Array<{ path: string; form: URLSearchParams }>;
  respond: (r: { status: number; body: unknown; delayMs?: number }) => void;
  stop(): Promise<void>;
}
async function startTokenServer(): Promise<TokenServer> {
  const requests: TokenServer['requests'] = [];
  let next: { status: number; body: unknown; delayMs?: number } | undefined;
  let n = 0;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      requests.push({ path: req.url ?? '', form: new URLSearchParams(Buffer.concat(chunks).toString()) });
      const r = next ?? { status: 200, body: { token_type: 'Bearer', expires_in: 3600, access_token: `app-token-${++n}` } };
      setTimeout(() => {
        res.writeHead(r.status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(r.body));
      }, r.delayMs ?? 0);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    authority: `http://127.0.0.1:${port}/`,
    requests,
    respond: (r) => { next = r; },
    stop: () => new Promise((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
}

const logs: string[] = [];
let previousSink: ReturnType<typeof setLogSink>;
beforeAll(() => { previousSink = setLogSink((line) => { logs.push(line); }); });
afterAll(() => { setLogSink(previousSink); });

describe('BotAppTokenProvider', () => {
  let ts: TokenServer;
  beforeEach(async () => { ts = await startTokenServer(); });
  afterEach(async () => { await ts.stop().catch(() => undefined); });

  const provider = (now: () => number, secret = 's3cret-value') => new BotAppTokenProvider({
    appId: 'app-id',
    tenantId: 'bot-tenant',
    authority: ts.authority,
    scope: 'https://api.botframework.com/.default',
    getClientSecret: async () => secret,
    now,
  });

  test('client credentials in the bot\'s own tenant; cached until 5 minutes before expiry', async () => {
    let t = 1_000_000;
    const p = provider(() => t);
    expect(p.tokenEndpoint).toBe(`${ts.authority}bot-tenant/oauth2/v2.0/token`);
    expect(await p.getToken()).toBe('app-token-1');
    expect(ts.requests).toHaveLength(1);
    expect(ts.requests[0].path).toBe('/bot-tenant/oauth2/v2.0/token');
    expect(Object.fromEntries(ts.requests[0].form)).toEqual({
      grant_type: 'client_credentials', client_id: 'app-id', client_secret: 's3cret-value', scope: 'https://api.botframework.com/.default',
    });
    t += (3600 - 301) * 1000;
    expect(await p.getToken()).toBe('app-token-1');
    expect(ts.requests).toHaveLength(1);
    t += 2000; // now within 5 minutes of expiry
    expect(await p.getToken()).toBe('app-token-2');
    expect(ts.requests).toHaveLength(2);
  });

  test('concurrent callers share one request', async () => {
    ts.respond({ status: 200, body: { access_token: 'shared', expires_in: 3600 }, delayMs: 100 });
    const p = provider(Date.now);
    const tokens = await Promise.all(Array.from({ length: 10 }, () => p.getToken()));
    expect(new Set(tokens)).toEqual(new Set(['shared']));
    expect(ts.requests).toHaveLength(1);
  });

  test('a very short lifetime is cached for half of it; invalidate() forces a new request', async () => {
    let t = 0;
    ts.respond({ status: 200, body: { access_token: 'short', expires_in: '120' } });
    const p = provider(() => t);
    await p.getToken();
    t = 59_000;
    await p.getToken();
    expect(ts.requests).toHaveLength(1);
    t = 61_000;
    await p.getToken();
    expect(ts.requests).toHaveLength(2);
    p.invalidate();
    await p.getToken();
    expect(ts.requests).toHaveLength(3);
  });

  test('rejection → BotTokenError with the OAuth error code, no secret in logs; a failure is not cached', async () => {
    ts.respond({ status: 401, body: { error: 'invalid_client', error_description: 'AADSTS7000215: Invalid client secret provided.' } });
    const p = provider(Date.now, 'super-secret-value-123');
    const err = await p.getToken().catch((e) => e);
    expect(err).toBeInstanceOf(BotTokenError);
    expect(err.status).toBe(401);
    expect(err.error).toBe('invalid_client');
    expect(logs.join('\n')).not.toContain('super-secret-value-123');
    ts.respond({ status: 200, body: { access_token: 'ok-now', expires_in: 3600 } });
    expect(await p.getToken()).toBe('ok-now');
  });

  test('the legacy botframework.com tenant is used only if configured, with a warning', async () => {
    logs.length = 0;
    const p = new BotAppTokenProvider({ appId: 'a', tenantId: 'botframework.com', authority: ts.authority, scope: 's', getClientSecret: async () => 'x' });
    expect(p.tokenEndpoint).toBe(`${ts.authority}botframework.com/oauth2/v2.0/token`);
    expect(logs.some((l) => l.includes('bot_token_legacy_tenant'))).toBe(true);
  });

  test('200 without access_token is an error', async () => {
    ts.respond({ status: 200, body: { token_type: 'Bearer' } });
    await expect(provider(Date.now).getToken()).rejects.toMatchObject({ name: 'BotTokenError', error: 'no_access_token' });
  });

  test('unreachable token endpoint → BotTokenError(0)', async () => {
    const authority = ts.authority;
    await ts.stop();
    const p = new BotAppTokenProvider({ appId: 'a', tenantId: 't', authority, scope: 's', getClientSecret: async () => 'x', timeoutMs: 1000 });
    await expect(p.getToken()).rejects.toMatchObject({ name: 'BotTokenError', status: 0 });
  });
});

describe('helpers', () => {
  test('parseRetryAfter: seconds and HTTP dates', () => {
    expect(parseRetryAfter('3')).toBe(3000);
    expect(parseRetryAfter('0.5')).toBe(500);
    expect(parseRetryAfter(new Date(10_000).toUTCString(), 4_000)).toBe(6000);
    expect(parseRetryAfter('soon')).toBeUndefined();
    expect(parseRetryAfter(null)).toBeUndefined();
  });
  test('joinServiceUrl never produces //', () => {
    expect(joinServiceUrl('https://smba.trafficmanager.net/amer/', '/v3/x')).toBe('https://smba.trafficmanager.net/amer/v3/x');
    expect(joinServiceUrl('https://smba.trafficmanager.net/amer', 'v3/x')).toBe('https://smba.trafficmanager.net/amer/v3/x');
    expect(joinServiceUrl('https://smba.trafficmanager.net//', 'v3/x')).toBe('https://smba.trafficmanager.net/v3/x');
  });
});

describe('BotConnectorClient against the Bot Connector stand-in', () => {
  let ts: TokenServer;
  let bc: BotConnectorStub;
  let tokens: BotAppTokenProvider;
  let sleeps: number[];
  let client: BotConnectorClient;
  let ref: ConversationReference;

  beforeEach(async () => {
    ts = await startTokenServer();
    bc = await startBotConnector();
    tokens = new BotAppTokenProvider({ appId: 'app', tenantId: 'tid', authority: ts.authority, scope: 'scope', getClientSecret: async () => 'secret' });
    sleeps = [];
    client = new BotConnectorClient({ tokens, serviceUrlHosts: ['smba.trafficmanager.net', bc.origin], sleep: async (ms) => { sleeps.push(ms); }, maxRetries: 3 });
    ref = {
      serviceUrl: bc.serviceUrl,
      channelId: 'msteams',
      conversation: { id: '19:abc@thread.tacv2;messageid=1700000000000', conversationType: 'channel', tenantId: 'tid' },
      bot: { id: '28:app', name: 'Bot' },
      user: { id: '29:user', aadObjectId: 'oid' },
      activityId: '1700000000001',
    };
    logs.length = 0;
  });
  afterEach(async () => { await bc.stop(); await ts.stop(); });

  test('reply: encoded ids, no //, bearer app token, addressed activity', async () => {
    expect(bc.serviceUrl.endsWith('/')).toBe(true);
    const result = await client.replyToActivity(ref, '1700000000001', { text: 'hello' });
    expect(result.id).toBeDefined();
    expect(bc.activities).toHaveLength(1);
    const a = bc.activities[0];
    expect(a.method).toBe('POST');
    expect(a.path).toBe('/amer/v3/conversations/19%3Aabc%40thread.tacv2%3Bmessageid%3D1700000000000/activities/1700000000001');
    expect(a.conversationId).toBe('19:abc@thread.tacv2;messageid=1700000000000');
    expect(a.activityId).toBe('1700000000001');
    expect(a.authorization).toBe('Bearer app-token-1');
    expect(a.activity).toMatchObject({
      type: 'message',
      text: 'hello',
      replyToId: '1700000000001',
      from: { id: '28:app' },
      recipient: { id: '29:user' },
      conversation: { id: '19:abc@thread.tacv2;messageid=1700000000000' },
    });
  });

  test('send, update, typing use the right routes; the app token is requested once', async () => {
    const sent = await client.sendToConversation(ref, { text: 'one' });
    await client.updateActivity(ref, sent.id!, { text: 'one (edited)' });
    await client.sendTyping(ref);
    expect(bc.activities.map((a) => [a.method, a.activityId, a.activity.type])).toEqual([
      ['POST', undefined, 'message'], ['PUT', sent.id, 'message'], ['POST', undefined, 'typing'],
    ]);
    expect(bc.activities[1].activity).toMatchObject({ id: sent.id, text: 'one (edited)' });
    expect(ts.requests).toHaveLength(1);
  });

  test('a serviceUrl outside the allow-list never receives the token (no token request either)', async () => {
    const evil = await startBotConnector();
    try {
      const err = await client.sendToConversation({ ...ref, serviceUrl: evil.serviceUrl }, { text: 'x' }).catch((e) => e);
      expect(err).toBeInstanceOf(BotConnectorError);
      expect(err.code).toBe('ServiceUrlNotAllowed');
      expect(err.retryable).toBe(false);
      expect(evil.requests).toHaveLength(0);
      expect(ts.requests).toHaveLength(0);
      const err2 = await client.sendToConversation({ ...ref, serviceUrl: 'https://evil.example.com/amer/' }, { text: 'x' }).catch((e) => e);
      expect(err2.code).toBe('ServiceUrlNotAllowed');
    } finally {
      await evil.stop();
    }
  });

  test('429 and 5xx retried honouring Retry-After (capped), then success', async () => {
    bc.failNext(429, 1, { 'Retry-After': '2' });
    bc.failNext(503, 1, { 'Retry-After': '3600' });
    bc.failNext(500, 1);
    await client.replyToActivity(ref, '1', { text: 'x' });
    expect(bc.requests.map((r) => r.status)).toEqual([429, 503, 500, 201]);
    expect(sleeps[0]).toBe(2000);
    expect(sleeps[1]).toBe(10_000); // capped
    expect(sleeps[2]).toBeGreaterThan(0);
    expect(sleeps[2]).toBeLessThanOrEqual(1000);
    expect(bc.messages()).toHaveLength(1);
  });

  test('retries are bounded: 1 + maxRetries attempts, then a retryable BotConnectorError', async () => {
    bc.failNext(502, 10);
    const err = await client.replyToActivity(ref, '1', { text: 'x' }).catch((e) => e);
    expect(err).toBeInstanceOf(BotConnectorError);
    expect(err).toMatchObject({ status: 502, retryable: true, code: 'ServiceError' });
    expect(bc.requests).toHaveLength(4);
    expect(bc.messages()).toHaveLength(0);
  });

  test.each(['BotNotInConversationRoster', 'MessageWritesBlocked'])('403 %s: not retried, code logged, nothing else', async (code) => {
    bc.failNext(403, 5, {}, code);
    const err = await client.replyToActivity(ref, '1', { text: 'private text' }).catch((e) => e);
    expect(err).toMatchObject({ name: 'BotConnectorError', status: 403, code, retryable: false });
    expect(bc.requests).toHaveLength(1);
    const line = logs.find((l) => l.includes('bot_connector_forbidden'))!;
    expect(JSON.parse(line)).toMatchObject({ level: 'warn', errorCode: code, status: 403, operation: 'reply' });
    expect(logs.join('\n')).not.toContain('private text');
    expect(logs.join('\n')).not.toContain('app-token');
  });

  test('other 4xx: not retried', async () => {
    bc.failNext(400, 5, {}, 'BadArgument');
    await expect(client.sendToConversation(ref, { text: 'x' })).rejects.toMatchObject({ status: 400, code: 'BadArgument', retryable: false });
    expect(bc.requests).toHaveLength(1);
  });

  test('401: the app token is renewed once and the call repeated', async () => {
    await client.sendTyping(ref);
    bc.failNext(401, 1);
    await client.sendToConversation(ref, { text: 'x' });
    expect(ts.requests).toHaveLength(2);
    expect(bc.messages()[0].authorization).toBe('Bearer app-token-2');
    bc.failNext(401, 2);
    await expect(client.sendToConversation(ref, { text: 'y' })).rejects.toMatchObject({ status: 401 });
  });

  test('the stub can verify the bearer token', async () => {
    const strict = await startBotConnector({ verifyToken: (a) => a === 'Bearer app-token-1' });
    try {
      const c = new BotConnectorClient({ tokens, serviceUrlHosts: [strict.origin], sleep: async () => undefined });
      await c.sendToConversation({ ...ref, serviceUrl: strict.serviceUrl }, { text: 'ok' });
      expect(strict.messages()).toHaveLength(1);
      tokens.invalidate();
      await expect(c.sendToConversation({ ...ref, serviceUrl: strict.serviceUrl }, { text: 'no' })).rejects.toMatchObject({ status: 401 });
    } finally {
      await strict.stop();
    }
  });

  test('timeout on a POST: not repeated (the message may have been posted), outcomeUnknown', async () => {
    const slow = createServer(() => { /* never answers */ });
    await new Promise<void>((r) => slow.listen(0, '127.0.0.1', r));
    const origin = `http://127.0.0.1:${(slow.address() as AddressInfo).port}`;
    try {
      let attempts = 0;
      slow.on('request', () => { attempts++; });
      const c = new BotConnectorClient({ tokens, serviceUrlHosts: [origin], timeoutMs: 200, sleep: async () => undefined });
      const err = await c.sendToConversation({ ...ref, serviceUrl: `${origin}/` }, { text: 'x' }).catch((e) => e);
      expect(err).toMatchObject({ name: 'BotConnectorError', code: 'Timeout', status: 0, outcomeUnknown: true });
      expect(attempts).toBe(1);
      const typingErr = await c.sendTyping({ ...ref, serviceUrl: `${origin}/` }).catch((e) => e);
      expect(typingErr.code).toBe('Timeout');
      expect(attempts).toBe(5); // typing is repeatable: 1 + 3 retries
    } finally {
      slow.closeAllConnections();
      await new Promise<void>((r) => slow.close(() => r()));
    }
  });

  test('connection refused: retried (nothing was sent), then NetworkError', async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const origin = `http://127.0.0.1:${(closed.address() as AddressInfo).port}`;
    await new Promise<void>((r) => closed.close(() => r()));
    const c = new BotConnectorClient({ tokens, serviceUrlHosts: [origin], sleep: async (ms) => { sleeps.push(ms); } });
    const err = await c.sendToConversation({ ...ref, serviceUrl: `${origin}/` }, { text: 'x' }).catch((e) => e);
    expect(err).toMatchObject({ code: 'NetworkError', outcomeUnknown: false, retryable: true });
    expect(sleeps).toHaveLength(3);
  });
});
