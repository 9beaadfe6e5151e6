import { App, Duration, Stack } from 'aws-cdk-lib';
import { APP_ID, TENANT_ID } from './helpers';
import { TeamsDelegatedAuthBot, TeamsDelegatedAuthBotProps } from '../../src';

function make(extra: Partial<TeamsDelegatedAuthBotProps>) {
  const stack = new Stack(new App(), 'V');
  return () => new TeamsDelegatedAuthBot(stack, 'Bot', { appId: APP_ID, tenantId: TENANT_ID, ...extra });
}

test.each([
  [{ appId: 'not-a-guid' }, /V\/Bot: invalid appId "not-a-guid": expected the Microsoft App ID .* as a GUID/],
  [{ tenantId: 'contoso.onmicrosoft.com' }, /invalid tenantId "contoso.onmicrosoft.com": expected the Directory \(tenant\) ID/],
  [{ allowedTenantIds: [] }, /invalid allowedTenantIds \[\]: list at least one tenant id/],
  [{ allowedTenantIds: [TENANT_ID, 'x'] }, /invalid allowedTenantIds\[1\] "x"/],
  [{ graphScopes: [] }, /invalid graphScopes \[\]/],
  [{ graphScopes: ['User.Read Mail.Read'] }, /invalid graphScopes\[0\] "User.Read Mail.Read": expected one scope per array element/],
  [{ messagingPath: 'api/messages' }, /invalid messagingPath "api\/messages": expected a path such as "\/api\/messages"/],
  [{ callbackPath: '/auth/callback/' }, /invalid callbackPath "\/auth\/callback\/"/],
  [{ callbackPath: '/auth//callback' }, /invalid callbackPath/],
  [{ callbackPath: '/api/messages' }, /invalid callbackPath "\/api\/messages": must differ from messagingPath/],
  [{ publicBaseUrl: 'http://bot.example.com' }, /invalid publicBaseUrl "http:\/\/bot.example.com": must use https/],
  [{ publicBaseUrl: 'https://bot.example.com/bot' }, /invalid publicBaseUrl "https:\/\/bot.example.com\/bot": expected an origin only/],
  [{ publicBaseUrl: 'https://bot.example.com//' }, /invalid publicBaseUrl/],
  [{ publicBaseUrl: 'bot.example.com' }, /invalid publicBaseUrl "bot.example.com": expected an absolute URL/],
  [{ endpoints: { graphBaseUrl: 'https://graph.example.test/' } }, /invalid endpoints.graphBaseUrl .*without a trailing/],
  [{ endpoints: { entraAuthority: 'http://login.example.test' } }, /invalid endpoints.entraAuthority/],
  [{ endpoints: { serviceUrlHosts: ['https://smba.example.test'] } }, /invalid endpoints.serviceUrlHosts\[0\]/],
  [{ endpoints: { serviceUrlHosts: [] } }, /invalid endpoints.serviceUrlHosts/],
  [{ pendingMessageTtl: Duration.days(30) }, /invalid pendingMessageTtl "30 days": expected a duration between 1 minute and 14 days/],
  [{ signInTimeout: Duration.seconds(10) }, /invalid signInTimeout "10 seconds"/],
  [{ receiverMemorySize: 64 }, /invalid receiverMemorySize 64: expected an integer between 128 and 10240/],
  [{ workerTimeout: Duration.minutes(20) }, /invalid workerTimeout/],
  [{ workerRetryAttempts: 3 }, /invalid workerRetryAttempts 3: expected an integer between 0 and 2/],
  [{ workerMaxEventAge: Duration.hours(7) }, /invalid workerMaxEventAge/],
  [{ graphScopes: ['User.Read;drop'] }, /invalid graphScopes\[0\] "User.Read;drop"/],
  [{ sso: { scope: 'a b' } }, /invalid sso.scope "a b"/],
  [{ sso: { applicationIdUri: 'botid-123' } }, /invalid sso.applicationIdUri "botid-123"/],
])('rejects %j', (extra, message) => {
  expect(make(extra as Partial<TeamsDelegatedAuthBotProps>)).toThrow(message);
});

test('accepts a GUID in upper case and a custom domain with a port', () => {
  expect(make({ appId: APP_ID.toUpperCase(), publicBaseUrl: 'https://bot.example.com:8443' })).not.toThrow();
});
