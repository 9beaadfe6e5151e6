import { App, Stack } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sns from 'aws-cdk-lib/aws-sns';
import { APP_ID, TENANT_ID, botStack, logicalId, resourcesOfType } from './helpers';
import { BotLogLevel, TeamsDelegatedAuthBot } from '../../src';
import { METRIC } from '../../src/private/metric-names';

function alarms(t: Template): Record<string, any> {
  return Object.fromEntries(resourcesOfType(t, 'AWS::CloudWatch::Alarm').map(([id, r]) => [id.replace(/[0-9A-F]{8}$/, ''), r.Properties]));
}

describe('default alarms', () => {
  const { template: t, bot } = botStack();
  const a = alarms(t);

  test('failure queue, receiver and worker errors, throttles of both functions; no auth-refusal alarm by default', () => {
    expect(Object.keys(a).sort()).toEqual([
      'BotFailedMessagesAlarm', 'BotReceiverErrorsAlarm', 'BotReceiverThrottlesAlarm', 'BotWorkerErrorsAlarm', 'BotWorkerThrottlesAlarm',
    ]);
    expect(bot.alarms).toHaveLength(5);
    for (const p of Object.values(a)) {
      expect(p).toMatchObject({
        EvaluationPeriods: 1, Period: 300, ComparisonOperator: 'GreaterThanOrEqualToThreshold', TreatMissingData: 'notBreaching',
      });
      expect(p.AlarmActions).toBeUndefined();
    }
  });

  test('thresholds and metrics', () => {
    const queueId = logicalId(t, 'AWS::SQS::Queue', 'BotWorkerFailureQueue');
    expect(a.BotFailedMessagesAlarm).toMatchObject({
      Namespace: 'AWS/SQS',
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Statistic: 'Maximum',
      Threshold: 1,
      Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [queueId, 'QueueName'] } }],
    });
    const receiver = { Ref: logicalId(t, 'AWS::Lambda::Function', 'BotReceiver') };
    const worker = { Ref: logicalId(t, 'AWS::Lambda::Function', 'BotWorker') };
    expect(a.BotReceiverErrorsAlarm).toMatchObject({ Namespace: 'AWS/Lambda', MetricName: 'Errors', Statistic: 'Sum', Threshold: 1, Dimensions: [{ Name: 'FunctionName', Value: receiver }] });
    expect(a.BotWorkerErrorsAlarm).toMatchObject({ MetricName: 'Errors', Threshold: 3, Dimensions: [{ Name: 'FunctionName', Value: worker }] });
    expect(a.BotReceiverThrottlesAlarm).toMatchObject({ MetricName: 'Throttles', Threshold: 1, Dimensions: [{ Name: 'FunctionName', Value: receiver }] });
    expect(a.BotWorkerThrottlesAlarm).toMatchObject({ MetricName: 'Throttles', Threshold: 1, Dimensions: [{ Name: 'FunctionName', Value: worker }] });
  });

  test('no dashboard unless asked for', () => {
    t.resourceCountIs('AWS::CloudWatch::Dashboard', 0);
    expect(bot.dashboard).toBeUndefined();
  });
});

test('alarms: an SNS topic and extra actions get ALARM and OK; thresholds change; 0 switches one off', () => {
  const { template: t } = botStack({}, (s) => ({
    alarms: {
      topic: new sns.Topic(s, 'OnCall'),
      receiverErrorsThreshold: 5,
      throttlesThreshold: 0,
      authRefusalsThreshold: 100,
    },
  }));
  const a = alarms(t);
  expect(Object.keys(a).sort()).toEqual(['BotAuthRefusalsAlarm', 'BotFailedMessagesAlarm', 'BotReceiverErrorsAlarm', 'BotWorkerErrorsAlarm']);
  const topic = { Ref: logicalId(t, 'AWS::SNS::Topic', 'OnCall') };
  for (const p of Object.values(a)) {
    expect(p.AlarmActions).toEqual([topic]);
    expect(p.OKActions).toEqual([topic]);
  }
  expect(a.BotReceiverErrorsAlarm.Threshold).toBe(5);
  expect(a.BotAuthRefusalsAlarm).toMatchObject({
    Namespace: 'TeamsDelegatedAuthBot',
    MetricName: METRIC.AUTH_REFUSALS,
    Statistic: 'Sum',
    Threshold: 100,
    Dimensions: [{ Name: 'Service', Value: 'Receiver' }],
  });
});

