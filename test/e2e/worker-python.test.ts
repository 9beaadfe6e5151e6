/**
 * The Python worker of docs/worker-contract.md, run with python3 + boto3 against moto_server (KMS, Secrets Manager),
 * DynamoDB Local (idempotency), oidc-provider (the bot's client-credentials token, verified by the Bot Connector
 * stand-in) and the Graph stand-in. The document's code block must be the file that runs here, byte for byte.
 */
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { KMSClient } from '@aws-sdk/client-kms';
import { WorkerEvent } from '../../lambda/shared/contract';
import { TokenCipher } from '../../lambda/shared/crypto';
import { BotConnectorStub, GraphStandIn, startBotConnector, startGraphStandIn } from '../support/bot-connector-stub';
import { awsClientConfig, LocalAws, testAwsEnv } from '../support/local-aws';
import { IdentityProvider } from '../support/oidc-idp';
import { workerContractSchemaErrors } from '../support/worker-contract-schema';
import { signedInWorkerEvent, startWorkerWorld, WorkerWorld } from '../support/worker-world';

const ROOT = path.join(__dirname, '../..');
const WORKER_PY = path.join(ROOT, 'examples/python-worker/worker.py');
const DOC = path.join(ROOT, 'docs/worker-contract.md');
const APP_ID = '00000000-0000-0000-0000-0000000a1b2c';
const TENANT = '66666666-6666-6666-6666-666666abcdef';
const OID = '77777777-7777-7777-7777-7777777abcde';
const TABLE = 'py-conversations';
const CLIENT_SECRET = 'python-bot-client-secret';
const APOLOGY = 'Sorry, something went wrong while I was working on your message. Please try again later.';

/** Runs worker.handler for each event in ONE python process (one "container"); returns results or errors. */
const DRIVER = `
import json, sys
sys.path.insert(0, sys.argv[1])
import worker

class Context:
    def get_remaining_time_in_millis(self):
        return 30000

out = []
for event in json.load(sys.stdin):
    try:
        out.append({"ok": True, "result": worker.handler(event, Context())})
    except Exception as e:
        out.append({"ok": False, "error": type(e).__name__ + ": " + str(e)[:200]})
print(json.dumps(out))
`;

let world: WorkerWorld;
let aws: LocalAws;
let idp: IdentityProvider;
let bc: BotConnectorStub;
let graph: GraphStandIn;
let kms: KMSClient;
let cipher: TokenCipher;
let env: Record<string, string>;
let n = 0;

beforeAll(async () => {
  world = await startWorkerWorld({
    appId: APP_ID, tenantId: TENANT, clientSecret: CLIENT_SECRET, secretName: 'py-bot-secret', tables: { tokenTable: 'py-tokens', conversationTable: TABLE },
  });
  ({ aws, idp, bc, graph } = world);
  kms = new KMSClient(awsClientConfig(aws.motoEndpoint));
  cipher = new TokenCipher({ kms, keyId: world.keyArn });
  env = {
    ...testAwsEnv(aws),
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '/tmp',
    PYTHONDONTWRITEBYTECODE: '1', // no __pycache__ next to the example
    ...world.workerEnv,
  };
}, 180_000);

afterAll(async () => {
  kms?.destroy();
  await world?.stop();
});

async function eventFor(displayName: string, text: string, conversationId?: string): Promise<WorkerEvent> {
  n++;
  // A token longer than 4096 bytes (KMS Encrypt's limit): one data key, one AES-GCM ciphertext.
  const token = `python-user-token-${n}-${'y'.repeat(6000)}`;
  graph.addUser(token, { id: OID, displayName });
  const event = await signedInWorkerEvent(cipher, {
    appId: APP_ID,
    token,
    text,
    activityId: `17330000${n}000`,
    conversation: {
      serviceUrl: bc.serviceUrl,
      channelId: 'msteams',
      conversation: { id: conversationId ?? `19:py${n}@thread.tacv2;messageid=1733000000000`, conversationType: 'channel', tenantId: TENANT },
      bot: { id: `28:${APP_ID}`, name: 'Bot' },
      user: { id: '29:1pyuser', aadObjectId: OID, name: 'Teams Name' },
    },
  });
  expect(Buffer.from(event.token.ciphertext, 'base64')).toHaveLength(Buffer.byteLength(token) + 16);
  // Every event the Python example receives is valid under the JSON Schema the package ships for such workers.
  expect(workerContractSchemaErrors(JSON.parse(JSON.stringify(event)))).toEqual([]);
  return event;
}

type PythonResult = { ok: boolean; result?: unknown; error?: string };

