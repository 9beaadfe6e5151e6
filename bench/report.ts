/**
 * Renders the tables of BENCHMARKS.md from a results file:
 * `node -r ./bench/ts-register.cjs bench/report.ts [bench/results/latest.json]` → Markdown on stdout.
 * The analysis around the tables (why a goal is missed) is written by hand in BENCHMARKS.md.
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';

/* eslint-disable @typescript-eslint/no-explicit-any */
const file = process.argv[2] ?? path.join(__dirname, 'results', 'latest.json');
const r = JSON.parse(readFileSync(file, 'utf8'));
const out: string[] = [];
const p = (s = '') => out.push(s);
const yes = (b: boolean) => (b ? '**met**' : '**missed**');

p(`Results file: \`${path.relative(path.join(__dirname, '..'), file)}\``);
p();
const m = r.machine;
p(`Run ${m.date} · Node ${m.node} · ${m.platform} · ${m.cpus} × ${m.cpuModel} · ${m.memoryGiB} GiB · load average ${m.loadAverageAtStart.join(' / ')} at start, ${(m.loadAverageAtEnd ?? []).join(' / ')} at end · commit ${m.gitCommit}`);
p();
p('### Goals');
p();
p('| goal | target | measured | |');
p('|---|---|---|---|');
const g = r.goals;
p(`| hot-path latency | ${g.hotPathLatency.goal} | ${g.hotPathLatency.value} × (p50) | ${yes(g.hotPathLatency.met)} |`);
p(`| cold start | ${g.coldStart.goal} | ${g.coldStart.value} × | ${yes(g.coldStart.met)} |`);
p(`| receiver bundle | ${g.receiverBundle.goal} | ${g.receiverBundle.value.toLocaleString('en-US')} bytes | ${yes(g.receiverBundle.met)} |`);
p(`| hot-path round trips | ${g.hotPathRoundTrips.goal} | ${Object.entries(g.hotPathRoundTrips.value).map(([k, v]) => `${k} ${v}`).join(', ')} | ${yes(g.hotPathRoundTrips.met)} |`);
p();
p('### Bundle sizes');
p();
p('| bundle | file | raw | gzip -9 |');
p('|---|---|---|---|');
for (const [k, v] of Object.entries<any>(r.bundleSizes)) {
  p(`| ${k} | \`${v.file}\` | ${v.rawBytes.toLocaleString('en-US')} B (${v.rawKB} KB) | ${v.gzipBytes.toLocaleString('en-US')} B (${v.gzipKB} KB) |`);
}
p();
p(`### Cold start (median of ${r.settings.coldStartsPerSubject} fresh processes per subject)`);
p();
p('| subject | load (require) | first request | load + first request | wall (spawn → answer) | RSS |');
p('|---|---|---|---|---|---|');
for (const [k, v] of Object.entries<any>(r.coldStart)) {
  p(`| ${k} | ${v.medianLoadMs} ms | ${v.medianFirstRequestMs} ms | **${v.medianTotalMs} ms** | ${v.medianWallMs} ms | ${v.medianRssMB} MB |`);
}
p();
p(`Ratios: receiver / botbuilder = **${r.coldStartRatios.receiverOverBotbuilder}** (wall: ${r.coldStartRatios.wallReceiverOverBotbuilder}); receiver / floor = ${r.coldStartRatios.receiverOverFloor}.`
  + (r.coldStartRatios.whatIfNodeHttpOverBotbuilder !== undefined
    ? ` What-if (not shipped) receiver with node:http instead of fetch / botbuilder = ${r.coldStartRatios.whatIfNodeHttpOverBotbuilder}.` : ''));
