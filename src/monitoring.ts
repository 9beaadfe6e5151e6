import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as sns from 'aws-cdk-lib/aws-sns';

/**
 * The construct's default CloudWatch alarms (docs/operations.md has the runbook of each). Every threshold is a count
 * over one 5-minute period; an alarm fires when the count reaches it. Set a threshold to 0 to switch that alarm off.
 */
export interface BotAlarmOptions {
  /**
   * Whether the construct creates its alarms at all.
   *
   * @default true
   */
  readonly enabled?: boolean;

  /**
   * SNS topic notified when an alarm fires and when it is OK again.
   *
   * @default - no topic
   */
  readonly topic?: sns.ITopic;

  /**
   * Further actions run when an alarm fires (for example `new cloudwatch_actions.LambdaAction(fn)`).
   *
   * @default - none
   */
  readonly alarmActions?: cloudwatch.IAlarmAction[];

  /**
   * Messages in the worker's failure queue (maximum of `ApproximateNumberOfMessagesVisible`): a user message that
   * failed after all retries. Only when the construct owns the failure queue.
   *
   * @default 1
   */
  readonly failedMessagesThreshold?: number;

  /**
   * Receiver errors (Lambda `Errors`: crashes and timeouts; the receiver answers a failing dependency with 503
   * itself, counted in the `RequestsFailed` metric).
   *
   * @default 1
   */
  readonly receiverErrorsThreshold?: number;

  /**
   * Worker errors (Lambda `Errors`: each failed attempt, retries included; one message that exhausts its three
   * attempts makes 3).
   *
   * @default 3
   */
  readonly workerErrorsThreshold?: number;

  /**
   * Throttled invocations of the receiver, and separately of the worker (two alarms with this threshold).
   *
   * @default 1
   */
  readonly throttlesThreshold?: number;

  /**
   * Requests refused by Bot Framework authentication (`AuthRefusals` metric). Off by default: a public URL gets
   * scanned, so refusals are normal; set a threshold above your usual level to be told about a surge.
   *
   * @default 0
   */
  readonly authRefusalsThreshold?: number;
}