/** Asynchronous (the stand-ins run in this process: a synchronous spawn would block them). `over`: env changes. */
function runPython(events: WorkerEvent[], over: Record<string, string | undefined> = {}): Promise<PythonResult[]> {
  const childEnv = Object.fromEntries(Object.entries({ ...env, ...over }).filter(([, v]) => v !== undefined)) as Record<string, string>;
  return new Promise((resolve, reject) => {
    const child = spawn('python3', ['-c', DRIVER, path.dirname(WORKER_PY)], { env: childEnv, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code !== 0) return reject(new Error(`python3 failed (${code}): ${stderr.slice(-2000)}`));
      try {
        resolve(JSON.parse(stdout.trim().split('\n').pop()!));
      } catch (e) {
        reject(e);
      }
    });
    child.stdin.end(JSON.stringify(events));
  });
}

const repliesTo = (e: WorkerEvent) => bc.messages().filter((a) => a.conversationId === e.conversation.conversation.id);

test('docs/worker-contract.md shows exactly examples/python-worker/worker.py', () => {
  const doc = readFileSync(DOC, 'utf8');
  const m = /<!-- python-worker:begin -->\n```python\n([\s\S]*?)```\n<!-- python-worker:end -->/.exec(doc);
  expect(m).not.toBeNull();
  expect(m![1]).toBe(readFileSync(WORKER_PY, 'utf8'));
});

test('python3 with boto3 and cryptography is available', () => {
  const res = spawnSync('python3', ['-c', 'import boto3, cryptography, sys; print(sys.version_info[0])'], { encoding: 'utf8', env });
  expect(res.status).toBe(0);
  expect(res.stdout.trim()).toBe('3');
});

test('decrypts the token, calls Graph as the user, replies once in the thread; a retry does not reply again', async () => {
  const e1 = await eventFor('Ada Lovelace', 'what is   my name?');
  const e2 = await eventFor('Grace Hopper', 'second message');
  const tokensBefore = (await idp.stats()).token;
  const results = await runPython([e1, e2, e1]);
  expect(results).toEqual([
    { ok: true, result: { status: 'replied' } },
    { ok: true, result: { status: 'replied' } },
    { ok: true, result: { status: 'skipped' } },
  ]);
  for (const [e, name] of [[e1, 'Ada Lovelace'], [e2, 'Grace Hopper']] as const) {
    const replies = repliesTo(e);
    expect(replies).toHaveLength(1);
    expect(replies[0].activityId).toBe(e.message.id);
    // the conversation id with ';messageid=' arrived URL-encoded and decodes to the original
    expect(replies[0].path).toContain('%3Bmessageid%3D');
    expect(replies[0].activity).toMatchObject({ type: 'message', textFormat: 'plain', replyToId: e.message.id, from: { id: `28:${APP_ID}` } });
    expect(replies[0].activity.text).toBe(`Hi ${name}! You asked: “${e === e1 ? 'what is my name?' : 'second message'}”`);
  }
  // the bot token came from the IdP once and was cached for the second message
  expect((await idp.stats()).token - tokensBefore).toBe(1);
});

test('a failing Graph call: one apology, the error is raised; the retry does not apologise again', async () => {
  const e = await eventFor('Alan Turing', 'fail please');
  graph.failNext(400, 2, 'BadRequest'); // 400 is not retried: each attempt fails once
  const results = await runPython([e, e]);
  expect(results.map((r) => r.ok)).toEqual([false, false]);
  expect(results[0].error).toMatch(/^HTTPError: HTTP Error 400/);
  expect(repliesTo(e).map((r) => r.activity.text)).toEqual([APOLOGY]);
  // Graph works again: the next attempt (a Lambda retry or a replay) answers
  expect(await runPython([e])).toEqual([{ ok: true, result: { status: 'replied' } }]);
  expect(repliesTo(e).map((r) => r.activity.text)).toEqual([APOLOGY, 'Hi Alan Turing! You asked: “fail please”']);
});

test('429 from the Bot Connector is retried honouring Retry-After', async () => {
  const e = await eventFor('Hedy Lamarr', 'throttle');
  const before = bc.requests.length;
  bc.failNext(429, 1, { 'Retry-After': '1' });
  expect(await runPython([e])).toEqual([{ ok: true, result: { status: 'replied' } }]);
  expect(bc.requests.slice(before).map((r) => r.status)).toEqual([429, 201]);
  expect(repliesTo(e)).toHaveLength(1);
});

test('a serviceUrl outside the allow-list never receives the bot token', async () => {
  const other = await startBotConnector();
  try {
    const e = await eventFor('Mallory', 'redirect me');
    e.conversation.serviceUrl = other.serviceUrl;
    const [r] = await runPython([e]);
    expect(r.ok).toBe(false);
    expect(r.error).toContain('serviceUrl is not an allowed Bot Connector host');
    expect(other.requests).toHaveLength(0);
  } finally {
    await other.stop();
  }
});