p();
p(`### Warm latency (ms, ${r.settings.requestsPerPath} requests per path and subject)`);
p();
const round2 = (x: number) => Math.round(x * 100) / 100;
const sum = (o: Record<string, number> = {}) => Object.values(o).reduce((a, b) => a + b, 0);
/** Calls per request of a subject on a path: "AWS + other" (the round-trip count of the same run). */
const calls = (path0: string, s: string) => {
  const c = r.roundTrips?.[path0]?.[s];
  return c ? `${round2(c.awsTotal)} + ${round2(sum(c.other))}` : '';
};
p('Calls per request beside the times: AWS + other (IdP, Bot Connector, JWKS), counted at the local servers in the same run.');
p();
p('| path | subject | calls (AWS + other) | p50 | p90 | p99 | max | receiver / floor p50 | p99 |');
p('|---|---|---|---|---|---|---|---|---|');
for (const [path0, subjects] of Object.entries<any>(r.latency)) {
  for (const [s, v] of Object.entries<any>(subjects)) {
    const ratio = s === 'receiver' ? `${r.latencyRatios[path0].p50} | ${r.latencyRatios[path0].p99}` : ' | ';
    p(`| ${path0} | ${s} | ${calls(path0, s)} | ${v.p50} | ${v.p90} | ${v.p99} | ${v.max} | ${ratio} |`);
  }
}
p();
p(`### Round trips per request (counted at the local servers, mean over ${r.settings.roundTripSample} requests)`);
p();
p('| path | receiver: AWS calls | receiver: other calls | floor: AWS calls | floor: other calls |');
p('|---|---|---|---|---|');
const fmt = (o: Record<string, number>) => Object.entries(o).filter(([, v]) => v).map(([k, v]) => `${k} ${round2(v)}`).join(', ') || '—';
for (const [path0, v] of Object.entries<any>(r.roundTrips)) {
  p(`| ${path0} | ${fmt(v.receiver.aws)} (total ${round2(v.receiver.awsTotal)}) | ${fmt(v.receiver.other)} | ${fmt(v.floor.aws)} (total ${round2(v.floor.awsTotal)}) | ${fmt(v.floor.other)} |`);
}
p();
p(`### Receiver memory (${r.memory.requests.toLocaleString('en-US')} warm hot-path requests, after a full GC)`);
p();
const mb = (b: number) => `${Math.round(b / 1e5) / 10} MB`;
p('| | RSS | heap used |');
p('|---|---|---|');
p(`| before | ${mb(r.memory.before.rss)} | ${mb(r.memory.before.heapUsed)} |`);
p(`| after | ${mb(r.memory.after.rss)} | ${mb(r.memory.after.heapUsed)} |`);
p(`| delta | ${r.memory.rssDeltaMB} MB | ${r.memory.heapUsedDeltaMB} MB |`);
if (r.memory.afterTwice) {
  p(`| after ${(2 * r.memory.requests).toLocaleString('en-US')} (plateau check) | ${mb(r.memory.afterTwice.rss)} | ${mb(r.memory.afterTwice.heapUsed)} |`);
  p(`| delta of the second ${r.memory.requests.toLocaleString('en-US')} | ${r.memory.secondRssDeltaMB} MB | ${r.memory.secondHeapUsedDeltaMB} MB |`);
}
p();
p(`Checks: ${r.checks.signInCards} sign-in cards for ${r.settings.requestsPerPath} first contacts; ${r.checks.callbacksResumedMessages} messages resumed by the callbacks; ${r.checks.refreshesAtIdp} refreshes at the IdP.`);

// The assistant section (bench/assistant.ts), from a full run or `--assistant-only` (then with its own machine).
const a = r.assistant;
if (a) {
  const am = a.machine ?? m;
  p();
  p('### Assistant');
  p();
  p(`Run ${am.date} · load average ${am.loadAverageAtStart.join(' / ')} at start, ${(am.loadAverageAtEnd ?? []).join(' / ')} at end · commit ${am.gitCommit}`
    + ` · ${a.settings.tokens} tokens at ${a.settings.tokensPerSecond} tokens/s (${a.settings.scriptedAnswerMs} ms), ${a.settings.runs} answers per subject`);
  p();
  p('| goal | target | measured | |');
  p('|---|---|---|---|');
  p(`| first visible text | ${a.goals.firstText.goal} | ${a.goals.firstText.value} × | ${yes(a.goals.firstText.met)} |`);
  p();
  p('| subject | first visible text p50 | final message p50 | handler returns p50 | streaming updates | model call alone p50 | overhead (final − model) |');
  p('|---|---|---|---|---|---|---|');
  const row = (s: string, floor: any, overhead: number) => {
    const v = a.answers[s];
    p(`| ${s} | ${v.firstText.p50} ms | ${v.final.p50} ms | ${v.handler.p50} ms | ${v.streamingUpdatesMedian} | ${floor.p50} ms | ${overhead} ms |`);
  };
  row('assistant', a.modelFloors.stream, a.overheadMs.assistant);
  row('baseline', a.modelFloors.converse, a.overheadMs.baseline);
  p();
  const ar = a.answerRatios;
  p(`Ratios (p50): assistant first text / baseline total = **${ar.assistantFirstTextOverBaselineTotal}**; assistant total / baseline total = ${ar.assistantTotalOverBaselineTotal}`
    + ` (model call alone: ConverseStream / Converse = ${Math.round((a.modelFloors.stream.p50 / a.modelFloors.converse.p50) * 1000) / 1000}); assistant total / its model call = ${ar.assistantTotalOverStreamFloor}; baseline total / its model call = ${ar.baselineTotalOverConverseFloor}.`);
  p();
  p(`| cold start (median of ${a.settings.coldStarts}) | load (require) | first event | load + first event | wall (spawn → answer) | RSS |`);
  p('|---|---|---|---|---|---|');
  for (const [k, v] of Object.entries<any>(a.coldStart)) {
    p(`| ${k} | ${v.medianLoadMs} ms | ${v.medianFirstRequestMs} ms | **${v.medianTotalMs} ms** | ${v.medianWallMs} ms | ${v.medianRssMB} MB |`);
  }
  p();
  p(`Cold start assistant / default worker = **${a.coldStartRatios.assistantOverWorker}** (wall: ${a.coldStartRatios.wallAssistantOverWorker}).`);
  p();
  p('| bundle | raw | gzip -9 |');
  p('|---|---|---|');
  for (const [k, v] of Object.entries<any>(a.bundleSizes)) p(`| ${k} (\`${v.file}\`) | ${v.rawBytes.toLocaleString('en-US')} B | ${v.gzipBytes.toLocaleString('en-US')} B |`);
  p();
  p(`Bundle assistant / default worker = **${a.bundleRatios.rawAssistantOverWorker}** raw, ${a.bundleRatios.gzipAssistantOverWorker} gzip.`);
}
process.stdout.write(`${out.join('\n')}\n`);
