/**
 * The assistant's numbers (issue 13), one section of the benchmark (bench/run.ts; alone: `npm run bench:assistant`):
 *
 * 1. Time to the first visible text and total time of a scripted answer (default 400 tokens at 50 tokens/s), the
 *    bundled assistant worker (ConverseStream, Teams streaming protocol in a 1:1 chat) against a non-streaming
 *    baseline on the same kit (bench/fixtures/converse-worker.ts: Converse, one post; the source design), both warm in
 *    one child process, runs interleaved, against the same stand-ins: the Bedrock Runtime stand-in plays the same
 *    scripted answer at the same token rate to both (ConverseStream: one token per event-stream frame; Converse: the
 *    whole answer after the time the tokens take).
 *    The model calls alone (bench/fixtures/bedrock-floor.ts: ConverseStream read to the end, Converse) run in the same
 *    rounds: the floors of the two total times (the stand-in paces its tokens with timers, which run late on a busy
 *    machine, more so for a stream of 400 timers than for one).
 *    Times are taken on the benchmark's clock: from just before the event goes to the worker to the Bot Connector
 *    stand-in's acceptance of an activity. *Visible text* is the first activity carrying answer text: for the
 *    assistant the first streaming update (`typing` with a `streaminfo` entity of `streamType: "streaming"`; typing
 *    indicators carry no text, and an informative update would be status, not answer); for the baseline its one
 *    message. *Total* is the final message (the assistant's `streamType: "final"` message; the baseline's one message).
 * 2. Cold start: fresh Node processes, each requiring a bundle and handling one event (a short answer), the assistant
 *    against the default worker (Graph profile reply), rounds interleaved.
 * 3. Bundle sizes: the assistant's against the default worker's.
 */
// Benchmark code runs from the repository: its dependencies are the project's devDependencies.
/* eslint-disable import/no-extraneous-dependencies */
import * as path from 'node:path';
import { KMSClient } from '@aws-sdk/client-kms';
import { bundleSize, TMP } from './lib/bundles';
import { coldStart, summarizeColdStarts, WarmChild, type ColdResult } from './lib/child';
import { median, ratio, summarize, type LatencySummary } from './lib/stats';
import { startBedrockStandIn, type BedrockStandIn } from '../cli/playground/aws/bedrock';
import type { ConversationReference, WorkerEvent } from '../lambda/shared/contract';
import { TokenCipher } from '../lambda/shared/crypto';
import type { RecordedActivity } from '../test/support/bot-connector-stub';
import { awsClientConfig, testAwsEnv } from '../test/support/local-aws';
import { signedInWorkerEvent, startWorkerWorld, type WorkerWorld } from '../test/support/worker-world';

/** What the assistant section runs. */
export interface AssistantBenchOptions {
  /** Answers per subject (interleaved). */
  runs: number;
  /** Tokens of the scripted answer. */
  tokens: number;
  /** Token rate of the scripted model. */
  tokensPerSecond: number;
  /** Cold starts per subject. */
  coldStarts: number;
  /**
   * Bundles: the shipped assistant and default worker, the baseline (bench/fixtures/converse-worker.ts) and the model
   * floors (bench/fixtures/bedrock-floor.ts).
   */
  bundles: { assistant: string; worker: string; baseline: string; floor: string };
  log(msg: string): void;
}

const APP_ID = '00000000-0000-0000-0000-0000000be4c0';
const TENANT = '66666666-6666-6666-6666-666666666666';
const OID = '77777777-7777-7777-7777-777777777777';
const MODEL = 'anthropic.claude-3-5-haiku-20241022-v1:0';

/** The scripted answer: `n` tokens (one word and its space each), an answer-like text. */
export function scriptedAnswer(n: number): string[] {
  const words = ('Here is what I found in your calendar and mail this week. On Monday you meet the design team about the '
    + 'new onboarding flow, and on Tuesday the budget review needs your numbers by noon. Three messages ask for a '
    + 'decision on the vendor contract; the latest one, from Grace, proposes signing on Friday.').split(' ');
  return Array.from({ length: n }, (_, i) => (i === n - 1 ? words[i % words.length] : `${words[i % words.length]} `));
}

