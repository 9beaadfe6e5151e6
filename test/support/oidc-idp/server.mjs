// Child process of test/support/oidc-idp.ts: a real `oidc-provider` v9 (ESM-only, hence this separate script)
// shaped like Microsoft Entra ID v2 for ONE tenant. Controlled over the Node IPC channel (process.send/on('message')).
//
// Routes (all relative to http://127.0.0.1:PORT):
//   /{tenant}/oauth2/v2.0/authorize   authorization endpoint (code + PKCE S256 required)
//   /{tenant}/oauth2/v2.0/token       token endpoint (client_secret_post; authorization_code, refresh_token (rotated),
//                                     client_credentials, urn:ietf:params:oauth:grant-type:jwt-bearer = on-behalf-of)
//   /{tenant}/discovery/v2.0/keys     JWKS
//   /{tenant}/v2.0/.well-known/openid-configuration   discovery (rewritten to oidc-provider's own route)
//   /interaction/{uid}/auto?login=…&deny=1            test-only: finishes login + consent programmatically
// Issuer: http://127.0.0.1:PORT/{tenant}/v2.0
//
// Nothing here talks to anything but 127.0.0.1. Every failure of the IPC protocol kills the process.
import http from 'node:http';
import Provider, { errors, interactionPolicy } from 'oidc-provider';
import { createLocalJWKSet, jwtVerify } from 'jose';

const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
const OIDC_SCOPES = ['openid', 'profile', 'offline_access', 'email'];

/** @type {any} */ let config;
/** @type {any} */ let provider;
/** @type {http.Server} */ let server;
const stats = { authorize: 0, token: 0, jwks: 0, discovery: 0, interaction: 0 };
const state = { accessTokenTtl: 3600 };

/**
 * oidc-provider's built-in memory adapter keeps everything in ONE LRU of 1000 entries: a long test run (many sign-ins,
 * refreshes) would silently evict live refresh tokens and clients. This adapter keeps every entry until it expires.
 */
