import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type { ResolvedAlarms } from './resolve-props';
import type { TeamsDelegatedAuthBot } from '../teams-delegated-auth-bot';

const PERIOD = Duration.minutes(5);

interface AlarmSpec {
  readonly id: string;
  readonly threshold: number;
  readonly metric: () => cloudwatch.IMetric;
  readonly description: string;
}

/**
 * The default alarms (docs/operations.md): one 5-minute period, fires at the threshold, missing data is OK. A threshold
 * of 0 skips the alarm. Each alarm gets the configured actions for ALARM and OK.
 */
export function createAlarms(bot: TeamsDelegatedAuthBot, settings: ResolvedAlarms): cloudwatch.Alarm[] {
  const queue = bot.workerDeadLetterQueue;
  const specs: AlarmSpec[] = [
    {
      id: 'FailedMessagesAlarm',
      threshold: queue === undefined ? 0 : settings.failedMessages,
      metric: () => bot.metricFailedMessages(),
      description: 'A user message failed after all worker retries and waits in the failure queue (docs/operations.md#failedmessages).',
    },
    {
      id: 'ReceiverErrorsAlarm',
      threshold: settings.receiverErrors,
      metric: () => bot.receiver.metricErrors({ period: PERIOD, statistic: 'Sum' }),
      description: 'The receiver crashed or timed out (docs/operations.md#receivererrors).',
    },
    {
      id: 'WorkerErrorsAlarm',
      threshold: settings.workerErrors,
      metric: () => bot.worker.metricErrors({ period: PERIOD, statistic: 'Sum' }),
      description: 'Worker invocations failed; Lambda retries them (docs/operations.md#workererrors).',
    },
    {
      id: 'ReceiverThrottlesAlarm',
      threshold: settings.throttles,
      metric: () => bot.receiver.metricThrottles({ period: PERIOD, statistic: 'Sum' }),
      description: 'Receiver invocations were throttled: Teams gets errors and resends (docs/operations.md#throttles).',
    },
    {
      id: 'WorkerThrottlesAlarm',
      threshold: settings.throttles,
      metric: () => bot.worker.metricThrottles({ period: PERIOD, statistic: 'Sum' }),
      description: 'Worker invocations were throttled: replies are delayed (docs/operations.md#throttles).',
    },
    {
      id: 'AuthRefusalsAlarm',
      threshold: settings.authRefusals,
      metric: () => bot.metricAuthRefusals(),
      description: 'Many requests failed Bot Framework authentication (docs/operations.md#authrefusals).',
    },
  ];
  return specs.filter((s) => s.threshold > 0).map((s) => {
    const alarm = new cloudwatch.Alarm(bot, s.id, {
      metric: s.metric(),
      threshold: s.threshold,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      alarmDescription: `Teams bot ${bot.node.path}: ${s.description}`,
    });
    if (settings.actions.length > 0) {
      alarm.addAlarmAction(...settings.actions);
      alarm.addOkAction(...settings.actions);
    }
    return alarm;
  });
}

/** A dashboard: traffic, sign-ins, failures, latency, the functions' own metrics and the alarms. */
export function createDashboard(bot: TeamsDelegatedAuthBot): cloudwatch.Dashboard {
  const dashboard = new cloudwatch.Dashboard(bot, 'Dashboard');
  const graph = (title: string, left: cloudwatch.IMetric[]) => new cloudwatch.GraphWidget({ title, left, width: 8 });
  dashboard.addWidgets(
    graph('Messages', [bot.metricMessages(), bot.metricHotPath(), bot.metricPrompted(), bot.metricResumed()]),
    graph('Sign-ins and tokens', [bot.metricSignIns(), bot.metricSignInFailures(), bot.metricSsoExchanges(),
      bot.metricRefreshes(), bot.metricRefreshFailures()]),
    graph('Refused and failed requests', [bot.metricAuthRefusals(), bot.metricRequestsRefused(), bot.metricRequestsFailed()]),
  );
  const failures: cloudwatch.IMetric[] = [bot.metricWorkerFailures(), bot.metricWorkerApologies()];
  if (bot.workerDeadLetterQueue !== undefined) failures.push(bot.metricFailedMessages());
  dashboard.addWidgets(
    graph('Worker', [bot.metricWorkerReplies(), ...failures]),
    graph('Resume latency (p90, ms)', [bot.metricResumeLatency()]),
    graph('Functions: errors and throttles', [
      bot.receiver.metricErrors({ period: PERIOD }), bot.receiver.metricThrottles({ period: PERIOD }),
      bot.worker.metricErrors({ period: PERIOD }), bot.worker.metricThrottles({ period: PERIOD }),
    ]),
  );
  if (bot.alarms.length > 0) {
    dashboard.addWidgets(new cloudwatch.AlarmStatusWidget({ title: 'Alarms', alarms: bot.alarms, width: 24 }));
  }
  return dashboard;
}
