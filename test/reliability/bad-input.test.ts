/**
 * Bad-input corpus (issue 6, item 6): every request a client can get wrong or forge, sent to the real receiver against
 * the real local servers. Each case gets the status docs/receiver.md documents for it, never a 5xx; nothing is written
 * to either table (both scanned before and after every case); no call reaches the Bot Connector, Lambda, the IdP,
 * KMS, Secrets Manager or SSM, and an unauthenticated or invalid messaging request makes no DynamoDB call at all.
 * Every log line written meanwhile is scanned for the JWTs, texts and secrets used.
 */
import { captureLogs, scanLogLines, type LogCapture } from './support/log-scan';
import { applyEnv, loadReceiver, type ReceiverHandler, type ReceiverResult } from './support/receiver';
import {
  callbackEvent,
  functionUrlEvent,
  lastSignInUrl,
  messageActivity,
  messageEvent,
  startWorld,
  type World,
  type WorldUser,
} from './support/world';
import { SSO_CONNECTION_NAME } from '../../lambda/receiver/cards';
import { setLogSink } from '../../lambda/shared/log';

jest.setTimeout(120_000);

let world: World;
let handler: ReceiverHandler;
let restoreEnv: () => void;
let logs: LogCapture;
let user: WorldUser;
const secrets = new Set<string>();

type Activity = Record<string, any>;
type Req = Record<string, unknown>;

interface Case {
  name: string;
  /** Builds the function URL event. */
  event: () => Promise<Req>;
  /** Expected status. */
  status: number;
  /** Expected `error` of the JSON body (messaging route) when given. */
  error?: string;
  /** The route may do this much DynamoDB I/O (default: none). */
  allowDynamoOps?: string[];
  /** Extra assertion on the answer. */
  check?: (res: ReceiverResult) => void;
}

/** A signing key endorsing other channels too (published before the receiver first loads the JWKS). */
let everyChannelKid: string;
let caseNo = 0;
/** A valid message activity with a unique text (which the log scan then looks for). */
function activity(mut?: (a: Activity) => void): Activity {
  caseNo += 1;
  const text = `corpus confidential text number ${caseNo} ${Math.random().toString(36).slice(2)}`;
  secrets.add(text);
  const a = messageActivity(world, user, text) as Activity;
  mut?.(a);
  return a;
}

async function jwt(claims: Record<string, unknown> = {}, opts: Parameters<World['botFramework']['sign']>[1] = {}): Promise<string> {
  const token = await world.botFramework.sign({ aud: world.appId, serviceurl: world.connector.serviceUrl, ...claims }, opts);
  secrets.add(token);
  return token;
}

const post = async (a: unknown, token?: string, headers: Record<string, string> = {}) => messageEvent(a, token, headers);
const now = () => Math.floor(Date.now() / 1000);
const INJECTIONS = [
  "' OR '1'='1' --",
  '"; DROP TABLE tokens; --',
  '<script>alert(document.cookie)</script>',
  '${jndi:ldap://127.0.0.1:1/a}',
  '{{7*7}}',
  '../../../../etc/passwd',
  '\u0000\u001b[31m',
  'a'.repeat(5000),
];

