import { ArnFormat, Lazy, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { fixedNameOf } from './base-url';

/** Settings of every log group the construct creates. */
export interface BotLogGroupsOptions {
  readonly retention: logs.RetentionDays;
  readonly removalPolicy: RemovalPolicy;
  /** The key to encrypt them with; undefined: CloudWatch Logs' own encryption. */
  readonly key?: kms.Key;
}

/**
 * Creates the construct's log groups: fixed names (`/tdab/<stack>/<path>/<leaf>`), retention, removal policy and,
 * when a key is given, encryption with it. The key policy gets one statement for the CloudWatch Logs service of this
 * region, limited by the `kms:EncryptionContext:aws:logs:arn` condition to exactly these log groups. Their ARNs are
 * built with `Stack.formatArn` from the fixed names, so the key never references a log group (which references the
 * key): no cycle.
 */
export class BotLogGroups {
  private readonly arns: string[] = [];

  constructor(private readonly scope: Construct, private readonly options: BotLogGroupsOptions) {
    const key = options.key;
    if (key === undefined) return;
    const stack = Stack.of(scope);
    key.addToResourcePolicy(new iam.PolicyStatement({
      sid: 'CloudWatchLogsOfTheBotLogGroups',
      principals: [new iam.ServicePrincipal(`logs.${stack.region}.amazonaws.com`)],
      actions: ['kms:Encrypt*', 'kms:Decrypt*', 'kms:ReEncrypt*', 'kms:GenerateDataKey*', 'kms:Describe*'],
      resources: ['*'],
      conditions: { ArnEquals: { 'kms:EncryptionContext:aws:logs:arn': Lazy.list({ produce: () => this.arns }) } },
    }));
  }

  /** A log group `id` named `/tdab/<stack>/<path>/<leaf>`. */
  public create(id: string, leaf: string): logs.LogGroup {
    const name = fixedNameOf(this.scope, leaf);
    if (this.options.key !== undefined) {
      this.arns.push(Stack.of(this.scope).formatArn({
        service: 'logs',
        resource: 'log-group',
        resourceName: name,
        arnFormat: ArnFormat.COLON_RESOURCE_NAME,
      }));
    }
    return new logs.LogGroup(this.scope, id, {
      logGroupName: name,
      retention: this.options.retention,
      removalPolicy: this.options.removalPolicy,
      encryptionKey: this.options.key,
    });
  }
}
