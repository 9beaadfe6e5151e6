import * as jose from 'jose';
import {
  AuthError, BotFrameworkAuthenticator, BotFrameworkAuthOptions, createBotFrameworkAuthenticator, isAllowedServiceUrl,
  MAX_VERIFIED_TOKENS, parseAuthorization,
} from '../../lambda/shared/botframework-auth';
import { loadConfig } from '../../lambda/shared/config';
import { setLogSink } from '../../lambda/shared/log';
import { CLOUD_PROFILES, TEAMS_BOT_CONNECTOR_HOSTS } from '../../src/private/cloud-profiles';
import { ENV } from '../../src/private/env';
import { BotFrameworkIdentity, startBotFrameworkIdentity } from '../support/botframework-jwks';

// jose's verification, spied on (the real one runs): the reuse tests count signature verifications.
jest.mock('jose', () => {
  const actual = jest.requireActual('jose');
  return { ...actual, jwtVerify: jest.fn(actual.jwtVerify) };
});
const verifications = (): number => (jose.jwtVerify as jest.Mock).mock.calls.length;

const APP_ID = '00000000-0000-0000-0000-0000000000b1';
const SERVICE_URL = 'https://smba.trafficmanager.net/amer/';
const HOSTS = CLOUD_PROFILES.public.serviceUrlHosts;
const ACTIVITY = { serviceUrl: SERVICE_URL, channelId: 'msteams' };
const MIN = 60 * 1000;

let idp: BotFrameworkIdentity;
const logLines: string[] = [];

beforeAll(async () => {
  setLogSink((l) => logLines.push(l));
  idp = await startBotFrameworkIdentity();
});
afterAll(async () => {
  setLogSink(undefined);
  await idp.stop();
});
beforeEach(() => {
  idp.setAlgorithms(['RS256']);
  idp.setFailure(undefined);
  idp.setDelay(0);
});

/** A controllable clock in ms, starting at the real time. */
function clock(): { now: () => number; advance: (ms: number) => void; sec: () => number } {
  let t = Date.now();
  return { now: () => t, advance: (ms) => (t += ms), sec: () => Math.floor(t / 1000) };
}

function authenticator(extra: Partial<BotFrameworkAuthOptions> = {}): BotFrameworkAuthenticator {
  return new BotFrameworkAuthenticator({
    appId: APP_ID, openIdMetadataUrl: idp.metadataUrl, issuer: idp.issuer, serviceUrlHosts: HOSTS, ...extra,
  });
}

function claims(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { aud: APP_ID, serviceurl: SERVICE_URL, ...extra };
}

async function reasonOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(AuthError);
    return (e as AuthError).reason;
  }
  return 'accepted';
}

describe('rule 1: Authorization header', () => {
  test.each([
    [undefined, 'missing_authorization'],
    ['', 'missing_authorization'],
    ['   ', 'missing_authorization'],
    ['Basic dXNlcjpwdw==', 'bad_scheme'],
    ['Bearer', 'bad_scheme'],
    ['Bearer a.b.c extra', 'bad_scheme'],
    ['Bearerx a.b.c', 'bad_scheme'],
    ['Bearer\ta.b.c', 'bad_scheme'],
    ['Bearer \ta.b.c', 'bad_scheme'],
    [' Bearer a.b.c', 'bad_scheme'],
    ['\tBearer a.b.c', 'bad_scheme'],
    ['Bearer a.b.c ', 'bad_scheme'],
    ['Bearer a.b.c\t', 'bad_scheme'],
    ['Bearer not-a-jwt', 'malformed_token'],
    ['Bearer a.b', 'malformed_token'],
    ['Bearer a.b.c.d.e', 'malformed_token'],
  ])('%p → %s', (header, reason) => {
    let got = 'accepted';
    try {
      parseAuthorization(header);
    } catch (e) {
      got = (e as AuthError).reason;
    }
    expect(got).toBe(reason);
  });

  test.each([
    ['a tab between scheme and token', (t: string) => `Bearer\t${t}`],
    ['a leading space', (t: string) => ` Bearer ${t}`],
    ['a trailing space', (t: string) => `Bearer ${t} `],
    ['a trailing tab', (t: string) => `Bearer ${t}\t`],
  ])('a valid token with %s around it is refused before any I/O (RFC 7235, as botframework-connector)', async (_name, header) => {
    const token = await idp.sign(claims());
    const before = { ...idp.requests };
    expect(await reasonOf(authenticator().authenticate(header(token), ACTIVITY))).toBe('bad_scheme');
    expect(idp.requests).toEqual(before);
  });

  test.each(['Bearer', 'bearer', 'BEARER', 'BeArEr'])('scheme %s accepted (case-insensitive, RFC 7235)', async (scheme) => {
    const token = await idp.sign(claims());
    const res = await authenticator().authenticate(`${scheme} ${token}`, ACTIVITY);
    expect(res.claims.aud).toBe(APP_ID);
    expect(res.claims.serviceurl).toBe(SERVICE_URL);
  });
});

