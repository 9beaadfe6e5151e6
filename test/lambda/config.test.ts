import { ConfigurationError, loadConfig, normalizeServiceUrlHostEntry, requireConfigValue } from '../../lambda/shared/config';
import { CLOUD_PROFILES } from '../../src/private/cloud-profiles';
import { ENV } from '../../src/private/env';

const APP = '00000000-0000-0000-0000-0000000000aa';
const TENANT = '11111111-1111-1111-1111-111111111111';
const base = (): NodeJS.ProcessEnv => ({ [ENV.APP_ID]: APP, [ENV.TENANT_ID]: TENANT });

function errorOf(fn: () => unknown): ConfigurationError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigurationError);
    return e as ConfigurationError;
  }
  throw new Error('expected a ConfigurationError');
}

describe('loadConfig', () => {
  test('defaults follow the public cloud profile and INTERFACES.md', () => {
    const c = loadConfig(base());
    const p = CLOUD_PROFILES.public;
    expect(c).toMatchObject({
      appId: APP,
      tenantId: TENANT,
      allowedTenantIds: [TENANT],
      cloud: 'public',
      botOpenIdMetadataUrl: p.botOpenIdMetadataUrl,
      botTokenIssuer: p.botTokenIssuer,
      entraAuthority: p.entraAuthority,
      botConnectorScope: p.botConnectorScope,
      graphBaseUrl: p.graphBaseUrl,
      graphResource: p.graphResource,
      serviceUrlHosts: [...p.serviceUrlHosts],
      messagingPath: '/api/messages',
      callbackPath: '/auth/callback',
      graphScopes: ['User.Read'],
      pendingTtlSeconds: 86400,
      signinTtlSeconds: 600,
      maxPendingMessages: 25,
      sso: { enabled: false, resource: `api://botid-${APP}`, scope: 'access_as_user' },
      logLevel: 'info',
    });
    expect(c.secretArn).toBeUndefined();
    expect(c.publicBaseUrl).toBeUndefined();
  });

  test.each(['usgov', 'usgovdod', 'china'] as const)('cloud profile %s supplies every endpoint', (cloud) => {
    const c = loadConfig({ ...base(), [ENV.CLOUD]: cloud });
    const p = CLOUD_PROFILES[cloud];
    expect(c.cloud).toBe(cloud);
    expect(c.botOpenIdMetadataUrl).toBe(p.botOpenIdMetadataUrl);
    expect(c.botTokenIssuer).toBe(p.botTokenIssuer);
    expect(c.entraAuthority).toBe(p.entraAuthority);
    expect(c.botConnectorScope).toBe(p.botConnectorScope);
    expect(c.graphBaseUrl).toBe(p.graphBaseUrl);
    expect(c.serviceUrlHosts).toEqual([...p.serviceUrlHosts]);
  });

  test('every endpoint can be overridden, loopback http allowed', () => {
    const c = loadConfig({
      ...base(),
      [ENV.BOT_OPENID_METADATA_URL]: 'http://127.0.0.1:4100/v1/.well-known/openidconfiguration',
      [ENV.BOT_TOKEN_ISSUER]: 'http://127.0.0.1:4100',
      [ENV.ENTRA_AUTHORITY]: 'http://localhost:4200/',
      [ENV.BOT_CONNECTOR_SCOPE]: 'https://example.test/.default',
      [ENV.GRAPH_BASE_URL]: 'http://127.0.0.1:4300/graph/',
      [ENV.SERVICE_URL_HOSTS]: 'http://127.0.0.1:4400, *.Example.com ,smba.trafficmanager.net',
      [ENV.PUBLIC_BASE_URL]: 'https://bot.example.com/',
    });
    expect(c.botOpenIdMetadataUrl).toBe('http://127.0.0.1:4100/v1/.well-known/openidconfiguration');
    expect(c.botTokenIssuer).toBe('http://127.0.0.1:4100');
    expect(c.entraAuthority).toBe('http://localhost:4200');
    expect(c.botConnectorScope).toBe('https://example.test/.default');
    expect(c.graphBaseUrl).toBe('http://127.0.0.1:4300/graph');
    expect(c.serviceUrlHosts).toEqual(['http://127.0.0.1:4400', '*.example.com', 'smba.trafficmanager.net']);
    expect(c.publicBaseUrl).toBe('https://bot.example.com');
  });

  test('optional values, lists, numbers and SSO settings are read', () => {
    const c = loadConfig({
      ...base(),
      [ENV.ALLOWED_TENANT_IDS]: `${TENANT}, 22222222-2222-2222-2222-222222222222`,
      [ENV.SECRET_ARN]: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:bot-AbCdEf',
      [ENV.KMS_KEY_ARN]: 'arn:aws:kms:us-east-1:123456789012:key/abc',
      [ENV.TOKEN_TABLE]: 'tokens',
      [ENV.CONVERSATION_TABLE]: 'conversations',
      [ENV.WORKER_FUNCTION]: 'worker-fn',
      [ENV.BASE_URL_PARAMETER]: '/tdab/base-url',
      [ENV.MESSAGING_PATH]: '/bot/messages',
      [ENV.CALLBACK_PATH]: '/bot/callback/',
      [ENV.GRAPH_SCOPES]: 'User.Read  Mail.Read,Chat.Read',
      [ENV.PENDING_TTL_SECONDS]: '3600',
      [ENV.SIGNIN_TTL_SECONDS]: '300',
      [ENV.SSO_ENABLED]: 'TRUE',
      [ENV.SSO_RESOURCE]: 'api://bot.example.com/botid-x',
      [ENV.SSO_SCOPE]: 'custom_scope',
      [ENV.LOG_LEVEL]: 'DEBUG',
    });
    expect(c.allowedTenantIds).toEqual([TENANT, '22222222-2222-2222-2222-222222222222']);
    expect(c.tokenTable).toBe('tokens');
    expect(c.conversationTable).toBe('conversations');
    expect(c.workerFunction).toBe('worker-fn');
    expect(c.baseUrlParameter).toBe('/tdab/base-url');
    expect(c.messagingPath).toBe('/bot/messages');
    expect(c.callbackPath).toBe('/bot/callback');
    expect(c.graphScopes).toEqual(['User.Read', 'Mail.Read', 'Chat.Read']);
    expect(c.pendingTtlSeconds).toBe(3600);
    expect(c.signinTtlSeconds).toBe(300);
    expect(c.sso).toEqual({ enabled: true, resource: 'api://bot.example.com/botid-x', scope: 'custom_scope' });
    expect(c.logLevel).toBe('debug');
    expect(requireConfigValue(c, 'tokenTable')).toBe('tokens');
  });

  test.each([
    [ENV.APP_ID, { [ENV.TENANT_ID]: TENANT }, /TDAB_APP_ID is required/],
    [ENV.TENANT_ID, { [ENV.APP_ID]: APP }, /TDAB_TENANT_ID is required/],
    [ENV.APP_ID, { [ENV.APP_ID]: '   ', [ENV.TENANT_ID]: TENANT }, /TDAB_APP_ID is required/],
    [ENV.TENANT_ID, { ...base(), [ENV.TENANT_ID]: 'a/../b' }, /TDAB_TENANT_ID must be an identifier/],
    [ENV.CLOUD, { ...base(), [ENV.CLOUD]: 'moon' }, /TDAB_CLOUD must be one of public, usgov, usgovdod, china/],
    [ENV.BOT_OPENID_METADATA_URL, { ...base(), [ENV.BOT_OPENID_METADATA_URL]: 'http://evil.example.com/x' }, /must use https/],
    [ENV.BOT_OPENID_METADATA_URL, { ...base(), [ENV.BOT_OPENID_METADATA_URL]: 'not a url' }, /must be an absolute URL/],
    [ENV.ENTRA_AUTHORITY, { ...base(), [ENV.ENTRA_AUTHORITY]: 'ftp://login.example.com' }, /must use https/],
    [ENV.GRAPH_BASE_URL, { ...base(), [ENV.GRAPH_BASE_URL]: 'https://u:p@graph.example.com' }, /credentials/],
    [ENV.GRAPH_BASE_URL, { ...base(), [ENV.GRAPH_BASE_URL]: 'https://graph.example.com/?x=1' }, /query or fragment/],
    [ENV.BOT_TOKEN_ISSUER, { ...base(), [ENV.BOT_TOKEN_ISSUER]: 'api.botframework.com' }, /absolute URL/],
    [ENV.PUBLIC_BASE_URL, { ...base(), [ENV.PUBLIC_BASE_URL]: 'http://bot.example.com' }, /must use https/],
    [ENV.SERVICE_URL_HOSTS, { ...base(), [ENV.SERVICE_URL_HOSTS]: 'http://smba.trafficmanager.net' }, /must use https/],
    [ENV.SERVICE_URL_HOSTS, { ...base(), [ENV.SERVICE_URL_HOSTS]: 'https://h.example.com/path' }, /origin/],
    [ENV.SERVICE_URL_HOSTS, { ...base(), [ENV.SERVICE_URL_HOSTS]: 'bad host!' }, /invalid host entry/],
    [ENV.SERVICE_URL_HOSTS, { ...base(), [ENV.SERVICE_URL_HOSTS]: ' , ' }, /at least one host/],
    [ENV.PENDING_TTL_SECONDS, { ...base(), [ENV.PENDING_TTL_SECONDS]: '-5' }, /positive integer/],
    [ENV.SIGNIN_TTL_SECONDS, { ...base(), [ENV.SIGNIN_TTL_SECONDS]: '0' }, /positive integer/],
    [ENV.SSO_ENABLED, { ...base(), [ENV.SSO_ENABLED]: 'yes' }, /"true" or "false"/],
    [ENV.LOG_LEVEL, { ...base(), [ENV.LOG_LEVEL]: 'verbose' }, /debug, info, warn, error/],
    [ENV.MESSAGING_PATH, { ...base(), [ENV.MESSAGING_PATH]: 'api/messages' }, /URL path/],
    [ENV.CALLBACK_PATH, { ...base(), [ENV.CALLBACK_PATH]: '/api/messages' }, /must differ/],
    [ENV.GRAPH_SCOPES, { ...base(), [ENV.GRAPH_SCOPES]: 'User.Read <script>' }, /invalid scope/],
    [ENV.BOT_CONNECTOR_SCOPE, { ...base(), [ENV.BOT_CONNECTOR_SCOPE]: 'a b' }, /single scope/],
  ])('%s: a clear error naming the variable', (variable, env, message) => {
    const e = errorOf(() => loadConfig(env as NodeJS.ProcessEnv));
    expect(e.variable).toBe(variable);
    expect(e.message).toContain(variable);
    expect(e.message).toMatch(message);
  });

  test('requireConfigValue names the variable of a missing optional value', () => {
    const e = errorOf(() => requireConfigValue(loadConfig(base()), 'workerFunction'));
    expect(e.variable).toBe(ENV.WORKER_FUNCTION);
  });

  test('memoized per env object, re-resolved when a TDAB_ value changes; result frozen', () => {
    const env = base();
    const a = loadConfig(env);
    expect(loadConfig(env)).toBe(a);
    env[ENV.GRAPH_SCOPES] = 'Mail.Read';
    const b = loadConfig(env);
    expect(b).not.toBe(a);
    expect(b.graphScopes).toEqual(['Mail.Read']);
    expect(Object.isFrozen(b)).toBe(true);
    expect(Object.isFrozen(b.serviceUrlHosts)).toBe(true);
    expect(loadConfig(base())).not.toBe(b);
  });

  test('defaults to process.env', () => {
    const saved = { ...process.env };
    try {
      process.env[ENV.APP_ID] = APP;
      process.env[ENV.TENANT_ID] = TENANT;
      expect(loadConfig().appId).toBe(APP);
    } finally {
      for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
    }
  });
});

