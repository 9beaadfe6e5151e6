import { Stack, Validations } from 'aws-cdk-lib';
import * as cr from 'aws-cdk-lib/custom-resources';
import { IConstruct } from 'constructs';

/** The cdk-nag packs besides AwsSolutions that test/construct/nag.test.ts runs (NIST 800-53 rev 5, HIPAA Security, PCI DSS 3.2.1). */
const PACKS = { nist: 'NIST.800.53.R5', hipaa: 'HIPAA.Security', pci: 'PCI.DSS.321' } as const;
type Pack = keyof typeof PACKS;

/** Acknowledges `rule` of the given packs on `scope` with `reason`. */
function acknowledge(scope: IConstruct | undefined, packs: Pack[], rule: string, reason: string): void {
  if (scope === undefined) return;
  for (const pack of packs) Validations.of(scope).acknowledge({ id: `${PACKS[pack]}-${rule}`, reason });
}

/** What the compliance acknowledgements look at. */
export interface ComplianceTargets {
  readonly tables: IConstruct[];
  /** The secret the construct created (undefined with `botSecret`). */
  readonly createdSecret?: IConstruct;
  /** The roles the construct created (receiver, default worker, base-URL provider) and the custom resource's policy. */
  readonly roles: IConstruct[];
  readonly receiver: IConstruct;
  readonly defaultWorker?: IConstruct;
  readonly receiverReserved: boolean;
  readonly workerReserved: boolean;
  /** The alarms without an action (no `alarms.topic` or `alarms.alarmActions`). */
  readonly alarmsWithoutAction: IConstruct[];
}

/**
 * Acknowledges, each on its resource with a specific reason, the findings of the NIST 800-53 rev 5, HIPAA Security and
 * PCI DSS 3.2.1 packs that the construct does not fix by design (docs/operations.md, "Compliance packs").
 */
export function acknowledgeCompliance(bot: IConstruct, t: ComplianceTargets): void {
  for (const table of t.tables) {
    acknowledge(table, ['nist', 'hipaa'], 'DynamoDBInBackupPlan', 'Point-in-time recovery is on (continuous backups, 35 days). ' +
      'AWS Backup plans are an account or organization policy: select this table in yours (by tag or ARN) if you need one.');
  }
  acknowledge(t.createdSecret, ['nist', 'hipaa'], 'SecretsManagerRotationEnabled', 'The secret holds the client secret of the ' +
    'bot\'s Entra ID app registration, which Entra ID issues and expires; no AWS rotation function can create a new one. ' +
    'Rotate it in Entra ID and store it with put-secret-value.');
  for (const role of t.roles) {
    acknowledge(role, ['nist', 'hipaa', 'pci'], 'IAMNoInlinePolicy', 'The statements are specific to this bot: its table, key ' +
      'and secret ARNs with encryption-context and kms:ViaService conditions. An inline policy keeps them attached to this one ' +
      'role; a customer-managed policy could be attached to other principals.');
  }
  const provider = Stack.of(bot).node.tryFindChild('AWS' + cr.AwsCustomResource.PROVIDER_FUNCTION_UUID.replace(/-/g, ''));
  const functions: Array<[IConstruct | undefined, boolean, string]> = [
    [t.receiver, t.receiverReserved, 'Set receiverReservedConcurrency to reserve (and cap) it; off by default because a reservation takes concurrency from the account\'s unreserved pool.'],
    [t.defaultWorker, t.workerReserved, 'Set workerReservedConcurrency to reserve (and cap) it; off by default because a reservation takes concurrency from the account\'s unreserved pool.'],
    [provider, false, 'The AwsCustomResource provider runs only during deployments (one call per create, update or delete).'],
  ];
  for (const [fn, reserved, reason] of functions) {
    if (!reserved) acknowledge(fn, ['nist', 'hipaa'], 'LambdaConcurrency', reason);
    acknowledge(fn, ['nist', 'hipaa', 'pci'], 'LambdaInsideVPC', 'The function calls only public endpoints (Bot Connector, Entra ' +
      'ID, Microsoft Graph) and AWS APIs, and reaches no resource in a VPC; a VPC would add NAT cost and change no data path.');
  }
  acknowledge(t.receiver, ['nist', 'hipaa'], 'LambdaDLQ', 'Invoked synchronously by its function URL, and asynchronously only ' +
    'by itself (the resume continuation, which carries no message, only the user whose kept messages it hands over). Request ' +
    'failures are answered (503) and counted (RequestsFailed); the messages of a failed continuation stay in the table and ' +
    'are resumed at the user\'s next message, so a dead-letter queue would hold nothing to replay.');
  acknowledge(t.defaultWorker, ['nist', 'hipaa'], 'LambdaDLQ', 'Failed asynchronous invocations go to the failure queue through ' +
    'an on-failure destination (EventInvokeConfig), which keeps the whole record; the check looks only at DeadLetterConfig.');
  acknowledge(provider, ['nist', 'hipaa'], 'LambdaDLQ', 'CloudFormation invokes the custom-resource provider synchronously; ' +
    'a failure fails the deployment.');
  acknowledge(t.receiver, ['nist', 'hipaa', 'pci'], 'LambdaFunctionPublicAccessProhibited', 'The public function URL is the ' +
    'bot\'s messaging endpoint and OAuth redirect URI: Teams and browsers cannot sign requests with SigV4. Every request is ' +
    'authenticated by the handler (Bot Framework JWT; single-use state and PKCE on the callback).');
  for (const alarm of t.alarmsWithoutAction) {
    acknowledge(alarm, ['nist', 'hipaa'], 'CloudWatchAlarmAction', 'No alarms.topic or alarms.alarmActions was given; set one to ' +
      'be notified. The alarm state is on the dashboard and in CloudWatch.');
  }
}