class MapStore {
  #m = new Map();
  get(key) {
    const e = this.#m.get(key);
    if (!e) return undefined;
    if (e.expiresAt !== undefined && e.expiresAt <= Date.now()) {
      this.#m.delete(key);
      return undefined;
    }
    return e.value;
  }
  set(key, value, expiresAt) {
    this.#m.set(key, { value, expiresAt });
  }
  delete(key) {
    this.#m.delete(key);
  }
  /** Drops expired entries (called now and then, so a long run does not grow without bound). */
  sweep() {
    const now = Date.now();
    for (const [k, e] of this.#m) if (e.expiresAt !== undefined && e.expiresAt <= now) this.#m.delete(k);
  }
}
const store = new MapStore();
setInterval(() => store.sweep(), 60_000).unref();
const GRANTABLE = new Set(['AccessToken', 'AuthorizationCode', 'RefreshToken', 'DeviceCode', 'BackchannelAuthenticationRequest']);

class TestAdapter {
  constructor(model) {
    this.model = model;
  }
  key(id) {
    return `${this.model}:${id}`;
  }
  async upsert(id, payload, expiresIn) {
    const expiresAt = typeof expiresIn === 'number' ? Date.now() + expiresIn * 1000 : undefined;
    const key = this.key(id);
    if (this.model === 'Session') store.set(`sessionUid:${payload.uid}`, id, expiresAt);
    if (payload.userCode) store.set(`userCode:${payload.userCode}`, id, expiresAt);
    if (GRANTABLE.has(this.model) && payload.grantId) {
      const gk = `grant:${payload.grantId}`;
      const members = store.get(gk) || new Set();
      members.add(key);
      store.set(gk, members, undefined);
    }
    store.set(key, payload, expiresAt);
  }
  async find(id) {
    return store.get(this.key(id));
  }
  async findByUid(uid) {
    const id = store.get(`sessionUid:${uid}`);
    return id === undefined ? undefined : this.find(id);
  }
  async findByUserCode(userCode) {
    const id = store.get(`userCode:${userCode}`);
    return id === undefined ? undefined : this.find(id);
  }
  async consume(id) {
    const payload = store.get(this.key(id));
    if (payload) payload.consumed = Math.floor(Date.now() / 1000);
  }
  async destroy(id) {
    store.delete(this.key(id));
  }
  async revokeByGrantId(grantId) {
    const gk = `grant:${grantId}`;
    for (const key of store.get(gk) || []) store.delete(key);
    store.delete(gk);
  }
}

function clientMetadata(c) {
  return {
    client_id: c.appId,
    client_secret: c.secret,
    redirect_uris: c.redirectUris,
    response_types: ['code'],
    grant_types: ['authorization_code', 'refresh_token', 'client_credentials', JWT_BEARER],
    token_endpoint_auth_method: 'client_secret_post',
  };
}

/** Registers or replaces a client (kept in the adapter, so tests can add one or change its redirect URIs later). */
async function upsertClient(c) {
  await new TestAdapter('Client').upsert(c.appId, clientMetadata(c));
  // Validate now, so a bad registration fails the call that made it.
  if (!(await provider.Client.find(c.appId))) throw new Error(`client ${c.appId} was not accepted`);
}

function send(msg) {
  if (process.send) process.send(msg);
}

function userByLogin(login) {
  return config.users.find((u) => u.login === login);
}
function userByOid(oid) {
  return config.users.find((u) => u.oid === oid);
}

/** The resource of a URI-shaped scope (`https://graph.microsoft.com/User.Read` → `https://graph.microsoft.com`). */
function resourceOf(scope) {
  if (!scope.includes('://')) return undefined;
  const i = scope.lastIndexOf('/');
  return i > scope.indexOf('://') + 2 ? scope.slice(0, i) : undefined;
}

function resourceFromScope(scopeParam) {
  if (typeof scopeParam !== 'string') return undefined;
  const resources = new Set(scopeParam.split(' ').map(resourceOf).filter(Boolean));
  if (resources.size > 1) {
    throw new errors.InvalidScope('AADSTS28000: scopes of more than one resource were requested');
  }
  return [...resources][0];
}

/** Resource servers this IdP knows: the Graph-like resource and the Bot Framework resource (client credentials). */
function resourceServerInfo(resource) {
  const known = config.resources[resource];
  if (!known) throw new errors.InvalidTarget(`unknown resource ${resource}`);
  return {
    scope: known.map((s) => `${resource}/${s}`).join(' '),
    audience: resource,
    accessTokenTTL: state.accessTokenTtl,
    accessTokenFormat: 'jwt',
    jwt: { sign: { alg: 'RS256' } },
  };
}

async function oboHandler(ctx) {
  const { params, client } = ctx.oidc;
  if (params.requested_token_use !== 'on_behalf_of') {
    throw new errors.InvalidRequest('requested_token_use must be on_behalf_of');
  }
  if (!params.assertion) throw new errors.InvalidRequest('missing required parameter assertion');
  if (!params.scope) throw new errors.InvalidRequest('missing required parameter scope');

  let claims;
  try {
    ({ payload: claims } = await jwtVerify(params.assertion, createLocalJWKSet({ keys: [config.publicJwk] }), {
      issuer: config.issuer,
      audience: [client.clientId, `api://botid-${client.clientId}`],
      algorithms: ['RS256'],
      requiredClaims: ['exp'],
    }));
  } catch {
    throw new errors.InvalidGrant('AADSTS50013: Assertion failed signature validation or is not valid.');
  }
  const scp = typeof claims.scp === 'string' ? claims.scp.split(' ') : [];
  if (!scp.includes(config.ssoScope)) {
    throw new errors.InvalidGrant(`AADSTS50013: Assertion does not carry the scope ${config.ssoScope}.`);
  }
  const user = typeof claims.oid === 'string' ? userByOid(claims.oid) : undefined;
  if (!user) throw new errors.InvalidGrant('AADSTS50034: The user account does not exist in this directory.');

  if (user.oboFailure === 'consent_required') {
    ctx.status = 400;
    ctx.body = {
      error: 'invalid_grant',
      error_description: `AADSTS65001: The user or administrator has not consented to use the application with ID '${client.clientId}'. Send an interactive authorization request for this user and resource.`,
      error_codes: [65001],
      suberror: 'consent_required',
    };
    return;
  }
  if (user.oboFailure === 'interaction_required') {
    ctx.status = 400;
    ctx.body = {
      error: 'interaction_required',
      error_description: 'AADSTS50076: Due to a configuration change made by your administrator, you must use multi-factor authentication to access this resource.',
      error_codes: [50076],
      claims: '{"access_token":{"capolids":{"essential":true,"values":["00000000-0000-0000-0000-000000000001"]}}}',
    };
    return;
  }

  const requested = params.scope.split(' ').filter(Boolean);
  const resource = resourceFromScope(params.scope);
  if (!resource) throw new errors.InvalidScope('AADSTS70011: a resource scope is required');
  const info = resourceServerInfo(resource);
  const allowed = new Set(info.scope.split(' '));
  const resourceScopes = requested.filter((s) => resourceOf(s) === resource);
  const bad = resourceScopes.find((s) => !allowed.has(s));
  if (bad) throw new errors.InvalidScope('AADSTS70011: the provided scope is not valid', bad);
  const oidcScopes = requested.filter((s) => OIDC_SCOPES.includes(s));

  const grant = new provider.Grant({ accountId: user.oid, clientId: client.clientId });
  if (oidcScopes.length) grant.addOIDCScope(oidcScopes.join(' '));
  grant.addResourceScope(resource, resourceScopes.join(' '));
  const grantId = await grant.save();

  const at = new provider.AccessToken({
    accountId: user.oid,
    client,
    grantId,
    gty: 'jwt_bearer',
    scope: resourceScopes.join(' '),
  });
  at.resourceServer = new provider.ResourceServer(resource, info);
  ctx.oidc.entity('AccessToken', at);
  const accessToken = await at.save();

  let refreshToken;
  if (oidcScopes.includes('offline_access')) {
    const rt = new provider.RefreshToken({
      accountId: user.oid,
      client,
      grantId,
      gty: 'jwt_bearer',
      resource,
      rotations: 0,
      scope: [...oidcScopes, ...resourceScopes].join(' '),
    });
    refreshToken = await rt.save();
  }

  ctx.body = {
    token_type: 'Bearer',
    scope: resourceScopes.join(' '),
    expires_in: at.expiration,
    ext_expires_in: at.expiration,
    access_token: accessToken,
    ...(refreshToken ? { refresh_token: refreshToken } : {}),
  };
}

function buildProvider(port) {
  const { tenantId } = config;
  config.issuer = `http://127.0.0.1:${port}/${tenantId}/v2.0`;

  const policy = interactionPolicy.base();
  // Entra accepts prompt=select_account; a requestable prompt that the test interaction route resolves.
  policy.add(new interactionPolicy.Prompt({ name: 'select_account', requestable: true }), 0);

  const p = new Provider(config.issuer, {
    adapter: TestAdapter,
    jwks: { keys: [config.privateJwk] },
    cookies: { keys: ['oidc-idp-test-cookie-key-0123456789'] },
    scopes: OIDC_SCOPES,
    claims: {
      openid: ['sub', 'oid', 'tid'],
      profile: ['name', 'preferred_username'],
      email: ['email'],
    },
    conformIdTokenClaims: false,
    findAccount: async (_ctx, sub) => {
      const user = userByOid(sub);
      if (!user) return undefined;
      return {
        accountId: user.oid,
        claims: async () => ({
          sub: user.oid,
          oid: user.oid,
          tid: user.tid,
          name: user.name,
          preferred_username: user.login,
          email: user.login,
        }),
      };
    },
    extraTokenClaims: async (_ctx, token) => {
      const out = { tid: config.tenantId, ver: '2.0' };
      if (token.kind === 'ClientCredentials') {
        return { ...out, appid: token.clientId, azp: token.clientId, idtyp: 'app' };
      }
      const user = token.accountId ? userByOid(token.accountId) : undefined;
      const scp = (token.scope || '').split(' ').filter(Boolean).map((s) => s.slice(s.lastIndexOf('/') + 1)).join(' ');
      return { ...out, tid: user?.tid ?? config.tenantId, oid: token.accountId, azp: token.clientId, scp };
    },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      revocation: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: async (ctx, _client, oneOf) => {
          const fromScope = resourceFromScope(ctx.oidc.params.scope);
          if (fromScope) return fromScope;
          if (Array.isArray(oneOf)) return oneOf[0];
          return oneOf;
        },
        getResourceServerInfo: async (_ctx, resource) => resourceServerInfo(resource),
        useGrantedResource: async () => true,
      },
    },
    interactions: {
      policy,
      url: (_ctx, interaction) => `/interaction/${interaction.uid}`,
    },
    pkce: { required: () => true },
    rotateRefreshToken: true,
    routes: {
      authorization: `/${tenantId}/oauth2/v2.0/authorize`,
      token: `/${tenantId}/oauth2/v2.0/token`,
      jwks: `/${tenantId}/discovery/v2.0/keys`,
      userinfo: `/${tenantId}/oidc/userinfo`,
      end_session: `/${tenantId}/oauth2/v2.0/logout`,
      revocation: `/${tenantId}/oauth2/v2.0/revoke`,
    },
    ttl: {
      AccessToken: () => state.accessTokenTtl,
      ClientCredentials: () => state.accessTokenTtl,
      AuthorizationCode: 600,
      IdToken: 3600,
      RefreshToken: 90 * 24 * 3600,
      Grant: 90 * 24 * 3600,
      Interaction: 600,
      Session: 3600,
    },
    renderError: async (ctx, out) => {
      ctx.type = 'application/json';
      ctx.body = out;
    },
  });
  p.registerGrantType(JWT_BEARER, oboHandler, ['assertion', 'requested_token_use', 'scope']);
  // Surface unexpected provider errors in the test output (never tokens: oidc-provider's error objects carry none).
  p.on('server_error', (_ctx, err) => process.stderr.write(`oidc-idp server_error: ${err && err.stack}\n`));
  return p;
}

