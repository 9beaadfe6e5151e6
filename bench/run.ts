/**
 * The benchmark: `node -r ./bench/ts-register.cjs bench/run.ts [--quick] [--no-rebundle] [--out FILE]`.
 * It first runs `npx projen bundle` (skip with --no-rebundle), so the numbers belong to the current code.
 *
 * One run measures, side by side on the same machine and the same local servers (all on 127.0.0.1):
 * 1. bundle sizes (raw, gzip -9) of our handlers (assets/, built by `npx projen bundle`) and of the comparison
 *    subjects (bench/fixtures, built here with the same esbuild options);
 * 2. warm latency per path (first contact, callback, hot path, refresh), p50/p99 over ≥1000 requests each, against
 *    the floor of that path (the same AWS calls made directly with the SDK, bench/fixtures/floor*.ts), in one child
 *    process that keeps the bundles loaded, blocks of both subjects interleaved;
 * 3. cold start: ≥15 fresh Node processes per subject (our receiver, the botbuilder CloudAdapter receiver, the floor),
 *    rounds interleaved, each loading the bundle and serving its first request (a signed hot-path activity);
 * 4. round trips per path, counted at the local servers (proxies in front of DynamoDB Local and moto_server, the
 *    Lambda Invoke and Bot Connector stand-ins, the IdP and the Bot Framework JWKS);
 * 5. receiver memory (RSS, heap after a full GC) before and after 10,000 warm hot-path requests;
 * 6. the assistant (bench/assistant.ts): time to the first visible text and total time of a scripted answer against a
 *    non-streaming Converse baseline, cold start and bundle size against the default worker. Alone:
 *    `--assistant-only` (`npm run bench:assistant`), which writes bench/results/assistant-<timestamp>.json and the
 *    `assistant` section of latest.json (with its own `machine`).
 * Results: bench/results/<timestamp>.json (+ latest.json); BENCHMARKS.md is written from them by hand.
 */
// Benchmark code runs from the repository: its dependencies are the project's devDependencies.
/* eslint-disable import/no-extraneous-dependencies */
import { execSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { GetItemCommand } from '@aws-sdk/client-dynamodb';
import { KMSClient } from '@aws-sdk/client-kms';
import { assistantBench, type AssistantBenchOptions } from './assistant';
import { assetBundle, buildFixture, bundleSize, ensureProjectBundles, KIT_BUNDLE, listProjectHandlers, ROOT, TMP } from './lib/bundles';
import { coldStart, summarizeColdStarts, WarmChild, type ColdResult } from './lib/child';
import { ratio, summarize, type LatencySummary } from './lib/stats';
import { TokenCipher } from '../lambda/shared/crypto';
import {
  callbackEvent,
  expireToken,
  lastSignInUrl,
  messageActivity,
  messageEvent,
  startWorld,
  type World,
  type WorldUser,
} from '../test/reliability/support/world';
import { awsClientConfig } from '../test/support/local-aws';

interface Options {
  quick: boolean;
  rebundle: boolean;
  out?: string;
  n?: number;
  /** Only the assistant section (bench/assistant.ts). */
  assistantOnly: boolean;
  /** Answers per subject of the assistant section. */
  assistantRuns?: number;
  /** Token rate of the assistant section's scripted answer (tokens/s). */
  assistantRate?: number;
}

function parseArgs(argv: string[]): Options {
  const o: Options = { quick: false, rebundle: true, assistantOnly: false };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--quick') o.quick = true;
    else if (argv[i] === '--no-rebundle') o.rebundle = false;
    else if (argv[i] === '--out') o.out = argv[++i];
    else if (argv[i] === '--requests') o.n = Number(argv[++i]);
    else if (argv[i] === '--assistant-only') o.assistantOnly = true;
    else if (argv[i] === '--assistant-runs') o.assistantRuns = Number(argv[++i]);
    else if (argv[i] === '--assistant-rate') o.assistantRate = Number(argv[++i]);
    else throw new Error(`unknown argument ${argv[i]}`);
  }
  return o;
}

const PLACEHOLDER = '__BENCH_N__';
const log = (msg: string) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);