/** An HTTP server on 127.0.0.1 (or another loopback name) recording each request's path and Authorization header. */
async function recorder(handler: (path: string, res: import('node:http').ServerResponse) => void) {
  const seen: Array<{ path: string; authorization?: string }> = [];
  const server: Server = createServer((req, res) => {
    seen.push({ path: req.url ?? '', authorization: req.headers.authorization });
    handler(req.url ?? '', res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    seen,
    port,
    stop: async () => {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

test('ids in another spelling: upper-case user and tenant ids in the event are the ids of the token (a reply, not an apology)', async () => {
  // The encryption context holds the ids in lower case; an event (older receiver, pending event from before) or a
  // hand-written environment may spell them in upper case. The example compares them in their one spelling.
  const e = await eventFor('Ada Upper', 'upper case');
  expect(e.token.encryptionContext).toMatchObject({ tenantId: TENANT, aadObjectId: OID });
  e.conversation.user.aadObjectId = OID.toUpperCase();
  e.conversation.conversation.tenantId = TENANT.toUpperCase();
  expect(await runPython([e], { TDAB_APP_ID: APP_ID.toUpperCase() })).toEqual([{ ok: true, result: { status: 'replied' } }]);
  expect(repliesTo(e).map((r) => r.activity.text)).toEqual(['Hi Ada Upper! You asked: “upper case”']);
});

test('a token bound to another user is refused before KMS and Graph: one apology', async () => {
  const e = await eventFor('Mallory', 'not mine');
  e.conversation.user.aadObjectId = '0123abcd-0000-4000-8000-00000000beef';
  const graphBefore = graph.requests.length;
  const [r] = await runPython([e]);
  expect(r.ok).toBe(false);
  expect(r.error).toContain('encryption context aadObjectId does not match');
  expect(graph.requests.length).toBe(graphBefore);
  expect(repliesTo(e).map((x) => x.activity.text)).toEqual([APOLOGY]);
});

test('a long token whose ciphertext parts were reordered is refused (GCM tag), never used: one apology, no Graph call', async () => {
  const e = await eventFor('Spliced', 'reordered');
  const ct = Buffer.from(e.token.ciphertext, 'base64');
  e.token.ciphertext = Buffer.concat([ct.subarray(4096, 6000), ct.subarray(0, 4096), ct.subarray(6000)]).toString('base64');
  const graphBefore = graph.requests.length;
  const [r] = await runPython([e]);
  expect(r.ok).toBe(false);
  expect(r.error).toMatch(/^InvalidTag/);
  expect(graph.requests.length).toBe(graphBefore);
  expect(repliesTo(e).map((x) => x.activity.text)).toEqual([APOLOGY]);
});

test('Graph answering 302 to another loopback host: the user token never arrives there (redirects are refused)', async () => {
  const target = await recorder((_p, res) => { res.setHeader('content-type', 'application/json'); res.end('{"displayName":"Stolen"}'); });
  // the redirect leaves for another host name of the machine (localhost, not 127.0.0.1)
  const redirector = await recorder((p, res) => { res.writeHead(302, { location: `http://localhost:${target.port}${p}` }); res.end(); });
  try {
    const e = await eventFor('Redirected', 'follow me');
    const [r] = await runPython([e], { TDAB_GRAPH_BASE_URL: `http://127.0.0.1:${redirector.port}` });
    expect(r.ok).toBe(false);
    expect(r.error).toMatch(/^HTTPError: HTTP Error 302/);
    expect(redirector.seen).toEqual([{ path: '/v1.0/me', authorization: expect.stringMatching(/^Bearer python-user-token-/) }]);
    expect(target.seen).toEqual([]);
    expect(repliesTo(e).map((x) => x.activity.text)).toEqual([APOLOGY]);
  } finally {
    await Promise.all([target.stop(), redirector.stop()]);
  }
});

test('the endpoints come from the environment the construct writes: TDAB_CLOUD is no cloud table, and none is missing', async () => {
  const otherGraph = await startGraphStandIn();
  try {
    const e = await eventFor('Grace Gov', 'which graph?');
    const token = `python-user-token-${n}-${'y'.repeat(6000)}`;
    otherGraph.addUser(token, { id: OID, displayName: 'Grace Gov' });
    const graphBefore = graph.requests.length;
    // usgov profile name, endpoints from the environment (the stand-ins): the env wins, no public or US Gov host is used
    expect(await runPython([e], { TDAB_CLOUD: 'usgov', TDAB_GRAPH_BASE_URL: otherGraph.baseUrl })).toEqual([{ ok: true, result: { status: 'replied' } }]);
    expect(otherGraph.requests.map((r) => [r.method, r.path, r.status])).toEqual([['GET', '/v1.0/me', 200]]);
    expect(graph.requests.length).toBe(graphBefore);
    expect(repliesTo(e).map((r) => r.activity.text)).toEqual(['Hi Grace Gov! You asked: “which graph?”']);
  } finally {
    await otherGraph.stop();
  }
  // without an endpoint variable the worker does not start (no silent public-cloud default)
  for (const name of ['TDAB_GRAPH_BASE_URL', 'TDAB_ENTRA_AUTHORITY', 'TDAB_BOT_CONNECTOR_SCOPE', 'TDAB_SERVICE_URL_HOSTS']) {
    await expect(runPython([], { [name]: undefined })).rejects.toThrow(new RegExp(`KeyError: '${name}'`));
  }
});
