import { App, CfnParameter, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { APP_ID, TENANT_ID, asArray, botStack, functionRoleId, logicalId, resourcesOfType, roleStatements } from './helpers';
import { TeamsDelegatedAuthBot } from '../../src';

const { template: t } = botStack();
const keyArn = { 'Fn::GetAtt': [logicalId(t, 'AWS::KMS::Key', 'BotKey'), 'Arn'] };
const tokenTableArn = { 'Fn::GetAtt': [logicalId(t, 'AWS::DynamoDB::Table', 'BotTokenTable'), 'Arn'] };
const conversationTableArn = { 'Fn::GetAtt': [logicalId(t, 'AWS::DynamoDB::Table', 'BotConversationTable'), 'Arn'] };
const secretArn = { Ref: logicalId(t, 'AWS::SecretsManager::Secret', 'BotBotSecret') };
const queueArn = { 'Fn::GetAtt': [logicalId(t, 'AWS::SQS::Queue', 'BotWorkerFailureQueue'), 'Arn'] };
const viaService = (svc: string) => ({ 'kms:ViaService': { 'Fn::Join': ['', [`${svc}.`, { Ref: 'AWS::Region' }, '.amazonaws.com']] } });
const receiverRole = functionRoleId(t, logicalId(t, 'AWS::Lambda::Function', 'BotReceiver'));
const workerRole = functionRoleId(t, logicalId(t, 'AWS::Lambda::Function', 'BotWorker'));

function logs(fnPrefix: string) {
  return { Action: ['logs:CreateLogStream', 'logs:PutLogEvents'], Effect: 'Allow', Resource: { 'Fn::GetAtt': [logicalId(t, 'AWS::Logs::LogGroup', fnPrefix), 'Arn'] } };
}

const workerAccess = [
  {
    Action: 'kms:Decrypt',
    Effect: 'Allow',
    Resource: keyArn,
    Condition: { StringEquals: { 'kms:EncryptionContext:appId': APP_ID, 'kms:EncryptionContext:purpose': 'access_token', 'kms:EncryptionContext:tenantId': TENANT_ID } },
  },
  {
    Action: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem'],
    Effect: 'Allow',
    Resource: conversationTableArn,
    Condition: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['worker#*'] } },
  },
  {
    Action: ['kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey', 'kms:DescribeKey'],
    Effect: 'Allow',
    Resource: keyArn,
    Condition: { StringEquals: viaService('dynamodb') },
  },
  { Action: 'secretsmanager:GetSecretValue', Effect: 'Allow', Resource: secretArn },
  {
    Action: 'kms:Decrypt',
    Effect: 'Allow',
    Resource: keyArn,
    Condition: { StringEquals: { ...viaService('secretsmanager'), 'kms:EncryptionContext:SecretARN': secretArn } },
  },
];

test('receiver role: exactly these statements', () => {
  expect(roleStatements(t, receiverRole)).toEqual([
    logs('BotReceiverLogs'),
    {
      Action: 'kms:GenerateDataKey',
      Effect: 'Allow',
      Resource: keyArn,
      Condition: {
        'StringEquals': {
          'kms:EncryptionContext:appId': APP_ID,
          'kms:EncryptionContext:purpose': ['access_token', 'refresh_token'],
          'kms:EncryptionContext:tenantId': TENANT_ID,
        },
        'ForAllValues:StringEquals': { 'kms:EncryptionContextKeys': ['appId', 'tenantId', 'aadObjectId', 'purpose'] },
        'Null': { 'kms:EncryptionContext:tenantId': 'false', 'kms:EncryptionContext:aadObjectId': 'false' },
      },
    },
    {
      Action: 'kms:Decrypt',
      Effect: 'Allow',
      Resource: keyArn,
      Condition: { StringEquals: { 'kms:EncryptionContext:appId': APP_ID, 'kms:EncryptionContext:purpose': 'refresh_token', 'kms:EncryptionContext:tenantId': TENANT_ID } },
    },
    {
      Action: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem', 'dynamodb:ConditionCheckItem'],
      Effect: 'Allow',
      Resource: tokenTableArn,
    },
    {
      Action: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem', 'dynamodb:ConditionCheckItem', 'dynamodb:Query'],
      Effect: 'Allow',
      Resource: conversationTableArn,
    },
    workerAccess[2],
    workerAccess[3],
    workerAccess[4],
    { Action: 'lambda:InvokeFunction', Effect: 'Allow', Resource: { 'Fn::GetAtt': [logicalId(t, 'AWS::Lambda::Function', 'BotWorker'), 'Arn'] } },
    {
      Action: 'ssm:GetParameter',
      Effect: 'Allow',
      Resource: { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':ssm:', { Ref: 'AWS::Region' }, ':', { Ref: 'AWS::AccountId' }, ':parameter/tdab/TestStack/Bot/base-url']] },
    },
    // The resume continuation: the receiver invokes itself (its own policy, see below).
    { Action: 'lambda:InvokeFunction', Effect: 'Allow', Resource: { 'Fn::GetAtt': [logicalId(t, 'AWS::Lambda::Function', 'BotReceiver'), 'Arn'] } },
  ]);
});