/** Finishes the interaction for `login` (or denies it): login, select_account and a grant covering what was asked. */
async function autoInteraction(req, res, url) {
  stats.interaction++;
  const details = await provider.interactionDetails(req, res);
  const login = url.searchParams.get('login') || '';
  const user = userByLogin(login);
  if (url.searchParams.get('deny') === '1' || !user || user.denySignIn) {
    await provider.interactionFinished(req, res, {
      error: 'access_denied',
      error_description: 'AADSTS65004: User declined to consent to access the app.',
    }, { mergeWithLastSubmission: false });
    return;
  }
  const { params } = details;
  const grant = details.grantId
    ? await provider.Grant.find(details.grantId)
    : new provider.Grant({ accountId: user.oid, clientId: params.client_id });
  const requested = String(params.scope || '').split(' ').filter(Boolean);
  const oidc = requested.filter((s) => OIDC_SCOPES.includes(s));
  if (oidc.length) grant.addOIDCScope(oidc.join(' '));
  const resource = resourceFromScope(params.scope);
  if (resource) {
    grant.addResourceScope(resource, requested.filter((s) => resourceOf(s) === resource).join(' '));
  }
  const missing = details.prompt?.details || {};
  if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
  if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
  if (missing.missingResourceScopes) {
    for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes)) {
      grant.addResourceScope(indicator, scopes.join(' '));
    }
  }
  const grantId = await grant.save();
  await provider.interactionFinished(req, res, {
    select_account: {},
    login: { accountId: user.oid },
    consent: { grantId },
  }, { mergeWithLastSubmission: false });
}

