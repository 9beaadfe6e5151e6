/**
 * The shared client-secret reader (lambda/shared/bot-secret.ts) against moto_server's Secrets Manager, behind a
 * counting proxy so each test sees exactly which `GetSecretValue` calls a read made.
 */
import { randomUUID } from 'node:crypto';
import { PutSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { startCountingProxy, type CountingProxy } from './receiver-support';
import { botSecretReader, ConfigurationError, isPlaceholderSecret, SECRET_CACHE_MS } from '../../lambda/shared/bot-secret';
import { setLogSink } from '../../lambda/shared/log';
import { BOT_SECRET_PLACEHOLDER } from '../../src/private/bot-secret';
import { awsClientConfig, createSecret, startLocalAws, type LocalAws } from '../support/local-aws';

jest.setTimeout(60_000);

let aws: LocalAws;
let proxy: CountingProxy;
let secrets: SecretsManagerClient;
beforeAll(async () => {
  aws = await startLocalAws();
  proxy = await startCountingProxy(aws.motoEndpoint);
  secrets = new SecretsManagerClient(awsClientConfig(proxy.endpoint));
}, 180_000);
afterAll(async () => {
  secrets?.destroy();
  await proxy?.stop();
  await aws?.stop();
});

const newSecret = (value: string): Promise<string> => createSecret(aws.motoEndpoint, `s-${randomUUID().slice(0, 8)}`, value);
const putValue = (arn: string, value: string): Promise<unknown> => secrets.send(new PutSecretValueCommand({ SecretId: arn, SecretString: value }));

/** Runs `fn` and returns the log lines it wrote, parsed. */
async function logsOf(fn: () => Promise<void>): Promise<Array<Record<string, unknown>>> {
  const lines: string[] = [];
  const previous = setLogSink((line) => lines.push(line));
  try {
    await fn();
  } finally {
    setLogSink(previous);
  }
  return lines.map((l) => JSON.parse(l));
}

test.each([
  [{ clientSecret: 'abc8Q~real-looking-secret' }, false],
  [{ clientSecret: '' }, true],
  [{ clientSecret: 'REPLACE_ME' }, true],
  [{ clientSecret: BOT_SECRET_PLACEHOLDER }, true],
  [{ clientSecret: '<your client secret>' }, true],
  [{ clientSecret: 'placeholder-value' }, true],
  [{ placeholder: true, clientSecret: 'x' }, true],
  [{ other: 'x' }, true],
  [{ clientSecret: 42 }, true],
  [null, true],
  ['a-plain-string', true],
])('isPlaceholderSecret(%j) = %p', (value, expected) => {
  expect(isPlaceholderSecret(value)).toBe(expected);
});

test('read once and cached: one GetSecretValue for concurrent and later reads', async () => {
  const arn = await newSecret(JSON.stringify({ clientSecret: 'first-value' }));
  const read = botSecretReader(secrets, arn);
  const mark = proxy.mark();
  expect(await Promise.all([read(), read(), read()])).toEqual(['first-value', 'first-value', 'first-value']);
  expect(await read()).toBe('first-value');
  expect(proxy.since(mark)).toEqual(['GetSecretValue']);
});

test('the cache lasts one hour: a rotated value is read after SECRET_CACHE_MS, not before', async () => {
  expect(SECRET_CACHE_MS).toBe(60 * 60 * 1000);
  const arn = await newSecret(JSON.stringify({ clientSecret: 'before-rotation' }));
  let clock = 1_000_000;
  const read = botSecretReader(secrets, arn, { now: () => clock });
  expect(await read()).toBe('before-rotation');
  await putValue(arn, JSON.stringify({ clientSecret: 'after-rotation' }));
  const mark = proxy.mark();
  clock += SECRET_CACHE_MS - 1;
  expect(await read()).toBe('before-rotation');
  expect(proxy.since(mark)).toEqual([]);
  clock += 1;
  expect(await read()).toBe('after-rotation');
  expect(proxy.since(mark)).toEqual(['GetSecretValue']);
});

test('the construct\'s placeholder: ConfigurationError, an error log naming the secret (not its value), not cached', async () => {
  const arn = await newSecret(JSON.stringify({ clientSecret: BOT_SECRET_PLACEHOLDER }));
  const read = botSecretReader(secrets, arn);
  const logs = await logsOf(async () => {
    await expect(read()).rejects.toBeInstanceOf(ConfigurationError);
    const mark = proxy.mark();
    await expect(read()).rejects.toThrow('the bot client secret has not been set');
    expect(proxy.since(mark)).toEqual(['GetSecretValue']);
  });
  expect(logs.find((l) => l.event === 'client_secret_placeholder')).toMatchObject({ level: 'error', variable: 'TDAB_SECRET_ARN', resourceArn: arn });
  expect(JSON.stringify(logs)).not.toContain('REPLACE_ME');
  // Storing the real secret takes effect at the next read.
  await putValue(arn, JSON.stringify({ clientSecret: 'the-real-one' }));
  expect(await read()).toBe('the-real-one');
});

test('not JSON: ConfigurationError (the secret must be {"clientSecret": ...})', async () => {
  const arn = await newSecret('just-a-string');
  await expect(botSecretReader(secrets, arn)()).rejects.toBeInstanceOf(ConfigurationError);
});

test('no secret ARN: ConfigurationError without an AWS call', async () => {
  const mark = proxy.mark();
  await expect(botSecretReader(secrets, undefined)()).rejects.toThrow('the bot secret ARN is not configured');
  expect(proxy.since(mark)).toEqual([]);
});

test('a Secrets Manager error is passed through and not cached', async () => {
  const name = `later-${randomUUID().slice(0, 8)}`;
  const read = botSecretReader(secrets, name);
  const first = await read().catch((e: unknown) => e);
  expect(first).not.toBeInstanceOf(ConfigurationError);
  expect((first as Error).name).toBe('ResourceNotFoundException');
  await createSecret(aws.motoEndpoint, name, JSON.stringify({ clientSecret: 'created-later' }));
  expect(await read()).toBe('created-later');
});
