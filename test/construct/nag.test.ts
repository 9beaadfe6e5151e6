import { App, Stack, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { AwsSolutionsChecks, HIPAASecurityChecks, NIST80053R5Checks, PCIDSS321Checks } from 'cdk-nag';
import { IConstruct } from 'constructs';
import { APP_ID, TENANT_ID } from './helpers';
import { TeamsDelegatedAuthBot, TeamsDelegatedAuthBotProps } from '../../src';

/**
 * aws-cdk-lib 2.257 does not hand the construct tree to validation plugins (`appConstruct`), so
 * `Validations.of(app).addPlugins(new AwsSolutionsChecks(app))` only reports a plugin failure. `validateScope` runs the
 * same rules and honours the same acknowledgements.
 */
function nag(app: App) {
  app.synth();
  return new AwsSolutionsChecks().validateScope(app);
}

function acknowledgements(root: IConstruct): Array<{ path: string; id: string; reason: string }> {
  const out: Array<{ path: string; id: string; reason: string }> = [];
  for (const c of root.node.findAll()) {
    for (const entry of c.node.metadata) {
      if (entry.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY) {
        for (const [id, reason] of Object.entries<any>(entry.data)) out.push({ path: c.node.path, id, reason: String(reason?.reason ?? reason) });
      }
    }
  }
  return out;
}

function botApp(configure: (stack: Stack) => Partial<TeamsDelegatedAuthBotProps> = () => ({})) {
  const app = new App();
  const stack = new Stack(app, 'NagStack');
  new TeamsDelegatedAuthBot(stack, 'Bot', { appId: APP_ID, tenantId: TENANT_ID, ...configure(stack) });
  return app;
}

test('the checker reports an unacknowledged finding (control)', () => {
  const app = new App();
  const stack = new Stack(app, 'Control');
  new sqs.Queue(stack, 'Plain', { encryption: sqs.QueueEncryption.UNENCRYPTED });
  const report = nag(app);
  expect(report.success).toBe(false);
  expect(report.violations.map((v) => v.ruleName)).toEqual(expect.arrayContaining(['AwsSolutions-SQS3', 'AwsSolutions-SQS4']));
});

test.each([
  ['default', () => ({})],
  ['custom domain, SSO, several tenants, tracing', () => ({
    publicBaseUrl: 'https://bot.example.com',
    sso: {},
    allowedTenantIds: [TENANT_ID, '99999999-8888-7777-6666-555555555555'],
    tracing: lambda.Tracing.ACTIVE,
  })],
  ['assistant with a cross-region profile, knowledge base, guardrail and memory', () => ({
    assistant: {
      modelId: 'us.anthropic.claude-3-5-haiku-20241022-v1:0',
      knowledgeBaseId: 'KB12345678',
      guardrail: { guardrailId: 'gr0abc12def3', guardrailVersion: '1' },
    },
  })],
  ["user's lambda.Function worker", (s: Stack) => {
    // The user's own function (with its own role, so its default AWSLambdaBasicExecutionRole is not under test).
    const worker = new lambda.Function(s, 'MyWorker', {
      runtime: lambda.Runtime.NODEJS_24_X,
      handler: 'index.handler',
      code: lambda.Code.fromInline('exports.handler=async()=>{}'),
      role: new iam.Role(s, 'MyWorkerRole', { assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com') }),
    });
    return { worker };
  }],
])('AwsSolutions: no unacknowledged finding (%s)', (_name, configure) => {
  const app = botApp(configure as any);
  const report = nag(app);
  expect(report.violations).toEqual([]);
  expect(report.success).toBe(true);
});

test('tracing adds exactly one acknowledgement per role: the X-Ray Resource "*"', () => {
  const app = botApp(() => ({ tracing: lambda.Tracing.ACTIVE }));
  app.synth();
  const acks = acknowledgements(app).filter((a) => a.id.startsWith('AwsSolutions-IAM5'))
    .filter((a, i, all) => all.findIndex((b) => b.path === a.path && b.id === a.id) === i);
  expect(acks.map((a) => [a.path, a.id]).sort()).toEqual([
    ['NagStack/Bot/ReceiverRole', 'AwsSolutions-IAM5[Resource::*]'],
    ['NagStack/Bot/WorkerRole', 'AwsSolutions-IAM5[Resource::*]'],
  ]);
  for (const a of acks) expect(a.reason).toMatch(/X-Ray|xray/);
});

test('each acknowledgement names one rule on one resource and gives a specific reason', () => {
  const app = botApp();
  app.synth();
  // The AwsSolutions ones (the compliance packs' acknowledgements are checked below).
  const acks = acknowledgements(app).filter((a) => a.id.replace(/^annotation::/i, '').startsWith('AwsSolutions-'))
    .filter((a, i, all) => all.findIndex((b) => b.path === a.path && b.id === a.id) === i);
  expect(acks.map((a) => [a.path, a.id.replace(/^annotation::/i, '')]).sort()).toEqual([
    ['NagStack/AWS679f53fac002430cb0da5b7982bd2287', 'AwsSolutions-L1'],
    ['NagStack/Bot/BotSecret', 'AwsSolutions-SMG4'],
    ['NagStack/Bot/WorkerFailureQueue', 'AwsSolutions-SQS3'],
  ]);
  for (const a of acks) {
    expect(a.reason.length).toBeGreaterThan(80);
  }
  expect(acks.find((a) => a.id.endsWith('SMG4'))!.reason).toMatch(/Entra ID/);
  expect(acks.find((a) => a.id.endsWith('SQS3'))!.reason).toMatch(/on-failure destination/);
});

describe.each([
  ['NIST 800-53 rev 5', () => new NIST80053R5Checks()],
  ['HIPAA Security', () => new HIPAASecurityChecks()],
  ['PCI DSS 3.2.1', () => new PCIDSS321Checks()],
])('%s', (_pack, checks) => {
  test.each([
    ['default', () => ({})],
    ['reserved concurrency, SNS topic, custom domain, SSO, tracing', (s: Stack) => ({
      receiverReservedConcurrency: 10,
      workerReservedConcurrency: 5,
      publicBaseUrl: 'https://bot.example.com',
      sso: {},
      tracing: lambda.Tracing.ACTIVE,
      alarms: { topic: new sns.Topic(s, 'OnCall', { masterKey: new kms.Key(s, 'TopicKey', { enableKeyRotation: true }) }) },
    })],
  ])('no unacknowledged finding (%s), each acknowledgement with a specific reason', (_name, configure) => {
    const app = botApp(configure as any);
    app.synth();
    const report = (checks() as any).validateScope(app);
    expect(report.violations).toEqual([]);
    for (const a of acknowledgements(app)) expect(a.reason.length).toBeGreaterThan(40);
  });
});