test('alarms switched off: none', () => {
  const { template: t, bot } = botStack({ alarms: { enabled: false } });
  t.resourceCountIs('AWS::CloudWatch::Alarm', 0);
  expect(bot.alarms).toEqual([]);
});

test('invalid thresholds, namespace and reserved concurrency are refused with the prop named', () => {
  expect(() => botStack({ alarms: { workerErrorsThreshold: -1 } })).toThrow(/alarms.workerErrorsThreshold/);
  expect(() => botStack({ metricsNamespace: 'AWS/Lambda' })).toThrow(/metricsNamespace/);
  expect(() => botStack({ metricsNamespace: 'bad{ns}' })).toThrow(/metricsNamespace/);
  expect(() => botStack({ receiverReservedConcurrency: 0 })).toThrow(/receiverReservedConcurrency/);
  expect(() => botStack({ workerReservedConcurrency: 1.5 })).toThrow(/workerReservedConcurrency/);
});

test('metric methods: namespace, names, the Service dimension, Reason when asked, the failure queue', () => {
  const { bot, stack } = botStack({ metricsNamespace: 'Bots/Contoso' });
  const m = bot.metricSignInFailures();
  expect(m.namespace).toBe('Bots/Contoso');
  expect(m.metricName).toBe('SignInFailures');
  expect(m.dimensions).toEqual({ Service: 'Receiver' });
  expect(m.statistic).toBe('Sum');
  expect(m.period.toMinutes()).toBe(5);
  expect(bot.metricAuthRefusals({ dimensionsMap: { Reason: 'bad_signature' } }).dimensions).toEqual({ Service: 'Receiver', Reason: 'bad_signature' });
  expect(bot.metricWorkerFailures().dimensions).toEqual({ Service: 'Worker' });
  expect(bot.metricResumeLatency().statistic).toBe('p90');
  const names = [
    bot.metricMessages(), bot.metricHotPath(), bot.metricPrompted(), bot.metricResumed(), bot.metricResumeLatency(), bot.metricSignIns(),
    bot.metricSignInFailures(), bot.metricRefreshes(), bot.metricRefreshFailures(), bot.metricSsoExchanges(), bot.metricAuthRefusals(),
    bot.metricRequestsRefused(), bot.metricRequestsFailed(), bot.metricWorkerReplies(), bot.metricWorkerApologies(), bot.metricWorkerFailures(),
  ].map((x) => x.metricName);
  // every metric the handlers publish has its method, and no method names a metric the handlers do not publish
  expect(names.sort()).toEqual(Object.values(METRIC).sort());
  const failed = bot.metricFailedMessages();
  expect(failed.namespace).toBe('AWS/SQS');
  expect(stack.resolve(failed.dimensions)).toEqual({ QueueName: stack.resolve(bot.workerDeadLetterQueue!.queueName) });
  const t = Template.fromStack(stack);
  for (const prefix of ['BotReceiver', 'BotWorker']) {
    expect(t.toJSON().Resources[logicalId(t, 'AWS::Lambda::Function', prefix)].Properties.Environment.Variables.TDAB_METRICS_NAMESPACE).toBe('Bots/Contoso');
  }
});

test('an imported worker: no failure queue, so no failed-messages alarm and metricFailedMessages() explains why', () => {
  const { template: t, bot } = botStack({}, (s) => ({ worker: lambda.Function.fromFunctionArn(s, 'W', 'arn:aws:lambda:eu-west-1:123456789012:function:w') }));
  expect(Object.keys(alarms(t))).not.toContain('BotFailedMessagesAlarm');
  expect(Object.keys(alarms(t))).toContain('BotWorkerErrorsAlarm');
  expect(() => bot.metricFailedMessages()).toThrow(/no failure queue/);
});

test('dashboard: widgets for the bot metrics and an alarm status widget', () => {
  const { template: t, bot } = botStack({ dashboard: true });
  t.resourceCountIs('AWS::CloudWatch::Dashboard', 1);
  expect(bot.dashboard).toBeDefined();
  const [[, d]] = resourcesOfType(t, 'AWS::CloudWatch::Dashboard');
  const body = JSON.stringify(d.Properties.DashboardBody);
  for (const name of ['MessagesReceived', 'SignInFailures', 'AuthRefusals', 'WorkerFailures', 'ResumeLatency', 'ApproximateNumberOfMessagesVisible', 'Throttles']) {
    expect(body).toContain(name);
  }
  expect(body).toContain('alarm');
});