describe('normalizeServiceUrlHostEntry', () => {
  test('normalizes hosts, wildcards and origins', () => {
    expect(normalizeServiceUrlHostEntry(' SMBA.trafficmanager.net ')).toBe('smba.trafficmanager.net');
    expect(normalizeServiceUrlHostEntry('*.botframework.com')).toBe('*.botframework.com');
    expect(normalizeServiceUrlHostEntry('https://Host.example.com:8443/')).toBe('https://host.example.com:8443');
    expect(normalizeServiceUrlHostEntry('http://localhost:3978')).toBe('http://localhost:3978');
    expect(() => normalizeServiceUrlHostEntry('*.*.example.com')).toThrow(ConfigurationError);
    expect(() => normalizeServiceUrlHostEntry('example.com:443')).toThrow(ConfigurationError);
  });
});

describe('docs/configuration.md', () => {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const doc: string = require('node:fs').readFileSync(require('node:path').join(__dirname, '../../docs/configuration.md'), 'utf8');

  test('documents every environment variable of ENV in a table row', () => {
    for (const name of Object.values(ENV)) {
      expect(doc).toMatch(new RegExp(`^\\| \`${name}\` \\|`, 'm'));
    }
    const documented = [...doc.matchAll(/^\| `(TDAB_[A-Z_]+)` \|/gm)].map((m) => m[1]);
    expect(documented.sort()).toEqual(Object.values(ENV).sort());
  });

  test('the cloud profile table matches src/private/cloud-profiles.ts', () => {
    const row = (label: string): string[] => {
      const line = doc.split('\n').find((l) => l.startsWith(`| ${label} |`));
      expect(line).toBeDefined();
      return line!.split('|').slice(2, -1).map((c) => c.trim());
    };
    const names = row('profile').map((c) => c.replace(/`/g, ''));
    expect(names).toEqual(Object.keys(CLOUD_PROFILES));
    const cell = (s: string): string[] => [...s.matchAll(/`([^`]+)`/g)].map((m) => m[1]);
    names.forEach((name, i) => {
      const p = CLOUD_PROFILES[name as keyof typeof CLOUD_PROFILES];
      expect(cell(row('Bot OpenID metadata')[i])).toEqual([p.botOpenIdMetadataUrl]);
      expect(cell(row('Bot token issuer')[i])).toEqual([p.botTokenIssuer]);
      expect(cell(row('Entra authority')[i])).toEqual([p.entraAuthority]);
      expect(cell(row('Bot Connector scope')[i])).toEqual([p.botConnectorScope]);
      expect(cell(row('Graph base URL / resource')[i])).toEqual([p.graphBaseUrl]);
      expect(p.graphResource).toBe(p.graphBaseUrl);
      expect(cell(row('serviceUrl hosts')[i])).toEqual([...p.serviceUrlHosts]);
    });
  });
});
