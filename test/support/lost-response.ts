/**
 * A DynamoDB client that loses one response to one operation after DynamoDB applied the request: the client sees
 * a retryable timeout and the SDK's standard retry sends the same request again, as happens when the handlers' 3 s
 * request timeout (lambda/shared/aws-sdk-options.ts) expires on a loaded machine. Conditional writes must treat that
 * retry as their own.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { awsClientConfig } from './local-aws';

/**
 * The client, and how many responses it has lost so far (0 or 1). `answered` calls of the operation are answered
 * first (default 0: the first call's response is the one lost).
 */
export function clientLosingOneResponse(endpoint: string, operation: string, answered = 0): { ddb: DynamoDBClient; lost: () => number } {
  const ddb = new DynamoDBClient(awsClientConfig(endpoint));
  let lost = 0;
  let seen = 0;
  ddb.middlewareStack.add((next) => async (args) => {
    const out = await next(args);
    if (lost === 0 && (args.request as { headers?: Record<string, string> }).headers?.['x-amz-target']?.endsWith(`.${operation}`)
      && seen++ >= answered) {
      lost++;
      throw Object.assign(new Error('response lost'), { name: 'TimeoutError', $retryable: {} });
    }
    return out;
  }, { step: 'deserialize', name: 'loseFirstResponse' });
  return { ddb, lost: () => lost };
}
