import { App, Duration, Stack } from 'aws-cdk-lib';
import { Annotations, Match } from 'aws-cdk-lib/assertions';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { APP_ID, TENANT_ID } from './helpers';
import { BotCloud, TeamsDelegatedAuthBot, TeamsDelegatedAuthBotProps } from '../../src';

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
  [{ maxPendingMessages: 0 }, /invalid maxPendingMessages 0: expected an integer between 1 and 1000/],
  [{ maxPendingMessages: 2.5 }, /invalid maxPendingMessages 2.5/],
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

describe('graphScopes of two resources fail at synth (Entra ID issues a token for one resource per sign-in)', () => {
  test.each([
    [['User.Read', 'api://botid-123/access_as_user'], /invalid graphScopes .*the scopes name 2 resources, https:\/\/graph\.microsoft\.com \(User\.Read\) and api:\/\/botid-123 \(api:\/\/botid-123\/access_as_user\)/],
    [['https://graph.microsoft.com/Mail.Read', 'https://outlook.office.com/Mail.Send'], /2 resources, https:\/\/graph\.microsoft\.com \(https:\/\/graph\.microsoft\.com\/Mail\.Read\) and https:\/\/outlook\.office\.com/],
    [['https://management.azure.com/user_impersonation', 'Mail.Read', 'Files.Read'], /2 resources, https:\/\/management\.azure\.com .* and https:\/\/graph\.microsoft\.com \(Mail\.Read, Files\.Read\)/],
  ])('rejects %j', (graphScopes, message) => {
    expect(make({ graphScopes })).toThrow(message);
  });

  test.each([
    [['User.Read', 'Mail.Read', 'offline_access', 'openid']],
    [['User.Read', 'https://graph.microsoft.com/Mail.Read', 'HTTPS://GRAPH.MICROSOFT.COM/Files.Read']],
    [['api://botid-123/access_as_user', 'profile']],
  ])('accepts scopes of one resource %j', (graphScopes) => {
    expect(make({ graphScopes })).not.toThrow();
  });

  test("a short name is the cloud's Graph: US Gov Graph scopes mix with short names, public Graph URIs do not", () => {
    expect(make({ cloud: BotCloud.US_GOV, graphScopes: ['User.Read', 'https://graph.microsoft.us/Mail.Read'] })).not.toThrow();
    expect(make({ cloud: BotCloud.US_GOV, graphScopes: ['User.Read', 'https://graph.microsoft.com/Mail.Read'] }))
      .toThrow(/https:\/\/graph\.microsoft\.us \(User\.Read\) and https:\/\/graph\.microsoft\.com/);
    expect(make({ endpoints: { graphBaseUrl: 'https://graph.example.test' }, graphScopes: ['User.Read', 'https://graph.example.test/Mail.Read'] })).not.toThrow();
  });
});

describe('synth-time warnings', () => {
  function warnings(extra: (stack: Stack) => Partial<TeamsDelegatedAuthBotProps>): string[] {
    const stack = new Stack(new App(), 'W');
    new TeamsDelegatedAuthBot(stack, 'Bot', { appId: APP_ID, tenantId: TENANT_ID, ...extra(stack) });
    return Annotations.fromStack(stack).findWarning('/W/Bot', Match.anyValue()).map((w) => String(w.entry.data));
  }
  const customWorker = (stack: Stack) => new lambda.Function(stack, 'Mine', {
    runtime: lambda.Runtime.NODEJS_22_X, handler: 'index.handler', code: lambda.Code.fromInline('exports.handler = async () => {}'),
  });

  test('workerTimeout / workerMemorySize with your own worker: ignored, and a warning says so', () => {
    const both = warnings((stack) => ({ worker: customWorker(stack), workerTimeout: Duration.minutes(5), workerMemorySize: 1024 }));
    expect(both).toEqual([expect.stringMatching(/^workerTimeout and workerMemorySize size the default worker only and are ignored with your own worker \(W\/Mine\)/)]);
    expect(warnings((stack) => ({ worker: customWorker(stack), workerMemorySize: 1024 }))).toEqual([expect.stringMatching(/^workerMemorySize size the default worker only/)]);
    expect(warnings((stack) => ({ worker: customWorker(stack) }))).toEqual([]);
    expect(warnings(() => ({ workerTimeout: Duration.minutes(5), workerMemorySize: 1024 }))).toEqual([]);
  });

  test("allowedTenantIds without the bot's own tenant: a warning", () => {
    const other = '99999999-8888-4777-8666-555555555555';
    expect(warnings(() => ({ allowedTenantIds: [other] }))).toEqual([expect.stringMatching(/^allowedTenantIds does not include the bot's own tenant \(tenantId [0-9a-f-]+\): users of that tenant cannot talk to the bot/)]);
    expect(warnings(() => ({ allowedTenantIds: [other, TENANT_ID.toUpperCase()] }))).toEqual([]);
    expect(warnings(() => ({}))).toEqual([]);
  });

  test('the warnings carry ids users can acknowledge', () => {
    const stack = new Stack(new App(), 'A');
    new TeamsDelegatedAuthBot(stack, 'Bot', { appId: APP_ID, tenantId: TENANT_ID, allowedTenantIds: ['99999999-8888-4777-8666-555555555555'] });
    const entry = Annotations.fromStack(stack).findWarning('/A/Bot', Match.anyValue())[0].entry.data as string;
    expect(entry).toMatch(/\[ack: cdk-teams-delegated-auth-bot:homeTenantNotAllowed\]$/);
  });
});