/** One answer as seen at the Bot Connector stand-in, in ms from the event's hand-over. */
interface AnswerTiming {
  /** First activity carrying answer text. */
  firstTextMs: number;
  /** The final message. */
  finalMs: number;
  /** The handler's return (after what it does behind the final message: the assistant's memory write). */
  handlerMs: number;
  /** Streaming updates before the final message (0 for the baseline). */
  updates: number;
  /** Typing indicators before the first text. */
  typing: number;
}

const streaminfo = (a: RecordedActivity): Record<string, unknown> | undefined =>
  (a.activity.entities as Array<Record<string, unknown>> | undefined)?.find((e) => e.type === 'streaminfo');

/** Reads one answer's timings off the activities of its conversation; checks the answer is the whole scripted text. */
function answerTiming(subject: string, acts: RecordedActivity[], t0: number, tEnd: number, expected: string): AnswerTiming {
  const answerText = (a: RecordedActivity) => typeof a.activity.text === 'string' && a.activity.text !== ''
    && !(a.activity.type === 'typing' && streaminfo(a)?.streamType !== 'streaming');
  const first = acts.find(answerText);
  const finals = acts.filter((a) => a.activity.type === 'message');
  if (!first || finals.length !== 1) throw new Error(`${subject}: expected text and one final message, saw ${acts.map((a) => a.activity.type).join(', ')}`);
  const final = finals[0];
  if (final.activity.text !== expected) throw new Error(`${subject}: the final message is not the scripted answer (${String(final.activity.text).length} of ${expected.length} characters)`);
  if (acts[acts.length - 1] !== final) throw new Error(`${subject}: an activity came after the final message`);
  const updates = acts.filter((a) => streaminfo(a)?.streamType === 'streaming');
  if (subject === 'assistant' && (streaminfo(final)?.streamType !== 'final' || updates.length === 0)) throw new Error('assistant: no Teams stream (streaming updates, final message)');
  return {
    firstTextMs: first.at - t0,
    finalMs: final.at - t0,
    handlerMs: tEnd - t0,
    updates: updates.length,
    typing: acts.slice(0, acts.indexOf(first)).filter((a) => a.activity.type === 'typing' && !streaminfo(a)).length,
  };
}

