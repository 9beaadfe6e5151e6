import { appendLogKeys, formatLine, resetLogKeys } from '../../lambda/shared/log';
import { countMetric, flushMetrics, METRIC, reasonCode, setMetricsSink, startMetrics, timingMetric } from '../../lambda/shared/metrics';
import { ENV } from '../../src/private/env';

let lines: string[];
let prev: ReturnType<typeof setMetricsSink>;
beforeEach(() => {
  lines = [];
  prev = setMetricsSink((l) => lines.push(l));
});
afterEach(() => {
  setMetricsSink(prev);
  delete process.env[ENV.METRICS_NAMESPACE];
});

test('one EMF line per invocation: counts and timings under Service, units, values, timestamp', () => {
  startMetrics('Receiver');
  countMetric(METRIC.MESSAGES_RECEIVED);
  countMetric(METRIC.RESUMED);
  countMetric(METRIC.RESUMED);
  timingMetric(METRIC.RESUME_LATENCY, 1234.4);
  timingMetric(METRIC.RESUME_LATENCY, 20);
  flushMetrics(1700000000000);
  expect(lines).toHaveLength(1);
  expect(JSON.parse(lines[0])).toEqual({
    _aws: {
      Timestamp: 1700000000000,
      CloudWatchMetrics: [{
        Namespace: 'TeamsDelegatedAuthBot',
        Dimensions: [['Service']],
        Metrics: [
          { Name: 'MessagesReceived', Unit: 'Count' },
          { Name: 'Resumed', Unit: 'Count' },
          { Name: 'ResumeLatency', Unit: 'Milliseconds' },
        ],
      }],
    },
    Service: 'Receiver',
    MessagesReceived: 1,
    Resumed: 2,
    ResumeLatency: [1234, 20],
  });
});

test('reason metrics: by Service and by Service + Reason, in a directive of their own; the namespace from the environment', () => {
  process.env[ENV.METRICS_NAMESPACE] = 'Bots/Contoso';
  startMetrics('Receiver');
  countMetric(METRIC.HOT_PATH);
  countMetric(METRIC.AUTH_REFUSALS, 1, 'bad_signature');
  flushMetrics(1);
  const line = JSON.parse(lines[0]);
  expect(line._aws.CloudWatchMetrics).toEqual([
    { Namespace: 'Bots/Contoso', Dimensions: [['Service']], Metrics: [{ Name: 'HotPath', Unit: 'Count' }] },
    { Namespace: 'Bots/Contoso', Dimensions: [['Service'], ['Service', 'Reason']], Metrics: [{ Name: 'AuthRefusals', Unit: 'Count' }] },
  ]);
  expect(line).toMatchObject({ Service: 'Receiver', Reason: 'bad_signature', HotPath: 1, AuthRefusals: 1 });
});

test('a second reason in one invocation gets its own line; nothing collected, nothing written', () => {
  startMetrics('Worker');
  countMetric(METRIC.WORKER_FAILURES, 1, 'GraphError');
  countMetric(METRIC.WORKER_FAILURES, 1, 'invalid_event');
  flushMetrics(1);
  expect(lines.map((l) => JSON.parse(l).Reason)).toEqual(['GraphError', 'invalid_event']);
  expect(lines.map((l) => JSON.parse(l).WorkerFailures)).toEqual([1, 1]);
  startMetrics('Worker');
  flushMetrics(1);
  expect(lines).toHaveLength(2);
});

test('outside an invocation, counting does nothing; a flush without a start writes nothing', () => {
  countMetric(METRIC.HOT_PATH);
  timingMetric(METRIC.RESUME_LATENCY, 5);
  flushMetrics();
  expect(lines).toEqual([]);
});

test('reason codes are bounded: the part before ":", safe characters, else "other" (never an id from the request)', () => {
  expect(reasonCode('idp_error:access_denied')).toBe('idp_error');
  expect(reasonCode('auth_unavailable:FetchError')).toBe('auth_unavailable');
  expect(reasonCode(undefined)).toBe('other');
  expect(reasonCode('has space')).toBe('other');
  expect(reasonCode('x'.repeat(49))).toBe('other');
});

test('without a sink the line goes to stdout directly, not through console', () => {
  setMetricsSink(undefined);
  const out = jest.spyOn(process.stdout, 'write').mockImplementation(() => true);
  const log = jest.spyOn(console, 'log');
  try {
    startMetrics('Receiver');
    countMetric(METRIC.MESSAGES_RECEIVED);
    flushMetrics(1);
    expect(out).toHaveBeenCalledTimes(1);
    expect(String(out.mock.calls[0][0]).endsWith('\n')).toBe(true);
    expect(log).not.toHaveBeenCalled();
  } finally {
    out.mockRestore();
    log.mockRestore();
  }
});

test('log keys: the request id on every line until reset; appended keys are sanitized like fields', () => {
  resetLogKeys({ requestId: 'req-1' });
  appendLogKeys({ tool: 'calendar', accessToken: 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.abc' });
  const line = JSON.parse(formatLine('info', 'x', { n: 1 }, new Date(0)));
  expect(line).toEqual({ level: 'info', event: 'x', time: '1970-01-01T00:00:00.000Z', requestId: 'req-1', tool: 'calendar', accessToken: '[redacted]', n: 1 });
  resetLogKeys();
  expect(JSON.parse(formatLine('info', 'y', undefined, new Date(0)))).toEqual({ level: 'info', event: 'y', time: '1970-01-01T00:00:00.000Z' });
});