describe('logs', () => {
  const { template: t } = botStack({ logLevel: BotLogLevel.DEBUG });

  test('both functions: JSON log format, application log level from logLevel', () => {
    for (const prefix of ['BotReceiver', 'BotWorker']) {
      const fn = t.toJSON().Resources[logicalId(t, 'AWS::Lambda::Function', prefix)];
      expect(fn.Properties.LoggingConfig).toMatchObject({ LogFormat: 'JSON', ApplicationLogLevel: 'DEBUG' });
    }
  });

  test('every log group: fixed name, encrypted with the key; the key lets CloudWatch Logs use it for exactly these groups', () => {
    const keyId = logicalId(t, 'AWS::KMS::Key', 'BotKey');
    const groups = resourcesOfType(t, 'AWS::Logs::LogGroup');
    expect(groups.map(([, g]) => g.Properties.LogGroupName).sort()).toEqual([
      '/tdab/TestStack/Bot/base-url-provider', '/tdab/TestStack/Bot/receiver', '/tdab/TestStack/Bot/worker',
    ]);
    for (const [, g] of groups) expect(g.Properties.KmsKeyId).toEqual({ 'Fn::GetAtt': [keyId, 'Arn'] });
    const statements: any[] = t.toJSON().Resources[keyId].Properties.KeyPolicy.Statement;
    const logsStatement = statements.find((s) => s.Sid === 'CloudWatchLogsOfTheBotLogGroups');
    expect(logsStatement.Principal).toEqual({ Service: { 'Fn::Join': ['', ['logs.', { Ref: 'AWS::Region' }, '.amazonaws.com']] } });
    const arns = logsStatement.Condition.ArnEquals['kms:EncryptionContext:aws:logs:arn'];
    expect(arns).toHaveLength(3);
    const text = JSON.stringify(arns);
    for (const leaf of ['receiver', 'worker', 'base-url-provider']) expect(text).toContain(`:log-group:/tdab/TestStack/Bot/${leaf}`);
    expect(text).not.toContain('"Ref":"BotReceiverLogs'); // names, not references: no cycle
  });
});

test("a user's imported key: log groups not encrypted with it, and a warning says why", () => {
  const { template: t, stack } = botStack({}, (s) => ({ encryptionKey: kms.Key.fromKeyArn(s, 'K', 'arn:aws:kms:eu-west-1:123456789012:key/abc') }));
  for (const [, g] of resourcesOfType(t, 'AWS::Logs::LogGroup')) expect(g.Properties.KmsKeyId).toBeUndefined();
  Annotations.fromStack(stack).hasWarning('/TestStack/Bot', Match.stringLikeRegexp('cannot let CloudWatch Logs use it'));
});

test("a user's kms.Key of the same stack: log groups encrypted, statement added to its policy", () => {
  const { template: t } = botStack({}, (s) => ({ encryptionKey: new kms.Key(s, 'MyKey') }));
  const keyId = logicalId(t, 'AWS::KMS::Key', 'MyKey');
  for (const [, g] of resourcesOfType(t, 'AWS::Logs::LogGroup')) expect(g.Properties.KmsKeyId).toEqual({ 'Fn::GetAtt': [keyId, 'Arn'] });
});

test('reserved concurrency of receiver and worker; none by default', () => {
  const r = (t: Template, p: string) => t.toJSON().Resources[logicalId(t, 'AWS::Lambda::Function', p)].Properties.ReservedConcurrentExecutions;
  const { template: d } = botStack();
  expect(r(d, 'BotReceiver')).toBeUndefined();
  expect(r(d, 'BotWorker')).toBeUndefined();
  const { template: t } = botStack({ receiverReservedConcurrency: 50, workerReservedConcurrency: 10 });
  expect(r(t, 'BotReceiver')).toBe(50);
  expect(r(t, 'BotWorker')).toBe(10);
});

test('two bots in one stack with their own namespaces get their own alarms and log group names', () => {
  const app = new App();
  const stack = new Stack(app, 'Two');
  new TeamsDelegatedAuthBot(stack, 'A', { appId: APP_ID, tenantId: TENANT_ID, metricsNamespace: 'Bots/A' });
  new TeamsDelegatedAuthBot(stack, 'B', { appId: APP_ID, tenantId: TENANT_ID, metricsNamespace: 'Bots/B', alarms: { alarmActions: [] } });
  const t = Template.fromStack(stack);
  t.resourceCountIs('AWS::CloudWatch::Alarm', 10);
  const names = resourcesOfType(t, 'AWS::Logs::LogGroup').map(([, g]) => g.Properties.LogGroupName);
  expect(new Set(names).size).toBe(names.length);
});