function startServer() {
  return new Promise((resolve, reject) => {
    let callback;
    server = http.createServer((req, res) => {
      const url = new URL(req.url || '/', 'http://127.0.0.1');
      const { tenantId } = config;
      if (url.pathname === `/${tenantId}/oauth2/v2.0/authorize`) {
        stats.authorize++;
        // Entra issues a refresh token for offline_access without prompt=consent; oidc-provider follows OIDC Core
        // §11 and drops offline_access unless prompt contains consent. Add it on the way in (the interaction route
        // grants consent anyway), so the client's authorize URL stays exactly what it would send to Entra.
        const scope = url.searchParams.get('scope') || '';
        const prompt = (url.searchParams.get('prompt') || '').split(' ').filter(Boolean);
        if (req.method === 'GET' && scope.split(' ').includes('offline_access') && !prompt.includes('consent') && !prompt.includes('none')) {
          url.searchParams.set('prompt', [...prompt, 'consent'].join(' '));
          req.url = `${url.pathname}?${url.searchParams}`;
        }
      }
      else if (url.pathname === `/${tenantId}/oauth2/v2.0/token`) stats.token++;
      else if (url.pathname === `/${tenantId}/discovery/v2.0/keys`) stats.jwks++;
      else if (url.pathname === `/${tenantId}/v2.0/.well-known/openid-configuration`) {
        stats.discovery++;
        req.url = '/.well-known/openid-configuration';
      }
      const auto = /^\/interaction\/([^/]+)\/auto$/.exec(url.pathname);
      if (auto) {
        autoInteraction(req, res, url).catch((err) => {
          res.statusCode = 400;
          res.setHeader('content-type', 'application/json');
          res.end(JSON.stringify({ error: 'interaction_failed', error_description: String(err && err.message) }));
        });
        return;
      }
      if (/^\/interaction\/[^/]+$/.test(url.pathname)) {
        res.statusCode = 200;
        res.setHeader('content-type', 'text/plain');
        res.end('test identity provider: use signIn() (GET ./auto?login=...) to finish this interaction\n');
        return;
      }
      callback(req, res);
    });
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      provider = buildProvider(port);
      callback = provider.callback();
      resolve(port);
    });
  });
}