describe('rules 2–8: accept and reject', () => {
  test('a valid token is accepted and its claims returned', async () => {
    const token = await idp.sign(claims({ extra: 'x' }));
    const { claims: c } = await authenticator().authenticate(`Bearer ${token}`, ACTIVITY);
    expect(c).toMatchObject({ iss: idp.issuer, aud: APP_ID, serviceurl: SERVICE_URL, extra: 'x' });
  });

  test('exp and nbf honour 5 minutes of clock skew', async () => {
    const now = Math.floor(Date.now() / 1000);
    const a = authenticator();
    const justExpired = await idp.sign(claims({ exp: now - 240, iat: now - 3600 }));
    const nbfSoon = await idp.sign(claims({ nbf: now + 240 }));
    expect(await reasonOf(a.authenticate(`Bearer ${justExpired}`, ACTIVITY))).toBe('accepted');
    expect(await reasonOf(a.authenticate(`Bearer ${nbfSoon}`, ACTIVITY))).toBe('accepted');
  });

  const now = (): number => Math.floor(Date.now() / 1000);
  const cases: Array<[string, () => Promise<string>, Record<string, unknown>, string]> = [
    ['wrong key (foreign, published kid)', () => idp.sign(claims(), { key: 'foreign' }), ACTIVITY, 'bad_signature'],
    ['tampered payload', async () => {
      const t = await idp.sign(claims());
      const [h, , s] = t.split('.');
      const p = Buffer.from(JSON.stringify({ ...claims(), iss: idp.issuer, exp: now() + 600, admin: true })).toString('base64url');
      return `${h}.${p}.${s}`;
    }, ACTIVITY, 'bad_signature'],
    ['rule 3: wrong issuer', () => idp.sign(claims({ iss: 'https://api.botframework.com.evil.test' })), ACTIVITY, 'issuer'],
    ['rule 3: issuer with trailing slash', () => idp.sign(claims({ iss: `${idp.issuer}/` })), ACTIVITY, 'issuer'],
    ['rule 3: no issuer', () => idp.sign(claims({ iss: undefined })), ACTIVITY, 'issuer'],
    ['rule 4: wrong audience', () => idp.sign(claims({ aud: '99999999-0000-0000-0000-000000000000' })), ACTIVITY, 'audience'],
    ['rule 4: no audience', () => idp.sign(claims({ aud: undefined })), ACTIVITY, 'audience'],
    ['rule 4: aud array [appId, other]', () => idp.sign(claims({ aud: [APP_ID, 'https://api.botframework.com'] })), ACTIVITY, 'audience'],
    ['rule 4: aud array [appId]', () => idp.sign(claims({ aud: [APP_ID] })), ACTIVITY, 'audience'],
    ['rule 5: expired beyond skew', () => idp.sign(claims({ exp: now() - 360, iat: now() - 3600 })), ACTIVITY, 'expired'],
    ['rule 5: nbf beyond skew', () => idp.sign(claims({ nbf: now() + 360 })), ACTIVITY, 'not_yet_valid'],
    ['rule 5: no exp', () => idp.sign(claims({ exp: undefined })), ACTIVITY, 'missing_exp'],
    ['rule 5: exp not a number', () => idp.sign(claims({ exp: 'soon' })), ACTIVITY, 'invalid_claims'],
    ['rule 6: alg none', () => idp.sign(claims(), { alg: 'none' }), ACTIVITY, 'alg_not_allowed'],
    ['rule 6: HS256 keyed with the public key', () => idp.sign(claims(), { alg: 'HS256' }), ACTIVITY, 'alg_not_allowed'],
    ['rule 6: RS384 not listed in the metadata', () => idp.sign(claims(), { alg: 'RS384' }), ACTIVITY, 'alg_not_allowed'],
    ['rule 6: PS256 not listed in the metadata', () => idp.sign(claims(), { alg: 'PS256' }), ACTIVITY, 'alg_not_allowed'],
    ['rule 6: unknown crit header', () => idp.sign(claims(), { header: { 'crit': ['urn:x-unknown'], 'urn:x-unknown': 1 } }), ACTIVITY, 'crit_not_supported'],
    ['rule 6: unknown kid', () => idp.sign(claims(), { kid: 'no-such-kid' }), ACTIVITY, 'unknown_kid'],
    ['rule 6: no kid', () => idp.sign(claims(), { noKid: true }), ACTIVITY, 'unknown_kid'],
    ['rule 7: serviceurl mismatch', () => idp.sign(claims({ serviceurl: 'https://smba.trafficmanager.net/emea/' })), ACTIVITY, 'serviceurl_mismatch'],
    ['rule 7: serviceurl differs by a trailing slash', () => idp.sign(claims({ serviceurl: 'https://smba.trafficmanager.net/amer' })), ACTIVITY, 'serviceurl_mismatch'],
    ['rule 7: no serviceurl claim', () => idp.sign(claims({ serviceurl: undefined })), ACTIVITY, 'serviceurl_mismatch'],
    ['rule 7: activity without serviceUrl', () => idp.sign(claims()), { channelId: 'msteams' }, 'missing_service_url'],
    ['rule 7: activity serviceUrl empty', () => idp.sign(claims()), { serviceUrl: '', channelId: 'msteams' }, 'missing_service_url'],
    ['rule 7: activity serviceUrl not a string', () => idp.sign(claims()), { serviceUrl: 42, channelId: 'msteams' }, 'missing_service_url'],
    ['rule 8: channel not endorsed', () => idp.sign(claims()), { serviceUrl: SERVICE_URL, channelId: 'skype' }, 'channel_not_endorsed'],
    ['rule 8: channelId empty', () => idp.sign(claims()), { serviceUrl: SERVICE_URL, channelId: '' }, 'missing_channel_id'],
    ['rule 8: channelId missing', () => idp.sign(claims()), { serviceUrl: SERVICE_URL }, 'missing_channel_id'],
    ['allow-list: serviceUrl host not allowed (claim matches)', () => idp.sign(claims({ serviceurl: 'https://evil.example.com/' })),
      { serviceUrl: 'https://evil.example.com/', channelId: 'msteams' }, 'serviceurl_not_allowed'],
  ];
  test.each(cases)('%s → rejected', async (_name, make, activity, reason) => {
    const token = await make();
    const err = await authenticator().authenticate(`Bearer ${token}`, activity).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(AuthError);
    expect((err as AuthError).reason).toBe(reason);
    expect((err as Error).message).not.toContain(token);
    expect((err as Error).message).not.toContain(token.split('.')[1]);
  });

  test('rule 6: RS384 accepted once the metadata lists it; HS256/none listed in the metadata are ignored', async () => {
    idp.setAlgorithms(['RS256', 'RS384', 'HS256', 'none']);
    const a = authenticator();
    expect(await reasonOf(a.authenticate(`Bearer ${await idp.sign(claims(), { alg: 'RS384' })}`, ACTIVITY))).toBe('accepted');
    expect(await reasonOf(a.authenticate(`Bearer ${await idp.sign(claims(), { alg: 'HS256' })}`, ACTIVITY))).toBe('alg_not_allowed');
    expect(await reasonOf(a.authenticate(`Bearer ${await idp.sign(claims(), { alg: 'none' })}`, ACTIVITY))).toBe('alg_not_allowed');
  });

  test('rule 6: metadata listing only symmetric algorithms leaves nothing acceptable', async () => {
    idp.setAlgorithms(['HS256']);
    expect(await reasonOf(authenticator().authenticate(`Bearer ${await idp.sign(claims())}`, ACTIVITY))).toBe('metadata_unavailable');
  });

  test('rule 6: a key whose JWK names another alg is not used for RS256', async () => {
    const kid = idp.addKey({ alg: 'RS512' });
    const token = await idp.sign(claims(), { kid });
    expect(await reasonOf(authenticator().authenticate(`Bearer ${token}`, ACTIVITY))).toBe('alg_not_allowed');
  });

  test('rule 6: crit naming an extension the validator understands (RFC 7797 b64, true) is accepted', async () => {
    const token = await idp.sign(claims(), { header: { crit: ['b64'], b64: true } });
    expect(await reasonOf(authenticator().authenticate(`Bearer ${token}`, ACTIVITY))).toBe('accepted');
  });

  test('rule 6: malformed crit values are rejected', async () => {
    for (const crit of [[], 'exp', [1]]) {
      const [h, p, s] = (await idp.sign(claims())).split('.');
      const header = { ...JSON.parse(Buffer.from(h, 'base64url').toString()), crit };
      const token = `${Buffer.from(JSON.stringify(header)).toString('base64url')}.${p}.${s}`;
      expect(await reasonOf(authenticator().authenticate(`Bearer ${token}`, ACTIVITY))).not.toBe('accepted');
    }
  });

  test('rule 8: a key without endorsements cannot vouch for any channel', async () => {
    const kid = idp.addKey({ endorsements: null });
    const token = await idp.sign(claims(), { kid });
    expect(await reasonOf(authenticator().authenticate(`Bearer ${token}`, ACTIVITY))).toBe('channel_not_endorsed');
  });

  test('rule 8: a key endorsed for webchat only rejects msteams, accepts webchat', async () => {
    const kid = idp.addKey({ endorsements: ['webchat'] });
    const token = await idp.sign(claims(), { kid });
    const a = authenticator();
    expect(await reasonOf(a.authenticate(`Bearer ${token}`, ACTIVITY))).toBe('channel_not_endorsed');
    expect(await reasonOf(a.authenticate(`Bearer ${token}`, { ...ACTIVITY, channelId: 'webchat' }))).toBe('accepted');
  });

  test('checks that need no I/O run before any metadata request', async () => {
    const before = { ...idp.requests };
    const a = authenticator();
    const token = await idp.sign(claims());
    await reasonOf(a.authenticate(undefined, ACTIVITY));
    await reasonOf(a.authenticate(`Basic ${token}`, ACTIVITY));
    await reasonOf(a.authenticate(`Bearer ${token}`, { serviceUrl: 'https://evil.example.com/', channelId: 'msteams' }));
    await reasonOf(a.authenticate(`Bearer ${token}`, { serviceUrl: SERVICE_URL }));
    await reasonOf(a.authenticate(`Bearer ${await idp.sign(claims(), { alg: 'none' })}`, ACTIVITY));
    await reasonOf(a.authenticate(`Bearer ${await idp.sign(claims(), { alg: 'HS256' })}`, ACTIVITY));
    expect(idp.requests).toEqual(before);
  });
});