function machine() {
  let gitCommit = 'unknown';
  try {
    gitCommit = execSync('git rev-parse --short HEAD', { cwd: ROOT }).toString().trim();
  } catch {
    // not a git checkout
  }
  return {
    date: new Date().toISOString(),
    node: process.version,
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    loadAverageAtStart: loadAverage(),
    gitCommit,
  };
}

/**
 * Interleaves `subjects` request by request (block 1), the order flipped every round, so drift (other load on the
 * machine), GC pauses and socket reuse hit each subject equally. An A/A check (the floor against a copy of itself)
 * gives identical p50s this way; with blocks of 100 the receiver came out faster than the floor (which does a subset
 * of its work), an artefact of the order.
 */
async function interleaved(child: WarmChild, subjects: string[], eventFor: (subject: string) => Record<string, unknown>,
  total: number, block: number): Promise<Record<string, { ms: number[]; statuses: Record<string, number> }>> {
  const out: Record<string, { ms: number[]; statuses: Record<string, number> }> = {};
  for (const s of subjects) out[s] = { ms: [], statuses: {} };
  for (let done = 0, round = 0; done < total; done += block, round++) {
    const n = Math.min(block, total - done);
    // Alternate the order every round so neither subject always runs right after the other (GC, socket reuse).
    const order = round % 2 ? [...subjects].reverse() : subjects;
    for (const s of order) {
      const r = await child.repeat(s, eventFor(s), n, PLACEHOLDER);
      out[s].ms.push(...r.ms);
      for (const [k, v] of Object.entries(r.statuses)) out[s].statuses[k] = (out[s].statuses[k] ?? 0) + v;
    }
  }
  return out;
}

function expectAll200(name: string, statuses: Record<string, number>): void {
  const bad = Object.entries(statuses).filter(([k]) => k !== '200');
  if (bad.length) throw new Error(`${name}: unexpected statuses ${JSON.stringify(statuses)}`);
}

/** A hot-path message event for `user` whose activity id is replaced per request. */
async function hotEvent(world: World, user: WorldUser, text = 'what is on my calendar today?'): Promise<Record<string, unknown>> {
  return messageEvent(messageActivity(world, user, text, { id: `1${PLACEHOLDER}` }), await world.jwt());
}

/** Sign-in: message → card → IdP login → callback through `child`; returns the callback's latency. */
async function signIn(world: World, child: WarmChild, subject: string, user: WorldUser): Promise<number> {
  const url = lastSignInUrl(world.connector, user.conversationId);
  if (!url) throw new Error(`no sign-in card for ${user.login}`);
  const redirect = await world.idp.signIn(url, user.login);
  const r = await child.invoke(subject, callbackEvent(redirect));
  if (r.status !== 200) throw new Error(`callback for ${user.login} answered ${r.status}`);
  return r.ms;
}

/** Plaintext sizes (bytes) of the access and refresh token stored for `user` (decrypted with their context). */
async function tokenSizes(world: World, user: WorldUser): Promise<{ access: number; refresh: number }> {
  const got = await world.ddb.send(new GetItemCommand({ TableName: world.tokenTable, Key: { pk: { S: `${user.tid}#${user.oid}` } } }));
  const kms = new KMSClient(awsClientConfig(world.aws.motoEndpoint));
  try {
    const size = async (attr: string, purpose: string) => {
      const m = got.Item?.[attr]?.M;
      if (!m) return 0;
      const keyId = got.Item?.[attr === 'rt' ? 'rkid' : 'kid']?.S ?? got.Item?.kid?.S ?? '';
      const clear = await new TokenCipher({ kms, keyId }).decrypt({
        keyId,
        encryptedKey: m.ek?.S ?? '',
        iv: m.iv?.S ?? '',
        ciphertext: m.ct?.S ?? '',
        encryptionContext: { appId: world.appId, tenantId: user.tid, aadObjectId: user.oid, purpose },
      });
      return Buffer.byteLength(clear, 'utf8');
    };
    return { access: await size('at', 'access_token'), refresh: await size('rt', 'refresh_token') };
  } finally {
    kms.destroy();
  }
}

