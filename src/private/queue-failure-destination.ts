import { Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';

/**
 * An on-failure destination that sends to a KMS-encrypted SQS queue.
 *
 * aws-cdk-lib's `SqsDestination` calls `queue.grantSendMessages(fn)`, which gives the function's role an
 * unconditioned `kms:Decrypt` on the queue's key. Here that key is the key of the user tokens, so the grant must be
 * limited to use through SQS (`kms:ViaService`), or the worker could decrypt refresh tokens directly.
 */
export class QueueFailureDestination implements lambda.IDestination {
  constructor(private readonly queue: sqs.IQueue, private readonly key: kms.IKey) {}

  public bind(scope: Construct, fn: lambda.IFunction, _options?: lambda.DestinationOptions): lambda.DestinationConfig {
    // Lambda delivers asynchronous-invocation records with the function's execution role.
    iam.Grant.addToPrincipal({
      grantee: fn,
      actions: ['sqs:SendMessage'],
      resourceArns: [this.queue.queueArn],
    });
    iam.Grant.addToPrincipal({
      grantee: fn,
      actions: ['kms:GenerateDataKey', 'kms:Decrypt'],
      resourceArns: [this.key.keyArn],
      conditions: {
        StringEquals: { 'kms:ViaService': `sqs.${Stack.of(scope).region}.amazonaws.com` },
      },
    });
    return { destination: this.queue.queueArn };
  }
}

/** The worker's failure queue: KMS-encrypted with `key`, TLS only, 14 days of retention. */
export function createWorkerFailureQueue(scope: Construct, key: kms.IKey, removalPolicy: RemovalPolicy): sqs.Queue {
  const queue = new sqs.Queue(scope, 'WorkerFailureQueue', {
    encryption: sqs.QueueEncryption.KMS,
    encryptionMasterKey: key,
    enforceSSL: true,
    retentionPeriod: Duration.days(14),
    removalPolicy,
  });
  Validations.of(queue).acknowledge({
    id: 'AwsSolutions-SQS3',
    reason: 'This queue is the dead-letter queue of the worker: its Lambda on-failure destination for asynchronous ' +
      'invocations. cdk-nag only recognizes queues named in another queue\'s redrive policy.',
  });
  return queue;
}