const commands = {
  async init(args) {
    config = { ...args, users: args.users.map((u) => ({ ...u })) };
    const port = await startServer();
    for (const c of config.clients) await upsertClient(c);
    return { port, issuer: config.issuer };
  },
  setAccessTokenTtl({ seconds }) {
    state.accessTokenTtl = seconds;
    return {};
  },
  setUser({ login, changes }) {
    const user = userByLogin(login);
    if (!user) throw new Error(`unknown user ${login}`);
    // IPC is JSON: `null` stands for "remove this property".
    for (const [k, v] of Object.entries(changes)) {
      if (v === null) delete user[k];
      else user[k] = v;
    }
    return {};
  },
  addUser({ user }) {
    config.users.push({ ...user });
    return {};
  },
  async upsertClient({ client }) {
    await upsertClient(client);
    return {};
  },
  stats() {
    return { ...stats };
  },
};

process.on('message', async (msg) => {
  const { id, cmd, args } = msg || {};
  try {
    const fn = commands[cmd];
    if (!fn) throw new Error(`unknown command ${cmd}`);
    send({ id, ok: true, result: await fn(args || {}) });
  } catch (err) {
    send({ id, ok: false, error: String(err && err.message) });
  }
});

// The parent went away (test crashed or finished): never linger.
process.on('disconnect', () => process.exit(0));
process.on('SIGTERM', () => {
  if (server) server.close();
  process.exit(0);
});