/** What a floor's callback needs from the browser's sign-in: a code (and its PKCE verifier) for `user`. */
interface FloorSignIn { code: string; codeVerifier: string; redirectUri: string }

/**
 * Signs `user` in at the IdP (untimed) for a floor callback: the receiver's sign-in URL `template` with a fresh state,
 * nonce and PKCE challenge, so the floor redeems a real code with the same scopes and redirect URI.
 */
async function floorSignIn(world: World, template: string, user: WorldUser): Promise<FloorSignIn> {
  const url = new URL(template);
  const codeVerifier = randomBytes(32).toString('base64url');
  url.searchParams.set('state', randomBytes(32).toString('base64url'));
  url.searchParams.set('nonce', randomBytes(16).toString('base64url'));
  url.searchParams.set('code_challenge', createHash('sha256').update(codeVerifier).digest('base64url'));
  const redirect = await world.idp.signIn(url.toString(), user.login);
  const code = redirect.searchParams.get('code');
  if (!code) throw new Error(`floor sign-in of ${user.login} gave no code: ${redirect.search}`);
  return { code, codeVerifier, redirectUri: url.searchParams.get('redirect_uri') ?? '' };
}

/** The floor callback's event: the user's activity (for the ids) with what the browser brought. */
function floorCallbackEvent(world: World, user: WorldUser, signedIn: FloorSignIn, jwt: string): Record<string, unknown> {
  return messageEvent({ ...messageActivity(world, user, 'x'), bench: signedIn }, jwt);
}

interface RoundTrips { aws: Record<string, number>; awsTotal: number; other: Record<string, number> }

async function countRoundTrips(world: World, k: number, run: () => Promise<void>): Promise<RoundTrips> {
  world.ddbProxy.reset();
  world.motoProxy.reset();
  const lambdaBefore = world.lambda.records.length;
  const connectorBefore = world.connector.requests.length;
  const idpBefore = await world.idp.stats();
  const bfBefore = { ...world.botFramework.requests };
  await run();
  const idpAfter = await world.idp.stats();
  const aws: Record<string, number> = {};
  for (const [op, n] of Object.entries({ ...world.ddbProxy.summary(), ...world.motoProxy.summary() })) aws[op] = n / k;
  const invokes = (world.lambda.records.length - lambdaBefore) / k;
  if (invokes) aws.Invoke = invokes;
  const other: Record<string, number> = {
    'IdP token endpoint': (idpAfter.token - idpBefore.token) / k,
    'IdP JWKS/discovery': (idpAfter.jwks + idpAfter.discovery - idpBefore.jwks - idpBefore.discovery) / k,
    'Bot Connector': (world.connector.requests.length - connectorBefore) / k,
    'Bot Framework metadata/JWKS': (world.botFramework.requests.metadata + world.botFramework.requests.jwks - bfBefore.metadata - bfBefore.jwks) / k,
  };
  return { aws, awsTotal: Object.values(aws).reduce((a, b) => a + b, 0), other };
}

/** The assistant section's settings: 400 tokens at 50 tokens/s (8 s per answer), 7 answers per subject (quick: 2). */
function assistantOptions(opts: Options): AssistantBenchOptions {
  return {
    runs: opts.assistantRuns ?? (opts.quick ? 2 : 7),
    tokens: 400,
    tokensPerSecond: opts.assistantRate ?? 50,
    coldStarts: opts.quick ? 3 : 15,
    bundles: {
      assistant: assetBundle('assistant'),
      worker: assetBundle('worker'),
      baseline: buildFixture('converse-worker'),
      floor: buildFixture('bedrock-floor'),
    },
    log,
  };
}

const stampNow = () => new Date().toISOString().replace(/[:]/g, '-').replace(/\..*$/, '');
const loadAverage = () => os.loadavg().map((x) => Math.round(x * 100) / 100);

