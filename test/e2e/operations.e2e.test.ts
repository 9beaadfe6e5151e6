/**
 * Operations signals of the BUNDLED handlers (each in its own Node process, as Lambda runs them): the CloudWatch
 * Embedded Metric Format lines they print (names, units, dimensions, values) and the request id, activity id,
 * cold-start flag and trace id on their JSON log lines. Uses the receiver's test environment and the bundled default
 * worker, like worker-receiver.e2e.test.ts.
 */
import { rmSync } from 'node:fs';
import {
  activitiesTo,
  authorizeUrlOf,
  callbackEvent,
  messageEvent,
  newTestUser,
  startBundledReceiver,
  teamsMessage,
  type BundledReceiver,
  type ReceiverEnv,
  type ReceiverHost,
  type TestUser,
} from '../lambda/receiver-support';
import { GraphStandIn, startGraphStandIn } from '../support/bot-connector-stub';
import { bundleHandler } from '../support/handler-bundle';
import { BundledHandler, startBundledHandler } from '../support/lambda-invoke-stub';

jest.setTimeout(120_000);

const NAMESPACE = 'Test/Operations';
const TRACE = 'Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1';

let bundled: BundledReceiver;
let env: ReceiverEnv;
let receiver: ReceiverHost;
let worker: BundledHandler;
let graph: GraphStandIn;
let workerDir: string;
let user: TestUser;

beforeAll(async () => {
  const workerBundle = bundleHandler('lambda/worker/index.ts', 'tdab-worker-ops-');
  workerDir = workerBundle.dir;
  bundled = await startBundledReceiver({ hostEnv: { TDAB_METRICS_NAMESPACE: NAMESPACE, TDAB_LOG_LEVEL: 'info', _X_AMZN_TRACE_ID: TRACE } });
  ({ env, host: receiver } = bundled);
  graph = await startGraphStandIn({ resolveToken: async () => ({ id: 'x', displayName: 'Ops Person' }) });
  worker = await startBundledHandler(workerBundle.file, { ...env.env, TDAB_GRAPH_BASE_URL: graph.baseUrl, TDAB_METRICS_NAMESPACE: NAMESPACE, TDAB_LOG_LEVEL: 'info' });
  env.worker.setHandler(worker.handler);

  // 1. refused: no Authorization header, then a JWT for another bot
  const stray = teamsMessage(env, { login: 'x', oid: '00000000-0000-0000-0000-000000000001', teamsId: '29:1x', name: 'X' }, 'hi');
  const noAuth = await messageEvent(env, stray);
  delete noAuth.headers.authorization;
  expect((await receiver.invoke(noAuth)).statusCode).toBe(401);
  expect((await receiver.invoke(await messageEvent(env, stray, { claims: { aud: 'another-bot' } }))).statusCode).toBe(401);
  // 2. a new user: prompted; signs in; the kept message is resumed; 3. the hot path
  user = await newTestUser(env, 'Ops Person');
  expect((await receiver.invoke(await messageEvent(env, teamsMessage(env, user, 'first')))).statusCode).toBe(200);
  const card = activitiesTo(env, user).filter((a) => a.attachments?.length).at(-1);
  const redirect = await env.idp.signIn(authorizeUrlOf(card), user.login);
  expect((await receiver.invoke(callbackEvent(redirect))).statusCode).toBe(200);
  await env.worker.idle();
  expect((await receiver.invoke(await messageEvent(env, teamsMessage(env, user, 'second')))).statusCode).toBe(200);
  await env.worker.idle();
}, 240_000);

afterAll(async () => {
  await env?.worker.idle();
  await Promise.all([worker?.stop(), graph?.stop()]);
  await bundled?.stop();
  if (workerDir) rmSync(workerDir, { recursive: true, force: true });
});

/**
 * The handler's lines: each one JSON object. Node's own multi-line process warning (the AWS SDK's Node version notice
 * on this machine's Node 20; Lambda runs Node 24) is not handler output and starts with "(node:".
 */
function parsed(lines: string[]): any[] {
  const warning = lines.findIndex((l) => l.startsWith('(node:'));
  const own = lines.filter((l, i) => warning < 0 || i < warning || !(i <= warning + 7 && !l.startsWith('{')));
  return own.map((l) => JSON.parse(l));
}
const emf = (lines: string[]) => parsed(lines).filter((l) => l._aws !== undefined);
const logLines = (lines: string[]) => parsed(lines).filter((l) => l._aws === undefined);

