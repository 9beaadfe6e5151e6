import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { App, CfnParameter, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { APP_ID, TENANT_ID, botStack, evaluate, logicalId, resourcesOfType } from './helpers';
import { readStackOutputs } from '../../cli/app-package/stack-outputs';
import { isPlaceholderSecret } from '../../lambda/shared/bot-secret';
import { BotCloud, BotLogLevel, TeamsDelegatedAuthBot } from '../../src';
import { BOT_SECRET_PLACEHOLDER } from '../../src/private/bot-secret';
import { ENV } from '../../src/private/env';

const FUNCTION_URL = 'https://abcdefghijklmnopqrstuvwxyz012345.lambda-url.eu-west-1.on.aws/';

function receiverId(t: Template) { return logicalId(t, 'AWS::Lambda::Function', 'BotReceiver'); }
function workerId(t: Template) { return logicalId(t, 'AWS::Lambda::Function', 'BotWorker'); }
function env(t: Template, fnId: string): Record<string, any> {
  return t.toJSON().Resources[fnId].Properties.Environment.Variables;
}
function urlRefs(t: Template): Record<string, string> {
  return { [`${logicalId(t, 'AWS::Lambda::Url', 'BotReceiverFunctionUrl')}.FunctionUrl`]: FUNCTION_URL };
}

describe('default bot', () => {
  const { template: t, bot, stack } = botStack();

  test('one customer-managed KMS key with rotation, retained', () => {
    t.resourceCountIs('AWS::KMS::Key', 1);
    t.hasResource('AWS::KMS::Key', {
      Properties: { EnableKeyRotation: true },
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
    });
  });

  test('token table: pk (S) only, on-demand, CMK, TTL on ttl, PITR, retained', () => {
    const keyId = logicalId(t, 'AWS::KMS::Key', 'BotKey');
    t.hasResource('AWS::DynamoDB::Table', {
      Properties: {
        KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
        AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
        BillingMode: 'PAY_PER_REQUEST',
        SSESpecification: { SSEEnabled: true, SSEType: 'KMS', KMSMasterKeyId: { 'Fn::GetAtt': [keyId, 'Arn'] } },
        TimeToLiveSpecification: { AttributeName: 'ttl', Enabled: true },
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      },
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
    });
    expect(bot.tokenTable.node.path).toBe('TestStack/Bot/TokenTable');
  });

  test('conversation table: pk (S) + sk (S), on-demand, CMK, TTL on ttl, retained', () => {
    const keyId = logicalId(t, 'AWS::KMS::Key', 'BotKey');
    t.hasResource('AWS::DynamoDB::Table', {
      Properties: {
        KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }, { AttributeName: 'sk', KeyType: 'RANGE' }],
        AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }, { AttributeName: 'sk', AttributeType: 'S' }],
        BillingMode: 'PAY_PER_REQUEST',
        SSESpecification: { SSEEnabled: true, SSEType: 'KMS', KMSMasterKeyId: { 'Fn::GetAtt': [keyId, 'Arn'] } },
        TimeToLiveSpecification: { AttributeName: 'ttl', Enabled: true },
      },
      DeletionPolicy: 'Retain',
    });
    t.resourceCountIs('AWS::DynamoDB::Table', 2);
  });

  test('secret: encrypted with the CMK, documented JSON shape with the placeholder the handlers detect', () => {
    const keyId = logicalId(t, 'AWS::KMS::Key', 'BotKey');
    const [[, secret]] = resourcesOfType(t, 'AWS::SecretsManager::Secret');
    expect(secret.Properties.KmsKeyId).toEqual({ 'Fn::GetAtt': [keyId, 'Arn'] });
    expect(JSON.parse(secret.Properties.SecretString)).toEqual({ clientSecret: BOT_SECRET_PLACEHOLDER });
    // Pinned: changing it would make CloudFormation overwrite the client secret operators stored.
    expect(BOT_SECRET_PLACEHOLDER).toBe('REPLACE_ME: aws secretsmanager put-secret-value --secret-id <TDAB_SECRET_ARN> --secret-string \'{"clientSecret":"..."}\'');
    // The handlers refuse it (and say how to store the real one) until put-secret-value replaces it.
    expect(isPlaceholderSecret(JSON.parse(secret.Properties.SecretString))).toBe(true);
    expect(isPlaceholderSecret({ clientSecret: 'Abc8Q~realLookingSecretValue1234567890' })).toBe(false);
    expect(secret.Properties.GenerateSecretString).toBeUndefined();
    expect(secret.DeletionPolicy).toBe('Retain');
  });

  test('receiver and worker: Node.js 24, arm64, bundled assets, explicit log groups', () => {
    for (const id of [receiverId(t), workerId(t)]) {
      const fn = t.toJSON().Resources[id];
      expect(fn.Properties).toMatchObject({ Runtime: 'nodejs24.x', Architectures: ['arm64'], Handler: 'index.handler' });
      expect(fn.Properties.Code.S3Key).toMatch(/^[0-9a-f]{64}\.zip$/);
      const logGroupRef = fn.Properties.LoggingConfig.LogGroup.Ref;
      expect(t.toJSON().Resources[logGroupRef]).toMatchObject({
        Type: 'AWS::Logs::LogGroup', Properties: { RetentionInDays: 30 }, DeletionPolicy: 'Retain',
      });
    }
    expect(t.toJSON().Resources[receiverId(t)].Properties).toMatchObject({ MemorySize: 512, Timeout: 30 });
    expect(t.toJSON().Resources[workerId(t)].Properties).toMatchObject({ MemorySize: 512, Timeout: 60 });
  });

  test('no role uses an AWS managed policy; every log group has a retention', () => {
    for (const [, role] of resourcesOfType(t, 'AWS::IAM::Role')) {
      expect(role.Properties.ManagedPolicyArns).toBeUndefined();
    }
    for (const [, lg] of resourcesOfType(t, 'AWS::Logs::LogGroup')) {
      expect(lg.Properties.RetentionInDays).toBe(30);
    }
    // receiver, worker, custom-resource provider
    t.resourceCountIs('AWS::Logs::LogGroup', 3);
  });

  test('public function URL: auth NONE and BOTH permissions public access needs', () => {
    const fnId = receiverId(t);
    t.hasResourceProperties('AWS::Lambda::Url', {
      AuthType: 'NONE',
      TargetFunctionArn: { 'Fn::GetAtt': [fnId, 'Arn'] },
    });
    t.hasResourceProperties('AWS::Lambda::Permission', {
      Action: 'lambda:InvokeFunctionUrl',
      FunctionName: { 'Fn::GetAtt': [fnId, 'Arn'] },
      Principal: '*',
      FunctionUrlAuthType: 'NONE',
    });
    t.hasResourceProperties('AWS::Lambda::Permission', {
      Action: 'lambda:InvokeFunction',
      FunctionName: { 'Fn::GetAtt': [fnId, 'Arn'] },
      Principal: '*',
      InvokedViaFunctionUrl: true,
    });
    // No unconditioned public invoke.
    for (const [, p] of resourcesOfType(t, 'AWS::Lambda::Permission')) {
      if (p.Properties.Principal === '*' && p.Properties.Action === 'lambda:InvokeFunction') {
        expect(p.Properties.InvokedViaFunctionUrl).toBe(true);
      }
    }
  });

  test('worker async config: 2 retries, max event age, on-failure destination to the encrypted queue', () => {
    const queueId = logicalId(t, 'AWS::SQS::Queue', 'BotWorkerFailureQueue');
    t.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      FunctionName: { Ref: workerId(t) },
      MaximumRetryAttempts: 2,
      MaximumEventAgeInSeconds: 3600,
      DestinationConfig: { OnFailure: { Destination: { 'Fn::GetAtt': [queueId, 'Arn'] } } },
    });
    const keyId = logicalId(t, 'AWS::KMS::Key', 'BotKey');
    t.hasResource('AWS::SQS::Queue', {
      Properties: { KmsMasterKeyId: { 'Fn::GetAtt': [keyId, 'Arn'] }, MessageRetentionPeriod: 1209600 },
      DeletionPolicy: 'Retain',
    });
    t.hasResourceProperties('AWS::SQS::QueuePolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([Match.objectLike({
          Effect: 'Deny', Action: 'sqs:*', Condition: { Bool: { 'aws:SecureTransport': 'false' } },
        })]),
      },
    });
    expect(bot.workerDeadLetterQueue).toBeDefined();
  });

  test('receiver environment: every value, names from ENV, no reference to its own URL', () => {
    const e = env(t, receiverId(t));
    const keyId = logicalId(t, 'AWS::KMS::Key', 'BotKey');
    expect(e).toEqual({
      [ENV.APP_ID]: APP_ID,
      [ENV.TENANT_ID]: TENANT_ID,
      [ENV.ALLOWED_TENANT_IDS]: TENANT_ID,
      [ENV.CLOUD]: 'public',
      [ENV.SECRET_ARN]: { Ref: logicalId(t, 'AWS::SecretsManager::Secret', 'BotBotSecret') },
      [ENV.KMS_KEY_ARN]: { 'Fn::GetAtt': [keyId, 'Arn'] },
      [ENV.TOKEN_TABLE]: { Ref: logicalId(t, 'AWS::DynamoDB::Table', 'BotTokenTable') },
      [ENV.CONVERSATION_TABLE]: { Ref: logicalId(t, 'AWS::DynamoDB::Table', 'BotConversationTable') },
      [ENV.WORKER_FUNCTION]: { 'Fn::GetAtt': [workerId(t), 'Arn'] },
      [ENV.BASE_URL_PARAMETER]: '/tdab/TestStack/Bot/base-url',
      [ENV.MESSAGING_PATH]: '/api/messages',
      [ENV.CALLBACK_PATH]: '/auth/callback',
      [ENV.GRAPH_SCOPES]: 'User.Read',
      [ENV.PENDING_TTL_SECONDS]: '86400',
      [ENV.SIGNIN_TTL_SECONDS]: '600',
      [ENV.MAX_PENDING_MESSAGES]: '25',
      [ENV.SSO_ENABLED]: 'false',
      [ENV.SSO_RESOURCE]: `api://botid-${APP_ID}`,
      [ENV.SSO_SCOPE]: 'access_as_user',
      [ENV.LOG_LEVEL]: 'info',
      [ENV.METRICS_NAMESPACE]: 'TeamsDelegatedAuthBot',
      [ENV.BOT_OPENID_METADATA_URL]: BotCloud.PUBLIC.botOpenIdMetadataUrl,
      [ENV.BOT_TOKEN_ISSUER]: BotCloud.PUBLIC.botTokenIssuer,
      [ENV.ENTRA_AUTHORITY]: BotCloud.PUBLIC.entraAuthority,
      [ENV.BOT_CONNECTOR_SCOPE]: BotCloud.PUBLIC.botConnectorScope,
      [ENV.GRAPH_BASE_URL]: BotCloud.PUBLIC.graphBaseUrl,
      [ENV.SERVICE_URL_HOSTS]: BotCloud.PUBLIC.serviceUrlHosts.join(','),
    });
    expect(JSON.stringify(e)).not.toContain('FunctionUrl');
    expect(bot.baseUrlParameterName).toBe('/tdab/TestStack/Bot/base-url');
  });

  test('worker environment: what a worker needs, no token table, no receiver-only values', () => {
    const e = env(t, workerId(t));
    expect(Object.keys(e).sort()).toEqual([
      ENV.APP_ID, ENV.TENANT_ID, ENV.ALLOWED_TENANT_IDS, ENV.CLOUD, ENV.SECRET_ARN, ENV.KMS_KEY_ARN,
      ENV.CONVERSATION_TABLE, ENV.GRAPH_SCOPES, ENV.LOG_LEVEL, ENV.METRICS_NAMESPACE,
      ENV.BOT_OPENID_METADATA_URL, ENV.BOT_TOKEN_ISSUER, ENV.ENTRA_AUTHORITY, ENV.BOT_CONNECTOR_SCOPE,
      ENV.GRAPH_BASE_URL, ENV.SERVICE_URL_HOSTS,
    ].sort());
    expect(stack.resolve(bot.workerEnvironment)).toEqual(e);
    const names = Object.values(ENV) as string[];
    for (const name of Object.keys(env(t, receiverId(t)))) expect(names).toContain(name);
  });

  test('base URL custom resource: putParameter (Overwrite) on create and update, deleteParameter on delete, no SDK install', () => {
    const [[crId, res]] = resourcesOfType(t, 'Custom::TeamsBotBaseUrl');
    const refs = urlRefs(t);
    const create = JSON.parse(evaluate(res.Properties.Create, refs));
    const update = JSON.parse(evaluate(res.Properties.Update, refs));
    const del = JSON.parse(evaluate(res.Properties.Delete, refs));
    const expected = {
      service: 'SSM',
      action: 'putParameter',
      parameters: expect.objectContaining({
        Name: '/tdab/TestStack/Bot/base-url',
        Value: 'https://abcdefghijklmnopqrstuvwxyz012345.lambda-url.eu-west-1.on.aws',
        Type: 'String',
        Overwrite: true,
      }),
      physicalResourceId: { id: '/tdab/TestStack/Bot/base-url' },
    };
    expect(create).toMatchObject(expected);
    expect(update).toMatchObject(expected);
    expect(del).toMatchObject({ service: 'SSM', action: 'deleteParameter', parameters: { Name: '/tdab/TestStack/Bot/base-url' } });
    expect(res.Properties.InstallLatestAwsSdk).toBe(false);
    // Its policy: exactly put + delete of that one parameter.
    const [[, policy]] = resourcesOfType(t, 'AWS::IAM::Policy').filter(([id]) => id.startsWith('BotBaseUrlCustomResourcePolicy'));
    expect(policy.Properties.PolicyDocument.Statement).toEqual([{
      Action: ['ssm:PutParameter', 'ssm:DeleteParameter'],
      Effect: 'Allow',
      Resource: { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':ssm:', { Ref: 'AWS::Region' }, ':', { Ref: 'AWS::AccountId' }, ':parameter/tdab/TestStack/Bot/base-url']] },
    }]);
    expect(res.DependsOn).toEqual(expect.arrayContaining([expect.stringMatching(/^BotBaseUrlCustomResourcePolicy/)]));
    expect(crId).toMatch(/^BotBaseUrl/);
  });

  test('custom-resource provider: own role without managed policies, own log group with retention', () => {
    const [[, provider]] = resourcesOfType(t, 'AWS::Lambda::Function').filter(([id]) => id.startsWith('AWS679f53fac002430cb0da5b7982bd2287'));
    const roleId = provider.Properties.Role['Fn::GetAtt'][0];
    expect(roleId).toMatch(/^BotBaseUrlProviderRole/);
    expect(provider.Properties.LoggingConfig.LogGroup.Ref).toMatch(/^BotBaseUrlProviderLogs/);
  });

  test('outputs: exact messaging endpoint and redirect URI (no "//" after the scheme)', () => {
    const outputs = t.toJSON().Outputs;
    const refs = urlRefs(t);
    const byPrefix = (p: string) => Object.entries<any>(outputs).find(([k]) => k.startsWith(p))![1].Value;
    const messaging = evaluate(byPrefix('BotMessagingEndpoint'), refs);
    const redirect = evaluate(byPrefix('BotRedirectUri'), refs);
    expect(messaging).toBe('https://abcdefghijklmnopqrstuvwxyz012345.lambda-url.eu-west-1.on.aws/api/messages');
    expect(redirect).toBe('https://abcdefghijklmnopqrstuvwxyz012345.lambda-url.eu-west-1.on.aws/auth/callback');
    expect(messaging.slice('https://'.length)).not.toContain('//');
    expect(redirect.slice('https://'.length)).not.toContain('//');
    expect(evaluate(stack.resolve(bot.redirectUri), refs)).toBe(redirect);
    expect(evaluate(stack.resolve(bot.messagingEndpoint), refs)).toBe(messaging);
  });

  test('outputs as `cdk deploy --outputs-file` writes them feed the Teams app package tool (app id and endpoint)', () => {
    const refs = { ...urlRefs(t), [logicalId(t, 'AWS::SecretsManager::Secret', 'BotBotSecret')]: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:bot' };
    const outputs = Object.fromEntries(Object.entries<any>(t.toJSON().Outputs).map(([k, o]) => [k, evaluate(o.Value, refs)]));
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tdab-outputs-'));
    try {
      const file = path.join(dir, 'cdk-outputs.json');
      fs.writeFileSync(file, JSON.stringify({ [stack.stackName]: outputs }));
      const expected = { appId: APP_ID, endpoint: 'https://abcdefghijklmnopqrstuvwxyz012345.lambda-url.eu-west-1.on.aws/api/messages' };
      expect(readStackOutputs(file)).toEqual(expected);
      // The bot is named by its construct path (the part of the output keys before the output's name).
      expect(readStackOutputs(file, { stack: stack.stackName, bot: 'Bot' })).toEqual(expected);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('no warnings on the default bot', () => {
    const warnings = Annotations.fromStack(stack).findWarning('*', Match.anyValue());
    expect(warnings).toEqual([]);
  });
});

describe('options', () => {
  test('publicBaseUrl: no custom resource, no SSM access, literal endpoints, trailing slash normalized', () => {
    const { template: t, bot } = botStack({ publicBaseUrl: 'https://bot.example.com/' });
    t.resourceCountIs('Custom::TeamsBotBaseUrl', 0);
    const e = env(t, receiverId(t));
    expect(e[ENV.PUBLIC_BASE_URL]).toBe('https://bot.example.com');
    expect(e[ENV.BASE_URL_PARAMETER]).toBeUndefined();
    expect(JSON.stringify(t.toJSON())).not.toContain('ssm:');
    expect(bot.messagingEndpoint).toBe('https://bot.example.com/api/messages');
    expect(bot.redirectUri).toBe('https://bot.example.com/auth/callback');
    expect(bot.baseUrlParameterName).toBeUndefined();
    const outputs = Object.values<any>(t.toJSON().Outputs).map((o) => o.Value);
    expect(outputs).toEqual(expect.arrayContaining(['https://bot.example.com/api/messages', 'https://bot.example.com/auth/callback']));
  });

  test('custom routes, scopes, tenants, durations, log level and sizes reach the environment and functions', () => {
    const other = '99999999-8888-7777-6666-555555555555';
    const { template: t } = botStack({
      messagingPath: '/teams/messages',
      callbackPath: '/teams/callback',
      graphScopes: ['User.Read', 'Mail.Read'],
      allowedTenantIds: [TENANT_ID, other],
      pendingMessageTtl: Duration.hours(2),
      signInTimeout: Duration.minutes(5),
      maxPendingMessages: 100,
      logLevel: BotLogLevel.DEBUG,
      logRetention: logs.RetentionDays.ONE_WEEK,
      receiverMemorySize: 1024,
      receiverTimeout: Duration.seconds(20),
      workerMemorySize: 256,
      workerTimeout: Duration.minutes(2),
      workerMaxEventAge: Duration.hours(2),
      workerRetryAttempts: 1,
    });
    const e = env(t, receiverId(t));
    expect(e).toMatchObject({
      [ENV.MESSAGING_PATH]: '/teams/messages',
      [ENV.CALLBACK_PATH]: '/teams/callback',
      [ENV.GRAPH_SCOPES]: 'User.Read Mail.Read',
      [ENV.ALLOWED_TENANT_IDS]: `${TENANT_ID},${other}`,
      [ENV.PENDING_TTL_SECONDS]: '7200',
      [ENV.SIGNIN_TTL_SECONDS]: '300',
      [ENV.MAX_PENDING_MESSAGES]: '100',
      [ENV.LOG_LEVEL]: 'debug',
    });
    expect(t.toJSON().Resources[receiverId(t)].Properties).toMatchObject({ MemorySize: 1024, Timeout: 20 });
    expect(t.toJSON().Resources[workerId(t)].Properties).toMatchObject({ MemorySize: 256, Timeout: 120 });
    t.hasResourceProperties('AWS::Lambda::EventInvokeConfig', { MaximumRetryAttempts: 1, MaximumEventAgeInSeconds: 7200 });
    for (const [, lg] of resourcesOfType(t, 'AWS::Logs::LogGroup')) expect(lg.Properties.RetentionInDays).toBe(7);
    const refs = urlRefs(t);
    const redirect = Object.entries<any>(t.toJSON().Outputs).find(([k]) => k.startsWith('BotRedirectUri'))![1].Value;
    expect(evaluate(redirect, refs)).toBe('https://abcdefghijklmnopqrstuvwxyz012345.lambda-url.eu-west-1.on.aws/teams/callback');
  });

  test('cloud profile and endpoint overrides', () => {
    const { template: t } = botStack({
      cloud: BotCloud.US_GOV,
      endpoints: {
        botOpenIdMetadataUrl: 'https://login.example.test/v1/.well-known/openidconfiguration',
        botTokenIssuer: 'https://api.example.test',
        entraAuthority: 'https://login.example.test',
        botConnectorScope: 'https://api.example.test/.default',
        graphBaseUrl: 'https://graph.example.test',
        serviceUrlHosts: ['smba.example.test', '*.example.test'],
      },
    });
    const expected = {
      [ENV.CLOUD]: 'usgov',
      [ENV.BOT_OPENID_METADATA_URL]: 'https://login.example.test/v1/.well-known/openidconfiguration',
      [ENV.BOT_TOKEN_ISSUER]: 'https://api.example.test',
      [ENV.ENTRA_AUTHORITY]: 'https://login.example.test',
      [ENV.BOT_CONNECTOR_SCOPE]: 'https://api.example.test/.default',
      [ENV.GRAPH_BASE_URL]: 'https://graph.example.test',
      [ENV.SERVICE_URL_HOSTS]: 'smba.example.test,*.example.test',
    };
    expect(env(t, receiverId(t))).toMatchObject(expected);
    expect(env(t, workerId(t))).toMatchObject(expected);
  });

  test('default endpoints are written resolved from the cloud profile (a worker needs no cloud table)', () => {
    const { template: t } = botStack({ cloud: BotCloud.CHINA });
    for (const e of [env(t, receiverId(t)), env(t, workerId(t))]) {
      expect(e[ENV.CLOUD]).toBe('china');
      expect(e).toMatchObject({
        [ENV.BOT_OPENID_METADATA_URL]: BotCloud.CHINA.botOpenIdMetadataUrl,
        [ENV.BOT_TOKEN_ISSUER]: BotCloud.CHINA.botTokenIssuer,
        [ENV.ENTRA_AUTHORITY]: 'https://login.partner.microsoftonline.cn',
        [ENV.BOT_CONNECTOR_SCOPE]: 'https://api.botframework.azure.cn/.default',
        [ENV.GRAPH_BASE_URL]: 'https://microsoftgraph.chinacloudapi.cn',
        [ENV.SERVICE_URL_HOSTS]: 'smba.trafficmanager.cn',
      });
    }
    expect(BotCloud.CHINA.graphBaseUrl).toBe('https://microsoftgraph.chinacloudapi.cn');
    expect(BotCloud.US_GOV_DOD.profileName).toBe('usgovdod');
    expect(BotCloud.PUBLIC.botOpenIdMetadataUrl).toBe('https://login.botframework.com/v1/.well-known/openidconfiguration');
  });

  test('sso settings', () => {
    const { template: t } = botStack({ sso: { applicationIdUri: 'api://bot.example.com/botid-x', scope: 'access_as_user2' } });
    expect(env(t, receiverId(t))).toMatchObject({
      [ENV.SSO_ENABLED]: 'true', [ENV.SSO_RESOURCE]: 'api://bot.example.com/botid-x', [ENV.SSO_SCOPE]: 'access_as_user2',
    });
    const off = botStack({ sso: { enabled: false } }).template;
    expect(env(off, receiverId(off))[ENV.SSO_ENABLED]).toBe('false');
  });

  test('removalPolicy DESTROY applies to key, tables, secret, queue and log groups', () => {
    const { template: t } = botStack({ removalPolicy: RemovalPolicy.DESTROY });
    for (const type of ['AWS::KMS::Key', 'AWS::DynamoDB::Table', 'AWS::SecretsManager::Secret', 'AWS::SQS::Queue', 'AWS::Logs::LogGroup']) {
      for (const [, r] of resourcesOfType(t, type)) expect([type, r.DeletionPolicy]).toEqual([type, 'Delete']);
    }
  });

  test("the user's key and secret are used instead of new ones", () => {
    const { template: t, bot } = botStack({}, (stack) => ({
      encryptionKey: kms.Key.fromKeyArn(stack, 'K', 'arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab'),
      botSecret: secretsmanager.Secret.fromSecretCompleteArn(stack, 'S', 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:bot-AbCdEf'),
    }));
    t.resourceCountIs('AWS::KMS::Key', 0);
    t.resourceCountIs('AWS::SecretsManager::Secret', 0);
    t.hasResourceProperties('AWS::DynamoDB::Table', {
      SSESpecification: { KMSMasterKeyId: 'arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab' },
    });
    expect(env(t, receiverId(t))[ENV.SECRET_ARN]).toBe('arn:aws:secretsmanager:eu-west-1:123456789012:secret:bot-AbCdEf');
    expect(bot.botSecret.secretArn).toBe('arn:aws:secretsmanager:eu-west-1:123456789012:secret:bot-AbCdEf');
  });

  test("a user's lambda.Function worker gets the environment, the failure queue and the grants; no default worker", () => {
    const { template: t, bot } = botStack({}, (stack) => ({
      worker: new lambda.Function(stack, 'MyWorker', {
        runtime: lambda.Runtime.PYTHON_3_13,
        handler: 'index.handler',
        code: lambda.Code.fromInline('def handler(e, c): pass'),
      }),
    }));
    const myWorker = logicalId(t, 'AWS::Lambda::Function', 'MyWorker');
    expect(resourcesOfType(t, 'AWS::Lambda::Function').filter(([id]) => id.startsWith('BotWorker'))).toEqual([]);
    expect(env(t, myWorker)).toMatchObject({ [ENV.APP_ID]: APP_ID, [ENV.CONVERSATION_TABLE]: expect.anything() });
    t.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      FunctionName: { Ref: myWorker },
      MaximumRetryAttempts: 2,
      DestinationConfig: { OnFailure: { Destination: Match.anyValue() } },
    });
    expect(bot.workerDeadLetterQueue).toBeDefined();
    expect(env(t, receiverId(t))[ENV.WORKER_FUNCTION]).toEqual({ 'Fn::GetAtt': [myWorker, 'Arn'] });
  });

  test('an imported worker: warning listing the environment to set, no failure queue', () => {
    const { template: t, bot, stack } = botStack({}, (s) => ({
      worker: lambda.Function.fromFunctionArn(s, 'Imported', 'arn:aws:lambda:eu-west-1:123456789012:function:my-worker'),
    }));
    t.resourceCountIs('AWS::SQS::Queue', 0);
    t.resourceCountIs('AWS::Lambda::EventInvokeConfig', 0);
    expect(bot.workerDeadLetterQueue).toBeUndefined();
    const warnings = Annotations.fromStack(stack).findWarning('/TestStack/Bot', Match.stringLikeRegexp('workerEnvironment'));
    expect(warnings).toHaveLength(1);
    expect(warnings[0].entry.data).toContain(ENV.CONVERSATION_TABLE);
    expect(env(t, receiverId(t))[ENV.WORKER_FUNCTION]).toBe('arn:aws:lambda:eu-west-1:123456789012:function:my-worker');
  });

  test('unresolved tokens for ids are accepted and passed through', () => {
    const { template: t } = botStack({}, (stack) => ({
      appId: new CfnParameter(stack, 'AppId').valueAsString,
      tenantId: new CfnParameter(stack, 'TenantId').valueAsString,
    }));
    expect(env(t, receiverId(t))[ENV.APP_ID]).toEqual({ Ref: 'AppId' });
  });
});

describe('two bots in one stack', () => {
  const app = new App();
  const stack = new Stack(app, 'Two');
  new TeamsDelegatedAuthBot(stack, 'First', { appId: APP_ID, tenantId: TENANT_ID });
  new TeamsDelegatedAuthBot(stack, 'Second', { appId: '22222222-3333-4444-5555-666666666666', tenantId: TENANT_ID });
  const t = Template.fromStack(stack);

  test('each has its own base-URL parameter; the shared provider gets one role and one log group', () => {
    const names = resourcesOfType(t, 'Custom::TeamsBotBaseUrl').map(([, r]) => JSON.parse(evaluate(r.Properties.Create, {
      [`${logicalId(t, 'AWS::Lambda::Url', 'FirstReceiverFunctionUrl')}.FunctionUrl`]: FUNCTION_URL,
      [`${logicalId(t, 'AWS::Lambda::Url', 'SecondReceiverFunctionUrl')}.FunctionUrl`]: FUNCTION_URL,
    })).parameters.Name);
    expect(names.sort()).toEqual(['/tdab/Two/First/base-url', '/tdab/Two/Second/base-url']);
    expect(resourcesOfType(t, 'AWS::Lambda::Function').filter(([id]) => id.startsWith('AWS679f53fac002430cb0da5b7982bd2287'))).toHaveLength(1);
    expect(resourcesOfType(t, 'AWS::IAM::Role').filter(([id]) => id.includes('BaseUrlProviderRole')).map(([id]) => id))
      .toEqual([expect.stringMatching(/^FirstBaseUrlProviderRole/)]);
    // Both custom-resource policies attach to that one role.
    const roleId = logicalId(t, 'AWS::IAM::Role', 'FirstBaseUrlProviderRole');
    const crPolicies = resourcesOfType(t, 'AWS::IAM::Policy').filter(([id]) => id.includes('BaseUrlCustomResourcePolicy'));
    expect(crPolicies).toHaveLength(2);
    for (const [, p] of crPolicies) expect(p.Properties.Roles).toEqual([{ Ref: roleId }]);
  });
});

test('a worker from another stack: warned, not configured, no cross-stack cycle', () => {
  const app = new App();
  const workerStack = new Stack(app, 'WorkerStack');
  const worker = new lambda.Function(workerStack, 'W', {
    runtime: lambda.Runtime.NODEJS_24_X, handler: 'index.handler', code: lambda.Code.fromInline('exports.handler=async()=>{}'),
  });
  const stack = new Stack(app, 'BotStack');
  new TeamsDelegatedAuthBot(stack, 'Bot', { appId: APP_ID, tenantId: TENANT_ID, worker });
  expect(() => app.synth()).not.toThrow();
  const warnings = Annotations.fromStack(stack).findWarning('/BotStack/Bot', Match.stringLikeRegexp('belongs to another stack'));
  expect(warnings).toHaveLength(1);
  const fns = resourcesOfType(Template.fromStack(workerStack), 'AWS::Lambda::Function');
  expect(fns).toHaveLength(1);
  expect(fns[0][1].Properties.Environment).toBeUndefined();
});

test('tracing: active on the receiver and the default worker, X-Ray statements on their roles', () => {
  const { template: t } = botStack({ tracing: lambda.Tracing.ACTIVE });
  for (const id of [receiverId(t), workerId(t)]) {
    expect(t.toJSON().Resources[id].Properties.TracingConfig).toEqual({ Mode: 'Active' });
  }
  t.hasResourceProperties('AWS::IAM::Policy', {
    PolicyDocument: { Statement: Match.arrayWith([{ Action: ['xray:PutTraceSegments', 'xray:PutTelemetryRecords'], Effect: 'Allow', Resource: '*' }]) },
  });
  const off = botStack().template;
  expect(off.toJSON().Resources[receiverId(off)].Properties.TracingConfig).toBeUndefined();
});