describe('rule 9: key cache', () => {
  function tokenAt(c: { sec: () => number }, opts?: Parameters<BotFrameworkIdentity['sign']>[1]): Promise<string> {
    return idp.sign(claims({ iat: c.sec(), nbf: c.sec(), exp: c.sec() + 3600 }), opts);
  }

  test('keys fetched once, then served from the cache for 24 h, then refetched', async () => {
    const c = clock();
    const a = authenticator({ now: c.now });
    const before = { ...idp.requests };
    for (let i = 0; i < 5; i++) await a.authenticate(`Bearer ${await tokenAt(c)}`, ACTIVITY);
    expect(idp.requests).toEqual({ metadata: before.metadata + 1, jwks: before.jwks + 1 });
    c.advance(24 * 60 * MIN - 1000);
    await a.authenticate(`Bearer ${await tokenAt(c)}`, ACTIVITY);
    expect(idp.requests.metadata).toBe(before.metadata + 1);
    c.advance(2000);
    await a.authenticate(`Bearer ${await tokenAt(c)}`, ACTIVITY);
    expect(idp.requests).toEqual({ metadata: before.metadata + 2, jwks: before.jwks + 2 });
  });

  test('unknown kid refetches at most once per interval (default 5 min)', async () => {
    const c = clock();
    const a = authenticator({ now: c.now });
    await a.authenticate(`Bearer ${await tokenAt(c)}`, ACTIVITY); // warm at t0
    const base = idp.requests.jwks;
    // Within 5 minutes of the last fetch: forged kids cause no fetch at all.
    for (let i = 0; i < 20; i++) {
      expect(await reasonOf(a.authenticate(`Bearer ${await tokenAt(c, { kid: `forged-${i}` })}`, ACTIVITY))).toBe('unknown_kid');
    }
    expect(idp.requests.jwks).toBe(base);
    c.advance(5 * MIN);
    expect(await reasonOf(a.authenticate(`Bearer ${await tokenAt(c, { kid: 'forged-x' })}`, ACTIVITY))).toBe('unknown_kid');
    expect(idp.requests.jwks).toBe(base + 1);
    for (let i = 0; i < 20; i++) await reasonOf(a.authenticate(`Bearer ${await tokenAt(c, { kid: `forged-y${i}` })}`, ACTIVITY));
    expect(idp.requests.jwks).toBe(base + 1);
  });

  test('a rotated key works within the refetch interval (minutes, not an hour)', async () => {
    const c = clock();
    const a = authenticator({ now: c.now });
    await a.authenticate(`Bearer ${await tokenAt(c)}`, ACTIVITY);
    const kid = idp.rotateKey();
    try {
      const rotated = await tokenAt(c, { kid });
      expect(await reasonOf(a.authenticate(`Bearer ${rotated}`, ACTIVITY))).toBe('unknown_kid'); // fetched just now
      c.advance(5 * MIN);
      expect(await reasonOf(a.authenticate(`Bearer ${await tokenAt(c, { kid })}`, ACTIVITY))).toBe('accepted');
    } finally {
      idp.rotateKey();
    }
  });

  test('the refetch interval is an option', async () => {
    const c = clock();
    const a = authenticator({ now: c.now, keyRefetchMinIntervalMs: 30 * 1000 });
    await a.authenticate(`Bearer ${await tokenAt(c)}`, ACTIVITY);
    const kid = idp.rotateKey();
    c.advance(30 * 1000);
    expect(await reasonOf(a.authenticate(`Bearer ${await tokenAt(c, { kid })}`, ACTIVITY))).toBe('accepted');
  });

  test('metadata outage with a warm cache keeps working; retries are rate-limited', async () => {
    const c = clock();
    const a = authenticator({ now: c.now });
    await a.authenticate(`Bearer ${await tokenAt(c)}`, ACTIVITY);
    idp.setFailure(503);
    const base = idp.requests.metadata;
    c.advance(25 * 60 * MIN); // cache expired
    expect(await reasonOf(a.authenticate(`Bearer ${await tokenAt(c)}`, ACTIVITY))).toBe('accepted');
    expect(idp.requests.metadata).toBe(base + 1);
    for (let i = 0; i < 5; i++) expect(await reasonOf(a.authenticate(`Bearer ${await tokenAt(c)}`, ACTIVITY))).toBe('accepted');
    expect(idp.requests.metadata).toBe(base + 1);
    c.advance(5 * MIN);
    expect(await reasonOf(a.authenticate(`Bearer ${await tokenAt(c)}`, ACTIVITY))).toBe('accepted');
    expect(idp.requests.metadata).toBe(base + 2);
    idp.setFailure(undefined);
    c.advance(5 * MIN);
    await a.authenticate(`Bearer ${await tokenAt(c)}`, ACTIVITY);
    expect(idp.requests.metadata).toBe(base + 3);
    await a.authenticate(`Bearer ${await tokenAt(c)}`, ACTIVITY);
    expect(idp.requests.metadata).toBe(base + 3); // fresh again
    expect(logLines.some((l) => l.includes('botframework_auth.keys_fetch_failed'))).toBe(true);
  });

  test('cold start during an outage: metadata_unavailable, retried after a short interval, then recovers', async () => {
    const c = clock();
    const a = authenticator({ now: c.now });
    idp.setFailure(500);
    const base = idp.requests.metadata;
    expect(await reasonOf(a.authenticate(`Bearer ${await tokenAt(c)}`, ACTIVITY))).toBe('metadata_unavailable');
    expect(await reasonOf(a.authenticate(`Bearer ${await tokenAt(c)}`, ACTIVITY))).toBe('metadata_unavailable');
    expect(idp.requests.metadata).toBe(base + 1);
    idp.setFailure(undefined);
    c.advance(10 * 1000);
    expect(await reasonOf(a.authenticate(`Bearer ${await tokenAt(c)}`, ACTIVITY))).toBe('accepted');
    expect(idp.requests.metadata).toBe(base + 2);
  });

  test('unreachable metadata endpoint (timeout) is metadata_unavailable, not a crash', async () => {
    idp.setDelay(500);
    const a = authenticator({ timeoutMs: 100 });
    expect(await reasonOf(a.authenticate(`Bearer ${await idp.sign(claims())}`, ACTIVITY))).toBe('metadata_unavailable');
  });

  test('concurrent cold callers share one metadata + JWKS fetch', async () => {
    idp.setDelay(100);
    const a = authenticator();
    const base = { ...idp.requests };
    const tokens = await Promise.all(Array.from({ length: 20 }, () => idp.sign(claims())));
    const results = await Promise.all(tokens.map((t) => reasonOf(a.authenticate(`Bearer ${t}`, ACTIVITY))));
    expect(results.every((r) => r === 'accepted')).toBe(true);
    expect(idp.requests).toEqual({ metadata: base.metadata + 1, jwks: base.jwks + 1 });
  });

  test('concurrent unknown kids share one refetch', async () => {
    const c = clock();
    const a = authenticator({ now: c.now });
    await a.authenticate(`Bearer ${await tokenAt(c)}`, ACTIVITY);
    c.advance(5 * MIN);
    idp.setDelay(100);
    const base = idp.requests.jwks;
    const tokens = await Promise.all(Array.from({ length: 20 }, (_, i) => tokenAt(c, { kid: `forged-c${i}` })));
    const results = await Promise.all(tokens.map((t) => reasonOf(a.authenticate(`Bearer ${t}`, ACTIVITY))));
    expect(results.every((r) => r === 'unknown_kid')).toBe(true);
    expect(idp.requests.jwks).toBe(base + 1);
  });

  test('no log line carries a token', async () => {
    for (const l of logLines) expect(l).not.toMatch(/eyJ[A-Za-z0-9_-]{10,}/);
  });
});