/** Runs the section; returns its results (JSON). */
export async function assistantBench(o: AssistantBenchOptions): Promise<Record<string, unknown>> {
  const chunks = scriptedAnswer(o.tokens);
  const answer = chunks.join('');
  const chunkDelayMs = 1000 / o.tokensPerSecond;
  const sizes = { assistant: bundleSize(o.bundles.assistant), worker: bundleSize(o.bundles.worker), baseline: bundleSize(o.bundles.baseline) };

  o.log('assistant: starting local servers');
  let world: WorkerWorld | undefined;
  let bedrock: BedrockStandIn | undefined;
  let warm: WarmChild | undefined;
  const kms: KMSClient[] = [];
  try {
    [world, bedrock] = await Promise.all([
      startWorkerWorld({ appId: APP_ID, tenantId: TENANT, clientSecret: 'bench-assistant-secret', secretName: 'bench-assistant-bot', tables: { tokenTable: 'bench-tokens', conversationTable: 'bench-conversations' } }),
      startBedrockStandIn(),
    ]);
    const w = world;
    const k = new KMSClient(awsClientConfig(w.aws.motoEndpoint));
    kms.push(k);
    const cipher = new TokenCipher({ kms: k, keyId: w.keyArn });
    // The environment the construct gives the worker (the assistant's defaults: memory, tools), pointed at the stand-ins.
    const env: Record<string, string> = {
      ...testAwsEnv(w.aws),
      ...w.workerEnv,
      TDAB_KMS_KEY_ARN: w.keyArn,
      AWS_ENDPOINT_URL_BEDROCK_RUNTIME: bedrock.endpoint,
      TDAB_ASSISTANT_MODEL_ID: MODEL,
    };
    let n = 0;
    /** A signed-in user's message in a 1:1 chat of its own (fresh conversation and activity id). */
    const event = async (tag: string): Promise<WorkerEvent> => {
      n++;
      const token = `bench-assistant-user-token-${n}`;
      w.graph.addUser(token, { id: OID, displayName: 'Ada Lovelace' });
      const conversation: Omit<ConversationReference, 'activityId'> = {
        serviceUrl: w.bc.serviceUrl,
        channelId: 'msteams',
        conversation: { id: `a:1bench-${tag}-${n}`, conversationType: 'personal', tenantId: TENANT },
        bot: { id: `28:${APP_ID}`, name: 'Bot' },
        user: { id: '29:1ada', aadObjectId: OID, name: 'Ada' },
      };
      return signedInWorkerEvent(cipher, { appId: APP_ID, token, text: 'what happened in my calendar and mail this week?', activityId: `1900000${n}`, conversation });
    };
    const activitiesOf = (ev: WorkerEvent) => w.bc.activities.filter((a) => a.conversationId === ev.conversation.conversation.id);

    // 1. Answers, warm: one child process with both workers and the floors loaded; one warm-up call each (the
    // stand-in's "OK."), then rounds of the four subjects, the order reversed every other round.
    warm = await WarmChild.start(env, {
      'assistant': o.bundles.assistant,
      'baseline': o.bundles.baseline,
      'model-stream': `${o.bundles.floor}#stream`,
      'model-converse': `${o.bundles.floor}#converse`,
    });
    const floorEvent = { modelId: MODEL, question: 'what happened in my calendar and mail this week?' };
    for (const s of ['assistant', 'baseline']) {
      const r = await warm.invoke(s, await event(`warm-${s}`));
      if (r.status !== 'replied') throw new Error(`assistant warm-up of ${s}: ${String(r.status)}`);
    }
    for (const s of ['model-stream', 'model-converse']) await warm.invoke(s, floorEvent);
    o.log(`assistant: ${o.runs} answers per subject, ${o.tokens} tokens at ${o.tokensPerSecond} tokens/s`);
    const timings: Record<string, AnswerTiming[]> = { assistant: [], baseline: [] };
    const floors: Record<string, number[]> = { 'model-stream': [], 'model-converse': [] };
    const subjects = ['assistant', 'baseline', 'model-stream', 'model-converse'];
    for (let run = 0; run < o.runs; run++) {
      for (const s of run % 2 ? [...subjects].reverse() : subjects) {
        const ev = s in timings ? await event(`${s}-${run}`) : floorEvent;
        bedrock.script({ text: chunks, chunkDelayMs });
        const t0 = performance.now();
        const r = await warm.invoke(s, ev, true);
        const tEnd = performance.now();
        if (s in floors) {
          if (r.status !== 'done' || r.body !== String(answer.length)) throw new Error(`${s}: not the whole answer (${String(r.body)} characters)`);
          floors[s].push(tEnd - t0);
          continue;
        }
        if (r.status !== 'replied') throw new Error(`${s} answered ${String(r.status)}`);
        timings[s].push(answerTiming(s, activitiesOf(ev as WorkerEvent), t0, tEnd, answer));
      }
    }
    await warm.stop();
    warm = undefined;

    // 2. Cold starts: the assistant (a short answer: the stand-in's "OK.") against the default worker.
    o.log(`assistant: cold start × ${o.coldStarts} per subject`);
    const coldSubjects: Record<string, string> = { assistant: o.bundles.assistant, worker: o.bundles.worker };
    const cold: Record<string, ColdResult[]> = { assistant: [], worker: [] };
    const eventFile = path.join(TMP, 'assistant-cold-event.json');
    for (let round = 0; round < o.coldStarts; round++) {
      const order = round % 2 ? ['worker', 'assistant'] : ['assistant', 'worker'];
      for (const s of order) {
        const ev = await event(`cold-${s}-${round}`);
        const r = await coldStart(coldSubjects[s], ev, env, eventFile);
        if (r.status !== 'replied') throw new Error(`cold start of ${s}: ${String(r.status)}`);
        if (activitiesOf(ev).filter((a) => a.activity.type === 'message').length !== 1) throw new Error(`cold start of ${s}: no answer`);
        cold[s].push(r);
      }
    }

    // Summaries and ratios.
    const sum = (s: string, f: (t: AnswerTiming) => number): LatencySummary => summarize(timings[s].map(f));
    const answers = Object.fromEntries(Object.keys(timings).map((s) => [s, {
      firstText: sum(s, (t) => t.firstTextMs),
      final: sum(s, (t) => t.finalMs),
      handler: sum(s, (t) => t.handlerMs),
      streamingUpdatesMedian: median(timings[s].map((t) => t.updates)),
      typingBeforeFirstTextMedian: median(timings[s].map((t) => t.typing)),
      runs: timings[s].map((t) => ({
        firstTextMs: round1(t.firstTextMs), finalMs: round1(t.finalMs), handlerMs: round1(t.handlerMs), updates: t.updates,
      })),
    }]));
    const a = answers.assistant;
    const b = answers.baseline;
    const coldSummary = { assistant: summarizeColdStarts(cold.assistant), worker: summarizeColdStarts(cold.worker) };
    const floor = { stream: summarize(floors['model-stream']), converse: summarize(floors['model-converse']) };
    const firstTextRatio = ratio(a.firstText.p50, b.final.p50);
    return {
      settings: {
        runs: o.runs,
        tokens: o.tokens,
        tokensPerSecond: o.tokensPerSecond,
        scriptedAnswerMs: round1(o.tokens * chunkDelayMs),
        answerCharacters: answer.length,
        coldStarts: o.coldStarts,
        model: MODEL,
        visibleText: 'first Bot Connector activity carrying answer text: the assistant\'s first streaming update (typing + streaminfo streaming), the baseline\'s one message',
        total: 'the final message at the Bot Connector stand-in',
      },
      bundleSizes: sizes,
      answers,
      modelFloors: floor,
      answerRatios: {
        assistantFirstTextOverBaselineTotal: firstTextRatio,
        assistantTotalOverBaselineTotal: ratio(a.final.p50, b.final.p50),
        assistantFirstTextOverOwnTotal: ratio(a.firstText.p50, a.final.p50),
        assistantTotalOverStreamFloor: ratio(a.final.p50, floor.stream.p50),
        baselineTotalOverConverseFloor: ratio(b.final.p50, floor.converse.p50),
      },
      /** What each worker adds to its model call's own time (total p50 − floor p50), ms. */
      overheadMs: { assistant: round1(a.final.p50 - floor.stream.p50), baseline: round1(b.final.p50 - floor.converse.p50) },
      coldStart: coldSummary,
      coldStartRatios: {
        assistantOverWorker: ratio(coldSummary.assistant.medianTotalMs, coldSummary.worker.medianTotalMs),
        wallAssistantOverWorker: ratio(coldSummary.assistant.medianWallMs, coldSummary.worker.medianWallMs),
      },
      bundleRatios: {
        rawAssistantOverWorker: ratio(sizes.assistant.rawBytes, sizes.worker.rawBytes),
        gzipAssistantOverWorker: ratio(sizes.assistant.gzipBytes, sizes.worker.gzipBytes),
      },
      goals: {
        firstText: { goal: 'assistant first text <= 0.3 x baseline total (p50)', value: firstTextRatio, met: firstTextRatio <= 0.3 },
      },
    };
  } finally {
    await warm?.stop().catch(() => undefined);
    for (const c of kms) c.destroy();
    await Promise.all([world?.stop(), bedrock?.stop()].map((p) => p?.catch(() => undefined)));
  }
}

function round1(x: number): number {
  return Math.round(x * 10) / 10;
}