test('the receiver may invoke itself through a policy of its own, which the function does not depend on (no cycle)', () => {
  const receiverId = logicalId(t, 'AWS::Lambda::Function', 'BotReceiver');
  const selfInvoke = resourcesOfType(t, 'AWS::IAM::Policy').filter(([, p]) => p.Properties.PolicyDocument.Statement
    .some((s: any) => s.Resource?.['Fn::GetAtt']?.[0] === receiverId));
  expect(selfInvoke).toHaveLength(1);
  const [policyId, policy] = selfInvoke[0];
  expect(policyId).toMatch(/^BotReceiverSelfInvoke/);
  expect(policy.Properties.PolicyDocument.Statement).toEqual([
    { Action: 'lambda:InvokeFunction', Effect: 'Allow', Resource: { 'Fn::GetAtt': [receiverId, 'Arn'] } },
  ]);
  expect(policy.Properties.Roles).toEqual([{ Ref: receiverRole }]);
  const dependsOn = [t.toJSON().Resources[receiverId].DependsOn ?? []].flat();
  expect(dependsOn).not.toContain(policyId);
});

test('default worker role: worker access + failure-queue delivery, nothing else', () => {
  expect(roleStatements(t, workerRole)).toEqual([
    logs('BotWorkerLogs'),
    { Action: 'sqs:SendMessage', Effect: 'Allow', Resource: queueArn },
    { Action: ['kms:GenerateDataKey', 'kms:Decrypt'], Effect: 'Allow', Resource: keyArn, Condition: { StringEquals: viaService('sqs') } },
    ...workerAccess,
  ]);
});

test('no identity policy grants kms:Decrypt without an encryption-context or kms:ViaService condition', () => {
  for (const [id, policy] of resourcesOfType(t, 'AWS::IAM::Policy')) {
    for (const s of policy.Properties.PolicyDocument.Statement) {
      const actions = asArray<string>(s.Action);
      if (actions.some((a) => a.startsWith('kms:'))) {
        const eq = s.Condition?.StringEquals ?? {};
        const bound = 'kms:ViaService' in eq || ('kms:EncryptionContext:purpose' in eq && 'kms:EncryptionContext:appId' in eq);
        expect([id, s, bound]).toEqual([id, s, true]);
      }
    }
  }
});

test('no wildcard action and no "*" resource in any identity policy', () => {
  for (const [, policy] of resourcesOfType(t, 'AWS::IAM::Policy')) {
    for (const s of policy.Properties.PolicyDocument.Statement) {
      for (const a of asArray<string>(s.Action)) expect(a).not.toContain('*');
      for (const r of asArray<any>(s.Resource)) expect(r).not.toBe('*');
    }
  }
});

test('envelope encryption: no handler has kms:Encrypt on the token key outside a kms:ViaService condition', () => {
  for (const role of [receiverRole, workerRole]) {
    const direct = roleStatements(t, role).filter((s) => asArray<string>(s.Action).includes('kms:Encrypt')
      && !('kms:ViaService' in (s.Condition?.StringEquals ?? {})));
    expect(direct).toEqual([]);
  }
});