describe('a token verified before is reused while it still holds', () => {
  const HOUR = 60 * MIN;
  /** A token valid for `hours` from the clock's now. */
  function tokenFor(c: { sec: () => number }, hours = 1, opts?: Parameters<BotFrameworkIdentity['sign']>[1]): Promise<string> {
    return idp.sign(claims({ iat: c.sec(), nbf: c.sec(), exp: c.sec() + hours * 3600 }), opts);
  }

  test('the same token is verified once; the per-request rules still run every time', async () => {
    const c = clock();
    const a = authenticator({ now: c.now });
    const token = await tokenFor(c);
    const before = verifications();
    for (let i = 0; i < 5; i++) expect((await a.authenticate(`Bearer ${token}`, ACTIVITY)).claims.aud).toBe(APP_ID);
    expect(verifications()).toBe(before + 1);
    // Rules 7 and 8 and the allow-list belong to the request, not the token.
    expect(await reasonOf(a.authenticate(`Bearer ${token}`, { ...ACTIVITY, serviceUrl: 'https://smba.trafficmanager.net/emea/' })))
      .toBe('serviceurl_mismatch');
    expect(await reasonOf(a.authenticate(`Bearer ${token}`, { ...ACTIVITY, channelId: 'slack' }))).toBe('channel_not_endorsed');
    expect(await reasonOf(a.authenticate(`Bearer ${token}`, { ...ACTIVITY, serviceUrl: 'https://evil.example.com/' })))
      .toBe('serviceurl_not_allowed');
    expect(await reasonOf(a.authenticate(`Bearer  ${token} `, ACTIVITY))).toBe('bad_scheme');
    // Another token (one character changed) is never the remembered one.
    const tampered = `${token.slice(0, -2)}${token.endsWith('A') ? 'B' : 'A'}${token.slice(-1)}`;
    expect(await reasonOf(a.authenticate(`Bearer ${tampered}`, ACTIVITY))).toBe('bad_signature');
    expect(verifications()).toBe(before + 2);
  });

  test('rule 5 runs against the clock every time: a remembered token expires (after the skew)', async () => {
    const c = clock();
    const a = authenticator({ now: c.now });
    const token = await tokenFor(c);
    expect(await reasonOf(a.authenticate(`Bearer ${token}`, ACTIVITY))).toBe('accepted');
    c.advance(HOUR + 4 * MIN); // past exp, within the 5 minutes of skew
    expect(await reasonOf(a.authenticate(`Bearer ${token}`, ACTIVITY))).toBe('accepted');
    c.advance(2 * MIN);
    expect(await reasonOf(a.authenticate(`Bearer ${token}`, ACTIVITY))).toBe('expired');
  });

  test('rule 5: a clock set back before nbf (minus the skew) refuses a remembered token', async () => {
    const c = clock();
    const a = authenticator({ now: c.now });
    const token = await tokenFor(c);
    expect(await reasonOf(a.authenticate(`Bearer ${token}`, ACTIVITY))).toBe('accepted');
    c.advance(-6 * MIN);
    expect(await reasonOf(a.authenticate(`Bearer ${token}`, ACTIVITY))).toBe('not_yet_valid');
  });

  test('a key the metadata no longer lists ends the reuse at the next refetch (unknown kid), not at the token\'s expiry', async () => {
    const c = clock();
    const a = authenticator({ now: c.now });
    const oldKid = idp.rotateKey();
    try {
      const token = await tokenFor(c, 48, { kid: oldKid });
      expect(await reasonOf(a.authenticate(`Bearer ${token}`, ACTIVITY))).toBe('accepted');
      const newKid = idp.rotateKey({ keepPrevious: false });
      // Before any refetch, the remembered token holds (its key is what the container's metadata says).
      expect(await reasonOf(a.authenticate(`Bearer ${token}`, ACTIVITY))).toBe('accepted');
      // A token with the new kid refetches the metadata (rule 9): the old key is gone, so is the reuse.
      c.advance(5 * MIN);
      expect(await reasonOf(a.authenticate(`Bearer ${await tokenFor(c, 1, { kid: newKid })}`, ACTIVITY))).toBe('accepted');
      expect(await reasonOf(a.authenticate(`Bearer ${token}`, ACTIVITY))).toBe('unknown_kid');
    } finally {
      idp.rotateKey();
    }
  });

  test('expired metadata ends the reuse: the token is verified again against the refetched keys', async () => {
    const c = clock();
    const a = authenticator({ now: c.now });
    const token = await tokenFor(c, 48);
    expect(await reasonOf(a.authenticate(`Bearer ${token}`, ACTIVITY))).toBe('accepted');
    const before = { verifications: verifications(), metadata: idp.requests.metadata };
    c.advance(24 * HOUR + 1000);
    expect(await reasonOf(a.authenticate(`Bearer ${token}`, ACTIVITY))).toBe('accepted');
    expect(verifications()).toBe(before.verifications + 1);
    expect(idp.requests.metadata).toBe(before.metadata + 1);
  });

  test(`at most ${MAX_VERIFIED_TOKENS} tokens are remembered (the oldest is verified again)`, async () => {
    const c = clock();
    const a = authenticator({ now: c.now });
    const tokens: string[] = [];
    for (let i = 0; i <= MAX_VERIFIED_TOKENS; i++) tokens.push(await idp.sign(claims({ jti: `t${i}`, exp: c.sec() + 3600 })));
    for (const t of tokens) await a.authenticate(`Bearer ${t}`, ACTIVITY);
    const before = verifications();
    for (const t of tokens.slice(1)) await a.authenticate(`Bearer ${t}`, ACTIVITY);
    expect(verifications()).toBe(before);
    await a.authenticate(`Bearer ${tokens[0]}`, ACTIVITY);
    expect(verifications()).toBe(before + 1);
  });
});

