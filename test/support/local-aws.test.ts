import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DescribeTimeToLiveCommand, DynamoDBClient, ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { DescribeKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import {
  LocalAws,
  DEFAULT_DYNAMODB_JAVA_OPTIONS,
  applyTestAwsEnv,
  freePort,
  groupListensOn,
  hostProcess,
  killAllServers,
  createKey,
  createSecret,
  createTables,
  putParameter,
  startLocalAws,
  testAwsEnv,
} from './local-aws';

jest.setTimeout(180_000);

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function waitDead(pids: number[], ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (pids.every((p) => !alive(p))) return true;
    await new Promise((r) => setTimeout(r, 200));
  }
  return pids.every((p) => !alive(p));
}

describe('startLocalAws', () => {
  let aws: LocalAws;
  let restoreEnv: (() => void) | undefined;

  beforeAll(async () => {
    aws = await startLocalAws();
    // eslint-disable-next-line no-console
    console.log(`local AWS started: ${JSON.stringify(aws.timings)}`);
  });

  afterAll(async () => {
    restoreEnv?.();
    await aws?.stop();
  });

  test('both servers on 127.0.0.1, tables with TTL on `ttl`, key, secret and parameter reachable through the env vars alone', async () => {
    expect(aws.dynamodbEndpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(aws.motoEndpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    await createTables(aws.dynamodbEndpoint, { tokenTable: 'tokens', conversationTable: 'conversations' });
    const keyArn = await createKey(aws.motoEndpoint);
    expect(keyArn).toMatch(/^arn:aws:kms:us-east-1:\d{12}:key\//);
    const secretArn = await createSecret(aws.motoEndpoint, 'bot-secret', '{"clientSecret":"s3cr3t"}');
    await putParameter(aws.motoEndpoint, '/bot/base-url', 'https://abc.lambda-url.us-east-1.on.aws');

    expect(testAwsEnv(aws)).toMatchObject({
      AWS_REGION: 'us-east-1',
      AWS_ENDPOINT_URL_DYNAMODB: aws.dynamodbEndpoint,
      AWS_ENDPOINT_URL_KMS: aws.motoEndpoint,
      AWS_ENDPOINT_URL_SECRETS_MANAGER: aws.motoEndpoint,
      AWS_ENDPOINT_URL_SSM: aws.motoEndpoint,
    });
    expect(testAwsEnv(aws, { lambdaEndpoint: 'http://127.0.0.1:1' }).AWS_ENDPOINT_URL_LAMBDA).toBe('http://127.0.0.1:1');

    // Clients built as a handler builds them: no endpoint, no credentials in code.
    restoreEnv = applyTestAwsEnv(aws);
    const ddb = new DynamoDBClient({});
    const kms = new KMSClient({});
    const sm = new SecretsManagerClient({});
    const ssm = new SSMClient({});
    try {
      expect((await ddb.send(new ListTablesCommand({}))).TableNames).toEqual(['conversations', 'tokens']);
      for (const t of ['tokens', 'conversations']) {
        const ttl = await ddb.send(new DescribeTimeToLiveCommand({ TableName: t }));
        expect(ttl.TimeToLiveDescription).toMatchObject({ AttributeName: 'ttl', TimeToLiveStatus: 'ENABLED' });
      }
      expect((await kms.send(new DescribeKeyCommand({ KeyId: keyArn }))).KeyMetadata?.Arn).toBe(keyArn);
      expect((await sm.send(new GetSecretValueCommand({ SecretId: secretArn }))).SecretString).toBe('{"clientSecret":"s3cr3t"}');
      expect((await ssm.send(new GetParameterCommand({ Name: '/bot/base-url' }))).Parameter?.Value)
        .toBe('https://abc.lambda-url.us-east-1.on.aws');
    } finally {
      for (const c of [ddb, kms, sm, ssm]) c.destroy();
      restoreEnv();
      restoreEnv = undefined;
    }
  });

  test('the exit handler is registered on the real process (jest\'s sandbox `process` never emits exit)', () => {
    expect(hostProcess()).not.toBe(process);
    expect(hostProcess().listeners('exit')).toContain(killAllServers);
  });

  test('DynamoDB Local runs with the quick-start JVM options; the test process env is left as it was', () => {
    const environ = fs.readFileSync(`/proc/${aws.pids.dynamodb}/environ`, 'utf8').split('\0');
    expect(environ).toContain(`JAVA_TOOL_OPTIONS=${DEFAULT_DYNAMODB_JAVA_OPTIONS}`);
    expect(hostProcess().env.JAVA_TOOL_OPTIONS).toBe(process.env.JAVA_TOOL_OPTIONS);
  });

  test('readiness checks that OUR process listens on the port (free-port race with other servers)', async () => {
    const ddbPort = Number(new URL(aws.dynamodbEndpoint).port);
    const motoPort = Number(new URL(aws.motoEndpoint).port);
    expect(groupListensOn(aws.pids.dynamodb, ddbPort)).toBe(true);
    expect(groupListensOn(aws.pids.moto, motoPort)).toBe(true);
    expect(groupListensOn(aws.pids.dynamodb, motoPort)).toBe(false);
    expect(groupListensOn(aws.pids.moto, await freePort())).toBe(false);
  });

  test('stop() ends both process groups and is idempotent', async () => {
    const pids = [aws.pids.dynamodb, aws.pids.moto];
    expect(pids.every(alive)).toBe(true);
    await aws.stop();
    await aws.stop();
    expect(await waitDead(pids, 5000)).toBe(true);
  });
});

describe('no orphan servers when the test process dies', () => {
  // A child Node process starts the servers, prints their pids, then dies: by exit() (the 'exit' handler kills the
  // groups) or by SIGKILL (no handler runs; the watchdog kills the groups).
  async function runChild(mode: 'exit' | 'sigkill'): Promise<number[]> {
    const code = [
      `const { startLocalAws } = require(${JSON.stringify(path.join(__dirname, 'local-aws.ts'))});`,
      'startLocalAws().then((aws) => {',
      '  process.stdout.write(JSON.stringify(aws.pids) + "\\n");',
      mode === 'exit' ? '  setTimeout(() => process.exit(3), 100);' : '  setInterval(() => {}, 1000);',
      '}).catch((e) => { console.error(e); process.exit(1); });',
    ].join('\n');
    const child = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', '-e', code], {
      cwd: path.join(__dirname, '..', '..'),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stderr!.on('data', (d) => { err += String(d); });
    const pids = await new Promise<number[]>((resolve, reject) => {
      child.stdout!.on('data', (d) => {
        out += String(d);
        const line = out.split('\n').find((l) => l.startsWith('{'));
        if (line) {
          const p = JSON.parse(line) as { dynamodb: number; moto: number };
          resolve([p.dynamodb, p.moto]);
        }
      });
      child.on('exit', (c) => reject(new Error(`child exited ${c} before printing pids: ${err.slice(-2000)}`)));
    });
    expect(pids.every(alive)).toBe(true);
    if (mode === 'sigkill') child.kill('SIGKILL');
    await new Promise((r) => (child.exitCode !== null || child.signalCode !== null ? r(undefined) : child.once('exit', r)));
    return pids;
  }

  test('process.exit() of the owner kills the servers at once', async () => {
    const pids = await runChild('exit');
    expect(await waitDead(pids, 3000)).toBe(true);
  });

  test('SIGKILL of the owner: the watchdog kills the servers within seconds', async () => {
    const pids = await runChild('sigkill');
    expect(await waitDead(pids, 10_000)).toBe(true);
  });
});