test('only the receiver can decrypt refresh tokens; the worker only access tokens', () => {
  const decryptPurposes = (role: string) => roleStatements(t, role)
    .filter((s) => asArray<string>(s.Action).includes('kms:Decrypt'))
    .map((s) => s.Condition.StringEquals['kms:EncryptionContext:purpose'])
    .filter((p) => p !== undefined);
  expect(decryptPurposes(receiverRole)).toEqual(['refresh_token']);
  expect(decryptPurposes(workerRole)).toEqual(['access_token']);
});

test('grantWorkerAccess gives a separate principal exactly the worker access', () => {
  const stack = new Stack(new App(), 'TestStack');
  const bot = new TeamsDelegatedAuthBot(stack, 'Bot', { appId: APP_ID, tenantId: TENANT_ID });
  const role = new iam.Role(stack, 'Custom', { assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com') });
  const grant = bot.grantWorkerAccess(role);
  expect(grant.success).toBe(true);
  const t2 = Template.fromStack(stack);
  expect(roleStatements(t2, logicalId(t2, 'AWS::IAM::Role', 'Custom'))).toEqual(workerAccess);
});

test("a user's secret is read through its own grantRead", () => {
  const { template: t2 } = botStack({}, (s: Stack) => ({
    botSecret: secretsmanager.Secret
      .fromSecretCompleteArn(s, 'S', 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:bot-AbCdEf'),
  }));
  const role = functionRoleId(t2, logicalId(t2, 'AWS::Lambda::Function', 'BotWorker'));
  expect(roleStatements(t2, role)).toContainEqual({
    Action: ['secretsmanager:GetSecretValue', 'secretsmanager:DescribeSecret'],
    Effect: 'Allow',
    Resource: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:bot-AbCdEf',
  });
});

test('several allowed tenants restrict the key conditions to that list; token ids drop the tenant condition', () => {
  const other = '99999999-8888-7777-6666-555555555555';
  const { template: t2 } = botStack({ allowedTenantIds: [TENANT_ID, other] });
  const role = functionRoleId(t2, logicalId(t2, 'AWS::Lambda::Function', 'BotWorker'));
  const accessDecrypt = (tt: Template, r: string) => roleStatements(tt, r)
    .find((st) => st.Condition?.StringEquals?.['kms:EncryptionContext:purpose'] === 'access_token');
  expect(accessDecrypt(t2, role).Condition.StringEquals['kms:EncryptionContext:tenantId']).toEqual([TENANT_ID, other]);

  const { template: t3 } = botStack({}, (s) => ({ allowedTenantIds: new CfnParameter(s, 'Tenants', { type: 'CommaDelimitedList' }).valueAsList }));
  const role3 = functionRoleId(t3, logicalId(t3, 'AWS::Lambda::Function', 'BotWorker'));
  const st = accessDecrypt(t3, role3);
  expect(st.Condition.StringEquals['kms:EncryptionContext:purpose']).toBe('access_token');
  expect(st.Condition.StringEquals['kms:EncryptionContext:tenantId']).toBeUndefined();
});

test("a user's worker function gets the worker access on its own role", () => {
  const { template: t2 } = botStack({}, (s) => ({
    worker: new lambda.Function(s, 'MyWorker', {
      runtime: lambda.Runtime.NODEJS_24_X, handler: 'index.handler', code: lambda.Code.fromInline('exports.handler=async()=>{}'),
    }),
  }));
  const role = functionRoleId(t2, logicalId(t2, 'AWS::Lambda::Function', 'MyWorker'));
  const statements = roleStatements(t2, role);
  expect(statements).toContainEqual(expect.objectContaining({
    Action: 'kms:Decrypt',
    Condition: { StringEquals: expect.objectContaining({ 'kms:EncryptionContext:purpose': 'access_token' }) },
  }));
  expect(statements).toContainEqual(expect.objectContaining({
    Condition: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['worker#*'] } },
  }));
  expect(statements).toContainEqual(expect.objectContaining({ Action: 'sqs:SendMessage' }));
});