/** `--assistant-only`: the assistant section alone, into its own file and the `assistant` section of latest.json. */
async function assistantOnly(opts: Options): Promise<void> {
  mkdirSync(TMP, { recursive: true });
  ensureProjectBundles(['assistant', 'worker'], opts.rebundle);
  const m = machine();
  const section = await assistantBench(assistantOptions(opts));
  const results = { machine: { ...m, loadAverageAtEnd: loadAverage() }, ...section };
  const dir = path.join(ROOT, 'bench', 'results');
  const out = opts.out ?? path.join(dir, `${opts.quick ? 'quick-' : ''}assistant-${stampNow()}.json`);
  writeFileSync(out, `${JSON.stringify(results, null, 2)}\n`);
  const latestFile = path.join(dir, 'latest.json');
  if (!opts.quick && existsSync(latestFile)) {
    const latest = JSON.parse(readFileSync(latestFile, 'utf8')) as Record<string, unknown>;
    writeFileSync(latestFile, `${JSON.stringify({ ...latest, assistant: results }, null, 2)}\n`);
  }
  log(`results: ${path.relative(ROOT, out)}`);
  process.stdout.write(`${JSON.stringify({ goals: section.goals, answerRatios: section.answerRatios, coldStartRatios: section.coldStartRatios, bundleRatios: section.bundleRatios }, null, 2)}\n`);
}

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  if (opts.assistantOnly) return assistantOnly(opts);
  const N = opts.n ?? (opts.quick ? 60 : 1000); // requests per path
  const COLD = opts.quick ? 3 : 15; // cold starts per subject
  const MEM = opts.quick ? 500 : 10_000;
  const RT = opts.quick ? 5 : 20; // requests per path for the round-trip count
  const results: Record<string, unknown> = {
    machine: machine(),
    settings: { requestsPerPath: N, coldStartsPerSubject: COLD, memoryRequests: MEM, roundTripSample: RT, quick: opts.quick },
  };
  mkdirSync(TMP, { recursive: true });

  // 1. Bundles.
  log('bundles');
  ensureProjectBundles(['receiver', 'worker', 'assistant'], opts.rebundle);
  const bundles = {
    receiver: assetBundle('receiver'),
    worker: assetBundle('worker'),
    botbuilder: buildFixture('botbuilder-receiver'),
    floor: buildFixture('floor'),
    floorPaths: buildFixture('floor-paths'),
  };
  // Every handler bundle the project builds (assets/lambda/<name>/index/index.js), then the comparison subjects.
  const handlerBundles: Record<string, string> = Object.fromEntries(listProjectHandlers().map((h) => [h, assetBundle(h)]));
  if (existsSync(KIT_BUNDLE)) handlerBundles['worker-kit'] = KIT_BUNDLE;
  results.bundleSizes = Object.fromEntries(Object.entries({ ...handlerBundles, ...bundles }).map(([k, f]) => [k, bundleSize(f)]));

  // The world: users for first contact + callback (N), the round-trip sample, and a few spares.
  log('starting local servers');
  const world = await startWorld({ users: N + 2 * RT + 10, accessTokenTtlSeconds: 3600 });
  const stopAll: Array<() => Promise<void>> = [() => world.stop()];
  try {
    const env = world.env({ viaProxies: false });
    const users = world.users.slice(0, N);
    const rtUsers = world.users.slice(N, N + RT);
    // The floors' users: own token items and own conversations (the floor posts cards there, never into ours).
    const floorUser = (u: WorldUser, tag: string): WorldUser => ({ ...u, oid: `${tag}-${u.oid}`, conversationId: `${tag}-${u.conversationId}` });
    const floorUsers = Array.from({ length: N }, (_, i) => floorUser(world.users[i], `floor-${i}`));

    const warm = await WarmChild.start({ ...env, BENCH_CLIENT_SECRET: world.clientSecret }, {
      'receiver': bundles.receiver,
      'botbuilder': bundles.botbuilder,
      'floor': bundles.floor,
      'floor-first-contact': `${bundles.floorPaths}#firstContact`,
      'floor-callback': `${bundles.floorPaths}#callback`,
      'floor-refresh': `${bundles.floorPaths}#refresh`,
    });
    stopAll.unshift(() => warm.stop());
    const jwt = await world.jwt();

    // Warm-up of every subject (first requests fetch the JWKS, the secret, the bot token, open connections).
    log('warm-up');
    const spare = world.users[world.users.length - 1];
    for (let i = 0; i < 3; i++) await warm.invoke('receiver', messageEvent(messageActivity(world, spare, 'warm-up'), jwt));
    // The floor posts the receiver's card (same size): a sign-in URL of the receiver's, also the template of floorSignIn.
    const signInTemplate = lastSignInUrl(world.connector, spare.conversationId);
    if (!signInTemplate) throw new Error('no sign-in card in the warm-up');
    await warm.setEnv({ BENCH_AUTHORIZE_URL: signInTemplate });
    for (let i = 0; i < 3; i++) {
      await warm.invoke('floor-first-contact', messageEvent(messageActivity(world, floorUser(spare, `floor-warm-${i}`), 'warm-up'), jwt));
    }

    // 2a. First contact: N users without a token, one message each → pending + state + card.
    log(`first contact × ${N}`);
    const first = { receiver: [] as number[], floor: [] as number[] };
    for (let i = 0; i < N; i++) {
      const ours = async () => {
        const r = await warm.invoke('receiver', messageEvent(messageActivity(world, users[i], `hello ${i}`), jwt));
        if (r.status !== 200) throw new Error(`first contact answered ${r.status}`);
        first.receiver.push(r.ms);
      };
      const floor = async () => {
        first.floor.push((await warm.invoke('floor-first-contact', messageEvent(messageActivity(world, floorUsers[i], `hello ${i}`), jwt))).ms);
      };
      if (i % 2) {
        await floor();
        await ours();
      } else {
        await ours();
        await floor();
      }
    }
    const cards = users.filter((u) => lastSignInUrl(world.connector, u.conversationId)).length;
    if (cards !== N) throw new Error(`expected ${N} sign-in cards, saw ${cards}`);

    // 2b. Callback: each user signs in at the IdP (untimed), then the browser hits the callback (timed).
    log(`callback × ${N}`);
    const cb = { receiver: [] as number[], floor: [] as number[] };
    const invokesBefore = world.lambda.records.length;
    let tokenBytes: { access: number; refresh: number } | undefined;
    for (let i = 0; i < N; i++) {
      const floorCallback = async () => {
        const ev = floorCallbackEvent(world, floorUsers[i], await floorSignIn(world, signInTemplate, floorUsers[i]), jwt);
        const r = await warm.invoke('floor-callback', ev);
        if (r.status !== 200) throw new Error(`floor callback answered ${r.status}`);
        cb.floor.push(r.ms);
      };
      if (i % 2 && tokenBytes) await floorCallback();
      cb.receiver.push(await signIn(world, warm, 'receiver', users[i]));
      if (!tokenBytes) {
        // The floor encrypts tokens of the sizes the IdP really issues.
        tokenBytes = await tokenSizes(world, users[i]);
        await warm.setEnv({ BENCH_ACCESS_TOKEN_BYTES: String(tokenBytes.access), BENCH_REFRESH_TOKEN_BYTES: String(tokenBytes.refresh) });
      }
      if (!(i % 2) || cb.floor.length < i + 1) await floorCallback();
    }
    const ours = new Set(users.map((u) => u.oid));
    const resumed = world.lambda.records.slice(invokesBefore).filter((r) => {
      const p = r.payload as { resumed?: boolean; conversation?: { user?: { aadObjectId?: string } } };
      return p?.resumed === true && ours.has(p.conversation?.user?.aadObjectId ?? '');
    }).length;
    if (resumed !== N) throw new Error(`expected the callbacks to resume ${N} messages, saw ${resumed}`);

    // 3. Cold start (a quiet moment: nothing else of ours runs). Hot-path activity of a signed-in user.
    log(`cold start × ${COLD} per subject`);
    const coldSubjects: Record<string, string> = { receiver: bundles.receiver, botbuilder: bundles.botbuilder, floor: bundles.floor };
    const cold: Record<string, ColdResult[]> = Object.fromEntries(Object.keys(coldSubjects).map((s) => [s, []]));
    const coldEventFile = path.join(TMP, 'cold-event.json');
    for (let round = 0; round < COLD; round++) {
      const order = Object.keys(coldSubjects);
      if (round % 2) order.reverse();
      for (const s of order) {
        const ev = messageEvent(messageActivity(world, users[0], 'cold start', { id: `cold-${s}-${round}` }), jwt);
        const r = await coldStart(coldSubjects[s], ev, env, coldEventFile);
        if (r.status !== 200) throw new Error(`cold start of ${s} answered ${r.status}`);
        cold[s].push(r);
      }
    }

    // 2c. Hot path: a signed-in user; receiver vs floor (and botbuilder for reference), interleaved blocks of 100.
    log(`hot path × ${N}`);
    const hotEv = await hotEvent(world, users[0]);
    const hot = await interleaved(warm, ['receiver', 'floor', 'botbuilder'], () => hotEv, N, 1);
    for (const s of Object.keys(hot)) expectAll200(`hot path ${s}`, hot[s].statuses);

    // 2d. Refresh: tokens issued from now on live 60 s (inside the 300 s skew), so every message refreshes.
    log(`refresh × ${N}`);
    await world.idp.setAccessTokenTtl(60);
    const refreshUser = users[1];
    await expireToken(world, refreshUser);
    const idpTokenBefore = (await world.idp.stats()).token;
    const refreshEv = await hotEvent(world, refreshUser, 'refresh me');
    // The floor works on its own user (its own token item), never on the receiver's.
    const floorRefreshEv = await hotEvent(world, floorUsers[1], 'refresh me');
    const refreshRuns = await interleaved(warm, ['receiver', 'floor-refresh'], (s) => (s === 'receiver' ? refreshEv : floorRefreshEv), N, 1);
    const refreshes = (await world.idp.stats()).token - idpTokenBefore;
    for (const s of Object.keys(refreshRuns)) expectAll200(`refresh ${s}`, refreshRuns[s].statuses);
    await world.idp.setAccessTokenTtl(3600);
    await warm.stop();

    // 4. Round trips, counted at the servers, through a child whose AWS endpoints are the proxies.
    log('round trips');
    const counted = await WarmChild.start({
      ...world.env({ viaProxies: true }),
      BENCH_CLIENT_SECRET: world.clientSecret,
      BENCH_AUTHORIZE_URL: signInTemplate,
      BENCH_ACCESS_TOKEN_BYTES: String(tokenBytes?.access ?? 1200),
      BENCH_REFRESH_TOKEN_BYTES: String(tokenBytes?.refresh ?? 43),
    }, {
      'receiver': bundles.receiver,
      'floor': bundles.floor,
      'floor-first-contact': `${bundles.floorPaths}#firstContact`,
      'floor-callback': `${bundles.floorPaths}#callback`,
      'floor-refresh': `${bundles.floorPaths}#refresh`,
    });
    stopAll.unshift(() => counted.stop());
    // Warm it up so per-container caches (JWKS, secret, bot token, base URL) are filled, as in a warm container.
    await counted.invoke('receiver', messageEvent(messageActivity(world, users[2], 'warm-up'), jwt));
    const warmUser = world.users[world.users.length - 2];
    await counted.invoke('receiver', messageEvent(messageActivity(world, warmUser, 'warm-up'), jwt));
    await signIn(world, counted, 'receiver', warmUser); // the IdP's signing keys, cached per container like the others
    await counted.invoke('floor-first-contact', messageEvent(messageActivity(world, floorUser(spare, 'floor-rt-warm'), 'warm-up'), jwt));
    const rtFloorUsers = rtUsers.map((u) => floorUser(u, 'floor-rt'));
    const roundTrips: Record<string, { receiver: RoundTrips; floor: RoundTrips }> = {};
    roundTrips.firstContact = {
      receiver: await countRoundTrips(world, RT, async () => {
        for (const u of rtUsers) await counted.invoke('receiver', messageEvent(messageActivity(world, u, 'hi'), jwt));
      }),
      floor: await countRoundTrips(world, RT, async () => {
        for (const u of rtFloorUsers) await counted.invoke('floor-first-contact', messageEvent(messageActivity(world, u, 'hi'), jwt));
      }),
    };
    roundTrips.callback = {
      receiver: await countRoundTrips(world, RT, async () => {
        for (const u of rtUsers) await signIn(world, counted, 'receiver', u);
      }),
      floor: await (async () => {
        // The browser's sign-ins at the IdP before counting (the receiver's are counted, but they touch no AWS API).
        const signedIn: FloorSignIn[] = [];
        for (const u of rtFloorUsers) signedIn.push(await floorSignIn(world, signInTemplate, u));
        return countRoundTrips(world, RT, async () => {
          for (const [k, u] of rtFloorUsers.entries()) await counted.invoke('floor-callback', floorCallbackEvent(world, u, signedIn[k], jwt));
        });
      })(),
    };
    const rtHotEv = await hotEvent(world, rtUsers[0]);
    roundTrips.hotPath = {
      receiver: await countRoundTrips(world, RT, async () => { await counted.repeat('receiver', rtHotEv, RT, PLACEHOLDER); }),
      floor: await countRoundTrips(world, RT, async () => { await counted.repeat('floor', rtHotEv, RT, PLACEHOLDER); }),
    };
    await world.idp.setAccessTokenTtl(60);
    await expireToken(world, rtUsers[1]);
    const rtRefreshEv = await hotEvent(world, rtUsers[1], 'refresh me');
    // The user signed in just above, and a sign-in flags leftovers: their first refresh also reads the pending
    // messages and removes the flag (8 calls, test/reliability/round-trips.test.ts). Counted: the refreshes after it.
    await counted.repeat('receiver', rtRefreshEv, 1, PLACEHOLDER);
    roundTrips.refresh = {
      receiver: await countRoundTrips(world, RT, async () => { await counted.repeat('receiver', rtRefreshEv, RT, PLACEHOLDER); }),
      floor: await countRoundTrips(world, RT, async () => {
        await counted.repeat('floor-refresh', await hotEvent(world, rtFloorUsers[1], 'refresh me'), RT, PLACEHOLDER);
      }),
    };
    await world.idp.setAccessTokenTtl(3600);
    await counted.stop();
    const hotAws = roundTrips.hotPath.receiver;
    const hotOther = Object.values(hotAws.other).reduce((a, b) => a + b, 0);

    // 5. Memory: a fresh child with only the receiver; RSS after warm-up, then after MEM more hot-path requests.
    log(`memory × ${MEM}`);
    const memChild = await WarmChild.start(env, { receiver: bundles.receiver });
    stopAll.unshift(() => memChild.stop());
    const memEv = await hotEvent(world, users[0], 'memory');
    const warmup = await memChild.repeat('receiver', memEv, 200, PLACEHOLDER);
    expectAll200('memory warm-up', warmup.statuses);
    const memBefore = await memChild.memory();
    const memRun = await memChild.repeat('receiver', memEv, MEM, PLACEHOLDER);
    expectAll200('memory run', memRun.statuses);
    const memAfter = await memChild.memory();
    // Plateau check: the same number of requests again. Growth that repeats is a leak; growth that stops is warm-up.
    const memRun2 = await memChild.repeat('receiver', memEv, MEM, PLACEHOLDER);
    expectAll200('memory run 2', memRun2.statuses);
    const memAfter2 = await memChild.memory();
    await memChild.stop();

    // Summaries and ratios.
    const lat = (ms: number[]) => summarize(ms);
    const latency: Record<string, Record<string, LatencySummary>> = {
      firstContact: { receiver: lat(first.receiver), floor: lat(first.floor) },
      callback: { receiver: lat(cb.receiver), floor: lat(cb.floor) },
      hotPath: { receiver: lat(hot.receiver.ms), floor: lat(hot.floor.ms), botbuilder: lat(hot.botbuilder.ms) },
      refresh: { receiver: lat(refreshRuns.receiver.ms), floor: lat(refreshRuns['floor-refresh'].ms) },
    };
    const latencyRatios = Object.fromEntries(Object.entries(latency).map(([p, v]) => [p, {
      p50: ratio(v.receiver.p50, v.floor.p50),
      p99: ratio(v.receiver.p99, v.floor.p99),
    }]));
    const coldSummary = Object.fromEntries(Object.entries(cold).map(([s, rs]) => [s, summarizeColdStarts(rs)]));
    const c = coldSummary;
    const sizes = results.bundleSizes as Record<string, { rawBytes: number }>;

    Object.assign(results, {
      latency,
      latencyRatios,
      coldStart: coldSummary,
      coldStartRatios: {
        receiverOverBotbuilder: ratio(c.receiver.medianTotalMs, c.botbuilder.medianTotalMs),
        receiverOverFloor: ratio(c.receiver.medianTotalMs, c.floor.medianTotalMs),
        wallReceiverOverBotbuilder: ratio(c.receiver.medianWallMs, c.botbuilder.medianWallMs),
      },
      roundTrips,
      memory: {
        requests: MEM,
        before: memBefore,
        after: memAfter,
        rssDeltaMB: Math.round((memAfter.rss - memBefore.rss) / 1e5) / 10,
        heapUsedDeltaMB: Math.round((memAfter.heapUsed - memBefore.heapUsed) / 1e5) / 10,
        afterTwice: memAfter2,
        secondRssDeltaMB: Math.round((memAfter2.rss - memAfter.rss) / 1e5) / 10,
        secondHeapUsedDeltaMB: Math.round((memAfter2.heapUsed - memAfter.heapUsed) / 1e5) / 10,
        latency: summarize(memRun.ms),
      },
      checks: {
        tokenPlaintextBytes: tokenBytes,
        signInCards: cards,
        callbacksResumedMessages: resumed,
        refreshesAtIdp: refreshes,
        hotPathAwsCalls: hotAws.aws,
        hotPathOtherCalls: hotOther,
      },
      goals: {
        hotPathLatency: { goal: '<= 1.15 x floor (p50)', value: latencyRatios.hotPath.p50, met: latencyRatios.hotPath.p50 <= 1.15 },
        coldStart: { goal: '<= 0.4 x botbuilder (median)', value: ratio(c.receiver.medianTotalMs, c.botbuilder.medianTotalMs), met: c.receiver.medianTotalMs <= 0.4 * c.botbuilder.medianTotalMs },
        receiverBundle: { goal: '<= 600 KB (600,000 bytes) minified', value: sizes.receiver.rawBytes, met: sizes.receiver.rawBytes <= 600_000 },
        hotPathRoundTrips: { goal: 'exactly 2 AWS calls (GetItem + Invoke), nothing else', value: hotAws.aws, met: hotAws.awsTotal === 2 && hotAws.aws.GetItem === 1 && hotAws.aws.Invoke === 1 && hotOther === 0 },
      },
    });
  } finally {
    for (const s of stopAll) {
      try {
        await s();
      } catch {
        // keep stopping
      }
    }
  }

  // 6. The assistant, once the receiver's servers are stopped (it starts its own).
  results.assistant = await assistantBench(assistantOptions(opts));
  (results.machine as Record<string, unknown>).loadAverageAtEnd = loadAverage();

  const stamp = stampNow();
  const dir = path.join(ROOT, 'bench', 'results');
  const out = opts.out ?? path.join(dir, `${opts.quick ? 'quick-' : ''}${stamp}.json`);
  writeFileSync(out, `${JSON.stringify(results, null, 2)}\n`);
  if (!opts.quick) writeFileSync(path.join(dir, 'latest.json'), `${JSON.stringify(results, null, 2)}\n`);
  log(`results: ${path.relative(ROOT, out)}`);
  const assistant = results.assistant as { goals: unknown; answerRatios: unknown };
  process.stdout.write(`${JSON.stringify({ goals: results.goals, latencyRatios: results.latencyRatios, coldStartRatios: results.coldStartRatios, assistant: { goals: assistant.goals, answerRatios: assistant.answerRatios } }, null, 2)}\n`);
}

main().catch((err) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
  process.exit(1);
});