/** Sum of a metric over EMF lines, checking its unit and dimensions on the way. */
function total(lines: any[], name: string, reason?: string): number {
  let sum = 0;
  for (const line of lines) {
    for (const d of line._aws.CloudWatchMetrics) {
      const m = d.Metrics.find((x: any) => x.Name === name);
      if (!m || (reason !== undefined && line.Reason !== reason)) continue;
      const values = Array.isArray(line[name]) ? line[name] : [line[name]];
      sum += values.length;
      if (m.Unit === 'Count') sum += values.reduce((a: number, b: number) => a + b, 0) - values.length;
    }
  }
  return sum;
}

test('every receiver line is JSON; EMF lines: namespace, fixed dimensions, units; one line per request (plus one per extra reason)', () => {
  const lines = emf(receiver.logs);
  expect(lines.length).toBeGreaterThanOrEqual(5); // 2 refused, 1 prompted, 1 callback, 1 hot path
  for (const line of lines) {
    expect(typeof line._aws.Timestamp).toBe('number');
    for (const d of line._aws.CloudWatchMetrics) {
      expect(d.Namespace).toBe(NAMESPACE);
      expect([[['Service']], [['Service'], ['Service', 'Reason']]]).toContainEqual(d.Dimensions);
      for (const m of d.Metrics) expect(['Count', 'Milliseconds']).toContain(m.Unit);
    }
    expect(line.Service).toBe('Receiver');
    // no user, tenant or conversation id anywhere in a metric line
    const text = JSON.stringify(line);
    for (const id of [user.oid, env.tenantId, user.teamsId]) expect(text).not.toContain(id);
  }
});

test('receiver metric values: refusals by reason, messages, prompted, sign-in, resume with its latency, hot path', () => {
  const lines = emf(receiver.logs);
  expect(total(lines, 'AuthRefusals', 'missing_authorization')).toBe(1);
  expect(total(lines, 'AuthRefusals')).toBe(2);
  expect(total(lines, 'MessagesReceived')).toBe(2);
  expect(total(lines, 'Prompted')).toBe(1);
  expect(total(lines, 'SignIns')).toBe(1);
  expect(total(lines, 'Resumed')).toBe(1);
  expect(total(lines, 'HotPath')).toBe(1);
  expect(total(lines, 'SignInFailures')).toBe(0);
  const latency = lines.find((l) => l.ResumeLatency !== undefined);
  expect(latency._aws.CloudWatchMetrics[0].Metrics).toContainEqual({ Name: 'ResumeLatency', Unit: 'Milliseconds' });
  expect(typeof latency.ResumeLatency).toBe('number');
  expect(latency.ResumeLatency).toBeGreaterThanOrEqual(0);
});

test('worker EMF: replies counted under Service Worker', () => {
  const lines = emf(worker.output);
  expect(lines.length).toBeGreaterThanOrEqual(2);
  for (const line of lines) {
    expect(line.Service).toBe('Worker');
    expect(line._aws.CloudWatchMetrics[0].Namespace).toBe(NAMESPACE);
  }
  expect(total(lines, 'WorkerReplies')).toBe(2);
  expect(total(lines, 'WorkerFailures')).toBe(0);
});

test('log lines carry the request id; the request line also activity id and type, cold start and the trace id', () => {
  const logs = logLines(receiver.logs);
  for (const l of logs) expect(l.requestId).toMatch(/^[0-9a-f-]{36}$/);
  const requests = logs.filter((l) => l.event === 'request');
  expect(requests.length).toBeGreaterThanOrEqual(5);
  expect(requests.map((r) => r.coldStart)).toEqual([true, ...requests.slice(1).map(() => false)]);
  for (const r of requests) expect(r.traceId).toBe('1-5759e988-bd862e3fe1be46a994272793');
  const messages = requests.filter((r) => r.outcome === 'hot_path' || r.outcome === 'pending_prompted');
  expect(messages).toHaveLength(2);
  for (const r of messages) {
    expect(r.activityType).toBe('message');
    expect(typeof r.activityId).toBe('string');
  }
  for (const l of logLines(worker.output)) expect(typeof l.requestId).toBe('string');
});