describe('createBotFrameworkAuthenticator', () => {
  test('wires the handler configuration (overridden endpoints, loopback serviceUrl origin)', async () => {
    const stubServiceUrl = 'http://127.0.0.1:39999/';
    const config = loadConfig({
      [ENV.APP_ID]: APP_ID,
      [ENV.TENANT_ID]: '11111111-1111-1111-1111-111111111111',
      [ENV.BOT_OPENID_METADATA_URL]: idp.metadataUrl,
      [ENV.SERVICE_URL_HOSTS]: 'http://127.0.0.1:39999',
    });
    expect(config.botTokenIssuer).toBe(idp.issuer);
    const a = createBotFrameworkAuthenticator(config);
    const ok = await idp.sign(claims({ serviceurl: stubServiceUrl }));
    expect(await reasonOf(a.authenticate(`Bearer ${ok}`, { serviceUrl: stubServiceUrl, channelId: 'msteams' }))).toBe('accepted');
    expect(await reasonOf(a.authenticate(`Bearer ${await idp.sign(claims())}`, ACTIVITY))).toBe('serviceurl_not_allowed');
  });
});

describe('isAllowedServiceUrl', () => {
  test.each([
    ['https://smba.trafficmanager.net/amer/', true],
    ['https://SMBA.trafficmanager.net/amer/', true],
    ['https://smba.trafficmanager.net', true],
    ['https://europe.botframework.com/', false],
    ['https://a.b.botframework.com/x', false],
    ['https://webchat.botframework.com/', false],
    ['https://directline.botframework.com/', false],
    ['https://smba.infra.gov.teams.microsoft.us/', false],
    ['https://smba.infra.gcc.teams.microsoft.com/', true],
    ['http://smba.trafficmanager.net/amer/', false],
    ['https://smba.trafficmanager.net:8443/amer/', false],
    ['https://smba.trafficmanager.net.evil.com/', false],
    ['https://evilsmba.trafficmanager.net/', false],
    ['https://botframework.com/', false],
    ['https://evilbotframework.com/', false],
    ['https://user:pw@smba.trafficmanager.net/', false],
    ['https://smba.trafficmanager.net./', false],
    ['wss://smba.trafficmanager.net/', false],
    ['not a url', false],
    ['', false],
  ])('%s → %s (public profile)', (url, ok) => {
    expect(isAllowedServiceUrl(url, HOSTS)).toBe(ok);
  });

  test('an allowed URL is remembered per allow-list only: another list judges it afresh, and a refusal is never remembered', () => {
    const url = 'https://smba.trafficmanager.net/emea/';
    const other = ['https://bot.example.com'];
    for (let i = 0; i < 3; i++) {
      expect(isAllowedServiceUrl(url, HOSTS)).toBe(true);
      expect(isAllowedServiceUrl(url, other)).toBe(false);
      expect(isAllowedServiceUrl(url, [...other, 'smba.trafficmanager.net'])).toBe(true);
    }
    // The same list content in another array is the same list.
    expect(isAllowedServiceUrl(url, [...HOSTS])).toBe(true);
    // Many lists and URLs (beyond what is remembered) change no answer.
    for (let i = 0; i < 100; i++) {
      expect(isAllowedServiceUrl(`https://r${i}.smba.example.com/`, ['*.smba.example.com', `list-${i % 12}.test`])).toBe(true);
      expect(isAllowedServiceUrl(`https://r${i}.smba.example.org/`, ['*.smba.example.com', `list-${i % 12}.test`])).toBe(false);
    }
    expect(isAllowedServiceUrl(url, HOSTS)).toBe(true);
    expect(isAllowedServiceUrl(url, other)).toBe(false);
  });

  test('origin entries: exact origin; plain http only for loopback', () => {
    const hosts = ['http://127.0.0.1:4000', 'https://bot.example.com:8443', 'http://evil.example.com:80'];
    expect(isAllowedServiceUrl('http://127.0.0.1:4000/', hosts)).toBe(true);
    expect(isAllowedServiceUrl('http://127.0.0.1:4000/v3/conversations', hosts)).toBe(true);
    expect(isAllowedServiceUrl('http://127.0.0.1:4001/', hosts)).toBe(false);
    expect(isAllowedServiceUrl('https://127.0.0.1:4000/', hosts)).toBe(false);
    expect(isAllowedServiceUrl('https://bot.example.com:8443/x', hosts)).toBe(true);
    expect(isAllowedServiceUrl('https://bot.example.com/x', hosts)).toBe(false);
    expect(isAllowedServiceUrl('http://evil.example.com/', hosts)).toBe(false);
  });

  test.each(['usgov', 'usgovdod', 'china'] as const)('%s profile hosts', (cloud) => {
    const hosts = CLOUD_PROFILES[cloud].serviceUrlHosts;
    expect(isAllowedServiceUrl(SERVICE_URL, hosts)).toBe(false);
    for (const h of hosts) {
      const host = h.startsWith('*.') ? `x${h.slice(1)}` : h;
      expect(isAllowedServiceUrl(`https://${host}/`, hosts)).toBe(true);
    }
  });

  test('every default allow-list holds only Teams Bot Connector hosts, each with its named source (issue 11 point 1)', () => {
    const sourced = new Map(TEAMS_BOT_CONNECTOR_HOSTS.map((h) => [h.host, h]));
    for (const profile of Object.values(CLOUD_PROFILES)) {
      expect(profile.serviceUrlHosts.length).toBeGreaterThan(0);
      for (const host of profile.serviceUrlHosts) {
        expect(host).toMatch(/^smba\./);
        expect(host).not.toMatch(/botframework/);
        expect(sourced.get(host)?.cloud).toBe(profile.name);
        expect(sourced.get(host)?.source).toMatch(/\S{10,}/);
      }
      for (const other of ['webchat.botframework.com', 'directline.botframework.com', 'europe.botframework.com',
        'webchat.botframework.azure.us', 'webchat.botframework.azure.cn', 'x.teams.microsoftonline.cn']) {
        expect(isAllowedServiceUrl(`https://${other}/`, profile.serviceUrlHosts)).toBe(false);
      }
    }
  });

  test('the default configuration refuses a genuine token for a Web Chat / Direct Line serviceUrl', async () => {
    const config = loadConfig({ [ENV.APP_ID]: APP_ID, [ENV.TENANT_ID]: '11111111-1111-1111-1111-111111111111', [ENV.BOT_OPENID_METADATA_URL]: idp.metadataUrl, [ENV.BOT_TOKEN_ISSUER]: idp.issuer });
    const a = createBotFrameworkAuthenticator(config);
    for (const serviceUrl of ['https://webchat.botframework.com/', 'https://directline.botframework.com/', 'https://europe.webchat.botframework.com/']) {
      const token = await idp.sign(claims({ serviceurl: serviceUrl }));
      expect(await reasonOf(a.authenticate(`Bearer ${token}`, { serviceUrl, channelId: 'webchat' }))).toBe('serviceurl_not_allowed');
    }
    const teams = await idp.sign(claims());
    expect(await reasonOf(a.authenticate(`Bearer ${teams}`, ACTIVITY))).toBe('accepted');
  });
});