function corpus(): Case[] {
  const cases: Case[] = [];
  const add = (c: Case) => cases.push(c);

  // --- Routes and methods -------------------------------------------------------------------------------------
  for (const method of ['GET', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD']) {
    add({
      name: `${method} /api/messages`,
      status: 405,
      error: 'method_not_allowed',
      event: async () => ({ ...(await post(activity(), await jwt())), requestContext: { http: { method } } }),
    });
  }
  for (const path of ['/api/message', '/', '/api/messages/', '/API/MESSAGES', '/api/messages/../auth/callback', '/.env', '/api/messages%00', '//api/messages']) {
    add({
      name: `POST ${JSON.stringify(path)}`,
      status: 404,
      error: 'not_found',
      event: async () => ({ ...(await post(activity(), await jwt())), rawPath: path }),
    });
  }
  add({ name: 'POST /auth/callback', status: 405, event: async () => ({ ...(await post(activity(), await jwt())), rawPath: '/auth/callback' }) });

  // --- Headers and bodies ---------------------------------------------------------------------------------------
  add({ name: 'no Authorization header', status: 401, error: 'unauthorized', event: async () => post(activity(), undefined) });
  add({ name: 'empty Authorization header', status: 401, error: 'unauthorized', event: async () => post(activity(), undefined, { authorization: '' }) });
  add({ name: 'Basic credentials', status: 401, error: 'unauthorized', event: async () => post(activity(), undefined, { authorization: 'Basic dXNlcjpwYXNzd29yZA==' }) });
  add({ name: '"Bearer" without a token', status: 401, error: 'unauthorized', event: async () => post(activity(), undefined, { authorization: 'Bearer' }) });
  add({ name: 'Bearer garbage', status: 401, error: 'unauthorized', event: async () => post(activity(), undefined, { authorization: 'Bearer not.a.jwt' }) });
  add({ name: 'two tokens in one header', status: 401, error: 'unauthorized', event: async () => post(activity(), undefined, { authorization: `Bearer ${await jwt()} ${await jwt()}` }) });
  add({
    name: 'base64-encoded body',
    status: 415,
    error: 'base64_body',
    event: async () => ({ ...(await post(activity(), await jwt())), body: Buffer.from(JSON.stringify(activity())).toString('base64'), isBase64Encoded: true }),
  });
  for (const ct of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/jsonp']) {
    add({ name: `Content-Type ${ct}`, status: 415, error: 'content_type', event: async () => post(activity(), await jwt(), { 'content-type': ct }) });
  }
  add({
    name: 'no Content-Type',
    status: 415,
    error: 'content_type',
    event: async () => {
      const e = await post(activity(), await jwt());
      delete (e.headers as Record<string, string>)['content-type'];
      return e;
    },
  });
  add({
    name: 'oversized body (300 KB)',
    status: 413,
    error: 'body_too_large',
    event: async () => post(activity((a) => { a.text = 'x'.repeat(300 * 1024); }), await jwt()),
  });
  add({ name: 'empty body', status: 400, error: 'empty_body', event: async () => ({ ...(await post(activity(), await jwt())), body: '' }) });
  add({ name: 'invalid JSON', status: 400, error: 'invalid_json', event: async () => ({ ...(await post(activity(), await jwt())), body: '{"type":"message",' }) });
  for (const [name, body] of [['JSON array', '[{"type":"message"}]'], ['JSON string', '"message"'], ['JSON null', 'null'], ['JSON number', '42']]) {
    add({ name, status: 400, error: 'not_an_object', event: async () => ({ ...(await post(activity(), await jwt())), body }) });
  }

  // --- Forged and wrong JWTs (body: a valid activity) -----------------------------------------------------------
  const forged: Array<[string, () => Promise<string>]> = [
    ['JWT without a header part', async () => `.${(await jwt()).split('.').slice(1).join('.')}`],
    ['JWT without kid', async () => jwt({}, { noKid: true })],
    ['JWT signed by a foreign key', async () => jwt({}, { key: 'foreign' })],
    ['JWT with a wrong issuer', async () => jwt({ iss: 'https://sts.windows.net/evil/' })],
    ['JWT for another audience', async () => jwt({ aud: '00000000-0000-0000-0000-000000000001' })],
    ['expired JWT (beyond the 5 min skew)', async () => jwt({ iat: now() - 7200, nbf: now() - 7200, exp: now() - 600 })],
    ['JWT not yet valid (nbf + 10 min)', async () => jwt({ nbf: now() + 600 })],
    ['JWT without exp', async () => jwt({ exp: undefined })],
    ['alg none', async () => jwt({}, { alg: 'none' })],
    ['HS256 keyed with the public key', async () => jwt({}, { alg: 'HS256' })],
    ['RS384 (not in the metadata algorithms)', async () => jwt({}, { alg: 'RS384' })],
    ['unknown critical header', async () => jwt({}, { header: { 'crit': ['exp-ext'], 'exp-ext': 1 } })],
    ['unknown kid', async () => jwt({}, { kid: 'unknown-kid-0123456789' })],
    ['serviceurl claim of another service', async () => jwt({ serviceurl: 'https://smba.trafficmanager.net/emea/' })],
    ['no serviceurl claim', async () => jwt({ serviceurl: undefined })],
    ['payload tampered after signing', async () => {
      const [h, p, s] = (await jwt()).split('.');
      const claims = JSON.parse(Buffer.from(p, 'base64url').toString());
      claims.aud = 'tampered';
      return `${h}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${s}`;
    }],
    ['signature stripped', async () => `${(await jwt()).split('.').slice(0, 2).join('.')}.`],
  ];
  for (const [name, token] of forged) {
    add({ name, status: 401, error: 'unauthorized', event: async () => post(activity(), await token()) });
  }
  add({
    name: 'channel not endorsed by the signing key (channelId skype)',
    status: 401,
    error: 'unauthorized',
    event: async () => post(activity((a) => { a.channelId = 'skype'; }), await jwt()),
  });
  add({
    name: 'signing key without endorsements',
    status: 401,
    error: 'unauthorized',
    event: async () => post(activity(), await jwt({}, { kid: world.botFramework.addKey({ endorsements: null }) })),
  });
  add({
    name: 'serviceUrl outside the allow-list (claim matches)',
    status: 401,
    error: 'unauthorized',
    event: async () => post(activity((a) => { a.serviceUrl = 'https://evil.example/amer/'; }), await jwt({ serviceurl: 'https://evil.example/amer/' })),
  });
  add({
    name: 'SSRF serviceUrl (instance metadata, claim matches)',
    status: 401,
    error: 'unauthorized',
    event: async () => post(activity((a) => { a.serviceUrl = 'http://169.254.169.254/latest/meta-data/'; }), await jwt({ serviceurl: 'http://169.254.169.254/latest/meta-data/' })),
  });
  add({
    name: 'javascript: serviceUrl (claim matches)',
    status: 401,
    error: 'unauthorized',
    event: async () => post(activity((a) => { a.serviceUrl = 'javascript:alert(1)'; }), await jwt({ serviceurl: 'javascript:alert(1)' })),
  });
  // Issue 11 point 1: Microsoft Teams only. The signing key endorses these channels (the Azure Bot has them), the JWT
  // is genuine, and the body names a real user: still refused, before any lookup or AWS call.
  for (const channelId of ['webchat', 'directline', 'emulator', 'MSTEAMS', 'msteams ']) {
    add({
      name: `channel ${JSON.stringify(channelId)} endorsed by the signing key, genuine JWT`,
      status: 403,
      error: 'channel_not_teams',
      event: async () => post(activity((a) => { a.channelId = channelId; }),
        await jwt({}, { kid: everyChannelKid })),
    });
  }
  add({ name: 'activity without serviceUrl', status: 401, error: 'unauthorized', event: async () => post(activity((a) => { delete a.serviceUrl; }), await jwt()) });
  add({ name: 'activity without channelId', status: 401, error: 'unauthorized', event: async () => post(activity((a) => { delete a.channelId; }), await jwt()) });

  // --- Activity fields (authenticated) --------------------------------------------------------------------------
  const fields: Array<[string, (a: Activity) => void, string]> = [
    ['missing type', (a) => { delete a.type; }, 'missing_type'],
    ['missing conversation', (a) => { delete a.conversation; }, 'missing_conversation'],
    ['conversation without id', (a) => { delete a.conversation.id; }, 'missing_conversation'],
    ['missing from', (a) => { delete a.from; }, 'missing_from'],
    ['missing recipient', (a) => { delete a.recipient; }, 'missing_recipient'],
    ['message without id', (a) => { delete a.id; }, 'missing_id'],
    ['message without from.aadObjectId', (a) => { delete a.from.aadObjectId; }, 'missing_aadObjectId'],
    ['message without a tenant', (a) => { delete a.channelData; delete a.conversation.tenantId; }, 'missing_tenant'],
    ['tenants of channelData and conversation differ', (a) => { a.channelData.tenant.id = '11111111-2222-3333-4444-555555555555'; }, 'tenant_mismatch'],
    ['activity id with spaces', (a) => { a.id = '1 2 3'; }, 'invalid_id'],
    ['activity id of 300 characters', (a) => { a.id = '9'.repeat(300); }, 'invalid_id'],
    ['activity id not a string', (a) => { a.id = { $gt: '' }; }, 'invalid_id'],
    ['text not a string', (a) => { a.text = { $ne: null }; }, 'invalid_text'],
    ['type of 300 characters', (a) => { a.type = 'message'.repeat(43); }, 'missing_type'],
  ];
  for (const [name, mut, error] of fields) add({ name, status: 400, error, event: async () => post(activity(mut), await jwt()) });
  add({
    name: 'tenant not in the allow-list',
    status: 403,
    error: 'forbidden',
    event: async () => post(activity((a) => {
      a.channelData.tenant.id = '99999999-8888-7777-6666-555555555555';
      a.conversation.tenantId = '99999999-8888-7777-6666-555555555555';
    }), await jwt()),
  });

  // --- Injection strings in every field that has a syntax --------------------------------------------------------
  for (const inj of INJECTIONS) {
    const label = JSON.stringify(inj.length > 40 ? `${inj.slice(0, 12)}…(${inj.length})` : inj);
    add({ name: `injection in from.aadObjectId ${label}`, status: 400, event: async () => post(activity((a) => { a.from.aadObjectId = inj; }), await jwt()) });
    add({ name: `injection in tenant id ${label}`, status: 400, event: async () => post(activity((a) => { a.channelData.tenant.id = inj; a.conversation.tenantId = inj; }), await jwt()) });
    add({ name: `injection in activity id ${label}`, status: inj.includes(' ') || inj.length > 256 || /[^\x21-\x7e]/.test(inj) ? 400 : 200, event: async () => post(activity((a) => { a.id = inj; a.type = 'conversationUpdate'; }), await jwt()) });
    add({ name: `injection in channelId ${label}`, status: 401, event: async () => post(activity((a) => { a.channelId = inj; }), await jwt()) });
    add({ name: `injection in serviceUrl ${label}`, status: 401, event: async () => post(activity((a) => { a.serviceUrl = inj; }), await jwt({ serviceurl: inj })) });
    add({ name: `injection in Authorization ${label}`, status: 401, event: async () => post(activity(), undefined, { authorization: `Bearer ${inj}` }) });
    add({
      name: `injection in type ${label} (unknown type: 200, no side effects)`,
      status: inj.length > 64 ? 400 : 200,
      event: async () => post(activity((a) => { a.type = inj; }), await jwt()),
    });
  }

  // --- Invoke activities (SSO enabled): forged or malformed token exchanges ------------------------------------
  const invoke = (name: string | undefined, value: unknown) => activity((a) => {
    a.type = 'invoke';
    if (name === undefined) delete a.name;
    else a.name = name;
    a.value = value;
    delete a.text;
  });
  const sso = async (o: Parameters<World['idp']['mintSsoToken']>[1] = {}, login = user.login) => {
    const t = await world.idp.mintSsoToken(login, o);
    secrets.add(t);
    return t;
  };
  const exchange = (token: unknown, extra: Record<string, unknown> = {}) => ({ id: `x-${Math.random()}`, connectionName: SSO_CONNECTION_NAME, token, ...extra });
  const invokeCases: Array<[string, () => Promise<Activity>, number]> = [
    ['tokenExchange without a value', async () => invoke('signin/tokenExchange', undefined), 400],
    ['tokenExchange without a token', async () => invoke('signin/tokenExchange', { id: 'x1', connectionName: SSO_CONNECTION_NAME }), 400],
    ['tokenExchange with a foreign connectionName', async () => invoke('signin/tokenExchange', exchange(await sso(), { connectionName: 'OtherConnection' })), 400],
    ['tokenExchange with a garbage token', async () => invoke('signin/tokenExchange', exchange('not-a-jwt')), 412],
    ['tokenExchange with an injection string as token', async () => invoke('signin/tokenExchange', exchange("' OR 1=1 --")), 412],
    ['tokenExchange with an expired SSO token', async () => invoke('signin/tokenExchange', exchange(await sso({ expiresInSeconds: -900 }))), 412],
    ['tokenExchange with another user\'s SSO token', async () => invoke('signin/tokenExchange', exchange(await sso({}, world.users[2].login))), 412],
    ['tokenExchange with an SSO token for another audience', async () => invoke('signin/tokenExchange', exchange(await sso({ audience: 'api://botid-00000000-0000-0000-0000-000000000009' }))), 412],
    ['tokenExchange with an SSO token without the scope', async () => invoke('signin/tokenExchange', exchange(await sso({ scp: 'User.Read' }))), 412],
    ['tokenExchange with an SSO token of another issuer', async () => invoke('signin/tokenExchange', exchange(await sso({ issuer: 'https://sts.windows.net/evil/' }))), 412],
    ['tokenExchange with the Bot Framework JWT as SSO token', async () => invoke('signin/tokenExchange', exchange(await jwt())), 412],
    ['tokenExchange with an alg none SSO token', async () => {
      const [, p] = (await sso()).split('.');
      return invoke('signin/tokenExchange', exchange(`${Buffer.from('{"alg":"none","typ":"JWT"}').toString('base64url')}.${p}.`));
    }, 412],
    ['verifyState without a state', async () => invoke('signin/verifyState', {}), 404],
    ['unknown invoke name', async () => invoke('composeExtension/query', { commandId: 'x' }), 501],
    ['invoke name with an injection string', async () => invoke('signin/<script>', {}), 501],
  ];
  for (const [name, build, status] of invokeCases) {
    add({
      name: `invoke: ${name}`,
      status,
      event: async () => post(await build(), await jwt()),
      check: (res) => {
        // The InvokeResponse body never echoes the token.
        for (const t of secrets) if (t.length > 20 && t.startsWith('eyJ')) expect(res.body ?? '').not.toContain(t);
      },
    });
  }

  // --- OAuth callback -------------------------------------------------------------------------------------------
  const cb = (query: string) => functionUrlEvent({ method: 'GET', path: '/auth/callback', query, headers: { accept: 'text/html' } });
  const state = () => Buffer.from(Array.from({ length: 32 }, () => Math.floor(Math.random() * 256))).toString('base64url');
  const html = (res: ReceiverResult) => {
    expect(res.headers?.['content-type'] ?? res.headers?.['Content-Type']).toMatch(/text\/html/);
    expect(res.body ?? '').not.toMatch(/<script/i);
  };
  const callbackCases: Array<[string, () => string, number]> = [
    ['callback without parameters', () => '', 400],
    ['callback with a code but no state', () => 'code=abc123', 400],
    ['callback with an unknown state', () => `code=abc123&state=${state()}`, 400],
    ['callback with a short state', () => 'code=abc123&state=abc', 400],
    ['callback with state given twice', () => `code=abc&state=${state()}&state=${state()}`, 400],
    ['callback with a 5000-character code', () => `code=${'c'.repeat(5000)}&state=${state()}`, 400],
    ['callback with an empty code', () => `code=&state=${state()}`, 400],
    ['callback with a script in the state', () => `code=x&state=${encodeURIComponent('"><script>alert(1)</script>')}`, 400],
    ['callback error=access_denied with an unknown state', () => `error=access_denied&error_description=denied&state=${state()}`, 400],
    ['callback error with HTML in the description, no state', () => `error=access_denied&error_description=${encodeURIComponent('<img src=x onerror=alert(1)>')}`, 400],
    ['callback with SQL in the state', () => `code=x&state=${encodeURIComponent("' OR 1=1 --")}`, 400],
  ];
  for (const [name, query, status] of callbackCases) {
    add({ name, status, event: async () => cb(query()), allowDynamoOps: ['DeleteItem'], check: html });
  }
  add({
    name: 'callback error page escapes the description',
    status: 400,
    allowDynamoOps: ['DeleteItem'],
    event: async () => cb(`error=access_denied&error_description=${encodeURIComponent('<b>bold</b><script>x()</script>')}&state=${state()}`),
    check: (res) => {
      html(res);
      expect(res.body ?? '').not.toContain('<b>bold</b>');
    },
  });
  return cases;
}

beforeAll(async () => {
  world = await startWorld({ users: 3 });
  everyChannelKid = world.botFramework.addKey({ endorsements: ['msteams', 'webchat', 'directline', 'emulator', 'MSTEAMS', 'msteams '] });
  user = world.users[0];
  secrets.add(world.clientSecret);
  restoreEnv = applyEnv({ ...world.env({ viaProxies: true }), TDAB_SSO_ENABLED: 'true' });
  logs = captureLogs(setLogSink);
  handler = await loadReceiver();
});

afterAll(async () => {
  logs?.restore();
  restoreEnv?.();
  await world?.stop();
});

async function snapshot(): Promise<string> {
  const [t, c] = await Promise.all([world.scan(world.tokenTable), world.scan(world.conversationTable)]);
  const sorted = (items: Array<Record<string, unknown>>) => items.map((i) => JSON.stringify(i)).sort();
  return JSON.stringify({ tokens: sorted(t), conversations: sorted(c) });
}

async function outbound() {
  const idp = await world.idp.stats();
  return {
    connector: world.connector.requests.length,
    lambda: world.lambda.records.length,
    idpToken: idp.token,
    idpAuthorize: idp.authorize,
    moto: world.motoProxy.count(),
  };
}

describe('bad-input corpus', () => {
  const cases = (() => {
    // The corpus is built lazily (it needs the world); jest needs the names up front, so build the list twice:
    // once here with a placeholder world for the names, once per case for the real event.
    return corpusNames();
  })();

  test('has at least 60 cases', () => {
    expect(cases.length).toBeGreaterThanOrEqual(60);
  });

  test.each(cases.map((name, i) => [i, name]))('#%i %s', async (i) => {
    const c = corpus()[i as number];
    const event = await c.event();
    const before = await snapshot();
    const out0 = await outbound();
    world.ddbProxy.reset();
    const res = await handler(event);
    // No 5xx, except the documented 501 InvokeResponse of an invoke name the bot does not implement.
    if (c.status !== 501) expect(res.statusCode).toBeLessThan(500);
    expect(res.statusCode).toBe(c.status);
    if (c.error) expect(JSON.parse(res.body ?? '{}').error).toBe(c.error);
    c.check?.(res);
    const ops = world.ddbProxy.requests.map((r) => r.operation ?? r.path);
    expect(ops.filter((op) => !(c.allowDynamoOps ?? []).includes(op ?? ''))).toEqual([]);
    expect(await outbound()).toEqual(out0);
    expect(await snapshot()).toBe(before);
  });

  test('a replayed callback (state already used) gets 400 and changes nothing', async () => {
    const u = world.users[1];
    const first = await handler(messageEvent(messageActivity(world, u, 'replay me'), await jwt()));
    expect(first.statusCode).toBe(200);
    const url = lastSignInUrl(world.connector, u.conversationId);
    expect(url).toBeDefined();
    const redirect = await world.idp.signIn(url!, u.login);
    secrets.add(redirect.searchParams.get('code') ?? '');
    const ok = await handler(callbackEvent(redirect));
    expect(ok.statusCode).toBe(200);
    const before = await snapshot();
    const out0 = await outbound();
    const replay = await handler(callbackEvent(redirect));
    expect(replay.statusCode).toBe(400);
    expect(await outbound()).toEqual(out0);
    expect(await snapshot()).toBe(before);
  });

  test('no log line carries a JWT, a secret or message text', () => {
    const findings = scanLogLines(logs.lines, { secrets });
    expect(findings).toEqual([]);
    expect(logs.lines.length).toBeGreaterThan(60);
  });
});

/** Names of the corpus cases (built without a world: only the names are used). */
function corpusNames(): string[] {
  const saved = world;
  world = { connector: { serviceUrl: 'http://127.0.0.1:1/amer/' }, appId: 'x', tenantId: 'x', users: [] } as unknown as World;
  user = { oid: 'x', tid: 'x', name: 'x', teamsId: 'x', conversationId: 'x', login: 'x' };
  try {
    return corpus().map((c) => c.name);
  } finally {
    world = saved;
  }
}
